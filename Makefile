# Two commands for a newcomer: `make run` and `make test`. Everything else is a step of those two.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export APP_ENV ?= development
export REDIS_URL ?= redis://localhost:6379/0
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test bench redis-server clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.installed

# redis-server and espeak-ng (the captcha's audio) on PATH: Debian's packages when we may install them,
# else a one-line instruction.
redis-server:
	@{ command -v redis-server && command -v espeak-ng; } >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server espeak-ng >/dev/null; \
	  else echo "redis-server or espeak-ng is not on PATH: install them (Debian: sudo apt-get install redis-server espeak-ng; macOS: brew install redis espeak-ng)" >&2; exit 1; fi; }

# Web on :5000, worker, scheduler, a console mail sink on :1025 and Redis on :6379 (unless one already runs).
run: $(VENV)/.installed redis-server
	flask --app wsgi db upgrade
	@if python -m devtools.waitfor 127.0.0.1:6379 0.5 2>/dev/null; then \
	  echo "Using the Redis already running on localhost:6379"; \
	  exec honcho --procfile Procfile.dev start mail web worker scheduler; \
	else exec honcho --procfile Procfile.dev start; fi

test: $(VENV)/.installed-dev redis-server
	APP_ENV=testing $(BIN)/pytest

bench: $(VENV)/.installed-dev redis-server
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache
