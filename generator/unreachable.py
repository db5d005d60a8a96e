"""What a failed bake could not reach, and the setting that redirects it: closing lines from the progress events.

BuildKit stops a bake at the first image it cannot pull and names one; the steps that cannot
reach their host say so in their own words (curl, pip, yum, apt, Maven, git). This reads every
event of every round and names every image and host that failed, each with its setting from
the inventory. A host that answered with a certificate the step does not trust (a TLS-intercepting
proxy, a private CA) is not "unreachable": it is named with CA_BUNDLE. And pip's own verdicts on
FATE's lists (a pin no index given serves, pins that conflict) are named with what fixes them.
The tools' words are those of tests/data/progress/tls/ (captured, with how). Pure: events and
endpoints in, lines out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .config import Config
from .dockerfiles import familiar
from .inventory import DOCKER_HUB, Endpoint, host_of
from .progress import Event

# An image BuildKit could not resolve (the text before or after names it).
_IMAGE = re.compile(r"failed to resolve source metadata for (\S+?):\s|"
                    r"(\S+): failed to resolve source metadata|"
                    r"failed to load cache key: .*?(?:ref|reference) \"?([^\s\"]+)")
# What says a host was not reached, tool by tool.
_HOST = (
    re.compile(r"Could not resolve host: ([\w.-]+)"),  # curl, yum
    re.compile(r"Failed to connect to ([\w.-]+) port"),  # curl
    re.compile(r"host='([\w.-]+)', port=\d+\): Max retries"),  # pip
    re.compile(r"Could not resolve '([\w.-]+)'|Temporary failure resolving '([\w.-]+)'"),  # apt
    re.compile(r"Could not transfer .*? from/to \S+ \(https?://([\w.-]+)"),  # Maven
    re.compile(r"Unknown host ([\w.-]+)|UnknownHostException: ([\w.-]+)"),  # Maven, Java
    re.compile(r"unable to access 'https?://([\w.-]+)"),  # git
    re.compile(r"bad address '([\w.-]+)'"),  # busybox wget
    re.compile(r"dial tcp: lookup ([\w.-]+)"),  # BuildKit itself (registry, git contexts)
    re.compile(r"(?:Head|Get) \"https?://([\w.-]+)/"),
    re.compile(r"(?:Failed to fetch|Err:\d+) https?://([\w.-]+)"),  # apt
    re.compile(r"request to https?://([\w.-]+)/\S* failed"),  # npm
)
_UNREACHABLE = re.compile(r"no such host|Could not resolve|Temporary failure|Name or service not known|"
                          r"connection refused|Connection refused|i/o timeout|timed out|Network is unreachable|"
                          r"Failed to connect|Max retries exceeded|Unknown host|unable to access|"
                          r"ENOTFOUND|ECONNREFUSED|ETIMEDOUT", re.I)
# What says a host answered with a certificate the step does not trust, tool by tool.
_UNTRUSTED = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|"  # pip, Python
                        r"SSL certificate problem|"  # curl
                        r"Certificate verification failed|"  # apt
                        r"server certificate verification failed|"  # git
                        r"PKIX path building failed|"  # Java, Maven
                        r"UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN|"  # npm
                        r"UNABLE_TO_VERIFY_LEAF_SIGNATURE|self-signed certificate in certificate chain|"  # OpenSSL's
                        r"x509: certificate signed by unknown authority")  # BuildKit's own fetches (Go)
# The Go wording is BuildKit's own fetch (a pull, a git context): the engine's trust, not the step's.
_ENGINE_TLS = "x509:"
# What a step trusts is CA_BUNDLE (mounted as the `ca` secret); what to put in it.
UNTRUSTED = "answered with a certificate the build does not trust (a TLS-intercepting proxy or a private CA)"
CA_BUNDLE_FIX = ("set CA_BUNDLE to a PEM file of every CA the build trusts "
                 "(e.g. this machine's /etc/ssl/certs/ca-certificates.crt)")
ENGINE_TLS_FIX = ("the Docker engine fetches it itself and trusts its host's CAs, not CA_BUNDLE: add the CA to the "
                  "engine host's trust store (a registry: /etc/docker/certs.d/<host>/ca.crt)")
# pip: a requirement no index it was given serves, and requirements that cannot hold together.
_MISSING = re.compile(r"No matching distribution found for (\S+)")
_CONFLICT = re.compile(r"Cannot install (.+?) because these package versions have conflicting dependencies")
_CAUSE = re.compile(r"^\s+(The user requested \S+|\S+ \S+ depends on .+)$")
# Local version tags that only PyTorch's own index serves (PyPI accepts no local versions), with that index.
PYTORCH_LOCAL = re.compile(r"cpu|cu\d{2,3}|rocm\d+(?:\.\d+)*")
PYTORCH_INDEX = "https://download.pytorch.org/whl/{tag}"
_STAMP = re.compile(r"^\d+(?:\.\d+)? ")


@dataclass(frozen=True)
class Unreachable:
    images: tuple[str, ...]  # image references as BuildKit named them
    registries: tuple[str, ...]  # the registry hosts they are pulled from
    hosts: tuple[str, ...]  # hosts RUN steps or BuildKit could not reach (registries excluded)


def find(events: Iterable[Event]) -> Unreachable:
    images: dict[str, None] = {}
    hosts: dict[str, None] = {}
    for event in events:
        text = event.text
        if _UNTRUSTED.search(text) or (not _UNREACHABLE.search(text)
                                       and "failed to resolve source metadata" not in text):
            continue
        for match in _IMAGE.finditer(text):
            reference = next(g for g in match.groups() if g).rstrip(":")
            # BuildKit names an image twice, as written and in full: keep the full form.
            if not any(familiar(seen) == familiar(reference) for seen in images):
                images[reference] = None
            elif "/" in reference:
                images = {(reference if familiar(k) == familiar(reference) else k): None for k in images}
        hosts.update(dict.fromkeys(_hosts_in(text)))
    registries = tuple(dict.fromkeys(host_of(_registry_of(ref)) for ref in images))
    return Unreachable(tuple(images), registries, tuple(h for h in hosts if h not in registries))


def _hosts_in(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for pattern in _HOST for m in pattern.finditer(text)]


@dataclass(frozen=True)
class Untrusted:
    """A host (None: the tool did not name it, as curl and Java do not) whose certificate a step did not trust."""

    host: str | None
    targets: tuple[str, ...]  # the targets whose steps said so
    engine: bool  # BuildKit's own fetch, not a RUN step's
    said: str  # the tool's words


def _vertex_targets(events: Iterable[Event]) -> dict[str, str]:
    """The target each vertex was shown under (its output lines name none)."""
    return {e.vertex: e.target for e in events if e.vertex is not None and e.target is not None}


def _said(event: Event) -> str:
    return _STAMP.sub("", event.text).strip()[:160]


def untrusted(events: Iterable[Event]) -> list[Untrusted]:
    """Every host a step got an untrusted certificate from; a target whose tool named no host, once."""
    events = list(events)
    targets = _vertex_targets(events)
    hosts: dict[str, tuple[dict[str, None], bool, str]] = {}
    unnamed: dict[str, str] = {}
    for event in events:
        if not _UNTRUSTED.search(event.text):
            continue
        target = event.target or targets.get(event.vertex or "")
        named = _hosts_in(event.text)
        for host in named:
            users, _, _ = hosts.setdefault(host, ({}, _ENGINE_TLS in event.text, _said(event)))
            users.update({target: None} if target else {})
        if not named and target:
            unnamed.setdefault(target, _said(event))
    found = [Untrusted(host, tuple(users), engine, said) for host, (users, engine, said) in hosts.items()]
    covered = {t for u in found for t in u.targets}
    return found + [Untrusted(None, (t,), False, said) for t, said in unnamed.items() if t not in covered]


@dataclass(frozen=True)
class PipVerdict:
    """pip's own verdict on what it was asked to install: nothing of the network."""

    target: str | None
    missing: str | None = None  # the requirement no index serves
    conflict: str | None = None  # what pip could not install together
    causes: tuple[str, ...] = ()  # pip's "The conflict is caused by" lines


def pip_verdicts(events: Iterable[Event]) -> list[PipVerdict]:
    """pip's no-matching-distribution and conflict errors, in steps that reached their index."""
    events = list(events)
    targets = _vertex_targets(events)
    networked = {e.vertex for e in events if _UNTRUSTED.search(e.text) or _UNREACHABLE.search(e.text)}
    found: list[PipVerdict] = []
    for i, event in enumerate(events):
        if event.kind != "output" or event.vertex in networked:
            continue
        target = targets.get(event.vertex or "")
        if m := _MISSING.search(event.text):
            found.append(PipVerdict(target, missing=m.group(1)))
        elif m := _CONFLICT.search(event.text):
            later = [_STAMP.sub("", e.text) for e in events[i + 1:] if e.vertex == event.vertex]
            causes = tuple(c.group(1) for line in later if (c := _CAUSE.match(line)))
            found.append(PipVerdict(target, conflict=m.group(1), causes=causes))
    return list(dict.fromkeys(found))


def _registry_of(reference: str) -> str:
    first = reference.split("/", 1)[0]
    return first if "/" in reference and ("." in first or ":" in first or first == "localhost") else DOCKER_HUB


def _settings_for(host: str, endpoints: Iterable[Endpoint], config: Config | None) -> list[str]:
    found = [e.setting for e in endpoints if host in (host_of(e.url(config)), host_of(e.url(None)))]
    return list(dict.fromkeys(found))


def _images_from(registries: Iterable[str], every: Iterable[Endpoint], config: Config | None,
                 present: frozenset[str]) -> list[str]:
    """The planned base images pulled from these registries, not already in the local image store."""
    hosts = set(registries)
    return [e.url(config) for e in every if e.kind.value == "registry" and host_of(e.url(config)) in hosts
            and familiar(e.url(config)) not in present]


def closing_lines(events: Iterable[Event], endpoints: Mapping[str, tuple[Endpoint, ...]],
                  config: Config | None = None, present: frozenset[str] = frozenset()) -> list[str]:
    """One line for the base images that cannot be pulled, one per host a step could not reach.

    BuildKit cancels the rest of a bake at the first image it cannot pull, so the images named are
    the ones that failed and every other planned image from the same registry (`present`: the
    familiar names already in the local image store, which need no pull).
    """
    events = list(events)
    found = find(events)
    every = [e for eps in endpoints.values() for e in eps]
    lines = []
    if found.images:
        images = list(dict.fromkeys(familiar(ref) for ref in
                                    [*found.images, *_images_from(found.registries, every, config, present)]))
        lines.append(f"cannot pull {len(images)} base image{'s' if len(images) > 1 else ''} ({', '.join(images)}): "
                     f"{', '.join(found.registries)} is not reachable; set IMAGE_MIRROR, "
                     "or load them with 'fate-builder load'")
    for host in found.hosts:
        users = [name for name, eps in endpoints.items() if any(host == host_of(e.url(config)) for e in eps)]
        settings = _settings_for(host, every, config)
        fix = f"set {' or '.join(settings)}" if settings else "check the network, or set HTTP_PROXY/HTTPS_PROXY"
        lines.append(f"cannot reach {host}" + _needed_by(users) + f"; {fix}")
    return lines + _untrusted_lines(events, endpoints, config) + [_pip_line(v) for v in pip_verdicts(events)]


def _needed_by(users: Iterable[str]) -> str:
    users = list(users)
    return f" (needed by {', '.join(users)})" if users else ""


def _untrusted_lines(events: Iterable[Event], endpoints: Mapping[str, tuple[Endpoint, ...]],
                     config: Config | None) -> list[str]:
    """One line per host (or step, where the tool named none) that answered with a certificate not trusted."""
    bundle = config.ca_bundle if config is not None else ""
    fix = f"add the CA that signs it to CA_BUNDLE ({bundle})" if bundle else CA_BUNDLE_FIX
    lines = []
    for found in untrusted(events):
        if found.host is None:
            lines.append(f"a step of {', '.join(found.targets)} got a certificate it does not trust "
                         f"({found.said}): a TLS-intercepting proxy or a private CA; {fix}")
            continue
        users = [name for name, eps in endpoints.items()
                 if any(found.host == host_of(e.url(config)) for e in eps)] or list(found.targets)
        lines.append(f"{found.host}{_needed_by(users)} {UNTRUSTED}; {ENGINE_TLS_FIX if found.engine else fix}")
    return lines


def pytorch_index(requirement: str) -> str | None:
    """PyTorch's index for a pin whose local version only PyTorch serves (torch==2.3.1+cpu), else None."""
    local = requirement.rpartition("+")[2] if "+" in requirement else ""
    return PYTORCH_INDEX.format(tag=local) if PYTORCH_LOCAL.fullmatch(local) else None


def _pip_line(verdict: PipVerdict) -> str:
    where = _needed_by([verdict.target] if verdict.target else [])
    if verdict.conflict is not None:
        causes = f": {'; '.join(verdict.causes)}" if verdict.causes else ""
        return (f"pip cannot install {verdict.conflict} together{where}{causes}; the requirements conflict "
                "(FATE's lists, not the network): change one of the pins")
    requirement = verdict.missing or ""
    index = pytorch_index(requirement)
    if index is not None:
        return (f"pip found no {requirement}{where}: that build is served only by PyTorch's index, not PyPI; "
                f"set PIP_EXTRA_INDEX_URL to {index} or a mirror of it")
    return (f"pip found no {requirement}{where}: the index it was given does not serve it; "
            "set PIP_INDEX_URL or PIP_EXTRA_INDEX_URL to one that does")
