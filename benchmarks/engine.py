"""The engine side of the benchmark: timed commands, BuildKit's plain progress, image layers.

Both strategies are judged by the same two measures: the wall time of the command a user
runs, and which images changed (their layer lists before and after). BuildKit's plain
progress, read line by line with the time each line arrived, says where the time went.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from generator import catalog
from generator.progress import Progress, Vertex, parse

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")

docker = DockerClient()


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------


@dataclass
class Timed:
    """A command's wall time and its output lines, each with the second it arrived."""

    seconds: float
    lines: list[tuple[float, str]]
    returncode: int = 0

    def text(self) -> str:
        return "".join(line for _, line in self.lines)


def run_timed(argv: Sequence[str], *, cwd: str | None = None, env: Mapping[str, str] | None = None,
              timeout: float = 3600) -> Timed:
    """Run argv, stdout and stderr merged, timestamping each line relative to the start."""
    start = time.perf_counter()
    process = subprocess.Popen(list(argv), cwd=cwd, env=None if env is None else dict(env), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1, errors="replace")
    lines: list[tuple[float, str]] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append((time.perf_counter() - start, line))
        if time.perf_counter() - start > timeout:
            process.kill()
            raise BenchError(f"{argv[0]} did not finish within {timeout:.0f}s")
    returncode = process.wait()
    return Timed(time.perf_counter() - start, lines, returncode)


def stream_timed(stream: Iterable[str], start: float, out: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """Timestamp the lines of a python-on-whales log stream (relative to `start`) into `out`.

    `out` keeps what arrived when the stream raises at the end of a failed build.
    """
    for item in stream:
        # python-on-whales yields (source, bytes) pairs or str lines depending on the call
        if isinstance(item, tuple):
            item = item[1]
        if isinstance(item, bytes):
            item = item.decode(errors="replace")
        out.append((time.perf_counter() - start, item if item.endswith("\n") else item + "\n"))
    return out


# --------------------------------------------------------------------------------------
# BuildKit plain progress
# --------------------------------------------------------------------------------------

WORK_MARK = "RUN set -e;"


def is_work(vertex: Vertex) -> bool:
    """The stand-in's one work step (the RUN that sleeps WORK_SECONDS)."""
    return WORK_MARK in vertex.name


def parse_progress(lines: Iterable[tuple[float, str]]) -> dict[str, Vertex]:
    """Vertices of `--progress=plain` output (generator.progress), stamped with when each line arrived."""
    state = Progress()
    for t, raw in lines:
        event = parse(raw, t)
        if event is not None:
            state.apply(event)
    return state.vertices


_FAMILY_IN_RUN = re.compile(r"stand-in ([A-Za-z0-9_./-]+): ")
_ROOT_NAME = re.compile(r"\bname=([A-Za-z0-9_.-]+);")
_PARENT_IN_RUN = re.compile(r'case "([^"$]*)" in')


def work_image(vertex: Vertex) -> str | None:
    """Which catalog image a stand-in work step builds, read from its RUN text.

    BuildKit shows the RUN with build args expanded, so the `case "$BASE_IMAGE"` of a
    family's step names the parent, and family + parent name the image (the catalog has
    one image per pair). A root family's step names its image outright.
    """
    text = vertex.name
    parent = _PARENT_IN_RUN.search(text)
    if parent is None:
        root = _ROOT_NAME.search(text)
        return root.group(1) if root and root.group(1) in V1.by_name else None
    family = _FAMILY_IN_RUN.search(text)
    if family is None:
        return None
    matches = [i.name for i in V1.images if i.family == family.group(1) and i.parent == parent.group(1)]
    return matches[0] if len(matches) == 1 else None


@dataclass
class WorkStep:
    image: str
    start: float | None
    end: float | None
    duration: float


def work_steps(vertices: Mapping[str, Vertex]) -> dict[str, WorkStep]:
    """The executed work steps by image."""
    out: dict[str, WorkStep] = {}
    for v in vertices.values():
        if is_work(v) and v.executed:
            image = work_image(v)
            if image is not None:
                out[image] = WorkStep(image, v.started_at, v.finished_at, v.seconds)
    return out


def peak_concurrency(steps: Iterable[WorkStep]) -> int:
    events = []
    for s in steps:
        if s.start is not None and s.end is not None:
            events += [(s.start, 1), (s.end, -1)]
    peak = level = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        level += delta
        peak = max(peak, level)
    return peak


# --------------------------------------------------------------------------------------
# images and cache
# --------------------------------------------------------------------------------------


def layers(refs: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Layer diff IDs of each existing image (missing images are left out)."""
    out = {}
    for ref in refs:
        try:
            image = docker.image.inspect(ref)
        except DockerException:
            continue
        out[ref] = tuple(image.root_fs.layers or ())
    return out


def changed(before: Mapping[str, tuple[str, ...]], after: Mapping[str, tuple[str, ...]]) -> list[str]:
    return sorted(ref for ref in after if before.get(ref) != after[ref])


def refs_under(prefix: str) -> list[str]:
    """Local image references whose repository starts with `prefix/` (never anything else)."""
    # `docker image ls` in one call: python-on-whales' Image objects inspect lazily, and an image
    # someone else removes in between would fail the listing.
    listed = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                            text=True, check=False)
    if listed.returncode != 0:
        raise BenchError(f"docker image ls failed: {listed.stderr.strip()}")
    found = set()
    for line in listed.stdout.split():
        name = line.removeprefix("docker.io/")
        if name.startswith(prefix.rstrip("/") + "/"):
            found.add(name)
    return sorted(found)


def remove_under(prefix: str) -> int:
    refs = refs_under(prefix)
    if refs:
        try:
            docker.image.remove(refs, force=True)
        except DockerException as exc:  # one already gone is fine; try them one by one
            for ref in refs:
                try:
                    docker.image.remove(ref, force=True)
                except DockerException:
                    pass
            if refs_under(prefix):
                raise BenchError(f"cannot remove images under {prefix}: {exc}") from None
    return len(refs)


def prune_build_cache() -> float:
    start = time.perf_counter()
    docker.buildx.prune(all=True)
    return time.perf_counter() - start


def load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return -1.0


def engine_facts() -> dict[str, str]:
    facts = {}
    try:
        info = docker.info()
        facts["engine"] = info.server_version or "?"
        facts["storage"] = "containerd" if any(
            "containerd.snapshotter" in row[1] for row in (info.driver_status or []) if len(row) == 2) else "classic"
        facts["cpus"] = str(info.n_cpu)
    except DockerException as exc:
        raise BenchError(f"no Docker engine: {(exc.stderr or '').strip()}") from None
    try:
        facts["buildx"] = str(docker.buildx.version()).strip()
        builder = docker.buildx.inspect()
        facts["builder"] = f"{builder.name} ({builder.driver})"
    except DockerException as exc:
        raise BenchError(f"no buildx builder: {(exc.stderr or '').strip()}") from None
    return facts
