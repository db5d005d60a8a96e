"""Waves: which images a bake that imports a build cache builds side by side (generator.waves, build)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator import catalog, dockerfiles, doctor, progress, render, waves
from generator.bakerun import ExportWatch, lane_line, link_mode, parent_source
from generator.build import bake_call, bake_schedule
from generator.config import BakeOptions
from generator.engine import EngineFacts
from generator.formats import as_env

from .conftest import ALL_OFF, plan_of

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")

CHILD = """ARG PREFIX=federatedai
ARG BASE_IMAGE=base-image
FROM ${PREFIX}/${BASE_IMAGE}:${BASE_TAG}
ARG BASE_IMAGE
COPY --from=fate fate.env /data/projects/fate/fate.env
RUN echo {name}
"""


def _facts(server: str = "28.5.2", driver: str | None = "docker") -> EngineFacts:
    return EngineFacts(cli="docker", server_version=server, server_error=None, buildx_version="0.29.1",
                       builder_name="default", builder_driver=driver, builder_platforms=("linux/amd64",),
                       builder_error=None, containerd_store=True)


def _keys(text: str, context: str) -> frozenset[waves.StepKey]:
    return waves.shared_step_keys(dockerfiles.instructions(text), context)


def test_instructions_join_continuations_and_drop_comments():
    text = "# c\nFROM a\nRUN set -e; \\\n    # inside\n    echo  x\n\nCOPY b /c\n"
    assert [i.line for i in dockerfiles.instructions(text)] == ["FROM a", "RUN set -e; echo x", "COPY b /c"]


def test_siblings_that_begin_with_the_same_step_are_in_different_waves():
    steps = {n: _keys(CHILD.replace("{name}", n), n) for n in ("a", "b", "c")}
    parents = {"root": None, "a": "root", "b": "root", "c": "a"}
    assert waves.schedule(["root", "a", "b", "c"], parents, steps) == (("root",), ("a",), ("b", "c"))


def test_the_same_dockerfile_on_different_parents_shares_no_step():
    steps = {n: _keys(CHILD, "nn") for n in ("x-nn", "y-nn")}
    parents = {"x": None, "y": None, "x-nn": "x", "y-nn": "y"}
    assert waves.schedule(["x", "y", "x-nn", "y-nn"], parents, steps) == (("x", "y"), ("x-nn", "y-nn"))


def test_a_link_copy_is_shared_whatever_the_parent():
    text = "FROM ${PREFIX}/${BASE_IMAGE}\nCOPY --link --from=fate fate.env /f\nRUN true\n"
    other = "FROM ${PREFIX}/${BASE_IMAGE}\nRUN other\nCOPY --link --from=fate fate.env /f\n"
    steps = {"p": _keys(text, "p"), "q": _keys(other, "q")}
    assert waves.conflicts("p", "q", {"p": "x", "q": "y"}, steps)


def test_a_copy_from_the_build_context_is_only_shared_within_one_folder():
    text = "FROM scratch\nCOPY busybox /bin/busybox\n"
    steps = {"r1": _keys(text, "base"), "r2": _keys(text, "nginx")}
    assert not waves.conflicts("r1", "r2", {}, steps)


def test_a_bake_that_imports_a_cache_is_a_pipeline_each_image_waiting_for_its_parent():
    plan = plan_of(CACHE="registry")
    plan_waits = bake_schedule(plan, plan.selected, steps={})
    assert set(plan_waits) == set(plan.selected) | set(plan.dependencies)
    order = list(plan_waits)
    for name, before in plan_waits.items():
        parent = V1.by_name[name].parent
        assert before == ({parent} if parent else set()), f"{name} waits for {before}, not only its parent"
        assert all(order.index(b) < order.index(name) for b in before)


def test_without_a_cache_to_import_or_when_asked_the_bake_is_one_graph():
    for plan, layout in ((plan_of(CACHE="none"), "auto"), (plan_of(CACHE="registry"), "one-graph")):
        plan_waits = bake_schedule(plan, plan.selected, layout, steps={})
        assert list(plan_waits) == [t.name for t in plan.targets if t.name in plan.selected]
        assert not any(plan_waits.values())
        assert waves.ready(plan_waits, (), ()) == (tuple(plan_waits),), "one graph is one bake"


def test_siblings_that_begin_alike_wait_one_for_the_other_and_others_wait_only_for_their_parent():
    steps = {n: _keys(CHILD.replace("{name}", n), n) for n in ("a", "b", "c")}
    parents = {"root": None, "a": "root", "b": "root", "c": "a"}
    assert waves.waits(["root", "a", "b", "c"], parents, steps) == {
        "root": frozenset(), "a": {"root"}, "b": {"root", "a"}, "c": {"a"}}


def test_an_image_others_wait_for_gets_a_bake_of_its_own_the_rest_share_one():
    plan_waits = {"root": frozenset(), "r2": frozenset(), "leaf": frozenset(), "a": frozenset({"root"}),
                  "b": frozenset({"root"})}
    assert waves.ready(plan_waits, finished=(), started=()) == (("root",), ("r2", "leaf"))
    assert waves.ready(plan_waits, finished=("root",), started=("root", "r2", "leaf")) == (("a", "b"),)
    assert waves.ready(plan_waits, finished=(), started=("root", "r2", "leaf")) == ()


def test_the_pipeline_finishes_when_the_longest_chain_does_and_waves_when_each_waves_longest_does():
    parents = {"base": None, "short": "base", "long": "base", "after-short": "short"}
    seconds = {"base": 10, "short": 1, "long": 20, "after-short": 5}
    names = list(parents)
    pipeline = waves.finish_times(waves.waits(names, parents, {}), seconds)
    assert max(pipeline.values()) == 30  # base, then long
    assert pipeline["after-short"] == 16  # it does not wait for long
    in_waves = waves.finish_times(waves.wave_plan(waves.schedule(names, parents, {})), seconds)
    assert max(in_waves.values()) == 35  # base 10, wave 2 waits for long (20), then after-short 5


def test_the_bakes_side_by_side_get_vertex_numbers_of_their_own_in_the_merged_log():
    assert lane_line(0, "#12 [fateflow 2/5] RUN x\n") == "#12 [fateflow 2/5] RUN x\n"
    assert lane_line(3, "#12 DONE 0.1s\n") == "#30012 DONE 0.1s\n"
    assert lane_line(3, "ERROR: target fateflow: failed\n") == "ERROR: target fateflow: failed\n"


def test_a_child_in_a_wave_is_on_its_parents_image_and_the_parent_is_not_in_the_call():
    plan = plan_of(CACHE="registry")
    fateflow = next(p for p in plan.images if p.name == "fateflow")
    names, kwargs = bake_call(plan, ("fateflow",), BakeOptions(), links={"fateflow": "docker-image://x@sha256:1"})
    assert names == ["fateflow"]
    assert kwargs["set"][f"fateflow.contexts.{fateflow.parent_context_key}"] == "docker-image://x@sha256:1"


def test_a_parent_that_later_waves_build_on_is_loaded():
    plan = plan_of(CACHE="registry")
    _, kwargs = bake_call(plan, ("base-image",), BakeOptions(), loaded={"base-image"})
    assert kwargs["set"]["base-image.output"] == "type=docker"


def test_a_loaded_parent_is_pinned_by_digest_on_docker_28_by_tag_before_and_not_on_another_builder():
    options = BakeOptions()
    assert link_mode(_facts("28.5.2"), options, parent_pushed=False) == "digest"
    assert link_mode(_facts("26.1.5"), options, parent_pushed=False) == "tag"
    assert link_mode(_facts("26.1.5", "docker-container"), options, parent_pushed=True) == "digest"
    assert link_mode(_facts("28.5.2", "docker-container"), options, parent_pushed=False) == "target"


def test_parent_source_is_a_docker_image_context_or_none():
    assert parent_source("r/p:t", "sha256:ab", "digest") == "docker-image://r/p:t@sha256:ab"
    assert parent_source("r/p:t", "sha256:ab", "tag") == "docker-image://r/p:t"
    assert parent_source("r/p:t", None, "digest") is None
    assert parent_source("r/p:t", "sha256:ab", "target") is None


def test_one_graph_names_only_the_asked_targets_so_unasked_parents_stay_cache_only():
    plan = plan_of(**{**ALL_OFF, "Build_NN": "1"})
    (only_round,) = waves.ready(bake_schedule(plan, plan.selected, steps={}), (), ())
    assert only_round == plan.selected and "fateflow" not in only_round
    _, kwargs = bake_call(plan, only_round, BakeOptions(load=True))
    assert kwargs["set"]["fateflow.output"] == "type=cacheonly"


def test_plan_env_names_the_wave_groups_in_order_and_the_plain_bake_commands_after_every_export():
    plan = plan_of(CACHE="registry")
    text = as_env(plan)
    count = len(render.plan_waves(plan))
    assert f"export FATE_BUILDER_WAVES='{' '.join(f'wave-{n}' for n in range(1, count + 1))}'\n" in text
    lines = text.splitlines()
    first_comment = next(i for i, line in enumerate(lines) if line.startswith("#"))
    assert all(line.startswith("export ") for line in lines[:first_comment])
    assert all(line.startswith("#") for line in lines[first_comment:])
    assert f"#   PARENTS=image docker buildx bake --allow fs.read=\"$FATE_DIR\" --push wave-{count}" in lines
    assert "FATE_BUILDER_WAVES" not in as_env(plan_of(CACHE="none"))


def test_a_sibling_with_more_generations_below_it_goes_first():
    steps = {n: _keys(CHILD.replace("{name}", n), n) for n in ("a", "b", "c")}
    parents = {"root": None, "a": "root", "b": "root", "c": "b"}  # b has a child, a has none
    assert waves.waits(["root", "a", "b", "c"], parents, steps) == {
        "root": frozenset(), "a": {"root", "b"}, "b": {"root"}, "c": {"b"}}


def test_gha_and_local_caches_are_pipelined_like_registry_and_doctor_says_gha_is_not_measured():
    for cache in ("gha", "local:/tmp/c"):
        plan = plan_of(CACHE=cache)
        assert any(bake_schedule(plan, plan.selected, steps={}).values()), cache
    (check,) = doctor.cache_checks(plan_of(CACHE="gha"))
    assert "not measured here" in check.detail
    (check,) = doctor.cache_checks(plan_of(CACHE="local:/tmp/c"))
    assert "0 of the 16 default images rebuilt" in check.detail


@pytest.mark.parametrize("buildx", ["0.13", "0.29"])
def test_an_images_export_shows_the_digest_bakes_metadata_gives_it_before_the_bake_ends(buildx):
    """Recorded cold bakes (--load, containerd store): a child may start on its parent once this is seen."""
    data = Path(__file__).parent / "data" / "progress"
    metadata = json.loads((data / f"{buildx}-cold.metadata.json").read_text(encoding="utf-8"))
    watch, found = ExportWatch(), {}
    for line in (data / f"{buildx}-cold.log").read_text(encoding="utf-8").splitlines():
        event = progress.parse(line)
        if event is not None and (seen := watch.feed(event)) is not None:
            found[seen[0]] = seen[1]
    assert found == {
        name: entry["containerimage.digest"] for name, entry in metadata.items() if isinstance(entry, dict)}


def test_the_export_of_a_bake_of_one_target_is_its_own_though_its_labels_name_no_target():
    watch = ExportWatch("base-image")
    digest = "sha256:" + "a" * 64
    lines = ["#17 exporting to image", f"#17 exporting manifest {digest} 0.0s done", "#17 DONE 0.3s"]
    assert [watch.feed(progress.parse(line)) for line in lines] == [None, None, ("base-image", digest)]
    assert ExportWatch().feed(progress.parse("#17 exporting to image")) is None
