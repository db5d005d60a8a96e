"""Real pip resolutions against PyPI of what a 2.x image's Dockerfile installs (plain Python).

An image's pip runs are read from its Dockerfile: the `install-requirements [--each]
${REQUIREMENTS} EXTRA...` call (the catalog's lists, then the one-line lists the RUN step
writes with `echo`), run in install-requirements' ADAPT_ONLY mode so the copies and the split
into pip runs are the script's own, and any other `pip install NAME...` of the same step.
Each run is `pip install --dry-run --report --ignore-installed` in a throwaway venv of the
image's Python (pyenv), with the base image's pip, in an environment cleared of the caller's
pip settings (PIP_FIND_LINKS, config files) but for the CA bundle this network needs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from generator import catalog
from testsupport.constants import DOCKER, ROOT

V2 = catalog.for_line("2.x")
SCRIPT = DOCKER / "v2" / "base" / "install-requirements.sh"
FATE_FILES = ROOT / "tests" / "data" / "fate-files"
# What a user of this network sets: PyPI stands in for PyTorch's CPU index (not reachable here).
EXTRA_INDEX = "https://pypi.org/simple"
TIMINGS: dict[str, float] = {}


@dataclass(frozen=True)
class Run:
    """One pip run of an image's install step: requirement files, or bare requirements."""

    files: tuple[Path, ...] = ()
    names: tuple[str, ...] = ()


@dataclass
class Outcome:
    returncode: int
    errors: list[str]
    report: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def installs(self) -> dict[str, str]:
        return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in self.report.get("install", [])}


def canonical(name: str) -> str:
    """PEP 503's normalized name (ruamel.yaml and ruamel-yaml are one project)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _step_text(family: str) -> str:
    """The RUN step of the family's Dockerfile that calls install-requirements, lines joined."""
    text = (DOCKER / family / "Dockerfile").read_text().replace("\\\n", " ")
    steps = [line for line in text.splitlines() if line.startswith("RUN") and "install-requirements" in line]
    assert len(steps) == 1, f"{family}: {len(steps)} install-requirements steps"
    return steps[0]


def _substitute(text: str, facts: catalog.model.Facts) -> str:
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: facts.get(m.group(1)), text)


def image_runs(family: str, tag: str, work: Path) -> list[Run]:
    """The pip runs of the family's install step for FATE `tag`, in the order the step makes them."""
    facts = V2.facts_for(tag.lstrip("v"))
    assert facts is not None, tag
    step = _step_text(family)
    call = re.search(r"install-requirements( --each)? \$\{REQUIREMENTS\}([^;]*)", step)
    assert call, f"{family}: no install-requirements ${{REQUIREMENTS}} call"
    written = {path: _substitute(content, facts) for content, path in re.findall(r'echo "([^"]+)" > (\S+);', step)}
    files = [FATE_FILES / tag / p for p in V2.family_by_name[family].requirements]
    for i, extra in enumerate(call.group(2).split()):
        files.append(work / f"extra-{i}.txt")
        files[-1].write_text(written[extra] + "\n")
    runs = _adapted(files, work / "adapted", bool(call.group(1)))
    after = step[call.end():]
    for args in re.findall(r"\bpip install ([^;]+)", after):
        names = tuple(a for a in args.split() if not a.startswith(("/", "-", ".")))
        if names:
            runs.append(Run(names=names))
    return runs


def _adapted(files: list[Path], out: Path, each: bool) -> list[Run]:
    env = {"PATH": "/usr/bin:/bin", "TARGETARCH": "amd64", "ADAPT_ONLY": str(out), "PIP_EXTRA_INDEX_URL": EXTRA_INDEX}
    subprocess.run(["sh", str(SCRIPT), *(["--each"] if each else []), *map(str, files)], check=True, env=env)
    return [Run(files=tuple(out / name for name in line.split()))
            for line in (out / "pip-runs.txt").read_text().splitlines()]


def pip_environment(home: Path, cache: Path) -> dict[str, str]:
    """The caller's environment without its pip settings, plus the CA bundle and the extra index."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PIP_CONFIG_FILE": os.devnull,
           "PIP_CACHE_DIR": str(cache), "PIP_EXTRA_INDEX_URL": EXTRA_INDEX, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_DEFAULT_TIMEOUT": "60"}
    # This network's TLS gateway: pip's own certifi does not trust it (measured: CERTIFICATE_VERIFY_FAILED).
    ca = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    if ca:
        env["PIP_CERT"] = ca
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        if proxy in os.environ:
            env[proxy] = os.environ[proxy]
    return env


def python_of(version: str) -> Path:
    """pyenv's newest CPython of `version` (3.8 -> 3.8.18)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(root.glob(f"{version}.*"), key=lambda p: [int(x) for x in p.name.split(".") if x.isdigit()])
    assert found, f"no Python {version} under {root} (pyenv install {version})"
    return found[-1] / "bin" / "python"


def make_venv(version: str, pip_version: str, where: Path, env: dict[str, str]) -> Path:
    start = time.monotonic()
    subprocess.run([str(python_of(version)), "-m", "venv", str(where)], check=True)
    py = where / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", f"pip=={pip_version}"], check=True, env=env,
                   capture_output=True, timeout=600)
    TIMINGS[f"venv {version} (pip {pip_version})"] = time.monotonic() - start
    return py


def dry_run(py: Path, run: Run, report: Path, env: dict[str, str]) -> Outcome:
    args = [a for f in run.files for a in ("-r", str(f))] + list(run.names)
    start = time.monotonic()
    done = subprocess.run([str(py), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", str(report), *args], env=env, capture_output=True, text=True, timeout=1200)
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    data = json.loads(report.read_text()) if done.returncode == 0 else {}
    return Outcome(done.returncode, errors, data, time.monotonic() - start)


def without(run: Run, pins: tuple[str, ...], out: Path) -> Run:
    """The run with the lines `pins` left out of its lists (written beside them)."""
    copies = []
    for f in run.files:
        copy = out / f"{f.parent.name}-{f.name}"
        copy.write_text("".join(line for line in f.read_text().splitlines(keepends=True) if line.strip() not in pins))
        copies.append(copy)
    return Run(files=tuple(copies), names=run.names)


def timing_lines() -> list[str]:
    rows = [f"{name}: {sec:.1f} s" for name, sec in sorted(TIMINGS.items()) if name != "total"]
    if "total" in TIMINGS:
        rows.append(f"wall time of all resolutions (in parallel): {TIMINGS['total']:.1f} s")
    return rows
