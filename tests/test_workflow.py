"""The GitHub Actions workflows that build and push the images: valid, hardened, and wired to fate-builder.

fate-images.yml bakes the committed docker-bake.hcl on one runner; release.yml builds each platform on its
native runner with `fate-builder bake --platform-only`, merges by digest and signs.

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

from generator import catalog, merge
from generator.config import SETTING_NAMES, load_config
from generator.render import bake_variables

from .conftest import ROOT

_BAKE_VARIABLES = frozenset(bake_variables(load_config(environ={})))

WORKFLOW = ROOT / ".github" / "workflows" / "fate-images.yml"
RELEASE_WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
WORKFLOWS = [WORKFLOW, RELEASE_WORKFLOW]
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


def _load(path: Path = WORKFLOW) -> dict:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


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


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_against_the_github_workflow_schema_without_network(path):
    result = subprocess.run(
        [str(_tool("check-jsonschema")), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        env=_offline_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing_offline_not_even_informational(persona, path):
    result = subprocess.run(
        [
            str(_tool("zizmor")),
            "--offline",
            "--no-ignores",
            "--persona",
            persona,
            "--format",
            "json",
            str(path),
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
    uses = []
    for path in WORKFLOWS:
        workflow, text = _load(path), path.read_text(encoding="utf-8")
        found = [s["uses"] for _, _, s in _steps(workflow) if "uses" in s]
        found += [job["uses"] for job in workflow["jobs"].values() if "uses" in job]
        assert found, path.name
        for ref in found:
            assert SHA_RE.match(ref), f"{path.name}: {ref} is not pinned to a 40-hex commit digest"
            comment = re.search(rf"uses:\s*{re.escape(ref)}\s+#\s*v\d+\.\d+\.\d+\s*$", text, re.MULTILINE)
            assert comment, f"{path.name}: {ref} has no '# vX.Y.Z' comment naming its release"
        uses += found
    # One digest per action, in both workflows: two pins of the same action would be two versions of it.
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


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_do_not_leave_the_token_in_git_config(path):
    checkouts = [s for _, _, s in _steps(_load(path)) if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) >= 2
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, step["name"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_run_script_expands_an_expression_inputs_go_through_env(path):
    for job_id, _, step in _steps(_load(path)):
        if "run" in step:
            assert "${{" not in step["run"], f"{job_id}: '{step['name']}' expands an expression in its script"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_are_only_read_by_the_login_step_of_a_job_with_an_environment(path):
    workflow = _load(path)
    for job_id, _, step in _steps(workflow):
        text = json.dumps(step)
        if "secrets." in text:
            assert step["uses"].startswith("docker/login-action@"), step["name"]
            assert workflow["jobs"][job_id].get("environment"), job_id
    assert "secrets." not in json.dumps(workflow.get("env", {}))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_runs_are_serialised_per_ref_and_every_job_has_a_timeout(path):
    workflow = _load(path)
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
@pytest.mark.parametrize("workflow", ["fate-images", "release"])
def test_malformed_or_hostile_inputs_stop_the_run_before_any_output(tmp_path, name, value, workflow):
    settings = _settings if workflow == "fate-images" else _release_settings
    result, out = settings(tmp_path, **{name: value})
    assert result.returncode != 0
    assert out == {}
    assert not (tmp_path / "pwned").exists() and not (ROOT / "pwned").exists()
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
        own_and_ancestors = [name, *(a.name for a in catalog.ancestors(catalog.BY_NAME[name]))]
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


# --- release.yml: one native runner per platform, merged by digest, signed --------------------------------

_RELEASE_DEFAULTS = {
    "INPUT_FATE_VERSION": "v2.2.0",
    "INPUT_TARGETS": "default",
    "INPUT_REGISTRY": "docker.io",
    "INPUT_NAMESPACE": "federatedai",
    "INPUT_PLATFORMS": "amd64,arm64",
}
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _release() -> dict:
    return _load(RELEASE_WORKFLOW)


def _run_step(tmp_path: Path, script: str, env: dict, cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess, dict]:
    """A `run:` step as Actions runs it (`bash -e {0}`), its $GITHUB_OUTPUT read back; fate-builder on PATH."""
    output = tmp_path / "github_output"
    output.write_text("")
    path = tmp_path / "step.sh"
    path.write_text(script)
    full = {"PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(tmp_path), "GITHUB_OUTPUT": str(output), **env}
    result = subprocess.run(["bash", "-e", str(path)], capture_output=True, text=True, env=full, cwd=cwd, timeout=120)
    values = dict(line.split("=", 1) for line in output.read_text().splitlines() if line)
    return result, values


def _release_settings(tmp_path: Path, **inputs: str) -> tuple[subprocess.CompletedProcess, dict]:
    step = _step_named(_release(), "plan", "settings")
    return _run_step(tmp_path, step["run"], {**_RELEASE_DEFAULTS, **inputs})


def _references(job: dict, namespace: str) -> set[str]:
    """The `<namespace>.X` names a job's expressions read (matrix.platform, needs.plan.outputs.tag, ...)."""
    text = json.dumps(job)
    return {m for e in _EXPRESSION.findall(text) for m in re.findall(rf"\b{re.escape(namespace)}\.([\w.-]+)", e)}


def test_release_settings_name_the_registry_in_the_prefix_and_the_line_from_the_version(tmp_path):
    result, out = _release_settings(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert out == {"version": "2.2.0", "ref": "v2.2.0", "line": "2.x", "tag": "2.2.0-release", "targets": "default",
                   "registry": "docker.io", "prefix": "docker.io/federatedai", "platforms": "amd64,arm64"}
    result, out = _release_settings(tmp_path, INPUT_FATE_VERSION="1.11.2", INPUT_REGISTRY="Index.Docker.IO",
                                    INPUT_PLATFORMS=" amd64 ")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out["line"], out["prefix"], out["platforms"]) == ("1.x", "docker.io/federatedai", "amd64")


@pytest.mark.parametrize("name,value", [("INPUT_FATE_VERSION", "v3.0.0"), ("INPUT_PLATFORMS", "amd64,riscv64"),
                                        ("INPUT_PLATFORMS", "amd64\nprefix=evil")])
def test_a_release_of_an_unknown_line_or_platform_stops_the_plan_before_any_output(tmp_path, name, value):
    result, out = _release_settings(tmp_path, **{name: value})
    assert result.returncode != 0 and out == {}
    assert value not in result.stdout


def test_the_build_matrix_is_what_fate_builder_plans_one_native_runner_per_platform(tmp_path):
    workflow = _release()
    plan_job, build_job = workflow["jobs"]["plan"], workflow["jobs"]["build"]
    assert plan_job["outputs"]["matrix"] == "${{ steps.plan.outputs.matrix }}"
    assert build_job["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert build_job["runs-on"] == "${{ matrix.runner }}"
    # The plan step, run as the workflow runs it, with the settings the settings step gives.
    _, settings = _release_settings(tmp_path)
    step = _step_named(workflow, "plan", "plan")
    assert re.search(r"\bfate-builder plan --format matrix\b", step["run"])
    env = {k: settings[_EXPRESSION.fullmatch(v).group(1).rsplit(".", 1)[1]] for k, v in step["env"].items()}
    result, out = _run_step(tmp_path, step["run"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    matrix = json.loads(out["matrix"])
    assert {(e["platform"], e["runner"]) for e in matrix["include"]} == {
        ("linux/amd64", "ubuntu-24.04"), ("linux/arm64", "ubuntu-24.04-arm")}
    # Every matrix value the build job reads is in each entry fate-builder plans.
    used = _references(build_job, "matrix")
    assert {"platform", "runner", "arch", "digests"} <= used
    assert all(used <= set(entry) for entry in matrix["include"]), (used, matrix)
    # Native runners: no emulation anywhere in the release.
    assert not [s for _, _, s in _steps(workflow) if s.get("uses", "").startswith("docker/setup-qemu-action@")]


def test_every_output_a_job_reads_is_one_its_needed_job_declares():
    workflow = _release()
    for job_id, job in workflow["jobs"].items():
        for ref in _references(job, "needs"):
            needed, kind, name = ref.split(".", 2)
            assert needed in _needs(job) and kind == "outputs", (job_id, ref)
            assert name in workflow["jobs"][needed].get("outputs", {}), (job_id, ref)
        step_ids = {s.get("id") for s in job.get("steps", [])}
        for ref in _references(job, "steps"):
            assert ref.split(".", 1)[0] in step_ids, (job_id, ref)


def test_each_platform_bakes_alone_with_release_on_and_uploads_the_digests_it_wrote():
    workflow = _release()
    steps = workflow["jobs"]["build"]["steps"]
    bakes = [(i, s) for i, s in enumerate(steps) if "fate-builder bake" in s.get("run", "")]
    assert len(bakes) == 1
    index, bake = bakes[0]
    command = r'fate-builder bake --push --platform-only "\$RELEASE_PLATFORM" --digests-file "\$RELEASE_DIGESTS"'
    assert re.search(command, bake["run"])
    env = bake["env"]
    assert (env["RELEASE_PLATFORM"], env["RELEASE_DIGESTS"]) == ("${{ matrix.platform }}", "${{ matrix.digests }}")
    assert env["RELEASE"] == "1" and env["Platform"] == "${{ needs.plan.outputs.platforms }}"
    assert "CACHE" not in env  # both platforms would write the one cache reference of each image
    # The script's own names are none of fate-builder's settings or bake variables (it passes those on).
    own = {k for k in env if k.startswith("RELEASE_")}
    assert not own & (_BAKE_VARIABLES | set(SETTING_NAMES))
    assert set(env) - own <= _BAKE_VARIABLES | set(SETTING_NAMES), set(env) - own
    before = [s.get("uses", "").partition("@")[0] for s in steps[:index]]
    assert "docker/setup-buildx-action" in before and "docker/login-action" in before  # push by digest, logged in
    uploads = [s for s in steps[index:] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert len(uploads) == 1
    upload = uploads[0]["with"]
    assert upload["path"] == f"{bake['working-directory'].removeprefix('./')}/${{{{ matrix.digests }}}}"
    assert upload["name"] == "digests-${{ matrix.arch }}" and upload["if-no-files-found"] == "error"


def test_the_merge_job_downloads_every_platforms_digests_and_merges_them_after_all_builds(tmp_path):
    workflow = _release()
    merge_job = workflow["jobs"]["merge"]
    assert "build" in _needs(merge_job)
    steps = merge_job["steps"]
    downloads = [s["with"] for s in steps if s.get("uses", "").startswith("actions/download-artifact@")]
    assert downloads == [{"pattern": "digests-*", "path": "digests", "merge-multiple": True}]
    uploads = [s["with"]["name"] for _, _, s in _steps(workflow) if s.get("uses", "").startswith("actions/upload-")]
    upload_name = next(name for name in uploads if "matrix.arch" in name)
    assert re.fullmatch(downloads[0]["pattern"].replace("*", ".*"), upload_name.replace("${{ matrix.arch }}", "arm64"))
    merges = [s["run"] for s in steps if "fate-builder merge" in s.get("run", "")]
    assert merges == ["fate-builder merge digests/*.json --digests-file merged.json"]
    # The sign job's matrix: the images step run on what `merge --digests-file` writes.
    record = merge.merged_record([
        (merge.Merge("fateflow", "docker.io/federatedai/fateflow:2.2.0-release", ("a@sha256:1", "a@sha256:2"),
                     ("linux/amd64", "linux/arm64")), "sha256:" + "f" * 64)])
    (tmp_path / "merged.json").write_text(json.dumps(record))
    result, out = _run_step(tmp_path, _step_named(workflow, "merge", "images")["run"], {}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert merge_job["outputs"]["images"] == "${{ steps.images.outputs.matrix }}"
    assert json.loads(out["matrix"]) == {"include": [
        {"image": "fateflow", "repository": "docker.io/federatedai/fateflow", "digest": "sha256:" + "f" * 64}]}


def test_signing_and_attestation_name_each_merged_index_by_its_digest():
    workflow = _release()
    sign = workflow["jobs"]["sign"]
    assert "merge" in _needs(sign)
    assert sign["strategy"]["matrix"] == "${{ fromJSON(needs.merge.outputs.images) }}"
    steps = sign["steps"]
    cosign = [s for s in steps if "cosign sign" in s.get("run", "")]
    assert len(cosign) == 1 and cosign[0]["run"].strip() == 'cosign sign --yes "$IMAGE"'
    assert cosign[0]["env"]["IMAGE"] == "${{ matrix.repository }}@${{ matrix.digest }}"
    uses = [s.get("uses", "").partition("@")[0] for s in steps]
    assert uses.index("sigstore/cosign-installer") < steps.index(cosign[0])
    attest = [s["with"] for s in steps if s.get("uses", "").startswith("actions/attest-build-provenance@")]
    assert attest == [{"subject-name": "${{ matrix.repository }}", "subject-digest": "${{ matrix.digest }}",
                       "push-to-registry": True, "create-storage-record": False}]
    assert _references(sign, "matrix") <= {"image", "repository", "digest"}


def test_release_permissions_are_read_only_but_the_oidc_token_and_attestations_of_the_sign_job():
    workflow = _release()
    assert workflow["permissions"] == {"contents": "read"}
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"job {job_id} inherits instead of stating its permissions"
        writes = {k for k, level in job["permissions"].items() if level == "write"}
        assert writes == ({"id-token", "attestations"} if job_id == "sign" else set()), (job_id, writes)
    # The registry login uses the secrets, so no job needs packages: write (GITHUB_TOKEN pushing to ghcr.io would).
    assert "packages" not in json.dumps([job["permissions"] for job in workflow["jobs"].values()])
