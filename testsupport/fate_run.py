"""FATE 2.x images run as KubeFATE v2.0.0's Docker Compose deployment runs them, in standalone mode.

The run contract is read from the deployment's own files (tests/data/deploy/kubefate-v2.0.0, copied
from shared/fate/deploy), not restated here: fateflow's command, environment, named volumes, fixed
address on the compose network's subnet and health probe; the client's `pipeline init` and
`flow init`. What differs from that deployment, and why:

* service_conf.yaml is KubeFATE's own with the standalone engines and sqlite: no MySQL, eggroll
  or OSX image is built here, and FATE's standalone mode is the one a single machine runs;
* the client is the fate-test image (it carries fate_client and fate_test; the client image,
  a Jupyter notebook on top, is not among the images built for real);
* the network is `--internal`: nothing the job needs may come from outside the images.

Plain Python (no pytest): `Deployment` is a context manager that removes what it made.
"""

from __future__ import annotations

import io
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from .constants import ROOT

KUBEFATE = ROOT / "tests" / "data" / "deploy" / "kubefate-v2.0.0"
COMPOSE = KUBEFATE / "docker-compose-eggroll.yml"
FLOW_PORT = 9380


@lru_cache(maxsize=1)
def compose() -> dict[str, Any]:
    """The compose file, read once (the wait loop asks for its health probe every few seconds); not to be changed."""
    loaded: dict[str, Any] = YAML(typ="safe").load(COMPOSE.read_text())
    return loaded


def _unescape(text: str) -> str:
    """Compose writes a literal `$` as `$$`."""
    return text.replace("$$", "$")


def standalone_conf() -> str:
    """KubeFATE's service_conf.yaml with FATE's standalone engines and sqlite, all else as shipped."""
    yaml = YAML()
    conf = yaml.load((KUBEFATE / "service_conf.yaml").read_text())
    conf["database"]["engine"] = "sqlite"
    conf["default_engines"] = {"computing": "standalone", "federation": "standalone", "storage": "standalone"}
    out = io.StringIO()
    yaml.dump(conf, out)
    return out.getvalue()


def client_init() -> list[str]:
    """The client's own init commands (its command up to the notebook it then starts)."""
    service = compose()["services"]["client"]
    env = service["environment"]
    steps = [s.strip() for s in _unescape(service["command"][-1]).split("&&")]
    inits = [s for s in steps if s.startswith(("pipeline init", "flow init"))]
    assert len(inits) == 2, steps
    return [s.replace("${FATE_FLOW_IP}", env["FATE_FLOW_IP"]).replace("${FATE_FLOW_PORT}", str(env["FATE_FLOW_PORT"]))
            for s in inits]


def docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} ...: {done.stderr.strip()[-1500:]}")
    return done


@dataclass
class Deployment:
    """fateflow and a client container on the compose network, as the compose file says."""

    fateflow_image: str
    client_image: str
    work: Path
    name: str = field(default_factory=lambda: f"fbrun-{secrets.token_hex(3)}")
    made: list[tuple[str, str]] = field(default_factory=list)

    def __enter__(self) -> Deployment:
        try:
            self._network()
            self._fateflow()
            self._client()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for kind, name in reversed(self.made):
            docker(kind, "rm", *(["-f"] if kind == "container" else []), name, check=False)
        self.made.clear()

    def _network(self) -> None:
        subnet = compose()["networks"]["fate-network"]["ipam"]["config"][0]["subnet"]
        docker("network", "create", "--internal", "--subnet", subnet, self.name)
        self.made.append(("network", self.name))

    def _volumes(self, service: dict[str, Any]) -> list[str]:
        """Named volumes stay named (Docker fills them from the image, as Compose does); host files are ours."""
        conf = self.work / "service_conf.yaml"
        conf.write_text(standalone_conf())
        flags = []
        for volume in service["volumes"]:
            source, target = volume.split(":")[:2]
            if source == "./confs/fate_flow/conf/service_conf.yaml":
                flags += ["-v", f"{conf}:{target}:ro"]
            elif not source.startswith(("/", ".")):
                docker("volume", "create", f"{self.name}-{source}")
                self.made.append(("volume", f"{self.name}-{source}"))
                flags += ["-v", f"{self.name}-{source}:{target}"]
            elif source.startswith("./shared_dir/"):
                local = self.work / source
                local.mkdir(parents=True, exist_ok=True)
                flags += ["-v", f"{local}:{target}"]
            # The rest (eggroll's and the queues' confs, the host's localtime) serve engines standalone has not.
        return flags

    def _fateflow(self) -> None:
        service = compose()["services"]["fateflow"]
        ip = service["networks"]["fate-network"]["ipv4_address"]
        env = [f"--env={k}={v}" for k, v in service["environment"].items()]
        docker("run", "-d", "--name", f"{self.name}-fateflow", "--network", self.name, "--ip", ip,
               "--network-alias", "fateflow", *env, *self._volumes(service),
               self.fateflow_image, *[_unescape(part) for part in service["command"]])
        self.made.append(("container", f"{self.name}-fateflow"))

    def _client(self) -> None:
        docker("run", "-d", "--name", f"{self.name}-client", "--network", self.name,
               self.client_image, "sleep", "infinity")
        self.made.append(("container", f"{self.name}-client"))

    def health_probe(self) -> list[str]:
        """The compose healthcheck's command, as the client container runs it."""
        test = compose()["services"]["fateflow"]["healthcheck"]["test"]
        assert test[0] == "CMD", test
        return [word for part in test[1:] for word in part.split()]

    def wait_healthy(self, timeout: float = 300) -> float:
        start = time.monotonic()
        while True:
            if self.client("curl", "-sf", *self.health_probe()[1:], check=False).returncode == 0:
                return time.monotonic() - start
            running = docker("inspect", "-f", "{{.State.Running}}", f"{self.name}-fateflow").stdout.strip()
            if running != "true" or time.monotonic() - start > timeout:
                raise AssertionError(f"fateflow never answered its health probe (running: {running}):\n"
                                     + self.fateflow_log())
            time.sleep(3)

    def client(self, *command: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return docker("exec", "-w", "/data/projects/fate", f"{self.name}-client", *command,
                      check=check, timeout=timeout)

    def shell(self, script: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return self.client("bash", "-c", script, check=False, timeout=timeout)

    def fateflow_log(self) -> str:
        done = docker("logs", "--tail", "80", f"{self.name}-fateflow", check=False)
        return (done.stdout + done.stderr)[-6000:]


def fate_test_config(shipped: str, base: str = "/data/projects/fate") -> str:
    """fate_test's own config file, pointed at the deployment: FATE's base in the image, flow by its compose name."""
    yaml = YAML()
    conf = yaml.load(shipped)
    conf["data_base_dir"] = base
    conf["fate_base"] = f"{base}/fate"
    for service in conf["services"]:
        for flow in service["flow_services"]:
            flow["address"] = f"{compose()['services']['client']['environment']['FATE_FLOW_IP']}:{FLOW_PORT}"
    out = io.StringIO()
    yaml.dump(conf, out)
    return out.getvalue()
