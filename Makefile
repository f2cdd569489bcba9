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

## The main job: replay the bundled real samples (CFPB, NYC 311) through the whole lifecycle in
## simulated time; prints the figures and writes out/replay/summary.json and out/replay/report.html.
demo: install
	$(BIN)/closeloop replay --out out/replay

## The test suite (SQLite always; PostgreSQL too when CLOSELOOP_TEST_PG_URL is set, as in CI).
test: install
	$(BIN)/python -m pytest -n 2 -q

bench: install
	$(BIN)/python bench/import.py

clean:
	rm -rf $(VENV) closeloop.db closeloop.db-wal closeloop.db-shm .pytest_cache
