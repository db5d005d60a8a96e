"""What the tests and the benchmark share: a scrubbed environment, engine probes, the inputs on disk.

Plain Python (no pytest), importable from the repository root:

* `env`: the environment fate-builder runs in, without the caller's settings;
* `probes`: whether a Docker daemon and buildx answer;
* `standin`: the stand-in Dockerfile tree (tiny busybox images, same layout as docker/);
* `fate_checkout`: the mini FATE checkout (real FATE v1.11.2 paths only, `fate_paths`) and the
  git-source stand-ins.
"""

from .env import SCRUBBED, scrubbed_environ
from .fate_checkout import (
    FATE_VERSION,
    MARKER,
    write_fate_checkout,
    write_fate_llm_checkout,
    write_ipcl_checkout,
)
from .probes import bake_allow_flags, buildx_available, docker_info
from .standin import STATE, busybox_dir, copies_of, missing_busybox, write_standin_tree

__all__ = [
    "FATE_VERSION",
    "MARKER",
    "SCRUBBED",
    "STATE",
    "bake_allow_flags",
    "busybox_dir",
    "buildx_available",
    "copies_of",
    "docker_info",
    "missing_busybox",
    "scrubbed_environ",
    "write_fate_checkout",
    "write_fate_llm_checkout",
    "write_ipcl_checkout",
    "write_standin_tree",
]
