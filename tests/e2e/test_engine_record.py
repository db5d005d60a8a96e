"""The engine table of docs/evidence.md (and its Chinese twin) says what the tests really ran on.

Debian's sid moves on, so `ENGINE=current` is whatever sid had the day a machine unpacked
it. scripts/ci/engine/engine-files.sh records each package's version and provision-engine.sh
keeps them in engine.env; this compares that record with the table's row for the
generation, so a table that stopped being true fails instead of being believed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from testsupport.constants import ROOT

pytest_plugins = ["tests.e2e.engine"]

ENGINE_ENV = Path(os.environ.get("FATE_BUILDER_CACHE", "/var/cache/fate-builder"), "run", "engine.env")


def _upstream(debian_version: str) -> str:
    """28.5.2+dfsg4-5 -> 28.5.2: the upstream release a Debian version packages."""
    return re.split(r"[+~-]", debian_version, maxsplit=1)[0]


def recorded_packages(text: str) -> dict[str, str]:
    match = re.search(r'^FATE_BUILDER_ENGINE_PACKAGES="([^"]*)"', text, re.M)
    assert match, f"{ENGINE_ENV} has no FATE_BUILDER_ENGINE_PACKAGES line (re-run scripts/ci/provision-engine.sh)"
    words = match.group(1).split()
    return {name: _upstream(version) for name, version in zip(words[::2], words[1::2])}


def readme_row(readme: str, generation: str) -> list[str]:
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith(f"`{generation}`"):
            return cells
    raise AssertionError(f"the page has no engine table row for `{generation}`")


def test_recorded_packages_are_read_as_upstream_versions():
    text = 'FATE_BUILDER_ENGINE_PACKAGES="containerd 2.1.9+ds1-5  docker-buildx 0.29.1+ds1-4  docker.io 28.5.2+dfsg4-5"'
    assert recorded_packages(text) == {"containerd": "2.1.9", "docker-buildx": "0.29.1", "docker.io": "28.5.2"}


@pytest.mark.engine
@pytest.mark.parametrize("readme", ["docs/evidence.md", "docs/evidence_zh.md"])
def test_the_readme_engine_table_names_the_versions_this_machine_unpacked(engine, readme):
    env = ENGINE_ENV.read_text(encoding="utf-8")
    generation = re.search(r"^FATE_BUILDER_ENGINE=(\S+)", env, re.M).group(1)
    packages = recorded_packages(env)
    cells = readme_row((ROOT / readme).read_text(encoding="utf-8"), generation)
    wanted = {"Docker": ("docker.io", cells[1]), "buildx": ("docker-buildx", cells[2]),
              "containerd": ("containerd", cells[3])}
    for what, (package, cell) in wanted.items():
        if package in packages:
            assert cell == packages[package], (
                f"{readme}: `{generation}` says {what} {cell}, unpacked: {packages[package]} (update it)"
            )
