"""The schema of target cards: what a card constant is, and the parameters of each shipped family.

Every field of a family dataclass is a ``constant()`` (a number with a dimension, an optional
range, converted to SI on load and carrying its source) or a ``setting()`` (a string, optionally
one of fixed choices); ``section`` marks a nested table. ``codesign.cards`` reads TOML into them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Constant:
    """A numeric card constant in SI units, with where it came from."""

    value: float
    unit: str  # as written in the card
    source: str

    def __float__(self) -> float:
        return float(self.value)

    def __int__(self) -> int:
        return int(self.value)


def constant(dimension: str, *, minimum: float | None = None, maximum: float | None = None,
             positive: bool = False, integer: bool = False, optional: bool = False, doc: str = ""):
    """Declare a card constant: its dimension, its valid range, and why it is there (doc)."""
    meta = {"kind": "constant", "dimension": dimension, "minimum": minimum, "maximum": maximum,
            "positive": positive, "integer": integer, "doc": doc}
    return field(default=None, metadata=meta) if optional else field(metadata=meta)


def setting(choices: tuple[str, ...] | None = None, *, default: Any = dataclasses.MISSING, doc: str = ""):
    meta = {"kind": "setting", "choices": choices, "doc": doc}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def section(cls):
    """Declare a card section (a nested table); optional sections get their defaults."""
    return field(metadata={"kind": "section", "cls": cls})


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class FpgaPart:
    name: str = setting(doc="Vendor part number, passed to hls4ml and the vendor tools")
    device_family: str = setting(doc="Device family, e.g. zynq7000, virtexuplus")
    luts: Constant = constant("count", positive=True, integer=True, doc="LUTs on the device")
    ffs: Constant = constant("count", positive=True, integer=True, doc="Flip-flops")
    dsps: Constant = constant("count", positive=True, integer=True, doc="DSP slices")
    bram_18k: Constant = constant("count", positive=True, integer=True, doc="18 Kb block RAMs")
    uram: Constant = constant("count", minimum=0, integer=True, optional=True, doc="UltraRAM blocks")
    dsp_a_bits: Constant = constant("bits", positive=True, integer=True,
                                    doc="Width of the DSP multiplier's wide input (25 or 27)")
    dsp_b_bits: Constant = constant("bits", positive=True, integer=True,
                                    doc="Width of the DSP multiplier's narrow input (18)")


@dataclass(frozen=True, kw_only=True)
class FpgaClock:
    period: Constant = constant("time", positive=True, doc="Target clock period of the design")
    uncertainty: Constant = constant("time", minimum=0, optional=True, doc="Clock uncertainty for HLS")


@dataclass(frozen=True, kw_only=True)
class FpgaPower:
    static: Constant = constant("power", minimum=0, doc="Device static power at typical conditions")
    lut_dynamic: Constant = constant("power", minimum=0, doc="Dynamic power per used LUT at the card's clock")
    ff_dynamic: Constant = constant("power", minimum=0, doc="Dynamic power per used flip-flop")
    dsp_dynamic: Constant = constant("power", minimum=0, doc="Dynamic power per used DSP slice")
    bram_dynamic: Constant = constant("power", minimum=0, doc="Dynamic power per used 18 Kb BRAM")
    toggle_rate: Constant = constant("dimensionless", minimum=0, maximum=1,
                                     doc="Switching activity assumed by the dynamic figures")


@dataclass(frozen=True, kw_only=True)
class FpgaArea:
    lut: Constant = constant("area", positive=True, doc="Silicon area per LUT incl. its routing share")
    ff: Constant = constant("area", positive=True, doc="Silicon area per flip-flop")
    dsp: Constant = constant("area", positive=True, doc="Silicon area per DSP slice")
    bram_18k: Constant = constant("area", positive=True, doc="Silicon area per 18 Kb BRAM")


@dataclass(frozen=True, kw_only=True)
class FpgaParams:
    part: FpgaPart = section(FpgaPart)
    clock: FpgaClock = section(FpgaClock)
    power: FpgaPower = section(FpgaPower)
    area: FpgaArea = section(FpgaArea)


@dataclass(frozen=True, kw_only=True)
class CrossbarArray:
    rows: Constant = constant("count", positive=True, integer=True, doc="Word lines per tile")
    cols: Constant = constant("count", positive=True, integer=True, doc="Bit lines per tile")
    bits_per_cell: Constant = constant("bits", minimum=1, maximum=8, integer=True,
                                       doc="Conductance levels per cell = 2**bits_per_cell")
    g_min: Constant = constant("conductance", minimum=0, doc="Lowest programmable conductance (HRS)")
    g_max: Constant = constant("conductance", positive=True, doc="Highest programmable conductance (LRS)")
    read_voltage: Constant = constant("voltage", positive=True, doc="Read voltage on a word line")
    read_time: Constant = constant("time", positive=True, doc="Array read (integration) time per input cycle")
    cell_area: Constant = constant("area", positive=True, doc="Area of one cell (1T1R)")
    wire_resistance: Constant = constant("resistance", minimum=0, optional=True,
                                         doc="Word/bit line resistance per cell segment (IR drop)")
    mapping: str = setting(("differential", "offset"), default="differential",
                           doc="Signed weights as a differential pair or an offset column")


@dataclass(frozen=True, kw_only=True)
class Converter:
    bits: Constant = constant("bits", minimum=1, maximum=16, integer=True, doc="Resolution")
    energy: Constant = constant("energy", minimum=0, doc="Energy per conversion")
    area: Constant = constant("area", minimum=0, doc="Area of one converter")
    time: Constant = constant("time", minimum=0, doc="Time per conversion")
    shared_by: Constant = constant("count", positive=True, integer=True, optional=True,
                                   doc="Columns (ADC) or rows (DAC) multiplexed onto one converter")
    mode: str = setting(("multilevel", "bit_serial", "sar", "flash"), default="multilevel",
                        doc="DAC input mode, or ADC architecture")


@dataclass(frozen=True, kw_only=True)
class CrossbarPeriphery:
    digital_energy_per_op: Constant = constant("energy", minimum=0,
                                               doc="Shift-and-add / accumulate energy per digital op")
    digital_area_per_tile: Constant = constant("area", minimum=0, doc="Digital periphery area per tile")
    digital_time_per_op: Constant = constant("time", minimum=0, doc="Latency of the digital accumulation step")


@dataclass(frozen=True, kw_only=True)
class CrossbarNoise:
    programming: Constant = constant("dimensionless", minimum=0, doc="Programming noise sigma / (Gmax-Gmin)")
    read: Constant = constant("dimensionless", minimum=0, doc="Read noise sigma / (Gmax-Gmin), per read")
    variability: Constant = constant("dimensionless", minimum=0, doc="Device-to-device log-normal sigma")
    stuck_at_gmin: Constant = constant("dimensionless", minimum=0, maximum=1, doc="Fraction of cells stuck at Gmin")
    stuck_at_gmax: Constant = constant("dimensionless", minimum=0, maximum=1, doc="Fraction of cells stuck at Gmax")
    drift_nu: Constant = constant("dimensionless", minimum=0, optional=True, doc="Drift exponent of G(t)=G0 (t/t0)^-nu")


@dataclass(frozen=True, kw_only=True)
class CrossbarParams:
    array: CrossbarArray = section(CrossbarArray)
    adc: Converter = section(Converter)
    dac: Converter = section(Converter)
    periphery: CrossbarPeriphery = section(CrossbarPeriphery)
    noise: CrossbarNoise = section(CrossbarNoise)


@dataclass(frozen=True, kw_only=True)
class PrintedCell:
    function: str = setting(doc="Boolean function in Liberty syntax, e.g. '!(A&B)'; 'latch'/'dff' for sequential")
    area: Constant = constant("area", positive=True, doc="Cell area")
    leakage: Constant = constant("power", minimum=0, doc="Static (leakage) power")
    delay: Constant = constant("time", positive=True, doc="Worst of rise/fall propagation delay")
    switching_energy: Constant = constant("energy", minimum=0, optional=True,
                                          doc="Energy per output transition")


@dataclass(frozen=True, kw_only=True)
class PrintedProcess:
    technology: str = setting(doc="Process name, e.g. EGFET")
    supply_voltage: Constant = constant("voltage", positive=True, doc="Supply voltage of the cell library")
    battery_power: Constant = constant("power", positive=True, doc="Power budget of a printed battery")
    clock_period: Constant = constant("time", positive=True, optional=True,
                                      doc="Classification period of published bespoke designs")


@dataclass(frozen=True, kw_only=True)
class PrintedInterface:
    architecture: str = setting(("flash",), doc="Converter per input: flash (2**bits - 1 comparators + encoder)")
    comparator_area: Constant = constant("area", positive=True, doc="Area of one analog comparator")
    comparator_power: Constant = constant("power", minimum=0, doc="Static power of one analog comparator")
    comparator_delay: Constant = constant("time", positive=True, doc="Decision time of one analog comparator")


@dataclass(frozen=True, kw_only=True)
class PrintedParams:
    process: PrintedProcess = section(PrintedProcess)
    cells: dict = field(default_factory=dict, metadata={"kind": "table", "cls": PrintedCell})
    # optional: the sensor interface (analog-to-digital converters), costed apart from the classifier
    interface: PrintedInterface | None = field(default=None, metadata={"kind": "section", "cls": PrintedInterface})


PARAMS = {"fpga": FpgaParams, "crossbar": CrossbarParams, "printed": PrintedParams}
