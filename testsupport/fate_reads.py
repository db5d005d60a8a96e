"""What a Dockerfile reads from FATE, and where FATE's files land in its image: the tests' check of the
Dockerfiles against the real FATE trees (tests/data), on the package's reading of a Dockerfile
(generator.dockerfiles, itself held against BuildKit's parser in tests.test_dockerfiles).

* `fate_reads` lists every FATE path a Dockerfile reads (COPY --from a FATE context, RUN
  --mount from one, paths RUN steps name where FATE's files landed) and where its final
  stage leaves FATE's files, for the children built on it.
* `family_fate_reads` does so for a 1.x family, given where its ancestors left FATE's files.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from generator import catalog
from generator.dockerfiles import Dockerfile, Instruction, Stage, load

from . import fate_paths
from .constants import DOCKER

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")


def all_dockerfiles() -> list[Path]:
    return sorted(DOCKER.rglob("Dockerfile"))


def family_dockerfile(family: str) -> Path:
    """A 1.x family's Dockerfile under docker/ (the catalog's path rule)."""
    return catalog.for_line("1.x").family_by_name[family].dockerfile_path(DOCKER)


# Named context -> its folder in FATE_DIR ("" is the root), for the 1.x catalog.
FATE_CONTEXTS = {s.name: s.path for s in V1.sources if s.path is not None}
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
        for cmd in stage.instructions:
            op = cmd.op
            if op == "WORKDIR":
                state.workdir = posixpath.normpath(posixpath.join(state.workdir, cmd.value[0]))
            elif op in ("COPY", "ADD"):
                self.copy(state, cmd)
            elif op == "RUN":
                self.run(state, cmd)
        if stage.name:
            self.states[stage.name] = state
        return state.landings

    def copy(self, state: _StageState, cmd: Instruction) -> None:
        *sources, dest = cmd.value
        dest_abs = posixpath.join(state.workdir, dest)
        ctx = cmd.flag_value("from")
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
            self.reads.append(FateRead(self.label, cmd.line, fate))
            state.landings.append(_copied(src, dest, dest_abs, fate))

    def run(self, state: _StageState, cmd: Instruction) -> None:
        landings = list(state.landings)
        for mount in cmd.mounts():
            if mount.get("type", "bind") == "bind" and mount.get("from") in self.contexts:
                fate = self.fate_path(mount["from"], mount.get("source", "."))
                self.reads.append(FateRead(self.label, cmd.line, fate))
                landings.append(Landing(posixpath.normpath(mount["target"]), fate))
        for path in _named_paths(" ".join(cmd.value), state.workdir):
            if "target" in path.split("/") or state.owns(path):
                continue
            behind = next((f for f in (lb.fate_path(path) for lb in landings) if f is not None), None)
            if behind is not None:
                self.reads.append(FateRead(self.label, cmd.line, behind))


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
