"""doctor's reachability checks, with the connection attempt replaced: which hosts, which settings, in parallel."""

from __future__ import annotations

import threading
import time

from generator import inventory, reach
from generator.config import Kind
from generator.plan import build_plan
from generator.unreachable import familiar

from .conftest import ALL_OFF, config_of


def _endpoints(**settings):
    config = config_of(**{**ALL_OFF, "Build_Basic": "1"}, **settings)
    return inventory.plan_endpoints([p.image for p in build_plan(config).images], config), config


def test_each_unreachable_host_is_one_failed_line_with_the_images_and_the_setting():
    endpoints, config = _endpoints()
    checks = reach.checks(endpoints, config, probe=lambda host, port: "no such host")
    by_name = {c.name: c for c in checks}
    registry = by_name["reach registry-1.docker.io"]
    assert not registry.ok and "needed by base-image, fateboard, eggroll" in registry.detail
    assert registry.fix == "set IMAGE_MIRROR, or load the base images with 'fate-builder load'"
    assert by_name["reach vault.centos.org"].fix == "set YUM_MIRROR"
    assert by_name["reach repo.maven.apache.org"].fix == "set MAVEN_MIRROR"
    assert len([c for c in checks if c.name == "reach pypi.org"]) == 1


def test_a_base_image_in_the_local_store_needs_no_registry_and_mirrors_are_what_is_tried():
    endpoints, config = _endpoints(IMAGE_MIRROR="harbor.example.com:8443/hub",
                                   MAVEN_MIRROR="https://maven.example.cn/repository/public")
    tried = []
    reach.checks(endpoints, config, present=frozenset(),
                 probe=lambda host, port: tried.append((host, port)))
    assert ("harbor.example.com", 8443) in tried and ("maven.example.cn", 443) in tried
    assert ("repo.maven.apache.org", 443) not in tried
    local = frozenset(familiar(e.url(config)) for eps in endpoints.values() for e in eps if e.kind is Kind.REGISTRY)
    assert "harbor.example.com" not in {n.host for n in reach.needs(endpoints, config, local)}


def test_hosts_are_tried_in_parallel():
    endpoints, config = _endpoints()
    running, most = [0], [0]
    lock = threading.Lock()

    def slow(host, port):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return None

    started = time.monotonic()
    checks = reach.checks(endpoints, config, probe=slow)
    assert most[0] > 1 and time.monotonic() - started < 0.2 * len(reach.needs(endpoints, config, frozenset()))
    assert [c.ok for c in checks] == [True]
