"""`docker buildx bake --print` of the FATE 2.x family, on whichever buildx generation runs the
tests (CI: both): what buildx resolves is what the 2.x plan says, for each 2.x release, and
`fate-builder bake --print` works on all five real-tree fixtures, each with its own family."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator import catalog
from generator.config import load_config
from generator.dockerfiles import context_key
from generator.plan import build_plan, image_ref
from generator.render import bake_variables, render
from testsupport.fate_paths import TAGS, TAGS_2X

from .conftest import run_cli
from .test_release_lines import EXPECTED, FATE_LLM, V2_ALL, V2_BASIC, V2_GPU, V2_SPARK, write_tree

pytestmark = pytest.mark.buildx


def _plan(tmp_path: Path, tag: str, **settings):
    fate_dir = write_tree(tmp_path / "FATE", tag)
    (tmp_path / ".env").write_text("TAG=${version}-release\n")
    config = load_config(env_file=tmp_path / ".env", environ={},
                         overrides={"FATE_DIR": str(fate_dir), "Build_Spark": "0", "Build_NN": "0", **settings})
    plan = build_plan(config)
    path = tmp_path / "docker-bake.hcl"
    path.write_text(render(plan, path))
    return path, plan


@pytest.mark.parametrize("tag", TAGS_2X)
def test_buildx_resolves_the_2x_family_with_its_tags_facts_and_contexts(tmp_path, buildx, tag):
    path, plan = _plan(tmp_path, tag)
    printed = buildx(path, env=bake_variables(plan.config))
    assert printed["group"]["default"]["targets"] == sorted(plan.selected)
    assert set(printed["target"]) == {p.name for p in plan.images}
    _, version, eggroll_tag, fateboard_tag = EXPECTED[tag]
    facts = plan.catalog.facts_for(version)
    for p in plan.images:
        target = printed["target"][p.name]
        assert target["tags"] == [p.reference], p.name
        assert target["context"].endswith(plan.catalog.family_of(p.image).dockerfile_dir)
        args, contexts = target["args"], dict(target.get("contexts", {}))
        family = plan.catalog.family_of(p.image)
        for name in family.facts:
            assert args[name] == facts.get(name), (p.name, name)
        if family.requirements:
            assert args["REQUIREMENTS"].split() == list(family.requirements)
        if p.parent_reference:
            assert contexts.pop(context_key(p.parent_reference)) == f"target:{p.image.parent}"
        if family.fragments:  # the build fragments, from the Dockerfile tree itself
            assert contexts.pop(catalog.FRAGMENTS) == f"{plan.config.docker_dir}/{catalog.FRAGMENTS}", p.name
        assert contexts == {s.name: f"{plan.config.fate_dir}/{s.path}" for s in plan.catalog.sources_of(p.image)}
    tags = {name: t["tags"][0] for name, t in printed["target"].items()}
    assert tags["eggroll"] == image_ref("federatedai", "eggroll", eggroll_tag)
    assert tags["fateboard"] == image_ref("federatedai", "fateboard", fateboard_tag)
    assert tags["osx"] == image_ref("federatedai", "osx", f"{version}-release")


def test_buildx_resolves_the_basic_2x_family_for_amd64_and_arm64(tmp_path, buildx):
    path, plan = _plan(tmp_path, "v2.2.0", Platform="amd64,arm64", Build_OP="0")
    printed = buildx(path, "basic", env=bake_variables(plan.config))
    assert set(printed["target"]) == set(V2_BASIC)
    assert all(t["platforms"] == ["linux/amd64", "linux/arm64"] for t in printed["target"].values())


def test_a_component_tag_overridden_at_bake_time_reaches_the_target(tmp_path, buildx):
    path, plan = _plan(tmp_path, "v2.2.0")
    printed = buildx(path, "eggroll", env={**bake_variables(plan.config), "EGGROLL_TAG": "3.2.0-release"})
    assert printed["target"]["eggroll"]["tags"] == ["federatedai/eggroll:3.2.0-release"]


@pytest.mark.parametrize("tag", TAGS)
def test_fate_builder_bake_print_works_on_each_real_tree(tmp_path, tag):
    fate_dir = write_tree(tmp_path / "FATE", tag)
    (tmp_path / ".env").write_text(f"FATE_DIR={fate_dir}\nTAG=${{version}}-release\nBuild_NN=0\n")
    result = run_cli("bake", "--print", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    line, version, eggroll_tag, _ = EXPECTED[tag]
    targets = printed["target"]
    if line == "1.x":
        assert "fateflow-spark" in targets and "osx" not in targets
    else:
        assert set(V2_BASIC) <= set(targets) and set(V2_SPARK) <= set(targets)
        assert "v2/fateflow-spark" in targets["fateflow-spark"]["context"]
        assert targets["eggroll"]["tags"] == [f"federatedai/eggroll:{eggroll_tag}"]
        assert "v2/osx" in targets["osx"]["context"]
    assert targets["fateflow"]["tags"] == [f"federatedai/fateflow:{version}-release"]


@pytest.mark.parametrize("tag", TAGS_2X)
def test_buildx_resolves_the_gpu_and_all_images_with_pypis_torch_and_the_releases_fate_llm(tmp_path, buildx, tag):
    path, plan = _plan(tmp_path, tag, Build_Spark="1", Build_GPU="1", Build_LLM="1", Build_OP="0")
    printed = buildx(path, env=bake_variables(plan.config))
    targets = printed["target"]
    _, version, eggroll_tag, _ = EXPECTED[tag]
    facts = plan.catalog.facts_for(version)
    refs = {p.name: p.reference for p in plan.images}
    for name, parent in V2_GPU.items():
        target = targets[name]
        assert target["context"].endswith("/v2/gpu") and target["platforms"] == ["linux/amd64"]
        assert target["args"]["GPU_TORCH"] == facts.get("GPU_TORCH")
        assert target["args"]["BASE_IMAGE"] == parent
        assert target["contexts"][context_key(refs[parent])] == f"target:{parent}"
    assert targets["eggroll-gpu"]["tags"] == [image_ref("federatedai", "eggroll-gpu", eggroll_tag)]
    if FATE_LLM[tag] is None:
        assert not set(V2_ALL) & set(targets)
        return
    for name, parent in V2_ALL.items():
        target = targets[name]
        assert target["context"].endswith("/v2/fate-llm") and target["args"]["BASE_IMAGE"] == parent
        assert target["args"]["FATE_LLM_VERSION"] == FATE_LLM[tag]
        # the git context through GITHUB_URL at the release's FATE-LLM tag
        assert target["contexts"]["fate-llm-src"] == f"https://github.com/FederatedAI/FATE-LLM.git#{FATE_LLM[tag]}"
    assert targets["eggroll-all-gpu"]["tags"] == [image_ref("federatedai", "eggroll-all-gpu", eggroll_tag)]
    assert set(printed["group"]["default"]["targets"]) >= {*V2_GPU, *V2_ALL}
