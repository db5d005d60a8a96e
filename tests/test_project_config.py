"""The configuration story: the committed docker-bake.env renders the committed docker-bake.hcl;
the personal .env and the environment decide what `bake` builds, never what that file holds."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from generator import catalog
from generator.config import load_config
from generator.package import PROJECT_ROOT
from generator.plan import build_plan

from .conftest import normalized_print, run_cli

PERSONAL = ".fate-builder/docker-bake.hcl"


@pytest.fixture
def project(tmp_path: Path, fate_dir: Path) -> Path:
    """A fresh clone of this checkout, with a personal .env as the README suggests.

    `python -m generator` run from it imports the clone's own package, as `make` would.
    """
    root = tmp_path / "clone"
    files = subprocess.run(["git", "-C", str(PROJECT_ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    for name in files:
        if (PROJECT_ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, root / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(root)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "clone"], check=True)
    (root / ".env").write_text(f"FATE_DIR={fate_dir}\nPREFIX=harbor.local/fate\nTAG=${{version}}-release\n")
    return root


def git_status(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True,
                          check=True).stdout


def test_make_bake_runs_bake_alone_and_bake_never_renders_the_committed_file():
    recipe = re.search(r"^bake:.*\n((?:\t.*\n)+)", (PROJECT_ROOT / "Makefile").read_text(), re.M)
    assert recipe is not None
    assert recipe.group(1).strip() == "$(FB) bake"


@pytest.mark.buildx
def test_bake_with_a_personal_env_leaves_git_status_clean(project, buildx):
    result = run_cli("bake", "--print", cwd=project)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["target"]["fateflow"]["tags"] == ["harbor.local/fate/fateflow:1.11.2-release"]
    assert git_status(project) == ""
    assert not (project / PERSONAL).exists()


@pytest.mark.buildx
def test_a_selection_the_committed_file_lacks_is_rendered_to_an_ignored_path_with_one_line(project, buildx):
    before = (project / "docker-bake.hcl").read_text()
    result = run_cli("bake", "--print", "gpu", env={"Build_GPU": "1"}, cwd=project)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"fate-builder: the selection or platforms differ from docker-bake.env (Build_GPU=1); "
                     f"baking {PERSONAL} instead"]
    assert "fateflow-nn-gpu" in json.loads(result.stdout)["target"]
    assert (project / "docker-bake.hcl").read_text() == before
    assert git_status(project) == ""
    assert "fateflow-nn-gpu" in (project / PERSONAL).read_text()


@pytest.mark.buildx
def test_a_stale_committed_file_is_not_baked_nor_rewritten(project, buildx):
    stale = (project / "docker-bake.hcl").read_text().replace('default = "latest"', 'default = "old"')
    (project / "docker-bake.hcl").write_text(stale)
    result = run_cli("bake", "--print", "fateflow", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "docker-bake.hcl is stale" in result.stderr and PERSONAL in result.stderr
    assert (project / "docker-bake.hcl").read_text() == stale


def test_check_gives_the_same_verdict_whatever_the_personal_env_and_environment_say(project):
    (project / ".env").write_text("TAG=mine\nBuild_GPU=1\nPlatform=amd64\nPREFIX=me\n")
    for env in ({}, {"TAG": "x", "Build_LLM": "1", "Build_GPU": "1", "FATE_DIR": "/elsewhere"}):
        result = run_cli("check", env=env, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
    assert run_cli("render", env={"TAG": "x", "Build_GPU": "1"}, cwd=project).returncode == 0
    assert git_status(project) == ""


def test_the_team_states_its_selection_in_the_committed_project_file(project):
    env_file = project / "docker-bake.env"
    env_file.write_text(env_file.read_text().replace("Build_GPU=0", "Build_GPU=1"))
    stale = run_cli("check", cwd=project)
    assert stale.returncode == 1 and "stale" in stale.stderr
    assert run_cli("render", cwd=project).returncode == 0
    assert run_cli("check", cwd=project).returncode == 0
    default_group = re.search(r'group "default" \{\n  targets = (\[.*\])', (project / "docker-bake.hcl").read_text())
    assert default_group is not None and "fateflow-nn-gpu" in json.loads(default_group.group(1))


@pytest.mark.buildx
def test_plain_bake_with_the_same_variables_builds_what_fate_builder_bake_builds(project, buildx, fate_dir):
    ours = run_cli("bake", "--print", "default", cwd=project)
    assert ours.returncode == 0, ours.stderr
    # SOURCE_DATE_EPOCH as fate-builder derives it for a FATE_DIR without git: the marker's time.
    variables = {"FATE_DIR": str(fate_dir), "PREFIX": "harbor.local/fate", "TAG": "1.11.2-release",
                 "FATE_VERSION": "1.11.2", "SOURCE_DATE_EPOCH": str(int((fate_dir / "fate.env").stat().st_mtime))}
    plain = buildx(project / "docker-bake.hcl", "default", env=variables, cwd=project)

    def normalized(printed: dict) -> dict:
        targets = printed["target"]
        for target in targets.values():
            target["context"] = os.path.normpath(os.path.join(project, target["context"]))
            # A named context in the Dockerfile tree (fragments) is relative like the context itself.
            target["contexts"] = {key: value if "://" in value or value.startswith("target:") else
                                  os.path.normpath(os.path.join(project, value))
                                  for key, value in target.get("contexts", {}).items()}
        return targets

    assert normalized(normalized_print(json.loads(ours.stdout))) == normalized(plain)
    # Not two empty prints: both are the committed selection with its parents.
    committed = build_plan(load_config(environ={"FATE_DIR": str(fate_dir)}, project_file=project / "docker-bake.env"))
    assert set(plain["target"]) == {p.name for p in committed.images} != set()


def test_plan_env_format_gives_the_variables_bake_gets(project, fate_dir):
    result = run_cli("plan", "--format", "env", cwd=project)
    assert result.returncode == 0, result.stderr
    assert f"export FATE_DIR={fate_dir}\n" in result.stdout
    assert "export TAG=1.11.2-release\n" in result.stdout and "export FATE_VERSION=1.11.2\n" in result.stdout


@pytest.mark.parametrize("args", [
    ["--docker-dir", "{d}", "render", "-o", "{out}"],
    ["render", "--docker-dir", "{d}", "-o", "{out}"],
    ["-D", "TAG=one", "render", "-D", "PREFIX=two", "--docker-dir", "{d}", "-o", "{out}"],
], ids=["before", "after", "both"])
def test_global_options_work_before_or_after_the_command(tmp_path, args):
    docker_dir = tmp_path / "fork"
    docker_dir.mkdir()
    out = tmp_path / "out.hcl"
    result = run_cli(*(a.format(d=docker_dir, out=out) for a in args), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert 'default = "fork"' in text
    if "TAG=one" in args:
        assert 'default = "one"' in text and 'default = "two"' in text


def test_every_flag_of_the_catalog_is_stated_in_the_committed_project_file():
    stated = dict(line.split("=", 1) for line in (PROJECT_ROOT / "docker-bake.env").read_text().splitlines()
                  if line and not line.startswith("#"))
    assert {f"Build_{flag}" for flag in catalog.FLAGS} | {"Platform"} == set(stated)
