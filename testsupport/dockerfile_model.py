"""The tests' own reading of a Dockerfile: stages, what each refers to, and what it reads from FATE.

Parsed with BuildKit's parser (the `dockerfile` package), interpreted here independently of
generator.inventory, so the Dockerfile tests check the Dockerfiles against the bake file and
the real FATE trees rather than against fate-builder's own reading of them.

* `load` gives a `Dockerfile`: its global ARGs and stages.
* `resolve` follows one target's stages on one platform, with the bake file's args and named
  contexts: the images it builds FROM, the contexts it uses, what resolves to nothing.
* `fate_reads` lists every FATE path a Dockerfile reads (COPY --from a FATE context, RUN
  --mount from one, paths RUN steps name where FATE's files landed) and where its final
  stage leaves FATE's files, for the children built on it.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dockerfile

from generator import catalog
from generator.plan import context_key

from . import fate_paths
from .constants import DOCKER

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VAR = re.compile(rf"\$(?:\{{(?P<braced>{_NAME})(?P<op>:[-+])?(?P<word>[^}}]*)\}}|(?P<bare>{_NAME}))")


def expand(text: str, scope: dict[str, str]) -> str:
    """Dockerfile variable substitution for ${X}, $X, ${X:-word} and ${X:+word}."""

    def sub(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("bare")
        value = scope.get(name, "")
        if m.group("op") == ":-":
            return value or m.group("word")
        if m.group("op") == ":+":
            return m.group("word") if value else ""
        return value

    return _VAR.sub(sub, text)


def flag_values(flags: tuple[str, ...], name: str) -> list[str]:
    prefix = f"--{name}="
    return [f[len(prefix) :] for f in flags if f.startswith(prefix)]


def flag_value(flags: tuple[str, ...], name: str) -> str | None:
    """The first `--name=` flag's value, if there is one."""
    values = flag_values(flags, name)
    return values[0] if values else None


def mount_options(flags: tuple[str, ...]) -> list[dict[str, str]]:
    mounts = []
    for spec in flag_values(flags, "mount"):
        opts = {}
        for part in spec.split(","):
            key, _, value = part.partition("=")
            opts[key.strip()] = value.strip()
        mounts.append(opts)
    return mounts


# ---------------------------------------------------------------------------------------
# The model: global ARGs, stages, and what each stage refers to.


@dataclass
class Stage:
    index: int
    base: str  # the FROM reference as written
    name: str | None
    platform: str | None
    commands: list[Any] = field(default_factory=list)  # dockerfile.Command

    @property
    def label(self) -> str:
        return self.name or f"#{self.index}"

    def references(self) -> list[str]:
        """Names used by COPY/ADD --from and RUN --mount from=, as written."""
        refs = []
        for cmd in self.commands:
            if cmd.cmd.upper() in ("COPY", "ADD"):
                refs += flag_values(cmd.flags, "from")
            if cmd.cmd.upper() == "RUN":
                refs += [m["from"] for m in mount_options(cmd.flags) if "from" in m]
        return refs


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str | None]
    stages: list[Stage]

    @property
    def stage_names(self) -> set[str]:
        return {s.name for s in self.stages if s.name}

    @property
    def by_name(self) -> dict[str, Stage]:
        return {s.name: s for s in self.stages if s.name}


def _stage_of(cmd: Any, index: int) -> Stage:
    value = list(cmd.value)
    name = value[2].lower() if len(value) >= 3 and value[1].upper() == "AS" else None
    platform = flag_value(cmd.flags, "platform")
    return Stage(index, value[0], name, platform)


def load(path: Path) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for cmd in dockerfile.parse_file(str(path)):
        op = cmd.cmd.upper()
        if op == "FROM":
            stages.append(_stage_of(cmd, len(stages)))
        elif stages:
            stages[-1].commands.append(cmd)
        elif op == "ARG":
            for item in cmd.value:
                key, eq, default = item.partition("=")
                global_args[key] = default if eq else None
    return Dockerfile(path, global_args, stages)


def all_dockerfiles() -> list[Path]:
    return sorted(DOCKER.rglob("Dockerfile"))


def family_dockerfile(family: str) -> Path:
    return DOCKER / family / "Dockerfile"


# ---------------------------------------------------------------------------------------
# One target's stages on one platform, as bake gives them args and named contexts.


@dataclass
class Resolution:
    """What one target's Dockerfile refers to on one platform, with the bake file's args."""

    from_images: dict[str, str] = field(default_factory=dict)  # external or parent reference -> stage using it
    used_contexts: set[str] = field(default_factory=set)
    reachable: list[Stage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def build_scope(df: Dockerfile, args: dict[str, str], arch: str) -> dict[str, str]:
    """The global ARGs with the bake file's values, and BuildKit's platform ARGs (built on amd64)."""
    scope = {k: (v or "") for k, v in df.global_args.items()}
    scope.update({k: v for k, v in args.items() if k in df.global_args})
    scope.update({"TARGETARCH": arch, "TARGETOS": "linux", "TARGETPLATFORM": f"linux/{arch}",
                  "BUILDARCH": "amd64", "BUILDOS": "linux", "BUILDPLATFORM": "linux/amd64"})
    return scope


@dataclass
class _Walk:
    """The stages reachable from one, depth first, each visited once."""

    df: Dockerfile
    scope: dict[str, str]
    contexts: dict[str, str]
    found: Resolution = field(default_factory=Resolution)
    seen: set[int] = field(default_factory=set)

    def visit(self, stage: Stage) -> None:
        if stage.index in self.seen:
            return
        self.seen.add(stage.index)
        self._base(stage)
        for ref in stage.references():
            self._reference(stage, ref)
        self.found.reachable.append(stage)

    def _base(self, stage: Stage) -> None:
        base = expand(stage.base, self.scope)
        earlier = {s.name: s for s in self.df.stages[: stage.index] if s.name}
        if base.lower() in earlier:
            self.visit(earlier[base.lower()])
        elif base != "scratch":
            self.found.from_images[base] = stage.label
            if context_key(base) in self.contexts:
                self.found.used_contexts.add(context_key(base))

    def _reference(self, stage: Stage, ref: str) -> None:
        name = expand(ref, self.scope).lower()
        if name in self.df.by_name:
            self.visit(self.df.by_name[name])
        elif name in self.contexts:
            self.found.used_contexts.add(name)
        else:
            self.found.problems.append(
                f"{self.df.path}: stage {stage.label} uses --from={ref}, "
                f"which is neither a stage nor a context the bake file provides"
            )


def resolve(
    df: Dockerfile, args: dict[str, str], contexts: dict[str, str], arch: str, target_stage: str | None = None
) -> Resolution:
    walk = _Walk(df, build_scope(df, args, arch), contexts)
    walk.visit(df.by_name[target_stage] if target_stage else df.stages[-1])
    return walk.found


# ---------------------------------------------------------------------------------------
# What a Dockerfile reads from FATE, and where FATE's files land in its image.

# Named context -> its folder in FATE_DIR ("" is the root), for the 1.x catalog.
FATE_CONTEXTS = {s.name: s.path for s in catalog.SOURCES if s.path is not None}
_SHELL_SPLIT = re.compile(r"""[\s;|&<>()'"`=,]+""")
_PATH_TOKEN = re.compile(r"[A-Za-z0-9_.+@*-]*(/[A-Za-z0-9_.+@*-]+)+/?")


@dataclass(frozen=True)
class Landing:
    """Where a FATE path lands in a build: `dest` (absolute) holds `source` (FATE-relative);
    with a `pattern`, `dest` is a folder of the FATE files matching it."""

    dest: str
    source: str
    pattern: str | None = None

    def fate_path(self, path: str) -> str | None:
        """The FATE path behind absolute `path`, or None if `path` is not under this landing."""
        if path != self.dest and not path.startswith(self.dest.rstrip("/") + "/"):
            return None
        rest = path[len(self.dest) :].strip("/")
        if self.pattern is None:
            return posixpath.normpath(posixpath.join(self.source, rest)) if rest else self.source
        first = rest.split("/")[0]
        if not rest or not fnmatch.fnmatchcase(first, posixpath.basename(self.pattern)):
            return None
        return posixpath.normpath(posixpath.join(self.source, rest))

    def moved(self, src: str, dest: str) -> Landing | None:
        """This landing as seen after `COPY --from=<its stage> src dest`, if src covers it."""
        src, dest = posixpath.normpath(src), posixpath.normpath(dest)
        if self.dest != src and not self.dest.startswith(src.rstrip("/") + "/"):
            return None
        return Landing(posixpath.normpath(dest + self.dest[len(src) :]), self.source, self.pattern)


@dataclass(frozen=True)
class FateRead:
    dockerfile: str
    instruction: str
    path: str  # relative to FATE_DIR; may be a COPY pattern

    def __str__(self) -> str:
        return f"{self.dockerfile}: {self.instruction[:90]!r} reads {self.path}"


@dataclass
class _StageState:
    """At a point of a stage: where FATE's files are, the folders it wrote from elsewhere, WORKDIR."""

    landings: list[Landing] = field(default_factory=list)
    own: list[str] = field(default_factory=list)
    workdir: str = "/"

    def owns(self, path: str) -> bool:
        return any(path == o or path.startswith(o + "/") for o in self.own)


@dataclass
class _FateReader:
    label: str
    contexts: dict[str, str]
    inherited: tuple[Landing, ...]
    reads: list[FateRead] = field(default_factory=list)
    states: dict[str, _StageState] = field(default_factory=dict)  # named stage -> its state at its end

    def fate_path(self, context: str, source: str) -> str:
        return posixpath.normpath(posixpath.join(self.contexts[context], source.lstrip("/") or "."))

    def start(self, stage: Stage) -> _StageState:
        """A stage starts where the stages it is FROM (one per platform) ended, or a parent image left FATE."""
        bases = [stage.base.lower().replace("${targetarch}", arch) for arch in catalog.PLATFORMS]
        earlier = [self.states[b] for b in dict.fromkeys(bases) if b in self.states]
        if not earlier:
            return _StageState(list(self.inherited) if stage.base.startswith("${PREFIX}/") else [])
        return _StageState([lb for s in earlier for lb in s.landings], [o for s in earlier for o in s.own],
                           earlier[-1].workdir)

    def stage(self, stage: Stage) -> list[Landing]:
        state = self.start(stage)
        for cmd in stage.commands:
            op = cmd.cmd.upper()
            if op == "WORKDIR":
                state.workdir = posixpath.normpath(posixpath.join(state.workdir, cmd.value[0]))
            elif op in ("COPY", "ADD"):
                self.copy(state, cmd)
            elif op == "RUN":
                self.run(state, cmd)
        if stage.name:
            self.states[stage.name] = state
        return state.landings

    def copy(self, state: _StageState, cmd: Any) -> None:
        *sources, dest = cmd.value
        dest_abs = posixpath.join(state.workdir, dest)
        ctx = flag_value(cmd.flags, "from")
        if ctx is not None and ctx.lower() in self.states and len(sources) == 1:
            # FATE's files passed on from an earlier stage land under dest too.
            moved = [landing.moved(sources[0], dest_abs) for landing in self.states[ctx.lower()].landings]
            state.landings += [m for m in moved if m]
            if any(moved):
                return
        if ctx not in self.contexts:
            state.own.append(posixpath.normpath(dest_abs))
            return
        for src in sources:
            fate = self.fate_path(ctx, src)
            self.reads.append(FateRead(self.label, cmd.original, fate))
            state.landings.append(_copied(src, dest, dest_abs, fate))

    def run(self, state: _StageState, cmd: Any) -> None:
        landings = list(state.landings)
        for mount in mount_options(cmd.flags):
            if mount.get("type", "bind") == "bind" and mount.get("from") in self.contexts:
                fate = self.fate_path(mount["from"], mount.get("source", "."))
                self.reads.append(FateRead(self.label, cmd.original, fate))
                landings.append(Landing(posixpath.normpath(mount["target"]), fate))
        for path in _named_paths(" ".join(cmd.value), state.workdir):
            if "target" in path.split("/") or state.owns(path):
                continue
            behind = next((f for f in (lb.fate_path(path) for lb in landings) if f is not None), None)
            if behind is not None:
                self.reads.append(FateRead(self.label, cmd.original, behind))


def _copied(src: str, dest: str, dest_abs: str, fate: str) -> Landing:
    """Where `COPY --from=<FATE context> src dest` puts FATE's `fate`."""
    if any(ch in src for ch in "*?["):
        return Landing(posixpath.normpath(dest_abs), posixpath.dirname(fate), fate)
    if dest.endswith("/") and posixpath.normpath(src) != ".":
        return Landing(posixpath.normpath(posixpath.join(dest_abs, posixpath.basename(fate))), fate)
    return Landing(posixpath.normpath(dest_abs), fate)


def _named_paths(script: str, workdir: str) -> list[str]:
    """The absolute paths a RUN script names literally (relative ones against WORKDIR)."""
    paths = []
    for token in _SHELL_SPLIT.split(script):
        if "$" in token or "://" in token or token.startswith("-") or not _PATH_TOKEN.fullmatch(token):
            continue
        paths.append(posixpath.normpath(posixpath.join(workdir, token)))
    return paths


def fate_reads(df: Dockerfile, inherited: tuple[Landing, ...] = (),
               contexts: dict[str, str] = FATE_CONTEXTS) -> tuple[list[FateRead], list[Landing]]:
    """Every FATE path `df` reads, and where its final stage puts FATE's files.

    Reads are the sources of `COPY --from=<FATE context>`, the `source` of
    `RUN --mount=...,from=<FATE context>`, and the paths a RUN step names (relative ones
    against WORKDIR) that fall where this Dockerfile, or a parent image (`inherited`),
    put FATE's files. A path under a folder this Dockerfile writes itself from elsewhere
    is its own; a path with a `target` folder is Maven's output.
    """
    label = df.path.relative_to(DOCKER).as_posix() if df.path.is_relative_to(DOCKER) else df.path.name
    reader = _FateReader(label, contexts, inherited)
    final: list[Landing] = []
    for stage in df.stages:
        final = reader.stage(stage)
    return reader.reads, final


def ancestor_families(family: str, cat: catalog.Catalog | None = None) -> list[str]:
    """The families of every image this family's images are built on, nearest first (1.x by default)."""
    cat = cat or catalog.for_line("1.x")
    found: list[str] = []
    pending = [p for p in (i.parent for i in cat.images if i.family == family) if p is not None]
    while pending:
        parent = cat.by_name[pending.pop(0)]
        if parent.family not in found:
            found.append(parent.family)
        if parent.parent is not None:
            pending.append(parent.parent)
    return found


def family_fate_reads(family: str) -> list[FateRead]:
    """The FATE paths a 1.x family's Dockerfile reads, given where its ancestors left FATE's files."""
    inherited: list[Landing] = []
    for ancestor in reversed(ancestor_families(family)):
        _, landings = fate_reads(load(family_dockerfile(ancestor)))
        inherited += landings
    reads, _ = fate_reads(load(family_dockerfile(family)), tuple(inherited))
    return reads


def missing_from_fate(reads: list[FateRead]) -> list[str]:
    return [str(r) for r in reads if not fate_paths.matching(r.path)]
