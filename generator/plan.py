"""Selection and graph: which catalog images a configuration builds, tags and how they link.

Pure functions of a Config; no file system, no Docker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from . import catalog
from .catalog import Image
from .config import Config
from .errors import ConfigError


def image_ref(prefix: str, name: str, tag: str) -> str:
    return f"{prefix}/{name}:{tag}"


def context_key(reference: str) -> str:
    """The name BuildKit looks a `FROM` up under among named contexts.

    BuildKit parses the FROM name, prints it in Docker's familiar form (no `docker.io/`,
    no `library/` for one-component names) and drops a `:latest` tag. bake passes keys
    through untouched, so a key spelled any other way is silently ignored and the image
    is pulled from the registry instead. The HCL function `context_key` mirrors this.
    """
    ref = re.sub(r"^(?:index\.)?docker\.io/", "", reference)
    ref = re.sub(r"^library/([^/]+)$", r"\1", ref)
    return re.sub(r":latest$", "", ref)


@dataclass(frozen=True)
class PlannedImage:
    image: Image
    tag: str
    reference: str
    # "selected": tagged and pushed; "dependency": built only because a selected image needs it.
    role: str
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


# A named context's key: a source name, or a parent image under the key BuildKit looks its FROM up by.
ContextKey = Union[str, ImageName]
Value = Union[str, Var, Text, Fallback]


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
    labels: tuple[tuple[str, str], ...]


def _name(image: Image) -> ImageName:
    return ImageName(image.name, Var(image.tag_variable))


# Git sources on GitHub are fetched through GITHUB_URL, so a mirror of GitHub serves them too.
GITHUB = "https://github.com/"


def _git_url(url: str) -> Text:
    return (Var("GITHUB_URL"), "/" + url[len(GITHUB):]) if url.startswith(GITHUB) else (url,)


def _source(source: catalog.Source) -> Value:
    if source.git is not None:
        if source.version_variable is None:
            raise ValueError(f"catalog: git source {source.name} has no version variable")
        remote: Text = (*_git_url(source.git), "#", Var(source.version_variable))
        return Fallback(Var(source.local_override), remote) if source.local_override else remote
    if source.path:
        return (Var("FATE_DIR"), f"/{source.path}")
    return Var("FATE_DIR")


def bake_target(image: Image) -> Target:
    """The target of a catalog image.

    Its cache reads include the ancestors' caches: a parent's steps can run inside the
    child's solve (BuildKit shares the vertex between the two builds), and a solve imports
    only the caches named in its own cache-from. That gives the child's solve a way to the
    parent's steps; it does not settle which solve evaluates a shared step first, so a bake
    of several images may still run some cached steps again (moby/buildkit#4674, measured
    with and without these reads alike: see doctor.cache_checks).
    """
    family = catalog.family_of(image)
    args: tuple[tuple[str, Value], ...] = ()
    contexts: list[tuple[ContextKey, Value]] = []
    if image.parent:
        parent = catalog.BY_NAME[image.parent]
        args = (("BASE_IMAGE", parent.name), ("BASE_TAG", Var(parent.tag_variable)))
        contexts.append((_name(parent), f"target:{parent.name}"))
    contexts += [(source.name, _source(source)) for source in catalog.sources_of(image)]
    origin = f"FROM {image.parent}" if image.parent else f"FROM {image.external}"
    return Target(
        name=image.name,
        comment=f"{image.name}: {image.summary} ({origin}; Build_{', Build_'.join(image.flags)})",
        context=(Var("DOCKER_DIR"), f"/{family.dockerfile_dir}"),
        dockerfile=family.dockerfile,
        tags=(_name(image),),
        cache=tuple(_name(i) for i in (image, *catalog.ancestors(image))),
        args=args,
        contexts=tuple(contexts),
        labels=(("org.opencontainers.image.title", image.name),
                ("org.opencontainers.image.description", image.summary)),
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
    def selected(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.images if p.role == "selected")

    @property
    def dependencies(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.images if p.role == "dependency")

    @property
    def bake_targets(self) -> tuple[Target, ...]:
        return tuple(bake_target(image) for image in self.targets)

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(parent, child) for the images this configuration builds."""
        return tuple((p.image.parent, p.name) for p in self.images if p.image.parent is not None)


def valid_for(image: Image, platforms: tuple[str, ...]) -> bool:
    return all(p in image.platforms() for p in platforms)


def is_enabled(image: Image, flags: frozenset[str]) -> bool:
    return all(flag in flags for flag in image.flags)


def _flag_comment(flag: str) -> str:
    return f"Build_{flag}=1"


def build_plan(config: Config) -> Plan:
    targets = tuple(image for image in catalog.IMAGES if valid_for(image, config.platforms))
    chosen = [image for image in targets if is_enabled(image, config.flags)]
    if not chosen:
        on = ", ".join(f"Build_{f}=1" for f in catalog.FLAGS if f in config.flags) or "every Build_* flag is 0"
        raise ConfigError(
            f"no image selected ({on}): set Build_Basic=1 or another family flag whose images exist for "
            f"Platform={','.join(config.platforms)}"
        )
    selected = {image.name for image in chosen}
    needed = set(selected)
    for image in chosen:
        needed.update(parent.name for parent in catalog.ancestors(image))

    tags = {"TAG": config.tag, "BASE_TAG": config.base_tag}

    def tag_of(image: Image) -> str:
        return tags[image.tag_variable]

    planned = []
    for image in targets:
        if image.name not in needed:
            continue
        parent = catalog.BY_NAME[image.parent] if image.parent else None
        planned.append(
            PlannedImage(
                image=image,
                tag=tag_of(image),
                reference=image_ref(config.prefix, image.name, tag_of(image)),
                role="selected" if image.name in selected else "dependency",
                platforms=config.platforms,
                parent_reference=image_ref(config.prefix, parent.name, tag_of(parent)) if parent else None,
            )
        )

    groups = [
        Group("default", "The configured selection (docker buildx bake with no target builds it).",
              tuple(p.name for p in planned if p.role == "selected")),
        Group("all", f"Every image that exists for {', '.join(config.platforms)}.",
              tuple(image.name for image in targets)),
    ]
    for flag in catalog.FLAGS:
        members = tuple(image.name for image in targets if flag in image.flags)
        if members:
            groups.append(Group(flag.lower(), f"Images {_flag_comment(flag)} enables.", members))

    return Plan(config=config, targets=targets, images=tuple(planned), groups=tuple(groups),
                warnings=_warnings(config, targets, selected))


def _warnings(config: Config, targets: tuple[Image, ...], selected: set[str]) -> tuple[str, ...]:
    """A flag that is on but selects nothing is almost always a mistake worth a word."""
    out = []
    for flag in catalog.FLAGS:
        if flag not in config.flags:
            continue
        if any(flag in image.flags and image.name in selected for image in targets):
            continue
        missing = [[f for f in catalog.FLAGS if f in image.flags and f not in config.flags]
                   for image in targets if flag in image.flags]
        if missing:
            fewest = min(missing, key=len)
            out.append(f"Build_{flag}=1 selects no image without {' and '.join(f'Build_{f}=1' for f in fewest)}")
    return tuple(out)
