"""FATE 2.x's -gpu and -all-gpu images built for real on this machine's engine, without any network.

As tests/test_dockerfile_stages_v2.py and _v2_spark.py do: external images are the busybox
stand-in, `pip` is the stand-in that logs what it is asked to install, the JRE and Spark
downloads are folders of their layout. The FATE-LLM git context is a folder made of FATE-LLM's
real paths (tests/data/fate-llm: each stand-in's path is checked against the tag's list) with its
real requirements.txt. Everything the Dockerfiles do without the network runs for real: the
bake graph (fateflow -> fateflow-gpu -> fateflow-all-gpu, and the same on eggroll, fateflow-spark
and spark-worker), the COPY of FATE-LLM, the PYTHONPATH and env the children add on top of their
parents', the exact torch pin handed to pip, FATE-LLM's own list handed to pip,
and the Dockerfile's own refusal of arm64. amd64 only: the catalog offers these for amd64 only.

Marked `engine`: skipped when `docker info` fails, a failure when CI=true.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from generator import catalog
from generator.config import load_config
from generator.dockerfiles import context_key
from generator.plan import build_plan, image_ref
from generator.render import render
from testsupport import bake_allow_flags
from testsupport.constants import DOCKER, ROOT
from testsupport.fate2_checkout import write_fate2_checkout

from .test_dockerfile_stages import write
from .test_dockerfile_stages_v2 import MAVEN, bake_v2, engine, stand_in, tools  # noqa: F401 (fixtures)
from .test_dockerfile_stages_v2_spark import _hadoop_dist, _spark_dist
from .test_release_lines import V2_ALL, V2_GPU

pytestmark = pytest.mark.engine

V2 = catalog.for_line("2.x")
FATE_LLM_DATA = ROOT / "tests" / "data" / "fate-llm"
LLM_HOME = "/data/projects/fate/fate_llm/python"
MARKER = "fate-builder mini FATE-LLM checkout"


def write_fate_llm_checkout(dest: Path, tag: str) -> Path:
    """FATE-LLM at `tag` as far as the -all Dockerfile reads it: the real list, the package at its real path."""
    paths = set((FATE_LLM_DATA / f"fate-llm-{tag}-paths.txt").read_text().splitlines())
    files = {"python/requirements.txt": (FATE_LLM_DATA / "files" / tag / "python" / "requirements.txt").read_text(),
             "python/fate_llm/__init__.py": f'"""{MARKER} {tag}"""\n',
             "python/fate_llm/model_zoo/__init__.py": f'"""{MARKER} {tag}"""\n'}
    for rel, text in files.items():
        assert rel in paths, f"{rel} is not in FATE-LLM {tag}"
        write(dest / rel, text)
    return dest


def _bake(root: Path, fate_tag: str, stand_in: str, tools: dict, names: tuple[str, ...], spark: bool):  # noqa: F811
    fate = write_fate2_checkout(root / f"FATE-{fate_tag}", fate_tag)
    (root / ".env").write_text("TAG=${version}-release\n")
    config = load_config(env_file=root / ".env", environ={}, overrides={
        "FATE_DIR": str(fate), "Platform": "amd64", "DOCKER_DIR": str(DOCKER), "Build_Spark": str(int(spark)),
        "Build_NN": "0", "Build_OP": "0", "Build_GPU": "1", "Build_LLM": "1"})
    bake_file = root / "docker-bake.hcl"
    bake_file.write_text(render(build_plan(config), bake_file))
    llm = write_fate_llm_checkout(root / "FATE-LLM", config_facts(fate_tag).get("FATE_LLM_VERSION"))
    jre = root / "jre-dist"
    write(jre / "opt" / "java" / "openjdk" / "bin" / "java", "#!/bin/sh\n", 0o755)
    write(jre / "opt" / "java" / "openjdk" / "lib" / "amd64" / "server" / "libjvm.so", "libjvm\n", 0o755)
    out = root / "out"
    out.mkdir()
    overrides: dict[str, dict] = {"base-image": {"contexts": {"venv": tools["venv"]}}, "fateflow": {},
                                  "eggroll": {"contexts": {MAVEN: tools["maven"], "jre": str(jre)}}}
    if spark:
        overrides["fateflow-spark"] = {"contexts": {"jre": str(jre), "spark-dist": str(_spark_dist(root / "spark")),
                                                    "hadoop-dist": str(_hadoop_dist(root / "hadoop"))}}
        overrides.update({"spark-base": {}, "spark-worker": {}})
    for name in names:
        overrides[name] = {"contexts": {"fate-llm-src": str(llm)}} if name in V2_ALL else {}
    return bake_v2(bake_file, out, overrides, stand_in)


def config_facts(fate_tag: str) -> catalog.Facts:
    facts = V2.facts_for(fate_tag.removeprefix("v"))
    assert facts is not None
    return facts


@pytest.fixture(scope="module")
def gpu22(engine, stand_in, tools, tmp_path_factory):  # noqa: F811
    """FATE v2.2.0: every -gpu and -all-gpu image on its parents, amd64, in one bake."""
    return _bake(tmp_path_factory.mktemp("v2-gpu"), "v2.2.0", stand_in, tools, (*V2_GPU, *V2_ALL), spark=True)


def _last_pip_call(image) -> str:
    return image.text("/var/log/fake-pip.log").rsplit("pip install", 1)[1]


def test_every_gpu_and_all_image_builds_offline_for_amd64(gpu22):
    for name in (*V2_GPU, *V2_ALL):
        assert sorted(gpu22[name]) == ["amd64"], name


def test_gpu_images_replace_torch_with_pypis_build_of_the_releases_version(gpu22):
    version = config_facts("v2.2.0").get("GPU_TORCH")
    for name, parent in V2_GPU.items():
        image, before = gpu22[name]["amd64"], gpu22.get(parent, {}).get("amd64")
        # `===`: the installed 2.3.1+cpu does not satisfy it, and no +cpu wheel can.
        assert _last_pip_call(image) == f" torch==={version}\n", name
        if before is not None:
            assert image.config["config"].get("Cmd") == before.config["config"].get("Cmd"), name
            assert image.env == before.env, name


def test_all_images_put_fate_llm_on_the_pythonpath_and_install_its_own_list(gpu22):
    tag = config_facts("v2.2.0").get("FATE_LLM_VERSION")
    llm_list = (FATE_LLM_DATA / "files" / tag / "python" / "requirements.txt").read_text()
    for name, parent in V2_ALL.items():
        image, below = gpu22[name]["amd64"], gpu22[parent]["amd64"]
        assert image.text(f"{LLM_HOME}/fate_llm/__init__.py") == f'"""{MARKER} {tag}"""\n'
        assert image.has(f"{LLM_HOME}/requirements.txt")
        call = _last_pip_call(image)
        assert call.startswith(f" -r {LLM_HOME}/requirements.txt\n--- {LLM_HOME}/requirements.txt\n{llm_list}"), name
        assert image.env["PYTHONPATH"] == f"{below.env['PYTHONPATH']}:{LLM_HOME}", name
        assert image.env["FATE_LLM_VERSION"] == tag
        assert image.config["config"].get("Cmd") == below.config["config"].get("Cmd"), name
        assert image.config["config"].get("Entrypoint") == below.config["config"].get("Entrypoint"), name
    assert gpu22["eggroll-all-gpu"]["amd64"].config["config"]["Entrypoint"] == ["/tini", "--"]


def test_fate_21_takes_fate_llm_v2_0_0_which_has_no_setup_py(engine, stand_in, tools, tmp_path):  # noqa: F811
    assert config_facts("v2.1.0").get("FATE_LLM_VERSION") == "v2.0.0"
    images = _bake(tmp_path, "v2.1.0", stand_in, tools, ("fateflow-gpu", "fateflow-all-gpu"), spark=False)
    image = images["fateflow-all-gpu"]["amd64"]
    assert image.text(f"{LLM_HOME}/fate_llm/__init__.py") == f'"""{MARKER} v2.0.0"""\n'
    assert (FATE_LLM_DATA / "files" / "v2.0.0" / "python" / "requirements.txt").read_text() in _last_pip_call(image)
    assert _last_pip_call(images["fateflow-gpu"]["amd64"]) == " torch===1.13.1\n"


def test_the_gpu_dockerfile_itself_refuses_arm64_with_the_reason(engine, stand_in, tmp_path):  # noqa: F811
    """Beyond the catalog's refusal: a plain bake asked for arm64 stops at the torch step, saying why."""
    parent = stand_in.removeprefix("docker-image://")
    bake = {"target": {"gpu": {"context": str(DOCKER / "v2" / "gpu"), "platforms": ["linux/arm64"],
                               "args": {"GPU_TORCH": "2.3.1"},
                               "contexts": {context_key(image_ref("federatedai", "fateflow", "latest")): f"docker-image://{parent}"},
                               "output": ["type=cacheonly"]}}}
    path = tmp_path / "bake.json"
    path.write_text(json.dumps(bake))
    result = subprocess.run(["docker", "buildx", "bake", "--progress=plain", "-f", str(path),
                             *bake_allow_flags(tmp_path, read=[DOCKER]), "gpu"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0
    assert "-gpu images are amd64 only: PyPI's arm64 torch 2.3.1 wheels are CPU builds" in result.stderr
