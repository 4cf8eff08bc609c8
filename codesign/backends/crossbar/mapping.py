"""Place a layer graph on crossbar tiles: how many cells, columns, tiles, input cycles and ADCs.

A signed integer weight ``w`` is stored either as a differential pair of columns (``|w|`` on
the positive or the negative column) or, with an offset mapping, as ``w + offset`` on one
column with the offset removed digitally.  When the stored value needs more bits than a cell
holds, it is bit-sliced over ``slices`` cells whose column results are shifted and added.
Inputs are applied by the DAC in ``input_cycles`` chunks of ``dac.bits`` bits (bit-serial when
``dac.bits`` is 1); every (cycle, slice, tile) column sum is converted by an ADC.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from codesign.cards import Card
from codesign.errors import BitWidthError, ParameterError
from codesign.ir.graph import DenseLayer, LayerGraph
from codesign.ir.quantspec import QuantSpec

DEFAULT_FLOAT_INPUT_BITS = 8


def _word_bits(low: int, high: int) -> tuple[int, bool]:
    """Two's-complement width (and signedness) that holds every integer in [low, high]."""
    if low >= 0:
        return max(1, int(high).bit_length()), False
    return max(int(high).bit_length(), int(-low - 1).bit_length()) + 1, True


@dataclass(frozen=True)
class LayerMapping:
    """Where one dense layer lives on the crossbar and what reading it takes."""

    name: str
    in_features: int
    out_features: int
    scheme: str  # "differential" | "offset"
    stored_bits: int  # bits of the stored magnitude (differential) or offset value
    offset: int  # added to every weight before storing (offset mapping), else 0
    bits_per_cell: int
    slices: int  # cells per stored value (per polarity)
    input_bits: int  # two's-complement width of the layer's input codes
    input_signed: bool
    dac_bits: int
    input_cycles: int  # DAC chunks per input word
    rows: int
    cols: int
    row_tiles: int
    col_tiles: int
    columns_per_weight: int
    fixed_random: bool
    nonzero_weights: int

    @property
    def tiles(self) -> int:
        return self.row_tiles * self.col_tiles

    @property
    def physical_columns(self) -> int:
        return self.out_features * self.columns_per_weight

    @property
    def cells_used(self) -> int:
        return self.in_features * self.physical_columns

    @property
    def cells_allocated(self) -> int:
        return self.tiles * self.rows * self.cols

    @property
    def utilisation(self) -> float:
        return self.cells_used / self.cells_allocated

    @property
    def converted_columns(self) -> int:
        """Column results digitised per (input cycle, row tile): a differential pair is subtracted
        in the analog domain before its ADC."""
        return self.out_features * self.slices

    @property
    def adc_conversions(self) -> int:
        return self.input_cycles * self.row_tiles * self.converted_columns

    @property
    def dac_drives(self) -> int:
        """Word-line drives per inference: every input row once per input cycle, for every
        column tile that holds a copy of the row."""
        return self.input_cycles * self.in_features * self.col_tiles

    @property
    def level_max(self) -> int:
        return 2**self.bits_per_cell - 1

    @property
    def level_gain(self) -> int:
        """Levels per unit of the stored value: a value narrower than the cell is spread over the
        whole conductance range (a binary weight uses g_min and g_max, not the first level)."""
        if self.slices > 1 or self.fixed_random:
            return 1
        return max(1, self.level_max // (2**self.stored_bits - 1))

    @property
    def cell_code_max(self) -> int:
        """Largest stored value one cell holds, in weight-code units."""
        return self.level_max // self.level_gain

    def slice_shifts(self) -> list[int]:
        return [self.bits_per_cell * j for j in range(self.slices)]

    def row_ranges(self) -> list[tuple[int, int]]:
        return [(start, min(start + self.rows, self.in_features)) for start in range(0, self.in_features, self.rows)]

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(level_gain=self.level_gain, tiles=self.tiles, physical_columns=self.physical_columns, cells_used=self.cells_used,
                    cells_allocated=self.cells_allocated, utilisation=self.utilisation,
                    adc_conversions=self.adc_conversions, dac_drives=self.dac_drives)
        return data


@dataclass(frozen=True)
class CrossbarMapping:
    """The whole graph on one card: per-layer mappings plus the layers they compute."""

    card: str
    layers: tuple[LayerMapping, ...]
    graph_layers: tuple[DenseLayer, ...]  # input quantiser filled in where the graph had a float input
    inserted_input_quant: bool  # True when the backend quantises a float graph input with the DAC

    @property
    def tiles(self) -> int:
        return sum(m.tiles for m in self.layers)

    def to_dict(self) -> dict:
        return {"card": self.card, "tiles": self.tiles, "inserted_input_quant": self.inserted_input_quant,
                "cells_used": sum(m.cells_used for m in self.layers),
                "cells_allocated": sum(m.cells_allocated for m in self.layers),
                "adc_conversions": sum(m.adc_conversions for m in self.layers),
                "layers": [m.to_dict() for m in self.layers]}


def float_input_quant(bits: int, full_scale: float, signed: bool) -> QuantSpec:
    """The DAC's quantiser for a float graph input: ``bits`` uniform levels up to ``full_scale``."""
    levels = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    return QuantSpec(bits=bits, signed=signed, scale=np.array(full_scale / levels))


def _stored_value_bits(layer: DenseLayer, scheme: str) -> tuple[int, int]:
    """(bits of the stored non-negative value, offset) for a layer's weight codes."""
    spec = layer.weight_quant
    low = -1 if spec.bipolar else spec.code_min
    high = 1 if spec.bipolar else spec.code_max
    low, high = min(low, int(layer.weight.min(initial=0))), max(high, int(layer.weight.max(initial=0)))
    if scheme == "differential":
        return max(1, max(abs(low), abs(high)).bit_length()), 0
    offset = max(0, -low)
    return max(1, (high + offset).bit_length()), offset


def map_layer(layer: DenseLayer, card: Card, *, fixed_random: bool = False) -> LayerMapping:
    array, dac = card.array, card.dac
    if layer.input_quant is None:
        raise ParameterError(f"{layer.name}: the crossbar needs integer inputs", hint="map the graph with map_graph()")
    scheme = "differential" if fixed_random else array.mapping  # a random sign needs a pair
    bits_per_cell = int(array.bits_per_cell.value)
    stored_bits, offset = _stored_value_bits(layer, scheme)
    slices = 1 if fixed_random else math.ceil(stored_bits / bits_per_cell)
    spec = layer.input_quant
    low, high = (-1, 1) if spec.bipolar else (spec.code_min, spec.code_max)
    input_bits, input_signed = _word_bits(low, high)
    dac_bits = int(dac.bits.value)
    if dac.mode == "bit_serial" and dac_bits != 1:
        raise ParameterError(f"card {card.name}: a bit-serial DAC must have dac.bits = 1 (has {dac_bits})",
                             hint="set dac.mode = 'multilevel' or dac.bits = 1")
    if dac_bits > 16:
        raise BitWidthError(f"card {card.name}: dac.bits = {dac_bits} is impossible", hint="use 1..16")
    rows, cols = int(array.rows.value), int(array.cols.value)
    columns_per_weight = slices * (2 if scheme == "differential" else 1)
    if columns_per_weight > cols:
        raise ParameterError(f"{layer.name}: one weight needs {columns_per_weight} columns, a tile has {cols}",
                             hint="use a card with more columns or more bits per cell")
    weights_per_tile = cols // columns_per_weight  # a weight's cells never straddle two tiles
    return LayerMapping(
        name=layer.name, in_features=layer.in_features, out_features=layer.out_features, scheme=scheme,
        stored_bits=stored_bits, offset=offset, bits_per_cell=bits_per_cell, slices=slices,
        input_bits=input_bits, input_signed=input_signed, dac_bits=dac_bits,
        input_cycles=math.ceil(input_bits / dac_bits), rows=rows, cols=cols,
        row_tiles=math.ceil(layer.in_features / rows), col_tiles=math.ceil(layer.out_features / weights_per_tile),
        columns_per_weight=columns_per_weight, fixed_random=fixed_random, nonzero_weights=layer.nonzero_weights)


def map_graph(graph: LayerGraph, card: Card, *, input_bits: int | None = None,
              input_full_scale: float = 1.0, input_signed: bool = False,
              switched_fixed_random: bool = True) -> CrossbarMapping:
    """Map every layer; a float graph input gets a DAC quantiser of ``input_bits`` (default 8)
    over [0, input_full_scale] (or symmetric when ``input_signed``).  Fixed-random layers are
    realised by switching (binary cells, no program-and-verify) unless ``switched_fixed_random``
    is False, which programs their exported weights like any other layer."""
    if card.family != "crossbar":
        raise ParameterError(f"card {card.name!r} is a {card.family} card", hint="pick a crossbar card")
    layers = list(graph.layers)
    inserted = layers[0].input_quant is None
    if inserted:
        bits = DEFAULT_FLOAT_INPUT_BITS if input_bits is None else int(input_bits)
        if not 1 <= bits <= 16:
            raise BitWidthError(f"input_bits = {bits} is impossible for a DAC", hint="use 1..16")
        if not (math.isfinite(input_full_scale) and input_full_scale > 0):
            raise ParameterError(f"input full scale {input_full_scale} must be a positive number",
                                 hint="pass the largest |input| after pre-processing")
        layers[0] = replace(layers[0], input_quant=float_input_quant(bits, input_full_scale, input_signed))
    graph_for_check = replace(graph, layers=tuple(layers))
    graph_for_check.require_integer("the crossbar backend")
    fixed = set(graph.fixed_random_layers) if switched_fixed_random else set()
    mapped = tuple(map_layer(layer, card, fixed_random=layer.name in fixed) for layer in layers)
    return CrossbarMapping(card=card.name, layers=mapped, graph_layers=tuple(layers), inserted_input_quant=inserted)


def stored_levels(weight: np.ndarray, mapping: LayerMapping) -> np.ndarray:
    """Programmed cell levels, shape (polarities, slices, out, in), int64 in [0, 2**bits_per_cell - 1].

    Polarity 0 is the positive column (the only one with an offset mapping), polarity 1 the
    negative column of a differential pair; slice 0 holds the least significant bits.  A
    fixed-random layer stores one binary (un-verified SET) cell per polarity: ON where the
    weight has that sign.
    """
    weight = np.asarray(weight, dtype=np.int64)
    if mapping.fixed_random:
        on = np.stack([weight > 0, weight < 0]) if mapping.scheme == "differential" else (weight > 0)[None]
        return on[:, None].astype(np.int64) * mapping.level_max
    if mapping.scheme == "differential":
        values = np.stack([np.maximum(weight, 0), np.maximum(-weight, 0)])
    else:
        values = (weight + mapping.offset)[None]
    mask = mapping.level_max
    return np.stack([(values >> shift) & mask for shift in mapping.slice_shifts()], axis=1) * mapping.level_gain


def conductance_tiles(levels: np.ndarray, mapping: LayerMapping, g_min: float, g_max: float) -> dict[str, np.ndarray]:
    """Physical tile images (siemens, float32), keyed ``tile_r{i}_c{j}``: rows = inputs, columns =
    (output, slice, polarity) in that order; unused cells sit at g_min."""
    polarities, slices, out, inputs = levels.shape
    step = (g_max - g_min) / mapping.level_max
    columns = levels.transpose(3, 2, 1, 0).reshape(inputs, out * slices * polarities)  # (in, out*slices*pol)
    per_tile = mapping.cols // mapping.columns_per_weight * mapping.columns_per_weight
    tiles = {}
    for i, (r0, r1) in enumerate(mapping.row_ranges()):
        for j in range(mapping.col_tiles):
            image = np.full((mapping.rows, mapping.cols), g_min, dtype=np.float32)
            block = columns[r0:r1, j * per_tile:(j + 1) * per_tile]
            image[: r1 - r0, : block.shape[1]] = g_min + block * step
            tiles[f"{mapping.name}_tile_r{i}_c{j}"] = image
    return tiles
