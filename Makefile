# Everything runs from the project's own virtualenv, created on first use.
# `run` needs only the service's own dependencies; `test`, `lint` and `bench`
# add the test and lint tools (the `dev` extra). Each set has its own stamp.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint migrate bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

## the service alone (what `make run` needs)
$(RUN_STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

## the service with the test and lint tools
$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: set up, migrate the SQLite file under ./var/, print an admin key once, serve
run: $(RUN_STAMP)
	$(BIN)/ledger db upgrade
	$(BIN)/ledger keys bootstrap
	$(BIN)/ledger serve --host $(HOST) --port $(PORT)

## test: set up and run the whole suite (SQLite always; PostgreSQL when reachable)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## migrate: apply migrations to LEDGER_DATABASE_URL (default: the SQLite file)
migrate: $(RUN_STAMP)
	$(BIN)/ledger db upgrade

## bench: the benchmarks under bench/ (never part of `make test`); needs PostgreSQL
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
