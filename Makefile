# The two commands a new machine needs: `make run` and `make test`. Both set up first.
SHELL := /bin/bash
VENV := .venv
BOT := $(VENV)/bin/bot
PY := $(VENV)/bin/python

.PHONY: setup run test lint format index clean

setup:
	@scripts/setup.sh

index: setup
	@$(BOT) kb build

run: setup index
	@$(BOT) serve

test: setup
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: setup
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

clean:
	rm -rf index/versions index/CURRENT index/.build.lock .pytest_cache test-artifacts
