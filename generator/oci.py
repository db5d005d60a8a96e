"""What the images say about themselves: their OCI labels and annotations, and what RELEASE=1 attests.

Every value is a fact of the configuration or of the FATE tree (its repository, commit, commit time,
version) or of the catalog (title, description) and the Dockerfiles (the external base), never of the
machine or the moment of the build: the same tree gives the same labels, so the labels give the same
image config on every run and leave every step's cache key alone (they are set at export, not by a
step). The bake file computes them from its variables (render's functions `oci_labels`,
`oci_annotations`, `attest`), so plain bake gets them too; this module holds the pure parts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from . import dockerfiles
from .catalog import Catalog, Image
from .config import DEFAULT_SBOM_SCANNER, Config
from .errors import ConfigError
from .plan import Plan, Text, Var, dependencies_of

LABEL = "org.opencontainers.image."
# The labels every image has, in the order the bake file lists them (title to base.* are per image).
LABELS = ("title", "description", "vendor", "licenses", "source", "revision", "version", "created",
          "base.name", "base.digest")
VENDOR = "FederatedAI"
LICENSES = "Apache-2.0"
DOCKER_HUB = "docker.io"


def created(epoch: str) -> str:
    """SOURCE_DATE_EPOCH as RFC 3339 (UTC), what the bake file's `oci_created` computes from the same variable."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch or "0")))


_MIRROR = "${IMAGE_MIRROR}/"
_ARG = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def external_base(config: Config, image: Image, cat: Catalog) -> Text | None:
    """The upstream name of the external image `image`'s final stage is built on, for `base.name`.

    As Docker Hub names it (not under IMAGE_MIRROR: a mirror serves the same image), with a release
    fact the bake file passes kept as its variable, every other ARG at its Dockerfile default. None for a
    catalog child (its base is its parent's image, which the bake file names itself), a stage on another
    registry, a name that differs between the platforms, or a DOCKER_DIR without the Dockerfile.
    """
    if image.parent is not None:
        return None
    family = cat.family_of(image)
    try:
        df = dockerfiles.load(family.dockerfile_path(config.docker_dir))
    except FileNotFoundError:  # a tree without this family's Dockerfile: it cannot be built, nor labelled
        return None
    found = set()
    for arch in config.platforms:
        base = dockerfiles.final_base(df, arch)
        if base is None or not base.startswith(_MIRROR):
            return None
        found.add(_text(f"{DOCKER_HUB}/{base[len(_MIRROR):]}", set(family.facts), df, arch))
    return found.pop() if len(found) == 1 else None


def _text(name: str, facts: set[str], df: dockerfiles.Dockerfile, arch: str) -> Text:
    """`name` with its ARGs expanded as the Dockerfile's defaults give them, a release fact kept as its
    variable (the bake file passes it), the defaults' own ARGs expanded the same way."""
    scope = dockerfiles.scope(df, arch)
    out: list[str | Var] = []
    at = 0
    for match in _ARG.finditer(name):
        out.append(name[at:match.start()])
        arg = match.group(1) or match.group(2)
        if arg in facts:
            out.append(Var(arg))
        elif df.global_args.get(arg):
            out += _text(df.global_args[arg] or "", facts, df, arch)
        else:
            out.append(scope.get(arg, ""))
        at = match.end()
    out.append(name[at:])
    merged: list[str | Var] = []
    for part in out:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return tuple(merged)


def base_digest(name: Text | None) -> str:
    """`base.digest`: known only where the Dockerfile pins its base by digest (`name@sha256:...`)."""
    last = name[-1] if name else ""
    found = re.search(r"@(sha256:[0-9a-f]{64})$", last) if isinstance(last, str) else None
    return found.group(1) if found else ""


def build_only(plan: Plan, targets: Iterable[str]) -> str:
    """The BUILD_ONLY variable: the catalog's images a bake of `targets` builds without asking for them
    (the parents it needs), comma-separated; RELEASE=1 attests none of them (they are not exported)."""
    return ",".join(dependencies_of(plan, targets))


def check(config: Config) -> None:
    """RELEASE=1 sets the attestations itself: a `--provenance`/`--sbom` in Docker_Options would fight it."""
    options = config.bake_options
    given = [flag for flag, value in (("--provenance", options.provenance), ("--sbom", options.sbom))
             if value is not None]
    if config.release_mode and given:
        raise ConfigError(f"RELEASE=1 attests a provenance (mode=max) and an SBOM itself: drop {' and '.join(given)} "
                          "from Docker_Options (SBOM_SCANNER=none: no SBOM)")


def sbom_scanner(config: Config) -> str | None:
    """The image BuildKit pulls and runs to make each SBOM with RELEASE=1 (None: no SBOM)."""
    if not config.release_mode or config.sbom_scanner == "none":
        return None
    return config.sbom_scanner


def describe(config: Config) -> list[str]:
    """What the images will say and attest, as plan and doctor show it."""
    revision = config.fate_revision or "(none: FATE_DIR has no git HEAD; FATE_REVISION names it)"
    lines = [f"labels: source {config.fate_repository}, revision {revision}, "
             f"created {created(config.source_date_epoch)}, version {config.fate_version or '(no checkout read)'}"]
    if not config.release_mode:
        lines.append("attestations: buildx's default (provenance mode=min on final images); RELEASE=1 for "
                     "provenance mode=max and an SBOM")
        return lines
    scanner = sbom_scanner(config)
    lines.append("attestations (RELEASE=1): provenance mode=max on every image made, "
                 + (f"an SBOM by {scanner} (BuildKit pulls it: mirror it where Docker Hub is out of reach, "
                    "SBOM_SCANNER names the copy)" if scanner else "no SBOM (SBOM_SCANNER=none)")
                 + "; none on the parents only built for them")
    return lines


def scanner_unreachable(config: Config, lines: Iterable[str]) -> list[str]:
    """The closing line of a failed RELEASE=1 bake whose BuildKit could not get the SBOM scanner image."""
    scanner = sbom_scanner(config)
    if scanner is None or not any(scanner in line for line in lines):
        return []
    return [f"RELEASE=1: BuildKit could not pull the SBOM scanner {scanner}: mirror it (e.g. `docker buildx "
            f"imagetools create --tag <registry>/{DEFAULT_SBOM_SCANNER} {DEFAULT_SBOM_SCANNER}` where Docker Hub "
            "is reachable) and set SBOM_SCANNER=<that copy>, or SBOM_SCANNER=none for no SBOM"]
