"""End to end: CACHE=registry keeps the build cache in the registry, next to the images.

`docker buildx prune -af` empties the builder's cache (the whole shared builder's, which
is what a fresh CI machine looks like); the next bake must then find its steps in the
registry cache instead of running them again.
"""

from __future__ import annotations

import re

import pytest

pytest.register_assert_rewrite("tests.engine")

from .engine import docker, only, parse_progress, registry_tags, run_steps  # noqa: E402

pytest_plugins = ["tests.engine"]
pytestmark = pytest.mark.engine

BASIC = ["base-image", "fateflow", "fateboard", "eggroll"]


def _prune() -> None:
    docker("buildx", "prune", "-af", timeout=300)


def _ran(result) -> list[str]:
    return sorted(n for s in run_steps(parse_progress(result.output)) if not s.cached for n in s.names)


def _runs_for_another_target(step: str) -> bool:
    """`[fateflow stage-0 6/6] RUN ... name=base-image; ...`: base-image's step in fateflow's solve."""
    label = re.match(r"\[([A-Za-z0-9_.-]+)[ \]]", step)
    image = re.search(r"name=([A-Za-z0-9_.-]+);", step)
    return bool(label and image and label.group(1) != image.group(1))


def test_registry_cache_answers_for_every_step_after_the_builder_cache_is_pruned(workspace, registry):
    tree = workspace.tree(variant="cache")  # a nonce of its own: nothing is cached before the first bake
    settings = workspace.settings("cache", **only("Basic"), CACHE="registry", Docker_Options="--progress=plain")
    prefix = settings["PREFIX"]
    namespace = prefix.split("/", 1)[1]

    def bake(name: str, **overrides: str):
        result = workspace.run(
            "bake",
            "--load",
            "--output",
            str(workspace.root / f"cache-{name}.hcl"),
            settings={**settings, **overrides},
            docker_dir=tree,
        )
        assert result.returncode == 0, result.explain()
        return result

    first = bake("first")
    assert _ran(first), "the first bake ran no RUN step: the test would prove nothing"
    for name in BASIC:
        assert "buildcache" in registry_tags(f"{namespace}/{name}"), f"no cache exported for {name}"

    # Control: after a prune, the same bake without the registry cache runs its steps again.
    _prune()
    control = bake("control", CACHE="none")
    assert _ran(control), "after a prune, a bake without cache ran nothing: prune did not empty the cache"

    _prune()
    again = bake("again")
    for name in BASIC:
        assert f"importing cache manifest from {prefix}/{name}:buildcache" in again.output, again.explain()
    ran = _ran(again)
    # Known BuildKit race (seen in about 1 run of 3 here): a parent's step shared by two
    # solves of one bake runs in the child's solve, labelled with the child's name, and
    # misses the cache although both solves imported the parent's. Only that exact case is
    # reported as an expected failure; any other step that runs again fails the test.
    shared = [step for step in ran if _runs_for_another_target(step)]
    if ran and shared == ran:
        pytest.xfail("BuildKit ran a parent's step inside a child's solve without its registry cache: "
                     + "; ".join(step[:60] for step in ran))
    assert ran == [], "RUN steps executed although the registry cache has them:\n" + "\n".join(ran)
    assert len(run_steps(parse_progress(again.output))) >= len(BASIC)
