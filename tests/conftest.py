"""Shared fixtures: configurations built without touching the real environment, and buildx."""

from __future__ import annotations

import csv
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
from testsupport.constants import IN_CI, ROOT  # noqa: F401 (ROOT: test modules import it from here)

# Every Build_* flag off, so a test names exactly the families it wants.
ALL_OFF = {catalog.flag_setting(f): "0" for f in catalog.FLAGS}


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


@pytest.fixture
def basic_sources(tmp_path: Path, fate_dir: Path) -> dict[str, str]:
    """Settings of the Basic selection, with the FATE folders and Dockerfiles its source checks look for."""
    for sub in ("python", "fateflow", "eggroll", "fateboard", "examples", "conf", "doc"):
        (fate_dir / sub).mkdir()
    docker = tmp_path / "docker"
    for family in ("base/basic", "fateflow", "fateboard", "eggroll"):
        (docker / family).mkdir(parents=True)
        (docker / family / "Dockerfile").write_text("FROM scratch\n")
    return {**ALL_OFF, "Build_Basic": "1", "FATE_DIR": str(fate_dir), "DOCKER_DIR": str(docker)}


def config_of(env_file: Path | None = None, environ: dict | None = None, **settings):
    """A Config from keyword settings only (they act as command-line options)."""
    return load_config(env_file=env_file, environ=environ or {}, overrides=settings)


def plan_of(**settings):
    return build_plan(config_of(**settings))


# bake --print spells the same definition differently across buildx versions: 0.13 lists a
# group's targets as given and cache-from/cache-to/output/attest entries as "k=v,k=v"
# strings; 0.29 sorts the targets of the group it resolves implicitly and prints those
# entries as objects. A group is a set of targets and an entry a set of attributes, so
# both are compared in one canonical form: sorted targets, entries as {key: value}.
_ENTRY_LISTS = ("cache-from", "cache-to", "output", "attest", "secret", "ssh")

# A docker-buildx binary to run instead of `docker buildx` (e.g. another version's, to
# check the contract against it without switching engines: bake --print needs no daemon).
BUILDX_BINARY = os.environ.get("FATE_BUILDER_BUILDX")


def entry(value: str | dict) -> dict[str, str]:
    """One cache-from/cache-to/output/attest entry, from either spelling, as {key: value}."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    fields = next(csv.reader([value]))
    return dict(field.partition("=")[::2] for field in fields)


def normalized_print(printed: dict) -> dict:
    """bake --print's JSON in the canonical form above, whatever buildx printed it."""
    groups = {name: {**group, "targets": sorted(group.get("targets", []))}
              for name, group in printed.get("group", {}).items()}
    targets = {name: {key: [entry(e) for e in value] if key in _ENTRY_LISTS else value
                      for key, value in target.items()}
               for name, target in printed.get("target", {}).items()}
    return {**printed, "group": groups, "target": targets}


@pytest.fixture(scope="session")
def buildx():
    """`docker buildx bake --print FILE TARGETS...` as parsed, normalized JSON. Needs buildx, no daemon."""
    if BUILDX_BINARY:
        if not os.access(BUILDX_BINARY, os.X_OK):
            pytest.fail(f"FATE_BUILDER_BUILDX={BUILDX_BINARY} is not an executable docker-buildx")
        command = [BUILDX_BINARY, "bake"]
    elif buildx_available():
        command = ["docker", "buildx", "bake"]
    elif IN_CI:
        pytest.fail("docker buildx is not installed; scripts/ci/provision-engine.sh installs it")
    else:
        pytest.skip("docker buildx is not installed (run scripts/ci/provision-engine.sh)")

    def bake_print(bake_file: Path, *targets: str, env: dict | None = None, cwd: Path | None = None) -> dict:
        result = subprocess.run(
            [*command, "--progress=quiet", "-f", str(bake_file), "--print", *targets],
            capture_output=True, text=True, env=scrubbed_environ(env), cwd=cwd or bake_file.parent,
        )
        assert result.returncode == 0, result.stderr
        return normalized_print(json.loads(result.stdout))

    return bake_print


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """fate-builder as a user runs it from `cwd` (where its .env is), environment cleaned plus `env`."""
    return subprocess.run([sys.executable, "-m", "generator", *args], capture_output=True, text=True,
                          env=scrubbed_environ(env), cwd=cwd)
