# Two commands for a newcomer: `make run` and `make test`. Everything else is a step of those two.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
export APP_ENV ?= development
export REDIS_URL ?= redis://localhost:6379/0
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test check test-sqlite test-postgres bench screenshots run-packages test-packages translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.installed

# System programs (Debian packages, apt when root; otherwise a one-line instruction): devtools/system-packages.
run-packages:
	@devtools/system-packages run

test-packages:
	@devtools/system-packages test

# The OpenID Connect provider the sign-in tests start (tests/oidc/provider.mjs): npm's oidc-provider, as locked.
OIDC_MODULES := tests/oidc/node_modules/.installed
$(OIDC_MODULES): tests/oidc/package.json tests/oidc/package-lock.json | test-packages
	npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
	touch $@

# Web on :5000, worker, worker-bulk, scheduler, a console mail sink on :1025 and Redis on :6379 (unless one already runs).
run: $(VENV)/.installed run-packages
	flask --app wsgi db upgrade
	@if python -m devtools.waitfor 127.0.0.1:6379 0.5 2>/dev/null; then \
	  echo "Using the Redis already running on localhost:6379"; \
	  exec honcho --procfile Procfile.dev start mail web worker worker-bulk scheduler; \
	else exec honcho --procfile Procfile.dev start; fi

# The whole suite twice: on SQLite, then on a PostgreSQL server started for the run (tests/postgres.py).
test: test-sqlite test-postgres

test-sqlite: $(VENV)/.installed-dev test-packages $(OIDC_MODULES)
	APP_ENV=testing $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.installed-dev test-packages $(OIDC_MODULES)
	APP_ENV=testing $(BIN)/python -m tests.postgres $(BIN)/pytest $(PYTEST_ARGS)

# The edit-and-test loop: every test that starts no Procfile process, browser or database server (under a minute).
check: $(VENV)/.installed-dev run-packages
	APP_ENV=testing $(BIN)/pytest -m "not processes" -q $(PYTEST_ARGS)

# After changing a translatable string: extract them all, merge them into the Chinese catalogue, translate
# what is new or marked fuzzy in app/translations/zh/LC_MESSAGES/messages.po, then run this again to
# compile the .mo (committed: the Procfile's processes read it as it is; tests/test_i18n.py checks both).
translations: $(VENV)/.installed
	pybabel extract -F babel.cfg -k _l --no-location --omit-header -o app/translations/messages.pot .
	pybabel update -i app/translations/messages.pot -d app/translations --ignore-pot-creation-date
	pybabel compile -d app/translations --statistics

bench: $(VENV)/.installed-dev run-packages
	$(BIN)/python -m bench

# docs/screenshots/*.png from a stack of its own on free ports (SHOTS="login account" for only those).
screenshots: $(VENV)/.installed-dev test-packages
	$(BIN)/python -m devtools.screenshots $(SHOTS)

clean:
	rm -rf $(VENV) instance .pytest_cache
