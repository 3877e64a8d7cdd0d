# The two commands a new machine needs: `make run` and `make test`. Both set up first.
SHELL := /bin/bash
VENV := .venv
BOT := $(VENV)/bin/bot
PY := $(VENV)/bin/python
# The queue's tests run on PostgreSQL too; every machine of this project has one here.
export BOT_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

.PHONY: setup lock run test lint format index clean

setup:
	@scripts/setup.sh

# Regenerate the lock files (requirements.txt, requirements-rasa.txt) from pyproject.toml and
# requirements-rasa.in; LOCK_ARGS go to pip-compile, e.g. LOCK_ARGS="--upgrade-package aiohttp".
lock:
	@scripts/lock.sh $(LOCK_ARGS)

index: setup
	@$(BOT) kb build

run: setup index  # the demo: a saved article goes live without a restart (kb_watch)
	@BOT_KB_WATCH=true BOT_WIDGET_PAGE_TOPICS='{"/products": "delivery times and returns"}' $(BOT) up

test: setup
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: setup
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

.PHONY: docs
# The settings and CLI references in docs/ are made from the code; a test fails when they drift.
docs: setup
	@$(BOT) docs

clean:
	rm -rf index/versions index/CURRENT index/.build.lock index/parse-cache.pickle .pytest_cache test-artifacts
