"""Shared fixtures and helpers of the end-to-end tests (a real Docker engine, buildx, a registry).

Test modules load this as a plugin (`pytest_plugins = ["tests.e2e.engine"]`), so its
session fixtures exist once per run however many modules use them.

* `engine` skips every engine test when `docker info` fails, or fails them when CI=true.
* Every image a session makes is named under `127.0.0.1:5000/fbe2e<random>/<purpose>/`
  and removed at the end of the session (tags in the local registry are deleted too).
* The FATE checkout and the Dockerfile tree are the stand-ins of testsupport/; each
  tree gets a nonce of this session, so no build cache from an earlier run can answer
  for a build that a test expects to happen.
* fate-builder runs as a user runs it: `python -m generator ...` in a subprocess, from an
  empty directory (no .env), with the settings variables removed from its environment.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from generator import catalog
from generator.progress import Vertex
from generator.progress import read as read_progress
from testsupport import (
    busybox_dir,
    docker_info,
    missing_busybox,
    scrubbed_environ,
    write_fate_checkout,
    write_fate_llm_checkout,
    write_ipcl_checkout,
    write_standin_tree,
)
from testsupport.constants import IN_CI

REGISTRY = os.environ.get("FATE_BUILDER_REGISTRY", "127.0.0.1:5000")
REGISTRY_URL = f"http://{REGISTRY}"
TAG = "e2e"

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ALL_MANIFESTS = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))


def only(*flags: str) -> dict[str, str]:
    """Build_* settings with exactly these families on, e.g. only("Basic")."""
    return {catalog.flag_setting(flag): "1" if flag in flags else "0" for flag in catalog.FLAGS}


def _fail_or_skip(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the engine is required; scripts/ci/provision-engine.sh sets it up)")
    pytest.skip(f"{reason} (run scripts/ci/provision-engine.sh)")


# --------------------------------------------------------------------------------------
# docker and registry helpers
# --------------------------------------------------------------------------------------


def docker(
    *args: str,
    check: bool = True,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["docker", *args], capture_output=True, timeout=timeout, env=None if env is None else dict(env), input=input
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr.decode(errors='replace')}"
        )
    return result


def image_exists(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


def image_id(ref: str) -> str:
    return docker("image", "inspect", "-f", "{{.Id}}", ref).stdout.decode().strip()


def image_layers(ref: str) -> list[str]:
    return json.loads(docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", ref).stdout)


def image_labels(ref: str) -> dict[str, str]:
    return json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", ref).stdout) or {}


def run_in(ref: str, *command: str, platform: str | None = None) -> str:
    """stdout of a command in a throwaway container of the image."""
    args = ["run", "--rm", "--network", "none"]
    if platform:
        args += ["--platform", platform]
    return docker(*args, ref, *command, timeout=120).stdout.decode()


def remove_images(refs: Iterable[str]) -> None:
    """`docker image rm -f`, several at once: the containerd store takes ~1s per image."""
    refs = list(refs)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda r: docker("image", "rm", "-f", r, check=False), refs))


def parallel(function, items: Iterable) -> list:
    """function(item) for every item, a few at a time (each `docker run` costs about a second)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(function, items))


def local_refs_under(prefix: str) -> list[str]:
    out = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.decode()
    return sorted({line for line in out.splitlines() if line.startswith(prefix)})


def registry_get(path: str, accept: str | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(f"{REGISTRY_URL}{path}", method=method)
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def registry_repositories(namespace: str) -> list[str]:
    """Repositories of the local registry under `namespace/` (namespace without the host)."""
    found: list[str] = []
    path: str | None = "/v2/_catalog?n=1000"
    while path:
        status, headers, body = registry_get(path)
        assert status == 200, f"GET {path}: {status} {body[:200]!r}"
        found += json.loads(body).get("repositories") or []
        link = {k.lower(): v for k, v in headers.items()}.get("link", "")
        match = re.match(r'<([^>]+)>;\s*rel="next"', link)
        path = match.group(1) if match else None
    return sorted(r for r in found if r.startswith(namespace + "/"))


def registry_tags(repository: str) -> list[str]:
    status, _, body = registry_get(f"/v2/{repository}/tags/list")
    if status == 404:
        return []
    assert status == 200, f"GET /v2/{repository}/tags/list: {status} {body[:200]!r}"
    return sorted(json.loads(body).get("tags") or [])


def registry_manifest(repository: str, reference: str, accept: str = ALL_MANIFESTS) -> tuple[int, dict, dict]:
    status, headers, body = registry_get(f"/v2/{repository}/manifests/{reference}", accept=accept)
    return status, headers, (json.loads(body) if status == 200 else {})


def _delete_registry_namespace(namespace: str) -> None:
    """Best effort: delete every tagged manifest under namespace (the registry allows deletes)."""
    try:
        repositories = registry_repositories(namespace)
    except Exception:  # noqa: BLE001 - cleanup must not hide the test result
        return
    for repository in repositories:
        for tag in registry_tags(repository):
            status, headers, _ = registry_get(f"/v2/{repository}/manifests/{tag}", accept=ALL_MANIFESTS, method="HEAD")
            digest = {k.lower(): v for k, v in headers.items()}.get("docker-content-digest")
            if status == 200 and digest:
                registry_get(f"/v2/{repository}/manifests/{digest}", method="DELETE")


def archive_refs(path: Path) -> set[str]:
    """Image references in a (gzip-compressed) `docker save` archive; reads it to the end."""
    refs: set[str] = set()
    with tarfile.open(path, "r:*") as tar:
        members = {m.name: m for m in tar.getmembers()}  # walks the whole archive: a truncated one fails
        if "manifest.json" in members:
            for entry in json.load(tar.extractfile(members["manifest.json"])):
                refs.update(entry.get("RepoTags") or [])
        if "index.json" in members:
            for manifest in json.load(tar.extractfile(members["index.json"])).get("manifests", []):
                name = (manifest.get("annotations") or {}).get("io.containerd.image.name")
                if name:
                    refs.add(name.removeprefix("docker.io/"))
    return refs


# --------------------------------------------------------------------------------------
# BuildKit progress
# --------------------------------------------------------------------------------------


def parse_progress(text: str) -> dict[str, Vertex]:
    """BuildKit's vertices in a plain progress log, by id (generator.progress reads it)."""
    return read_progress(text).vertices


def run_steps(steps: Mapping[str, Vertex]) -> list[Vertex]:
    """The Dockerfile RUN steps among the vertices."""
    return [s for s in steps.values() if s.is_step and any(label.name.startswith("RUN ") for label in s.labels)]


# --------------------------------------------------------------------------------------
# fate-builder
# --------------------------------------------------------------------------------------


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    log: Path | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def explain(self) -> str:
        """The command, its status, BuildKit's error lines and the tail of the output."""
        lines = self.output.splitlines()
        errors = [line for line in lines[:-40] if re.search(r"ERROR|CANCELED|^fate-builder|Traceback", line)]
        tail = "\n".join([*errors, "...", *lines[-40:]] if errors else lines[-60:])
        log = f" (full output: {self.log})" if self.log else ""
        return f"fate-builder {' '.join(self.args)} -> {self.returncode} in {self.seconds:.1f}s{log}\n{tail}"


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return scrubbed_environ(extra)


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "generator", *args]


@dataclass
class Workspace:
    """Where this session's inputs live, and how fate-builder is pointed at them."""

    root: Path
    fate_dir: Path
    ipcl_dir: Path
    fate_llm_dir: Path
    namespace: str  # fbe2e<random>, the registry namespace of the session
    nonce: str
    trees: dict[tuple, Path] = field(default_factory=dict)

    def prefix(self, purpose: str) -> str:
        return f"{REGISTRY}/{self.namespace}/{purpose}"

    def tree(self, *, fail: tuple[str, ...] = (), payload_mb: int = 0, variant: str = "") -> Path:
        """A stand-in Dockerfile tree; the same arguments give the same tree (and build cache)."""
        key = (tuple(sorted(fail)), payload_mb, variant)
        if key not in self.trees:
            parts = [*(f"fail-{f.replace('/', '-')}" for f in key[0]), f"{payload_mb}mb" if payload_mb else "", variant]
            name = "-".join(["docker", *filter(None, parts)])
            self.trees[key] = write_standin_tree(
                self.root / name, nonce=f"{self.nonce}-{name}", fail=fail, payload_mb=payload_mb
            )
        return self.trees[key]

    def settings(self, purpose: str, **settings: str) -> dict[str, str]:
        return {"FATE_DIR": str(self.fate_dir), "PREFIX": self.prefix(purpose), "TAG": TAG, **settings}

    def run(
        self,
        command: str,
        *args: str,
        settings: Mapping[str, str],
        docker_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 600,
    ) -> Result:
        argv = self.argv(command, *args, settings=settings, docker_dir=docker_dir)
        start = time.monotonic()
        try:
            done = subprocess.run(
                cli_command(*argv),
                capture_output=True,
                text=True,
                env=cli_env(env),
                cwd=cwd or self.root,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"fate-builder {' '.join(argv)} did not finish within {timeout}s:\n{exc.stdout or ''}{exc.stderr or ''}"
            ) from None
        result = Result(argv, done.returncode, done.stdout, done.stderr, time.monotonic() - start)
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        result.log = logs / f"{len(list(logs.iterdir())):03d}-{command}.log"
        result.log.write_text(f"$ fate-builder {' '.join(argv)}\n-> {done.returncode}\n{result.output}")
        return result

    def argv(self, command: str, *args: str, settings: Mapping[str, str], docker_dir: Path | None = None) -> list[str]:
        argv = ["--docker-dir", str(docker_dir or self.tree())]
        for name, value in settings.items():
            argv += ["-D", f"{name}={value}"]
        return [*argv, command, *args]

    def bake_direct(
        self, settings: Mapping[str, str], *targets: str, docker_dir: Path | None = None, extra: Iterable[str] = ()
    ) -> subprocess.CompletedProcess:
        """Set images up without fate-builder's `bake`: its `render`, then `docker buildx bake` directly.

        Tests of push/save/load use this, so they pin down their own command only.
        """
        bake_file = self.root / f"direct-{secrets.token_hex(4)}.hcl"
        rendered = self.run("render", "-o", str(bake_file), settings=settings, docker_dir=docker_dir)
        assert rendered.returncode == 0, rendered.explain()
        done = subprocess.run(
            ["docker", "buildx", "bake", "--progress=plain", "-f", str(bake_file), *extra, *targets],
            capture_output=True,
            text=True,
            env=cli_env(),
            cwd=self.root,
            timeout=600,
        )
        assert done.returncode == 0, f"docker buildx bake failed:\n{done.stderr[-4000:]}"
        return done


def build_third_party(ref: str, context: Path) -> str:
    """A tiny local image standing in for a third-party one (mysql:8.0.28 cannot be pulled here)."""
    context.mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox_dir() / "amd64" / "busybox", context / "busybox")
    (context / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        f"RUN echo {ref} > /etc/third-party\n"
    )
    docker(
        "buildx",
        "build",
        "--load",
        "--platform",
        "linux/amd64",
        "--progress=quiet",
        "-t",
        ref,
        str(context),
        timeout=300,
    )
    return ref


def no_traceback(result: Result) -> None:
    assert "Traceback (most recent call last)" not in result.output, result.explain()


def interrupt(process: subprocess.Popen, how: signal.Signals) -> None:
    """SIGINT as Ctrl-C sends it (the whole process group); SIGTERM as `kill PID` does."""
    if how == signal.SIGINT:
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(how)


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def engine() -> str:
    """The engine's version; skips (fails with CI=true) without a working engine and buildx."""
    ok, detail = docker_info()
    if not ok:
        _fail_or_skip(f"no Docker engine: {detail}")
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode != 0:
        _fail_or_skip("docker buildx is not installed")
    missing = missing_busybox()
    if missing:
        _fail_or_skip(f"busybox-static missing: {', '.join(map(str, missing))}")
    return detail


@pytest.fixture(scope="session")
def registry(engine) -> str:
    status = None
    for _ in range(5):
        try:
            status, _, _ = registry_get("/v2/_catalog")
            if status == 200:
                return REGISTRY
        except OSError as exc:
            status = exc
        time.sleep(1)
    _fail_or_skip(f"no registry at {REGISTRY_URL}/v2/_catalog ({status})")


@pytest.fixture(scope="session")
def workspace(engine, tmp_path_factory) -> Workspace:
    """This session's FATE checkout, git-source stand-ins and Dockerfile trees; cleans up after."""
    root = tmp_path_factory.mktemp("e2e")
    namespace = f"fbe2e{secrets.token_hex(4)}"
    ws = Workspace(
        root=root,
        fate_dir=write_fate_checkout(root / "FATE"),
        ipcl_dir=write_ipcl_checkout(root / "ipcl"),
        fate_llm_dir=write_fate_llm_checkout(root / "fate-llm"),
        namespace=namespace,
        nonce=namespace,
    )
    yield ws
    remove_images(local_refs_under(f"{REGISTRY}/{namespace}/"))
    _delete_registry_namespace(namespace)


# Wall time of the engine tests, from the first one's setup to the last one's teardown
# (session fixtures included), shown in the terminal summary: the suite's budget is 5 minutes.
_WALL: dict = {"start": None, "end": None, "outcomes": {}}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    marked = item.get_closest_marker("engine") is not None
    start = time.monotonic()
    yield
    if marked:
        _WALL["start"] = _WALL["start"] or start
        _WALL["end"] = time.monotonic()


def pytest_runtest_logreport(report):
    if "engine" in report.keywords and (report.when == "call" or report.outcome != "passed"):
        _WALL["outcomes"][report.nodeid] = report.outcome


def pytest_terminal_summary(terminalreporter):
    if _WALL["start"] is not None:
        counts: dict[str, int] = {}
        for outcome in _WALL["outcomes"].values():
            counts[outcome] = counts.get(outcome, 0) + 1
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        terminalreporter.write_line(f"engine tests ({summary}): wall time {_WALL['end'] - _WALL['start']:.1f}s")
