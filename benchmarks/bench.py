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
* touch (fate-builder only): the same file's mtime changed, nothing else;
* remote cache (fate-builder only, benchmarks/remote.py): a fresh builder with `CACHE=registry`,
  nothing changed and one file under fateflow changed; cold in fate-builder's pipeline against one graph.

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
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testsupport import scrubbed_environ

from . import baseline, fate_builder, publish, workload
from .engine import (
    BenchError,
    Timed,
    changed,
    engine_facts,
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
STRATEGIES = ("fate-builder", "baseline")
PREFIXES = {"fate-builder": "benchfb", "baseline": "benchbase"}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# what a fate-builder bake spent its time on
# --------------------------------------------------------------------------------------


def warm_anatomy(ws: workload.Workspace, values: dict[str, str]) -> dict:
    """Where a warm `fate-builder bake --load` spends its time, by running its parts alone.

    fate-builder's own start-up (`render`, and `doctor`, which is bake's preflight), then the
    same bake alone (one round, generator.build.bake_round: no CLI, render or preflight), once
    as is and once with every output cache-only (no export or unpack into the image store).
    """
    out: dict = {}
    for key, command in (("render_s", ("render", "-o", str(ws.root / "anatomy.hcl"))), ("doctor_s", ("doctor",))):
        result = run_timed(fate_builder.argv(ws, values, *command), cwd=str(ws.root), env=scrubbed_environ())
        out[key] = round(result.seconds, 3) if result.returncode == 0 else None
    # (Not a variant without provenance attestations: its images differ from the stored ones, so every
    # image is exported and unpacked again, and the next bake with attestations pays it back.)
    out["bake_load_s"] = round(fate_builder.bake_round(ws, values), 3)
    out["bake_cacheonly_s"] = round(fate_builder.bake_round(ws, values, ("*.output=type=cacheonly",), load=False), 3)
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
    ends = [s.end for s in steps.values() if s.end is not None]
    return {
        "startup_s": round(first, 2) if first is not None else None,
        # from bake having read its file to the first build's first line: resolving targets, starting solves
        "bake_start_gap_s": gap,
        "context_loads": len(loads),
        "last_context_load_s": round(max((v.finished_at or 0.0) for v in loads), 2) if loads else None,
        "export_s_sum": round(sum(v.seconds for v in exports), 2),
        "peak_parallel_work_steps": peak_concurrency(steps.values()),
        "last_work_end_s": round(max(ends), 2) if ends else None,
        "tail_s": round(result.seconds - max(ends), 2) if ends else None,
    }


def baseline_details(run: baseline.BaselineRun) -> dict:
    """The package step's time, each image's Dockerfile steps, and what the builds spent outside them."""
    step_seconds, outside = {}, 0.0
    for build in run.builds:
        steps = [v for v in parse_progress(build.lines).values() if v.is_step and v.executed]
        step_seconds[build.name] = round(sum(v.seconds for v in steps if baseline.PACKAGE_TARGET not in v.name), 2)
        outside += build.seconds - sum(v.seconds for v in steps)
    return {"package_s": round(run.package.seconds, 2), "step_seconds": step_seconds,
            "overhead_s_sum": round(outside, 2)}


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


class StrategyRun:
    """One strategy's scenarios in one workspace: each a build, timed and judged by the images' layers."""

    def __init__(self, runner: Runner, strategy: str, key: str, selection: str, names: tuple[str, ...], index: int,
                 work: dict[str, float], cpu_rate: int | None):
        self.runner, self.strategy, self.key, self.names, self.index, self.work = (
            runner, strategy, key, names, index, work)
        short = "fb" if strategy == "fate-builder" else "base"
        self.nonce = f"{runner.session}-{key}-{index}-{short}-{secrets.token_hex(2)}"
        self.ws = workload.Workspace.create(runner.work_root / key / f"run{index}" / short, self.nonce, cpu_rate)
        self.prefix = runner.prefix(strategy)
        self.refs = workload.references(self.prefix, names)
        self.values = fate_builder.settings(self.ws, selection, self.prefix, work)

    def build(self, scenario: str) -> dict:
        before = layers(self.refs.values())
        load = load_average()
        if self.strategy == "fate-builder":
            result = fate_builder.cli_bake(self.ws, self.values)
            seconds, details = result.seconds, bake_timeline(result, self.names, self.work)
        else:
            verbose = self.runner.args.verbose
            run = baseline.run(self.ws, self.names, self.prefix, self.work, say=say if verbose else lambda s: None)
            seconds, details = run.seconds, baseline_details(run)
        after = layers(self.refs.values())
        missing = [n for n, r in self.refs.items() if r not in after]
        if missing:
            raise BenchError(f"{self.strategy} {scenario}: not in the engine afterwards: {', '.join(missing)}")
        by_ref = {r: n for n, r in self.refs.items()}
        rebuilt = sorted((by_ref[r] for r in changed(before, after)), key=self.names.index)
        say(f"  {self.key} run {self.index + 1} {self.strategy:12s} {scenario:11s} {seconds:7.1f}s  "
            f"rebuilt {len(rebuilt)}/{len(self.names)}  (load {load})")
        return {"seconds": round(seconds, 3), "rebuilt": rebuilt, "load_avg_1m": load, **details}

    def scenarios(self, wanted: tuple[str, ...]) -> dict:
        out: dict = {"nonce": self.nonce, "cold_prep": self.runner.prepare_cold(self.strategy)}
        out["cold"] = self.build("cold")
        fb = self.strategy == "fate-builder"
        if "warm" in wanted:
            out["warm"] = self.build("warm")
            if fb and self.runner.args.anatomy and self.key == "default":
                out["warm_anatomy"] = self.anatomy()
        if "incremental" in wanted:
            self.ws.edit_fateflow(f"benchmark edit {self.nonce}")
            out["incremental"] = self.build("incremental")
            out["incremental"]["exact"] = set(out["incremental"]["rebuilt"]) == set(
                workload.derived_from_source(self.names))
        if "touch" in wanted and fb:
            self.ws.touch_fateflow()
            out["touch"] = self.build("touch")
        if not self.runner.args.keep:
            remove_under(self.prefix)
            shutil.rmtree(self.ws.root, ignore_errors=True)
        return out

    def anatomy(self) -> dict:
        try:
            found = warm_anatomy(self.ws, self.values)
        except Exception as exc:  # noqa: BLE001 - a diagnosis must not cost the run
            return {"error": str(exc)[:500]}
        say(f"  {self.key} run {self.index + 1} fate-builder warm anatomy: {found}")
        return found


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

    def with_retries(self, what: str, attempt_once, failures: list[str]):  # noqa: ANN001, ANN201
        """attempt_once(), tried again after a failure (the shared engine may be restarting) `--retries` times."""
        for attempt in range(self.args.retries + 1):
            try:
                return attempt_once()
            except BenchError as exc:
                say(f"  {what} failed (attempt {attempt + 1}): {exc}")
                failures.append(f"{what}: {str(exc)[:2000]}")
                if attempt == self.args.retries:
                    raise
                wait_for_engine()
        raise AssertionError("unreachable")

    def names_and_work(self, key: str, selection: str) -> tuple[tuple[str, ...], dict[str, float]]:
        probe = workload.Workspace.create(self.work_root / key / "probe", "probe")
        names = workload.selection(selection, str(probe.fate_dir))
        shutil.rmtree(probe.root, ignore_errors=True)
        return names, workload.work_seconds(names, self.args.scale)

    def selection(self, key: str, selection: str, runs: int, scenarios: tuple[str, ...],
                  cpu_rate: int | None = None) -> dict:
        names, work = self.names_and_work(key, selection)
        cp = workload.critical_path(names, work)
        cores = os.cpu_count() or 1
        cpu_floor = max(cp.seconds, sum(work.values()) / cores) if cpu_rate else None
        say(f"{key}: {len(names)} images, {sum(work.values()):.1f}s of {'CPU ' if cpu_rate else ''}work, "
            f"critical path {cp.seconds:.1f}s ({' > '.join(cp.images)})"
            + (f", {cores}-core floor {cpu_floor:.1f}s" if cpu_floor else ""))
        results: list[dict] = []
        for index in range(runs):
            order = STRATEGIES if index % 2 == 0 else tuple(reversed(STRATEGIES))
            entry: dict = {"run": index + 1, "order": list(order)}
            for strategy in (s for s in order if s in self.args.strategies):
                entry[strategy] = self.with_retries(
                    f"{strategy} run {index + 1}", lambda strategy=strategy, index=index: StrategyRun(
                        self, strategy, key, selection, names, index, work, cpu_rate).scenarios(scenarios),
                    entry.setdefault("failures", []))
            results.append(entry)
            self.checkpoint(key, {"images": list(names), "work_seconds": work, "runs": results, "partial": True})
        expected = workload.derived_from_source(names)
        inc_floor = workload.rebuild_path(names, expected, work)
        measured_cp = [workload.critical_path(names, e["baseline"]["cold"]["step_seconds"]).seconds
                       for e in results if "baseline" in e]
        return {
            "selection": selection, "work_kind": "cpu" if cpu_rate else "sleep", "cpu_rate_mib_s": cpu_rate,
            "cpu_floor_s": None if cpu_floor is None else round(cpu_floor, 2), "images": list(names),
            "work_seconds": work, "work_seconds_total": round(sum(work.values()), 2),
            "critical_path": {"nominal_s": cp.seconds, "chain": list(cp.images), "measured_s": measured_cp},
            "incremental_expected": list(expected), "incremental_floor_s": inc_floor.seconds,
            "incremental_floor_chain": list(inc_floor.images), "scenarios": list(scenarios), "runs": results,
        }

    def remote(self, runs: int) -> dict:
        from .remote import Remote, check_registry, schedule_floor

        check_registry()
        names, work = self.names_and_work("remote", "default")
        remote = Remote(self.work_root, self.session, names, work, say, keep=self.args.keep)
        say(f"remote cache: {len(names)} images, fresh builder and CACHE=registry, {runs} run(s)")
        results: list[dict] = []
        for index in range(runs):
            failures: list[str] = []
            entry = self.with_retries(f"remote run {index + 1}", lambda index=index: remote.run(index), failures)
            results.append({**entry, "failures": failures} if failures else entry)
        schedule = results[0]["pipeline"]["schedule"] if results else {}
        return {"images": list(names), "work_seconds": work, "expected": sorted(remote.expected, key=names.index),
                "schedule": schedule, "floor_s": {"pipeline": schedule_floor(schedule, work),
                                                  "one graph": workload.critical_path(names, work).seconds},
                "runs": results}


# --------------------------------------------------------------------------------------
# render
# --------------------------------------------------------------------------------------


def bench_render(runs: int, work_root: Path) -> dict:
    from testsupport import write_fate_checkout

    folder = work_root / "render"
    fate_dir = write_fate_checkout(folder / "FATE")
    output = folder / "docker-bake.hcl"
    flags = {"FATE_DIR": str(fate_dir), **workload.SELECTION_FLAGS["all"]}
    fb = [fate_builder.executable(), *[f for name, value in flags.items() for f in ("-D", f"{name}={value}")],
          "render", "-o", str(output)]
    commands = {"fate_builder": fb, "bare_jinja2": [sys.executable, "-c", "import jinja2"],
                "python": [sys.executable, "-c", "pass"]}
    env = scrubbed_environ()
    times: dict[str, list[float]] = {key: [] for key in commands}

    def once(argv: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(argv, cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    for argv in commands.values():  # warm-up: page cache and .pyc files
        once(argv)
    for _ in range(runs):
        for key, argv in commands.items():
            times[key].append(round(once(argv), 4))
    targets = sum(1 for _ in re.finditer(r'^target "(?!_)', output.read_text(encoding="utf-8"), re.M))
    shutil.rmtree(folder, ignore_errors=True)
    return {"runs": runs, "targets_rendered": targets, "seconds": times}


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
    p.add_argument("--remote-runs", type=int, default=2,
                   help="runs of the remote-cache scenarios (fresh builder, CACHE=registry; default 2; 0 skips)")
    p.add_argument("--scale", type=float, default=workload.DEFAULT_SCALE,
                   help=f"seconds of work per real-FATE minute (default {workload.DEFAULT_SCALE})")
    p.add_argument("--strategies", type=_csv, default=STRATEGIES, help="fate-builder,baseline (default both)")
    p.add_argument("--render-runs", type=int, default=15, help="runs of each render command (default 15; 0 skips)")
    p.add_argument("--overhead-runs", type=int, default=7,
                   help="alternating runs of the warm overhead measurement (default 7; 0 skips)")
    p.add_argument("--publish", action="store_true",
                   help=f"keep the results as this engine generation's in {publish.ENGINES.relative_to(ROOT)}/ and "
                        f"write the --readme tables and {publish.CHART.relative_to(ROOT)} from every generation kept")
    p.add_argument("--merge", action="store_true",
                   help="with --publish: add what this run measured to the generation's kept results (a selection, the "
                        "remote cache, render, overhead, probe) instead of replacing them: one generation measured in "
                        "several shorter engine holds, each part's time in the header")
    p.add_argument("--no-prune", dest="prune", action="store_false",
                   help="do not empty the shared build cache before cold runs (fresh nonces only; no remote-cache "
                        "scenarios, which need an emptied builder)")
    p.add_argument("--retries", type=int, default=1, help="retries of a failed strategy run (default 1)")
    p.add_argument("--work-dir", type=Path, help="where workspaces go (default: a temporary folder)")
    p.add_argument("--results", type=Path, default=publish.RESULTS, help="output folder (default benchmarks/results)")
    p.add_argument("--readme", type=Path, action="append", default=[],
                   help="update the table between the bench markers in this file (repeatable)")
    p.add_argument("--note", default="", help="a sentence saved with the results (e.g. 'machine busy')")
    p.add_argument("--no-probe", dest="probe", action="store_false",
                   help="skip the probe of bake's fixed cost per target and named context (benchmarks/probe.py)")
    p.add_argument("--no-anatomy", dest="anatomy", action="store_false",
                   help="skip timing the parts of a warm fate-builder bake (render, doctor, bake alone)")
    p.add_argument("--keep", action="store_true", help="keep the images and workspaces")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: scale 0.05, 1 run, 3 render and overhead runs, 1 remote run, no 34-image "
                        "selection, CPU variant or probe")
    p.add_argument("--verbose", "-v", action="store_true")
    return p


def parse(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.scale, args.runs, args.runs_all, args.render_runs, args.cpu_runs, args.probe = 0.05, 1, 0, 3, 0, False
        args.overhead_runs, args.remote_runs = min(args.overhead_runs, 3), min(args.remote_runs, 1)
    if not args.prune:
        args.remote_runs = 0
    unknown = set(args.strategies) - set(STRATEGIES)
    if unknown:
        raise SystemExit(f"unknown strategies: {', '.join(sorted(unknown))}")
    return args


def new_data(args: argparse.Namespace, argv: list[str] | None, session: str, started: float) -> dict:
    facts = engine_facts()
    say(f"benchmark {session}: engine {facts.get('engine')} ({facts.get('storage')} store), {facts.get('buildx')}, "
        f"{os.cpu_count()} cores, load {load_average()}, scale {args.scale} s/min, "
        f"{'prune' if args.prune else 'no prune'}")
    return {
        "meta": {
            "session": session,
            "started": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(), **facts},
            "git": _git_head(), "scale_s_per_minute": args.scale, "family_minutes": workload.FAMILY_MINUTES,
            "prune": args.prune, "load_avg_1m_start": load_average(), "note": args.note,
            "argv": sys.argv[1:] if argv is None else argv,
        },
        "selections": {},
    }


def measure_all(args: argparse.Namespace, runner: Runner, data: dict) -> None:
    """Every part asked for, in turn, into `data`."""
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
    if args.remote_runs > 0:
        data["remote"] = runner.remote(args.remote_runs)
    if args.render_runs > 0:
        say("render: fate-builder render (34 targets) against python -c 'import jinja2'")
        data["render"] = bench_render(args.render_runs, runner.work_root)
    if args.overhead_runs > 0:
        from .overhead import measure

        say(f"overhead: warm `fate-builder bake --load` against plain `docker buildx bake --load`, "
            f"{args.overhead_runs} alternating runs")
        data["overhead"] = measure(args.overhead_runs, runner.work_root / "overhead")
        say(f"  medians {data['overhead']['median_s']}, ratio {data['overhead']['ratio']}")
    if args.probe:
        from .probe import probe

        say("probe: warm bakes of N trivial targets with K named contexts (bake's fixed cost)")
        data["probe"] = probe()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.time()
    session = "s" + secrets.token_hex(3)
    data = new_data(args, argv, session, started)
    temporary = tempfile.mkdtemp(prefix="fate-builder-bench-") if args.work_dir is None else None
    work_root = Path(temporary) if temporary else args.work_dir
    work_root.mkdir(parents=True, exist_ok=True)
    runner = Runner(args, session, work_root, data)
    try:
        measure_all(args, runner, data)
    finally:
        for strategy in STRATEGIES:
            if not args.keep:
                remove_under(runner.prefix(strategy))
        if temporary and not args.keep:
            shutil.rmtree(temporary, ignore_errors=True)
    data["meta"]["load_avg_1m_end"] = load_average()
    data["meta"]["wall_s"] = round(time.time() - started, 1)
    print(publish.write_results(data, started, args.results, publish=args.publish, merge=args.merge,
                                 readmes=args.readme))
    say(f"wrote {args.results / 'latest.json'} in {data['meta']['wall_s'] / 60:.1f} min")
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
