"""doctor's reachability checks: can this machine reach every endpoint the selected images' build needs?

The endpoints come from the inventory (generator.inventory), each with the setting that redirects
it. Hosts are tried in parallel with a short TCP connect each; a base image already in the local
image store needs no registry. One failed line per unreachable host, naming the images that need it
and the setting. `bake` does not run these (it would add their time to every warm bake): when a bake
fails, generator.unreachable names the same endpoints from BuildKit's own errors.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from .config import Config, Kind
from .doctor import Check
from .inventory import Endpoint, host_of
from .unreachable import familiar

TIMEOUT = 2.0


def connect(host: str, port: int, timeout: float = TIMEOUT) -> str | None:
    """None when a TCP connection opens within `timeout`, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return str(exc) or type(exc).__name__


def address(url: str, kind: Kind) -> tuple[str, int]:
    """(host, port) a URL or an image reference is reached at."""
    if kind is Kind.REGISTRY:
        host = host_of(url)
        name, _, port = host.partition(":")
        return name, int(port) if port else 443
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class _Need:
    host: str
    port: int
    settings: tuple[str, ...]
    images: tuple[str, ...]


def needs(endpoints: Mapping[str, tuple[Endpoint, ...]], config: Config, present: frozenset[str]) -> list[_Need]:
    """Every host the build reaches, with the settings and images behind it; local base images drop out."""
    grouped: dict[tuple[str, int], tuple[dict[str, None], dict[str, None]]] = {}
    for image, eps in endpoints.items():
        for e in eps:
            url = e.url(config)
            if e.kind is Kind.REGISTRY and familiar(url) in present:
                continue
            settings, images = grouped.setdefault(address(url, e.kind), ({}, {}))
            settings[e.setting] = None
            images[image] = None
    return [_Need(h, p, tuple(s), tuple(i)) for (h, p), (s, i) in grouped.items() if h]


def checks(endpoints: Mapping[str, tuple[Endpoint, ...]], config: Config, present: frozenset[str] = frozenset(),
           probe: Callable[[str, int], str | None] = connect) -> list[Check]:
    """One failed check per unreachable host (with its setting), one line for all that answered."""
    wanted = needs(endpoints, config, present)
    if not wanted:
        return [Check("network", True, "the selected images fetch nothing")]
    with ThreadPoolExecutor(max_workers=min(16, len(wanted))) as pool:
        answers = list(pool.map(lambda n: probe(n.host, n.port), wanted))
    out = [Check(f"reach {n.host}", False,
                 f"not reachable ({why}); needed by {_short(n.images)}",
                 f"set {' or '.join(n.settings)}" + (", or load the base images with 'fate-builder load'"
                                                      if "IMAGE_MIRROR" in n.settings else ""))
           for n, why in zip(wanted, answers) if why is not None]
    reached = [n.host for n, why in zip(wanted, answers) if why is None]
    if reached:
        out.append(Check("network", True, f"reached {', '.join(reached)}"))
    return out


def _short(names: Iterable[str], limit: int = 4) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
