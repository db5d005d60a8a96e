"""A clone of this checkout in which the docs' `sh` blocks run without a network or an engine.

tests/test_docs_commands.py runs every block through bash here. What needs the network or an
engine has its dry form, each recorded in the log (one line per call) for the test to check:

* `git clone [--recursive] -b TAG URL DEST` of FATE writes the mini checkout of TAG (the real
  small files of that release, testsupport.fate2_checkout / fate_checkout) into DEST; other git
  commands run for real.
* `.venv/bin/fate-builder`: its whole command line is parsed by fate-builder's own parser;
  render, check, plan and --help run for real; bake, push, save and doctor load the settings and
  build the plan they would act on (bake also resolves its targets); with DOCS_BUILDX=1, bake runs
  for real with `--print` (buildx resolves the file, no engine builds). load is parsed only.
* `docker`: recorded with the bake variables set for it; with DOCS_BUILDX=1, `docker buildx bake`
  runs for real with `--print`.
* `make TARGET`: `make -n TARGET` (the target exists and its recipe expands; nothing runs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .constants import ROOT

# docker/ is copied: the bake file names it relative to where bake runs, and `check` compares exactly that.
COPIED = ("docker-bake.env", "docker-bake.hcl", ".env.example", "Makefile", "pyproject.toml")
LINKED = ("templates", ".github")
LOG = "DOCS_SANDBOX_LOG"


def hcl_variables(bake_file: Path) -> list[str]:
    return re.findall(r'^variable "([^"]+)"', bake_file.read_text(encoding="utf-8"), re.M)


def _record(kind: str, argv: list[str], **extra: object) -> None:
    with open(os.environ[LOG], "a", encoding="utf-8") as log:
        log.write(json.dumps({"kind": kind, "argv": argv, "cwd": os.getcwd(), **extra}) + "\n")


def _shim(path: Path, kind: str) -> None:
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m testsupport.docs_sandbox {kind} "$@"\n', encoding="utf-8")
    path.chmod(0o755)


def make_sandbox(tmp: Path) -> tuple[Path, dict[str, str]]:
    """The checkout's clone (cwd of the blocks) and the environment they run in: HOME in `tmp`, the shims first
    on PATH, a `.env` naming a mini FATE 1.11.2 checkout (a reader of the reference has one)."""
    from .fate_checkout import write_fate_checkout

    checkout, home, shims = tmp / "checkout", tmp / "home", tmp / "shims"
    for d in (checkout / ".venv" / "bin", home, shims):
        d.mkdir(parents=True)
    for name in COPIED:
        shutil.copy2(ROOT / name, checkout / name)
    shutil.copytree(ROOT / "docker", checkout / "docker", symlinks=True)
    for name in LINKED:
        (checkout / name).symlink_to(ROOT / name)
    _shim(checkout / ".venv" / "bin" / "fate-builder", "fate-builder")
    for kind in ("git", "docker", "make"):
        _shim(shims / kind, kind)
    fate = write_fate_checkout(home / "FATE")
    (checkout / ".env").write_text(f"FATE_DIR={fate}\nTAG=${{version}}-release\n", encoding="utf-8")
    from .env import scrubbed_environ

    env = scrubbed_environ({
        "HOME": str(home), "PATH": f"{shims}:{os.environ['PATH']}", LOG: str(tmp / "calls.jsonl"),
        "PYTHONPATH": str(ROOT), "DOCS_REAL_GIT": shutil.which("git") or "git",
        "DOCS_REAL_MAKE": shutil.which("make") or "make", "DOCS_REAL_DOCKER": shutil.which("docker") or "",
    })
    env.pop("DOCKER_HOST", None)
    return checkout, env


def calls(tmp: Path) -> list[dict]:
    path = tmp / "calls.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _git(argv: list[str]) -> int:
    if argv[:1] != ["clone"]:
        return subprocess.run([os.environ["DOCS_REAL_GIT"], *argv]).returncode
    from .fate2_checkout import write_fate2_checkout
    from .fate_checkout import write_fate_checkout

    words = [a for a in argv[1:] if a != "--recursive"]
    tag = words[words.index("-b") + 1]
    del words[words.index("-b"):words.index("-b") + 2]
    url, dest = words
    if not url.endswith("/FederatedAI/FATE.git"):
        print(f"docs sandbox: no local stand-in for {url}", file=sys.stderr)
        return 2
    target = Path(dest)
    if tag.startswith("v1."):
        write_fate_checkout(target, tag[1:])
    else:
        write_fate2_checkout(target, tag)
    _record("git", argv, tag=tag, dest=str(target.resolve()))
    return 0


def _docker(argv: list[str]) -> int:
    bake_vars = {k: os.environ[k] for k in hcl_variables(Path("docker-bake.hcl")) if k in os.environ}
    _record("docker", argv, variables=bake_vars)
    if argv[:2] == ["buildx", "bake"] and os.environ.get("DOCS_BUILDX"):
        # fate-builder's own `bake --print` comes through here too: its output is what it reads.
        printing = [] if "--print" in argv else ["--print"]
        return subprocess.run([os.environ["DOCS_REAL_DOCKER"], *argv, *printing]).returncode
    return 0


def _fate_builder(argv: list[str]) -> int:
    from generator import build, cli
    from generator.errors import ConfigError, FateBuilderError

    args = cli.build_parser().parse_args(argv)  # a bad option exits 2 here, --help prints and exits 0
    command = args.command
    if command in ("render", "check", "plan"):
        _record("fate-builder", argv, ran=True)
        return cli.main(argv)
    if command == "bake" and os.environ.get("DOCS_BUILDX"):
        _record("fate-builder", argv, ran=True)
        return cli.main([*argv, "--print"]) if not args.print_only else cli.main(argv)
    try:
        if command != "load":
            plan = cli._plan(cli._merge_globals(args))
            if command == "bake":
                build.resolve_targets(plan, args.targets)
    except FateBuilderError as exc:
        print(f"fate-builder: {'error: ' if isinstance(exc, ConfigError) else ''}{exc}", file=sys.stderr)
        return exc.exit_code
    _record("fate-builder", argv, ran=False)
    return 0


def _make(argv: list[str]) -> int:
    _record("make", argv)
    return subprocess.run([os.environ["DOCS_REAL_MAKE"], "-n", *argv], stdout=subprocess.DEVNULL).returncode


def main(argv: list[str]) -> int:
    kind, rest = argv[0], argv[1:]
    return {"git": _git, "docker": _docker, "fate-builder": _fate_builder, "make": _make}[kind](rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
