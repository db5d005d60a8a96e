"""Fresh builder, remote cache: what every CI run is, and what fate-builder's bake schedule costs cold.

Per run, in a workspace of its own (a fresh nonce, so the registry holds nothing of it yet),
with `CACHE=registry` on the engine's registry (127.0.0.1:5000, scripts/ci/provision-engine.sh):

* **cold**: the images removed and the builder emptied (`docker buildx prune -af`), then
  one bake through `generator.build.BakeRun` (benchmarks/fate_builder.py), once in the waves
  fate-builder picks for a remote cache and once, in another workspace, as one graph (today's
  bake before the waves): the same images, steps and cache export, only the schedule differs;
* **nothing changed**: the builder emptied and the images removed again, then `fate-builder
  bake --load` as CI runs it (waves), and one graph again as the control;
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
SCHEDULES: tuple[fate_builder.Schedule, ...] = ("waves", "one graph")


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


def rounds_floor(rounds: list[list[str]], work: dict[str, float]) -> float:
    """The least time the rounds take with unlimited cores: each round's longest chain, one round after another."""
    return round(sum(workload.critical_path(r, work).seconds for r in rounds), 3)


class Remote:
    """The remote-cache scenarios of one selection's images, run after run."""

    def __init__(self, work_root: Path, session: str, names: tuple[str, ...], work: dict[str, float],
                 say: Callable[[str], None], keep: bool = False):
        self.work_root, self.session, self.names, self.work, self.say, self.keep = (
            work_root, session, names, work, say, keep)
        self.expected = set(workload.derived_from_source(names))

    def run(self, index: int) -> dict:
        order = SCHEDULES if index % 2 == 0 else tuple(reversed(SCHEDULES))
        out: dict = {"run": index + 1, "order": list(order)}
        for schedule in order:
            out[schedule] = self.schedule_run(index, schedule)
        return out

    def schedule_run(self, index: int, schedule: fate_builder.Schedule) -> dict:
        short = "waves" if schedule == "waves" else "graph"
        nonce = f"{self.session}-remote-{index}-{short}-{secrets.token_hex(2)}"
        ws = workload.Workspace.create(self.work_root / "remote" / f"run{index}" / short, nonce)
        prefix = f"{PREFIX}/{self.session}-{index}-{short}"
        values = fate_builder.settings(ws, "default", prefix, self.work, CACHE="registry")
        refs = workload.references(prefix, self.names)
        try:
            fresh_builder(prefix)
            result, rounds = fate_builder.bake_run(ws, values, schedule)
            cold = layers(refs.values())
            out = {"cold": self._entry("cold", schedule, result, cold, cold, refs), "rounds": rounds}
            if schedule == "waves":
                out["nothing_changed"] = self._again(ws, values, prefix, refs, cold, "nothing changed")
                ws.edit_fateflow(f"benchmark edit {nonce}")
                entry = self._again(ws, values, prefix, refs, cold, "one file changed")
                entry["exact"] = set(entry["rebuilt"]) == self.expected
                out["one_file_changed"] = entry
            else:
                fresh_builder(prefix)
                result, _ = fate_builder.bake_run(ws, values, schedule)
                out["nothing_changed"] = self._entry("nothing changed", schedule, result, cold,
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
        return self._entry(scenario, "waves", result, cold, layers(refs.values()), refs)

    def _entry(self, scenario: str, schedule: str, result: Timed, before: dict[str, tuple[str, ...]],
               after: dict[str, tuple[str, ...]], refs: dict[str, str]) -> dict:
        missing = [n for n, r in refs.items() if r not in after]
        if missing:
            raise BenchError(f"remote cache, {schedule}, {scenario}: not in the engine afterwards: "
                             f"{', '.join(missing)}")
        by_ref = {r: n for n, r in refs.items()}
        rebuilt = sorted((by_ref[r] for r in changed(before, after)), key=self.names.index)
        load = load_average()
        self.say(f"  remote {schedule:9s} {scenario:16s} {result.seconds:7.1f}s  rebuilt {len(rebuilt)}/{len(refs)}  "
                 f"(load {load})")
        return {"seconds": round(result.seconds, 3), "rebuilt": rebuilt, "load_avg_1m": load}
