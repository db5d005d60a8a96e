"""The pure side of building: option mapping, target expansion, preflight verdicts (failures: test_progress)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from python_on_whales import DockerClient

from generator import build, doctor
from generator.build import bake_arguments, bake_call, resolve_targets
from generator.config import BakeOptions, parse_docker_options
from generator.engine import BuilderNode, Engine, EngineError, EngineFacts
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


def test_doctor_passes_on_a_capable_engine():
    checks = doctor.engine_checks(GOOD_FACTS, plan_of(**{**ALL_OFF, "Build_Basic": "1", "Platform": "amd64,arm64"}))
    assert doctor.failed(checks) == []


def test_doctor_lists_each_node_of_the_builder_with_its_platforms():
    nodes = (BuilderNode("default", "running", ("linux/amd64", "linux/amd64/v2")),
             BuilderNode("arm-host", "running", ("linux/arm64",)), BuilderNode("spare", "inactive", ()))
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1", "Platform": "amd64,arm64"})
    facts = _facts(builder_name="multi", builder_driver="docker-container",
                   builder_platforms=("linux/amd64", "linux/amd64/v2", "linux/arm64"), builder_nodes=nodes)
    lines = [line for check in doctor.engine_checks(facts, plan) for line in check.lines()]
    assert [line for line in lines if " node " in line] == [
        "[  ok] builder multi node default: linux/amd64, linux/amd64/v2",
        "[  ok] builder multi node arm-host: linux/arm64",
        "[  ok] builder multi node spare: no platforms reported (inactive)",
    ]
    assert doctor.failed(doctor.engine_checks(facts, plan)) == []  # the nodes together have both platforms


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


def test_source_checks_find_a_fate_checkout_and_the_dockerfiles(basic_sources, fate_dir):
    docker = Path(basic_sources["DOCKER_DIR"])
    plan = plan_of(**basic_sources)
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
def test_an_imported_cache_for_several_images_is_pipelined_and_doctor_says_so_with_the_plain_bake_waves(
        settings, warns):
    plan = plan_of(**{**ALL_OFF, **settings})
    checks = doctor.cache_checks(plan, _facts(), plan.config.bake_options)
    assert doctor.failed(checks) == [] and not [c for c in checks if c.warning]
    assert [c.name for c in checks] == (["build cache"] if warns else [])
    if warns:
        assert "as soon as its parent is built" in checks[0].detail and "wave-1 to wave-" in checks[0].detail


def test_a_builder_that_cannot_see_the_image_store_without_push_is_a_warning_about_steps_run_again():
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1", "CACHE": "registry"})
    facts = _facts(builder_driver="docker-container")
    warned = [c for c in doctor.cache_checks(plan, facts, BakeOptions()) if c.warning]
    assert len(warned) == 1 and "moby/buildkit#4674" in warned[0].detail and "--push" in warned[0].fix
    assert not [c for c in doctor.cache_checks(plan, facts, BakeOptions(push=True)) if c.warning]


# --- entitlements and the bake command ----------------------------------------------------


def _entitlement(buildx_version: str, cwd: str, **settings) -> doctor.Check:
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1"}, **settings)
    checks = doctor.all_checks(_facts(buildx_version=buildx_version), plan, plan.config.bake_options, cwd=cwd)
    found = [c for c in checks if c.name == "entitlements"]
    assert len(found) == 1, [c.name for c in checks]
    return found[0]


def test_doctor_gives_the_plain_bake_grant_for_a_fate_dir_outside_the_working_directory(tmp_path, fate_dir):
    docker = tmp_path / "work" / "docker"
    docker.mkdir(parents=True)
    check = _entitlement("github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4", str(tmp_path / "work"),
                         FATE_DIR=str(fate_dir), DOCKER_DIR=str(docker))
    assert check.ok and "buildx 0.29.1 refuses" in check.detail
    assert check.detail.endswith(f"`docker buildx bake --allow fs.read={fate_dir}`")


def test_doctor_says_buildx_0_19_only_warns_and_0_13_has_nothing_to_grant(tmp_path, fate_dir):
    check = _entitlement("github.com/docker/buildx v0.19.3 abc", str(tmp_path / "work"), FATE_DIR=str(fate_dir))
    assert check.ok and "warns about" in check.detail and f"--allow fs.read={fate_dir}" in check.detail
    old = _entitlement("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3", str(tmp_path / "work"),
                       FATE_DIR=str(fate_dir))
    assert old.ok and "buildx 0.13.1 does not check" in old.detail and "--allow" not in old.detail


def test_doctor_needs_no_grant_when_everything_is_under_the_working_directory(tmp_path, fate_dir):
    check = _entitlement("github.com/docker/buildx 0.29.1", str(tmp_path), FATE_DIR=str(fate_dir),
                         DOCKER_DIR=str(tmp_path / "docker"))
    assert check.ok and "nothing to grant" in check.detail


def test_bake_command_adds_allow_after_bake_on_the_clients_own_prefix(tmp_path):
    # `true` stands in for the docker CLI: the command is only built here, never run.
    engine = Engine(DockerClient(client_call=["true"], host="unix:///run/other.sock"))
    command = engine.bake_command(tmp_path / "docker-bake.hcl", ["fateflow"], progress="plain", cache=False,
                                   set={"base-image.output": "type=cacheonly"}, allow=("fs.read=/srv/FATE",))
    assert [str(c) for c in command[1:]] == [
        "--host", "unix:///run/other.sock", "buildx", "bake", "--no-cache", "--progress", "plain",
        "--file", str(tmp_path / "docker-bake.hcl"), "--set", "base-image.output=type=cacheonly",
        "--allow", "fs.read=/srv/FATE", "fateflow",
    ]


def test_no_docker_cli_is_an_engine_error_not_a_python_on_whales_exception(tmp_path):
    engine = Engine(DockerClient(client_call=["no-such-docker-cli"]))
    for call in (lambda: engine.image_exists("a:1"), lambda: engine.push("a:1"), lambda: engine.load(tmp_path),
                 lambda: list(engine.save(["a:1"])), lambda: engine.start_bake(tmp_path, ["a"], {}),
                 lambda: engine.bake_print(tmp_path, ["a"], {})):
        with pytest.raises(EngineError, match="no docker CLI on PATH"):
            call()


@pytest.mark.parametrize(("message", "transient"), [
    ("cannot push r/a:1: unexpected status from HEAD request to http://r/v2/a/manifests/1: 500 Internal Server Error",
     True),
    ("cannot push r/a:1: received unexpected HTTP status: 503 Service Unavailable", True),
    ("cannot push r/a:1: unauthorized: authentication required", False),
    ("cannot push r/a:1: unexpected status from PUT request to http://r/v2/a/manifests/1: 413 Request Entity Too Large",
     False),
])
def test_only_a_registry_server_error_is_worth_another_push(message, transient):
    assert build.registry_server_error(message) is transient


class _Pushes:
    """An engine whose pushes fail with the given messages first, then succeed."""

    def __init__(self, *failures: str):
        self.failures = list(failures)
        self.pushed: list[str] = []

    def image_exists(self, reference: str) -> bool:
        return True

    def push(self, reference: str) -> None:
        if self.failures:
            raise EngineError(self.failures.pop(0), 1)
        self.pushed.append(reference)


def test_a_push_is_tried_again_after_a_registry_server_error_and_said_so():
    engine = _Pushes("cannot push x: unexpected status from HEAD request to http://r: 500 Internal Server Error")
    said: list[str] = []
    plan = plan_of(**{**ALL_OFF, "Build_FUM": "1"})
    build.push(engine, plan, said.append, sleep=lambda s: None)  # type: ignore[arg-type]
    assert engine.pushed == build.tagged_references(plan)
    assert any("server error; pushing again (2/3)" in line for line in said)


def test_a_refused_push_or_a_lasting_server_error_fails_with_the_registrys_words():
    plan = plan_of(**{**ALL_OFF, "Build_FUM": "1"})
    with pytest.raises(EngineError, match="unauthorized"):
        build.push(_Pushes("cannot push x: unauthorized"), plan, lambda s: None,  # type: ignore[arg-type]
                   sleep=lambda s: None)
    lasting = _Pushes(*["cannot push x: 500 Internal Server Error"] * 3)
    with pytest.raises(EngineError, match="500"):
        build.push(lasting, plan, lambda s: None, sleep=lambda s: None)  # type: ignore[arg-type]


def test_the_compose_warnings_of_a_personal_env_are_exactly_those_of_the_variables_it_expands(tmp_path):
    from generator.build import dotenv_warnings

    assert dotenv_warnings(tmp_path / ".env") == frozenset()
    (tmp_path / ".env").write_text("FATE_DIR=/x\nTAG=${version}-release\nBASE_TAG=${TAG}\n", encoding="utf-8")
    assert dotenv_warnings(tmp_path / ".env") == {
        'WARNING: The "version" variable is not set. Defaulting to a blank string.',
        'WARNING: The "TAG" variable is not set. Defaulting to a blank string.',
    }


# --- the run of bakes: each image once its parent's bake has finished, on its image ---------------


class _Query:
    def __init__(self, facts: EngineFacts):
        self.facts = facts

    def daemon(self) -> EngineFacts:
        return self.facts

    def result(self) -> EngineFacts:
        return self.facts


class _Bake:
    """A bake that writes bake's metadata for its targets (a digest each) and fails when one of them is `failing`."""

    def __init__(self, targets, options, failing):
        self.targets, self.options, self.failing = targets, options, failing

    def lines(self):
        broken = [t for t in self.targets if t in self.failing]
        if broken:
            yield f"#1 [{broken[0]} 1/1] RUN false\n"
            yield "#1 ERROR: process did not complete successfully: exit code: 1\n"
            raise EngineError("bake failed: exit status 1", 1)
        Path(self.options["metadata_file"]).write_text(
            json.dumps({t: {"containerimage.digest": f"sha256:{t}"} for t in self.targets}), encoding="utf-8")
        for number, name in enumerate(self.targets, 1):
            yield f"#{number} [{name} 1/1] RUN true\n"
            yield f"#{number} DONE 0.1s\n"

    def stop(self) -> None:
        pass


class _Engine:
    def __init__(self, failing=()):
        self.calls: list[tuple[list[str], dict]] = []
        self.failing = set(failing)

    def start_bake(self, bake_file, targets, variables, **options):
        self.calls.append((list(targets), options))
        return _Bake(list(targets), options, self.failing)

    def image_exists(self, reference: str) -> bool:
        return True


def _run(tmp_path, engine, sources):
    plan = plan_of(**{**sources, "CACHE": "registry"})
    query = _Query(_facts(server_version="28.5.2", native_platform="linux/amd64"))
    error = None
    try:
        build.run_bake(engine, plan, tmp_path / "docker-bake.hcl", build.BakeRequest((), plan.config.bake_options),
                       out=lambda s: None, stream=io.StringIO(), facts=query)  # type: ignore[arg-type]
    except build.BuildFailed as exc:
        error = str(exc)
    return plan, error


def test_each_image_is_baked_after_its_parents_bake_on_the_parents_image_pinned_by_digest(
        tmp_path, monkeypatch, basic_sources):
    monkeypatch.chdir(tmp_path)
    engine = _Engine()
    plan, error = _run(tmp_path, engine, basic_sources)
    assert error is None
    started: list[str] = []
    by_name = {p.name: p for p in plan.images}
    for targets, options in engine.calls:
        for name in targets:
            parent = by_name[name].image.parent
            if parent is not None:
                assert parent in started, f"{name} baked before its parent {parent}"
                key = f"{name}.contexts.{by_name[name].parent_context_key}"
                assert options["set"][key] == f"docker-image://{by_name[name].parent_reference}@sha256:{parent}"
        started += targets
    assert sorted(started) == sorted(p.name for p in plan.images)
    assert len(engine.calls) > 2


def test_a_failed_image_stops_only_its_descendants_the_other_bakes_go_on(tmp_path, monkeypatch, basic_sources):
    monkeypatch.chdir(tmp_path)
    engine = _Engine(failing={"base-image"})
    plan, error = _run(tmp_path, engine, basic_sources)
    baked = {n for targets, _ in engine.calls for n in targets}
    assert error == "bake failed: target(s) base-image failed (not built, their parent failed: eggroll, fateflow)"
    assert baked == {"base-image", "fateboard"}
