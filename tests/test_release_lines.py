"""Both FATE release lines from real trees: the line and version found from FATE_DIR, each
release planning its own family and tags. The trees are testsupport's mini checkouts of
v1.11.2, v2.0.0, v2.1.0, v2.1.1 and v2.2.0: real paths only, the real marker and
requirement files byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import hcl2
import pytest

from generator import catalog, doctor
from generator.config import load_config
from generator.errors import ConfigError
from generator.plan import build_plan
from generator.release import read_release
from generator.render import bake_variables, render
from testsupport import write_fate_checkout
from testsupport.fate2_checkout import write_fate2_checkout
from testsupport.fate_paths import TAGS, TAGS_2X

from .conftest import ROOT, run_cli

V2_BASIC = ["base-image", "fateflow", "eggroll", "osx", "fateboard"]
# KubeFATE v2.0.0's Spark party (docker-compose-spark.yml) and their common parent.
V2_SPARK = ["fateflow-spark", "spark-base", "spark-master", "spark-worker"]
# KubeFATE's suffix scheme (generate_config.sh, helm _helpers.tpl), algorithm Basic/ALL, device GPU:
# the images of a party that carry the suffix, and their parents.
V2_GPU = {"fateflow-gpu": "fateflow", "eggroll-gpu": "eggroll",
          "fateflow-spark-gpu": "fateflow-spark", "spark-worker-gpu": "spark-worker"}
V2_ALL = {"fateflow-all-gpu": "fateflow-gpu", "eggroll-all-gpu": "eggroll-gpu",
          "fateflow-spark-all-gpu": "fateflow-spark-gpu", "spark-worker-all-gpu": "spark-worker-gpu"}
# FATE release -> the FATE-LLM tag its -all images carry (docker/README.md: the evidence).
FATE_LLM = {"v2.0.0": None, "v2.1.0": "v2.0.0", "v2.1.1": "v2.1.0", "v2.2.0": "v2.2.0"}
# tag -> (line, version, eggroll's and fateboard's tag with TAG=${version}-release)
EXPECTED = {
    "v1.11.2": ("1.x", "1.11.2", None, None),
    # KubeFATE v2.0.0's .env: every image 2.0.0-release.
    "v2.0.0": ("2.x", "2.0.0", "2.0.0-release", "2.0.0-release"),
    "v2.1.0": ("2.x", "2.1.0", "3.1.0-release", "2.1.0-release"),
    "v2.1.1": ("2.x", "2.1.1", "3.1.0-release", "2.1.0-release"),
    # FATE's 2.2 deployment: each component's own version (eggroll/BUILD_INFO, fate_board/pom.xml).
    "v2.2.0": ("2.x", "2.2.0", "3.1.0-release", "2.1.0-release"),
}


def write_tree(dest: Path, tag: str) -> Path:
    """The mini checkout of `tag`: testsupport's 1.11 one, or the 2.x one from real files."""
    if tag == "v1.11.2":
        return write_fate_checkout(dest)
    return write_fate2_checkout(dest, tag)


@pytest.fixture(params=TAGS)
def tree(request, tmp_path) -> tuple[str, Path]:
    return request.param, write_tree(tmp_path / f"FATE-{request.param}", request.param)


def _config(fate_dir: Path, tmp_path: Path, **settings):
    env = tmp_path / ".env"
    env.write_text("TAG=${version}-release\n")
    return load_config(env_file=env, environ={}, overrides={"FATE_DIR": str(fate_dir), **settings})


def test_the_line_and_version_are_read_from_each_real_tree(tree):
    tag, fate_dir = tree
    line, version, *_ = EXPECTED[tag]
    release = read_release(str(fate_dir))
    assert (release.line, release.version) == (line, version)
    assert release.describe() == f"FATE {version} ({line})"


def test_each_release_plans_its_own_family_and_tags(tree, tmp_path):
    tag, fate_dir = tree
    line, version, eggroll_tag, fateboard_tag = EXPECTED[tag]
    plan = build_plan(_config(fate_dir, tmp_path))
    assert plan.catalog is catalog.for_line(line)
    tags = {p.name: p.tag for p in plan.images}
    if line == "1.x":
        assert "fateflow-spark" in tags and "osx" not in tags
        assert set(tags.values()) == {f"{version}-release"}
        return
    assert sorted(tags) == sorted([*V2_BASIC, "fate-test", *V2_SPARK])
    assert tags["fateflow"] == tags["osx"] == tags["base-image"] == f"{version}-release"
    # KubeFATE v2.0.0's .env: Spark_Master_IMAGE_TAG / Spark_Worker_IMAGE_TAG = 2.0.0-release.
    assert {tags[name] for name in V2_SPARK} == {f"{version}-release"}
    assert (tags["eggroll"], tags["fateboard"]) == (eggroll_tag, fateboard_tag)


def test_plan_table_names_the_release_and_the_tag_rule(tree, tmp_path):
    tag, fate_dir = tree
    line, version, *_ = EXPECTED[tag]
    (tmp_path / ".env").write_text(f"FATE_DIR={fate_dir}\nTAG=${{version}}-release\n")
    result = run_cli("plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"FATE {version} ({line}): the {line} catalog\n")
    assert "Tag rule:" in result.stdout
    if tag == "v2.2.0":
        assert "eggroll: TAG with eggroll's own version 3.1.0 for FATE's 2.2.0" in result.stdout
        assert "federatedai/eggroll:3.1.0-release" in result.stdout
    doc = json.loads(run_cli("plan", "--format", "json", cwd=tmp_path).stdout)
    assert (doc["fate"], doc["line"]) == (f"FATE {version} ({line})", line)


def test_doctor_source_check_says_which_fate_and_line(tree, tmp_path):
    tag, fate_dir = tree
    line, version, *_ = EXPECTED[tag]
    plan = build_plan(_config(fate_dir, tmp_path, Build_Spark="0", Build_NN="0", Build_OP="0"))
    check = doctor.source_checks(plan)[0]
    assert check.ok, check.detail
    assert check.detail == f"{fate_dir}: FATE {version} ({line})"


def test_render_gives_a_bake_file_of_the_trees_family_with_its_release_facts(tree, tmp_path):
    tag, fate_dir = tree
    line, version, eggroll_tag, _ = EXPECTED[tag]
    plan = build_plan(_config(fate_dir, tmp_path))
    parsed = hcl2.loads(render(plan, tmp_path / "docker-bake.hcl"))
    targets = {name.strip('"') for block in parsed["target"] for name in block} - {"_common"}
    assert targets == {i.name for i in plan.targets}
    variables = bake_variables(plan.config)
    assert variables["FATE_VERSION"] == version
    if line == "2.x":
        facts = catalog.for_line("2.x").facts_for(version)
        assert variables["PYTHON_VERSION"] == facts.get("PYTHON_VERSION")
        assert variables["OSX_VERSION"] == facts.get("OSX_VERSION")
        assert variables["EGGROLL_TAG"] == eggroll_tag
    else:
        assert "PYTHON_VERSION" not in variables and "EGGROLL_TAG" not in variables


@pytest.mark.parametrize("tag", TAGS_2X)
def test_flags_without_2x_images_warn_with_the_reason(tag, tmp_path):
    fate_dir = write_fate2_checkout(tmp_path / "FATE", tag)
    plan = build_plan(_config(fate_dir, tmp_path, Build_Spark="1", Build_NN="1", Build_GPU="1"))
    said = "\n".join(plan.warnings)
    assert "Build_NN=1 selects nothing on FATE 2.x" in said
    assert "Build_Spark" not in said and "Build_GPU" not in said


@pytest.mark.parametrize("tag", TAGS_2X)
def test_build_spark_plans_kubefates_spark_party_on_fateflow_with_the_catalogs_spark(tag, tmp_path):
    fate_dir = write_fate2_checkout(tmp_path / "FATE", tag)
    plan = build_plan(_config(fate_dir, tmp_path, Build_Spark="1", Build_OP="0"))
    parents = {p.name: p.image.parent for p in plan.images}
    assert {name: parents[name] for name in V2_SPARK} == {
        "fateflow-spark": "fateflow", "spark-base": "fateflow-spark",
        "spark-master": "spark-base", "spark-worker": "spark-base"}
    assert plan.catalog.facts_for(EXPECTED[tag][1]).get("SPARK_VERSION") == "3.5.9"
    off = build_plan(_config(fate_dir, tmp_path, Build_Spark="0", Build_OP="0"))
    assert sorted(p.name for p in off.images) == sorted(V2_BASIC)


def test_arm64_plans_the_whole_basic_2x_family(tmp_path):
    fate_dir = write_fate2_checkout(tmp_path / "FATE", "v2.2.0")
    plan = build_plan(_config(fate_dir, tmp_path, Platform="amd64,arm64", Build_OP="0"))
    # Spark is JVM jars and pyspark (pure python): the Spark family is offered for arm64 too.
    assert sorted(p.name for p in plan.images) == sorted([*V2_BASIC, *V2_SPARK])
    assert all(p.platforms == ("amd64", "arm64") for p in plan.images)


def test_a_tag_set_by_hand_tags_every_2x_image_as_it_is(tmp_path):
    fate_dir = write_fate2_checkout(tmp_path / "FATE", "v2.2.0")
    plan = build_plan(load_config(environ={}, overrides={"FATE_DIR": str(fate_dir), "TAG": "nightly"}))
    assert {p.tag for p in plan.images} == {"nightly"}


def test_a_hand_set_base_tag_still_tags_the_2x_base_image(tmp_path):
    fate_dir = write_fate2_checkout(tmp_path / "FATE", "v2.2.0")
    plan = build_plan(_config(fate_dir, tmp_path, BASE_TAG="py310"))
    tags = {p.name: p.tag for p in plan.images}
    assert tags["base-image"] == "py310" and tags["fateflow"] == "2.2.0-release"


def test_a_folder_that_is_neither_line_is_one_line_naming_both_markers(tmp_path):
    (tmp_path / "notfate").mkdir()
    (tmp_path / ".env").write_text(f"FATE_DIR={tmp_path / 'notfate'}\nTAG=${{version}}-release\n")
    result = run_cli("plan", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "notfate/fate.env (1.x)" in lines[0] and "notfate/python/fate/_info.py (2.x)" in lines[0]


def test_fate_line_must_agree_with_the_tree(tmp_path):
    fate_dir = write_fate2_checkout(tmp_path / "FATE", "v2.2.0")
    with pytest.raises(ConfigError, match=r"^FATE_LINE=1.x, but FATE_DIR=.* holds FATE 2.2.0 \(2.x\)"):
        load_config(environ={}, overrides={"FATE_DIR": str(fate_dir), "FATE_LINE": "1.x"})


def test_fate_line_without_a_tree_picks_the_catalog(tmp_path):
    config = load_config(environ={}, overrides={"FATE_DIR": str(tmp_path / "none"), "FATE_LINE": "2.x"})
    assert build_plan(config).catalog.line == "2.x"
    with pytest.raises(ConfigError, match=r"^FATE_LINE='3.x': allowed are 1.x, 2.x"):
        load_config(environ={}, overrides={"FATE_LINE": "3.x"})


def test_an_unknown_2x_release_is_an_error_naming_the_known_ones(tmp_path):
    fate_dir = write_fate2_checkout(tmp_path / "FATE", "v2.2.0")
    info = fate_dir / "python" / "fate" / "_info.py"
    info.write_text(info.read_text().replace('"2.2.0"', '"2.3.0"'))
    with pytest.raises(ConfigError, match=r"FATE 2.3.0 \(2.x\).*known: 2.0.0, 2.1.0, 2.1.1, 2.2.0"):
        build_plan(load_config(environ={}, overrides={"FATE_DIR": str(fate_dir)}))


@pytest.mark.parametrize("tag", TAGS_2X)
def test_the_committed_file_is_rendered_for_1x_whatever_tree_fate_dir_holds(tag, tmp_path):
    """make check gives one verdict everywhere: a tree at FATE_DIR does not change what render writes."""
    fate_dir = tmp_path / "FATE"
    project = ROOT / "docker-bake.env"
    args = ("--project-file", str(project), "-D", f"FATE_DIR={fate_dir}", "render", "-o")
    assert run_cli(*args, str(tmp_path / "without.hcl"), cwd=tmp_path).returncode == 0
    write_fate2_checkout(fate_dir, tag)
    result = run_cli(*args, str(tmp_path / "with.hcl"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "with.hcl").read_bytes() == (tmp_path / "without.hcl").read_bytes()
    assert 'target "fateflow-spark"' in (tmp_path / "with.hcl").read_text()


def test_the_2x_catalogs_facts_match_each_releases_files():
    """Python, osx's version and the torch pin of each release, against its real files."""
    data = ROOT / "tests" / "data" / "fate-files"
    for facts in catalog.for_line("2.x").releases:
        files = data / f"v{facts.version}"
        pom = (files / "java" / "osx" / "pom.xml").read_text()
        assert f"<osx.version>{facts.get('OSX_VERSION')}</osx.version>" in pom
        assert facts.get("TORCH") in (files / "python" / "requirements-fate.txt").read_text().splitlines()
        python = facts.get("PYTHON_VERSION")
        if facts.version.startswith("2.2"):
            assert f"Upgrade from Python 3.8 to Python {python}" in (files / "RELEASE.md").read_text()
        else:
            assert f"PYTHON={python}" in (files / "fate_flow" / "fateflow.env").read_text()


def test_every_2x_requirement_file_the_catalog_installs_exists_in_all_four_releases():
    from testsupport.fate_paths import exists
    for family in catalog.for_line("2.x").families:
        for path in family.requirements:
            for tag in TAGS_2X:
                assert exists(path, tag), f"{family.name}: {path} not in FATE {tag}"


@pytest.mark.parametrize("tag", TAGS_2X)
def test_build_gpu_plans_kubefates_gpu_images_on_each_partys_suffixed_images(tag, tmp_path):
    fate_dir = write_fate2_checkout(tmp_path / "FATE", tag)
    plan = build_plan(_config(fate_dir, tmp_path, Build_Spark="1", Build_GPU="1", Build_OP="0"))
    parents = {p.name: p.image.parent for p in plan.images}
    assert {name: parents[name] for name in V2_GPU} == V2_GPU
    assert not any(name in parents for name in V2_ALL) and not any(name.endswith("-nn-gpu") for name in parents)
    tags = {p.name: p.tag for p in plan.images}
    # KubeFATE names the image `${EGGRoll_IMAGE}${Suffix}:${EGGRoll_IMAGE_TAG}`: eggroll's own tag.
    assert tags["eggroll-gpu"] == tags["eggroll"] and tags["fateflow-gpu"] == tags["fateflow"]
    assert all(p.platforms == ("amd64",) for p in plan.images)
    no_spark = build_plan(_config(fate_dir, tmp_path, Build_Spark="0", Build_GPU="1", Build_OP="0"))
    assert {p.name for p in no_spark.images if p.role == "selected"} >= {"fateflow-gpu", "eggroll-gpu"}
    assert "fateflow-spark-gpu" not in {p.name for p in no_spark.images}


@pytest.mark.parametrize("tag", TAGS_2X)
def test_build_llm_plans_the_all_gpu_images_with_the_releases_fate_llm_or_says_why_not(tag, tmp_path):
    fate_dir = write_fate2_checkout(tmp_path / "FATE", tag)
    plan = build_plan(_config(fate_dir, tmp_path, Build_Spark="1", Build_GPU="1", Build_LLM="1", Build_OP="0"))
    names = {p.name: p.image.parent for p in plan.images}
    variables = bake_variables(plan.config)
    if FATE_LLM[tag] is None:
        assert not any(name in names for name in V2_ALL)
        assert not any(image.name in V2_ALL for image in plan.targets)
        said = "\n".join(plan.warnings)
        assert "Build_LLM=1 selects nothing on FATE 2.x: FATE 2.0.0 has no FATE-LLM" in said
        assert variables["FATE_LLM_VERSION"] == ""
        return
    assert {name: names[name] for name in V2_ALL} == V2_ALL
    assert variables["FATE_LLM_VERSION"] == FATE_LLM[tag]
    assert not plan.warnings or "Build_LLM" not in "\n".join(plan.warnings)
    # -all only on -gpu, as FATE-Builder's 2.x build.sh: Build_LLM alone selects nothing and says so.
    alone = build_plan(_config(fate_dir, tmp_path, Build_LLM="1", Build_OP="0"))
    assert not any(p.name in V2_ALL for p in alone.images)
    assert "Build_LLM=1 selects no image without Build_GPU=1" in alone.warnings


@pytest.mark.parametrize("flags", [{"Build_GPU": "1"}, {"Build_GPU": "1", "Build_LLM": "1"}])
def test_gpu_and_all_images_refuse_arm64_naming_pypis_cpu_only_aarch64_torch(flags, tmp_path):
    fate_dir = write_fate2_checkout(tmp_path / "FATE", "v2.2.0")
    with pytest.raises(ConfigError) as err:
        _config(fate_dir, tmp_path, Platform="amd64,arm64", **flags)
    said = str(err.value)
    assert "set Build_GPU=0" in said and "PyPI's aarch64 torch wheels" in said and "are CPU builds" in said
    assert "\n" not in said


def test_the_gpu_torch_fact_is_each_releases_torch_pin_and_pypis_x86_64_wheel_of_it_is_cuda():
    """GPU_TORCH is the version requirements-fate.txt pins (without +cpu); PyPI's evidence says its
    x86_64 wheel brings the CUDA runtime and its aarch64 one does not (tests/data/pypi-torch-wheels.json)."""
    data = ROOT / "tests" / "data"
    wheels = json.loads((data / "pypi-torch-wheels.json").read_text())["wheels"]
    for facts in catalog.for_line("2.x").releases:
        version = facts.get("GPU_TORCH")
        assert facts.get("TORCH").removeprefix("torch==").split("+")[0] == version
        pin = [line for line in (data / "fate-files" / f"v{facts.version}" / "python" /
                                 "requirements-fate.txt").read_text().splitlines() if line.startswith("torch==")]
        assert pin in ([f"torch=={version}"], [f"torch=={version}+cpu"])
        python = facts.get("PYTHON_VERSION")
        seen = {w["platform"]: w for w in wheels if w["version"] == version and w["python"] == python}
        assert "nvidia-cuda-runtime-cu" in " ".join(_installed(seen["manylinux1_x86_64"], "x86_64", python))
        assert not [r for r in _installed(seen["manylinux2014_aarch64"], "aarch64", python) if r.startswith("nvidia")]


def _installed(wheel: dict, machine: str, python: str) -> list[str]:
    """The names of the wheel's dependencies pip installs on Linux `machine` (markers evaluated)."""
    from packaging.requirements import Requirement
    env = {"platform_system": "Linux", "platform_machine": machine, "python_version": python,
           "sys_platform": "linux", "extra": ""}
    reqs = [Requirement(r) for r in wheel["requires_dist"]]
    return [r.name for r in reqs if r.marker is None or r.marker.evaluate(env)]


def test_the_fate_llm_fact_names_a_tag_whose_tree_has_the_package_and_its_list():
    """Each FATE_LLM_VERSION is a FATE-LLM tag read here (tests/data/fate-llm), with python/fate_llm
    and python/requirements.txt, the two things the -all Dockerfile takes from it; 2.2.0's FATE-LLM
    pins the torch the -gpu image installs."""
    data = ROOT / "tests" / "data" / "fate-llm"
    for facts in catalog.for_line("2.x").releases:
        tag = facts.get("FATE_LLM_VERSION")
        assert FATE_LLM[f"v{facts.version}"] == (tag or None)
        if not tag:
            assert "LLM" in dict(facts.absent)
            continue
        paths = set((data / f"fate-llm-{tag}-paths.txt").read_text().splitlines())
        assert {"python/fate_llm/__init__.py", "python/requirements.txt"} <= paths
        llm_list = (data / "files" / tag / "python" / "requirements.txt").read_text().splitlines()
        torch = [line for line in llm_list if line.startswith("torch")]
        assert torch in ([], [f"torch=={facts.get('GPU_TORCH')}"])
