"""Running builds: bake, push, save and load, on top of the thin Docker layer.

The pure parts (which options become which bake flags, what goes in the offline bundle;
which targets failed according to BuildKit's log is generator.progress) are functions of their inputs so
they are tested without an engine; the rest sequences calls into `docker.Engine`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from . import catalog, doctor, entitlements, inventory, unreachable
from .config import BakeOptions, Kind
from .docker import Bake, Engine, EngineError, EngineFacts, FactsQuery, version_tuple
from .errors import ConfigError, FateBuilderError
from .plan import Plan
from .render import bake_variables

FATE_ARCHIVE = "fate.images.tar.gz"
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


@dataclass(frozen=True)
class BakeRequest:
    targets: tuple[str, ...]
    options: BakeOptions
    print_only: bool = False


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
    needed = {a.name for t in targets for a in catalog.ancestors(catalog.BY_NAME[t])}
    return tuple(t.name for t in plan.targets if t.name in needed - targets)


def descendants_of(plan: Plan, names: Iterable[str]) -> set[str]:
    names = set(names)
    return {t.name for t in plan.targets if names & {a.name for a in catalog.ancestors(t)}}


def bake_call(plan: Plan, targets: tuple[str, ...], options: BakeOptions) -> tuple[list[str], dict[str, Any]]:
    """The targets and python-on-whales arguments for one bake of `targets`.

    A parent that was not asked for is still built, through its `target:` link, but
    buildx 0.13 then exports and tags it like any target. So it is named in the call with
    a cache-only output: built, linked, never tagged or pushed. `--load` becomes a per
    target output for the same reason (bake's own `--load` applies to every target).
    """
    dependencies = dependencies_of(plan, targets)
    kwargs = bake_arguments(options)
    overrides = dict(kwargs["set"])
    for name in dependencies:
        overrides[f"{name}.output"] = "type=cacheonly"
    if kwargs.pop("load"):
        for name in targets:
            overrides[f"{name}.output"] = "type=docker"
    kwargs["set"] = overrides
    return [*targets, *dependencies], kwargs


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
    exports_cache = plan.config.cache not in ("none", "inline")
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

    When a target fails, BuildKit cancels the targets still running beside it; they are
    baked again (their finished steps come from cache) so one broken image does not cost
    the others, and the failed ones are named at the end (progress.judge and decide).
    On a terminal the progress is a live line per image (view.LiveView), else BuildKit's
    plain log; both end with a summary table.
    """
    targets = resolve_targets(plan, request.targets)
    variables = bake_variables(plan.config)
    options = request.options
    if request.print_only:
        # --print resolves the file only; bake checks entitlements when it builds.
        names, kwargs = bake_call(plan, targets, options)
        return engine.bake_print(bake_file, names, variables, **kwargs)
    query = facts or engine.ask_facts(options.builder)
    cwd = os.getcwd()
    metadata: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fate-builder-") as scratch:
        metadata_file = Path(options.metadata_file or Path(scratch, "metadata.json"))
        round_options = replace(options, metadata_file=str(metadata_file))

        daemon = query.daemon()
        buildx = version_tuple(daemon.buildx_version)

        def start(remaining: tuple[str, ...]) -> Bake:
            names, kwargs = bake_call(plan, remaining, round_options)
            access = entitlements.bake_access(plan.config, names, options.set)
            for folder in access.writes:
                # Before bake: its entitlement check takes a folder that does not exist yet for
                # its nearest existing parent, which a grant of the folder itself does not cover.
                Path(folder).mkdir(parents=True, exist_ok=True)
            allow = entitlements.grants(access, cwd, buildx)
            return engine.start_bake(bake_file, names, variables, progress="plain", allow=allow, **kwargs)

        checked = builder_checks_needed(plan, options, daemon)
        if not checked:
            # The daemon's own platform on the default builder: judged without the builder, bake unheld.
            preflight(daemon, plan, options, out)
        bake: Bake | None = start(targets) if can_start_early(daemon) else None
        try:
            from . import progress, view  # rich's import, while bake starts

            if checked:
                preflight(query.result(), plan, options, out)
            stream = stream or sys.stderr
            shown = [*dependencies_of(plan, targets), *targets]
            board = view.Board([t.name for t in plan.targets if t.name in shown], push=options.push,
                               parents={t.name: t.parent for t in plan.targets})
            live = options.progress in (None, "auto") and stream.isatty()
            display = view.LiveView(board, stream=stream) if live else view.PlainView(
                board, echo=options.progress != "quiet", stream=stream)
            descendants = {t.name: frozenset(descendants_of(plan, [t.name])) for t in plan.targets}
            known = [t.name for t in plan.targets]
            failed: tuple[str, ...] = ()
            seen: list[progress.Event] = []  # every round's, for what could not be reached
            remaining = targets
            broken_retries = 0
            error: str | None = None
            with display:
                while remaining:
                    rounds = board.new_round()
                    bake = bake or start(remaining)
                    try:
                        for line in bake.lines():
                            display.line(line)
                        board.end_round(ok=True)
                        metadata.update(_read_metadata(metadata_file))
                        break
                    except EngineError as exc:
                        if not checked:
                            # The builder's checks waited for this: a builder that is missing or lacks the platform
                            # is said as `doctor` says it, not as bake's error.
                            checked = True
                            preflight(query.result(), plan, options, display.say)
                        metadata.update(_read_metadata(metadata_file))
                        seen += rounds.events
                        decision = progress.decide(progress.judge(rounds.events, known), remaining=remaining,
                                                   failed=failed, descendants=descendants,
                                                   broken_retries=broken_retries, no_cache=round_options.no_cache)
                        board.end_round(ok=False, failed=[t for t in decision.failed if t not in failed])
                        failed, remaining, broken_retries = decision.failed, decision.remaining, decision.broken_retries
                        round_options = replace(round_options, no_cache=decision.no_cache)
                        if decision.message:
                            display.say(f"fate-builder: {decision.message}")
                        if decision.action == "engine-lost":
                            error = decision.message
                            break
                        if decision.action == "give-up" and decision.failed == failed:  # nothing new to blame
                            error = f"{exc} (exit status {exc.return_code}); see bake's output above"
                            break
                    finally:
                        bake.stop()
                        bake = None
        finally:
            if bake is not None:  # a failed check, an interruption: the build ends with us
                bake.stop()
        skipped = sorted(set(targets) & set().union(*(descendants[t] for t in failed)) - set(failed))
        board.end_round(ok=False, skipped=skipped)
        if options.progress != "quiet":
            # No SIZE column: python-on-whales inspects an image again for each attribute read
            # (2 CLI calls per image, 2 s for 16), more than the whole warm bake may add.
            display.summary(metadata, {})
    if error is not None or failed:
        say_unreachable(engine, plan, seen, out)
    if error is not None:
        raise BuildFailed(error)
    if failed:
        tail = f" (not built, their parent failed: {', '.join(skipped)})" if skipped else ""
        raise BuildFailed(f"bake failed: target(s) {', '.join(failed)} failed{tail}")
    return None


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

