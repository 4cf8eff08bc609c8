"""Fixed-random layers: weights drawn once from a device's switching distribution, never trained.

A resistive cell SET without program-and-verify lands in the ON state with probability
``p_set`` and with a log-normal conductance spread; a differential pair of such cells gives
a random weight. The layer is realised on a crossbar with one pulse per cell, at no
programming cost (the zero-shot liquid-state-machine approach); training happens around it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch

from codesign.errors import ParameterError


@dataclass(frozen=True)
class SwitchingDistribution:
    p_set: float = 0.5  # probability that one un-verified SET pulse switches a cell ON
    sigma: float = 0.3  # log-normal spread of the ON conductance

    def __post_init__(self) -> None:
        if not 0.0 < self.p_set < 1.0:
            raise ParameterError(f"p_set = {self.p_set} must be in (0, 1)", hint="e.g. 0.5")
        if self.sigma < 0:
            raise ParameterError(f"sigma = {self.sigma} must be >= 0", hint="e.g. 0.3")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Effective weights g+ - g- of differential pairs (in units of the mean ON conductance)."""
        on = torch.rand((2, *shape), generator=generator) < self.p_set
        spread = torch.exp(self.sigma * torch.randn((2, *shape), generator=generator))
        cells = on.float() * spread
        return cells[0] - cells[1]


def make_fixed_random(layer, distribution: SwitchingDistribution, seed: int) -> None:
    """Overwrite a NoisyQuantLinear's weights with a device sample and freeze them."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sample = distribution.sample(tuple(layer.weight.shape), generator)
        layer.weight.copy_(sample / layer.weight.shape[1] ** 0.5)
    layer.weight.requires_grad_(False)
    layer.fixed_random = True
