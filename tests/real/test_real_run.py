"""The real fateflow image run as KubeFATE v2.0.0's compose runs it, and real FATE jobs run in it.

fateflow starts with the compose file's command, environment, volumes, address and health probe,
in standalone mode (testsupport.fate_run says what differs from that deployment, and why). From
a second container, the fate-test image, on an `--internal` network: the client's own init, then
fate_client's toy job to `success` with its model and data read back, then fate_test running
FATE's PSI suite (examples/pipeline/psi: uploads the shipped breast_hetero data, runs the jobs).
The images are the ones test_real_build bakes (a warm bake when it ran first).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from testsupport.fate_run import FLOW_PORT, Deployment, client_init

from .conftest import REGISTRY, bake, real_tree

pytestmark = pytest.mark.real

GUEST, HOST = "9999", "10000"


def _fate_test_config(host: str) -> str:
    """fate_test's own config file, pointed at the deployment (the shipped one names 127.0.0.1)."""
    return json.dumps({
        "data_base_dir": "/data/projects/fate", "fate_base": "/data/projects/fate/fate",
        "cache_directory": "examples/cache/", "clean_data": True,
        "parties": {"guest": [GUEST], "host": [HOST, GUEST], "arbiter": [HOST]},
        "services": [{"flow_services": [{"address": f"{host}:{FLOW_PORT}", "parties": [GUEST, HOST]}]}],
    })


def _output(run: Deployment, what: str, job: str, task: str) -> dict[str, object]:
    done = run.client("flow", "output", what, "-j", job, "-r", "guest", "-p", GUEST, "-tn", task)
    found: dict[str, object] = json.loads(done.stdout)
    return found


@pytest.mark.parametrize("tag", ["v2.1.1"])
def test_fateflow_runs_as_kubefate_runs_it_and_the_toy_job_and_the_psi_suite_succeed(python_images: None,
                                                                                     tmp_path: Path, tag: str) -> None:
    fate_dir, _ = real_tree(tag, tmp_path)
    version = tag[1:]
    built = bake(tmp_path, fate_dir, ["fateflow", "fate-test"], f"{version}-real")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    fateflow, fate_test = (f"{REGISTRY}/fbreal/{name}:{version}-real" for name in ("fateflow", "fate-test"))
    with Deployment(fateflow, fate_test, tmp_path) as run:
        run.wait_healthy()
        for init in client_init():
            assert run.shell(init).returncode == 0, init
        toy = run.shell(f"flow test toy -gid {GUEST} -hid {HOST} --timeout 600", timeout=900)
        finished = re.findall(r"toy test job (\S+) is (\w+)", toy.stdout)
        assert finished and finished[-1][1] == "success", toy.stdout[-3000:] + run.fateflow_log()
        job = finished[-1][0]
        model = _output(run, "query-model", job, "toy_example_0")
        assert "guest" in json.dumps(model), model
        data = _output(run, "display-data", job, "toy_example_0")
        assert data.get("code") == 0 and data.get("data"), data

        run.client("bash", "-c", f"cat > /tmp/fate_test_config.yaml <<'EOF'\n{_fate_test_config('fateflow')}\nEOF")
        suite = run.shell("fate_test suite -c /tmp/fate_test_config.yaml -i examples/pipeline/psi/ --yes",
                          timeout=1800)
        assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
        assert re.search(r"\bsuccess\b", suite.stdout), suite.stdout[-4000:]
        assert not re.search(r"\bfailed\b", suite.stdout), suite.stdout[-4000:]
