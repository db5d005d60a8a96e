"""The GitHub Actions workflow that builds and pushes the images: valid, hardened, and wired to bake.

Checked offline: the workflow schema ships inside check-jsonschema and zizmor runs with --offline;
both get an unreachable proxy so that any attempt to go online fails instead of passing silently.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML  # a dependency of check-jsonschema, so there with the test extras

from generator import catalog
from generator.config import load_config
from generator.render import bake_variables

from .conftest import ROOT

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")

_BAKE_VARIABLES = frozenset(bake_variables(load_config(environ={})))

WORKFLOW = ROOT / ".github" / "workflows" / "fate-images.yml"
BAKE_FILE = ROOT / "docker-bake.hcl"
BIN = Path(sys.executable).parent

SHA_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
BAKE_ACTION = "docker/bake-action@"
# Settings fate-builder reads from the environment besides the bake variables.
_SETTINGS = {"Platform", "Docker_Options", "THIRD_PARTY_IMAGES"}
_NO_NETWORK = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "",
}


def _load() -> dict:
    return YAML(typ="safe").load(WORKFLOW.read_text(encoding="utf-8"))


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}; run: pip install -e '.[test]'")
    return path


def _offline_env() -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"} | set(_NO_NETWORK)
    }
    env.update(_NO_NETWORK)
    return env


def _steps(workflow: dict):
    for job_id, job in workflow["jobs"].items():
        for index, step in enumerate(job.get("steps", [])):
            yield job_id, index, step


def _bake_step(workflow: dict) -> tuple[str, int, dict]:
    found = [(j, i, s) for j, i, s in _steps(workflow) if s.get("uses", "").startswith(BAKE_ACTION)]
    assert len(found) == 1, f"expected one docker/bake-action step, found {len(found)}"
    return found[0]


def _step_named(workflow: dict, job_id: str, step_id: str) -> dict:
    matches = [s for s in workflow["jobs"][job_id]["steps"] if s.get("id") == step_id]
    assert len(matches) == 1, step_id
    return matches[0]


def _needs(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _upstream(workflow: dict, job_id: str) -> set[str]:
    """Every job that must finish before `job_id` starts."""
    seen: set[str] = set()
    todo = _needs(workflow["jobs"][job_id])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_needs(workflow["jobs"][name]))
    return seen


# --- the linters, offline ---------------------------------------------------------------


def test_workflow_is_valid_against_the_github_workflow_schema_without_network():
    result = subprocess.run(
        [str(_tool("check-jsonschema")), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        env=_offline_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing_offline_not_even_informational(persona):
    result = subprocess.run(
        [
            str(_tool("zizmor")),
            "--offline",
            "--no-ignores",
            "--persona",
            persona,
            "--format",
            "json",
            str(WORKFLOW),
        ],
        capture_output=True,
        text=True,
        env=_offline_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    findings = json.loads(result.stdout)
    assert findings == [], json.dumps(findings, indent=2)


# --- supply chain and token hygiene -----------------------------------------------------


def test_every_action_is_pinned_to_a_commit_digest_with_its_release_in_a_comment():
    workflow = _load()
    text = WORKFLOW.read_text(encoding="utf-8")
    uses = [s["uses"] for _, _, s in _steps(workflow) if "uses" in s]
    uses += [job["uses"] for job in workflow["jobs"].values() if "uses" in job]
    assert uses
    for ref in uses:
        assert SHA_RE.match(ref), f"{ref} is not pinned to a 40-hex commit digest"
        comment = re.search(rf"uses:\s*{re.escape(ref)}\s+#\s*v\d+\.\d+\.\d+\s*$", text, re.MULTILINE)
        assert comment, f"{ref} has no '# vX.Y.Z' comment naming its release"
    # One digest per action: two pins of the same action would be two versions of it.
    by_action: dict[str, set[str]] = {}
    for ref in uses:
        action, _, digest = ref.partition("@")
        by_action.setdefault(action, set()).add(digest)
    assert all(len(d) == 1 for d in by_action.values()), by_action


def test_permissions_are_read_only_at_the_top_and_stated_for_every_job():
    workflow = _load()
    assert workflow["permissions"] == {"contents": "read"}
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"job {job_id} inherits instead of stating its permissions"
        assert all(level in ("read", "none") for level in job["permissions"].values()), job_id


def test_checkouts_do_not_leave_the_token_in_git_config():
    checkouts = [s for _, _, s in _steps(_load()) if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) >= 2
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, step["name"]


def test_no_run_script_expands_an_expression_inputs_go_through_env():
    for job_id, _, step in _steps(_load()):
        if "run" in step:
            assert "${{" not in step["run"], f"{job_id}: '{step['name']}' expands an expression in its script"


def test_secrets_are_only_read_by_the_login_step_of_a_job_with_an_environment():
    workflow = _load()
    for job_id, _, step in _steps(workflow):
        text = json.dumps(step)
        if "secrets." in text:
            assert step["uses"].startswith("docker/login-action@"), step["name"]
            assert workflow["jobs"][job_id].get("environment"), job_id
    assert "secrets." not in json.dumps(workflow.get("env", {}))


def test_runs_are_serialised_per_ref_and_every_job_has_a_timeout():
    workflow = _load()
    concurrency = workflow["concurrency"]
    assert "github.workflow" in concurrency["group"] and "github.ref" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is False  # never kill a push half-way
    for job_id, job in workflow["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 360, job_id


# --- what the workflow does --------------------------------------------------------------


def test_fate_builder_check_runs_before_the_build_and_can_fail_it():
    workflow = _load()
    bake_job, bake_index, _ = _bake_step(workflow)
    check_re = re.compile(r"\bfate-builder check\b")
    checks = [(j, i, s) for j, i, s in _steps(workflow) if check_re.search(s.get("run", ""))]
    assert checks, "no step runs `fate-builder check`"
    job_id, index, step = checks[0]
    assert "continue-on-error" not in step and "|| true" not in step["run"]
    assert job_id in _upstream(workflow, bake_job) or (job_id == bake_job and index < bake_index)
    # fate-builder is installed from this checkout before it is run.
    earlier = workflow["jobs"][job_id]["steps"][:index]
    assert any(s.get("uses", "").startswith("actions/setup-python@") for s in earlier)
    assert any(re.search(r"pip install .*-e \.$", s.get("run", "").strip()) for s in earlier)


def test_check_runs_with_no_setting_in_its_environment_so_it_compares_against_the_committed_defaults():
    workflow = _load()
    job_id = next(j for j, _, s in _steps(workflow) if "fate-builder check" in s.get("run", ""))
    job = workflow["jobs"][job_id]
    scopes = [workflow.get("env", {}), job.get("env", {})] + [s.get("env", {}) for s in job["steps"]]
    for env in scopes:
        leaked = set(env) & (_BAKE_VARIABLES | _SETTINGS | {n for n in env if n.startswith("Build_")})
        assert not leaked, f"{leaked} would make `fate-builder check` render something else than committed"


def test_images_are_built_and_pushed_by_bake_action_on_the_committed_bake_file():
    workflow = _load()
    job_id, index, step = _bake_step(workflow)
    steps = workflow["jobs"][job_id]["steps"]
    with_ = step["with"]
    assert with_["push"] is True
    assert Path(with_["files"]).name == "docker-bake.hcl" and BAKE_FILE.exists()
    # source is the local checkout of this repository (not a Git context of the committed ref).
    own = [
        s
        for s in steps[:index]
        if s.get("uses", "").startswith("actions/checkout@") and "repository" not in s.get("with", {})
    ]
    assert len(own) == 1
    assert Path(with_["source"]) == Path(own[0]["with"].get("path", "."))
    # QEMU, buildx and the registry login come first, in that job.
    before = [s.get("uses", "").partition("@")[0] for s in steps[:index]]
    for action in ("docker/setup-qemu-action", "docker/setup-buildx-action", "docker/login-action"):
        assert action in before, action


def test_bake_gets_only_variables_the_bake_file_declares_with_registry_cache_and_release_tags():
    workflow = _load()
    job_id, _, step = _bake_step(workflow)
    env = step["env"]
    declared = set(re.findall(r'^variable "([A-Za-z_][A-Za-z0-9_]*)"', BAKE_FILE.read_text(), re.MULTILINE))
    assert declared == _BAKE_VARIABLES
    assert set(env) <= declared, set(env) - declared
    assert {"PREFIX", "TAG", "BASE_TAG", "FATE_DIR", "FATE_VERSION", "CACHE"} <= set(env)
    assert env["CACHE"] == "registry"
    assert env["TAG"] == env["BASE_TAG"] == "${{ steps.settings.outputs.tag }}"
    assert env["PREFIX"] == "${{ steps.settings.outputs.prefix }}"
    assert env["FATE_VERSION"] == "${{ steps.settings.outputs.version }}"
    assert step["with"]["targets"] == "${{ steps.settings.outputs.targets }}"


def test_fate_is_checked_out_with_submodules_where_fate_dir_points_and_bake_may_read_it():
    workflow = _load()
    job_id, index, step = _bake_step(workflow)
    fate = [
        s
        for s in workflow["jobs"][job_id]["steps"][:index]
        if s.get("with", {}).get("repository") == "FederatedAI/FATE"
    ]
    assert len(fate) == 1
    checkout = fate[0]["with"]
    assert checkout["submodules"] in ("recursive", True)
    assert checkout["ref"] == "${{ steps.settings.outputs.ref }}"
    fate_dir = step["env"]["FATE_DIR"]
    assert fate_dir == "${{ github.workspace }}/" + checkout["path"]
    # buildx >= 0.20 refuses contexts outside the bake directory unless they are allowed.
    assert step["with"]["allow"] == f"fs.read={fate_dir}"


def test_dispatch_inputs_default_to_fate_v1_11_2_the_default_group_and_docker_hub_federatedai():
    workflow = _load()
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert inputs["fate_version"]["default"] == "v1.11.2"
    assert inputs["targets"]["default"] == "default"
    assert inputs["arm64"]["type"] == "boolean" and inputs["arm64"]["default"] is False
    env = _step_named(workflow, "build", "settings")["env"]
    assert "'docker.io'" in env["INPUT_REGISTRY"] and "vars.FATE_REGISTRY" in env["INPUT_REGISTRY"]
    assert "'federatedai'" in env["INPUT_NAMESPACE"] and "vars.FATE_NAMESPACE" in env["INPUT_NAMESPACE"]
    assert "inputs.fate_version" in env["INPUT_FATE_VERSION"]


# --- the settings script, run for real ---------------------------------------------------

_DEFAULTS = {
    "INPUT_FATE_VERSION": "v1.11.2",
    "INPUT_TARGETS": "default",
    "INPUT_REGISTRY": "docker.io",
    "INPUT_NAMESPACE": "federatedai",
    "INPUT_ARM64": "false",
}


def _settings(tmp_path: Path, **inputs) -> tuple[subprocess.CompletedProcess, dict]:
    script = _step_named(_load(), "build", "settings")["run"]
    output = tmp_path / "github_output"
    output.write_text("")
    env = {"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), **_DEFAULTS, **inputs}
    # Actions runs a `run:` script as `bash -e {0}`.
    path = tmp_path / "settings.sh"
    path.write_text(script)
    result = subprocess.run(
        ["bash", "-e", str(path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    values = dict(line.split("=", 1) for line in output.read_text().splitlines() if line)
    return result, values


def test_release_tag_becomes_version_without_v_and_the_release_image_tag(tmp_path):
    result, out = _settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert out == {
        "version": "1.11.2",
        "ref": "v1.11.2",
        "tag": "1.11.2-release",
        "targets": "default",
        "registry": "docker.io",
        "prefix": "federatedai",
        "platform_set": "",
    }


def test_version_without_v_still_checks_out_the_v_tag(tmp_path):
    result, out = _settings(tmp_path, INPUT_FATE_VERSION="2.0.0")
    assert result.returncode == 0, result.stderr
    assert (out["ref"], out["tag"]) == ("v2.0.0", "2.0.0-release")


def test_other_registry_prefixes_the_namespace_and_docker_hub_spellings_do_not(tmp_path):
    result, out = _settings(tmp_path, INPUT_REGISTRY="ghcr.io", INPUT_NAMESPACE="example/fate")
    assert result.returncode == 0, result.stderr
    assert (out["registry"], out["prefix"]) == ("ghcr.io", "ghcr.io/example/fate")
    result, out = _settings(tmp_path, INPUT_REGISTRY="Index.Docker.IO")
    assert result.returncode == 0, result.stderr
    assert (out["registry"], out["prefix"]) == ("docker.io", "federatedai")


def test_targets_are_normalised_to_a_comma_list(tmp_path):
    result, out = _settings(tmp_path, INPUT_TARGETS=" basic, spark ,fateflow-nn")
    assert result.returncode == 0, result.stderr
    assert out["targets"] == "basic,spark,fateflow-nn"


def test_arm64_adds_the_platform_for_the_basic_group_and_is_refused_for_others(tmp_path):
    result, out = _settings(tmp_path, INPUT_ARM64="true", INPUT_TARGETS="basic")
    assert result.returncode == 0, result.stderr
    assert out["platform_set"] == "*.platform=linux/amd64,linux/arm64"
    result, out = _settings(tmp_path, INPUT_ARM64="true", INPUT_TARGETS="default")
    assert result.returncode != 0 and out == {}
    assert "::error::arm64 exists only for the basic group" in result.stdout


@pytest.mark.parametrize(
    "name,value",
    [
        ("INPUT_FATE_VERSION", "v1.11.2; touch pwned"),
        ("INPUT_FATE_VERSION", "v1.11.2\nprefix=evil"),
        ("INPUT_FATE_VERSION", "$(touch pwned)"),
        ("INPUT_FATE_VERSION", "main"),
        ("INPUT_TARGETS", "default;touch pwned"),
        ("INPUT_REGISTRY", "ghcr.io/x"),
        ("INPUT_NAMESPACE", "Upper/Case"),
        ("INPUT_NAMESPACE", "a b"),
    ],
)
def test_malformed_or_hostile_inputs_stop_the_run_before_any_output(tmp_path, name, value):
    result, out = _settings(tmp_path, **{name: value})
    assert result.returncode != 0
    assert out == {}
    assert not (tmp_path / "pwned").exists()
    assert value not in result.stdout  # the error names the rule, never echoes the input


# --- against buildx: the variables the workflow sets do what it says ----------------------


@pytest.mark.buildx
def test_workflow_environment_makes_bake_tag_release_images_and_use_the_registry_cache(buildx):
    env = {
        "PREFIX": "federatedai",
        "TAG": "1.11.2-release",
        "BASE_TAG": "1.11.2-release",
        "FATE_DIR": "/github/workspace/FATE",
        "FATE_VERSION": "1.11.2",
        "CACHE": "registry",
    }
    printed = buildx(BAKE_FILE, "default", env=env)
    assert printed["target"]
    for name, target in printed["target"].items():
        cache = f"federatedai/{name}:buildcache"
        assert target["tags"] == [f"federatedai/{name}:1.11.2-release"], name
        own_and_ancestors = [name, *(a.name for a in V1.ancestors(V1.by_name[name]))]
        assert target["cache-from"] == [
            {"type": "registry", "ref": f"federatedai/{n}:buildcache"} for n in own_and_ancestors
        ], name
        assert target["cache-to"] == [{"type": "registry", "ref": cache, "mode": "max"}], name
        assert target["labels"]["org.opencontainers.image.version"] == "1.11.2", name


def test_the_default_group_is_baked_wave_by_wave_children_on_their_parents_pushed_images():
    workflow = _load()
    steps = [s for _, _, s in _steps(workflow) if s.get("name") == "Build and push, wave by wave"]
    assert len(steps) == 1
    step = steps[0]
    assert step["if"] == "steps.settings.outputs.targets == 'default'"
    assert 'group "wave-' in step["run"] and "PARENTS=$parents" in step["run"] and "parents=image" in step["run"]
    assert "--push" in step["run"] and step["env"]["CACHE"] == "registry"
    _, _, bake = _bake_step(workflow)
    assert bake["if"] == "steps.settings.outputs.targets != 'default'"
    text = (ROOT / "docker-bake.hcl").read_text(encoding="utf-8")
    assert 'group "wave-1"' in text and 'group "wave-2"' in text
