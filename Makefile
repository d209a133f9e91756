# connect: `make run` serves the app, `make test` runs every suite, `make bench` measures.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5000
export FLASK_APP := wsgi
# Local runs, tests, benches and the demo use the development settings (instance keys, SQLite
# by default); unset, CONNECT_ENV means production (docs/deploy.md).
export CONNECT_ENV ?= development

.PHONY: run test lint fuzz bench loadtest setup test-setup migrate clean translations catalogs dist lock

# constraints.txt pins every package (`make lock` makes it): all machines install the same.
# uv installs them (18 s on a fresh machine where pip took 85 s); pip is the fallback.
UV := 'uv>=0.13,<0.14'
$(VENV)/.installed: pyproject.toml constraints.txt
	tools/install-system-deps.sh run
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(UV)
	$(VENV)/bin/uv pip install --quiet --python $(PY) -c constraints.txt -e '.[test,bench]' \
		|| $(PY) -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	touch $@

$(VENV)/.system-test: tools/install-system-deps.sh
	tools/install-system-deps.sh test
	touch $@

connect/static/vendor/.built: package.json package-lock.json tools/build-vendor.sh
	tools/build-vendor.sh
	touch $@

translations:
	@$(VENV)/bin/pybabel compile -d connect/translations > /dev/null

setup: $(VENV)/.installed connect/static/vendor/.built translations

# Re-extract the page strings into the catalogues after changing templates or code.
catalogs: setup
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -o connect/translations/messages.pot .
	$(VENV)/bin/pybabel update -N -i connect/translations/messages.pot -d connect/translations

test-setup: setup $(VENV)/.system-test

# The one artefact a host installs (docs/deploy.md): a wheel in dist/ with the templates, the
# static files with Leaflet, the compiled catalogues and the migrations. Install it with
# `pip install -c constraints.txt dist/connect-*.whl`.
dist: setup
	tools/build-wheel.sh dist

# Re-resolves pyproject.toml's ranges (runtime, test and bench) for Linux x86_64 and Python 3.11
# into constraints.txt, keeping the pins that still fit; LOCK_ARGS=--upgrade takes the newest.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(UV)
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --extra bench --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock' \
		--quiet $(LOCK_ARGS) -o constraints.txt

migrate: setup
	$(VENV)/bin/flask db upgrade

# A local demo over plain http: a Secure session cookie would never come back, so it is off.
# The three processes of a deployment (docs/deploy.md): the web server, the outbox worker
# (notifications) and the scheduler (expiry, reminders, purge); Ctrl-C stops all three.
run: migrate
	@if [ "$${DEMO_DATA:-1}" != "0" ]; then $(VENV)/bin/flask connect seed; fi
	@echo "connect is serving on http://127.0.0.1:$(PORT) (with its outbox worker and scheduler)"
	@$(VENV)/bin/flask connect worker & worker=$$!; \
	$(VENV)/bin/flask connect scheduler & scheduler=$$!; \
	trap 'kill $$worker $$scheduler 2>/dev/null; wait' EXIT; \
	PORT=$(PORT) SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-false} \
		$(VENV)/bin/gunicorn --config gunicorn.conf.py wsgi:app

# Unit and integration tests on TEST_WORKERS processes (each starts its own throwaway
# PostGIS), then the browser suite, a module per process (each module serves its own seeded
# app; the axe and page-weight results merge under a lock). PYTEST_ARGS runs just what it
# names, in one process.
TEST_WORKERS ?= 2
test: test-setup
ifeq ($(strip $(PYTEST_ARGS)),)
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal tests/unit tests/integration
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile tests/browser
else
	$(PY) -m pytest $(PYTEST_ARGS)
endif

# Lint and format check (ruff, configured in pyproject.toml); `.venv/bin/ruff format .` fixes
# the formatting, `.venv/bin/ruff check --fix .` what it can of the rest.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# A long fuzz of the JSON API from its OpenAPI document with random seeds (make test runs a
# short fixed one): FUZZ_EXAMPLES examples per operation, mode and role, FUZZ_STEPS per chain.
FUZZ_EXAMPLES ?= 300
FUZZ_STEPS ?= 50
fuzz: test-setup
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_STEPS=$(FUZZ_STEPS) \
		$(PY) -m pytest tests/integration/test_fuzz.py -rP

bench: test-setup
	$(PY) tools/pgcluster.py run -- $(PY) bench/bench.py $(BENCH_ARGS)

# gunicorn on PostGIS with 1 M requests under wrk and Locust (loadtest/run.py; LOADTEST_REQUESTS,
# LOADTEST_VOLUNTEERS, LOADTEST_SECONDS, LOADTEST_USERS size it); writes instance/loadtest-report.md.
loadtest: test-setup
	tools/install-system-deps.sh loadtest
	$(PY) tools/pgcluster.py run -- $(PY) loadtest/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache build dist
