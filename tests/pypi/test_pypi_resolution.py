"""Every pip run of the 2.x images' install steps, resolved for real against PyPI.

For each release (2.0.0, 2.1.0, 2.1.1, 2.2.0) and each image that installs FATE's lists
(fateflow, eggroll, fateflow-spark): the runs its Dockerfile makes (tests/pypi/resolve.py),
each `pip install --dry-run --report --ignore-installed` with the image's Python (the
catalog's PYTHON_VERSION, pyenv's build) and the base image's pip, on this host's platform
(linux x86_64, glibc as Debian 12's: the amd64 image). PyTorch's CPU index is not reachable
here, so PIP_EXTRA_INDEX_URL=https://pypi.org/simple stands for it (install-requirements
drops the file's own index line then): torch==1.13.1 resolves from PyPI, and 2.2.0's
`torch==2.3.1+cpu` cannot; the tests assert that this pin is the one failure and resolve
the rest with it left out. No wheel is relabelled.

Marked `pypi` (make test-pypi): these need PyPI, and fail when it does not answer.
"""

from __future__ import annotations

import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging.version import Version

from testsupport.constants import DOCKER

from . import resolve
from .resolve import V2, Outcome, Run

pytestmark = pytest.mark.pypi

TAGS = ("v2.0.0", "v2.1.0", "v2.1.1", "v2.2.0")
FAMILIES = ("v2/fateflow", "v2/eggroll", "v2/fateflow-spark")
# Pins only an index this network cannot reach serves (PyTorch's CPU index: the +cpu builds).
UNREACHABLE_HERE = ("torch==2.3.1+cpu",)
PIP_VERSION = re.search(r"^ARG PIP_VERSION=(\S+)$", (DOCKER / "v2" / "base" / "Dockerfile").read_text(), re.M)


class Resolved:
    """A run's outcome: the first attempt, and the one without the unreachable pins (if any)."""

    def __init__(self, run: Run, first: Outcome, left_out: tuple[str, ...] = (), final: Outcome | None = None):
        self.run, self.first, self.left_out = run, first, left_out
        self.final = final or first


def _resolve(py: Path, run: Run, work: Path, env: dict[str, str]) -> Resolved:
    work.mkdir(parents=True)
    first = resolve.dry_run(py, run, work / "report.json", env)
    present = tuple(p for p in UNREACHABLE_HERE if any(p in f.read_text().splitlines() for f in run.files))
    if first.returncode == 0 or not present:
        return Resolved(run, first)
    rest = resolve.without(run, present, work)
    return Resolved(run, first, present, resolve.dry_run(py, rest, work / "report-rest.json", env))


def _jobs(root: Path) -> dict[str, tuple[str, Run]]:
    """Every pip run to resolve, keyed `tag family index`, with the Python it runs on."""
    jobs: dict[str, tuple[str, Run]] = {}
    for tag in TAGS:
        python = V2.facts_for(tag[1:]).get("PYTHON_VERSION")  # type: ignore[union-attr]
        for family in FAMILIES:
            work = root / "lists" / tag / family.replace("/", "-")
            work.mkdir(parents=True)
            for i, run in enumerate(resolve.image_runs(family, tag, work)):
                jobs[f"{tag} {family} {i}"] = (python, run)
        # What eggroll did before --each: all its lists in one pip run.
        together = root / "lists" / tag / "eggroll-together"
        together.mkdir(parents=True)
        files = [resolve.FATE_FILES / tag / p for p in V2.family_by_name["v2/eggroll"].requirements]
        jobs[f"{tag} eggroll-together"] = (python, Run(files=tuple(
            f for r in resolve._adapted(files, together / "adapted", each=False) for f in r.files)))
    return jobs


@pytest.fixture(scope="session")
def resolutions(tmp_path_factory) -> dict[str, Resolved]:
    assert PIP_VERSION, "docker/v2/base/Dockerfile: no ARG PIP_VERSION"
    root = tmp_path_factory.mktemp("pypi")
    env = resolve.pip_environment(root / "home", root / "pip-cache")
    jobs = _jobs(root)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        pythons = {v: pool.submit(resolve.make_venv, v, PIP_VERSION.group(1), root / f"venv-{v}", env)
                   for v in {python for python, _ in jobs.values()}}
        futures = {key: pool.submit(lambda p, r, k: _resolve(pythons[p].result(), r, root / "runs" / k.replace(" ", "_")
                                                             .replace("/", "-"), env), python, run, key)
                   for key, (python, run) in jobs.items()}
        done = {key: f.result() for key, f in futures.items()}
    resolve.TIMINGS["total"] = time.monotonic() - start
    for key, r in done.items():
        resolve.TIMINGS[key] = r.first.seconds + (r.final.seconds if r.final is not r.first else 0.0)
    return done


def _runs_of(resolutions: dict[str, Resolved], tag: str, family: str) -> list[Resolved]:
    runs = [r for key, r in sorted(resolutions.items()) if key.startswith(f"{tag} {family} ")]
    assert runs, f"{tag} {family}: no pip runs"
    return runs


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tag", TAGS)
def test_every_pip_run_of_the_image_resolves_on_pypi_for_its_python(resolutions, tag, family):
    for r in _runs_of(resolutions, tag, family):
        assert r.final.returncode == 0, f"{tag} {family} {r.run}: {r.final.errors}"
        assert r.final.installs, f"{tag} {family}: resolved to nothing"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tag", TAGS)
def test_only_the_pytorch_cpu_index_pin_of_2_2_0_is_left_out(resolutions, tag, family):
    """2.2.0's torch==2.3.1+cpu is the one thing PyPI cannot give; nothing else is left out."""
    for r in _runs_of(resolutions, tag, family):
        if not r.left_out:
            assert r.first.returncode == 0, f"{tag} {family}: {r.first.errors}"
            continue
        assert tag == "v2.2.0" and r.left_out == ("torch==2.3.1+cpu",), (tag, family, r.left_out)
        assert r.first.errors and all("torch==2.3.1+cpu" in line for line in r.first.errors), r.first.errors


@pytest.mark.parametrize("tag", ("v2.0.0", "v2.1.0", "v2.1.1"))
def test_torch_1_13_1_resolves_from_pypi_as_the_extra_index(resolutions, tag):
    installs = [r.final.installs for r in _runs_of(resolutions, tag, "v2/fateflow")]
    assert any(i.get("torch") == "1.13.1" for i in installs), installs


def test_eggroll_runs_its_lists_one_after_another_and_the_later_pins_win(resolutions):
    """Upstream's order: eggroll's own list, then FATE's; the environment ends with FATE's pins."""
    for tag in TAGS:
        runs = _runs_of(resolutions, tag, "v2/eggroll")
        assert len(runs) == len(V2.family_by_name["v2/eggroll"].requirements), tag
        final: dict[str, str] = {}
        for r in runs:
            final.update(r.final.installs)
        last_pin: dict[str, str] = {}
        for r in runs:
            for f in r.run.files:
                for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", f.read_text(), re.M):
                    last_pin[resolve.canonical(name)] = version
        for name, version in last_pin.items():
            if f"{name}=={version}" not in UNREACHABLE_HERE:
                assert Version(final[name]) == Version(version), (tag, name, final[name], version)


def test_eggroll_2_2_0s_lists_do_not_resolve_in_one_pip_run(resolutions):
    """Why eggroll installs with --each: lmdb 1.3.0 vs 1.4.1, grpcio 1.59.3 vs 1.62.1."""
    r = resolutions["v2.2.0 eggroll-together"]
    assert r.final.returncode != 0
    assert any("ResolutionImpossible" in line or "conflicting dependencies" in line for line in r.final.errors), \
        r.final.errors


def test_fateflow_carries_cryptography_and_werkzeug_for_the_compose_command(resolutions):
    """The compose's `pip install cryptography` finds it installed (upstream's image installs both)."""
    for tag in TAGS:
        final: dict[str, str] = {}
        for r in _runs_of(resolutions, tag, "v2/fateflow"):
            final.update(r.final.installs)
        assert "cryptography" in final and "werkzeug" in final, tag


def test_the_composes_pip_install_cryptography_needs_no_index_once_it_is_installed(tmp_path):
    """fateflow's compose command at start: with cryptography installed (as the image has it), pip
    answers `Requirement already satisfied` with every index unreachable (a closed loopback port)."""
    assert PIP_VERSION
    env = resolve.pip_environment(tmp_path / "home", tmp_path / "cache")
    py = resolve.make_venv("3.10", PIP_VERSION.group(1), tmp_path / "venv", env)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "cryptography"], check=True, env=env, timeout=600)
    offline = {**env, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0", "PIP_TIMEOUT": "5"}
    offline.pop("PIP_EXTRA_INDEX_URL")
    done = subprocess.run([str(py), "-m", "pip", "install", "cryptography"], env=offline, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "Requirement already satisfied: cryptography" in done.stdout, done.stderr
    # The same command for a package that is not installed does need the index: the check can fail.
    missing = subprocess.run([str(py), "-m", "pip", "install", "pika"], env=offline, capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode != 0
