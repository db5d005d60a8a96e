"""The `fate-builder` command line."""

from __future__ import annotations

import argparse
import difflib
import json
import signal
import sys
from dataclasses import replace
from pathlib import Path

from . import report
from .config import PROGRESS_MODES, SETTING_NAMES, Config, load_config
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

    p = sub.add_parser("bake", help="render, then build with docker buildx bake")
    p.add_argument("targets", nargs="*", metavar="TARGET|GROUP", help="what to build (default: the selection)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--load", action="store_true", help="load the images into the engine's image store")
    mode.add_argument("--push", action="store_true", help="push the images to PREFIX")
    p.add_argument("--print", action="store_true", dest="print_only", help="print bake's resolved definition")
    p.add_argument("--builder", help="buildx builder to use")
    p.add_argument("--metadata-file", help="write bake's build metadata (image digests) here")
    p.add_argument("--progress", choices=PROGRESS_MODES, help="BuildKit progress output")
    p.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT, help="where to render the bake file")

    p = sub.add_parser("push", help="push the selected images to PREFIX")

    p = sub.add_parser("save", help="write the offline bundle: fate.images.tar.gz and third-party.images.tar.gz")
    p.add_argument("--output-dir", type=Path, default=Path("."), help="folder for the archives (default: .)")

    p = sub.add_parser("load", help="load the offline bundle into the engine")
    p.add_argument("directory", nargs="?", type=Path, default=Path("."), help="folder with the archives")

    sub.add_parser("doctor", help="check the machine can build the configured images")
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


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_bake(args: argparse.Namespace) -> int:
    from . import build
    from .docker import Engine

    plan = _plan(args)
    options = plan.config.bake_options
    options = replace(
        options,
        load=args.load or (options.load and not args.push),
        push=args.push or (options.push and not args.load),
        builder=args.builder or options.builder,
        metadata_file=args.metadata_file or options.metadata_file,
        progress=args.progress or options.progress,
    )
    request = build.BakeRequest(targets=tuple(args.targets), options=options, print_only=args.print_only)
    printed = build.run_bake(Engine(), plan, args.output.resolve(), request, out=_say)
    if printed is not None:
        print(json.dumps(printed, indent=2))
    else:
        _say(f"built {', '.join(request.targets or ('default',))}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from . import build
    from .docker import Engine

    pushed = build.push(Engine(), _plan(args), _say)
    _say(f"pushed {len(pushed)} image(s)")
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    from . import build
    from .docker import Engine

    build.save(Engine(), _plan(args), args.output_dir, _say)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from . import build
    from .docker import Engine

    build.load(Engine(), args.directory, _say)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from . import doctor
    from .docker import Engine

    plan = _plan(args)
    options = plan.config.bake_options
    checks = doctor.all_checks(Engine().facts(options.builder), plan, options)
    for check in checks:
        for line in check.lines():
            print(line)
    bad = doctor.failed(checks)
    if bad:
        _say(f"fate-builder: {len(bad)} check(s) failed")
        return 1
    return 0


COMMANDS = {
    "render": cmd_render,
    "check": cmd_check,
    "plan": cmd_plan,
    "bake": cmd_bake,
    "push": cmd_push,
    "save": cmd_save,
    "load": cmd_load,
    "doctor": cmd_doctor,
}


def _terminate(signum, frame):
    # SIGTERM unwinds like Ctrl-C, so temporary files are removed on the way out.
    raise KeyboardInterrupt


# The Docker side (python-on-whales, pydantic) is imported by the commands that use it:
# it triples the start-up time of render, check and plan, which need none of it.


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
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
