"""The FATE 2.x Dockerfiles (docker/v2/): what they read from FATE against the four real
2.x trees, the network convention (docs: /work/notes/NETWORK-CONVENTION.md, summarised in
docker/README.md), and install-requirements' adaptations. Nothing here builds an image;
tests/test_dockerfile_stages_v2.py does, offline, on a real engine.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from generator import catalog
from generator.dockerfiles import load
from testsupport import fate_paths
from testsupport.constants import DOCKER
from testsupport.fate_paths import TAGS_2X
from testsupport.fate_reads import ancestor_families, fate_reads

from .conftest import ROOT

V2 = catalog.for_line("2.x")
CONTEXTS = {s.name: s.path for s in V2.sources if s.path is not None}
FAMILIES = [f.name for f in V2.families]
NETWORK_PRELUDE = "set -eu; [ ! -f /run/secrets/network ] || . /run/secrets/network;"
# A RUN step that does one of these reaches the network.
_NETWORK_WORDS = re.compile(
    r"\b(apt-get update|apt-get install|pip install|install-requirements|mvn|maven\.sh|curl|wget)\b")


def dockerfile(family: str) -> Path:
    return DOCKER / family / "Dockerfile"


def v2_ancestor_families(family: str) -> list[str]:
    return ancestor_families(family, V2)


def reads_of(family: str) -> list:
    inherited = []
    for ancestor in reversed(v2_ancestor_families(family)):
        inherited += fate_reads(load(dockerfile(ancestor)), contexts=CONTEXTS)[1]
    return fate_reads(load(dockerfile(family)), tuple(inherited), contexts=CONTEXTS)[0]


@pytest.mark.parametrize("tag", TAGS_2X)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_path_a_2x_dockerfile_reads_exists_in_each_2x_release(family, tag):
    missing = [str(r) for r in reads_of(family) if not fate_paths.matching(r.path, tag)]
    assert missing == []


def test_the_2x_read_check_sees_copies_mounts_and_paths_run_steps_name():
    reads = {f: {r.path for r in reads_of(f)} for f in FAMILIES}
    assert {"python", "fate_flow", "fate_client", "eggroll/python", "examples"} <= reads["v2/fateflow"]
    assert "fate_client/python" in reads["v2/fateflow"]  # pip install of the copied fate_client
    assert {"eggroll/BUILD_INFO", "eggroll/proto", "eggroll/jvm", "eggroll/conf"} <= reads["v2/eggroll"]
    assert {"java/osx/bin/service.sh", "java/osx/osx-broker/src/main/resources/broker/*"} <= reads["v2/osx"]
    assert "fate_test/python" in reads["v2/fate-test"]
    # and it would catch a path 2.0.0 lacks: osx's protobuf modules came with 2.1.0.
    assert not fate_paths.exists("java/osx/osx-pb-v3", "v2.0.0") and fate_paths.exists("java/osx/osx-pb-v3", "v2.2.0")


def test_every_2x_family_reads_exactly_the_sources_the_catalog_gives_it():
    for family in V2.families:
        used = set()
        for stage in load(dockerfile(family.name)).stages:
            used |= {r.lower() for r in stage.references() if r.lower() in V2.source_by_name}
        assert used == set(family.sources), family.name


def _runs(family: str):
    for stage in load(dockerfile(family)).stages:
        for cmd in stage.instructions:
            if cmd.op == "RUN":
                yield stage, cmd


@pytest.mark.parametrize("family", FAMILIES)
def test_no_host_in_a_run_step_and_no_index_in_pip_calls(family):
    for _, cmd in _runs(family):
        script = " ".join(cmd.value)
        assert not re.search(r"://[A-Za-z0-9]", script), f"{family}: a host in {cmd.line[:100]}"
        assert not re.search(r"\bpip install\b.*\s(-i|--index-url|--extra-index-url|--trusted-host)\b", script)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_run_that_reaches_the_network_mounts_both_secrets_and_sources_the_env_file_first(family):
    checked = 0
    for _, cmd in _runs(family):
        script = " ".join(cmd.value)
        if not _NETWORK_WORDS.search(script):
            continue
        secrets = {(m.get("id"), m.get("target")) for m in cmd.mounts() if m.get("type") == "secret"}
        assert {("network", "/run/secrets/network"), ("ca", "/run/secrets/ca.crt")} <= secrets, cmd.line[:80]
        assert script.strip().startswith(NETWORK_PRELUDE), cmd.line[:120]
        checked += 1
    # A family whose header says it needs no network has no step that reaches it; the others have one.
    if "Needs no network." in dockerfile(family).read_text():
        assert not checked, f"{family}: says it needs no network, but a RUN reaches it"
    else:
        assert checked, f"{family}: no network step found"


@pytest.mark.parametrize("family", FAMILIES)
def test_external_images_take_the_registry_prefix_and_maven_runs_on_the_build_platform(family):
    df = load(dockerfile(family))
    assert df.global_args.get("IMAGE_MIRROR") in (None, "docker.io")
    for stage in df.stages:
        if stage.base == "scratch" or stage.base.lower() in df.stage_names or stage.base.startswith("${PREFIX}/"):
            continue
        m = re.fullmatch(r"\$\{IMAGE_MIRROR\}/library/\$\{([A-Z_]+_IMAGE)\}", stage.base)
        assert m, f"{family}: FROM {stage.base}"
        assert df.global_args.get(m.group(1)), f"{family}: no default for {m.group(1)}"
        if m.group(1) == "MAVEN_IMAGE":
            assert stage.platform == "$BUILDPLATFORM", f"{family}: Maven stage {stage.name} under emulation"


@pytest.mark.parametrize("family", FAMILIES)
def test_the_header_lists_the_stages_that_need_the_network(family):
    header = dockerfile(family).read_text()
    assert ("Stages that need the network:" in header) != ("Needs no network." in header), family


def test_package_installs_keep_their_caches_as_mounts():
    for family in FAMILIES:
        for _, cmd in _runs(family):
            script = " ".join(cmd.value)
            caches = {m.get("target") for m in cmd.mounts() if m.get("type") == "cache"}
            if "apt-get install" in script:
                assert {"/var/cache/apt", "/var/lib/apt/lists"} <= caches, family
            if re.search(r"\b(pip install|install-requirements)\b", script):
                assert "/root/.cache/pip" in caches, family
            if "mvn " in script or "maven.sh" in script:
                assert "/root/.m2" in caches, family


# ---------------------------------------------------------------------------------------
# install-requirements (docker/v2/base): the adaptation, run here with ADAPT_ONLY.

SCRIPT = DOCKER / "v2" / "base" / "install-requirements.sh"
FATE_FILES = ROOT / "tests" / "data" / "fate-files"


def _adapt(tmp_path: Path, tag: str, arch: str, **env: str) -> str:
    out = tmp_path / f"out-{arch}"
    src = FATE_FILES / tag / "python" / "requirements-fate.txt"
    subprocess.run(["sh", str(SCRIPT), str(src)], check=True, env={"PATH": "/usr/bin:/bin", "TARGETARCH": arch,
                                                                     "ADAPT_ONLY": str(out), **env})
    return (out / "install-list-1.txt").read_text()


@pytest.mark.parametrize("tag", TAGS_2X)
def test_install_requirements_keeps_fates_lists_on_amd64(tmp_path, tag):
    src = (FATE_FILES / tag / "python" / "requirements-fate.txt").read_text()
    assert _adapt(tmp_path, tag, "amd64") == src


def test_install_requirements_drops_cpu_local_versions_on_arm64(tmp_path):
    text = _adapt(tmp_path, "v2.2.0", "arm64")
    assert "torch==2.3.1\n" in text and "+cpu" not in text
    assert _adapt(tmp_path, "v2.0.0", "arm64").count("torch==1.13.1\n") == 1


def test_install_requirements_drops_the_files_own_index_when_a_mirror_is_set(tmp_path):
    """pip then reads PIP_EXTRA_INDEX_URL from the environment (the convention's rule E)."""
    text = _adapt(tmp_path, "v2.2.0", "amd64", PIP_EXTRA_INDEX_URL="https://mirror.example/pytorch-cpu")
    src = (FATE_FILES / "v2.2.0" / "python" / "requirements-fate.txt").read_text()
    assert "--extra-index-url" not in text and "download.pytorch.org" not in text
    assert text.splitlines() == [line for line in src.splitlines() if not line.startswith("--extra-index-url")]


# ---------------------------------------------------------------------------------------
# The -all images read FATE-LLM (a git context at the release's FATE_LLM_VERSION), not FATE_DIR.

FATE_LLM_DATA = ROOT / "tests" / "data" / "fate-llm"


def _fate_llm_paths(tag: str) -> set[str]:
    return set((FATE_LLM_DATA / f"fate-llm-{tag}-paths.txt").read_text().splitlines())


def test_every_path_the_fate_llm_dockerfile_reads_exists_in_each_fate_llm_tag_the_catalog_pins():
    reads = fate_reads(load(dockerfile("v2/fate-llm")), contexts={"fate-llm-src": ""})[0]
    # the COPY of python/, and the two paths its RUN step names under where that COPY put it
    assert {r.path for r in reads} == {"python", "python/fate_llm/__init__.py", "python/requirements.txt"}
    tags = {f.get("FATE_LLM_VERSION") for f in V2.releases} - {""}
    assert tags == {"v2.0.0", "v2.1.0", "v2.2.0"}
    for tag in sorted(tags):
        missing = [str(r) for r in reads if r.path not in _fate_llm_paths(tag)]
        assert missing == [], tag


def test_the_gpu_and_fate_llm_dockerfiles_read_nothing_from_fate_dir():
    assert reads_of("v2/gpu") == [] and reads_of("v2/fate-llm") == []


def _pip_calls(tmp_path: Path, *args: str) -> list[str]:
    """install-requirements run for real with a pip that logs its arguments."""
    fake = tmp_path / "bin" / "pip"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$*" >> "$PIP_LOG"\n')
    fake.chmod(0o755)
    log = tmp_path / "pip.log"
    lists = [FATE_FILES / "v2.2.0" / p for p in V2.family_by_name["v2/eggroll"].requirements]
    subprocess.run(["sh", str(SCRIPT), *args, *map(str, lists)], check=True,
                   env={"PATH": f"{fake.parent}:/usr/bin:/bin", "TARGETARCH": "amd64", "PIP_LOG": str(log)})
    return [re.sub(r"/tmp/tmp\.\w+/", "", line) for line in log.read_text().splitlines()]


def test_install_requirements_resolves_the_lists_in_one_pip_run_by_default(tmp_path):
    assert _pip_calls(tmp_path) == ["install -r install-list-1.txt -r install-list-2.txt -r install-list-3.txt"]


def test_install_requirements_each_runs_pip_once_per_list_in_order(tmp_path):
    assert _pip_calls(tmp_path, "--each") == [f"install -r install-list-{i}.txt" for i in (1, 2, 3)]


def test_eggroll_installs_its_lists_one_after_another():
    """FATE 2.2.0's eggroll/requirements.txt and python/requirements-fate.txt pin different lmdb and
    grpcio: one pip run is ResolutionImpossible (tests/pypi proves it against PyPI)."""
    text = dockerfile("v2/eggroll").read_text()
    assert re.search(r"install-requirements --each \$\{REQUIREMENTS\}", text)
    eggroll, fate = (FATE_FILES / "v2.2.0" / p for p in ("eggroll/requirements.txt", "python/requirements-fate.txt"))
    assert "lmdb==1.3.0" in eggroll.read_text().split() and "lmdb==1.4.1" in fate.read_text().split()


def _apt_packages(family: str) -> set[str]:
    """The packages the apt-get install steps of `family` and its ancestors install."""
    packages: set[str] = set()
    for name in (*v2_ancestor_families(family), family):
        for _, cmd in _runs(name):
            for args in re.findall(r"(?:apt-get|\$\{apt\}) install ([^;]*)", " ".join(cmd.value)):
                packages |= {word for word in args.split() if not word.startswith("-")}
    return packages


@pytest.mark.parametrize("tag", TAGS_2X)
def test_eggroll_has_strace_which_its_egg_pair_bootstrap_runs(tag):
    """eggroll/bin/roll_pair/egg_pair_bootstrap.sh runs `strace -p` on each egg pair it starts;
    FATE-Builder's 2.x eggroll image installs it (`yum install -y which strace java-1.8.0-openjdk`)."""
    assert fate_paths.exists("eggroll/bin/roll_pair/egg_pair_bootstrap.sh", tag)
    packages = _apt_packages("v2/eggroll")
    assert {"strace", "tini", "curl"} <= packages
