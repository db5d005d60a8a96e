"""doctor's reachability checks: can this machine reach every endpoint the selected images' build needs?

The endpoints come from the inventory (generator.inventory), each with the setting that redirects
it. Hosts are tried in parallel with a short TCP connect each; a base image already in the local
image store needs no registry. An https endpoint a RUN step fetches also gets a TLS handshake that
verifies the certificate against what the step will trust: CA_BUNDLE's file when it is set, else
the public CA set pip, curl and the base images use by default (certifi's Mozilla bundle, the one
pip vendors). Behind a TLS-intercepting proxy that is the difference between "not reachable" and
"set CA_BUNDLE". Registries and git sources are fetched by the engine itself, with its host's trust:
those get the TCP connect only. One failed line per unreachable host, naming the images that need it
and the setting. `bake` does not run these (it would add their time to every warm bake): when a bake
fails, generator.unreachable names the same endpoints from BuildKit's own errors.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi

from .config import Config, Kind
from .dockerfiles import familiar
from .doctor import Check
from .inventory import Endpoint, host_of
from .unreachable import CA_BUNDLE_FIX, UNTRUSTED

TIMEOUT = 2.0
# What the engine fetches itself (not a RUN step): CA_BUNDLE does not apply to it.
_ENGINE_KINDS = (Kind.REGISTRY, Kind.GIT)


@dataclass(frozen=True)
class Failure:
    why: str
    untrusted: bool = False  # the host answered, with a certificate the CAs given do not verify


def connect(host: str, port: int, trust: str | None = None, timeout: float = TIMEOUT) -> Failure | None:
    """None when a TCP connection opens within `timeout` (and, given `trust`, a CA file, a TLS handshake
    verifies the host's certificate against it), else why not."""
    try:
        context = ssl.create_default_context(cafile=trust) if trust else None
    except (OSError, ssl.SSLError) as exc:
        return Failure(f"cannot read the CA file {trust}: {exc}")
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if context is not None:
                with context.wrap_socket(sock, server_hostname=host):
                    pass
            return None
    except ssl.SSLCertVerificationError as exc:
        return Failure(exc.verify_message or str(exc), untrusted=True)
    except OSError as exc:  # ssl.SSLError included: a handshake that broke off is not an answer
        return Failure(str(exc) or type(exc).__name__)


def trust_of(config: Config) -> tuple[str, str]:
    """The CA file a RUN step trusts, and how to name it: CA_BUNDLE's, else the public set (certifi)."""
    if config.ca_bundle:
        return config.ca_bundle, f"CA_BUNDLE ({config.ca_bundle})"
    return certifi.where(), "the public CAs the build trusts without CA_BUNDLE (certifi's Mozilla bundle)"


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
    tls: bool = False  # a RUN step fetches it over https: its certificate is checked too


def needs(endpoints: Mapping[str, tuple[Endpoint, ...]], config: Config, present: frozenset[str]) -> list[_Need]:
    """Every host the build reaches, with the settings and images behind it; local base images drop out."""
    grouped: dict[tuple[str, int], tuple[dict[str, None], dict[str, None], list[bool]]] = {}
    for image, eps in endpoints.items():
        for e in eps:
            url = e.url(config)
            if e.kind is Kind.REGISTRY and familiar(url) in present:
                continue
            settings, images, tls = grouped.setdefault(address(url, e.kind), ({}, {}, [False]))
            settings[e.setting] = None
            images[image] = None
            tls[0] = tls[0] or (e.kind not in _ENGINE_KINDS and url.startswith("https://"))
    return [_Need(h, p, tuple(s), tuple(i), t[0]) for (h, p), (s, i, t) in grouped.items() if h]


Probe = Callable[[str, int, "str | None"], "Failure | None"]


def checks(endpoints: Mapping[str, tuple[Endpoint, ...]], config: Config, present: frozenset[str] = frozenset(),
           probe: Probe = connect) -> list[Check]:
    """One failed check per host not reached or not trusted (with its fix), one line for all that answered."""
    wanted = needs(endpoints, config, present)
    if not wanted:
        return [Check("network", True, "the selected images fetch nothing")]
    trust, trusted = trust_of(config)
    with ThreadPoolExecutor(max_workers=min(16, len(wanted))) as pool:
        answers = list(pool.map(lambda n: probe(n.host, n.port, trust if n.tls else None), wanted))
    out = [failed_check(n, failure, config, trusted) for n, failure in zip(wanted, answers) if failure is not None]
    reached = [n.host for n, failure in zip(wanted, answers) if failure is None]
    if reached:
        verified = [n.host for n, failure in zip(wanted, answers) if failure is None and n.tls]
        out.append(Check("network", True, f"reached {', '.join(reached)}"
                         + (f"; certificates of {', '.join(verified)} verified against {trusted}" if verified
                            else "")))
    return out


def failed_check(need: _Need, failure: Failure, config: Config, trusted: str) -> Check:
    """The line for a host not reached, or reached with a certificate the build's CAs do not verify."""
    if failure.untrusted:
        fix = (f"add the CA that signs {need.host}'s certificate to CA_BUNDLE ({config.ca_bundle})"
               if config.ca_bundle else CA_BUNDLE_FIX)
        return Check(f"reach {need.host}", False,
                     f"{UNTRUSTED}: {failure.why}, checked against {trusted}; needed by {_short(need.images)}", fix)
    return Check(f"reach {need.host}", False, f"not reachable ({failure.why}); needed by {_short(need.images)}",
                 f"set {' or '.join(need.settings)}" + (", or load the base images with 'fate-builder load'"
                                                         if "IMAGE_MIRROR" in need.settings else ""))


def _short(names: Iterable[str], limit: int = 4) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
