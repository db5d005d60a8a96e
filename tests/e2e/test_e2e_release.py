"""End to end: what the images say about themselves (labels, annotations), what RELEASE=1 attests, and the
per-platform bakes merged by digest (generator.oci, generator.merge), on the stand-in images.

The stand-in FATE checkout has no git: FATE_REVISION is given as CI gives it. The SBOM scanner image
(docker/buildkit-syft-scanner) cannot be pulled on a machine without Docker Hub: the release push here sets
SBOM_SCANNER=none, and the default scanner's failure is asserted as the one line that names it.
"""

from __future__ import annotations

import json

import pytest

from testsupport.probes import before_buildx

pytest.register_assert_rewrite("tests.e2e.engine")

from .engine import (  # noqa: E402
    OCI_INDEX,
    TAG,
    docker,
    image_labels,
    image_layers,
    only,
    parse_progress,
    registry_manifest,
    registry_repositories,
    run_steps,
)

pytest_plugins = ["tests.e2e.engine"]
pytestmark = pytest.mark.engine

REVISION_A = "a" * 40
REVISION_B = "b" * 40
EPOCH = "1700000000"  # 2023-11-14T22:13:20Z
SECRET = "s3cr3t-mirror-token"


def _inspect(ref: str, what: str) -> object:
    return json.loads(docker("buildx", "imagetools", "inspect", ref, "--format", "{{json ." + what + "}}").stdout)


def test_labels_are_fate_facts_and_a_new_revision_runs_no_step_again(workspace):
    tree = workspace.tree(variant="labels")
    settings = workspace.settings("labels", **only("Basic"), SOURCE_DATE_EPOCH=EPOCH,
                                  Docker_Options="--progress=plain")

    def bake(revision: str):
        result = workspace.run("bake", "--load", "fateflow", settings={**settings, "FATE_REVISION": revision},
                               docker_dir=tree, timeout=900)
        assert result.returncode == 0, result.explain()
        return result

    bake(REVISION_A)
    ref = f"{settings['PREFIX']}/fateflow:{TAG}"
    labels, layers = image_labels(ref), image_layers(ref)
    assert {k: labels.get(f"org.opencontainers.image.{k}") for k in
            ("revision", "created", "source", "title", "base.name")} == {
        "revision": REVISION_A, "created": "2023-11-14T22:13:20Z", "source": "https://github.com/FederatedAI/FATE",
        "title": "fateflow", "base.name": f"{settings['PREFIX']}/base-image:{TAG}"}

    again = bake(REVISION_B)
    ran = [n for s in run_steps(parse_progress(again.output)) if not s.cached for n in s.names]
    assert not ran, f"another revision label ran steps again: {ran}\n{again.explain()}"
    assert image_layers(ref) == layers
    assert image_labels(ref)["org.opencontainers.image.revision"] == REVISION_B


@pytest.mark.skipif(before_buildx((0, 20)), reason="not yet on buildx 0.13 (the oldest engine): "
                    "the pushed index carries no annotations there; issue 25 stays open for it")
def test_a_release_push_attests_provenance_max_on_the_selection_only_without_the_secret(workspace, registry):
    settings = workspace.settings("release", **only("NN"), RELEASE="1", SBOM_SCANNER="none",
                                  FATE_REVISION=REVISION_A, SOURCE_DATE_EPOCH=EPOCH,
                                  PIP_INDEX_URL=f"https://fate:{SECRET}@pypi.mirror.example/simple")
    result = workspace.run("bake", "--push", settings=settings, timeout=900)
    assert result.returncode == 0, result.explain()
    namespace = settings["PREFIX"].split("/", 1)[1]
    # The parents (base-image, fateflow, eggroll) were built for them, never pushed.
    assert registry_repositories(namespace) == [f"{namespace}/eggroll-nn", f"{namespace}/fateflow-nn"]
    for name in ("eggroll-nn", "fateflow-nn"):
        ref = f"{settings['PREFIX']}/{name}:{TAG}"
        provenance = _inspect(ref, "Provenance")
        text = json.dumps(provenance)
        assert '"buildConfig"' in text, f"{ref}: no mode=max provenance (no buildConfig): {text[:400]}"
        assert SECRET not in text, f"{ref}: the mirror credential is in the provenance"
        assert _inspect(ref, "SBOM") in (None, {}, ""), "SBOM_SCANNER=none made an SBOM"
        status, _, index = registry_manifest(f"{namespace}/{name}", TAG, accept=OCI_INDEX)
        assert status == 200, (ref, status)
        assert index["annotations"]["org.opencontainers.image.revision"] == REVISION_A, index
        assert index["annotations"]["org.opencontainers.image.title"] == name, index


def test_a_release_without_the_sbom_scanner_fails_naming_it_and_its_setting(workspace, registry):
    settings = workspace.settings("release-sbom", **only("Basic"), RELEASE="1",
                                  SBOM_SCANNER="127.0.0.1:5000/fb-absent/buildkit-syft-scanner:stable-1")
    result = workspace.run("bake", "--push", "fateboard", settings=settings, timeout=600)
    assert result.returncode != 0, result.explain()
    assert ("RELEASE=1: BuildKit could not pull the SBOM scanner 127.0.0.1:5000/fb-absent/buildkit-syft-scanner"
            ":stable-1" in result.output and "SBOM_SCANNER=none" in result.output), result.explain()
    assert "Traceback" not in result.output


def _platform_manifests(namespace: str, name: str) -> dict[str, str]:
    status, _, index = registry_manifest(f"{namespace}/{name}", TAG)
    assert status == 200, (name, status)
    return {f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"] for m in index["manifests"]
            if m.get("platform", {}).get("os") not in (None, "unknown")}


@pytest.mark.skipif(before_buildx((0, 20)), reason="not yet on buildx 0.13 (the oldest engine): "
                    "the per-platform manifests differ from one multi-platform bake's; issue 25 stays open for it")
def test_two_platform_bakes_merged_by_digest_list_the_manifests_of_one_multi_platform_bake(workspace, registry):
    settings = workspace.settings("merge", **only("Basic"), Platform="amd64,arm64", FATE_REVISION=REVISION_A,
                                  SOURCE_DATE_EPOCH=EPOCH)
    namespace = settings["PREFIX"].split("/", 1)[1]
    names = ("base-image", "fateflow")
    one = workspace.run("bake", "--push", *names, settings=settings, timeout=900)
    assert one.returncode == 0, one.explain()
    expected = {name: _platform_manifests(namespace, name) for name in names}
    assert all(set(v) == {"linux/amd64", "linux/arm64"} for v in expected.values()), expected

    files = []
    for arch in ("amd64", "arm64"):
        path = workspace.root / f"digests-{arch}.json"
        split = workspace.run("bake", "--push", "--platform-only", f"linux/{arch}", "--digests-file", str(path),
                              *names, settings=settings, timeout=900)
        assert split.returncode == 0, split.explain()
        recorded = json.loads(path.read_text())
        assert recorded["platform"] == f"linux/{arch}" and set(recorded["images"]) == set(names), recorded
        files.append(str(path))
    signed = workspace.root / "merged.json"
    merged = workspace.run("merge", *files, "--digests-file", str(signed), settings=settings)
    assert merged.returncode == 0, merged.explain()

    assert {name: _platform_manifests(namespace, name) for name in names} == expected
    # What a release signs: each tag's index by the digest the registry serves for the tag.
    recorded = json.loads(signed.read_text())["images"]
    for name in names:
        status, headers, _ = registry_manifest(f"{namespace}/{name}", TAG, accept=OCI_INDEX)
        assert status == 200, (name, status)
        served = {k.lower(): v for k, v in headers.items()}["docker-content-digest"]
        assert recorded[name]["digest"] == served, (name, recorded[name])
        assert recorded[name]["repository"] == f"{settings['PREFIX']}/{name}"
    status, _, index = registry_manifest(f"{namespace}/fateflow", TAG, accept=OCI_INDEX)
    assert index["annotations"]["org.opencontainers.image.revision"] == REVISION_A, index
