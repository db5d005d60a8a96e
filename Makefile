# fate-builder: everything a fresh machine needs comes from these targets.
# `make bake` builds the configured images; `make test` installs and starts what the
# tests need (a Docker engine with buildx, QEMU and a local registry) and runs them.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
FB     := $(BIN)/fate-builder

.PHONY: help venv render check plan bake test test-unit test-pypi test-engine real bench-real engine engine-stop lint docs bench clean wheel-check

help:
	@echo "make bake     build the images .env (and the environment) ask for"
	@echo "make render   write docker-bake.hcl from docker-bake.env (never from .env)"
	@echo "make check    fail if the committed docker-bake.hcl is stale"
	@echo "make plan     show what the configuration builds"
	@echo "make test     provision the Docker engine and run every test"
	@echo "make real     the real builds of the FATE 2.x Python images (PyPI, Debian)"
	@echo "make lint     ruff, mypy and shellcheck"
	@echo "make wheel-check  install the built wheel in a fresh venv and run it outside the checkout"
	@echo "make bench    benchmark one bake against FATE-Builder's sequential builds (ENGINE=oldest|current)"
	@echo "make bench-real  the same on the real FATE 2.1.1 Python images (cold, warm, incremental)"

# The virtualenv is made on first use and refreshed when the dependencies change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

render: $(STAMP)
	$(FB) render

check: $(STAMP)
	$(FB) check

plan: $(STAMP)
	$(FB) plan

bake: $(STAMP)
	$(FB) bake

# Root on Debian 12/13 gets a real engine; elsewhere the engine tests skip (CI=true fails them).
# ENGINE=current (Docker 28.5 + buildx 0.29, the default) or ENGINE=oldest (Docker 26.1 + buildx 0.13).
ENGINE ?= current
export ENGINE
engine:
	scripts/ci/provision-engine.sh

engine-stop:
	scripts/ci/stop-engine.sh

test: $(STAMP)
	@scripts/ci/provision-engine.sh || { if [ "$${CI:-}" = true ]; then exit 1; fi; \
	  echo "make test: no Docker engine could be provisioned; engine tests will be skipped" >&2; }
	$(BIN)/pytest

test-unit: $(STAMP)
	$(BIN)/pytest -m "not engine and not buildx and not real"

# The images' requirement lists resolved for real against PyPI (marker pypi; about 7 min cold).
test-pypi: $(STAMP)
	$(BIN)/pytest -m pypi tests/pypi

# Every test that needs buildx or the engine, on the ENGINE generation (CI runs both).
test-engine: $(STAMP)
	scripts/ci/provision-engine.sh
	$(BIN)/pytest -m "engine or buildx"

# The real builds (tests/real): base-image, fateflow and fate-test of FATE 2.1.1 and 2.0.0 from PyPI and
# Debian's archive, 2.2.0 as far as this network allows, then fateflow run as KubeFATE runs it (a toy job and
# fate_test's PSI suite), on the current engine. Measured cold: 26 minutes for the builds, 5 more for the run.
real: $(STAMP)
	ENGINE=current scripts/ci/provision-engine.sh
	$(BIN)/pytest -m real tests/real

docs: $(STAMP)
	$(BIN)/python -m generator.docs

lint: $(STAMP)
	$(BIN)/ruff check generator tests benchmarks testsupport
	$(BIN)/mypy --strict generator
	$(BIN)/mypy testsupport
	$(BIN)/shellcheck -x .ci/run scripts/ci/*.sh scripts/ci/engine/*.sh scripts/ci/lib/*.sh scripts/real/*.sh

# The package as users install it: wheel, fresh venv, commands run outside the checkout.
wheel-check:
	PYTHON=$(PYTHON) scripts/ci/wheel-check.sh

# Not a test: builds the stand-in images both ways on the ENGINE generation (about 30 minutes
# here), the remote-cache scenarios (fresh builder, CACHE=registry on the engine's registry at
# 127.0.0.1:5000), then fate-builder's own cost on a warm bake beside a plain `docker buildx bake`.
# The results are kept as that generation's (benchmarks/engines/docker-X.Y.json); the README
# tables and benchmarks/chart.png show every generation kept: run it with ENGINE=oldest and
# ENGINE=current. It empties the builder's cache (`docker buildx prune -af`): on a shared engine
# run it under the engine lock. In two shorter holds (about 6 minutes each):
#   BENCH_ARGS="--runs 1 --runs-all 0 --cpu-runs 0 --no-probe --remote-runs 0"
#   BENCH_ARGS="--merge --runs 0 --runs-all 0 --cpu-runs 0 --no-probe --render-runs 0 --overhead-runs 0"
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	@scripts/ci/provision-engine.sh
	$(BIN)/python -m benchmarks.bench --publish --readme README.md --readme README_zh.md \
	  --readme benchmarks/README.md $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.real --publish

# The real FATE 2.1.1 trio (PyPI, Debian), fate-builder against one docker build after another.
bench-real: $(STAMP)
	@scripts/ci/provision-engine.sh
	$(BIN)/python -m benchmarks.real --publish

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
