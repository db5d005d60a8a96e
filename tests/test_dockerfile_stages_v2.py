"""The FATE 2.x Dockerfiles built for real on this machine's engine, without any network.

As in tests/test_dockerfile_stages.py: every external image is a busybox stand-in (amd64 and
arm64) through bake named contexts, and only the network itself is stood in for: `mvn` by a
script that checks what the real build reads and writes what `package` writes (per project:
eggroll's jvm/, osx, FATE-Board's release zip), `pip` by a script that checks and logs what
it is asked to install, the apt stages by the stand-in. Everything else runs for real: the
COPYs of FATE's sources from a mini checkout of the real tree (testsupport.fate2_checkout),
the bake graph (fateflow and eggroll on base-image, fate-test on fateflow), every assembly
stage, install-requirements' per-architecture adaptation of FATE's real requirement lists.
The images are exported as OCI layouts and read back, and checked against FATE's 2.2
compose file (tests/data), the run contract.

Marked `engine`: skipped when `docker info` fails, a failure when CI=true.
"""

from __future__ import annotations

import io
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from generator.config import load_config
from generator.plan import build_plan
from generator.render import render
from testsupport import bake_allow_flags
from testsupport.constants import DOCKER
from testsupport.fate2_checkout import write_fate2_checkout

from . import test_dockerfile_stages as stages_1x
from .test_compose_contract_v2 import COMPOSE
from .test_dockerfile_stages import _run, read_oci_layout, write

pytestmark = pytest.mark.engine

# The engine check and the busybox stand-in, shared with the 1.x stage tests.
engine = stages_1x.engine
stand_in = stages_1x.stand_in

MAVEN = "maven:3.8.6-eclipse-temurin-8"
JRE = "eclipse-temurin:8u392-b08-jre-jammy"
PYTHONS = ("python:3.8-slim-bookworm", "python:3.10-slim-bookworm")

# `mvn -B -q -s settings.xml -DskipTests clean package`, per project, offline.
FAKE_MVN = r"""#!/bin/sh
set -eu
test -f pom.xml
case " $* " in *" -s /tmp/settings.xml "*) grep -q '<mirrorOf>central</mirrorOf>' /tmp/settings.xml ;; esac
if [ -d core ] && [ -d cluster_manager ]; then
    version=$(grep version ../BUILD_INFO | cut -d= -f2)
    test -d ../proto || { echo "mvn stand-in: eggroll's jvm/ needs ../proto" >&2; exit 1; }
    for m in core cluster_manager node_manager cluster_dashboard; do
        test -f $m/pom.xml
        mkdir -p $m/target/lib
        echo "$m $version" > $m/target/$m-$version.jar
        echo "dependency of $m" > $m/target/lib/dep-$m.jar
    done
elif [ -d osx-broker ]; then
    version=$(sed -n 's:.*<osx.version>\(.*\)</osx.version>.*:\1:p' pom.xml | head -n 1)
    test -f osx-core/pom.xml && test -f osx-broker/pom.xml
    mkdir -p osx-broker/target/lib
    echo "osx-broker $version" > osx-broker/target/osx-broker-$version.jar
    echo "dependency of osx-broker" > osx-broker/target/lib/dep-broker.jar
    for v in v2 v3; do
        if [ -d osx-pb-$v ]; then
            mkdir -p osx-pb-$v/target
            echo "pb $v $version" > osx-pb-$v/target/osx-pb-$v-$version.jar
            cp osx-pb-$v/target/osx-pb-$v-$version.jar osx-broker/target/lib/
        fi
    done
elif [ -f package.xml ]; then
    version=$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' pom.xml | head -n 1)
    mkdir -p target
    cp /fake/fateboard-$version-release.zip target/
else
    echo "mvn stand-in: not a project it knows" >&2; exit 1
fi
"""
FAKE_JAR = '#!/bin/sh\nset -eu\n[ "$1" = xf ] && exec unzip -o -q "$2"\n'
# pip: logs each call and the requirement files it is given; a local path must be a package.
FAKE_PIP = r"""#!/bin/sh
set -eu
log=/var/log/fake-pip.log
mkdir -p /var/log
echo "pip $*" >> $log
prev=
for a; do
    if [ "$prev" = -r ]; then echo "--- $a" >> $log; cat "$a" >> $log; echo >> $log; fi
    case "$a" in
        /*) [ "$prev" = -r ] || [ -f "$a/setup.py" ] || { echo "pip stand-in: no setup.py in $a" >&2; exit 1; } ;;
    esac
    prev=$a
done
"""


def _fateboard_zip(version: str) -> bytes:
    """What FATE-Board's package.xml assembles: the jar, lib/, conf/ (src/main/resources), service.sh."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as z:
        z.writestr(f"fateboard-{version}.jar", f"fateboard {version}\n")
        z.writestr("lib/spring-boot.jar", "dependency\n")
        z.writestr("conf/application.properties", "server.port=8080\n")
        z.writestr("conf/ssh.properties", "")
        z.writestr("service.sh", "#!/bin/bash\n")
        z.writestr("dag/toy_example.yaml", "component: toy\n")
    return data.getvalue()


def _image(tmp: Path, stand_in: str, name: str, files: dict[str, tuple[str | bytes, int]],
           platforms: str) -> str:
    context = tmp / name
    context.mkdir()
    lines = [f"FROM {stand_in.removeprefix('docker-image://')}"]
    for i, (dest, (content, mode)) in enumerate(files.items()):
        src = context / f"f{i}"
        src.write_bytes(content if isinstance(content, bytes) else content.encode())
        lines.append(f"COPY --chmod={mode:o} f{i} {dest}")
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    ref = f"{stand_in.removeprefix('docker-image://')}-{name}"
    _run(["docker", "buildx", "build", "--platform", platforms, "--load", "-t", ref, str(context)])
    return ref


@pytest.fixture(scope="module")
def tools(stand_in, tmp_path_factory):
    """docker-image:// refs of the stand-ins with fake mvn+jar (Maven) and fake pip (Python venv)."""
    tmp = tmp_path_factory.mktemp("v2-tools")
    maven = _image(tmp, stand_in, "v2-maven", {
        "/usr/bin/mvn": (FAKE_MVN, 0o755), "/usr/bin/jar": (FAKE_JAR, 0o755),
        "/fake/fateboard-2.0.0-release.zip": (_fateboard_zip("2.0.0"), 0o644),
        "/fake/fateboard-2.1.0-release.zip": (_fateboard_zip("2.1.0"), 0o644),
    }, "linux/amd64")
    # site-packages: where fateflow-spark puts its .pth line (a venv of Python 3.10 has it there).
    site_packages = "/data/projects/python/venv/lib/python3.10/site-packages"
    venv = _image(tmp, stand_in, "v2-venv", {"/usr/local/bin/pip": (FAKE_PIP, 0o755),
                                             f"{site_packages}/.keep": ("", 0o644)}, "linux/amd64,linux/arm64")
    yield {"maven": f"docker-image://{maven}", "venv": f"docker-image://{venv}"}
    for ref in (maven, venv):
        subprocess.run(["docker", "image", "rm", "-f", ref], capture_output=True)


def render_v2(root: Path, tag: str, platforms: str) -> tuple[Path, Path]:
    fate = write_fate2_checkout(root / f"FATE-{tag}", tag)
    (root / ".env").write_text("TAG=${version}-release\n")
    config = load_config(env_file=root / ".env", environ={}, overrides={
        "FATE_DIR": str(fate), "Platform": platforms, "DOCKER_DIR": str(DOCKER),
        "Build_Spark": "0", "Build_NN": "0", "Build_OP": "1"})
    plan = build_plan(config)
    bake_file = root / f"docker-bake.{tag}.{platforms.replace(',', '-')}.hcl"
    bake_file.write_text(render(plan, bake_file))
    return bake_file, fate


def bake_v2(bake_file: Path, out: Path, overrides: dict[str, dict], stand_in: str):
    import json
    external = {ref: stand_in for ref in (MAVEN, JRE, *PYTHONS)}
    targets = {name: {**o, "contexts": {**external, **o.get("contexts", {})},
                      "output": [f"type=oci,dest={out / name},tar=false"], "cache-from": [], "cache-to": []}
               for name, o in overrides.items()}
    override_file = out / "override.json"
    override_file.write_text(json.dumps({"target": targets}, indent=2))
    local = {Path(v) for t in targets.values() for v in t["contexts"].values()
             if isinstance(v, str) and v.startswith("/") and Path(v).exists()}
    _run(["docker", "buildx", "bake", "--progress=plain", "-f", str(bake_file), "-f", str(override_file),
          *bake_allow_flags(out, read=[DOCKER, bake_file.parent, *local]), *overrides], cwd=out)
    return {name: read_oci_layout(out / name) for name in overrides}


@pytest.fixture(scope="module")
def v22(engine, stand_in, tools, tmp_path_factory):
    """FATE v2.2.0's basic family and fate-test for amd64 and arm64, in one bake."""
    root = tmp_path_factory.mktemp("v2-stages")
    bake_file, fate = render_v2(root, "v2.2.0", "amd64,arm64")
    jre = root / "jre-dist"
    write(jre / "opt" / "java" / "openjdk" / "bin" / "java", "#!/bin/sh\n", 0o755)
    tini = write(root / "tini-dist" / "tini", '#!/bin/sh\nexec "$@"\n', 0o755).parent
    out = root / "out"
    out.mkdir()
    images = bake_v2(bake_file, out, {
        "base-image": {"contexts": {"venv": tools["venv"]}},
        "fateflow": {},
        "eggroll": {"contexts": {MAVEN: tools["maven"], "jre": str(jre)}},
        "osx": {"contexts": {MAVEN: tools["maven"], "tini": str(tini)}},
        "fateboard": {"contexts": {MAVEN: tools["maven"]}},
        "fate-test": {},
    }, stand_in)
    return images, fate


def test_the_2x_family_builds_for_amd64_and_arm64_offline(v22):
    images, _ = v22
    for name in ("base-image", "fateflow", "eggroll", "osx", "fateboard", "fate-test"):
        assert sorted(images[name]) == ["amd64", "arm64"], name


def test_base_image_carries_install_requirements(v22):
    images, _ = v22
    for image in images["base-image"].values():
        assert image.files["usr/local/bin/install-requirements"].mode & 0o111
        assert image.config["config"]["WorkingDir"] == "/data/projects/python/"


def _pip_log(image) -> str:
    return image.text("/var/log/fake-pip.log")


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_fateflow_installs_its_catalog_requirement_lists_adapted_to_the_architecture(v22, arch):
    images, fate = v22
    log = _pip_log(images["fateflow"][arch])
    files = re.findall(r"^--- (\S+)$", log, re.M)
    lists = [(fate / p).read_text() for p in ("python/requirements-fate.txt", "python/requirements-eggroll.txt",
                                              "fate_flow/python/requirements-flow.txt")]
    assert [f.rsplit("/", 1)[1] for f in files] == ["install-list-1.txt", "install-list-2.txt", "install-list-3.txt"]
    if arch == "amd64":
        assert all(text in log for text in lists)
    fate_list = lists[0]
    if arch == "amd64":
        assert fate_list in log and "torch==2.3.1+cpu" in log
    else:
        assert "torch==2.3.1\n" in log and "+cpu" not in log
    assert "pip install /data/projects/fate/fate_client/python" in log


def test_fateflow_holds_what_the_22_compose_runs_from_data_projects_fate(v22):
    images, _ = v22
    for image in images["fateflow"].values():
        base = "/data/projects/fate"
        for path in ("fate_flow/python/fate_flow/fate_flow_server.py", "fate/python/fate/_info.py",
                     "eggroll/python/setup.py", "fate_client/python/setup.py", "examples/config.yaml",
                     "fate_flow/fateflow.env"):
            assert image.has(f"{base}/{path}"), path
        assert not image.has(f"{base}/bin/init_env.sh") and not image.has(f"{base}/eggroll/jvm")
        cfg = image.config["config"]
        assert cfg["WorkingDir"] == base
        assert cfg["Cmd"] == ["/bin/bash", "-c", "python fate_flow/python/fate_flow/fate_flow_server.py"]
        assert {"9360/tcp", "9380/tcp"} <= set(cfg["ExposedPorts"])
        assert image.env["FATE_PROJECT_BASE"] == base


def test_eggroll_has_the_maven_jars_in_lib_and_conf_under_eggroll_home(v22):
    images, _ = v22
    for image in images["eggroll"].values():
        egg = "/data/projects/fate/eggroll"
        for module in ("core", "cluster_manager", "node_manager", "cluster_dashboard"):
            assert image.text(f"{egg}/lib/{module}-3.1.0.jar") == f"{module} 3.1.0\n"
            assert image.has(f"{egg}/lib/dep-{module}.jar")
        for path in ("conf/log4j2.xml", "conf/eggroll.properties", "bin/eggroll.sh", "python/setup.py"):
            assert image.has(f"{egg}/{path}"), path
        assert not image.has(f"{egg}/jvm")
        fate = "/data/projects/fate"
        for path in (f"{fate}/fate/python/fate/_info.py", f"{fate}/fate_client/python/setup.py",
                     f"{fate}/fate_flow/python/fate_flow/fate_flow_server.py", "/opt/java/openjdk/bin/java"):
            assert image.has(path), path
        assert image.files["tini"].issym() and image.files["tini"].linkname == "/usr/bin/tini"
        cfg = image.config["config"]
        assert cfg["Entrypoint"] == ["/tini", "--"]
        assert "org.fedai.eggroll.clustermanager.Bootstrap -p 4670" in cfg["Cmd"][-1]
        assert image.env["EGGROLL_HOME"] == egg and image.env["PATH"].startswith("/opt/java/openjdk/bin:")
        log = _pip_log(image)
        assert len(re.findall(r"^--- \S+/install-list-\d\.txt$", log, re.M)) == 3
        assert "lmdb==1.3.0" in log and "pynvml==11.5.0" in log  # eggroll/requirements.txt, -eggroll.txt


def test_osx_is_laid_out_as_auto_package_does_with_the_jar_its_command_names(v22):
    images, _ = v22
    for image in images["osx"].values():
        osx = "/data/projects/fate/osx"
        assert image.text(f"{osx}/lib/osx-broker-1.1.0.jar") == "osx-broker 1.1.0\n"
        assert image.has(f"{osx}/pb_lib/v3/osx-pb-v3-1.1.0.jar") and image.has(f"{osx}/pb_lib/v2/osx-pb-v2-1.1.0.jar")
        assert not any(n.startswith(f"{osx.lstrip('/')}/lib/osx-pb-") for n in image.files)
        assert image.has(f"{osx}/conf/broker/broker.properties")
        assert image.has(f"{osx}/conf/components/router.properties")
        assert image.has(f"{osx}/extension")
        assert "\r" not in image.text(f"{osx}/service.sh")
        cfg = image.config["config"]
        assert cfg["WorkingDir"] == osx and image.env["OSX_VERSION"] == "1.1.0"
        assert cfg["Entrypoint"] == ["/tini", "--"] and image.files["tini"].mode & 0o111
        assert "org.fedai.osx.broker.Bootstrap" in cfg["Cmd"][-1] and "pb_lib/v3/*" in cfg["Cmd"][-1]


def test_fateboard_is_under_fate_board_with_the_versioned_jar_and_the_kubefate_path(v22):
    images, _ = v22
    for image in images["fateboard"].values():
        board = "data/projects/fate/fate_board"
        assert image.files[f"{board}/fateboard.jar"].linkname == "fateboard-2.1.0.jar"
        assert image.has(f"/{board}/fateboard-2.1.0.jar") and image.has(f"/{board}/lib/spring-boot.jar")
        assert image.has(f"/{board}/conf/application.properties") and image.has(f"/{board}/ssh/ssh.properties")
        assert image.files["data/projects/fate/fateboard"].linkname == "fate_board"
        cfg = image.config["config"]
        assert "org.fedai.fate.board.bootstrap.Bootstrap" in cfg["Cmd"][-1] and "8080/tcp" in cfg["ExposedPorts"]


def test_fate_test_installs_fate_test_on_fateflow(v22):
    images, _ = v22
    for image in images["fate-test"].values():
        assert image.has("/data/projects/fate/fate_test/python/setup.py")
        assert image.has("/data/projects/fate/fate_flow/python/fate_flow/fate_flow_server.py")
        # With FATE's own list for fate_test (its setup.py alone takes the newest xgboost and NCCL).
        assert ("pip install -r /data/projects/fate/fate_test/python/requirements.txt "
                "/data/projects/fate/fate_test/python") in _pip_log(image)


def test_the_built_images_run_the_22_composes_commands(v22):
    """The compose's own `command:` of each service, against the built image's CMD and files."""
    from ruamel.yaml import YAML

    images, _ = v22
    services = YAML(typ="safe").load(COMPOSE.read_text())["services"]

    def java(text: str) -> str:
        return " ".join(text.replace("$$", "$").removeprefix("exec ").split())

    osx = images["osx"]["amd64"]
    ours = java(osx.config["config"]["Cmd"][-1]).replace("${OSX_VERSION}", osx.env["OSX_VERSION"])
    assert ours == java(services["osx"]["command"][2])
    jar = re.search(r"/data/projects/fate/osx/(lib/osx-broker-[\d.]+\.jar)", ours).group(1)
    assert osx.has(f"/data/projects/fate/osx/{jar}")
    board = images["fateboard"]["amd64"]
    theirs = java(services["fateboard"]["command"][2])
    versioned = re.search(r"fate_board/(fateboard-[\d.]+\.jar)", theirs).group(1)
    assert board.has(f"/data/projects/fate/fate_board/{versioned}")
    assert java(board.config["config"]["Cmd"][-1]).replace("fateboard.jar", versioned) == theirs
    egg = images["eggroll"]["amd64"]
    assert java(egg.config["config"]["Cmd"][-1]) == java(services["clustermanager"]["command"][2])


@pytest.fixture(scope="module")
def v20(engine, stand_in, tools, tmp_path_factory):
    """FATE v2.0.0's osx (1.0.0: no protobuf modules) and fateboard 2.0.0, amd64."""
    root = tmp_path_factory.mktemp("v2-stages-200")
    bake_file, _ = render_v2(root, "v2.0.0", "amd64")
    out = root / "out"
    out.mkdir()
    tini = write(root / "tini-dist" / "tini", '#!/bin/sh\nexec "$@"\n', 0o755).parent
    images = bake_v2(bake_file, out, {
        "osx": {"contexts": {MAVEN: tools["maven"], "tini": str(tini)}},
        "fateboard": {"contexts": {MAVEN: tools["maven"]}},
    }, stand_in)
    return {name: image["amd64"] for name, image in images.items()}


def test_fate_200_builds_osx_100_without_protobuf_modules_and_its_own_fateboard(v20):
    osx = v20["osx"]
    assert osx.text("/data/projects/fate/osx/lib/osx-broker-1.0.0.jar") == "osx-broker 1.0.0\n"
    assert osx.env["OSX_VERSION"] == "1.0.0"
    assert not any(n.startswith("data/projects/fate/osx/pb_lib/v3/") and n.endswith(".jar") for n in osx.files)
    assert v20["fateboard"].files["data/projects/fate/fate_board/fateboard.jar"].linkname == "fateboard-2.0.0.jar"


def test_a_wrong_osx_version_fails_the_build_naming_the_jar(engine, stand_in, tools, tmp_path):
    bake_file, _ = render_v2(tmp_path, "v2.2.0", "amd64")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(AssertionError, match=r"no lib/osx-broker-9.9.9.jar"):
        tini = write(tmp_path / "tini-dist" / "tini", "#!/bin/sh\n", 0o755).parent
        bake_v2(bake_file, out, {"osx": {"contexts": {MAVEN: tools["maven"], "tini": str(tini)},
                                         "args": {"OSX_VERSION": "9.9.9"}}}, stand_in)


