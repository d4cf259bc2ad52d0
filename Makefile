# The README's two commands: `make run` (the dashboard on the embedded demo) and `make test`.
# Both create or reuse .venv and install only what is missing, so a second call is quick.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.painxai-installed
TEST_STAMP := $(VENV)/.painxai-test-installed
CHROMIUM := /usr/bin/chromium
export PYTHONDONTWRITEBYTECODE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test setup setup-test demo lint bench clean

run: setup demo
	$(BIN)/streamlit run app.py -- --run artifacts/demo

test: setup setup-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

setup: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-install when either requirements file changes; the face models come with the packages.
$(STAMP): $(VENV)/bin/python requirements.txt pyproject.toml
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/painxai faces fetch-models
	touch $@

setup-test: $(TEST_STAMP) $(CHROMIUM)

$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

# Browser tests use Debian's chromium, never a browser downloaded by Playwright.
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

# Generate the synthetic twin, its folds, and train the demo profile; every step resumes.
demo: setup
	$(BIN)/painxai demo --data data/twin --out artifacts/demo

lint:
	$(BIN)/ruff check .

bench: setup
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf artifacts/demo data/twin
