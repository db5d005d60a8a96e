"""One `fate-builder bake` as a pure state: events in, actions out.

The run's decisions (which bakes may start, on which parent image, what a failed bake means, what to bake
again, when to stop) are made here from what the driver tells it: a bake's parsed progress event, its good
or failed end with the metadata it wrote, the builder's answer. Each answer is a list of actions (`Start` a
bake, `Say` a line, `EndRound` on the board, `Stop`) that the driver (generator.build.BakeDriver) carries out
with the engine, its threads, the display and the log. No clock, no thread, no engine: tested with events alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from . import progress, waves
from .config import BakeOptions
from .engine import EngineFacts, version_tuple
from .plan import Plan, dependencies_of, descendants_of

# bake's metadata file: target -> what bake says of its image (containerimage.digest, ...), JSON as written.
Metadata = dict[str, Any]


@dataclass(frozen=True)
class Start:
    """Start bake number `lane` of `names`: children on the parents' images in `links`, `loaded` into the
    image store for later bakes (generator.build.bake_call); a retry of a failed bake's remaining targets."""

    lane: int
    names: tuple[str, ...]
    no_cache: bool = False
    links: Mapping[str, str] = field(default_factory=dict)
    loaded: frozenset[str] = frozenset()
    retry: bool = False


@dataclass(frozen=True)
class Say:
    """A line for the user (and the log)."""

    text: str


@dataclass(frozen=True)
class EndRound:
    """A bake ended: the board's rows of its images are final (display.Board.end_round)."""

    ok: bool
    failed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Stop:
    """The run ends now with `error`: the bakes still running are stopped."""

    error: str


Action = Union[Start, Say, EndRound, Stop]


# How a child in a wave names its parent's image: pinned by digest, by tag, or not at all (one graph).
LinkMode = Literal["digest", "tag", "target"]


def link_mode(facts: EngineFacts, options: BakeOptions, parent_pushed: bool) -> LinkMode:
    """A pushed parent is found in the registry by digest on every engine. A loaded one is found in the
    image store by the default (docker driver) builder only: by digest on Docker 28 (measured on 28.5),
    by tag before (Docker 26.1's BuildKit looks `name@digest` up in the registry only). Another builder
    cannot see the image store: the child links to the parent's target, as in one graph."""
    if parent_pushed:
        return "digest"
    if facts.builder_driver not in (None, "docker"):
        return "target"
    server = version_tuple(facts.server_version)
    return "digest" if server is not None and server >= (28,) else "tag"


def parent_source(reference: str, digest: str | None, mode: LinkMode) -> str | None:
    """The named context that puts a child on its parent's image, None for a `target:` link."""
    if mode == "target" or (mode == "digest" and not digest):
        return None
    return f"docker-image://{reference}@{digest}" if mode == "digest" else f"docker-image://{reference}"


def image_digest(metadata: Mapping[str, Any], image: str) -> str | None:
    """The digest bake's metadata gives the image of `image` (its manifest, or its index)."""
    entry = metadata.get(image)
    digest = entry.get("containerimage.digest") if isinstance(entry, dict) else None
    return digest if isinstance(digest, str) and digest.startswith("sha256:") else None


class ExportWatch:
    """When an image of a running bake is in the image store or registry: its export vertex (`[name] exporting to
    image`) is done, before bake goes on to export its cache. Its digest is the manifest list's the export names, or
    its manifest's (what bake's metadata gives as containerimage.digest; recorded on buildx 0.13 and 0.29)."""

    _DIGEST = re.compile(r"^exporting manifest (list )?(sha256:[0-9a-f]{64})")

    def __init__(self, only: str | None = None) -> None:
        # A bake of one target does not put its name in the labels (`#17 exporting to image`).
        self.only = only
        self.exports: dict[str, str] = {}  # vertex -> image
        self.digests: dict[str, dict[bool, str]] = {}

    def feed(self, event: progress.Event) -> tuple[str, str] | None:
        """(image, digest) when `event` ends an image's export whose digest was shown, else None."""
        # Unlabelled, a vertex's first line is its bare name, which progress.parse reads as output.
        name = event.label.name if event.kind == "started" and event.label is not None else event.text
        target = event.target or self.only
        if event.kind in ("started", "output") and name == "exporting to image" and target is not None:
            if event.vertex is not None:
                self.exports[event.vertex] = target
        elif event.kind == "output" and event.vertex in self.exports:
            if match := self._DIGEST.match(event.text):
                self.digests.setdefault(event.vertex, {})[bool(match.group(1))] = match.group(2)
        elif event.kind == "done" and event.vertex in self.exports:
            found = self.digests.get(event.vertex, {})
            digest = found.get(True) or found.get(False)
            if digest is not None:
                return self.exports[event.vertex], digest
        return None


@dataclass
class Lane:
    """One bake of a run and what was seen of it: a first bake, or a retry of the targets it left."""

    number: int
    names: tuple[str, ...]
    no_cache: bool = False
    broken_retries: int = 0
    events: list[progress.Event] = field(default_factory=list)
    done: bool = False
    exports: ExportWatch = field(default_factory=ExportWatch)

    def __post_init__(self) -> None:
        if len(self.names) == 1:
            self.exports = ExportWatch(self.names[0])


# A vertex number of lane k's bake is shown as k * LANE_IDS + its own, so the merged log of bakes running side by
# side reads as one bake's (a bake of the family numbers a few hundred vertices).
LANE_IDS = 10000
_VERTEX_NUMBER = re.compile(r"^#(\d+) ")


def lane_line(lane: int, line: str) -> str:
    """`line` of lane `lane`'s bake with its vertex number made unique in the run (lane 0's unchanged)."""
    if lane == 0:
        return line
    return _VERTEX_NUMBER.sub(lambda m: f"#{lane * LANE_IDS + int(m.group(1))} ", line, count=1)


class BakeRun:
    """The bakes of one run as the schedule lets them start (each a lane), and the retries within a lane.

    The decisions are pure functions (`waves.ready`, `link_mode`, `progress.judge` and `decide`); this keeps
    what they need between events: what started, finished, was exported or failed, and bake's metadata.
    """

    def __init__(self, plan: Plan, options: BakeOptions, schedule: waves.Waits, facts: EngineFacts) -> None:
        self.plan, self.options, self.schedule = plan, options, schedule
        # The facts a child's link is chosen by: docker info's, then the builder's once it has answered.
        self.facts = facts
        self.lanes: dict[int, Lane] = {}
        self.started: set[str] = set()
        self.finished: set[str] = set()
        # Images whose export is done while their bake still exports its cache: their children may start.
        self.exported: set[str] = set()
        self.failed: tuple[str, ...] = ()
        self.skipped: tuple[str, ...] = ()
        self.error: str | None = None
        self.metadata: Metadata = {}
        # Every failed bake's events: what could not be reached is said from them at the end.
        self.seen: list[progress.Event] = []
        self.descendants = {t.name: frozenset(descendants_of(plan, [t.name])) for t in plan.targets}
        self.announced = False  # the display is up: the bakes started from now on are said as they start

    # --- events in ------------------------------------------------------------------------

    def begin(self) -> list[Start]:
        """The bakes that may start before the display is up (said by `announce`, so no `Say` yet)."""
        return [action for action in self._start_ready() if isinstance(action, Start)]

    def announce(self) -> list[Action]:
        """The display is up: what the run will do, the bakes started before, and those that may start now."""
        said: list[Action] = []
        if self.pipelined():
            said.append(Say(f"fate-builder: {len(self.schedule)} images, each baked as soon as its parent is built, "
                            "on its parent's image, so that an empty builder takes every step the cache holds"))
            said += [Say(f"fate-builder: bake {lane.number + 1}: {', '.join(lane.names)}")
                     for lane in self.lanes.values()]
        self.announced = True
        return said + self._start_ready()

    def builder_answered(self, facts: EngineFacts) -> None:
        """The builder's facts are in: later links are chosen by them."""
        self.facts = facts

    def saw(self, number: int, event: progress.Event) -> list[Action]:
        """A progress event of bake `number`: an image others wait for is exported, their bakes start now, not
        after its cache export."""
        lane = self.lanes[number]
        lane.events.append(event)
        found = lane.exports.feed(event) if self.pipelined() else None
        if found is None or found[0] not in lane.names or not self._waited_for(found[0]):
            return []
        image, digest = found
        self.metadata[image] = {**self.metadata.get(image, {}), "containerimage.digest": digest}
        self.exported.add(image)
        return self._start_ready()

    def succeeded(self, number: int, written: Metadata) -> list[Action]:
        """Bake `number` ended well, having written `written`."""
        lane = self._end(number)
        # The parents a one-graph bake built cache-only are its images too.
        actions: list[Action] = [EndRound(ok=True, only=(*lane.names, *dependencies_of(self.plan, lane.names)))]
        moved = [n for n in lane.names
                 if n in self.exported and image_digest(written, n) != image_digest(self.metadata, n)]
        if moved:  # the export's own lines named another digest than bake's metadata: said, not hidden
            actions.append(Say(f"fate-builder: bake's metadata gives {', '.join(moved)} another digest than its "
                               "export showed"))
        self.metadata.update(written)
        self.finished |= set(lane.names)
        return actions + self._start_ready()

    def failed_with(self, number: int, written: Metadata, error: str) -> list[Action]:
        """Bake `number` failed with `error` (bake's own message), having written `written`: what
        `progress.decide` says of its events."""
        lane = self._end(number)
        self.metadata.update(written)
        self.finished |= {n for n in lane.names if n in self.metadata}
        self.seen += lane.events
        remaining = tuple(n for n in lane.names if n not in self.finished)
        decision = progress.decide(progress.judge(lane.events, [t.name for t in self.plan.targets]),
                                   remaining=remaining, failed=self.failed, descendants=self.descendants,
                                   broken_retries=lane.broken_retries, no_cache=lane.no_cache)
        newly = tuple(t for t in decision.failed if t not in self.failed)
        actions: list[Action] = [EndRound(ok=False, failed=newly)]
        self.failed = decision.failed
        if decision.message:
            actions.append(Say(f"fate-builder: {decision.message}"))
        if decision.action == "engine-lost":
            self.error = decision.message
        elif decision.action == "give-up" and not newly:  # nothing new to blame
            self.error = f"{error}; see bake's output above"
        elif decision.action == "retry":
            retry = self._start(decision.remaining, decision.no_cache, retry=True)
            self.lanes[retry.lane].broken_retries = decision.broken_retries
            actions.append(retry)
        if self.error is not None:
            return [*actions, Stop(self.error)]
        return actions + self._start_ready()

    def finish(self, targets: Iterable[str]) -> list[Action]:
        """The run is over: the targets not built because a parent failed."""
        below = set().union(*(self.descendants[t] for t in self.failed))
        self.skipped = tuple(sorted(set(targets) & below - set(self.failed)))
        return [EndRound(ok=False, skipped=self.skipped)]

    # --- what the driver asks -------------------------------------------------------------

    def running(self) -> list[int]:
        """The bakes not ended yet (none once the run must stop)."""
        if self.error is not None:
            return []
        return [number for number, lane in self.lanes.items() if not lane.done]

    def pipelined(self) -> bool:
        """Whether some image waits for another's bake (else one graph, one bake)."""
        return any(self.schedule.values())

    def first(self, names: tuple[str, ...]) -> Start:
        """The one bake of `names`, as one graph (generator.build.bake_round)."""
        return self._start(names)

    # --- the decisions --------------------------------------------------------------------

    def _end(self, number: int) -> Lane:
        lane = self.lanes[number]
        lane.done = True
        return lane

    def _start(self, names: tuple[str, ...], no_cache: bool = False, *, retry: bool = False) -> Start:
        number = len(self.lanes)
        start = Start(number, names, no_cache, self.links(names), frozenset(self._loaded(names)), retry)
        self.lanes[number] = Lane(number, names, no_cache)
        self.started |= set(names)
        return start

    def _start_ready(self) -> list[Action]:
        """A bake for each set of images `waves.ready` says may start now."""
        finished = self.finished | self.exported | set(self.failed)
        plan = {n: w for n, w in self.schedule.items() if not self._below_failed(n)}
        actions: list[Action] = []
        for names in waves.ready(plan, finished, self.started):
            start = self._start(names)
            actions.append(start)
            if self.pipelined() and self.announced:
                on = sorted({self.plan.catalog.by_name[n].parent or "" for n in names}
                            & (self.finished | self.exported))
                where = f" (on the image{'s' if len(on) > 1 else ''} of {', '.join(on)})" if on else ""
                actions.append(Say(f"fate-builder: bake {start.lane + 1}: {', '.join(names)}{where}"))
        return actions

    def _waited_for(self, image: str) -> bool:
        return any(image in before for before in self.schedule.values())

    def _below_failed(self, name: str) -> bool:
        return any(name in self.descendants[f] for f in self.failed)

    def _loaded(self, names: tuple[str, ...]) -> set[str]:
        """The images of this bake that a later bake builds on."""
        later = {n for n in self.schedule if n not in names and n not in self.started}
        return {n for n in names if any(self.plan.catalog.by_name[c].parent == n for c in later)}

    def links(self, names: tuple[str, ...]) -> dict[str, str]:
        """Child -> its parent's image, for the images whose parent an earlier bake built."""
        by_name = {p.name: p for p in self.plan.images}
        out: dict[str, str] = {}
        for name in names:
            planned = by_name[name]
            parent = planned.image.parent
            if parent is None or parent in names or parent not in self.finished | self.exported \
                    or parent in self.failed:
                continue
            pushed = self.options.push and parent in self.plan.selected
            source = parent_source(planned.parent_reference or "", image_digest(self.metadata, parent),
                                   link_mode(self.facts, self.options, pushed))
            if source is not None:
                out[name] = source
        return out
