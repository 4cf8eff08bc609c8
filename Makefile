# One command sets up and runs the main flow (`make demo`), one sets up and runs the tests (`make test`).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.codesign-installed

.PHONY: setup demo test test-slow bench-robustness bench-crossbar bench-printed bench-fpga bench-sweep lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: it is the CPU build available here; any other torch pulls CUDA wheels.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python flows/quickstart.py

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

# fault-aware vs plain QAT on pendigits and cardio (UCI files from ../shared/data/uci), ~5-10 min
bench-robustness: setup
	$(BIN)/python flows/fault_aware_training.py --out runs/fault_aware

# crossbar Monte-Carlo vs IBM aihwkit 1.2 (C++ and torch tiles; built from source, ~6 min the first time)
# and float torch, fresh read noise, 1 and 2 threads, median of 5 runs: ~10 min; writes
# benchmarks/results/crossbar_throughput.json (benchmarks/crossbar_profile.py: where the time goes)
bench-crossbar: setup
	bash benchmarks/install_aihwkit.sh $(VENV)
	$(BIN)/python benchmarks/crossbar_throughput.py

# bespoke printed MLPs on Cardio/RedWine/WhiteWine/Pendigits vs the published table, ~10 min;
# add REFERENCE_VERILOG=DIR to synthesise published RTL with the same flow and library
bench-printed: setup
	$(BIN)/python benchmarks/printed_uci.py $(if $(REFERENCE_VERILOG),--reference-verilog $(REFERENCE_VERILOG))

# FPGA estimate vs published hls4ml synthesis results (per-metric error, leave-one-model-out)
bench-fpga: setup
	$(BIN)/python benchmarks/fpga_calibration.py

# 100-trial sweep with 2 processes; 1, 2, 4 Ray workers on a local 2-node cluster with the study on PostgreSQL;
# chip instances/s of the distributed crossbar Monte-Carlo with 1, 2, 4 Ray workers (bit-identical to one process)
bench-sweep: setup
	$(BIN)/python benchmarks/sweep_scaling.py

lint: setup
	$(BIN)/ruff check codesign flows tests examples benchmarks

format: setup
	$(BIN)/ruff format codesign flows tests examples benchmarks

clean:
	rm -rf $(VENV) runs build dist *.egg-info .pytest_cache .ruff_cache
