"""Contract with the real `docker buildx bake --print`: what buildx resolves is what the plan says.

buildx is the reference resolver of every file rendered; --print needs no daemon.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator import catalog
from generator.dockerfiles import context_key
from generator.plan import build_plan, image_ref
from generator.render import render

from .conftest import ALL_OFF, config_of, entry, normalized_print

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")

pytestmark = pytest.mark.buildx


def _render(tmp_path: Path, **settings) -> tuple[Path, object]:
    plan = build_plan(config_of(**settings))
    path = tmp_path / "docker-bake.hcl"
    path.write_text(render(plan, path))
    return path, plan


# The FATE folder each named context of the 1.x Dockerfiles is (FATE-Builder's build.sh copies
# the same folders), "" being FATE_DIR itself; and the two git sources with their version.
FATE_FOLDERS = {"fate": "", "fate-python": "python", "fateflow-src": "fateflow", "eggroll-src": "eggroll",
                "fateboard-src": "fateboard", "examples": "examples", "fate-conf": "conf", "fate-doc": "doc",
                "proxy": "c/proxy", "deploy": "deploy"}
FATE_LLM_GIT = "https://github.com/FederatedAI/FATE-LLM.git"
IPCL_GIT = "https://github.com/intel/pailliercryptolib_python.git"


def _expected_context(name: str, config, fate_dir: str) -> str:
    if name == "ipcl-src":
        return config.ipcl_pkg_dir or f"{IPCL_GIT}#{config.ipcl_version}"
    if name == "fate-llm-src":
        return f"{FATE_LLM_GIT}#{config.llm_version}"
    return f"{fate_dir}/{FATE_FOLDERS[name]}" if FATE_FOLDERS[name] else fate_dir


def _assert_matches_plan(printed: dict, plan, *, prefix: str, tag: str, base_tag: str, fate_dir: str | None = None,
                         names: set[str] | None = None):
    """Every printed target as the plan says; `names`: exactly those targets were printed."""
    config = plan.config
    targets = printed["target"]
    assert targets, "bake --print resolved no target"
    if names is not None:
        assert set(targets) == names
    for name, target in targets.items():
        image = V1.by_name[name]
        own_tag = base_tag if image.base else tag
        assert target["tags"] == [image_ref(prefix, name, own_tag)], name
        assert target["platforms"] == [f"linux/{p}" for p in config.platforms], name
        assert target["context"].endswith(V1.family_of(image).dockerfile_dir), name
        contexts = dict(target.get("contexts", {}))
        if image.parent:
            parent = V1.by_name[image.parent]
            parent_ref = image_ref(prefix, parent.name, base_tag if parent.base else tag)
            assert contexts.pop(context_key(parent_ref)) == f"target:{parent.name}", name
            assert target["args"]["BASE_IMAGE"] == parent.name
            assert target["args"]["BASE_TAG"] == (base_tag if parent.base else tag)
        assert target["args"]["PREFIX"] == prefix
        if V1.family_of(image).fragments:  # the build fragments, from the Dockerfile tree itself
            assert contexts.pop(catalog.FRAGMENTS) == f"{config.docker_dir}/{catalog.FRAGMENTS}", name
        expected = {s.name: _expected_context(s.name, config, fate_dir or config.fate_dir)
                    for s in V1.sources_of(image)}
        assert contexts == expected, name
        assert target["labels"]["org.opencontainers.image.title"] == name


@pytest.mark.parametrize("settings", [
    {},
    {**ALL_OFF, "Build_NN": "1", "Build_GPU": "1", "Build_LLM": "1", "TAG": "1.11.2-release", "BASE_TAG": "b1"},
    {"Build_IPCL": "1", "Build_FUM": "1", "PREFIX": "127.0.0.1:5000/federatedai", "Platform": "amd64"},
    {**ALL_OFF, "Build_Basic": "1", "Platform": "amd64,arm64", "PREFIX": "docker.io/library"},
], ids=["default", "llm-split-tags", "ipcl-private-registry", "multiarch-library"])
def test_buildx_resolves_default_group_to_the_planned_targets(tmp_path, buildx, settings):
    path, plan = _render(tmp_path, **settings)
    printed = buildx(path)
    assert printed["group"]["default"]["targets"] == sorted(plan.selected)
    # bake pulls in the parents a selected target links to, so the resolved set is the whole plan.
    assert set(printed["target"]) == {p.name for p in plan.images}
    c = plan.config
    _assert_matches_plan(printed, plan, prefix=c.prefix, tag=c.tag, base_tag=c.base_tag)


def test_buildx_resolves_all_34_targets(tmp_path, buildx):
    path, plan = _render(tmp_path)
    printed = buildx(path, "all")
    assert sorted(printed["target"]) == sorted(image.name for image in V1.images)
    _assert_matches_plan(printed, plan, prefix="federatedai", tag="latest", base_tag="latest")


@pytest.mark.parametrize("group", ["basic", "spark", "nn", "gpu", "llm", "ipcl", "op", "fum"])
def test_flag_groups_resolve_to_the_images_their_flag_enables(tmp_path, buildx, group):
    path, plan = _render(tmp_path)
    printed = buildx(path, group)
    flag = next(f for f in catalog.FLAGS if f.lower() == group)
    members = {i.name for i in V1.images if flag in i.flags}
    assert set(printed["group"][group]["targets"]) == members


@pytest.mark.parametrize("env", [
    {"TAG": "2.0.0"},
    {"PREFIX": "docker.io/library", "TAG": "latest", "BASE_TAG": "latest"},
    {"PREFIX": "index.docker.io/fate", "TAG": "v9", "BASE_TAG": "latest"},
    {"PREFIX": "harbor.local:8443/fate/team", "BASE_TAG": "base-1"},
])
def test_overriding_prefix_and_tags_at_bake_time_keeps_every_context_key_matching(tmp_path, buildx, env):
    path, plan = _render(tmp_path, Build_IPCL="1", Build_GPU="1", Build_LLM="1", Build_FUM="1")
    printed = buildx(path, "all", env=env)
    prefix = env.get("PREFIX", "federatedai")
    tag = env.get("TAG", "latest")
    base_tag = env.get("BASE_TAG", tag if "TAG" in env else "latest")
    _assert_matches_plan(printed, plan, prefix=prefix, tag=tag, base_tag=base_tag,
                         names={image.name for image in plan.targets})


HOSTILE = 'fate "dir" \\ back${HOME}%{if}\nnew'


def test_hostile_paths_reach_buildx_literally(tmp_path, buildx):
    fate_dir = tmp_path / HOSTILE
    pkg = tmp_path / 'ipcl "pkg" ${x}'
    pkg.mkdir()
    path, plan = _render(tmp_path, FATE_DIR=str(fate_dir), Build_IPCL="1", IPCL_PKG_DIR=str(pkg))
    printed = buildx(path, "ipcl", "basic")
    assert printed["target"]["fateflow"]["contexts"]["fate-python"] == f"{fate_dir}/python"
    assert printed["target"]["base-image-ipcl"]["contexts"]["ipcl-src"] == str(pkg)
    _assert_matches_plan(printed, plan, prefix="federatedai", tag="latest", base_tag="latest")


def test_fate_dir_overridden_at_bake_time_moves_every_source_context(tmp_path, buildx):
    path, plan = _render(tmp_path)
    printed = buildx(path, env={"FATE_DIR": "/srv/FATE"})
    _assert_matches_plan(printed, plan, prefix="federatedai", tag="latest", base_tag="latest", fate_dir="/srv/FATE",
                         names={p.name for p in plan.images})


def test_ipcl_source_falls_back_to_git_at_ipcl_version(tmp_path, buildx):
    path, _ = _render(tmp_path, Build_IPCL="1")
    printed = buildx(path, "base-image-ipcl", env={"IPCL_VERSION": "v2.0.0"})
    assert printed["target"]["base-image-ipcl"]["contexts"]["ipcl-src"] == \
        "https://github.com/intel/pailliercryptolib_python.git#v2.0.0"


@pytest.mark.parametrize("cache, cache_from, cache_to", [
    ("none", None, None),
    ("registry", ["type=registry,ref=reg:5000/fate/fateflow:buildcache",
                  "type=registry,ref=reg:5000/fate/base-image:buildcache"],
     ["type=registry,ref=reg:5000/fate/fateflow:buildcache,mode=max"]),
    ("inline", ["type=registry,ref=reg:5000/fate/fateflow:v1", "type=registry,ref=reg:5000/fate/base-image:b1"],
     ["type=inline"]),
    ("gha", ["type=gha,scope=fateflow", "type=gha,scope=base-image"], ["type=gha,scope=fateflow,mode=max"]),
    ("local:/var/cache/fb", ["type=local,src=/var/cache/fb/fateflow", "type=local,src=/var/cache/fb/base-image"],
     ["type=local,dest=/var/cache/fb/fateflow,mode=max"]),
])
def test_cache_setting_renders_cache_from_and_cache_to_for_every_target(tmp_path, buildx, cache, cache_from, cache_to):
    """A target reads its own cache and its ancestors' (their steps may run in its solve)."""
    path, _ = _render(tmp_path, CACHE=cache, PREFIX="reg:5000/fate", TAG="v1", BASE_TAG="b1")
    printed = buildx(path, "all")
    target = printed["target"]["fateflow"]
    assert target.get("cache-from") == (None if cache_from is None else [entry(e) for e in cache_from])
    assert target.get("cache-to") == (None if cache_to is None else [entry(e) for e in cache_to])
    assert all(("cache-to" in t) == (cache_to is not None) for t in printed["target"].values())


def test_variables_default_to_the_configuration_at_render_time(tmp_path, buildx, fate_dir):
    path, _ = _render(tmp_path, FATE_DIR=str(fate_dir), TAG="1.11.2-release", PREFIX="reg.io/fate")
    printed = buildx(path, "fateflow")
    target = printed["target"]["fateflow"]
    assert target["tags"] == ["reg.io/fate/fateflow:1.11.2-release"]
    # The machine's fate.env never reaches the file (it must render alike everywhere): bake passes FATE_VERSION;
    # until then the version label is left out (an empty label says nothing).
    assert "org.opencontainers.image.version" not in target["labels"]
    assert target["contexts"]["fate-python"] == f"{fate_dir}/python"


# Both spellings, as buildx 0.13.1 and 0.29.1 print the same target and group.
PRINTED_0_13 = {
    "group": {"default": {"targets": ["fateflow", "base-image"]}},
    "target": {"fateflow": {"cache-from": ["type=local,src=/c/fateflow", "type=local,src=/c/base-image"],
                            "cache-to": ["type=local,dest=/c/fateflow,mode=max"], "attest": ["type=sbom"],
                            "output": ["type=cacheonly"], "tags": ["federatedai/fateflow:latest"]}},
}
PRINTED_0_29 = {
    "group": {"default": {"targets": ["base-image", "fateflow"]}},
    "target": {"fateflow": {"cache-from": [{"type": "local", "src": "/c/fateflow"},
                                           {"src": "/c/base-image", "type": "local"}],
                            "cache-to": [{"dest": "/c/fateflow", "mode": "max", "type": "local"}],
                            "attest": [{"type": "sbom"}], "output": [{"type": "cacheonly"}],
                            "tags": ["federatedai/fateflow:latest"]}},
}


def test_both_spellings_of_bake_print_normalize_to_the_same_definition():
    assert normalized_print(PRINTED_0_13) == normalized_print(PRINTED_0_29)


def test_normalizing_keeps_what_differs_in_meaning():
    other = json.loads(json.dumps(PRINTED_0_29))
    other["target"]["fateflow"]["cache-to"][0]["mode"] = "min"
    assert normalized_print(PRINTED_0_13) != normalized_print(other)
    reordered = json.loads(json.dumps(PRINTED_0_29))
    reordered["target"]["fateflow"]["cache-from"].reverse()  # which cache is tried first is kept
    assert normalized_print(PRINTED_0_13) != normalized_print(reordered)
