"""The build cache kinds, one table: how CACHE spells each, where the bake file points cache-from and cache-to,
whether the cache lives outside the image, and what has been shown of it (docs/caching.md).

config parses CACHE from it, render and the template write the bake file's `cache_from`/`cache_to` from it,
doctor says its evidence from it: a kind added here is a kind everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import ConfigError

CacheKind = Literal["none", "inline", "registry", "local", "gha"]
_MEASURED = ("measured (tests/e2e/test_e2e_cache.py, benchmarks/README.md gives the runs): after `docker builder "
             "prune -af`, 0 of the 16 default images rebuilt")


@dataclass(frozen=True)
class KindRow:
    kind: CacheKind
    written: str  # as CACHE is written: `local:DIR` takes a folder after the colon
    # The bake file's entries (HCL string bodies; `${DIR}` is the folder of local:DIR); "" for no cache.
    cache_from: str = ""
    cache_to: str = ""
    # Outside the image (exported by cache-to, imported by cache-from): it needs the containerd image store or a
    # docker-container builder, and `bake` pipelines for it.
    external: bool = False
    evidence: str = ""  # what has been shown of it, said by doctor

    @property
    def prefix(self) -> str | None:
        """`local:` for a kind written with a value after its name, else None."""
        name, colon, _ = self.written.partition(":")
        return f"{name}:" if colon else None

    def hcl_test(self) -> str:
        """The bake file's test that CACHE is this kind."""
        if self.prefix is None:
            return f'CACHE == "{self.written}"'
        return f'substr(CACHE, 0, {len(self.prefix)}) == "{self.prefix}"'

    def hcl_entry(self, entry: str) -> str:
        if self.prefix is None:
            return entry
        return entry.replace("${DIR}", f"${{substr(CACHE, {len(self.prefix)}, -1)}}")


KINDS = (
    KindRow("none", "none"),
    KindRow("inline", "inline", 'type=registry,ref=${image_ref(name, tag)}', "type=inline"),
    KindRow("registry", "registry", 'type=registry,ref=${image_ref(name, "buildcache")}',
            'type=registry,ref=${image_ref(name, "buildcache")},mode=max', external=True, evidence=_MEASURED),
    KindRow("local", "local:DIR", "type=local,src=${DIR}/${name}", "type=local,dest=${DIR}/${name},mode=max",
            external=True, evidence=_MEASURED),
    KindRow("gha", "gha", "type=gha,scope=${name}", "type=gha,scope=${name},mode=max", external=True,
            evidence="not measured here (no GitHub Actions cache service off GitHub): the bakes and their cache keys "
                     "are those of registry, only the store differs; on GitHub's docker-container builder bake with "
                     "--push"),
)
BY_KIND = {row.kind: row for row in KINDS}
# The order of the bake file's cache_from/cache_to branches as first committed (a kind not named goes last).
_HCL_ORDER: tuple[CacheKind, ...] = ("registry", "inline", "gha", "local")


def hcl_rows() -> list[KindRow]:
    """The kinds that read or write a cache, as the bake file's cache_from/cache_to test them."""
    rank = {kind: index for index, kind in enumerate(_HCL_ORDER)}
    return sorted((row for row in KINDS if row.cache_from), key=lambda row: rank.get(row.kind, len(rank)))


def spelled(quote: str = "", sep: str = ", ", last: str = " or ") -> str:
    """The kinds as CACHE is written, for help texts: `none, inline, ... or gha`."""
    words = [f"{quote}{row.written}{quote}" for row in KINDS]
    return sep.join(words[:-1]) + last + words[-1]


@dataclass(frozen=True)
class Cache:
    """The CACHE setting, parsed once: where bake's cache-from/cache-to point (docs/caching.md)."""

    kind: CacheKind
    directory: str | None = None  # local:DIR

    @property
    def setting(self) -> str:
        """As written in CACHE (and passed to the bake file's CACHE variable)."""
        prefix = BY_KIND[self.kind].prefix
        return f"{prefix}{self.directory}" if prefix else self.kind

    @property
    def external(self) -> bool:
        return BY_KIND[self.kind].external

    @property
    def evidence(self) -> str:
        return BY_KIND[self.kind].evidence

    def __str__(self) -> str:
        return self.setting


def parse_cache(value: str) -> Cache:
    """CACHE's value as a Cache; anything else is a one-line error naming what is allowed."""
    for row in KINDS:
        if row.prefix is None and value == row.written:
            return Cache(row.kind)
        if row.prefix is not None and value.startswith(row.prefix) and len(value) > len(row.prefix):
            return Cache(row.kind, value[len(row.prefix):])
    raise ConfigError(f"CACHE={value!r}: allowed are {spelled(last=', ')}")
