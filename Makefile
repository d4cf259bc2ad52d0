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

# The demo's folders and extra arguments; tests run the same recipes at a smoke size.
DATA_DIR ?= data/twin
RUN_DIR ?= artifacts/demo
DEMO_ARGS ?=
STREAMLIT_ARGS ?=

.PHONY: run test setup setup-test demo serve lint bench clean

run: setup demo serve

serve: setup
	$(BIN)/streamlit run app.py $(STREAMLIT_ARGS) -- --run $(RUN_DIR)

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
	$(BIN)/painxai demo --data $(DATA_DIR) --out $(RUN_DIR) $(DEMO_ARGS)

lint:
	$(BIN)/ruff check .

bench: setup
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(RUN_DIR) $(DATA_DIR)
