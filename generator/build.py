"""Running builds: bake, push, save and load, on top of the thin Docker layer.

The pure parts (which options become which bake flags, what goes in the offline bundle;
which targets failed according to BuildKit's log is generator.progress) are functions of their inputs so
they are tested without an engine; the rest sequences calls into `docker.Engine`.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import queue
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal

from . import doctor, entitlements, inventory, oci, unreachable, waves
from .config import BakeOptions, Kind
from .engine import Bake, Engine, EngineError, EngineFacts, FactsQuery, version_tuple
from .errors import ConfigError, FateBuilderError
from .plan import Plan
from .render import bake_variables

FATE_ARCHIVE = "fate.images.tar.gz"
# Where every bake keeps its whole plain log (git-ignored with the rest of .fate-builder/).
LOG_DIR = Path(".fate-builder") / "logs"
THIRD_PARTY_ARCHIVE = "third-party.images.tar.gz"
BASE_ARCHIVE = "base.images.tar.gz"  # save --base-images: what the FROM lines pull


class BuildFailed(FateBuilderError):
    pass


class PreflightFailed(FateBuilderError):
    pass


def _attest(kind: str, value: str) -> str:
    """`--sbom`/`--provenance` VALUE as the attest entry bake's own flags expand to."""
    if value.lower() in ("true", "1"):
        return f"type={kind}"
    if value.lower() in ("false", "0"):
        return f"type={kind},disabled=true"
    return f"type={kind},{value}"


def bake_arguments(options: BakeOptions) -> dict[str, Any]:
    """python-on-whales `buildx.bake` keyword arguments for the mapped Docker_Options."""
    overrides: dict[str, str] = {}
    for item in options.set:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"Docker_Options: --set {item!r} must be TARGET.KEY=VALUE")
        if key in overrides:
            raise ConfigError(f"Docker_Options: --set {key} is given twice; give each key once")
        overrides[key] = value
    # Two patterns that match every target, so an SBOM and a provenance attestation can both be asked for.
    if options.sbom is not None:
        overrides["*.attest"] = _attest("sbom", options.sbom)
    if options.provenance is not None:
        overrides["**.attest"] = _attest("provenance", options.provenance)
    args = {
        "cache": not options.no_cache,
        "pull": options.pull,
        "load": options.load,
        "push": options.push,
        "builder": options.builder,
        "metadata_file": options.metadata_file,
        "set": overrides,
    }
    return args


# How `fate-builder bake` lays out its bakes: "auto" pipelines them when CACHE imports a cache (else one graph);
# "one-graph" is one bake of everything whatever CACHE says (the benchmark's baseline for the cold cost).
Layout = Literal["auto", "one-graph"]


@dataclass(frozen=True)
class BakeRequest:
    targets: tuple[str, ...]
    options: BakeOptions
    print_only: bool = False
    layout: Layout = "auto"
    # Bake variables of this request beside the configuration's (PLATFORM_ONLY for `--platform-only`).
    variables: tuple[tuple[str, str], ...] = ()


def resolve_targets(plan: Plan, requested: Iterable[str]) -> tuple[str, ...]:
    """The target names a request of targets and groups stands for, parents first."""
    requested = tuple(requested) or ("default",)
    groups = {g.name: g.targets for g in plan.groups}
    names = {t.name for t in plan.targets}
    unknown = [r for r in requested if r not in names and r not in groups]
    if unknown:
        raise ConfigError(
            f"unknown target or group {', '.join(unknown)} for Platform={','.join(plan.config.platforms)}; "
            f"groups: {', '.join(groups)}; targets: see `fate-builder plan`"
        )
    wanted = {n for r in requested for n in groups.get(r, (r,))}
    return tuple(t.name for t in plan.targets if t.name in wanted)


def dependencies_of(plan: Plan, targets: Iterable[str]) -> tuple[str, ...]:
    """Parents the targets need that were not asked for themselves."""
    targets = set(targets)
    needed = {a.name for t in targets for a in plan.catalog.ancestors(plan.catalog.by_name[t])}
    return tuple(t.name for t in plan.targets if t.name in needed - targets)


def descendants_of(plan: Plan, names: Iterable[str]) -> set[str]:
    names = set(names)
    return {t.name for t in plan.targets if names & {a.name for a in plan.catalog.ancestors(t)}}


def bake_call(plan: Plan, targets: tuple[str, ...], options: BakeOptions,
              links: Mapping[str, str] | None = None,
              loaded: Iterable[str] = ()) -> tuple[list[str], dict[str, Any]]:
    """The targets and python-on-whales arguments for one bake of `targets`.

    A parent that was not asked for is still built, through its `target:` link, but
    buildx 0.13 then exports and tags it like any target. So it is named in the call with
    a cache-only output: built, linked, never tagged or pushed. `--load` becomes a per
    target output for the same reason (bake's own `--load` applies to every target).
    In a wave, `links` puts a child on its parent's image (child -> named context) instead,
    so the parent is not in the call; `loaded` are the wave's images that later waves build
    on, loaded into the image store whatever the options (a child finds them there).
    """
    links = dict(links or {})
    dependencies = dependencies_of(plan, [t for t in targets if t not in links])
    kwargs = bake_arguments(options)
    overrides = dict(kwargs["set"])
    for name in dependencies:
        overrides[f"{name}.output"] = "type=cacheonly"
    load = kwargs.pop("load")
    for name in targets:
        if load or (name in loaded and not (options.push and name in plan.selected)):
            overrides[f"{name}.output"] = "type=docker"
    by_name = {p.name: p for p in plan.images}
    for child, source in links.items():
        overrides[f"{child}.contexts.{by_name[child].parent_context_key}"] = source
    kwargs["set"] = overrides
    return [*targets, *dependencies], kwargs


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


def bake_schedule(plan: Plan, targets: tuple[str, ...], layout: Layout = "auto",
                  steps: waves.Steps | None = None) -> dict[str, frozenset[str]]:
    """What each image's bake waits for. With a build cache to import that is not in the image, the pipeline of
    `waves.waits` for `targets` and the parents they need (see generator.waves); else nothing: one bake of
    `targets`, one graph (the parents not asked for stay out of it: bake_call adds them, cache-only)."""
    names = (*dependencies_of(plan, targets), *targets)
    if layout == "one-graph" or not plan.config.cache.external or len(names) < 2:
        return {name: frozenset() for name in targets}
    images = [t for t in plan.targets if t.name in names]
    if steps is None:
        steps = waves.dockerfile_steps(plan.config.docker_dir, images, plan.catalog)
    return waves.waits([i.name for i in images], {i.name: i.parent for i in images}, steps)


def narrowed(plan: Plan, targets: tuple[str, ...]) -> Plan:
    """The plan of what a bake of `targets` builds (they and their parents): what its preflight judges, so
    `bake fateflow` needs no fate_board/ in FATE_DIR. No targets: the whole plan."""
    if not targets:
        return plan
    wanted = {*targets, *dependencies_of(plan, targets)}
    return dataclasses.replace(plan, images=tuple(p for p in plan.images if p.name in wanted))


def preflight(facts: EngineFacts, plan: Plan, options: BakeOptions, out: Callable[[str], None]) -> None:
    """doctor's checks for this bake; the failed ones are printed and raise PreflightFailed."""
    checks = doctor.all_checks(facts, plan, options, sources_if_engine_fails=False)
    bad = doctor.failed(checks)
    if bad:
        for check in bad:
            for line in check.lines():
                out(line)
        raise PreflightFailed(f"{len(bad)} preflight check(s) failed; fix them or run `fate-builder doctor`")


def builder_can_wait(plan: Plan, options: BakeOptions) -> bool:
    """Whether the builder's checks may wait for a failed bake: one platform, the builder buildx picks by default
    (none named, no BUILDX_BUILDER), no cache export. Then the builder only matters if it lacks the daemon's own
    platform (`builder_checks_needed`); a bake that fails is followed by the checks, with the same lines."""
    exports_cache = plan.config.cache.external
    return (len(plan.config.platforms) == 1 and not options.builder and not os.environ.get("BUILDX_BUILDER")
            and not exports_cache)


def builder_checks_needed(plan: Plan, options: BakeOptions, daemon: EngineFacts) -> bool:
    """Whether the builder must be checked before bake: `builder_can_wait` does not hold, or the one platform is
    not the daemon's own (the default builder may lack it: QEMU)."""
    native = [f"linux/{p}" for p in plan.config.platforms] == [daemon.native_platform]
    return not (builder_can_wait(plan, options) and native)


def can_start_early(facts: EngineFacts) -> bool:
    """Whether bake may start before the builder's facts are in: the daemon answered and buildx's version (which
    decides the `--allow` grants) is known. The bake's output waits for the full preflight's verdict."""
    return facts.server_error is None and facts.buildx_version is not None


def run_bake(engine: Engine, plan: Plan, bake_file: Path, request: BakeRequest,
             out: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
             stream: IO[str] | None = None, facts: FactsQuery | None = None) -> dict[str, Any] | None:
    """Check the machine, bake `bake_file` (rendered by the caller). Returns bake's resolved definition for --print.

    The preflight (`facts`, asked by the caller or here) and the first bake run side by
    side: bake starts once `docker info` has answered, its output is held until the
    builder has answered too and every check passed, and a failed check stops it, so the
    user sees the same failed checks as `doctor` and no build. For the daemon's own
    platform on the default builder the builder is asked only if the bake fails
    (`builder_checks_needed`).

    Then the bakes of `bake_schedule` (`BakeRun`): one graph, or, with a build cache to
    import, each image's bake as soon as its parent's has finished, on the image it built.
    When a target fails, BuildKit cancels the targets of the same bake still running
    beside it; they are baked again (their finished steps come from cache) so one broken
    image does not cost the others, and the failed ones are named at the end
    (progress.judge and decide). On a terminal the progress is a live line per image
    (display.LiveView), else BuildKit's plain log; both end with a summary table.
    """
    targets = resolve_targets(plan, request.targets)
    if request.print_only:
        # --print resolves the file only; bake checks entitlements when it builds.
        names, kwargs = bake_call(plan, targets, request.options)
        return engine.bake_print(bake_file, names, {**bake_variables(plan.config), **dict(request.variables)},
                                 **kwargs)
    with tempfile.TemporaryDirectory(prefix="fate-builder-") as scratch:
        run = BakeRun(engine, plan, bake_file, request.options, facts or engine.ask_facts(request.options.builder),
                      Path(scratch), out)
        run.variables.update(request.variables)
        run.go(targets, bake_schedule(plan, targets, request.layout), stream or sys.stderr)
    if run.error is not None or run.failed:
        say_unreachable(engine, plan, run.seen, out)
        for line in oci.scanner_unreachable(plan.config, [e.text for e in run.seen]):
            out(f"fate-builder: {line}")
    if run.error is not None:
        raise BuildFailed(run.error)
    if run.failed:
        tail = f" (not built, their parent failed: {', '.join(run.skipped)})" if run.skipped else ""
        raise BuildFailed(f"bake failed: target(s) {', '.join(run.failed)} failed{tail}")
    return None


@dataclass(frozen=True)
class RoundResult:
    """What one bake process did: the targets it was called with, its exit status, its metadata, its output."""

    names: tuple[str, ...]
    return_code: int
    metadata: dict[str, Any]
    lines: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.return_code == 0


def bake_round(engine: Engine, plan: Plan, bake_file: Path, options: BakeOptions, targets: tuple[str, ...] = (),
               *, on_line: Callable[[str], None] | None = None) -> RoundResult:
    """One bake of `targets` (the default group when empty) as one graph, started as `BakeRun` starts each of its
    bakes (bake_call's targets and outputs, the `--allow` grants); no preflight, retry or display. For recording
    BuildKit's output (tests.fixtures.record_progress) and for the benchmark."""
    with tempfile.TemporaryDirectory(prefix="fate-builder-") as scratch:
        run = BakeRun(engine, plan, bake_file, options, engine.ask_facts(options.builder, inspect_now=False),
                      Path(scratch), lambda _: None)
        return run.round(resolve_targets(plan, targets), on_line)


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

    def feed(self, event: Any) -> tuple[str, str] | None:
        """(image, digest) when `event` ends an image's export whose digest was shown, else None."""
        # Unlabelled, a vertex's first line is its bare name, which progress.parse reads as output.
        name = event.label.name if event.kind == "started" and event.label is not None else event.text
        target = event.target or self.only
        if event.kind in ("started", "output") and name == "exporting to image" and target is not None:
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
    """One bake process of a run and what was seen of it: a first bake, or a retry of the targets it left."""

    number: int
    names: tuple[str, ...]
    bake: Bake
    metadata_file: Path
    no_cache: bool = False
    broken_retries: int = 0
    events: list[Any] = field(default_factory=list)
    listening: bool = False
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
    """One `fate-builder bake`: the preflight gate, then bakes as the schedule lets them start (each a lane), and
    retries within a lane.

    The decisions are pure functions (`bake_schedule`, `waves.ready`, `link_mode`, `progress.decide`); this
    sequences them, the engine, the bakes' output (read by a thread per bake) and the display.
    """

    def __init__(self, engine: Engine, plan: Plan, bake_file: Path, options: BakeOptions, query: FactsQuery,
                 scratch: Path, out: Callable[[str], None]):
        self.engine, self.plan, self.bake_file, self.query, self.out = engine, plan, bake_file, query, out
        self.variables = bake_variables(plan.config)
        self.checked_plan = plan  # narrowed to the bake's targets when it goes
        self.scratch, self.options = scratch, options
        self.daemon = query.daemon()
        self.buildx = version_tuple(self.daemon.buildx_version)
        self.checked = builder_checks_needed(plan, options, self.daemon)
        self.cwd = os.getcwd()
        self.dotenv_noise = dotenv_warnings(Path(self.cwd, ".env"))
        self.metadata: dict[str, Any] = {}
        self.failed: tuple[str, ...] = ()
        self.skipped: list[str] = []
        self.error: str | None = None
        # Every failed bake's events: what could not be reached is said from them at the end.
        self.seen: list[Any] = []
        self.descendants = {t.name: frozenset(descendants_of(plan, [t.name])) for t in plan.targets}
        self.log_path: Path | None = None
        self.lanes: dict[int, Lane] = {}
        self.started: set[str] = set()
        self.finished: set[str] = set()
        # Images whose export is done while their bake still exports its cache: their children may start.
        self.exported: set[str] = set()
        self.schedule: waves.Waits = {}
        self.messages: queue.Queue[tuple[int, str | EngineError | None]] = queue.Queue()
        self.display: Any = None  # up once the preflight has passed (the bakes started before are said then)

    # --- one bake -------------------------------------------------------------------------

    def start(self, names: tuple[str, ...], no_cache: bool = False) -> Lane:
        """Start a bake of `names`, each child on the image its parent's finished bake made."""
        number = len(self.lanes)
        metadata_file = self.scratch / f"metadata-{number}.json"
        options = replace(self.options, metadata_file=str(metadata_file), no_cache=self.options.no_cache or no_cache)
        call, kwargs = bake_call(self.plan, names, options, self.links(names), self._loaded(names))
        access = entitlements.bake_access(self.plan.config, call, self.options.set)
        for folder in access.writes:
            # Before bake: its entitlement check takes a folder that does not exist yet for
            # its nearest existing parent, which a grant of the folder itself does not cover.
            Path(folder).mkdir(parents=True, exist_ok=True)
        allow = entitlements.grants(access, self.cwd, self.buildx)
        bake = self.engine.start_bake(self.bake_file, call, self.variables, progress="plain", allow=allow, **kwargs)
        self.lanes[number] = Lane(number, names, bake, metadata_file, no_cache)
        self.started |= set(names)
        return self.lanes[number]

    def round(self, names: tuple[str, ...], on_line: Callable[[str], None] | None = None) -> RoundResult:
        """One bake of `names` to its end, its output to `on_line` as it comes (`bake_round`)."""
        lane = self.start(names)
        lines: list[str] = []
        code = 0
        try:
            for line in lane.bake.lines():
                lines.append(line)
                if on_line is not None:
                    on_line(line)
        except EngineError as exc:
            code = exc.return_code or 1
        finally:
            lane.bake.stop()
        return RoundResult(tuple(names), code, _read_metadata(lane.metadata_file), tuple(lines))

    def _listen(self, lane: Lane) -> None:
        """Read the lane's output in a thread of its own, onto the run's queue (None at a good end)."""
        def read() -> None:
            try:
                for line in lane.bake.lines():
                    self.messages.put((lane.number, line))
                self.messages.put((lane.number, None))
            except EngineError as exc:
                self.messages.put((lane.number, exc))
            except (OSError, ValueError) as exc:  # its output closed under it: the run is stopping
                self.messages.put((lane.number, EngineError(f"bake stopped: {exc}")))

        lane.listening = True
        threading.Thread(target=read, name=f"bake-{lane.number}", daemon=True).start()

    # --- the run --------------------------------------------------------------------------

    def go(self, targets: tuple[str, ...], schedule: waves.Waits, stream: IO[str]) -> None:
        self.schedule = schedule
        self.checked_plan = narrowed(self.plan, targets)
        self.variables["BUILD_ONLY"] = oci.build_only(self.plan, targets)
        if not self.checked:
            # The daemon's own platform on the default builder: judged without the builder, bake unheld.
            preflight(self.daemon, self.checked_plan, self.options, self.out)
        if can_start_early(self.daemon):
            self._start_ready()
        try:
            from . import display  # noqa: F401  rich's import, while bake starts

            if self.checked:
                preflight(self.query.result(), self.checked_plan, self.options, self.out)
            self.display = self._display(targets, stream)
            with self.display, self._log() as log:
                self.log = log
                self._announce()
                self._loop()
        finally:
            for lane in self.lanes.values():  # a failed check, an interruption: the builds end with us
                lane.bake.stop()
        self._summary(targets)

    def _loop(self) -> None:
        """Start what may start, then follow the bakes' output until every lane has ended or the run must stop."""
        self._start_ready()
        while self.error is None and self._running():
            for lane in self._running():
                if not lane.listening:
                    self._listen(lane)
            number, message = self.messages.get()
            lane = self.lanes[number]
            if isinstance(message, str):
                self._line(lane, message)
                continue
            lane.done = True
            lane.bake.stop()
            if message is None:
                self._succeeded(lane)
            else:
                self._failed(lane, message)
            if self.error is None:
                self._start_ready()

    def _pipelined(self) -> bool:
        """Whether some image waits for another's bake (else one graph, one bake)."""
        return any(self.schedule.values())

    def _running(self) -> list[Lane]:
        return [lane for lane in self.lanes.values() if not lane.done]

    def _start_ready(self) -> None:
        """Start a bake for each set of images `waves.ready` says may start now."""
        finished = self.finished | self.exported | set(self.failed)
        plan = {n: w for n, w in self.schedule.items() if not self._below_failed(n)}
        for names in waves.ready(plan, finished, self.started):
            lane = self.start(names)
            if self._pipelined() and self.display is not None:
                on = sorted({self.plan.catalog.by_name[n].parent or "" for n in lane.names}
                            & (self.finished | self.exported))
                where = f" (on the image{'s' if len(on) > 1 else ''} of {', '.join(on)})" if on else ""
                self.say(f"fate-builder: bake {lane.number + 1}: {', '.join(names)}{where}")

    def _announce(self) -> None:
        """What the run will do, and the bakes started before the display was up."""
        if not self._pipelined():
            return
        self.say(f"fate-builder: {len(self.schedule)} images, each baked as soon as its parent is built, on "
                 "its parent's image, so that an empty builder takes every step the cache holds")
        for lane in self.lanes.values():
            self.say(f"fate-builder: bake {lane.number + 1}: {', '.join(lane.names)}")

    def _line(self, lane: Lane, line: str) -> None:
        from . import progress

        if line.strip() in self.dotenv_noise:
            return
        event = progress.parse(line)
        shown = lane_line(lane.number, line)
        self.display.line(shown)
        self._keep(shown)
        if event is not None:
            lane.events.append(event)
            self._exported(lane, event)

    def _exported(self, lane: Lane, event: Any) -> None:
        """An image others wait for is exported: their bakes start now, not after its cache export."""
        found = lane.exports.feed(event) if self._pipelined() else None
        if found is None or found[0] not in lane.names or not self._waited_for(found[0]):
            return
        image, digest = found
        self.metadata[image] = {**self.metadata.get(image, {}), "containerimage.digest": digest}
        self.exported.add(image)
        self._start_ready()

    def _waited_for(self, image: str) -> bool:
        return any(image in before for before in self.schedule.values())

    def _succeeded(self, lane: Lane) -> None:
        # The parents a one-graph bake built cache-only are its images too.
        self.board.end_round(ok=True, only=(*lane.names, *dependencies_of(self.plan, lane.names)))
        written = _read_metadata(lane.metadata_file)
        moved = [n for n in lane.names
                 if n in self.exported and image_digest(written, n) != image_digest(self.metadata, n)]
        if moved:  # the export's own lines named another digest than bake's metadata: said, not hidden
            self.say(f"fate-builder: bake's metadata gives {', '.join(moved)} another digest than its export showed")
        self.metadata.update(written)
        self.finished |= set(lane.names)

    def _failed(self, lane: Lane, exc: EngineError) -> None:
        """A bake that failed: the builder's checks if they waited for this, then what `progress.decide` says."""
        from . import progress

        if not self.checked:
            # The builder's checks waited for this: a builder that is missing or lacks the platform
            # is said as `doctor` says it, not as bake's error.
            self.checked = True
            preflight(self.query.result(), self.checked_plan, self.options, self.display.say)
        self.metadata.update(_read_metadata(lane.metadata_file))
        self.finished |= {n for n in lane.names if n in self.metadata}
        self.seen += lane.events
        remaining = tuple(n for n in lane.names if n not in self.finished)
        decision = progress.decide(progress.judge(lane.events, [t.name for t in self.plan.targets]),
                                   remaining=remaining, failed=self.failed, descendants=self.descendants,
                                   broken_retries=lane.broken_retries, no_cache=lane.no_cache)
        newly = [t for t in decision.failed if t not in self.failed]
        self.board.end_round(ok=False, failed=newly)
        self.failed = decision.failed
        if decision.message:
            self.say(f"fate-builder: {decision.message}")
        if decision.action == "engine-lost":
            self.error = decision.message
        elif decision.action == "give-up" and not newly:  # nothing new to blame
            self.error = f"{exc} (exit status {exc.return_code}); see bake's output above"
        elif decision.action == "retry":
            retry = self.start(decision.remaining, decision.no_cache)
            retry.broken_retries = decision.broken_retries

    def _summary(self, targets: tuple[str, ...]) -> None:
        self.skipped = sorted(set(targets) & set().union(*(self.descendants[t] for t in self.failed))
                              - set(self.failed))
        self.board.end_round(ok=False, skipped=self.skipped)
        if self.options.metadata_file:
            Path(self.options.metadata_file).write_text(json.dumps(self.metadata, indent=2), encoding="utf-8")
        if self.options.progress != "quiet":
            # No SIZE column: python-on-whales inspects an image again for each attribute read
            # (2 CLI calls per image, 2 s for 16), more than the whole warm bake may add.
            self.display.summary(self.metadata, {}, dockerfiles=self._dockerfiles(),
                                 log=str(self.log_path) if self.log_path else None)

    def _log(self) -> IO[str]:
        """The file this bake's whole plain log goes to (os.devnull when the folder cannot be written)."""
        path = LOG_DIR / f"bake-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{os.getpid()}.log"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "w", encoding="utf-8")
            self.log_path = path
            return handle
        except OSError:
            self.log_path = None
            return open(os.devnull, "w", encoding="utf-8")

    def _keep(self, line: str) -> None:
        self.log.write(line if line.endswith("\n") else line + "\n")

    def say(self, text: str) -> None:
        self.display.say(text)
        self._keep(text)

    def _dockerfiles(self) -> dict[str, str]:
        """Each image's Dockerfile, as the user would open it (relative to here when inside)."""
        out = {}
        for image in self.plan.targets:
            family = self.plan.catalog.family_of(image)
            path = Path(self.plan.config.docker_dir, family.dockerfile_dir, family.dockerfile)
            try:
                out[image.name] = str(path.resolve().relative_to(Path(self.cwd).resolve()))
            except ValueError:
                out[image.name] = str(path)
        return out

    def _display(self, targets: tuple[str, ...], stream: IO[str]) -> Any:
        from . import display

        shown = [*dependencies_of(self.plan, targets), *targets]
        self.board = display.Board([t.name for t in self.plan.targets if t.name in shown], push=self.options.push,
                                   parents={t.name: t.parent for t in self.plan.targets})
        live = self.options.progress in (None, "auto") and stream.isatty()
        return display.LiveView(self.board, stream=stream) if live else display.PlainView(
            self.board, echo=self.options.progress != "quiet", stream=stream)

    def _below_failed(self, name: str) -> bool:
        return any(name in self.descendants[f] for f in self.failed)

    def _loaded(self, names: tuple[str, ...]) -> set[str]:
        """The images of this bake that a later bake builds on."""
        later = {n for n in self.schedule if n not in names and n not in self.started}
        return {n for n in names if any(self.plan.catalog.by_name[c].parent == n for c in later)}

    def links(self, names: tuple[str, ...]) -> dict[str, str]:
        """Child -> its parent's image, for the images whose parent an earlier bake built."""
        facts = self.query.result() if self.checked else self.daemon
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
                                   link_mode(facts, self.options, pushed))
            if source is not None:
                out[name] = source
        return out


# buildx reads ./.env as a compose dotenv file whatever the bake file is, and expands it with no
# lookup (bake/compose.go, loadDotEnv: dotenv.UnmarshalBytesWithLookup(dt, nil) on 0.13 to 0.29),
# so FATE-Builder's `TAG=${version}-release` warns on every bake though no HCL reads it; buildx 0.29
# takes the variable from the environment fate-builder gives it, 0.13 does not.
_DOTENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def dotenv_warnings(dotenv: Path) -> frozenset[str]:
    """The exact warnings buildx prints for the variables `dotenv` expands (none without the file)."""
    try:
        text = dotenv.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return frozenset()
    return frozenset(f'WARNING: The "{name}" variable is not set. Defaulting to a blank string.'
                     for name in _DOTENV_REFERENCE.findall(text))


def image_digest(metadata: Mapping[str, Any], image: str) -> str | None:
    """The digest bake's metadata gives the image of `image` (its manifest, or its index)."""
    entry = metadata.get(image)
    digest = entry.get("containerimage.digest") if isinstance(entry, dict) else None
    return digest if isinstance(digest, str) and digest.startswith("sha256:") else None


def say_unreachable(engine: Engine, plan: Plan, events: list[Any], out: Callable[[str], None]) -> None:
    """The closing lines naming every image and host the bake could not reach, with the setting for each."""
    reached = inventory.plan_endpoints([p.image for p in plan.images], plan.config)
    if not unreachable.find(events).images:
        present: frozenset[str] = frozenset()
    else:  # only on this failure path: which base images the local store has (they need no registry)
        images = {e.url(plan.config) for eps in reached.values() for e in eps if e.kind is Kind.REGISTRY}
        present = frozenset(unreachable.familiar(ref) for ref in images if engine.image_exists(ref))
    for line in unreachable.closing_lines(events, reached, plan.config, present):
        out(f"fate-builder: {line}")


def _read_metadata(path: Path) -> dict[str, Any]:
    """bake's metadata file (image digests per target); {} when this round wrote none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def tagged_references(plan: Plan, *, include_base: bool = True) -> list[str]:
    return [p.reference for p in plan.images if p.role == "selected" and (include_base or not p.image.base)]


def push(engine: Engine, plan: Plan, out: Callable[[str], None],
         sleep: Callable[[float], None] = time.sleep) -> list[str]:
    references = tagged_references(plan)
    missing = [r for r in references if not engine.image_exists(r)]
    if missing:
        raise FateBuilderError(
            f"not built yet: {', '.join(missing)}; run `fate-builder bake` first (or `fate-builder bake --push`)"
        )
    for reference in references:
        out(f"pushing {reference}")
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                engine.push(reference)
                break
            except EngineError as exc:
                if attempt == PUSH_ATTEMPTS or not registry_server_error(str(exc)):
                    raise
                out(f"fate-builder: the registry answered {reference} with a server error; "
                    f"pushing again ({attempt + 1}/{PUSH_ATTEMPTS})")
                sleep(attempt)
    return references


PUSH_ATTEMPTS = 3
# A registry's 5xx is its own passing trouble (seen here: distribution 2.8 answered a HEAD of a
# manifest with 500 once in 16 CI push tests); a 4xx (auth, name, quota) is final.
_SERVER_ERROR = re.compile(r"\b5\d\d (?:Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout)\b"
                           r"|unexpected status(?: code)?[^0-9]*5\d\d\b")


def registry_server_error(message: str) -> bool:
    """Did the registry fail with a server error (worth another try), not refuse the push?"""
    return _SERVER_ERROR.search(message) is not None


def _write_gzip(path: Path, chunks: Iterable[bytes]) -> None:
    with open(path, "wb") as raw:
        # mtime=0: the same images give the same archive bytes.
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            for chunk in chunks:
                gz.write(chunk)
        raw.flush()
        os.fsync(raw.fileno())


def save(engine: Engine, plan: Plan, output_dir: Path, out: Callable[[str], None], *,
         base_images: bool = False) -> dict[str, list[str]]:
    """FATE-Builder's offline bundle: the archives appear together, complete, or not at all.

    With `base_images`, the external images the selection's FROM lines pull (under IMAGE_MIRROR)
    go in too, so a machine that loads the bundle bakes without reaching a registry.
    """
    fate_images = tagged_references(plan, include_base=False)
    third_party = list(plan.config.third_party_images)
    bases = list(inventory.base_images([p.image for p in plan.images], plan.config)) if base_images else []
    missing = [r for r in fate_images if not engine.image_exists(r)]
    if missing:
        raise FateBuilderError(f"not built yet: {', '.join(missing)}; run `fate-builder bake` first")
    for reference in third_party:
        _pull_if_absent(engine, reference, out)
    for reference in bases:
        try:
            _pull_if_absent(engine, reference, out)
        except EngineError as exc:
            reason = " ".join(str(exc).split()).removeprefix(f"cannot pull {reference}: ")
            raise FateBuilderError(f"cannot save base image {reference}: it is not in the local image store and "
                                   f"cannot be pulled ({reason}); set IMAGE_MIRROR to a registry that holds it, "
                                   "or `docker load` it here first") from None
    archives = ((FATE_ARCHIVE, fate_images), (THIRD_PARTY_ARCHIVE, third_party), (BASE_ARCHIVE, bases))
    bundle = {name: refs for name, refs in archives if refs}
    _write_bundle(engine, bundle, output_dir)
    for name, references in bundle.items():
        size = (output_dir / name).stat().st_size
        out(f"{output_dir / name} ({size / 1e6:.1f} MB)")
        for reference in references:
            out(f"  {reference}")
    return bundle


def _pull_if_absent(engine: Engine, reference: str, out: Callable[[str], None]) -> None:
    if not engine.image_exists(reference):
        out(f"pulling {reference}")
        engine.pull(reference)


def _write_bundle(engine: Engine, bundle: dict[str, list[str]], output_dir: Path) -> None:
    """Each archive under a temporary name beside it, all renamed only once all are complete."""
    output_dir.mkdir(parents=True, exist_ok=True)
    temporaries: dict[str, Path] = {}
    try:
        for name, references in bundle.items():
            temporaries[name] = output_dir / f".{name}.{os.getpid()}.tmp"
            _write_gzip(temporaries[name], engine.save(references))
        for name, tmp in temporaries.items():
            os.replace(tmp, output_dir / name)
    except BaseException:
        for tmp in temporaries.values():
            tmp.unlink(missing_ok=True)
        raise


def load(engine: Engine, directory: Path, out: Callable[[str], None]) -> list[str]:
    archives = [directory / name for name in (BASE_ARCHIVE, FATE_ARCHIVE, THIRD_PARTY_ARCHIVE)]
    present = [a for a in archives if a.is_file()]
    if not present:
        raise FateBuilderError(f"{directory}: no {FATE_ARCHIVE}, {THIRD_PARTY_ARCHIVE} or {BASE_ARCHIVE} to load")
    loaded = []
    for archive in present:
        images = engine.load(archive)
        out(f"{archive}: loaded {len(images)} image(s)")
        for image in images:
            out(f"  {image}")
        loaded += images
    return loaded

