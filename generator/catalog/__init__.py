"""One catalog per FATE release line, chosen by what FATE_DIR holds (generator.release).

`for_line("2.x")` gives a line's catalog. The module-level names (IMAGES, BY_NAME,
ancestors, ...) are the 1.x catalog's, the family the committed docker-bake.hcl is
rendered for; code that works for any line asks `for_line(config.release.line)`.
"""

from __future__ import annotations

from ..release import Line
from . import v1, v2
from .model import (
    FLAGS,
    PLATFORMS,
    Catalog,
    Facts,
    Family,
    Flag,
    Image,
    Platform,
    Role,
    Source,
    TagKind,
    flag_setting,
)

CATALOGS: dict[Line, Catalog] = {"1.x": v1.CATALOG, "2.x": v2.CATALOG}


def for_line(line: Line) -> Catalog:
    return CATALOGS[line]


_V1 = v1.CATALOG
SOURCES = _V1.sources
FAMILIES = _V1.families
IMAGES = _V1.images
BY_NAME = _V1.by_name
FAMILY_BY_NAME = _V1.family_by_name
SOURCE_BY_NAME = _V1.source_by_name
flags_for = _V1.flags_for
family_of = _V1.family_of
sources_of = _V1.sources_of
ancestors = _V1.ancestors

__all__ = [
    "BY_NAME", "CATALOGS", "FAMILIES", "FAMILY_BY_NAME", "FLAGS", "IMAGES", "PLATFORMS", "SOURCES",
    "SOURCE_BY_NAME", "Catalog", "Facts", "Family", "Flag", "Image", "Platform", "Role", "Source", "TagKind",
    "ancestors", "family_of", "flag_setting", "flags_for", "for_line", "sources_of",
]
