"""The typed vocabulary every release line's catalog is written in, and the Catalog itself.

A catalog is data: sources, Dockerfile families, images, and (for 2.x) the facts each
release of the line fixes. Groups, targets, the graph, the README tables and the plan
are derived from it; nothing else lists images or flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal, get_args

from ..release import Line

# Build_* flags, in the order FATE-Builder documents them. The bake group of a flag is
# its lower-case name.
Flag = Literal["Basic", "Spark", "NN", "GPU", "LLM", "IPCL", "OP", "FUM"]
FLAGS: tuple[Flag, ...] = get_args(Flag)


def flag_setting(flag: str) -> str:
    """The setting that switches a family on: Build_Basic for Basic (the bake group is "basic")."""
    return f"Build_{flag}"


Platform = Literal["amd64", "arm64"]
PLATFORMS: tuple[Platform, ...] = get_args(Platform)

# How an image is tagged: TAG (module images), BASE_TAG (base images), or TAG read with
# the image's own component version in place of FATE's (2.x eggroll and fateboard, as
# upstream's deployments of those releases name them).
TagKind = Literal["module", "base", "component"]

# "selected": tagged and pushed; "dependency": built only because a selected image needs it.
Role = Literal["selected", "dependency"]


@dataclass(frozen=True)
class Source:
    """A named build context that feeds FATE pieces into the Dockerfiles.

    `path` is relative to FATE_DIR. A git source has `git` set instead; for IPCL a
    local checkout (IPCL_PKG_DIR) takes precedence when it is set.
    """

    name: str
    path: str | None = None
    git: str | None = None
    version_variable: str | None = None
    local_override: str | None = None


@dataclass(frozen=True)
class Family:
    """A Dockerfile (docker/<name>/Dockerfile), the sources it copies from, and the
    release facts (build args) and FATE requirement files it is given."""

    name: str
    sources: tuple[str, ...] = ()
    dockerfile: str = "Dockerfile"
    facts: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    # The Dockerfile runs the shared build fragments (docker/fragments/, the `fragments` named context).
    fragments: bool = False

    @property
    def dockerfile_dir(self) -> str:
        return self.name

    def dockerfile_path(self, docker_dir: str | Path) -> Path:
        """The family's Dockerfile in a Dockerfile tree (docker/ or a copy of it): the one path rule."""
        return Path(docker_dir, self.dockerfile_dir, self.dockerfile)


# The folder of the Dockerfile tree holding the build fragments (docker/fragments/maven.sh), and its context.
FRAGMENTS = "fragments"


@dataclass(frozen=True)
class Image:
    name: str
    parent: str | None
    family: str
    flags: tuple[Flag, ...]
    arm64: bool = False
    base: bool = False
    external: str | None = None
    summary: str = ""
    summary_zh: str = ""
    # The component whose version tags this image (release.COMPONENT_FILES), if any.
    component: str | None = None

    @property
    def tag_kind(self) -> TagKind:
        return "base" if self.base else "component" if self.component else "module"

    @property
    def tag_variable(self) -> str:
        """The HCL variable that tags this image: base images follow BASE_TAG."""
        if self.component:
            return f"{self.component.upper()}_TAG"
        return "BASE_TAG" if self.base else "TAG"

    def platforms(self) -> tuple[Platform, ...]:
        return PLATFORMS if self.arm64 else ("amd64",)


def img(name: str, parent: str | None, family: str, flags: str, summary: str, summary_zh: str, *,
        arm64: bool = False, base: bool = False, external: str | None = None,
        component: str | None = None) -> Image:
    parsed = tuple(flags.split(","))
    unknown = [f for f in parsed if f not in FLAGS]
    if unknown:
        raise ValueError(f"catalog: image {name} names unknown flags {unknown}")
    return Image(name, parent, family, parsed, arm64, base, external, summary, summary_zh,  # type: ignore[arg-type]
                 component)


@dataclass(frozen=True)
class Facts:
    """What one release of a line fixes for its images: build args by name, with the
    evidence for each (a file of that release's tree, or its RELEASE.md)."""

    version: str
    values: tuple[tuple[str, str], ...]
    evidence: str = ""
    # Components whose images this release's deployment tags with their own version.
    component_tags: tuple[str, ...] = ()
    # Flags whose images this release cannot have, with the reason (as Catalog.absent, per release).
    absent: tuple[tuple[Flag, str], ...] = ()

    def get(self, name: str) -> str:
        return dict(self.values)[name]


@dataclass(frozen=True)
class Catalog:
    line: Line
    sources: tuple[Source, ...]
    families: tuple[Family, ...]
    images: tuple[Image, ...]
    # Flags this line has no image for, with the reason plan gives when one is on.
    absent: tuple[tuple[Flag, str], ...] = ()
    # Per-release facts, oldest first (1.x has none: its Dockerfiles read fate.env).
    releases: tuple[Facts, ...] = ()
    fact_help: tuple[tuple[str, str], ...] = field(default=())
    # Why a flag's images are amd64 only (the platform check says it when arm64 is asked for).
    amd64_only: tuple[tuple[Flag, str], ...] = ()

    @cached_property
    def by_name(self) -> dict[str, Image]:
        return {image.name: image for image in self.images}

    @cached_property
    def family_by_name(self) -> dict[str, Family]:
        return {family.name: family for family in self.families}

    @cached_property
    def source_by_name(self) -> dict[str, Source]:
        return {source.name: source for source in self.sources}

    def flags_for(self, platforms: tuple[str, ...]) -> frozenset[str]:
        """The Build_* flags that select at least one image existing for all of `platforms`."""
        return frozenset(
            flag for image in self.images if all(p in image.platforms() for p in platforms) for flag in image.flags
        )

    def family_of(self, image: Image) -> Family:
        return self.family_by_name[image.family]

    def sources_of(self, image: Image) -> tuple[Source, ...]:
        return tuple(self.source_by_name[name] for name in self.family_of(image).sources)

    def ancestors(self, image: Image) -> tuple[Image, ...]:
        """Parents from the nearest up to the root, all inside the catalog."""
        chain = []
        while image.parent is not None:
            image = self.by_name[image.parent]
            chain.append(image)
        return tuple(chain)

    def facts_for(self, version: str | None) -> Facts | None:
        """The facts of `version`; the newest release's when no tree was read (version None)."""
        if not self.releases:
            return None
        if version is None:
            return self.releases[-1]
        return next((f for f in self.releases if f.version == version), None)

    def absent_for(self, version: str | None) -> dict[Flag, str]:
        """The flags that select nothing for `version`, with the reason: the line's, then the release's."""
        facts = self.facts_for(version)
        return {**dict(self.absent), **dict(facts.absent if facts else ())}

    def offers(self, image: Image, version: str | None) -> bool:
        """Whether `version` of the line can have the image (none of its flags absent there)."""
        absent = self.absent_for(version)
        return not any(flag in absent for flag in image.flags)

    @property
    def fact_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for f in self.families for name in f.facts))

    @property
    def tag_variables(self) -> tuple[str, ...]:
        """The component tag variables (beyond TAG and BASE_TAG) this line's images use."""
        return tuple(dict.fromkeys(i.tag_variable for i in self.images if i.tag_kind == "component"))
