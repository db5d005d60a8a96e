"""The flag configuration: `.env`, the environment and command-line options, validated.

Precedence is command line > process environment > `.env` > defaults. FATE-Builder
sourced `.env` last, so the file silently beat what users typed; this module does not.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from . import catalog
from .errors import ConfigError
from .release import Release, not_a_tree, parse_line, read_release, resolve

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The committed configuration: a team's selection and platforms, what docker-bake.hcl is rendered from.
PROJECT_FILE = Path("docker-bake.env")


def default_docker_dir() -> Path:
    """The Dockerfiles: the checkout's docker/ when run from one, else the copy in the package."""
    checkout = PROJECT_ROOT / "docker"
    if (PROJECT_ROOT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parent / "docker"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    help_zh: str


SETTINGS: tuple[Setting, ...] = (
    Setting("FATE_DIR", "/data/projects/fate", "FATE source checkout", "FATE 源码目录"),
    Setting("PREFIX", "federatedai", "registry and namespace of every image", "所有镜像的仓库与命名空间"),
    Setting("TAG", "latest", "tag of module images", "模块镜像的标签"),
    Setting("BASE_TAG", "", "tag of base images (empty: same as `TAG`)", "基础镜像的标签（留空则同 `TAG`）"),
    Setting("Docker_Options", "", "extra build options, e.g. `--no-cache`", "额外的构建参数，例如 `--no-cache`"),
    Setting("Build_Basic", "1", "basic images", "构建基础镜像"),
    Setting("Build_OP", "1", "optional images (client, fate-test)", "构建可选镜像（client、fate-test）"),
    Setting("Build_FUM", "0", "fate-upgrade-manager", "构建 fate-upgrade-manager"),
    Setting("Build_NN", "1", "neural-network images", "构建神经网络镜像"),
    Setting("Build_Spark", "1", "Spark engine images", "构建 Spark 引擎镜像"),
    Setting("Build_IPCL", "0", "Intel Paillier (IPCL) images", "构建 Intel Paillier（IPCL）镜像"),
    Setting("IPCL_PKG_DIR", "", "pailliercryptolib_python source (empty: fetched from git at `IPCL_VERSION`)",
            "pailliercryptolib_python 源码目录（留空则按 `IPCL_VERSION` 从 git 获取）"),
    Setting("IPCL_VERSION", "v1.1.3", "IPCL version (git tag)", "IPCL 版本（git 标签）"),
    Setting("Build_GPU", "0", "GPU images", "构建 GPU 镜像"),
    Setting("Build_LLM", "0", "FATE-LLM images", "构建 FATE-LLM 镜像"),
    Setting("Build_LLM_VERSION", "v1.2.0", "FATE-LLM version (git tag)", "FATE-LLM 版本（git 标签）"),
    Setting("Platform", "amd64", "target architectures: `amd64`, `arm64` or `amd64,arm64`",
            "目标架构：`amd64`、`arm64` 或 `amd64,arm64`"),
    Setting("DOCKER_DIR", "", "tree of Dockerfiles (empty: the checkout's `docker/`, or the copy installed with "
            "fate-builder); also `--docker-dir`",
            "Dockerfile 目录（留空则为本仓库的 `docker/`，或随 fate-builder 安装的副本）；也可用 `--docker-dir`"),
    Setting("CACHE", "none", "build cache: `none`, `inline`, `registry`, `local:DIR` or `gha`",
            "构建缓存：`none`、`inline`、`registry`、`local:DIR` 或 `gha`"),
    Setting("FATE_LINE", "", "FATE release line: empty finds it from `FATE_DIR` (`fate.env`: 1.x, "
            "`python/fate/_info.py`: 2.x); `1.x` or `2.x` names it, also for the committed docker-bake.hcl",
            "FATE 版本线：留空则由 `FATE_DIR` 判断（`fate.env` 为 1.x，`python/fate/_info.py` 为 2.x）；"
            "`1.x` 或 `2.x` 直接指定，也决定提交的 docker-bake.hcl"),
    Setting("THIRD_PARTY_IMAGES", "mysql:8.0.28", "third-party images `save` puts in the offline bundle",
            "`save` 打入离线包的第三方镜像"),
)
SETTING_NAMES = tuple(s.name for s in SETTINGS)
DEFAULTS = {s.name: s.default for s in SETTINGS}

FLAG_SETTINGS = {f"Build_{flag}": flag for flag in catalog.FLAGS}

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}

# Docker's own grammar (distribution/reference), narrowed to what a PREFIX can be.
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PREFIX_RE = re.compile(rf"(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_BARE_DOMAIN_RE = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})+(?::[0-9]+)?|"
                             rf"{_DOMAIN_COMPONENT}:[0-9]+|localhost)")
_GIT_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
_CACHE_KINDS = ("none", "inline", "registry", "local:DIR", "gha")
_IMAGE_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")

# fate-builder reads BuildKit's plain log to name failed targets, so it always asks for
# plain progress; "quiet" reads it without echoing. A tty display needs the terminal itself.
PROGRESS_MODES = ("auto", "plain", "quiet")


@dataclass(frozen=True)
class BakeOptions:
    """`Docker_Options`, mapped onto the flags `docker buildx bake` has."""

    no_cache: bool = False
    pull: bool = False
    load: bool = False
    push: bool = False
    progress: str | None = None
    builder: str | None = None
    provenance: str | None = None
    sbom: str | None = None
    metadata_file: str | None = None
    set: tuple[str, ...] = ()


# option -> (BakeOptions field, takes a value)
_BAKE_OPTIONS: dict[str, tuple[str, bool]] = {
    "--no-cache": ("no_cache", False),
    "--pull": ("pull", False),
    "--progress": ("progress", True),
    "--builder": ("builder", True),
    "--set": ("set", True),
    "--provenance": ("provenance", True),
    "--sbom": ("sbom", True),
    "--metadata-file": ("metadata_file", True),
    "--load": ("load", False),
    "--push": ("push", False),
}


@dataclass(frozen=True)
class Config:
    fate_dir: str
    prefix: str
    tag: str
    base_tag: str
    base_tag_explicit: bool
    flags: frozenset[str]
    platforms: tuple[str, ...]
    ipcl_pkg_dir: str
    ipcl_version: str
    llm_version: str
    docker_dir: str
    cache: str
    third_party_images: tuple[str, ...]
    bake_options: BakeOptions = field(default_factory=BakeOptions)
    fate_version: str | None = None
    # The FATE release FATE_DIR holds (line, version, component versions); without a tree
    # only the line (FATE_LINE, else 1.x) and version None.
    release: Release = Release("1.x", None)


def parse_flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r}: a flag must be 0 or 1 (true/false and yes/no are accepted too)")


def parse_platforms(value: str) -> tuple[str, ...]:
    wanted = []
    for part in value.split(","):
        part = part.strip().lower()
        part = part.removeprefix("linux/")
        if part not in catalog.PLATFORMS:
            allowed = ", ".join(catalog.PLATFORMS)
            raise ConfigError(f"Platform={value!r}: allowed are {allowed} or amd64,arm64 (comma-separated)")
        wanted.append(part)
    return tuple(p for p in catalog.PLATFORMS if p in wanted)


def parse_docker_options(value: str) -> BakeOptions:
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise ConfigError(f"Docker_Options={value!r}: cannot be split like a shell would: {exc}") from None
    found: dict[str, object] = {}
    sets: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        option, eq, inline = word.partition("=")
        if option not in _BAKE_OPTIONS:
            supported = " ".join(_BAKE_OPTIONS)
            raise ConfigError(f"Docker_Options: {word!r} is not supported by bake; supported: {supported}")
        attr, takes_value = _BAKE_OPTIONS[option]
        if takes_value:
            if eq:
                arg = inline
            elif i + 1 < len(words):
                i += 1
                arg = words[i]
            else:
                raise ConfigError(f"Docker_Options: {option} needs a value")
            if attr == "set":
                sets.append(arg)
            else:
                found[attr] = arg
        else:
            if eq:
                raise ConfigError(f"Docker_Options: {option} takes no value, got {word!r}")
            found[attr] = True
        i += 1
    if "progress" in found and found["progress"] not in PROGRESS_MODES:
        raise ConfigError(
            f"Docker_Options: --progress={found['progress']!r}: allowed are {', '.join(PROGRESS_MODES)}"
        )
    return BakeOptions(set=tuple(sets), **found)  # type: ignore[arg-type]


def validate_cache(value: str) -> str:
    if value in ("none", "inline", "registry", "gha"):
        return value
    if value.startswith("local:") and len(value) > len("local:"):
        return value
    raise ConfigError(f"CACHE={value!r}: allowed are {', '.join(_CACHE_KINDS)}")


class _Unparsed(logging.Handler):
    """Collects python-dotenv's warnings about lines it could not parse."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _read_dotenv(path: Path, setting: str) -> dict[str, str | None]:
    """A dotenv file's KEY=VALUE pairs, not interpolated yet; {} when there is no file.

    python-dotenv skips a line it cannot parse with a logged warning; here that is an error.
    """
    catcher = _Unparsed()
    logger = logging.getLogger("dotenv")
    logger.addHandler(catcher)
    try:
        with open(path, encoding="utf-8") as stream:
            values = dotenv_values(stream=stream, interpolate=False)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    finally:
        logger.removeHandler(catcher)
    if catcher.records:
        raise ConfigError(f"{path}: {catcher.records[0].getMessage()}")
    return dict(values)


def read_fate_version(fate_dir: str) -> str | None:
    """FATE's version on either line (`fate.env` or `python/fate/_info.py`); None without a tree."""
    found = read_release(fate_dir)
    return None if found is None else found.version


# python-dotenv's expansion syntax: ${NAME} and ${NAME:-default}.
_VARIABLE = re.compile(r"\$\{(?P<name>[^}:]*)(?::-(?P<default>[^}]*))?\}")


def _interpolate(
    pairs: Mapping[str, str | None], environ: Mapping[str, str], version: str | None, no_tree: str
) -> dict[str, str]:
    """Expand `${VAR}` as python-dotenv does, with `${version}` the FATE version of FATE_DIR (either line).

    Values defined earlier in the file win over the environment, as in python-dotenv.
    """
    resolved: dict[str, str] = {}
    for key, value in pairs.items():
        if value is None:
            continue
        scope: dict[str, str] = dict(environ)
        if version is not None:
            scope["version"] = version
        scope.update(resolved)

        text: str = value  # mypy before 2.0 does not carry the narrowing into a default argument

        def expand(match: re.Match[str], key: str = key, value: str = text, scope: dict[str, str] = scope) -> str:
            name, default = match.group("name"), match.group("default")
            if name == "version" and name not in scope and default is None:
                raise ConfigError(
                    f"{key}={value}: uses ${{version}}, but {no_tree}"
                )
            return scope.get(name, default or "")

        resolved[key] = _VARIABLE.sub(expand, value)
    return resolved


def load_config(
    env_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    project_file: Path | None = None,
) -> Config:
    """Build a validated Config.

    Layers, strongest first: `overrides` (the command line), `environ`, `env_file` (the
    personal .env), `project_file` (the committed docker-bake.env), the defaults.
    """
    environ = dict(os.environ if environ is None else environ)
    overrides = dict(overrides or {})
    for name in overrides:
        if name not in SETTING_NAMES:
            raise ConfigError(f"unknown setting {name!r}; known settings: {', '.join(SETTING_NAMES)}")

    files = [(path, _read_dotenv(path, "--env-file" if path == env_file else "--project-file"))
             for path in (env_file, project_file) if path is not None]

    def pick(name: str, file_layers: Sequence[Mapping[str, str]]) -> str:
        for layer in (overrides, environ, *file_layers):
            if name in layer:
                return layer[name]
        return DEFAULTS[name]

    # FATE_DIR decides where ${version} comes from, so it is settled first.
    early = [_interpolate({k: v for k, v in pairs.items() if k == "FATE_DIR"}, environ, None, "FATE_DIR is not set yet")
             for _, pairs in files]
    fate_dir_raw = pick("FATE_DIR", early)
    fate_dir = os.path.abspath(os.path.expanduser(fate_dir_raw)) if fate_dir_raw else fate_dir_raw
    if not fate_dir:
        raise ConfigError("FATE_DIR is empty: set it to the FATE source checkout")
    lines = [_interpolate({k: v for k, v in pairs.items() if k == "FATE_LINE"}, environ, None, "")
             for _, pairs in files]
    found = resolve(fate_dir, parse_line("FATE_LINE", pick("FATE_LINE", lines)))
    version = found.version
    file_layers = [_interpolate(pairs, environ, version, not_a_tree(fate_dir)) for _, pairs in files]

    raw = {name: pick(name, file_layers) for name in SETTING_NAMES}
    raw["FATE_DIR"] = fate_dir

    flags = frozenset(flag for name, flag in FLAG_SETTINGS.items() if parse_flag(name, raw[name]))

    tag = raw["TAG"]
    base_tag = raw["BASE_TAG"] or tag
    for name, value in (("TAG", tag), ("BASE_TAG", base_tag)):
        if not _TAG_RE.fullmatch(value):
            raise ConfigError(
                f"{name}={value!r}: a Docker tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
            )

    prefix = raw["PREFIX"]
    if not (_PREFIX_RE.fullmatch(prefix) or _BARE_DOMAIN_RE.fullmatch(prefix)):
        raise ConfigError(
            f"PREFIX={prefix!r}: must be [host[:port]/]namespace with lower-case path components,"
            " e.g. federatedai or 127.0.0.1:5000/federatedai"
        )

    platforms = parse_platforms(raw["Platform"])
    line_catalog = catalog.for_line(found.line)
    available = line_catalog.flags_for(platforms)
    beyond = [f"Build_{flag}" for flag in catalog.FLAGS
              if flag in flags and flag in line_catalog.flags_for(()) and flag not in available]
    if beyond:
        families = ", ".join(f"Build_{flag}" for flag in catalog.FLAGS if flag in available)
        raise ConfigError(
            f"Platform={raw['Platform']}: only the {families} family exists for {','.join(platforms)}; "
            f"set {', '.join(f'{name}=0' for name in beyond)}"
        )

    for name in ("IPCL_VERSION", "Build_LLM_VERSION"):
        if not _GIT_REF_RE.fullmatch(raw[name]):
            raise ConfigError(f"{name}={raw[name]!r}: must be a git tag or branch name such as v1.2.0")

    ipcl_pkg_dir = raw["IPCL_PKG_DIR"]
    if ipcl_pkg_dir:
        ipcl_pkg_dir = os.path.abspath(os.path.expanduser(ipcl_pkg_dir))
        if "IPCL" in flags and not Path(ipcl_pkg_dir).is_dir():
            raise ConfigError(
                f"IPCL_PKG_DIR={raw['IPCL_PKG_DIR']!r}: no such directory; unset it to fetch "
                f"pailliercryptolib_python {raw['IPCL_VERSION']} from git instead"
            )

    docker_dir = raw["DOCKER_DIR"] or str(default_docker_dir())
    docker_dir = os.path.abspath(os.path.expanduser(docker_dir))

    third_party = tuple(raw["THIRD_PARTY_IMAGES"].replace(",", " ").split())
    for ref in third_party:
        if not _IMAGE_REF_RE.fullmatch(ref):
            raise ConfigError(f"THIRD_PARTY_IMAGES: {ref!r} is not an image reference such as mysql:8.0.28")

    return Config(
        fate_dir=fate_dir,
        prefix=prefix,
        tag=tag,
        base_tag=base_tag,
        base_tag_explicit=bool(raw["BASE_TAG"]),
        flags=flags,
        platforms=platforms,
        ipcl_pkg_dir=ipcl_pkg_dir,
        ipcl_version=raw["IPCL_VERSION"],
        llm_version=raw["Build_LLM_VERSION"],
        docker_dir=docker_dir,
        cache=validate_cache(raw["CACHE"]),
        third_party_images=third_party,
        bake_options=parse_docker_options(raw["Docker_Options"]),
        fate_version=version,
        release=found,
    )
