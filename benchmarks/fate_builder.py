"""The fate-builder side of the benchmark: its command line as users run it, and its bake run in-process.

`cli_bake` times `fate-builder bake --load` (CLI, configuration, render, preflight, bake,
summary). `bake_run` renders the same file and hands it to `generator.build.run_bake` in the
layout the caller picks (fate-builder's own schedule, or one graph whatever CACHE says), so
two schedules of the same bake are compared without the CLI's start-up around them;
`bake_round` times one bake alone (`generator.build.bake_round`).
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

from generator.build import Layout
from testsupport import scrubbed_environ

from . import workload
from .engine import BenchError, Timed, run_timed


def executable() -> str:
    here = Path(sys.executable).parent / "fate-builder"
    found = str(here) if here.exists() else shutil.which("fate-builder")
    if not found:
        raise BenchError("no fate-builder executable next to this Python or on PATH (make venv)")
    return found


def settings(ws: workload.Workspace, selection: str, prefix: str, work: dict[str, float],
             **extra: str) -> dict[str, str]:
    """The -D settings of the benchmark's runs: per-image WORK_SECONDS through Docker_Options."""
    out = {"FATE_DIR": str(ws.fate_dir), "PREFIX": prefix, "TAG": workload.TAG, **workload.SELECTION_FLAGS[selection],
           **extra}
    sets = [f"{name}.args.WORK_SECONDS={seconds:g}" for name, seconds in work.items()]
    if out.get("Build_IPCL") == "1":
        out["IPCL_PKG_DIR"] = str(ws.ipcl_dir)
    if out.get("Build_LLM") == "1":
        # FATE-LLM's git source cannot be fetched here; its local stand-in replaces it.
        sets.append(f"*.contexts.fate-llm-src={ws.llm_dir}")
    if sets:
        out["Docker_Options"] = " ".join(f"--set {shlex.quote(s)}" for s in sets)
    return out


def argv(ws: workload.Workspace, values: dict[str, str], *command: str) -> list[str]:
    out = [executable(), "--docker-dir", str(ws.docker_dir)]
    for name, value in values.items():
        out += ["-D", f"{name}={value}"]
    return [*out, *command]


def bake_command(ws: workload.Workspace, values: dict[str, str]) -> list[str]:
    """`fate-builder bake --load` as the benchmark runs it (plain progress, the file rendered into the workspace)."""
    return argv(ws, values, "bake", "--load", "--progress", "plain", "--output", str(ws.root / "docker-bake.hcl"))


def cli_bake(ws: workload.Workspace, values: dict[str, str]) -> Timed:
    result = run_timed(bake_command(ws, values), cwd=str(ws.root), env=scrubbed_environ())
    if result.returncode != 0:
        tail = "".join(line for _, line in result.lines[-25:])
        raise BenchError(f"fate-builder bake failed ({result.returncode}):\n{tail}")
    return result


class _Lines:
    """A text stream for the bake run's plain view: each line kept with the second it arrived."""

    def __init__(self, start: float):
        self.start = start
        self.lines: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        for line in text.splitlines(keepends=True):
            self.lines.append((time.perf_counter() - self.start, line))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _plan(ws: workload.Workspace, values: dict[str, str]):  # noqa: ANN202 - generator's types, imported late
    """The plan of these settings and its bake file, rendered into the workspace as `fate-builder bake` does."""
    from generator.config import load_config
    from generator.plan import build_plan
    from generator.render import render, write_atomic

    plan = build_plan(load_config(env_file=None, environ={}, overrides={**values, "DOCKER_DIR": str(ws.docker_dir)}))
    bake_file = ws.root / "docker-bake.hcl"
    write_atomic(bake_file, render(plan, bake_file))
    return plan, bake_file


def bake_run(ws: workload.Workspace, values: dict[str, str], layout: Layout = "auto") -> tuple[Timed, dict]:
    """One `bake --load` through generator.build.run_bake (preflight gate, the bakes of its schedule, retries,
    summary), laid out as `layout` says, from the workspace (grants and the kept log are relative to the working
    directory); and the schedule it ran (image -> the images its bake waited for)."""
    from generator.build import BakeRequest, BuildFailed, bake_schedule, resolve_targets, run_bake
    from generator.engine import Engine

    plan, bake_file = _plan(ws, values)
    options = replace(plan.config.bake_options, load=True, progress="plain")
    schedule = bake_schedule(plan, resolve_targets(plan, ()), layout)
    start = time.perf_counter()
    stream = _Lines(start)
    try:
        with contextlib.chdir(ws.root):
            run_bake(Engine(), plan, bake_file, BakeRequest((), options, layout=layout),
                     out=lambda text: stream.write(text + "\n"), stream=stream)
    except BuildFailed as exc:
        tail = "".join(line for _, line in stream.lines[-25:])
        raise BenchError(f"bake ({layout}) failed: {exc}\n{tail}") from None
    return Timed(time.perf_counter() - start, stream.lines), {n: sorted(w) for n, w in schedule.items()}


def bake_round(ws: workload.Workspace, values: dict[str, str], extra_set: tuple[str, ...] = (),
               load: bool = True) -> float:
    """Seconds of one bake round alone (generator.build.bake_round: bake as fate-builder starts it, one graph;
    no CLI, render, preflight or display), `--load` unless told otherwise."""
    from generator.build import bake_round as one_round
    from generator.engine import Engine

    plan, bake_file = _plan(ws, values)
    options = replace(plan.config.bake_options, load=load, progress="plain", set=(*plan.config.bake_options.set,
                                                                                  *extra_set))
    start = time.perf_counter()
    with contextlib.chdir(ws.root):
        result = one_round(Engine(), plan, bake_file, options)
    if not result.ok:
        raise BenchError(f"bake round failed ({result.return_code}):\n{''.join(result.lines[-25:])}")
    return time.perf_counter() - start
