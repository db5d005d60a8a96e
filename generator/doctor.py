"""Preflight checks: each a pass/fail line with the fix, judged from gathered facts.

`bake` runs the same checks first, so a missing QEMU or a stopped daemon is one clear
line instead of a long BuildKit error halfway through a build.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from . import entitlements, waves
from .config import BakeOptions
from .engine import EngineFacts, version_at_least, version_tuple
from .plan import Plan
from .release import MARKERS

# Named contexts (`target:` links, extra contexts) arrived in buildx 0.8 with BuildKit 0.10
# (Docker 23 ships a newer one built in).
MIN_BUILDX = (0, 8)
# The release the FATE_DIR fix suggests cloning, per line.
CLONE_TAG = {"1.x": "v1.11.2", "2.x": "v2.2.0"}
MIN_SERVER = (23, 0)
QEMU_FIX = (
    "install QEMU binfmt handlers: `apt-get install qemu-user-static` (Debian/Ubuntu) or "
    "`docker run --privileged --rm tonistiigi/binfmt --install arm64`, or add a native arm64 node "
    "(`docker buildx create --append --name <builder> ssh://arm64-host`)"
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    # A failed check that does not stop a build (it only limits what the build can do).
    warning: bool = False

    def lines(self) -> list[str]:
        mark = "ok" if self.ok else ("warn" if self.warning else "FAIL")
        out = [f"[{mark:>4}] {self.name}: {self.detail}"]
        if not self.ok and self.fix:
            out.append(f"       fix: {self.fix}")
        return out


def engine_checks(facts: EngineFacts, plan: Plan, *, load: bool = False, push: bool = False) -> list[Check]:
    """The docker CLI, the daemon, buildx, the builder and its platforms, the image store; each stops the rest
    when what follows cannot be judged without it."""
    checks = _client_checks(facts)
    if not checks[-1].ok or not facts.builder_checked:
        return checks
    if facts.builder_error is not None:
        return [*checks, Check("builder", False, facts.builder_error,
                               "create or select a builder: `docker buildx ls`, `docker buildx use default`")]
    return [*checks, _platform_check(facts, plan), *_node_checks(facts),
            _store_check(facts, plan, load=load, push=push)]


def _client_checks(facts: EngineFacts) -> list[Check]:
    """The docker CLI, the daemon, buildx: the last check is the one that stops the rest, if any."""
    if facts.cli is None:
        return [Check("docker CLI", False, "not found on PATH",
                      "install Docker (Debian 13: `apt-get install docker.io docker-buildx`; "
                      "this project: `make engine`)")]
    checks = [Check("docker CLI", True, facts.cli)]
    if facts.server_error is not None:
        return [*checks, Check("Docker daemon", False, f"not reachable: {facts.server_error}",
                               "start the daemon (`systemctl start docker`, or `make engine` here) or point "
                               "DOCKER_HOST / `docker context use` at a running one")]
    server_ok = version_at_least(facts.server_version, MIN_SERVER)
    checks.append(Check("Docker daemon", server_ok, f"Docker Engine {facts.server_version}",
                        "upgrade to Docker Engine 23 or newer (BuildKit with named-context support)"))
    checks.append(Check(
        "buildx", version_at_least(facts.buildx_version, MIN_BUILDX),
        facts.buildx_version or "not installed",
        "install buildx 0.8 or newer (Debian: `apt-get install docker-buildx`; or put the docker-buildx "
        "binary in ~/.docker/cli-plugins/); named contexts need buildx 0.8+ and BuildKit 0.10+",
    ))
    return checks


def _platform_check(facts: EngineFacts, plan: Plan) -> Check:
    wanted = {f"linux/{p}" for p in plan.config.platforms}
    missing = sorted(wanted - set(facts.builder_platforms))
    return Check(
        f"builder {facts.builder_name} ({facts.builder_driver}) platforms",
        not missing,
        f"supports {', '.join(sorted(wanted & set(facts.builder_platforms))) or 'none requested'}"
        + (f"; missing {', '.join(missing)}" if missing else ""),
        QEMU_FIX if any(p.endswith("arm64") for p in missing) else "use a builder with a node for that platform",
    )


def _node_checks(facts: EngineFacts) -> list[Check]:
    """Each node of the builder and the platforms it builds natively or under QEMU (information: a builder with one
    node per platform builds each on its own machine; the platform check above judges them together)."""
    return [Check(f"builder {facts.builder_name} node {node.name}", True,
                  (", ".join(node.platforms) or "no platforms reported")
                  + (f" ({node.status})" if node.status not in (None, "running") else ""))
            for node in facts.builder_nodes]


def _store_check(facts: EngineFacts, plan: Plan, *, load: bool, push: bool) -> Check:
    """The classic image store cannot load multi-platform images or export a cache (on the docker driver)."""
    config = plan.config
    multi = len(config.platforms) > 1
    store_ok = facts.builder_driver != "docker" or facts.containerd_store
    needs_store = (multi and (load or not push)) or config.cache.external
    what = []
    if multi:
        what.append("loading multi-platform images")
    if config.cache.external:
        what.append(f"exporting cache (CACHE={config.cache})")
    detail = (
        "containerd image store" if facts.containerd_store else "classic image store"
    ) + f", {facts.builder_driver} driver"
    return Check(
        "image store", store_ok or not needs_store,
        detail + (f"; needed for {' and '.join(what)}" if what else ""),
        "enable the containerd image store (`{\"features\": {\"containerd-snapshotter\": true}}` in "
        "/etc/docker/daemon.json, then restart dockerd) or use a docker-container builder "
        "(`docker buildx create --use --driver docker-container`)",
        warning=not needs_store,
    )


def entitlement_check(facts: EngineFacts, plan: Plan, cwd: str) -> Check:
    """Which `--allow` grants bake needs here, and that fate-builder passes them (information, never a failure)."""
    buildx = version_tuple(facts.buildx_version)
    shown = ".".join(map(str, buildx)) if buildx else "of unknown version"
    if not entitlements.knows_fs_grants(buildx):
        since = ".".join(map(str, entitlements.FS_ENFORCED_SINCE))
        return Check("entitlements", True, f"buildx {shown} does not check bake's filesystem access "
                                           f"(buildx {since}+ does); nothing to grant")
    access = entitlements.bake_access(plan.config, [p.image.name for p in plan.images], plan.config.bake_options.set)
    grants = entitlements.grants(access, cwd, buildx)
    how = "refuses" if entitlements.enforces_fs_grants(buildx) else "warns about"
    detail = f"buildx {shown} {how} bake access outside the working directory ({cwd}) unless granted; "
    if not grants:
        return Check("entitlements", True, detail + "everything this bake touches is inside it, nothing to grant")
    flags = " ".join(f"--allow {shlex.quote(g)}" for g in grants)
    return Check("entitlements", True,
                 detail + f"fate-builder bake grants it; plain bake needs `docker buildx bake {flags}`")


def source_checks(plan: Plan) -> list[Check]:
    """FATE_DIR holds what the planned images copy; the Dockerfile tree has their families."""
    config = plan.config
    checks = []
    fate = Path(config.fate_dir)
    cat = plan.catalog
    needed = sorted({s.path for p in plan.images for s in cat.sources_of(p.image) if s.path is not None})
    missing = [path for path in needed if path and not (fate / path).is_dir()]
    marker = MARKERS[config.release.line]
    has_env = (fate / marker).is_file()
    ok = has_env and not missing
    problems = ([] if has_env else [f"no {marker}"]) + [f"no {m}/" for m in missing]
    if not fate.is_dir():
        problems = ["no such directory"]
    checks.append(Check(
        "FATE_DIR", ok,
        f"{config.fate_dir}: {config.release.describe()}" if ok else f"{config.fate_dir}: {', '.join(problems)}",
        "set FATE_DIR to a FATE checkout with its submodules "
        f"(`git clone --recursive -b {CLONE_TAG[config.release.line]} https://github.com/FederatedAI/FATE.git`)",
    ))
    families = sorted({p.image.family for p in plan.images})
    absent = [f for f in families if not Path(config.docker_dir, f, "Dockerfile").is_file()]
    checks.append(Check(
        "Dockerfiles", not absent,
        f"{config.docker_dir}: " + (f"missing {', '.join(f + '/Dockerfile' for f in absent)}" if absent
                                    else f"{len(families)} families"),
        "point --docker-dir / DOCKER_DIR at a tree with the same layout as docker/",
    ))
    git_sources = sorted({s.name for p in plan.images for s in cat.sources_of(p.image)
                          if s.git and not (s.local_override and config.ipcl_pkg_dir)})
    if git_sources:
        checks.append(Check("git sources", True, f"{', '.join(git_sources)} fetched by BuildKit (needs network)"))
    return checks


def cache_checks(plan: Plan, facts: EngineFacts | None = None, options: BakeOptions | None = None) -> list[Check]:
    """What an imported build cache will answer for: with the pipeline, every step it holds.

    One bake of a family finds only the roots' steps after a prune (moby/buildkit#4674 and a
    child's parent image changing digest: generator.waves); `bake` therefore bakes each image
    once its parent is built, on its parent's image. That needs the parent where the child's
    build finds it: pushed, or loaded into the image store of the default (docker driver) builder.
    """
    cache = plan.config.cache
    if not cache.external or len(plan.images) < 2:
        return []
    images = [p.image for p in plan.images]
    names, parents = [i.name for i in images], {i.name: i.parent for i in images}
    steps = waves.dockerfile_steps(plan.config.docker_dir, images, plan.catalog)
    count = len(waves.schedule(names, parents, steps))
    checks = [Check("build cache", True,
                    f"CACHE={cache}: each of the {len(images)} images baked as soon as its parent is built, on its "
                    "parent's image, so an empty builder takes every step the cache holds; plain "
                    f"`docker buildx bake`: the groups wave-1 to wave-{count}, one after another, PARENTS=image "
                    f"from wave-2 on; {_CACHE_EVIDENCE[cache.kind]}")]
    driver = facts.builder_driver if facts is not None else None
    if driver not in (None, "docker") and not (options is not None and options.push):
        checks.append(Check(
            "build cache", False,
            f"the {driver} builder cannot see the image store: without --push each child is built on its parent's "
            "target again, and after a prune some steps the cache holds run again (moby/buildkit#4674)",
            "bake with --push, or with the default builder (docker driver)", warning=True))
    if options is not None and options.provenance not in (None, "false", "0"):
        checks.append(Check(
            "build cache", False,
            "--provenance gives every parent image another digest in every run, and its children other cache keys",
            "leave provenance to the images without children, or off", warning=True))
    return checks


# What has been shown of each kind of cache (docs/caching.md); gha needs GitHub's cache service.
_CACHE_EVIDENCE = {
    "registry": "measured (tests/e2e/test_e2e_cache.py, benchmarks/README.md gives the runs): after `docker builder "
                "prune -af`, 0 of the 16 default images rebuilt",
    "local": "measured (tests/e2e/test_e2e_cache.py, benchmarks/README.md gives the runs): after `docker builder "
             "prune -af`, 0 of the 16 default images rebuilt",
    "gha": "not measured here (no GitHub Actions cache service off GitHub): the bakes and their cache keys are "
           "those of registry, only the store differs; on GitHub's docker-container builder bake with --push",
}


def all_checks(facts: EngineFacts, plan: Plan, options: BakeOptions, *,
               sources_if_engine_fails: bool = True, cwd: str | None = None) -> list[Check]:
    """What `doctor` shows and `bake` checks first: the engine for these options, then the sources."""
    checks = engine_checks(facts, plan, load=options.load, push=options.push)
    if facts.server_error is None and facts.buildx_version is not None:
        checks.append(entitlement_check(facts, plan, os.getcwd() if cwd is None else cwd))
    if sources_if_engine_fails or not failed(checks):
        checks += source_checks(plan) + cache_checks(plan, facts, options)
    return checks


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok and not c.warning]
