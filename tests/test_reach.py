"""doctor's reachability checks: which hosts, which settings, in parallel (the connection attempt replaced); and the
TLS handshake, against a loopback server signed by a CA made here (trusted by the build only through CA_BUNDLE)."""

from __future__ import annotations

import threading
import time

import pytest

from generator import inventory, reach
from generator.config import Kind
from generator.dockerfiles import familiar
from generator.plan import build_plan
from testsupport.mirrors import make_ca, start_server, stop

from .conftest import ALL_OFF, config_of


def _endpoints(**settings):
    config = config_of(**{**ALL_OFF, "Build_Basic": "1"}, **settings)
    return inventory.plan_endpoints([p.image for p in build_plan(config).images], config), config


def test_each_unreachable_host_is_one_failed_line_with_the_images_and_the_setting():
    endpoints, config = _endpoints()
    checks = reach.checks(endpoints, config, probe=lambda host, port, trust: reach.Failure("no such host"))
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
                 probe=lambda host, port, trust: tried.append((host, port)))
    assert ("harbor.example.com", 8443) in tried and ("maven.example.cn", 443) in tried
    assert ("repo.maven.apache.org", 443) not in tried
    local = frozenset(familiar(e.url(config)) for eps in endpoints.values() for e in eps if e.kind is Kind.REGISTRY)
    assert "harbor.example.com" not in {n.host for n in reach.needs(endpoints, config, local)}


def test_hosts_are_tried_in_parallel():
    endpoints, config = _endpoints()
    running, most = [0], [0]
    lock = threading.Lock()

    def slow(host, port, trust):
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


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A loopback HTTPS server whose certificate a CA made here signed: (its URL, that CA's PEM file)."""
    work = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_ca(work / "ca")
    (work / "root" / "simple").mkdir(parents=True)
    server = start_server(work / "root", work, "index", tls=(cert, key))
    try:
        yield server.url, ca
    finally:
        stop(server)


def _loopback_only(endpoints, config):
    """The endpoints at the loopback server only: the unit tests reach nothing else."""
    return {image: tuple(e for e in eps if "127.0.0.1" in e.url(config)) for image, eps in endpoints.items()}


def test_an_index_signed_by_a_ca_the_build_does_not_trust_fails_with_the_ca_bundle_fix(tls_server):
    url, _ = tls_server
    endpoints, config = _endpoints(PIP_INDEX_URL=f"{url}/simple")
    checks = reach.checks(_loopback_only(endpoints, config), config)
    assert [c.name for c in checks] == ["reach 127.0.0.1"] and not checks[0].ok
    assert checks[0].detail.startswith("answered with a certificate the build does not trust (a TLS-intercepting "
                                       "proxy or a private CA): ")
    assert "checked against the public CAs the build trusts without CA_BUNDLE" in checks[0].detail
    assert checks[0].fix.startswith("set CA_BUNDLE to a PEM file of every CA the build trusts")


def test_the_same_index_passes_with_its_ca_as_ca_bundle(tls_server):
    url, ca = tls_server
    endpoints, config = _endpoints(PIP_INDEX_URL=f"{url}/simple", CA_BUNDLE=str(ca))
    checks = reach.checks(_loopback_only(endpoints, config), config)
    assert [(c.ok, c.detail) for c in checks] == [
        (True, f"reached 127.0.0.1; certificates of 127.0.0.1 verified against CA_BUNDLE ({ca})")]


def test_a_ca_bundle_without_the_signing_ca_says_to_add_it(tls_server, tmp_path):
    url, _ = tls_server
    other, _, _ = make_ca(tmp_path / "other")
    failure = reach.connect("127.0.0.1", int(url.rsplit(":", 1)[1]), str(other))
    assert failure is not None and failure.untrusted
    endpoints, config = _endpoints(PIP_INDEX_URL=f"{url}/simple", CA_BUNDLE=str(other))
    need = next(n for n in reach.needs(endpoints, config, frozenset()) if n.host == "127.0.0.1")
    check = reach.failed_check(need, failure, config, reach.trust_of(config)[1])
    assert check.fix == f"add the CA that signs 127.0.0.1's certificate to CA_BUNDLE ({other})"


def test_a_plain_tcp_connect_to_a_tls_server_is_reached_and_an_unreadable_ca_file_is_named(tls_server, tmp_path):
    port = int(tls_server[0].rsplit(":", 1)[1])
    assert reach.connect("127.0.0.1", port, None) is None
    missing = tmp_path / "no-such.pem"
    failure = reach.connect("127.0.0.1", port, str(missing))
    assert failure is not None and not failure.untrusted and f"cannot read the CA file {missing}" in failure.why


def test_only_https_endpoints_a_run_step_fetches_get_the_handshake():
    endpoints, config = _endpoints(IMAGE_MIRROR="harbor.example.com:8443/hub",
                                   APT_MIRROR="http://mirrors.example.cn/ubuntu")
    tls = {n.host: n.tls for n in reach.needs(endpoints, config, frozenset())}
    assert tls["pypi.org"] is True and tls["repo.maven.apache.org"] is True
    assert tls["harbor.example.com"] is False  # the engine pulls it, with its host's trust
    assert tls["mirrors.example.cn"] is False  # http
