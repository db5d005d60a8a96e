"""What a deployment file pulls, against what this configuration builds (`plan --deployment FILE`).

A site runs FATE from a Docker Compose file (KubeFATE's docker-deploy, FATE's own compose) that
names each image as `"${FATEFlow_IMAGE}:${FATEFlow_IMAGE_TAG}"`, the values in the env file
beside it. Every image it pulls that fate-builder does not build here under the same name and
tag is pulled from Docker Hub when the site is online, and is missing when it is not: KubeFATE
v2.0.0 pulls `client` and (Spark party) `nginx`, which fate-builder builds for FATE 1.x only;
FATE's 2.2 compose pulls eggroll 3.2.0 and fateboard 2.1.1, versions FATE v2.2.0's tree does
not hold. Each image gets one line: built here, or what the site must add to its registry (or
which setting makes fate-builder build it).

Pure: compose text and mappings in, rows out; `read_deployment` is the one file reader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from . import catalog
from .errors import ConfigError
from .plan import Plan

# Where Compose finds its variables beside the file: `.env`; KubeFATE's copy in tests/data is `env`.
ENV_FILES = (".env", "env")
_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Pulled:
    """One image a deployment pulls: the services that run it, as written and as resolved."""

    services: tuple[str, ...]
    written: str
    reference: str
    unset: tuple[str, ...]  # variables the file uses that neither the env file nor the environment sets

    @property
    def repository(self) -> str:
        name, _, tag = self.reference.rpartition(":")
        return name if name and "/" not in tag else self.reference

    @property
    def tag(self) -> str:
        return self.reference[len(self.repository) + 1:] or "latest"

    @property
    def name(self) -> str:
        return self.repository.rsplit("/", 1)[-1]

    def variable(self, part: str) -> str | None:
        """The variable that gives the repository ("repository": the last one before the tag's
        colon, `OSX_IMAGE` of `${RegistryURI}${OSX_IMAGE}:...`) or the tag ("tag"), if any."""
        depth, colon = 0, -1
        for i, char in enumerate(self.written):
            depth += {"{": 1, "}": -1}.get(char, 0)
            colon = i if char == ":" and depth == 0 else colon
        head, tail = (self.written[:colon], self.written[colon + 1:]) if colon >= 0 else (self.written, "")
        names = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", tail if part == "tag" else head)
        return names[-1] if names else None


@dataclass(frozen=True)
class Row:
    pulled: Pulled
    built: bool
    advice: str  # "" when built here; else the one line saying what the site must do

    def document(self) -> dict[str, Any]:
        return {"services": list(self.pulled.services), "image": self.pulled.written,
                "reference": self.pulled.reference, "built": self.built, "unset": list(self.pulled.unset),
                "advice": self.advice}


def compose_images(text: str) -> list[tuple[str, str]]:
    """(service, image as written) for each service with an `image:`, in file order.

    Compose files are block YAML: `services:` at the top level, one mapping per service one
    level in, its keys one level further. Read line by line (no YAML library at run time).
    """
    found: list[tuple[str, str]] = []
    in_services, service_indent, key_indent, service = False, -1, -1, ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        if indent == 0:
            in_services, service_indent, key_indent = stripped.split("#")[0].strip() == "services:", -1, -1
            continue
        if not in_services:
            continue
        if service_indent < 0 or indent <= service_indent:
            service_indent, key_indent, service = indent, -1, stripped.split(":", 1)[0].strip("'\"")
            continue
        key_indent = indent if key_indent < 0 else key_indent
        key, _, value = stripped.partition(":")
        if indent == key_indent and key.strip() == "image":
            found.append((service, _scalar(value)))
    return found


def _scalar(value: str) -> str:
    value = value.strip()
    if value[:1] in ("'", '"'):
        return value[1:value.index(value[0], 1)]
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def interpolate(value: str, env: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """Compose's substitution: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err};
    an unset variable is empty (as Compose makes it) and named in the second item."""
    unset: list[str] = []

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, word = m.group(1) or m.group(4), m.group(2) or "", m.group(3) or ""
        value = env.get(name)
        if op in (":-", "-") and (value is None or (op == ":-" and not value)):
            return word
        if value is None:
            unset.append(name)
        return value or ""

    return _VAR.sub(sub, value), tuple(dict.fromkeys(unset))


def pulled_images(text: str, env: Mapping[str, str]) -> tuple[Pulled, ...]:
    """The images a compose file pulls under `env`, one per reference, with the services that run it."""
    services: dict[tuple[str, str], list[str]] = {}
    for service, written in compose_images(text):
        services.setdefault((written, interpolate(written, env)[0]), []).append(service)
    return tuple(Pulled(tuple(names), written, reference, interpolate(written, env)[1])
                 for (written, reference), names in services.items())


def _other_line(name: str, line: str) -> str | None:
    return next((other for other, cat in catalog.CATALOGS.items() if other != line and name in cat.by_name), None)


def _not_selected(plan: Plan, image: catalog.Image) -> str:
    if image not in plan.targets:
        return (f"fate-builder has no {image.name} for this release and Platform "
                f"({plan.config.release.version or plan.config.release.line}, {','.join(plan.config.platforms)})")
    flags = [f for f in image.flags if f not in plan.config.flags]
    return " ".join(f"{catalog.flag_setting(f)}=1" for f in flags) + " builds it" if flags else \
        "built only as a parent here (not tagged): select it with its Build_* flag"


def _tag_advice(plan: Plan, pulled: Pulled, image: catalog.Image, built: str) -> str:
    built_tag = built.rsplit(":", 1)[1]
    var = pulled.variable("tag")
    instead = f", or set {var}={built_tag} in its env to run the one built here" if var else ""
    version = pulled.tag.split("-", 1)[0]
    if image.component:
        how = f"fate-builder tags {image.name} with the {image.component} version of FATE_DIR's tree " \
              f"({built_tag}): FATE_DIR at a FATE release with {image.component} {version} builds it"
    else:
        how = f"TAG={pulled.tag} (FATE_DIR at FATE {version}) builds it"
    return f"this configuration builds {built}: add {pulled.reference} to the registry ({how}){instead}"


def _name_advice(pulled: Pulled, prefix: str, built: str) -> str:
    var = pulled.variable("repository")
    instead = f"set {var}={prefix}/{pulled.name} in its env, or " if var else ""
    tag = f" TAG={pulled.tag}" if built.rsplit(":", 1)[1] != pulled.tag else ""
    return (f"built here as {built}: {instead}PREFIX={pulled.repository[:-len(pulled.name) - 1]}{tag} "
            "builds it under the name the deployment pulls")


def compare(pulled: tuple[Pulled, ...], plan: Plan) -> tuple[Row, ...]:
    """Each pulled image: built here under that reference, or the one thing to do about it."""
    prefix = plan.config.prefix
    selected = {p.name: p.reference for p in plan.images if p.role == "selected"}
    cat = plan.catalog
    rows = []
    for item in pulled:
        if item.unset:
            advice = (f"{', '.join(item.unset)} not set: write {'them' if len(item.unset) > 1 else 'it'} "
                      "into the .env beside the file (or the environment), as the deployment will have it")
            rows.append(Row(item, False, advice))
            continue
        built = selected.get(item.name)
        image = cat.by_name.get(item.name)
        if built == item.reference:
            rows.append(Row(item, True, ""))
        elif built and image and item.repository == f"{prefix}/{item.name}":
            rows.append(Row(item, False, _tag_advice(plan, item, image, built)))
        elif built:
            rows.append(Row(item, False, _name_advice(item, prefix, built)))
        elif image:
            rows.append(Row(item, False, f"not built by this configuration: {_not_selected(plan, image)}"))
        elif other := _other_line(item.name, plan.config.release.line):
            rows.append(Row(item, False, f"fate-builder builds {item.name} for FATE {other} only: add "
                                         f"{item.reference} to the registry (a copy of the published image)"))
        else:
            rows.append(Row(item, False, f"not an image fate-builder builds: add {item.reference} to the "
                                         "registry (a copy of the published image)"))
    return tuple(rows)


@dataclass(frozen=True)
class Deployment:
    path: Path
    env_file: Path | None
    pulled: tuple[Pulled, ...]


def read_deployment(path: Path, environ: Mapping[str, str]) -> Deployment:
    """The compose file and the env file beside it; the environment wins, as with Compose."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--deployment {path}: cannot read it ({exc.strerror}); give a Docker Compose file") from None
    env_file = next((path.parent / name for name in ENV_FILES if (path.parent / name).is_file()), None)
    values = {k: v or "" for k, v in dotenv_values(env_file).items()} if env_file else {}
    names = {m.group(1) or m.group(4) for m in _VAR.finditer(text) if m.group(0) != "$$"}
    env = {**values, **{k: v for k, v in environ.items() if k in names}}
    pulled = pulled_images(text, env)
    if not pulled:
        raise ConfigError(f"--deployment {path}: no service with an image: in it; give a Docker Compose file")
    return Deployment(path, env_file, pulled)


def as_text(deployment: Deployment, rows: tuple[Row, ...]) -> str:
    source = f"variables from {deployment.env_file}" if deployment.env_file else "no env file beside it"
    built = sum(row.built for row in rows)
    lines = [f"Deployment {deployment.path} ({source}): {len(rows)} image(s) pulled, {built} built here", ""]
    shown = [row.pulled.written if row.pulled.unset else row.pulled.reference for row in rows]
    width = max(len(text) for text in shown)
    for row, text in zip(rows, shown):
        lines.append(f"  {text:<{width}}  {'built here' if row.built else 'NOT BUILT'}  "
                     f"({', '.join(row.pulled.services)})")
        if row.advice:
            lines.append(f"  {'':<{width}}  -> {row.advice}")
    return "\n".join(lines) + "\n"


def add_to(shown: str, fmt: str, deployment: Deployment, rows: tuple[Row, ...]) -> str:
    """The plan as `fmt` shows it, with the deployment's rows: a section of the table, a key of the JSON."""
    if fmt == "table":
        return shown + "\n" + as_text(deployment, rows)
    if fmt == "json":
        document = json.loads(shown)
        document["deployment"] = {"file": str(deployment.path),
                                  "env_file": str(deployment.env_file) if deployment.env_file else None,
                                  "images": [row.document() for row in rows]}
        return json.dumps(document, indent=2) + "\n"
    raise ConfigError(f"--deployment shows with --format table or json, not {fmt}")
