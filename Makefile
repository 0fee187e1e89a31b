# Every target creates or refreshes .venv first, so `make run` and `make test`
# work on a fresh machine that has only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check lint types contracts pytest bench-import clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## serve the built-in demo data on http://127.0.0.1:3000
	$(BIN)/jsonserve $(ARGS)

test: check pytest  ## lint, types, import contracts, then the whole test suite

check: lint types contracts

lint: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests

types: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

# In-process suites (unit, web, and the API suite once per storage backend) run on two workers;
# the reliability suite (real servers killed mid-write, timing-sensitive) runs on its own.
PARALLEL := tests/unit tests/web tests/api tests/conformance tests/storage tests/cli tests/frontend
pytest: $(STAMP)
	$(BIN)/pytest -n 2 $(PARALLEL) $(PYTEST_ARGS)
	$(BIN)/pytest $(foreach dir,$(PARALLEL),--ignore=$(dir)) $(PYTEST_ARGS)

bench-import: $(STAMP)  ## 1M-record JSON -> SQLite import + read latency; writes docs/benchmarks.md
	$(BIN)/python bench/import_1m.py $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
