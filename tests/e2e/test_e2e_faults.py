"""End to end: what fate-builder does when the engine or a build step fails.

The shared daemon is never stopped: an unreachable daemon is a DOCKER_HOST pointing at a
dead unix socket, for the fate-builder process only.
"""

from __future__ import annotations

import socket

import pytest

pytest.register_assert_rewrite("tests.e2e.engine")

from .engine import TAG, image_exists, no_traceback, only  # noqa: E402

pytest_plugins = ["tests.e2e.engine"]
pytestmark = pytest.mark.engine

# Basic and Spark: chains four images deep beside the failing root, so the failure comes
# while the other targets are still building.
SELECTION = [
    "base-image",
    "fateflow",
    "fateboard",
    "eggroll",
    "fateflow-spark",
    "spark-base",
    "spark-master",
    "spark-worker",
    "nginx",
]


@pytest.fixture
def dead_docker_host(tmp_path):
    """A unix socket file nobody listens on: connecting is refused at once."""
    path = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()
    return f"unix://{path}"


@pytest.mark.parametrize("command", [["doctor"], ["bake", "--output", "{tmp}/bake.hcl"]], ids=["doctor", "bake"])
def test_unreachable_daemon_fails_fast_with_the_fix_and_no_traceback(workspace, dead_docker_host, tmp_path, command):
    command = [part.format(tmp=tmp_path) for part in command]
    result = workspace.run(
        *command,
        settings=workspace.settings("dead", **only("Basic")),
        env={"DOCKER_HOST": dead_docker_host},
        timeout=120,
    )
    assert result.returncode == 1, result.explain()
    no_traceback(result)
    assert result.seconds < 30, f"took {result.seconds:.1f}s to notice the daemon is not there"
    # The fix names what is unreachable: the socket (or the DOCKER_HOST setting that points at it).
    assert "dead.sock" in result.output or "DOCKER_HOST" in result.output, result.explain()


@pytest.mark.parametrize("command", [["push"], ["save", "--output-dir", "{tmp}/out"], ["load", "{tmp}/bundle"]],
                         ids=["push", "save", "load"])
def test_push_save_and_load_with_an_unreachable_daemon_say_so_in_one_line(workspace, dead_docker_host, tmp_path,
                                                                          command):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "fate.images.tar.gz").write_bytes(b"not reached")
    command = [part.format(tmp=tmp_path) for part in command]
    result = workspace.run(*command, settings=workspace.settings("dead", **only("Basic")),
                           env={"DOCKER_HOST": dead_docker_host}, timeout=120)
    assert result.returncode == 1, result.explain()
    no_traceback(result)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fate-builder: "), result.explain()
    assert "dead.sock" in lines[0] and "DOCKER_HOST" in lines[0], result.explain()
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == [], "save left files behind"


def test_doctor_passes_on_the_provisioned_engine(workspace):
    result = workspace.run("doctor", settings=workspace.settings("doctor", **only("Basic"), Platform="amd64,arm64"))
    assert result.returncode == 0, result.explain()
    no_traceback(result)


def test_doctor_lists_the_default_builders_one_node_with_the_platforms_buildx_gives_it(workspace):
    from python_on_whales import docker

    nodes = docker.buildx.inspect().nodes  # python-on-whales' reading (`buildx ls`), not fate-builder's
    result = workspace.run("doctor", settings=workspace.settings("nodes", **only("Basic")))
    shown = [line for line in result.output.splitlines() if " node " in line]
    assert shown == [f"[  ok] builder default node {n.name}: {', '.join(n.platforms)}" for n in nodes], result.explain()
    assert len(nodes) == 1 and "linux/amd64" in nodes[0].platforms


def test_failing_run_step_fails_the_bake_naming_that_target_and_the_others_are_built(workspace):
    tree = workspace.tree(fail=("fateboard",))  # `RUN false` in docker/fateboard; a fresh nonce, nothing cached
    settings = workspace.settings("fault", **only("Basic", "Spark"), Docker_Options="--progress=plain")
    result = workspace.run(
        "bake", "--load", "--output", str(workspace.root / "fault.hcl"), settings=settings, docker_dir=tree
    )
    assert result.returncode != 0, result.explain()
    no_traceback(result)
    own_lines = [line for line in result.output.splitlines() if line.startswith("fate-builder")]
    assert any("fateboard" in line for line in own_lines), (
        "no fate-builder line names the failed target\n" + result.explain()
    )
    prefix = settings["PREFIX"]
    assert not image_exists(f"{prefix}/fateboard:{TAG}")
    missing = [name for name in SELECTION if name != "fateboard" and not image_exists(f"{prefix}/{name}:{TAG}")]
    assert missing == [], f"a failure of fateboard cost these images: {missing}\n{result.explain()}"
