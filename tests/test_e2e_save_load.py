"""End to end: `save` writes the offline bundle, `load` brings the same images back.

THIRD_PARTY_IMAGES cannot be mysql:8.0.28 here (nothing can be pulled from Docker Hub):
a tiny image stands in for it, pushed to the local registry and removed from the engine,
so that `save` has to pull it. The selected images are set up with fate-builder's
`render` and `docker buildx bake` directly: these tests depend on `save`/`load` only.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

pytest.register_assert_rewrite("tests.engine")

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
)

pytest_plugins = ["tests.engine"]
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
