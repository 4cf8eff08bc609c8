"""A learned per-feature gain and offset in front of the input quantiser.

A printed classifier reads each sensor through its own converter, whose reference levels are
free design parameters: they cost nothing in the digital circuit. Learning them with the
network lets a 1-bit input be one comparator at the threshold that matters for that feature,
and a b-bit input cover the part of the feature's range the classifier uses.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class InputAffine(nn.Module):
    """y = x * gain + offset per feature, starting as the identity (exports as Mul, Add)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(features))
        self.offset = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain + self.offset
