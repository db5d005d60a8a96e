"""The real Dockerfiles take every fetch from the settings: built here against mirrors on loopback.

Nothing is reachable from this machine but 127.0.0.0/8, so each kind of fetch gets a mirror of its
own there and a stage of a real Dockerfile is built against it, with the settings passed the way
fate-builder passes them (bake variables and the `network`/`ca` secrets, generator.render.bake_variables):

* registry: IMAGE_MIRROR is the loopback registry (127.0.0.1:5000, a repository of this run), holding
  stand-ins under the mirrored names (`<mirror>/library/python:3.8.18-slim-bookworm`, ...); the
  registry's own log shows the pulls;
* PyPI: fate-upgrade-manager's `runtime` stage runs the host's real pip (copied into the Python
  stand-in) against a simple index on loopback over HTTPS, signed by a CA made here and given as
  CA_BUNDLE, serving wheels made here: pip succeeds only if the CA secret was visible in the step;
* downloads: spark-base's `spark-fetch` stage runs the host's curl and GNU tar (in the JRE stand-in)
  against APACHE_MIRROR, checksum check included;
* apt, yum, Maven: nginx's `runtime`, eggroll's `runtime` (amd64: yum) and eggroll's `eggroll-build`
  stages run on stand-ins whose apt-get, yum and mvn fetch the first file the real tool would
  (InRelease, repomd.xml, a plugin's maven-metadata.xml) from the repositories the step points
  them at, and install nothing;
* git: the fate-llm `assemble` stage copies FATE-LLM from a git repository served over git's dumb
  HTTP protocol at GITHUB_URL (BuildKit fetches it itself).

Each passes only when the mirror's request log shows the request. The CA and the index URL are then
looked for in every blob of the exported image (layers, config and history, provenance).

Marked `engine`; RUN steps use the host network (`network = host`) to reach loopback servers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.config import load_config
from generator.render import bake_variables
from testsupport import bake_allow_flags, scrubbed_environ, write_fate_checkout, write_fate_llm_checkout
from testsupport.constants import DOCKER
from testsupport.mirrors import Server, make_ca, start_server, stop
from testsupport.probes import buildx_version

from .test_dockerfile_stages import BUSYBOX_DIR, FAKE_MVN, _run, engine  # noqa: F401 (fixture)
from .test_dockerfiles import render_bake

pytestmark = pytest.mark.engine

REGISTRY = "127.0.0.1:5000"
REGISTRY_LOG = Path(os.environ.get("FATE_BUILDER_CACHE", "/var/cache/fate-builder")) / "run" / "registry.log"
TAG = "1.11.2-release"
IMAGES = {
    "python": "python:3.8.18-slim-bookworm",
    "jre": "eclipse-temurin:8u392-b08-jre-jammy",
    "ubuntu": "ubuntu:bionic-20230530",
    "maven": "maven:3.8.6-eclipse-temurin-8",
}
WHEELS = {"mysql-connector-python": "8.0.33", "kubernetes": "26.1.0"}

# Stand-ins for the package managers: each fetches what the real tool fetches first from the
# repositories it is pointed at, and fails when that fails; none installs anything.
APT_GET = r"""#!/bin/sh
list=/etc/apt/sources.list
for a in "$@"; do case "$a" in Dir::Etc::SourceList=*) list=${a#Dir::Etc::SourceList=} ;; esac; done
case " $* " in
*" update "*)
    lines=$(grep '^deb ' "$list" | awk '{sub("/$", "", $2); print $2 "/dists/" $3 "/InRelease"}')
    [ -n "$lines" ] || { echo "apt-get stand-in: no deb line in $list" >&2; exit 1; }
    for url in $lines; do wget -q -O /dev/null "$url" || exit 1; done ;;
esac
"""
YUM = r"""#!/bin/sh
dir=/etc/yum.repos.d
for a in "$@"; do case "$a" in --setopt=reposdir=*) dir=${a#--setopt=reposdir=} ;; esac; done
urls=$(sed -n 's/^baseurl=//p' "$dir"/CentOS-*.repo | sed -e 's/\$releasever/7/g' -e 's/\$basearch/x86_64/g')
[ -n "$urls" ] || { echo "yum stand-in: no baseurl in $dir" >&2; exit 1; }
for url in $urls; do wget -q -O /dev/null "${url%/}/repodata/repomd.xml" || exit 1; done
"""
MVN = r"""#!/bin/sh
settings=
while [ $# -gt 0 ]; do [ "$1" = -s ] && settings=$2; shift; done
url=$(sed -n 's#.*<url>\([^<]*\)</url>.*#\1#p' "$settings")
wget -q -O /dev/null "${url%/}/org/apache/maven/plugins/maven-clean-plugin/maven-metadata.xml" || exit 1
""" + FAKE_MVN.split("set -eu\n", 1)[1]
STRACE = "#!/bin/sh\necho 'strace -- version 4.24'\n"
KEYTOOL = "#!/bin/sh\nexit 0\n"


def _write(path: Path, text: str | bytes, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    path.chmod(mode)
    return path


# ---------------------------------------------------------------------------------------
# What the mirrors serve.


def make_wheel(directory: Path, project: str, version: str) -> Path:
    """A pure-Python wheel with no dependencies, made here."""
    dist = project.replace("-", "_")
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}_fate_builder_test.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: fate-builder-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as whl:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            whl.writestr(name, text)
    return path


def write_simple_index(root: Path) -> None:
    """PEP 503 pages for WHEELS under root/simple, the files under root/packages."""
    for project, version in WHEELS.items():
        wheel = make_wheel(root / "packages", project, version)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        _write(root / "simple" / project / "index.html",
               f'<html><body><a href="../../packages/{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>\n')


def write_downloads(root: Path) -> None:
    """Spark as spark-base's spark-fetch stage downloads it, with its .sha512 in gpg's format."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"#!/bin/sh\necho spark stand-in\n"
        info = tarfile.TarInfo("spark-3.1.3-bin-hadoop3.2/bin/spark-class")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    name = "spark-3.1.3-bin-hadoop3.2.tgz"
    blob = buf.getvalue()
    digest = hashlib.sha512(blob).hexdigest().upper()
    spaced = " ".join(digest[i:i + 4] for i in range(0, len(digest), 4))
    _write(root / "dl" / "spark" / "spark-3.1.3" / name, blob)
    _write(root / "dl" / "spark" / "spark-3.1.3" / f"{name}.sha512", f"{name}: {spaced}\n")


def write_repositories(root: Path) -> None:
    _write(root / "apt" / "ubuntu" / "dists" / "bionic" / "InRelease", "stand-in\n")
    _write(root / "apt" / "ubuntu" / "dists" / "bionic-security" / "InRelease", "stand-in\n")
    _write(root / "yum" / "centos" / "7" / "os" / "x86_64" / "repodata" / "repomd.xml", "<repomd/>\n")
    _write(root / "maven" / "org" / "apache" / "maven" / "plugins" / "maven-clean-plugin" / "maven-metadata.xml",
           "<metadata/>\n")


def write_git_repository(root: Path, work: Path) -> None:
    """FATE-LLM's stand-in at v1.2.0 as a bare repository served over git's dumb HTTP protocol."""
    source = write_fate_llm_checkout(work / "fate-llm")
    bare = root / "git" / "FederatedAI" / "FATE-LLM.git"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}

    def git(*args: str, cwd: Path) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

    git("init", "-q", cwd=source)
    git("add", "-A", cwd=source)
    git("commit", "-q", "-m", "stand-in", cwd=source)
    git("tag", "v1.2.0", cwd=source)
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "-q", "--bare", str(source), str(bare), cwd=work)
    git("update-server-info", cwd=bare)


# ---------------------------------------------------------------------------------------
# Stand-in base images, pushed under the mirrored names.


def _libraries(binaries: list[Path]) -> set[Path]:
    found: set[Path] = set()
    for binary in binaries:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split("=>")[-1].split()
            if parts and parts[0].startswith("/"):
                found.add(Path(parts[0]))
    return found


def copy_host(paths: list[Path], rootfs: Path, *, ldd: list[Path] | None = None) -> None:
    """Host files (and the shared libraries of `ldd`) into rootfs at the same paths, links followed."""
    for path in [*paths, *_libraries(ldd or [])]:
        dest = rootfs / str(path).lstrip("/")
        if path.is_dir():
            skipped = shutil.ignore_patterns("__pycache__", "test", "tests", "idlelib", "EXTERNALLY-MANAGED")
            shutil.copytree(path, dest, symlinks=False, dirs_exist_ok=True, ignore=skipped)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path.resolve(), dest)


def stand_in_rootfs(root: Path, kind: str, nonce: str) -> Path:
    rootfs = root / kind / "rootfs"
    _write(rootfs / "bin" / "busybox", (BUSYBOX_DIR / "amd64" / "busybox").read_bytes(), 0o755)
    _write(rootfs / "etc" / "fate-builder-nonce", nonce)
    if kind == "python":
        python = Path("/usr/bin/python3.11")
        dynload = sorted(Path("/usr/lib/python3.11/lib-dynload").glob("*.so"))
        copy_host([python, Path("/usr/lib/python3.11"), Path("/usr/lib/python3/dist-packages/pip")], rootfs,
                  ldd=[python, *dynload])
        _write(rootfs / "usr" / "local" / "bin" / "pip", '#!/bin/sh\nexec /usr/bin/python3.11 -m pip "$@"\n', 0o755)
    elif kind == "jre":
        tools = [Path("/usr/bin/curl"), Path("/usr/bin/tar")]
        copy_host(tools, rootfs, ldd=tools)
    elif kind == "ubuntu":
        _write(rootfs / "usr" / "local" / "bin" / "apt-get", APT_GET, 0o755)
        _write(rootfs / "etc" / "apt" / "sources.list", "deb http://archive.ubuntu.com/ubuntu/ bionic main\n"
               "deb http://security.ubuntu.com/ubuntu/ bionic-security main\n")
        (rootfs / "etc" / "apt" / "apt.conf.d").mkdir(parents=True)
    elif kind == "centos":  # base-image as the real one leaves CentOS: repositories on vault.centos.org
        _write(rootfs / "usr" / "local" / "bin" / "yum", YUM, 0o755)
        _write(rootfs / "usr" / "local" / "bin" / "strace", STRACE, 0o755)
        _write(rootfs / "etc" / "yum.repos.d" / "CentOS-Base.repo",
               "[base]\nname=CentOS-$releasever - Base\n#mirrorlist=http://mirrorlist.centos.org/?release=7\n"
               "baseurl=http://vault.centos.org/centos/$releasever/os/$basearch/\n")
    elif kind == "maven":
        _write(rootfs / "usr" / "local" / "bin" / "mvn", MVN, 0o755)
        _write(rootfs / "usr" / "local" / "bin" / "keytool", KEYTOOL, 0o755)
    return rootfs


def push_stand_in(root: Path, kind: str, reference: str, nonce: str) -> None:
    stand_in_rootfs(root, kind, nonce)
    (root / kind / "Dockerfile").write_text(
        "FROM scratch\nCOPY rootfs/ /\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "RUN mkdir -p /tmp /root /var/lib/apt/lists /var/cache/apt /var/cache/yum && chmod 1777 /tmp\n"
        "ENV PATH=/usr/local/bin:/usr/bin:/bin\n")
    _run(["docker", "buildx", "build", "--platform", "linux/amd64", "--provenance=false",
          "--output", f"type=image,name={reference},push=true", str(root / kind)])
    # Only in the registry: a build finds it there or nowhere.
    subprocess.run(["docker", "image", "rm", "-f", reference], capture_output=True)


# ---------------------------------------------------------------------------------------


@dataclass
class Mirrors:
    image_mirror: str
    plain: Server
    pypi: Server
    ca: Path
    work: Path
    fate: Path

    def settings(self) -> dict[str, str]:
        return {
            "IMAGE_MIRROR": self.image_mirror,
            "PIP_INDEX_URL": f"{self.pypi.url}/simple",
            "APACHE_MIRROR": f"{self.plain.url}/dl",
            "APT_MIRROR": f"{self.plain.url}/apt",
            "YUM_MIRROR": f"{self.plain.url}/yum",
            "MAVEN_MIRROR": f"{self.plain.url}/maven",
            "GITHUB_URL": f"{self.plain.url}/git",
            "CA_BUNDLE": str(self.ca),
            "FATE_DIR": str(self.fate),
            "DOCKER_DIR": str(DOCKER),
            "TAG": TAG,
        }


@pytest.fixture(scope="module")
def mirrors(engine, tmp_path_factory):  # noqa: F811
    work = tmp_path_factory.mktemp("mirrors")
    served = work / "served"
    ca, cert, key = make_ca(work / "tls")
    write_simple_index(served / "pypi")
    write_downloads(served / "http")
    write_repositories(served / "http")
    write_git_repository(served / "http", work)
    nonce = secrets.token_hex(4)
    image_mirror = f"{REGISTRY}/i15mirror-{nonce}"
    for kind in ("python", "jre", "ubuntu", "maven"):
        push_stand_in(work / "images", kind, f"{image_mirror}/library/{IMAGES[kind]}", nonce)
    push_stand_in(work / "images", "centos", f"{image_mirror}/parent/base-image:{TAG}", nonce)
    plain = start_server(served / "http", work, "plain")
    pypi = start_server(served / "pypi", work, "pypi", tls=(cert, key))
    try:
        yield Mirrors(image_mirror, plain, pypi, ca, work, write_fate_checkout(work / "FATE"))
    finally:
        stop(plain)
        stop(pypi)


def _network_allow() -> list[str]:
    """buildx 0.17+ asks bake for the host network to be granted; 0.13's bake has no --allow."""
    version = buildx_version()
    return ["--allow=network.host"] if version and version >= (0, 17) else []


@pytest.fixture(scope="module")
def built(mirrors: Mirrors):
    """One bake of the stages of real Dockerfiles that fetch, each against its mirror."""
    out = mirrors.work / "out"
    out.mkdir()
    bake_file = render_bake(mirrors.work, mirrors.fate, platforms="amd64")
    parent = f"docker-image://{mirrors.image_mirror}/parent/base-image:{TAG}"
    host = {"network": "host", "cache-from": [], "cache-to": []}
    targets = {
        "fate-upgrade-manager": {**host, "target": "runtime", "attest": ["type=provenance,mode=max"],
                                 "output": [f"type=oci,dest={out / 'fum.tar'}"]},
        # A parent linked with `target:` is built even where the stage baked does not use it.
        "spark-base": {**host, "target": "spark-fetch", "output": [f"type=local,dest={out / 'spark'}"],
                       "contexts": {f"federatedai/fateflow:{TAG}": parent}},
        "nginx": {**host, "target": "runtime", "output": ["type=cacheonly"]},
        "eggroll": {**host, "target": "runtime", "output": ["type=cacheonly"],
                    "contexts": {f"federatedai/base-image:{TAG}": parent}},
        "eggroll-maven": {**host, "inherits": ["eggroll"], "target": "eggroll-build", "output": ["type=cacheonly"],
                          "contexts": {f"federatedai/base-image:{TAG}": parent}},
        "fateflow-all-gpu": {**host, "target": "assemble", "output": [f"type=local,dest={out / 'llm'}"],
                             "contexts": {f"federatedai/fateflow-nn-gpu:{TAG}": parent}},
    }
    override = _write(out / "override.json", json.dumps({"target": targets}, indent=2))
    config = load_config(environ={}, overrides={**mirrors.settings(), "Build_LLM": "1", "Build_GPU": "1"})
    env = scrubbed_environ(bake_variables(config))
    registry_log_start = REGISTRY_LOG.stat().st_size
    files = ["-f", str(bake_file), "-f", str(override)]
    printed = json.loads(subprocess.run(["docker", "buildx", "bake", *files, "--print", *targets], check=True,
                                        capture_output=True, text=True, env=env, cwd=out).stdout)
    if all(t.get("network") == "host" for t in printed["target"].values()):
        command = ["docker", "buildx", "bake", "--progress=plain", *files,
                   *bake_allow_flags(out, read=[DOCKER, bake_file.parent, mirrors.fate, mirrors.ca.parent],
                                     write=[out]),
                   *_network_allow(), *targets]
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=out)
        assert result.returncode == 0, result.stderr[-8000:]
    else:  # buildx 0.13's bake has no `network`: each target as bake resolved it, built with the host network
        for name, target in printed["target"].items():
            result = subprocess.run(build_command(target), capture_output=True, text=True, env=env, cwd=out)
            assert result.returncode == 0, f"{name}:\n{result.stderr[-8000:]}"
    with open(REGISTRY_LOG, "rb") as log:
        log.seek(registry_log_start)
        pulls = log.read().decode(errors="replace")
    return out, pulls, config


def build_command(target: dict) -> list[str]:
    """`docker buildx build` of one target of bake's --print, on the host network."""
    command = ["docker", "buildx", "build", "--progress=plain", "--network=host",
               "-f", str(Path(target["context"], target.get("dockerfile", "Dockerfile")))]
    if target.get("target"):
        command += ["--target", target["target"]]
    command += [f"--platform={p}" for p in target.get("platforms", [])]
    command += [f"--build-arg={k}={v}" for k, v in target.get("args", {}).items()]
    command += [f"--build-context={k}={v}" for k, v in target.get("contexts", {}).items()]
    for flag in ("secret", "output", "attest"):
        command += [f"--{flag}={_entry_text(e)}" for e in target.get(flag, [])]
    return [*command, target["context"]]


def _entry_text(entry: str | dict) -> str:
    return entry if isinstance(entry, str) else ",".join(f"{k}={v}" for k, v in entry.items())


def _requested(server: Server, path: str) -> bool:
    return any(line.split()[1].startswith(path) and line.split()[2] in ("200", "304") for line in server.requests())


def test_base_images_are_pulled_from_image_mirror_under_their_mirrored_names(built, mirrors):
    _, pulls, _ = built  # the registry's log while the bake ran
    repository = mirrors.image_mirror.removeprefix(f"{REGISTRY}/")
    for kind in ("python", "jre", "ubuntu", "maven"):
        name, tag = IMAGES[kind].split(":")
        assert re.search(rf'"(?:GET|HEAD) /v2/{re.escape(repository)}/library/{name}/manifests/{tag} ', pulls), \
            f"{kind}: no pull of {mirrors.image_mirror}/library/{IMAGES[kind]} in {REGISTRY_LOG}"


def test_pip_installs_from_the_loopback_index_over_tls_signed_by_the_ca_secret(built, mirrors):
    for project in WHEELS:
        assert _requested(mirrors.pypi, f"/simple/{project}/"), mirrors.pypi.requests()
    assert any("/packages/mysql_connector_python-8.0.33" in line for line in mirrors.pypi.requests())


def test_downloads_come_from_the_download_mirror_and_pass_their_checksum(built, mirrors):
    out, _, _ = built
    assert _requested(mirrors.plain, "/dl/spark/spark-3.1.3/spark-3.1.3-bin-hadoop3.2.tgz")
    assert _requested(mirrors.plain, "/dl/spark/spark-3.1.3/spark-3.1.3-bin-hadoop3.2.tgz.sha512")
    assert (out / "spark" / "dist" / "bin" / "spark-class").is_file()


def test_apt_and_yum_read_the_repositories_at_their_mirrors(built, mirrors):
    assert _requested(mirrors.plain, "/apt/ubuntu/dists/bionic/InRelease")
    assert _requested(mirrors.plain, "/apt/ubuntu/dists/bionic-security/InRelease")
    assert _requested(mirrors.plain, "/yum/centos/7/os/x86_64/repodata/repomd.xml")


def test_maven_resolves_through_maven_mirror(built, mirrors):
    assert _requested(mirrors.plain, "/maven/org/apache/maven/plugins/maven-clean-plugin/maven-metadata.xml")


def test_git_sources_are_fetched_from_github_url(built, mirrors):
    out, _, _ = built
    assert _requested(mirrors.plain, "/git/FederatedAI/FATE-LLM.git/info/refs")
    assert (out / "llm" / "data" / "projects" / "fate" / "fate" / "python" / "fate_llm").is_dir()


def _blobs(oci_tar: Path) -> dict[str, bytes]:
    """Every blob of an OCI archive, layers decompressed."""
    found = {}
    with tarfile.open(oci_tar) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith("blobs/"):
                data = tar.extractfile(member).read()
                found[member.name] = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return found


def test_the_ca_and_the_mirror_urls_are_in_no_layer_history_or_provenance(built, mirrors):
    out, _, config = built
    blobs = _blobs(out / "fum.tar")
    ca_body = "".join(mirrors.ca.read_text().splitlines()[1:-1])[:64].encode()
    secrets_text = [ca_body, mirrors.pypi.url.encode(), b"PIP_INDEX_URL="]
    texts = [json.loads(b) for b in blobs.values() if b[:1] == b"{"]
    assert any(t.get("predicateType", "").startswith("https://slsa.dev/provenance") for t in texts), \
        "no provenance attestation exported"
    assert any("history" in t for t in texts), "no image config exported"
    for name, data in blobs.items():
        for secret in secrets_text:
            assert secret not in data, f"{secret[:20]!r} found in {name}"
    # The wheels did land in the image (so the blobs searched are the image that pip built).
    assert any(b"mysql_connector_python_fate_builder_test.py" in data for data in blobs.values())


# ---------------------------------------------------------------------------------------
# How mirror values meet the cache key (the README's decision rests on this).

CACHE_KEY_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY nonce /nonce
ARG MIRROR_ARG=upstream
RUN --mount=type=secret,id=network,target=/run/secrets/network \\
    set -eu; [ ! -f /run/secrets/network ] || . /run/secrets/network; \\
    [ -n "${MIRROR:-}" ]; cat /proc/sys/kernel/random/uuid > /stamp
"""


def _stamp(context: Path, out: Path, network: str, arg: str) -> str:
    """/stamp of a build with `network` as the secret and MIRROR_ARG=`arg`: a new one means the step ran."""
    env = {**scrubbed_environ(), "I15_NETWORK": network}
    subprocess.run(["docker", "buildx", "build", "--platform", "linux/amd64", "--secret", "id=network,env=I15_NETWORK",
                    "--build-arg", f"MIRROR_ARG={arg}", "--output", f"type=local,dest={out}", str(context)],
                   check=True, capture_output=True, env=env)
    return (out / "stamp").read_text()


def test_a_mirror_in_the_network_secret_keeps_the_cache_key_and_a_build_arg_does_not(engine, tmp_path):  # noqa: F811
    context = tmp_path / "context"
    _write(context / "busybox", (BUSYBOX_DIR / "amd64" / "busybox").read_bytes(), 0o755)
    _write(context / "nonce", secrets.token_hex(8))
    _write(context / "Dockerfile", CACHE_KEY_DOCKERFILE)
    first = _stamp(context, tmp_path / "1", "export MIRROR=https://mirror-a.example.com\n", "a")
    other_secret = _stamp(context, tmp_path / "2", "export MIRROR=https://mirror-b.example.com\n", "a")
    other_arg = _stamp(context, tmp_path / "3", "export MIRROR=https://mirror-b.example.com\n", "b")
    assert other_secret == first, "a different secret ran the step again"
    assert other_arg != first, "a different build arg was answered from the cache"


# ---------------------------------------------------------------------------------------
# On a machine that reaches no registry: the closing lines name every image and the way out.


def test_a_bake_without_a_registry_names_every_image_it_could_not_pull_and_the_setting(engine, tmp_path):  # noqa: F811
    fate = write_fate_checkout(tmp_path / "FATE")
    settings = {"FATE_DIR": str(fate), "Platform": "amd64", "Build_Basic": "1", "Build_OP": "0", "Build_NN": "0",
                "Build_Spark": "0", "Build_FUM": "1", "TAG": TAG, "DOCKER_DIR": str(DOCKER)}
    defines = [arg for name, value in settings.items() for arg in ("-D", f"{name}={value}")]
    result = subprocess.run([sys.executable, "-m", "generator", *defines, "bake", "--progress", "quiet"],
                            capture_output=True, text=True, cwd=tmp_path, env=scrubbed_environ())
    assert result.returncode != 0
    closing = [line for line in result.stderr.splitlines() if line.startswith("fate-builder: cannot pull")]
    assert len(closing) == 1, result.stderr[-4000:]
    line = closing[0]
    for image in ("centos:centos7", "eclipse-temurin:8u392-b08-jre-jammy", "maven:3.8.6-eclipse-temurin-8",
                  "python:3.8.18-slim-bookworm"):
        assert image in line, result.stderr[-6000:]
    assert "registry-1.docker.io is not reachable; set IMAGE_MIRROR, or load them with 'fate-builder load'" in line
    assert "Traceback" not in result.stderr
