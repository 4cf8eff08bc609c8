"""Whether this CPU multiplies int8 matrices faster than float32 ones, measured once per process.

``torch._int_mm`` is 4-5x faster than a float32 GEMM on CPUs with VNNI (AVX512-VNNI, AVX-VNNI,
AMX) and about 70x slower on plain AVX2, where it falls back to a reference loop.  CPU flags do
not say which kernel torch's build will pick, so the choice is a short measurement: both
kernels on a product of the first layer's typical shape, int8 taken when clearly faster.  The
choice changes speed only: both kernels compute the same exact integer sums on the same grid.
``CODESIGN_INT8=0`` or ``=1`` overrides the measurement.
"""

from __future__ import annotations

import functools
import os
import time

import torch

SPEED_UP = 1.3  # int8 must beat float32 by this much (two int8 planes may replace one float product)


def _seconds(product, repeats: int = 3) -> float:
    product()  # warm-up: kernel selection, packing buffers
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - start)
    return best


@functools.cache
def fast_int8_matmul() -> bool:
    """True when int8 GEMMs are at least ``SPEED_UP`` times as fast as float32 ones here."""
    forced = os.environ.get("CODESIGN_INT8")
    if forced in ("0", "1"):
        return forced == "1"
    if not hasattr(torch, "_int_mm"):
        return False
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(-127, 128, (128, 256), dtype=torch.int8, generator=generator)
    w = torch.randint(-127, 128, (256, 128), dtype=torch.int8, generator=generator)
    xf, wf = x.to(torch.float32), w.to(torch.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # per-core speed; a busy second core would time its barrier waits
    try:
        int8 = _seconds(lambda: torch._int_mm(x, w))
        float32 = _seconds(lambda: xf @ wf)
    except RuntimeError:
        return False
    finally:
        torch.set_num_threads(threads)
    return float32 > SPEED_UP * int8
