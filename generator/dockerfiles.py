"""The Dockerfiles, read once for the whole project: instructions, global ARGs, stages, what each stage reads.

BuildKit's reading, kept to what docker/ uses (tests.test_dockerfiles holds it against BuildKit's own parser for
every Dockerfile there): comment lines dropped (inside a continuation too), continuations joined, leading
`--flags` apart from the value, the JSON form of RUN, CMD, ENTRYPOINT, SHELL, COPY, ADD and VOLUME. The inventory
(what a build reaches), the waves (which steps two images share) and the tests read Dockerfiles through this.
Pure: file reads only (each file once per process), no Docker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
# The instructions whose value may be a JSON array, and those whose value is one string.
_JSON_FORM = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
_SHELL_FORM = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL"})
_ONE_STRING = frozenset({"WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER"})
_NAME_VALUES = frozenset({"ENV", "LABEL"})


@dataclass(frozen=True)
class Instruction:
    """One instruction: `op` (upper case) and `text`, everything after the word (whitespace runs made one)."""

    op: str
    text: str

    @property
    def line(self) -> str:
        return f"{self.op} {self.text}" if self.text else self.op

    @cached_property
    def _parts(self) -> tuple[tuple[str, ...], str]:
        """The leading `--flags` and the rest."""
        flags: list[str] = []
        rest = self.text
        while rest.startswith("--"):
            word, _, rest = rest.partition(" ")
            flags.append(word)
        return tuple(flags), rest

    @property
    def flags(self) -> tuple[str, ...]:
        return self._parts[0]

    @property
    def is_json(self) -> bool:
        return self.op in _JSON_FORM and _json_array(self._parts[1]) is not None

    @property
    def value(self) -> tuple[str, ...]:
        """What the instruction is given, as BuildKit's parser splits it: a shell-form script as one string, a
        JSON array's items, ENV's and LABEL's names and values in turn, else the words."""
        rest = self._parts[1]
        array = _json_array(rest) if self.op in _JSON_FORM else None
        if array is not None:
            return array
        if self.op in _SHELL_FORM or self.op in _ONE_STRING:
            return (rest,)
        if self.op in _NAME_VALUES:
            return _name_values(rest)
        return _words(rest) if self.op == "ARG" else tuple(rest.split())

    def flag_values(self, name: str) -> list[str]:
        prefix = f"--{name}="
        return [f[len(prefix):] for f in self.flags if f.startswith(prefix)]

    def flag_value(self, name: str) -> str | None:
        """The first `--name=` flag's value, if there is one."""
        values = self.flag_values(name)
        return values[0] if values else None

    def mounts(self) -> list[dict[str, str]]:
        """Each `--mount=` as its options (`type`, `id`, `target`, `from`, ...)."""
        out = []
        for spec in self.flag_values("mount"):
            options = {}
            for part in spec.split(","):
                key, _, value = part.partition("=")
                options[key.strip()] = value.strip()
            out.append(options)
        return out


def _json_array(text: str) -> tuple[str, ...] | None:
    if not text.startswith("["):
        return None
    try:
        items = json.loads(text)
    except ValueError:
        return None
    return tuple(items) if isinstance(items, list) and all(isinstance(i, str) for i in items) else None


def _words(text: str) -> tuple[str, ...]:
    """Words split at whitespace outside quotes, quotes kept (`A="x y"` is one word)."""
    words: list[str] = []
    word, quote = "", ""
    for char in text:
        if char == " " and not quote:
            if word:
                words.append(word)
            word = ""
            continue
        if char in "\"'" and quote in ("", char):
            quote = "" if quote else char
        word += char
    return tuple([*words, word] if word else words)


def _name_values(text: str) -> tuple[str, ...]:
    """ENV/LABEL `k=v k2="v 2"` (or the old `k v`) as k, v, k2, v2, values as written (quotes kept)."""
    if "=" not in text.split(" ", 1)[0]:
        name, _, value = text.partition(" ")
        return name, value
    out: list[str] = []
    for word in _words(text):
        name, _, value = word.partition("=")
        out += [name, value]
    return tuple(out)


def instructions(text: str) -> list[Instruction]:
    """A Dockerfile's instructions: comment lines dropped (inside a continuation too), continuations joined."""
    out: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        continued = line.rstrip().endswith("\\")
        pending += line.rstrip()[:-1] + " " if continued else line
        if continued:
            continue
        op, _, rest = pending.strip().partition(" ")
        out.append(Instruction(op.upper(), " ".join(rest.split())))
        pending = ""
    if pending.strip():
        op, _, rest = pending.strip().partition(" ")
        out.append(Instruction(op.upper(), " ".join(rest.split())))
    return out


def _args(ins: Instruction) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for item in ins.value:
        key, eq, value = item.partition("=")
        found[key] = value.strip('"') if eq else None
    return found


@dataclass(frozen=True)
class Stage:
    index: int
    base: str  # the FROM reference as written
    name: str | None
    platform: str | None
    args: dict[str, str | None] = field(default_factory=dict)
    instructions: tuple[Instruction, ...] = ()

    @property
    def label(self) -> str:
        return self.name or f"#{self.index}"

    def references(self) -> list[str]:
        """Stages or contexts the stage reads, as written: COPY/ADD --from=, RUN --mount=...,from=."""
        refs: list[str] = []
        for ins in self.instructions:
            if ins.op in ("COPY", "ADD"):
                refs += ins.flag_values("from")
            elif ins.op == "RUN":
                refs += [m["from"] for m in ins.mounts() if "from" in m]
        return refs


@dataclass(frozen=True)
class Dockerfile:
    path: Path
    global_args: dict[str, str | None]
    stages: tuple[Stage, ...]
    instructions: tuple[Instruction, ...] = ()

    @property
    def by_name(self) -> dict[str, Stage]:
        return {s.name: s for s in self.stages if s.name}

    @property
    def stage_names(self) -> set[str]:
        return set(self.by_name)


def parse(text: str, path: Path = Path("Dockerfile")) -> Dockerfile:
    every = instructions(text)
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for ins in every:
        if ins.op == "FROM":
            words = ins.value
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(len(stages), words[0], name, ins.flag_value("platform")))
        elif not stages:
            if ins.op == "ARG":
                global_args.update(_args(ins))
        else:
            last = stages[-1]
            args = {**last.args, **_args(ins)} if ins.op == "ARG" else last.args
            stages[-1] = Stage(last.index, last.base, last.name, last.platform, args, (*last.instructions, ins))
    return Dockerfile(path, global_args, tuple(stages), tuple(every))


@cache
def load(path: Path) -> Dockerfile:
    """The Dockerfile at `path`, read once per process."""
    return parse(path.read_text(encoding="utf-8"), path)


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


def scope(df: Dockerfile, arch: str, args: Mapping[str, str] | None = None) -> dict[str, str]:
    """The global ARGs as BuildKit sees them: build args first, else defaults, each default expanded
    with the ARGs before it (`ARG PYTHON_IMAGE=python:${PYTHON_VERSION}-slim-bookworm`), and BuildKit's
    platform ARGs (built on amd64)."""
    found: dict[str, str] = {}
    for k, v in df.global_args.items():
        found[k] = args[k] if args and k in args else expand(v or "", found)
    found.update({"TARGETARCH": arch, "TARGETOS": "linux", "TARGETPLATFORM": f"linux/{arch}",
                  "BUILDARCH": "amd64", "BUILDOS": "linux", "BUILDPLATFORM": "linux/amd64"})
    return found


@dataclass
class Resolution:
    """What one target's Dockerfile refers to on one platform: the stages BuildKit builds (dependencies first),
    the images they are FROM (reference -> the stage), the named contexts they use, and the `--from` references
    that are neither a stage nor one of the contexts given (stage, reference as written)."""

    reachable: list[Stage] = field(default_factory=list)
    from_images: dict[str, str] = field(default_factory=dict)
    used_contexts: set[str] = field(default_factory=set)
    unresolved: list[tuple[Stage, str]] = field(default_factory=list)


def resolve(df: Dockerfile, arch: str, target: str | None = None, args: Mapping[str, str] | None = None,
            contexts: Iterable[str] = ()) -> Resolution:
    """Follow the final stage (or `target`) on `arch` as BuildKit does, with build `args` and named `contexts`."""
    names = scope(df, arch, args)
    by_name, given = df.by_name, set(contexts)
    found = Resolution()
    seen: set[int] = set()

    def visit(stage: Stage) -> None:
        if stage.index in seen:
            return
        seen.add(stage.index)
        base = expand(stage.base, names)
        earlier = {s.name: s for s in df.stages[: stage.index] if s.name}
        if base.lower() in earlier:
            visit(earlier[base.lower()])
        elif base != "scratch":
            found.from_images[base] = stage.label
            if context_key(base) in given:
                found.used_contexts.add(context_key(base))
        for ref in stage.references():
            name = expand(ref, names).lower()
            if name in by_name:
                visit(by_name[name])
            elif name in given:
                found.used_contexts.add(name)
            else:
                found.unresolved.append((stage, ref))
        found.reachable.append(stage)

    visit(by_name[target] if target else df.stages[-1])
    return found


def reachable_stages(df: Dockerfile, arch: str, target: str | None = None) -> list[Stage]:
    """The stages BuildKit builds for the final stage (or `target`) on `arch`, dependencies first."""
    return resolve(df, arch, target).reachable


def final_base(df: Dockerfile, arch: str) -> str | None:
    """The FROM of the stage the final stage is built on for `arch`, as written
    (`${IMAGE_MIRROR}/library/${JRE_IMAGE}`), through `FROM <earlier stage>` aliases; None without stages."""
    names = scope(df, arch)
    stage = df.stages[-1] if df.stages else None
    while stage is not None:
        earlier = {s.name: s for s in df.stages[: stage.index] if s.name}
        alias = expand(stage.base, names).lower()
        if alias not in earlier:
            return stage.base
        stage = earlier[alias]
    return None


# ---------------------------------------------------------------------------------------
# Image references, as Docker names them.


def familiar(reference: str) -> str:
    """An image reference in Docker's familiar form, as `docker images` shows it and BuildKit prints it: no
    `docker.io/` (nor `index.docker.io/`), no `library/` before a single name component."""
    ref = re.sub(r"^(?:index\.)?docker\.io/", "", reference)
    return re.sub(r"^library/([^/]+)$", r"\1", ref)


def context_key(reference: str) -> str:
    """The name BuildKit looks a `FROM` up under among named contexts: the familiar form without a `:latest`
    tag. bake passes keys through untouched, so a key spelled any other way is silently ignored and the image
    is pulled from the registry instead. The HCL function `context_key` mirrors this."""
    return re.sub(r":latest$", "", familiar(reference))
