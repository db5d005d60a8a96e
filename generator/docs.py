"""The reference's tables, derived from the catalog and the settings so the docs cannot drift.

`python -m generator.docs` (`make docs`) rewrites the marked blocks of the pages in PAGES
(docs/settings.md, docs/images.md and their Chinese twins); a test fails when they differ
from what this module renders.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import catalog
from .config import SETTINGS
from .package import PROJECT_ROOT
from .release import Line
from .render import write_atomic

HEADERS: dict[str, dict[str, Any]] = {
    "en": {
        "images": ("image", "built FROM", "Dockerfile", "enabled when", "arm64", "tag", "what it is"),
        "settings": ("setting", "default", "meaning"),
        "yes": "yes",
        "external": {},
    },
    "zh": {
        "images": ("镜像", "父镜像 (FROM)", "Dockerfile", "启用条件", "arm64", "标签", "说明"),
        "external": {"OS image": "操作系统镜像", "JRE image": "JRE 镜像", "Python image": "Python 镜像"},
        "settings": ("配置项", "默认值", "含义"),
        "yes": "是",
    },
}


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    return "\n".join([_row(header), _row("---" for _ in header), *(_row(r) for r in rows)])


def images_table(lang: str, line: Line) -> str:
    h = HEADERS[lang]
    cat = catalog.for_line(line)
    rows = []
    for image in cat.images:
        rows.append((
            f"`{image.name}`",
            f"`{image.parent}`" if image.parent else h["external"].get(image.external, image.external),
            f"`docker/{cat.family_of(image).dockerfile_dir}/`",
            ", ".join(f"`{catalog.flag_setting(f)}=1`" for f in image.flags),
            h["yes"] if image.arm64 else "",
            f"`{image.tag_variable}`",
            image.summary if lang == "en" else image.summary_zh,
        ))
    return _table(h["images"], rows)


def settings_table(lang: str) -> str:
    h = HEADERS[lang]
    rows = [(f"`{s.name}`", s.readme_default(lang), s.help if lang == "en" else s.help_zh) for s in SETTINGS]
    return _table(h["settings"], rows)


# Each README block and what fills it; each images table names its line.
BLOCKS: dict[str, Callable[[str], str]] = {
    "images": lambda lang: images_table(lang, "1.x"), "images-2x": lambda lang: images_table(lang, "2.x"),
    "settings": settings_table,
}
DOCS = PROJECT_ROOT / "docs"
# Each page with the generated blocks it holds, once per language (the Chinese twin is PAGE_zh.md).
PAGE_BLOCKS: dict[str, tuple[str, ...]] = {"settings": ("settings",), "images": ("images", "images-2x")}
PAGES: dict[tuple[str, str], Path] = {
    (page, lang): DOCS / f"{page}{'' if lang == 'en' else '_' + lang}.md" for page in PAGE_BLOCKS for lang in HEADERS
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN {name} .*?-->\n)(.*?)(<!-- END {name} -->)", re.S)


def update(text: str, lang: str, names: Iterable[str] = tuple(BLOCKS)) -> str:
    """`text` with each named block rendered again; a page holds each of its blocks exactly once."""
    for name in names:
        make = BLOCKS[name]

        def block(m: re.Match[str], make: Callable[[str], str] = make) -> str:
            return m.group(1) + make(lang) + "\n" + m.group(3)

        text, count = _pattern(name).subn(block, text)
        if count != 1:
            raise ValueError(f"the {lang} page needs exactly one '<!-- BEGIN {name} ... -->' block, found {count}")
    return text


def main() -> int:
    for (page, lang), path in PAGES.items():
        text = path.read_text(encoding="utf-8")
        new = update(text, lang, PAGE_BLOCKS[page])
        if new != text:
            write_atomic(path, new)
            print(f"updated {path.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
