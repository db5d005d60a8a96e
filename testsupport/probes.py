"""Is there an engine to test or benchmark on? Each probe asks the docker CLI, nothing else."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from generator.engine import version_tuple
from generator.entitlements import Access, grants


def buildx_available() -> bool:
    """The buildx plugin answers (no daemon needed: `bake --print` works with this alone)."""
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0


def docker_info(attempts: int = 4) -> tuple[bool, str]:
    """(True, server version) when the daemon answers, else (False, why); retries a starting daemon."""
    if shutil.which("docker") is None:
        return False, "no docker CLI on PATH"
    last = ""
    for attempt in range(attempts):
        try:
            result = subprocess.run(
                ["docker", "info", "--format", "{{json .}}"], capture_output=True, text=True, timeout=30
            )
        except subprocess.TimeoutExpired:
            last = "docker info timed out"
        else:
            if result.returncode == 0:
                info = json.loads(result.stdout)
                if not info.get("ServerVersion"):
                    last = "docker info: no server"
                else:
                    return True, info["ServerVersion"]
            else:
                last = (result.stderr.strip().splitlines() or ["docker info failed"])[-1]
        if attempt + 1 < attempts:
            time.sleep(2 * (attempt + 1))
    return False, last


@lru_cache(maxsize=1)
def buildx_version() -> tuple[int, ...] | None:
    """The installed buildx's version, as fate-builder reads it."""
    result = subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True)
    return version_tuple(result.stdout) if result.returncode == 0 else None


def before_buildx(version: tuple[int, ...]) -> bool:
    """Whether the installed buildx is older than `version` (False without buildx: those tests skip on their own)."""
    found = buildx_version()
    return found is not None and found < version


def bake_allow_flags(cwd: Path, read: Iterable[Path] = (), write: Iterable[Path] = ()) -> list[str]:
    """`--allow` flags for a test's own bake run from `cwd`: fate-builder's own rule (generator.entitlements)
    decides which buildx takes them and which paths need them."""
    access = Access(reads=tuple(str(p) for p in read), writes=tuple(str(p) for p in write))
    return [f"--allow={grant}" for grant in grants(access, str(cwd), buildx_version())]
