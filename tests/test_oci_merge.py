"""generator.oci and generator.merge: the labels' facts, RELEASE=1's rules, the per-platform split and the merge."""

from __future__ import annotations

import pytest

from generator import merge, oci
from generator.catalog import for_line
from generator.config import load_config
from generator.errors import ConfigError
from generator.plan import Var, build_plan


def _plan(**overrides: str):  # type: ignore[no-untyped-def]
    return build_plan(load_config(environ={}, overrides=overrides))


def test_created_is_source_date_epoch_in_rfc3339_utc():
    assert oci.created("1700000000") == "2023-11-14T22:13:20Z"
    assert oci.created("") == "1970-01-01T00:00:00Z"


def test_the_external_base_is_the_final_stages_upstream_name_with_a_release_fact_kept_as_its_variable():
    v2 = load_config(environ={}, overrides={"FATE_LINE": "2.x"})
    base = oci.external_base(v2, for_line("2.x").by_name["base-image"], for_line("2.x"))
    assert base == ("docker.io/library/python:", Var("PYTHON_VERSION"), "-slim-bookworm")
    # 1.x's base-image is CentOS on amd64 and Ubuntu on arm64: one name for both platforms does not exist.
    cat = for_line("1.x")
    one = load_config(environ={}, overrides={"Platform": "arm64", "Build_Spark": "0", "Build_NN": "0", "Build_OP": "0"})
    both = load_config(environ={}, overrides={"Platform": "amd64,arm64", "Build_Spark": "0", "Build_NN": "0",
                                              "Build_OP": "0"})
    assert oci.external_base(one, cat.by_name["base-image"], cat) == ("docker.io/library/ubuntu:bionic-20230530",)
    assert oci.external_base(both, cat.by_name["base-image"], cat) is None
    assert oci.external_base(one, cat.by_name["fateflow"], cat) is None  # a child: its parent's image


def test_base_digest_only_where_the_dockerfile_pins_one():
    pinned = "docker.io/library/python:3.10@sha256:" + "0" * 64
    assert oci.base_digest((pinned,)) == "sha256:" + "0" * 64
    assert oci.base_digest(("docker.io/library/python:3.10",)) == ""
    assert oci.base_digest(None) == ""


def test_release_refuses_its_own_attestations_given_again_in_docker_options():
    config = load_config(environ={}, overrides={"RELEASE": "1", "Docker_Options": "--sbom=true"})
    with pytest.raises(ConfigError, match="RELEASE=1 attests.*drop --sbom"):
        oci.check(config)
    oci.check(load_config(environ={}, overrides={"Docker_Options": "--sbom=true"}))


def test_the_sbom_scanner_follows_image_mirror_and_none_turns_it_off():
    config = load_config(environ={}, overrides={"RELEASE": "1", "IMAGE_MIRROR": "harbor.example.com/dockerhub"})
    assert oci.sbom_scanner(config) == "harbor.example.com/dockerhub/docker/buildkit-syft-scanner:stable-1"
    assert oci.sbom_scanner(load_config(environ={}, overrides={"RELEASE": "1", "SBOM_SCANNER": "none"})) is None
    assert oci.sbom_scanner(load_config(environ={})) is None  # no release, no SBOM
    lines = oci.scanner_unreachable(config, ["ERROR: failed to resolve source metadata for "
                                             "harbor.example.com/dockerhub/docker/buildkit-syft-scanner:stable-1"])
    assert len(lines) == 1 and "SBOM_SCANNER" in lines[0]
    assert oci.scanner_unreachable(config, ["ERROR: some other failure"]) == []


def test_build_only_names_the_parents_a_bake_needs_but_was_not_asked_for():
    plan = _plan()
    assert oci.build_only(plan, ["fateflow-nn"]) == "base-image,fateflow"
    assert oci.build_only(plan, ["base-image", "fateflow"]) == ""


def test_the_matrix_has_one_native_runner_per_platform():
    plan = _plan(Platform="amd64,arm64", Build_Spark="0", Build_NN="0", Build_OP="0")
    assert merge.matrix(plan) == {"include": [
        {"platform": "linux/amd64", "arch": "amd64", "runner": "ubuntu-24.04", "digests": "digests-amd64.json"},
        {"platform": "linux/arm64", "arch": "arm64", "runner": "ubuntu-24.04-arm", "digests": "digests-arm64.json"}]}


def test_a_platform_push_goes_by_digest_where_the_driver_can_else_under_an_arch_tag():
    plan = _plan(PREFIX="reg.example/fate", TAG="2.2.0-release")
    by_digest = merge.platform_overrides(plan, ["fateflow"], "arm64", "docker-container")
    assert by_digest == ("fateflow.output=type=image,name=reg.example/fate/fateflow,push-by-digest=true,"
                         "name-canonical=true,push=true,oci-mediatypes=true",)
    tagged = merge.platform_overrides(plan, ["fateflow"], "arm64", "docker")
    assert tagged == ("fateflow.output=type=image,name=reg.example/fate/fateflow:2.2.0-release-arm64,push=true,"
                      "oci-mediatypes=true",)
    with pytest.raises(ConfigError, match="not one of Platform=amd64"):
        merge.platform_arch(plan, "linux/arm64")


def _record(platform: str, digest: str, reference: str = "reg/fate/fateflow:t") -> dict:
    return {"platform": platform, "images": {"fateflow": {"reference": reference, "repository": "reg/fate/fateflow",
                                                          "digest": digest}}}


def test_merges_list_each_platforms_digest_and_refuse_files_that_do_not_match():
    done = merge.merges([_record("linux/amd64", "sha256:a"), _record("linux/arm64", "sha256:b")])
    assert [(m.reference, m.sources) for m in done] == [
        ("reg/fate/fateflow:t", ("reg/fate/fateflow@sha256:a", "reg/fate/fateflow@sha256:b"))]
    with pytest.raises(ConfigError, match="given twice"):
        merge.merges([_record("linux/amd64", "sha256:a"), _record("linux/amd64", "sha256:b")])
    with pytest.raises(ConfigError, match="other tags"):
        merge.merges([_record("linux/amd64", "sha256:a"), _record("linux/arm64", "sha256:b", "reg/fate/fateflow:u")])
    with pytest.raises(ConfigError, match="different images"):
        merge.merges([_record("linux/amd64", "sha256:a"), {"platform": "linux/arm64", "images": {}}])


def test_the_index_gets_the_oci_annotations_every_platform_shares():
    amd = {"annotations": {"org.opencontainers.image.revision": "r", "org.opencontainers.image.title": "x",
                           "com.example.other": "1"}}
    arm = {"annotations": {"org.opencontainers.image.revision": "r", "org.opencontainers.image.title": "y"}}
    assert merge.index_annotations([amd, arm]) == ("index:org.opencontainers.image.revision=r",)
    assert merge.index_annotations([{}, amd]) == ()


class _Registry:
    """A registry as `merge` sees it through the engine: manifests by reference, the index each create pushes."""

    def __init__(self, manifests: dict):
        self.manifests, self.created = dict(manifests), []

    def manifest(self, reference: str) -> dict:
        return self.manifests[reference]

    def imagetools_create(self, tag: str, sources, annotations=()) -> None:
        self.created.append((tag, tuple(sources), tuple(annotations)))
        self.manifests[tag] = {"digest": f"sha256:index-of-{len(self.created)}"}

    def digest(self, reference: str) -> str:
        return self.manifests[reference]["digest"]


def test_merge_records_the_digest_of_each_index_it_pushed_for_signing_by_digest():
    revision = {"annotations": {"org.opencontainers.image.revision": "r"}}
    registry = _Registry({"reg/fate/fateflow@sha256:a": revision, "reg/fate/fateflow@sha256:b": revision})
    lines: list[str] = []
    done = merge.merge(registry, [_record("linux/amd64", "sha256:a"), _record("linux/arm64", "sha256:b")],
                       lines.append)
    assert registry.created == [("reg/fate/fateflow:t", ("reg/fate/fateflow@sha256:a", "reg/fate/fateflow@sha256:b"),
                                 ("index:org.opencontainers.image.revision=r",))]
    assert merge.merged_record(done) == {"images": {"fateflow": {
        "reference": "reg/fate/fateflow:t", "repository": "reg/fate/fateflow", "digest": "sha256:index-of-1",
        "platforms": ["linux/amd64", "linux/arm64"]}}}
    assert lines == ["reg/fate/fateflow:t@sha256:index-of-1: linux/amd64, linux/arm64"]


def test_a_registry_port_stays_in_the_merged_repository():
    record = {"platform": "linux/amd64", "images": {"fateflow": {"reference": "127.0.0.1:5000/fate/fateflow:t",
                                                                 "repository": "127.0.0.1:5000/fate/fateflow",
                                                                 "digest": "sha256:a"}}}
    registry = _Registry({"127.0.0.1:5000/fate/fateflow@sha256:a": {}})
    done = merge.merge(registry, [record], lambda _: None)
    assert merge.merged_record(done)["images"]["fateflow"]["repository"] == "127.0.0.1:5000/fate/fateflow"
