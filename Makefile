# mbcnav — the two commands a fresh machine needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest bench examples clean docs-img browser

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
	  $(BIN)/mbcnav trials load ../shared/data/trials && \
	  $(BIN)/mbcnav trials match examples/cases/07-her2-low-after-cdk46.yaml --top 5; \
	else echo "(../shared/data/trials not found: trial matching demo skipped)"; fi
	$(BIN)/mbcnav import examples/fhir
	@echo "the example patients are in the registry: start the service with '$(BIN)/mbcnav serve' and open the link it prints"

# The README's pictures: the demo's plots, made for a fixed date so they do not change from day to day.
docs-img: $(STAMP)
	$(BIN)/mbcnav response examples/cases/04-her2-positive-brain.yaml --plot docs/img --as-of 2026-11-26 > /dev/null
	$(BIN)/mbcnav response examples/fhir --format json --plot docs/img --as-of 2026-11-26 > /dev/null

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(DEVSTAMP)
	$(BIN)/mypy

# System tools the tests use, from Debian's packages: a real headless Chromium for the web page (not a browser
# downloaded by a test tool) and poppler's pdftoppm to render the PDF summaries' pages.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_TOOLS := chromium:chromium pdftoppm:poppler-utils
browser:
	@missing=""; for t in $(APT_TOOLS); do command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t##*:}"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get install -y --no-install-recommends $$missing >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y --no-install-recommends $$missing >/dev/null; }; fi

pytest: $(DEVSTAMP) browser
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_assess.py
	$(BIN)/python benchmarks/bench_response.py
	$(BIN)/python benchmarks/bench_options.py
	$(BIN)/python benchmarks/bench_trials_load.py
	$(BIN)/python benchmarks/bench_trials_match.py
	$(BIN)/python benchmarks/fuzz_inputs.py
	$(BIN)/python benchmarks/bench_service.py --seconds 5

examples: $(STAMP)
	$(BIN)/python scripts/build_examples.py

clean:
	rm -rf $(VENV) build out *.egg-info .pytest_cache .mypy_cache .ruff_cache
