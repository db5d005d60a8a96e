"""Waves: the order in which a bake that imports a build cache builds the family.

Why waves (measured on Docker 26.1 / BuildKit 0.13 and Docker 28.5 / BuildKit 0.25, README
"Build cache"): a bake of the whole family exports the same cache records as bakes of each
image alone, but after a prune it finds only the roots' steps again. Two things lose the
children's steps on import, and a wave avoids both:

* a child on its parent through `target:` holds the parent's whole graph, so the parent's
  steps are shared between solves, and a hit found through one solve's cache import does
  not lead another solve's next steps to its own (moby/buildkit#4674). In a wave the child
  is on the parent *image* (`docker-image://REF@sha256:...`), whose cache key depends on
  nothing else: no step of a child's graph belongs to another solve.
* two children of one parent whose Dockerfiles begin with the same step share that step
  the same way; they go into different waves (`Conflicts`).

An image is built in the first wave after its parent's in which no image it conflicts
with is built. Pure functions; the Dockerfiles are read by `dockerfile_steps`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .catalog import Catalog, Image

# Instructions that do not make a step of their own but shape the next one.
_PREAMBLE = frozenset({"ARG", "ENV", "WORKDIR", "USER", "SHELL", "LABEL", "ONBUILD"})
_STEP = frozenset({"RUN", "COPY", "ADD"})


def instructions(text: str) -> list[str]:
    """A Dockerfile's instructions, one string each (continuations joined, comments dropped)."""
    out: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        out.append(re.sub(r"\s+", " ", current + line).strip())
        current = ""
    if current:
        out.append(current.strip())
    return out


# A step another image's Dockerfile may share: ON_PARENT only with an image on the same parent,
# INDEPENDENT with any image (a copy onto an empty layer, a stage on an external image).
ON_PARENT = "on-parent"
INDEPENDENT = "independent"
StepKey = tuple[str, str]
# Per image: the steps it may share with others.
Steps = Mapping[str, frozenset[StepKey]]


def shared_step_keys(text: str, context: str) -> frozenset[StepKey]:
    """What of this Dockerfile another image's may share, written so that equal means shared.

    The first step of every stage (with the instructions before it that shape it), and every
    `COPY --link` (a copy onto an empty layer: the same whatever the stage). A stage is on the
    parent when its FROM names `BASE_IMAGE` (as every child's Dockerfile does), else independent.
    A copy from the build context is qualified by the context folder (`context`): the same line
    in another folder copies other files.
    """
    keys: set[StepKey] = set()
    stage: list[str] = []
    kind, first_taken = INDEPENDENT, True
    for line in instructions(text):
        word = line.split(" ", 1)[0].upper()
        if word == "FROM":
            stage, first_taken = [line], False
            kind = ON_PARENT if "BASE_IMAGE" in line else INDEPENDENT
            continue
        qualified = line if "--from=" in line or word == "RUN" else f"{context}: {line}"
        if word in _STEP and "--link" in line.split():
            keys.add((INDEPENDENT, qualified))
        if word in _PREAMBLE:
            stage.append(line)
        elif word in _STEP and not first_taken:
            keys.add((kind, "\n".join([*stage, qualified])))
            first_taken = True
    return frozenset(keys)


def dockerfile_steps(docker_dir: str, images: Iterable[Image], cat: Catalog) -> dict[str, frozenset[StepKey]]:
    """`shared_step_keys` of each image's Dockerfile under `docker_dir` (empty when unreadable)."""
    out: dict[str, frozenset[StepKey]] = {}
    for image in images:
        family = cat.family_of(image)
        path = Path(docker_dir, family.dockerfile_dir, family.dockerfile)
        try:
            out[image.name] = shared_step_keys(path.read_text(encoding="utf-8"), family.dockerfile_dir)
        except OSError:
            out[image.name] = frozenset()
    return out


def conflicts(a: str, b: str, parents: Mapping[str, str | None], steps: Steps) -> bool:
    """Would `a` and `b`, built side by side, share a step?"""
    common = steps.get(a, frozenset()) & steps.get(b, frozenset())
    same_parent = parents.get(a) is not None and parents.get(a) == parents.get(b)
    return any(kind == INDEPENDENT or same_parent for kind, _ in common)


def schedule(names: Iterable[str], parents: Mapping[str, str | None],
             steps: Steps) -> tuple[tuple[str, ...], ...]:
    """The waves for `names` (parents before children, catalog order): each image in the first wave after its
    parent's (a parent outside `names` is taken as built) in which it conflicts with no image already placed."""
    names = list(names)
    wave_of: dict[str, int] = {}
    waves: list[list[str]] = []
    for name in names:
        parent = parents.get(name)
        wave = wave_of[parent] + 1 if parent in wave_of else 0
        while wave < len(waves) and any(conflicts(name, other, parents, steps) for other in waves[wave]):
            wave += 1
        if wave == len(waves):
            waves.append([])
        waves[wave].append(name)
        wave_of[name] = wave
    return tuple(tuple(w) for w in waves if w)
