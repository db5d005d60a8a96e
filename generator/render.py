"""Rendering: a Plan into the text of docker-bake.hcl, and writing that text safely."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jinja2

from . import catalog
from .catalog import Image
from .config import Config
from .plan import Plan

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "docker-bake.hcl.j2"
# The committed file, in the directory fate-builder runs in (the checkout, for `make`).
DEFAULT_OUTPUT = Path("docker-bake.hcl")


def hcl_string(value: str) -> str:
    """A quoted HCL string literal that evaluates to exactly `value`.

    Besides the JSON-style escapes, HCL templates treat `${` and `%{` as the start of an
    interpolation or directive; doubling the sigil makes them literal.
    """
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    text = "".join(out).replace("${", "$${").replace("%{", "%%{")
    return f'"{text}"'


@dataclass(frozen=True)
class Attr:
    """One `key = expression` line; `key` and `expr` are already HCL."""

    key: str
    expr: str


def aligned(attrs: Iterable[Attr], indent: int) -> str:
    """Lines with their `=` signs lined up, as `terraform fmt` would leave them."""
    attrs = list(attrs)
    if not attrs:
        return ""
    width = max(len(a.key) for a in attrs)
    pad = " " * indent
    return "\n".join(f"{pad}{a.key.ljust(width)} = {a.expr}" for a in attrs)


class Expr(str):
    """An HCL expression, written as is where a string would be quoted."""


def hcl_value(value: str) -> str:
    return value if isinstance(value, Expr) else hcl_string(value)


def _variables(config: Config, docker_dir: str) -> list[tuple[str, str, str]]:
    """(name, default, why) for every HCL variable, defaults from the configuration."""
    return [
        ("PREFIX", config.prefix, "Registry and namespace of every image."),
        ("TAG", config.tag, "Tag of the module images."),
        ("BASE_TAG", config.base_tag if config.base_tag_explicit else Expr("TAG"),
         "Tag of the base images (base-image, base-image-ipcl); follows TAG unless set."),
        ("FATE_DIR", config.fate_dir, "The FATE checkout the images are built from."),
        ("DOCKER_DIR", docker_dir,
         "The Dockerfile tree, relative to where bake runs."),
        ("FATE_VERSION", config.fate_version or "", "FATE version for the image labels (FATE= in fate.env)."),
        ("IPCL_PKG_DIR", config.ipcl_pkg_dir, "Local pailliercryptolib_python; empty fetches IPCL_VERSION."),
        ("IPCL_VERSION", config.ipcl_version, "pailliercryptolib_python git tag."),
        ("Build_LLM_VERSION", config.llm_version, "FATE-LLM git tag."),
        ("CACHE", config.cache, "Build cache: none, inline, registry, local:DIR or gha."),
    ]


def bake_variables(config: Config) -> dict[str, str]:
    """The variables' values for a run of this configuration, as environment for bake.

    Passed explicitly so that a stray TAG or PREFIX in the caller's environment cannot
    override what the configuration (with its own precedence rules) settled on.
    """
    values = {name: str(default) for name, default, _ in _variables(config, config.docker_dir)}
    values["BASE_TAG"] = config.base_tag
    return values


def _portable_path(path: str, bake_dir: Path) -> str:
    """Relative to the bake file when inside its folder, so a committed file works in any clone."""
    try:
        return Path(path).resolve().relative_to(bake_dir.resolve()).as_posix() or "."
    except ValueError:
        return path


def _source_expr(source: catalog.Source) -> str:
    if source.git:
        remote = hcl_string(source.git)[:-1] + '#${' + source.version_variable + '}"'
        if source.local_override:
            return f'{source.local_override} != "" ? {source.local_override} : {remote}'
        return remote
    if source.path:
        return '"${FATE_DIR}/' + hcl_string(source.path)[1:]
    return "FATE_DIR"


def _cache_from(image: Image) -> str:
    """The image's cache, then its ancestors'.

    A parent's steps can run inside the child's solve (BuildKit shares the vertex between
    the two builds), and a solve imports only the caches named in its own cache-from; so
    each target also reads its ancestors' caches, or a race decides whether they are hits.
    """
    calls = [f"cache_from({hcl_string(i.name)}, {i.tag_variable})" for i in (image, *catalog.ancestors(image))]
    return calls[0] if len(calls) == 1 else f"concat({', '.join(calls)})"


def _target(image: Image) -> dict:
    attrs = [
        Attr("inherits", '["_common"]'),
        Attr("context", '"${DOCKER_DIR}/' + hcl_string(catalog.family_of(image).dockerfile_dir)[1:]),
        Attr("tags", f"[image_ref({hcl_string(image.name)}, {image.tag_variable})]"),
        Attr("cache-from", _cache_from(image)),
        Attr("cache-to", f"cache_to({hcl_string(image.name)})"),
    ]
    args = []
    contexts = []
    if image.parent:
        parent = catalog.BY_NAME[image.parent]
        args = [Attr("BASE_IMAGE", hcl_string(parent.name)), Attr("BASE_TAG", parent.tag_variable)]
        contexts.append(Attr(f"(context_key({hcl_string(parent.name)}, {parent.tag_variable}))",
                             hcl_string(f"target:{parent.name}")))
    contexts += [Attr(hcl_string(s.name), _source_expr(s)) for s in catalog.sources_of(image)]
    labels = [
        Attr(hcl_string("org.opencontainers.image.title"), hcl_string(image.name)),
        Attr(hcl_string("org.opencontainers.image.description"), hcl_string(image.summary)),
    ]
    parent_text = f"FROM {image.parent}" if image.parent else f"FROM {image.external}"
    return {
        "name": image.name,
        "comment": f"{image.name}: {image.summary} ({parent_text}; Build_{', Build_'.join(image.flags)})",
        "attrs": aligned(attrs, 2),
        "args": aligned(args, 4),
        "contexts": aligned(contexts, 4),
        "labels": aligned(labels, 4),
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hcl"] = hcl_value
    env.filters["hcl_list"] = lambda items: "[" + ", ".join(hcl_string(i) for i in items) + "]"
    return env


def render(plan: Plan, bake_file: Path = DEFAULT_OUTPUT) -> str:
    """The full text of the bake file; the same plan always gives the same bytes."""
    config = plan.config
    flags = " ".join(f"Build_{f}={int(f in config.flags)}" for f in catalog.FLAGS)
    return _environment().get_template(TEMPLATE_NAME).render(
        settings=f"Platform={','.join(config.platforms)} PREFIX={config.prefix} "
        f"TAG={config.tag} BASE_TAG={config.base_tag}",
        flags=flags,
        variables=_variables(config, _portable_path(config.docker_dir, bake_file.parent)),
        platforms=[f"linux/{p}" for p in config.platforms],
        groups=plan.groups,
        targets=[_target(image) for image in plan.targets],
    )


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: readers see the old file or the new one."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
