"""What a build reaches on the network, read from the Dockerfiles themselves.

The Dockerfiles follow one convention (docker/README.md, "Where a build reaches the
network"): every upstream host is the default of a global ARG named after the setting
that redirects it, RUN steps use `${NAME}`, external images are `FROM ${IMAGE_MIRROR}/...`,
and pip takes its index from the environment. So the inventory needs no list of hosts or
images: it reads ARG defaults, FROM lines and RUN steps of whatever Dockerfiles the
catalog points at (both release lines), per platform, following only the stages a
target's final stage needs. Pure: file reads only, no Docker, no network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from . import catalog
from .config import BY_SETTING, Config, Kind
from .plan import release_facts

# Upstream defaults that no Dockerfile ARG states: Docker Hub, and the index pip uses by itself.
DOCKER_HUB = "docker.io"
PYPI = "https://pypi.org/simple"
# A RUN step that runs pip needs an index.
_PIP = re.compile(r"\bpip3?(?:\.\d+)?\s+(?:install|wheel|download)\b")
_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_URL_PATH = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}(/[^\s\"';|&)]*)")
_MIRRORED = re.compile(r"^\$\{IMAGE_MIRROR\}/(.+)$")


@dataclass(frozen=True)
class Instruction:
    op: str
    text: str  # everything after the instruction word, continuation lines joined


@dataclass(frozen=True)
class Stage:
    index: int
    base: str
    name: str | None
    platform: str | None
    args: dict[str, str | None] = field(default_factory=dict)
    instructions: tuple[Instruction, ...] = ()


@dataclass(frozen=True)
class Dockerfile:
    path: Path
    global_args: dict[str, str | None]
    stages: tuple[Stage, ...]


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions as BuildKit reads them: comments dropped, continuations joined."""
    out: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        pending += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if line.rstrip().endswith("\\"):
            continue
        op, _, rest = pending.strip().partition(" ")
        out.append(Instruction(op.upper(), " ".join(rest.split())))
        pending = ""
    return out


def _args(text: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for item in text.split():
        key, eq, value = item.partition("=")
        found[key] = value.strip('"') if eq else None
    return found


@cache
def load(path: Path) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for ins in instructions(path.read_text(encoding="utf-8")):
        if ins.op == "FROM":
            words = ins.text.split()
            platform = next((w.split("=", 1)[1] for w in words if w.startswith("--platform=")), None)
            words = [w for w in words if not w.startswith("--")]
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(len(stages), words[0], name, platform, {}, ()))
        elif not stages:
            if ins.op == "ARG":
                global_args.update(_args(ins.text))
        else:
            last = stages[-1]
            args = {**last.args, **_args(ins.text)} if ins.op == "ARG" else last.args
            stages[-1] = Stage(last.index, last.base, last.name, last.platform, args, (*last.instructions, ins))
    return Dockerfile(path, global_args, tuple(stages))


def expand(text: str, scope: Mapping[str, str], keep_unknown: bool = False) -> str:
    """Dockerfile substitution of ${X}, $X, ${X:-word} and ${X:+word}; a shell variable of the step
    itself (not in `scope`) is kept as written with `keep_unknown`."""

    def sub(m: re.Match[str]) -> str:
        name, op, word = m.group(1) or m.group(4), m.group(2), m.group(3)
        if keep_unknown and name not in scope:
            return m.group(0)
        value = scope.get(name, "")
        if op == "+":
            return word if value else ""
        if op == "-":
            return value or word
        return value

    return _VAR.sub(sub, text)


def _scope(df: Dockerfile, arch: str, args: Mapping[str, str] | None = None) -> dict[str, str]:
    """The global ARGs as BuildKit sees them: build args first, else defaults, each default expanded
    with the ARGs before it (`ARG PYTHON_IMAGE=python:${PYTHON_VERSION}-slim-bookworm`)."""
    scope: dict[str, str] = {}
    for k, v in df.global_args.items():
        scope[k] = args[k] if args and k in args else expand(v or "", scope)
    scope.update({"TARGETARCH": arch, "TARGETOS": "linux", "TARGETPLATFORM": f"linux/{arch}",
                  "BUILDARCH": "amd64", "BUILDOS": "linux", "BUILDPLATFORM": "linux/amd64"})
    return scope


def arch_scope(df: Dockerfile, arch: str) -> dict[str, str]:
    """The global ARGs at their Dockerfile defaults on `arch` (no build args)."""
    return _scope(df, arch)


def final_base(df: Dockerfile, arch: str) -> str | None:
    """The FROM of the stage the final stage is built on for `arch`, as written
    (`${IMAGE_MIRROR}/library/${JRE_IMAGE}`), through `FROM <earlier stage>` aliases; None without stages."""
    scope = _scope(df, arch)
    stage = df.stages[-1] if df.stages else None
    while stage is not None:
        earlier = {s.name: s for s in df.stages[: stage.index] if s.name}
        alias = expand(stage.base, scope).lower()
        if alias not in earlier:
            return stage.base
        stage = earlier[alias]
    return None


def _stage_refs(stage: Stage) -> list[str]:
    """Stages or contexts a stage reads: COPY/ADD --from=, RUN --mount=...,from=."""
    refs = []
    for ins in stage.instructions:
        refs += re.findall(r"--from=(\S+)", ins.text) if ins.op in ("COPY", "ADD") else []
        refs += re.findall(r"--mount=\S*?\bfrom=([^,\s]+)", ins.text) if ins.op == "RUN" else []
    return refs


def reachable_stages(df: Dockerfile, arch: str, target: str | None = None) -> list[Stage]:
    """The stages BuildKit builds for the final stage (or `target`) on `arch`, dependencies first."""
    scope = _scope(df, arch)
    by_name = {s.name: s for s in df.stages if s.name}
    seen: set[int] = set()
    order: list[Stage] = []

    def visit(stage: Stage) -> None:
        if stage.index in seen:
            return
        seen.add(stage.index)
        base = expand(stage.base, scope).lower()
        earlier = {s.name: s for s in df.stages[: stage.index] if s.name}
        if base in earlier:
            visit(earlier[base])
        for ref in _stage_refs(stage):
            name = expand(ref, scope).lower()
            if name in by_name:
                visit(by_name[name])
        order.append(stage)

    visit(by_name[target] if target else df.stages[-1])
    return order


@dataclass(frozen=True)
class Endpoint:
    """One thing a build fetches: its kind, the setting that redirects it, and where it goes."""

    kind: Kind
    setting: str
    upstream: str  # where it goes by default
    what: str  # the image, or the path fetched below the base URL ("" when not known)
    stage: str

    def url(self, config: Config | None = None) -> str:
        """Where it goes under `config`: the setting's value when set, else upstream."""
        base = _configured(self.setting, config) or self.upstream
        if self.kind is Kind.REGISTRY:
            return f"{base}/{self.what}"
        return base + self.what if self.what.startswith("/") else base


def _configured(setting: str, config: Config | None) -> str:
    if config is None:
        return ""
    if setting == "IMAGE_MIRROR":
        return config.image_mirror
    return dict(config.network).get(setting, "")


def network_settings() -> tuple[str, ...]:
    """The settings a Dockerfile may name in a RUN step: the network settings with a kind."""
    return tuple(name for name, s in BY_SETTING.items() if s.kind is not None and s.kind not in (Kind.TRUST,))


def _external_image(stage: Stage, scope: Mapping[str, str]) -> Endpoint | None:
    m = _MIRRORED.match(stage.base)
    if m is None:
        return None
    upstream = scope.get("IMAGE_MIRROR") or DOCKER_HUB
    return Endpoint(Kind.REGISTRY, "IMAGE_MIRROR", upstream, expand(m.group(1), scope), stage.name or f"#{stage.index}")


# The settings that replace a line of FATE's requirement lists, and that line's option.
_LIST_OPTIONS = {"PIP_EXTRA_INDEX_URL": "--extra-index-url", "PYG_FIND_LINKS": "--find-links"}


def _fate_list_url(text: str, setting: str, fate_python: Path | None) -> str:
    """The URL a FATE requirement list a step installs from names for `setting` ("" when unknown)."""
    if fate_python is None:
        return ""
    for name in re.findall(r"(requirements[\w-]*?)(?:-gpu)?\.txt", text):
        try:
            lines = (fate_python / f"{name}.txt").read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            option, _, url = line.strip().partition(" ")
            if option == _LIST_OPTIONS[setting]:
                return url.strip()
    return ""


def run_endpoints(df: Dockerfile, stage: Stage, scope: Mapping[str, str],
                  fate_python: Path | None = None) -> list[Endpoint]:
    """What the RUN steps of a stage reach: the settings they name, and PyPI when they run pip."""
    label = stage.name or f"#{stage.index}"
    stage_scope = {**scope, **{k: (v if v is not None else scope.get(k, "")) for k, v in stage.args.items()}}
    known = network_settings()
    found: list[Endpoint] = []
    for ins in stage.instructions:
        if ins.op != "RUN":
            continue
        paths = {name: expand(path, stage_scope, keep_unknown=True) for name, path in _URL_PATH.findall(ins.text)}
        for name in dict.fromkeys(_REF.findall(ins.text)):
            if name in known and name not in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
                setting = BY_SETTING[name]
                upstream = df.global_args.get(name) or (PYPI if name == "PIP_INDEX_URL" else "")
                if name in _LIST_OPTIONS:
                    upstream = _fate_list_url(ins.text, name, fate_python)
                found.append(Endpoint(setting.kind or Kind.DOWNLOAD, name, upstream, paths.get(name, ""), label))
        if _PIP.search(ins.text) and "PIP_INDEX_URL" not in ins.text:
            found.append(Endpoint(Kind.PYPI, "PIP_INDEX_URL", PYPI, "", label))
    return found


def dockerfile_endpoints(path: Path, arch: str, target: str | None = None,
                         fate_python: Path | None = None, args: Mapping[str, str] | None = None) -> list[Endpoint]:
    df = load(path)
    scope = _scope(df, arch, args)
    found: list[Endpoint] = []
    for stage in reachable_stages(df, arch, target):
        image = _external_image(stage, scope)
        found += [image] if image else []
        found += run_endpoints(df, stage, scope, fate_python)
    return found


def git_endpoints(image: catalog.Image, config: Config) -> list[Endpoint]:
    """Git sources BuildKit fetches itself (not a local checkout given instead)."""
    found = []
    for source in catalog.for_line(config.release.line).sources_of(image):
        if source.git is None or (source.local_override and config.ipcl_pkg_dir):
            continue
        base, sep, rest = source.git.partition("://github.com")
        upstream, what = ("https://github.com", rest) if sep else (source.git, "")
        found.append(Endpoint(Kind.GIT, "GITHUB_URL", upstream, what, source.name))
    return found


def image_endpoints(image: catalog.Image, config: Config) -> tuple[Endpoint, ...]:
    """Everything building `image` (not its catalog parents) reaches, on the configured platforms."""
    family = catalog.for_line(config.release.line).family_of(image)
    path = Path(config.docker_dir, family.dockerfile_dir, family.dockerfile)
    facts = release_facts(config)
    args = {name: facts.get(name) for name in family.facts} if facts else {}
    found: list[Endpoint] = []
    for arch in config.platforms:
        found += dockerfile_endpoints(path, arch, fate_python=Path(config.fate_dir, "python"), args=args)
    found += git_endpoints(image, config)
    # A step that would honour a setting no list of FATE's needs (nor the user set) reaches nothing there.
    return tuple(e for e in dict.fromkeys(found) if e.url(config))


def plan_endpoints(images: Iterable[catalog.Image], config: Config) -> dict[str, tuple[Endpoint, ...]]:
    return {image.name: image_endpoints(image, config) for image in images}


def base_images(images: Iterable[catalog.Image], config: Config) -> tuple[str, ...]:
    """The external base images building `images` pulls, as references under IMAGE_MIRROR
    (what `save --base-images` bundles), in first-seen order."""
    endpoints = plan_endpoints(images, config)
    return tuple(dict.fromkeys(e.url(config) for found in endpoints.values() for e in found
                               if e.kind is Kind.REGISTRY))


def host_of(url: str) -> str:
    """The host (and port) a URL or an image reference reaches; Docker Hub's registry for docker.io."""
    rest = url.split("://", 1)[1] if "://" in url else url
    host = rest.split("/", 1)[0]
    return "registry-1.docker.io" if host in ("docker.io", "index.docker.io") else host


def as_document(endpoints: Iterable[Endpoint], config: Config) -> list[dict[str, str]]:
    """The JSON form `plan --format json` shows per image."""
    return [{"kind": e.kind.value, "setting": e.setting, "url": e.url(config), "host": host_of(e.url(config)),
             "upstream": e.url(None), "stage": e.stage} for e in endpoints]


# ---------------------------------------------------------------------------------------
# The convention itself, checked (tests run it over every Dockerfile under docker/).

_HOST = re.compile(r"\b[a-z][a-z0-9+.-]*://[A-Za-z0-9\[][^/\s\"']*")
_SOURCED = "[ ! -f /run/secrets/network ] || . /run/secrets/network"
_SECRET_MOUNTS = ("--mount=type=secret,id=network,target=/run/secrets/network",
                  "--mount=type=secret,id=ca,target=/run/secrets/ca.crt")
_INTERNAL_FROM = re.compile(r"^(scratch|\$\{PREFIX\}/.*|\$\{IMAGE_MIRROR\}/.+|[a-z0-9-]+\$\{TARGETARCH\})$")


# Tools that fetch, and the setting a RUN using them must name (None: any network setting).
_TOOLS = {re.compile(r"\byum\b[^;]*?\b(?:install|update)\b"): "YUM_MIRROR",
          re.compile(r"\bapt-get\b[^;]*?\b(?:update|install)\b|\bapt\b[^;]*?\binstall\b"): "APT_MIRROR",
          re.compile(r"\bmvn\b"): "MAVEN_MIRROR",
          re.compile(r"\bnpm\s+(?:install|ci)\b"): "NPM_REGISTRY",
          re.compile(r"\b(?:curl|wget)\b|\bgit\s+clone\b"): None}


def _run_reaches(ins: Instruction) -> bool:
    known = network_settings()
    return bool(_PIP.search(ins.text)) or any(name in known for name in _REF.findall(ins.text))


def _tool_problems(where: str, ins: Instruction) -> list[str]:
    named = set(_REF.findall(ins.text)) & set(network_settings())
    problems = []
    for tool, setting in _TOOLS.items():
        match = tool.search(ins.text)
        if match and (setting not in named if setting else not named):
            problems.append(f"{where}: RUN runs `{match.group(0)[:40]}` without "
                            f"{'${' + setting + '}' if setting else 'a network setting'}")
    return problems


def _instruction_problems(where: str, ins: Instruction) -> list[str]:
    problems = []
    host = _HOST.search(ins.text) if ins.op in ("RUN", "ADD") else None
    if host:
        problems.append(f"{where}: {ins.op} names a host of its own ({host.group(0)}); "
                        "make it the default of an ARG named after its setting and use ${NAME}")
    if ins.op == "RUN":
        problems += _tool_problems(where, ins)
    if ins.op == "RUN" and _run_reaches(ins):
        missing = [m for m in _SECRET_MOUNTS if m not in ins.text]
        if missing:
            problems.append(f"{where}: RUN reaches the network without {', '.join(missing)}")
        if _SOURCED not in ins.text:
            problems.append(f"{where}: RUN reaches the network without sourcing the network secret first")
        elif re.search(r"set -\w*x", ins.text.split(_SOURCED, 1)[1]):
            problems.append(f"{where}: `set -x` after sourcing the network secret prints it into the build log")
    return problems


def convention_problems(path: Path) -> list[str]:
    """Where a Dockerfile reaches the network other than through a setting (empty: it follows the convention)."""
    df = load(path)
    known = network_settings()
    problems = [f"{path}: ARG {name}={default} is a URL, but {name} is not a network setting "
                f"({', '.join(known)})" for name, default in df.global_args.items()
                if default and _HOST.search(default) and name not in known]
    for stage in df.stages:
        where = f"{path} stage {stage.name or stage.index}"
        if stage.base.lower() not in {s.name for s in df.stages[: stage.index]} and not _INTERNAL_FROM.match(
                stage.base):
            problems.append(f"{where}: FROM {stage.base} pulls from a registry of its own; "
                            "use ${IMAGE_MIRROR}/library/${<WHAT>_IMAGE}")
        for ins in stage.instructions:
            problems += _instruction_problems(where, ins)
    return problems
