"""Selection and graph: which catalog images a configuration builds, tags and how they link.

Pure functions of a Config; no file system, no Docker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

from . import catalog
from .catalog import Catalog, Image, Role
from .config import Config
from .dockerfiles import context_key
from .errors import ConfigError


def image_ref(prefix: str, name: str, tag: str) -> str:
    return f"{prefix}/{name}:{tag}"


@dataclass(frozen=True)
class PlannedImage:
    image: Image
    tag: str
    reference: str
    # "selected": tagged and pushed; "dependency": built only because a selected image needs it.
    role: Role
    platforms: tuple[str, ...]
    parent_reference: str | None

    @property
    def name(self) -> str:
        return self.image.name

    @property
    def parent_context_key(self) -> str | None:
        return None if self.parent_reference is None else context_key(self.parent_reference)


@dataclass(frozen=True)
class Var:
    """A bake variable, resolved by bake (so it can be overridden from the environment)."""

    name: str


# A string made of literal text and variables, e.g. (Var("FATE_DIR"), "/python").
Text = tuple[Union[str, Var], ...]


@dataclass(frozen=True)
class ImageName:
    """A catalog image as the bake file names it: PREFIX/name:tag, with the tag a variable."""

    name: str
    tag: Var


@dataclass(frozen=True)
class Fallback:
    """`variable` when it is set (not empty), else `otherwise`."""

    variable: Var
    otherwise: Text


@dataclass(frozen=True)
class ParentLink:
    """A child's link to its parent: the parent's target (one graph), or its image once built (waves).

    The bake variable PARENTS picks which (see generator.waves for why a wave needs the image).
    """

    parent: ImageName


# A named context's key: a source name, or a parent image under the key BuildKit looks its FROM up by.
ContextKey = Union[str, ImageName]
Value = Union[str, Var, Text, Fallback, ParentLink]


@dataclass(frozen=True)
class Target:
    """One bake target, in the bake file's terms; render lays it out, it decides nothing."""

    name: str
    comment: str
    context: Text
    dockerfile: str
    tags: tuple[ImageName, ...]
    # Build cache read: the image's own, then its ancestors' (see cache_reads); written: its own.
    cache: tuple[ImageName, ...]
    args: tuple[tuple[str, Value], ...]
    contexts: tuple[tuple[ContextKey, Value], ...]
    # The catalog's summary: the image's org.opencontainers.image.description (generator.oci has the rest).
    description: str
    # A parent in the catalog: built without a provenance attestation, which would give its image
    # another digest in every run and so its children other cache keys (generator.waves).
    is_parent: bool = False


def _name(image: Image) -> ImageName:
    return ImageName(image.name, Var(image.tag_variable))


# Git sources on GitHub are fetched through GITHUB_URL, so a mirror of GitHub serves them too.
GITHUB = "https://github.com/"


def _git_url(url: str) -> Text:
    if url.startswith(GITHUB):
        return (Var("GITHUB_URL"), "/" + url[len(GITHUB):])
    return (url,)


def _source(source: catalog.Source) -> Value:
    if source.git is not None:
        if source.version_variable is None:
            raise ValueError(f"catalog: git source {source.name} has no version variable")
        remote: Text = (*_git_url(source.git), "#", Var(source.version_variable))
        return Fallback(Var(source.local_override), remote) if source.local_override else remote
    if source.path:
        return (Var("FATE_DIR"), f"/{source.path}")
    return Var("FATE_DIR")


def catalog_of(config: Config) -> Catalog:
    """The catalog of the release line FATE_DIR holds (or FATE_LINE names)."""
    return catalog.for_line(config.release.line)


def release_facts(config: Config) -> catalog.Facts | None:
    """The per-release facts of the configured FATE; an unknown release of a line with facts is an error."""
    cat = catalog_of(config)
    facts = cat.facts_for(config.release.version)
    if facts is None and cat.releases:
        known = ", ".join(f.version for f in cat.releases)
        raise ConfigError(
            f"FATE_DIR={config.fate_dir} holds {config.release.describe()}, which fate-builder's {cat.line} "
            f"catalog does not know (known: {known}); check out one of those tags"
        )
    return facts


def component_tag(config: Config, component: str) -> str:
    """TAG read with the component's own version in place of FATE's, where the release says so.

    Only a TAG that starts with the FATE version (`${version}-release` gives `2.2.0-release`)
    is rewritten; a TAG set by hand to anything else tags the image as it is.
    """
    rel, facts = config.release, release_facts(config)
    own = rel.component(component)
    if rel.version is None or own is None or facts is None or component not in facts.component_tags:
        return config.tag
    if config.tag == rel.version or config.tag.startswith(rel.version + "-"):
        return own + config.tag[len(rel.version):]
    return config.tag


def tag_values(config: Config) -> dict[str, str]:
    """Every tag variable of the line's catalog and its value for this configuration."""
    values = {"TAG": config.tag, "BASE_TAG": config.base_tag}
    for image in catalog_of(config).images:
        if image.component and image.tag_variable not in values:
            values[image.tag_variable] = component_tag(config, image.component)
    return values


def tag_rule(config: Config, image: Image) -> str:
    """How the image's tag is made, as plan shows it."""
    if image.tag_kind == "base":
        return "BASE_TAG" + ("" if config.base_tag_explicit else " (same as TAG)")
    if image.component is None:
        return "TAG"
    facts = release_facts(config)
    if facts is None or image.component not in facts.component_tags:
        return f"TAG (FATE {config.release.version or ''}'s deployment tags {image.component} like every image)"
    own = config.release.component(image.component)
    if component_tag(config, image.component) == config.tag:
        return f"TAG (set by hand: it does not start with FATE's version, so {image.component} {own} is not put in)"
    return f"TAG with {image.component}'s own version {own} for FATE's {config.release.version}"


def bake_target(image: Image, cat: Catalog) -> Target:
    """The target of a catalog image.

    Its cache reads include the ancestors' caches: a parent's steps can run inside the
    child's solve (BuildKit shares the vertex between the two builds), and a solve imports
    only the caches named in its own cache-from. That gives the child's solve a way to the
    parent's steps; it does not settle which solve evaluates a shared step first, so a bake
    of several images may still run some cached steps again (moby/buildkit#4674, measured
    with and without these reads alike: see doctor.cache_checks).
    """
    family = cat.family_of(image)
    args: tuple[tuple[str, Value], ...] = ()
    contexts: list[tuple[ContextKey, Value]] = []
    if image.parent:
        parent = cat.by_name[image.parent]
        args = (("BASE_IMAGE", parent.name), ("BASE_TAG", Var(parent.tag_variable)))
        contexts.append((_name(parent), ParentLink(_name(parent))))
    args += tuple((name, Var(name)) for name in family.facts)
    if family.requirements:
        args += (("REQUIREMENTS", " ".join(family.requirements)),)
    contexts += [(source.name, _source(source)) for source in cat.sources_of(image)]
    if family.fragments:
        contexts.append((catalog.FRAGMENTS, (Var("DOCKER_DIR"), f"/{catalog.FRAGMENTS}")))
    origin = f"FROM {image.parent}" if image.parent else f"FROM {image.external}"
    return Target(
        name=image.name,
        comment=f"{image.name}: {image.summary} ({origin}; {', '.join(map(catalog.flag_setting, image.flags))})",
        context=(Var("DOCKER_DIR"), f"/{family.dockerfile_dir}"),
        dockerfile=family.dockerfile,
        tags=(_name(image),),
        cache=tuple(_name(i) for i in (image, *cat.ancestors(image))),
        args=args,
        contexts=tuple(contexts),
        description=image.summary,
        is_parent=any(child.parent == image.name for child in cat.images),
    )


@dataclass(frozen=True)
class Group:
    name: str
    comment: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    config: Config
    # Every image the bake file defines (all valid for the platforms), in catalog order,
    # which puts parents before children.
    targets: tuple[Image, ...]
    # What this configuration builds: the selection and the parents it needs.
    images: tuple[PlannedImage, ...]
    groups: tuple[Group, ...]
    warnings: tuple[str, ...]

    @property
    def catalog(self) -> Catalog:
        return catalog_of(self.config)

    @property
    def selected(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.images if p.role == "selected")

    @property
    def dependencies(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.images if p.role == "dependency")

    @property
    def bake_targets(self) -> tuple[Target, ...]:
        return tuple(bake_target(image, self.catalog) for image in self.targets)

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(parent, child) for the images this configuration builds."""
        return tuple((p.image.parent, p.name) for p in self.images if p.image.parent is not None)


def dependencies_of(plan: Plan, targets: Iterable[str]) -> tuple[str, ...]:
    """Parents the targets need that were not asked for themselves."""
    targets = set(targets)
    needed = {a.name for t in targets for a in plan.catalog.ancestors(plan.catalog.by_name[t])}
    return tuple(t.name for t in plan.targets if t.name in needed - targets)


def descendants_of(plan: Plan, names: Iterable[str]) -> set[str]:
    """The images built on any of `names`, however far down."""
    names = set(names)
    return {t.name for t in plan.targets if names & {a.name for a in plan.catalog.ancestors(t)}}


def valid_for(image: Image, platforms: tuple[str, ...]) -> bool:
    return all(p in image.platforms() for p in platforms)


def is_enabled(image: Image, flags: frozenset[str]) -> bool:
    return all(flag in flags for flag in image.flags)


def _on(flag: str) -> str:
    return f"{catalog.flag_setting(flag)}=1"


def build_plan(config: Config) -> Plan:
    cat = catalog_of(config)
    release_facts(config)
    targets = tuple(image for image in cat.images
                    if valid_for(image, config.platforms) and cat.offers(image, config.release.version))
    chosen = [image for image in targets if is_enabled(image, config.flags)]
    if not chosen:
        on = ", ".join(_on(f) for f in catalog.FLAGS if f in config.flags) or "every Build_* flag is 0"
        raise ConfigError(
            f"no image selected ({on}): set Build_Basic=1 or another family flag whose images exist for "
            f"Platform={','.join(config.platforms)}"
        )
    selected = {image.name for image in chosen}
    planned = _planned(config, cat, targets, selected)
    return Plan(config=config, targets=targets, images=planned, groups=_groups(config, targets, planned),
                warnings=_warnings(config, targets, selected))


def _needed(cat: Catalog, chosen: list[Image]) -> set[str]:
    """The chosen images and every parent they are built on."""
    needed = {image.name for image in chosen}
    for image in chosen:
        needed.update(parent.name for parent in cat.ancestors(image))
    return needed


def _planned(config: Config, cat: Catalog, targets: tuple[Image, ...], selected: set[str]) -> tuple[PlannedImage, ...]:
    """The images this configuration builds, in catalog order, each with its tag and role."""
    tags = tag_values(config)

    def reference(image: Image) -> str:
        return image_ref(config.prefix, image.name, tags[image.tag_variable])

    needed = _needed(cat, [image for image in targets if image.name in selected])
    return tuple(
        PlannedImage(
            image=image,
            tag=tags[image.tag_variable],
            reference=reference(image),
            role="selected" if image.name in selected else "dependency",
            platforms=config.platforms,
            parent_reference=reference(cat.by_name[image.parent]) if image.parent else None,
        )
        for image in targets if image.name in needed
    )


def _groups(config: Config, targets: tuple[Image, ...], planned: tuple[PlannedImage, ...]) -> tuple[Group, ...]:
    """default (the selection), all (every image for the platforms) and one group per flag."""
    groups = [
        Group("default", "The configured selection (docker buildx bake with no target builds it).",
              tuple(p.name for p in planned if p.role == "selected")),
        Group("all", f"Every image that exists for {', '.join(config.platforms)}.",
              tuple(image.name for image in targets)),
    ]
    for flag in catalog.FLAGS:
        members = tuple(image.name for image in targets if flag in image.flags)
        if members:
            groups.append(Group(flag.lower(), f"Images {_on(flag)} enables.", members))
    return tuple(groups)


def _warnings(config: Config, targets: tuple[Image, ...], selected: set[str]) -> tuple[str, ...]:
    """A flag that is on but selects nothing is almost always a mistake worth a word."""
    out = []
    absent = catalog_of(config).absent_for(config.release.version)
    for flag in catalog.FLAGS:
        if flag not in config.flags:
            continue
        if flag in absent:
            out.append(f"{_on(flag)} selects nothing on FATE {config.release.line}: {absent[flag]}")
            continue
        if any(flag in image.flags and image.name in selected for image in targets):
            continue
        missing = [[f for f in catalog.FLAGS if f in image.flags and f not in config.flags]
                   for image in targets if flag in image.flags]
        if missing:
            fewest = min(missing, key=len)
            out.append(f"{_on(flag)} selects no image without {' and '.join(_on(f) for f in fewest)}")
    return tuple(out)
