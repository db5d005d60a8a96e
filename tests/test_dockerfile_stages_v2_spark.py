"""FATE 2.x's Spark family built for real on this machine's engine, without any network.

As tests/test_dockerfile_stages_v2.py does for the basic family: external images are the
busybox stand-in, the network stages are replaced through bake named contexts (`jre`, and
`spark-dist` by a folder laid out as Apache's Spark tarball: bin/, sbin/, conf/), pip by the
stand-in that logs the lists it is given. `hadoop-fetch` itself runs, against an Apache
mirror on loopback serving stand-in Hadoop tarballs (amd64 and -aarch64) with their real
SHA-512 in Apache's BSD format, on a JRE stand-in with the host's curl; its output is the
`hadoop-dist` the family is then baked with. The bake graph (base-image -> fateflow ->
fateflow-spark -> spark-base -> spark-master / spark-worker), every COPY and assembly step,
and install-requirements on FATE v2.2.0's real requirement lists run for real, for amd64
and arm64. The images are exported as OCI layouts and read back.

Marked `engine`: skipped when `docker info` fails, a failure when CI=true.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from generator import catalog
from generator.config import load_config
from generator.network import network_file
from generator.plan import build_plan
from generator.render import render
from testsupport.constants import DOCKER
from testsupport.fate2_checkout import write_fate2_checkout
from testsupport.mirrors import start_server, stop
from testsupport.probes import before_buildx

from .test_dockerfile_stages import _run, write
from .test_dockerfile_stages_v2 import JRE, bake_v2, engine, stand_in, tools  # noqa: F401 (fixtures)
from .test_mirrors import stand_in_rootfs

pytestmark = [pytest.mark.engine, pytest.mark.skipif(
    before_buildx((0, 20)),
    reason="not yet on buildx 0.13 (the oldest engine): the JRE stand-in the Hadoop fetch runs on is not found "
           "for the build platform there ('no match for platform in manifest'); issue 22 stays open for it")]

SPARK = catalog.for_line("2.x").facts_for("2.2.0").get("SPARK_VERSION")
SPARK_HOME = f"/data/projects/spark-{SPARK}-bin-hadoop3"
SPARK_FAMILY = ("fateflow-spark", "spark-base", "spark-master", "spark-worker")
HADOOP = catalog.for_line("2.x").facts_for("2.2.0").get("HADOOP_VERSION")
HADOOP_HOME = f"/data/projects/hadoop-{HADOOP}"
# What `hadoop classpath --glob` prints, as the stand-in's bin/hadoop prints it: the real script
# lists etc/hadoop and the jars of share/hadoop/{common,hdfs} (and their lib/) one by one.
CLASSPATH_ENTRIES = ("etc/hadoop", f"share/hadoop/common/hadoop-common-{HADOOP}.jar",
                     "share/hadoop/common/lib/guava-27.0-jre.jar", f"share/hadoop/hdfs/hadoop-hdfs-client-{HADOOP}.jar")


def _spark_dist(root: Path) -> Path:
    """What spark-<version>-bin-hadoop3.tgz unpacks to, as far as the images use it."""
    for script in ("bin/spark-submit", "bin/spark-class", "bin/load-spark-env.sh", "sbin/spark-config.sh"):
        write(root / script, f"#!/bin/sh\n# {script} of Spark {SPARK}\n", 0o755)
    write(root / "conf" / "spark-defaults.conf.template", "", 0o644)
    return root


def _hadoop_dist(root: Path) -> Path:
    """What hadoop-fetch leaves (tested below against its mirror), as far as the final stage reads it."""
    classpath = ":".join(f"{HADOOP_HOME}/{entry}" for entry in CLASSPATH_ENTRIES)
    write(root / "etc" / "hadoop" / "classpath", classpath + "\n", 0o644)
    write(root / "lib" / "native" / "libhdfs.so", "libhdfs\n", 0o755)
    return root


def _hadoop_tarball(version: str, arch: str) -> bytes:
    """hadoop-<version>[-aarch64].tar.gz as far as the image uses it, with what the stage drops."""
    top = f"hadoop-{version}"
    classpath = ":".join(f"{HADOOP_HOME}/{entry}" for entry in CLASSPATH_ENTRIES)
    files = {
        # `hadoop classpath --glob`: the stand-in prints what the real one would for this layout.
        "bin/hadoop": (f'#!/bin/sh\n[ "$*" = "classpath --glob" ] || exit 64\necho "{classpath}"\n', 0o755),
        "bin/hdfs": ("#!/bin/sh\n", 0o755),
        "libexec/hadoop-config.sh": ("", 0o755),
        "etc/hadoop/core-site.xml": ("<configuration/>\n", 0o644),
        "lib/native/libhdfs.so": (f"libhdfs {arch}\n", 0o755),
        "share/doc/hadoop/index.html": ("docs\n", 0o644),
        "share/hadoop/yarn/hadoop-yarn-api.jar": ("yarn\n", 0o644),
        "share/hadoop/tools/lib/aws-java-sdk-bundle.jar": ("aws\n", 0o644),
        **{entry: (f"{entry}\n", 0o644) for entry in CLASSPATH_ENTRIES if entry.endswith(".jar")},
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, (text, mode) in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            data = text.encode()
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _apache_mirror(root: Path, good: str, bad: str) -> Path:
    """dl/hadoop/common/hadoop-<v>/ as Apache lays it out: each tarball beside its .sha512 in the
    BSD format Hadoop publishes (`SHA512 (name) = hash`); `bad`'s checksum is of other bytes."""
    for version in (good, bad):
        for arch, suffix in (("amd64", ""), ("arm64", "-aarch64")):
            name = f"hadoop-{version}{suffix}.tar.gz"
            blob = _hadoop_tarball(version, arch)
            digest = hashlib.sha512(blob if version == good else blob + b"tampered").hexdigest()
            folder = root / "dl" / "hadoop" / "common" / f"hadoop-{version}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(blob)
            (folder / f"{name}.sha512").write_text(f"SHA512 ({name}) = {digest}\n")
    return root


def _fetch_hadoop(root: Path, jre: str, mirror: str, version: str, out: Path) -> subprocess.CompletedProcess[str]:
    """fateflow-spark's hadoop-dist for amd64 and arm64, its download from `mirror` given the way
    fate-builder gives it (the `network` secret), on the host network to reach loopback. Without
    the cache: the mirror (a secret) is not part of the step's cache key, so a cached step would
    fetch nothing from this run's mirror."""
    config = load_config(environ={}, overrides={"APACHE_MIRROR": mirror})
    secret = write(root / f"network-{version}", network_file(config), 0o600)
    dockerfile = DOCKER / "v2" / "fateflow-spark" / "Dockerfile"
    return subprocess.run(
        ["docker", "buildx", "build", "--progress=plain", "--no-cache", "--network=host", "--allow=network.host",
         "--platform=linux/amd64,linux/arm64", "--target=hadoop-dist", f"--build-arg=HADOOP_VERSION={version}",
         f"--secret=id=network,src={secret}", f"--build-context=docker.io/library/{JRE}={jre}",
         f"--output=type=local,dest={out}", "-f", str(dockerfile), str(dockerfile.parent)],
        capture_output=True, text=True)


@pytest.fixture(scope="module")
def hadoop(engine, stand_in, tmp_path_factory):  # noqa: F811
    """hadoop-fetch run for real against the loopback mirror: its hadoop-dist per platform, the
    request log, and the failed run of the version whose tarball does not match its SHA-512."""
    root = tmp_path_factory.mktemp("v2-hadoop")
    rootfs = stand_in_rootfs(root / "jre", "jre", "hadoop")  # busybox with the host's curl and GNU tar
    write(root / "jre" / "jre" / "Dockerfile", "FROM scratch\nCOPY rootfs/ /\n"
          'RUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN mkdir -p /tmp && chmod 1777 /tmp\n'
          "ENV PATH=/usr/local/bin:/usr/bin:/bin JAVA_HOME=/opt/java/openjdk\n", 0o644)
    ref = f"{stand_in.removeprefix('docker-image://')}-jre-curl"
    _run(["docker", "buildx", "build", "--platform", "linux/amd64", "--load", "-t", ref, str(rootfs.parent)])
    server = start_server(_apache_mirror(root / "served", HADOOP, "0.0.1"), root, "apache")
    try:
        good = _fetch_hadoop(root, f"docker-image://{ref}", f"{server.url}/dl", HADOOP, root / "dist")
        assert good.returncode == 0, good.stderr[-6000:]
        bad = _fetch_hadoop(root, f"docker-image://{ref}", f"{server.url}/dl", "0.0.1", root / "bad")
        yield {"amd64": root / "dist" / "linux_amd64", "arm64": root / "dist" / "linux_arm64"}, server.requests(), bad
    finally:
        stop(server)
        subprocess.run(["docker", "image", "rm", "-f", ref], capture_output=True)


@pytest.fixture(scope="module")
def spark(engine, stand_in, tools, hadoop, tmp_path_factory):  # noqa: F811
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
    write(jre / "opt" / "java" / "openjdk" / "lib" / "amd64" / "server" / "libjvm.so", "libjvm\n", 0o755)
    out = root / "out"
    out.mkdir()
    images = bake_v2(bake_file, out, {
        "base-image": {"contexts": {"venv": tools["venv"]}},
        "fateflow": {},
        "fateflow-spark": {"contexts": {"jre": str(jre), "spark-dist": str(_spark_dist(root / "spark-dist")),
                                        "hadoop-dist": str(hadoop[0]["amd64"])}},
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


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_hadoop_fetch_takes_the_targets_tarball_from_apache_mirror_and_keeps_what_libhdfs_needs(hadoop, arch):
    dists, requests, _ = hadoop
    name = f"hadoop-{HADOOP}{'-aarch64' if arch == 'arm64' else ''}.tar.gz"
    assert any(f"/dl/hadoop/common/hadoop-{HADOOP}/{name} " in r for r in requests), requests
    assert any(f"/dl/hadoop/common/hadoop-{HADOOP}/{name}.sha512 " in r for r in requests), requests
    dist = dists[arch]
    assert (dist / "lib" / "native" / "libhdfs.so").read_text() == f"libhdfs {arch}\n"
    assert (dist / "bin" / "hadoop").exists() and (dist / "etc" / "hadoop" / "core-site.xml").exists()
    # What the HDFS client does not need is gone (the real tarball: about 700 MB, most of it these).
    assert not any((dist / gone).exists() for gone in ("share/doc", "share/hadoop/yarn", "share/hadoop/tools"))
    # The classpath, written at build time, lists the jars at the paths the image has them.
    listed = (dist / "etc" / "hadoop" / "classpath").read_text().strip().split(":")
    assert listed == [f"{HADOOP_HOME}/{entry}" for entry in CLASSPATH_ENTRIES]
    assert all((dist / entry.removeprefix(HADOOP_HOME + "/")).exists() for entry in listed)


def test_hadoop_fetch_fails_when_the_tarball_does_not_match_apaches_sha512(hadoop):
    _, requests, bad = hadoop
    assert bad.returncode != 0
    assert "hadoop.tar.gz from " in bad.stderr and "does not match its SHA-512" in bad.stderr
    assert any("/dl/hadoop/common/hadoop-0.0.1/hadoop-0.0.1.tar.gz.sha512 " in r for r in requests)


def test_fateflow_spark_has_hadoop_home_libhdfs_the_jvm_and_the_classpath_for_pyarrow(spark):
    images, _ = spark
    for image in images["fateflow-spark"].values():
        env = image.env
        assert env["HADOOP_HOME"] == HADOOP_HOME and f"{HADOOP_HOME}/bin" in env["PATH"].split(":")
        library_path = env["LD_LIBRARY_PATH"].split(":")
        assert library_path == [f"{HADOOP_HOME}/lib/native", "/opt/java/jvm-server"]
        assert image.has(f"{HADOOP_HOME}/lib/native/libhdfs.so")
        # libhdfs loads libjvm.so: the link names the JRE's server folder (Java 8: lib/<arch>/server).
        link = image.files["opt/java/jvm-server"]
        assert link.issym() and link.linkname == "/opt/java/openjdk/lib/amd64/server"
        assert image.has("/opt/java/openjdk/lib/amd64/server/libjvm.so")
        # CLASSPATH: the build's expanded list, set by a .pth line for every Python of the venv.
        listed = image.text(f"{HADOOP_HOME}/etc/hadoop/classpath").strip().split(":")
        assert listed and all(image.has(entry) for entry in listed)
        pth = image.text("/data/projects/python/venv/lib/python3.10/site-packages/fate-builder-hadoop-classpath.pth")
        assert pth.startswith("import os;") and f"'{HADOOP_HOME}/etc/hadoop/classpath'" in pth


def test_the_pth_line_sets_classpath_from_the_file_unless_it_is_set(spark, tmp_path):
    """The line as the image has it, run by a real Python (site runs `import` lines of .pth files)."""
    images, _ = spark
    image = images["fateflow-spark"]["amd64"]
    line = image.text("/data/projects/python/venv/lib/python3.10/site-packages/fate-builder-hadoop-classpath.pth")
    listed = write(tmp_path / "classpath", image.text(f"{HADOOP_HOME}/etc/hadoop/classpath"), 0o644)
    site = write(tmp_path / "site" / "hadoop.pth", line.replace(f"{HADOOP_HOME}/etc/hadoop/classpath", str(listed)),
                 0o644).parent
    script = f"import site, os; site.addsitedir({str(site)!r}); print(os.environ['CLASSPATH'])"
    env = {k: v for k, v in os.environ.items() if k != "CLASSPATH"}
    unset = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert unset.stdout.strip() == listed.read_text().strip() and f"hadoop-common-{HADOOP}.jar" in unset.stdout
    own = subprocess.run([sys.executable, "-c", script], env={**env, "CLASSPATH": "/site/own.jar"},
                         capture_output=True, text=True, check=True)
    assert own.stdout.strip() == "/site/own.jar"
