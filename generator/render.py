"""Rendering: a Plan into the text of docker-bake.hcl, and writing that text safely."""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path

import jinja2

from . import caches, catalog, oci, waves
from .config import DEFAULT_SBOM_SCANNER, Config
from .network import network_file
from .package import shipped_dir
from .plan import (
    ContextKey,
    Fallback,
    ImageName,
    ParentLink,
    Plan,
    Target,
    Value,
    Var,
    build_plan,
    catalog_of,
    release_facts,
    tag_values,
)

TEMPLATES = shipped_dir("templates")
TEMPLATE_NAME = "docker-bake.hcl.j2"
# The committed file, in the directory fate-builder runs in (the checkout, for `make`).
DEFAULT_OUTPUT = Path("docker-bake.hcl")
# Where `bake` renders a selection the committed file does not have (git-ignored).
PERSONAL_OUTPUT = Path(".fate-builder") / "docker-bake.hcl"
UPSTREAM_GITHUB = "https://github.com"


def hcl_string(value: str) -> str:
    """A quoted HCL string literal that evaluates to exactly `value`."""
    return f'"{_escape(value)}"'


def _escape(value: str) -> str:
    """`value` as the inside of an HCL string literal.

    Besides the JSON-style escapes, HCL templates treat `${` and `%{` as the start of an
    interpolation or directive; doubling the sigil makes them literal.
    """
    return value.translate(_ESCAPES).replace("${", "$${").replace("%{", "%%{")


# Control characters as \uXXXX, and the JSON-style short escapes.
_ESCAPES = {code: f"\\u{code:04x}" for code in (*range(0x20), 0x7F)} | {
    ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


def hcl_expr(value: Value) -> str:
    """The HCL expression of a plan value: a string, a variable, text with variables, a fallback."""
    if isinstance(value, str):
        return hcl_string(value)
    if isinstance(value, Var):
        return value.name
    if isinstance(value, ParentLink):
        return f"parent_link({hcl_string(value.parent.name)}, {value.parent.tag.name})"
    if isinstance(value, Fallback):
        return f'{value.variable.name} != "" ? {value.variable.name} : {hcl_expr(value.otherwise)}'
    if len(value) == 1 and isinstance(value[0], Var):
        return value[0].name
    # Literal pieces are escaped whole, then the variables are spliced in as interpolations.
    return '"' + "".join(
        "${" + part.name + "}" if isinstance(part, Var) else _escape(part) for part in value
    ) + '"'


def hcl_key(key: ContextKey, bare: bool = False) -> str:
    """An object key: quoted, or bare (build args); a parent's context key is computed in HCL."""
    if isinstance(key, ImageName):
        return f"(context_key({hcl_string(key.name)}, {key.tag.name}))"
    return key if bare and key.isidentifier() else hcl_string(key)


def _image_ref(name: ImageName) -> str:
    return f"image_ref({hcl_string(name.name)}, {name.tag.name})"


def _cache_from(name: ImageName) -> str:
    return f"cache_from({hcl_string(name.name)}, {name.tag.name})"


def _variables(config: Config, docker_dir: str) -> list[tuple[str, str | Var, str]]:
    """(name, default, why) for every HCL variable, defaults from the configuration.

    FATE_VERSION is left empty: it is read from the machine's FATE checkout, which the
    committed file must not depend on; `fate-builder bake` passes it.
    """
    return [*_common_variables(config, docker_dir), *_line_variables(config)]


def _common_variables(config: Config, docker_dir: str) -> list[tuple[str, str | Var, str]]:
    return [
        ("PREFIX", config.prefix, "Registry and namespace of every image."),
        ("TAG", config.tag, "Tag of the module images."),
        ("BASE_TAG", config.base_tag if config.base_tag_explicit else Var("TAG"),
         "Tag of the base images (base-image, base-image-ipcl); follows TAG unless set."),
        ("FATE_DIR", config.fate_dir, "The FATE checkout the images are built from."),
        ("DOCKER_DIR", docker_dir,
         "The Dockerfile tree, relative to where bake runs."),
        ("FATE_VERSION", "", "FATE version for the image labels (FATE= in fate.env; fate-builder bake sets it)."),
        ("IPCL_PKG_DIR", config.ipcl_pkg_dir, "Local pailliercryptolib_python; empty fetches IPCL_VERSION."),
        ("IPCL_VERSION", config.ipcl_version, "pailliercryptolib_python git tag."),
        ("Build_LLM_VERSION", config.llm_version, "FATE-LLM git tag."),
        ("CACHE", config.cache.setting, f"Build cache: {caches.spelled()}."),
        ("PARENTS", "target", "How a child gets its parent: target (built in the child's build) or image "
         "(the image a previous wave built; see the wave groups)."),
        ("SOURCE_DATE_EPOCH", "0", "The images' creation time, seconds since 1970: fate-builder bake (and "
         "`plan --format env`) passes FATE_DIR's commit time. 0 (1970) when plain bake is not told, as the one "
         "value that is the same on every machine: a date of the build would give each run its own digests, "
         "and the steps after each WORKDIR new cache keys (BuildKit stamps that directory with it)."),
        *_network_variables(config),
        *_oci_variables(config),
    ]


def _oci_variables(config: Config) -> list[tuple[str, str | Var, str]]:
    """What the images' labels and annotations say, and what RELEASE=1 attests (generator.oci)."""
    return [
        ("FATE_REPOSITORY", config.fate_repository, "FATE's repository: the images' org.opencontainers.image.source."),
        ("FATE_REVISION", "", "The FATE commit built: org.opencontainers.image.revision "
         "(fate-builder bake sets FATE_DIR's git HEAD; empty: no such label)."),
        ("RELEASE", "1" if config.release_mode else "0", "1: every image made attests a provenance (mode=max) and "
         "an SBOM, and its index carries the annotations too (docs/release.md)."),
        ("SBOM_SCANNER", "", "The image BuildKit runs to make an SBOM with RELEASE=1 (empty: "
         f"${{IMAGE_MIRROR}}/{DEFAULT_SBOM_SCANNER}); none: no SBOM."),
        ("PLATFORM_ONLY", "", "One platform alone (linux/arm64) instead of the file's: a machine's part of a "
         "multi-platform image, merged by `fate-builder merge` (docs/release.md)."),
        ("BUILD_ONLY", ",".join(build_plan(config).dependencies), "The parents built only for the images asked for, "
         "comma-separated: never exported, so RELEASE=1 attests none of them (fate-builder bake sets them for "
         "each bake; the default is the `default` group's)."),
    ]


def _network_variables(config: Config) -> list[tuple[str, str | Var, str]]:
    """Where the build reaches the network (docs/mirrors.md); the committed file
    holds upstream, fate-builder bake passes what the settings say."""
    return [
        ("IMAGE_MIRROR", config.image_mirror, "Registry prefix of every external base image (docker.io: Docker Hub)."),
        ("GITHUB_URL", UPSTREAM_GITHUB, "GitHub, or a mirror of it, for the git sources (FATE-LLM, IPCL)."),
        ("FATE_BUILDER_NETWORK", "", "The `network` secret: `export NAME='value'` lines of mirrors and proxies "
         "the steps source (fate-builder bake sets it)."),
        ("CA_BUNDLE", "", "PEM file of the CAs every step trusts, mounted as the `ca` secret."),
        ("MAVEN_SETTINGS", "", "A settings.xml of one's own for the Maven steps, the `maven-settings` secret."),
    ]


def _line_variables(config: Config) -> list[tuple[str, str | Var, str]]:
    """The variables only some lines have: component tags and per-release facts (none on 1.x)."""
    cat = catalog_of(config)
    tags = tag_values(config)
    out: list[tuple[str, str | Var, str]] = [
        (name, tags[name], f"Tag of the {name.removesuffix('_TAG').lower()} image: TAG with its own version "
                           "where the release's deployment names it so (fate-builder bake sets it).")
        for name in cat.tag_variables
    ]
    facts = release_facts(config)
    helps = dict(cat.fact_help)
    out += [(name, facts.get(name) if facts else "", helps.get(name, name)) for name in cat.fact_names]
    return out


def bake_variables(config: Config) -> dict[str, str]:
    """The variables' values for a run of this configuration, as environment for bake.

    Passed explicitly so that a stray TAG or PREFIX in the caller's environment cannot
    override what the configuration (with its own precedence rules) settled on.
    """
    values = {name: default if isinstance(default, str) else "" for name, default, _ in
              _variables(config, config.docker_dir)}
    values["BASE_TAG"] = config.base_tag
    values.update({name: value for name, value in tag_values(config).items() if name in values})
    values["FATE_VERSION"] = config.fate_version or ""
    values["GITHUB_URL"] = dict(config.network).get("GITHUB_URL", UPSTREAM_GITHUB)
    values["FATE_BUILDER_NETWORK"] = network_file(config)
    values["CA_BUNDLE"] = config.ca_bundle
    values["MAVEN_SETTINGS"] = config.maven_settings
    values["SOURCE_DATE_EPOCH"] = config.source_date_epoch or values["SOURCE_DATE_EPOCH"]
    values["SBOM_SCANNER"] = config.sbom_scanner
    values["FATE_REVISION"] = config.fate_revision
    oci.check(config)
    if config.fate_version:
        # buildx also reads ./.env, as a compose dotenv file: FATE-Builder's `TAG=${version}-release`
        # there warned twice on every bake. `version` is the one variable fate-builder's own .env
        # grammar adds (from fate.env); the others are in the environment bake inherits.
        values["version"] = config.fate_version
    return values


def structural_differences(config: Config, committed: Config) -> list[str]:
    """Settings of `config` that need another bake file than `committed`'s, as NAME=value.

    Only the selection and the platforms shape the file; everything else is a variable.
    """
    changed = [f"{catalog.flag_setting(flag)}={int(flag in config.flags)}" for flag in catalog.FLAGS
               if (flag in config.flags) != (flag in committed.flags)]
    if config.platforms != committed.platforms:
        changed.append(f"Platform={','.join(config.platforms)}")
    if config.release.line != committed.release.line:
        changed.append(f"FATE_LINE={config.release.line}")
    return changed


def _portable_path(path: str, bake_dir: Path) -> str:
    """Relative to the bake file when inside its folder, so a committed file works in any clone."""
    try:
        return Path(path).resolve().relative_to(bake_dir.resolve()).as_posix() or "."
    except ValueError:
        return path


def _common_dockerfile(targets: tuple[Target, ...]) -> str:
    """Every family's Dockerfile has the same name, so `_common` states it once."""
    names = {t.dockerfile for t in targets}
    if len(names) != 1:
        raise ValueError(f"catalog: families use different Dockerfile names {sorted(names)}; "
                         "the template sets one in _common")
    return names.pop()


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """The template's compiled code kept between runs, as .pyc files keep a module's: compiling it is a fifth of
    `render`. Jinja's default folder (the user's own, mode 0700, in the temporary directory), keyed by the
    template source's checksum; a cache that cannot be written is no cache."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _template_cache() -> jinja2.BytecodeCache | None:
    try:
        return _TemplateCache()
    except (OSError, RuntimeError):  # no private temporary folder to be had
        return None


@cache
def _environment() -> jinja2.Environment:
    """One environment per process: the template is compiled (or read from the cache) once."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        bytecode_cache=_template_cache(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hcl"] = hcl_expr
    env.filters["hcl_key"] = hcl_key
    env.filters["hcl_list"] = lambda items: "[" + ", ".join(hcl_string(i) for i in items) + "]"
    env.filters["image_ref"] = _image_ref
    env.filters["cache_from"] = _cache_from
    return env


def plan_waves(plan: Plan, steps: waves.Steps | None = None) -> tuple[tuple[str, ...], ...]:
    """The waves of the configured selection and its parents; `steps` read from its Dockerfiles unless given."""
    images = [p.image for p in plan.images]
    if steps is None:
        steps = waves.dockerfile_steps(plan.config.docker_dir, images, plan.catalog)
    return waves.schedule([i.name for i in images], {i.name: i.parent for i in images}, steps)


def render(plan: Plan, bake_file: Path = DEFAULT_OUTPUT, steps: waves.Steps | None = None) -> str:
    """The full text of the bake file; the same plan (and Dockerfiles) always give the same bytes."""
    config = plan.config
    flags = " ".join(f"{catalog.flag_setting(f)}={int(f in config.flags)}" for f in catalog.FLAGS)
    return _environment().get_template(TEMPLATE_NAME).render(
        settings=f"Platform={','.join(config.platforms)} PREFIX={config.prefix} "
        f"TAG={config.tag} BASE_TAG={config.base_tag}",
        flags=flags,
        variables=_variables(config, _portable_path(config.docker_dir, bake_file.parent)),
        platforms=[f"linux/{p}" for p in config.platforms],
        dockerfile=_common_dockerfile(plan.bake_targets),
        groups=plan.groups,
        waves=plan_waves(plan, steps),
        targets=plan.bake_targets,
        cache_kinds=caches.hcl_rows(),
        bases=_bases(plan),
        multi_platform=len(config.platforms) > 1,
    )


def _bases(plan: Plan) -> dict[str, tuple[str, str]]:
    """Each target's base.name (an HCL expression) and base.digest ("" where unknown), for its labels."""
    out = {}
    for image in plan.targets:
        if image.parent is not None:
            parent = plan.catalog.by_name[image.parent]
            out[image.name] = (_image_ref(ImageName(parent.name, Var(parent.tag_variable))), "")
            continue
        name = oci.external_base(plan.config, image, plan.catalog)
        out[image.name] = (hcl_expr(name) if name else '""', oci.base_digest(name))
    return out


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
