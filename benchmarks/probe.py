"""What a bake costs before any work: `python -m benchmarks.probe` (also run by `make bench`).

A warm bake of N trivial targets (FROM scratch, one COPY from each of K named local
contexts, every step cached) measures bake's fixed cost per target and per named
context on this engine, with cache-only outputs (no export) and with `--load`-like
`type=docker` outputs (export and unpack into the image store). fate-builder's bake of
16 targets with 0-7 named contexts each pays this on every run, warm or cold.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .engine import BenchError, remove_under

CASES = ((1, 0), (16, 0), (16, 7), (34, 0))
PREFIX = "benchprobe"


def _write(root: Path, targets: int, contexts: int, nonce: str) -> Path:
    case = root / f"n{targets}-k{contexts}"
    (case / "main").mkdir(parents=True)
    (case / "main" / "nonce").write_text(nonce + "\n", encoding="utf-8")
    # ARG N in a destination: every target's steps differ, as fate-builder's images' do
    lines = ["FROM scratch", "ARG N", "COPY nonce /nonce-${N}"]
    for k in range(contexts):
        folder = case / f"c{k}"
        folder.mkdir()
        (folder / "file.txt").write_text(f"context {k}\n", encoding="utf-8")
        lines.append(f"COPY --from=c{k} file.txt /c{k}-${{N}}.txt")
    (case / "main" / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    hcl = [f'group "default" {{\n  targets = [{", ".join(f"{chr(34)}t{i}{chr(34)}" for i in range(targets))}]\n}}']
    for i in range(targets):
        ctx = "".join(f'    c{k} = "{case / f"c{k}"}"\n' for k in range(contexts))
        hcl.append(f'target "t{i}" {{\n  context = "{case / "main"}"\n  args = {{ N = "{i}" }}\n'
                   f'  tags = ["{PREFIX}/{nonce}/t{i}:probe"]\n  platforms = ["linux/amd64"]\n'
                   + (f"  contexts = {{\n{ctx}  }}\n" if contexts else "") + "}")
    path = case / "docker-bake.hcl"
    path.write_text("\n\n".join(hcl) + "\n", encoding="utf-8")
    return path


def _bake(path: Path, output: str, attempts: int = 3) -> float:
    """Wall time of one bake; a failed one is tried again (the shared engine's containerd store has
    been seen to lose a parent snapshot while many images unpack at once)."""
    error = ""
    for _ in range(attempts):
        start = time.perf_counter()
        done = subprocess.run(["docker", "buildx", "bake", "--progress", "plain", "-f", str(path), "--set",
                               f"*.output={output}"], capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if done.returncode == 0:
            return seconds
        error = done.stderr[-800:]
        print(f"  probe: bake failed, trying again: {error.strip().splitlines()[-1]}", file=sys.stderr, flush=True)
    raise BenchError(f"probe bake failed {attempts} times: {error}")


def probe(repeats: int = 2, cases: tuple[tuple[int, int], ...] = CASES) -> dict:
    root = Path(tempfile.mkdtemp(prefix="fate-builder-probe-"))
    nonce = secrets.token_hex(4)
    results = []
    try:
        for targets, contexts in cases:
            path = _write(root, targets, contexts, nonce)
            _bake(path, "type=cacheonly")  # first run: fills the cache
            row = {"targets": targets, "named_contexts": contexts}
            for key, output in (("cacheonly_s", "type=cacheonly"), ("docker_s", "type=docker")):
                times = [_bake(path, output) for _ in range(repeats)]
                row[key] = round(statistics.median(times), 3)
            results.append(row)
            print(f"  probe: {targets:2d} targets x {contexts} named contexts: cache-only {row['cacheonly_s']:.2f}s, "
                  f"type=docker {row['docker_s']:.2f}s", file=sys.stderr, flush=True)
    finally:
        remove_under(f"{PREFIX}/{nonce}")
        shutil.rmtree(root, ignore_errors=True)
    by = {(r["targets"], r["named_contexts"]): r for r in results}
    derived = {}
    if (1, 0) in by and (34, 0) in by:
        derived["per_target_cacheonly_s"] = round((by[34, 0]["cacheonly_s"] - by[1, 0]["cacheonly_s"]) / 33, 3)
        derived["per_target_export_s"] = round(((by[34, 0]["docker_s"] - by[34, 0]["cacheonly_s"])
                                                - (by[1, 0]["docker_s"] - by[1, 0]["cacheonly_s"])) / 33, 3)
    if (16, 0) in by and (16, 7) in by:
        derived["per_named_context_load_s"] = round((by[16, 7]["cacheonly_s"] - by[16, 0]["cacheonly_s"]) / (16 * 7), 4)
    return {"repeats": repeats, "cases": results, "derived": derived}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.probe", description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    print(json.dumps(probe(args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
