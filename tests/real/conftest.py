"""What the real builds and runs share: the gateway settings, the base-image stand-ins, a real tree, a bake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testsupport import docker_info, scrubbed_environ
from testsupport.constants import IN_CI, ROOT
from testsupport.real_fate import GATEWAY, REGISTRY, extract, write_gateway_env

__all__ = ["GATEWAY", "REGISTRY", "bake", "real_tree"]



def _need(ok: bool, why: str) -> None:
    if not ok:
        (pytest.fail if IN_CI else pytest.skip)(why)


@pytest.fixture(scope="session")
def python_images() -> None:
    ok, why = docker_info()
    _need(ok, f"no Docker engine: {why}")
    done = subprocess.run([str(ROOT / "scripts/real/python-image.sh"), "3.8", "3.10"], capture_output=True, text=True)
    _need(done.returncode == 0, f"the python stand-in images: {done.stderr.strip()[-400:]}")


def real_tree(tag: str, root: Path) -> tuple[Path, dict[str, object]]:
    dest = root / f"FATE-{tag}"
    dest.mkdir()
    return dest, extract(tag, dest)


def bake(work: Path, fate_dir: Path, targets: list[str], tag: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """fate-builder bake as a user behind the gateway runs it: settings in .env, nothing else in the environment."""
    write_gateway_env(work, fate_dir, f"{REGISTRY}/fbreal", tag, **settings)
    return subprocess.run([sys.executable, "-m", "generator", "bake", *targets, "--load"], cwd=work,
                          env=scrubbed_environ({"PYTHONPATH": str(ROOT)}), capture_output=True, text=True)


