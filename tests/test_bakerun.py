"""The bake run's decisions as a state: events in, actions out, with no engine, thread or display."""

from __future__ import annotations

from dataclasses import replace

import pytest

from generator import progress
from generator.bakerun import BakeRun, EndRound, Say, Start, Stop
from generator.engine import EngineFacts

from .conftest import ALL_OFF, plan_of

DOCKER_28 = EngineFacts(cli="/usr/bin/docker", server_version="28.5.2", server_error=None,
                        buildx_version="github.com/docker/buildx 0.29.1", builder_name="default",
                        builder_driver="docker", builder_platforms=("linux/amd64",), builder_error=None,
                        containerd_store=True)
# The Basic selection's pipeline: fateflow and eggroll on base-image's image, fateboard beside them.
PIPELINE = {"base-image": frozenset(), "fateflow": frozenset({"base-image"}), "fateboard": frozenset(),
            "eggroll": frozenset({"base-image"})}
DIGEST = "sha256:" + "b" * 64


@pytest.fixture
def plan():
    return plan_of(**{**ALL_OFF, "Build_Basic": "1", "CACHE": "registry"})


def _run(plan, schedule=PIPELINE, facts=DOCKER_28) -> BakeRun:
    return BakeRun(plan, plan.config.bake_options, schedule, facts)


def _events(*lines: str) -> list[progress.Event]:
    return [e for e in map(progress.parse, lines) if e is not None]


def _starts(actions) -> list[Start]:
    return [a for a in actions if isinstance(a, Start)]


def _said(actions) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def test_the_first_bakes_start_quietly_and_are_said_once_the_display_is_up(plan):
    run = _run(plan)
    first = run.begin()
    assert [s.names for s in first] == [("base-image",), ("fateboard",)]
    assert all(not s.links for s in first)
    announced = run.announce()
    assert _starts(announced) == []  # nothing else may start before base-image is built
    assert _said(announced)[1:] == ["fate-builder: bake 1: base-image", "fate-builder: bake 2: fateboard"]


def test_a_parents_export_starts_its_children_on_its_image_by_digest_before_its_bake_ends(plan):
    run = _run(plan)
    run.begin()
    run.announce()
    actions: list = []
    for event in _events("#9 exporting to image", f"#9 exporting manifest {DIGEST}", "#9 DONE 0.3s"):
        actions += run.saw(0, event)
    (children,) = _starts(actions)
    assert children.names == ("fateflow", "eggroll")
    by_name = {p.name: p for p in plan.images}
    assert children.links == {n: f"docker-image://{by_name[n].parent_reference}@{DIGEST}" for n in children.names}
    assert _said(actions) == ["fate-builder: bake 3: fateflow, eggroll (on the image of base-image)"]
    assert run.running() == [0, 1, 2]


def test_a_parent_loaded_into_docker_26_is_linked_by_tag_and_kept_in_the_store_for_its_children(plan):
    run = _run(plan, facts=replace(DOCKER_28, server_version="26.1.5"))
    (root, _) = run.begin()
    assert root.loaded == frozenset({"base-image"})
    after = run.succeeded(0, {"base-image": {"containerimage.digest": DIGEST}})
    assert isinstance(after[0], EndRound) and after[0].ok and after[0].only == ("base-image",)
    (children,) = _starts(after)
    by_name = {p.name: p for p in plan.images}
    assert children.links["fateflow"] == f"docker-image://{by_name['fateflow'].parent_reference}"


def test_a_digest_in_the_metadata_other_than_the_exports_is_said(plan):
    run = _run(plan)
    run.begin()
    run.announce()
    for event in _events("#9 exporting to image", f"#9 exporting manifest {DIGEST}", "#9 DONE 0.3s"):
        run.saw(0, event)
    other = "sha256:" + "c" * 64
    said = _said(run.succeeded(0, {"base-image": {"containerimage.digest": other}}))
    assert said == ["fate-builder: bake's metadata gives base-image another digest than its export showed"]
    assert run.metadata["base-image"]["containerimage.digest"] == other


def test_a_failed_target_drops_its_descendants_bakes_the_cancelled_again_and_skips_the_rest(plan):
    one_graph = {n: frozenset() for n in PIPELINE}
    run = _run(plan, schedule=one_graph)
    (first,) = run.begin()
    run.announce()
    for event in _events("#3 [base-image 1/2] RUN false", "#3 ERROR: process did not complete successfully",
                         "#4 [fateboard 1/3] RUN sleep 9", "#4 CANCELED"):
        run.saw(first.lane, event)
    actions = run.failed_with(first.lane, {}, "bake failed (exit status 1)")
    assert actions[0] == EndRound(ok=False, failed=("base-image",))
    assert _said(actions) == ["fate-builder: base-image failed; finishing the targets that do not depend on it: "
                              "fateboard"]
    (retry,) = _starts(actions)
    assert retry.retry and retry.names == ("fateboard",)
    run.succeeded(retry.lane, {"fateboard": {"containerimage.digest": DIGEST}})
    assert run.running() == []
    assert run.finish(PIPELINE) == [EndRound(ok=False, skipped=("eggroll", "fateflow"))]
    assert run.failed == ("base-image",) and run.error is None


def test_a_broken_cache_entry_is_baked_again_twice_the_second_time_without_cache(plan):
    run = _run(plan, schedule={"fateboard": frozenset()})
    (lane,) = run.begin()
    broken = ("#2 [fateboard 1/3] RUN true", "#2 ERROR: failed to stat active key during finalize")
    retries = []
    for _ in range(2):
        for event in _events(*broken):
            run.saw(lane.lane, event)
        (lane,) = _starts(run.failed_with(lane.lane, {}, "bake failed (exit status 1)"))
        retries.append(lane.no_cache)
    assert retries == [False, True]
    for event in _events(*broken):
        run.saw(lane.lane, event)
    actions = run.failed_with(lane.lane, {}, "bake failed (exit status 1)")
    assert actions[-1] == Stop("bake failed (exit status 1); see bake's output above")
    assert run.running() == []


def test_a_lost_engine_stops_the_run_with_its_words(plan):
    run = _run(plan)
    (root, beside) = run.begin()
    run.saw(root.lane, progress.parse("#1 ERROR: Cannot connect to the Docker daemon at unix:///x.sock"))
    actions = run.failed_with(root.lane, {}, "bake failed (exit status 1)")
    assert isinstance(actions[-1], Stop) and "the Docker engine went away" in actions[-1].error
    assert _starts(actions) == [] and run.running() == []
    assert run.seen and beside.lane not in run.running()
