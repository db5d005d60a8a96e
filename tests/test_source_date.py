"""The images' creation time: FATE_DIR's commit time (git HEAD, or the marker a `git archive` tarball stamps)."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from generator import formats, release
from generator.config import load_config
from generator.errors import ConfigError
from generator.plan import build_plan


def _git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **(env or {})}, check=True,
                          capture_output=True, text=True).stdout.strip()


def _checkout(tmp_path: Path, when: int) -> Path:
    """A 2.x tree committed at `when`, as a git clone of it would be."""
    root = tmp_path / "fate"
    (root / "python/fate").mkdir(parents=True)
    (root / "python/fate/_info.py").write_text('__version__ = "2.1.1"\n')
    _git("init", "-q", str(root))
    _git("add", ".", cwd=root)
    stamp = {"GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000",
             "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    _git("commit", "-q", "-m", "x", cwd=root, env=stamp)
    return root


def _config(fate_dir: Path, **overrides: str):  # type: ignore[no-untyped-def]
    return load_config(environ={}, overrides={"FATE_DIR": str(fate_dir), **overrides})


def test_git_archive_stamps_every_file_with_the_commit_time_so_the_markers_mtime_is_it(tmp_path: Path) -> None:
    commit_time = 1719557302
    repo = _checkout(tmp_path, commit_time)
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", "HEAD"],
                             check=True, capture_output=True).stdout
    out = tmp_path / "unpacked"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        mtimes = {m.mtime for m in tar.getmembers()}
        marker = next(m.name for m in tar.getmembers() if m.name in release.MARKERS.values())
        tar.extractall(out, filter="tar")
    assert mtimes == {commit_time}
    found = release.read_release(str(out))
    assert found is not None and found.marker == marker
    assert _config(out).source_date_epoch == str(commit_time)


def test_a_git_checkout_gives_its_heads_commit_time_not_the_files_mtimes(tmp_path: Path) -> None:
    root = _checkout(tmp_path, 1_700_000_123)
    assert _config(root).source_date_epoch == "1700000123"


def test_the_setting_overrides_the_commit_time_and_bake_and_plan_env_get_it(tmp_path: Path) -> None:
    config = _config(_checkout(tmp_path, 1_700_000_123), SOURCE_DATE_EPOCH="1600000000")
    plan = build_plan(config)
    assert "export SOURCE_DATE_EPOCH=1600000000\n" in formats.as_env(plan)
    assert "created 2020-09-13 12:26:40 UTC (SOURCE_DATE_EPOCH=1600000000)" in formats.as_table(plan)


@pytest.mark.parametrize("value", ["yesterday", "-5", "1.5"])
def test_a_creation_time_that_is_not_whole_seconds_is_a_one_line_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH=.*whole seconds since 1970"):
        _config(_checkout(tmp_path, 1_700_000_000), SOURCE_DATE_EPOCH=value)


def test_a_git_checkout_without_a_git_command_names_the_setting(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = _checkout(tmp_path, 1_700_000_000)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="no git command.*set SOURCE_DATE_EPOCH"):
        _config(root)
    assert _config(root, SOURCE_DATE_EPOCH="5").source_date_epoch == "5"


def test_without_a_tree_bake_gets_the_bake_files_default_of_0(tmp_path: Path) -> None:
    config = _config(tmp_path / "absent")
    assert config.source_date_epoch == ""
    assert "export SOURCE_DATE_EPOCH=0\n" in formats.as_env(build_plan(config))
