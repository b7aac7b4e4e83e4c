# affiliates — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export AFFILIATES_ENV ?= development
export AFFILIATES_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test lint format bench messages install dev-install clean

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

# The pages' strings: extract them, merge them into each language's catalogue, compile the
# .mo files (committed, so a clean clone needs no build step). Translate, then run it again.
messages: dev-install
	$(BIN)/pybabel extract -F babel.cfg -k _l --no-location --sort-output --project affiliates \
		--copyright-holder affiliates -o affiliates/translations/messages.pot .
	$(BIN)/pybabel update -i affiliates/translations/messages.pot -d affiliates/translations \
		-w 100 --ignore-obsolete
	$(BIN)/pybabel compile -d affiliates/translations --statistics

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
