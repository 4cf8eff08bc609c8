"""Device non-idealities (noise, variability, stuck-at faults, drift) and Monte-Carlo robustness."""

from codesign.noise.models import (
    BitStuckAt,
    DeviceStuckAt,
    DeviceVariability,
    Drift,
    NoiseModel,
    ProgrammingNoise,
    ReadNoise,
    named_model,
)

__all__ = ["BitStuckAt", "DeviceStuckAt", "DeviceVariability", "Drift", "NoiseModel", "ProgrammingNoise",
           "ReadNoise", "named_model"]
