"""The Docker side, and only it: a thin layer over python-on-whales.

Every call to the docker CLI in the project goes through here, as argument lists on the
client's command prefix (never a shell string), so the rest of the package stays pure
and testable without an engine. Every failure leaves here as an `EngineError`: one line
for the user, whatever python-on-whales or the CLI said.

`bake`'s own path (the preflight's facts and the bake) reads the CLI's JSON itself and
does not import python-on-whales: importing it (pydantic and a hundred models) costs more
than everything else fate-builder adds to a warm bake. The other commands use its typed
objects and helpers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .errors import FateBuilderError

if TYPE_CHECKING:
    from python_on_whales import DockerClient


_NO_CLI = "no docker CLI on PATH (install Docker: Debian `apt-get install docker.io docker-buildx`)"
_NO_DAEMON = re.compile(r"Cannot connect to the Docker daemon|Is the docker daemon running|error during connect")
_DAEMON_FIX = ("start the Docker daemon (`systemctl start docker`), or point DOCKER_HOST / `docker context use` at a "
               "running one; `fate-builder doctor` checks the engine")


class EngineError(FateBuilderError):
    """The engine refused or failed; the message says what to do."""

    def __init__(self, message: str, return_code: int | None = None):
        super().__init__(message)
        self.return_code = return_code


def _failures() -> tuple[type[BaseException], ...]:
    """What python-on-whales raises: the CLI failed, there is no CLI, or its output did not
    parse (pydantic's ValidationError is a ValueError)."""
    from python_on_whales.client_config import ClientNotFoundError
    from python_on_whales.exceptions import DockerException

    return DockerException, ClientNotFoundError, ValueError


def _last_line(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def _message(exc: BaseException) -> str:
    from python_on_whales.client_config import ClientNotFoundError
    from python_on_whales.exceptions import DockerException

    if isinstance(exc, (ClientNotFoundError, NoDockerCLI)):
        return _NO_CLI
    if isinstance(exc, DockerException):
        text = (exc.stderr or exc.stdout or "").strip()
    else:
        text = str(exc).strip()
    return _last_line(text) or f"exit status {getattr(exc, 'return_code', '?')}"


def _failure(action: str, exc: BaseException) -> EngineError:
    message = _message(exc)
    if _NO_DAEMON.search(message):
        message += f"; {_DAEMON_FIX}"
    return EngineError(f"{action}: {message}", getattr(exc, "return_code", None))


class NoDockerCLI(OSError):
    pass


@dataclass(frozen=True)
class BuilderNode:
    """One node of a builder, as `docker buildx inspect` lists it (a node not yet started reports no platforms)."""

    name: str
    status: str | None
    platforms: tuple[str, ...]


@dataclass(frozen=True)
class EngineFacts:
    """What the checks need to know about the machine; gathered once, judged elsewhere."""

    cli: str | None
    server_version: str | None
    server_error: str | None
    buildx_version: str | None
    builder_name: str | None
    builder_driver: str | None
    builder_platforms: tuple[str, ...]
    builder_error: str | None
    containerd_store: bool
    # The daemon's own platform (`docker info`'s Architecture, as linux/amd64 or linux/arm64).
    native_platform: str | None = None
    # False when the builder was not asked about (bake of the daemon's own platform on the default builder).
    builder_checked: bool = True
    # Each node of the builder (`buildx create --append` adds one): its name, status and platforms.
    builder_nodes: tuple[BuilderNode, ...] = ()


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """(major, minor, patch) of the first version in `text` (`github.com/docker/buildx 0.29.1+ds1 ...`)."""
    match = re.search(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


class Engine:
    def __init__(self, client: DockerClient | None = None):
        self._client = client

    @property
    def client(self) -> DockerClient:
        if self._client is None:
            from python_on_whales import DockerClient

            self._client = DockerClient()
        return self._client

    def prefix(self) -> list[str]:
        """How every docker command line here starts: the client's own prefix (its --host, --context,
        --config, ...); for the default client, python-on-whales' default: the docker CLI on PATH."""
        if self._client is not None:
            from python_on_whales.client_config import ClientNotFoundError

            try:
                return [str(part) for part in self._client.client_config.docker_cmd]
            except ClientNotFoundError:
                raise NoDockerCLI(_NO_CLI) from None
        cli = shutil.which("docker")
        if cli is None:
            raise NoDockerCLI(_NO_CLI)
        return [cli]

    def _output(self, *args: str) -> tuple[str | None, str | None]:
        """`docker ARGS`'s output, or None and the error's last line."""
        try:
            done = subprocess.run([*self.prefix(), *args], capture_output=True, stdin=subprocess.DEVNULL)
        except NoDockerCLI:
            return None, _NO_CLI
        except OSError as exc:
            return None, str(exc)
        if done.returncode != 0:
            return None, _last_line(done.stderr.decode(errors="replace")) or f"exit status {done.returncode}"
        return done.stdout.decode(errors="replace"), None

    # --- facts -----------------------------------------------------------------------

    def facts(self, builder: str | None = None) -> EngineFacts:
        """Ask the daemon, buildx and the builder (each a CLI round trip of its own, asked at once)."""
        return self.ask_facts(builder).result()

    def ask_facts(self, builder: str | None = None, *, inspect_now: bool = True) -> FactsQuery:
        """Start asking for the facts in the background; `bake` starts its build while the builder's are out.

        Without `inspect_now` the builder is asked about only when `result()` needs it.
        """
        return FactsQuery(self, builder, inspect_now=inspect_now)

    # --- bake ------------------------------------------------------------------------
    # python-on-whales' `buildx.bake` has no `--allow`, and its stream helper gives no
    # handle on the process: the command is built here on the client's prefix, with the
    # flags python-on-whales' bake would give, and `Bake` runs it.

    def bake_command(self, bake_file: Path, targets: Iterable[str], *, print: bool = False,
                     progress: str | None = None, cache: bool = True, pull: bool = False, push: bool = False,
                     builder: str | None = None, metadata_file: str | None = None,
                     set: Mapping[str, str] | None = None, allow: Iterable[str] = ()) -> list[str]:
        command = [*self.prefix(), "buildx", "bake"]

        def flag(name: str, on: bool) -> None:
            command.extend([name] if on else [])

        def option(name: str, values: Iterable[str | None]) -> None:
            for value in values:
                command.extend([name, value] if value is not None else [])

        flag("--no-cache", not cache)
        option("--builder", [builder])
        flag("--pull", pull)
        flag("--push", push)
        flag("--print", print)
        option("--progress", [progress])
        option("--file", [str(bake_file)])
        option("--set", [f"{key}={value}" for key, value in (set or {}).items()])
        option("--metadata-file", [metadata_file])
        option("--allow", allow)
        return [*command, *targets]

    def bake_print(self, bake_file: Path, targets: list[str], variables: Mapping[str, str],
                   **options: Any) -> dict[str, Any]:
        """bake's resolved definition (`--print`): needs buildx, not the daemon."""
        from python_on_whales.utils import run

        failures: tuple[type[BaseException], ...] = (*_failures(), NoDockerCLI)
        try:
            command = self.bake_command(bake_file, targets, print=True, **options)
            return cast(dict[str, Any], json.loads(run(command, return_stderr=False, env=dict(variables))))
        except failures as exc:
            raise _failure("bake --print failed", exc) from None

    def start_bake(self, bake_file: Path, targets: list[str], variables: Mapping[str, str],
                   **options: Any) -> Bake:
        """Start bake and return at once; `Bake.lines()` follows it."""
        try:
            return Bake(self.bake_command(bake_file, targets, **options), variables)
        except NoDockerCLI:
            raise EngineError(f"bake failed: {_NO_CLI}") from None
        except OSError as exc:
            raise EngineError(f"bake failed: {exc}") from None

    # --- registry manifests (imagetools) ---------------------------------------------------

    def manifest(self, reference: str) -> dict[str, Any]:
        """The manifest or index `reference` names in its registry, as JSON (`imagetools inspect --raw`)."""
        output, error = self._output("buildx", "imagetools", "inspect", "--raw", reference)
        if output is None:
            raise EngineError(f"cannot read the manifest of {reference}: {error}")
        return cast(dict[str, Any], json.loads(output))

    def digest(self, reference: str) -> str:
        """The digest of the manifest or index `reference` names in its registry (what a tag points at now)."""
        output, error = self._output("buildx", "imagetools", "inspect", reference, "--format", "{{json .Manifest}}")
        digest = _json_field(output, "digest") if output is not None else None
        if digest is None:
            raise EngineError(f"cannot read the digest of {reference}: {error or 'imagetools gave no digest'}")
        return digest

    def imagetools_create(self, tag: str, sources: Iterable[str], annotations: Iterable[str] = ()) -> None:
        """Push one index named `tag` that lists the manifests of `sources` (images by digest)."""
        args = ["buildx", "imagetools", "create", "--tag", tag]
        for annotation in annotations:
            args += ["--annotation", annotation]
        output, error = self._output(*args, *sources)
        if output is None:
            raise EngineError(f"imagetools create {tag} failed: {error}")

    # --- images ----------------------------------------------------------------------

    def image_exists(self, reference: str) -> bool:
        try:
            return self.client.image.exists(reference)
        except _failures() as exc:
            raise _failure(f"cannot look up {reference}", exc) from None

    def pull(self, reference: str) -> None:
        try:
            self.client.image.pull(reference, quiet=True)
        except _failures() as exc:
            raise _failure(f"cannot pull {reference}", exc) from None

    def push(self, reference: str) -> None:
        try:
            self.client.image.push(reference, quiet=True)
        except _failures() as exc:
            raise _failure(f"cannot push {reference}", exc) from None

    def save(self, references: Iterable[str]) -> Iterator[bytes]:
        """The `docker save` tar of the images, as a stream of chunks."""
        try:
            yield from self.client.image.save(list(references)) or ()
        except _failures() as exc:
            raise _failure("docker save failed", exc) from None

    def load(self, archive: Path) -> list[str]:
        try:
            # quiet: python-on-whales would print every line, stderr too, on our stdout.
            return self.client.image.load(str(archive), quiet=True)
        except _failures() as exc:
            raise _failure(f"cannot load {archive}", exc) from None


class FactsQuery:
    """The engine's facts while they are being asked for, each question a thread of its own.

    `daemon()` waits for `docker info` only (the daemon, buildx's version among the CLI's
    plugins, the image store): enough to know bake's flags, whose `--allow` grants depend
    on buildx's version. `result()` waits for the builder too (`buildx inspect`).
    """

    def __init__(self, engine: Engine, builder: str | None, *, inspect_now: bool = True):
        self._engine = engine
        self._builder_name = builder
        self._daemon: EngineFacts | None = None
        self._builder: Future[tuple[dict[str, Any] | None, str | None]] | None = None
        try:
            self._cli = engine.prefix()[0]
        except NoDockerCLI:
            self._daemon = EngineFacts(None, None, "no docker CLI on PATH", None, None, None, (), None, False)
            return
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fate-builder-facts")
        self._info = self._pool.submit(engine._output, "info", "--format", "{{json .}}")
        if inspect_now:
            self._builder = self._pool.submit(self._inspect, builder)
        self._pool.shutdown(wait=False)

    def daemon(self) -> EngineFacts:
        """What `docker info` says; the builder fields are empty."""
        if self._daemon is None:
            output, server_error = self._info.result()
            info = parse_info(output) if output is not None else {}
            if output is not None and not info:
                server_error = "`docker info` did not answer in JSON"
            buildx_version = info.get("buildx_version")
            if buildx_version is None and server_error is None:
                # A buildx the CLI does not list as a plugin (python-on-whales' `buildx.version` asks it the same way).
                found, _ = self._engine._output("buildx", "version")
                buildx_version = found.strip() if found else None
            self._daemon = EngineFacts(self._cli, info.get("server_version") if server_error is None else None,
                                       server_error, buildx_version, None, None, (), None,
                                       bool(info.get("containerd_store")), info.get("native_platform"),
                                       builder_checked=False)
        return self._daemon

    def _inspect(self, builder: str | None) -> tuple[dict[str, Any] | None, str | None]:
        output, error = self._engine._output("buildx", "inspect", *([builder] if builder else []))
        if output is None:
            return None, error
        return parse_inspect(output), None

    def result(self) -> EngineFacts:
        daemon = self.daemon()
        if daemon.cli is None:
            return daemon
        inspected, builder_error = self._builder.result() if self._builder else self._inspect(self._builder_name)
        builder_name = builder_driver = None
        platforms: tuple[str, ...] = ()
        nodes: tuple[BuilderNode, ...] = ()
        if inspected is not None:
            builder_name, builder_driver, platforms = inspected["name"], inspected["driver"], inspected["platforms"]
            nodes = inspected["nodes"]
        if daemon.server_error is not None or daemon.buildx_version is None:
            builder_error = None
        return replace(daemon, builder_name=builder_name, builder_driver=builder_driver,
                       builder_platforms=platforms, builder_error=builder_error, builder_checked=True,
                       builder_nodes=nodes)


def _json_field(text: str, key: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def parse_info(text: str) -> dict[str, Any]:
    """What the checks read in `docker info --format '{{json .}}'` ({} if it is not JSON): the server's
    version, buildx's version among the CLI's plugins, and whether images live in containerd."""
    try:
        info = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(info, dict):
        return {}
    plugins = (info.get("ClientInfo") or {}).get("Plugins") or []
    return {
        "server_version": info.get("ServerVersion"),
        "buildx_version": next((p.get("Version") for p in plugins if p.get("Name") == "buildx" and p.get("Version")),
                               None),
        "containerd_store": any(len(row) == 2 and row[0] == "driver-type" and "containerd.snapshotter" in row[1]
                                for row in info.get("DriverStatus") or []),
        "native_platform": _PLATFORMS.get(str(info.get("Architecture"))),
    }


# `docker info`'s Architecture (the kernel's machine name) as a platform
_PLATFORMS = {"x86_64": "linux/amd64", "amd64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64"}


def parse_inspect(text: str) -> dict[str, Any]:
    """The builder `docker buildx inspect` describes: its name, driver and its nodes' platforms.

    buildx 0.13 to 0.29 print the same `Key: value` lines (no JSON; python-on-whales reads
    the name there and asks `buildx ls` for the rest, a second buildx start, and 0.13's `ls`
    does not say which builder is current): the builder's `Name:` and `Driver:` before
    `Nodes:`, then each node's block from its `Name:`, with its `Status:` and `Platforms:`.
    """
    builder: dict[str, Any] = {"name": None, "driver": None, "platforms": ()}
    nodes: list[dict[str, Any]] = []
    in_nodes = False
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if not colon or line.startswith(" "):
            continue
        key, value = key.strip(), value.strip()
        if key == "Nodes":
            in_nodes = True
        elif not in_nodes and key in ("Name", "Driver"):
            builder[key.lower()] = builder[key.lower()] or value
        elif in_nodes and key == "Name":  # each node's block starts with its name
            nodes.append({"name": value, "status": None, "platforms": ()})
        elif in_nodes and nodes and key == "Status":
            nodes[-1]["status"] = value
        elif in_nodes and key == "Platforms":
            platforms = tuple(p.strip() for p in value.split(",") if p.strip())
            builder["platforms"] += platforms
            if nodes:
                nodes[-1]["platforms"] += platforms
    builder["nodes"] = tuple(BuilderNode(n["name"], n["status"], n["platforms"]) for n in nodes)
    return builder


class Bake:
    """A `docker buildx bake` in flight: its output (BuildKit's progress, stdout and stderr)
    line by line as it comes, and a way to stop it.

    A process of its own rather than python-on-whales' stream helper, which gives no handle:
    `bake` starts building while its preflight is still asking the engine, and stops the
    build if the preflight fails.
    """

    def __init__(self, command: list[Any], variables: Mapping[str, str]):
        # The environment as python-on-whales' helpers pass it: ours, plus bake's variables.
        self._process = subprocess.Popen([str(part) for part in command], stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, env={**os.environ, **variables})

    def lines(self) -> Iterator[str]:
        """bake's output; a failed bake raises EngineError with its exit status, after its last line."""
        stdout = self._process.stdout
        assert stdout is not None
        last = ""
        with stdout:
            for raw in stdout:
                line = raw.decode(errors="replace")
                if line.strip():
                    last = line.strip()
                yield line
        code = self._process.wait()
        if code != 0:
            message = last or f"exit status {code}"
            if _NO_DAEMON.search(message):
                message += f"; {_DAEMON_FIX}"
            raise EngineError(f"bake failed: {message}", code)

    @property
    def exited(self) -> bool:
        """bake's process has ended (by itself or by `stop`)."""
        return self._process.poll() is not None

    def stop(self) -> None:
        """End the build (bake cancels its solves on SIGTERM) unless it has ended already."""
        if not self.exited:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def version_at_least(text: str | None, minimum: tuple[int, ...]) -> bool:
    found = version_tuple(text)
    return found is not None and found >= minimum
