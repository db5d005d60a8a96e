"""The Dockerfiles of docker/: parsed with BuildKit's own parser (the `dockerfile` package)
and checked against what a freshly rendered bake file gives each target.

Nothing here builds an image; tests/test_dockerfile_stages.py does that on a real engine.
The bake-level checks need only the buildx plugin (`docker buildx bake --print`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import dockerfile
import pytest

from generator import catalog
from generator.dockerfiles import context_key, load, resolve
from generator.plan import build_plan
from generator.render import render
from testsupport import fate_paths
from testsupport.constants import DOCKER, IN_CI
from testsupport.fate_reads import (
    FATE_CONTEXTS,
    all_dockerfiles,
    family_dockerfile,
    family_fate_reads,
    fate_reads,
    missing_from_fate,
)

from .conftest import ALL_OFF, config_of

# The 1.x catalog, named: the family the committed docker-bake.hcl is rendered for.
V1 = catalog.for_line("1.x")

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
    families = {f.name for line in catalog.CATALOGS.values() for f in line.families}
    found = {p.parent.relative_to(DOCKER).as_posix() for p in all_dockerfiles()}
    assert found == families
    variants = [p for p in DOCKER.rglob("*") if p.is_file() and p.name.lower().startswith("dockerfile.")]
    assert variants == []


def _words(values) -> tuple[str, ...]:
    """Values compared with their whitespace runs made one (BuildKit keeps a continuation's indentation)."""
    return tuple(" ".join(v.split()) for v in values)


@pytest.mark.parametrize("path", all_dockerfiles(), ids=lambda p: p.parent.relative_to(DOCKER).as_posix())
def test_dockerfile_parses_with_buildkits_parser_and_has_no_syntax_directive(path: Path):
    commands = dockerfile.parse_file(str(path))
    assert any(c.cmd.upper() == "FROM" for c in commands)
    # fate-builder's own reading (generator.dockerfiles) is BuildKit's, instruction by instruction.
    theirs = [(c.cmd.upper(), tuple(c.flags), _words(c.value), c.json) for c in commands]
    assert [(i.op, i.flags, _words(i.value), i.is_json) for i in load(path).instructions] == theirs
    text = path.read_text()
    # A `# syntax=` directive makes BuildKit pull a frontend image before anything else.
    assert not re.search(r"^\s*#\s*syntax\s*=", text, re.IGNORECASE | re.MULTILINE)
    assert not re.search(r"^\s*#\s*check\s*=", text, re.IGNORECASE | re.MULTILINE)


def _module_families() -> list[str]:
    return sorted({i.family for i in V1.images if i.parent is not None})


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
        # Official images under library/, others with their namespace in the ARG (the network convention).
        m = re.fullmatch(r"\$\{IMAGE_MIRROR\}/(library/)?\$\{([A-Z_]+_IMAGE)\}", stage.base)
        assert m, f"{path}: FROM {stage.base} is neither a stage, the parent nor ${{IMAGE_MIRROR}}/.../${{*_IMAGE}}"
        assert df.global_args.get("IMAGE_MIRROR") == "docker.io", f"{path}: ARG IMAGE_MIRROR=docker.io is missing"
        default = df.global_args.get(m.group(2))
        assert default, f"{path}: ARG {m.group(2)} has no default"
        assert ("/" in default) != bool(m.group(1)), f"{path}: {default}: library/ is for official images only"
        name, _, tag = default.rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, f"{path}: {default} is not pinned"


def test_java_and_download_stages_run_on_the_build_platform():
    """Jars and tarballs do not depend on the architecture: no emulated Maven under QEMU."""
    checked = 0
    for path in all_dockerfiles():
        df = load(path)
        for stage in df.stages:
            if stage.base.endswith("${MAVEN_IMAGE}") or (stage.name or "").endswith("-fetch"):
                assert stage.platform == "$BUILDPLATFORM", f"{path}: stage {stage.name}"
                checked += 1
    assert checked >= 5


def test_architecture_stages_exist_for_every_platform_an_image_is_built_for():
    for image in V1.images:
        df = load(family_dockerfile(image.family))
        for stage in df.stages:
            m = re.fullmatch(r"([a-z-]+)\$\{TARGETARCH\}", stage.base)
            if not m:
                continue
            for arch in image.platforms():
                assert f"{m.group(1)}{arch}" in df.stage_names, f"{image.name}: no stage {m.group(1)}{arch}"


def _runs(path: Path):
    for stage in load(path).stages:
        for cmd in stage.instructions:
            if cmd.op == "RUN":
                yield cmd, {m.get("target") for m in cmd.mounts() if m.get("type") == "cache"}


@pytest.mark.parametrize("path", all_dockerfiles(), ids=lambda p: p.parent.relative_to(DOCKER).as_posix())
def test_package_installs_use_cache_mounts_and_leave_no_package_lists(path: Path):
    for cmd, caches in _runs(path):
        script = " ".join(cmd.value)
        if re.search(r"\bpip (install|wheel)\b", script):
            assert "/root/.cache/pip" in caches, f"{path}: {cmd.line[:80]}"
        if re.search(r"\byum\b.*\binstall\b", script):
            assert "/var/cache/yum" in caches, f"{path}: {cmd.line[:80]}"
        if "apt-get install" in script:
            assert {"/var/cache/apt", "/var/lib/apt/lists"} <= caches, f"{path}: {cmd.line[:80]}"
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
    assert sorted(targets) == sorted(i.name for i in V1.images)
    for name, target in targets.items():
        image = V1.by_name[name]
        assert dockerfile_of(target) == family_dockerfile(image.family)
        assert target["args"]["PREFIX"] == "federatedai"


def test_every_from_and_copy_from_resolves_and_every_provided_context_is_used(printed):
    problems = []
    for name, target in targets_of(printed):
        image = V1.by_name[name]
        df = load(dockerfile_of(target))
        contexts = target.get("contexts", {})
        for platform in target["platforms"]:
            arch = platform.split("/")[1]
            res = resolve(df, arch, args=target.get("args", {}), contexts=contexts)
            problems += [f"{name} {arch}: {df.path}: stage {stage.label} uses --from={ref}, which is neither a "
                         "stage nor a context the bake file provides" for stage, ref in res.unresolved]
            if image.parent:
                parent = V1.by_name[image.parent]
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
    context_refs = {s.name for s in V1.sources}
    for family in V1.families:
        df = load(family_dockerfile(family.name))
        used = set()
        for stage in df.stages:
            used |= {r.lower() for r in stage.references() if r.lower() in context_refs}
        assert used == set(family.sources), family.name
    read_somewhere = {s for f in V1.families for s in f.sources}
    assert read_somewhere == context_refs


def test_git_sources_are_pinned_to_their_version_variables(printed):
    target = printed["amd64"]["target"]
    assert target["fateflow-all-gpu"]["contexts"]["fate-llm-src"].endswith(".git#v1.2.0")
    assert target["base-image-ipcl"]["contexts"]["ipcl-src"].endswith(".git#v1.1.3")


# ---------------------------------------------------------------------------------------
# What the Dockerfiles read from FATE, against the paths of the real FATE v1.11.2 tree.

def test_every_path_a_dockerfile_reads_from_fate_exists_in_fate_1_11_2():
    """Ground truth: the paths of FATE v1.11.2 with its submodules (tests/data)."""
    problems = []
    for family in V1.families:
        problems += missing_from_fate(family_fate_reads(family.name))
    assert problems == []


def test_the_fate_read_check_sees_copies_mounts_and_the_paths_run_steps_name():
    """The check above is not vacuous: it finds reads of each kind where the Dockerfiles make them."""
    reads = {family.name: {r.path for r in family_fate_reads(family.name)} for family in V1.families}
    for family in V1.families:
        if any(FATE_CONTEXTS.get(s) is not None for s in family.sources):
            assert reads[family.name], family.name
    assert "fate.env" in reads["fateflow"] and "python/requirements*.txt" in reads["base/basic"]
    # RUN --mount=...,from=fate-python
    assert {"python/requirements.txt", "python/requirements-graph-nn.txt"} <= reads["gpu"]
    # Paths RUN steps name where a COPY of this Dockerfile put FATE's files ...
    assert "eggroll/jvm/core/main/resources/create-eggroll-meta-tables.sql" in reads["eggroll"]
    assert {"fateboard/bin/service.sh", "fateboard/src/main/resources/application.properties"} <= reads["fateboard"]
    # ... and where a parent image put them.
    assert {"python/fate_client", "python/fate_test"} <= reads["client"]
    assert "python/requirements-fate-llm.txt" in reads["fate-llm"]


def test_the_fate_read_check_would_have_caught_eggrolls_missing_init_sh(tmp_path):
    """eggroll 2.5 has no deploy/init.sh (only init_env.sh); the old eggroll Dockerfile copied and read it."""
    old = tmp_path / "Dockerfile"
    old.write_text(
        "FROM maven AS eggroll-build\nWORKDIR /src/eggroll\n"
        "COPY --link --from=eggroll-src deploy/init.sh ./deploy/init.sh\n"
        "COPY --link --from=eggroll-src jvm ./jvm\n"
        "RUN sed 's#EGGROLL_HOME=.*#EGGROLL_HOME=/data#g' deploy/init.sh > /dist/init.sh; "
        "cp jvm/core/main/resources/create-eggroll-meta-tables.sql /dist/conf/\n"
        "RUN --mount=type=bind,from=fate-python,source=requirements-spark.txt,target=/tmp/r.txt cat /tmp/r.txt\n"
    )
    reads, _ = fate_reads(load(old))
    missing = [r for r in reads if not fate_paths.matching(r.path)]
    assert sorted((r.instruction.split()[0], r.path) for r in missing) == [
        ("COPY", "eggroll/deploy/init.sh"),
        ("RUN", "eggroll/deploy/init.sh"),  # sed reads it
        ("RUN", "python/requirements-spark.txt"),  # the mount's source
        ("RUN", "python/requirements-spark.txt"),  # cat reads the mount target
    ]
    assert len(reads) == len(missing) + 2  # the jvm/ COPY and the .sql the RUN step copies exist


def test_fixture_fate_checkouts_hold_only_paths_of_the_real_tree(tmp_path):
    from testsupport import write_fate_checkout

    from .test_dockerfile_stages import write_fate

    for root in (write_fate_checkout(tmp_path / "fixture"), write_fate(tmp_path / "stages"), fate_tree(tmp_path)):
        written = [p.relative_to(root).as_posix() for p in root.rglob("*")]
        assert written
        assert [p for p in written if not fate_paths.exists(p)] == [], root


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


# Spark 3.1.3's own launch scripts, from the pyspark 3.1.3 sdist (it ships Spark's bin/ and
# sbin/ under deps/), fetched once with pip into a cache like the engine packages.
PYSPARK_SDIST = "pyspark-3.1.3.tar.gz"
PYSPARK_SHA256 = "39ac641ef5559a3d1286154779fc990316e9934520853615ae4785c1af52d14b"
SPARK_SCRIPTS = ("bin/load-spark-env.sh", "bin/find-spark-home", "sbin/spark-config.sh")


def _cache_dirs() -> list[Path]:
    root = os.environ.get("FATE_BUILDER_CACHE", "/var/cache/fate-builder")
    return [Path(root) / "pyspark", Path.home() / ".cache" / "fate-builder" / "pyspark"]


def _pyspark_sdist() -> Path:
    for folder in _cache_dirs():
        if (folder / PYSPARK_SDIST).is_file():
            return folder / PYSPARK_SDIST
    errors = []
    for folder in _cache_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
        except OSError as exc:
            errors.append(f"{folder}: {exc}")
            continue
        try:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                 "--dest", str(partial), "pyspark==3.1.3"],
                capture_output=True, text=True, timeout=900,
            )
            if result.returncode != 0:
                errors.append(f"pip download pyspark==3.1.3: {result.stderr.strip()[-500:]}")
                break
            (partial / PYSPARK_SDIST).rename(folder / PYSPARK_SDIST)
            return folder / PYSPARK_SDIST
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    message = "cannot fetch the pyspark 3.1.3 sdist (Spark 3.1.3's scripts): " + "; ".join(errors)
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def spark_home(tmp_path_factory) -> Path:
    """A SPARK_HOME with Spark 3.1.3's real bin/ and sbin/ scripts, and a spark-class that
    records how it was called instead of starting a JVM."""
    sdist = _pyspark_sdist()
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert digest == PYSPARK_SHA256, f"{sdist}: sha256 {digest}, not the file PyPI publishes; delete it"
    home = tmp_path_factory.mktemp("spark-home")
    wanted = {f"pyspark-3.1.3/deps/{name}": name for name in SPARK_SCRIPTS}
    with tarfile.open(sdist) as tar:
        for member in tar:
            if member.name in wanted:
                target = home / wanted.pop(member.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
                target.chmod(0o755)
    assert not wanted, f"not in {sdist}: {sorted(wanted)}"
    (home / "bin" / "spark-class").write_text(
        '#!/bin/bash\n{ printf "%s\\n" "$@"; echo "PYSPARK_PYTHONPATH_SET=${PYSPARK_PYTHONPATH_SET:-}";'
        ' echo "SPARK_SCALA_VERSION=${SPARK_SCALA_VERSION:-}"; } > "$SPARK_CLASS_RECORD"\n'
    )
    (home / "bin" / "spark-class").chmod(0o755)
    return home


def _dockerfile_env(family: str) -> dict[str, str]:
    env = {}
    for cmd in load(family_dockerfile(family)).stages[-1].instructions:
        if cmd.op == "ENV":
            values = list(cmd.value)
            env.update(zip(values[::2], values[1::2]))
    return env


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    "family, script, expected",
    [
        (
            "spark-master",
            "master.sh",
            ["org.apache.spark.deploy.master.Master", "--ip", "spark-master", "--port", "7077", "--webui-port", "8080"],
        ),
        (
            "spark-worker",
            "worker.sh",
            ["org.apache.spark.deploy.worker.Worker", "--webui-port", "8081", "spark://spark-master:7077"],
        ),
    ],
)
def test_spark_start_scripts_run_under_spark_3_1_3s_own_launch_scripts(spark_home, tmp_path, family, script, expected):
    """The container's CMD (`bash /<script>`), with the image's ENV, under Spark 3.1.3's real
    sbin/spark-config.sh and bin/load-spark-env.sh, which read variables that are unset."""
    record = tmp_path / "spark-class.args"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **_dockerfile_env(family)}
    env.update({"SPARK_HOME": str(spark_home), "SPARK_CLASS_RECORD": str(record)})
    env.update({k: str(tmp_path / "logs") for k in env if k.endswith("_LOG")})
    if family == "spark-master":
        env["SPARK_MASTER_HOST"] = "spark-master"  # else $(hostname), as in the container
    result = subprocess.run(["bash", str(DOCKER / family / script)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = record.read_text().splitlines()
    assert lines[: len(expected)] == expected
    # Spark's scripts did run: they set these.
    assert lines[len(expected) :] == ["PYSPARK_PYTHONPATH_SET=1", "SPARK_SCALA_VERSION=2.12"]


def _run_scripts(family: str, stage: str | None = None) -> str:
    df = load(family_dockerfile(family))
    stages = [s for s in df.stages if stage is None or s.name == stage]
    return "\n".join(" ".join(c.value) for s in stages for c in s.instructions if c.op == "RUN")


def test_eggroll_installs_strace_which_its_egg_pair_bootstrap_calls():
    """eggroll's bin/roll_pair/egg_pair_bootstrap.sh runs `strace -p` on every egg pair it
    starts; FATE-Builder's amd64 eggroll image installed it with yum."""
    assert fate_paths.exists("eggroll/bin/roll_pair/egg_pair_bootstrap.sh")
    df = load(family_dockerfile("eggroll"))
    assert df.stages[-1].base == "runtime"
    run = _run_scripts("eggroll", "runtime")
    assert re.search(r"yum\b[^;]*\binstall\b[^;]*\bstrace\b", run)
    assert re.search(r"(?:apt-get|\$\{apt\}) install\b[^;]*\bstrace\b", run)
    assert "strace -V" in run


def test_eggroll_maven_build_has_the_proto_folder_the_poms_compile_beside_jvm():
    """jvm/core/pom.xml and jvm/roll_site/pom.xml read ${pom.basedir}/../../proto/{core,roll_site}."""
    assert fate_paths.exists("eggroll/proto/core") and fate_paths.exists("eggroll/proto/roll_site")
    stage = next(s for s in load(family_dockerfile("eggroll")).stages if s.name == "eggroll-build")
    copies = {tuple(c.value) for c in stage.instructions if c.op == "COPY"}
    assert {("jvm", "./jvm"), ("proto", "./proto")} <= copies


def test_client_installs_peft_which_fate_clients_pipeline_imports():
    """FATE-Builder c43d839: "fix client error: ModuleNotFoundError: No module named 'peft'"."""
    df = load(family_dockerfile("client"))
    assert df.global_args["PEFT_VERSION"] == "0.2.0"
    final = "\n".join(" ".join(c.value) for c in df.stages[-1].instructions if c.op == "RUN")
    assert re.search(r'pip install [^;]*"peft==\$\{PEFT_VERSION\}"', final)


def test_client_points_at_the_fateflow_service_compose_and_kubefate_name():
    df = load(family_dockerfile("client"))
    assert df.global_args["FATE_FLOW_IP"] == "fateflow" and df.global_args["FATE_FLOW_PORT"] == "9380"
    env = _dockerfile_env("client")
    assert env == {"FATE_FLOW_IP": "${FATE_FLOW_IP}", "FATE_FLOW_PORT": "${FATE_FLOW_PORT}"}


def test_gpu_images_install_the_graph_packages_without_their_cpu_build_suffix():
    final = "\n".join(" ".join(c.value) for c in load(family_dockerfile("gpu")).stages[-1].instructions)
    # Installed from a copy that may leave out the list's --find-links line (PYG_FIND_LINKS set).
    assert re.search(r"/data/projects/python/requirements-graph-nn-gpu\.txt > (\S+);\s+pip install -r \1", final)
    assert "s/+pt113cpu//g" in _run_scripts("gpu", "requirements")


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


@pytest.mark.parametrize(
    "suite, tasks",
    [
        (
            "base_testsuite.json",
            {"homo_lr_train", "homo_sbt_train_binary", "hetero_lr_normal", "hetero_sbt_train_binary"},
        ),
        ("nn_testsuite.json", {"homo_nn_train_binary"}),
    ],
)
def test_kubefate_test_suites_run_fates_own_examples_inside_the_image(suite, tasks):
    """FATE-Builder's suite names and jobs, on FATE v1.11.2's DSL v2 examples and data."""
    suite_dir = "/data/projects/fate/test_suite/kubefate"
    doc = json.loads((DOCKER / "fate-test" / "test_suite" / "kubefate" / suite).read_text())
    assert set(doc["tasks"]) == tasks
    for task in doc["tasks"].values():
        for key in ("conf", "dsl"):
            resolved = posixpath.normpath(posixpath.join(suite_dir, task[key]))
            assert resolved.startswith("/data/projects/fate/examples/dsl/v2/"), resolved
            assert fate_paths.exists(resolved.removeprefix("/data/projects/fate/")), resolved
    for data in doc["data"]:
        assert data["file"].startswith("examples/data/") and fate_paths.exists(data["file"]), data["file"]


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


@pytest.mark.parametrize("line", ["1.x", "2.x"])
def test_the_families_given_the_fragments_context_are_exactly_those_whose_dockerfiles_mount_it(line):
    cat = catalog.for_line(line)
    for family in cat.families:
        used = {ref for stage in load(family.dockerfile_path(DOCKER)).stages for ref in stage.references()}
        assert (catalog.FRAGMENTS in used) == family.fragments, family.name
    assert (DOCKER / catalog.FRAGMENTS / "maven.sh").is_file()
