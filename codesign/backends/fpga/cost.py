"""Per-inference estimate of an hls4ml design on an FPGA card: resources, utilisation, latency,
power, energy and an equivalent silicon area (for comparison with the other targets), with the
held-out error band of the calibration per metric."""

from __future__ import annotations

from codesign.cards import Card
from codesign.estimate import Estimate
from codesign.ir.graph import DenseLayer, LayerGraph

from .layerstats import LayerStats
from .resources import (
    DEFAULT_BACKEND,
    MULTIPLIER_IMPLS,
    UNROLL_LIMIT,
    Design,
    LayerResources,
    ModelConstants,
    calibration,
    constants_for,
    dense_resources,
    interface_register_bits,
)

FLOAT_INPUT_BITS = 16  # a float graph input enters as hls4ml's default 16-bit fixed point
BAND_METRICS = (("lut", "LUT"), ("ff", "FF"), ("dsp", "DSP"), ("latency_cycles", "latency"))


def layer_stats(layer: DenseLayer) -> LayerStats:
    """The cost model's view of one layer (types as codesign's export derives them)."""
    input_bits = FLOAT_INPUT_BITS if layer.input_quant is None else layer.input_quant.bits
    accum = layer.accumulator_bits
    output_bits = layer.output_quant.bits if layer.output_quant is not None else (accum or 16)
    relu = "relu" in layer.activation.lower()
    requantise = layer.output_quant is not None and (accum is None or output_bits < accum)
    return LayerStats.from_codes(layer.name, layer.weight, weight_bits=layer.weight_quant.bits, input_bits=input_bits,
                                 accum_bits=accum, output_bits=output_bits, relu=relu, requantise=requantise)


def clock_period_s(card: Card, clock_period_ns: float | None = None) -> float:
    """The design's clock period: the option when given, else the card's."""
    return clock_period_ns * 1e-9 if clock_period_ns else card.clock.period.value


def design_for(card: Card, *, reuse_factor: int = 1, strategy: str = "Latency", io_type: str = "io_parallel",
               multiplier_impl: str = "auto", clock_period_ns: float | None = None) -> Design:
    period = clock_period_s(card, clock_period_ns)
    uncertainty = (card.clock.uncertainty.value / card.clock.period.value if card.clock.uncertainty else 0.125)
    part = card.part
    return Design(reuse_factor=reuse_factor, strategy=strategy, io_type=io_type,
                  clock_period_ns=period * (1.0 - uncertainty) * 1e9,
                  seven_series=str(part.device_family).lower().startswith(("zynq7", "artix7", "kintex7", "virtex7",
                                                                           "spartan7")),
                  dsp_a_bits=int(part.dsp_a_bits.value) if getattr(part, "dsp_a_bits", None) else 25,
                  dsp_b_bits=int(part.dsp_b_bits.value) if getattr(part, "dsp_b_bits", None) else 18,
                  multiplier_impl=multiplier_impl)


def layer_resources(graph: LayerGraph, card: Card, *, reuse_factor: int = 1, strategy: str = "Latency",
                    io_type: str = "io_parallel", multiplier_impl: str = "auto", clock_period_ns: float | None = None,
                    constants: ModelConstants | None = None) -> list[LayerResources]:
    constants = constants or constants_for(DEFAULT_BACKEND)
    design = design_for(card, reuse_factor=reuse_factor, strategy=strategy, io_type=io_type,
                        multiplier_impl=multiplier_impl, clock_period_ns=clock_period_ns)
    return [dense_resources(layer_stats(layer), design, constants) for layer in graph.layers]


def error_bands(tool: str) -> dict[str, dict]:
    """Held-out (by architecture) |relative error| of the calibration per metric for one tool."""
    return calibration()["tools"][tool].get("held_out_error", {})


def estimate_fpga(graph: LayerGraph, card: Card, *, reuse_factor: int = 1, strategy: str = "Latency",
                  io_type: str = "io_parallel", backend: str = DEFAULT_BACKEND, multiplier_impl: str = "auto",
                  clock_period_ns: float | None = None, versions: dict[str, str] | None = None) -> Estimate:
    """``backend`` is the hls4ml backend the project is built with ('Vitis', as codesign's export
    does, or 'Vivado' for Vivado HLS 2019-2020); it selects the tool's calibrated constants."""
    if multiplier_impl not in MULTIPLIER_IMPLS:
        from codesign.errors import ParameterError

        raise ParameterError(f"multiplier_impl {multiplier_impl!r} is unknown", hint=f"use one of {MULTIPLIER_IMPLS}")
    constants = constants_for(backend)
    rows = layer_resources(graph, card, reuse_factor=reuse_factor, strategy=strategy, io_type=io_type,
                           multiplier_impl=multiplier_impl, clock_period_ns=clock_period_ns, constants=constants)
    period = clock_period_s(card, clock_period_ns)
    totals = {key: sum(getattr(r, key) for r in rows) for key in ("lut", "ff", "dsp", "bram_18k")}
    interface_ff = round(constants.ff_per_register_bit * interface_register_bits(layer_stats(graph.layers[0])))
    totals["ff"] += interface_ff
    part = card.part
    capacity = {"lut": part.luts.value, "ff": part.ffs.value, "dsp": part.dsps.value, "bram_18k": part.bram_18k.value}
    utilisation = {key: totals[key] / capacity[key] for key in totals}
    fits = all(value <= 1.0 for value in utilisation.values())
    latency_cycles = sum(r.latency_cycles for r in rows) + constants.io_overhead_cycles
    ii_cycles = max(r.ii_cycles for r in rows)
    latency = latency_cycles * period
    power_parts = {"static": card.power.static.value,
                   "lut": totals["lut"] * card.power.lut_dynamic.value, "ff": totals["ff"] * card.power.ff_dynamic.value,
                   "dsp": totals["dsp"] * card.power.dsp_dynamic.value,
                   "bram": totals["bram_18k"] * card.power.bram_dynamic.value}
    power = sum(power_parts.values())
    area_parts = {"lut": totals["lut"] * card.area.lut.value * 1e6, "ff": totals["ff"] * card.area.ff.value * 1e6,
                  "dsp": totals["dsp"] * card.area.dsp.value * 1e6,
                  "bram": totals["bram_18k"] * card.area.bram_18k.value * 1e6}
    bands = error_bands(constants.tool)
    breakdown = {
        "latency_s": {**{r.name: r.latency_cycles * period for r in rows},
                      "top_io": constants.io_overhead_cycles * period},
        "power_w": power_parts,
        "energy_j": {key: value * latency for key, value in power_parts.items()},
        "area_mm2": area_parts,
        "utilisation": utilisation,
        "error_band": {f"{key}_{stat}": float(band[stat]) for key, band in bands.items()
                       for stat in ("median", "max", "points") if band.get(stat) is not None},
    }
    breakdown["top_interface"] = {"ff": interface_ff}
    for r in rows:
        breakdown[f"layer.{r.name}"] = {"lut": r.lut, "ff": r.ff, "dsp": r.dsp, "bram_18k": r.bram_18k,
                                        "products": r.products, "multipliers": r.multipliers,
                                        "latency_cycles": r.latency_cycles, "ii_cycles": r.ii_cycles,
                                        "accumulator_bits": r.accumulator_bits, "pipeline_cuts": r.pipeline_cuts,
                                        "register_bits": r.register_bits}
    resources = {**{k: float(v) for k, v in totals.items()}, "latency_cycles": float(latency_cycles),
                 "ii_cycles": float(ii_cycles), "fits": float(fits),
                 **{f"utilisation_{k}": v for k, v in utilisation.items()}}
    assumptions = [
        f"hls4ml {io_type}, {strategy} strategy, reuse factor {reuse_factor}, clock {period * 1e9:g} ns on {part.name}, "
        f"{constants.tool} HLS constants, multipliers {multiplier_impl}",
        "weights are constants: zero weights cost nothing, powers of two are wires, constants with fewer than "
        f"{constants.mul_min_digits} canonical-signed-digit digits are shift-and-add adders",
        f"other products are multipliers: DSPs ({design_for(card).dsp_a_bits}x{design_for(card).dsp_b_bits} per "
        f"slice) when the input has at least {constants.dsp_min_input_bits} bits, LUTs otherwise, capped by hls4ml's "
        "ALLOCATION limit for the reuse factor",
        f"adder trees grow one bit per level from the product width up to the accumulator type, "
        f"{constants.lut_per_adder_bit:g} LUT per result bit, plus {constants.lut_per_layer:g} LUTs of fixed logic per "
        "layer function (control, handshake, port selection); pipeline registers hold the partial sums alive at each "
        "clock-period cut and the outputs of every layer with latency; the top function registers its input vector "
        "and a two-bit handshake",
        "power = card static power + per-resource dynamic power at the card's clock and toggle rate; "
        "energy = power x latency of one inference",
        "equivalent silicon area = resources x per-resource tile areas from the card",
    ]
    chained = [layer.name for layer in graph.layers if layer.in_features * layer.out_features > UNROLL_LIMIT]
    if chained:
        assumptions.append(f"{', '.join(chained)}: more than {UNROLL_LIMIT} weights, beyond hls4ml's unroll limit: "
                           "accumulated as a sequential chain per output (as Vitis HLS 2021.1 builds it; Vivado HLS "
                           "refuses to unroll it), latency grows with the non-zero products per output")
    if reuse_factor > 1 and strategy != "Resource":
        assumptions.append(f"reuse factor {reuse_factor}, Latency strategy: mul operations beyond hls4ml's ALLOCATION "
                           "limit run in rounds on shared instances; a layer done before R cycles takes its next "
                           "input then (II = min(R, latency + 1))")
    for key, label in BAND_METRICS:
        band = bands.get(key)
        if band:
            assumptions.append(f"{label}: typical error {band['median']:.0%}, worst {band['max']:.0%} on "
                               f"{band['points']} published {constants.tool} HLS designs of architectures held out "
                               "of the fit (docs/fpga.md)")
    if not fits:
        over = ", ".join(f"{k} {utilisation[k]:.0%}" for k in utilisation if utilisation[k] > 1)
        assumptions.append(f"DOES NOT FIT {part.name}: {over} of the device")
    return Estimate(target="fpga", card=card.name, card_hash=card.content_hash, method="analytical",
                    latency_s=latency, energy_j=power * latency, area_mm2=sum(area_parts.values()), power_w=power,
                    throughput_inf_per_s=1.0 / (ii_cycles * period), breakdown=breakdown, resources=resources,
                    assumptions=assumptions, tool_versions=versions or {}, model=graph.name)


def does_not_fit(estimate: Estimate) -> str | None:
    """A one-line reason when the design exceeds the part, else None."""
    if estimate.resources.get("fits", 1.0):
        return None
    over = [f"{key.removeprefix('utilisation_')} {value:.0%}" for key, value in estimate.resources.items()
            if key.startswith("utilisation_") and value > 1.0]
    return f"design does not fit: {', '.join(over)} of the part"


__all__ = ["does_not_fit", "estimate_fpga", "layer_resources", "layer_stats"]
