"""`make bench`: one `fate-builder bake` against FATE-Builder's sequential build.sh, on a real engine.

For each selection (the default 16 images, and all 34 that amd64 allows) and each run,
both strategies build the same stand-in images (tests/fixtures) with per-image work
proportional to FATE's (benchmarks/workload.py), from a workspace of their own:

* cold: the benchmark's images removed and the build cache emptied (`docker buildx prune
  -af`; `--no-prune` leaves other users' cache alone and relies on the workspace's fresh
  nonce instead), then one build of the selection;
* warm: the same build again, nothing changed;
* incremental: one file under $FATE_DIR/fateflow changed, the same build again; the images
  whose layers changed must be exactly those whose contents include fateflow;
* touch (fate-builder only): the same file's mtime changed, nothing else.

Then `fate-builder render` of the whole catalog against a bare `python -c "import jinja2"`,
and fate-builder's own cost on a warm bake (benchmarks/overhead.py): `fate-builder bake
--load` against plain `docker buildx bake --load` of the same file, alternating.
Writes benchmarks/results/latest.{json,md,png} and prints the table. `--publish` also keeps
the results as this engine generation's (benchmarks/engines/docker-X.Y.json, committed) and
writes the README tables and benchmarks/chart.png from every generation kept there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testsupport import scrubbed_environ

from . import baseline, report, workload
from .engine import (
    BenchError,
    Timed,
    changed,
    engine_facts,
    executed_work_count,
    layers,
    load_average,
    parse_progress,
    peak_concurrency,
    prune_build_cache,
    remove_under,
    run_timed,
    work_steps,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
ENGINES = Path(__file__).resolve().parent / "engines"
CHART = Path(__file__).resolve().parent / "chart.png"
STRATEGIES = ("fate-builder", "baseline")
PREFIXES = {"fate-builder": "benchfb", "baseline": "benchbase"}
SCENARIOS = ("cold", "warm", "incremental", "touch")
TAG = baseline.TAG


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fate_builder_bin() -> str:
    here = Path(sys.executable).parent / "fate-builder"
    found = str(here) if here.exists() else shutil.which("fate-builder")
    if not found:
        raise BenchError("no fate-builder executable next to this Python or on PATH (make venv)")
    return found


def scrubbed_env() -> dict[str, str]:
    """The environment without fate-builder's settings, so only the benchmark's -D options count."""
    return scrubbed_environ()


# --------------------------------------------------------------------------------------
# fate-builder
# --------------------------------------------------------------------------------------


def fate_builder_settings(ws: workload.Workspace, selection: str, prefix: str,
                          work: dict[str, float]) -> dict[str, str]:
    """The -D settings of the benchmark's fate-builder runs: per-image WORK_SECONDS through Docker_Options."""
    settings = {"FATE_DIR": str(ws.fate_dir), "PREFIX": prefix, "TAG": TAG, **workload.SELECTION_FLAGS[selection]}
    sets = [f"{name}.args.WORK_SECONDS={seconds:g}" for name, seconds in work.items()]
    if settings.get("Build_IPCL") == "1":
        settings["IPCL_PKG_DIR"] = str(ws.ipcl_dir)
    if settings.get("Build_LLM") == "1":
        # FATE-LLM's git source cannot be fetched here; its local stand-in replaces it.
        sets.append(f"*.contexts.fate-llm-src={ws.llm_dir}")
    settings["Docker_Options"] = " ".join(f"--set {shlex.quote(s)}" for s in sets)
    return settings


def fate_builder_argv(ws: workload.Workspace, settings: dict[str, str], *command: str) -> list[str]:
    argv = [fate_builder_bin(), "--docker-dir", str(ws.docker_dir)]
    for name, value in settings.items():
        argv += ["-D", f"{name}={value}"]
    return [*argv, *command]


def fate_builder_build(ws: workload.Workspace, selection: str, prefix: str, work: dict[str, float]) -> Timed:
    settings = fate_builder_settings(ws, selection, prefix, work)
    argv = fate_builder_argv(ws, settings, "bake", "--load", "--progress", "plain", "--output",
                             str(ws.root / "docker-bake.hcl"))
    result = run_timed(argv, cwd=str(ws.root), env=scrubbed_env())
    if result.returncode != 0:
        tail = "".join(line for _, line in result.lines[-25:])
        raise BenchError(f"fate-builder bake failed ({result.returncode}):\n{tail}")
    return result


def warm_anatomy(ws: workload.Workspace, selection: str, prefix: str, work: dict[str, float]) -> dict:
    """Where a warm `fate-builder bake --load` spends its time, by running its parts alone.

    fate-builder's own start-up (`render`, and `doctor`, which is bake's preflight), then the
    very `docker buildx bake` call fate-builder makes (its targets and --set options, from
    generator.build.bake_call), once as is and once with every output cache-only (no export
    or unpack into the image store).
    """
    from dataclasses import replace

    from generator import entitlements
    from generator.build import bake_call, resolve_targets
    from generator.config import load_config
    from generator.engine import Engine, version_tuple
    from generator.plan import build_plan
    from generator.render import bake_variables

    from .engine import stream_timed

    settings = fate_builder_settings(ws, selection, prefix, work)
    env = scrubbed_env()
    out: dict = {}
    for key, command in (("render_s", ("render", "-o", str(ws.root / "anatomy.hcl"))), ("doctor_s", ("doctor",))):
        result = run_timed(fate_builder_argv(ws, settings, *command), cwd=str(ws.root), env=env)
        out[key] = round(result.seconds, 3) if result.returncode == 0 else None
    config = load_config(env_file=None, environ={}, overrides={**settings, "DOCKER_DIR": str(ws.docker_dir)})
    plan = build_plan(config)
    names, kwargs = bake_call(plan, resolve_targets(plan, ()), replace(config.bake_options, load=True))
    variables = bake_variables(config)
    engine = Engine()
    # the grants fate-builder gives, for this process's working directory
    buildx = version_tuple(engine.facts().buildx_version)
    allow = entitlements.grants(entitlements.bake_access(config, names, config.bake_options.set), os.getcwd(), buildx)

    def bake(extra: dict[str, str]) -> float:
        options = dict(kwargs)
        options["set"] = {**kwargs["set"], **extra}
        start = time.perf_counter()
        lines: list = []
        stream_timed(engine.start_bake(ws.root / "docker-bake.hcl", names, variables, progress="plain", allow=allow,
                                       **options).lines(), start, lines)
        return round(time.perf_counter() - start, 3)

    # (Not a variant without provenance attestations: its images differ from the stored ones, so every
    # image is exported and unpacked again, and the next bake with attestations pays it back.)
    out["bake_load_s"] = bake({})
    out["bake_cacheonly_s"] = bake({f"{name}.output": "type=cacheonly" for name in names})
    return out


def bake_timeline(result: Timed, names: tuple[str, ...], work: dict[str, float]) -> dict:
    """Where a bake's wall time went, from the arrival times of its progress lines."""
    vertices = parse_progress(result.lines)
    steps = work_steps(vertices)
    first = next((t for t, line in result.lines if re.match(r"^#\d+ ", line)), None)
    exports = [v for v in vertices.values() if "exporting to" in v.name]
    loads = [v for v in vertices.values() if re.match(r"load (?:from client|build context|\.dockerignore)", v.name)]
    definitions = next((v for v in vertices.values() if "load local bake definitions" in v.name), None)
    gap = None
    if definitions is not None and definitions.finished_at is not None:
        later = [v.started_at for v in vertices.values()
                 if v is not definitions and v.started_at is not None and v.started_at >= definitions.finished_at]
        gap = round(min(later) - definitions.finished_at, 2) if later else None
    out: dict = {
        "startup_s": round(first, 2) if first is not None else None,
        # from bake having read its file to the first build's first line: resolving targets, starting solves
        "bake_start_gap_s": gap,
        "context_loads": len(loads),
        "last_context_load_s": round(max((v.finished_at or 0.0) for v in loads), 2) if loads else None,
        "executed_work_steps": executed_work_count(vertices),
        "exports": len(exports),
        "export_s_sum": round(sum(v.seconds for v in exports), 2),
        "export_s_max": round(max((v.seconds for v in exports), default=0.0), 2),
        "peak_parallel_work_steps": peak_concurrency(steps.values()),
    }
    ends = [s.end for s in steps.values() if s.end is not None]
    if ends:
        out["last_work_end_s"] = round(max(ends), 2)
        out["tail_s"] = round(result.seconds - max(ends), 2)
        out["work_step_s"] = {n: round(s.duration, 2) for n, s in steps.items()}
        # along the nominal critical chain: how long each image waited after its parent's work ended
        chain = workload.critical_path(names, work).images
        gaps = {}
        previous_end = first
        for name in chain:
            step = steps.get(name)
            if step is None or step.start is None or previous_end is None:
                break
            gaps[name] = round(step.start - previous_end, 2)
            previous_end = step.end
        out["chain_wait_s"] = gaps
    return out


# --------------------------------------------------------------------------------------
# baseline
# --------------------------------------------------------------------------------------


def baseline_details(run: baseline.BaselineRun, previous: dict[str, str] | None) -> dict:
    per_image = {}
    step_seconds = {}
    executed = 0
    for build in run.builds:
        vertices = parse_progress(build.lines)
        executed += executed_work_count(vertices)
        steps = [v for v in vertices.values() if v.is_step and v.executed]
        own = [v for v in steps if baseline.PACKAGE_TARGET not in v.name]
        export = sum(v.seconds for v in vertices.values() if "exporting to" in v.name)
        step_seconds[build.name] = round(sum(v.seconds for v in own), 2)
        per_image[build.name] = {
            "seconds": round(build.seconds, 2),
            "steps_s": round(sum(v.seconds for v in steps), 2),
            "export_s": round(export, 2),
        }
    changed_artifacts = None
    if previous is not None:
        changed_artifacts = sorted(a for a, d in run.package.digests.items() if previous.get(a) != d)
    return {
        "package_s": round(run.package.seconds, 2),
        "package_artifacts_changed": changed_artifacts,
        "executed_work_steps": executed,
        "per_image": per_image,
        "step_seconds": step_seconds,
        "overhead_s_sum": round(sum(p["seconds"] - p["steps_s"] for p in per_image.values()), 2),
    }


def wait_for_engine(limit: float = 300) -> None:
    """After a failure: wait until the engine answers again (others may restart it on a shared machine)."""
    deadline = time.monotonic() + limit
    time.sleep(10)
    while time.monotonic() < deadline:
        ok = subprocess.run(["docker", "buildx", "inspect"], capture_output=True, check=False).returncode == 0
        if ok and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0:
            return
        time.sleep(5)
    raise BenchError(f"the engine did not come back within {limit:.0f}s")


# --------------------------------------------------------------------------------------
# one strategy, one run: cold, warm, incremental (, touch)
# --------------------------------------------------------------------------------------


class Runner:
    def __init__(self, args: argparse.Namespace, session: str, work_root: Path, data: dict):
        self.args = args
        self.session = session
        self.work_root = work_root
        self.data = data

    def checkpoint(self, key: str, partial: dict) -> None:
        """Save what is measured so far (results/partial.json): a run that is killed still leaves its numbers."""
        self.data["selections"][key] = partial
        self.args.results.mkdir(parents=True, exist_ok=True)
        (self.args.results / "partial.json").write_text(json.dumps(self.data, indent=2), encoding="utf-8")

    def prefix(self, strategy: str) -> str:
        return f"{PREFIXES[strategy]}/{self.session}"

    def prepare_cold(self, strategy: str) -> dict:
        removed = remove_under(self.prefix(strategy))
        pruned = prune_build_cache() if self.args.prune else None
        return {"removed_images": removed, "prune_s": None if pruned is None else round(pruned, 2)}

    def strategy_run(self, strategy: str, key: str, selection: str, names: tuple[str, ...], index: int,
                     scenarios: tuple[str, ...], work: dict[str, float], cpu_rate: int | None) -> dict:
        short = "fb" if strategy == "fate-builder" else "base"
        nonce = f"{self.session}-{key}-{index}-{short}-{secrets.token_hex(2)}"
        ws = workload.Workspace.create(self.work_root / key / f"run{index}" / short, nonce, cpu_rate)
        prefix = self.prefix(strategy)
        refs = {name: f"{prefix}/{name}:{TAG}" for name in names}
        expected = set(workload.derived_from_source(names))
        out: dict = {"nonce": nonce}
        previous_digests: dict[str, str] | None = None

        def build(scenario: str) -> dict:
            nonlocal previous_digests
            before = layers(refs.values())
            load = load_average()
            if strategy == "fate-builder":
                result = fate_builder_build(ws, selection, prefix, work)
                seconds, details = result.seconds, bake_timeline(result, names, work)
            else:
                run = baseline.run(ws, names, prefix, work, say=say if self.args.verbose else lambda s: None)
                seconds, details = run.seconds, baseline_details(run, previous_digests)
                previous_digests = run.package.digests
            after = layers(refs.values())
            missing = [n for n, r in refs.items() if r not in after]
            if missing:
                raise BenchError(f"{strategy} {scenario}: not in the engine afterwards: {', '.join(missing)}")
            by_ref = {r: n for n, r in refs.items()}
            rebuilt = sorted((by_ref[r] for r in changed(before, after)), key=names.index)
            entry = {"seconds": round(seconds, 3), "rebuilt": rebuilt, "load_avg_1m": load, **details}
            say(f"  {key} run {index + 1} {strategy:12s} {scenario:11s} {seconds:7.1f}s  "
                f"rebuilt {len(rebuilt)}/{len(names)}  (load {load})")
            return entry

        out["cold_prep"] = self.prepare_cold(strategy)
        out["cold"] = build("cold")
        if "warm" in scenarios:
            out["warm"] = build("warm")
            if strategy == "fate-builder" and self.args.anatomy and key == "default":
                try:
                    out["warm_anatomy"] = warm_anatomy(ws, selection, prefix, work)
                    say(f"  {key} run {index + 1} fate-builder warm anatomy: {out['warm_anatomy']}")
                except Exception as exc:  # noqa: BLE001 - a diagnosis must not cost the run
                    out["warm_anatomy"] = {"error": str(exc)[:500]}
        if "incremental" in scenarios:
            ws.edit_fateflow(f"benchmark edit {nonce}")
            out["incremental"] = build("incremental")
            out["incremental"]["expected"] = [n for n in names if n in expected]
            out["incremental"]["exact"] = set(out["incremental"]["rebuilt"]) == expected
        if "touch" in scenarios and strategy == "fate-builder":
            ws.touch_fateflow()
            out["touch"] = build("touch")
        if not self.args.keep:
            remove_under(prefix)
            shutil.rmtree(ws.root, ignore_errors=True)
        return out

    def selection(self, key: str, selection: str, runs: int, scenarios: tuple[str, ...],
                  cpu_rate: int | None = None) -> dict:
        probe = workload.Workspace.create(self.work_root / key / "probe", "probe")
        names = workload.selection(selection, str(probe.fate_dir))
        shutil.rmtree(probe.root, ignore_errors=True)
        work = workload.work_seconds(names, self.args.scale)
        cp = workload.critical_path(names, work)
        expected = workload.derived_from_source(names)
        inc_floor = workload.rebuild_path(names, expected, work)
        cores = os.cpu_count() or 1
        cpu_floor = max(cp.seconds, sum(work.values()) / cores) if cpu_rate else None
        say(f"{key}: {len(names)} images, {sum(work.values()):.1f}s of {'CPU ' if cpu_rate else ''}work, "
            f"critical path {cp.seconds:.1f}s ({' > '.join(cp.images)})"
            + (f", {cores}-core floor {cpu_floor:.1f}s" if cpu_floor else ""))
        results: list[dict] = []
        for index in range(runs):
            order = STRATEGIES if index % 2 == 0 else tuple(reversed(STRATEGIES))
            entry: dict = {"run": index + 1, "order": list(order)}
            for strategy in order:
                if strategy not in self.args.strategies:
                    continue
                for attempt in range(self.args.retries + 1):
                    try:
                        entry[strategy] = self.strategy_run(strategy, key, selection, names, index, scenarios, work,
                                                            cpu_rate)
                        break
                    except BenchError as exc:
                        say(f"  {strategy} run {index + 1} failed (attempt {attempt + 1}): {exc}")
                        entry.setdefault("failures", []).append(f"{strategy}: {str(exc)[:2000]}")
                        if attempt == self.args.retries:
                            raise
                        wait_for_engine()
            results.append(entry)
            self.checkpoint(key, {"images": list(names), "work_seconds": work, "runs": results, "partial": True})
        measured_cp = []
        for entry in results:
            if "baseline" in entry:
                seconds = entry["baseline"]["cold"]["step_seconds"]
                measured_cp.append(workload.critical_path(names, seconds).seconds)
        return {
            "selection": selection,
            "work_kind": "cpu" if cpu_rate else "sleep",
            "cpu_rate_mib_s": cpu_rate,
            "cpu_floor_s": None if cpu_floor is None else round(cpu_floor, 2),
            "images": list(names),
            "work_seconds": work,
            "work_seconds_total": round(sum(work.values()), 2),
            "critical_path": {"nominal_s": cp.seconds, "chain": list(cp.images),
                              "measured_s": measured_cp},
            "incremental_expected": list(expected),
            "incremental_floor_s": inc_floor.seconds,
            "incremental_floor_chain": list(inc_floor.images),
            "scenarios": list(scenarios),
            "runs": results,
        }


# --------------------------------------------------------------------------------------
# render
# --------------------------------------------------------------------------------------

_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)")


def bench_render(runs: int, work_root: Path) -> dict:
    from testsupport import write_fate_checkout

    folder = work_root / "render"
    fate_dir = write_fate_checkout(folder / "FATE")
    output = folder / "docker-bake.hcl"
    settings = ["-D", f"FATE_DIR={fate_dir}", "-D", "Build_GPU=1", "-D", "Build_LLM=1", "-D", "Build_IPCL=1",
                "-D", "Build_FUM=1"]
    fb = [fate_builder_bin(), *settings, "render", "-o", str(output)]
    bare = [sys.executable, "-c", "import jinja2"]
    empty = [sys.executable, "-c", "pass"]
    env = scrubbed_env()
    times: dict[str, list[float]] = {"fate_builder": [], "bare_jinja2": [], "python": []}

    def once(argv: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(argv, cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    for argv in (fb, bare, empty):  # warm-up: page cache and .pyc files
        once(argv)
    for _ in range(runs):
        times["fate_builder"].append(once(fb))
        times["bare_jinja2"].append(once(bare))
        times["python"].append(once(empty))
    # what fate-builder's start-up imports cost, top-level packages by cumulative time
    code = ("import sys; from generator.cli import main; "
            f"sys.exit(main({[*settings, 'render', '-o', str(output)]!r}))")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=folder, env=env,
                          capture_output=True, text=True, check=True)
    imports = []
    for line in done.stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m and len(m.group(3)) == 1:
            imports.append({"module": m.group(4), "cumulative_ms": round(int(m.group(2)) / 1000, 1)})
    imports.sort(key=lambda i: -i["cumulative_ms"])
    targets = sum(1 for _ in re.finditer(r'^target "(?!_)', output.read_text(encoding="utf-8"), re.M))
    shutil.rmtree(folder, ignore_errors=True)
    seconds = {k: [round(x, 4) for x in v] for k, v in times.items()}
    return {"runs": runs, "targets_rendered": targets, "seconds": seconds, "imports_top": imports[:12]}


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="runs of the default selection (default 3)")
    p.add_argument("--runs-all", type=int, default=1, help="runs of the 34-image selection (default 1; 0 skips it)")
    p.add_argument("--scenarios-all", type=_csv, default=("cold", "warm"),
                   help="scenarios of the 34-image selection (default cold,warm)")
    p.add_argument("--cpu-runs", type=int, default=1,
                   help="cold runs of the default selection with CPU-bound work instead of sleeps (default 1)")
    p.add_argument("--scale", type=float, default=workload.DEFAULT_SCALE,
                   help=f"seconds of work per real-FATE minute (default {workload.DEFAULT_SCALE})")
    p.add_argument("--strategies", type=_csv, default=STRATEGIES, help="fate-builder,baseline (default both)")
    p.add_argument("--render-runs", type=int, default=15, help="runs of each render command (default 15; 0 skips)")
    p.add_argument("--overhead-runs", type=int, default=7,
                   help="alternating runs of the warm overhead measurement (default 7; 0 skips)")
    p.add_argument("--publish", action="store_true",
                   help=f"keep the results as this engine generation's in {ENGINES.relative_to(ROOT)}/ and write the "
                        f"--readme tables and {CHART.relative_to(ROOT)} from every generation kept there")
    p.add_argument("--no-prune", dest="prune", action="store_false",
                   help="do not empty the shared build cache before cold runs (fresh nonces only)")
    p.add_argument("--retries", type=int, default=1, help="retries of a failed strategy run (default 1)")
    p.add_argument("--work-dir", type=Path, help="where workspaces go (default: a temporary folder)")
    p.add_argument("--results", type=Path, default=RESULTS, help="output folder (default benchmarks/results)")
    p.add_argument("--readme", type=Path, action="append", default=[],
                   help="update the table between the bench markers in this file (repeatable)")
    p.add_argument("--note", default="", help="a sentence saved with the results (e.g. 'machine busy')")
    p.add_argument("--no-probe", dest="probe", action="store_false",
                   help="skip the probe of bake's fixed cost per target and named context (benchmarks/probe.py)")
    p.add_argument("--no-anatomy", dest="anatomy", action="store_false",
                   help="skip timing the parts of a warm fate-builder bake (render, doctor, bake alone)")
    p.add_argument("--keep", action="store_true", help="keep the images and workspaces")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: scale 0.05, 1 run, 3 render and overhead runs, no 34-image selection, CPU variant "
                        "or probe")
    p.add_argument("--verbose", "-v", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.scale, args.runs, args.runs_all, args.render_runs, args.cpu_runs, args.probe = 0.05, 1, 0, 3, 0, False
        args.overhead_runs = min(args.overhead_runs, 3)
    unknown = set(args.strategies) - set(STRATEGIES)
    if unknown:
        raise SystemExit(f"unknown strategies: {', '.join(sorted(unknown))}")
    started = time.time()
    session = "s" + secrets.token_hex(3)
    facts = engine_facts()
    say(f"benchmark {session}: engine {facts.get('engine')} ({facts.get('storage')} store), {facts.get('buildx')}, "
        f"{os.cpu_count()} cores, load {load_average()}, scale {args.scale} s/min, "
        f"{'prune' if args.prune else 'no prune'}")
    temporary = None
    if args.work_dir is None:
        temporary = tempfile.mkdtemp(prefix="fate-builder-bench-")
        work_root = Path(temporary)
    else:
        work_root = args.work_dir
        work_root.mkdir(parents=True, exist_ok=True)
    data: dict = {
        "meta": {
            "session": session,
            "started": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(), **facts},
            "git": _git_head(),
            "scale_s_per_minute": args.scale,
            "family_minutes": workload.FAMILY_MINUTES,
            "prune": args.prune,
            "load_avg_1m_start": load_average(),
            "note": args.note,
            "argv": sys.argv[1:] if argv is None else argv,
        },
        "selections": {},
    }
    runner = Runner(args, session, work_root, data)
    try:
        if args.runs > 0:
            data["selections"]["default"] = runner.selection("default", "default", args.runs,
                                                             ("cold", "warm", "incremental", "touch"))
        if args.runs_all > 0:
            data["selections"]["all"] = runner.selection("all", "all", args.runs_all, args.scenarios_all)
        if args.cpu_runs > 0:
            from testsupport import busybox_dir

            rate = workload.calibrate_cpu(busybox_dir() / "amd64" / "busybox")
            say(f"cpu: busybox md5sum hashes {rate} MiB/s on one core")
            data["selections"]["default-cpu"] = runner.selection("default-cpu", "default", args.cpu_runs, ("cold",),
                                                                 cpu_rate=rate)
        if args.render_runs > 0:
            say("render: fate-builder render (34 targets) against python -c 'import jinja2'")
            data["render"] = bench_render(args.render_runs, work_root)
        if args.overhead_runs > 0:
            from .overhead import measure

            say(f"overhead: warm `fate-builder bake --load` against plain `docker buildx bake --load`, "
                f"{args.overhead_runs} alternating runs")
            data["overhead"] = measure(args.overhead_runs, work_root / "overhead")
            say(f"  medians {data['overhead']['median_s']}, ratio {data['overhead']['ratio']}")
        if args.probe:
            from .probe import probe

            say("probe: warm bakes of N trivial targets with K named contexts (bake's fixed cost)")
            data["probe"] = probe()
    finally:
        for strategy in STRATEGIES:
            if not args.keep:
                remove_under(runner.prefix(strategy))
        if temporary and not args.keep:
            shutil.rmtree(temporary, ignore_errors=True)
    data["meta"]["load_avg_1m_end"] = load_average()
    data["meta"]["wall_s"] = round(time.time() - started, 1)
    data["summary"] = report.summarize(data)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromtimestamp(started, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(data, indent=2)
    (args.results / "latest.json").write_text(text, encoding="utf-8")
    (args.results / "partial.json").unlink(missing_ok=True)
    (args.results / f"{stamp}.json").write_text(text, encoding="utf-8")
    markdown = report.markdown(data)
    (args.results / "latest.md").write_text(markdown, encoding="utf-8")
    chart = report.chart(data, args.results / "latest.png")
    published_chart = None
    if args.publish:
        published = report.publish(data, ENGINES)
        say(f"kept as {published.relative_to(ROOT)}")
        kept = report.load_engines(ENGINES)
        markdown = report.markdown_engines(kept)
        if report.chart_engines(kept, CHART):
            published_chart = CHART
            say(f"wrote {CHART.relative_to(ROOT)}")
    for readme in args.readme:
        table = report.with_chart(markdown, readme, published_chart) if published_chart else markdown
        if report.update_readme(readme, table):
            say(f"updated the table in {readme}")
        else:
            say(f"{readme}: no '{report.START}' / '{report.END}' markers; table not written there")
    print(markdown)
    say(f"wrote {args.results / 'latest.json'}, latest.md{', latest.png' if chart else ''} "
        f"in {data['meta']['wall_s'] / 60:.1f} min")
    return 0


def _git_head() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        sys.exit(1)
