# mbcnav — the two commands a fresh machine needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest bench examples clean docs-img

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/mbcnav assess examples/fhir/02-recurrence-on-adjuvant-ai.json
	$(BIN)/mbcnav assess examples/cases/04-her2-positive-brain.yaml
	$(BIN)/mbcnav options examples/cases/07-her2-low-after-cdk46.yaml
	$(BIN)/mbcnav response examples/cases/04-her2-positive-brain.yaml --plot out/plots
	$(BIN)/mbcnav response examples/fhir --format json --plot out/plots > out/cohort-response.json
	@echo "plots written to out/plots (spider, swimmer, waterfall)"
	@if [ -d ../shared/data/trials ]; then \
	  $(BIN)/mbcnav trials load ../shared/data/trials --db sqlite:///out/trials.db && \
	  $(BIN)/mbcnav trials match examples/cases/07-her2-low-after-cdk46.yaml --db sqlite:///out/trials.db --top 5; \
	else echo "(../shared/data/trials not found: trial matching demo skipped)"; fi

# The README's pictures: the demo's plots, made for a fixed date so they do not change from day to day.
docs-img: $(STAMP)
	$(BIN)/mbcnav response examples/cases/04-her2-positive-brain.yaml --plot docs/img --as-of 2026-11-26 > /dev/null
	$(BIN)/mbcnav response examples/fhir --format json --plot docs/img --as-of 2026-11-26 > /dev/null

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(DEVSTAMP)
	$(BIN)/mypy

pytest: $(DEVSTAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_assess.py
	$(BIN)/python benchmarks/bench_response.py
	$(BIN)/python benchmarks/bench_options.py
	$(BIN)/python benchmarks/bench_trials_load.py
	$(BIN)/python benchmarks/bench_trials_match.py
	$(BIN)/python benchmarks/fuzz_inputs.py

examples: $(STAMP)
	$(BIN)/python scripts/build_examples.py

clean:
	rm -rf $(VENV) build out *.egg-info .pytest_cache .mypy_cache .ruff_cache
