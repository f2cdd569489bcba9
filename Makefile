# Two commands on a fresh machine:  `make demo` (the main job) and `make test` (the suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install bench clean

$(BIN)/closeloop: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@

install: $(BIN)/closeloop

## The main job: migrate a local SQLite database, import the bundled real samples, print the figures.
demo: install
	$(BIN)/closeloop db upgrade
	$(BIN)/closeloop import examples/cfpb_sample.csv examples/nyc311_sample.csv
	$(BIN)/closeloop stats

## The test suite (SQLite always; PostgreSQL too when CLOSELOOP_TEST_PG_URL is set, as in CI).
test: install
	$(BIN)/python -m pytest -n 2 -q

bench: install
	$(BIN)/python bench/import.py

clean:
	rm -rf $(VENV) closeloop.db closeloop.db-wal closeloop.db-shm .pytest_cache
