"""Fresh builder, remote cache: what every CI run is, and what fate-builder's bake schedule costs cold.

Per run, in a workspace of its own (a fresh nonce, so the registry holds nothing of it yet),
with `CACHE=registry` on the engine's registry (127.0.0.1:5000, scripts/ci/provision-engine.sh):

* **cold**: the images removed and the builder emptied (`docker buildx prune -af`), then
  one bake through `generator.build.run_bake` (benchmarks/fate_builder.py), once laid out as
  fate-builder lays it out for a remote cache (each image's bake as soon as its parent's has
  finished: the pipeline) and once, in another workspace, as one graph (the bake before the
  pipeline): the same images, steps and cache export, only the schedule differs;
* **nothing changed**: the builder emptied and the images removed again, then `fate-builder
  bake --load` as CI runs it, and one graph again as the control;
* **one file changed**: a line added to a file under `$FATE_DIR/fateflow`, the builder
  emptied and the images removed, then `fate-builder bake --load`: the images whose layers
  changed must be exactly those whose contents include fateflow.

An image counts as rebuilt when its layer list differs from the cold bake's (a step run
again writes new files, so a new layer); the log is not used.
"""

from __future__ import annotations

import secrets
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path

from . import fate_builder, workload
from .engine import BenchError, Timed, changed, layers, load_average, prune_build_cache, remove_under

REGISTRY = "127.0.0.1:5000"
PREFIX = f"{REGISTRY}/benchremote"
# The two layouts compared: the key in the results, and generator.build's name for it.
LAYOUTS = {"pipeline": "auto", "one graph": "one-graph"}


def check_registry() -> None:
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5):
            return
    except OSError as exc:
        raise BenchError(f"no registry at {REGISTRY} for the remote-cache scenarios ({exc}); "
                         "scripts/ci/provision-engine.sh starts one (or --remote-runs 0)") from None


def fresh_builder(prefix: str) -> None:
    """What a CI runner starts with: no build cache, none of the images."""
    prune_build_cache()
    remove_under(prefix)


def schedule_floor(schedule: dict[str, list[str]], work: dict[str, float]) -> float:
    """The least time a schedule (image -> the images its bake waits for) takes with unlimited cores: the work
    along its longest chain of waits (generator.waves.finish_times)."""
    from generator.waves import finish_times

    return round(max(finish_times({n: frozenset(w) for n, w in schedule.items()}, work).values(), default=0.0), 3)


class Remote:
    """The remote-cache scenarios of one selection's images, run after run."""

    def __init__(self, work_root: Path, session: str, names: tuple[str, ...], work: dict[str, float],
                 say: Callable[[str], None], keep: bool = False):
        self.work_root, self.session, self.names, self.work, self.say, self.keep = (
            work_root, session, names, work, say, keep)
        self.expected = set(workload.derived_from_source(names))

    def run(self, index: int) -> dict:
        order = tuple(LAYOUTS) if index % 2 == 0 else tuple(reversed(LAYOUTS))
        out: dict = {"run": index + 1, "order": list(order)}
        for layout in order:
            out[layout] = self.layout_run(index, layout)
        return out

    def layout_run(self, index: int, layout: str) -> dict:
        short = "pipe" if layout == "pipeline" else "graph"
        nonce = f"{self.session}-remote-{index}-{short}-{secrets.token_hex(2)}"
        ws = workload.Workspace.create(self.work_root / "remote" / f"run{index}" / short, nonce)
        prefix = f"{PREFIX}/{self.session}-{index}-{short}"
        values = fate_builder.settings(ws, "default", prefix, self.work, CACHE="registry")
        refs = workload.references(prefix, self.names)
        try:
            fresh_builder(prefix)
            result, schedule = fate_builder.bake_run(ws, values, LAYOUTS[layout])
            cold = layers(refs.values())
            out = {"cold": self._entry("cold", layout, result, cold, cold, refs), "schedule": schedule}
            if layout == "pipeline":
                out["nothing_changed"] = self._again(ws, values, prefix, refs, cold, "nothing changed")
                ws.edit_fateflow(f"benchmark edit {nonce}")
                entry = self._again(ws, values, prefix, refs, cold, "one file changed")
                entry["exact"] = set(entry["rebuilt"]) == self.expected
                out["one_file_changed"] = entry
            else:
                fresh_builder(prefix)
                result, _ = fate_builder.bake_run(ws, values, LAYOUTS[layout])
                out["nothing_changed"] = self._entry("nothing changed", layout, result, cold,
                                                     layers(refs.values()), refs)
            return out
        finally:
            if not self.keep:
                remove_under(prefix)
                shutil.rmtree(ws.root, ignore_errors=True)

    def _again(self, ws: workload.Workspace, values: dict[str, str], prefix: str, refs: dict[str, str],
               cold: dict[str, tuple[str, ...]], scenario: str) -> dict:
        """The bake a CI run makes: an emptied builder, no images, `fate-builder bake --load`."""
        fresh_builder(prefix)
        result = fate_builder.cli_bake(ws, values)
        return self._entry(scenario, "pipeline", result, cold, layers(refs.values()), refs)

    def _entry(self, scenario: str, layout: str, result: Timed, before: dict[str, tuple[str, ...]],
               after: dict[str, tuple[str, ...]], refs: dict[str, str]) -> dict:
        missing = [n for n, r in refs.items() if r not in after]
        if missing:
            raise BenchError(f"remote cache, {layout}, {scenario}: not in the engine afterwards: "
                             f"{', '.join(missing)}")
        by_ref = {r: n for n, r in refs.items()}
        rebuilt = sorted((by_ref[r] for r in changed(before, after)), key=self.names.index)
        load = load_average()
        self.say(f"  remote {layout:9s} {scenario:16s} {result.seconds:7.1f}s  rebuilt {len(rebuilt)}/{len(refs)}  "
                 f"(load {load})")
        return {"seconds": round(result.seconds, 3), "rebuilt": rebuilt, "load_avg_1m": load}
