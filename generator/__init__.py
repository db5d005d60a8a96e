"""fate-builder: FATE's Docker images built with Docker Buildx Bake."""

__version__ = "0.1.0"
