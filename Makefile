# coursewright — the two commands of the setup contract:
#   make run    virtualenv, install, migrate, demo org, serve on http://127.0.0.1:8000 (+ jobs)
#   make test   install what the tests need, lint, type-check, run the suite on SQLite and PostgreSQL
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
PYTEST_WORKERS ?= 2
APT_GET := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

.PHONY: run test install install-dev lint typecheck test-sqlite test-postgres browser-deps \
        postgres redis bench bench-gatekeeper clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/coursewright migrate --noinput
	$(BIN)/coursewright demo
	$(BIN)/coursewright serve --host $(HOST) --port $(PORT)

# --- what the tests need ---------------------------------------------------------------
browser-deps: tests/js/node_modules/.installed
	@command -v chromium >/dev/null || { $(APT_GET) update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq chromium >/dev/null; }

tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --silent
	touch $@

postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
	  command -v pg_ctlcluster >/dev/null || { $(APT_GET) update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq postgresql >/dev/null; }; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | tail -1) main start; \
	  for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }
	@command -v pg_dump >/dev/null || { $(APT_GET) update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq postgresql-client >/dev/null; }
	@psql -h 127.0.0.1 -U postgres -tAc "select 1" test >/dev/null 2>&1 || \
	  psql -h 127.0.0.1 -U postgres -c "create database test" >/dev/null

redis:
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
	  command -v redis-server >/dev/null || { $(APT_GET) update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq redis-server >/dev/null; }; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no; }

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: install-dev
	$(BIN)/mypy src

test-sqlite: install-dev browser-deps
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

test-postgres: install-dev browser-deps postgres
	DATABASE_URL=$(PG_URL) $(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

test: lint typecheck redis test-sqlite test-postgres

bench: install-dev
	$(BIN)/python bench/ingest_and_draft.py
	$(BIN)/python bench/document_to_draft.py
	$(BIN)/python bench/package_build.py
	$(BIN)/python bench/encryption_overhead.py
	$(BIN)/python bench/delete_org.py
	$(BIN)/python bench/ai_tokens.py
	$(MAKE) bench-gatekeeper

# Gatekeeper launches/s and latency through granian on PostgreSQL and SQLite, beside
# Debian's nginx serving a static file; wrk is the load generator (see the script's note).
bench-gatekeeper: install-dev postgres
	@{ command -v wrk && { command -v nginx || test -x /usr/sbin/nginx; }; } >/dev/null || { \
	  $(APT_GET) update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq wrk nginx >/dev/null; }
	$(BIN)/python bench/gatekeeper_launch.py

clean:
	rm -rf $(VENV) tests/js/node_modules .pytest_cache .mypy_cache .ruff_cache
