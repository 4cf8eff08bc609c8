"""One read of a tile for a chunk of chip instances: column sums -> read noise -> ADC -> shift-and-add.

Read noise is fresh for every read of every column of every inference of every instance.  The
default ``philox`` source is counter-based (``codesign.noise.philox``): the normal of element
(instance k, sample b, column c) of read r of layer l is Philox4x32-10 of counter
(index (b * columns + c) // 4, k, l * 2**20 + r) under a key derived from the seed, so it depends on
nothing else.  On the CPU the whole read (noise, scaling, rounding, clipping, accumulation) is
one pass of the compiled kernel (``codesign.noise.kernels``); elsewhere, or without a C
compiler, the same bits come from torch operations.  The ``torch`` source draws the normals of
each (instance, layer, block of samples, read) from its own seeded torch generator (slower; an
independent reference for the statistics; its values also depend on the fixed block size).
Both are fresh: no value is ever reused.
"""

from __future__ import annotations

import torch
from torch.profiler import record_function

from codesign.noise import kernels
from codesign.noise.perturb import generator
from codesign.noise.philox import normals, stream_key

SOURCES = ("philox", "torch")
FRESH = {"philox": True, "torch": True}
IMPLEMENTATIONS = ("auto", "compiled", "torch")
MAX_READS = 2**20


class ReadNoise:
    """Applies reads for one simulation: fixed seed, source and implementation."""

    def __init__(self, seed: int, source: str = "philox", implementation: str = "auto",
                 device: torch.device | None = None) -> None:
        if source not in SOURCES:
            raise ValueError(source)
        self.seed, self.source = seed, source
        self.key = stream_key(seed, "read")
        cpu = device is None or torch.device(device).type == "cpu"
        lib = kernels.load() if implementation != "torch" and cpu and source == "philox" else None
        if implementation == "compiled" and lib is None:
            raise RuntimeError("the compiled read kernel is not available (no C compiler, or CODESIGN_KERNELS=0)")
        self.lib = lib

    @property
    def compiled(self) -> bool:
        return self.lib is not None

    def read(self, acc: torch.Tensor, sums: torch.Tensor, std: torch.Tensor | None, colscale: torch.Tensor, *,
             layer: int, read: int, instances: range, first_sample: int, shared: bool, code_range: tuple[int, int],
             quantize: bool, weight: float, accumulate: bool) -> None:
        """acc (K, B, C) (+)= weight * ADC(sums * colscale[k] + std[k, b] * z) in place.

        ``sums`` is (B, K, C) when ``shared`` (one product for a chunk's shared input), else
        (K, B, C); ``std`` is (B,) when shared, else (K, B), or None without read noise.
        """
        with record_function("crossbar.read_noise_adc"):
            self._read(acc, sums, std, colscale, layer, read, instances, first_sample, shared, code_range, quantize,
                       weight, accumulate)

    def _read(self, acc, sums, std, colscale, layer, read, instances, first_sample, shared, code_range, quantize,
              weight, accumulate) -> None:
        stream = layer * MAX_READS + read
        if (self.lib is not None and sums.dtype in (torch.float32, torch.int32) and acc.dtype == torch.float32
                and acc.is_contiguous() and sums.is_contiguous()):
            self._compiled(acc, sums, std, colscale, stream, instances, first_sample, shared, code_range, quantize,
                           weight, accumulate)
            return
        count = len(instances)
        view = sums.transpose(0, 1) if shared else sums  # (K, B, C)
        if view.dtype == torch.int32:  # exact sums of int8 products, rounded once, as the kernel does
            view = view.to(acc.dtype)
        value = view * colscale.to(view.dtype).view(count, 1, 1)
        if std is not None:
            z = self._normals(count, view.shape[1], view.shape[2], stream, instances, first_sample, layer, read,
                              view.device).to(view.dtype)
            noise_std = std.view(1, -1, 1) if shared else std.unsqueeze(-1)
            value = value + z * noise_std.to(view.dtype)
        if quantize:
            value = value.round_().clamp_(*code_range)
        value = value * weight
        if accumulate:
            acc.add_(value)
        else:
            acc.copy_(value)

    def _normals(self, count: int, batch: int, columns: int, stream: int, instances: range, first_sample: int,
                 layer: int, read: int, device) -> torch.Tensor:
        if self.source == "philox":
            rows = torch.arange(first_sample, first_sample + batch, device=device).view(1, -1, 1)
            linear = rows * columns + torch.arange(columns, device=device).view(1, 1, -1)
            chips = torch.arange(instances.start, instances.stop, device=device).view(-1, 1, 1)
            return normals(linear, chips, stream, self.key)
        return torch.stack([torch.randn((batch, columns), generator=generator(self.seed, k, layer,
                                                                               f"read/{first_sample}/{batch}/{read}"),
                                        dtype=torch.float32) for k in instances]).to(device)

    def _compiled(self, acc, sums, std, colscale, stream, instances, first_sample, shared, code_range, quantize,
                  weight, accumulate) -> None:
        count, batch, columns = acc.shape
        if shared:
            s_k, s_b = columns, count * columns
        else:
            s_k, s_b = batch * columns, columns
        std_ptr = None
        t_k = t_b = 0
        if std is not None:
            std = std.to(torch.float32).contiguous()
            t_k, t_b = (0, 1) if shared else (batch, 1)
            std_ptr = std.data_ptr()
        scales = colscale.to(torch.float32).contiguous()
        status = self.lib.cs_read_adc(
            acc.data_ptr(), sums.data_ptr(), std_ptr, scales.data_ptr(), count, batch, columns, s_k, s_b,
            batch * columns, columns, t_k, t_b, instances.start, first_sample, stream, self.key[0], self.key[1],
            float(code_range[0]), float(code_range[1]), float(weight), int(quantize), int(accumulate),
            int(sums.dtype == torch.int32), torch.get_num_threads())
        if status != 0:
            raise RuntimeError(f"read kernel failed ({status}) for {columns} columns")
