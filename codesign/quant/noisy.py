"""A Brevitas QuantLinear that sees the chip's non-idealities while it trains.

In training mode, every forward pass perturbs the quantised weight codes with a freshly
sampled chip (bit faults, stuck cells, programming noise, variability) and adds read noise
to the column sums; gradients pass straight through the discrete faults. In eval mode, and
during export, it is exactly a QuantLinear.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from codesign.noise.models import NoiseModel
from codesign.noise.perturb import read_noise, weight_range
from codesign.quant.brevitas_import import qnn


class NoisyQuantLinear(qnn.QuantLinear):
    """QuantLinear + hardware-in-the-loop noise during training; ``fixed_random`` freezes weights."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.noise: NoiseModel | None = None
        self.noise_generator: torch.Generator | None = None
        self.chip: tuple[int, int, int] | None = None  # (seed, instance, layer index): a known chip
        self.fixed_random = False

    def set_noise(self, model: NoiseModel | None, seed: int) -> None:
        """Random chips: every training step samples a new one."""
        self.noise = None if model is None or model.is_ideal else model
        self.noise_generator = torch.Generator().manual_seed(seed)
        self.chip = None

    def set_chip(self, model: NoiseModel, seed: int, instance: int, layer_index: int) -> None:
        """One known chip: the same fault map as Monte-Carlo instance ``instance``, in training
        and in eval mode (chip-specific fault-aware fine-tuning)."""
        self.noise = None if model.is_ideal else model
        self.chip = (seed, instance, layer_index)

    def weight_code_range(self, quant=None) -> tuple[int, int, bool, bool]:
        """(bits, largest stored |code|, signed, bipolar) of the weight quantiser."""
        quant = self.quant_weight() if quant is None else quant
        bits = int(quant.bit_width.item())
        signed = bool(quant.signed)
        bipolar = bits == 1 and signed
        narrow = bool(getattr(self.weight_quant, "is_narrow_range", True))
        return bits, weight_range(bits, signed, bipolar, narrow), signed, bipolar

    def inner_forward_impl(self, x, quant_weight, quant_bias):
        if self.noise is None or (not self.training and self.chip is None):
            return super().inner_forward_impl(x, quant_weight, quant_bias)
        from codesign.noise.perturb import instance_generators, perturb

        x_value = x.value if hasattr(x, "value") else x
        weight = quant_weight.value if hasattr(quant_weight, "value") else quant_weight
        scale = quant_weight.scale
        bias = quant_bias.value if hasattr(quant_bias, "value") else quant_bias
        bits, w_max, signed, bipolar = self.weight_code_range(quant_weight)
        codes = weight / scale
        if self.chip is not None:
            gens = instance_generators(*self.chip)
        else:
            gens = dict.fromkeys(("bits", "stuck", "programming", "variability", "drift", "read"),
                                 self.noise_generator)
        noisy = perturb(codes, bits=bits, w_max=w_max, model=self.noise, gens=gens, signed=signed, bipolar=bipolar)
        out = F.linear(x_value, noisy * scale, bias)
        if self.noise.read.sigma:
            in_scale = x.scale if hasattr(x, "scale") and x.scale is not None else 1.0
            std_scale = scale.reshape(-1) * in_scale
            out = out + read_noise(torch.zeros_like(out), x_value / in_scale, self.noise.read.sigma, w_max,
                                   gens["read"]) * std_scale
        return out


def noisy_layers(model) -> list[NoisyQuantLinear]:
    return [m for m in model.modules() if isinstance(m, NoisyQuantLinear)]


def set_training_noise(model, noise: NoiseModel | None, seed: int = 0) -> None:
    """Enable (or, with None, disable) random-chip noise injection in every NoisyQuantLinear."""
    for index, layer in enumerate(noisy_layers(model)):
        layer.set_noise(noise, seed * 1000 + index)


def set_chip(model, noise: NoiseModel, seed: int, instance: int) -> None:
    """Make the model behave as Monte-Carlo chip ``instance`` of ``seed`` (layer i = dense i)."""
    for index, layer in enumerate(noisy_layers(model)):
        layer.set_chip(noise, seed, instance, index)
