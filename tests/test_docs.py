"""The README and the reference stay true: generated tables, both languages aligned, commands and links that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator import docs
from generator.cli import COMMANDS
from generator.config import SETTING_NAMES
from testsupport.constants import ROOT
from testsupport.docs_sandbox import hcl_variables

PAGES = sorted(docs.PAGES.items())
# Each English page and its Chinese twin.
TWINS = [(ROOT / "README.md", ROOT / "README_zh.md")] + [
    (p, p.with_name(f"{p.stem}_zh.md")) for p in sorted((ROOT / "docs").glob("*.md")) if not p.stem.endswith("_zh")
]
ALL_MD = [page for pair in TWINS for page in pair] + [ROOT / "benchmarks" / "README.md", ROOT / "docker" / "README.md"]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _prose(text: str) -> str:
    return _FENCE.sub("", text)


def headings(text: str) -> list[tuple[int, str]]:
    return [(len(m.group(1)), m.group(2).strip()) for m in re.finditer(r"^(#{1,6}) (.+)$", _prose(text), re.M)]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (CJK kept), spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _commands(block: str) -> list[str]:
    """A block's lines without comments: what the twins must share."""
    return [re.sub(r"\s+#\s.*$|^#\s.*$", "", line).rstrip() for line in block.splitlines()]


@pytest.mark.parametrize("key, path", PAGES, ids=lambda v: v if isinstance(v, str) else "")
def test_the_reference_tables_match_the_catalog_and_settings(key, path):
    page, lang = key
    text = _read(path)
    assert docs.update(text, lang, docs.PAGE_BLOCKS[page]) == text, f"{path.name} is stale: run `make docs`"


@pytest.mark.parametrize("en, zh", TWINS, ids=lambda p: p.name)
def test_each_page_and_its_chinese_twin_have_the_same_sections_and_commands(en, zh):
    a, b = _read(en), _read(zh)
    assert [level for level, _ in headings(a)] == [level for level, _ in headings(b)], "sections differ"
    assert [(lang, _commands(body)) for lang, body in _FENCE.findall(a)] == \
           [(lang, _commands(body)) for lang, body in _FENCE.findall(b)], "code blocks differ"
    markers = re.compile(r"<!-- (BEGIN \S+|bench:\S+) ")
    assert markers.findall(a) == markers.findall(b)


@pytest.mark.parametrize("suffix", ["", "_zh"])
def test_the_reference_documents_every_setting_command_and_bake_variable(suffix):
    settings, commands = _read(ROOT / f"docs/settings{suffix}.md"), _read(ROOT / f"docs/commands{suffix}.md")
    for name in SETTING_NAMES:
        assert f"`{name}`" in settings, name
    for command in COMMANDS:
        assert re.search(rf"`{command}\b", commands), command
    bake_file = _read(ROOT / f"docs/bake-file{suffix}.md")
    for variable in hcl_variables(ROOT / "docker-bake.hcl"):
        assert f"`{variable}`" in bake_file, f"docs/bake-file{suffix}.md does not name the bake variable {variable}"


@pytest.mark.parametrize("path", ALL_MD, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading(path):
    text = _prose(_read(path))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        assert dest.exists(), f"{path.name}: link to {target}: no such file"
        if anchor:
            anchors = {slug(h) for _, h in headings(_read(dest))}
            assert anchor in anchors, f"{path.name}: link to {target}: no such heading"


@pytest.mark.parametrize("path", ALL_MD, ids=lambda p: str(p.relative_to(ROOT)))
def test_make_targets_named_in_the_docs_exist_in_the_makefile(path):
    targets = set(re.findall(r"^([a-z][a-z-]*):", _read(ROOT / "Makefile"), re.M))
    for target in set(re.findall(r"`make ([a-z-]+)`", _read(path))):
        assert target in targets, target


@pytest.mark.parametrize("path", [ROOT / "README.md", ROOT / "README_zh.md"], ids=lambda p: p.name)
def test_the_readme_is_a_page_to_start_from(path):
    text = _read(path)
    assert len(text.splitlines()) <= 250
    for page in ("settings", "images", "commands", "bake-file", "caching", "mirrors", "troubleshooting", "evidence"):
        assert re.search(rf"\(docs/{page}(_zh)?\.md\)", text), page


def test_the_slug_is_githubs():
    assert slug("FATE 1.x images") == "fate-1x-images"
    assert slug("代理与 TLS 拦截网关") == "代理与-tls-拦截网关"
    assert slug("The images' creation date") == "the-images-creation-date"
