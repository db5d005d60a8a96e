"""The closing lines of a bake that could not reach what it needs: every image and host, with its setting."""

from __future__ import annotations

from generator import inventory
from generator.plan import build_plan
from generator.progress import read
from generator.unreachable import closing_lines, find

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
