"""The Docker side, and only it: a thin layer over python-on-whales.

Every call to the docker CLI in the project goes through here, as argument lists built
by python-on-whales (never a shell string), so the rest of the package stays pure and
testable without an engine. Every failure leaves here as an `EngineError`: one line
for the user, whatever python-on-whales raised.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from python_on_whales import DockerClient
from python_on_whales.client_config import ClientNotFoundError
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import format_mapping_for_cli, run, stream_stdout_and_stderr

from .errors import FateBuilderError

T = TypeVar("T")

# What python-on-whales raises: the CLI failed, there is no CLI, or its output did not
# parse (pydantic's ValidationError is a ValueError).
_FAILURES = (DockerException, ClientNotFoundError, ValueError)
_NO_DAEMON = re.compile(r"Cannot connect to the Docker daemon|Is the docker daemon running|error during connect")
_DAEMON_FIX = ("start the Docker daemon (`systemctl start docker`), or point DOCKER_HOST / `docker context use` at a "
               "running one; `fate-builder doctor` checks the engine")


class EngineError(FateBuilderError):
    """The engine refused or failed; the message says what to do."""

    def __init__(self, message: str, return_code: int | None = None):
        super().__init__(message)
        self.return_code = return_code


def _message(exc: BaseException) -> str:
    if isinstance(exc, ClientNotFoundError):
        return "no docker CLI on PATH (install Docker: Debian `apt-get install docker.io docker-buildx`)"
    if isinstance(exc, DockerException):
        text = (exc.stderr or exc.stdout or "").strip()
    else:
        text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return f"exit status {getattr(exc, 'return_code', '?')}"
    return lines[-1]


def _failure(action: str, exc: BaseException) -> EngineError:
    message = _message(exc)
    if _NO_DAEMON.search(message):
        message += f"; {_DAEMON_FIX}"
    return EngineError(f"{action}: {message}", getattr(exc, "return_code", None))


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


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """(major, minor, patch) of the first version in `text` (`github.com/docker/buildx 0.29.1+ds1 ...`)."""
    match = re.search(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


class Engine:
    def __init__(self, client: DockerClient | None = None):
        self.client = client or DockerClient()

    # --- facts -----------------------------------------------------------------------

    def facts(self, builder: str | None = None) -> EngineFacts:
        """Ask the daemon, buildx and the builder at once: each is a CLI round trip of its own."""
        cli = shutil.which("docker")
        if cli is None:
            return EngineFacts(None, None, "no docker CLI on PATH", None, None, None, (), None, False)
        # buildx's version comes with `docker info` (its client plugins): two round trips, not three.
        with ThreadPoolExecutor(max_workers=2) as pool:
            info_asked = pool.submit(self._attempt, self.client.info)
            builder_asked = pool.submit(self._attempt, lambda: self.client.buildx.inspect(builder))
        info, server_error = info_asked.result()
        inspected, builder_error = builder_asked.result()
        plugins = (info.client_info.plugins or []) if info is not None and info.client_info else []
        buildx_version = next((p.version for p in plugins if p.name == "buildx" and p.version), None)
        if buildx_version is None and info is not None:
            buildx_version, _ = self._attempt(self.client.buildx.version)
        containerd = info is not None and any(
            len(row) == 2 and row[0] == "driver-type" and "containerd.snapshotter" in row[1]
            for row in (info.driver_status or [])
        )
        builder_name = builder_driver = None
        platforms: tuple[str, ...] = ()
        if inspected is not None:
            builder_name, builder_driver = inspected.name, inspected.driver
            platforms = tuple(p for node in inspected.nodes or [] for p in (node.platforms or []))
        if server_error is not None or buildx_version is None:
            builder_error = None
        return EngineFacts(cli, info.server_version if info else None, server_error, buildx_version, builder_name,
                           builder_driver, platforms, builder_error, containerd)

    @staticmethod
    def _attempt(call: Callable[[], T]) -> tuple[T | None, str | None]:
        try:
            return call(), None
        except _FAILURES as exc:
            return None, _message(exc)

    # --- bake ------------------------------------------------------------------------
    # python-on-whales' `buildx.bake` has no `--allow`: the command is built here on the
    # client's own prefix (its --host, --context, --config) and run by python-on-whales'
    # helpers, as its bake would.

    def _bake_command(self, bake_file: Path, targets: Iterable[str], *, print: bool = False,
                      progress: str | None = None, cache: bool = True, pull: bool = False, push: bool = False,
                      builder: str | None = None, metadata_file: str | None = None,
                      set: Mapping[str, str] | None = None, allow: Iterable[str] = ()) -> list[Any]:
        command = self.client.client_config.docker_cmd + ["buildx", "bake"]
        command.add_flag("--no-cache", not cache)
        command.add_simple_arg("--builder", builder)
        command.add_flag("--pull", pull)
        command.add_flag("--push", push)
        command.add_flag("--print", print)
        command.add_simple_arg("--progress", progress)
        command.add_simple_arg("--file", str(bake_file))
        command.add_args_iterable("--set", format_mapping_for_cli(dict(set or {})))
        command.add_simple_arg("--metadata-file", metadata_file)
        command.add_args_iterable("--allow", allow)
        return [*command, *targets]

    def bake_print(self, bake_file: Path, targets: list[str], variables: Mapping[str, str],
                   **options: Any) -> dict[str, Any]:
        """bake's resolved definition (`--print`): needs buildx, not the daemon."""
        try:
            command = self._bake_command(bake_file, targets, print=True, **options)
            return cast(dict[str, Any], json.loads(run(command, return_stderr=False, env=dict(variables))))
        except _FAILURES as exc:
            raise _failure("bake --print failed", exc) from None

    def bake_stream(self, bake_file: Path, targets: list[str], variables: Mapping[str, str],
                    **options: Any) -> Iterator[str]:
        """Run bake and yield its output (BuildKit's progress, stdout and stderr) line by line as it comes.

        A failed bake raises EngineError with bake's exit status, after its last line.
        """
        try:
            command = self._bake_command(bake_file, targets, **options)
            for _, line in stream_stdout_and_stderr(command, env=dict(variables)):
                yield line.decode(errors="replace")
        except _FAILURES as exc:
            raise _failure("bake failed", exc) from None

    # --- images ----------------------------------------------------------------------

    def image_exists(self, reference: str) -> bool:
        try:
            return self.client.image.exists(reference)
        except _FAILURES as exc:
            raise _failure(f"cannot look up {reference}", exc) from None

    def pull(self, reference: str) -> None:
        try:
            self.client.image.pull(reference, quiet=True)
        except _FAILURES as exc:
            raise _failure(f"cannot pull {reference}", exc) from None

    def push(self, reference: str) -> None:
        try:
            self.client.image.push(reference, quiet=True)
        except _FAILURES as exc:
            raise _failure(f"cannot push {reference}", exc) from None

    def save(self, references: Iterable[str]) -> Iterator[bytes]:
        """The `docker save` tar of the images, as a stream of chunks."""
        try:
            yield from self.client.image.save(list(references)) or ()
        except _FAILURES as exc:
            raise _failure("docker save failed", exc) from None

    def load(self, archive: Path) -> list[str]:
        try:
            # quiet: python-on-whales would print every line, stderr too, on our stdout.
            return self.client.image.load(str(archive), quiet=True)
        except _FAILURES as exc:
            raise _failure(f"cannot load {archive}", exc) from None


def version_at_least(text: str | None, minimum: tuple[int, ...]) -> bool:
    found = version_tuple(text)
    return found is not None and found >= minimum
