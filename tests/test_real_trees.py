"""The real FATE trees the real builds use (tests/data/real): each extracts, every file its git blob and listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testsupport.real_fate import extract


@pytest.mark.parametrize("tag", ["v2.0.0", "v2.1.1", "v2.2.0"])
def test_each_real_tree_is_the_tags_own_files_dated_at_its_commit(tmp_path: Path, tag: str) -> None:
    manifest = extract(tag, tmp_path)  # raises NotReal on any file that is not the tag's blob or not listed
    info = tmp_path / "python/fate/_info.py"
    assert re.search(r'__version__ = "([^"]+)"', info.read_text()).group(1) == tag[1:]  # type: ignore[union-attr]
    assert int(info.stat().st_mtime) == manifest["time"]
    assert (tmp_path / "fate_flow/python/fate_flow/fate_flow_server.py").is_file()
