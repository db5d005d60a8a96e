"""Where a build reaches the network: the convention every Dockerfile follows, the inventory read
from it, the settings that redirect each endpoint and the `network` secret they travel in.

No engine here; tests/test_mirrors.py builds against mirrors on loopback.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from generator import catalog, dockerfiles, inventory
from generator.config import BY_SETTING, SETTINGS, Carrier, Kind
from generator.errors import ConfigError
from generator.network import network_file
from generator.plan import build_plan
from generator.render import bake_variables, render
from testsupport.constants import DOCKER
from testsupport.fate_reads import all_dockerfiles

from .conftest import ALL_OFF, config_of, run_cli

EVERYTHING = {catalog.flag_setting(f): "1" for f in catalog.FLAGS}


@pytest.mark.parametrize("path", all_dockerfiles(), ids=lambda p: p.parent.relative_to(DOCKER).as_posix())
def test_no_dockerfile_reaches_the_network_but_through_a_setting(path: Path):
    """Every Dockerfile under docker/, of every release line: no host in a RUN step, every FROM
    through IMAGE_MIRROR, every networked RUN with the secrets mounted and sourced."""
    assert inventory.convention_problems(path) == []


def test_the_convention_check_names_each_way_a_dockerfile_can_reach_a_host_of_its_own(tmp_path: Path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "ARG TOOL_URL=https://tools.example.com\n"
        "FROM debian:bookworm AS fetch\n"
        "RUN curl -fsSL https://downloads.example.org/x.tgz -o /x.tgz\n"
        "ADD https://github.com/krallin/tini/releases/download/v0.18.0/tini /tini\n"
        "RUN --mount=type=cache,target=/root/.cache/pip pip install numpy\n"
        "RUN apt-get update && apt-get install -y curl\n"
        "FROM ${IMAGE_MIRROR}/library/${X_IMAGE}\n"
        "RUN --mount=type=secret,id=network,target=/run/secrets/network \\\n"
        "    --mount=type=secret,id=ca,target=/run/secrets/ca.crt \\\n"
        "    set -eu; [ ! -f /run/secrets/network ] || . /run/secrets/network; set -x; \\\n"
        "    curl -fsSL \"${APACHE_MIRROR}/spark.tgz\" -o /s.tgz\n"
        "RUN --mount=type=secret,id=network,target=/run/secrets/network \\\n"
        "    --mount=type=secret,id=ca,target=/run/secrets/ca.crt \\\n"
        "    set -eu; [ ! -f /run/secrets/network ] || . /run/secrets/network; \\\n"
        "    mvn -B -s /tmp/settings.xml package; sh /run/fate-builder/maven.sh \"${MAVEN_MIRROR}\" package\n"
    )
    problems = "\n".join(inventory.convention_problems(bad))
    assert "ARG TOOL_URL=https://tools.example.com is a URL, but TOOL_URL is not a network setting" in problems
    assert "FROM debian:bookworm pulls from a registry of its own" in problems
    assert "RUN names a host of its own (https://downloads.example.org)" in problems
    assert "ADD names a host of its own (https://github.com)" in problems
    assert "RUN reaches the network without --mount=type=secret,id=network" in problems
    assert "RUN runs `apt-get update` without ${APT_MIRROR}" in problems
    assert "RUN runs `curl` without a network setting" in problems
    assert "`set -x` after sourcing the network secret" in problems
    assert "RUN runs mvn itself; run /run/fate-builder/maven.sh" in problems
    assert ("RUN runs /run/fate-builder/maven.sh without --mount=type=bind,from=fragments,source=maven.sh,"
            "target=/run/fate-builder/maven.sh") in problems


def _all_endpoints(platforms: str) -> dict[str, tuple[inventory.Endpoint, ...]]:
    settings = {**EVERYTHING, "Platform": platforms} if platforms == "amd64" else {
        **ALL_OFF, "Build_Basic": "1", "Platform": platforms}
    config = config_of(**settings)
    return inventory.plan_endpoints(build_plan(config).targets, config)


def test_inventory_knows_every_kind_of_fetch_of_the_family():
    reached = {e for eps in _all_endpoints("amd64").values() for e in eps}
    kinds = Counter(e.kind for e in reached)
    assert set(kinds) == {Kind.REGISTRY, Kind.PYPI, Kind.MAVEN, Kind.NPM, Kind.YUM, Kind.APT, Kind.DOWNLOAD, Kind.GIT}
    images = {e.what for e in reached if e.kind is Kind.REGISTRY}
    assert images == {"library/centos:centos7", "library/ubuntu:bionic-20230530",
                      "library/eclipse-temurin:8u392-b08-jre-jammy", "library/maven:3.8.6-eclipse-temurin-8",
                      "library/python:3.8.18-slim-bookworm"}
    hosts = {inventory.host_of(e.url()) for e in reached if e.kind is not Kind.REGISTRY}
    assert {"www.python.org", "archive.apache.org", "github.com", "openresty.org", "www.nasm.us",
            "www.openssl.org", "developer.download.nvidia.com", "vault.centos.org", "archive.ubuntu.com",
            "repo.maven.apache.org", "nodejs.org", "registry.npmjs.org", "pypi.org"} <= hosts


def test_base_image_reaches_yum_for_amd64_and_apt_for_arm64_only():
    amd64 = {e.setting for e in _all_endpoints("amd64")["base-image"]}
    both = _all_endpoints("amd64,arm64")["base-image"]
    assert "YUM_MIRROR" in amd64 and "APT_MIRROR" not in amd64
    assert {"YUM_MIRROR", "APT_MIRROR", "GITHUB_URL"} <= {e.setting for e in both}
    assert {e.what for e in both if e.kind is Kind.REGISTRY} == {"library/centos:centos7",
                                                                  "library/ubuntu:bionic-20230530"}


def test_image_mirror_and_the_download_settings_redirect_what_the_inventory_lists():
    config = config_of(IMAGE_MIRROR="harbor.example.com/dockerhub", APACHE_MIRROR="https://mirrors.example.cn/apache/",
                       GITHUB_URL="https://ghproxy.example.cn/https://github.com", Build_LLM="1", Build_GPU="1")
    eps = inventory.plan_endpoints(build_plan(config).targets, config)
    urls = {e.url(config) for e in eps["base-image"] + eps["spark-base"] + eps["fateflow-all-gpu"]}
    assert "harbor.example.com/dockerhub/library/centos:centos7" in urls
    assert "https://mirrors.example.cn/apache/spark/spark-3.1.3/${name}.tgz" in urls
    assert "https://ghproxy.example.cn/https://github.com/FederatedAI/FATE-LLM.git" in urls


def test_plan_json_lists_per_image_what_its_build_reaches(tmp_path, fate_dir):
    result = run_cli("-D", f"FATE_DIR={fate_dir}", "-D", "YUM_MIRROR=http://mirrors.example.cn/centos-vault",
                     "plan", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    images = {i["name"]: i for i in json.loads(result.stdout)["images"]}
    yum = [r for r in images["base-image"]["reaches"] if r["kind"] == "yum"]
    assert yum == [{"kind": "yum", "setting": "YUM_MIRROR", "url": "http://mirrors.example.cn/centos-vault",
                    "host": "mirrors.example.cn", "upstream": "http://vault.centos.org", "stage": "os-amd64"}]
    assert images["fateflow"]["reaches"] == []  # only copies of FATE's sources


def test_every_network_settings_readme_default_names_the_upstream_the_dockerfiles_use():
    defaults: dict[str, set[str]] = {}
    for path in all_dockerfiles():
        for name, value in dockerfiles.load(path).global_args.items():
            if name in BY_SETTING and BY_SETTING[name].kind is not None and value:
                defaults.setdefault(name, set()).add(value)
    assert defaults, "no Dockerfile states an upstream"
    for name, values in defaults.items():
        for value in values:
            assert value in BY_SETTING[name].readme_default("en"), (name, value)


def test_the_network_secret_holds_the_set_settings_as_export_lines_the_shell_reads_back(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    config = config_of(PIP_INDEX_URL="https://user:p;w(1)@nexus.example.com/simple", HTTPS_PROXY="http://proxy:3128",
                       NO_PROXY="localhost, .example.com", CA_BUNDLE=str(ca))
    text = network_file(config)
    script = tmp_path / "network"
    script.write_text(text)
    shown = subprocess.run(["sh", "-c", f". {shlex.quote(str(script))}; env"], capture_output=True, text=True,
                           env={}).stdout.splitlines()
    assert "PIP_INDEX_URL=https://user:p;w(1)@nexus.example.com/simple" in shown
    assert {"HTTPS_PROXY=http://proxy:3128", "https_proxy=http://proxy:3128", "NO_PROXY=localhost,.example.com",
            "no_proxy=localhost,.example.com", "PIP_CERT=/run/secrets/ca.crt",
            "CURL_CA_BUNDLE=/run/secrets/ca.crt"} <= set(shown)
    assert network_file(config_of()) == ""


def test_secrets_reach_bake_as_variables_and_never_as_build_args(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    config = config_of(PIP_INDEX_URL="https://nexus.example.com/simple", CA_BUNDLE=str(ca))
    variables = bake_variables(config)
    assert variables["FATE_BUILDER_NETWORK"] == "export PIP_INDEX_URL=https://nexus.example.com/simple\n" + "".join(
        f"export {n}=/run/secrets/ca.crt\n" for n in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                                                      "SSL_CERT_FILE", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS"))
    assert variables["CA_BUNDLE"] == str(ca)
    text = render(build_plan(config), tmp_path / "docker-bake.hcl")
    assert "nexus.example.com" not in text and str(ca) not in text
    assert '["id=network,env=FATE_BUILDER_NETWORK"]' in text and '["id=ca,src=${CA_BUNDLE}"]' in text


@pytest.mark.parametrize("name, value, message", [
    ("IMAGE_MIRROR", "https://harbor.example.com", "must be a registry host"),
    ("PIP_INDEX_URL", "mirrors.aliyun.com/pypi/simple", "must be an http:// or https:// URL"),
    ("APT_MIRROR", "http://mirror/ubuntu'; rm -rf /", "must be an http:// or https:// URL"),
    ("YUM_MIRROR", "http://mirror/#x", "must be an http:// or https:// URL"),
    ("CA_BUNDLE", "/nonexistent/ca.pem", "no such file"),
    ("PIP_TRUSTED_HOST", "a$b", "host names only"),
])
def test_bad_network_settings_are_one_line_errors_naming_the_setting(name, value, message):
    with pytest.raises(ConfigError, match=rf"^{name}=.*{message}"):
        config_of(**{name: value})


def test_network_settings_default_to_upstream_and_secret_ones_stay_out_of_the_committed_file():
    config = config_of()
    assert config.network == () and config.image_mirror == "docker.io"
    secret_rows = [s.name for s in SETTINGS if s.carrier is not Carrier.VARIABLE]
    assert "PIP_INDEX_URL" in secret_rows and "CA_BUNDLE" in secret_rows and "IMAGE_MIRROR" not in secret_rows


def test_base_images_are_what_the_selections_from_lines_pull_under_image_mirror():
    config = config_of(**{**ALL_OFF, "Build_Basic": "1"}, Platform="amd64", IMAGE_MIRROR="harbor.example.com/dockerhub")
    plan = build_plan(config)
    assert set(inventory.base_images([p.image for p in plan.images], config)) == {
        "harbor.example.com/dockerhub/library/centos:centos7",
        "harbor.example.com/dockerhub/library/eclipse-temurin:8u392-b08-jre-jammy",
        "harbor.example.com/dockerhub/library/maven:3.8.6-eclipse-temurin-8"}
