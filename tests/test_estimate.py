"""The Estimate record: validation, JSON round trip, and drift comparison against a baseline."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from codesign.errors import DataError
from codesign.estimate import DEFAULT_TOLERANCE, Drift, Estimate, compare, tolerance_for


def make_estimate(**overrides: Any) -> Estimate:
    """A fully populated estimate; keyword arguments replace single fields."""
    fields: dict[str, Any] = {
        "target": "crossbar",
        "card": "isaac-like",
        "card_hash": "a" * 64,
        "method": "analytical",
        "latency_s": 2.5e-6,
        "energy_j": 4.0e-9,
        "area_mm2": 0.75,
        "power_w": 1.6e-3,
        "throughput_inf_per_s": 4.0e5,
        "breakdown": {"adc": {"energy_j": 3.0e-9, "area_mm2": 0.5},
                      "array": {"energy_j": 1.0e-9, "area_mm2": 0.25}},
        "resources": {"macs": 1000.0, "tiles": 4.0},
        "assumptions": ("differential mapping", "8-bit ADC"),
        "tool_versions": {"codesign": "0.1.0"},
        "model": "mlp.onnx",
    }
    fields.update(overrides)
    return Estimate(**fields)


def with_breakdown(estimate: Estimate, part: str, metric: str, value: float) -> Estimate:
    breakdown = {name: dict(metrics) for name, metrics in estimate.breakdown.items()}
    breakdown.setdefault(part, {})[metric] = value
    return dataclasses.replace(estimate, breakdown=breakdown)


# ---------------------------------------------------------------------------------------------
# Construction
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["latency_s", "energy_j", "area_mm2", "power_w"])
@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_headline_must_be_finite_and_non_negative(key: str, bad: float) -> None:
    with pytest.raises(DataError) as info:
        make_estimate(**{key: bad})
    assert f"estimate {key} = " in str(info.value)
    assert "finite non-negative" in str(info.value)


def test_non_numeric_headline_is_rejected() -> None:
    with pytest.raises(DataError, match="latency_s = '1 us'"):
        make_estimate(latency_s="1 us")


def test_zero_is_a_valid_headline_value() -> None:
    assert make_estimate(power_w=0.0).power_w == 0.0


def test_invalid_method_names_the_method_and_the_choices() -> None:
    with pytest.raises(DataError) as info:
        make_estimate(method="guesswork")
    message = str(info.value)
    assert "'guesswork'" in message
    for method in ("analytical", "synthesis", "simulation"):
        assert method in message


def test_assumptions_are_stored_as_a_tuple() -> None:
    assert make_estimate(assumptions=["a", "b"]).assumptions == ("a", "b")


def test_energy_per_op() -> None:
    assert make_estimate().energy_per_op_j == pytest.approx(4.0e-12)
    assert make_estimate(resources={}).energy_per_op_j is None


# ---------------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------------
def test_json_round_trip_is_equal() -> None:
    estimate = make_estimate()
    again = Estimate.from_json(estimate.to_json())
    assert again == estimate
    assert again.assumptions == ("differential mapping", "8-bit ADC")
    assert again.throughput_inf_per_s == 4.0e5


def test_json_round_trip_without_optional_fields() -> None:
    estimate = Estimate(target="fpga", card="pynq", card_hash="b" * 64, method="synthesis",
                        latency_s=1e-7, energy_j=0.0, area_mm2=1.0, power_w=0.1)
    assert Estimate.from_json(estimate.to_json()) == estimate


def test_json_is_sorted_indented_and_newline_terminated() -> None:
    estimate = make_estimate()
    text = estimate.to_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
    keys = list(json.loads(text))
    assert keys == sorted(keys)
    assert list(json.loads(text)["breakdown"]["adc"]) == ["area_mm2", "energy_j"]


def test_save_and_load(tmp_path: Path) -> None:
    estimate = make_estimate()
    path = estimate.save(tmp_path / "estimate.json")
    assert path == tmp_path / "estimate.json"
    assert path.read_text(encoding="utf-8") == estimate.to_json()
    assert Estimate.load(path) == estimate


def test_load_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(DataError, match="nope.json: no such estimate file"):
        Estimate.load(missing)


@pytest.mark.parametrize("text", ["{not json", "[]", "42", '{"target": "fpga"}'])
def test_from_json_rejects_non_estimates(text: str) -> None:
    with pytest.raises(DataError, match="not an estimate JSON document"):
        Estimate.from_json(text)


def test_from_dict_rejects_unknown_fields() -> None:
    data = make_estimate().to_dict()
    data["colour"] = "red"
    with pytest.raises(DataError, match="unknown estimate field 'colour'"):
        Estimate.from_dict(data)


# ---------------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------------
def test_identical_estimates_do_not_drift() -> None:
    assert compare(make_estimate(), make_estimate()) == []


def test_ten_percent_energy_change_drifts_with_default_tolerance() -> None:
    baseline = make_estimate()
    current = make_estimate(energy_j=baseline.energy_j * 1.1)
    drifts = compare(current, baseline)
    assert [d.key for d in drifts] == ["energy_j"]
    drift = drifts[0]
    assert drift.baseline == baseline.energy_j
    assert drift.current == current.energy_j
    assert drift.tolerance == DEFAULT_TOLERANCE
    assert drift.relative_change == pytest.approx(0.1)


def test_explicit_tolerance_absorbs_the_change() -> None:
    baseline = make_estimate()
    current = make_estimate(energy_j=baseline.energy_j * 1.1)
    assert compare(current, baseline, {"energy_j": 0.2}) == []
    # a tolerance on another key does not help
    assert [d.key for d in compare(current, baseline, {"latency_s": 0.2})] == ["energy_j"]


def test_glob_tolerance_applies_to_breakdown_but_not_headline() -> None:
    baseline = make_estimate()
    current = with_breakdown(baseline, "adc", "energy_j", 3.0e-9 * 1.3)
    assert compare(current, baseline, {"breakdown.*": 0.5}) == []
    assert [d.key for d in compare(current, baseline)] == ["breakdown.adc.energy_j"]

    current = dataclasses.replace(current, energy_j=baseline.energy_j * 1.3)
    drifts = compare(current, baseline, {"breakdown.*": 0.5})
    assert [d.key for d in drifts] == ["energy_j"]


def test_most_specific_tolerance_wins() -> None:
    tolerances = {"*": 0.5, "breakdown.*": 0.2, "breakdown.adc.*": 0.1, "energy_j": 0.05}
    assert tolerance_for("energy_j", tolerances) == 0.05
    assert tolerance_for("breakdown.adc.energy_j", tolerances) == 0.1
    assert tolerance_for("breakdown.array.energy_j", tolerances) == 0.2
    assert tolerance_for("latency_s", tolerances) == 0.5
    assert tolerance_for("latency_s", {}) == DEFAULT_TOLERANCE


def test_missing_and_new_breakdown_keys_are_reported() -> None:
    baseline = make_estimate()
    breakdown = {"adc": dict(baseline.breakdown["adc"]), "dac": {"energy_j": 1.0e-9, "area_mm2": 0.25}}
    current = dataclasses.replace(baseline, breakdown=breakdown)
    drifts = {d.key: d for d in compare(current, baseline, {"*": 1.0})}
    assert set(drifts) == {"breakdown.array.energy_j", "breakdown.array.area_mm2",
                           "breakdown.dac.energy_j", "breakdown.dac.area_mm2"}
    missing, new = drifts["breakdown.array.energy_j"], drifts["breakdown.dac.energy_j"]
    assert (missing.baseline, missing.current) == (1.0e-9, None)
    assert (new.baseline, new.current) == (None, 1.0e-9)
    assert missing.describe() == "breakdown.array.energy_j: missing (baseline 1e-09)"
    assert new.describe() == "breakdown.dac.energy_j: new key (value 1e-09)"


def test_card_hash_change_is_reported() -> None:
    baseline = make_estimate()
    drifts = compare(make_estimate(card_hash="c" * 64), baseline)
    assert [d.key for d in drifts] == ["card_hash"]


def test_card_hash_drift_can_be_described() -> None:
    drifts = compare(make_estimate(card_hash="c" * 64), make_estimate(card_hash="a" * 64))
    text = drifts[0].describe()
    assert text.startswith("card_hash: ")
    assert "a" * 12 in text and "c" * 12 in text


def test_describe_mentions_key_values_and_percent() -> None:
    drift = Drift("energy_j", 4.0e-9, 4.4e-9, 0.05)
    text = drift.describe()
    assert text.startswith("energy_j: 4e-09 -> 4.4e-09")
    assert "+10.00%" in text
    assert "tolerance 5.00%" in text


def test_drift_from_zero_baseline() -> None:
    assert Drift("power_w", 0.0, 1.0, 0.0).relative_change == math.inf
    assert [d.key for d in compare(make_estimate(power_w=1.0), make_estimate(power_w=0.0))] == ["power_w"]
