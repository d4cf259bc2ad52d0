# The README's two commands: `make run` (the dashboard on the embedded demo) and `make test`.
# Both create or reuse .venv and install only what is missing, so a second call is quick.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# GPU=1: the CUDA build of the same TensorFlow (requirements-gpu.txt) instead of tensorflow-cpu.
GPU ?=
STAMP := $(VENV)/.painxai-installed$(if $(GPU),-gpu)
TEST_STAMP := $(VENV)/.painxai-test-installed
CHROMIUM := /usr/bin/chromium
export PYTHONDONTWRITEBYTECODE := 1

# The demo's folders and extra arguments; tests run the same recipes at a smoke size.
DATA_DIR ?= data/twin
RUN_DIR ?= artifacts/demo
DEMO_ARGS ?=
STREAMLIT_ARGS ?=

RUNTIME_VENV := .venv-runtime

.PHONY: run test setup setup-test demo serve lint typecheck bench clean check-runtime check-gpu-requirements

run: setup demo serve

# painxai serve starts loading the run's models with the server, before any browser opens the page.
serve: setup
	$(BIN)/painxai serve --run $(RUN_DIR) $(STREAMLIT_ARGS)

test: setup setup-test
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python -m pytest -q

setup: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-install when a requirements file changes; the face models come with the packages.
$(STAMP): $(VENV)/bin/python requirements.txt requirements-gpu.txt pyproject.toml
ifeq ($(GPU),1)
	$(BIN)/pip uninstall -q -y tensorflow-cpu 2>/dev/null || true
	grep -v '^tensorflow-cpu==' requirements.txt > $(VENV)/requirements-no-tensorflow.txt
	$(BIN)/pip install -q -r $(VENV)/requirements-no-tensorflow.txt -r requirements-gpu.txt
else
	$(BIN)/pip install -q -r requirements.txt
endif
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

# mypy on painxai/ (settings in pyproject.toml's [tool.mypy]; its cache in .mypy_cache makes a second run quick).
typecheck: setup setup-test
	$(BIN)/mypy

bench: setup
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(RUN_DIR) $(DATA_DIR)

# CI: the `make run` path in a second environment with only requirements.txt (no test packages): the smoke
# demo through to its audit, then one photo assessed by the dashboard's script.
check-runtime:
	rm -rf $(RUNTIME_VENV) && $(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/pip install -q -r requirements.txt
	$(RUNTIME_VENV)/bin/pip install -q --no-deps -e .
	$(RUNTIME_VENV)/bin/painxai faces fetch-models
	rm -rf $(RUNTIME_VENV)/smoke && $(RUNTIME_VENV)/bin/python .ci/runtime_smoke.py $(RUNTIME_VENV)/smoke

# CI: the GPU set-up resolves (a dry run reads the packages' metadata; the CUDA wheels are not downloaded).
check-gpu-requirements: setup
	grep -v '^tensorflow-cpu==' requirements.txt > $(VENV)/requirements-no-tensorflow.txt
	$(BIN)/pip install -q --dry-run --ignore-installed -r $(VENV)/requirements-no-tensorflow.txt -r requirements-gpu.txt
