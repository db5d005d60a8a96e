"""The READMEs stay true: their tables come from the catalog and settings, their commands exist."""

from __future__ import annotations

import re

import pytest

from generator import docs
from generator.cli import COMMANDS
from generator.config import SETTING_NAMES

READMES = list(docs.READMES.items())


@pytest.mark.parametrize("lang, path", READMES)
def test_readme_tables_match_the_catalog_and_settings(lang, path):
    text = path.read_text(encoding="utf-8")
    assert docs.update(text, lang) == text, f"{path.name} is stale: run `make docs`"


@pytest.mark.parametrize("lang, path", READMES)
def test_readme_documents_every_setting_and_command(lang, path):
    text = path.read_text(encoding="utf-8")
    for name in SETTING_NAMES:
        assert f"`{name}`" in text
    for command in COMMANDS:
        assert re.search(rf"`{command}\b", text), command


@pytest.mark.parametrize("lang, path", READMES)
def test_readme_make_targets_exist_in_the_makefile(lang, path):
    makefile = (path.parent / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    for target in set(re.findall(r"`make ([a-z-]+)`", path.read_text(encoding="utf-8"))):
        assert target in targets, target
