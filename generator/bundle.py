"""The built images leave the machine: pushed to their registry, saved as FATE-Builder's offline bundle, loaded
from it on a machine without a registry."""

from __future__ import annotations

import gzip
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from . import inventory
from .engine import Engine, EngineError
from .errors import FateBuilderError
from .plan import Plan

FATE_ARCHIVE = "fate.images.tar.gz"
THIRD_PARTY_ARCHIVE = "third-party.images.tar.gz"
BASE_ARCHIVE = "base.images.tar.gz"  # save --base-images: what the FROM lines pull


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

