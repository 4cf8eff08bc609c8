# One command sets up and runs the main flow (`make demo`), one sets up and runs the tests (`make test`).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.codesign-installed

.PHONY: setup demo test test-slow bench-robustness bench-crossbar bench-printed bench-printed-synthesis bench-fpga bench-sweep lint format clean

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

# printed classifiers on Cardio/RedWine/WhiteWine/Pendigits: exact 8-bit baselines (published table),
# then the co-design front per set vs the published ternary networks (2-12 min per set on 2 cores, ~35 min in all);
# then which accuracy should choose the fronts, judged on halves of the validation part (no test data);
# add REFERENCE_VERILOG=DIR to synthesise published RTL with the same flow and library
bench-printed: setup
	$(BIN)/python benchmarks/printed_uci.py $(if $(REFERENCE_VERILOG),--reference-verilog $(REFERENCE_VERILOG))
	$(BIN)/python benchmarks/printed_selection.py $$(dirname $$(ls benchmarks/results/printed_codesign/*/search_config.json))

# printed synthesis: area and run time per ABC script on codesign's designs and (REFERENCE_VERILOG=DIR)
# on the published exact RTL vs its Design Compiler area; PROVE=1 adds equivalence proofs
bench-printed-synthesis: setup
	$(BIN)/python benchmarks/printed_synthesis.py $(if $(REFERENCE_VERILOG),--reference-verilog $(REFERENCE_VERILOG)) $(if $(PROVE),--prove)

# FPGA estimate vs published hls4ml synthesis results (in-sample, held out by architecture and by
# tool version), estimate time per model, and rule4ml (own venv, ~3 min the first time) on the
# same held-out points; ~10 min
bench-fpga: setup
	$(BIN)/python benchmarks/fpga_calibration.py
	$(BIN)/python benchmarks/fpga_estimate_timing.py
	bash benchmarks/install_rule4ml.sh .venv-rule4ml
	KERAS_BACKEND=torch .venv-rule4ml/bin/python benchmarks/fpga_rule4ml.py

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
