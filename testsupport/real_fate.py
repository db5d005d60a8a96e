"""Real FATE 2.x trees for the real builds: the folders the Python images read, byte for byte.

A tree is the tag's own files plus each submodule at the commit the tag pins, as `git clone
--recursive -b TAG` gives it, limited to FOLDERS (what base-image, fateflow and fate-test read
through their named contexts, and the version marker). This machine reaches no GitHub, so the
trees travel in the checkout as `tests/data/real/fate-<tag>.tar.xz`, written once from the public
repositories' snapshots (`python -m testsupport.real_fate write TAG MIRRORS`) with a manifest of
every file's git blob id. `extract` checks the archive against both before a build uses it: every
file hashes to its blob id, and the files are exactly the tag's path list under FOLDERS (nothing
invented, nothing left out). File times are the FATE commit's, as `git archive` stamps them.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .constants import ROOT
from .fate_paths import fate_paths

ARCHIVES = ROOT / "tests" / "data" / "real"
# What the three Python images read (catalog v2 sources fate-python, fate-flow, fate-client,
# fate-test, examples; eggroll-src's python/ and BUILD_INFO, its version marker).
FOLDERS = ("python", "fate_flow", "fate_client", "fate_test", "examples", "eggroll/python", "eggroll/BUILD_INFO")
# Submodule path -> the public repository's snapshot folder under the mirrors' root.
_SUBMODULES = {"eggroll": "FederatedAI+eggroll", "fate_flow": "FederatedAI+FATE-Flow",
               "fate_client": "FederatedAI+FATE-Client", "fate_test": "FederatedAI+FATE-Test",
               "fate_board": "FederatedAI+FATE-Board"}


@dataclass(frozen=True)
class Entry:
    path: str  # FATE_DIR-relative
    mode: str  # git's: 100644 or 100755
    blob: str  # git blob id


# The settings of a user behind this machine's gateway (the real tests and bench-real): the test
# registry's stand-in python image, the machine's CA trust store, PyPI for PyTorch's unreachable index.
REGISTRY = "127.0.0.1:5000"
GATEWAY = {"IMAGE_MIRROR": REGISTRY, "PIP_EXTRA_INDEX_URL": "https://pypi.org/simple",
           "CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt", "Build_Spark": "0", "Build_NN": "0"}


def write_gateway_env(work: Path, fate_dir: Path, prefix: str, tag: str, **settings: str | None) -> None:
    """`work/.env` as a user behind the gateway writes it; a setting given None is left out."""
    values = {**GATEWAY, "FATE_DIR": str(fate_dir), "PREFIX": prefix, "TAG": tag, **settings}
    (work / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items() if v is not None))


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def wanted(path: str) -> bool:
    return any(path == f or path.startswith(f + "/") for f in FOLDERS)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _tree(repo: Path, commit: str, prefix: str, mirrors: Path) -> list[tuple[Entry, Path]]:
    """Every file of `commit` (submodules expanded at their pinned commits), with the repo holding its blob."""
    out: list[tuple[Entry, Path]] = []
    for line in _git(repo, "ls-tree", "-r", "-z", commit).split("\0"):
        if not line:
            continue
        meta, path = line.split("\t", 1)
        mode, kind, oid = meta.split()
        full = prefix + path
        if kind == "commit":
            sub = mirrors / _SUBMODULES[full] / "repo"
            if wanted(full) or any(f.startswith(full + "/") for f in FOLDERS):
                out += _tree(sub, oid, full + "/", mirrors)
        elif kind == "blob" and mode in ("100644", "100755") and wanted(full):
            out.append((Entry(full, mode, oid), repo))
    return out


def write(tag: str, mirrors: Path) -> Path:
    """The archive of `tag` from the repositories' snapshots (FATE's and each submodule's)."""
    fate = mirrors / "FederatedAI+FATE" / "repo"
    when = int(_git(fate, "log", "-1", "--format=%ct", tag).strip())
    entries = sorted(_tree(fate, tag, "", mirrors), key=lambda e: e[0].path)
    ARCHIVES.mkdir(parents=True, exist_ok=True)
    target = ARCHIVES / f"fate-{tag}.tar.xz"
    blobs = {e.path: _blob(repo, e.blob) for e, repo in entries}
    # A few large blobs are absent from the snapshots: named in the manifest, never replaced.
    manifest = {"tag": tag, "commit": _git(fate, "rev-list", "-1", tag).strip(), "time": when,
                "files": [[e.path, e.mode, e.blob] for e, _ in entries if blobs[e.path] is not None],
                "absent": [e.path for e, _ in entries if blobs[e.path] is None]}
    part = target.with_suffix(".part")
    # lzma underneath: tarfile's own preset= keyword is unknown to older type stubs.
    with lzma.open(part, "wb", preset=9) as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        _add(tar, "MANIFEST.json", json.dumps(manifest, indent=0).encode(), "100644", when)
        for entry, _ in entries:
            data = blobs[entry.path]
            if data is not None:
                _add(tar, entry.path, data, entry.mode, when)
    part.replace(target)
    return target


def _blob(repo: Path, oid: str) -> bytes | None:
    done = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", oid], capture_output=True)
    return done.stdout if done.returncode == 0 else None


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: str, when: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), when, 0o755 if mode == "100755" else 0o644
    tar.addfile(info, io.BytesIO(data))


class NotReal(AssertionError):
    """The archive is not the tag's real tree."""


def extract(tag: str, dest: Path) -> dict[str, object]:
    """The tag's tree under `dest`, checked file by file as it is written (one pass over the archive);
    returns the manifest (tag, commit, time, files, absent)."""
    with tarfile.open(ARCHIVES / f"fate-{tag}.tar.xz") as tar:
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())  # type: ignore[union-attr]
        _check_listed(tag, {f[0] for f in manifest["files"]} | set(manifest["absent"]))
        blobs = {path: blob for path, _, blob in manifest["files"]}
        written = set()
        for member in tar:
            if member.name == "MANIFEST.json":
                continue
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if blobs.get(member.name) != blob_id(data):
                raise NotReal(f"{member.name}: not the blob of {tag}'s tree")
            # Safe to join: the name is one of the tag's listed paths (checked above).
            target = dest / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(member.mode)
            os.utime(target, (member.mtime, member.mtime))
            written.add(member.name)
    if written != set(blobs):
        raise NotReal(f"fate-{tag}.tar.xz and its manifest disagree on {sorted(written ^ set(blobs))[:5]}")
    return manifest


def _check_listed(tag: str, files: set[str]) -> None:
    """Exactly the files of the tag's path list under FOLDERS."""
    listed = fate_paths(tag)  # files and folders (git ls-tree -r -t)
    folders = {p.rsplit("/", 1)[0] for p in listed if "/" in p}
    expected = {p for p in listed if wanted(p) and p not in folders}
    if files - listed:
        raise NotReal(f"not in {tag}'s path list: {sorted(files - listed)[:5]}")
    if expected - files:
        raise NotReal(f"{tag}'s files missing from the archive: {sorted(expected - files)[:5]}")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "write":
        sys.exit("usage: python -m testsupport.real_fate write TAG MIRRORS_DIR")
    print(write(sys.argv[2], Path(sys.argv[3])))
