"""End to end: `save` writes the offline bundle, `load` brings the same images back.

THIRD_PARTY_IMAGES cannot be mysql:8.0.28 here (nothing can be pulled from Docker Hub):
a tiny image stands in for it, pushed to the local registry and removed from the engine,
so that `save` has to pull it. The selected images are set up with fate-builder's
`render` and `docker buildx bake` directly: these tests depend on `save`/`load` only.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from generator import catalog, inventory
from testsupport.constants import DOCKER
from testsupport.standin import busybox_dir

pytest.register_assert_rewrite("tests.e2e.engine")

from .engine import (  # noqa: E402
    REGISTRY,
    TAG,
    archive_refs,
    build_third_party,
    cli_command,
    cli_env,
    docker,
    image_exists,
    image_id,
    interrupt,
    no_traceback,
    only,
    remove_images,
    run_in,
)

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")

pytest_plugins = ["tests.e2e.engine"]
pytestmark = pytest.mark.engine

ARCHIVES = ["fate.images.tar.gz", "third-party.images.tar.gz"]
MODULES = ["fateflow", "fateboard", "eggroll"]  # the basic family without its base image


@pytest.fixture(scope="module")
def saved_setup(workspace, registry):
    tree = workspace.tree(variant="save")  # a nonce of its own: no other test's images share its layers
    settings = workspace.settings("save", **only("Basic"))
    workspace.bake_direct(settings, docker_dir=tree)
    third_party = f"{REGISTRY}/{workspace.namespace}/third-party/mysql:8.0.28"
    build_third_party(third_party, workspace.root / "third-party")
    docker("push", "--quiet", third_party, timeout=300)
    remove_images([third_party])
    assert not image_exists(third_party)
    return {"tree": tree, "settings": {**settings, "THIRD_PARTY_IMAGES": third_party}, "third_party": third_party}


def test_save_writes_both_archives_pulling_a_missing_third_party_image_and_load_restores_the_same_ids(
    workspace, saved_setup, tmp_path
):
    settings, tree = saved_setup["settings"], saved_setup["tree"]
    prefix, third_party = settings["PREFIX"], saved_setup["third_party"]
    selected = [f"{prefix}/{name}:{TAG}" for name in MODULES]
    out = tmp_path / "bundle"

    saved = workspace.run("save", "--output-dir", str(out), settings=settings, docker_dir=tree)
    assert saved.returncode == 0, saved.explain()
    assert sorted(p.name for p in out.iterdir()) == ARCHIVES
    assert archive_refs(out / "fate.images.tar.gz") == set(selected)  # no base-image
    assert archive_refs(out / "third-party.images.tar.gz") == {third_party}
    for reference in [*selected, third_party]:
        assert reference in saved.output, f"the listing does not show {reference}\n{saved.explain()}"

    ids = {reference: image_id(reference) for reference in [*selected, third_party]}
    remove_images(ids)
    assert [r for r in ids if image_exists(r)] == []

    loaded = workspace.run("load", str(out), settings=settings, docker_dir=tree)
    assert loaded.returncode == 0, loaded.explain()
    assert {r: image_id(r) if image_exists(r) else None for r in ids} == ids
    for reference in ids:
        assert reference in loaded.output, f"load does not report {reference}\n{loaded.explain()}"


def test_save_that_cannot_pull_a_third_party_image_fails_clearly_and_leaves_no_archive(
    workspace, saved_setup, tmp_path
):
    absent = f"{REGISTRY}/{workspace.namespace}/absent/mysql:8.0.28"
    out = tmp_path / "bundle"
    out.mkdir()
    result = workspace.run(
        "save",
        "--output-dir",
        str(out),
        settings={**saved_setup["settings"], "THIRD_PARTY_IMAGES": absent},
        docker_dir=saved_setup["tree"],
        timeout=180,
    )
    assert result.returncode != 0, result.explain()
    no_traceback(result)
    assert absent in result.output, result.explain()
    assert list(out.iterdir()) == []


@pytest.fixture(scope="module")
def heavy_setup(workspace, registry):
    """Images with 64 MiB of random data each root, so that writing the archives takes a while."""
    tree = workspace.tree(payload_mb=64)
    settings = workspace.settings("save-heavy", **only("Basic"))
    workspace.bake_direct(settings, docker_dir=tree)
    third_party = f"{REGISTRY}/{workspace.namespace}/third-party/local:1"
    build_third_party(third_party, workspace.root / "third-party-local")
    return {"tree": tree, "settings": {**settings, "THIRD_PARTY_IMAGES": third_party}}


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_save_leaves_no_archive_behind(workspace, heavy_setup, tmp_path, how):
    out = tmp_path / "bundle"
    out.mkdir()
    tmpdir = tmp_path / "tmp"  # where a temp file would go if not next to the archive
    tmpdir.mkdir()
    argv = workspace.argv(
        "save", "--output-dir", str(out), settings=heavy_setup["settings"], docker_dir=heavy_setup["tree"]
    )
    process = subprocess.Popen(
        cli_command(*argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env({"TMPDIR": str(tmpdir)}),
        cwd=workspace.root,
        start_new_session=True,
        # As from a terminal: a runner started in the background (`cmd &`) ignores SIGINT, and
        # its children would inherit that; Python then never turns Ctrl-C into KeyboardInterrupt.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if any(out.iterdir()) or any(tmpdir.iterdir()):
                break
            time.sleep(0.02)
        assert process.poll() is None, "save ended before it could be interrupted:\n" + "".join(process.communicate())
        assert any(out.iterdir()) or any(tmpdir.iterdir()), "save wrote nothing within 60s"
        interrupt(process, how)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    time.sleep(1)  # anything still writing in the background would show up now
    assert process.returncode != 0, stdout + stderr
    assert "Traceback (most recent call last)" not in stderr, stderr
    assert sorted(p.name for p in out.iterdir()) == [], stdout + stderr
    assert sorted(p.name for p in tmpdir.rglob("*")) == [], stdout + stderr


# ---------------------------------------------------------------------------------------
# Air-gapped: `save --base-images` bundles what the FROM lines pull; a bake after `load` needs no registry.

NOWHERE = "127.0.0.1:9"  # the discard port: no registry listens there


def real_pulls(family: catalog.Family) -> list[str]:
    """What the real Dockerfile of a family pulls on amd64 (`library/centos:centos7`, ...), from the inventory."""
    path = family.dockerfile_path(DOCKER)
    found = inventory.dockerfile_endpoints(path, "amd64")
    return list(dict.fromkeys(e.what for e in found if e.setting == "IMAGE_MIRROR"))


def pulling_tree(tree: Path, families: list[catalog.Family]) -> dict[str, list[str]]:
    """The stand-in tree's root Dockerfiles also pull what the real ones pull, `FROM ${IMAGE_MIRROR}/...`
    stages the final stage copies a file from (so the build needs them)."""
    pulled = {}
    for family in families:
        path = family.dockerfile_path(tree)
        whats = real_pulls(family)
        stages = "".join(f"FROM ${{IMAGE_MIRROR}}/{what} AS pulled-{k}\n" for k, what in enumerate(whats))
        copies = "".join(f"COPY --from=pulled-{k} /etc/base-standin /etc/base-standin-{k}\n" for k in range(len(whats)))
        text = path.read_text()
        assert "FROM scratch\n" in text
        pulling = text.replace("FROM scratch\n", stages + "FROM scratch\n" + copies, 1)
        path.write_text("ARG IMAGE_MIRROR=docker.io\n" + pulling)
        pulled[family.name] = whats
    return pulled


def build_base_stand_in(reference: str, context: Path) -> None:
    """FROM scratch + busybox, tagged under the name a Dockerfile pulls; /etc/base-standin says which."""
    context.mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox_dir() / "amd64" / "busybox", context / "busybox")
    (context / "name").write_text(reference + "\n")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY busybox /bin/busybox\nCOPY name /etc/base-standin\n")
    docker("buildx", "build", "--load", "--platform", "linux/amd64", "--provenance=false", "--progress=quiet",
           "-t", reference, str(context), timeout=300)


@pytest.fixture(scope="module")
def offline_setup(workspace, registry):
    tree = workspace.tree(variant="offline")
    roots = [V1.family_by_name[name] for name in ("base/basic", "fateboard")]
    pulled = pulling_tree(tree, roots)
    mirror = f"{NOWHERE}/{workspace.namespace}-mirror"
    bases = {f"{mirror}/{what}": family for family, whats in pulled.items() for what in whats}
    for k, reference in enumerate(bases):
        build_base_stand_in(reference, workspace.root / "base-standins" / str(k))
    settings = workspace.settings("offline", **only("Basic"), Platform="amd64", IMAGE_MIRROR=mirror,
                                  THIRD_PARTY_IMAGES="")
    try:
        yield {"tree": tree, "settings": settings, "bases": bases, "mirror": mirror}
    finally:
        remove_images(bases)


def _bake(workspace, setup, name: str):
    return workspace.run("bake", "--load", "--output", str(workspace.root / f"{name}.hcl"),
                         settings=setup["settings"], docker_dir=setup["tree"])


def test_base_images_saved_removed_and_loaded_let_a_bake_succeed_with_no_registry(workspace, offline_setup, tmp_path):
    setup = offline_setup
    bases, prefix = setup["bases"], setup["settings"]["PREFIX"]
    first = _bake(workspace, setup, "offline-first")
    assert first.returncode == 0, first.explain()
    out = tmp_path / "bundle"
    saved = workspace.run("save", "--base-images", "--output-dir", str(out), settings=setup["settings"],
                          docker_dir=setup["tree"])
    assert saved.returncode == 0, saved.explain()
    assert sorted(p.name for p in out.iterdir()) == ["base.images.tar.gz", "fate.images.tar.gz"]
    assert archive_refs(out / "base.images.tar.gz") == set(bases)
    ids = {reference: image_id(reference) for reference in bases}
    built = [f"{prefix}/{name}:{TAG}" for name in ("base-image", "fateflow", "fateboard", "eggroll")]
    remove_images([*bases, *built])

    without = _bake(workspace, setup, "offline-without")  # the control: the bake does need them
    assert without.returncode != 0, without.explain()
    assert setup["mirror"] in without.output, without.explain()

    loaded = workspace.run("load", str(out), settings=setup["settings"], docker_dir=setup["tree"])
    assert loaded.returncode == 0, loaded.explain()
    assert {r: image_id(r) if image_exists(r) else None for r in ids} == ids
    again = _bake(workspace, setup, "offline-again")
    assert again.returncode == 0, again.explain()
    fateboard = f"{prefix}/fateboard:{TAG}"
    copied = run_in(fateboard, "sh", "-c", "cat /etc/base-standin-*").split()
    assert sorted(copied) == sorted(r for r, family in bases.items() if family == "fateboard")


def test_save_base_images_fails_in_one_line_when_a_base_image_is_neither_local_nor_pullable(
    workspace, offline_setup, tmp_path
):
    setup = offline_setup
    built = _bake(workspace, setup, "offline-built")
    assert built.returncode == 0, built.explain()
    elsewhere = f"{NOWHERE}/{workspace.namespace}-absent"
    out = tmp_path / "bundle"
    out.mkdir()
    result = workspace.run("save", "--base-images", "--output-dir", str(out),
                           settings={**setup["settings"], "IMAGE_MIRROR": elsewhere}, docker_dir=setup["tree"],
                           timeout=180)
    assert result.returncode != 0, result.explain()
    no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if "cannot save base image" in line]
    assert len(lines) == 1 and f"{elsewhere}/library/" in lines[0] and "IMAGE_MIRROR" in lines[0], result.explain()
    assert list(out.iterdir()) == []
