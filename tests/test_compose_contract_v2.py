"""The run contract of FATE 2.x images: FATE's own 2.2 docker-compose (tests/data/deploy/fate-v2.2,
read here as a user's compose would be) against what docker/v2's Dockerfiles make.

Each image's own command must be the compose's `command:` (so the image works without one),
from the working directory the compose relies on, with the paths it names landing where
FATE's files are copied. The built images are checked again in tests/test_dockerfile_stages_v2.py.
"""

from __future__ import annotations

import posixpath
import re
import shlex

import pytest
from ruamel.yaml import YAML

from generator import catalog
from generator.dockerfiles import load
from testsupport import fate_paths
from testsupport.constants import DOCKER
from testsupport.fate_reads import Landing

from .conftest import ROOT
from .test_dockerfiles_v2 import CONTEXTS, fate_reads, v2_ancestor_families

COMPOSE = ROOT / "tests" / "data" / "deploy" / "fate-v2.2" / "docker-compose-eggroll.yml"
V2 = catalog.for_line("2.x")
FACTS = V2.facts_for("2.2.0")
# The compose names images by variable: which catalog image each one is.
IMAGE_OF = {"OSX_IMAGE": "osx", "FATEBoard_IMAGE": "fateboard", "EGGRoll_IMAGE": "eggroll",
            "FATEFlow_IMAGE": "fateflow"}


@pytest.fixture(scope="module")
def services() -> dict:
    return dict(YAML(typ="safe").load(COMPOSE.read_text())["services"])


def image_of(service: dict) -> str | None:
    m = re.search(r"\$\{(\w+_IMAGE)\}", service["image"])
    return IMAGE_OF.get(m.group(1)) if m else None


def final_stage(image: str):
    return load(DOCKER / V2.by_name[image].family / "Dockerfile").stages[-1]


def instruction(image: str, name: str) -> list:
    """Every `name` instruction's value up the final stage's chain of stages, in order."""
    df = load(DOCKER / V2.by_name[image].family / "Dockerfile")
    names = {s.name: s for s in df.stages if s.name}
    chain, stage = [], df.stages[-1]
    while True:
        chain.insert(0, stage)
        if stage.base.lower() not in names:
            break
        stage = names[stage.base.lower()]
    return [c.value for s in chain for c in s.instructions if c.op == name]


def own_command(image: str) -> str:
    cmd = instruction(image, "CMD")[-1]
    assert cmd[:2] in (("sh", "-c"), ("bash", "-c"), ("/bin/bash", "-c")), cmd
    return cmd[2].removeprefix("exec ")


def compose_command(service: dict) -> str:
    command = service["command"]
    text = command[2] if isinstance(command, list) else command
    return " ".join(text.replace("$$", "$").split())


def workdir(image: str) -> str:
    return instruction(image, "WORKDIR")[-1][0]


def test_the_compose_runs_only_images_of_the_2x_catalog_and_mysql(services):
    names = {name: image_of(s) for name, s in services.items()}
    assert names.pop("mysql") is None
    assert set(names.values()) == {"osx", "fateboard", "eggroll", "fateflow"}
    assert set(names.values()) <= set(V2.by_name)


def test_osx_runs_the_composes_command_as_its_own(services):
    ours = own_command("osx").replace("${OSX_VERSION}", FACTS.get("OSX_VERSION"))
    assert " ".join(ours.split()) == compose_command(services["osx"])
    assert "org.fedai.osx.broker.Bootstrap" in ours and "com.osx.broker.Bootstrap" not in ours
    # The relative classpath entries (conf/broker/, lib/*, extension/*, pb_lib/v3/*) need this folder.
    assert workdir("osx") == "/data/projects/fate/osx"
    assert "/data/projects/fate/osx/conf/broker/" in services["osx"]["volumes"][0]


def test_fateboard_runs_the_composes_command_with_its_jar_linked(services):
    ours = own_command("fateboard").replace("fateboard.jar", "fateboard-2.1.0.jar")
    assert " ".join(ours.split()) == compose_command(services["fateboard"])
    assert workdir("fateboard") == "/data/projects/fate/fate_board"
    mount = services["fateboard"]["volumes"][0].split(":")[1]
    assert mount == "/data/projects/fate/fate_board/conf"


@pytest.mark.parametrize("service", ["clustermanager", "nodemanager"])
def test_eggroll_has_lib_and_conf_under_eggroll_home_as_the_compose_runs_it(services, service):
    command = compose_command(services[service])
    assert "-cp ${EGGROLL_HOME}/lib/*:" in command and "${EGGROLL_HOME}/conf/log4j2.xml" in command
    env = dict(v for e in instruction("eggroll", "ENV") for v in [tuple(e[:2])])
    assert env["EGGROLL_HOME"] == "/data/projects/fate/eggroll"
    if service == "clustermanager":
        assert " ".join(own_command("eggroll").split()) == command
    else:
        assert env["PYTHONPATH"].split(":") == services[service]["environment"]["PYTHONPATH"].split(":")
    assert instruction("eggroll", "ENTRYPOINT")[-1] == ("/tini", "--")


def _landings(image: str) -> list[Landing]:
    family = V2.by_name[image].family
    inherited: list[Landing] = []
    for ancestor in reversed(v2_ancestor_families(family)):
        inherited += fate_reads(load(DOCKER / ancestor / "Dockerfile"), contexts=CONTEXTS)[1]
    return fate_reads(load(DOCKER / family / "Dockerfile"), tuple(inherited), contexts=CONTEXTS)[1] + inherited


def _fate_path(image: str, path: str) -> str | None:
    for landing in _landings(image):
        found = landing.fate_path(path)
        if found is not None:
            return found
    return None


def test_fateflow_runs_the_server_the_compose_names_from_fates_tree(services):
    script = compose_command(services["fateflow"])
    assert "python fate_flow/python/fate_flow/fate_flow_server.py" in script
    assert workdir("fateflow") == "/data/projects/fate"
    assert own_command("fateflow") == "python fate_flow/python/fate_flow/fate_flow_server.py"
    for path in re.findall(r"\S+\.py", script):
        absolute = posixpath.join("/data/projects/fate", path)
        fate = _fate_path("fateflow", absolute)
        assert fate is not None and fate_paths.exists(fate, "v2.2.0"), path
    # `pipeline init` and `flow init` are fate_client's commands: installed from the copied tree.
    assert "pipeline init" in script and "flow init" in script
    assert any("pip install /data/projects/fate/fate_client/python" in " ".join(c.value)
               for c in final_stage("fateflow").instructions if c.op == "RUN")


@pytest.mark.parametrize("service", ["fateflow", "nodemanager", "clustermanager"])
def test_fates_files_the_compose_mounts_over_exist_in_the_image_from_the_tree(services, service):
    """A config file mounted from the host replaces one the image holds from FATE's tree (folders and
    named volumes may be new: Docker creates them)."""
    image = image_of(services[service])
    checked = 0
    for volume in services[service]["volumes"]:
        source, target = volume.split(":")[:2]
        if not (source.startswith("./") and re.search(r"\.(yaml|properties|json|xml)$", target)):
            continue
        fate = _fate_path(image, target)
        if fate is None:
            continue
        assert fate_paths.matching(fate, "v2.2.0"), f"{service}: {target} ({fate}) is not in FATE v2.2.0"
        checked += 1
    assert checked or service != "fateflow"


def test_the_compose_healthcheck_and_shell_have_their_tools():
    text = (DOCKER / "v2" / "base" / "Dockerfile").read_text()
    install = re.search(r"\$\{apt\} install -y --no-install-recommends ([^\n;]+)", text).group(1)
    assert {"curl", "tini", "procps"} <= set(shlex.split(install))


# ---------------------------------------------------------------------------------------
# KubeFATE v2.0.0's compose files (tests/data/deploy/kubefate-v2.0.0, read from KubeFATE at v2.0.0,
# commit 61190b0f: docker-deploy/training_template) and FATE's 2.2 compose, against the images.

KUBEFATE = ROOT / "tests" / "data" / "deploy" / "kubefate-v2.0.0"


def _compose_services(path) -> dict:
    return dict(YAML(typ="safe").load(path.read_text())["services"])


def _named_installs(image: str) -> set[str]:
    """The requirement names the image's final stages install with a bare `pip install NAME...`."""
    names: set[str] = set()
    for run in instruction(image, "RUN"):
        for args in re.findall(r"\bpip install ([^;&|]+)", " ".join(run)):
            names |= {a for a in args.split() if not a.startswith(("/", "-", ".", "$"))}
    return names


@pytest.mark.parametrize("compose", [COMPOSE, KUBEFATE / "docker-compose-eggroll.yml"], ids=["fate-v2.2", "kubefate"])
def test_fateflows_compose_command_installs_nothing_the_image_lacks(compose):
    """`pip install cryptography && ... fate_flow_server.py` at every start: without the package in
    the image, pip needs PyPI each time and an offline site never starts the server."""
    command = compose_command(_compose_services(compose)["fateflow"])
    wanted = {a for args in re.findall(r"\bpip install ([^;&|]+)", command) for a in args.split()}
    assert wanted == {"cryptography"}
    assert wanted <= _named_installs("fateflow"), _named_installs("fateflow")


def test_fateflow_spark_has_spark_submit_at_kubefates_spark_home_where_the_conf_is_mounted():
    home = YAML(typ="safe").load((KUBEFATE / "service_conf.yaml").read_text())["computing"]["spark"]["home"]
    service = _compose_services(KUBEFATE / "docker-compose-spark.yml")["fateflow"]
    mounts = [v.split(":")[1] for v in service["volumes"] if v.endswith("spark-defaults.conf")]
    assert mounts == [posixpath.join(home, "conf/spark-defaults.conf")]
    df = load(DOCKER / "v2" / "fateflow-spark" / "Dockerfile")
    stage = df.stages[-1]
    args = {c.value[0].split("=", 1)[0]: c.value[0].split("=", 1)[1] for c in stage.instructions
            if c.op == "ARG" and "=" in c.value[0]}
    assert args["SPARK_DEPLOY_HOME"] == home.rstrip("/")
    env = dict(v for e in instruction("fateflow-spark", "ENV") for v in [tuple(e[:2])])
    runs = [" ".join(c.value) for c in stage.instructions if c.op == "RUN"]
    link = [run for run in runs if "SPARK_DEPLOY_HOME" in run]
    assert link and 'ln -s "spark-${SPARK_VERSION}-bin-hadoop3" "${SPARK_DEPLOY_HOME}"' in link[0]
    assert env["SPARK_HOME"] == "/data/projects/spark-${SPARK_VERSION}-bin-hadoop3"
    assert posixpath.dirname(args["SPARK_DEPLOY_HOME"]) == posixpath.dirname(env["SPARK_HOME"])
