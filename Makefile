# Two commands set up everything on a fresh machine:
#   make demo   - deploy the example app to an embedded local S3 (SeaweedFS) and fetch every asset
#   make test   - ruff, mypy --strict, the docs build and the whole pytest suite against a real local S3
# Development tools come from the pinned files in requirements/ (see requirements/README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PINS := requirements/dev.txt
UV_PIN := $(shell grep -E '^uv==' $(PINS))
# pytest workers: each runs its own SeaweedFS; `make test PYTEST_WORKERS=0` runs in one process
PYTEST_WORKERS ?= 3

.PHONY: test lint typecheck docs pytest demo bench dist pins test-latest soak clean

# uv installs the pinned files (it is pinned itself); flask-s3 goes in editable, without deps,
# so every installed version is the pinned one, which check-pins then proves.
$(STAMP): pyproject.toml $(PINS)
	@echo "Installing the pinned development environment into $(VENV) (about a minute the first time) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check '$(UV_PIN)'
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r $(PINS)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python scripts/check-pins $(PINS)
	touch $(STAMP)

test: $(STAMP) lint typecheck docs dist pytest

LINTED := flask_s3 tests docs scripts/check-pins $(wildcard bench examples)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	scripts/ensure-chromium
	$(BIN)/pytest $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadgroup,)

# HTML with warnings as errors, into the git-ignored build/ folder; nothing is fetched.
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -E -q -b html -d build/docs/doctrees docs build/docs/html
	@echo "Docs built: open build/docs/html/index.html"

demo: demo-intro $(STAMP)
	$(BIN)/python -m examples.demo

# The sdist and the wheel, checked as an index would check them.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*

# Refresh every pin (needs the package index); then run `make test` and commit requirements/*.txt.
# `make pins PINS_UPGRADE=` only adds what a changed *.in file or pyproject.toml asks for.
PINS_UPGRADE ?= --upgrade
pins: $(STAMP)
	$(BIN)/uv pip compile --quiet --universal --python-version 3.10 $(PINS_UPGRADE) \
	  --custom-compile-command "make pins" \
	  pyproject.toml --extra local requirements/dev.in -o $(PINS)
	$(BIN)/uv pip compile --quiet --universal --python-version 3.10 $(PINS_UPGRADE) \
	  --custom-compile-command "make pins" --constraint $(PINS) \
	  pyproject.toml requirements/docs.in -o requirements/docs.txt
	$(BIN)/uv pip compile --quiet --universal --python-version 3.10 $(PINS_UPGRADE) \
	  --custom-compile-command "make pins" --constraint $(PINS) \
	  requirements/bench.in -o requirements/bench.txt

# The second CI job: the same checks against the newest versions the ranges and requirements/*.in
# allow, nothing pinned, in its own venv. A new Flask, boto3 or moto release shows up here first.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip '$(UV_PIN)'
	.venv-latest/bin/uv pip install --quiet --python .venv-latest/bin/python --upgrade \
	  -r requirements/dev.in -e '.[local]'
	.venv-latest/bin/uv pip list --python .venv-latest/bin/python
	touch .venv-latest/.installed
	$(MAKE) lint typecheck docs dist pytest VENV=.venv-latest

# Said before a first install, which runs quietly for a minute or two.
demo-intro:
	@[ $(STAMP) -nt pyproject.toml ] || echo "make demo: installing flask-s3 and its tools into .venv first (quiet; about 1-2 minutes on a first run) ..."

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) requirements/bench.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements/bench.txt
	touch $(BENCH_STAMP)

# the bench tools (matplotlib for the scale plot, py-spy for profiling) are never a runtime need
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# A randomized soak: faults, kills and concurrent applies on a fresh local S3 (tests/soak.py).
ROUNDS ?= 200
SEED ?= 7
soak: $(STAMP)
	$(BIN)/python tests/soak.py --rounds $(ROUNDS) --seed $(SEED)

clean:
	rm -rf $(VENV) .venv-latest build dist .mypy_cache .pytest_cache .ruff_cache
