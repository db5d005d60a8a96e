"""Catalog and selection: expectations written from the issue's table, not read from the code."""

from __future__ import annotations

import pytest

from generator import catalog
from generator.dockerfiles import context_key
from generator.errors import ConfigError
from testsupport.constants import BASIC

from .conftest import ALL_OFF, plan_of

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")

SPARK = ["fateflow-spark", "spark-base", "spark-master", "spark-worker", "nginx"]
NN = ["fateflow-nn", "eggroll-nn"]
SPARK_NN = ["fateflow-spark-nn", "spark-worker-nn", "spark-base-nn"]
OP = ["client", "fate-test"]


def test_catalog_has_the_34_fate_images_once_each():
    names = [image.name for image in V1.images]
    assert len(names) == 34 == len(set(names))


def test_catalog_lists_parents_before_children_and_only_known_names():
    seen = set()
    for image in V1.images:
        assert image.parent is None or image.parent in seen, image.name
        assert set(image.flags) <= set(catalog.FLAGS)
        assert image.family in V1.family_by_name
        assert (image.parent is None) == (image.external is not None)
        seen.add(image.name)
    for family in V1.families:
        assert set(family.sources) <= set(V1.source_by_name)


def test_only_the_basic_family_exists_for_arm64():
    assert [i.name for i in V1.images if i.arm64] == BASIC


def test_base_images_are_the_two_base_rows():
    assert [i.name for i in V1.images if i.base] == ["base-image", "base-image-ipcl"]


def test_default_selection_is_basic_spark_nn_and_optional_images():
    plan = plan_of()
    assert sorted(plan.selected) == sorted(BASIC + SPARK + NN + SPARK_NN + OP)
    assert len(plan.selected) == 16
    assert plan.dependencies == ()


def test_a_needed_parent_that_is_not_enabled_is_built_as_an_untagged_dependency():
    plan = plan_of(**{**ALL_OFF, "Build_NN": "1"})
    assert sorted(plan.selected) == ["eggroll-nn", "fateflow-nn"]
    assert sorted(plan.dependencies) == ["base-image", "eggroll", "fateflow"]
    assert [g.targets for g in plan.groups if g.name == "default"] == [("fateflow-nn", "eggroll-nn")]


def test_gpu_needs_nn_and_llm_needs_gpu():
    assert plan_of(**{**ALL_OFF, "Build_GPU": "1", "Build_Basic": "1"}).selected == tuple(BASIC)
    plan = plan_of(**{**ALL_OFF, "Build_NN": "1", "Build_GPU": "1", "Build_LLM": "1", "Build_Spark": "1"})
    gpu = ["fateflow-nn-gpu", "eggroll-nn-gpu", "fateflow-spark-nn-gpu", "spark-worker-nn-gpu", "spark-base-nn-gpu"]
    llm = ["fateflow-all-gpu", "eggroll-all-gpu", "fateflow-spark-all-gpu", "spark-worker-all-gpu",
           "spark-base-all-gpu"]
    assert set(gpu + llm + NN + SPARK + SPARK_NN) == set(plan.selected)
    assert sorted(plan.dependencies) == ["base-image", "eggroll", "fateflow"]


def test_llm_with_gpu_but_without_nn_builds_nn_gpu_parents_as_dependencies():
    plan = plan_of(**{**ALL_OFF, "Build_GPU": "1", "Build_LLM": "1"})
    assert sorted(plan.selected) == ["eggroll-all-gpu", "fateflow-all-gpu"]
    assert sorted(plan.dependencies) == ["base-image", "eggroll", "eggroll-nn-gpu", "fateflow", "fateflow-nn-gpu"]


def test_ipcl_family_and_its_optional_and_spark_members():
    plan = plan_of(**{**ALL_OFF, "Build_IPCL": "1", "Build_OP": "1", "Build_Spark": "1"})
    ipcl = ["base-image-ipcl", "fateflow-ipcl", "eggroll-ipcl", "fateflow-spark-ipcl", "spark-base-ipcl",
            "spark-worker-ipcl", "fate-test-ipcl"]
    assert set(plan.selected) == set(ipcl + SPARK + OP)
    assert sorted(plan.dependencies) == ["base-image", "fateflow"]


def test_fum_alone_has_no_parent_in_the_family():
    plan = plan_of(**{**ALL_OFF, "Build_FUM": "1"})
    assert plan.selected == ("fate-upgrade-manager",) and plan.dependencies == ()


def test_a_flag_that_selects_nothing_gets_a_warning_saying_what_it_needs():
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1", "Build_LLM": "1"})
    assert plan.warnings == ("Build_LLM=1 selects no image without Build_GPU=1",)
    assert plan_of().warnings == ()


def test_nothing_selected_is_an_error():
    with pytest.raises(ConfigError, match="no image selected"):
        plan_of(**ALL_OFF)


def test_arm64_plans_only_the_basic_family_on_both_platforms():
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1", "Platform": "amd64,arm64"})
    assert [t.name for t in plan.targets] == BASIC
    assert all(p.platforms == ("amd64", "arm64") for p in plan.images)
    assert {g.name for g in plan.groups} == {"default", "all", "basic"}


def test_base_images_take_base_tag_and_children_reference_parents_by_their_own_tag():
    plan = plan_of(**{**ALL_OFF, "Build_Basic": "1", "Build_NN": "1", "Build_IPCL": "1"},
                   TAG="1.11.2-release", BASE_TAG="base-7", PREFIX="127.0.0.1:5000/fate")
    by = {p.name: p for p in plan.images}
    assert by["base-image"].reference == "127.0.0.1:5000/fate/base-image:base-7"
    assert by["base-image-ipcl"].reference == "127.0.0.1:5000/fate/base-image-ipcl:base-7"
    assert by["fateflow"].reference == "127.0.0.1:5000/fate/fateflow:1.11.2-release"
    assert by["fateflow"].parent_reference == "127.0.0.1:5000/fate/base-image:base-7"
    assert by["fateflow-nn"].parent_reference == "127.0.0.1:5000/fate/fateflow:1.11.2-release"
    assert by["base-image-ipcl"].parent_reference == "127.0.0.1:5000/fate/base-image:base-7"
    assert by["fateflow-ipcl"].parent_reference == "127.0.0.1:5000/fate/base-image-ipcl:base-7"
    assert by["fateboard"].parent_reference is None


@pytest.mark.parametrize("reference, key", [
    ("federatedai/fateflow:latest", "federatedai/fateflow"),
    ("federatedai/fateflow:1.11.2-release", "federatedai/fateflow:1.11.2-release"),
    ("docker.io/federatedai/fateflow:latest", "federatedai/fateflow"),
    ("index.docker.io/federatedai/fateflow:v1", "federatedai/fateflow:v1"),
    ("docker.io/library/fateflow:v1", "fateflow:v1"),
    ("library/fateflow:latest", "fateflow"),
    ("docker.io/library/team/fateflow:v1", "library/team/fateflow:v1"),
    ("127.0.0.1:5000/federatedai/fateflow:latest", "127.0.0.1:5000/federatedai/fateflow"),
    ("localhost:5000/library/fateflow:v1", "localhost:5000/library/fateflow:v1"),
    ("harbor.io/latest/fateflow:latest-1", "harbor.io/latest/fateflow:latest-1"),
])
def test_context_key_is_the_name_buildkit_looks_up(reference, key):
    assert context_key(reference) == key


def test_groups_are_default_all_and_one_per_flag():
    plan = plan_of()
    groups = {g.name: g.targets for g in plan.groups}
    assert list(groups) == ["default", "all", "basic", "spark", "nn", "gpu", "llm", "ipcl", "op", "fum"]
    assert groups["all"] == tuple(image.name for image in V1.images)  # every image, in catalog order
    assert groups["op"] == ("client", "fate-test", "fate-test-ipcl")
    assert groups["fum"] == ("fate-upgrade-manager",)
    assert set(groups["llm"]) == {"fateflow-all-gpu", "eggroll-all-gpu", "fateflow-spark-all-gpu",
                                  "spark-worker-all-gpu", "spark-base-all-gpu"}
    assert len(groups["nn"]) == 10 and len(groups["gpu"]) == 10 and len(groups["spark"]) == 17
