# The two commands a user needs are `make run` and `make test`; each does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN_DIR := .run
API_PORT ?= 8001

.PHONY: setup test lint typecheck unit run bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check framework controller tests benchmarks
	$(BIN)/ruff format --check framework controller tests benchmarks

typecheck: setup
	$(BIN)/mypy framework controller

unit: setup
	$(BIN)/pytest -q

test: lint typecheck unit

run: setup
	@mkdir -p $(RUN_DIR)
	$(BIN)/python -m framework.testing.apiserver --port $(API_PORT) --kubeconfig $(RUN_DIR)/kubeconfig

bench: setup
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(RUN_DIR) .mypy_cache .ruff_cache .pytest_cache .hypothesis
