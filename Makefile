# The README's commands. Each target creates .venv on first use and reinstalls
# when pyproject.toml changes (the stamp files below).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# After installing, compile the numba kernels once (later runs load them from disk).
PRECOMPILE := $(BIN)/python -c "import tessera.assign as a; a.precompile()"

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e .
	$(PRECOMPILE)
	touch $@

$(VENV)/.all: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[dev,bench,llm]'
	$(PRECOMPILE)
	touch $(VENV)/.core $@

demo: $(VENV)/.core
	$(BIN)/tessera demo --out out/demo

test: $(VENV)/.all
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

bench: $(VENV)/.all
	$(BIN)/python benchmarks/assign_bench.py

lint: $(VENV)/.all
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
