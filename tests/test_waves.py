"""Waves: which images a bake that imports a build cache builds side by side (generator.waves, build)."""

from __future__ import annotations

from generator import catalog, waves
from generator.build import bake_call, bake_waves, link_mode, parent_source
from generator.config import BakeOptions
from generator.engine import EngineFacts

from .conftest import ALL_OFF, plan_of

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


def test_instructions_join_continuations_and_drop_comments():
    text = "# c\nFROM a\nRUN set -e; \\\n    echo  x\n\nCOPY b /c\n"
    assert waves.instructions(text) == ["FROM a", "RUN set -e; echo x", "COPY b /c"]


def test_siblings_that_begin_with_the_same_step_are_in_different_waves():
    steps = {n: waves.shared_step_keys(CHILD.replace("{name}", n), n) for n in ("a", "b", "c")}
    parents = {"root": None, "a": "root", "b": "root", "c": "a"}
    assert waves.schedule(["root", "a", "b", "c"], parents, steps) == (("root",), ("a",), ("b", "c"))


def test_the_same_dockerfile_on_different_parents_shares_no_step():
    steps = {n: waves.shared_step_keys(CHILD, "nn") for n in ("x-nn", "y-nn")}
    parents = {"x": None, "y": None, "x-nn": "x", "y-nn": "y"}
    assert waves.schedule(["x", "y", "x-nn", "y-nn"], parents, steps) == (("x", "y"), ("x-nn", "y-nn"))


def test_a_link_copy_is_shared_whatever_the_parent():
    text = "FROM ${PREFIX}/${BASE_IMAGE}\nCOPY --link --from=fate fate.env /f\nRUN true\n"
    other = "FROM ${PREFIX}/${BASE_IMAGE}\nRUN other\nCOPY --link --from=fate fate.env /f\n"
    steps = {"p": waves.shared_step_keys(text, "p"), "q": waves.shared_step_keys(other, "q")}
    assert waves.conflicts("p", "q", {"p": "x", "q": "y"}, steps)


def test_a_copy_from_the_build_context_is_only_shared_within_one_folder():
    text = "FROM scratch\nCOPY busybox /bin/busybox\n"
    steps = {"r1": waves.shared_step_keys(text, "base"), "r2": waves.shared_step_keys(text, "nginx")}
    assert not waves.conflicts("r1", "r2", {}, steps)


def test_a_bake_that_imports_a_cache_runs_in_waves_parents_first():
    plan = plan_of(CACHE="registry")
    rounds = bake_waves(plan, plan.selected, steps={})
    assert len(rounds) > 1
    done: set[str] = set()
    for wave in rounds:
        for name in wave:
            parent = catalog.BY_NAME[name].parent
            assert parent is None or parent in done, f"{name} before its parent {parent}"
        done |= set(wave)
    assert done == set(plan.selected) | set(plan.dependencies)


def test_without_a_cache_to_import_the_bake_is_one_graph():
    plan = plan_of(CACHE="none")
    assert bake_waves(plan, plan.selected, steps={}) == (tuple(t.name for t in plan.targets
                                                              if t.name in plan.selected),)


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
    (only_round,) = bake_waves(plan, plan.selected, steps={})
    assert only_round == plan.selected and "fateflow" not in only_round
    _, kwargs = bake_call(plan, only_round, BakeOptions(load=True))
    assert kwargs["set"]["fateflow.output"] == "type=cacheonly"
