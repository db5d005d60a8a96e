"""KubeFATE v2.0.0 mounts config where the 2.x images have a link: the mount must land in the real folder.

fateboard: the compose mounts `./confs/fateboard/conf` at /data/projects/fate/fateboard/conf; the
image keeps FATE-Board in fate_board/ (the 2.2 compose's path) and links fateboard -> fate_board.
fateflow-spark: the Spark compose mounts spark-defaults.conf under computing.spark.home
(/data/projects/spark-3.1.3-bin-hadoop3.2/conf), linked to SPARK_HOME. Each image's own link
step (the `RUN ln -s` line, verbatim from its Dockerfile, with its ARGs) is applied to the busybox
stand-in with the real folder made, then `docker run -v` mounts a file or folder of ours at the
deployment's path and the container reads it back from the real folder.

Marked `engine`: skipped when `docker info` fails, a failure when CI=true.
"""

from __future__ import annotations

import posixpath
import secrets
import subprocess

import pytest
from ruamel.yaml import YAML

from generator import catalog
from testsupport.constants import DOCKER, ROOT

from .test_dockerfile_stages import _run, write
from .test_dockerfile_stages_v2 import engine, stand_in  # noqa: F401 (fixtures)

pytestmark = pytest.mark.engine

KUBEFATE = ROOT / "tests" / "data" / "deploy" / "kubefate-v2.0.0"
SPARK = catalog.for_line("2.x").facts_for("2.2.0").get("SPARK_VERSION")


def _link_step(family: str) -> tuple[list[str], str]:
    """The ARG lines of the final stage and its `RUN ln -s` step, as the Dockerfile has them."""
    text = (DOCKER / family / "Dockerfile").read_text()
    final = text[text.rindex("\nFROM "):]
    runs = [line for line in final.splitlines() if line.startswith("RUN ln -s")]
    assert len(runs) == 1, f"{family}: {runs}"
    return [line for line in final.splitlines() if line.startswith("ARG ")], runs[0]


def _mount_target(compose: str, service: str, source_end: str) -> tuple[str, str]:
    volumes = YAML(typ="safe").load((KUBEFATE / compose).read_text())["services"][service]["volumes"]
    found = [v.split(":")[:2] for v in volumes if v.split(":")[0].rstrip("/").endswith(source_end)]
    assert len(found) == 1, volumes
    return found[0][0], found[0][1]


CASES = {
    # family: (compose, service, the mount's source ending, the real folder the image has, made here)
    "v2/fateboard": ("docker-compose-eggroll.yml", "fateboard", "fateboard/conf",
                     "/data/projects/fate/fate_board/conf"),
    "v2/fateflow-spark": ("docker-compose-spark.yml", "fateflow", "spark-defaults.conf",
                          f"/data/projects/spark-{SPARK}-bin-hadoop3/conf"),
}


@pytest.mark.parametrize("family", sorted(CASES))
def test_kubefates_mount_through_the_images_link_lands_in_the_real_folder(stand_in, tmp_path, family):  # noqa: F811
    compose, service, source_end, real = CASES[family]
    source, target = _mount_target(compose, service, source_end)
    args, link = _link_step(family)
    base = stand_in.removeprefix("docker-image://")
    lines = [f"FROM {base}", *[a.replace("ARG SPARK_VERSION", f"ARG SPARK_VERSION={SPARK}") for a in args],
             f"RUN mkdir -p {real}", link]
    if family == "v2/fateflow-spark":
        # test -x of the link's bin/spark-submit: what the Spark tarball has.
        lines.insert(-1, f"RUN mkdir -p {real}/../bin && printf '#!/bin/sh\\n' > {real}/../bin/spark-submit"
                         f" && chmod 755 {real}/../bin/spark-submit")
    context = tmp_path / "context"
    write(context / "Dockerfile", "\n".join(lines) + "\n")
    ref = f"fate-builder-test/mount-{family.split('/')[1]}:{secrets.token_hex(4)}"
    _run(["docker", "buildx", "build", "--platform", "linux/amd64", "--load", "-t", ref, str(context)])
    try:
        nonce = secrets.token_hex(8)
        name = source.rstrip("/").rsplit("/", 1)[1]
        host = write(tmp_path / "host" / (name if "." in name else "conf/application.properties"), f"mounted {nonce}\n")
        mount_source = host if "." in name else host.parent
        inside = posixpath.join(real, name if "." in name else "application.properties")
        done = _run(["docker", "run", "--rm", "--network", "none", "-v", f"{mount_source}:{target}:ro", ref,
                     "cat", inside])
        assert done.stdout == f"mounted {nonce}\n", (target, inside)
    finally:
        subprocess.run(["docker", "image", "rm", "-f", ref], capture_output=True)
