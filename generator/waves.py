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

`schedule` gives waves (for plain `docker buildx bake`: the committed file's wave-N groups),
`waits` the pipeline `fate-builder bake` runs: each image's bake starts as soon as its
own parent's has finished and no image it conflicts with is still to finish before it, so
an image waits for its parent, not for the slowest image of the wave before it. Two
images side by side in different bakes share no step either way. `finish_times` is the
cost model of both. Pure functions; the Dockerfiles are read (generator.dockerfiles) by `dockerfile_steps`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .catalog import Catalog, Image
from .dockerfiles import Instruction, load

# Instructions that do not make a step of their own but shape the next one.
_PREAMBLE = frozenset({"ARG", "ENV", "WORKDIR", "USER", "SHELL", "LABEL", "ONBUILD"})
_STEP = frozenset({"RUN", "COPY", "ADD"})


# A step another image's Dockerfile may share: ON_PARENT only with an image on the same parent,
# INDEPENDENT with any image (a copy onto an empty layer, a stage on an external image).
ON_PARENT = "on-parent"
INDEPENDENT = "independent"
StepKey = tuple[str, str]
# Per image: the steps it may share with others.
Steps = Mapping[str, frozenset[StepKey]]


def shared_step_keys(instructions: Iterable[Instruction], context: str) -> frozenset[StepKey]:
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
    for ins in instructions:
        line, word = ins.line, ins.op
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
        try:
            out[image.name] = shared_step_keys(load(family.dockerfile_path(docker_dir)).instructions,
                                               family.dockerfile_dir)
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


# Per image: the images whose bakes must have finished before its own starts.
Waits = Mapping[str, frozenset[str]]


def heights(names: Iterable[str], parents: Mapping[str, str | None]) -> dict[str, int]:
    """How many generations hang below each image within `names` (0 for an image without children)."""
    names = list(names)
    out = dict.fromkeys(names, 0)
    for name in reversed(names):  # children after parents
        parent = parents.get(name)
        if parent in out:
            out[parent] = max(out[parent], out[name] + 1)
    return out


def waits(names: Iterable[str], parents: Mapping[str, str | None], steps: Steps) -> dict[str, frozenset[str]]:
    """The pipeline for `names` (parents before children, catalog order): each image waits for its parent (when
    in `names`) and for every image it conflicts with that goes first, so no two images that would share a step
    are built at the same time, and the first one's steps are in the builder when the other asks.

    Of two that conflict, the one with more generations below it goes first (they wait for it), else the
    earlier in catalog order: a parent always has more than its child, so nothing waits for itself.
    """
    names = list(names)
    height = heights(names, parents)
    rank = {name: (-height[name], index) for index, name in enumerate(names)}
    out: dict[str, frozenset[str]] = {}
    for name in names:
        parent = parents.get(name)
        first = {o for o in names if rank[o] < rank[name] and o != name and conflicts(name, o, parents, steps)}
        out[name] = frozenset(first | ({parent} if parent in height else set()))
    return out


def ready(plan: Waits, finished: Iterable[str], started: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """The bakes to start now: the images not started whose waits are all finished, in `plan` order. An image
    another waits for gets a bake of its own (its bake ends when it is built, not when its neighbours are);
    the others share one."""
    finished, started = set(finished), set(started)
    waited_for = set().union(*plan.values()) if plan else set()
    now = [n for n, before in plan.items() if n not in started and before <= finished]
    own = tuple((n,) for n in now if n in waited_for)
    rest = tuple(n for n in now if n not in waited_for)
    return own + ((rest,) if rest else ())


def finish_times(plan: Waits, seconds: Mapping[str, float], overhead: float = 0.0) -> dict[str, float]:
    """When each image is built if its bake starts once its waits are finished and takes its `seconds` plus
    `overhead` (the cost model of the pipeline; waves are the same with each wave waiting for the whole last)."""
    out: dict[str, float] = {}

    def finish(name: str) -> float:
        if name not in out:
            out[name] = max((finish(w) for w in plan[name]), default=0.0) + seconds.get(name, 0.0) + overhead
        return out[name]

    for name in plan:
        finish(name)
    return out


def wave_plan(rounds: Iterable[Iterable[str]]) -> dict[str, frozenset[str]]:
    """Waves as waits: every image of a wave waits for every image of the wave before it."""
    out: dict[str, frozenset[str]] = {}
    previous: frozenset[str] = frozenset()
    for wave in rounds:
        wave = tuple(wave)
        out.update({name: previous for name in wave})
        previous = frozenset(wave)
    return out
