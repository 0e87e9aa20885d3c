# CouncilDesk. `make run` serves the demo; `make test` runs the tests. Both set everything up.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app
HOST ?= 127.0.0.1
PORT ?= 5000
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432
# Code whose strings are translated (the agent is a separate, English-only program).
I18N_SOURCES := $(wildcard app.py accounts agreements catalogue core inventory remote/*.py reports scale support templates)

.PHONY: run test test-pg lint bench load battery audit translations extract-translations clean-venv help system system-bench

help:
	@echo "make run       serve the demo on http://$(HOST):$(PORT) with its scheduler (SQLite under instance/)"
	@echo "make test      run the test suite on SQLite"
	@echo "make test-pg   run the test suite on PostgreSQL ($(PG_URL)) in a throwaway database"
	@echo "make lint      ruff"
	@echo "make bench     benchmarks (ratios against baselines measured in the same run)"
	@echo "make battery   the heavy reliability and security tests, on SQLite and on PostgreSQL"
	@echo "make audit     pip-audit of the pinned requirements"
	@echo "make load      locust: 100 UI users + 500 agents for 5 minutes on gunicorn + PostgreSQL"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

# The system programs the tests and benches drive (sshd, Chromium, poppler, LibreOffice,
# Dovecot, RabbitMQ...): .ci/install-system installs the missing ones, or names them and fails.
system:
	@.ci/install-system

system-bench:
	@.ci/install-system --bench

translations: $(VENV)/.runtime-installed
	@$(BIN)/pybabel compile -d translations > /dev/null

extract-translations: $(VENV)/.dev-installed
	$(BIN)/pybabel extract -F babel.cfg --ignore-dirs ".* __pycache__" -k _l -k lazy_gettext -k ngettext:1,2 -k lazy_ngettext:1,2 \
	  --no-location --sort-output --project CouncilDesk -o translations/messages.pot $(I18N_SOURCES)
	$(BIN)/pybabel update --no-fuzzy-matching -i translations/messages.pot -d translations

# The web server and the scheduler together (Procfile.demo, run by honcho), so that checks,
# offline detection, SLA warnings and reminders are live in the demo; Ctrl-C stops both.
run: $(VENV)/.runtime-installed translations
	COUNCILDESK_ENV=development $(BIN)/flask db upgrade
	COUNCILDESK_ENV=development $(BIN)/flask seed-demo --if-empty
	COUNCILDESK_ENV=development HOST=$(HOST) PORT=$(PORT) PATH="$(CURDIR)/$(BIN):$$PATH" \
	  $(BIN)/honcho -f Procfile.demo start

# pytest exits 5 when it collects no tests; make treats that as the failure it is.
test: system $(VENV)/.dev-installed translations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-pg: system $(VENV)/.dev-installed translations
	@db=councildesk_test_$$$$; \
	$(BIN)/python -c "import sys, psycopg; c = psycopg.connect('$(subst +psycopg,,$(PG_URL))/postgres', autocommit=True); c.execute('CREATE DATABASE ' + sys.argv[1])" $$db \
	  || { echo "PostgreSQL is unreachable at $(PG_URL)"; exit 1; }; \
	TEST_DATABASE_URL=$(PG_URL)/$$db $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	$(BIN)/python -c "import sys, psycopg; c = psycopg.connect('$(subst +psycopg,,$(PG_URL))/postgres', autocommit=True); c.execute('DROP DATABASE IF EXISTS ' + sys.argv[1] + ' WITH (FORCE)')" $$db; \
	exit $$status

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .

$(VENV)/.bench-installed: requirements-bench.txt $(VENV)/.dev-installed
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

# Every bench runs, and the target fails at the end if any of them missed its target (a
# missed one no longer hides the figures of those after it).
bench: system-bench $(VENV)/.bench-installed translations
	@missed=""; for script in bench/[!_]*.py; do echo "== $$script"; \
	  $(BIN)/python $$script || missed="$$missed $$script"; done; \
	if [ -n "$$missed" ]; then echo "targets missed or benches failed:$$missed"; exit 1; fi

# The reliability and security battery (tests/battery). Its light part (isolation matrix,
# backups) runs in `make test`; its heavy part (SIGKILL durability, Schemathesis, XSS in
# Chromium, gunicorn with two schedulers), marked `battery`, runs here on both databases,
# but for the browser test (escaping does not depend on the database; it saves a minute).
battery: system $(VENV)/.dev-installed translations
	$(BIN)/python -m pytest tests/battery -m battery $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-pg PYTEST_ARGS="tests/battery -m 'battery and not browser' $(PYTEST_ARGS)"

# pip-audit reads advisories from PyPI's JSON API (/pypi/NAME/VERSION/json). Where only the
# package index is reachable it looks nothing up and still prints "No known vulnerabilities
# found": --strict makes a package it could not look up a failure, and the probe (Jinja2 2.10,
# which has published advisories, must show them) says plainly when the advisories cannot
# be reached at all; AUDIT_REQUIRED=1 turns that into a failure too.
AUDIT_PROBE := import json, urllib.request; \
  assert json.load(urllib.request.urlopen("https://pypi.org/pypi/jinja2/2.10/json", timeout=20))["vulnerabilities"]
audit: $(VENV)/.dev-installed
	@if $(BIN)/python -c '$(AUDIT_PROBE)' 2>/dev/null; then \
	  $(BIN)/pip-audit --strict --progress-spinner off --cache-dir $(VENV)/pip-audit-cache \
	    -r requirements.txt -r requirements-dev.txt; \
	else \
	  echo "pip-audit: BLOCKED, nothing audited: PyPI's advisory data (https://pypi.org/pypi/NAME/VERSION/json)"; \
	  echo "is not reachable from this machine (only the package index is). Run 'make audit' where it is."; \
	  [ -z "$(AUDIT_REQUIRED)" ]; \
	fi

# Five minutes of load on gunicorn + PostgreSQL (bench/load/run_load.py); not part of CI.
load: $(VENV)/.bench-installed translations
	$(BIN)/python bench/load/run_load.py $(LOAD_ARGS)

clean-venv:
	rm -rf $(VENV)
