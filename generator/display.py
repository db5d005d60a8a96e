"""What a user sees of a bake: a live line per image on a terminal, the plain log elsewhere, a summary at the end.

`Board` turns the progress of one or more bake rounds (a retry after a failure is a
round) into the state of each image: waiting, building (step k of n), cached, built,
pushed, failed, cancelled, skipped. It is pure: it reads `progress` events with the times
they carry. `LiveView` draws the board with rich while the bake runs; `PlainView` echoes
BuildKit's log as it comes. Both end with `summary`, a table per image: result, time,
size, digest (bake's metadata file).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal

from .progress import Failure, Progress, Vertex, failures

# What an image is at a moment of the bake; FINAL ones stay so for the rest of it.
State = Literal["waiting", "building", "cached", "built", "pushed", "failed", "cancelled", "skipped"]

# state -> (mark, style)
STYLES: dict[State, tuple[str, str]] = {
    "waiting": ("·", "dim"),
    "building": ("▸", "cyan"),
    "cached": ("✓", "green"),
    "built": ("✓", "green"),
    "pushed": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "cancelled": ("○", "yellow"),
    "skipped": ("–", "yellow"),
}
FINAL: tuple[State, ...] = ("cached", "built", "pushed", "failed", "skipped")


@dataclass(frozen=True)
class Row:
    image: str
    state: State
    detail: str = ""
    seconds: float | None = None

    @property
    def text(self) -> str:
        return f"{self.state} ({self.detail})" if self.detail else self.state


class Board:
    """Each image's state over the rounds of a bake; `clock` gives the time events are stamped with."""

    def __init__(self, images: Sequence[str], *, parents: Mapping[str, str | None] | None = None, push: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.images = list(images)
        # BuildKit shows a parent's steps under each child that builds it: until its parent is
        # finished, an image is waiting for it, whatever steps carry its name.
        self.parents = {k: v for k, v in (parents or {}).items() if v in self.images}
        self.push = push
        self.clock = clock
        self.started = clock()
        self.progress = Progress(clock)
        self.first_seen: dict[str, float] = {}
        self.final: dict[str, Row] = {}
        self.round = 0
        # The failed steps of every round, for the lines under the summary.
        self.failures: list[Failure] = []

    def new_round(self) -> Progress:
        """A fresh bake of the images not finished yet; returns the Progress to feed it with."""
        self.round += 1
        self.progress = Progress(self.clock)
        return self.progress

    def feed(self, line: str) -> None:
        event = self.progress.feed(line)
        if event is not None and event.target in self.images and event.target not in self.first_seen:
            self.first_seen[event.target] = event.at

    def _elapsed(self, image: str, until: float | None) -> float | None:
        start = self.first_seen.get(image)
        return None if start is None or until is None else max(0.0, until - start)

    def _finished_row(self, image: str, vertices: list[Vertex], export: Vertex | None) -> Row:
        steps = [v for v in vertices if v.is_step]
        end = max((v.finished_at for v in vertices if v.finished_at is not None), default=None)
        state: State
        if export is not None and any("pushing" in line for line in export.output):
            state = "pushed"
        elif steps and not any(v.executed for v in steps):
            under = self._ran_under_child(image, export)
            if under is not None:
                # BuildKit ran the steps once, shown under the child that asked first.
                return Row(image, "built", f"its steps shown under {under}", self._elapsed(image, end))
            state = "cached"
        else:
            state = "built"
        return Row(image, state, seconds=self._elapsed(image, end))

    def _ran_under_child(self, image: str, export: Vertex | None) -> str | None:
        """A descendant under whose name a step ran before this image was exported: a child's own steps
        wait for its parent, so such a step was this image's (one graph: the parent's steps are in the
        child's build too)."""
        if export is None or export.started_at is None:
            return None
        for v in self.progress.vertices.values():
            if not (v.is_step and v.executed and image not in v.targets and v.finished_at is not None
                    and v.finished_at <= export.started_at):
                continue
            for target in v.targets:
                if image in self._ancestors(target):
                    return target
        return None

    def _ancestors(self, image: str) -> list[str]:
        chain, parent = [], self.parents.get(image)
        while parent is not None and parent not in chain:
            chain.append(parent)
            parent = self.parents.get(parent)
        return chain

    def row(self, image: str, now: float | None = None) -> Row:
        if image in self.final:
            return self.final[image]
        now = self.clock() if now is None else now
        vertices = self.progress.of_target(image)
        export = next((v for v in vertices if v.is_export), None)
        if export is not None and (export.done or export.cached):
            self.final[image] = self._finished_row(image, vertices, export)
            return self.final[image]
        parent = self.parents.get(image)
        if parent is not None and self.row(parent, now).state not in FINAL:
            return Row(image, "waiting", f"for {parent}")
        if not vertices:
            return Row(image, "waiting")
        if any(v.canceled for v in vertices if v.is_step) and not any(
                not v.finished for v in vertices if v.is_step):
            return Row(image, "cancelled", seconds=self._elapsed(image, now))
        current = [lb for v in vertices if v.is_step for lb in v.labels if lb.target == image and lb.step]
        detail = f"step {current[-1].step} of {current[-1].steps}" if current else ""
        return Row(image, "building", detail, self._elapsed(image, now))

    def rows(self, now: float | None = None) -> list[Row]:
        now = self.clock() if now is None else now
        return [self.row(image, now) for image in self.images]

    def end_round(self, *, ok: bool, failed: Sequence[str] = (), skipped: Sequence[str] = (),
                  only: Sequence[str] | None = None) -> None:
        """After a round: with ok, every image of it not shown finished yet is (a cache-only dependency,
        or an export BuildKit reported late); the failed and skipped ones are final either way. `only`: the
        round's images, when other bakes are still running beside it."""
        now = self.clock()
        if not ok:
            self.failures += [f for f in failures(self.progress) if f not in self.failures]
        for image in failed:
            vertices = self.progress.of_target(image)
            end = max((v.finished_at for v in vertices if v.finished_at is not None), default=now)
            self.final.setdefault(image, Row(image, "failed", seconds=self._elapsed(image, end)))
        for image in skipped:
            self.final.setdefault(image, Row(image, "skipped", "its parent failed"))
        if ok:
            for image in self.images if only is None else [i for i in self.images if i in only]:
                if image not in self.final and image in self.first_seen:
                    vertices = self.progress.of_target(image)
                    self.final[image] = self._finished_row(
                        image, vertices, next((v for v in vertices if v.is_export), None))

    def failure_details(self) -> list[str]:
        """The failed steps with their last lines of output, for a view that did not show the log."""
        lines: list[str] = []
        for v in self.progress.vertices.values():
            if v.error is not None and v.is_step:
                lines.append(f"[{', '.join(v.targets)}] {v.name}")
                lines += [f"  {text}" for text in v.output[-15:]]
                lines.append(f"  ERROR: {v.error}")
        return lines


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)}m{seconds:04.1f}s" if minutes else f"{seconds:.1f}s"


def _size(value: int | None) -> str:
    if value is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000  # type: ignore[assignment]
    return ""


def digest_of(metadata: Mapping[str, Any], image: str) -> str:
    entry = metadata.get(image)
    digest = entry.get("containerimage.digest") if isinstance(entry, dict) else None
    return digest[:19] if isinstance(digest, str) else ""


def board_table(board: Board, now: float | None = None) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    for _ in range(4):
        table.add_column()
    for row in board.rows(now):
        mark, style = STYLES[row.state]
        table.add_row(Text(mark, style=style), row.image, Text(row.text, style=style), _seconds(row.seconds))
    return table


def summary_table(board: Board, metadata: Mapping[str, Any], sizes: Mapping[str, int]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=None, box=None, header_style="bold", pad_edge=False)
    columns = [("IMAGE", "left"), ("RESULT", "left"), ("TIME", "right"), ("SIZE", "right"), ("DIGEST", "left")]
    if not sizes:
        del columns[3]
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in board.rows():
        final = row.state in FINAL
        result = Text(row.text if final else "not built", style=STYLES[row.state][1] if final else "yellow")
        cells: list[Any] = [row.image, result, _seconds(row.seconds), _size(sizes.get(row.image)),
                            digest_of(metadata, row.image)]
        if not sizes:
            del cells[3]
        table.add_row(*cells)
    return table


def failure_lines(found: Sequence[Failure], dockerfiles: Mapping[str, str]) -> list[str]:
    """Under the summary: each failed step, where it is, how it ended and its last lines of output.

    `dockerfiles` gives each image's Dockerfile path, which BuildKit 0.13's `Dockerfile:11` lacks.
    """
    lines: list[str] = []
    for failure in found:
        where = failure.location or "its Dockerfile"
        if failure.location and failure.image in dockerfiles:
            where = f"{dockerfiles[failure.image]}:{failure.location.rsplit(':', 1)[1]}"
        code = f"exit code {failure.exit_code}" if failure.exit_code is not None else "failed"
        lines.append(f"{failure.image} failed at {where}: {failure.command} ({code})")
        if failure.output:
            lines.append("  its last lines of output:")
            lines += [f"    {text}" for text in failure.output]
        else:
            lines.append("  (the step wrote no output)")
    return lines


def _console(stream: IO[str]) -> Any:
    from rich.console import Console

    # Not a terminal: no colour and no width guess, so logs and CI read it as text.
    return Console(file=stream, width=None if stream.isatty() else 120, highlight=False)


class PlainView:
    """BuildKit's log as it comes (nothing with quiet), then the summary."""

    def __init__(self, board: Board, *, echo: bool = True, stream: IO[str] | None = None):
        self.board, self.echo = board, echo
        self.stream = stream or sys.stderr

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def line(self, line: str) -> None:
        self.board.feed(line)
        if self.echo:
            self.stream.write(line if line.endswith("\n") else line + "\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def summary(self, metadata: Mapping[str, Any], sizes: Mapping[str, int],
                dockerfiles: Mapping[str, str] | None = None, log: str | None = None) -> None:
        """The table, the failed steps under it, and the kept log named last."""
        console = _console(self.stream)
        console.print(summary_table(self.board, metadata, sizes))
        for text in failure_lines(self.board.failures, dockerfiles or {}):
            console.print(text, highlight=False, markup=False)
        if log is not None:
            console.print(f"fate-builder: the whole log of this bake: {log}", highlight=False, markup=False)


class LiveView(PlainView):
    """One line per image, redrawn in place (rich.live); fate-builder's own lines print above it."""

    def __init__(self, board: Board, *, stream: IO[str] | None = None, refresh_per_second: float = 4):
        super().__init__(board, echo=False, stream=stream)
        from rich.live import Live

        self.console = _console(self.stream)
        self.live = Live(console=self.console, refresh_per_second=refresh_per_second,
                         get_renderable=lambda: board_table(self.board), transient=True)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def line(self, line: str) -> None:
        self.board.feed(line)

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def summary(self, metadata: Mapping[str, Any], sizes: Mapping[str, int],
                dockerfiles: Mapping[str, str] | None = None, log: str | None = None) -> None:
        super().summary(metadata, sizes, dockerfiles, log)
