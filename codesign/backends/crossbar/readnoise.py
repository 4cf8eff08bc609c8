"""Per-inference read noise that is cheap, reproducible and independent of batching.

Read noise is needed for every column sum of every inference of every chip instance, which
makes drawing fresh Gaussians the dominant cost of a Monte-Carlo run.  The ``table`` source
draws one table of 2**22 standard normals per seed; each (layer, sample block, read) gets a
base offset from a counter-based hash, and instance k reads the window at base + k * stride
(stride = window + 17), so the windows of a chunk of instances form one strided view: no
copy, one fused multiply-add per read.  Values inside a window are independent, windows of
different reads overlap only by chance.  The ``exact`` source draws
fresh values from a seeded generator per window instead (about 5-10x slower overall).
Either way the result depends only on (seed, instance, layer, block, read), never on how
instances are grouped into chunks.
"""

from __future__ import annotations

import torch

from codesign.noise.perturb import generator

SOURCES = ("table", "exact")
TABLE_SIZE = 2**22
MAX_WINDOW = TABLE_SIZE // 4
BLOCK = 1024  # samples per noise window: the unit of reproducibility
_MASK = 2**64 - 1


def _mix(*values: int) -> int:
    """splitmix64 over a tuple of integers: a counter-based hash."""
    state = 0x9E3779B97F4A7C15
    for value in values:
        state = (state + (value & _MASK) + 0x9E3779B97F4A7C15) & _MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        state = z ^ (z >> 31)
    return state


class ReadNoiseSource:
    """Standard-normal windows keyed by (instance, layer, block, read)."""

    def __init__(self, seed: int, source: str = "table", dtype: torch.dtype = torch.float32) -> None:
        if source not in SOURCES:
            raise ValueError(source)
        self.seed, self.source, self.dtype = seed, source, dtype
        self._table: torch.Tensor | None = None

    @property
    def table(self) -> torch.Tensor:
        if self._table is None:
            gen = generator(self.seed, -1, -1, "read-table")
            table = torch.randn(TABLE_SIZE, generator=gen, dtype=torch.float32).to(self.dtype)
            self._table = torch.cat([table, table[:MAX_WINDOW]])  # windows may run past the end
        return self._table

    def _exact(self, instance: int, layer: int, block: int, read: int, shape: tuple[int, int]) -> torch.Tensor:
        gen = generator(self.seed, instance, layer, f"read/{block}/{read}")
        return torch.randn(shape, generator=gen, dtype=self.dtype)

    def windows(self, instances: range, layer: int, block: int, read: int,
                shape: tuple[int, int]) -> list[tuple[int, torch.Tensor]]:
        """Standard normals for a chunk of instances as [(first position in the chunk, (run, *shape))]."""
        batch, out = shape
        count = batch * out
        if self.source == "exact" or count > MAX_WINDOW:
            return [(position, self._exact(k, layer, block, read, shape).unsqueeze(0))
                    for position, k in enumerate(instances)]
        stride = count + 17
        base = _mix(self.seed, layer, block, read)
        table = self.table
        parts = []
        k = instances.start
        while k < instances.stop:
            offset = (base + k * stride) % TABLE_SIZE
            run = min(instances.stop - k, (TABLE_SIZE - 1 - offset) // stride + 1)
            view = torch.as_strided(table, size=(run, batch, out), stride=(stride, out, 1), storage_offset=offset)
            parts.append((k - instances.start, view))
            k += run
        return parts
