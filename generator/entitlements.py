"""The filesystem grants (`docker buildx bake --allow`) a bake needs, as pure functions.

Since buildx 0.20, bake refuses to read or write a local path outside the working
directory unless the command grants it (`--allow fs.read=PATH`, `--allow fs.write=PATH`).
fate-builder grants exactly the folders its bake reads and writes: FATE_DIR,
IPCL_PKG_DIR, DOCKER_DIR and local contexts set through Docker_Options (`--set
*.contexts.NAME=DIR`) for reading, a `local:` cache folder for reading (its cache-from)
and writing (its cache-to), and only those outside the working directory.

Version facts, from docker/buildx's history:
* v0.17.0 (203fd8aee "bake: enable support for entitlements"): `bake --allow`, with
  network.host, security.insecure, ... but no filesystem keys (an `fs.read=` there is
  "unknown entitlement key").
* v0.19.0 (1af4f05ba "bake: add filesystem entitlements support"): `fs`, `fs.read`,
  `fs.write`; a missing grant only warns.
* v0.20.0 (72c3d4a23 "bake: make FS entitlements error by default"): a missing grant is
  "ERROR: additional privileges requested".
So fate-builder grants from buildx 0.19 on, and passes no `--allow` to older ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from . import catalog
from .config import Config

FS_GRANTS_SINCE = (0, 19)
FS_ENFORCED_SINCE = (0, 20)


@dataclass(frozen=True)
class Access:
    """The local folders a bake reads and writes, as configured (absolute or relative to the working directory)."""

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()


def local_cache_dir(config: Config) -> str | None:
    return config.cache.directory  # set for local:DIR only


_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|target:|docker-image:|git@)", re.I)


def _set_context(item: str) -> str | None:
    """The local folder a `--set TARGET.context=DIR` or `--set TARGET.contexts.NAME=DIR` points at."""
    key, _, value = item.partition("=")
    field = key.split(".", 1)[1] if "." in key else ""
    if (field == "context" or field.startswith("contexts.")) and value and not _REMOTE.match(value):
        return value
    return None


def bake_access(config: Config, targets: Iterable[str], overrides: Iterable[str] = ()) -> Access:
    """What a bake of `targets` (every target it builds, parents included) reads and writes on this machine.

    `overrides` are bake's `--set` values (Docker_Options): a local context set there is read too.
    """
    cat = catalog.for_line(config.release.line)
    images = [cat.by_name[name] for name in targets]
    if not images:
        return Access()
    sources = [s for image in images for s in cat.sources_of(image)]
    reads = [config.docker_dir, *filter(None, map(_set_context, overrides))]
    if any(s.path is not None for s in sources):
        reads.append(config.fate_dir)
    if config.ipcl_pkg_dir and any(s.local_override for s in sources):
        reads.append(config.ipcl_pkg_dir)
    # Files passed as BuildKit secrets (`src=`) are read by bake too.
    reads += [path for path in (config.ca_bundle, config.maven_settings) if path]
    writes = []
    cache = local_cache_dir(config)
    if cache:
        # cache-from reads the folder, cache-to writes it.
        reads.append(cache)
        writes.append(cache)
    return Access(tuple(reads), tuple(writes))


def knows_fs_grants(buildx_version: tuple[int, ...] | None) -> bool:
    return buildx_version is not None and buildx_version >= FS_GRANTS_SINCE


def enforces_fs_grants(buildx_version: tuple[int, ...] | None) -> bool:
    return buildx_version is not None and buildx_version >= FS_ENFORCED_SINCE


def _outside(paths: Iterable[str], cwd: PurePosixPath, resolve: Callable[[str], str]) -> list[str]:
    """The resolved paths not under `cwd`, without any that a broader one already covers."""
    found = sorted({PurePosixPath(resolve(os.path.join(cwd, p))) for p in paths})
    kept: list[PurePosixPath] = []
    for path in found:
        if path == cwd or cwd in path.parents:
            continue
        if any(k == path or k in path.parents for k in kept):
            continue
        kept.append(path)
    return [str(p) for p in kept]


def grants(access: Access, cwd: str, buildx_version: tuple[int, ...] | None,
           resolve: Callable[[str], str] = os.path.realpath) -> tuple[str, ...]:
    """The `--allow` values for a bake run from `cwd` by this buildx: `fs.read=PATH`, then `fs.write=PATH`.

    Paths are compared after `resolve` (symlinks followed, as buildx does), so a link
    inside the working directory to a folder outside it is granted too; nothing under
    the working directory is (buildx allows that by default).
    """
    if not knows_fs_grants(buildx_version):
        return ()
    base = PurePosixPath(resolve(cwd))
    return (*(f"fs.read={p}" for p in _outside(access.reads, base, resolve)),
            *(f"fs.write={p}" for p in _outside(access.writes, base, resolve)))
