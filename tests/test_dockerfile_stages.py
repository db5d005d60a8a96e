"""The Dockerfiles built for real, on this machine's engine, without any network.

No image can be pulled here, so every base image is replaced by a stand-in (a FROM-scratch
image holding only busybox, for amd64 and arm64) through bake named contexts, which can
override any FROM reference and any stage. The stages that need the network (Maven,
downloads of Python, Spark, Hadoop, OpenResty, tini, pip and package installs) are
replaced by small local folders shaped like their output. What is left runs for real:
every COPY of FATE's sources through the named contexts, every assembly stage, the
per-architecture stage selection and the requirement-list adaptations. The results are
exported as OCI layouts and read back: files, symlinks, environment, entrypoint, ports.

Marked `engine`: skipped when `docker info` fails, a failure when CI=true.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.progress import read as read_progress
from testsupport import bake_allow_flags, write_fate_checkout
from testsupport.constants import DOCKER, IN_CI

from .test_dockerfiles import FATE_REQUIREMENTS, render_bake

pytestmark = pytest.mark.engine

# Variables of the bake file: values in the test's environment would override the render.
_BAKE_VARIABLES = {
    "PREFIX",
    "TAG",
    "BASE_TAG",
    "FATE_DIR",
    "DOCKER_DIR",
    "FATE_VERSION",
    "IPCL_PKG_DIR",
    "IPCL_VERSION",
    "Build_LLM_VERSION",
    "CACHE",
}

BUSYBOX_DIR = Path(os.environ.get("FATE_BUILDER_BUSYBOX_DIR", "/var/cache/fate-builder/busybox"))
TAG = "1.11.2-release"
UBUNTU = "ubuntu:bionic-20230530"
CENTOS = "centos:centos7"
JRE = "eclipse-temurin:8u392-b08-jre-jammy"
PYTHON = "python:3.8.18-slim-bookworm"
MAVEN = "maven:3.8.6-eclipse-temurin-8"
BIG_FILE_MB = 16


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason}; scripts/ci/provision-engine.sh sets the engine up")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def engine():
    if shutil.which("docker") is None:
        _unavailable("no docker CLI")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        _unavailable("`docker info` fails: no Docker engine")
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode != 0:
        _unavailable("the docker buildx plugin is missing")
    for arch in ("amd64", "arm64"):
        if not (BUSYBOX_DIR / arch / "busybox").is_file():
            _unavailable(f"no busybox for {arch} in {BUSYBOX_DIR}")


@pytest.fixture(scope="module")
def stand_in(engine, tmp_path_factory):
    """`docker-image://` reference of a two-platform busybox image, removed afterwards."""
    context = tmp_path_factory.mktemp("stand-in")
    for arch in ("amd64", "arm64"):
        (context / arch).mkdir()
        shutil.copy2(BUSYBOX_DIR / arch / "busybox", context / arch / "busybox")
    (context / "Dockerfile").write_text(
        "FROM scratch AS amd64\nCOPY amd64/busybox /bin/busybox\n"
        "FROM scratch AS arm64\nCOPY arm64/busybox /bin/busybox\n"
        "FROM ${TARGETARCH}\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "RUN mkdir -p /tmp /etc /root /usr/local/bin /usr/local/lib\n"
    )
    ref = f"fate-builder-test/stand-in:{secrets.token_hex(4)}"
    _run(["docker", "buildx", "build", "--platform", "linux/amd64,linux/arm64", "--load", "-t", ref, str(context)])
    yield f"docker-image://{ref}"
    subprocess.run(["docker", "image", "rm", "-f", ref], capture_output=True)


# Stand-in for `mvn -B -q -DskipTests clean package` in eggroll's jvm/: it needs what the
# real build reads outside jvm/ (jvm/core/pom.xml and jvm/roll_site/pom.xml compile the
# protobuf files of ../../proto/core and ../../proto/roll_site; the generated classes are
# not in git) and writes what `package` writes: target/<artifact>-<version>.jar and the
# dependencies in target/lib/ of each module deploy/auto-packaging.sh collects.
FAKE_MVN = """#!/bin/sh
set -eu
test -f pom.xml
version=$(grep version ../BUILD_INFO | cut -d= -f2)
for proto in core roll_site; do
    ls ../proto/$proto/*.proto >/dev/null || { echo "mvn stand-in: no ../proto/$proto" >&2; exit 1; }
done
for module in core roll_pair roll_site; do
    test -f $module/pom.xml
    artifact=$(echo eggroll-$module | tr _ -)
    mkdir -p $module/target/lib
    echo "$artifact $version" > $module/target/$artifact-$version.jar
    echo "dependency of $module" > $module/target/lib/dep-$module.jar
done
"""


@pytest.fixture(scope="module")
def maven_stand_in(stand_in, tmp_path_factory):
    """The busybox stand-in with FAKE_MVN as /usr/bin/mvn."""
    context = tmp_path_factory.mktemp("maven-stand-in")
    write(context / "mvn", FAKE_MVN, 0o755)
    ref = stand_in.removeprefix("docker-image://")
    (context / "Dockerfile").write_text(f"FROM {ref}\nCOPY --chmod=755 mvn /usr/bin/mvn\n")
    maven_ref = f"{ref}-maven"
    _run(["docker", "buildx", "build", "--platform", "linux/amd64", "--load", "-t", maven_ref, str(context)])
    yield f"docker-image://{maven_ref}"
    subprocess.run(["docker", "image", "rm", "-f", maven_ref], capture_output=True)


def _run(cmd: list[str], variables: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _BAKE_VARIABLES and not k.startswith("BUILDX_BAKE")}
    env.update(variables or {})
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, **kwargs)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stderr[-6000:]}"
    return result


# ---------------------------------------------------------------------------------------
# A miniature FATE checkout, and folders shaped like the output of the network stages.


def write(path: Path, text: str = "", mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def write_fate(root: Path) -> Path:
    """The mini FATE checkout of testsupport/ (real FATE v1.11.2 paths only), with FATE's
    requirements.txt lines the tests compare and one large file no Dockerfile reads."""
    fate = write_fate_checkout(root / "FATE")
    write(fate / "python" / "requirements.txt", FATE_REQUIREMENTS)
    write(fate / "README.md", "FATE\n")
    # Large and used by no Dockerfile (rust/ is in no named context): must not be sent to BuildKit.
    (fate / "rust" / "fate_crypto").mkdir(parents=True)
    with open(fate / "rust" / "fate_crypto" / "Cargo.lock", "wb") as fh:
        fh.write(os.urandom(BIG_FILE_MB * 1024 * 1024))
    return fate


def write_dists(root: Path) -> dict[str, Path]:
    """Local folders standing in for the stages that need the network."""
    d = root / "dists"
    fb = d / "fateboard-dist"
    write(fb / "fateboard-1.11.1.jar", "jar")
    (fb / "fateboard.jar").symlink_to("fateboard-1.11.1.jar")
    write(fb / "conf" / "application.properties", "server.port=8080\n")
    write(fb / "ssh" / "ssh.properties", "")
    write(fb / "service.sh", "#!/bin/sh\n", 0o755)
    write(d / "jre" / "opt" / "java" / "openjdk" / "bin" / "java", "#!/bin/sh\n", 0o755)
    write(d / "tini" / "tini", '#!/bin/sh\nexec "$@"\n', 0o755)
    write(d / "spark-dist" / "bin" / "spark-class", "#!/bin/sh\n", 0o755)
    write(d / "spark-dist" / "sbin" / "spark-config.sh", "#!/bin/sh\n", 0o755)
    write(d / "hadoop-dist" / "bin" / "hadoop", "#!/bin/sh\n", 0o755)
    write(d / "hadoop-dist" / "lib" / "native" / "libhadoop.so", "")
    write(d / "openresty-dist" / "bin" / "openresty", "#!/bin/sh\n", 0o755)
    write(d / "openresty-dist" / "nginx" / "sbin" / "nginx", "#!/bin/sh\n", 0o755)
    write(d / "openresty-dist" / "nginx" / "conf" / "mime.types", "types {}\n")
    write(d / "fate-llm" / "python" / "fate_llm" / "__init__.py", "")
    return {p.name: p for p in d.iterdir()}


# ---------------------------------------------------------------------------------------
# Building with overrides and reading the results back.


@dataclass
class Image:
    config: dict
    files: dict[str, tarfile.TarInfo]
    contents: dict[str, bytes]
    layers: list[str]

    @property
    def env(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.config["config"].get("Env", []))

    def text(self, path: str) -> str:
        return self.contents[path.lstrip("/")].decode()

    def has(self, path: str) -> bool:
        return path.lstrip("/").rstrip("/") in self.files


def read_oci_layout(directory: Path) -> dict[str, Image]:
    """{architecture: Image} of an OCI layout written by the oci exporter (tar=false)."""

    def blob(digest: str) -> bytes:
        algo, _, hexdigest = digest.partition(":")
        return (directory / "blobs" / algo / hexdigest).read_bytes()

    images: dict[str, Image] = {}
    pending = [m["digest"] for m in json.loads((directory / "index.json").read_text())["manifests"]]
    while pending:
        doc = json.loads(blob(pending.pop()))
        if "manifests" in doc:
            pending += [m["digest"] for m in doc["manifests"] if m.get("platform", {}).get("architecture") != "unknown"]
            continue
        config = json.loads(blob(doc["config"]["digest"]))
        files: dict[str, tarfile.TarInfo] = {}
        contents: dict[str, bytes] = {}
        for layer in doc["layers"]:
            data = blob(layer["digest"])
            if layer["mediaType"].endswith("gzip"):
                data = gzip.decompress(data)
            with tarfile.open(fileobj=__import__("io").BytesIO(data)) as tar:
                for info in tar:
                    name = info.name.lstrip("./").rstrip("/")
                    base = os.path.basename(name)
                    if base.startswith(".wh."):
                        gone = os.path.join(os.path.dirname(name), base[4:])
                        for key in [k for k in files if k == gone or k.startswith(gone + "/")]:
                            files.pop(key)
                            contents.pop(key, None)
                        continue
                    files[name] = info
                    if info.isfile() and info.size < 65536:
                        contents[name] = tar.extractfile(info).read()
        images[config["architecture"]] = Image(config, files, contents, [layer["digest"] for layer in doc["layers"]])
    return images


def bake(
    bake_file: Path, out: Path, overrides: dict[str, dict], stand_in: str
) -> tuple[dict[str, dict[str, Image]], str]:
    """Builds the overridden targets to OCI layouts; ({target: {arch: Image}}, plain progress log).

    BuildKit looks up the metadata of every base image in the Dockerfile, even of stages a
    named context has replaced, so every external image is pointed at the stand-in.
    """
    external = {ref: stand_in for ref in (CENTOS, UBUNTU, JRE, MAVEN, PYTHON)}
    targets = {}
    for name, override in overrides.items():
        contexts = {**external, **override.get("contexts", {})}
        targets[name] = {
            **override,
            "contexts": contexts,
            "output": [f"type=oci,dest={out / name},tar=false"],
            "cache-from": [],
            "cache-to": [],
        }
    override_file = out / "override.json"
    override_file.write_text(json.dumps({"target": targets}, indent=2))
    # What this bake reads from outside its working directory, and nothing more.
    local = {Path(v) for t in targets.values() for v in [t.get("context"), *t["contexts"].values()]
             if isinstance(v, str) and v.startswith("/") and Path(v).exists()}
    # One platform of a multi-platform file is what PLATFORM_ONLY says (as `bake --platform-only`
    # sets it): the export then makes no index, so the annotations go on the manifest alone.
    single = {p for t in targets.values() for p in t.get("platforms", [])}
    result = _run(
        ["docker", "buildx", "bake", "--progress=plain", "-f", str(bake_file), "-f", str(override_file),
         *bake_allow_flags(out, read=[DOCKER, bake_file.parent, *local]), *overrides],
        {"PLATFORM_ONLY": single.pop()} if len(single) == 1 else None,
        cwd=out,
    )
    return {name: read_oci_layout(out / name) for name in overrides}, result.stderr


def transferred_bytes(log: str, context: str) -> list[float]:
    """Sizes BuildKit reported sending for a named context, in bytes."""
    return read_progress(log).transferred(context)


def step_cached(log: str, instruction: str) -> list[bool]:
    """For every step whose name contains `instruction`: was it answered from the cache?"""
    return [v.cached for v in read_progress(log).steps(instruction)]


# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp("dockerfile-stages")
    return root, write_fate(root), write_dists(root)


@pytest.fixture(scope="module")
def basic(workspace, stand_in, maven_stand_in):
    """The four basic images for amd64 and arm64, every base replaced by the stand-in."""
    root, fate, dists = workspace
    bake_file = render_bake(root, fate, platforms="amd64,arm64")
    out = root / "basic"
    out.mkdir()
    parent = f"federatedai/base-image:{TAG}"
    images, log = bake(
        bake_file,
        out,
        {
            "base-image": {"target": "requirements"},
            "fateflow": {"contexts": {parent: stand_in}},
            "eggroll": {
                "contexts": {
                    parent: stand_in,
                    "runtime": stand_in,
                    MAVEN: maven_stand_in,
                    "jre": str(dists["jre"]),
                    "tini": str(dists["tini"]),
                }
            },
            "fateboard": {"contexts": {"fateboard-dist": str(dists["fateboard-dist"])}},
        },
        stand_in,
    )
    return images, log, bake_file


def test_basic_images_are_built_for_amd64_and_arm64_from_one_dockerfile_each(basic):
    images, _, _ = basic
    for name in ("base-image", "fateflow", "eggroll", "fateboard"):
        assert sorted(images[name]) == ["amd64", "arm64"], name


def test_base_image_adapts_fates_requirements_to_each_architecture(basic):
    images, _, _ = basic
    amd64, arm64 = images["base-image"]["amd64"], images["base-image"]["arm64"]
    assert amd64.text("/data/projects/python/requirements.txt") == FATE_REQUIREMENTS
    arm = arm64.text("/data/projects/python/requirements.txt")
    assert "tensorflow-aarch64==2.11.1" in arm and "torch==1.13.1\n" in arm and "torchvision==0.14.1\n" in arm
    assert "#ipcl-python==2.0.0" in arm and "+cpu" not in arm.replace("whl/cpu", "")
    # Every list is there for the child images (nn, gpu, fate-llm, fateflow-spark).
    for image in (amd64, arm64):
        for name in ("requirements-graph-nn.txt", "requirements-fate-llm.txt"):
            assert image.has(f"/data/projects/python/{name}")


def test_fateflow_lays_fate_out_under_data_projects_fate(basic):
    images, _, _ = basic
    for image in images["fateflow"].values():
        for path in (
            "fate/python/federatedml/__init__.py",
            "fateflow/python/fate_flow/fate_flow_server.py",
            "eggroll/python/eggroll/__init__.py",
            "eggroll/conf/eggroll.properties",
            "examples/data/breast_hetero_guest.csv",
            "conf/service_conf.yaml",
            "doc/tutorial/pipeline/pipeline_tutorial_upload.ipynb",
            "fate.env",
            "fml_agent/data",
        ):
            assert image.has(f"/data/projects/fate/{path}"), path
        assert image.text("/data/projects/fate/fate.env").startswith("FATE=1.11.2")
        assert not any(name.endswith("Cargo.lock") for name in image.files)
        assert not image.has("/data/projects/fate/eggroll/jvm")  # the python client only
        env = image.env
        assert env["PYTHONPATH"].split(":") == [
            "/data/projects/fate",
            "/data/projects/fate/eggroll/python",
            "/data/projects/fate/fate/python",
            "/data/projects/fate/fateflow/python",
        ]
        assert env["EGGROLL_HOME"] == "/data/projects/fate/eggroll"
        assert env["FATE_PROJECT_BASE"] == "/data/projects/fate"
        cfg = image.config["config"]
        assert cfg["WorkingDir"] == "/data/projects/fate"
        assert "9380/tcp" in cfg["ExposedPorts"]
        assert "fate_flow_server.py" in cfg["Cmd"][-1]


def test_eggroll_joins_the_maven_output_with_eggroll_and_fate_sources_under_tini(basic):
    """The Maven stage runs on a stand-in `mvn` that needs eggroll's proto/ beside jvm/, as the
    real poms do; its output is packaged as deploy/auto-packaging.sh packages it."""
    images, _, _ = basic
    for image in images["eggroll"].values():
        egg = "/data/projects/fate/eggroll"
        assert image.text(f"{egg}/lib/eggroll-core-2.5.1.jar") == "eggroll-core 2.5.1\n"
        assert image.text(f"{egg}/conf/create-eggroll-meta-tables.sql").startswith(
            "-- fate-builder mini FATE checkout: eggroll/jvm/core/main/resources/create-eggroll-meta-tables.sql"
        )
        for path in (
            "lib/eggroll-roll-pair-2.5.1.jar",
            "lib/eggroll-roll-site-2.5.1.jar",
            "lib/dep-core.jar",
            "lib/dep-roll_site.jar",
            "conf/eggroll.properties",
            "bin/eggroll.sh",
            "bin/roll_pair/egg_pair_bootstrap.sh",
            "python/eggroll/__init__.py",
            "deploy/init_env.sh",
            "data/meta_h2/eggroll_meta.h2.mv.db",
        ):
            assert image.has(f"{egg}/{path}"), path
        for path in (
            "/data/projects/fate/fate/python/federatedml/__init__.py",
            "/data/projects/fate/fateflow/python/fate_flow/fate_flow_server.py",
            "/data/projects/fate/conf/service_conf.yaml",
            "/data/projects/fate/fate.env",
            "/opt/java/openjdk/bin/java",
            "/tini",
        ):
            assert image.has(path), path
        assert image.files["tini"].mode & 0o111
        assert not image.has(f"{egg}/jvm") and not image.has(f"{egg}/proto")
        cfg = image.config["config"]
        assert cfg["Entrypoint"] == ["/tini", "--"]
        assert cfg["WorkingDir"] == "/data/projects/fate/eggroll/"
        assert image.env["JAVA_HOME"] == "/opt/java/openjdk"
        assert image.env["PATH"].startswith("/opt/java/openjdk/bin:")
        assert image.env["EGGROLL_HOME"] == "/data/projects/fate/eggroll/"


def test_fateboard_serves_the_packaged_jar_on_port_8080(basic):
    images, _, _ = basic
    for image in images["fateboard"].values():
        board = "data/projects/fate/fateboard"
        assert image.files[f"{board}/fateboard.jar"].issym()
        assert image.files[f"{board}/fateboard.jar"].linkname == "fateboard-1.11.1.jar"
        assert image.has(f"{board}/conf/application.properties") and image.has(f"{board}/ssh/ssh.properties")
        cfg = image.config["config"]
        assert "8080/tcp" in cfg["ExposedPorts"]
        assert cfg["Cmd"][0] == "java" and cfg["Cmd"][-2:] == ["-jar", "fateboard.jar"]
        assert cfg["WorkingDir"] == "/data/projects/fate/fateboard/"


def test_only_fate_env_is_sent_from_the_whole_fate_dir_context(basic):
    """`COPY --from=fate fate.env` must not upload $FATE_DIR (here with a 16 MB file in it)."""
    _, log, _ = basic
    sizes = transferred_bytes(log, "fate")
    assert sizes, "no transfer of the fate context in the log"
    assert max(sizes) < 100_000, sizes
    # The python tree is sent in full, so the measurement can see megabytes.
    assert transferred_bytes(log, "fate-python")


def test_an_unchanged_source_is_a_cache_hit_and_a_changed_one_is_not(workspace, stand_in, basic):
    root, fate, _ = workspace
    _, _, bake_file = basic
    parent = f"federatedai/base-image:{TAG}"

    def build_fateflow(run: str):
        out = root / f"cache-{run}"
        out.mkdir()
        images, log = bake(
            bake_file, out, {"fateflow": {"contexts": {parent: stand_in}, "platforms": ["linux/amd64"]}}, stand_in
        )
        return images["fateflow"]["amd64"], log

    warm, _ = build_fateflow("warm")
    (fate / "README.md").write_text("FATE, edited where no Dockerfile looks\n")
    again, log = build_fateflow("unrelated-change")
    assert step_cached(log, "--from=fate-python ") == [True]
    assert step_cached(log, "--from=fate fate.env") == [True]
    assert again.layers == warm.layers
    # New content each run: the cache is keyed by content, so a value an earlier run
    # already built would (rightly) be a hit.
    (fate / "python" / "federatedml" / "__init__.py").write_text(f"VERSION = {secrets.token_hex(8)!r}\n")
    changed, log = build_fateflow("python-change")
    assert step_cached(log, "--from=fate-python ") == [False]
    assert changed.text("/data/projects/fate/fate/python/federatedml/__init__.py") != warm.text(
        "/data/projects/fate/fate/python/federatedml/__init__.py"
    )
    # COPY --link: the layers of the other sources are the same blobs, nothing to push
    # again; only the python tree's layer and the RUN after it are new.
    new_layers = [digest for digest in changed.layers if digest not in warm.layers]
    assert len(changed.layers) == len(warm.layers) and len(new_layers) <= 2


@pytest.fixture(scope="module")
def amd64_only(workspace, stand_in):
    """The amd64-only images whose assembly needs no network."""
    root, fate, dists = workspace
    bake_file = render_bake(root, fate, platforms="amd64")
    out = root / "amd64"
    out.mkdir()
    base = f"federatedai/base-image:{TAG}"
    spark = {"jre": str(dists["jre"]), "spark-dist": str(dists["spark-dist"])}
    images, _ = bake(
        bake_file,
        out,
        {
            # fateflow -> spark-base -> spark-master / spark-worker, linked by bake as target: contexts.
            "fateflow": {"contexts": {base: stand_in}},
            "spark-base": {"contexts": spark},
            "spark-master": {},
            "spark-worker": {},
            "fateflow-spark": {"target": "assemble", "contexts": {**spark, "hadoop-dist": str(dists["hadoop-dist"])}},
            "fateflow-nn-gpu": {"target": "requirements"},
            "client": {"target": "notebooks"},
            "fateflow-all-gpu": {
                "target": "assemble",
                "contexts": {f"federatedai/fateflow-nn-gpu:{TAG}": stand_in, "fate-llm-src": str(dists["fate-llm"])},
            },
            "nginx": {"contexts": {"runtime": stand_in, "openresty-dist": str(dists["openresty-dist"])}},
            "fate-upgrade-manager": {"contexts": {"runtime": stand_in}},
        },
        stand_in,
    )
    return {name: image["amd64"] for name, image in images.items()}


def test_spark_base_adds_spark_and_a_java_8_jre_to_fateflow(amd64_only):
    image = amd64_only["spark-base"]
    assert image.has("/spark/bin/spark-class") and image.has("/usr/lib/jvm/jre-1.8.0-openjdk/bin/java")
    assert image.has("/data/projects/fate/fateflow/python/fate_flow/fate_flow_server.py")  # from fateflow
    env = image.env
    assert env["JAVA_HOME"] == "/usr/lib/jvm/jre-1.8.0-openjdk"
    assert env["SPARK_VERSION"] == "3.1.3" and env["HADOOP_VERSION"] == "3.2"
    assert env["PYTHONPATH"].endswith("/data/projects/fate/fateflow/python:/data/projects/fate/python")


@pytest.mark.parametrize(
    "name, script, ports, env",
    [
        (
            "spark-master",
            "master.sh",
            {"8080/tcp", "7077/tcp", "6066/tcp"},
            {"SPARK_MASTER_PORT": "7077", "SPARK_MASTER_WEBUI_PORT": "8080"},
        ),
        (
            "spark-worker",
            "worker.sh",
            {"8081/tcp"},
            {"SPARK_WORKER_WEBUI_PORT": "8081", "SPARK_MASTER": "spark://spark-master:7077"},
        ),
    ],
)
def test_spark_master_and_worker_start_their_daemon_script(amd64_only, name, script, ports, env):
    image = amd64_only[name]
    assert image.files[script].mode & 0o111
    assert image.has("/spark/bin/spark-class")
    cfg = image.config["config"]
    assert ports <= set(cfg["ExposedPorts"])
    assert cfg["Cmd"] == ["/bin/bash", f"/{script}"]
    assert env.items() <= image.env.items()


def test_fateflow_spark_puts_hadoop_and_spark_on_the_path(amd64_only):
    image = amd64_only["fateflow-spark"]
    assert image.has("/data/projects/hadoop-3.2.1/bin/hadoop")
    assert image.has("/data/projects/spark-3.1.3-bin-hadoop3.2/bin/spark-class")
    env = image.env
    assert env["SPARK_HOME"] == "/data/projects/spark-3.1.3-bin-hadoop3.2/"
    assert env["HADOOP_HOME"] == "/data/projects/hadoop-3.2.1"
    assert env["LD_LIBRARY_PATH"] == "/data/projects/hadoop-3.2.1/lib/native"
    assert {"/data/projects/spark-3.1.3-bin-hadoop3.2/bin", "/data/projects/hadoop-3.2.1/bin"} <= set(
        env["PATH"].split(":")
    )


def test_gpu_images_swap_in_fates_torch_pins_without_the_cpu_suffix(amd64_only):
    assert amd64_only["fateflow-nn-gpu"].text("/tmp/requirements-gpu.txt") == "torch==1.13.1\ntorchvision==0.14.1\n"


def test_gpu_images_install_fates_graph_packages_without_the_cpu_build_suffix(amd64_only):
    graph = amd64_only["fateflow-nn-gpu"].text("/tmp/requirements-graph-nn-gpu.txt")
    pins = [line for line in graph.splitlines() if line and not line.startswith(("#", "--"))]
    assert pins == [
        "pyg-lib==0.1.0",
        "torch-scatter==2.1.0",
        "torch-sparse==0.6.16",
        "torch-cluster==1.6.0",
        "torch-spline-conv==1.2.1",
        "torch-geometric==2.2.0",
    ]


def test_client_notebooks_reach_the_fateflow_service_and_read_data_where_the_images_have_it(amd64_only):
    client, fateflow = amd64_only["client"], amd64_only["fateflow"]
    notebooks = sorted(n for n in client.files if n.startswith("notebooks/") and n.endswith(".ipynb"))
    assert notebooks == [
        "notebooks/pipeline_tutorial_hetero_sbt.ipynb",
        "notebooks/pipeline_tutorial_upload.ipynb",
    ]
    for name in notebooks:
        cells = ["".join(c["source"]) for c in json.loads(client.contents[name])["cells"]]
        assert "!pipeline init --ip fateflow --port 9380" in cells
        data = next(c for c in cells if "data_base" in c)
        assert 'data_base = "/data/projects/fate/"' in data
        # The file the cell uploads is where fateflow (the client's parent) keeps it.
        assert fateflow.has("/data/projects/fate/examples/data/breast_hetero_guest.csv")
        assert "127.0.0.1" not in "".join(cells) and "/workspace/FATE" not in "".join(cells)


def test_fate_llm_is_merged_into_fates_python_tree(amd64_only):
    assert amd64_only["fateflow-all-gpu"].has("/data/projects/fate/fate/python/fate_llm/__init__.py")


def test_nginx_puts_fates_proxy_conf_and_lua_into_openresty(amd64_only):
    image = amd64_only["nginx"]
    proxy = "/data/projects/fate/proxy"
    # FATE's, over OpenResty's
    assert image.text(f"{proxy}/nginx/conf/nginx.conf").startswith("# fate-builder mini FATE checkout: c/proxy/conf/")
    assert image.has(f"{proxy}/nginx/conf/mime.types") and image.has(f"{proxy}/nginx/lua/router.lua")
    assert image.has(f"{proxy}/bin/openresty")
    cfg = image.config["config"]
    assert cfg["Cmd"] == ["openresty", "-g", "daemon off;"] and cfg["StopSignal"] == "SIGQUIT"
    assert f"{proxy}/nginx/sbin" in image.env["PATH"].split(":")


def test_upgrade_manager_carries_fates_sql_and_the_two_scripts(amd64_only):
    image = amd64_only["fate-upgrade-manager"]
    assert "ALTER TABLE t_job" in image.text("/sql/1.9.0-1.11.1.sql")
    assert image.has("/sql/1.8.0-1.9.0.sql")
    assert image.has("/upgrade-mysql.py") and image.has("/shutdown-flow.py")


# ---------------------------------------------------------------------------------------
# The stages that cannot run here are still converted by BuildKit's own frontend.


@pytest.mark.parametrize("platforms", ["amd64", "amd64,arm64"])
def test_buildkit_accepts_every_stage_of_every_dockerfile_as_bake_configures_it(workspace, stand_in, platforms):
    """`build --print=outline` makes the Dockerfile frontend convert the whole stage graph
    of the target (instruction flags, mounts, SHELL, ADD --chmod, ARG expansion) without
    running a step; bases, parents and git sources are pointed at local stand-ins."""
    root, fate, dists = workspace
    bake_file = render_bake(root, fate, platforms=platforms)
    printed = json.loads(
        _run(["docker", "buildx", "bake", "--progress=quiet", "-f", str(bake_file), "--print", "all"], cwd=root).stdout
    )
    external = {ref: stand_in for ref in (CENTOS, UBUNTU, JRE, MAVEN, PYTHON)}
    env = {k: v for k, v in os.environ.items() if k not in _BAKE_VARIABLES}
    env["BUILDX_EXPERIMENTAL"] = "1"
    done, failures = set(), []
    for name, target in sorted(printed["target"].items()):
        for platform in target["platforms"]:
            key = (target["context"], platform)
            if key in done:
                continue
            done.add(key)
            contexts = dict(external)
            for ctx, value in target.get("contexts", {}).items():
                if value.startswith("target:"):
                    value = stand_in
                elif ".git#" in value:
                    value = str(dists["fate-llm"])
                contexts[ctx] = value
            cmd = ["docker", "buildx", "build", "--print=outline", "--platform", platform]
            cmd += [f"--build-arg={k}={v}" for k, v in target.get("args", {}).items()]
            cmd += [f"--build-context={k}={v}" for k, v in contexts.items()]
            cmd += ["-f", str(Path(target["context"]) / target["dockerfile"]), target["context"]]
            result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root)
            if result.returncode != 0 or "BUILD ARG" not in result.stdout:
                failures.append(f"{name} {platform}:\n{result.stderr[-1500:]}")
    assert len(done) >= (16 if platforms == "amd64" else 5)
    assert failures == []
