# ladle's two quick-start commands, and the checks CI runs.
#   make demo   set up .venv and run the seed walkthrough on the bundled SmolLM2: build
#               sre-bot, serve it, ask it one question with curl, stop the server
#   make test   set up .venv and run the whole test suite (ruff, mypy, pytest)
#   make bench  run every benchmark (under 20 minutes on 2 cores), save
#               bench/results/<date>-<host>.json, regenerate docs/BENCHMARKS.md and its charts
#   make bench-quick  a smoke run of the same harness (about 2 minutes): its results and
#               report go to bench/results/<date>-<host>-quick.{json,md}, never to docs/
#   make soak   only the soak that ends make bench: 3 minutes of valid and hostile traffic
#               at once against ladle serve; its section of docs/BENCHMARKS.md

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ladle-installed
BENCH_STAMP := $(VENV)/.ladle-bench-installed
# CMake arguments for the source build of llama-cpp-python on this CPU, in front of the
# user's CMAKE_ARGS: empty except on CPUs with AMX (.ci/llama_cmake_args.sh says why).
LLAMA_CMAKE_ARGS := $(shell sh .ci/llama_cmake_args.sh)
PIP_INSTALL := $(BIN)/python -m pip install
# Where the demo's server listens (LADLE_HOST); another port if an Ollama holds 11434.
DEMO_HOST ?= 127.0.0.1:11434

.PHONY: demo test lint pytest bench bench-quick soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python built with ladle's patches to llama.cpp (llama-cpp/README.md): the
# wheel is kept in ~/.cache/ladle/wheels, so only the first run builds it. It is installed
# before ladle, so pip finds the requirement met and never builds llama-cpp-python itself.
LLAMA_WHEEL := llama-cpp/wheel.py $(wildcard llama-cpp/patches/*.patch)
WHEEL_INSTALL := $(if $(LLAMA_CMAKE_ARGS),CMAKE_ARGS="$(LLAMA_CMAKE_ARGS) $$CMAKE_ARGS") \
	$(BIN)/python llama-cpp/wheel.py

# Reinstall when the project's metadata or the patches change; pip keeps wheels in its cache.
$(STAMP): pyproject.toml $(LLAMA_WHEEL) | $(BIN)/python
	$(WHEEL_INSTALL)
	$(PIP_INSTALL) --quiet -e '.[test,models]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ladle check examples/*/Modelfile
	$(BIN)/ladle fmt --check examples/*/Modelfile
	$(BIN)/ladle create sre-bot -f examples/sre-bot/Modelfile
	$(BIN)/ladle list
	$(BIN)/ladle show sre-bot
	@echo "ladle serve (in the background on $(DEMO_HOST); its log: .ladle-serve.log)"
	@LADLE_HOST=$(DEMO_HOST) $(BIN)/ladle serve 2> .ladle-serve.log & server=$$!; \
	trap 'kill -TERM $$server 2>/dev/null; wait $$server 2>/dev/null || true' EXIT; \
	LADLE_HOST=$(DEMO_HOST) $(BIN)/python examples/sre-bot/ask.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy llama-cpp/wheel.py
	$(BIN)/lint-imports --no-logo

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint pytest

# The benchmarks also need the bench extra: llama_cpp.server's dependencies and matplotlib.
$(BENCH_STAMP): pyproject.toml $(LLAMA_WHEEL) | $(BIN)/python
	$(WHEEL_INSTALL)
	$(PIP_INSTALL) --quiet -e '.[test,models,bench]'
	touch $(STAMP) $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.soak --report docs/BENCHMARKS.md

soak: $(BENCH_STAMP)
	$(BIN)/python -m bench.soak --report docs/BENCHMARKS.md

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
