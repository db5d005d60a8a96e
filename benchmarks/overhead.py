"""fate-builder's own cost on a warm bake: `fate-builder bake --load` against plain `docker buildx bake --load`.

    .venv/bin/python -m benchmarks.overhead [--runs 5]

(`make bench` runs it too, `--overhead-runs`, and puts the ratio in the README table.)

One workspace with the stand-in tree and fate-builder's default selection (16 images, no
work), built once to warm the cache and the image store. Then, alternating, `runs` times
each: fate-builder as users run it (`fate-builder -D ... bake --load --progress plain
--output F`: CLI, configuration, render, preflight, bake, summary), and plain
`docker buildx bake --load --progress plain -f F <the same targets>` with the same
variables in its environment: the same rendered file and the same BuildKit work, so the
difference is what fate-builder adds. Both run from the workspace (buildx >= 0.20 reads
contexts under the working directory without `--allow`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from testsupport import scrubbed_environ

from . import fate_builder, workload
from .engine import BenchError, remove_under, run_timed

PREFIX = "benchoverhead"


def _seconds(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    result = run_timed(argv, cwd=str(cwd), env=env)
    if result.returncode != 0:
        raise BenchError(f"{argv[0]} failed ({result.returncode}):\n{result.text()[-3000:]}")
    return result.seconds


def measure(runs: int = 5, work_root: Path | None = None) -> dict:
    """Seconds of each command (alternating, after one warm-up build) and the ratio of the medians."""
    from generator.build import resolve_targets
    from generator.config import load_config
    from generator.plan import build_plan
    from generator.render import bake_variables

    root = Path(tempfile.mkdtemp(prefix="fate-builder-overhead-")) if work_root is None else work_root
    session = secrets.token_hex(3)
    ws = workload.Workspace.create(root / "ws", f"overhead-{session}")
    prefix = f"{PREFIX}/{session}"
    settings = fate_builder.settings(ws, "default", prefix, {})
    fb = fate_builder.bake_command(ws, settings)
    env = scrubbed_environ()
    config = load_config(env_file=None, environ={}, overrides={**settings, "DOCKER_DIR": str(ws.docker_dir)})
    names = resolve_targets(build_plan(config), ())
    plain = ["docker", "buildx", "bake", "--load", "--progress", "plain", "-f", str(ws.root / "docker-bake.hcl"),
             *names]
    plain_env = {**env, **bake_variables(config)}
    times: dict[str, list[float]] = {"fate_builder": [], "plain_bake": []}
    load_start = os.getloadavg()[0]
    try:
        _seconds(fb, ws.root, env)  # cold: builds and loads everything
        _seconds(plain, ws.root, plain_env)  # both warm-ups: page cache, .pyc files, BuildKit's caches
        _seconds(fb, ws.root, env)
        for index in range(runs):
            order = (("fate_builder", fb, env), ("plain_bake", plain, plain_env))
            for key, argv, e in order if index % 2 == 0 else tuple(reversed(order)):
                times[key].append(round(_seconds(argv, ws.root, e), 3))
    finally:
        remove_under(prefix)
        if work_root is None:
            shutil.rmtree(root, ignore_errors=True)
    medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
    return {"images": len(names), "runs": runs, "seconds": times, "median_s": medians,
            "ratio": round(medians["fate_builder"] / medians["plain_bake"], 3),
            "load_avg_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    print(json.dumps(measure(parser.parse_args(argv).runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
