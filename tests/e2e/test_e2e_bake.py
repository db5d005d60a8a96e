"""End to end: `fate-builder bake` on a real engine, with the stand-in Dockerfile tree.

The stand-in images record what their RUN steps saw (see testsupport/standin.py):
`/etc/fate-standin/lineage` lists every image of the chain from the root,
`/etc/fate-standin/<image>.arch` the `uname -m` of the image's RUN step.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from generator import catalog

pytest.register_assert_rewrite("tests.e2e.engine")

from testsupport import FATE_VERSION, MARKER, STATE  # noqa: E402
from testsupport.constants import BASIC, ROOT  # noqa: E402

from .engine import (  # noqa: E402
    TAG,
    image_exists,
    image_labels,
    image_layers,
    only,
    parallel,
    parse_progress,
    run_in,
    run_steps,
)

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")

pytest_plugins = ["tests.e2e.engine"]
pytestmark = pytest.mark.engine

DEFAULT_SELECTION = BASIC + [
    "fateflow-spark",
    "spark-base",
    "spark-master",
    "spark-worker",
    "nginx",
    "fateflow-nn",
    "eggroll-nn",
    "fateflow-spark-nn",
    "spark-worker-nn",
    "spark-base-nn",
    "client",
    "fate-test",
]
PLAIN = {"Docker_Options": "--progress=plain"}


def ref(prefix: str, name: str) -> str:
    return f"{prefix}/{name}:{TAG}"


def chain(name: str) -> list[str]:
    """The image and its catalog ancestors, root first: what its lineage file must say."""
    image = V1.by_name[name]
    return [a.name for a in reversed(V1.ancestors(image))] + [name]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def default_build(workspace):
    """One `bake --load` of the default selection; the committed docker-bake.hcl must not change."""
    committed = ROOT / "docker-bake.hcl"
    before = _digest(committed)
    settings = workspace.settings("default", **PLAIN)
    output = workspace.root / "default.hcl"
    result = workspace.run("bake", "--load", "--output", str(output), settings=settings)
    return {
        "result": result,
        "settings": settings,
        "prefix": settings["PREFIX"],
        "output": output,
        "committed_unchanged": _digest(committed) == before,
    }


@pytest.fixture(scope="module")
def default_rebuild(workspace, default_build):
    """The same bake again, with a metadata file."""
    assert default_build["result"].returncode == 0, default_build["result"].explain()
    metadata = workspace.root / "default-metadata.json"
    result = workspace.run(
        "bake",
        "--load",
        "--metadata-file",
        str(metadata),
        "--output",
        str(workspace.root / "default-again.hcl"),
        settings=default_build["settings"],
    )
    return {"result": result, "metadata": metadata}


def test_default_selection_builds_in_one_bake_and_every_selected_image_is_tagged(default_build):
    result = default_build["result"]
    assert result.returncode == 0, result.explain()
    # buildx prints this once per `docker buildx bake` invocation.
    assert result.output.count("load local bake definitions") == 1, result.explain()
    missing = [name for name in DEFAULT_SELECTION if not image_exists(ref(default_build["prefix"], name))]
    assert missing == [], f"not in the engine after bake: {missing}\n{result.explain()}"


def test_bake_writes_the_bake_file_to_output_and_leaves_the_committed_one_alone(default_build):
    assert default_build["result"].returncode == 0, default_build["result"].explain()
    text = default_build["output"].read_text()
    assert f'default = "{default_build["prefix"]}"' in text
    assert default_build["committed_unchanged"]


def test_each_image_is_built_on_its_parents_layers(default_build):
    assert default_build["result"].returncode == 0, default_build["result"].explain()
    prefix = default_build["prefix"]
    layers = {name: image_layers(ref(prefix, name)) for name in DEFAULT_SELECTION}
    for name in DEFAULT_SELECTION:
        parent = V1.by_name[name].parent
        if parent is None:
            continue
        own, inherited = layers[name], layers[parent]
        assert len(own) > len(inherited) and own[: len(inherited)] == inherited, (
            f"{name} is not built on the layers of {parent}:{TAG}"
        )


def test_each_image_has_the_files_its_ancestors_run_steps_wrote(default_build):
    assert default_build["result"].returncode == 0, default_build["result"].explain()
    prefix = default_build["prefix"]
    lineages = parallel(lambda name: run_in(ref(prefix, name), "cat", f"{STATE}/lineage").split(), DEFAULT_SELECTION)
    assert dict(zip(DEFAULT_SELECTION, lineages)) == {name: chain(name) for name in DEFAULT_SELECTION}


def test_images_contain_the_fate_checkout_pieces_and_its_version(default_build, workspace):
    assert default_build["result"].returncode == 0, default_build["result"].explain()
    prefix = default_build["prefix"]
    fateflow = ref(prefix, "fateflow")
    assert f"FATE={FATE_VERSION}" in run_in(fateflow, "cat", "/data/projects/fate/fate.env")
    assert f"{MARKER}: python/federatedml/__init__.py" in run_in(
        fateflow, "cat", "/data/projects/fate/fate/python/federatedml/__init__.py"
    )
    assert f"{MARKER}: c/proxy/conf/route_table.yaml" in run_in(
        ref(prefix, "nginx"), "cat", "/data/projects/fate/proxy/nginx/conf/route_table.yaml"
    )
    # Only the named contexts reach the build, not the rest of the checkout.
    assert "install_os_dependencies.sh" not in run_in(fateflow, "find", "/data")
    labels = image_labels(fateflow)
    assert labels.get("org.opencontainers.image.version") == FATE_VERSION
    assert labels.get("org.opencontainers.image.title") == "fateflow"


def test_second_identical_bake_runs_no_step_again(default_rebuild):
    result = default_rebuild["result"]
    assert result.returncode == 0, result.explain()
    runs = run_steps(parse_progress(result.output))
    # Every image of the selection has at least its own RUN step.
    assert len(runs) >= len(DEFAULT_SELECTION), result.explain()
    rebuilt = sorted(n for s in runs if not s.cached for n in s.names)
    assert rebuilt == [], "RUN steps executed again:\n" + "\n".join(rebuilt)


def test_metadata_file_names_every_built_image(default_rebuild, default_build):
    assert default_rebuild["result"].returncode == 0, default_rebuild["result"].explain()
    metadata = json.loads(default_rebuild["metadata"].read_text())
    for name in DEFAULT_SELECTION:
        assert name in metadata, f"{name} missing from the metadata file: {sorted(metadata)}"
        assert ref(default_build["prefix"], name) in metadata[name].get("image.name", "").split(","), name


@pytest.fixture(scope="module")
def multiarch_build(workspace):
    settings = workspace.settings("multiarch", **only("Basic"), Platform="amd64,arm64", **PLAIN)
    result = workspace.run("bake", "--load", "--output", str(workspace.root / "multiarch.hcl"), settings=settings)
    return {"result": result, "prefix": settings["PREFIX"]}


@pytest.mark.parametrize("platform, machine", [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")])
def test_multi_platform_basic_images_run_each_architectures_steps_natively_or_emulated(
    multiarch_build, platform, machine
):
    result = multiarch_build["result"]
    assert result.returncode == 0, result.explain()
    # Every RUN step of the chain recorded the machine it ran on: for arm64 that is QEMU
    # emulating aarch64, also for the parent's step the image inherits.
    script = f'for i in $(cat {STATE}/lineage); do echo "$i=$(cat {STATE}/$i.arch)"; done'
    seen = parallel(
        lambda name: run_in(ref(multiarch_build["prefix"], name), "sh", "-c", script, platform=platform).split(),
        BASIC,
    )
    assert dict(zip(BASIC, seen)) == {name: [f"{link}={machine}" for link in chain(name)] for name in BASIC}


# IPCL and FATE-LLM come from git, which cannot be fetched here: IPCL from a local
# pailliercryptolib_python (IPCL_PKG_DIR), FATE-LLM through Docker_Options
# `--set *.contexts.fate-llm-src=DIR`. Basic is off, so base-image, fateflow and eggroll
# are built only as parents.
GIT_SOURCE_SELECTION = [
    "fateflow-nn",
    "eggroll-nn",
    "fateflow-nn-gpu",
    "eggroll-nn-gpu",
    "fateflow-all-gpu",
    "eggroll-all-gpu",
    "base-image-ipcl",
    "fateflow-ipcl",
    "eggroll-ipcl",
]


@pytest.fixture(scope="module")
def git_source_build(workspace):
    settings = workspace.settings(
        "git-sources",
        **only("NN", "GPU", "LLM", "IPCL"),
        IPCL_PKG_DIR=str(workspace.ipcl_dir),
        Docker_Options=f"--progress=plain --set *.contexts.fate-llm-src={workspace.fate_llm_dir}",
    )
    result = workspace.run("bake", "--load", "--output", str(workspace.root / "git-sources.hcl"), settings=settings)
    return {"result": result, "prefix": settings["PREFIX"]}


def test_ipcl_and_fate_llm_images_build_from_local_stand_ins_of_their_git_sources(git_source_build):
    result, prefix = git_source_build["result"], git_source_build["prefix"]
    assert result.returncode == 0, result.explain()
    missing = [name for name in GIT_SOURCE_SELECTION if not image_exists(ref(prefix, name))]
    assert missing == [], result.explain()
    leaves = ["eggroll-all-gpu", "fateflow-all-gpu", "eggroll-ipcl", "fateflow-ipcl"]
    lineages = parallel(lambda name: run_in(ref(prefix, name), "cat", f"{STATE}/lineage").split(), leaves)
    assert dict(zip(leaves, lineages)) == {name: chain(name) for name in leaves}
    assert "ipcl_python" in run_in(ref(prefix, "fateflow-ipcl"), "ls", "/data/projects/ipcl_python")
    assert "fate_llm" in run_in(ref(prefix, "fateflow-all-gpu"), "ls", "/data/projects/fate/fate_llm/python")


def test_a_needed_parent_that_is_not_selected_is_built_but_not_tagged(git_source_build):
    result, prefix = git_source_build["result"], git_source_build["prefix"]
    assert result.returncode == 0, result.explain()
    assert image_exists(ref(prefix, "fateflow-nn")), "the selection itself was not built"
    tagged = [name for name in ["base-image", "fateflow", "eggroll"] if image_exists(ref(prefix, name))]
    assert tagged == [], f"parents built only as dependencies were tagged: {tagged}"


def test_bake_from_a_directory_holding_neither_fate_dir_nor_the_dockerfiles_nor_the_local_cache(workspace, tmp_path):
    """Issue 8's report: buildx 0.20+ refuses such a bake unless fate-builder grants exactly those folders."""
    cache = workspace.root / f"local-cache-{tmp_path.name}"  # does not exist yet: bake's grant needs it made first
    settings = workspace.settings("elsewhere", **only("Basic"), CACHE=f"local:{cache}", **PLAIN)
    result = workspace.run("bake", "--load", "--output", str(tmp_path / "bake.hcl"), settings=settings, cwd=tmp_path)
    assert result.returncode == 0, result.explain()
    assert "additional privileges" not in result.output, result.explain()
    missing = [name for name in BASIC if not image_exists(ref(settings["PREFIX"], name))]
    assert missing == [], result.explain()
    assert sorted(p.name for p in cache.iterdir()) == sorted(BASIC), "cache-to did not write the local cache"
    assert all((cache / name / "index.json").is_file() for name in BASIC)


def test_a_personal_env_that_expands_version_gives_no_compose_warnings(workspace, tmp_path):
    """Issue 15's surprise: buildx reads ./.env as a compose dotenv file and warned twice on every bake
    for FATE-Builder's `TAG=${version}-release` (buildx 0.13 whatever the environment holds)."""
    (tmp_path / ".env").write_text("TAG=${version}-release\n", encoding="utf-8")
    settings = workspace.settings("dotenv", **only("Basic"), **PLAIN)
    result = workspace.run("bake", "--load", "--output", str(tmp_path / "bake.hcl"), "fateboard",
                           settings=settings, cwd=tmp_path)
    assert result.returncode == 0, result.explain()
    assert "fateboard" in result.output, result.explain()  # the bake's own log is shown, only the noise is not
    assert 'variable is not set' not in result.output, result.explain()


def test_every_image_says_it_was_created_when_the_fate_tree_was_committed(default_build, workspace):
    """The session's tree is not a git checkout: its commit time is its marker's mtime (as `git archive` sets it)."""
    import subprocess
    from datetime import datetime, timezone

    assert default_build["result"].returncode == 0, default_build["result"].explain()
    committed = int((workspace.fate_dir / "fate.env").stat().st_mtime)
    expected = datetime.fromtimestamp(committed, timezone.utc)
    created = {}
    for name in DEFAULT_SELECTION:
        out = subprocess.run(["docker", "image", "inspect", "--format", "{{.Created}}",
                              ref(default_build["prefix"], name)], capture_output=True, text=True, check=True)
        created[name] = datetime.fromisoformat(out.stdout.strip().replace("Z", "+00:00"))
    assert {name: when for name, when in created.items() if when != expected} == {}, expected
