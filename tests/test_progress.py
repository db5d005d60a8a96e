"""Reading BuildKit's progress, judging a failed bake and deciding what to bake again; the view of it.

The streams under tests/data/progress were recorded from real bakes of the stand-in tree
(Basic: base-image, fateflow, fateboard, eggroll) on both engine generations, buildx 0.13
and 0.29, by `python -m tests.fixtures.record_progress`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from generator import display, progress
from generator.progress import decide, judge, parse, read
from testsupport.constants import BASIC

DATA = Path(__file__).parent / "data" / "progress"
ENGINES = ["0.13", "0.29"]
DESCENDANTS = {"base-image": frozenset({"fateflow", "eggroll"}), "fateflow": frozenset(), "fateboard": frozenset(),
               "eggroll": frozenset()}


def stream(engine: str, scenario: str) -> str:
    return (DATA / f"{engine}-{scenario}.log").read_text(encoding="utf-8")


class Clock:
    """Each reading a tenth of a second later: recorded streams replayed with time passing."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.1
        return self.now


# --------------------------------------------------------------------------------------
# one line
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("line, target, stage, step, steps", [
    ("#12 [fateflow stage-0 3/7] COPY x /y", "fateflow", "stage-0", 3, 7),
    ("#48 [fateflow stage-0  3/13] COPY x /y", "fateflow", "stage-0", 3, 13),
    ("#7 [fateflow linux/arm64 2/5] RUN make", "fateflow", None, 2, 5),
    ("#52 [fateboard] exporting to image", "fateboard", None, None, None),
    ("#3 [eggroll context fate] load from client", "eggroll", "context fate", None, None),
    ("#1 [internal] load local bake definitions", None, "internal", None, None),
    ("#5 [2/5] RUN make", None, None, 2, 5),
])
def test_a_vertex_label_names_target_stage_and_step(line, target, stage, step, steps):
    event = parse(line)
    assert event is not None and event.kind == "started"
    assert (event.label.target, event.label.stage, event.label.step, event.label.steps) == (target, stage, step, steps)


@pytest.mark.parametrize("line, kind, text", [
    ("#12 CACHED", "cached", ""),
    ("#12 DONE 0.4s", "done", ""),
    ("#12 ERROR: process did not complete", "failed", "process did not complete"),
    ("#12 CANCELED", "canceled", ""),
    ("#12 transferring fate: 2B done", "output", "transferring fate: 2B done"),
    ('ERROR: target "eggroll": failed to solve: x', "error", "failed to solve: x"),
    ("ERROR: target eggroll: failed to solve: x", "error", "failed to solve: x"),
    ("ERROR: failed to solve: x", "error", "failed to solve: x"),
])
def test_status_lines_are_events_of_their_kind(line, kind, text):
    event = parse(line)
    assert event is not None and event.kind == kind and event.text == text


def test_decoration_is_no_event():
    assert parse("\n") is None and parse("------\n") is None and parse("  11 | >>> RUN false") is None


# --------------------------------------------------------------------------------------
# recorded streams of both engines
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_a_successful_bake_has_no_verdict(engine):
    for scenario in ("cold", "warm"):
        assert judge(read(stream(engine, scenario)).events, BASIC) == progress.Verdict()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_warm_bake_answers_every_step_from_the_cache_and_a_cold_one_runs_them(engine):
    warm = [v for v in read(stream(engine, "warm")).vertices.values() if v.is_step]
    cold = [v for v in read(stream(engine, "cold")).vertices.values() if v.is_step]
    assert warm and all(v.cached and not v.executed for v in warm)
    assert any(v.executed for v in cold)
    # every image's work step ran in the cold bake
    work = [v for v in cold if "sleep" in v.name and v.executed]
    assert len(work) == len(BASIC)


@pytest.mark.parametrize("engine", ENGINES)
def test_one_failing_target_is_named_and_the_ones_cancelled_beside_it_are_not_blamed(engine):
    verdict = judge(read(stream(engine, "fail")).events, BASIC)
    assert verdict.failed == ("fateboard",)
    assert "base-image" in verdict.canceled and verdict.engine_lost is None
    decision = decide(verdict, remaining=tuple(BASIC), failed=(), descendants=DESCENDANTS)
    assert decision.action == "retry"
    assert decision.remaining == ("base-image", "fateflow", "eggroll")
    assert decision.failed == ("fateboard",)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_lost_daemon_is_the_engine_going_away_not_failed_targets(engine):
    verdict = judge(read(stream(engine, "daemon-lost")).events, BASIC)
    assert verdict.engine_lost is not None and "error reading from server: EOF" in verdict.engine_lost
    decision = decide(verdict, remaining=tuple(BASIC), failed=(), descendants=DESCENDANTS)
    assert decision.action == "engine-lost" and decision.remaining == ()
    assert "went away" in decision.message


def test_the_context_bytes_of_a_recorded_bake_are_read():
    sent = read(stream("0.29", "cold")).transferred("fate-python")
    assert sent and all(size > 0 for size in sent)


# --------------------------------------------------------------------------------------
# the cases no engine gives on demand
# --------------------------------------------------------------------------------------

# From an observed failure: a cache record whose containerd snapshot was gone.
BROKEN_CACHE_LOG = """\
#20 [eggroll 2/3] COPY --from=eggroll-src . /x
#20 ERROR: failed to commit abc during finalize: failed to stat active key during commit: \
snapshot k8s.io/1/abc does not exist: not found
------
 > [eggroll 2/3] COPY --from=eggroll-src . /x:
------
ERROR: failed to solve: failed to compute cache key
"""


def test_a_broken_cache_entry_is_retried_twice_the_second_time_without_cache():
    verdict = judge(read(BROKEN_CACHE_LOG).events, ["eggroll"])
    assert verdict.failed == () and verdict.broken == ("eggroll",)
    first = decide(verdict, remaining=("eggroll",), failed=(), descendants=DESCENDANTS)
    assert (first.action, first.no_cache, first.broken_retries) == ("retry", False, 1)
    second = decide(verdict, remaining=("eggroll",), failed=(), descendants=DESCENDANTS, broken_retries=1)
    assert (second.action, second.no_cache) == ("retry", True) and "without cache" in second.message
    third = decide(verdict, remaining=("eggroll",), failed=(), descendants=DESCENDANTS, broken_retries=2,
                   no_cache=True)
    assert third.action == "give-up"


# Beside a broken cache entry, another target's export is cut off in the content store:
# Docker 28.5 says the commit failed, Docker 26.1 that the write could not be sent.
@pytest.mark.parametrize("error", [
    'error writing config blob: failed commit on ref "sha256:9c39cd53": commit failed: EOF',
    "error writing config blob: failed to copy: failed to send write: EOF",
], ids=["docker-28.5", "docker-26.1"])
def test_an_export_cut_off_in_the_content_store_is_not_blamed_on_the_target(error):
    log = f"#60 [nginx] exporting to image\n#60 exporting layers done\n#60 ERROR: {error}\n"
    verdict = judge(read(log).events, ["nginx"])
    assert verdict.failed == () and verdict.broken == ("nginx",)


def test_a_push_failure_is_the_target_failing():
    verdict = judge(read("#12 [c] exporting to image\n#12 ERROR: failed to push 127.0.0.1:5000/c:1: refused\n").events,
                    ["c"])
    assert verdict.failed == ("c",) and verdict.broken == ()


@pytest.mark.parametrize("line, target", [
    (" > [nginx 3/4] RUN make:", "nginx"),
    ('ERROR: target "eggroll": failed to solve: x', "eggroll"),
    ("ERROR: failed to solve: x", None),
    (" > [internal] load metadata for docker.io/library/centos:centos7:", None),
])
def test_error_summaries_name_the_target(line, target):
    assert judge(read(line).events, ["nginx", "eggroll"]).failed == ((target,) if target else ())


def test_a_failure_nobody_can_be_blamed_for_gives_up():
    decision = decide(progress.Verdict(), remaining=("a",), failed=(), descendants={})
    assert decision.action == "give-up" and decision.failed == ()


def test_the_children_of_a_failed_target_are_not_baked_again():
    decision = decide(progress.Verdict(failed=("base-image",)), remaining=tuple(BASIC), failed=(),
                      descendants=DESCENDANTS)
    assert decision.action == "retry" and decision.remaining == ("fateboard",)


# --------------------------------------------------------------------------------------
# the view
# --------------------------------------------------------------------------------------


PARENTS = {"base-image": None, "fateflow": "base-image", "fateboard": None, "eggroll": "base-image"}


def replay(engine: str, scenario: str, *, until: str | None = None) -> display.Board:
    board = display.Board(BASIC, parents=PARENTS, clock=Clock())
    board.new_round()
    for line in stream(engine, scenario).splitlines(keepends=True):
        board.feed(line)
        if until is not None and until in line:
            break
    return board


@pytest.mark.parametrize("engine", ENGINES)
def test_the_board_shows_a_cold_bake_built_and_a_warm_one_cached(engine):
    cold = replay(engine, "cold")
    cold.end_round(ok=True)
    assert {r.image: r.state for r in cold.rows()} == dict.fromkeys(BASIC, "built")
    assert all(r.seconds and r.seconds > 0 for r in cold.rows())
    warm = replay(engine, "warm")
    warm.end_round(ok=True)
    assert {r.image: r.state for r in warm.rows()} == dict.fromkeys(BASIC, "cached")


@pytest.mark.parametrize("engine", ENGINES)
def test_while_a_bake_runs_images_wait_or_build_at_a_step(engine):
    board = replay(engine, "cold", until="] COPY --from=fateboard-src")
    rows = {r.image: r for r in board.rows()}
    assert rows["fateboard"].state == "building"
    assert rows["fateboard"].detail.startswith("step ") and " of " in rows["fateboard"].detail
    assert {r.state for r in rows.values()} <= {"waiting", "building"}
    # base-image is not finished: its children wait for it, whatever steps BuildKit shows under their names
    assert rows["fateflow"].text == rows["eggroll"].text == "waiting (for base-image)"


@pytest.mark.parametrize("engine", ENGINES)
def test_the_board_shows_the_failed_image_and_the_step_that_failed(engine):
    board = replay(engine, "fail")
    board.end_round(ok=False, failed=["fateboard"])
    rows = {r.image: r.state for r in board.rows()}
    assert rows["fateboard"] == "failed"
    details = "\n".join(board.failure_details())
    assert "RUN false" in details and "exit code: 1" in details


@pytest.mark.parametrize("engine", ENGINES)
def test_the_summary_has_result_time_size_and_digest_per_image(engine):
    board = replay(engine, "cold")
    board.end_round(ok=True)
    metadata = json.loads((DATA / f"{engine}-cold.metadata.json").read_text(encoding="utf-8"))
    out = io.StringIO()
    shown = display.PlainView(board, stream=out)
    shown.summary(metadata, {"fateflow": 12_345_678})
    text = out.getvalue()
    assert "IMAGE" in text and "DIGEST" in text
    for image in BASIC:
        line = next(row for row in text.splitlines() if row.startswith(image + " "))
        assert "built" in line and metadata[image]["containerimage.digest"][:19] in line
    assert "12.3 MB" in text


def test_the_plain_view_echoes_the_log_and_quiet_does_not():
    board = display.Board(["a"], clock=Clock())
    board.new_round()
    out, silent = io.StringIO(), io.StringIO()
    display.PlainView(board, stream=out).line("#1 [a 1/2] RUN x\n")
    display.PlainView(board, echo=False, stream=silent).line("#1 DONE 0.1s\n")
    assert out.getvalue() == "#1 [a 1/2] RUN x\n" and silent.getvalue() == ""


def test_the_live_view_draws_one_line_per_image_on_a_terminal():
    from rich.console import Console

    board = replay("0.29", "fail", until="RUN false")
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=100).print(display.board_table(board))
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == len(BASIC)
    assert any("fateboard" in line and "building" in line for line in lines)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failed_step_is_found_with_its_dockerfile_line_command_and_exit_code(engine):
    found = progress.failures(progress.read((DATA / f"{engine}-fail.log").read_text(encoding="utf-8")))
    assert [(f.image, f.command, f.location, f.exit_code) for f in found] == [
        ("fateboard", "RUN false", "Dockerfile:11", 1)]


@pytest.mark.parametrize("engine", ENGINES)
def test_under_the_summary_the_failed_step_is_shown_and_the_log_named_last(engine):
    board = replay(engine, "fail")
    board.end_round(ok=False, failed=["fateboard"])
    out = io.StringIO()
    display.PlainView(board, echo=False, stream=out).summary(
        {}, {}, dockerfiles={"fateboard": "docker/fateboard/Dockerfile"}, log=".fate-builder/logs/bake-1.log")
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert "fateboard failed at docker/fateboard/Dockerfile:11: RUN false (exit code 1)" in lines
    assert lines[-1] == "fate-builder: the whole log of this bake: .fate-builder/logs/bake-1.log"


def test_a_failed_steps_last_lines_of_output_are_shown():
    failure = progress.Failure("fate-test", "[fate-test 3/4] RUN pip install x", "RUN pip install x",
                               "docker/fate-test/Dockerfile:9", 2, ("Collecting x", "ERROR: No matching distribution"))
    lines = display.failure_lines([failure], {})
    assert lines[0] == "fate-test failed at docker/fate-test/Dockerfile:9: RUN pip install x (exit code 2)"
    assert lines[-1] == "    ERROR: No matching distribution"


def test_a_parent_whose_steps_ran_under_its_childs_name_is_shown_built_not_cached():
    clock = Clock()
    board = display.Board(["p", "c"], parents={"c": "p"}, clock=clock)
    board.new_round()
    for line in ["#1 [p 1/2] COPY a /a", "#1 CACHED", "#2 [c 2/2] RUN make", "#2 DONE 3.0s",
                 "#3 [p] exporting to image", "#3 DONE 0.1s", "#4 [c 3/3] RUN x", "#4 DONE 1.0s",
                 "#5 [c] exporting to image", "#5 DONE 0.1s"]:
        board.feed(line + "\n")
    board.end_round(ok=True)
    rows = {r.image: r for r in board.rows()}
    assert rows["p"].state == "built" and rows["p"].detail == "its steps shown under c"
    assert rows["c"].state == "built"
