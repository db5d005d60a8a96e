"""The environment fate-builder runs in under test or benchmark: only what the caller passes counts."""

from __future__ import annotations

import os
from collections.abc import Mapping

from generator.config import SETTING_NAMES, load_config
from generator.render import bake_variables

# fate-builder's settings, the bake file's variables and the variables bake itself reads.
SCRUBBED = frozenset(SETTING_NAMES) | frozenset(bake_variables(load_config(environ={}))) | {
    "BUILDX_BAKE_FILE", "BUILDX_BAKE_GIT_AUTH_TOKEN",
}


def scrubbed_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any of SCRUBBED or a Build_* flag, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith("Build_")}
    env.update(extra or {})
    return env
