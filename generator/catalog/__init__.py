"""One catalog per FATE release line, chosen by what FATE_DIR holds (generator.release).

`for_line(line)` gives a line's catalog, and only it: no line is the default, so code asks
`for_line(config.release.line)` (plan.catalog_of) and a test names the line it checks.
"""

from __future__ import annotations

from ..release import Line
from . import v1, v2
from .model import (
    FLAGS,
    FRAGMENTS,
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


__all__ = [
    "CATALOGS", "FLAGS", "FRAGMENTS", "PLATFORMS", "Catalog", "Facts", "Family", "Flag", "Image", "Platform", "Role",
    "Source", "TagKind", "flag_setting", "for_line",
]
