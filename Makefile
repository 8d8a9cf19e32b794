# The two commands a new user needs: `make demo` and `make test`.
# Both create their own virtual environment from the project's own files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports check serve clean bench-smoke bench-drill bench-throughput screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m perci_sim.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck imports test

bench-smoke: $(STAMP)
	$(BIN)/python bench/exchange.py --orders 40 --concurrency 4 --max-seconds 60
	$(BIN)/python bench/drill.py --scenario scenarios/small-crisis.yaml --probe-orders 3 --probe-load 20
	$(BIN)/python bench/throughput.py --smoke --json-only

# The Referral Action Day drill (about 26,000 referrals) and the deadline-lateness probes.
bench-drill: $(STAMP)
	$(BIN)/python bench/drill.py

# Issue 5's throughput goals: SQLite, PostgreSQL (with PERCI_TEST_DATABASE_URL or
# --postgres), one broker and two replicas, 100,000 open deadlines (bench/README.md).
bench-throughput: $(STAMP)
	$(BIN)/python bench/throughput.py

# The dashboard screenshots the README shows (docs/images), from the browser tests.
screenshots: $(STAMP)
	PERCI_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q tests/browser/test_dashboard_e2e.py tests/browser/test_dashboard_readers.py

serve: $(STAMP)
	$(BIN)/perci-sim serve

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
