"""generator.release: the line, version and component versions read from a tree's marker files."""

from __future__ import annotations

import pytest

from generator.errors import ConfigError
from generator.release import pom_version, read_release, resolve
from testsupport.fate2_checkout import real_files


def test_a_2x_pom_version_is_the_projects_not_its_parents():
    pom = real_files("v2.2.0")["fate_board/pom.xml"].decode()
    assert pom_version(pom) == "2.1.0"
    wrapped = "<project><parent><version>2.7.18</version></parent><!-- <version>0</version> -->" \
              "<version>2.1.0</version></project>"
    assert pom_version(wrapped) == "2.1.0"


def test_a_quoted_fate_env_value_is_read_as_dotenv_reads_it(tmp_path):
    (tmp_path / "fate.env").write_text('FATEFlow=1.11.1\nFATE="1.11.2"\n')
    assert read_release(str(tmp_path)).version == "1.11.2"


def test_single_quoted_version_in_info_py(tmp_path):
    (tmp_path / "python" / "fate").mkdir(parents=True)
    (tmp_path / "python" / "fate" / "_info.py").write_text("__version__ = '2.1.1'\n")
    release = read_release(str(tmp_path))
    assert (release.line, release.version, release.components) == ("2.x", "2.1.1", ())


@pytest.mark.parametrize("rel, text, message", [
    ("fate.env", "FATEFlow=1.11.1\n", r"fate.env has no FATE=<version> line"),
    ("python/fate/_info.py", "__provider__ = 'fate'\n", r"_info.py has no __version__"),
])
def test_a_marker_without_its_version_is_one_error_naming_the_file(tmp_path, rel, text, message):
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_release(str(tmp_path))


def test_a_component_file_without_its_version_is_an_error(tmp_path):
    (tmp_path / "python" / "fate").mkdir(parents=True)
    (tmp_path / "python" / "fate" / "_info.py").write_text('__version__ = "2.2.0"\n')
    (tmp_path / "eggroll").mkdir()
    (tmp_path / "eggroll" / "BUILD_INFO").write_text("version=\n")
    with pytest.raises(ConfigError, match=r"BUILD_INFO has no eggroll.version"):
        read_release(str(tmp_path))


def test_without_a_tree_the_line_is_fate_lines_or_1x(tmp_path):
    assert resolve(str(tmp_path), None).line == "1.x"
    assert resolve(str(tmp_path), "2.x").line == "2.x"
    assert resolve(str(tmp_path), "2.x").unread().line == "2.x"
    assert resolve(str(tmp_path), None).version is None
