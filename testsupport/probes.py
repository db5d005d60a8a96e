"""Is there an engine to test or benchmark on? Each probe asks the docker CLI, nothing else."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path


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
def bake_knows_allow() -> bool:
    """buildx >= 0.20 checks bake's file-system entitlements and has `--allow`; older ones have neither."""
    result = subprocess.run(["docker", "buildx", "bake", "--help"], capture_output=True, text=True)
    return "--allow" in result.stdout


def bake_allow_flags(read: Iterable[Path] = (), write: Iterable[Path] = ()) -> list[str]:
    """`--allow fs.read=...`/`fs.write=...` for a test's own bake, where this buildx asks for them."""
    if not bake_knows_allow():
        return []
    return [f"--allow=fs.read={p}" for p in sorted({str(p) for p in read})] + [
        f"--allow=fs.write={p}" for p in sorted({str(p) for p in write})
    ]
