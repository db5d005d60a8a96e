"""`plan --deployment FILE`: the images a deployment file pulls, against what the configuration builds.

Read from the real deployment files in tests/data/deploy: KubeFATE v2.0.0's compose files with
the env file beside them, and FATE's 2.2 compose, which has none (its README gives the tags it
pulls: `docker pull federatedai/eggroll:3.2.0-release`, ...). Pure: no Docker.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from generator import catalog
from generator.config import load_config
from generator.deployment import compare, compose_images, interpolate, pulled_images, read_deployment
from generator.plan import build_plan
from testsupport.fate2_checkout import write_fate2_checkout

from .conftest import ROOT, run_cli

DEPLOY = ROOT / "tests" / "data" / "deploy"
KUBEFATE = DEPLOY / "kubefate-v2.0.0"
FATE22 = DEPLOY / "fate-v2.2" / "docker-compose-eggroll.yml"
COMPOSE_FILES = [KUBEFATE / "docker-compose-spark.yml", KUBEFATE / "docker-compose-eggroll.yml", FATE22]


def _plan(tmp_path: Path, tag: str, **settings: str):
    fate = write_fate2_checkout(tmp_path / f"FATE-{tag}", tag)
    config = load_config(environ={}, overrides={"FATE_DIR": str(fate), "TAG": f"{tag[1:]}-release",
                                                "Build_NN": "0", **settings})
    return build_plan(config)


def _rows(path: Path, plan, environ: dict[str, str] | None = None) -> dict[str, object]:
    found = read_deployment(path, environ or {})
    return {row.pulled.name: row for row in compare(found.pulled, plan)}


def _env_from_readme(tmp_path: Path) -> Path:
    """FATE's 2.2 compose beside an .env built from its README's `docker pull` lines: each
    `<X>_IMAGE`/`<X>_IMAGE_TAG` pair of the compose gets the pull whose image name is <x>."""
    pulls = re.findall(r"^docker pull (\S+):(\S+)$", (FATE22.parent / "README_zh.md").read_text(), re.M)
    by_name = {repo.rsplit("/", 1)[-1]: (repo, tag) for repo, tag in pulls}
    text = FATE22.read_text()
    lines = ["RegistryURI="]
    for var in sorted(set(re.findall(r"\$\{([A-Za-z]+)_IMAGE\}", text))):
        repo, tag = by_name[var.lower()]
        lines += [f"{var}_IMAGE={repo}", f"{var}_IMAGE_TAG={tag}"]
    copy = tmp_path / "fate-v2.2" / FATE22.name
    copy.parent.mkdir()
    copy.write_text(text)
    (copy.parent / ".env").write_text("\n".join(lines) + "\n")
    return copy


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_service_image_is_read_as_a_yaml_parser_reads_it(path):
    services = YAML(typ="safe").load(path.read_text())["services"]
    expected = [(name, s["image"]) for name, s in services.items() if "image" in s]
    assert compose_images(path.read_text()) == expected and expected


def test_interpolation_follows_compose():
    env = {"A": "a", "EMPTY": ""}
    assert interpolate("${A}/$A:${B:-dflt}", env) == ("a/a:dflt", ())
    assert interpolate("${EMPTY:-x}${EMPTY-y}", env) == ("x", ())
    assert interpolate("$${A}${MISSING}", env) == ("${A}", ("MISSING",))


def test_kubefates_spark_party_pulls_client_and_nginx_which_only_the_1x_line_builds(tmp_path):
    plan = _plan(tmp_path, "v2.0.0", Build_Spark="1")
    rows = _rows(KUBEFATE / "docker-compose-spark.yml", plan)
    built = {p.reference for p in plan.images if p.role == "selected"}
    for name in ("client", "nginx"):
        assert name in catalog.for_line("1.x").by_name and name not in plan.catalog.by_name
        assert not rows[name].built
        assert rows[name].advice == (f"fate-builder builds {name} for FATE 1.x only: add federatedai/{name}:"
                                     "2.0.0-release to the registry (a copy of the published image)")
    for name in ("fateflow", "fateboard", "spark-master", "spark-worker"):
        assert rows[name].built and rows[name].pulled.reference in built and rows[name].advice == ""
    # Images of other projects: what to mirror, by the reference the env file gives.
    assert rows["mysql"].advice == "not an image fate-builder builds: add mysql:8.0.28 to the registry " \
                                   "(a copy of the published image)"
    assert rows["hadoop-datanode"].pulled.services == ("datanode-0", "datanode-1", "datanode-2")


def test_an_image_of_a_family_not_selected_names_the_flag_that_builds_it(tmp_path):
    rows = _rows(KUBEFATE / "docker-compose-spark.yml", _plan(tmp_path, "v2.0.0", Build_Spark="0"))
    assert rows["spark-master"].advice == "not built by this configuration: Build_Spark=1 builds it"
    assert rows["fateflow"].built


def test_a_prefix_of_ones_own_says_which_variable_points_the_deployment_at_it(tmp_path):
    plan = _plan(tmp_path, "v2.0.0", PREFIX="harbor.example.com/fate")
    rows = _rows(KUBEFATE / "docker-compose-eggroll.yml", plan)
    assert rows["eggroll"].advice == (
        "built here as harbor.example.com/fate/eggroll:2.0.0-release: set EGGRoll_IMAGE=harbor.example.com/fate/eggroll"
        " in its env, or PREFIX=federatedai builds it under the name the deployment pulls")
    # The environment wins over the env file, as with Compose.
    rows = _rows(KUBEFATE / "docker-compose-eggroll.yml", plan, {"EGGRoll_IMAGE": "harbor.example.com/fate/eggroll"})
    assert rows["eggroll"].built


def test_fates_22_compose_names_no_tag_without_an_env_file(tmp_path):
    rows = _rows(FATE22, _plan(tmp_path, "v2.2.0"))
    assert not any(row.built for row in rows.values())
    assert all(row.pulled.unset and "not set: write" in row.advice for row in rows.values())


def test_fates_22_compose_pulls_eggroll_and_fateboard_versions_the_22_tree_does_not_hold(tmp_path):
    plan = _plan(tmp_path, "v2.2.0")
    rows = {row.pulled.repository.rsplit("/", 1)[-1]: row
            for row in compare(read_deployment(_env_from_readme(tmp_path), {}).pulled, plan)}
    assert rows["fateflow"].built and rows["osx"].built
    for name, variable in (("eggroll", "EGGRoll_IMAGE_TAG"), ("fateboard", "FATEBoard_IMAGE_TAG")):
        ours = next(p.reference for p in plan.images if p.name == name)
        pulled = rows[name].pulled.reference
        assert not rows[name].built and pulled != ours
        own = plan.config.release.component(name)
        assert rows[name].advice == (
            f"this configuration builds {ours}: add {pulled} to the registry (fate-builder tags {name} with the "
            f"{name} version of FATE_DIR's tree ({ours.rsplit(':', 1)[1]}): FATE_DIR at a FATE release with {name} "
            f"{rows[name].pulled.tag.split('-')[0]} builds it), or set {variable}={own}-release in its env to run "
            "the one built here")


def test_a_module_image_of_another_release_says_the_tag_that_builds_it(tmp_path):
    plan = _plan(tmp_path, "v2.2.0")
    rows = _rows(KUBEFATE / "docker-compose-eggroll.yml", plan)
    assert rows["fateflow"].advice == (
        "this configuration builds federatedai/fateflow:2.2.0-release: add federatedai/fateflow:2.0.0-release to the "
        "registry (TAG=2.0.0-release (FATE_DIR at FATE 2.0.0) builds it), or set FATEFlow_IMAGE_TAG=2.2.0-release in "
        "its env to run the one built here")


def test_pulled_images_group_services_of_one_reference():
    text = "services:\n  a:\n    image: x/y:${T}\n  b:\n    image: 'x/y:${T}'  # same\n  c:\n    build: .\n"
    (only,) = pulled_images(text, {"T": "1"})
    assert only.services == ("a", "b") and only.reference == "x/y:1" and only.tag == "1" and only.name == "y"


def test_plan_deployment_shows_a_section_and_a_json_key(tmp_path):
    fate = write_fate2_checkout(tmp_path / "FATE", "v2.0.0")
    (tmp_path / ".env").write_text(f"FATE_DIR={fate}\nTAG=2.0.0-release\nBuild_Spark=1\n")
    compose = str(KUBEFATE / "docker-compose-spark.yml")
    table = run_cli("plan", "--deployment", compose, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert f"Deployment {compose} (variables from {KUBEFATE / 'env'}): 11 image(s) pulled, 4 built here" in table.stdout
    assert re.search(r"^  federatedai/client:2\.0\.0-release +NOT BUILT +\(client\)$", table.stdout, re.M)
    doc = json.loads(run_cli("plan", "--format", "json", "--deployment", compose, cwd=tmp_path).stdout)
    by_ref = {i["reference"]: i for i in doc["deployment"]["images"]}
    assert by_ref["federatedai/fateflow:2.0.0-release"]["built"] is True
    assert by_ref["federatedai/nginx:2.0.0-release"]["services"] == ["nginx"]


@pytest.mark.parametrize(("args", "message"), [
    (["--deployment", "missing.yml"], "fate-builder: error: --deployment missing.yml: cannot read it (No such file or "
                                      "directory); give a Docker Compose file"),
    (["--format", "dot", "--deployment", str(FATE22)], "fate-builder: error: --deployment shows with --format table or "
                                                       "json, not dot"),
])
def test_plan_deployment_errors_are_one_line(tmp_path, args, message):
    fate = write_fate2_checkout(tmp_path / "FATE", "v2.0.0")
    (tmp_path / ".env").write_text(f"FATE_DIR={fate}\n")
    done = run_cli("plan", *args, cwd=tmp_path)
    assert done.returncode != 0 and done.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in done.stderr
