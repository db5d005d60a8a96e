"""The `--allow` grants of a bake: what it reads and writes outside the working directory, by buildx version."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.entitlements import Access, bake_access, enforces_fs_grants, grants, knows_fs_grants

from .conftest import ALL_OFF, config_of

CURRENT = (0, 29, 1)


def _config(tmp_path: Path, **settings: str):
    fate = tmp_path / "FATE"
    fate.mkdir(exist_ok=True)
    (fate / "fate.env").write_text("FATE=1.11.2\nFATEFlow=1.11.1\nEGGROLL=2.5.1\n")
    return config_of(FATE_DIR=str(fate), **settings)


@pytest.mark.parametrize("version, knows, enforces", [
    (None, False, False), ((0, 13, 1), False, False), ((0, 17, 0), False, False), ((0, 18, 0), False, False),
    ((0, 19, 0), True, False), ((0, 19, 3), True, False), ((0, 20, 0), True, True), ((0, 29, 1), True, True),
    ((1, 0, 0), True, True),
])
def test_fs_grants_exist_from_buildx_0_19_and_are_enforced_from_0_20(version, knows, enforces):
    assert knows_fs_grants(version) is knows
    assert enforces_fs_grants(version) is enforces


@pytest.mark.parametrize("version", [None, (0, 13, 1), (0, 18, 0)])
def test_a_buildx_without_fs_entitlements_gets_no_allow_at_all(version):
    # 0.17 and 0.18 have `bake --allow` but call `fs.read` an unknown key.
    access = Access(reads=("/data/projects/fate",), writes=("/var/cache/fb",))
    assert grants(access, "/home/ops", version) == ()


def test_folders_outside_the_working_directory_are_granted_read_and_inside_ones_are_not(tmp_path):
    access = Access(reads=(str(tmp_path / "work" / "docker"), str(tmp_path / "FATE")))
    (tmp_path / "work").mkdir()
    assert grants(access, str(tmp_path / "work"), CURRENT) == (f"fs.read={tmp_path / 'FATE'}",)


def test_relative_paths_are_taken_from_the_working_directory(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    access = Access(reads=("docker", "../FATE"), writes=("cache",))
    assert grants(access, str(work), CURRENT) == (f"fs.read={tmp_path / 'FATE'}",)


def test_a_folder_inside_another_granted_one_is_not_granted_twice(tmp_path):
    access = Access(reads=(str(tmp_path / "FATE" / "docker"), str(tmp_path / "FATE")))
    assert grants(access, str(tmp_path / "work"), CURRENT) == (f"fs.read={tmp_path / 'FATE'}",)


def test_a_symlink_inside_the_working_directory_to_a_folder_outside_is_granted_by_its_target(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "FATE").mkdir()
    (tmp_path / "work" / "fate").symlink_to(tmp_path / "FATE")
    access = Access(reads=(str(tmp_path / "work" / "fate"),))
    assert grants(access, str(tmp_path / "work"), CURRENT) == (f"fs.read={tmp_path / 'FATE'}",)


def test_a_working_directory_reached_through_a_symlink_still_covers_its_folders(tmp_path):
    (tmp_path / "real" / "FATE").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    access = Access(reads=(str(tmp_path / "real" / "FATE"),))
    assert grants(access, str(tmp_path / "link"), CURRENT) == ()


def test_the_default_bake_reads_fate_dir_and_the_dockerfiles_and_writes_nothing(tmp_path):
    config = _config(tmp_path)
    access = bake_access(config, ["base-image", "fateflow"])
    assert access == Access(reads=(config.docker_dir, config.fate_dir), writes=())
    assert grants(access, str(tmp_path / "elsewhere"), CURRENT) == tuple(
        f"fs.read={p}" for p in sorted([config.docker_dir, config.fate_dir]))


def test_images_without_a_fate_source_do_not_read_fate_dir(tmp_path):
    config = _config(tmp_path)
    assert bake_access(config, ["spark-base", "fate-test"]).reads == (config.docker_dir,)


def test_nothing_baked_reads_nothing(tmp_path):
    assert bake_access(_config(tmp_path), []) == Access()


def test_ipcl_pkg_dir_is_read_only_when_an_ipcl_base_is_baked(tmp_path):
    pkg = tmp_path / "ipcl"
    pkg.mkdir()
    config = _config(tmp_path, Build_IPCL="1", IPCL_PKG_DIR=str(pkg))
    assert str(pkg) in bake_access(config, ["base-image-ipcl"]).reads
    assert str(pkg) not in bake_access(config, ["base-image", "fateflow"]).reads
    # Without IPCL_PKG_DIR the source is a git URL: nothing local to read.
    unset = _config(tmp_path, Build_IPCL="1")
    assert bake_access(unset, ["base-image-ipcl"]).reads == (unset.docker_dir,)


def test_a_local_cache_folder_is_read_by_cache_from_and_written_by_cache_to(tmp_path):
    config = _config(tmp_path, **{**ALL_OFF, "Build_Basic": "1"}, CACHE=f"local:{tmp_path / 'cache'}",
                     DOCKER_DIR=str(tmp_path / "docker"))
    access = bake_access(config, ["base-image"])
    assert access.writes == (str(tmp_path / "cache"),)
    assert str(tmp_path / "cache") in access.reads
    assert grants(access, str(tmp_path / "work"), CURRENT) == (
        f"fs.read={tmp_path / 'FATE'}", f"fs.read={tmp_path / 'cache'}", f"fs.read={tmp_path / 'docker'}",
        f"fs.write={tmp_path / 'cache'}",
    )


@pytest.mark.parametrize("cache", ["none", "inline", "registry", "gha"])
def test_other_caches_touch_no_local_folder(tmp_path, cache):
    assert bake_access(_config(tmp_path, CACHE=cache), ["base-image"]).writes == ()


@pytest.mark.parametrize("item, read", [
    ("*.contexts.fate-llm-src=/srv/fate-llm", "/srv/fate-llm"),
    ("fateflow.context=/srv/docker/fateflow", "/srv/docker/fateflow"),
    ("*.contexts.x=target:base-image", None),
    ("*.contexts.x=docker-image://busybox", None),
    ("*.contexts.x=https://github.com/FederatedAI/FATE-LLM.git#v1.2.0", None),
    ("*.contexts.x=git@github.com:FederatedAI/FATE-LLM.git", None),
    ("*.args.FATE_DIR=/srv/elsewhere", None),
    ("*.output=type=cacheonly", None),
])
def test_a_local_context_set_in_docker_options_is_read_too(tmp_path, item, read):
    config = _config(tmp_path)
    reads = bake_access(config, ["base-image"], [item]).reads
    assert reads == (config.docker_dir, *([read] if read else []), config.fate_dir)
