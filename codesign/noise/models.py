"""Hardware non-idealities, each a small dataclass: what is wrong with a real chip.

All of them act on integer weight codes in the weight domain of a differential conductance
pair: a code w in [-w_max, w_max] is stored as two cells with normalised conductances
g+ = max(w, 0) / w_max and g- = max(-w, 0) / w_max in [0, 1] (0 = Gmin, 1 = Gmax).
Sigmas are relative to the conductance range Gmax - Gmin, as in the RRAM literature.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields

from codesign.errors import ParameterError

ENCODINGS = ("twos_complement", "sign_magnitude", "offset")


def _check_rate(name: str, value: float, *, upper: float | None = 1.0) -> None:
    if not isinstance(value, int | float) or math.isnan(value) or value < 0 or (upper is not None and value > upper):
        bound = f"[0, {upper}]" if upper is not None else ">= 0"
        raise ParameterError(f"{name} = {value!r} is out of range", hint=f"use a value in {bound}")


@dataclass(frozen=True)
class ProgrammingNoise:
    """Per-device Gaussian error left after program-and-verify (sigma / conductance range)."""

    sigma: float = 0.0

    def __post_init__(self) -> None:
        _check_rate("programming noise sigma", self.sigma, upper=None)


@dataclass(frozen=True)
class DeviceVariability:
    """Device-to-device multiplicative spread: g -> g * exp(N(0, sigma)) (log-normal)."""

    sigma: float = 0.0

    def __post_init__(self) -> None:
        _check_rate("device variability sigma", self.sigma, upper=None)


@dataclass(frozen=True)
class ReadNoise:
    """Cycle-to-cycle Gaussian noise, drawn fresh for every inference (sigma / range)."""

    sigma: float = 0.0

    def __post_init__(self) -> None:
        _check_rate("read noise sigma", self.sigma, upper=None)


@dataclass(frozen=True)
class BitStuckAt:
    """Each stored weight bit stuck at 0 or 1 with probability ``rate``; ``sa1_fraction`` of
    the faulty bits are stuck at 1. ``encoding`` is how the code is stored."""

    rate: float = 0.0
    sa1_fraction: float = 0.5
    encoding: str = "twos_complement"

    def __post_init__(self) -> None:
        _check_rate("bit-fault rate", self.rate)
        _check_rate("SA1 fraction", self.sa1_fraction)
        if self.encoding not in ENCODINGS:
            raise ParameterError(f"unknown weight encoding {self.encoding!r}", hint=f"use one of {', '.join(ENCODINGS)}")


@dataclass(frozen=True)
class DeviceStuckAt:
    """Cells stuck at Gmin or Gmax (fractions of all cells)."""

    gmin_rate: float = 0.0
    gmax_rate: float = 0.0

    def __post_init__(self) -> None:
        _check_rate("stuck-at-Gmin rate", self.gmin_rate)
        _check_rate("stuck-at-Gmax rate", self.gmax_rate)
        if self.gmin_rate + self.gmax_rate > 1:
            raise ParameterError("stuck-at-Gmin + stuck-at-Gmax rates exceed 1", hint="lower one of them")


@dataclass(frozen=True)
class Drift:
    """Conductance drift g(t) = g(t0) * (t / t0) ** -nu, nu ~ N(nu, nu_sigma) per device."""

    nu: float = 0.0
    nu_sigma: float = 0.0
    time_s: float = 1.0
    t0_s: float = 1.0

    def __post_init__(self) -> None:
        _check_rate("drift exponent nu", self.nu, upper=None)
        _check_rate("drift nu sigma", self.nu_sigma, upper=None)
        if not self.time_s >= self.t0_s > 0:
            raise ParameterError(f"drift time {self.time_s} s must be >= t0 {self.t0_s} s > 0",
                                 hint="evaluate at or after the reference time")


COMPONENTS = {"programming": ProgrammingNoise, "variability": DeviceVariability, "read": ReadNoise,
              "bit_faults": BitStuckAt, "device_faults": DeviceStuckAt, "drift": Drift}


@dataclass(frozen=True)
class NoiseModel:
    """The complete non-ideality model of a chip; the all-default model is an ideal chip."""

    programming: ProgrammingNoise = field(default_factory=ProgrammingNoise)
    variability: DeviceVariability = field(default_factory=DeviceVariability)
    read: ReadNoise = field(default_factory=ReadNoise)
    bit_faults: BitStuckAt = field(default_factory=BitStuckAt)
    device_faults: DeviceStuckAt = field(default_factory=DeviceStuckAt)
    drift: Drift = field(default_factory=Drift)

    @property
    def is_ideal(self) -> bool:
        return self.static_is_ideal and self.read.sigma == 0

    @property
    def static_is_ideal(self) -> bool:
        """No per-chip perturbation of the stored weights."""
        return self.bit_faults.rate == 0 and self.device_is_ideal

    @property
    def device_is_ideal(self) -> bool:
        return (self.programming.sigma == 0 and self.variability.sigma == 0
                and self.device_faults.gmin_rate == 0 and self.device_faults.gmax_rate == 0
                and (self.drift.nu == 0 and self.drift.nu_sigma == 0 or self.drift.time_s == self.drift.t0_s))

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> NoiseModel:
        unknown = set(data) - set(COMPONENTS)
        if unknown:
            raise ParameterError(f"unknown noise component {sorted(unknown)[0]!r}",
                                 hint=f"use {', '.join(COMPONENTS)}")
        parts = {}
        for name, values in data.items():
            component = COMPONENTS[name]
            allowed = {f.name for f in fields(component)}
            if not isinstance(values, dict) or set(values) - allowed:
                bad = sorted(set(values) - allowed)[0] if isinstance(values, dict) else values
                raise ParameterError(f"unknown parameter {bad!r} of noise component {name!r}",
                                     hint=f"use {', '.join(sorted(allowed))}")
            parts[name] = component(**values)
        return cls(**parts)

    @classmethod
    def from_json(cls, text: str) -> NoiseModel:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ParameterError(f"noise model is not valid JSON ({exc})", hint="re-export the model") from None

    @classmethod
    def from_card(cls, card, **overrides) -> NoiseModel:
        """Defaults from a crossbar card's [noise] section, then keyword overrides."""
        noise = card.noise
        drift_nu = noise.drift_nu.value if noise.drift_nu is not None else 0.0
        model = cls(programming=ProgrammingNoise(noise.programming.value),
                    variability=DeviceVariability(noise.variability.value),
                    read=ReadNoise(noise.read.value),
                    device_faults=DeviceStuckAt(noise.stuck_at_gmin.value, noise.stuck_at_gmax.value),
                    drift=Drift(nu=drift_nu))
        return model.replace(**overrides)

    def replace(self, **overrides) -> NoiseModel:
        """Copy with components replaced: replace(bit_faults=BitStuckAt(0.1)) or bit_fault_rate=0.1."""
        parts = {name: getattr(self, name) for name in COMPONENTS}
        shortcuts = {"bit_fault_rate": ("bit_faults", "rate"), "variability_sigma": ("variability", "sigma"),
                     "programming_sigma": ("programming", "sigma"), "read_sigma": ("read", "sigma")}
        for key, value in overrides.items():
            if key in COMPONENTS:
                parts[key] = value
            elif key in shortcuts:
                name, attribute = shortcuts[key]
                parts[name] = type(parts[name])(**{**asdict(parts[name]), attribute: value})
            else:
                raise ParameterError(f"unknown noise parameter {key!r}",
                                     hint=f"use {', '.join([*COMPONENTS, *shortcuts])}")
        return NoiseModel(**parts)


NAMED_MODELS = ("ideal", "bit_faults", "variability", "card")


def named_model(name: str, *, level: float = 0.0, card=None) -> NoiseModel:
    """A model by name, as flows and sweeps spell it: 'bit_faults' at a rate, 'variability' at a sigma."""
    if name == "ideal":
        return NoiseModel()
    if name == "bit_faults":
        return NoiseModel(bit_faults=BitStuckAt(level))
    if name == "variability":
        return NoiseModel(variability=DeviceVariability(level))
    if name == "card":
        if card is None:
            raise ParameterError("noise model 'card' needs a crossbar card", hint="pass --card NAME")
        return NoiseModel.from_card(card)
    raise ParameterError(f"unknown noise model {name!r}", hint=f"use one of {', '.join(NAMED_MODELS)}")


def noise_model_of(graph) -> NoiseModel | None:
    """The noise model a graph was trained against (from its QONNX metadata), if any."""
    text = graph.metadata.get("codesign.noise_model")
    return NoiseModel.from_json(text) if text else None
