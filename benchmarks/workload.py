"""The benchmark's workload: which images, how much work each, and what the graph implies.

Everything here is derived from `generator.catalog` and fate-builder's own plan, so the
benchmark follows the catalog when it changes: the selections are what fate-builder
would build, the critical path follows the catalog's parents, and the set of images an
edit under `$FATE_DIR/fateflow` must rebuild is every image whose own family, or an
ancestor's, copies the `fateflow-src` context.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from generator import catalog
from generator.config import load_config
from generator.plan import build_plan

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")

# Minutes a real FATE 1.11 build of each family's Dockerfile takes on a 2-core machine with
# a good connection (estimates from what the Dockerfiles do; most of it is waiting on
# downloads, so the stand-ins sleep). The benchmark runs `minutes * scale` seconds of
# WORK_SECONDS per image. Per family, because the work is in the family's Dockerfile.
FAMILY_MINUTES: dict[str, float] = {
    # yum toolchain, Python 3.8 compiled from source, pip install of FATE's requirements
    "base/basic": 20,
    # devtoolset, nasm, OpenSSL and IPCL compiled from source
    "base/ipcl": 10,
    # unpack FATE's python code and FATE Flow, pip install of flow's few requirements
    "fateflow": 2,
    # npm build of the web UI and mvn package (FATE-Builder's package step), JRE image
    "fateboard": 6,
    # mvn auto-packaging of EggRoll, JDK, pip install of EggRoll's requirements
    "eggroll": 7,
    # JDK, Hadoop and Spark downloads (~600 MB)
    "fateflow-spark": 4,
    "spark-base": 4,
    # start scripts only
    "spark-master": 0.5,
    "spark-worker": 0.5,
    # apt-get build tools, OpenResty compiled from source
    "nginx": 5,
    # torch (CPU) and the NN requirements, ~1 GB of wheels
    "nn": 5,
    # CUDA torch, ~2.5 GB of wheels
    "gpu": 10,
    # CUDA toolkit from yum (~3 GB), deepspeed compiled with DS_BUILD_OPS=1
    "fate-llm": 15,
    # jupyter and fate_client
    "client": 3,
    "fate-test": 1,
    "fate-upgrade-manager": 1,
}

# The tag of every image the benchmark builds (under a prefix of its own per session and strategy).
TAG = "bench"


def references(prefix: str, names: Iterable[str]) -> dict[str, str]:
    """Image name -> the reference the benchmark's builds give it under `prefix`."""
    return {name: f"{prefix}/{name}:{TAG}" for name in names}


# Seconds of WORK_SECONDS per real-FATE minute. 0.5 keeps `make bench` near 20 minutes on
# the 2-core machine; the base image then works 10 s.
DEFAULT_SCALE = 0.5

# Flag settings of the two selections: fate-builder's defaults (16 images) and every
# family that exists for amd64 (34 images).
SELECTION_FLAGS: dict[str, dict[str, str]] = {
    "default": {},
    "all": {"Build_GPU": "1", "Build_LLM": "1", "Build_IPCL": "1", "Build_FUM": "1"},
}

INCREMENTAL_SOURCE = "fateflow-src"


def _check_minutes() -> None:
    missing = sorted(set(V1.family_by_name) - set(FAMILY_MINUTES))
    if missing:
        raise ValueError(f"benchmarks/workload.py: no FAMILY_MINUTES for {', '.join(missing)}")


def work_seconds(names: Iterable[str], scale: float) -> dict[str, float]:
    """WORK_SECONDS of each image: its family's minutes times `scale`, rounded to 0.01 s."""
    _check_minutes()
    return {name: round(FAMILY_MINUTES[V1.by_name[name].family] * scale, 2) for name in names}


def selection(name: str, fate_dir: str) -> tuple[str, ...]:
    """The images fate-builder builds for the selection (selected and their parents), parents first."""
    overrides = {"FATE_DIR": fate_dir, **SELECTION_FLAGS[name]}
    plan = build_plan(load_config(env_file=None, environ={}, overrides=overrides))
    return tuple(p.name for p in plan.images)


def ancestors_and_self(name: str) -> tuple[str, ...]:
    image = V1.by_name[name]
    return (name, *(a.name for a in V1.ancestors(image)))


def derived_from_source(names: Iterable[str], source: str = INCREMENTAL_SOURCE) -> tuple[str, ...]:
    """Images whose contents include `source`: their family, or an ancestor's, copies it."""
    def copies(image_name: str) -> bool:
        return source in V1.family_by_name[V1.by_name[image_name].family].sources

    return tuple(n for n in names if any(copies(a) for a in ancestors_and_self(n)))


@dataclass(frozen=True)
class Chain:
    seconds: float
    images: tuple[str, ...]  # root first


def critical_path(names: Iterable[str], seconds: Mapping[str, float]) -> Chain:
    """The longest parent chain among `names`, by the sum of `seconds` along it.

    With unlimited cores every image waits only for its ancestors, so this is the floor
    of a parallel build of the selection.
    """
    names = tuple(names)
    chosen = set(names)
    best = Chain(0.0, ())
    for name in names:
        chain = tuple(reversed([n for n in ancestors_and_self(name) if n in chosen]))
        total = sum(seconds.get(n, 0.0) for n in chain)
        if total > best.seconds:
            best = Chain(round(total, 3), chain)
    return best


def rebuild_path(names: Iterable[str], rebuilt: Iterable[str], seconds: Mapping[str, float]) -> Chain:
    """The longest chain of rebuilt images: the floor of an incremental rebuild of them."""
    rebuilt = set(rebuilt)
    return critical_path([n for n in names if n in rebuilt], seconds)


def build_order_is_valid(order: Iterable[str]) -> list[str]:
    """Problems with a sequential order: an image before its parent, or listed twice."""
    seen: set[str] = set()
    problems = []
    for name in order:
        if name in seen:
            problems.append(f"{name} twice")
        parent = V1.by_name[name].parent
        if parent is not None and parent not in seen:
            problems.append(f"{name} before its parent {parent}")
        seen.add(name)
    return problems


SLEEP = 'sleep "$WORK_SECONDS"'


def cpu_burn(rate: int) -> str:
    """Shell that burns WORK_SECONDS of one core: md5sum of that many seconds' worth of zeros."""
    return ('n=$(awk -v s="$WORK_SECONDS" -v r=' + str(int(rate)) + ' \'BEGIN{printf "%d", s*r}\'); '
            'dd if=/dev/zero bs=1048576 count="$n" 2>/dev/null | md5sum >/dev/null')


def cpu_variant(tree: Path, rate: int | None) -> Path:
    """The stand-in tree with its work steps made CPU-bound (no-op without a rate)."""
    if rate is None:
        return tree
    for dockerfile in sorted(Path(tree).rglob("Dockerfile")):
        text = dockerfile.read_text(encoding="utf-8")
        if SLEEP not in text:
            raise ValueError(f"{dockerfile}: no {SLEEP!r} to turn into CPU work")
        dockerfile.write_text(text.replace(SLEEP, cpu_burn(rate)), encoding="utf-8")
    return tree


def calibrate_cpu(busybox: Path, seconds: float = 1.0) -> int:
    """MiB/s that busybox md5sum hashes on one core of this machine (CPU time, not wall time)."""
    import resource
    import subprocess

    best = 0.0
    count = 64
    for _ in range(4):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(f"{busybox} dd if=/dev/zero bs=1048576 count={count} 2>/dev/null | {busybox} md5sum",
                       shell=True, check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rate = count / max(cpu, 1e-3)
        best = max(best, rate)
        count = max(64, int(rate * seconds))
    return int(best)


# The file the incremental scenario edits: under the `fateflow-src` context's folder.
INCREMENTAL_FILE = "fateflow/python/fate_flow/__init__.py"


@dataclass(frozen=True)
class Workspace:
    """One strategy's inputs for one run: a FATE checkout, the git-source stand-ins, a Dockerfile tree.

    The tree's nonce is written into the root images, so a fresh workspace shares no build
    cache with any earlier one (tests/fixtures/standin.py).
    """

    root: Path
    fate_dir: Path
    ipcl_dir: Path
    llm_dir: Path
    docker_dir: Path
    nonce: str

    @classmethod
    def create(cls, root: Path, nonce: str, cpu_rate: int | None = None) -> Workspace:
        """Write the workspace; with `cpu_rate` (MiB/s that md5sum hashes on one core) the work
        steps burn WORK_SECONDS of CPU instead of sleeping."""
        from testsupport import (
            write_fate_checkout,
            write_fate_llm_checkout,
            write_ipcl_checkout,
            write_standin_tree,
        )

        root = Path(root)
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        return cls(
            root=root,
            fate_dir=write_fate_checkout(root / "FATE"),
            ipcl_dir=write_ipcl_checkout(root / "ipcl"),
            llm_dir=write_fate_llm_checkout(root / "fate-llm"),
            docker_dir=cpu_variant(write_standin_tree(root / "docker", nonce=nonce), cpu_rate),
            nonce=nonce,
        )

    def source_dir(self, name: str) -> Path:
        """Where the named context's files are for this workspace (git sources: the local stand-ins)."""
        source = V1.source_by_name[name]
        if source.name == "ipcl-src":
            return self.ipcl_dir
        if source.name == "fate-llm-src":
            return self.llm_dir
        if source.path is None:
            raise ValueError(f"source {name}: no local folder")
        return self.fate_dir / source.path

    def family_dir(self, family: str) -> Path:
        return self.docker_dir / V1.family_by_name[family].dockerfile_dir

    def incremental_file(self) -> Path:
        path = self.fate_dir / INCREMENTAL_FILE
        if not path.resolve().is_relative_to(self.source_dir(INCREMENTAL_SOURCE).resolve()):
            raise ValueError(f"{INCREMENTAL_FILE} is not under the {INCREMENTAL_SOURCE} context")
        return path

    def edit_fateflow(self, note: str) -> Path:
        """Change one file's content under $FATE_DIR/fateflow (a comment line at the end)."""
        path = self.incremental_file()
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"# {note}\n")
        return path

    def touch_fateflow(self) -> Path:
        """Only the modification time of the same file (what `touch` does)."""
        path = self.incremental_file()
        os.utime(path, None)
        return path
