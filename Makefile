# The two commands of the README:
#   make run   installs WattHub and runs it on an embedded SQLite database
#   make test  installs the development tools and runs every test (lint included)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install dev lint format clean

run: install
	$(BIN)/watthub serve --migrate

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

dev: $(VENV)/.dev-installed

$(VENV)/.dev-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

lint: dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: dev
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

# Three test processes: most of a test's time is spent waiting (sockets, commits, subprocesses),
# so even on two cores this cuts the suite from ~30 to ~8 minutes. PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 3

test: lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
