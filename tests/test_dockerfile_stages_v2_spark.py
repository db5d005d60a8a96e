"""FATE 2.x's Spark family built for real on this machine's engine, without any network.

As tests/test_dockerfile_stages_v2.py does for the basic family: external images are the
busybox stand-in, the network stages are replaced through bake named contexts (`jre`, and
`spark-dist` by a folder laid out as Apache's Spark tarball: bin/, sbin/, conf/), pip by the
stand-in that logs the lists it is given. The bake graph (base-image -> fateflow ->
fateflow-spark -> spark-base -> spark-master / spark-worker), every COPY and assembly step,
and install-requirements on FATE v2.2.0's real requirement lists run for real, for amd64
and arm64. The images are exported as OCI layouts and read back.

Marked `engine`: skipped when `docker info` fails, a failure when CI=true.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator import catalog
from generator.config import load_config
from generator.plan import build_plan
from generator.render import render
from testsupport.constants import DOCKER
from testsupport.fate2_checkout import write_fate2_checkout

from .test_dockerfile_stages import write
from .test_dockerfile_stages_v2 import bake_v2, engine, stand_in, tools  # noqa: F401 (fixtures)

pytestmark = pytest.mark.engine

SPARK = catalog.for_line("2.x").facts_for("2.2.0").get("SPARK_VERSION")
SPARK_HOME = f"/data/projects/spark-{SPARK}-bin-hadoop3"
SPARK_FAMILY = ("fateflow-spark", "spark-base", "spark-master", "spark-worker")


def _spark_dist(root: Path) -> Path:
    """What spark-<version>-bin-hadoop3.tgz unpacks to, as far as the images use it."""
    for script in ("bin/spark-submit", "bin/spark-class", "bin/load-spark-env.sh", "sbin/spark-config.sh"):
        write(root / script, f"#!/bin/sh\n# {script} of Spark {SPARK}\n", 0o755)
    write(root / "conf" / "spark-defaults.conf.template", "", 0o644)
    return root


@pytest.fixture(scope="module")
def spark(engine, stand_in, tools, tmp_path_factory):  # noqa: F811
    """FATE v2.2.0's base-image, fateflow and the Spark family for amd64 and arm64, in one bake."""
    root = tmp_path_factory.mktemp("v2-spark")
    fate = write_fate2_checkout(root / "FATE-v2.2.0", "v2.2.0")
    (root / ".env").write_text("TAG=${version}-release\n")
    config = load_config(env_file=root / ".env", environ={}, overrides={
        "FATE_DIR": str(fate), "Platform": "amd64,arm64", "DOCKER_DIR": str(DOCKER),
        "Build_Spark": "1", "Build_NN": "0", "Build_OP": "0"})
    bake_file = root / "docker-bake.hcl"
    bake_file.write_text(render(build_plan(config), bake_file))
    jre = root / "jre-dist"
    write(jre / "opt" / "java" / "openjdk" / "bin" / "java", "#!/bin/sh\n", 0o755)
    out = root / "out"
    out.mkdir()
    images = bake_v2(bake_file, out, {
        "base-image": {"contexts": {"venv": tools["venv"]}},
        "fateflow": {},
        "fateflow-spark": {"contexts": {"jre": str(jre), "spark-dist": str(_spark_dist(root / "spark-dist"))}},
        "spark-base": {}, "spark-master": {}, "spark-worker": {},
    }, stand_in)
    return images, fate


def test_the_2x_spark_family_builds_for_amd64_and_arm64_offline(spark):
    images, _ = spark
    for name in SPARK_FAMILY:
        assert sorted(images[name]) == ["amd64", "arm64"], name


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_fateflow_spark_installs_fates_spark_lists_with_pyspark_pinned_to_its_spark(spark, arch):
    images, fate = spark
    log = images["fateflow-spark"][arch].text("/var/log/fake-pip.log")
    # The last install-requirements call is fateflow-spark's (fateflow's came before it).
    call = log.rsplit("pip install", 1)[1]
    lists = [(fate / p).read_text() for p in catalog.for_line("2.x").family_by_name["v2/fateflow-spark"].requirements]
    assert len(re.findall(r"^--- \S+/install-list-\d+\.txt$", call, re.M)) == len(lists) + 1
    assert all(text in call for text in lists)
    assert "pyspark\n" in lists[0] and f"pyspark=={SPARK}\n" in call


def test_fateflow_spark_has_java_and_spark_home_on_the_path_on_top_of_fateflow(spark):
    images, _ = spark
    for image in images["fateflow-spark"].values():
        env = image.env
        assert env["SPARK_HOME"] == SPARK_HOME and env["JAVA_HOME"] == "/opt/java/openjdk"
        assert f"{SPARK_HOME}/bin" in env["PATH"].split(":") and "/opt/java/openjdk/bin" in env["PATH"].split(":")
        assert image.has(f"{SPARK_HOME}/bin/spark-submit") and image.has("/opt/java/openjdk/bin/java")
        # KubeFATE v2.0.0's computing.spark.home, where its compose mounts conf/spark-defaults.conf.
        link = image.files["data/projects/spark-3.1.3-bin-hadoop3.2"]
        assert link.issym() and link.linkname == SPARK_HOME.rsplit("/", 1)[1]
        assert image.has("/data/projects/fate/fate_flow/python/fate_flow/fate_flow_server.py")
        # fateflow's own command still starts the server.
        assert image.config["config"]["Cmd"] == ["/bin/bash", "-c",
                                                 "python fate_flow/python/fate_flow/fate_flow_server.py"]


def test_spark_master_and_worker_run_their_script_against_spark_at_slash_spark(spark):
    images, _ = spark
    for role, port in (("master", "8080/tcp"), ("worker", "8081/tcp")):
        for image in images[f"spark-{role}"].values():
            assert image.files["spark"].issym() and image.files["spark"].linkname == SPARK_HOME
            assert image.files[f"{role}.sh"].mode & 0o111
            assert f"org.apache.spark.deploy.{role}.{role.capitalize()}" in image.text(f"/{role}.sh")
            cfg = image.config["config"]
            assert cfg["Cmd"] == ["/bin/bash", f"/{role}.sh"] and port in cfg["ExposedPorts"]
    worker = images["spark-worker"]["amd64"]
    # KubeFATE v2.0.0's docker-compose-spark.yml gives the worker SPARK_MASTER; this is its default.
    assert worker.env["SPARK_MASTER"] == "spark://spark-master:7077"
    assert worker.has("/data/projects/fate/fate/python/fate/_info.py")
