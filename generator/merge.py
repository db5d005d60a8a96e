"""One platform per machine, then one multi-platform tag per image: the digests a platform's bake pushed, recorded,
and the index `merge` makes of them (`docker buildx imagetools create`), as CI on native runners does it.

`fate-builder bake --push --platform-only linux/arm64` bakes the selection for that platform alone and pushes it
without its final tag: by digest on a builder that can (docker-container, remote, kubernetes), else under the tag
`<TAG>-<arch>` (BuildKit's docker driver has no push-by-digest). The digests go to a file (`digests_file`);
`fate-builder merge FILE...` then tags each image's index, listing every platform's manifests and carrying the
images' annotations at index level. Pure except `merge`, which sequences the engine's imagetools calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, FateBuilderError
from .plan import Plan

# GitHub's hosted runners of each platform: native, no QEMU (the arm64 one: 4 CPUs, 16 GB, 14 GB of disk).
RUNNERS = {"amd64": "ubuntu-24.04", "arm64": "ubuntu-24.04-arm"}
# BuildKit drivers whose image exporter pushes by digest (the docker driver's does not).
BY_DIGEST_DRIVERS = ("docker-container", "remote", "kubernetes")
ANNOTATION = "org.opencontainers.image."


def platform_arch(plan: Plan, platform: str) -> str:
    """`linux/arm64` (or `arm64`) as one of the configured platforms; else one error naming Platform."""
    arch = platform.strip().lower().removeprefix("linux/")
    if arch not in plan.config.platforms:
        raise ConfigError(f"--platform-only {platform}: not one of Platform={','.join(plan.config.platforms)}; "
                          f"set Platform to the platforms the merged images have (e.g. Platform=amd64,arm64)")
    return arch


def digests_file(arch: str) -> Path:
    """Where a platform's bake records its digests by default (what CI uploads for the merge job)."""
    return Path(f"digests-{arch}.json")


def matrix(plan: Plan) -> dict[str, Any]:
    """`plan --format matrix`: the per-platform split for a GitHub Actions matrix (`fromJSON`)."""
    return {"include": [{"platform": f"linux/{arch}", "arch": arch, "runner": RUNNERS[arch],
                         "digests": str(digests_file(arch))} for arch in plan.config.platforms]}


def platform_overrides(plan: Plan, targets: Iterable[str], arch: str, driver: str | None) -> tuple[str, ...]:
    """bake `--set`s that push `targets` without their final tag (PLATFORM_ONLY=linux/<arch> picks the platform)."""
    by_name = {p.name: p for p in plan.images}
    out = []
    for name in targets:
        reference = by_name[name].reference
        # OCI media types, as a multi-platform export has them: else a platform's manifest alone (a parent's: no
        # attestation) is of Docker's type, and the merged index lists another digest for the same image.
        if driver in BY_DIGEST_DRIVERS:
            name_attrs = f"name={reference.rsplit(':', 1)[0]},push-by-digest=true,name-canonical=true"
        else:
            name_attrs = f"name={reference}-{arch}"
        out.append(f"{name}.output=type=image,{name_attrs},push=true,oci-mediatypes=true")
    return tuple(out)


def record(plan: Plan, targets: Iterable[str], arch: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The digests file of one platform's bake: each image's repository, final tag and pushed digest."""
    images = {}
    by_name = {p.name: p for p in plan.images}
    for name in targets:
        entry = metadata.get(name)
        digest = entry.get("containerimage.digest") if isinstance(entry, dict) else None
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise FateBuilderError(f"bake's metadata gives no digest for {name}: nothing to merge for linux/{arch}")
        reference = by_name[name].reference
        images[name] = {"reference": reference, "repository": reference.rsplit(":", 1)[0], "digest": digest}
    return {"platform": f"linux/{arch}", "images": images}


@dataclass(frozen=True)
class Merge:
    """One multi-platform tag: the index `reference` of image `name`, made of each platform's pushed image."""

    name: str
    reference: str
    sources: tuple[str, ...]  # repository@digest, one per platform, in the order the files were given
    platforms: tuple[str, ...]


def merges(records: Iterable[Mapping[str, Any]]) -> list[Merge]:
    """What `merge` tags from the digests files; the files must name one platform each and the same images."""
    records = list(records)
    platforms = [str(r.get("platform")) for r in records]
    if not records:
        raise ConfigError("merge: no digests file given (the bakes' --digests-file, e.g. digests-amd64.json)")
    if len(set(platforms)) != len(platforms):
        raise ConfigError(f"merge: a platform is given twice ({', '.join(platforms)}); give one file per platform")
    names = [sorted(r.get("images", {})) for r in records]
    if any(n != names[0] for n in names):
        raise ConfigError(f"merge: the files name different images ({'; '.join(', '.join(n) for n in names)}); "
                          "bake the same selection on every platform")
    out = []
    for name in names[0]:
        entries = [r["images"][name] for r in records]
        if len({e["reference"] for e in entries}) != 1:
            raise ConfigError(f"merge: {name} has other tags on other platforms "
                              f"({', '.join(sorted({e['reference'] for e in entries}))}); use one TAG and PREFIX")
        out.append(Merge(name, entries[0]["reference"], tuple(f"{e['repository']}@{e['digest']}" for e in entries),
                         tuple(platforms)))
    return out


def index_annotations(manifests: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The OCI annotations every platform's image carries, as `imagetools create --annotation` gives them to the
    index (a manifest list of the docker media type has no annotations: there are none to copy then)."""
    common: dict[str, str] | None = None
    for manifest in manifests:
        found = {k: v for k, v in (manifest.get("annotations") or {}).items() if k.startswith(ANNOTATION)}
        common = found if common is None else {k: v for k, v in common.items() if found.get(k) == v}
    return tuple(f"index:{k}={v}" for k, v in sorted((common or {}).items()))


def read_records(paths: Iterable[Path]) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"merge: cannot read {path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("images"), dict):
            raise ConfigError(f"merge: {path} is not a digests file of `fate-builder bake --platform-only`")
        out.append(data)
    return out


def merged_record(done: Iterable[tuple[Merge, str]]) -> dict[str, Any]:
    """`merge --digests-file`: each image's tag and the digest of the index pushed for it, what CI signs and
    attests (`<repository>@<digest>`: a tag can be moved, a digest names these bytes)."""
    images = {item.name: {"reference": item.reference, "repository": item.reference.rsplit(":", 1)[0],
                          "digest": digest, "platforms": list(item.platforms)} for item, digest in done}
    return {"images": images}


def merge(engine: Any, records: list[dict[str, Any]], out: Callable[[str], None]) -> list[tuple[Merge, str]]:
    """Tag every image's index from the recorded digests, the images' annotations on it; each with the digest
    the registry gives the index."""
    done = []
    for item in merges(records):
        annotations = index_annotations(_image_manifest(engine, source) for source in item.sources)
        engine.imagetools_create(item.reference, item.sources, annotations)
        digest = engine.digest(item.reference)
        out(f"{item.reference}@{digest}: {', '.join(item.platforms)}")
        done.append((item, digest))
    return done


def _image_manifest(engine: Any, source: str) -> Mapping[str, Any]:
    """Where a pushed digest's annotations are: its own (a manifest, or an index that has them), else its
    platform image's (an index of one image and its attestation, which RELEASE=1 annotates too)."""
    manifest: Mapping[str, Any] = engine.manifest(source)
    if manifest.get("annotations") or "manifests" not in manifest:
        return manifest
    for entry in manifest["manifests"]:
        if entry.get("platform", {}).get("os") not in (None, "unknown"):
            return engine.manifest(f"{source.split('@', 1)[0]}@{entry['digest']}")  # type: ignore[no-any-return]
    return manifest
