"""`make bench-real`: the real FATE 2.1.1 trio built by fate-builder and by one `docker build` after another.

The images are base-image, fateflow and fate-test, from the real tree (tests/data/real), with
apt and pip against Debian's archive and PyPI through this machine's gateway: the settings of
tests/real (IMAGE_MIRROR = the test registry's stand-in python image, CA_BUNDLE, PyPI for
PyTorch's index). Each strategy, in turn, from the same workspace:

* cold: the benchmark's images removed and the build cache emptied (`docker buildx prune -af`:
  pip's and apt's cache mounts go too, so everything is downloaded again), then one build;
* warm: the same build again, nothing changed;
* incremental: one python file of FATE's changed (a comment appended), the same build again.

fate-builder is `fate-builder bake fateflow fate-test --load`. The sequential strategy is
FATE-Builder's: build.sh's order, each image `docker buildx build --load`ed before the one
FROM it, with exactly the Dockerfile, arguments, named contexts, secrets and tags of the bake
file (read from `fate-builder bake --print`, nothing restated here) and the variables
`fate-builder plan --format env` gives. Its package step (cp and tar of FATE's folders) is not
reproduced: its Dockerfiles are not these, and the stand-in benchmark (benchmarks/bench.py)
measures what repackaging costs. Which images changed is judged by their layers.

Writes benchmarks/results/real-latest.json (and each round's output, real-<strategy>-<case>.log)
and prints a table; `--publish` writes the table
into benchmarks/README.md. Needs the engine (`make engine`), mmdebstrap and about 30 GB of disk.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from testsupport import scrubbed_environ
from testsupport.constants import ROOT
from testsupport.real_fate import REGISTRY, extract, write_gateway_env

from .engine import BenchError, Timed, changed, layers, prune_build_cache, remove_under, run_timed

TAG = "v2.1.1"
PREFIX = f"{REGISTRY}/fbbench"
IMAGES = ("base-image", "fateflow", "fate-test")  # build.sh's order: buildBase, then the modules
TARGETS = ("fateflow", "fate-test")
# A file fateflow copies (FATE's python code) and nothing installs from.
EDITED = "python/fate/__init__.py"
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- bench:real:begin -->", "<!-- bench:real:end -->"


@dataclass
class Round:
    strategy: str
    case: str
    seconds: float
    rebuilt: list[str]


def _fate_builder(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "generator", *args], cwd=work, capture_output=True, text=True,
                          env=scrubbed_environ({"PYTHONPATH": str(ROOT)}))


def _write_env(work: Path, fate_dir: Path) -> None:
    write_gateway_env(work, fate_dir, PREFIX, "2.1.1-bench")


def plan_env(work: Path) -> dict[str, str]:
    """The variables fate-builder bake passes (`plan --format env`: export lines)."""
    done = _fate_builder(work, "plan", "--format", "env")
    if done.returncode != 0:
        raise BenchError(f"fate-builder plan --format env failed: {done.stderr.strip()[-500:]}")
    words = shlex.split(done.stdout, comments=True)
    return dict(w.split("=", 1) for w in words if w != "export" and "=" in w)


def build_commands(work: Path) -> list[list[str]]:
    """One `docker buildx build` per image, in build.sh's order, from the bake file's own definition."""
    done = _fate_builder(work, "bake", *TARGETS, "--print")
    if done.returncode != 0:
        raise BenchError(f"fate-builder bake --print failed: {done.stderr.strip()[-500:]}")
    targets = json.loads(done.stdout)["target"]
    tags = {name: t["tags"][0] for name, t in targets.items()}
    commands = []
    for name in IMAGES:
        t = targets[name]
        argv = ["docker", "buildx", "build", "--load", "--progress", "plain",
                "-f", str(Path(t["context"]) / t["dockerfile"]), "--platform", ",".join(t["platforms"])]
        argv += [f"--build-arg={k}={v}" for k, v in sorted(t.get("args", {}).items())]
        for key, value in sorted(t.get("contexts", {}).items()):
            # The parent is the image built (and loaded) just before, as build.sh has it.
            value = f"docker-image://{tags[value.removeprefix('target:')]}" if value.startswith("target:") else value
            argv.append(f"--build-context={key}={value}")
        # buildx 0.13 prints a secret as its CSV string, later ones as a mapping.
        argv += ["--secret=" + (s if isinstance(s, str) else ",".join(f"{k}={v}" for k, v in s.items()))
                 for s in t.get("secret", [])]
        argv += [f"--label={k}={v}" for k, v in sorted(t.get("labels", {}).items())]
        argv += [f"--tag={tag}" for tag in t["tags"]]
        commands.append([*argv, t["context"]])
    return commands


def _keep(log: Path, timed: Timed) -> None:
    with log.open("a") as out:
        out.writelines(f"{at:8.1f} {line}" for at, line in timed.lines)


def fate_builder_build(work: Path, log: Path) -> float:
    timed = run_timed([sys.executable, "-m", "generator", "bake", *TARGETS, "--load", "--progress", "plain"],
                      cwd=str(work), env=scrubbed_environ({"PYTHONPATH": str(ROOT)}))
    _keep(log, timed)
    if timed.returncode != 0:
        raise BenchError(f"fate-builder bake failed:\n{timed.text()[-2000:]}")
    return timed.seconds


def sequential_build(work: Path, log: Path) -> float:
    env = {**scrubbed_environ(), **plan_env(work)}
    commands = build_commands(work)
    start = time.perf_counter()
    for argv in commands:
        timed = run_timed(argv, cwd=str(work), env=env)
        _keep(log, timed)
        if timed.returncode != 0:
            raise BenchError(f"{' '.join(argv[:3])} ... {argv[-1]} failed:\n{timed.text()[-2000:]}")
    return time.perf_counter() - start


STRATEGIES = {"fate-builder": fate_builder_build, "sequential": sequential_build}


def rounds(strategy: str, work: Path, fate_dir: Path) -> list[Round]:
    build = STRATEGIES[strategy]
    refs = [f"{PREFIX}/{name}:2.1.1-bench" for name in IMAGES]
    remove_under(PREFIX)
    prune_build_cache()
    RESULTS.mkdir(exist_ok=True)
    for case in ("cold", "warm", "incremental"):
        (RESULTS / f"real-{strategy}-{case}.log").unlink(missing_ok=True)
    out = []
    for case in ("cold", "warm", "incremental"):
        if case == "incremental":
            with (fate_dir / EDITED).open("a") as f:
                f.write(f"# benchmark edit {time.time_ns()}\n")
        before = layers(refs)
        seconds = build(work, RESULTS / f"real-{strategy}-{case}.log")
        out.append(Round(strategy, case, round(seconds, 1), changed(before, layers(refs))))
        print(f"{strategy:13} {case:12} {seconds:8.1f} s  rebuilt: {', '.join(out[-1].rebuilt) or '-'}", flush=True)
    return out


def table(found: list[Round]) -> str:
    by = {(r.strategy, r.case): r for r in found}
    lines = ["| case | fate-builder | sequential | ratio | images whose layers changed |",
             "| --- | ---: | ---: | ---: | --- |"]
    for case in ("cold", "warm", "incremental"):
        fb, seq = by[("fate-builder", case)], by[("sequential", case)]
        names = ", ".join(sorted({r.rsplit("/", 1)[-1].split(":")[0] for r in fb.rebuilt})) or "none"
        ratio = seq.seconds / fb.seconds
        lines.append(f"| {case} | {fb.seconds:.0f} s | {seq.seconds:.0f} s | {ratio:.2f} x | {names} |")
    return "\n".join(lines)


def publish(text: str) -> None:
    readme = README.read_text()
    if BEGIN not in readme or END not in readme:
        raise BenchError(f"{README}: no {BEGIN} ... {END} block")
    head, rest = readme.split(BEGIN, 1)
    README.write_text(f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publish", action="store_true", help="write the table into benchmarks/README.md")
    args = parser.parse_args(argv)
    made = subprocess.run([str(ROOT / "scripts/real/python-image.sh"), "3.8"], capture_output=True, text=True)
    if made.returncode != 0:
        print(f"bench-real: the python stand-in image: {made.stderr.strip()[-400:]}", file=sys.stderr)
        return 1
    found: list[Round] = []
    try:
        for strategy in STRATEGIES:
            with tempfile.TemporaryDirectory(prefix="fb-bench-real-") as tmp:
                work = Path(tmp)
                fate_dir = work / "FATE"
                fate_dir.mkdir()
                extract(TAG, fate_dir)
                _write_env(work, fate_dir)
                found += rounds(strategy, work, fate_dir)
    except BenchError as exc:
        print(f"bench-real: {exc}", file=sys.stderr)
        return 1
    finally:
        remove_under(PREFIX)  # 15 GB of images; under disk pressure BuildKit's GC evicts cache first
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "real-latest.json").write_text(json.dumps([asdict(r) for r in found], indent=2) + "\n")
    text = table(found)
    print(text)
    if args.publish:
        publish(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
