"""Where fate-builder finds its data folders (docker/, templates/): the checkout's when run from one, else the
copies the wheel installs beside the code (pyproject's package-dir)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shipped_dir(name: str) -> Path:
    """A data folder of the project (docker/, templates/): the checkout's when run from one, else the package's copy.

    Both live at the top of the checkout, where people edit them, and the wheel maps each into
    the package (pyproject's package-dir), so an installed fate-builder finds them beside its code.
    """
    checkout = PROJECT_ROOT / name
    if (PROJECT_ROOT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parent / name


def default_docker_dir() -> Path:
    """The Dockerfiles the bake file points at."""
    return shipped_dir("docker")
