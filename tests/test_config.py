"""Configuration: precedence, .env interpolation and every validation error."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest

from generator.config import SETTINGS, BakeOptions, Cache, Config, parse_docker_options
from generator.errors import ConfigError

from .conftest import ALL_OFF, config_of, run_cli


def test_defaults_are_fate_builders():
    c = config_of()
    assert c.fate_dir == "/data/projects/fate"
    assert (c.prefix, c.tag, c.base_tag) == ("federatedai", "latest", "latest")
    assert c.flags == {"Basic", "OP", "NN", "Spark"}
    assert c.platforms == ("amd64",)
    assert (c.ipcl_version, c.llm_version, c.ipcl_pkg_dir) == ("v1.1.3", "v1.2.0", "")
    assert c.bake_options == BakeOptions()
    assert c.cache == Cache("none")
    assert c.third_party_images == ("mysql:8.0.28",)


def test_base_tag_follows_tag_unless_set():
    assert config_of(TAG="1.11.2-release").base_tag == "1.11.2-release"
    assert config_of(TAG="1.11.2-release", BASE_TAG="base-1").base_tag == "base-1"


@pytest.mark.parametrize(
    "env_file, environ, cli, expected",
    [
        ("TAG=from-file", {}, {}, "from-file"),
        ("TAG=from-file", {"TAG": "from-env"}, {}, "from-env"),
        ("TAG=from-file", {"TAG": "from-env"}, {"TAG": "from-cli"}, "from-cli"),
        ("", {"TAG": "from-env"}, {}, "from-env"),
        ("", {}, {}, "latest"),
    ],
)
def test_precedence_is_cli_then_environment_then_env_file_then_default(tmp_path, env_file, environ, cli, expected):
    path = tmp_path / ".env"
    path.write_text(env_file + "\n")
    assert config_of(env_file=path, environ=environ, **cli).tag == expected


def test_env_file_interpolates_version_from_fate_env_in_fate_dir_it_names(tmp_path, fate_dir):
    env = tmp_path / ".env"
    env.write_text(f"FATE_DIR={fate_dir}\nPREFIX=federatedai\nBASE_TAG=${{version}}-release\nTAG=${{version}}-release\n")
    c = config_of(env_file=env)
    assert (c.tag, c.base_tag, c.fate_version) == ("1.11.2-release", "1.11.2-release", "1.11.2")


def test_env_file_interpolation_sees_earlier_values_and_the_environment(tmp_path, fate_dir):
    env = tmp_path / ".env"
    env.write_text("REGISTRY=harbor.local:8443\nPREFIX=${REGISTRY}/${TEAM}\n")
    c = config_of(env_file=env, environ={"TEAM": "fate", "FATE_DIR": str(fate_dir)})
    assert c.prefix == "harbor.local:8443/fate"


def test_version_without_a_fate_tree_is_an_error_naming_both_markers(tmp_path):
    env = tmp_path / ".env"
    env.write_text(f"FATE_DIR={tmp_path / 'nowhere'}\nTAG=${{version}}-release\n")
    markers = r"nowhere/fate.env \(1.x\) or .*nowhere/python/fate/_info.py \(2.x\)"
    with pytest.raises(ConfigError, match=r"\$\{version\}.*" + markers):
        config_of(env_file=env)


def test_shipped_env_example_renders_against_a_fate_checkout(fate_dir):
    from generator.package import PROJECT_ROOT

    c = config_of(env_file=PROJECT_ROOT / ".env.example", environ={"FATE_DIR": str(fate_dir)})
    assert (c.prefix, c.tag, c.base_tag) == ("federatedai", "1.11.2-release", "1.11.2-release")


def test_fate_env_without_fate_line_is_an_error(fate_dir):
    (fate_dir / "fate.env").write_text("FATEFlow=1.11.1\n")
    with pytest.raises(ConfigError, match="no FATE=<version> line"):
        config_of(FATE_DIR=str(fate_dir))


@pytest.mark.parametrize("value, on", [("1", True), ("0", False), ("true", True), ("False", False),
                                       ("yes", True), ("NO", False), (" 1 ", True)])
def test_flags_accept_0_1_true_false_yes_no(value, on):
    assert ("FUM" in config_of(Build_FUM=value).flags) is on


@pytest.mark.parametrize("value", ["2", "on", "", "maybe"])
def test_flag_with_other_value_is_an_error_naming_setting_and_allowed(value):
    with pytest.raises(ConfigError, match=r"Build_NN=.*must be 0 or 1"):
        config_of(Build_NN=value)


@pytest.mark.parametrize("name", ["TAG", "BASE_TAG"])
@pytest.mark.parametrize("value", [".hidden", "-dash", "a b", "a/b", "x" * 129, "tag:1", " "])
def test_invalid_docker_tags_are_rejected(name, value):
    with pytest.raises(ConfigError, match=rf"^{name}="):
        config_of(**{name: value})


def test_empty_tag_is_rejected_but_empty_base_tag_means_tag():
    with pytest.raises(ConfigError, match=r"^TAG=''"):
        config_of(TAG="")
    assert config_of(TAG="v2", BASE_TAG="").base_tag == "v2"


@pytest.mark.parametrize("value", ["1.11.2-release", "latest", "_x", "A" * 128, "v1.2_rc.1"])
def test_valid_docker_tags_are_accepted(value):
    assert config_of(TAG=value).tag == value


@pytest.mark.parametrize("value", ["federatedai", "127.0.0.1:5000/federatedai", "harbor.example.com/fate/images",
                                   "localhost:5000/fate", "docker.io/federatedai", "my-org/sub_team", "reg.io:443"])
def test_valid_prefixes_are_accepted(value):
    assert config_of(PREFIX=value).prefix == value


@pytest.mark.parametrize("value", ["FederatedAI", "federatedai/", "http://reg/fate", "a b", "/fate", "fate//x",
                                   "-fate", "fate-", ""])
def test_invalid_prefixes_are_rejected(value):
    with pytest.raises(ConfigError, match=r"^PREFIX="):
        config_of(PREFIX=value)


@pytest.mark.parametrize("value, expected", [("amd64", ("amd64",)), ("amd64,arm64", ("amd64", "arm64")),
                                             ("arm64,amd64", ("amd64", "arm64")),
                                             ("linux/amd64, linux/arm64", ("amd64", "arm64"))])
def test_platforms(value, expected):
    assert config_of(Platform=value, **{**ALL_OFF, "Build_Basic": "1"}).platforms == expected


@pytest.mark.parametrize("value", ["x86_64", "arm", "amd64;arm64", ""])
def test_unknown_platform_is_rejected(value):
    with pytest.raises(ConfigError, match=r"^Platform=.*allowed are amd64, arm64"):
        config_of(Platform=value)


def test_arm64_with_families_beyond_basic_names_the_flags_to_turn_off():
    with pytest.raises(ConfigError) as err:
        config_of(Platform="amd64,arm64")  # defaults: Basic, Spark, NN, OP
    msg = str(err.value)
    assert "only the Build_Basic family exists for amd64,arm64" in msg
    assert "Build_Spark=0, Build_NN=0, Build_OP=0" in msg
    assert "Build_Basic=0" not in msg


def test_which_families_exist_for_arm64_follows_the_catalog(monkeypatch):
    from generator import catalog

    v1 = catalog.for_line("1.x")
    spark_arm = [replace(i, arm64=True) if "Spark" in i.flags else i for i in v1.images]
    monkeypatch.setitem(catalog.CATALOGS, "1.x", replace(v1, images=tuple(spark_arm)))
    config = config_of(Platform="arm64", Build_NN="0", Build_OP="0")
    assert config.flags == {"Basic", "Spark"}


def test_ipcl_pkg_dir_must_exist_when_ipcl_is_built(tmp_path):
    with pytest.raises(ConfigError, match=r"^IPCL_PKG_DIR=.*no such directory.*v1.1.3 from git"):
        config_of(Build_IPCL="1", IPCL_PKG_DIR=str(tmp_path / "missing"))
    assert config_of(Build_IPCL="0", IPCL_PKG_DIR=str(tmp_path / "missing")).ipcl_pkg_dir
    assert config_of(Build_IPCL="1", IPCL_PKG_DIR=str(tmp_path)).ipcl_pkg_dir == str(tmp_path)


@pytest.mark.parametrize("name", ["IPCL_VERSION", "Build_LLM_VERSION"])
def test_git_versions_must_be_ref_names(name):
    with pytest.raises(ConfigError, match=rf"^{name}="):
        config_of(**{name: "v1 ; rm -rf /"})


def test_docker_options_are_split_like_a_shell_and_mapped_to_bake_flags():
    opts = parse_docker_options("--no-cache --pull --progress=plain --set '*.args.HTTP_PROXY=http://p:3128' "
                                "--set=fateflow.platform=linux/amd64 --builder ci --provenance false "
                                "--sbom=true --metadata-file /tmp/m.json --load")
    assert opts == BakeOptions(no_cache=True, pull=True, progress="plain", builder="ci", provenance="false",
                               sbom="true", metadata_file="/tmp/m.json", load=True,
                               set=("*.args.HTTP_PROXY=http://p:3128", "fateflow.platform=linux/amd64"))


@pytest.mark.parametrize("value, message", [
    ("--squash", r"'--squash' is not supported by bake; supported: --no-cache --pull --progress"),
    ("--network host", r"'--network' is not supported"),
    ("--no-cache 'unclosed", r"cannot be split like a shell would"),
    ("--progress", r"--progress needs a value"),
    ("--progress=fancy", r"--progress='fancy': allowed are auto, plain, quiet"),
    ("--progress=tty", r"--progress='tty': allowed are auto, plain, quiet"),
    ("--no-cache=1", r"--no-cache takes no value"),
])
def test_unsupported_or_malformed_docker_options_are_errors(value, message):
    with pytest.raises(ConfigError, match=r"^Docker_Options"):
        config_of(Docker_Options=value)
    with pytest.raises(ConfigError, match=message):
        parse_docker_options(value)


@pytest.mark.parametrize("value", ["registry", "inline", "gha", "none", "local:/var/cache/fate"])
def test_cache_kinds(value):
    assert config_of(CACHE=value).cache.setting == value


@pytest.mark.parametrize("value", ["s3", "local:", "Registry"])
def test_unknown_cache_is_rejected(value):
    with pytest.raises(ConfigError, match=r"^CACHE=.*allowed are none, inline, registry, local:DIR, gha"):
        config_of(CACHE=value)


def test_unknown_setting_on_command_line_is_rejected():
    with pytest.raises(ConfigError, match="unknown setting 'Build_Everything'"):
        config_of(Build_Everything="1")


@pytest.mark.parametrize("env, message", [
    ({"Build_NN": "2"}, "Build_NN='2': a flag must be 0 or 1"),
    ({"TAG": "bad tag"}, "TAG='bad tag'"),
    ({"Platform": "s390x"}, "Platform='s390x'"),
    ({"Docker_Options": "--squash"}, "Docker_Options: '--squash' is not supported"),
])
def test_cli_reports_bad_settings_in_one_line_with_status_2_and_writes_nothing(tmp_path, env, message):
    out = tmp_path / "docker-bake.hcl"
    defines = [arg for name, value in env.items() for arg in ("-D", f"{name}={value}")]
    result = run_cli("render", "--output", str(out), *defines, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("fate-builder: error:")
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_define_beats_environment_and_env_file(tmp_path):
    (tmp_path / ".env").write_text("TAG=file\n")
    result = run_cli("-D", "TAG=cli", "plan", "--format", "json", env={"TAG": "env"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"tag": "cli"' in result.stdout
    result = run_cli("plan", "--format", "json", env={"TAG": "env"}, cwd=tmp_path)
    assert '"tag": "env"' in result.stdout


def test_a_line_python_dotenv_cannot_parse_is_an_error_naming_file_and_line(tmp_path):
    env = tmp_path / ".env"
    env.write_text('PREFIX=federatedai\nTAG="unterminated\n')
    with pytest.raises(ConfigError, match=r"\.env: .*could not parse statement starting at line 2"):
        config_of(env_file=env)


def test_every_config_attribute_is_one_rows_value_or_gathered_from_several():
    rows = [s.field for s in SETTINGS if s.field is not None]
    assert len(rows) == len(set(rows))
    # The attributes no one row holds: the Build_* flags, the network secrets, the release FATE_DIR holds.
    gathered = {"base_tag_explicit", "flags", "fate_version", "release", "network"}
    assert {f.name for f in dataclasses.fields(Config)} == set(rows) | gathered
