# TaskFlow developer commands. `make dev` and `make test` bootstrap themselves:
# they need only Python 3.11+ and make (uv is installed through pip if missing).

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif
RUN := $(UV) run --frozen
PORT ?= 8000
export PORT

.PHONY: help bootstrap dev up dlq manage bench requirements.txt test test-chassis test-auth test-teams test-work test-notify lint fmt clean

help:
	@echo "make dev      run every service in one process at http://127.0.0.1:$(PORT) (docs at /docs)"
	@echo "make up       the distributed runtime as processes on local PostgreSQL, RabbitMQ, Redis (gateway at :$(PORT))"
	@echo "make dlq      a service's parked events beside make up: SERVICE=work [ARGS='replay --all']"
	@echo "make manage   a service's command beside make up: SERVICE=work ARGS='replica rebuild'"
	@echo "make bench    load figures with wrk on the local distributed runtime (QUICK=1 for a short run)"
	@echo "make test     run the whole test suite (needs PostgreSQL, RabbitMQ, Redis, MariaDB where tests say)"
	@echo "make lint     ruff (with its complexity rule), and mypy strict on all Python code"
	@echo "make fmt      format and auto-fix with ruff"

.venv/.synced: uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml embedded/pyproject.toml)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.5"
	$(UV) sync --frozen --compile-bytecode
	@touch $@

bootstrap: .venv/.synced

dev: bootstrap
	$(RUN) python -m taskflow_embedded.main

up: bootstrap
	$(RUN) python -m taskflow_embedded.local

# Beside a running `make up`: its parked events (ARGS: list, replay --all, replay --id ID, purge --all).
SERVICE ?= work
ARGS ?= list
dlq: bootstrap
	$(RUN) python -m taskflow_embedded.local manage $(SERVICE) dlq $(ARGS)

# Beside a running `make up`: any command of a service (replica rebuild, emails retry --all-failed).
manage: bootstrap
	$(RUN) python -m taskflow_embedded.local manage $(SERVICE) $(ARGS)

# Not part of make test: minutes of load on the local distributed runtime. QUICK=1: 1,000 tasks, 5 s runs.
bench: bootstrap
	$(RUN) python bench/run.py $(if $(QUICK),--quick)

requirements.txt: bootstrap
	$(UV) export --frozen --no-dev --no-hashes --all-packages --no-emit-workspace -o requirements.txt

test: bootstrap lint
	$(RUN) pytest -n 3 --dist loadfile libs services embedded tests

test-chassis: bootstrap
	$(RUN) pytest libs

test-auth: bootstrap
	$(RUN) pytest services/auth

test-teams: bootstrap
	$(RUN) pytest services/teams

test-work: bootstrap
	$(RUN) pytest services/work

test-notify: bootstrap
	$(RUN) pytest services/notify

# mypy strict on every package; tests are checked too, with untyped test functions allowed
# (one run per folder: each has its own conftest; package bases, so `.conftest` is typed).
MYPY_SOURCES := libs/chassis/src libs/contracts/src $(wildcard services/*/src) embedded/src bench conftest.py
MYPY_MIGRATIONS := $(wildcard services/*/migrations)
MYPY_TESTS := $(wildcard libs/*/tests services/*/tests embedded/tests) tests/system tests/architecture
lint: bootstrap
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy $(MYPY_SOURCES)
	@for folder in $(MYPY_MIGRATIONS); do \
		echo "mypy $$folder"; \
		$(RUN) mypy --explicit-package-bases $$folder || exit 1; \
	done
	@for folder in $(MYPY_TESTS); do \
		echo "mypy $$folder"; \
		$(RUN) mypy --explicit-package-bases --allow-untyped-defs --allow-incomplete-defs --allow-untyped-calls $$folder || exit 1; \
	done

fmt: bootstrap
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

clean:
	rm -rf .venv var .pytest_cache .mypy_cache .ruff_cache
