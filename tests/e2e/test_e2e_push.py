"""End to end: `fate-builder push` to the local registry (PREFIX=127.0.0.1:5000/<namespace>).

The images are set up with fate-builder's `render` and `docker buildx bake` directly, so
these tests depend on `push` only.
"""

from __future__ import annotations

import pytest

from testsupport.constants import BASIC

pytest.register_assert_rewrite("tests.e2e.engine")

from .engine import (  # noqa: E402
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    TAG,
    only,
    registry_manifest,
    registry_repositories,
    registry_tags,
)

pytest_plugins = ["tests.e2e.engine"]
pytestmark = pytest.mark.engine



def _platforms(index: dict) -> set[str]:
    """Platforms of an index's image manifests (attestation manifests are unknown/unknown)."""
    return {
        f"{m['platform']['os']}/{m['platform']['architecture']}"
        for m in index.get("manifests", [])
        if m.get("platform", {}).get("os") not in (None, "unknown")
    }


def test_push_sends_the_multi_platform_selection_as_manifest_lists(workspace, registry):
    settings = workspace.settings("push", **only("Basic"), Platform="amd64,arm64")
    workspace.bake_direct(settings)
    namespace = settings["PREFIX"].split("/", 1)[1]
    assert registry_repositories(namespace) == [], "the namespace is not empty before the push"

    result = workspace.run("push", settings=settings)
    assert result.returncode == 0, result.explain()

    assert registry_repositories(namespace) == sorted(f"{namespace}/{name}" for name in BASIC)
    for name in BASIC:
        repository = f"{namespace}/{name}"
        assert registry_tags(repository) == [TAG], repository
        # Asking for an index only: a single-platform manifest would come back as 404/other type.
        status, headers, index = registry_manifest(repository, TAG, accept=f"{OCI_INDEX}, {DOCKER_LIST}")
        assert status == 200, (repository, status)
        media_type = index.get("mediaType") or {k.lower(): v for k, v in headers.items()}.get("content-type")
        assert media_type in (OCI_INDEX, DOCKER_LIST), (repository, media_type)
        assert _platforms(index) == {"linux/amd64", "linux/arm64"}, (repository, index)
        for manifest in index["manifests"]:
            status, _, _ = registry_manifest(
                repository, manifest["digest"], accept=f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
            )
            assert status == 200, f"{repository}@{manifest['digest']} is missing from the registry"


def test_push_sends_only_the_selection_not_the_parents_it_was_built_on(workspace, registry):
    settings = workspace.settings("push-nn", **only("NN"))
    workspace.bake_direct(settings)
    namespace = settings["PREFIX"].split("/", 1)[1]

    result = workspace.run("push", settings=settings)
    assert result.returncode == 0, result.explain()

    assert registry_repositories(namespace) == [f"{namespace}/eggroll-nn", f"{namespace}/fateflow-nn"]
    for name in ["eggroll-nn", "fateflow-nn"]:
        assert registry_tags(f"{namespace}/{name}") == [TAG]
