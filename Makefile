# acr-migrate: `make demo` runs the migration end to end on the local sandbox,
# `make test` runs lint, type checks and the test suite.
SHELL := /bin/bash
UV ?= uv
RUN := $(UV) run --frozen
IMAGES ?= 36

.PHONY: help setup deps demo test lint typecheck unit integration e2e sandbox-up sandbox-down clean

help:
	@echo "make demo   - install what is needed, start the sandbox, export, import, validate"
	@echo "make test   - ruff, mypy and the whole test suite (starts its own sandbox)"
	@echo "make sandbox-down - stop the demo's sandbox"

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

demo: setup
	$(RUN) acr-migrate sandbox up
	$(RUN) acr-migrate sandbox seed --images $(IMAGES)
	$(RUN) acr-migrate export
	$(RUN) acr-migrate provision
	$(RUN) acr-migrate import
	$(RUN) acr-migrate validate
	@echo "--- second import: everything is already there, nothing is copied ---"
	$(RUN) acr-migrate import
	@echo "The sandbox keeps running; stop it with: make sandbox-down"

sandbox-up: deps
	$(RUN) acr-migrate sandbox up

sandbox-down:
	$(RUN) acr-migrate sandbox down

lint: deps
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: deps
	$(RUN) mypy

test: setup lint typecheck
	$(RUN) pytest -q

unit: deps
	$(RUN) pytest -q tests/unit

integration: deps
	$(RUN) pytest -q tests/integration

e2e: deps
	$(RUN) pytest -q tests/e2e

clean: sandbox-down
	rm -rf .sandbox test-output .pytest_cache .ruff_cache .mypy_cache
