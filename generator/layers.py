"""Layering: where each setting's text comes from (the command line, the environment, the personal .env, the
committed docker-bake.env, the defaults), with python-dotenv's `${VAR}` interpolation and `${version}` the
FATE version of FATE_DIR. Text in, text out: what the text means is each setting's row (generator.config).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from dotenv import dotenv_values

from .errors import ConfigError
from .release import Release, not_a_tree, parse_line, resolve


class _Unparsed(logging.Handler):
    """Collects python-dotenv's warnings about lines it could not parse."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _read_dotenv(path: Path, setting: str) -> dict[str, str | None]:
    """A dotenv file's KEY=VALUE pairs, not interpolated yet; {} when there is no file.

    python-dotenv skips a line it cannot parse with a logged warning; here that is an error.
    """
    catcher = _Unparsed()
    logger = logging.getLogger("dotenv")
    logger.addHandler(catcher)
    try:
        with open(path, encoding="utf-8") as stream:
            values = dotenv_values(stream=stream, interpolate=False)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    finally:
        logger.removeHandler(catcher)
    if catcher.records:
        raise ConfigError(f"{path}: {catcher.records[0].getMessage()}")
    return dict(values)


# python-dotenv's expansion syntax: ${NAME} and ${NAME:-default}.
_VARIABLE = re.compile(r"\$\{(?P<name>[^}:]*)(?::-(?P<default>[^}]*))?\}")


def _interpolate(
    pairs: Mapping[str, str | None], environ: Mapping[str, str], version: str | None, no_tree: str
) -> dict[str, str]:
    """Expand `${VAR}` as python-dotenv does, with `${version}` the FATE version of FATE_DIR (either line).

    Values defined earlier in the file win over the environment, as in python-dotenv.
    """
    resolved: dict[str, str] = {}
    for key, value in pairs.items():
        if value is None:
            continue
        scope: dict[str, str] = dict(environ)
        if version is not None:
            scope["version"] = version
        scope.update(resolved)

        text: str = value  # mypy before 2.0 does not carry the narrowing into a default argument

        def expand(match: re.Match[str], key: str = key, value: str = text, scope: dict[str, str] = scope) -> str:
            name, default = match.group("name"), match.group("default")
            if name == "version" and name not in scope and default is None:
                raise ConfigError(
                    f"{key}={value}: uses ${{version}}, but {no_tree}"
                )
            return scope.get(name, default or "")

        resolved[key] = _VARIABLE.sub(expand, value)
    return resolved


def layered(
    defaults: Mapping[str, str],
    env_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    project_file: Path | None = None,
) -> tuple[dict[str, str], Release]:
    """Every setting's value as text (`defaults` names them all), and the FATE release FATE_DIR holds.

    Layers, strongest first: `overrides` (the command line), `environ`, `env_file` (the
    personal .env), `project_file` (the committed docker-bake.env), the defaults.
    """
    names = tuple(defaults)
    environ = dict(os.environ if environ is None else environ)
    overrides = dict(overrides or {})
    for name in overrides:
        if name not in defaults:
            raise ConfigError(f"unknown setting {name!r}; known settings: {', '.join(names)}")

    files = [(path, _read_dotenv(path, "--env-file" if path == env_file else "--project-file"))
             for path in (env_file, project_file) if path is not None]

    def pick(name: str, file_layers: Sequence[Mapping[str, str]]) -> str:
        for layer in (overrides, environ, *file_layers):
            if name in layer:
                return layer[name]
        return defaults[name]

    # FATE_DIR decides where ${version} comes from, so it is settled first.
    early = [_interpolate({k: v for k, v in pairs.items() if k == "FATE_DIR"}, environ, None, "FATE_DIR is not set yet")
             for _, pairs in files]
    fate_dir_raw = pick("FATE_DIR", early)
    fate_dir = os.path.abspath(os.path.expanduser(fate_dir_raw)) if fate_dir_raw else fate_dir_raw
    if not fate_dir:
        raise ConfigError("FATE_DIR is empty: set it to the FATE source checkout")
    # The release line decides what ${version} is, so it is settled next.
    lines = [_interpolate({k: v for k, v in pairs.items() if k == "FATE_LINE"}, environ, None, "")
             for _, pairs in files]
    found = resolve(fate_dir, parse_line("FATE_LINE", pick("FATE_LINE", lines)))
    file_layers = [_interpolate(pairs, environ, found.version, not_a_tree(fate_dir)) for _, pairs in files]
    raw = {name: pick(name, file_layers) for name in names}
    raw["FATE_DIR"] = fate_dir
    return raw, found
