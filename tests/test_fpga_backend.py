"""FPGA backend through the registry and the CLI: analytical estimates and verified exports."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from graphs import qkeras_mlp, save

from codesign.backends import backend_for
from codesign.backends.fpga.layerstats import csd_digits
from codesign.cards import load_card
from codesign.cli import main
from codesign.errors import CodesignError
from codesign.ir.loader import load


@pytest.fixture(scope="module")
def jet(tmp_path_factory):
    return load(save(qkeras_mlp(quantized_input=True), tmp_path_factory.mktemp("fpga") / "jet.onnx"))


def test_csd_digit_counts() -> None:
    assert csd_digits(np.array([0, 1, 2, 3, 7, -7, 15, 5, 11])).tolist() == [0, 1, 1, 2, 2, 2, 2, 2, 3]


def test_estimate_has_units_breakdown_and_fit(jet) -> None:
    card = load_card("alveo-u250")
    estimate = backend_for("fpga", card).estimate(jet, card)
    assert estimate.target == "fpga" and estimate.method == "analytical"
    assert estimate.resources["fits"] == 1.0 and estimate.resources["lut"] > 0
    assert estimate.power_w > card.power.static.value
    assert estimate.energy_j == pytest.approx(estimate.power_w * estimate.latency_s)
    assert estimate.area_mm2 == pytest.approx(sum(estimate.breakdown["area_mm2"].values()))
    assert estimate.latency_s == pytest.approx(estimate.resources["latency_cycles"] * card.clock.period.value)
    layers_ff = sum(value["ff"] for key, value in estimate.breakdown.items() if key.startswith("layer."))
    interface_ff = estimate.breakdown["top_interface"]["ff"]
    assert interface_ff > 0 and estimate.resources["ff"] == layers_ff + interface_ff


def test_estimates_move_the_right_way_with_bits_and_reuse(tmp_path: Path, jet) -> None:
    card = load_card("alveo-u250")
    backend = backend_for("fpga", card)
    base = backend.estimate(jet, card)
    reused = backend.estimate(jet, card, reuse_factor=4)
    # Latency strategy: reuse only caps multipliers; shift-and-add constants are not shared
    assert reused.resources["lut"] <= base.resources["lut"]
    # a layer pipelined at II = R accepts its next input once done: II = min(R, slowest layer latency + 1)
    slowest = max(value["latency_cycles"] for key, value in reused.breakdown.items() if key.startswith("layer."))
    assert reused.resources["ii_cycles"] == min(4, slowest + 1) > 1
    # Resource strategy: generic multipliers shared R times, behind operand multiplexers; at R = 4 they can cost
    # more than the constant shift-and-add products of the Latency strategy, at R = 16 they cost less
    shared = backend.estimate(jet, card, reuse_factor=16, strategy="Resource")
    assert shared.resources["lut"] < base.resources["lut"] and shared.latency_s > base.latency_s
    less_shared = backend.estimate(jet, card, reuse_factor=4, strategy="Resource")
    assert less_shared.resources["lut"] > shared.resources["lut"] and less_shared.latency_s < shared.latency_s
    narrow = load(save(qkeras_mlp(bits=3, quantized_input=True), tmp_path / "narrow.onnx"))
    assert backend.estimate(narrow, card).resources["lut"] < base.resources["lut"]
    wide_layers = tuple(replace(layer, weight_quant=replace(layer.weight_quant, bits=12),
                                input_quant=replace(layer.input_quant, bits=12)) for layer in jet.layers)
    wide = backend.estimate(replace(jet, layers=wide_layers), card)
    assert wide.resources["dsp"] > 0 and base.resources["dsp"] == 0  # only wide products use DSPs


def test_too_small_part_is_a_clear_report(tmp_path: Path, jet, capsys) -> None:
    card = load_card("pynq-z2")
    estimate = backend_for("fpga", card).estimate(jet, card)
    assert estimate.resources["fits"] == 0.0 and any("DOES NOT FIT" in a for a in estimate.assumptions)
    model = save(qkeras_mlp(quantized_input=True), tmp_path / "jet.onnx")
    out = tmp_path / "prj"
    assert main(["export", str(model), "--target", "fpga", "--card", "pynq-z2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not fit" in err and len(err.splitlines()) == 1 and not out.exists()


def test_unknown_option_is_rejected(jet) -> None:
    card = load_card("alveo-u250")
    with pytest.raises(CodesignError, match="reuse"):
        backend_for("fpga", card).estimate(jet, card, reuse=2)


def test_cli_export_writes_verified_project(tmp_path: Path, capsys) -> None:
    pytest.importorskip("hls4ml")
    model = save(qkeras_mlp(quantized_input=True), tmp_path / "jet.onnx")
    out = tmp_path / "prj"
    assert main(["export", str(model), "--target", "fpga", "--card", "alveo-u250", "--out", str(out),
                 "-O", "max_mismatch=0.005", "-O", "project_name=jet_tagger", "-O", "clock_period=4",
                 "-O", "part=xcvu9p-flga2104-2L-e"]) == 0
    report = json.loads((out / "verification.json").read_text())
    assert report["verification"]["passed"] and report["verification"]["exact_match_rate"] >= 0.995
    assert (out / "hls4ml_prj" / "build_prj.tcl").exists()
    # the project's config names where the project is now, not the staging directory it was written in
    config = (out / "hls4ml_prj" / "hls4ml_config.yml").read_text()
    assert f"OutputDir: {(out / 'hls4ml_prj').resolve()}" in config and ".partial" not in config
    assert "ProjectName: jet_tagger" in config and "ClockPeriod: 4" in config and "xcvu9p-flga2104-2L-e" in config
    assert (out / "hls4ml_prj" / "firmware" / "jet_tagger.cpp").is_file()
    estimate = json.loads((out / "estimate.json").read_text())
    assert estimate["target"] == "fpga" and "hls4ml" in estimate["tool_versions"]


def test_brevitas_trained_model_with_learned_activation_scales_is_bit_exact(tmp_path: Path) -> None:
    """Learned (non-power-of-two) activation scales make hls4ml split each quantiser; the ReLU
    in between must keep an exact type."""
    pytest.importorskip("brevitas")
    pytest.importorskip("hls4ml")
    from codesign.data import load_dataset
    from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
    from codesign.quant.export import export_qonnx

    data = load_dataset("iris")
    model = build_mlp(Topology(data.features, data.num_classes, MLPConfig(hidden=(8,), weight_bits=4, act_bits=4)),
                      seed=0)
    trained = train(model, data, TrainConfig(epochs=3), progress=False).model
    graph = load(export_qonnx(trained, tmp_path / "iris.onnx", in_features=data.features))
    card = load_card("alveo-u250")
    artifact = backend_for("fpga", card).lower(graph, card, tmp_path / "prj")
    assert artifact.summary["exact_match_rate"] == 1.0


CSYNTH_XML = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <UserAssignments><TargetClockPeriod>5.00</TargetClockPeriod></UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><EstimatedClockPeriod>4.35</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <Best-caseLatency>9</Best-caseLatency><Worst-caseLatency>9</Worst-caseLatency>
      <Interval-min>1</Interval-min><Interval-max>1</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>0</BRAM_18K><DSP>12</DSP><FF>3000</FF><LUT>40000</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>5376</BRAM_18K><DSP>12288</DSP><FF>3456000</FF><LUT>1728000</LUT><URAM>1280</URAM></AvailableResources>
  </AreaEstimates>
</profile>
"""


def test_vendor_report_is_shown_next_to_the_estimate(tmp_path: Path, jet, capsys) -> None:
    project = tmp_path / "hls4ml_prj"
    solution = project / "codesign_mlp_prj" / "solution1"
    (solution / "syn" / "report").mkdir(parents=True)
    (project / "project.tcl").write_text('set project_name "codesign_mlp"\nset backend "vitis"\n')
    (project / "codesign_mlp_prj" / "hls.app").write_text(
        '<project><solutions><solution name="solution1" status="active"/></solutions></project>')
    (solution / "syn" / "report" / "codesign_mlp_csynth.xml").write_text(CSYNTH_XML)
    card = load_card("alveo-u250")
    estimate = backend_for("fpga", card).estimate(jet, card, vendor_report=str(project))
    assert estimate.breakdown["vendor_hls"]["lut"] == 40000 and estimate.breakdown["vendor_hls"]["latency_cycles"] == 9
    error = estimate.breakdown["vendor_relative_error"]["hls.lut"]
    assert error == pytest.approx((estimate.resources["lut"] - 40000) / 40000)
    with pytest.raises(CodesignError, match="not an hls4ml project"):
        backend_for("fpga", card).estimate(jet, card, vendor_report=str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"strategy": "Resource", "reuse_factor": 4}, {"io_type": "io_stream"}])
def test_resource_strategy_and_streaming_projects_are_bit_exact(tmp_path: Path, jet, options: dict) -> None:
    pytest.importorskip("hls4ml")
    card = load_card("alveo-u250")
    artifact = backend_for("fpga", card).lower(jet, card, tmp_path / "prj", **options)
    assert artifact.summary["exact_match_rate"] == 1.0
    config = json.loads((tmp_path / "prj" / "verification.json").read_text())["settings"]
    assert all(config[key] == value for key, value in options.items())


def test_estimate_carries_the_held_out_error_band(jet) -> None:
    card = load_card("alveo-u250")
    estimate = backend_for("fpga", card).estimate(jet, card)
    band = estimate.breakdown["error_band"]
    assert 0 < band["lut_median"] <= band["lut_max"] and band["lut_points"] >= 10
    assert any(a.startswith("LUT: typical error") and "held out" in a for a in estimate.assumptions)
    # the per-layer latencies and the top-level overhead add up to the reported total
    assert sum(estimate.breakdown["latency_s"].values()) == pytest.approx(estimate.latency_s)


def test_bad_project_name_and_clock_are_one_line_errors(tmp_path: Path, capsys) -> None:
    model = save(qkeras_mlp(quantized_input=True), tmp_path / "jet.onnx")
    out = tmp_path / "prj"
    assert main(["export", str(model), "--target", "fpga", "--card", "alveo-u250", "--out", str(out),
                 "-O", "project_name=1-bad"]) == 2
    assert "project_name" in capsys.readouterr().err and not out.exists()
    assert main(["estimate", str(model), "--target", "fpga", "-O", "clock_period=0"]) == 2
    assert "clock_period" in capsys.readouterr().err


def test_clock_and_multiplier_binding_options_move_the_estimate(jet) -> None:
    card = load_card("alveo-u250")
    backend = backend_for("fpga", card)
    base = backend.estimate(jet, card)
    fast = backend.estimate(jet, card, clock_period=2.0)
    assert fast.resources["latency_cycles"] >= base.resources["latency_cycles"] and fast.latency_s < base.latency_s * 1.5
    forced = backend.estimate(jet, card, multiplier_impl="dsp")
    assert forced.resources["dsp"] > base.resources["dsp"]
