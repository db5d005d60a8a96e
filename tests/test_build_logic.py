"""The pure side of building: option mapping, target expansion, failure attribution, preflight verdicts."""

from __future__ import annotations

import pytest

from generator import doctor
from generator.build import FailureTracker, bake_arguments, bake_call, resolve_targets
from generator.config import BakeOptions, parse_docker_options
from generator.docker import EngineFacts
from generator.errors import ConfigError

from .conftest import ALL_OFF, plan_of

GOOD_FACTS = EngineFacts(
    cli="/usr/bin/docker", server_version="26.1.5", server_error=None, buildx_version="github.com/docker/buildx 0.13.1",
    builder_name="default", builder_driver="docker", builder_platforms=("linux/amd64", "linux/arm64"),
    builder_error=None, containerd_store=True,
)


def _facts(**changes) -> EngineFacts:
    return EngineFacts(**{**GOOD_FACTS.__dict__, **changes})


def test_docker_options_become_python_on_whales_bake_arguments():
    args = bake_arguments(parse_docker_options(
        "--no-cache --pull --builder ci --metadata-file m.json "
        "--set *.args.HTTP_PROXY=http://p:3128 --sbom=true --provenance mode=max"
    ))
    assert args == {
        "cache": False, "pull": True, "load": False, "push": False, "builder": "ci", "metadata_file": "m.json",
        "set": {"*.args.HTTP_PROXY": "http://p:3128", "*.attest": "type=sbom", "**.attest": "type=provenance,mode=max"},
    }


def test_provenance_false_disables_the_attestation():
    assert bake_arguments(BakeOptions(provenance="false"))["set"] == {"**.attest": "type=provenance,disabled=true"}


def test_the_same_set_key_twice_is_an_error():
    with pytest.raises(ConfigError, match=r"--set \*.tags is given twice"):
        bake_arguments(BakeOptions(set=("*.tags=a", "*.tags=b")))


def test_groups_expand_to_their_targets_in_catalog_order():
    plan = plan_of()
    assert resolve_targets(plan, []) == plan.selected
    assert resolve_targets(plan, ["op", "basic"]) == ("base-image", "fateflow", "fateboard", "eggroll", "client",
                                                      "fate-test", "fate-test-ipcl")


def test_unknown_target_is_an_error_listing_the_groups():
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1", "Platform": "arm64"})
    with pytest.raises(ConfigError, match=r"unknown target or group nginx for Platform=arm64; groups: default, all"):
        resolve_targets(plan, ["nginx"])


def test_parents_not_asked_for_are_baked_cache_only_so_they_are_never_tagged():
    plan = plan_of(**{**ALL_OFF, "Build_NN": "1"})
    names, kwargs = bake_call(plan, resolve_targets(plan, []), BakeOptions(push=True))
    assert names == ["fateflow-nn", "eggroll-nn", "base-image", "fateflow", "eggroll"]
    assert kwargs["set"] == {f"{n}.output": "type=cacheonly" for n in ("base-image", "fateflow", "eggroll")}
    assert kwargs["push"] is True


def test_load_is_applied_to_the_asked_targets_only():
    plan = plan_of(**{**ALL_OFF, "Build_NN": "1"})
    names, kwargs = bake_call(plan, ("fateflow-nn",), BakeOptions(load=True))
    assert names == ["fateflow-nn", "base-image", "fateflow"]
    assert "load" not in kwargs
    assert kwargs["set"] == {"base-image.output": "type=cacheonly", "fateflow.output": "type=cacheonly",
                             "fateflow-nn.output": "type=docker"}


PLAIN_LOG = """\
#9 [fateflow internal] load build definition from Dockerfile
#12 [fateflow 2/3] COPY --from=fate-python requirements.txt /x
#12 DONE 0.1s
#13 [client stage-0 2/2] RUN false
#14 [fate-test 2/2] RUN sleep 8
#13 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1
#14 CANCELED
------
 > [client stage-0 2/2] RUN false:
------
ERROR: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1
"""


def test_failure_tracker_names_the_target_whose_step_failed_not_the_canceled_ones():
    tracker = FailureTracker(["fateflow", "client", "fate-test"])
    for line in PLAIN_LOG.splitlines(keepends=True):
        tracker.feed(line)
    assert tracker.failed == ["client"]


@pytest.mark.parametrize("line, target", [
    (' > [nginx 3/4] RUN make:', "nginx"),
    ('ERROR: target "eggroll": failed to solve: x', "eggroll"),
    ("ERROR: failed to solve: x", None),
    (" > [internal] load metadata for docker.io/library/centos:centos7:", None),
])
def test_failure_tracker_reads_error_summaries(line, target):
    tracker = FailureTracker(["nginx", "eggroll"])
    tracker.feed(line)
    assert tracker.failed == ([target] if target else [])


def test_doctor_passes_on_a_capable_engine():
    checks = doctor.engine_checks(GOOD_FACTS, plan_of(**{**ALL_OFF, "Build_Basic": "1", "Platform": "amd64,arm64"}))
    assert doctor.failed(checks) == []


def test_doctor_stops_at_an_unreachable_daemon_with_the_fix():
    checks = doctor.engine_checks(_facts(server_error="Cannot connect to the Docker daemon"), plan_of())
    bad = doctor.failed(checks)
    assert [c.name for c in bad] == ["Docker daemon"]
    assert "start the daemon" in bad[0].fix and "DOCKER_HOST" in bad[0].fix


def test_doctor_without_arm64_on_the_builder_tells_how_to_install_qemu():
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1", "Platform": "amd64,arm64"})
    bad = doctor.failed(doctor.engine_checks(_facts(builder_platforms=("linux/amd64",)), plan))
    assert len(bad) == 1 and "missing linux/arm64" in bad[0].detail
    assert "qemu-user-static" in bad[0].fix and "tonistiigi/binfmt --install arm64" in bad[0].fix


def test_doctor_requires_buildx_with_named_contexts():
    bad = doctor.failed(doctor.engine_checks(_facts(buildx_version="github.com/docker/buildx v0.7.1"), plan_of()))
    assert [c.name for c in bad] == ["buildx"] and "0.8" in bad[0].fix


@pytest.mark.parametrize("settings, load, fails", [
    ({"Platform": "amd64,arm64"}, False, True),
    ({"Platform": "amd64,arm64"}, True, True),
    ({"CACHE": "registry"}, False, True),
    ({"CACHE": "inline"}, False, False),
    ({}, False, False),
])
def test_classic_image_store_fails_only_when_multi_platform_load_or_cache_export_is_needed(settings, load, fails):
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1", **settings})
    bad = doctor.failed(doctor.engine_checks(_facts(containerd_store=False), plan, load=load))
    assert [c.name for c in bad] == (["image store"] if fails else [])
    if fails:
        assert "containerd-snapshotter" in bad[0].fix and "docker-container" in bad[0].fix


def test_multi_platform_push_works_on_the_classic_store():
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1", "Platform": "amd64,arm64"})
    assert doctor.failed(doctor.engine_checks(_facts(containerd_store=False), plan, push=True)) == []


def test_source_checks_find_a_fate_checkout_and_the_dockerfiles(tmp_path, fate_dir):
    for sub in ("python", "fateflow", "eggroll", "fateboard", "examples", "conf", "doc"):
        (fate_dir / sub).mkdir()
    docker = tmp_path / "docker"
    for family in ("base/basic", "fateflow", "fateboard", "eggroll"):
        (docker / family).mkdir(parents=True)
        (docker / family / "Dockerfile").write_text("FROM scratch\n")
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1"}, FATE_DIR=str(fate_dir), DOCKER_DIR=str(docker))
    assert doctor.failed(doctor.source_checks(plan)) == []
    (docker / "eggroll" / "Dockerfile").unlink()
    (fate_dir / "fateboard").rmdir()
    bad = doctor.failed(doctor.source_checks(plan))
    assert [c.name for c in bad] == ["FATE_DIR", "Dockerfiles"]
    assert "no fateboard/" in bad[0].detail and "eggroll/Dockerfile" in bad[1].detail


@pytest.mark.parametrize(("settings", "warns"), [
    ({"Build_Basic": "1", "CACHE": "registry"}, True),
    ({"Build_Basic": "1", "CACHE": "local:/tmp/c"}, True),
    ({"Build_Basic": "1"}, False),
    ({"Build_FUM": "1", "CACHE": "registry"}, False),
])
def test_an_imported_cache_for_several_images_is_a_warning_about_buildkits_shared_step_race(settings, warns):
    plan = plan_of(**{**ALL_OFF, **settings})
    checks = doctor.cache_checks(plan)
    assert doctor.failed(checks) == []
    assert [c.name for c in checks if c.warning and not c.ok] == (["build cache"] if warns else [])
    if warns:
        assert "moby/buildkit#4674" in checks[0].detail


BROKEN_CACHE_LOG = """\
#20 [eggroll 2/3] COPY --from=eggroll-src . /x
#20 ERROR: failed to commit abc during finalize: failed to stat active key during commit: \
snapshot k8s.io/1/abc does not exist: not found
------
 > [eggroll 2/3] COPY --from=eggroll-src . /x:
------
ERROR: failed to solve: failed to compute cache key
"""


def test_a_broken_cache_entry_is_not_blamed_on_the_target():
    tracker = FailureTracker(["eggroll"])
    for line in BROKEN_CACHE_LOG.splitlines():
        tracker.feed(line)
    assert tracker.failed == [] and tracker.broken == ["eggroll"]


def test_a_push_failure_is_the_target_failing():
    tracker = FailureTracker(["c"])
    tracker.feed("#12 [c] exporting to image")
    tracker.feed("#12 ERROR: failed to push 127.0.0.1:5000/c:1: connection refused")
    assert tracker.failed == ["c"] and tracker.broken == []


def test_a_daemon_that_goes_away_is_reported_as_such_not_as_failed_targets():
    tracker = FailureTracker(["fateflow"])
    tracker.feed("#7 [fateflow 2/3] RUN make")
    tracker.feed("#7 ERROR: rpc error: code = Unavailable desc = error reading from server: EOF")
    tracker.feed("ERROR: Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
    assert tracker.engine_lost is not None and "Unavailable" in tracker.engine_lost
