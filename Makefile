# `make demo` and `make test` set everything up on a fresh machine (idempotent: a second run installs nothing).
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
# One stamp per torch requirement, so that `make test TORCH=...` installs the one asked for.
TORCH_STAMP := $(VENV)/.torch-$(shell printf '%s' '$(TORCH)' | tr -c 'A-Za-z0-9._-' '_')

.PHONY: demo test bench bench-icl bench-fewshot clean

demo: $(VENV)/.installed-demo
	$(BIN)/python scripts/demo.py

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/sentiment_sst2.py --data_dir ../shared/data/sst2

bench-icl: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/icl_throughput.py --data_dir ../shared/data/sst2

# 0/1/4/8 shots x 5 seeds, calibrated and not, on SST-2 validation (about 20 minutes on 2 CPU cores)
bench-fewshot: $(VENV)/.installed-dev
	$(BIN)/python scripts/fewshot.py --model_name_or_path packaged:SmolLM2-135M-Instruct \
	    --train_file ../shared/data/sst2/train.jsonl --validation_file ../shared/data/sst2/validation.jsonl \
	    --shots 0 1 4 8 --num_seeds 5 --calibrate --output_dir outputs/fewshot-sst2

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first and alone: an unpinned torch from a dependency would pull gigabytes of CUDA packages.
$(TORCH_STAMP): | $(BIN)/python
	$(PIP) install "$(TORCH)"
	touch $@

$(VENV)/.installed-demo: pyproject.toml $(TORCH_STAMP)
	$(PIP) install -e ".[offline-models]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(TORCH_STAMP)
	$(PIP) install -e ".[dev,offline-models,bench]"
	touch $@

clean:
	rm -rf $(VENV) outputs .pytest_cache
