"""The closing lines of a bake that could not reach what it needs: every image and host, with its setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import inventory
from generator.plan import build_plan
from generator.progress import read
from generator.unreachable import closing_lines, find, pytorch_index

from .conftest import config_of

# What BuildKit printed on a machine without a registry (three targets, one bake; buildx 0.29's form).
NO_REGISTRY = """\
#5 [fateboard internal] load metadata for docker.io/library/eclipse-temurin:8u392-b08-jre-jammy
#6 [base-image internal] load metadata for docker.io/library/centos:centos7
#7 [nginx internal] load metadata for docker.io/library/ubuntu:bionic-20230530
#6 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/library/centos/manifests/centos7": dial tcp: \
lookup registry-1.docker.io on 10.0.0.2:53: no such host
#5 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/library/eclipse-temurin/manifests/\
8u392-b08-jre-jammy": dial tcp: lookup registry-1.docker.io on 10.0.0.2:53: no such host
#7 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/library/ubuntu/manifests/bionic-20230530": \
dial tcp: lookup registry-1.docker.io on 10.0.0.2:53: no such host
 > [base-image internal] load metadata for docker.io/library/centos:centos7:
ERROR: target fateboard: failed to solve: eclipse-temurin:8u392-b08-jre-jammy: failed to resolve source metadata \
for docker.io/library/eclipse-temurin:8u392-b08-jre-jammy: failed to do request: Head \
"https://registry-1.docker.io/v2/library/eclipse-temurin/manifests/8u392-b08-jre-jammy": dial tcp: lookup \
registry-1.docker.io on 10.0.0.2:53: no such host
ERROR: target base-image: failed to solve: centos:centos7: failed to resolve source metadata for \
docker.io/library/centos:centos7: failed to do request: Head "https://registry-1.docker.io/v2/library/centos/\
manifests/centos7": dial tcp: lookup registry-1.docker.io on 10.0.0.2:53: no such host
ERROR: target nginx: failed to solve: ubuntu:bionic-20230530: failed to resolve source metadata for \
docker.io/library/ubuntu:bionic-20230530: failed to do request: Head "https://registry-1.docker.io/v2/library/ubuntu/\
manifests/bionic-20230530": dial tcp: lookup registry-1.docker.io on 10.0.0.2:53: no such host
"""

STEPS = """\
#12 [base-image python-build 1/4] RUN set -eu; curl -fsSL -o Python.tar.xz "${PYTHON_DOWNLOAD_URL}/3.8.13/..."
#12 0.210 curl: (6) Could not resolve host: www.python.org
#12 ERROR: process "/bin/sh -c ..." did not complete successfully: exit code: 6
#14 [spark-base spark-fetch 2/3] RUN set -eu; ...
#14 0.3 curl: (7) Failed to connect to archive.apache.org port 443 after 3 ms: Couldn't connect to server
#14 ERROR: process "/bin/sh -c ..." did not complete successfully: exit code: 7
#15 [fate-upgrade-manager runtime 2/2] RUN pip install ...
#15 3.1 WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection \
broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish \
a new connection: [Errno -3] Temporary failure in name resolution')': /simple/kubernetes/
#15 9.9 ERROR: Could not find a version that satisfies the requirement kubernetes==26.1.0
#15 ERROR: process did not complete successfully: exit code: 1
#16 [nginx runtime 2/2] RUN set -eu; ...
#16 1.2 W: Failed to fetch http://archive.ubuntu.com/ubuntu/dists/bionic/InRelease  Temporary failure resolving \
'archive.ubuntu.com'
"""


def _endpoints(**settings):
    config = config_of(Build_FUM="1", **settings)
    return inventory.plan_endpoints([p.image for p in build_plan(config).images], config), config


def test_every_image_the_bake_needs_from_an_unreachable_registry_is_named_once_with_the_fix():
    """BuildKit names the images it tried before it cancelled the rest; the others of that registry follow."""
    reached, config = _endpoints()
    lines = closing_lines(read(NO_REGISTRY).events, reached, config)
    assert lines == ["cannot pull 5 base images (eclipse-temurin:8u392-b08-jre-jammy, centos:centos7, "
                     "ubuntu:bionic-20230530, maven:3.8.6-eclipse-temurin-8, python:3.8.18-slim-bookworm): "
                     "registry-1.docker.io is not reachable; set IMAGE_MIRROR, or load them with 'fate-builder load'"]


def test_images_already_in_the_local_store_are_not_named():
    reached, config = _endpoints()
    first = "\n".join(NO_REGISTRY.splitlines()[-2:]) + "\n"  # only base-image's and nginx's errors
    lines = closing_lines(read(first).events, reached, config,
                          present=frozenset({"maven:3.8.6-eclipse-temurin-8", "python:3.8.18-slim-bookworm"}))
    assert lines[0].startswith("cannot pull 3 base images (centos:centos7, ubuntu:bionic-20230530, "
                               "eclipse-temurin:8u392-b08-jre-jammy): registry-1.docker.io")


def test_each_host_a_step_could_not_reach_is_named_with_the_images_needing_it_and_its_setting():
    reached, config = _endpoints()
    lines = closing_lines(read(STEPS).events, reached, config)
    assert "cannot reach www.python.org (needed by base-image); set PYTHON_DOWNLOAD_URL" in lines
    assert "cannot reach archive.apache.org (needed by fateflow-spark, spark-base); set APACHE_MIRROR" in lines
    assert any(line.startswith("cannot reach archive.ubuntu.com (needed by nginx); set APT_MIRROR") for line in lines)


def test_an_unreachable_mirror_is_named_with_the_setting_that_points_at_it():
    reached, config = _endpoints(APACHE_MIRROR="https://mirrors.example.cn/apache")
    log = "#14 [spark-base spark-fetch 2/3] RUN x\n#14 0.3 curl: (6) Could not resolve host: mirrors.example.cn\n"
    assert closing_lines(read(log).events, reached, config) == [
        "cannot reach mirrors.example.cn (needed by fateflow-spark, spark-base); set APACHE_MIRROR"]


def test_a_failure_that_is_not_about_the_network_names_nothing():
    log = "#9 [fateflow 3/7] RUN false\n#9 ERROR: process \"/bin/sh -c false\" did not complete successfully\n"
    assert find(read(log).events).images == () and closing_lines(read(log).events, {}, None) == []


# ---------------------------------------------------------------------------------------
# Certificates a step does not trust, and pip's verdicts: the tools' real words (tests/data/progress/tls/README.md).

TLS_DATA = Path(__file__).parent / "data" / "progress" / "tls"


def _under_step(name: str, label: str = "[fateflow runtime 3/7] RUN set -eu; ...") -> str:
    """A captured tool output as BuildKit prints it under the RUN step that ran the tool."""
    lines = (TLS_DATA / name).read_text(encoding="utf-8").splitlines()
    return (f"#21 {label}\n" + "".join(f"#21 {1.5 + i / 100:.3f} {line}\n" for i, line in enumerate(lines))
            + "#21 ERROR: process \"/bin/sh -c set -eu; ...\" did not complete successfully: exit code: 1\n")


@pytest.mark.parametrize(("name", "host"), [
    ("pip-untrusted.txt", "pypi.org"),
    ("apt-untrusted.txt", "deb.debian.org"),
    ("git-untrusted.txt", "pypi.org"),
    ("npm-untrusted.txt", "registry.npmjs.org"),
])
def test_a_host_whose_certificate_a_step_does_not_trust_is_named_with_ca_bundle_not_as_unreachable(name, host):
    reached, config = _endpoints()
    lines = closing_lines(read(_under_step(name)).events, reached, config)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{host} ") and "answered with a certificate the build does not trust" in lines[0]
    assert lines[0].endswith("set CA_BUNDLE to a PEM file of every CA the build trusts "
                             "(e.g. this machine's /etc/ssl/certs/ca-certificates.crt)")


@pytest.mark.parametrize(("name", "words"), [
    ("curl-untrusted.txt", "curl: (60) SSL certificate problem: self-signed certificate in certificate chain"),
    ("java-untrusted.txt", "PKIX path building failed"),
])
def test_a_tool_that_names_no_host_is_named_by_its_step_target_and_words(name, words):
    reached, config = _endpoints()
    lines = closing_lines(read(_under_step(name, "[spark-base spark-fetch 2/3] RUN set -eu; ...")).events,
                          reached, config)
    assert len(lines) == 1 and lines[0].startswith("a step of spark-base got a certificate it does not trust (")
    assert words in lines[0] and "CA_BUNDLE" in lines[0]


def test_pips_untrusted_index_names_its_host_once_and_not_the_distribution_it_then_could_not_find():
    """pip also says "No matching distribution found for lmdb==1.4.1" there: the index was never read."""
    reached, config = _endpoints()
    lines = closing_lines(read(_under_step("pip-untrusted.txt")).events, reached, config)
    assert lines[0].startswith("pypi.org (needed by base-image, ")
    assert not any("lmdb" in line or line.startswith("cannot reach") for line in lines)


def test_with_ca_bundle_set_the_fix_is_to_add_the_signing_ca_to_it(tmp_path):
    bundle = tmp_path / "corp.pem"
    bundle.write_text((TLS_DATA / "README.md").read_text())  # any readable file: the text is not parsed here
    reached, config = _endpoints(CA_BUNDLE=str(bundle))
    lines = closing_lines(read(_under_step("apt-untrusted.txt")).events, reached, config)
    assert len(lines) == 1 and lines[0].startswith("deb.debian.org (needed by fateflow) answered with a certificate")
    assert lines[0].endswith(f"; add the CA that signs it to CA_BUNDLE ({bundle})")


def test_buildkits_own_untrusted_pull_names_the_engines_trust_not_ca_bundle_nor_an_unreachable_registry():
    log = NO_REGISTRY.replace("dial tcp: lookup registry-1.docker.io on 10.0.0.2:53: no such host",
                              "tls: failed to verify certificate: x509: certificate signed by unknown authority")
    reached, config = _endpoints()
    lines = closing_lines(read(log).events, reached, config)
    assert len(lines) == 1 and lines[0].startswith("registry-1.docker.io (needed by ")
    assert "/etc/docker/certs.d/<host>/ca.crt" in lines[0] and "set CA_BUNDLE" not in lines[0]


def test_a_pin_only_pytorchs_index_serves_is_named_with_pytorchs_index_as_pip_extra_index_url():
    lines = closing_lines(read(_under_step("pip-no-matching-torch-cpu.txt")).events, {}, None)
    assert lines == ["pip found no torch==2.3.1+cpu (needed by fateflow): that build is served only by PyTorch's "
                     "index, not PyPI; set PIP_EXTRA_INDEX_URL to https://download.pytorch.org/whl/cpu "
                     "or a mirror of it"]


@pytest.mark.parametrize(("requirement", "index"), [
    ("torch==2.3.1+cpu", "https://download.pytorch.org/whl/cpu"),
    ("torch==1.13.1+cu117", "https://download.pytorch.org/whl/cu117"),
    ("torchvision==0.18.1+rocm6.0", "https://download.pytorch.org/whl/rocm6.0"),
    ("torch==2.3.1", None),
    ("dgl==1.1.3+local", None),
])
def test_pytorchs_local_version_tags_and_nothing_else_point_at_its_index(requirement, index):
    assert pytorch_index(requirement) == index


def test_a_pin_no_index_serves_names_the_index_settings():
    log = "#21 [fateflow runtime 3/7] RUN pip\n#21 9.1 ERROR: No matching distribution found for kubernetes==99.0\n"
    assert closing_lines(read(log).events, {}, None) == [
        "pip found no kubernetes==99.0 (needed by fateflow): the index it was given does not serve it; "
        "set PIP_INDEX_URL or PIP_EXTRA_INDEX_URL to one that does"]


def test_pins_that_conflict_are_one_line_naming_them_and_not_the_network():
    lines = closing_lines(read(_under_step("pip-conflict.txt")).events, {}, None)
    assert lines == ["pip cannot install lmdb==1.3.0 and lmdb==1.4.1 together (needed by fateflow): "
                     "The user requested lmdb==1.3.0; The user requested lmdb==1.4.1; the requirements conflict "
                     "(FATE's lists, not the network): change one of the pins"]


def test_a_real_bake_whose_pip_did_not_trust_pypi_names_ca_bundle_and_nothing_else():
    """BuildKit's whole log (tests/data/progress/tls/README.md): pip's retries, its no-match, the error summary."""
    log = (TLS_DATA.parent / "0.29-pip-untrusted.log").read_text(encoding="utf-8")
    reached, config = _endpoints()
    lines = closing_lines(read(log).events, reached, config)
    assert len(lines) == 1 and lines[0].startswith("pypi.org (needed by base-image, ")
    assert "does not trust" in lines[0] and "set CA_BUNDLE" in lines[0]


def test_a_real_bake_stopped_by_fate_2_2s_torch_cpu_pin_names_pytorchs_index():
    log = (TLS_DATA.parent / "0.29-pip-torch-cpu.log").read_text(encoding="utf-8")
    assert closing_lines(read(log).events, {}, None) == [
        "pip found no torch==2.3.1+cpu: that build is served only by PyTorch's index, not PyPI; "
        "set PIP_EXTRA_INDEX_URL to https://download.pytorch.org/whl/cpu or a mirror of it"]
