"""Which FATE a checkout is: its release line, its version and its components' versions.

Pure reads of small marker files under FATE_DIR, nothing else. A 1.x tree has `fate.env`
(`FATE=<version>`); a 2.x tree has none and states its version in
`python/fate/_info.py` (`__version__ = "<version>"`). 2.x components carry their own
versions: eggroll in `eggroll/BUILD_INFO`, FATE-Board in `fate_board/pom.xml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

from .errors import ConfigError

Line = Literal["1.x", "2.x"]
LINES: tuple[Line, ...] = get_args(Line)

# The marker that names each line, as FATE_DIR-relative paths.
MARKERS: dict[Line, str] = {"1.x": "fate.env", "2.x": "python/fate/_info.py"}

_VERSION = re.compile(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", re.M)
# fate.env is a dotenv file: the value may be quoted.
_ENV_FATE = re.compile(r"^\s*FATE\s*=\s*[\"']?([^\s#\"']+)", re.M)
# The project's own <version>, the first one after </parent> or the first in the file.
_POM_VERSION = re.compile(r"<version>\s*([^<\s]+)\s*</version>")


@dataclass(frozen=True)
class Release:
    """A FATE release as read from a tree; `version` is None when no tree was read."""

    line: Line
    version: str | None
    marker: str | None = None
    components: tuple[tuple[str, str], ...] = ()
    # FATE_LINE as set (None: found from the tree), which the committed bake file is rendered for.
    requested: Line | None = None

    def unread(self) -> Release:
        """The release as the committed bake file sees it: FATE_LINE's line (else 1.x), no tree."""
        return Release(self.requested or "1.x", None, requested=self.requested)

    def component(self, name: str) -> str | None:
        return dict(self.components).get(name)

    def describe(self) -> str:
        """`FATE 2.2.0 (2.x)`, as plan and doctor say it."""
        return f"FATE {self.version or '(no checkout read)'} ({self.line})"


def parse_line(name: str, value: str) -> Line | None:
    """A FATE_LINE value: `1.x`, `2.x`, or empty for 'found from FATE_DIR'."""
    value = value.strip().lower()
    if not value:
        return None
    for line in LINES:
        if value in (line, line[0]):
            return line
    raise ConfigError(f"{name}={value!r}: allowed are {', '.join(LINES)} (empty: found from FATE_DIR)")


def _read(path: Path, setting: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None


def _one(pattern: re.Pattern[str], text: str, path: Path, what: str) -> str:
    found = pattern.search(text)
    if not found:
        raise ConfigError(f"FATE_DIR: {path} has no {what}")
    return found.group(1)


def pom_version(text: str) -> str | None:
    """The project's version in a pom.xml: the first <version> outside <parent>."""
    text = re.sub(r"<parent>.*?</parent>", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    found = _POM_VERSION.search(text)
    return found.group(1) if found else None


# 2.x components whose version names their image's tag: name -> (file, how to read it).
COMPONENT_FILES: dict[str, str] = {"eggroll": "eggroll/BUILD_INFO", "fateboard": "fate_board/pom.xml"}


def _components(root: Path) -> tuple[tuple[str, str], ...]:
    found = []
    for name, rel in COMPONENT_FILES.items():
        path = root / rel
        if not path.is_file():
            continue
        text = _read(path, "FATE_DIR")
        version: str | None
        if rel.endswith("BUILD_INFO"):
            version = _one(re.compile(r"^\s*eggroll\.version\s*=\s*(\S+)", re.M), text, path,
                                       "eggroll.version=<version> line")
        else:
            version = pom_version(text)
        if version is None:
            raise ConfigError(f"FATE_DIR: {path} has no <version>")
        found.append((name, version))
    return tuple(found)


def read_release(fate_dir: str) -> Release | None:
    """The release of the tree at `fate_dir`; None when it holds neither line's marker."""
    root = Path(fate_dir)
    env = root / MARKERS["1.x"]
    if env.is_file():
        version = _one(_ENV_FATE, _read(env, "FATE_DIR"), env, "FATE=<version> line")
        return Release("1.x", version, MARKERS["1.x"])
    info = root / MARKERS["2.x"]
    if info.is_file():
        version = _one(_VERSION, _read(info, "FATE_DIR"), info, "__version__ = \"<version>\" line")
        return Release("2.x", version, MARKERS["2.x"], _components(root))
    return None


def not_a_tree(fate_dir: str) -> str:
    """One line naming what was looked for, for a FATE_DIR that holds no FATE tree."""
    looked = " or ".join(f"{Path(fate_dir, m)} ({line})" for line, m in MARKERS.items())
    if not Path(fate_dir).is_dir():
        return f"{fate_dir} does not exist (looked for {looked}); set FATE_DIR to a FATE checkout"
    return f"{fate_dir} is not a FATE checkout: neither {looked} exists; set FATE_DIR to a FATE checkout"


def resolve(fate_dir: str, wanted: Line | None) -> Release:
    """The release to build: the tree's own, checked against FATE_LINE when that is set.

    Without a tree the line is FATE_LINE's, or 1.x: the committed bake file is rendered
    without reading any checkout.
    """
    release = read_release(fate_dir)
    if release is None:
        return Release(wanted or "1.x", None, requested=wanted)
    if wanted is not None and wanted != release.line:
        raise ConfigError(
            f"FATE_LINE={wanted}, but FATE_DIR={fate_dir} holds {release.describe()}: "
            f"unset FATE_LINE or point FATE_DIR at a {wanted} checkout"
        )
    return replace(release, requested=wanted)


def source_date_epoch(fate_dir: str, release: Release) -> str:
    """The time the images say they were created: FATE_DIR's commit time, reproducible for one tree.

    A git checkout (FATE_DIR/.git, a folder or a worktree's file) gives its HEAD's commit time; any
    other tree the modification time of its line's marker, which `git archive` (GitHub's release
    tarballs) stamps with the commit time. No tree read gives "" (the bake file's default).
    """
    root = Path(fate_dir)
    if (root / ".git").exists():
        return _commit_time(root)
    if release.marker is None:
        return ""
    return str(int((root / release.marker).stat().st_mtime))


def source_revision(fate_dir: str) -> str:
    """The FATE commit the images are built from: FATE_DIR's git HEAD; "" for a tree without git
    (a release tarball names no commit, and a guess from its version would be a claim nobody checked),
    or when git cannot say: the label is information, not something a build needs."""
    import shutil  # only for a git checkout: the other commands start without subprocess
    import subprocess

    root = Path(fate_dir)
    git = shutil.which("git") if (root / ".git").exists() else None
    if git is None:
        return ""
    done = subprocess.run([git, "-C", str(root), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    found = done.stdout.strip()
    return found if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", found) else ""


def _commit_time(root: Path) -> str:
    import shutil  # only for a git checkout: the other commands start without subprocess
    import subprocess

    git = shutil.which("git")
    fix = "or set SOURCE_DATE_EPOCH (seconds since 1970)"
    if git is None:
        raise ConfigError(f"FATE_DIR={root} is a git checkout but there is no git command to read its "
                          f"commit time: install git, {fix}")
    done = subprocess.run([git, "-C", str(root), "log", "-1", "--format=%ct"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    found = done.stdout.strip()
    if done.returncode != 0 or not found.isdigit():
        why = (done.stderr.strip().splitlines() or ["no commit"])[-1]
        raise ConfigError(f"FATE_DIR={root}: cannot read HEAD's commit time ({why}); {fix}")
    return found
