# Two commands do all the set-up: `make demo` and `make test`.
PY ?= python3
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench stress clean

# pip's warnings about unusable local index folders on some machines are noise: filter them,
# but keep pip's exit status (pipefail).
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	set -o pipefail; $(BIN)/pip install --quiet --upgrade pip 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	set -o pipefail; $(BIN)/pip install --quiet -e '.[test]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(BIN)/python -m compileall -q src >/dev/null  # an editable install is not byte-compiled
	touch $(STAMP)

demo: $(STAMP)
	@bash examples/demo.sh

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -q -n 2  # two workers: every test has its own databases, so they run side by side

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

# The benchmark (README "Benchmark", DESIGN §9): writes bench/RESULTS.md. The whole run takes
# about half an hour; e.g. `make bench BENCH_SIZES=1000,10000 BENCH_DB=sqlite` for a quick one.
BENCH_SIZES ?= 1000,10000,50000
BENCH_DB ?= both
BENCH_REPEAT ?= 3
bench: $(STAMP)
	$(BIN)/python bench/run.py --sizes $(BENCH_SIZES) --db $(BENCH_DB) --repeat $(BENCH_REPEAT)

# The long variants: every kill delay, 100 kills per backend, repeated races, 400 hypothesis
# examples per property, 5,000 fuzz inputs with a fresh (printed) seed.
stress: $(STAMP)
	DECISIONFORM_STRESS=1 $(BIN)/pytest -q -n 2 -m "slow"
	DECISIONFORM_STRESS=1 $(BIN)/pytest -q -n 2 -m "not slow" tests/hardening

clean:
	rm -rf $(VENV) build *.egg-info decisionform.db
