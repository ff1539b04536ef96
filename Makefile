# TaskFlow developer commands. `make dev` and `make test` bootstrap themselves: they need
# only Python 3.11+ and make. uv is the one on PATH, else a private copy that `make` installs
# into .tools/uv-venv (a virtual environment of its own: no system or user Python changes).

SHELL := /bin/bash
PYTHON ?= python3
UV_SPEC ?= uv>=0.9,<1
UV_VENV := .tools/uv-venv
# A uv on PATH is used if it is 0.9 or newer (the lock's format); else the private copy.
UV := $(shell command -v uv >/dev/null 2>&1 && uv --version 2>/dev/null \
	| awk '{ split($$2, v, "."); if (v[1] > 0 || v[2] >= 9) print "uv" }')
ifeq ($(UV),)
# Quoted for the shell, and a relative target for make: the checkout's path may hold spaces.
UV := "$(CURDIR)/$(UV_VENV)/bin/uv"
PRIVATE_UV := $(UV_VENV)/bin/uv
endif
RUN := $(UV) run --frozen
# make dev's port, and make up's gateway; make up's five services take SERVICES_PORT and the
# next four (auth, teams, work, notify, web), its SMTP sink SMTP_PORT.
PORT ?= 8000
SERVICES_PORT ?= 8101
SMTP_PORT ?= 2525
export PORT
up dlq manage: export TASKFLOW_LOCAL_SERVICES_PORT = $(SERVICES_PORT)
up dlq manage: export TASKFLOW_LOCAL_SMTP_PORT = $(SMTP_PORT)

.PHONY: help bootstrap dev up dlq manage bench browser wrk requirements.txt test test-chassis test-auth test-teams test-work test-notify lint fmt clean

help:
	@echo "make dev      run every service in one process at http://127.0.0.1:$(PORT) (docs at /docs; PORT=...)"
	@echo "make up       the distributed runtime as processes on local PostgreSQL, RabbitMQ, Redis:"
	@echo "              gateway at :$(PORT) (PORT=...), services at :$(SERVICES_PORT) to :$$(($(SERVICES_PORT) + 4)) (SERVICES_PORT=...),"
	@echo "              SMTP sink at :$(SMTP_PORT) (SMTP_PORT=...)"
	@echo "make bootstrap  install the locked packages into .venv (uv from PATH, else into .tools/uv-venv)"
	@echo "make dlq      a service's parked events beside make up: SERVICE=work [ARGS='replay --all']"
	@echo "make manage   a service's command beside make up: SERVICE=work ARGS='replica rebuild'"
	@echo "make bench    load figures with wrk on the local distributed runtime (QUICK=1 for a short run)"
	@echo "make browser  install Debian's chromium for the browser tests (they skip without it)"
	@echo "make wrk      install Debian's wrk for the bench and its harness tests (they skip without it)"
	@echo "make test     run the whole test suite (needs PostgreSQL, RabbitMQ, Redis, MariaDB where tests say)"
	@echo "make lint     ruff (with its complexity rule), and mypy strict on all Python code"
	@echo "make fmt      format and auto-fix with ruff"

# uv, where it is not on PATH: pip-installed into a private virtual environment; only where
# Python cannot make one (Debian/Ubuntu without python3-venv), uv's own installer, into the same place.
$(UV_VENV)/bin/uv:
	@echo "uv is not on PATH: installing $(UV_SPEC) into $(UV_VENV) (your Python stays as it is)"
	@rm -rf $(UV_VENV) && mkdir -p $(dir $(UV_VENV))
	@set -o pipefail; if $(PYTHON) -m venv $(UV_VENV) >$(UV_VENV).log 2>&1; then \
		$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "$(UV_SPEC)" \
		|| { echo "pip could not install $(UV_SPEC) into $(UV_VENV): is PyPI reachable?" >&2; exit 1; }; \
	else \
		rm -rf $(UV_VENV); \
		echo "'$(PYTHON) -m venv' failed ($$(tail -n 1 $(UV_VENV).log)); trying uv's own installer" >&2; \
		{ command -v curl >/dev/null && curl -LsSf https://astral.sh/uv/install.sh \
			| env UV_UNMANAGED_INSTALL="$(CURDIR)/$(UV_VENV)/bin" sh; } \
		|| { echo "Cannot install uv: '$(PYTHON) -m venv' does not work, and uv's installer could not run." \
			"Install Python 3.11+ with its venv module (Debian/Ubuntu: apt-get install python3-venv)," \
			"or put uv on PATH, then run make again." >&2; exit 1; }; \
	fi
	@$@ --version

# Bytecode compiled once here (about 15 s): where PYTHONDONTWRITEBYTECODE is set, as on some
# CI machines, every process would compile what it imports again, about 3 s of CPU at each
# start of a service, of a Celery worker, of a test stack's nine processes.
.venv/.synced: uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml embedded/pyproject.toml) | $(PRIVATE_UV)
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

# Not part of make test: minutes of load on the local distributed runtime, then webhook
# deliveries to an HTTPS receiver (deliveries a second, signature cost). QUICK=1: 1,000 tasks, 5 s runs.
bench: bootstrap wrk
	$(RUN) python bench/run.py $(if $(QUICK),--quick)
	$(RUN) python bench/webhooks_micro.py --postgres --endpoints 16 --deliveries $(if $(QUICK),500,2000)

requirements.txt: bootstrap
	$(UV) export --frozen --no-dev --no-hashes --all-packages --no-emit-workspace -o requirements.txt

# Debian packages some tests need, installed where this user may (root or passwordless sudo);
# otherwise the command to run is printed and those tests skip (fail where CI is set). Never
# fails by itself. $(1): the package, $(2): the binary that says it is there.
define apt_install
	@if [ -x "$(2)" ] || command -v "$(2)" >/dev/null 2>&1; then echo "$(1): $$(command -v $(2) || echo $(2))"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "$(1): not found and no apt-get; install $(1) or the tests that need it skip"; \
	elif [ "$$(id -u)" = 0 ]; then \
		{ apt-get install -y $(1) || { apt-get update && apt-get install -y $(1); }; } \
			|| echo "$(1): apt-get install -y $(1) failed; the tests that need it will skip"; \
	elif sudo -n true 2>/dev/null; then \
		{ sudo -n apt-get install -y $(1) || { sudo -n apt-get update && sudo -n apt-get install -y $(1); }; } \
			|| echo "$(1): sudo apt-get install -y $(1) failed; the tests that need it will skip"; \
	else echo "$(1): run 'sudo apt-get install -y $(1)' (Debian/Ubuntu); until then the tests that need it skip"; fi
endef

# The browser tests drive Debian's chromium with Playwright (never a browser of Playwright's
# own: no `playwright install`); CHROMIUM=/path names another binary.
CHROMIUM ?= /usr/bin/chromium
browser:
	$(call apt_install,chromium,$(CHROMIUM))

# The bench's harness tests (in make test) and make bench drive wrk.
wrk:
	$(call apt_install,wrk,wrk)

test: bootstrap lint browser wrk
	$(RUN) pytest -n 4 --dist loadfile libs services embedded tests bench/tests

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
MYPY_SOURCES := libs/chassis/src libs/contracts/src $(wildcard services/*/src) embedded/src bench conftest.py tests/durations.py
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
	@# Two folders at a time: each run is single-threaded, and most of lint's time.
	@printf '%s\n' $(MYPY_TESTS) | xargs -P 2 -I '{}' sh -c 'log=$$(mktemp); \
		$(RUN) mypy --explicit-package-bases --allow-untyped-defs --allow-incomplete-defs \
		--allow-untyped-calls {} > "$$log" 2>&1; status=$$?; \
		echo "mypy {}"; cat "$$log"; rm -f "$$log"; exit $$status'

fmt: bootstrap
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

clean:
	rm -rf .venv .tools var .pytest_cache .mypy_cache .ruff_cache
