# Two commands on a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

# Message catalogs: .po files are in the repository, .mo files are built from them (docs/TRANSLATION.md).
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))

.PHONY: deps gettext browser run test test-faults test-prod lock lock-check lint messages check-messages services \
	bench soak bench-matchmaking bench-sessions clean

deps: $(VENV)/.installed $(MO_FILES)
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server from the OS packages"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server >/dev/null; }
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
		echo "installing nginx-light from the OS packages (the reverse-proxy test, docs/OPERATIONS.md)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx-light >/dev/null; }

gettext:
	@command -v msgfmt >/dev/null 2>&1 || { \
		echo "installing gettext from the OS packages (message catalogs)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq gettext >/dev/null; }

# What `manage.py compilemessages` does for one catalog, run only when its .po changed.
%.mo: %.po | gettext
	msgfmt --check-format --output-file $@ $<

browser:
	@[ -x /usr/bin/chromium ] || { \
		echo "installing chromium from the OS packages (browser tests in tests/e2e)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# Both locks, hashes checked: the runtime one is exactly what production installs.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements.txt -r requirements-dev.txt
	touch $@

run: deps
	$(PY) -m devstack run

test: deps browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check . docs/*.md
	./.ci/messages --check
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m devstack test $(PYTEST_ARGS)

test-faults: deps
	$(PY) -m devstack test tests/faults

messages: $(VENV)/.installed gettext
	./.ci/messages

check-messages: $(VENV)/.installed gettext
	./.ci/messages --check

# The service as production runs it: a fresh venv from the runtime lock only, DEBUG off, the
# release step, then the Procfile's processes as written, driven through a journey (tests/prod).
test-prod: deps
	$(PY) -m devstack test-prod

# Regenerate the locks from requirements.in / requirements-dev.in (pins kept where they still fit;
# LOCK_ARGS="--upgrade-package Django" to move one).
lock: deps
	$(PY) -m devstack.locks write $(LOCK_ARGS)

lock-check: deps
	$(PY) -m devstack.locks check

services: deps
	$(PY) -m devstack services

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check . docs/*.md
	$(VENV)/bin/lint-imports --no-cache

bench: deps
	BENCH_PROFILE=1 $(PY) -m devstack bench matchmaking sessions pairing_cost socket_cost load soak

# The load run's journeys for 10 minutes at its knee: throughput per minute and every process's RSS.
soak: deps
	$(PY) -m devstack bench soak

bench-matchmaking: deps
	$(PY) -m devstack bench matchmaking

bench-sessions: deps
	$(PY) -m devstack bench sessions

clean:
	rm -rf var .pytest_cache .ruff_cache
