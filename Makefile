# The two commands a user needs are `make run` and `make test`; each does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# `make run` needs only the runtime and the `sandbox` extra; `make test` (STAMP) installs those too.
RUN_STAMP := $(VENV)/.run-installed-stamp
RUN_DIR := .run
# Sandbox ports (make run); 0 picks any free port. All are checked before anything starts.
API_PORT ?= 8001
METRICS_PORT ?= 8080
HEALTH_PORT ?= 61779
MOTO_PORT ?= 0
PROXY_PORT ?= 0
# More flags for the sandbox, e.g. RUN_ARGS=--once (apply config/samples/, wait, print every SG, exit).
RUN_ARGS ?=

.PHONY: setup run-setup test lint typecheck unit run bench clean kube-binaries compose-schema helm-binary chart-sync gateway-api-crds

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@touch $(STAMP)

setup: $(STAMP)

# Skipped when `make test`'s set-up is newer than pyproject.toml: it installed all of this already.
$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ ! $(STAMP) -nt pyproject.toml ]; then \
		$(BIN)/pip install --quiet --upgrade pip && $(BIN)/pip install --quiet -e '.[sandbox]'; fi
	@touch $(RUN_STAMP)

run-setup: $(RUN_STAMP)

# lint-imports checks the layer contracts in pyproject.toml (which package may import which).
lint: setup
	$(BIN)/ruff check framework controller tests benchmarks
	$(BIN)/ruff format --check framework controller tests benchmarks
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: setup
	$(BIN)/mypy framework controller

# The real etcd + kube-apiserver the tests run against, built from tools/kube/go.mod into .cache/kube/bin
# (needs Go; a second run with nothing changed returns at once). See docs/control-plane.md.
kube-binaries:
	@tools/kube/build.sh

# The Compose Specification's JSON schema the docker-compose.yml test validates against, fetched
# from the Go module proxy into .cache/compose-schema (needs Go; instant when already there).
compose-schema:
	@tools/compose-schema/fetch.sh

# The Gateway API CRDs (sigs.k8s.io/gateway-api) the tests install into the real kube-apiserver,
# fetched from the Go module proxy into .cache/gateway-api (needs Go; instant when already there).
gateway-api-crds:
	@tools/gateway-api/fetch.sh

# The real helm CLI the chart tests (tests/charts/) run, built from tools/helm/go.mod into
# .cache/helm/bin (needs Go; a second run with nothing changed returns at once).
helm-binary:
	@tools/helm/build.sh

# The chart's copies of config/crd's CRDs and config/rbac's ClusterRole; run after changing either
# (tests/charts/ fails while they differ).
chart-sync:
	@tools/chart-sync.sh

# Two pytest workers (more on a bigger machine): most tests wait on a subprocess (the controller,
# kube-apiserver, moto), so two share 2 cores well; each worker starts its own servers. worksteal:
# an idle worker takes queued tests from a busy one, so the long end-to-end tests do not pile up
# at the end on one worker.
unit: setup kube-binaries helm-binary compose-schema gateway-api-crds
	$(BIN)/pytest -q -n auto --maxprocesses=4 --dist worksteal

test: lint typecheck unit

# The controller, as its own process, against the embedded sandbox: the Kubernetes API stand-in,
# moto behind the AWS-like proxy, seeded worker nodes. kubectl --kubeconfig .run/kubeconfig works.
# The Gateway API CRDs first (needs Go, as `make test` does): the sandbox installs them and ours
# before the controller starts, so it runs its Gateway controllers (config/samples/gateway/).
run: run-setup gateway-api-crds
	@mkdir -p $(RUN_DIR)
	$(BIN)/python -m controller.sandbox.run --kubeconfig $(RUN_DIR)/kubeconfig \
		--api-port $(API_PORT) --metrics-port $(METRICS_PORT) --health-port $(HEALTH_PORT) \
		--moto-port $(MOTO_PORT) --proxy-port $(PROXY_PORT) $(RUN_ARGS)

bench: setup
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(RUN_DIR) .mypy_cache .ruff_cache .pytest_cache .hypothesis
