# acr-migrate: `make demo` runs the migration end to end on the local sandbox,
# `make test` runs lint, type checks and the test suite.
SHELL := /bin/bash
UV ?= uv
RUN := $(UV) run --frozen
IMAGES ?= 36

.PHONY: help setup deps demo demo-cutover bench test lint typecheck unit integration e2e sandbox-up sandbox-down clean

help:
	@echo "make demo   - install what is needed, start the sandbox and its Prefect server, run the"
	@echo "              migration through the deployments; ends printing the Prefect UI address"
	@echo "make demo-cutover - the whole runbook (freeze ... delete the source) through the"
	@echo "              deployments, on a sandbox of its own (.sandbox-cutover)"
	@echo "make test   - ruff, mypy and the whole test suite (starts its own sandbox)"
	@echo "make sandbox-down - stop the sandbox, its Prefect server and workers"

setup:
	./scripts/install-system-deps.sh
	$(MAKE) deps

deps: .venv/.synced node_modules/.installed

.venv/.synced: pyproject.toml uv.lock
	$(UV) sync --frozen
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The migration as the UI runs it: the sandbox's Prefect server (kept running), the deployments,
# a worker per tenant, then export -> event-started dry run -> provision -> import -> validate.
demo: setup
	$(RUN) python -m sandbox up
	$(RUN) python -m sandbox seed --images $(IMAGES)
	$(RUN) python -m sandbox prefect
	$(RUN) python -m sandbox demo
	@echo "--- the same import from a terminal: everything is already there, nothing is copied ---"
	$(RUN) acr-migrate import
	@echo "Prefect server, workers and sandbox keep running; stop them all with: make sandbox-down"

# The whole runbook on a sandbox of its own (it ends by deleting that sandbox's source ACR):
# migrate-registry through the deployments and workers, its two approvals answered as a person
# would in the UI. Its Prefect server keeps running; make sandbox-down stops it.
CUTOVER_ROOT := .sandbox-cutover
demo-cutover: setup
	$(RUN) python -m sandbox --root $(CUTOVER_ROOT) up
	$(RUN) python -m sandbox --root $(CUTOVER_ROOT) seed --images 12
	$(RUN) python -m sandbox --root $(CUTOVER_ROOT) prefect
	$(RUN) python -m sandbox --root $(CUTOVER_ROOT) demo-cutover

sandbox-up: deps
	$(RUN) python -m sandbox up
	$(RUN) python -m sandbox prefect

sandbox-down:
	@if [ -x .venv/bin/python ]; then .venv/bin/python -m sandbox down; else echo "nothing to stop"; fi
	@if [ -x .venv/bin/python ] && [ -d $(CUTOVER_ROOT) ]; then .venv/bin/python -m sandbox --root $(CUTOVER_ROOT) down; fi

lint: deps
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: deps
	$(RUN) mypy

# The suite runs in random order (pytest-randomly); the same order again: make test SEED=<n>.
ifndef SEED
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
test: setup lint typecheck
	@echo "pytest-randomly seed: $(SEED) (the same order again: make test SEED=$(SEED))"
	$(RUN) pytest -q -p randomly --randomly-seed=$(SEED)

# Side-by-side measurements (issue 11): ratios from one run each, raw figures in
# benchmarks/results/*.json. Not part of make test; under 15 minutes on 2 cores.
bench: setup
	$(RUN) python benchmarks/bench_import_stage.py --rounds 1 --methods bare skopeo import
	$(RUN) python benchmarks/bench_throttled_import.py --images 500 --fixed-images 40 --fixed-1-images 3
	$(RUN) python benchmarks/bench_scale.py
	$(RUN) python benchmarks/bench_referrers.py --images 12

unit: deps
	$(RUN) pytest -q tests/unit

integration: deps
	$(RUN) pytest -q tests/integration

e2e: deps
	$(RUN) pytest -q tests/e2e

clean: sandbox-down
	rm -rf .sandbox $(CUTOVER_ROOT) test-output .pytest_cache .ruff_cache .mypy_cache
