"""The `fate-builder` command line."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from . import report
from .config import SETTING_NAMES, Config, load_config
from .errors import ConfigError, FateBuilderError
from .plan import Plan, build_plan
from .render import DEFAULT_OUTPUT, render, write_atomic


def _define(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fate-builder",
        description="Build FATE's Docker images with docker buildx bake.",
        epilog=f"Settings: {', '.join(SETTING_NAMES)}.",
    )
    parser.add_argument("--env-file", type=Path, default=Path(".env"),
                        help="settings file read with python-dotenv (default: .env)")
    parser.add_argument("--docker-dir", help="tree of Dockerfiles to use instead of docker/ (setting DOCKER_DIR)")
    parser.add_argument("-D", "--define", metavar="NAME=VALUE", type=_define, action="append", default=[],
                        help="set a setting; beats the environment and the env file")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("render", help="write docker-bake.hcl")
    p.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT, help="where to write it")

    p = sub.add_parser("check", help="exit 1 with a diff if docker-bake.hcl is not what render would write")
    p.add_argument("--file", "-f", type=Path, default=DEFAULT_OUTPUT, help="the file to compare")

    p = sub.add_parser("plan", help="show what the configuration builds")
    p.add_argument("--format", choices=report.FORMATS, default="table")

    return parser


def _load(args: argparse.Namespace) -> Config:
    overrides = dict(args.define)
    if args.docker_dir is not None:
        overrides["DOCKER_DIR"] = args.docker_dir
    return load_config(env_file=args.env_file, overrides=overrides)


def _plan(args: argparse.Namespace) -> Plan:
    plan = build_plan(_load(args))
    for warning in plan.warnings:
        print(f"fate-builder: warning: {warning}", file=sys.stderr)
    return plan


def cmd_render(args: argparse.Namespace) -> int:
    output = args.output.resolve()
    write_atomic(output, render(_plan(args), output))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    path = args.file.resolve()
    expected = render(_plan(args), path)
    try:
        actual = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        print(f"fate-builder: {args.file} does not exist; run 'make render'", file=sys.stderr)
        return 1
    if actual == expected:
        print(f"{args.file} is up to date", file=sys.stderr)
        return 0
    diff = difflib.unified_diff(actual.splitlines(keepends=True), expected.splitlines(keepends=True),
                                fromfile=f"{args.file} (committed)", tofile=f"{args.file} (rendered)")
    sys.stdout.writelines(diff)
    print(f"fate-builder: {args.file} is stale; run 'make render' and commit it", file=sys.stderr)
    return 1


def cmd_plan(args: argparse.Namespace) -> int:
    sys.stdout.write(report.format_plan(_plan(args), args.format))
    return 0


COMMANDS = {
    "render": cmd_render,
    "check": cmd_check,
    "plan": cmd_plan,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"fate-builder: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except FateBuilderError as exc:
        print(f"fate-builder: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fate-builder: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"fate-builder: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
