"""Facts several test modules check against, written down once (not derived from the code under test)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The Dockerfiles of the checkout (docker/), one folder per family.
DOCKER = ROOT / "docker"
# CI=true: a test that cannot get the engine, buildx or a download it needs fails instead of skipping.
IN_CI = os.environ.get("CI", "").lower() == "true"
# The images Build_Basic=1 alone selects on FATE 1.x, parents first.
BASIC = ["base-image", "fateflow", "fateboard", "eggroll"]
