"""The fate-builder side of the benchmark: its command line as users run it, and its bake run in-process.

`cli_bake` times `fate-builder bake --load` (CLI, configuration, render, preflight, bake,
summary). `bake_run` renders the same file and hands it to `generator.build.BakeRun`, the
bake run itself, in rounds the caller chooses (the waves fate-builder picks, or one graph):
so two schedules of the same bake are compared without the CLI's start-up around them.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Literal

from testsupport import scrubbed_environ

from . import workload
from .engine import BenchError, Timed, run_timed

Schedule = Literal["waves", "one graph"]


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
    """A text stream for BakeRun's plain view: each line kept with the second it arrived."""

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


def bake_run(ws: workload.Workspace, values: dict[str, str], schedule: Schedule = "waves",
             extra_set: Iterable[str] = (), load: bool = True) -> tuple[Timed, list[list[str]]]:
    """One `bake` (`--load` unless told otherwise) through generator.build.BakeRun (preflight gate, rounds,
    summary) in `schedule`'s rounds, from the workspace (its grants and kept log are relative to the working
    directory); and the rounds it ran."""
    from generator.build import BakeRun, bake_waves, resolve_targets
    from generator.config import load_config
    from generator.engine import Engine
    from generator.plan import build_plan
    from generator.render import render, write_atomic

    config = load_config(env_file=None, environ={}, overrides={**values, "DOCKER_DIR": str(ws.docker_dir)})
    plan = build_plan(config)
    bake_file = ws.root / "docker-bake.hcl"
    write_atomic(bake_file, render(plan, bake_file))
    targets = resolve_targets(plan, ())
    rounds = (targets,) if schedule == "one graph" else bake_waves(plan, targets)
    options = replace(config.bake_options, load=load, progress="plain", set=(*config.bake_options.set, *extra_set))
    start = time.perf_counter()
    stream = _Lines(start)
    engine = Engine()
    with contextlib.chdir(ws.root), tempfile.TemporaryDirectory(prefix="fate-builder-bench-") as scratch:
        run = BakeRun(engine, plan, bake_file, options, engine.ask_facts(options.builder), Path(scratch),
                      lambda text: stream.write(text + "\n"))
        run.go(targets, rounds, stream)
    if run.error is not None or run.failed:
        tail = "".join(line for _, line in stream.lines[-25:])
        raise BenchError(f"bake ({schedule}) failed: {run.error or ', '.join(run.failed)}\n{tail}")
    return Timed(time.perf_counter() - start, stream.lines), [list(r) for r in rounds]
