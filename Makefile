# Two commands for a new user: `make demo` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of PyTorch goes in first: a bare `torch` requirement would pull GBs of CUDA packages.
TORCH  ?= torch==2.13.0
DEMO_ARGS ?= --overwrite
PYTEST_ARGS ?=

.PHONY: demo test bench clean

$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.core
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.core
	$(BIN)/sigxfer demo $(DEMO_ARGS)

test: $(VENV)/.test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Prints the tables of BENCHMARKS.md (fragments also land in bench/results/); about 70 min on 2 cores.
# Run it on quiet cores: two jobs sharing the machine give no timing figure.
bench: $(VENV)/.test
	mkdir -p bench/results
	$(BIN)/python bench/bench_speed.py > bench/results/speed.md
	$(BIN)/python bench/bench_allocator.py > bench/results/allocator.md
	$(BIN)/python bench/bench_auto.py --write bench/results/auto.md --json bench/results/auto.json
	$(BIN)/python bench/bench_deploy.py > bench/results/deploy.md
	$(BIN)/python bench/bench_audio.py > bench/results/audio.md
	$(BIN)/python bench/bench_backbone.py
	$(BIN)/python bench/bench_imaging.py --out bench/results/imaging.md
	$(BIN)/python bench/bench_ucr.py --strategies linear finetune:batchnorm=train finetune scratch --write bench/results/ucr.md --json bench/results/ucr.json
	$(BIN)/python bench/bench_compare.py --write bench/results/compare.md --out bench/results/compare

clean:
	rm -rf $(VENV) demo-output .pytest_cache
