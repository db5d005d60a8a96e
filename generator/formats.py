"""The plan shown to people and tools: a table, JSON, or the graph for Graphviz or Mermaid."""

from __future__ import annotations

import json
import shlex
from typing import Any

from . import catalog, merge, oci
from .plan import Plan, tag_rule
from .render import bake_variables, plan_waves

FORMATS = ("table", "json", "dot", "mermaid", "env", "matrix")


def plan_document(plan: Plan) -> dict[str, Any]:
    from . import inventory  # the Dockerfiles' reading, for this format only (render starts without it)

    config = plan.config
    cat = plan.catalog
    return {
        "fate": config.release.describe(),
        "line": config.release.line,
        "platforms": [f"linux/{p}" for p in config.platforms],
        "prefix": config.prefix,
        "tag": config.tag,
        "base_tag": config.base_tag,
        "fate_version": config.fate_version,
        # The images' creation time (SOURCE_DATE_EPOCH), as bake gets it.
        "source_date_epoch": int(bake_variables(config)["SOURCE_DATE_EPOCH"]),
        "flags": {catalog.flag_setting(f): f in config.flags for f in catalog.FLAGS},
        "images": [
            {
                "name": p.name,
                "role": p.role,
                "reference": p.reference,
                "tags": [p.reference] if p.role == "selected" else [],
                "platforms": [f"linux/{x}" for x in p.platforms],
                "parent": p.image.parent,
                "parent_reference": p.parent_reference,
                "context_key": p.parent_context_key,
                "dockerfile": str(cat.family_of(p.image).dockerfile_path(config.docker_dir)),
                "sources": [s.name for s in cat.sources_of(p.image)],
                "tag_rule": tag_rule(config, p.image),
                # What building this image (not its parents) fetches, and the setting that redirects each.
                "reaches": inventory.as_document(inventory.image_endpoints(p.image, config), config),
            }
            for p in plan.images
        ],
        "edges": [list(edge) for edge in plan.edges()],
        "warnings": list(plan.warnings),
    }


def as_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2) + "\n"


def as_table(plan: Plan) -> str:
    doc = plan_document(plan)
    header = ("IMAGE", "ROLE", "TAG", "PLATFORMS", "PARENT", "DOCKERFILE")
    rows = [
        (
            image["name"],
            image["role"],
            image["reference"] if image["tags"] else "(untagged)",
            ",".join(p.removeprefix("linux/") for p in image["platforms"]),
            image["parent"] or plan.catalog.by_name[image["name"]].external or "",
            image["dockerfile"],
        )
        for image in doc["images"]
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"{doc['fate']}: the {doc['line']} catalog", ""]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    selected, deps = len(plan.selected), len(plan.dependencies)
    lines.append("")
    lines.append(f"{selected} image(s) selected, {deps} built only as a dependency; "
                 f"platforms {', '.join(doc['platforms'])}")
    from datetime import datetime, timezone

    created = datetime.fromtimestamp(doc["source_date_epoch"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines.append(f"created {created} (SOURCE_DATE_EPOCH={doc['source_date_epoch']})")
    lines += oci.describe(plan.config)
    lines.append("")
    lines.append("Graph (parent -> child):")
    lines += [f"  {parent} -> {child}" for parent, child in doc["edges"]]
    lines += ["", "Tag rule:"] + [f"  {image['name']}: {image['tag_rule']}" for image in doc["images"]]
    return "\n".join(lines) + "\n"


def as_dot(plan: Plan) -> str:
    lines = ["digraph fate_images {", "  rankdir=LR;", "  node [shape=box];"]
    for p in plan.images:
        style = "" if p.role == "selected" else ", style=dashed"
        lines.append(f'  "{p.name}" [label="{p.name}\\n{p.tag}"{style}];')
    lines += [f'  "{parent}" -> "{child}";' for parent, child in plan.edges()]
    lines.append("}")
    return "\n".join(lines) + "\n"


def as_mermaid(plan: Plan) -> str:
    def node(name: str) -> str:
        return name.replace("-", "_")

    lines = ["graph LR"]
    for p in plan.images:
        shape = f'["{p.name}:{p.tag}"]' if p.role == "selected" else f'("{p.name} (dependency)")'
        lines.append(f"  {node(p.name)}{shape}")
    lines += [f"  {node(parent)} --> {node(child)}" for parent, child in plan.edges()]
    return "\n".join(lines) + "\n"


def as_env(plan: Plan) -> str:
    """The bake variables `fate-builder bake` passes, for plain `docker buildx bake` (`eval` them); with a build
    cache to import, also how plain bake gets every step of it on an empty builder (`plain_bake_waves`)."""
    exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in bake_variables(plan.config).items())
    return exports + plain_bake_waves(plan)


def plain_bake_waves(plan: Plan) -> str:
    """The wave groups in order (FATE_BUILDER_WAVES) and the commands, as comments after every export (so that an
    unquoted `eval $(...)`, which joins the lines, still exports them all)."""
    if not plan.config.cache.external or len(plan.images) < 2:
        return ""
    groups = [f"wave-{n}" for n in range(1, len(plan_waves(plan)) + 1)]
    lines = [
        f"export FATE_BUILDER_WAVES={shlex.quote(' '.join(groups))}",
        f"# CACHE={plan.config.cache}: plain `docker buildx bake` takes every step the cache holds on an empty",
        "# builder wave by wave, each wave after the one before has finished, every later one on the images",
        "# the earlier ones pushed: PARENTS=image (docs/caching.md).",
        f"#   docker buildx bake --allow fs.read=\"$FATE_DIR\" --push {groups[0]}",
        *(f"#   PARENTS=image docker buildx bake --allow fs.read=\"$FATE_DIR\" --push {g}" for g in groups[1:]),
        "# fate-builder bake does it without the waits between waves: each image once its own parent is built.",
    ]
    return "\n".join(lines) + "\n"


def format_plan(plan: Plan, fmt: str) -> str:
    return {"table": as_table, "json": as_json, "dot": as_dot, "mermaid": as_mermaid, "env": as_env,
            "matrix": as_matrix}[fmt](plan)


def as_matrix(plan: Plan) -> str:
    """One line of JSON: the per-platform jobs of a GitHub Actions matrix (`strategy.matrix: ${{ fromJSON(...) }}`)."""
    return json.dumps(merge.matrix(plan), separators=(",", ":")) + "\n"
