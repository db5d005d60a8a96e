"""Real builds of the FATE 2.x Python images: every RUN step executes, against PyPI and Debian's archive.

`make real` runs these (marker `real`; plain `pytest` and `make test` leave them out: a cold run
downloads about 3 GB). What is real: the FATE trees (tests/data/real, every file checked against
its git blob id and the tag's path list), the Dockerfiles, apt against Debian's archive, pip
against PyPI through this machine's TLS-intercepting gateway, with the settings a user behind
such a gateway sets (`CA_BUNDLE` = the machine's trust store; `PIP_EXTRA_INDEX_URL` = PyPI, since
PyTorch's index is not reachable here). The one stand-in is the base image: this machine reaches
no container registry, so `python:<v>-slim-bookworm` is made from Debian's packages and the
machine's CPython build (scripts/real/python-image.sh) and served by the test registry as
IMAGE_MIRROR. A missing CPython build fails the run with CI=true.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import REGISTRY, bake, real_tree

pytestmark = pytest.mark.real

def run(image: str, *command: str) -> str:
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", image, *command],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command} in {image}: {done.stderr[-2000:]}"
    return done.stdout


def image_facts(image: str) -> dict[str, object]:
    out = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


@pytest.mark.parametrize("tag", ["v2.1.1", "v2.0.0"])
def test_the_python_images_build_for_real_and_carry_fate_flow_client_and_torch(python_images: None, tmp_path: Path,
                                                                               tag: str) -> None:
    fate_dir, manifest = real_tree(tag, tmp_path)
    version = tag[1:]
    done = bake(tmp_path, fate_dir, ["fateflow", "fate-test"], f"{version}-real")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    fateflow, fate_test = (f"{REGISTRY}/fbreal/{name}:{version}-real" for name in ("fateflow", "fate-test"))
    # Offline (--network none): everything the server and the client import is in the image.
    found = run(fateflow, "python", "-c", "import fate, fate_flow, fate_client, eggroll, torch, cryptography; "
                "print(fate.__version__, torch.__version__)")
    assert found.split()[0] == version
    assert "Usage" in run(fate_test, "fate_test", "--help")
    for image in (fateflow, fate_test):
        print(f"{image}: {int(image_facts(image)['Size']) / 1e9:.2f} GB, created {image_facts(image)['Created']}")
    assert manifest["tag"] == tag


def test_fate_2_2_0_stops_exactly_at_its_torch_cpu_pin_naming_the_setting(python_images: None, tmp_path: Path) -> None:
    """torch==2.3.1+cpu is served only by PyTorch's index, which this network does not reach."""
    fate_dir, _ = real_tree("v2.2.0", tmp_path)
    done = bake(tmp_path, fate_dir, ["fateflow"], "2.2.0-real")
    assert done.returncode != 0
    closing = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("fate-builder:")]
    named = [line for line in closing if "torch==2.3.1+cpu" in line]
    assert named and "PIP_EXTRA_INDEX_URL" in named[0], "\n".join(closing)
    assert not [line for line in closing if "ResolutionImpossible" in line or "certificate" in line], closing


def test_without_ca_bundle_the_gateway_is_named_as_an_untrusted_certificate(python_images: None,
                                                                            tmp_path: Path) -> None:
    """The same base-image, not cached, with CA_BUNDLE unset: pip's step meets the gateway's certificate."""
    fate_dir, _ = real_tree("v2.1.1", tmp_path)
    done = bake(tmp_path, fate_dir, ["base-image"], "2.1.1-noca", CA_BUNDLE=None, Docker_Options="--no-cache")
    assert done.returncode != 0
    closing = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("fate-builder:")]
    assert any("certificate the build does not trust" in line and "CA_BUNDLE" in line for line in closing), closing
