"""End to end: a fresh builder takes every step of the whole default family from the build cache.

`docker buildx prune -af` empties the builder's cache (the whole shared builder's, which
is what a fresh CI machine looks like) and the images are removed; the next `fate-builder
bake` then finds its steps in the registry (`CACHE=registry`) or the folder (`CACHE=local:DIR`).

Judged by the images' layers: a step run again writes new files, so a new layer. Not by the
progress log: when the cache's layers are not in the image store, BuildKit 0.13 shows a cache
hit whose layer it downloads for the export as a finished step, not CACHED.

The default selection is 16 images up to five levels (base-image -> fateflow -> spark-base ->
spark-worker -> spark-worker-nn); the stand-ins copy their FATE sources from the named
contexts as the real Dockerfiles do, and fateflow and eggroll begin with the same two steps.
Before the pipeline (generator.waves: each image baked once its parent is built, on its
parent's image), the same bake after a prune rebuilt 13 of the 16.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.e2e.engine")

from .engine import (  # noqa: E402
    docker,
    image_layers,
    local_refs_under,
    parse_progress,
    registry_tags,
    remove_images,
    run_steps,
)
from .test_e2e_bake import DEFAULT_SELECTION  # noqa: E402

pytest_plugins = ["tests.e2e.engine"]
pytestmark = pytest.mark.engine


def _prune() -> None:
    docker("buildx", "prune", "-af", timeout=300)


def _ran(result) -> list[str]:
    return sorted(n for s in run_steps(parse_progress(result.output)) if not s.cached for n in s.names)


def _baker(workspace, purpose: str, cache: str):
    tree = workspace.tree(variant=purpose)  # a nonce of its own: nothing is cached before the first bake
    settings = workspace.settings(purpose, CACHE=cache, Docker_Options="--progress=plain")

    def bake(name: str, *targets: str, **overrides: str):
        result = workspace.run(
            "bake", "--load", "--output", str(workspace.root / f"{purpose}-{name}.hcl"), *targets,
            settings={**settings, **overrides}, docker_dir=tree, timeout=900,
        )
        assert result.returncode == 0, result.explain()
        return result

    return bake, settings["PREFIX"]


def _layers(prefix: str) -> dict[str, list[str]]:
    return {name: image_layers(f"{prefix}/{name}:e2e") for name in DEFAULT_SELECTION}


def _fresh_builder(prefix: str) -> None:
    _prune()
    remove_images(local_refs_under(prefix))


@pytest.mark.parametrize("kind", ["registry", "local"])
def test_after_a_prune_the_family_bake_takes_every_step_of_every_image_from_the_cache(workspace, registry, kind):
    purpose = f"cache-{kind}"
    cache = "registry" if kind == "registry" else f"local:{workspace.root / 'cache-dir'}"
    bake, prefix = _baker(workspace, purpose, cache)

    first = bake("first")
    assert _ran(first), "the first bake ran no RUN step: the test would prove nothing"
    assert "(on the image of fateflow)" in first.output, (
        "the bake ran as one graph, not each image on its parent's image:\n" + first.explain())
    if kind == "registry":
        namespace = prefix.split("/", 1)[1]
        for name in DEFAULT_SELECTION:
            assert "buildcache" in registry_tags(f"{namespace}/{name}"), f"no cache exported for {name}"
    cached = _layers(prefix)

    _fresh_builder(prefix)
    again = bake("again")
    rebuilt = sorted(name for name, layers in _layers(prefix).items() if layers != cached[name])
    assert not rebuilt, f"rebuilt {len(rebuilt)} of {len(cached)} although the cache has them: {rebuilt}\n" + (
        again.explain())


def test_a_bake_without_the_cache_after_a_prune_gives_other_layers(workspace, registry):
    """The control: a step run again gives another layer, or the test above could not tell a rerun from a hit."""
    bake, prefix = _baker(workspace, "cache-control", "registry")
    bake("first", "fateflow")
    cached = image_layers(f"{prefix}/fateflow:e2e")
    _fresh_builder(prefix)
    bake("control", "fateflow", CACHE="none")
    assert image_layers(f"{prefix}/fateflow:e2e") != cached, "a bake without cache after a prune gave the same layers"
