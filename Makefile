# affiliates — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export AFFILIATES_ENV ?= development
export AFFILIATES_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test lint format bench install dev-install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

dev-install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

run: install
	$(BIN)/affiliates db upgrade
	$(BIN)/affiliates demo
	@echo "Serving on http://$(HOST):$(PORT) (Ctrl+C to stop)"
	$(BIN)/affiliates serve --host $(HOST) --port $(PORT)

test: dev-install
	$(BIN)/pytest

lint: dev-install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: dev-install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: dev-install
	$(BIN)/python bench/redirect.py
	$(BIN)/python bench/conversions.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
