"""Crossbar backend: mapping, the batched chip simulator against the integer reference, estimates, export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from graphs import brevitas_mlp, finn_tfc, qkeras_mlp, save

from codesign.backends import backend_for
from codesign.backends.crossbar import map_graph, simulate
from codesign.backends.crossbar.converters import input_digits
from codesign.cards import load_card
from codesign.cli import main
from codesign.errors import CardError, CodesignError
from codesign.ir.loader import load
from codesign.ir.reference import execute

ROOT = Path(__file__).resolve().parents[1]
MULTILEVEL_CARD = ROOT / "benchmarks" / "cards" / "rram-40nm-multilevel.toml"
IDEAL = {"noise": "ideal", "ideal_converters": True, "ir_drop": False}


def card_variant(tmp_path: Path, base: str | Path, name: str, replacements: dict[str, str]) -> Path:
    """A copy of a shipped card with some TOML lines replaced (regex on the line's key)."""
    source = Path(load_card(base).path).read_text()
    text = re.sub(r'^name = ".*"$', f'name = "{name}"', source, flags=re.M)
    for key, line in replacements.items():
        text, count = re.subn(rf"^{key} = .*$", line, text, count=1, flags=re.M)
        assert count == 1, key
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def lossless_card(tmp_path: Path, base: str | Path = "rram-40nm") -> Path:
    return card_variant(tmp_path, base, "lossless", {"bits": 'bits = { value = 16, unit = "b", source = "test" }'})


GRAPHS = {
    "qkeras": lambda: qkeras_mlp(quantized_input=True),
    "tfc_w1a1": lambda: finn_tfc(1, 1),
    "tfc_w2a2": lambda: finn_tfc(2, 2),
    "brevitas_bn": lambda: brevitas_mlp(),
    "brevitas_sigmoid_argmax": lambda: brevitas_mlp(activation="Sigmoid", head="argmax", per_channel=False),
}


@pytest.fixture(scope="module")
def graphs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("xbar")
    return {name: load(save(build(), root / f"{name}.onnx")) for name, build in GRAPHS.items()}


def inputs(graph, count: int = 1500, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 2.0, (count, graph.input_transform.features))


# -- ideal chips are the integer reference ---------------------------------------------------------
@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("card", ["rram-40nm", "isaac-32nm", str(MULTILEVEL_CARD)])
def test_ideal_chip_equals_integer_reference(graphs, name: str, card: str) -> None:
    graph = graphs[name]
    x = inputs(graph)
    reference = execute(graph, x)
    result = simulate(graph, card, x, instances=3, seed=5, **IDEAL)
    assert result.exact
    for k in range(3):
        np.testing.assert_array_equal(result.logits[k], reference.logits)
        np.testing.assert_array_equal(result.predictions[k], reference.predictions)


@pytest.mark.parametrize("base", ["rram-40nm", "isaac-32nm"])
def test_per_read_path_with_lossless_adc_equals_reference(graphs, tmp_path: Path, base: str) -> None:
    """Every (input cycle, slice, row tile) read converted by a 16-bit ADC: still exact."""
    card = lossless_card(tmp_path, base)
    for name in ("tfc_w2a2", "brevitas_bn", "qkeras"):
        graph = graphs[name]
        x = inputs(graph, 700)
        result = simulate(graph, card, x, instances=2, noise="ideal", ir_drop=False, fuse=False)
        assert result.exact
        np.testing.assert_array_equal(result.logits[1], execute(graph, x).logits)


def test_input_digits_reconstruct_signed_and_unsigned_codes(graphs) -> None:
    import torch

    card = load_card("rram-40nm")  # bit-serial
    for name in ("tfc_w2a2", "brevitas_bn"):
        mapping = map_graph(graphs[name], card).layers[0]
        spec = graphs[name].input_quant
        codes = torch.arange(spec.code_min, spec.code_max + 1, dtype=torch.float64)
        digits = input_digits(codes, mapping)
        assert len(digits) == mapping.input_cycles
        rebuilt = sum(d * 2 ** (mapping.dac_bits * i) for i, d in enumerate(digits))
        assert torch.equal(rebuilt, codes)


def test_float_input_is_quantised_by_the_dac(tmp_path: Path) -> None:
    graph = load(save(qkeras_mlp(), tmp_path / "float_in.onnx"))
    assert graph.input_quant is None
    x = inputs(graph, 2000)
    result = simulate(graph, "rram-40nm", x, instances=2, input_bits=10, **IDEAL)
    assert not result.exact  # the DAC's quantiser is not in the graph
    agreement = (result.predictions[0] == execute(graph, x).predictions).mean()
    assert agreement > 0.97
    assert map_graph(graph, load_card("rram-40nm"), input_bits=10).inserted_input_quant


# -- noise ------------------------------------------------------------------------------------------
def test_accuracy_falls_monotonically_with_noise(graphs) -> None:
    graph = graphs["brevitas_bn"]
    x = inputs(graph, 1500, seed=1)
    labels = execute(graph, x).predictions
    for component in ("programming", "read", "variability"):
        means = [simulate(graph, "rram-40nm", x, labels, instances=12, seed=3, ir_drop=False,
                          noise={component: {"sigma": sigma}}).mean
                 for sigma in (0.0, 0.03, 0.1, 0.3)]
        assert means[0] > means[-1], component
        assert all(later <= earlier + 0.005 for earlier, later in zip(means, means[1:])), (component, means)
    stuck = [simulate(graph, "rram-40nm", x, labels, instances=12, seed=3, ir_drop=False,
                      noise={"device_faults": {"gmax_rate": rate}}).mean for rate in (0.0, 0.01, 0.05, 0.2)]
    assert all(later <= earlier + 0.005 for earlier, later in zip(stuck, stuck[1:])), stuck


def test_same_seed_same_result_and_chunking_does_not_matter(graphs) -> None:
    graph = graphs["tfc_w2a2"]
    x = inputs(graph, 2500)
    first = simulate(graph, "rram-40nm", x, instances=7, seed=11)
    again = simulate(graph, "rram-40nm", x, instances=7, seed=11)
    np.testing.assert_array_equal(first.logits, again.logits)
    rechunked = simulate(graph, "rram-40nm", x, instances=7, seed=11, instance_chunk=3)
    np.testing.assert_array_equal(rechunked.logits, first.logits)  # exact products: bit for bit
    other = simulate(graph, "rram-40nm", x, instances=7, seed=12)
    assert not np.array_equal(other.logits, first.logits)
    # each instance is its own chip: instances differ from each other
    assert not np.array_equal(first.logits[0], first.logits[1])


@pytest.mark.parametrize("name", ["brevitas_bn", "qkeras"])
def test_instance_ranges_merge_into_the_single_run_bit_for_bit(graphs, name: str) -> None:
    """The distribution contract: any split of the instances, merged, is the single-process run."""
    from codesign.backends.crossbar import simulate_range
    from codesign.noise.montecarlo import merge

    graph = graphs[name]
    x = inputs(graph, 1100)
    labels = execute(graph, x).predictions
    noise = {"programming": {"sigma": 0.05}, "read": {"sigma": 0.02}}
    whole = simulate(graph, str(MULTILEVEL_CARD), x, labels, instances=9, seed=4, noise=noise, ir_drop=False)
    parts = [simulate_range(graph, str(MULTILEVEL_CARD), x, labels, instances=span, seed=4, noise=noise,
                            ir_drop=False, instance_chunk=chunk)
             for span, chunk in ((range(5, 9), 3), (range(0, 2), 1), (range(2, 5), 16))]
    merged = merge(parts)
    np.testing.assert_array_equal(merged.logits, whole.logits)
    assert merged.accuracies == whole.accuracies and merged.first_instance == 0
    assert (merged.mean, merged.worst, merged.std) == (whole.mean, whole.worst, whole.std)
    with pytest.raises(CodesignError, match="gap or overlap"):
        merge([parts[0], parts[1]])


def test_one_prepared_simulation_runs_many_ranges_with_the_same_bits(graphs) -> None:
    """What a distributed worker does: prepare once, then run several ranges (any order, reused)."""
    from codesign.backends.crossbar.simulator import prepare
    from codesign.noise.montecarlo import merge

    graph = graphs["brevitas_bn"]
    x = inputs(graph, 700)
    labels = execute(graph, x).predictions
    noise = {"programming": {"sigma": 0.05}, "read": {"sigma": 0.02}}
    whole = simulate(graph, str(MULTILEVEL_CARD), x, labels, instances=7, seed=3, noise=noise, ir_drop=False)
    prepared = prepare(graph, str(MULTILEVEL_CARD), x, labels, seed=3, noise=noise, ir_drop=False, instance_chunk=2)
    parts = [prepared.run(span) for span in (range(4, 7), range(0, 1), range(1, 4))]
    np.testing.assert_array_equal(merge(parts).logits, whole.logits)
    assert merge(parts).accuracies == whole.accuracies
    np.testing.assert_array_equal(prepared.run(range(4, 7)).logits, parts[0].logits)  # run again: unchanged


def test_compiled_and_torch_read_paths_give_the_same_bits(graphs) -> None:
    from codesign.noise import kernels

    if kernels.load() is None:
        pytest.skip("no C compiler for the read kernel")
    graph = graphs["brevitas_bn"]
    x = inputs(graph, 1500)
    noise = {"programming": {"sigma": 0.05}, "read": {"sigma": 0.05}}
    runs = [simulate(graph, str(MULTILEVEL_CARD), x, instances=3, seed=2, noise=noise, ir_drop=False,
                     implementation=impl) for impl in ("compiled", "torch")]
    np.testing.assert_array_equal(runs[0].logits, runs[1].logits)
    ideal = simulate(graph, str(MULTILEVEL_CARD), x, instances=2, seed=2, noise={"read": {"sigma": 0.0}},
                     ir_drop=False, implementation="compiled")
    assert not np.array_equal(runs[0].logits[0], ideal.logits[0])  # the noise is on


def test_fresh_philox_and_torch_generator_sources_agree_statistically(graphs) -> None:
    graph = graphs["brevitas_bn"]
    x = inputs(graph, 3000)
    labels = execute(graph, x).predictions
    noise = {"read": {"sigma": 0.1}}
    philox = simulate(graph, "rram-40nm", x, labels, instances=8, noise=noise, ir_drop=False)
    torch_source = simulate(graph, "rram-40nm", x, labels, instances=8, noise=noise, ir_drop=False,
                            read_noise_source="torch")
    assert philox.settings.fresh_read_noise and philox.settings.read_noise_source == "philox"
    assert philox.mean < 0.99 and torch_source.mean < 0.99
    assert abs(philox.mean - torch_source.mean) < 0.02


def test_ir_drop_perturbs_an_otherwise_ideal_chip(graphs) -> None:
    graph = graphs["tfc_w2a2"]
    x = inputs(graph, 1000)
    reference = execute(graph, x)
    dropped = simulate(graph, "rram-40nm", x, instances=2, noise="ideal", ideal_converters=True, ir_drop=True)
    assert not dropped.exact
    assert (dropped.predictions[0] == reference.predictions).mean() > 0.9


def test_lossy_adc_costs_accuracy_and_finer_adc_helps(graphs, tmp_path: Path) -> None:
    graph = graphs["brevitas_bn"]
    x = inputs(graph, 1500)
    labels = execute(graph, x).predictions
    coarse = card_variant(tmp_path, "rram-40nm", "adc3", {"bits": 'bits = { value = 3, unit = "b", source = "test" }'})
    fine = lossless_card(tmp_path)
    coarse_acc = simulate(graph, coarse, x, labels, instances=2, noise="ideal", ir_drop=False).mean
    fine_acc = simulate(graph, fine, x, labels, instances=2, noise="ideal", ir_drop=False).mean
    assert fine_acc == 1.0 and coarse_acc < fine_acc


def test_fixed_random_layer_is_resampled_per_chip(tmp_path: Path) -> None:
    pytest.importorskip("brevitas")
    from codesign.quant.export import export_qonnx, training_metadata
    from codesign.quant.mlp import MLPConfig, Topology, build_mlp
    from codesign.quant.train import TrainConfig

    config = MLPConfig(hidden=(24,), weight_bits=4, act_bits=4, input_bits=4, fixed_random=(0,))
    model = build_mlp(Topology(12, 3, config), seed=1)
    path = export_qonnx(model, tmp_path / "lsm.onnx", in_features=12, metadata=training_metadata(config, TrainConfig()))
    graph = load(path)
    assert graph.fixed_random_layers == ("dense0",)
    x = np.random.default_rng(0).uniform(0, 1, (400, 12))
    ideal = simulate(graph, "rram-40nm", x, instances=2, **IDEAL)
    np.testing.assert_array_equal(ideal.logits[0], execute(graph, x).logits)
    mapping = map_graph(graph, load_card("rram-40nm"))
    assert mapping.layers[0].fixed_random and mapping.layers[0].slices == 1
    sampled = simulate(graph, "rram-40nm", x, instances=3, noise={"read": {"sigma": 1e-9}}, ir_drop=False,
                       ideal_converters=True)
    assert not np.array_equal(sampled.logits[0], sampled.logits[1])
    stored = simulate(graph, "rram-40nm", x, instances=2, noise={"read": {"sigma": 1e-9}}, ir_drop=False,
                      ideal_converters=True, fixed_random="stored")
    assert (stored.predictions[0] == execute(graph, x).predictions).mean() > 0.99


def test_simulation_accuracy_statistics(graphs) -> None:
    graph = graphs["tfc_w1a1"]
    x = inputs(graph, 800)
    labels = execute(graph, x).predictions
    result = simulate(graph, "rram-40nm", x, labels, instances=5)
    data = result.to_dict()
    assert len(data["accuracies"]) == 5 and data["worst"] <= data["mean"] <= 1.0
    assert result.predictions.shape == (5, 800) and result.logits.shape == (5, 800, 10)
    with pytest.raises(CodesignError, match="labels"):
        simulate(graph, "rram-40nm", x, labels[:-1], instances=1)
    with pytest.raises(CodesignError, match="instances"):
        simulate(graph, "rram-40nm", x, instances=0)


# -- mapping and estimates ----------------------------------------------------------------------------
def test_mapping_tiles_slices_and_cycles(graphs) -> None:
    graph = graphs["qkeras"]  # 16-64-32-32-5, int6 weights, uint6 inputs
    mapping = map_graph(graph, load_card("rram-40nm"))  # 256x256, 2 b/cell, differential, bit-serial
    first = mapping.layers[0]
    assert first.stored_bits == 6 and first.slices == 3 and first.columns_per_weight == 6  # |-32| needs 6 bits
    assert first.input_cycles == graph.input_quant.bits and first.row_tiles == 1
    assert first.col_tiles == 2  # 64 outputs x 6 columns = 384 columns > 256
    offset = map_graph(graph, load_card("isaac-32nm")).layers[0]  # offset mapping, 128x128
    assert offset.offset == 32 and offset.stored_bits == 6 and offset.columns_per_weight == 3


def test_narrow_weights_use_the_whole_conductance_range(graphs) -> None:
    from codesign.backends.crossbar.mapping import stored_levels

    graph = graphs["tfc_w1a1"]  # bipolar weights: stored magnitude 1 bit, cells of 2 bits
    mapping = map_graph(graph, load_card("rram-40nm")).layers[0]
    assert mapping.slices == 1 and mapping.level_gain == 3
    levels = stored_levels(graph.layers[0].weight, mapping)
    assert set(np.unique(levels)) == {0, 3}  # g_min and g_max only


def test_estimate_units_breakdown_and_published_efficiency(tmp_path: Path) -> None:
    graph = load(save(finn_tfc(2, 2, hidden=(64, 64, 64), image=(1, 1, 28, 28)), tmp_path / "tfc.onnx"))
    card = load_card("rram-40nm")
    estimate = backend_for("crossbar", card).estimate(graph, card)
    assert estimate.method == "analytical" and estimate.target == "crossbar"
    assert estimate.energy_j == pytest.approx(sum(estimate.breakdown["energy_j"].values()))
    assert estimate.area_mm2 == pytest.approx(sum(estimate.breakdown["area_mm2"].values()))
    assert estimate.latency_s == pytest.approx(sum(estimate.breakdown["latency_s"].values()))
    assert 0 < estimate.resources["adc_energy_share"] < 1 and 0 < estimate.resources["adc_area_share"] < 1
    assert 10 <= estimate.resources["efficiency_tops_per_w"] <= 200
    assert 1e-9 < estimate.latency_s < 1e-5 and 1e-12 < estimate.energy_j < 1e-7
    assert any("TOPS/W" in a for a in estimate.assumptions)
    # hand check of the ADC energy: conversions x energy per conversion
    conversions = sum(m.adc_conversions for m in map_graph(graph, card).layers)
    assert estimate.breakdown["energy_j"]["adc"] == pytest.approx(conversions * card.adc.energy.value)
    measured = backend_for("crossbar", card).estimate(graph, card, x=np.full((50, 784), 0.5))  # pre-processing 2x-1 maps 0.5 to code 0
    assert measured.breakdown["layer.dense0"]["array_energy_j"] == 0.0  # nothing driven, no cell current
    assert measured.breakdown["layer.dense0"]["drive_activity"] == 0.0


def test_estimate_is_deterministic(graphs) -> None:
    card = load_card("isaac-32nm")
    first = backend_for("crossbar", card).estimate(graphs["tfc_w2a2"], card)
    assert first.to_json() == backend_for("crossbar", card).estimate(graphs["tfc_w2a2"], card).to_json()


# -- export and the CLI ---------------------------------------------------------------------------------
def test_cli_export_writes_maps_report_and_estimate(tmp_path: Path, capsys) -> None:
    model = save(finn_tfc(2, 2, hidden=(64, 64), image=(1, 1, 28, 28)), tmp_path / "tfc.onnx")
    out = tmp_path / "xbar"
    assert main(["export", str(model), "--target", "crossbar", "--card", "rram-40nm", "--out", str(out)]) == 0
    report = json.loads((out / "mapping.json").read_text())
    assert report["layers"][0]["row_tiles"] == 4  # 784 inputs on 256-row tiles
    maps = np.load(out / "conductance" / "dense0.npz")
    tile = maps["dense0_tile_r0_c0"]
    assert tile.shape == (256, 256)
    card = load_card("rram-40nm")
    assert tile.min() >= card.array.g_min.value * 0.999 and tile.max() <= card.array.g_max.value * 1.001
    estimate = json.loads((out / "estimate.json").read_text())
    assert estimate["target"] == "crossbar" and estimate["resources"]["tiles"] == report["tiles"]
    capsys.readouterr()
    assert main(["estimate", str(model), "--target", "crossbar", "--card", "rram-40nm", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["energy_j"] == pytest.approx(estimate["energy_j"])


def test_cli_rejects_unknown_option_and_leaves_nothing(tmp_path: Path, capsys) -> None:
    model = save(finn_tfc(1, 1), tmp_path / "tfc.onnx")
    out = tmp_path / "xbar"
    code = main(["export", str(model), "--target", "crossbar", "--card", "rram-40nm", "--out", str(out), "-O", "bogus=1"])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err.strip()
    assert "bogus" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(("key", "line", "message"), [
    ("bits", 'bits = { value = 0, unit = "b", source = "test" }', "adc.bits"),
    ("cell_area", 'cell_area = { value = -0.1, unit = "um^2", source = "test" }', "array.cell_area"),
    ("mapping", 'mapping = "sideways"', "array.mapping"),
])
def test_invalid_crossbar_card_is_one_line_error(tmp_path: Path, capsys, key: str, line: str, message: str) -> None:
    card = card_variant(tmp_path, "rram-40nm", "broken", {key: line})
    with pytest.raises(CardError, match=re.escape(message)):
        load_card(card)
    model = save(finn_tfc(1, 1), tmp_path / "tfc.onnx")
    code = main(["export", str(model), "--target", "crossbar", "--card", str(card), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_float_hidden_activation_is_rejected(graphs) -> None:
    from dataclasses import replace

    graph = graphs["brevitas_bn"]
    layers = list(graph.layers)
    layers[1] = replace(layers[1], input_quant=None)
    with pytest.raises(CodesignError, match="quantised activations"):
        map_graph(replace(graph, layers=tuple(layers)), load_card("rram-40nm"))


def test_top_level_api_names_stay_functions(graphs) -> None:
    import codesign
    import codesign.estimate  # noqa: F401  (importing the submodule must not shadow the function)

    estimate = codesign.estimate(graphs["tfc_w1a1"], load_card("rram-40nm"), target="crossbar")
    assert estimate.target == "crossbar"
    result = codesign.simulate(graphs["tfc_w1a1"], "rram-40nm", inputs(graphs["tfc_w1a1"], 50), instances=1)
    assert result.predictions.shape == (1, 50)
