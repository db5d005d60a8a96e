"""The `fate-builder` command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from . import deployment, formats
from .config import PROGRESS_MODES, PROJECT_FILE, SETTING_NAMES, Config, load_config
from .errors import ConfigError, FateBuilderError
from .plan import Plan, build_plan

if TYPE_CHECKING:
    from .doctor import Check
    from .engine import Engine
from .render import DEFAULT_OUTPUT, PERSONAL_OUTPUT, render, structural_differences, write_atomic


def _define(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


# Options every command takes, before or after the command's name.
_GLOBAL = ("env_file", "project_file", "docker_dir", "define")


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # The copy on each command uses its own names (sub_*), merged in _merge_globals: argparse
    # would otherwise let the command's defaults overwrite what was given before it.
    def dest(name: str) -> str:
        return name if top else f"sub_{name}"

    parser.add_argument("--env-file", type=Path, dest=dest("env_file"), default=Path(".env") if top else None,
                        help="personal settings read with python-dotenv (default: .env; never reaches render)")
    parser.add_argument("--project-file", type=Path, dest=dest("project_file"),
                        default=PROJECT_FILE if top else None,
                        help=f"the committed configuration docker-bake.hcl is rendered from (default: {PROJECT_FILE})")
    parser.add_argument("--docker-dir", dest=dest("docker_dir"),
                        help="tree of Dockerfiles to use instead of docker/ (setting DOCKER_DIR)")
    parser.add_argument("-D", "--define", metavar="NAME=VALUE", type=_define, action="append",
                        dest=dest("define"), default=[],
                        help="set a setting; beats the environment and the env files")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fate-builder",
        description="Build FATE's Docker images with docker buildx bake.",
        epilog=f"Settings: {', '.join(SETTING_NAMES)}.",
    )
    _add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        _add_global_options(p, top=False)
        return p

    p = command("render", "write docker-bake.hcl from the committed configuration (and -D), never from .env")
    p.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT, help="where to write it")

    p = command("check", "exit 1 with a diff if docker-bake.hcl is not what render would write")
    p.add_argument("--file", "-f", type=Path, default=DEFAULT_OUTPUT, help="the file to compare")

    p = command("plan", "show what the configuration builds")
    p.add_argument("--format", choices=formats.FORMATS, default="table")
    p.add_argument("--deployment", type=Path, metavar="FILE",
                   help="a Docker Compose file (its variables from the .env beside it): which images it pulls "
                        "this configuration builds, and what the registry needs for the others")

    p = command("bake", "build with docker buildx bake what the settings ask for")
    p.add_argument("targets", nargs="*", metavar="TARGET|GROUP", help="what to build (default: the selection)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--load", action="store_true", help="load the images into the engine's image store")
    mode.add_argument("--push", action="store_true", help="push the images to PREFIX")
    p.add_argument("--print", action="store_true", dest="print_only", help="print bake's resolved definition")
    p.add_argument("--builder", help="buildx builder to use")
    p.add_argument("--metadata-file", help="write bake's build metadata (image digests) here")
    p.add_argument("--progress", choices=PROGRESS_MODES, help="BuildKit progress output")
    p.add_argument("--output", "-o", type=Path,
                   help="render the bake file here and bake it (default: the committed docker-bake.hcl when it "
                        f"has this selection and platforms, else {PERSONAL_OUTPUT})")
    p.add_argument("--platform-only", metavar="PLATFORM",
                   help="with --push: bake one of Platform's platforms alone, push it without its final tag and "
                        "record the digests for `fate-builder merge` (docs/release.md)")
    p.add_argument("--digests-file", type=Path, help="where --platform-only records the digests "
                   "(default: digests-<arch>.json)")

    p = command("merge", "tag each image's multi-platform index from the digests files of --platform-only bakes")
    p.add_argument("files", nargs="+", type=Path, metavar="DIGESTS_FILE", help="one per platform")
    p.add_argument("--digests-file", type=Path, help="also write each merged tag's index digest here "
                   "(JSON, what CI signs: <repository>@<digest>)")

    command("push", "push the selected images to PREFIX")

    p = command("save", "write the offline bundle: fate.images.tar.gz and third-party.images.tar.gz")
    p.add_argument("--output-dir", type=Path, default=Path("."), help="folder for the archives (default: .)")
    p.add_argument("--base-images", action="store_true",
                   help="also base.images.tar.gz: the external images the selection's FROM lines pull "
                        "(under IMAGE_MIRROR), for a machine that reaches no registry")

    p = command("load", "load the offline bundle into the engine")
    p.add_argument("directory", nargs="?", type=Path, default=Path("."), help="folder with the archives")

    command("doctor", "check the machine can build the configured images")
    return parser


def _merge_globals(args: argparse.Namespace) -> argparse.Namespace:
    """Global options given after the command win over the same given before it; -D adds up."""
    for name in _GLOBAL:
        late = getattr(args, f"sub_{name}")
        if name == "define":
            args.define = [*args.define, *late]
        elif late is not None:
            setattr(args, name, late)
        delattr(args, f"sub_{name}")
    return args


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    overrides = dict(args.define)
    if args.docker_dir is not None:
        overrides["DOCKER_DIR"] = args.docker_dir
    return overrides


def _load(args: argparse.Namespace) -> Config:
    """What this run builds: every layer, the personal .env and the environment included."""
    return load_config(env_file=args.env_file, overrides=_overrides(args), project_file=args.project_file)


def _load_project(args: argparse.Namespace, *, command_line: bool = True) -> Config:
    """What the committed file holds: the project file (and the command line), nothing personal.

    The checkout under FATE_DIR is personal too: the committed file is for FATE_LINE's line
    whatever tree this machine has, so `check` gives one verdict everywhere.
    """
    config = load_config(environ={}, overrides=_overrides(args) if command_line else {},
                         project_file=args.project_file)
    return replace(config, release=config.release.unread(), fate_version=None)


def _warn(plan: Plan) -> Plan:
    for warning in plan.warnings:
        print(f"fate-builder: warning: {warning}", file=sys.stderr)
    return plan


def _plan(args: argparse.Namespace) -> Plan:
    return _warn(build_plan(_load(args)))


def cmd_render(args: argparse.Namespace) -> int:
    output = args.output.resolve()
    write_atomic(output, render(_warn(build_plan(_load_project(args))), output))
    print(f"wrote {args.output}", file=sys.stderr)
    ignored = ignored_from_environment(args)
    if ignored:
        print(f"fate-builder: render ignored {', '.join(ignored)} from the environment (it reads {args.project_file} "
              "and -D only); pass them as -D NAME=VALUE", file=sys.stderr)
    return 0


def ignored_from_environment(args: argparse.Namespace) -> list[str]:
    """Settings set in the environment to other values than render used (secrets never reach the file)."""
    from .config import BY_SETTING, Carrier, layered_settings

    used, _ = layered_settings(environ={}, overrides=_overrides(args), project_file=args.project_file)
    given = dict(args.define)
    return [name for name, value in os.environ.items() if name in BY_SETTING and name not in given
            and BY_SETTING[name].carrier is Carrier.VARIABLE and value != used[name]]


def cmd_check(args: argparse.Namespace) -> int:
    path = args.file.resolve()
    expected = render(_warn(build_plan(_load_project(args))), path)
    try:
        actual = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        print(f"fate-builder: {args.file} does not exist; run 'make render'", file=sys.stderr)
        return 1
    if actual == expected:
        print(f"{args.file} is up to date", file=sys.stderr)
        return 0
    import difflib

    diff = difflib.unified_diff(actual.splitlines(keepends=True), expected.splitlines(keepends=True),
                                fromfile=f"{args.file} (committed)", tofile=f"{args.file} (rendered)")
    sys.stdout.writelines(diff)
    print(f"fate-builder: {args.file} is stale; run 'make render' and commit it", file=sys.stderr)
    return 1


def cmd_plan(args: argparse.Namespace) -> int:
    plan = _plan(args)
    shown = formats.format_plan(plan, args.format)
    if args.deployment:
        found = deployment.read_deployment(args.deployment, os.environ)
        shown = deployment.add_to(shown, args.format, found, deployment.compare(found.pulled, plan))
    sys.stdout.write(shown)
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_bake(args: argparse.Namespace) -> int:
    from . import build
    from .engine import Engine

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
    engine = Engine()
    arch = None
    if args.platform_only:
        from . import merge

        if not options.push:
            raise ConfigError("--platform-only pushes what it bakes (merge reads it from the registry): add --push")
        arch = merge.platform_arch(plan, args.platform_only)
        driver = engine.facts(options.builder).builder_driver
        overrides = merge.platform_overrides(plan, build.resolve_targets(plan, args.targets), arch, driver)
        metadata = options.metadata_file or str(Path(tempfile.mkdtemp(prefix="fate-builder-")) / "metadata.json")
        options = replace(options, set=(*options.set, *overrides), metadata_file=metadata)
    request = build.BakeRequest(targets=tuple(args.targets), options=options, print_only=args.print_only,
                                variables=(("PLATFORM_ONLY", f"linux/{arch}"),) if arch else ())
    # The preflight asks the engine while the bake file is rendered (--print needs no engine).
    facts = None if args.print_only else engine.ask_facts(options.builder,
                                                          inspect_now=not build.builder_can_wait(plan, options))
    printed = build.run_bake(engine, plan, _bake_file(args, plan), request, out=_say, facts=facts)
    if printed is not None:
        print(json.dumps(printed, indent=2))
    else:
        _say(f"built {', '.join(request.targets or ('default',))}")
    if arch is not None and not args.print_only:
        _record_digests(plan, args, arch, Path(options.metadata_file or ""))
    return 0


def _record_digests(plan: Plan, args: argparse.Namespace, arch: str, metadata_file: Path) -> None:
    from . import build, merge

    targets = build.resolve_targets(plan, args.targets)
    found = merge.record(plan, targets, arch, json.loads(metadata_file.read_text(encoding="utf-8")))
    path = args.digests_file or merge.digests_file(arch)
    write_atomic(path, json.dumps(found, indent=2) + "\n")
    _say(f"recorded {len(found['images'])} digest(s) of linux/{arch} in {path}; `fate-builder merge` tags them")


def cmd_merge(args: argparse.Namespace) -> int:
    from . import merge
    from .engine import Engine

    done = merge.merge(Engine(), merge.read_records(args.files), _say)
    if args.digests_file is not None:
        write_atomic(args.digests_file, json.dumps(merge.merged_record(done), indent=2) + "\n")
    _say(f"merged {len(done)} image(s)" + (f"; their digests in {args.digests_file}" if args.digests_file else ""))
    return 0


def _bake_file(args: argparse.Namespace, plan: Plan) -> Path:
    """The file to bake: the committed one when it describes this selection and these platforms.

    Values that are bake variables reach bake as variables either way; only a different
    selection or platform list needs a file of its own, rendered to an ignored path.
    """
    if args.output is not None:
        return _write(args.output, plan)
    committed = DEFAULT_OUTPUT.resolve()
    project = _load_project(args, command_line=False)
    changed = structural_differences(plan.config, project)
    if changed:
        reason = f"the selection or platforms differ from {args.project_file} ({' '.join(changed)})"
    else:
        try:
            current = committed.read_text(encoding="utf-8") == render(build_plan(project), committed)
        except FileNotFoundError:
            current = False
            reason = f"no {DEFAULT_OUTPUT} here"
        else:
            reason = f"{DEFAULT_OUTPUT} is stale (`fate-builder render` rewrites it)"
        if current:
            return committed
    path = _write(PERSONAL_OUTPUT, plan)
    _say(f"fate-builder: {reason}; baking {PERSONAL_OUTPUT} instead")
    return path


def _write(path: Path, plan: Plan) -> Path:
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render(plan, path))
    return path


def cmd_push(args: argparse.Namespace) -> int:
    from . import bundle
    from .engine import Engine

    pushed = bundle.push(Engine(), _plan(args), _say)
    _say(f"pushed {len(pushed)} image(s)")
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    from . import bundle
    from .engine import Engine

    bundle.save(Engine(), _plan(args), args.output_dir, _say, base_images=args.base_images)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from . import bundle
    from .engine import Engine

    bundle.load(Engine(), args.directory, _say)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from . import doctor
    from .engine import Engine

    plan = _plan(args)
    options = plan.config.bake_options
    engine = Engine()
    checks = doctor.all_checks(engine.facts(options.builder), plan, options) + _reach_checks(engine, plan)
    for check in checks:
        for line in check.lines():
            print(line)
    bad = doctor.failed(checks)
    if bad:
        _say(f"fate-builder: {len(bad)} check(s) failed")
        return 1
    return 0


def _reach_checks(engine: Engine, plan: Plan) -> list[Check]:
    """What the selected images' build reaches, tried from here (base images in the local store count)."""
    from . import inventory, reach

    endpoints = inventory.plan_endpoints([p.image for p in plan.images], plan.config)
    return reach.checks(endpoints, plan.config, inventory.present_images(endpoints, plan.config, engine.image_exists))


COMMANDS = {
    "render": cmd_render,
    "check": cmd_check,
    "plan": cmd_plan,
    "bake": cmd_bake,
    "push": cmd_push,
    "save": cmd_save,
    "load": cmd_load,
    "doctor": cmd_doctor,
    "merge": cmd_merge,
}


def _terminate(signum: int, frame: FrameType | None) -> NoReturn:
    # SIGTERM unwinds like Ctrl-C, so temporary files are removed on the way out.
    raise KeyboardInterrupt


# The Docker side (python-on-whales, pydantic) is imported by the commands that use it:
# it triples the start-up time of render, check and plan, which need none of it.


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = _merge_globals(parser.parse_args(argv))
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
