"""Shared fixtures: configurations built without touching the real environment, and buildx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator import catalog
from generator.config import load_config
from generator.plan import build_plan
from testsupport import buildx_available, scrubbed_environ

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"

# Every Build_* flag off, so a test names exactly the families it wants.
ALL_OFF = {f"Build_{f}": "0" for f in catalog.FLAGS}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that reaches buildx through its fixtures is a buildx test, marked or not.

    CI runs the tests without buildx before it provisions an engine, and the buildx ones
    once per engine generation; a forgotten marker must not put a test in the wrong run.
    """
    for item in items:
        if "buildx" in getattr(item, "fixturenames", ()) and item.get_closest_marker("engine") is None:
            item.add_marker(pytest.mark.buildx)


@pytest.fixture
def fate_dir(tmp_path: Path) -> Path:
    """A FATE checkout as far as the generator reads one: fate.env."""
    d = tmp_path / "FATE"
    d.mkdir()
    (d / "fate.env").write_text("FATE=1.11.2\nFATEFlow=1.11.1\nEGGROLL=2.5.1\n")
    return d


def config_of(env_file: Path | None = None, environ: dict | None = None, **settings):
    """A Config from keyword settings only (they act as command-line options)."""
    return load_config(env_file=env_file, environ=environ or {}, overrides=settings)


def plan_of(**settings):
    return build_plan(config_of(**settings))


@pytest.fixture(scope="session")
def buildx():
    """`docker buildx bake --print FILE TARGETS...` as parsed JSON. Needs buildx, no daemon."""
    if not buildx_available():
        if IN_CI:
            pytest.fail("docker buildx is not installed; scripts/ci/provision-engine.sh installs it")
        pytest.skip("docker buildx is not installed (run scripts/ci/provision-engine.sh)")

    def bake_print(bake_file: Path, *targets: str, env: dict | None = None, cwd: Path | None = None) -> dict:
        result = subprocess.run(
            ["docker", "buildx", "bake", "--progress=quiet", "-f", str(bake_file), "--print", *targets],
            capture_output=True, text=True, env=scrubbed_environ(env), cwd=cwd or bake_file.parent,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return bake_print


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """fate-builder as a user runs it from `cwd` (where its .env is), environment cleaned plus `env`."""
    return subprocess.run([sys.executable, "-m", "generator", *args], capture_output=True, text=True,
                          env=scrubbed_environ(env), cwd=cwd)
