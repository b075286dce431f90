# OpenLane Cloud — the two commands a newcomer needs: `make demo` and `make test`.
# Both are idempotent and install what they need (Python venv, Debian packages for Slurm/munge/sshd and the flow).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)

.PHONY: help venv system-deps demo test lint unit stack-up stack-down bench docs

help:
	@echo "make demo    bring up the local stack and run the spm example end to end"
	@echo "make test    lint, unit, integration and end-to-end tests (starts its own stack)"
	@echo "make lint    ruff and terraform fmt"
	@echo "make stack-down  stop the demo stack"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

# Slurm, munge, sshd and the local chip flow, from Debian (needs root; a no-op when installed).
system-deps: $(STAMP)
	$(PY) -c "from devstack.stack import install_system_packages; install_system_packages()"

# DEMO_STACK names the stack (default demo; another name gets its own ports, state and cluster).
DEMO_STACK ?= demo
demo: $(STAMP) system-deps
	$(PY) -m devstack.demo $(DEMO_STACK)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@if command -v terraform >/dev/null && [ -d terraform ] && ls terraform/*.tf >/dev/null 2>&1; then terraform fmt -check -recursive terraform; fi
	@test -x .venv-checkov/bin/checkov || { $(PYTHON) -m venv .venv-checkov && echo '*' > .venv-checkov/.gitignore && .venv-checkov/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30; } || { echo "checkov==3.3.30 could not be installed into .venv-checkov (separate venv: its pins conflict with the runtime's)"; exit 1; }
	LOG_LEVEL=ERROR .venv-checkov/bin/checkov -d terraform --quiet --compact --skip-download

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

test: $(STAMP) system-deps lint
	$(PY) -m pytest -q -ra --durations=10

stack-up: $(STAMP)
	$(VENV)/bin/olc stack up

stack-down: $(STAMP)
	$(VENV)/bin/olc stack down --name $(DEMO_STACK)

bench: $(STAMP)
	$(PY) bench/latency.py

docs: $(STAMP)
	$(PY) -m shared.config --markdown > docs/configuration.md
