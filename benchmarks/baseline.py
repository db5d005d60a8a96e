"""FATE-Builder's strategy, reproduced on the stand-in tree: package, then one `docker build` per image.

FederatedAI FATE-Builder's `docker-build/build.sh all` does two things:

1. package: `build_docker.sh` copies FATE's source folders into `FATE_install_<version>_release/`
   (`cp -r`), turns each into `<module>.tar.gz` (`tar czf`), tars the whole folder too, and
   build.sh copies the result into its cache folder (PACKAGE_DIR_CACHE);
2. one `docker build` per image, in the order of its functions (`buildBase`,
   `buildEggrollBasicCPU`, `buildSparkBasicCPU`, ...), each tagged `${PREFIX}/<image>:${TAG}`
   in the engine before the images `FROM` it are built. Most builds take the cache folder
   as their context and COPY the tarballs they need; the Spark images, client and fate-test
   take their module folder.

Here both steps run for real on the benchmark's workspace. The baseline Dockerfile of a
family is derived from its stand-in (the one fate-builder bakes) by `baseline_dockerfile`:

* the family's build context is the package cache when build.sh gives it that context
  (every family but MODULE_CONTEXT_FAMILIES), its own folder otherwise;
* right after `FROM`, `ADD` of the package artifacts holding what the stand-in copies
  from FATE (`package_inputs`): the module tarball for a folder, the plain file for
  `fate.env`, `RELEASE.md` and `python/requirements*.txt`, which the package step copies
  as they are;
* a root family's own files (busybox, nonce) come from its folder through a named
  context, since its build context is the package cache;
* the stand-in's named contexts are passed as `--build-context`, so its `COPY --from`
  lines and checks work unchanged.

Every package step writes new tarballs (cp gives the copies new mtimes, which tar
records), so every build that ADDs one misses the cache from that step on, and so does
every image built FROM one that changed: the behaviour of FATE-Builder that the benchmark
compares with.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from python_on_whales.exceptions import DockerException

from generator import catalog

from .engine import BenchError, docker, stream_timed
from .workload import TAG, Workspace, build_order_is_valid, references

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")

# build.sh's order: buildBase, then buildModule's functions in turn. Names are the
# catalog's; an image of the catalog missing here fails loudly (`order_for`).
BUILD_ORDER: tuple[str, ...] = (
    "base-image",  # buildBase
    "fateflow", "fateboard", "eggroll",  # buildEggrollBasicCPU
    "fateflow-spark", "spark-base", "spark-master", "spark-worker", "nginx",  # buildSparkBasicCPU
    "fateflow-nn", "eggroll-nn",  # buildEggrollNNCPU
    "fateflow-spark-nn", "spark-worker-nn", "spark-base-nn",  # buildSparkNNCPU
    "fateflow-nn-gpu", "eggroll-nn-gpu",  # buildEggrollNNGPU
    "fateflow-spark-nn-gpu", "spark-worker-nn-gpu", "spark-base-nn-gpu",  # buildSparkNNGPU
    "fateflow-all-gpu", "eggroll-all-gpu",  # buildEggrollAllGPU
    "fateflow-spark-all-gpu", "spark-worker-all-gpu", "spark-base-all-gpu",  # buildSparkAllGPU
    "base-image-ipcl", "fateflow-ipcl", "eggroll-ipcl",  # buildEggrollBasicIPCL
    "fateflow-spark-ipcl", "spark-base-ipcl", "spark-worker-ipcl",  # buildSparkBasicIPCL
    "client", "fate-test",  # buildOptionalModule
    "fate-test-ipcl",  # buildOptionalIPCLModule
    "fate-upgrade-manager",  # buildFateUpgradeManager
)

# Families whose build.sh context is `${WORKING_DIR}/modules/<name>/`, not the package cache.
MODULE_CONTEXT_FAMILIES = frozenset({"fateflow-spark", "spark-base", "spark-master", "spark-worker", "client",
                                     "fate-test"})

# build_docker.sh's modules: (module, folder in FATE_DIR or a git source, folder in the module).
# `proxy` takes c/proxy's conf and lua into proxy/nginx/, `fate` takes python/ into fate/python.
# ipcl_pkg and fate_llm are packaged when their families are built (newer FATE-Builders).
SOURCE_MODULE: dict[str, str | None] = {
    "fate": None,  # fate.env and RELEASE.md: plain files of the package
    "fate-python": "fate",
    "fateflow-src": "fateflow",
    "eggroll-src": "eggroll",
    "fateboard-src": "fateboard",
    "examples": "examples",
    "fate-conf": "conf",
    "fate-doc": "doc",
    "proxy": "proxy",
    "deploy": "deploy",
    "ipcl-src": "ipcl_pkg",
    "fate-llm-src": "fate_llm",
}
GENERAL_MODULES = ("bin", "build")  # packaged too, used by no image: copied and tarred all the same
PACKAGE_TARGET = "/data/projects/fate-package"
FAMILY_CONTEXT = "family-dir"


def _plain_file(source: str, path: str) -> str | None:
    """The package's plain copy of a file the stand-in takes from `source`, if it has one."""
    if source == "fate" and path in ("fate.env", "RELEASE.md"):
        return path
    if source == "fate-python" and re.fullmatch(r"requirements[\w.-]*\.txt", path):
        return path
    return None


def package_inputs(family: catalog.Family, ws: Workspace) -> list[str]:
    """The package artifacts (in the package cache) that hold what the family takes from FATE."""
    from testsupport.standin import copies_of

    if family.name in MODULE_CONTEXT_FAMILIES:
        return []
    inputs: list[str] = []
    for source, src, _dest in copies_of(family):
        if source not in SOURCE_MODULE:
            raise BenchError(f"baseline: no package module for source {source!r} of family {family.name}")
        plain = _plain_file(source, src) if (ws.source_dir(source) / src).is_file() else None
        if plain is not None:
            artifact = plain
        elif SOURCE_MODULE[source] is None:
            raise BenchError(f"baseline: {source}/{src} of family {family.name} is in no package module")
        else:
            artifact = f"{SOURCE_MODULE[source]}.tar.gz"
        if artifact not in inputs:
            inputs.append(artifact)
    return inputs


def baseline_dockerfile(family: catalog.Family, ws: Workspace) -> tuple[str, bool]:
    """The family's Dockerfile for the baseline, and whether its context is the package cache."""
    text = (ws.family_dir(family.name) / "Dockerfile").read_text(encoding="utf-8")
    package_context = family.name not in MODULE_CONTEXT_FAMILIES
    lines = text.splitlines()
    out = []
    for line in lines:
        if package_context and line.startswith("COPY ") and "--from=" not in line:
            line = f"COPY --from={FAMILY_CONTEXT} " + line[len("COPY "):]
        out.append(line)
        if line.startswith("FROM "):
            inputs = package_inputs(family, ws)
            if inputs:
                out.append("# FATE-Builder: the package step's artifacts, new bytes on every run")
                out.append(f"ADD {' '.join(inputs)} {PACKAGE_TARGET}/")
    return "\n".join(out) + "\n", package_context


def order_for(selection: Iterable[str]) -> list[str]:
    selection = list(selection)
    unknown = [n for n in selection if n not in BUILD_ORDER]
    if unknown or set(BUILD_ORDER) != set(V1.by_name):
        missing = sorted(set(V1.by_name) - set(BUILD_ORDER))
        raise BenchError(f"baseline.BUILD_ORDER does not match the catalog: missing {missing or unknown}")
    order = [n for n in BUILD_ORDER if n in selection]
    problems = build_order_is_valid(order)
    if problems:
        raise BenchError(f"baseline.BUILD_ORDER: {'; '.join(problems)}")
    return order


# --------------------------------------------------------------------------------------
# package step
# --------------------------------------------------------------------------------------


@dataclass
class PackageResult:
    seconds: float
    cache_dir: Path


def _sh(*argv: str, cwd: Path | None = None) -> None:
    subprocess.run(list(argv), cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _copy_modules(ws: Workspace, package_dir: Path, sources: set[str]) -> list[str]:
    """build_docker.sh's packaging_* functions: FATE's folders copied into the package, the modules they make."""
    fate = ws.fate_dir
    _sh("cp", str(fate / "fate.env"), str(fate / "RELEASE.md"), *map(str, sorted((fate / "python").glob(
        "requirements*.txt"))), str(package_dir))
    proxy, python = package_dir / "proxy" / "nginx", package_dir / "fate"  # folders the copies go into
    copies: list[tuple[str, list[Path], Path]] = [("conf", [fate / "conf"], package_dir)]
    copies += [(folder, [fate / folder], package_dir) for folder in (*GENERAL_MODULES, "examples", "deploy", "doc")
               if (fate / folder).is_dir()]
    copies += [("proxy", [fate / "c" / "proxy" / "conf", fate / "c" / "proxy" / "lua"], proxy),
               ("fate", [fate / "python"], python)]
    # fateflow, fateboard, eggroll: the Maven/npm builds are in the images' work
    copies += [(folder, [fate / folder], package_dir) for folder in ("fateflow", "fateboard", "eggroll")]
    # IPCL and FATE-LLM, when their images are built
    if "ipcl-src" in sources:
        copies.append(("ipcl_pkg", [ws.ipcl_dir], package_dir / "ipcl_pkg"))
    if "fate-llm-src" in sources:
        copies.append(("fate_llm", [ws.llm_dir], package_dir / "fate_llm"))
    for folder in (proxy, python):
        folder.mkdir(parents=True)
    for _, folders, dest in copies:
        _sh("cp", "-r", *map(str, folders), str(dest))
    return [module for module, _, _ in copies]


def _compress(package_dir: Path, modules: list[str]) -> None:
    """One tarball per module and an md5 list, then the whole folder."""
    md5 = []
    for module in modules:
        _sh("tar", "czf", f"{module}.tar.gz", f"./{module}", cwd=package_dir)
        md5.append(f"{module}:{hashlib.md5((package_dir / f'{module}.tar.gz').read_bytes()).hexdigest()}\n")
        shutil.rmtree(package_dir / module)
    (package_dir / "packages_md5.txt").write_text("".join(md5), encoding="utf-8")
    _sh("tar", "czf", f"{package_dir.name}.tar.gz", package_dir.name, cwd=package_dir.parent)


def package(ws: Workspace, selection: Iterable[str]) -> PackageResult:
    """build_docker.sh's `all` (without its Maven and npm builds: their time is in the images' work)
    and build.sh's copy into the cache folder, timed."""
    start = time.perf_counter()
    families = {V1.by_name[n].family for n in selection}
    sources = {s for f in families for s in V1.family_by_name[f].sources}
    version = (ws.fate_dir / "fate.env").read_text(encoding="utf-8").split("FATE=", 1)[1].split()[0]
    work = ws.root / "fate-builder-sh"
    package_dir = work / f"FATE_install_{version}_release"
    cache_dir = work / "cache"
    shutil.rmtree(package_dir, ignore_errors=True)
    (work / f"{package_dir.name}.tar.gz").unlink(missing_ok=True)
    package_dir.mkdir(parents=True)
    _compress(package_dir, _copy_modules(ws, package_dir, sources))
    # build.sh: mkdir -p ${PACKAGE_DIR_CACHE}; cp -r FATE_install_*/* ${PACKAGE_DIR_CACHE}
    cache_dir.mkdir(exist_ok=True)
    _sh("cp", "-r", *map(str, sorted(package_dir.iterdir())), str(cache_dir))
    return PackageResult(time.perf_counter() - start, cache_dir)


# --------------------------------------------------------------------------------------
# the builds
# --------------------------------------------------------------------------------------


@dataclass
class ImageBuild:
    name: str
    seconds: float
    lines: list[tuple[float, str]] = field(repr=False)


@dataclass
class BaselineRun:
    seconds: float
    package: PackageResult
    builds: list[ImageBuild]


def write_dockerfiles(ws: Workspace) -> dict[str, tuple[Path, bool]]:
    out = {}
    root = ws.root / "baseline-dockerfiles"
    for family in V1.families:
        text, package_context = baseline_dockerfile(family, ws)
        path = family.dockerfile_path(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out[family.name] = (path, package_context)
    return out


def run(ws: Workspace, selection: Iterable[str], prefix: str, work: Mapping[str, float],
        say: Callable[[str], None] = lambda s: None) -> BaselineRun:
    """`build.sh all` for the selection: package, then each image in build.sh's order."""
    order = order_for(selection)
    start = time.perf_counter()
    pkg = package(ws, order)
    dockerfiles = write_dockerfiles(ws)
    builds = []
    for name in order:
        image = V1.by_name[name]
        family = V1.family_by_name[image.family]
        dockerfile, package_context = dockerfiles[family.name]
        build_args = {"PREFIX": prefix, "BASE_TAG": TAG, "WORK_SECONDS": f"{work[name]:g}"}
        if image.parent:
            build_args["BASE_IMAGE"] = image.parent
        contexts = {s: str(ws.source_dir(s)) for s in family.sources}
        context = pkg.cache_dir if package_context else ws.family_dir(family.name)
        if package_context:
            contexts[FAMILY_CONTEXT] = str(ws.family_dir(family.name))
        t0 = time.perf_counter()
        lines: list[tuple[float, str]] = []
        try:
            stream = docker.buildx.build(str(context), file=str(dockerfile), build_args=build_args,
                                         build_contexts=contexts, tags=[references(prefix, [name])[name]], load=True,
                                         progress="plain", stream_logs=True)
            stream_timed(stream, t0, lines)
        except DockerException as exc:
            tail = "".join(line for _, line in lines[-15:]) or (exc.stderr or "")
            raise BenchError(f"baseline: docker build of {name} failed:\n{tail}") from None
        seconds = time.perf_counter() - t0
        say(f"  baseline {name}: {seconds:.1f}s")
        builds.append(ImageBuild(name, seconds, lines))
    return BaselineRun(time.perf_counter() - start, pkg, builds)
