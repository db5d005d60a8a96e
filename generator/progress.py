"""BuildKit's progress, read once for the whole project: lines in, events and vertices out.

fate-builder asks bake for `--progress=plain`: buildx 0.13 (the oldest engine supported)
has no `rawjson` mode, and the plain form is what users read anyway. Its grammar:

    #12 [fateflow stage-0 3/7] COPY --from=fate-python ...   a vertex starts (or is shown again)
    #12 CACHED | #12 DONE 0.4s | #12 ERROR: msg | #12 CANCELED
    #12 <anything else>                                      its output (logs, transfers, exports)
     > [fateflow stage-0 3/7] COPY ...:                      the error summary of a failed step
    ERROR: target fateflow: failed to solve: ...             bake's own verdict (buildx >= 0.20;
    ERROR: failed to solve: ...                               0.13 names no target)

bake puts the target in front of every label (`[fateflow 2/5]`, `[fateflow linux/arm64 2/5]`,
`[fateflow] exporting to image`). BuildKit runs a step shared by several builds once, so one
vertex can be shown under several targets (a parent's steps under each child building it):
a vertex belongs to every target it was shown under.

`parse` reads one line, `Progress` keeps the vertices, and `judge` and `decide` are the pure
functions that say what failed, what was cancelled, and what to bake again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

_VERTEX_LINE = re.compile(r"^#(\d+) (.*)$")
# [target] name | [target stage k/n] name | [target linux/arm64 k/n] name | [k/n] name | [internal] name
_LABEL = re.compile(r"^\[([^\]]*)\] ?(.*)$")
_STEP = re.compile(r"(?:^|\s)(\d+)/(\d+)$")
_DONE = re.compile(r"^DONE (\d+(?:\.\d+)?)s")
_SUMMARY = re.compile(r"^ > \[([^\]]*)\] ?(.*?):?$")
_BAKE_ERROR = re.compile(r'^ERROR: (?:target "?([A-Za-z0-9_.-]+)"?: )?(.*)$')
_LOCATION = re.compile(r"^(\S*Dockerfile\S*):(\d+)$")
_EXIT_CODE = re.compile(r"exit code: (\d+)")
_TRANSFER = re.compile(r"^transferring ([A-Za-z0-9_.-]+): ([\d.]+)(B|kB|KB|MB|GB)")
_UNITS = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}
_NOT_TARGETS = frozenset({"internal", "auth"})

# A daemon that dies mid-bake fails every running step; that is not the targets' doing.
ENGINE_LOST = re.compile(
    r"Cannot connect to the Docker daemon|error reading from server: EOF|rpc error: code = Unavailable"
)
# When BuildKit cancels the steps running beside a failed one, the containerd snapshotter
# can keep a cache record whose snapshot is gone; every later use of it fails like this.
# That is the engine's fault, not the target's: it is retried, at last without cache.
# The export of a target built beside such a step can be cut off in the content store too:
# "error writing config blob: failed commit on ref ...: commit failed: EOF" (Docker 28.5),
# "error writing config blob: failed to copy: failed to send write: EOF" (Docker 26.1).
BROKEN_CACHE = re.compile(r"failed to commit .* during finalize|failed to stat active key|snapshot \S+ does not exist"
                          r"|failed commit on ref \S+: commit failed|failed to send write: EOF")


@dataclass(frozen=True)
class Label:
    """What a vertex is shown as: `[fateflow stage-0 3/7] COPY ...`."""

    target: str | None
    name: str
    stage: str | None = None
    step: int | None = None
    steps: int | None = None
    shown: str = ""  # the whole label as BuildKit printed it


def parse_label(text: str) -> Label:
    match = _LABEL.match(text)
    if match is None:
        return Label(None, text, shown=text)
    inside, name = match.groups()
    step = steps = None
    if m := _STEP.search(inside):
        step, steps = int(m.group(1)), int(m.group(2))
        inside = inside[: m.start()].strip()
    words = inside.split()
    target = words[0] if words and not re.fullmatch(r"\d+/\d+", words[0]) else None
    if target in _NOT_TARGETS:
        target = None
    rest = words[1:] if target is not None else words
    stage = " ".join(w for w in rest if not w.startswith("linux/")) or None
    return Label(target, name, stage, step, steps, text)


# What a line of plain progress is: a vertex started (or shown again), cached, done, failed or
# canceled, or a line of its output; an error summary (` > [x 2/5] ...`), bake's own ERROR, or
# the `Dockerfile:11` location that follows an error summary.
EventKind = Literal["started", "cached", "done", "failed", "canceled", "output", "summary", "error", "location"]


@dataclass(frozen=True)
class Event:
    """One line of progress, of one `kind`."""

    kind: EventKind
    vertex: str | None = None
    label: Label | None = None
    text: str = ""
    seconds: float | None = None
    target: str | None = None
    at: float = 0.0


def parse(line: str, at: float = 0.0) -> Event | None:
    """The event a line of plain progress stands for (None for blank lines and decoration)."""
    line = line.rstrip("\r\n")
    if m := _VERTEX_LINE.match(line):
        vid, rest = m.groups()
        if rest.startswith("["):
            label = parse_label(rest)
            return Event("started", vid, label, rest, target=label.target, at=at)
        if rest == "CACHED":
            return Event("cached", vid, at=at)
        if d := _DONE.match(rest):
            return Event("done", vid, seconds=float(d.group(1)), at=at)
        if rest.startswith("ERROR"):
            return Event("failed", vid, text=rest.removeprefix("ERROR").lstrip(": "), at=at)
        if rest == "CANCELED":
            return Event("canceled", vid, at=at)
        return Event("output", vid, text=rest, at=at)
    if m := _SUMMARY.match(line):
        label = parse_label(f"[{m.group(1)}] {m.group(2)}")
        return Event("summary", label=label, text=line.strip(), target=label.target, at=at)
    if m := _BAKE_ERROR.match(line):
        return Event("error", text=m.group(2), target=m.group(1), at=at)
    if _LOCATION.match(line.strip()):
        return Event("location", text=line.strip(), at=at)
    return None


@dataclass
class Vertex:
    id: str
    labels: list[Label] = field(default_factory=list)
    cached: bool = False
    done: bool = False
    canceled: bool = False
    error: str | None = None
    seconds: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    output: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.labels[0].name if self.labels else ""

    @property
    def names(self) -> list[str]:
        """The labels as shown (`[fateflow stage-0 3/7] COPY ...`)."""
        return [label.shown for label in self.labels]

    @property
    def targets(self) -> list[str]:
        seen: list[str] = []
        for label in self.labels:
            if label.target is not None and label.target not in seen:
                seen.append(label.target)
        return seen

    @property
    def is_step(self) -> bool:
        """A Dockerfile instruction (`[target stage 3/7] RUN ...`), not context loading or export."""
        return any(label.step is not None for label in self.labels)

    @property
    def is_export(self) -> bool:
        return any(label.name.startswith("exporting to ") for label in self.labels)

    @property
    def executed(self) -> bool:
        return self.done and not self.cached

    @property
    def finished(self) -> bool:
        return self.done or self.cached or self.canceled or self.error is not None


class Progress:
    """The vertices of one bake, fed line by line (`feed`) or event by event (`apply`)."""

    def __init__(self, clock: Callable[[], float] | None = None):
        self.clock = clock
        self.vertices: dict[str, Vertex] = {}
        self.events: list[Event] = []

    def feed(self, line: str) -> Event | None:
        event = parse(line, self.clock() if self.clock else 0.0)
        if event is not None:
            self.apply(event)
        return event

    def apply(self, event: Event) -> None:
        self.events.append(event)
        if event.vertex is None:
            return
        new = event.vertex not in self.vertices
        v = self.vertices.setdefault(event.vertex, Vertex(event.vertex))
        if v.started_at is None:
            v.started_at = event.at
        if new and event.kind == "output":
            # `docker build` names some vertices without brackets (`#8 exporting to image`)
            v.labels.append(parse_label(event.text))
            return
        if event.kind == "started" and event.label is not None:
            if event.label not in v.labels:
                v.labels.append(event.label)
        elif event.kind == "cached":
            v.cached, v.finished_at = True, event.at
        elif event.kind == "done":
            v.done, v.finished_at = True, event.at
            v.seconds = max(v.seconds, event.seconds or 0.0)
        elif event.kind == "failed":
            v.error, v.finished_at = event.text, event.at
        elif event.kind == "canceled":
            v.canceled, v.finished_at = True, event.at
        elif event.kind == "output":
            v.output.append(event.text)

    def of_target(self, target: str) -> list[Vertex]:
        return [v for v in self.vertices.values() if target in v.targets]

    def steps(self, containing: str) -> list[Vertex]:
        """The Dockerfile steps whose name contains `containing`."""
        return [v for v in self.vertices.values() if v.is_step and any(containing in lb.name for lb in v.labels)]

    def transferred(self, context: str) -> list[float]:
        """Bytes BuildKit reported sending for a context (`transferring fate: 1.2kB`), one entry per report."""
        sizes = []
        for v in self.vertices.values():
            for text in v.output:
                if (m := _TRANSFER.match(text)) and m.group(1) == context:
                    sizes.append(float(m.group(2)) * _UNITS[m.group(3)])
        return sizes


def read(text: str | Iterable[str]) -> Progress:
    """A finished log (a string or its lines) as Progress."""
    progress = Progress()
    for line in text.splitlines() if isinstance(text, str) else text:
        progress.feed(line)
    return progress


# --------------------------------------------------------------------------------------
# what happened, and what to do about it: pure functions of the events
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    failed: tuple[str, ...] = ()
    broken: tuple[str, ...] = ()
    canceled: tuple[str, ...] = ()
    engine_lost: str | None = None


def judge(events: Iterable[Event], known: Iterable[str]) -> Verdict:
    """Which targets failed, which hit a broken cache entry, which BuildKit cancelled, or whether the engine went away.

    A failed vertex blames the targets it was shown under; the error summary (` > [x 2/5]`)
    and bake's `ERROR: target x:` name one. A broken-cache error is the engine's, not the
    target's; a lost daemon makes every error meaningless.
    """
    known = set(known)
    labels: dict[str, list[str]] = {}
    failed: list[str] = []
    broken: list[str] = []
    canceled: list[str] = []
    engine_lost: str | None = None

    def add(into: list[str], names: Iterable[str]) -> None:
        into.extend(n for n in names if n in known and n not in into)

    for event in events:
        if engine_lost is None and event.kind in ("failed", "error", "output") and ENGINE_LOST.search(event.text):
            engine_lost = f"ERROR: {event.text}" if event.kind != "output" else event.text
        if event.kind == "started" and event.vertex is not None and event.target is not None:
            labels.setdefault(event.vertex, [])
            if event.target not in labels[event.vertex]:
                labels[event.vertex].append(event.target)
        elif event.kind == "failed" and event.vertex is not None:
            add(broken if BROKEN_CACHE.search(event.text) else failed, labels.get(event.vertex, []))
        elif event.kind == "canceled" and event.vertex is not None:
            add(canceled, labels.get(event.vertex, []))
        elif event.kind in ("summary", "error") and event.target is not None:
            if event.target in broken or BROKEN_CACHE.search(event.text):
                add(broken, [event.target])
            else:
                add(failed, [event.target])
    failed = [t for t in failed if t not in broken]
    canceled = [t for t in canceled if t not in failed and t not in broken]
    return Verdict(tuple(failed), tuple(broken), tuple(canceled), engine_lost)


# After a failed bake: bake `remaining` again, stop because the engine went away, or stop.
Action = Literal["retry", "engine-lost", "give-up"]


@dataclass(frozen=True)
class Decision:
    """After a failed bake: `action` is retry (bake `remaining` again), engine-lost or give-up."""

    action: Action
    remaining: tuple[str, ...]
    failed: tuple[str, ...]
    no_cache: bool = False
    broken_retries: int = 0
    message: str = ""


def decide(verdict: Verdict, *, remaining: tuple[str, ...], failed: tuple[str, ...],
           descendants: Mapping[str, frozenset[str]], broken_retries: int = 0, no_cache: bool = False) -> Decision:
    """What to do after a bake of `remaining` failed with `verdict` (`failed`: targets failed in earlier rounds).

    A target that failed, and everything built on it, is dropped; the others (cancelled by
    BuildKit when their neighbour failed) are baked again, their finished steps from cache.
    A broken cache entry is baked again twice, the second time without cache.
    """
    if verdict.engine_lost is not None:
        return Decision("engine-lost", (), failed, no_cache, broken_retries,
                        f"the Docker engine went away during the bake: {verdict.engine_lost}")
    if verdict.failed:
        all_failed = failed + tuple(t for t in verdict.failed if t not in failed)
        blocked = set(all_failed).union(*(descendants.get(t, frozenset()) for t in all_failed))
        left = tuple(t for t in remaining if t not in blocked)
        message = (f"{', '.join(verdict.failed)} failed; finishing the targets that do not depend on it: "
                   f"{', '.join(left)}") if left else ""
        return Decision("retry" if left else "give-up", left, all_failed, no_cache, broken_retries, message)
    if verdict.broken and broken_retries < 2:
        retries = broken_retries + 1
        no_cache = no_cache or retries == 2
        return Decision("retry", remaining, failed, no_cache, retries,
                        f"BuildKit's cache entry for {', '.join(verdict.broken)} is broken (snapshot missing); "
                        f"baking again{' without cache' if no_cache else ''}")
    return Decision("give-up", (), failed, no_cache, broken_retries, "")


@dataclass(frozen=True)
class Failure:
    """A failed Dockerfile step, as a user needs it to fix the step without reading the whole log."""

    image: str
    step: str  # as BuildKit shows it: `[fateboard stage-0 6/7] RUN false`
    command: str
    location: str | None  # `Dockerfile:11`, as BuildKit's error summary says (0.13 gives no folder)
    exit_code: int | None
    output: tuple[str, ...]  # the step's last lines of output


def failures(progress: Progress, last: int = 15) -> list[Failure]:
    """The failed steps of a round, with where they are in their Dockerfile and how they ended."""
    locations: dict[str, str] = {}
    summary: str | None = None
    for event in progress.events:
        if event.kind == "summary" and event.label is not None:
            summary = event.label.shown
        elif event.kind == "location" and summary is not None:
            locations.setdefault(summary, event.text)
            summary = None
    out = []
    for v in progress.vertices.values():
        if v.error is None or not v.is_step:
            continue
        label = next(lb for lb in v.labels if lb.step is not None)
        code = _EXIT_CODE.search(v.error)
        out.append(Failure(
            image=label.target or "", step=label.shown, command=label.name,
            location=next((locations[lb.shown] for lb in v.labels if lb.shown in locations), None),
            exit_code=int(code.group(1)) if code else None, output=tuple(v.output[-last:])))
    return out
