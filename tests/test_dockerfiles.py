"""The Dockerfiles of docker/: parsed with BuildKit's own parser (the `dockerfile` package)
and checked against what a freshly rendered bake file gives each target.

Nothing here builds an image; tests/test_dockerfile_stages.py does that on a real engine.
The bake-level checks need only the buildx plugin (`docker buildx bake --print`).
"""

from __future__ import annotations

import importlib.util
import json
import posixpath
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile
import pytest

from generator import catalog
from generator.plan import build_plan, context_key
from generator.render import render

from .conftest import ALL_OFF, ROOT, config_of

DOCKER = ROOT / "docker"

# ---------------------------------------------------------------------------------------
# A small model of a Dockerfile: global ARGs, stages, and what each stage refers to.

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VAR = re.compile(rf"\$(?:\{{(?P<braced>{_NAME})(?P<op>:[-+])?(?P<word>[^}}]*)\}}|(?P<bare>{_NAME}))")


def expand(text: str, scope: dict[str, str]) -> str:
    """Dockerfile variable substitution for ${X}, $X, ${X:-word} and ${X:+word}."""

    def sub(m: re.Match) -> str:
        name = m.group("braced") or m.group("bare")
        value = scope.get(name, "")
        if m.group("op") == ":-":
            return value or m.group("word")
        if m.group("op") == ":+":
            return m.group("word") if value else ""
        return value

    return _VAR.sub(sub, text)


def flag_values(flags: tuple[str, ...], name: str) -> list[str]:
    prefix = f"--{name}="
    return [f[len(prefix) :] for f in flags if f.startswith(prefix)]


def mount_options(flags: tuple[str, ...]) -> list[dict[str, str]]:
    mounts = []
    for spec in flag_values(flags, "mount"):
        opts = {}
        for part in spec.split(","):
            key, _, value = part.partition("=")
            opts[key.strip()] = value.strip()
        mounts.append(opts)
    return mounts


@dataclass
class Stage:
    index: int
    base: str  # the FROM reference as written
    name: str | None
    platform: str | None
    commands: list = field(default_factory=list)

    def references(self) -> list[str]:
        """Names used by COPY/ADD --from and RUN --mount from=, as written."""
        refs = []
        for cmd in self.commands:
            if cmd.cmd.upper() in ("COPY", "ADD"):
                refs += flag_values(cmd.flags, "from")
            if cmd.cmd.upper() == "RUN":
                refs += [m["from"] for m in mount_options(cmd.flags) if "from" in m]
        return refs


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str | None]
    stages: list[Stage]

    @property
    def stage_names(self) -> set[str]:
        return {s.name for s in self.stages if s.name}


def load(path: Path) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for cmd in dockerfile.parse_file(str(path)):
        op = cmd.cmd.upper()
        if op == "FROM":
            value = list(cmd.value)
            name = value[2].lower() if len(value) >= 3 and value[1].upper() == "AS" else None
            platform = (flag_values(cmd.flags, "platform") or [None])[0]
            stages.append(Stage(len(stages), value[0], name, platform))
        elif not stages:
            if op == "ARG":
                for item in cmd.value:
                    key, eq, default = item.partition("=")
                    global_args[key] = default if eq else None
        else:
            stages[-1].commands.append(cmd)
    return Dockerfile(path, global_args, stages)


def all_dockerfiles() -> list[Path]:
    return sorted(DOCKER.rglob("Dockerfile"))


def family_dockerfile(family: str) -> Path:
    return DOCKER / family / "Dockerfile"


@dataclass
class Resolution:
    """What one target's Dockerfile refers to on one platform, with the bake file's args."""

    from_images: dict[str, str]  # external or parent reference -> stage that uses it
    used_contexts: set[str]
    reachable: list[Stage]
    problems: list[str]


def resolve(
    df: Dockerfile, args: dict[str, str], contexts: dict[str, str], arch: str, target_stage: str | None = None
) -> Resolution:
    scope = {k: (v or "") for k, v in df.global_args.items()}
    scope.update({k: v for k, v in args.items() if k in df.global_args})
    scope.update(
        {
            "TARGETARCH": arch,
            "TARGETOS": "linux",
            "TARGETPLATFORM": f"linux/{arch}",
            "BUILDARCH": "amd64",
            "BUILDOS": "linux",
            "BUILDPLATFORM": "linux/amd64",
        }
    )
    by_name = {s.name: s for s in df.stages if s.name}
    problems: list[str] = []
    from_images: dict[str, str] = {}
    used: set[str] = set()
    seen: set[int] = set()
    order: list[Stage] = []

    def stage_label(stage: Stage) -> str:
        return stage.name or f"#{stage.index}"

    def visit(stage: Stage) -> None:
        if stage.index in seen:
            return
        seen.add(stage.index)
        base = expand(stage.base, scope)
        earlier = {s.name: s for s in df.stages[: stage.index] if s.name}
        if base.lower() in earlier:
            visit(earlier[base.lower()])
        elif base != "scratch":
            key = context_key(base)
            from_images[base] = stage_label(stage)
            if key in contexts:
                used.add(key)
        for ref in stage.references():
            name = expand(ref, scope).lower()
            if name in by_name:
                visit(by_name[name])
            elif name in contexts:
                used.add(name)
            else:
                problems.append(
                    f"{df.path}: stage {stage_label(stage)} uses --from={ref}, "
                    f"which is neither a stage nor a context the bake file provides"
                )
        order.append(stage)

    start = by_name[target_stage] if target_stage else df.stages[-1]
    visit(start)
    return Resolution(from_images, used, order, problems)


# ---------------------------------------------------------------------------------------
# The rendered bake file, as `docker buildx bake --print` resolves it.


def fate_tree(root: Path) -> Path:
    fate = root / "FATE"
    for sub in ("python", "fateflow", "eggroll", "fateboard", "examples", "conf", "doc", "c/proxy", "deploy"):
        (fate / sub).mkdir(parents=True, exist_ok=True)
    (fate / "fate.env").write_text("FATE=1.11.2\nFATEFlow=1.11.1\nFATEBoard=1.11.1\nEGGROLL=2.5.1\n")
    return fate


def render_bake(directory: Path, fate_dir: Path, *, platforms: str) -> Path:
    """A bake file rendered by the generator for a FATE tree, Dockerfiles from docker/."""
    settings = {
        "FATE_DIR": str(fate_dir),
        "Platform": platforms,
        "PREFIX": "federatedai",
        "TAG": "1.11.2-release",
        "DOCKER_DIR": str(DOCKER),
    }
    if "arm64" in platforms:
        settings.update({**ALL_OFF, "Build_Basic": "1"})
    plan = build_plan(config_of(**settings))
    bake_file = directory / f"docker-bake.{platforms.replace(',', '-')}.hcl"
    bake_file.write_text(render(plan, bake_file))
    return bake_file


@pytest.fixture(scope="module")
def printed(buildx, tmp_path_factory) -> dict[str, dict]:
    """{platforms: bake --print of the `all` group} for amd64 alone and for amd64+arm64."""
    root = tmp_path_factory.mktemp("bake")
    fate = fate_tree(root)
    return {p: buildx(render_bake(root, fate, platforms=p), "all") for p in ("amd64", "amd64,arm64")}


def targets_of(printed: dict[str, dict]) -> list[tuple[str, dict]]:
    """(name, target) for every image, with the widest platform list it is rendered for."""
    merged = dict(printed["amd64"]["target"])
    merged.update(printed["amd64,arm64"]["target"])
    return sorted(merged.items())


def dockerfile_of(target: dict) -> Path:
    return Path(target["context"]) / target.get("dockerfile", "Dockerfile")


# ---------------------------------------------------------------------------------------
# The tree.


def test_every_family_has_exactly_one_dockerfile_and_no_per_architecture_copies():
    families = {f.name for f in catalog.FAMILIES}
    found = {p.parent.relative_to(DOCKER).as_posix() for p in all_dockerfiles()}
    assert found == families
    variants = [p for p in DOCKER.rglob("*") if p.is_file() and p.name.lower().startswith("dockerfile.")]
    assert variants == []


@pytest.mark.parametrize("path", all_dockerfiles(), ids=lambda p: p.parent.relative_to(DOCKER).as_posix())
def test_dockerfile_parses_with_buildkits_parser_and_has_no_syntax_directive(path: Path):
    commands = dockerfile.parse_file(str(path))
    assert any(c.cmd.upper() == "FROM" for c in commands)
    text = path.read_text()
    # A `# syntax=` directive makes BuildKit pull a frontend image before anything else.
    assert not re.search(r"^\s*#\s*syntax\s*=", text, re.IGNORECASE | re.MULTILINE)
    assert not re.search(r"^\s*#\s*check\s*=", text, re.IGNORECASE | re.MULTILINE)


def _module_families() -> list[str]:
    return sorted({i.family for i in catalog.IMAGES if i.parent is not None})


@pytest.mark.parametrize("family", _module_families())
def test_module_dockerfile_builds_from_prefix_base_image_and_base_tag(family: str):
    df = load(family_dockerfile(family))
    assert {"PREFIX", "BASE_IMAGE", "BASE_TAG"} <= set(df.global_args)
    parents = [s for s in df.stages if s.base == "${PREFIX}/${BASE_IMAGE}:${BASE_TAG}"]
    assert parents, "no FROM ${PREFIX}/${BASE_IMAGE}:${BASE_TAG}"
    # The image itself is the parent plus this Dockerfile's layers, not another base.
    final, names = df.stages[-1], {s.name: s for s in df.stages if s.name}
    while final.base.lower() in names:
        final = names[final.base.lower()]
    assert final.base == "${PREFIX}/${BASE_IMAGE}:${BASE_TAG}"


@pytest.mark.parametrize("path", all_dockerfiles(), ids=lambda p: p.parent.relative_to(DOCKER).as_posix())
def test_external_base_images_are_global_args_with_pinned_tags(path: Path):
    df = load(path)
    for stage in df.stages:
        if stage.base == "scratch" or stage.base.lower() in df.stage_names:
            continue
        if stage.base == "${PREFIX}/${BASE_IMAGE}:${BASE_TAG}":
            continue
        if re.fullmatch(r"[a-z]+-\$\{TARGETARCH\}", stage.base):
            continue
        m = re.fullmatch(r"\$\{([A-Z_]+_IMAGE)\}", stage.base)
        assert m, f"{path}: FROM {stage.base} is neither a stage, the parent nor an *_IMAGE arg"
        default = df.global_args.get(m.group(1))
        assert default, f"{path}: ARG {m.group(1)} has no default"
        name, _, tag = default.rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, f"{path}: {default} is not pinned"


def test_java_and_download_stages_run_on_the_build_platform():
    """Jars and tarballs do not depend on the architecture: no emulated Maven under QEMU."""
    checked = 0
    for path in all_dockerfiles():
        df = load(path)
        for stage in df.stages:
            if stage.base == "${MAVEN_IMAGE}" or (stage.name or "").endswith("-fetch"):
                assert stage.platform == "$BUILDPLATFORM", f"{path}: stage {stage.name}"
                checked += 1
    assert checked >= 5


def test_architecture_stages_exist_for_every_platform_an_image_is_built_for():
    for image in catalog.IMAGES:
        df = load(family_dockerfile(image.family))
        for stage in df.stages:
            m = re.fullmatch(r"([a-z-]+)\$\{TARGETARCH\}", stage.base)
            if not m:
                continue
            for arch in image.platforms():
                assert f"{m.group(1)}{arch}" in df.stage_names, f"{image.name}: no stage {m.group(1)}{arch}"


def _runs(path: Path):
    for stage in load(path).stages:
        for cmd in stage.commands:
            if cmd.cmd.upper() == "RUN":
                yield cmd, {m.get("target") for m in mount_options(cmd.flags) if m.get("type") == "cache"}


@pytest.mark.parametrize("path", all_dockerfiles(), ids=lambda p: p.parent.relative_to(DOCKER).as_posix())
def test_package_installs_use_cache_mounts_and_leave_no_package_lists(path: Path):
    for cmd, caches in _runs(path):
        script = " ".join(cmd.value)
        if re.search(r"\bpip (install|wheel)\b", script):
            assert "/root/.cache/pip" in caches, f"{path}: {cmd.original[:80]}"
        if re.search(r"\byum\b.*\binstall\b", script):
            assert "/var/cache/yum" in caches, f"{path}: {cmd.original[:80]}"
        if "apt-get install" in script:
            assert {"/var/cache/apt", "/var/lib/apt/lists"} <= caches, f"{path}: {cmd.original[:80]}"
            assert "-y" in script and "--no-install-recommends" in script
        assert "--no-check-certificate" not in script and "--trusted-host" not in script


def test_downloads_fail_on_http_errors():
    for path in all_dockerfiles():
        for cmd, _ in _runs(path):
            for call in re.findall(r"\bcurl\s+(-\S+)", " ".join(cmd.value)):
                assert "f" in call, f"{path}: curl {call} would save an error page"


# ---------------------------------------------------------------------------------------
# Wiring against the rendered bake file.


def test_bake_print_resolves_all_34_images_to_their_family_dockerfile(printed):
    targets = dict(targets_of(printed))
    assert sorted(targets) == sorted(i.name for i in catalog.IMAGES)
    for name, target in targets.items():
        image = catalog.BY_NAME[name]
        assert dockerfile_of(target) == family_dockerfile(image.family)
        assert target["args"]["PREFIX"] == "federatedai"


def test_every_from_and_copy_from_resolves_and_every_provided_context_is_used(printed):
    problems = []
    for name, target in targets_of(printed):
        image = catalog.BY_NAME[name]
        df = load(dockerfile_of(target))
        contexts = target.get("contexts", {})
        for platform in target["platforms"]:
            arch = platform.split("/")[1]
            res = resolve(df, target.get("args", {}), contexts, arch)
            problems += [f"{name} {arch}: {p}" for p in res.problems]
            if image.parent:
                parent = catalog.BY_NAME[image.parent]
                parent_ref = f"federatedai/{parent.name}:{'1.11.2-release'}"
                assert parent_ref in res.from_images, f"{name} {arch}: does not build FROM {parent_ref}"
                key = context_key(parent_ref)
                if contexts.get(key) != f"target:{parent.name}":
                    problems.append(f"{name}: FROM {parent_ref} finds no context {key}=target:{parent.name}")
            for ref in res.from_images:
                if ref.startswith("federatedai/"):
                    assert image.parent and ref.endswith(f"/{image.parent}:1.11.2-release"), f"{name}: {ref}"
            unused = set(contexts) - res.used_contexts
            if unused:
                problems.append(f"{name} {arch}: provides contexts it never uses: {sorted(unused)}")
            # A stage named like a provided context would be replaced by it.
            shadowed = df.stage_names & set(contexts)
            if shadowed:
                problems.append(f"{name}: stages shadowed by contexts: {sorted(shadowed)}")
    assert problems == []


def test_catalog_sources_are_exactly_the_contexts_the_dockerfiles_read():
    """Every catalog source is read by its family's Dockerfile and nothing else is."""
    context_refs = {s.name for s in catalog.SOURCES}
    for family in catalog.FAMILIES:
        df = load(family_dockerfile(family.name))
        used = set()
        for stage in df.stages:
            used |= {r.lower() for r in stage.references() if r.lower() in context_refs}
        assert used == set(family.sources), family.name
    read_somewhere = {s for f in catalog.FAMILIES for s in f.sources}
    assert read_somewhere == context_refs


def test_git_sources_are_pinned_to_their_version_variables(printed):
    target = printed["amd64"]["target"]
    assert target["fateflow-all-gpu"]["contexts"]["fate-llm-src"].endswith(".git#v1.2.0")
    assert target["base-image-ipcl"]["contexts"]["ipcl-src"].endswith(".git#v1.1.3")


# ---------------------------------------------------------------------------------------
# The helper scripts the Dockerfiles use.

ADAPT = DOCKER / "base" / "basic" / "adapt-requirements.sh"
FATE_REQUIREMENTS = """--extra-index-url https://download.pytorch.org/whl/cpu
numpy==1.23.1
tensorflow-cpu==2.11.1
torch==1.13.1+cpu
torchvision==0.14.1+cpu
ipcl-python==2.0.0
pytorch-lightning==1.8.6
"""


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
@pytest.mark.parametrize(
    "arch, expected",
    [
        ("amd64", FATE_REQUIREMENTS),
        (
            "arm64",
            FATE_REQUIREMENTS.replace("tensorflow-cpu", "tensorflow-aarch64")
            .replace("+cpu\n", "\n")
            .replace("ipcl-python", "#ipcl-python"),
        ),
    ],
)
def test_requirements_are_adapted_to_the_architecture(tmp_path, arch, expected):
    req = tmp_path / "requirements.txt"
    req.write_text(FATE_REQUIREMENTS)
    subprocess.run(["sh", str(ADAPT), arch, str(req)], check=True)
    assert req.read_text() == expected
    assert "pytorch-lightning==1.8.6" in req.read_text()


def test_requirements_adaptation_refuses_an_unknown_architecture(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(FATE_REQUIREMENTS)
    result = subprocess.run(["sh", str(ADAPT), "s390x", str(req)], capture_output=True, text=True)
    assert result.returncode != 0 and "unsupported" in result.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("script", ["spark-master/master.sh", "spark-worker/worker.sh"])
def test_spark_start_scripts_are_valid_bash_and_exec_the_daemon(script):
    path = DOCKER / script
    subprocess.run(["bash", "-n", str(path)], check=True)
    assert re.search(r"^exec .*spark-class", path.read_text(), re.MULTILINE)


def _load_script(name: str):
    path = DOCKER / "fate-upgrade-manager" / name
    spec = importlib.util.spec_from_file_location(name.replace("-", "_")[:-3], path)
    module = importlib.util.module_from_spec(spec)
    # No __pycache__ inside docker/: the folder is a build context.
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


def test_upgrade_applies_the_sql_scripts_between_two_versions_oldest_first():
    upgrade = _load_script("upgrade-mysql.py")
    available = [
        "1.9.0-1.12.0.sql",
        "1.8.0-1.9.0.sql",
        "1.6.0-1.6.1.sql",
        "1.9.0-1.11.1.sql",
        "1.7.2-1.8.0.sql",
        "1.10.0-1.11.0.sql",
        "README.md",
    ]
    assert upgrade.scripts_between(available, "1.8.0", "1.11.1") == [
        "1.8.0-1.9.0.sql",
        "1.9.0-1.11.1.sql",
        "1.10.0-1.11.0.sql",
    ]
    assert upgrade.scripts_between(available, "1.11.1", "1.11.1") == []


def test_upgrade_splits_statements_and_honours_delimiter_lines():
    upgrade = _load_script("upgrade-mysql.py")
    text = (
        "ALTER TABLE a ADD c INT;\nDELIMITER $$\nCREATE PROCEDURE p()\nBEGIN\nSELECT 1;\nEND$$\n"
        "DELIMITER ;\nUPDATE b\nSET x = 1;\n"
    )
    assert upgrade.statements(text) == [
        "ALTER TABLE a ADD c INT",
        "CREATE PROCEDURE p()\nBEGIN\nSELECT 1;\nEND",
        "UPDATE b\nSET x = 1",
    ]


def test_upgrade_scripts_print_usage_without_their_arguments(capsys):
    assert _load_script("upgrade-mysql.py").main(["upgrade-mysql.py"]) == 2
    assert _load_script("shutdown-flow.py").main(["shutdown-flow.py"]) == 2
    assert "Usage" in capsys.readouterr().err


def test_kubefate_test_suite_uses_fate_examples_inside_the_image():
    suite_dir = "/data/projects/fate/test_suite/kubefate"
    suite = json.loads((DOCKER / "fate-test" / "test_suite" / "kubefate" / "kubefate_testsuite.json").read_text())
    assert suite["tasks"]
    for task in suite["tasks"].values():
        for key in ("conf", "dsl"):
            resolved = posixpath.normpath(posixpath.join(suite_dir, task[key]))
            assert resolved.startswith("/data/projects/fate/examples/dsl/v2/"), resolved
    for data in suite["data"]:
        assert data["file"].startswith("examples/data/")


def test_shutdown_finds_fate_flow_and_scales_it_to_zero():
    shutdown = _load_script("shutdown-flow.py")

    class Obj:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    class Apps:
        patched = []

        def list_namespaced_deployment(self, ns):
            return Obj(items=[Obj(metadata=Obj(name="mysql"))])

        def list_namespaced_stateful_set(self, ns):
            return Obj(items=[Obj(metadata=Obj(name="python"))])

        def patch_namespaced_stateful_set(self, name, ns, body):
            self.patched.append((name, ns, body))

        def read_namespaced_stateful_set_status(self, name, ns):
            return Obj(status=Obj(ready_replicas=None))

    apps = Apps()
    kind, _ = shutdown.find_flow(apps, "fate-9999")
    assert kind == "statefulset"
    shutdown.scale_to_zero(apps, "fate-9999", kind)
    assert apps.patched == [("python", "fate-9999", {"spec": {"replicas": 0}})]
    assert shutdown.ready_replicas(apps, "fate-9999", kind) == 0
