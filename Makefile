# Every target creates or refreshes .venv first, so `make run` and `make test`
# work on a fresh machine that has only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check lint types contracts pytest pytest-inprocess pytest-reliability pytest-timed reliability bench bench-import clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## serve the built-in demo data on http://127.0.0.1:3000
	$(BIN)/jsonserve $(ARGS)

# The checks, the in-process suites and the reliability suite run side by side (make -j, output kept
# per target): each spends much of its time waiting (for commits to reach the disk, for servers to
# start and stop), so together they keep two cores busy. The timed tests run alone afterwards.
test: $(STAMP)  ## lint, types, import contracts, then the whole test suite
	$(MAKE) --no-print-directory -j3 --output-sync=target check pytest-inprocess pytest-reliability
	$(MAKE) --no-print-directory pytest-timed

check: lint types contracts

lint: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests

types: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

# In-process suites (unit, web, and the API suite once per storage backend) run on xdist workers; so
# does the reliability suite (real servers killed mid-write, loaded, fed bad input), a whole file per
# worker (a module may share one server), except what is timed or must catch a short window (the
# kill -9 aimed at a compaction busy-polls for a temporary file), which runs alone afterwards.
# Three workers on two cores: the workers spend much of their time waiting for PostgreSQL's and
# SQLite's commits to reach the disk, so a third keeps the CPUs busy (measured on 2 x AMD EPYC: the
# in-process suites 208 s on two workers, 157 s on three, 167 s on four; the reliability suite 186 s
# on two, 153 s on three).
# The in-process run measures branch coverage and fails under [tool.coverage.report] fail_under.
# The conformance suites (schemathesis, the differential runs against the reference evaluator: some
# 200 s of worker time) and the browser tests (Chromium against servers in subprocesses, which
# measure no coverage) run with the reliability suite, which ended minutes before the in-process
# suites did. Measured: in-process 566 s, the other half 413 s (the in-process half is still the long one).
# Tiers (docs/reliability.md): JSONSERVE_TIER=ci (the default) sizes the reliability tests for this
# target and skips tests marked `long`; JSONSERVE_RELIABILITY_RESULTS=FILE collects their figures.
WORKERS  ?= 3
PARALLEL := tests/unit tests/web tests/api tests/storage tests/cli tests/plugin
TIMED    := tests/reliability/test_slow_clients.py tests/reliability/test_watch.py tests/reliability/test_soak.py \
            tests/reliability/test_realtime_slow_subscriber.py
AIMED    := tests/reliability/test_kill9.py::test_kill9_during_a_compaction
pytest: pytest-inprocess pytest-reliability pytest-timed  ## the whole test suite, one part after another
pytest-inprocess: $(STAMP)
	$(BIN)/pytest -n $(WORKERS) --cov --cov-report=term $(PARALLEL) $(PYTEST_ARGS)
pytest-reliability: $(STAMP)
	$(BIN)/pytest -n $(WORKERS) --dist loadfile tests/reliability tests/conformance tests/frontend $(foreach f,$(TIMED),--ignore=$(f)) --deselect $(AIMED) $(PYTEST_ARGS)
pytest-timed: $(STAMP)
	$(BIN)/pytest $(TIMED) $(AIMED) $(PYTEST_ARGS)

# The long tier (about an hour on 2 cores): the whole reliability suite at full size (D1: 200 kill -9
# trials per backend), then every test marked `long` elsewhere (F1: schemathesis, 100 examples per
# operation per backend). The figures go to $(RESULTS); the table is written into docs/reliability.md
# even when a test fails (its row says FAIL), and the target then fails.
RESULTS := build/reliability-results.jsonl
reliability: $(STAMP)  ## the long reliability tier; writes the summary table into docs/reliability.md
	mkdir -p $(dir $(RESULTS)) && rm -f $(RESULTS)
	export JSONSERVE_TIER=long JSONSERVE_RELIABILITY_RESULTS=$(CURDIR)/$(RESULTS); status=0; \
	$(BIN)/pytest tests/reliability $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/pytest -m long tests --ignore=tests/reliability $(PYTEST_ARGS) || { s=$$?; [ $$s -eq 5 ] || status=$$s; }; \
	$(BIN)/python -m tests.reliability.summary --write --run "make reliability" $(RESULTS) || status=$$?; \
	exit $$status

# Side by side with json-server 0.17 and 1.x, a bare Starlette app, and jsonserve on each backend
# (about 30 minutes; installs wrk from Debian and json-server + node from npm into bench/.tools).
# Not part of `make test`. Writes bench/results.json, docs/benchmarks.md and docs/benchmarks.png.
bench: $(STAMP)  ## benchmarks against json-server; writes docs/benchmarks.md
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py $(ARGS)
	$(BIN)/python bench/report.py

bench-import: $(STAMP)  ## 1M-record JSON -> SQLite import + read latency; writes docs/benchmarks.md
	$(BIN)/python bench/import_1m.py $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
