"""The flag configuration: `.env`, the environment and command-line options, validated.

Precedence is command line > process environment > `.env` > defaults. FATE-Builder
sourced `.env` last, so the file silently beat what users typed; this module does not.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from . import caches, catalog, layers
from .caches import Cache, parse_cache
from .errors import ConfigError
from .package import default_docker_dir
from .release import Release, parse_line, read_release, source_date_epoch, source_revision

# The committed configuration: a team's selection and platforms, what docker-bake.hcl is rendered from.
PROJECT_FILE = Path("docker-bake.env")


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


class Kind(str, Enum):
    """What kind of endpoint a network setting redirects (the inventory's vocabulary)."""

    REGISTRY = "registry"
    PYPI = "pypi"
    MAVEN = "maven"
    NPM = "npm"
    YUM = "yum"
    APT = "apt"
    DOWNLOAD = "download"
    GIT = "git"
    PROXY = "proxy"
    TRUST = "trust"


class Carrier(str, Enum):
    """How a setting reaches the build."""

    VARIABLE = "variable"  # a bake variable: a default in docker-bake.hcl, overridable from the environment
    SECRET = "secret"  # an `export NAME=value` line of the `network` BuildKit secret (never in the cache key)
    FILE = "file"  # a file of its own, mounted as a BuildKit secret (CA_BUNDLE, MAVEN_SETTINGS)


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
    cache: Cache
    third_party_images: tuple[str, ...]
    bake_options: BakeOptions = field(default_factory=BakeOptions)
    fate_version: str | None = None
    # The FATE release FATE_DIR holds (line, version, component versions); without a tree
    # only the line (FATE_LINE, else 1.x) and version None.
    release: Release = Release("1.x", None)
    image_mirror: str = "docker.io"
    # The network settings that are set (name, value), in settings order: the `network` secret's lines.
    network: tuple[tuple[str, str], ...] = ()
    ca_bundle: str = ""
    maven_settings: str = ""
    # The images' creation time (seconds since 1970): SOURCE_DATE_EPOCH, else FATE_DIR's commit time;
    # "" when no tree was read (the bake file's default then).
    source_date_epoch: str = ""
    # The images' OCI labels and annotations (generator.oci): FATE's repository and the revision built.
    fate_repository: str = "https://github.com/FederatedAI/FATE"
    fate_revision: str = ""
    # RELEASE=1: provenance (mode=max) and an SBOM by `sbom_scanner` ("none": no SBOM) on every image made.
    release_mode: bool = False
    sbom_scanner: str = ""


# A row's parser: (its name, its layered value, every layered value) -> the value the Config holds.
Parser = Callable[[str, str, Mapping[str, str]], Any]


def _text(name: str, value: str, raw: Mapping[str, str]) -> str:
    return value


def parse_flag(name: str, value: str, raw: Mapping[str, str] | None = None) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r}: a flag must be 0 or 1 (true/false and yes/no are accepted too)")


def _flags(raw: Mapping[str, str]) -> frozenset[str]:
    return frozenset(flag for name, flag in FLAG_SETTINGS.items() if parse_flag(name, raw[name]))


def _docker_tag(name: str, value: str, raw: Mapping[str, str]) -> str:
    if not _TAG_RE.fullmatch(value):
        raise ConfigError(f"{name}={value!r}: a Docker tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'")
    return value


def _base_tag(name: str, value: str, raw: Mapping[str, str]) -> str:
    return _docker_tag(name, value or raw["TAG"], raw)


def _prefix(name: str, value: str, raw: Mapping[str, str]) -> str:
    if not (_PREFIX_RE.fullmatch(value) or _BARE_DOMAIN_RE.fullmatch(value)):
        raise ConfigError(
            f"{name}={value!r}: must be [host[:port]/]namespace with lower-case path components,"
            " e.g. federatedai or 127.0.0.1:5000/federatedai"
        )
    return value


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


def _platforms(name: str, value: str, raw: Mapping[str, str]) -> tuple[str, ...]:
    return parse_platforms(value)


def _check_platforms(value: str, platforms: tuple[str, ...], flags: frozenset[str], cat: catalog.Catalog) -> None:
    """Every family switched on that the release line has, has images for all of the platforms."""
    available = cat.flags_for(platforms)
    beyond = [catalog.flag_setting(flag) for flag in catalog.FLAGS
              if flag in flags and flag in cat.flags_for(()) and flag not in available]
    if beyond:
        families = ", ".join(catalog.flag_setting(flag) for flag in catalog.FLAGS if flag in available)
        why = "".join(f" ({catalog.flag_setting(flag)}: {reason})"
                      for flag, reason in cat.amd64_only if catalog.flag_setting(flag) in beyond)
        raise ConfigError(
            f"Platform={value}: only the {families} family exists for {','.join(platforms)}; "
            f"set {', '.join(f'{name}=0' for name in beyond)}{why}"
        )


def _git_ref(name: str, value: str, raw: Mapping[str, str]) -> str:
    if not _GIT_REF_RE.fullmatch(value):
        raise ConfigError(f"{name}={value!r}: must be a git tag or branch name such as v1.2.0")
    return value


def _ipcl_pkg_dir(name: str, value: str, raw: Mapping[str, str]) -> str:
    if not value:
        return value
    path = os.path.abspath(os.path.expanduser(value))
    if "IPCL" in _flags(raw) and not Path(path).is_dir():
        raise ConfigError(
            f"{name}={value!r}: no such directory; unset it to fetch "
            f"pailliercryptolib_python {raw['IPCL_VERSION']} from git instead"
        )
    return path


def _docker_dir(name: str, value: str, raw: Mapping[str, str]) -> str:
    return os.path.abspath(os.path.expanduser(value or str(default_docker_dir())))


def _cache(name: str, value: str, raw: Mapping[str, str]) -> Cache:
    return parse_cache(value)


def _image_list(name: str, value: str, raw: Mapping[str, str]) -> tuple[str, ...]:
    refs = tuple(value.replace(",", " ").split())
    for ref in refs:
        if not _IMAGE_REF_RE.fullmatch(ref):
            raise ConfigError(f"{name}: {ref!r} is not an image reference such as mysql:8.0.28")
    return refs


def _epoch(name: str, value: str, raw: Mapping[str, str]) -> str:
    if value and not value.isdigit():
        raise ConfigError(f"{name}={value!r}: must be whole seconds since 1970-01-01 UTC, e.g. 1700000000 "
                          "(empty: FATE_DIR's commit time)")
    return value


# BuildKit's own default generator, looked up under IMAGE_MIRROR like every other image.
DEFAULT_SBOM_SCANNER = "docker/buildkit-syft-scanner:stable-1"


def _scanner(name: str, value: str, raw: Mapping[str, str]) -> str:
    if value and value != "none" and not _IMAGE_REF_RE.fullmatch(value):
        raise ConfigError(f"{name}={value!r}: must be an image reference such as "
                          f"harbor.example.com/dockerhub/{DEFAULT_SBOM_SCANNER}, or none")
    return value


def _docker_options(name: str, value: str, raw: Mapping[str, str]) -> BakeOptions:
    return parse_docker_options(value)


# No quotes, `$`, backslashes, or `#&|` (the steps put the value into sed expressions).
_URL_RE = re.compile(r"https?://[^\s'\"\\`$#&|]+")


def _url(name: str, value: str, raw: Mapping[str, str]) -> str:
    """A base URL (empty: upstream); kept without a trailing slash, as the Dockerfiles append `/path`."""
    if value and not _URL_RE.fullmatch(value):
        raise ConfigError(f"{name}={value!r}: must be an http:// or https:// URL without spaces, quotes or $#&|")
    return value.rstrip("/")


def _registry(name: str, value: str, raw: Mapping[str, str]) -> str:
    value = value.rstrip("/")
    if not (_PREFIX_RE.fullmatch(value) and "/" in value or _BARE_DOMAIN_RE.fullmatch(value)):
        raise ConfigError(f"{name}={value!r}: must be a registry host[:port] with an optional path, "
                          "e.g. harbor.example.com/dockerhub or 127.0.0.1:5000 (no scheme)")
    return value


def _words(name: str, value: str, raw: Mapping[str, str]) -> str:
    if re.search(r"['\"\\`$]", value):
        raise ConfigError(f"{name}={value!r}: host names only, without quotes, '$' or backslashes")
    return " ".join(value.replace(",", " ").split()) if name != "NO_PROXY" else value.replace(" ", "")


def _file(name: str, value: str, raw: Mapping[str, str]) -> str:
    if not value:
        return value
    path = os.path.abspath(os.path.expanduser(value))
    if not Path(path).is_file():
        raise ConfigError(f"{name}={value!r}: no such file")
    return path


@dataclass(frozen=True)
class Setting:
    """One setting: its default, how its value is parsed and checked, and what the README says of it."""

    name: str
    default: str
    help: str
    help_zh: str
    parse: Parser = _text
    # The README's default column when it is not the default itself ("" shows nothing).
    shown: str | None = None
    shown_zh: str | None = None
    # Network settings: the kind of endpoint they redirect and how they reach the build.
    kind: Kind | None = None
    carrier: Carrier = Carrier.VARIABLE
    # The Config attribute the parsed value is (None: gathered with other rows, as the Build_* flags and the
    # network secrets are, or read through another, as FATE_LINE is through the release).
    field: str | None = None

    def readme_default(self, lang: str) -> str:
        shown = self.shown_zh if lang == "zh" and self.shown_zh is not None else self.shown
        if shown is not None:
            return shown
        return f"`{self.default}`" if self.default else ""


def _net(name: str, kind: Kind, upstream: str, help: str, help_zh: str, *, parse: Parser = _url,
         carrier: Carrier = Carrier.SECRET, zh: str | None = None, field: str | None = None) -> Setting:
    """A network setting whose empty default means upstream (the Dockerfile's own ARG default)."""
    shown_zh = upstream.replace("FATE's own", zh) if zh else upstream
    return Setting(name, "", help, help_zh, parse, shown=upstream, shown_zh=shown_zh, kind=kind, carrier=carrier,
                   field=field)


SETTINGS: tuple[Setting, ...] = (
    Setting("FATE_DIR", "/data/projects/fate", "FATE source checkout", "FATE 源码目录", field="fate_dir"),
    Setting("PREFIX", "federatedai", "registry and namespace of every image", "所有镜像的仓库与命名空间", _prefix,
            field="prefix"),
    Setting("TAG", "latest", "tag of module images", "模块镜像的标签", _docker_tag, field="tag"),
    Setting("BASE_TAG", "", "tag of base images (empty: same as `TAG`)", "基础镜像的标签（留空则同 `TAG`）",
            _base_tag, shown="same as `TAG`", shown_zh="同 `TAG`", field="base_tag"),
    Setting("Docker_Options", "", "extra build options, e.g. `--no-cache`", "额外的构建参数，例如 `--no-cache`",
            _docker_options, field="bake_options"),
    Setting("Build_Basic", "1", "basic images", "构建基础镜像", parse_flag),
    Setting("Build_OP", "1", "optional images (client, fate-test)", "构建可选镜像（client、fate-test）", parse_flag),
    Setting("Build_FUM", "0", "fate-upgrade-manager", "构建 fate-upgrade-manager", parse_flag),
    Setting("Build_NN", "1", "neural-network images", "构建神经网络镜像", parse_flag),
    Setting("Build_Spark", "1", "Spark engine images", "构建 Spark 引擎镜像", parse_flag),
    Setting("Build_IPCL", "0", "Intel Paillier (IPCL) images", "构建 Intel Paillier（IPCL）镜像", parse_flag),
    Setting("IPCL_PKG_DIR", "", "pailliercryptolib_python source (empty: fetched from git at `IPCL_VERSION`)",
            "pailliercryptolib_python 源码目录（留空则按 `IPCL_VERSION` 从 git 获取）", _ipcl_pkg_dir,
            field="ipcl_pkg_dir"),
    Setting("IPCL_VERSION", "v1.1.3", "IPCL version (git tag)", "IPCL 版本（git 标签）", _git_ref,
            field="ipcl_version"),
    Setting("Build_GPU", "0", "GPU images", "构建 GPU 镜像", parse_flag),
    Setting("Build_LLM", "0", "FATE-LLM images", "构建 FATE-LLM 镜像", parse_flag),
    Setting("Build_LLM_VERSION", "v1.2.0", "FATE-LLM version (git tag)", "FATE-LLM 版本（git 标签）", _git_ref,
            field="llm_version"),
    Setting("Platform", "amd64", "target architectures: `amd64`, `arm64` or `amd64,arm64`",
            "目标架构：`amd64`、`arm64` 或 `amd64,arm64`", _platforms, field="platforms"),
    Setting("DOCKER_DIR", "", "tree of Dockerfiles (empty: the checkout's `docker/`, or the copy installed with "
            "fate-builder); also `--docker-dir`",
            "Dockerfile 目录（留空则为本仓库的 `docker/`，或随 fate-builder 安装的副本）；也可用 `--docker-dir`",
            _docker_dir, shown="`docker/`", field="docker_dir"),
    Setting("CACHE", "none", f"build cache: {caches.spelled('`')}", f"构建缓存：{caches.spelled('`', '、', ' 或 ')}",
            _cache, field="cache"),
    Setting("FATE_LINE", "", "FATE release line: empty finds it from `FATE_DIR` (`fate.env`: 1.x, "
            "`python/fate/_info.py`: 2.x); `1.x` or `2.x` names it, also for the committed docker-bake.hcl",
            "FATE 版本线：留空则由 `FATE_DIR` 判断（`fate.env` 为 1.x，`python/fate/_info.py` 为 2.x）；"
            "`1.x` 或 `2.x` 直接指定，也决定提交的 docker-bake.hcl", lambda name, value, raw: parse_line(name, value)),
    Setting("SOURCE_DATE_EPOCH", "", "the images' creation time, seconds since 1970 (empty: the commit time of "
            "`FATE_DIR`'s git HEAD, else the modification time of `fate.env` / `python/fate/_info.py`)",
            "镜像的创建时间，自 1970 年起的秒数（留空则为 `FATE_DIR` 的 git HEAD 提交时间，否则为 "
            "`fate.env` / `python/fate/_info.py` 的修改时间）", _epoch, shown="FATE's commit time",
            shown_zh="FATE 的提交时间", field="source_date_epoch"),
    Setting("FATE_REPOSITORY", "https://github.com/FederatedAI/FATE", "the images' `org.opencontainers.image.source` "
            "label: FATE's repository", "镜像的 `org.opencontainers.image.source` 标签：FATE 的仓库", _url,
            field="fate_repository"),
    Setting("FATE_REVISION", "", "the images' `org.opencontainers.image.revision`: the FATE commit built (empty: "
            "`FATE_DIR`'s git HEAD, none without git)", "镜像的 `org.opencontainers.image.revision`：所构建的 FATE "
            "提交（留空则为 `FATE_DIR` 的 git HEAD，没有 git 则不设）",
            lambda name, value, raw: value and _git_ref(name, value, raw), shown="`FATE_DIR`'s HEAD",
            shown_zh="`FATE_DIR` 的 HEAD", field="fate_revision"),
    Setting("RELEASE", "0", "release mode: a provenance attestation (mode=max) and an SBOM on every image made "
            "(docs/release.md)",
            "发布模式：每个产出的镜像附带 provenance 证明（mode=max）与 SBOM（见 docs/release_zh.md）", parse_flag,
            field="release_mode"),
    Setting("SBOM_SCANNER", "", "the image BuildKit runs to make the SBOM with `RELEASE=1`; `none`: no SBOM",
            "`RELEASE=1` 时 BuildKit 运行以生成 SBOM 的镜像；`none` 为不生成 SBOM", _scanner,
            shown="`docker/buildkit-syft-scanner:stable-1` under `IMAGE_MIRROR`",
            shown_zh="`IMAGE_MIRROR` 下的 `docker/buildkit-syft-scanner:stable-1`", field="sbom_scanner"),
    Setting("THIRD_PARTY_IMAGES", "mysql:8.0.28", "third-party images `save` puts in the offline bundle",
            "`save` 打入离线包的第三方镜像", _image_list, field="third_party_images"),
    # Where the build reaches the network (docs/mirrors.md).
    Setting("IMAGE_MIRROR", "docker.io", "registry prefix of every external base image "
            "(`harbor.example.com/dockerhub` gives `harbor.example.com/dockerhub/library/centos:centos7`)",
            "所有外部基础镜像的仓库前缀（`harbor.example.com/dockerhub` 即 "
            "`harbor.example.com/dockerhub/library/centos:centos7`）", _registry, kind=Kind.REGISTRY,
            field="image_mirror"),
    _net("PIP_INDEX_URL", Kind.PYPI, "`https://pypi.org/simple`", "PyPI index of every pip step",
         "所有 pip 步骤使用的 PyPI 索引"),
    _net("PIP_EXTRA_INDEX_URL", Kind.PYPI, "FATE's own (`https://download.pytorch.org/whl/cpu`)",
         "extra index (the PyTorch index); replaces the `--extra-index-url` line of FATE's requirement lists",
         "额外索引（PyTorch 索引）；替换 FATE 依赖列表中的 `--extra-index-url` 行", zh="FATE 自带"),
    _net("PYG_FIND_LINKS", Kind.PYPI, "FATE's own (`https://data.pyg.org/whl/...`)",
         "find-links page of the PyG wheels; replaces the `--find-links` line of FATE's requirement lists",
         "PyG wheel 的 find-links 页面；替换 FATE 依赖列表中的 `--find-links` 行", zh="FATE 自带"),
    _net("PIP_TRUSTED_HOST", Kind.PYPI, "", "hosts pip trusts without TLS (space-separated)",
         "pip 不校验 TLS 的主机（空格分隔）", parse=_words),
    _net("MAVEN_MIRROR", Kind.MAVEN, "`https://repo.maven.apache.org/maven2`", "mirror of Maven Central",
         "Maven Central 的镜像"),
    _net("MAVEN_SETTINGS", Kind.MAVEN, "", "a `settings.xml` of one's own for every Maven step (a BuildKit secret)",
         "自己的 `settings.xml`，用于所有 Maven 步骤（以 BuildKit secret 传入）", parse=_file, carrier=Carrier.FILE,
         field="maven_settings"),
    _net("NODE_DOWNLOAD_URL", Kind.NPM, "`https://nodejs.org/dist`", "Node.js downloads (FATE-Board's front end)",
         "Node.js 下载地址（FATE-Board 前端）"),
    _net("NPM_REGISTRY", Kind.NPM, "`https://registry.npmjs.org`", "npm registry (FATE-Board's front end)",
         "npm 仓库（FATE-Board 前端）"),
    _net("YUM_MIRROR", Kind.YUM, "`http://vault.centos.org`", "base URL of CentOS 7's repositories",
         "CentOS 7 软件源的基础 URL"),
    _net("APT_MIRROR", Kind.APT, "the distribution's (`http://archive.ubuntu.com`, `http://ports.ubuntu.com`, "
         "`http://deb.debian.org`)",
         "mirror root serving `/ubuntu`, `/ubuntu-ports`, `/debian`, `/debian-security`",
         "提供 `/ubuntu`、`/ubuntu-ports`、`/debian`、`/debian-security` 的镜像站根地址"),
    _net("NVIDIA_MIRROR", Kind.YUM, "`https://developer.download.nvidia.com`", "NVIDIA's CUDA repository",
         "NVIDIA CUDA 软件源"),
    _net("PYTHON_DOWNLOAD_URL", Kind.DOWNLOAD, "`https://www.python.org/ftp/python`", "CPython source downloads",
         "CPython 源码下载地址"),
    _net("APACHE_MIRROR", Kind.DOWNLOAD, "`https://archive.apache.org/dist`", "Apache downloads (Spark, Hadoop)",
         "Apache 下载地址（Spark、Hadoop）"),
    _net("GITHUB_URL", Kind.DOWNLOAD, "`https://github.com`", "GitHub, for release downloads (tini, LLVM) and the "
         "git sources (FATE-LLM, IPCL)", "GitHub 地址：发布包下载（tini、LLVM）与 git 源码（FATE-LLM、IPCL）"),
    _net("OPENRESTY_URL", Kind.DOWNLOAD, "`https://openresty.org/download`", "OpenResty source downloads",
         "OpenResty 源码下载地址"),
    _net("NASM_URL", Kind.DOWNLOAD, "`https://www.nasm.us/pub/nasm/releasebuilds`", "nasm source downloads",
         "nasm 源码下载地址"),
    _net("OPENSSL_URL", Kind.DOWNLOAD, "`https://www.openssl.org/source`", "OpenSSL source downloads",
         "OpenSSL 源码下载地址"),
    _net("CA_BUNDLE", Kind.TRUST, "", "PEM file of every CA the build's steps trust (pip, curl, yum, apt, Maven, "
         "npm, git); a BuildKit secret", "构建步骤信任的全部 CA（PEM 文件，pip、curl、yum、apt、Maven、npm、git），"
         "以 BuildKit secret 传入", parse=_file, carrier=Carrier.FILE, field="ca_bundle"),
    _net("HTTP_PROXY", Kind.PROXY, "", "proxy for http:// in every step", "所有步骤的 http:// 代理"),
    _net("HTTPS_PROXY", Kind.PROXY, "", "proxy for https:// in every step", "所有步骤的 https:// 代理"),
    _net("NO_PROXY", Kind.PROXY, "", "hosts reached without the proxy (comma-separated)",
         "不经代理访问的主机（逗号分隔）", parse=_words),
)
SETTING_NAMES = tuple(s.name for s in SETTINGS)
DEFAULTS = {s.name: s.default for s in SETTINGS}
BY_SETTING = {s.name: s for s in SETTINGS}

FLAG_SETTINGS = {catalog.flag_setting(flag): flag for flag in catalog.FLAGS}


def _assemble(raw: Mapping[str, str], release: Release) -> Config:
    """The Config of layered values: each row parses its own, the flags and network rows are gathered."""
    value = {s.name: s.parse(s.name, raw[s.name], raw) for s in SETTINGS}
    _check_platforms(raw["Platform"], value["Platform"], _flags(raw), catalog.for_line(release.line))
    fields = {s.field: value[s.name] for s in SETTINGS if s.field is not None}
    # What no one row holds: gathered from several rows, a row's fallback read from the tree, the release.
    derived = {
        "base_tag_explicit": bool(raw["BASE_TAG"]),
        "flags": _flags(raw),
        "fate_version": release.version,
        "release": release,
        "network": tuple((s.name, value[s.name]) for s in SETTINGS if s.carrier is Carrier.SECRET and value[s.name]),
        "source_date_epoch": value["SOURCE_DATE_EPOCH"] or source_date_epoch(value["FATE_DIR"], release),
        "fate_revision": value["FATE_REVISION"] or source_revision(value["FATE_DIR"]),
        "sbom_scanner": value["SBOM_SCANNER"] or f"{value['IMAGE_MIRROR']}/{DEFAULT_SBOM_SCANNER}",
    }
    return Config(**{**fields, **derived})


def read_fate_version(fate_dir: str) -> str | None:
    """FATE's version on either line (`fate.env` or `python/fate/_info.py`); None without a tree."""
    found = read_release(fate_dir)
    return None if found is None else found.version


def layered_settings(
    env_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    project_file: Path | None = None,
) -> tuple[dict[str, str], Release]:
    """Every setting's value as text, and the FATE release FATE_DIR holds (generator.layers); nothing is parsed."""
    return layers.layered(DEFAULTS, env_file, environ, overrides, project_file)


def load_config(
    env_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    project_file: Path | None = None,
) -> Config:
    """A validated Config: the layered settings (see `layered_settings`), each parsed by its row."""
    return _assemble(*layered_settings(env_file, environ, overrides, project_file))
