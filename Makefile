# Two commands set up everything on a fresh machine:
#   make demo   - deploy the example app to an embedded local S3 (SeaweedFS) and fetch every asset
#   make test   - ruff, mypy --strict, the docs build and the whole pytest suite against a real local S3
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck docs pytest demo bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,typing,local,docs]'
	touch $(STAMP)

test: $(STAMP) lint typecheck docs pytest

LINTED := flask_s3 tests docs $(wildcard bench examples)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	scripts/ensure-chromium
	$(BIN)/pytest

# HTML with warnings as errors, into the git-ignored build/ folder; nothing is fetched.
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -E -q -b html -d build/docs/doctrees docs build/docs/html

demo: $(STAMP)
	$(BIN)/python -m examples.demo

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

# the bench extra (matplotlib for the scale plot, py-spy for profiling) is never a runtime need
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# A randomized soak: faults, kills and concurrent applies on a fresh local S3 (tests/soak.py).
ROUNDS ?= 200
SEED ?= 7
soak: $(STAMP)
	$(BIN)/python tests/soak.py --rounds $(ROUNDS) --seed $(SEED)

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
