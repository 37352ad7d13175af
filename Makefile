# Two commands on a fresh machine: `make demo` runs the demo pipeline, `make test` the tests.
# Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.stillroom-demo-installed
STAMP := $(VENV)/.stillroom-installed
# torch comes first, from its CPU-only index only (PIP_CONFIG_FILE=/dev/null drops configured
# extra indexes, whose CUDA builds would win; PIP_FIND_LINKS still applies): no multi-GB CUDA
# libraries. A GPU machine can point TORCH_INDEX elsewhere. --no-deps: torch's dependencies
# come with the extras, from the usual indexes.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: demo test lint docs bench clean browser

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The demo needs only the embedded model; the tests need every extra.
# No reachable registry has a prebuilt llama-cpp-python wheel, so the first install compiles
# llama.cpp: say so once, before it starts, and show the compiler's progress lines meanwhile.
BUILD_NOTE := First run: building llama-cpp-python, which compiles llama.cpp from source (about 5-8 minutes on 2 cores, only this once; later runs start in seconds).
BUILD_PROGRESS := ^ *\[ *[0-9]+(/[0-9]+|%)\]|^Successfully|[Ee]rror

$(DEMO_STAMP): pyproject.toml | $(VENV)/bin/python
	@$(BIN)/python -c 'import llama_cpp' 2>/dev/null || { echo '$(BUILD_NOTE)'; \
	  bash -o pipefail -c "$(BIN)/python -m pip install --verbose -e '.[local]' 2>&1 \
	    | grep --line-buffered -E '$(BUILD_PROGRESS)'"; }
	$(BIN)/python -m pip install --quiet -e '.[local]'
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	PIP_CONFIG_FILE=/dev/null $(BIN)/python -m pip install --quiet --retries 0 --timeout 10 \
		--no-deps --index-url $(TORCH_INDEX) torch
	$(BIN)/python -m pip install --quiet -e \
		'.[dev,local,parquet,hf,ray,minhash,hf-transformers,vertexai,litellm,transformers,sentence-transformers,faiss-cpu,text-clustering,tokenizers,argilla,mlx]'
	touch $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m stillroom demo

lint: $(STAMP)
	$(BIN)/ruff check src tests examples $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests examples $(wildcard benchmarks)
	$(BIN)/lint-imports
	$(BIN)/mypy

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

# The viewer's browser test drives Debian's chromium (Playwright's own browser download is
# not used). As root with apt-get, a missing chromium is installed first: about 110 MB, some
# about 50 s from a Debian mirror, once per machine; the test itself takes about 10 s. Otherwise
# the test is skipped, and pytest's summary (-ra) says why.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the viewer's browser test (~110 MB)"; \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || \
		 (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) || \
		echo "chromium could not be installed: the browser test will be skipped"; \
	else echo "no chromium and not root with apt-get: the browser test will be skipped"; fi

test: lint docs browser
	STILLROOM_REQUIRE_EXTRAS=1 $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) site .pytest_cache .ruff_cache
