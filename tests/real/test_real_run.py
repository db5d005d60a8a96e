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
from typing import Any

import pytest
from ruamel.yaml import YAML

from testsupport.fate_run import Deployment, client_init, docker, fate_test_config

from .conftest import REGISTRY, bake, real_tree

pytestmark = pytest.mark.real

GUEST, HOST = "9999", "10000"
# fate_client's toy job (flow_sdk.api.test.toy_conf): data_num rows, x0 = the row's own id.
TOY_ROWS = 1024
SUITE = "examples/pipeline/psi"  # one testsuite: psi_testsuite.yaml


def _output(run: Deployment, what: str, job: str, task: str) -> dict[str, Any]:
    done = run.client("flow", "output", what, "-j", job, "-r", "guest", "-p", GUEST, "-tn", task)
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _summary(stdout: str) -> dict[str, str]:
    """fate_test's closing table: job name -> status."""
    rows = re.findall(r"^\|\s*([\w-]+)\s*\|\s*\d+: \w+\s*\|\s*(\w+)\s*\|", stdout, re.M)
    return dict(rows)


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
        assert model["data"]["json_model_output"] == {"test_role": "guest"}, model
        data = _output(run, "display-data", job, "toy_example_0")["output_data"][0]
        assert data["total"] == TOY_ROWS, data["total"]
        assert data["data"] and all(float(sample) == x0 for sample, _, x0 in data["data"]), data["data"][:5]

        config = fate_test_config((fate_dir / "fate_test/python/fate_test/fate_test_config.yaml").read_text())
        (tmp_path / "fate_test_config.yaml").write_text(config)
        docker("cp", str(tmp_path / "fate_test_config.yaml"), f"{run.name}-client:/tmp/fate_test_config.yaml")
        suite = run.shell(f"fate_test suite -c /tmp/fate_test_config.yaml -i {SUITE}/ --yes", timeout=1800)
        assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
        jobs = YAML(typ="safe").load((fate_dir / SUITE / "psi_testsuite.yaml").read_text())["tasks"]
        assert _summary(suite.stdout) == {name: "success" for name in jobs}, suite.stdout[-4000:]
