"""Running bakes on top of the thin Docker layer: the preflight gate, then the run's bakes.

The pure parts (which options become which bake flags, what each image's bake waits for, and the run's own
decisions in generator.bakerun) are functions of their inputs, tested without an engine; `BakeDriver` carries
the run's actions out with `engine.Engine`, threads, the display and the log. push, save and load are
generator.bundle.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from . import doctor, entitlements, inventory, oci, progress, unreachable, waves
from .bakerun import Action, BakeRun, EndRound, Metadata, Say, Start, lane_line
from .config import BakeOptions
from .engine import Bake, Engine, EngineError, EngineFacts, FactsQuery, version_tuple
from .errors import ConfigError, FateBuilderError
from .plan import Plan, dependencies_of
from .render import bake_variables

if TYPE_CHECKING:
    from . import display

# Where every bake keeps its whole plain log (git-ignored with the rest of .fate-builder/).
LOG_DIR = Path(".fate-builder") / "logs"


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

    Then the bakes of `bake_schedule` (`bakerun.BakeRun`, carried out by `BakeDriver`): one graph, or,
    with a build cache to import, each image's bake as soon as its parent's has finished, on the image it built.
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
        driver = BakeDriver(engine, plan, bake_file, request.options,
                            facts or engine.ask_facts(request.options.builder), Path(scratch), out,
                            variables=dict(request.variables))
        run = driver.go(targets, bake_schedule(plan, targets, request.layout), stream or sys.stderr)
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
    metadata: Metadata
    lines: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.return_code == 0


def bake_round(engine: Engine, plan: Plan, bake_file: Path, options: BakeOptions, targets: tuple[str, ...] = (),
               *, on_line: Callable[[str], None] | None = None) -> RoundResult:
    """One bake of `targets` (the default group when empty) as one graph, started as `BakeDriver` starts each of its
    bakes (bake_call's targets and outputs, the `--allow` grants); no preflight, retry or display. For recording
    BuildKit's output (tests.fixtures.record_progress) and for the benchmark."""
    with tempfile.TemporaryDirectory(prefix="fate-builder-") as scratch:
        driver = BakeDriver(engine, plan, bake_file, options, engine.ask_facts(options.builder, inspect_now=False),
                            Path(scratch), lambda _: None)
        return driver.round(resolve_targets(plan, targets), on_line)


@dataclass
class _Screen:
    """Where a run's lines go once its preflight has passed: the board and its view, and the whole plain log."""

    board: display.Board
    view: display.PlainView
    log: IO[str]
    log_path: Path | None

    def keep(self, line: str) -> None:
        self.log.write(line if line.endswith("\n") else line + "\n")

    def say(self, text: str) -> None:
        self.view.say(text)
        self.keep(text)


class BakeDriver:
    """Carries out a `BakeRun`'s actions: the preflight gate, the engine's bakes (their output read by a thread per
    bake onto one queue), the display and the log. It decides nothing the run can decide."""

    def __init__(self, engine: Engine, plan: Plan, bake_file: Path, options: BakeOptions, query: FactsQuery,
                 scratch: Path, out: Callable[[str], None], variables: Mapping[str, str] | None = None):
        self.engine, self.plan, self.bake_file, self.query, self.out = engine, plan, bake_file, query, out
        self.scratch, self.options = scratch, options
        # The configuration's bake variables and the request's own (PLATFORM_ONLY for `--platform-only`).
        self.variables = {**bake_variables(plan.config), **(variables or {})}
        self.daemon = query.daemon()
        self.buildx = version_tuple(self.daemon.buildx_version)
        # Whether the builder's checks are done or due before bake; else they wait for a failed bake.
        self.checked = builder_checks_needed(plan, options, self.daemon)
        self.cwd = os.getcwd()
        self.dotenv_noise = dotenv_warnings(Path(self.cwd, ".env"))
        self.bakes: dict[int, Bake] = {}
        self.listening: set[int] = set()
        self.messages: queue.Queue[tuple[int, str | EngineError | None]] = queue.Queue()

    # --- one bake -------------------------------------------------------------------------

    def _metadata_file(self, lane: int) -> Path:
        return self.scratch / f"metadata-{lane}.json"

    def start(self, start: Start) -> Bake:
        """Start the bake `start` asks for."""
        options = replace(self.options, metadata_file=str(self._metadata_file(start.lane)),
                          no_cache=self.options.no_cache or start.no_cache)
        call, kwargs = bake_call(self.plan, start.names, options, start.links, start.loaded)
        access = entitlements.bake_access(self.plan.config, call, self.options.set)
        for folder in access.writes:
            # Before bake: its entitlement check takes a folder that does not exist yet for
            # its nearest existing parent, which a grant of the folder itself does not cover.
            Path(folder).mkdir(parents=True, exist_ok=True)
        allow = entitlements.grants(access, self.cwd, self.buildx)
        self.bakes[start.lane] = self.engine.start_bake(self.bake_file, call, self.variables, progress="plain",
                                                        allow=allow, **kwargs)
        return self.bakes[start.lane]

    def round(self, names: tuple[str, ...], on_line: Callable[[str], None] | None = None) -> RoundResult:
        """One bake of `names` to its end, its output to `on_line` as it comes (`bake_round`)."""
        first = BakeRun(self.plan, self.options, {}, self.daemon).first(names)
        bake = self.start(first)
        lines: list[str] = []
        code = 0
        try:
            for line in bake.lines():
                lines.append(line)
                if on_line is not None:
                    on_line(line)
        except EngineError as exc:
            code = exc.return_code or 1
        finally:
            bake.stop()
        return RoundResult(tuple(names), code, _read_metadata(self._metadata_file(first.lane)), tuple(lines))

    def _listen(self, number: int) -> None:
        """Read bake `number`'s output in a thread of its own, onto the queue (None at a good end)."""
        bake = self.bakes[number]

        def read() -> None:
            try:
                for line in bake.lines():
                    self.messages.put((number, line))
                self.messages.put((number, None))
            except EngineError as exc:
                self.messages.put((number, exc))
            except (OSError, ValueError) as exc:  # its output closed under it: the run is stopping
                self.messages.put((number, EngineError(f"bake stopped: {exc}")))

        self.listening.add(number)
        threading.Thread(target=read, name=f"bake-{number}", daemon=True).start()

    # --- the run --------------------------------------------------------------------------

    def go(self, targets: tuple[str, ...], schedule: waves.Waits, stream: IO[str]) -> BakeRun:
        run = BakeRun(self.plan, self.options, schedule, self.daemon)
        checked_plan = narrowed(self.plan, targets)
        self.variables["BUILD_ONLY"] = oci.build_only(self.plan, targets)
        if not self.checked:
            # The daemon's own platform on the default builder: judged without the builder, bake unheld.
            preflight(self.daemon, checked_plan, self.options, self.out)
        if can_start_early(self.daemon):
            for start in run.begin():
                self.start(start)
        try:
            if self.checked:
                facts = self.query.result()
                preflight(facts, checked_plan, self.options, self.out)
                run.builder_answered(facts)
            screen = self._screen(targets, stream)
            with screen.view, screen.log:
                self._act(run.announce(), screen)
                self._loop(run, screen, checked_plan)
        finally:
            for bake in self.bakes.values():  # a failed check, an interruption: the builds end with us
                bake.stop()
        self._act(run.finish(targets), screen)
        if self.options.metadata_file:
            Path(self.options.metadata_file).write_text(json.dumps(run.metadata, indent=2), encoding="utf-8")
        if self.options.progress != "quiet":
            # No SIZE column: python-on-whales inspects an image again for each attribute read
            # (2 CLI calls per image, 2 s for 16), more than the whole warm bake may add.
            screen.view.summary(run.metadata, {}, dockerfiles=self._dockerfiles(),
                                log=str(screen.log_path) if screen.log_path else None)
        return run

    def _loop(self, run: BakeRun, screen: _Screen, checked_plan: Plan) -> None:
        """Follow the bakes' output until every bake has ended or the run must stop."""
        while run.running():
            for number in run.running():
                if number not in self.listening:
                    self._listen(number)
            number, message = self.messages.get()
            if isinstance(message, str):
                self._line(run, screen, number, message)
                continue
            self.bakes[number].stop()
            written = _read_metadata(self._metadata_file(number))
            if message is None:
                self._act(run.succeeded(number, written), screen)
                continue
            if not self.checked:
                # The builder's checks waited for this: a builder that is missing or lacks the platform
                # is said as `doctor` says it, not as bake's error.
                self.checked = True
                facts = self.query.result()
                preflight(facts, checked_plan, self.options, screen.view.say)
                run.builder_answered(facts)
            self._act(run.failed_with(number, written, f"{message} (exit status {message.return_code})"), screen)

    def _act(self, actions: Iterable[Action], screen: _Screen) -> None:
        for action in actions:
            if isinstance(action, Start):
                self.start(action)
            elif isinstance(action, Say):
                screen.say(action.text)
            elif isinstance(action, EndRound):
                screen.board.end_round(ok=action.ok, failed=action.failed, skipped=action.skipped, only=action.only)
            else:  # Stop: the bakes still running end now
                for bake in self.bakes.values():
                    bake.stop()

    def _line(self, run: BakeRun, screen: _Screen, number: int, line: str) -> None:
        if line.strip() in self.dotenv_noise:
            return
        shown = lane_line(number, line)
        screen.view.line(shown)
        screen.keep(shown)
        event = progress.parse(line)
        if event is not None:
            self._act(run.saw(number, event), screen)

    def _screen(self, targets: tuple[str, ...], stream: IO[str]) -> _Screen:
        from . import display  # rich's import, while bake starts

        shown = [*dependencies_of(self.plan, targets), *targets]
        board = display.Board([t.name for t in self.plan.targets if t.name in shown], push=self.options.push,
                              parents={t.name: t.parent for t in self.plan.targets})
        live = self.options.progress in (None, "auto") and stream.isatty()
        view = display.LiveView(board, stream=stream) if live else display.PlainView(
            board, echo=self.options.progress != "quiet", stream=stream)
        return _Screen(board, view, *_open_log())

    def _dockerfiles(self) -> dict[str, str]:
        """Each image's Dockerfile, as the user would open it (relative to here when inside)."""
        out = {}
        for image in self.plan.targets:
            path = self.plan.catalog.family_of(image).dockerfile_path(self.plan.config.docker_dir)
            try:
                out[image.name] = str(path.resolve().relative_to(Path(self.cwd).resolve()))
            except ValueError:
                out[image.name] = str(path)
        return out


def _open_log() -> tuple[IO[str], Path | None]:
    """The file a bake's whole plain log goes to, and its path (os.devnull when the folder cannot be written)."""
    path = LOG_DIR / f"bake-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{os.getpid()}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w", encoding="utf-8"), path
    except OSError:
        return open(os.devnull, "w", encoding="utf-8"), None

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


def say_unreachable(engine: Engine, plan: Plan, events: list[progress.Event], out: Callable[[str], None]) -> None:
    """The closing lines naming every image and host the bake could not reach, with the setting for each."""
    reached = inventory.plan_endpoints([p.image for p in plan.images], plan.config)
    # Only when an image could not be pulled: which base images the local store has (they need no registry).
    present = inventory.present_images(reached, plan.config, engine.image_exists) \
        if unreachable.find(events).images else frozenset()
    for line in unreachable.closing_lines(events, reached, plan.config, present):
        out(f"fate-builder: {line}")


def _read_metadata(path: Path) -> Metadata:
    """bake's metadata file (image digests per target); {} when this round wrote none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
