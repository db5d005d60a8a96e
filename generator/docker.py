"""The Docker side, and only it: a thin layer over python-on-whales.

Every call to the docker CLI in the project goes through here, as argument lists built
by python-on-whales (never a shell string), so the rest of the package stays pure and
testable without an engine.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from .errors import FateBuilderError

T = TypeVar("T")


class EngineError(FateBuilderError):
    """The engine refused or failed; the message says what to do."""


def _message(exc: DockerException) -> str:
    text = (exc.stderr or exc.stdout or "").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {exc.return_code}"


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


def _version_tuple(text: str | None) -> tuple[int, ...] | None:
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
        except DockerException as exc:
            return None, _message(exc)

    # --- bake ------------------------------------------------------------------------

    def bake_stream(self, bake_file: Path, targets: list[str], variables: dict[str, str],
                    **options: Any) -> Iterator[str]:
        """Run bake and yield BuildKit's progress as it comes (plain text lines)."""
        return cast(Iterator[str], self.client.buildx.bake(targets=targets, files=[str(bake_file)],
                                                          variables=variables, stream_logs=True, **options))

    # --- images ----------------------------------------------------------------------

    def image_exists(self, reference: str) -> bool:
        return self.client.image.exists(reference)

    def pull(self, reference: str) -> None:
        try:
            self.client.image.pull(reference, quiet=True)
        except DockerException as exc:
            raise EngineError(f"cannot pull {reference}: {_message(exc)}") from None

    def push(self, reference: str) -> None:
        try:
            self.client.image.push(reference, quiet=True)
        except DockerException as exc:
            raise EngineError(f"cannot push {reference}: {_message(exc)}") from None

    def save(self, references: Iterable[str]) -> Iterator[bytes]:
        """The `docker save` tar of the images, as a stream of chunks."""
        try:
            yield from self.client.image.save(list(references)) or ()
        except DockerException as exc:
            raise EngineError(f"docker save failed: {_message(exc)}") from None

    def load(self, archive: Path) -> list[str]:
        try:
            return self.client.image.load(str(archive))
        except DockerException as exc:
            raise EngineError(f"cannot load {archive}: {_message(exc)}") from None


def version_at_least(text: str | None, minimum: tuple[int, ...]) -> bool:
    found = _version_tuple(text)
    return found is not None and found >= minimum
