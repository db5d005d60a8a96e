"""The preflight's facts and the bake's process, without an engine; and how `run_bake` overlaps them.

tests/data/engine holds what the CLIs answered on this project's engines: `docker info
--format '{{json .}}'` of each Docker generation and `docker buildx inspect` of each
buildx generation (0.13.1 and 0.29.1).
"""

from __future__ import annotations

import io
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from python_on_whales import DockerClient

from generator import build
from generator.engine import Bake, BuilderNode, Engine, EngineError, EngineFacts, parse_info, parse_inspect

from .conftest import plan_of

DATA = Path(__file__).parent / "data"
INFO = {"26.1": "docker-26.1.5-info.json", "28.5": "docker-28.5.2-info.json"}
BUILDX = {"0.13": ("buildx-0.13.1-inspect.txt", "0.13.1"), "0.29": ("buildx-0.29.1-inspect.txt", "0.29.1")}


@pytest.mark.parametrize("docker", sorted(INFO))
def test_docker_info_gives_the_server_buildx_and_image_store(docker):
    info = parse_info((DATA / "engine" / INFO[docker]).read_text(encoding="utf-8"))
    assert info["server_version"].startswith(docker)
    assert info["buildx_version"]  # the CLI lists buildx among its plugins
    assert info["containerd_store"] is True  # provision-engine.sh runs dockerd with the containerd snapshotter
    assert info["native_platform"] == "linux/amd64"


def test_an_answer_that_is_not_json_gives_no_facts():
    assert parse_info("Cannot connect to the Docker daemon") == {}


@pytest.mark.parametrize("buildx", sorted(BUILDX))
def test_buildx_inspect_gives_the_builder_name_driver_and_node_platforms(buildx):
    builder = parse_inspect((DATA / "engine" / BUILDX[buildx][0]).read_text(encoding="utf-8"))
    assert builder["name"] == "default" and builder["driver"] == "docker"
    assert {"linux/amd64", "linux/arm64"} <= set(builder["platforms"])
    # labels and GC policies (indented, or after `Nodes:`) are not taken for the builder's own keys
    assert all(p.startswith("linux/") for p in builder["platforms"])


@pytest.mark.parametrize("buildx", sorted(BUILDX))
def test_the_default_builder_has_one_node_with_the_builders_platforms(buildx):
    builder = parse_inspect((DATA / "engine" / BUILDX[buildx][0]).read_text(encoding="utf-8"))
    assert builder["nodes"] == (BuilderNode("default", "running", builder["platforms"]),)


def test_each_appended_node_keeps_its_own_platforms_and_a_stopped_one_its_status():
    # What `docker buildx create --append` makes: the 0.29.1 answer with two more node blocks after the first
    # (this machine has no second node to ask; the blocks are the same `Key: value` lines every node prints).
    text = (DATA / "engine" / BUILDX["0.29"][0]).read_text(encoding="utf-8") + (
        "\nName:             arm-host\nEndpoint:         ssh://arm-host\nStatus:           running\n"
        "BuildKit version: v0.25.1\nPlatforms:        linux/arm64, linux/arm/v7\nLabels:\n"
        " org.mobyproject.buildkit.worker.executor: oci\n"
        "\nName:             spare\nEndpoint:         ssh://spare\nStatus:           inactive\nPlatforms:\n")
    builder = parse_inspect(text)
    first, arm, spare = builder["nodes"]
    assert (first.name, arm.name, spare.name) == ("default", "arm-host", "spare")
    assert "linux/amd64" in first.platforms and "linux/arm/v7" not in first.platforms
    assert arm == BuilderNode("arm-host", "running", ("linux/arm64", "linux/arm/v7"))
    assert spare == BuilderNode("spare", "inactive", ())
    assert builder["platforms"] == first.platforms + arm.platforms
    assert builder["name"] == "default"  # a node's Name: is not the builder's


def _fake_docker(tmp_path, answer: str) -> Engine:
    """An engine whose docker CLI prints `answer` and records its arguments."""
    script = tmp_path / "docker"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\nprintf '%s' '{answer}'\n")
    script.chmod(0o755)
    return Engine(DockerClient(client_call=[str(script)]))


def test_the_digest_of_a_tag_is_what_imagetools_says_its_manifest_is(tmp_path):
    engine = _fake_docker(tmp_path, '{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:ab"}')
    assert engine.digest("reg/fate/fateflow:t") == "sha256:ab"
    asked = (tmp_path / "args").read_text().strip()
    assert asked == "buildx imagetools inspect reg/fate/fateflow:t --format {{json .Manifest}}"
    with pytest.raises(EngineError, match="cannot read the digest of reg/fate/fateflow:t"):
        _fake_docker(tmp_path, "not json").digest("reg/fate/fateflow:t")


def test_the_default_engine_starts_commands_as_python_on_whales_default_client_does():
    assert Engine().prefix() == [str(p) for p in DockerClient().client_config.docker_cmd]


def test_a_given_client_keeps_its_own_prefix():
    engine = Engine(DockerClient(client_call=["true"], host="unix:///run/other.sock"))
    assert engine.prefix()[1:] == ["--host", "unix:///run/other.sock"]


# --- the bake process ------------------------------------------------------------------


def test_a_bake_process_streams_its_lines_then_fails_with_its_last_line_and_status():
    bake = Bake([sys.executable, "-c", "import sys; print('#1 one'); print('ERROR: broken', file=sys.stderr); "
                                       "sys.exit(3)"], {})
    lines = []
    with pytest.raises(EngineError) as failed:
        for line in bake.lines():
            lines.append(line)
    assert lines == ["#1 one\n", "ERROR: broken\n"]
    assert str(failed.value) == "bake failed: ERROR: broken" and failed.value.return_code == 3


def test_a_bake_gets_its_variables_in_the_environment():
    bake = Bake([sys.executable, "-c", "import os; print(os.environ['TAG'])"], {"TAG": "v9"})
    assert list(bake.lines()) == ["v9\n"]


def test_stopping_a_bake_ends_its_process():
    bake = Bake([sys.executable, "-c", "import time; time.sleep(60)"], {})
    start = time.monotonic()
    bake.stop()
    assert time.monotonic() - start < 10
    assert bake.exited


# --- run_bake: preflight beside the first bake -----------------------------------------

GOOD = EngineFacts(cli="/usr/bin/docker", server_version="28.5.2", server_error=None,
                   buildx_version="github.com/docker/buildx 0.29.1", builder_name="default", builder_driver="docker",
                   builder_platforms=("linux/amd64", "linux/arm64"), builder_error=None, containerd_store=True)
PROGRESS = (DATA / "progress" / "0.29-warm.log").read_text(encoding="utf-8").splitlines(keepends=True)


class Query:
    """The facts as docker.FactsQuery hands them out: `docker info`'s first, the builder's with the rest."""

    def __init__(self, facts: EngineFacts):
        self.facts = facts
        self.builder_asked = False

    def daemon(self) -> EngineFacts:
        return replace(self.facts, builder_name=None, builder_driver=None, builder_platforms=(), builder_error=None,
                       builder_checked=False)

    def result(self) -> EngineFacts:
        self.builder_asked = True
        return self.facts


class RecordedBake:
    def __init__(self, engine: FakeEngine, fails: bool = False):
        self.engine = engine
        self.stopped = False
        self.fails = fails

    def lines(self):
        self.engine.events.append("read")
        if self.fails:
            yield 'ERROR: no builder "gone" found\n'
            raise EngineError('bake failed: ERROR: no builder "gone" found', 1)
        yield from PROGRESS

    def stop(self) -> None:
        self.stopped = True


class FakeEngine:
    """docker.Engine's bake side, recording the order of calls; its bake replays a recorded stream."""

    def __init__(self, fails: bool = False):
        self.events: list[str] = []
        self.bakes: list[RecordedBake] = []
        self.fails = fails

    def start_bake(self, bake_file, targets, variables, **options):
        self.events.append("start")
        self.bakes.append(RecordedBake(self, self.fails))
        return self.bakes[-1]


def _bake(facts: EngineFacts, tmp_path, *, fails: bool = False, query: Query | None = None, **settings):
    engine = FakeEngine(fails)
    said: list[str] = []
    stream = io.StringIO()
    error = None
    plan = plan_of(**settings)
    try:
        build.run_bake(engine, plan, tmp_path / "docker-bake.hcl", build.BakeRequest((), plan.config.bake_options),
                       out=said.append, stream=stream, facts=query or Query(facts))
    except build.PreflightFailed as exc:
        error = str(exc)
    return engine, said, stream.getvalue(), error


def test_bake_starts_on_docker_infos_answer_and_its_output_is_shown_after_the_checks_pass(tmp_path, basic_sources):
    engine, said, shown, error = _bake(GOOD, tmp_path, **basic_sources, Platform="amd64")
    assert error is None and engine.events == ["start", "read"]
    assert PROGRESS[2] in shown  # BuildKit's log, echoed (not a terminal)


def test_a_failed_builder_check_stops_the_started_bake_and_shows_only_the_check(tmp_path, basic_sources):
    engine, said, shown, error = _bake(replace(GOOD, builder_platforms=("linux/amd64",)), tmp_path, **basic_sources,
                                       Platform="amd64,arm64")
    assert engine.events == ["start"] and engine.bakes[0].stopped
    assert error == "1 preflight check(s) failed; fix them or run `fate-builder doctor`"
    assert said[0] == "[FAIL] builder default (docker) platforms: supports linux/amd64; missing linux/arm64"
    assert said[1].strip().startswith("fix: install QEMU binfmt handlers")
    assert shown == ""


def test_a_missing_builder_is_the_builder_check_not_bakes_error(tmp_path, basic_sources):
    missing = replace(GOOD, builder_name=None, builder_driver=None, builder_platforms=(),
                      builder_error='ERROR: no builder "ci" found')
    engine, said, shown, error = _bake(missing, tmp_path, **basic_sources, Platform="amd64")
    assert engine.bakes[0].stopped and shown == ""
    assert said[0] == '[FAIL] builder: ERROR: no builder "ci" found'


def test_an_unreachable_daemon_starts_no_bake(tmp_path, basic_sources):
    down = replace(GOOD, server_version=None, server_error="Cannot connect to the Docker daemon", buildx_version=None)
    engine, said, shown, error = _bake(down, tmp_path, **basic_sources, Platform="amd64")
    assert engine.events == [] and error is not None
    assert said[0] == "[FAIL] Docker daemon: not reachable: Cannot connect to the Docker daemon"


NATIVE = replace(GOOD, native_platform="linux/amd64")


def test_the_daemons_own_platform_on_the_default_builder_bakes_without_asking_the_builder(tmp_path, basic_sources):
    query = Query(NATIVE)
    engine, said, shown, error = _bake(NATIVE, tmp_path, query=query, **basic_sources, Platform="amd64")
    assert error is None and engine.events == ["start", "read"] and not query.builder_asked
    assert PROGRESS[2] in shown


@pytest.mark.parametrize("settings", [{"Platform": "arm64"}, {"Platform": "amd64,arm64"},
                                      {"Platform": "amd64", "Docker_Options": "--builder ci"},
                                      {"Platform": "amd64", "CACHE": "registry"}],
                         ids=["foreign platform", "two platforms", "named builder", "cache export"])
def test_the_builder_is_asked_before_bake_otherwise(tmp_path, basic_sources, settings):
    query = Query(NATIVE)
    engine, said, shown, error = _bake(NATIVE, tmp_path, query=query, **{**basic_sources, **settings})
    assert query.builder_asked and error is None


def test_a_bake_that_fails_without_the_builders_checks_gets_them_with_the_same_lines(tmp_path, basic_sources):
    gone = replace(NATIVE, builder_name=None, builder_driver=None, builder_platforms=(),
                   builder_error='ERROR: no builder "gone" found')
    engine, said, shown, error = _bake(gone, tmp_path, fails=True, **basic_sources, Platform="amd64")
    assert error == "1 preflight check(s) failed; fix them or run `fate-builder doctor`"
    assert '[FAIL] builder: ERROR: no builder "gone" found' in shown.splitlines()
