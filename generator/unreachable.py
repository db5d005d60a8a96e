"""What a failed bake could not reach, and the setting that redirects it: closing lines from the progress events.

BuildKit stops a bake at the first image it cannot pull and names one; the steps that cannot
reach their host say so in their own words (curl, pip, yum, apt, Maven, git). This reads every
event of every round and names every image and host that failed, each with its setting from
the inventory. Pure: events and endpoints in, lines out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .config import Config
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
    re.compile(r"Head \"https?://([\w.-]+)/v2/"),
)
_UNREACHABLE = re.compile(r"no such host|Could not resolve|Temporary failure|Name or service not known|"
                          r"connection refused|Connection refused|i/o timeout|timed out|Network is unreachable|"
                          r"Failed to connect|Max retries exceeded|Unknown host|unable to access", re.I)


@dataclass(frozen=True)
class Unreachable:
    images: tuple[str, ...]  # image references as BuildKit named them
    registries: tuple[str, ...]  # the registry hosts they are pulled from
    hosts: tuple[str, ...]  # hosts RUN steps or BuildKit could not reach (registries excluded)


def familiar(reference: str) -> str:
    """An image reference as Docker shows it: no docker.io/, no library/."""
    return re.sub(r"^(?:docker\.io/)?library/", "", re.sub(r"^docker\.io/(?=[^/]+/)", "", reference))


def find(events: Iterable[Event]) -> Unreachable:
    images: dict[str, None] = {}
    hosts: dict[str, None] = {}
    for event in events:
        text = event.text
        if not _UNREACHABLE.search(text) and "failed to resolve source metadata" not in text:
            continue
        for match in _IMAGE.finditer(text):
            reference = next(g for g in match.groups() if g).rstrip(":")
            # BuildKit names an image twice, as written and in full: keep the full form.
            if not any(familiar(seen) == familiar(reference) for seen in images):
                images[reference] = None
            elif "/" in reference:
                images = {(reference if familiar(k) == familiar(reference) else k): None for k in images}
        for pattern in _HOST:
            for match in pattern.finditer(text):
                hosts[next(g for g in match.groups() if g)] = None
    registries = tuple(dict.fromkeys(host_of(_registry_of(ref)) for ref in images))
    return Unreachable(tuple(images), registries, tuple(h for h in hosts if h not in registries))


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
        lines.append(f"cannot reach {host}" + (f" (needed by {', '.join(users)})" if users else "") + f"; {fix}")
    return lines
