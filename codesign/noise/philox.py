"""Counter-based Gaussian noise: Philox4x32-10 feeding a Box-Muller transform in float32.

Every sample is a pure function of a 64-bit key (from the seed and a stream name) and a
128-bit counter (linear index, instance, stream id), so a value never depends on which other
values were drawn with it, on how work is chunked, split over threads or over machines.
Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) is the
generator of cuRAND, JAX and the CUDA side of torch; one call yields four 32-bit words, turned
into four standard normals by two Box-Muller transforms.  ``ln`` and ``sin``/``cos`` are
polynomials evaluated with IEEE-exact float32 operations only (no fused multiply-add), so the
torch implementation here (any device) and the compiled CPU kernel (``_kernels.c``, loaded by
``codesign.noise.kernels``) produce the same bits.  Largest reachable |z| is 6.8.

Linear index ``n`` of a plane maps to counter group ``n // 4`` and lane ``n % 4``.
"""

from __future__ import annotations

import hashlib

import torch

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK32 = 0xFFFFFFFF

# float32 constants, written as exact hex values (the C kernel uses the same literals)
_F = {name: float.fromhex(text) for name, text in {
    "inv11": "0x1.745d18p-4", "inv9": "0x1.c71c72p-4", "inv7": "0x1.24924ap-3", "inv5": "0x1.99999ap-3",
    "inv3": "0x1.555556p-2", "ln2": "0x1.62e43p-1", "sqrt2": "0x1.6a09e6p+0", "tscale": "0x1.921fb6p-23",
    "s9": "0x1.71de3ap-19", "s7": "0x1.a01a02p-13", "s5": "0x1.111112p-7", "s3": "0x1.555556p-3",
    "c10": "0x1.27e4fcp-22", "c8": "0x1.a01a02p-16", "c6": "0x1.6c16c2p-10", "c4": "0x1.555556p-5",
    "half_sqrt2": "0x1.6a09e6p-1"}.items()}


def stream_key(seed: int, stream: str) -> tuple[int, int]:
    """The two 32-bit key words of one named stream of a seed."""
    digest = hashlib.sha256(f"codesign-philox/{int(seed)}/{stream}".encode()).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:8], "little")


def _mulhilo(multiplier: int, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    product = value * multiplier  # < 2**64: wraps in int64, the low and high words survive the masks
    return (product >> 32) & MASK32, product & MASK32


def philox4x32(counter: tuple[torch.Tensor, ...], key: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    """Philox4x32-10 of int64 tensors holding uint32 counter words; returns four uint32 words (int64)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        hi0, lo0 = _mulhilo(M0, c0)
        hi1, lo1 = _mulhilo(M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0, k1 = (k0 + W0) & MASK32, (k1 + W1) & MASK32
    return c0, c1, c2, c3


def _chain(value: torch.Tensor, steps: list[tuple[str, float]]) -> torch.Tensor:
    for op, constant in steps:
        value = value * constant if op == "*" else value + constant
    return value


def box_muller(ra: torch.Tensor, rb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two uint32 words (int64 tensors) -> two float32 standard normals, exactly as the C kernel."""
    f = _F
    x = ra.to(torch.float32) + 0.5
    bits = x.view(torch.int32).to(torch.int64)
    e = ((bits >> 23) & 0xFF) - 127
    m = ((bits & 0x007FFFFF) | 0x3F800000).to(torch.int32).view(torch.float32)
    big = m > f["sqrt2"]
    m = torch.where(big, m * 0.5, m)
    e = torch.where(big, e + 1, e)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = torch.full_like(s, f["inv11"])
    for name in ("inv9", "inv7", "inv5", "inv3"):
        p = p * s2 + f[name]
    p = p * s2 + 1.0
    ln_u = (e - 32).to(torch.float32) * f["ln2"] + (s + s) * p
    r = torch.sqrt((ln_u * -2.0).double()).float()  # torch.sqrt of float32 is not correctly rounded on CPU
    q = rb >> 30
    t = ((rb >> 7) & 0x7FFFFF).to(torch.float32) + 0.5
    t = (t - 4194304.0) * f["tscale"]
    t2 = t * t
    sn = torch.full_like(t, f["s9"])
    for op, name in (("-", "s7"), ("+", "s5"), ("-", "s3")):
        sn = sn * t2 + (f[name] if op == "+" else -f[name])
    sn = (sn * t2 + 1.0) * t
    cs = torch.full_like(t, -f["c10"])
    for op, name in (("+", "c8"), ("-", "c6"), ("+", "c4")):
        cs = cs * t2 + (f[name] if op == "+" else -f[name])
    cs = (cs * t2 - 0.5) * t2 + 1.0
    c_rot = (cs - sn) * f["half_sqrt2"]
    s_rot = (cs + sn) * f["half_sqrt2"]
    cos_q = torch.where(q == 0, c_rot, torch.where(q == 1, -s_rot, torch.where(q == 2, -c_rot, s_rot)))
    sin_q = torch.where(q == 0, s_rot, torch.where(q == 1, c_rot, torch.where(q == 2, -s_rot, -c_rot)))
    return r * cos_q, r * sin_q


def normals(index: torch.Tensor, instance: int | torch.Tensor, stream: int, key: tuple[int, int]) -> torch.Tensor:
    """Standard normals (float32) of linear indices ``index`` (int64) in the planes (instance, stream);
    ``index`` and ``instance`` broadcast."""
    index = index.to(torch.int64)
    instance = torch.as_tensor(instance, dtype=torch.int64, device=index.device) & MASK32
    index, instance = torch.broadcast_tensors(index, instance)
    group = index >> 2
    lane = index & 3
    words = philox4x32((group & MASK32, (group >> 32) & MASK32, instance, torch.full_like(group, stream & MASK32)),
                       key)
    z0, z1 = box_muller(words[0], words[1])
    z2, z3 = box_muller(words[2], words[3])
    return torch.where(lane == 0, z0, torch.where(lane == 1, z1, torch.where(lane == 2, z2, z3)))


def standard_normals(count: int, instance: int, stream: int, key: tuple[int, int],
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """Normals of linear indices 0 .. count - 1 of one plane, float32: the compiled kernel on the
    CPU when available, else the torch implementation (the same bits)."""
    from codesign.noise import kernels

    lib = kernels.load() if torch.device(device).type == "cpu" else None
    if lib is None:
        return normals(torch.arange(count, device=device), instance, stream, key)
    out = torch.empty(count, dtype=torch.float32)
    lib.cs_normals(out.data_ptr(), 0, count, instance & MASK32, stream & MASK32, *key)
    return out
