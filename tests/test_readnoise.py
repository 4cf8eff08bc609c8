"""The counter-based read-noise generator: known answers, distribution, independence, determinism.

Statistics run on the compiled kernel (the default CPU path) and on the fused read itself, so
they test what the simulator uses; a separate test checks that the torch implementation gives
the same bits.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from codesign.backends.crossbar.readnoise import ReadNoise
from codesign.noise import kernels
from codesign.noise.philox import normals, philox4x32, stream_key

N = 1_000_000


def _compiled(n0: int, count: int, instance: int, stream: int, key: tuple[int, int]) -> torch.Tensor:
    lib = kernels.load()
    if lib is None:
        pytest.skip("no C compiler for the kernels")
    out = torch.empty(count, dtype=torch.float32)
    lib.cs_normals(out.data_ptr(), n0, count, instance, stream, *key)
    return out


@pytest.mark.parametrize(("counter", "key", "expected"), [  # Random123 kat_vectors, philox4x32-10
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
def test_philox_known_answers(counter, key, expected) -> None:
    words = philox4x32(tuple(torch.tensor([c], dtype=torch.int64) for c in counter), key)
    assert tuple(int(w) for w in words) == expected


def test_torch_and_compiled_generators_agree_bit_for_bit() -> None:
    key = stream_key(3, "read")
    index = torch.arange(7, 7 + N)
    np.testing.assert_array_equal(normals(index, 5, 11, key).numpy(), _compiled(7, N, 5, 11, key).numpy())


def test_mean_std_and_normality_on_a_million_samples() -> None:
    z = _compiled(0, N, 0, 0, stream_key(0, "read")).double().numpy()
    assert abs(z.mean()) < 5 / np.sqrt(N)  # 5 standard errors
    assert abs(z.std() - 1) < 5 / np.sqrt(2 * N)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(stats.skew(z)) < 5 * np.sqrt(6 / N) and abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / N)
    for threshold in (2.0, 3.0, 4.0):  # the tails carry the right mass
        expected = 2 * stats.norm.sf(threshold)
        assert abs(np.mean(np.abs(z) > threshold) - expected) < 5 * np.sqrt(expected / N)
    assert np.abs(z).max() < 6.8


def _uncorrelated(a: torch.Tensor, b: torch.Tensor) -> None:
    a, b = a.double().flatten().numpy(), b.double().flatten().numpy()
    r = np.corrcoef(a, b)[0, 1]
    assert abs(r) < 5 / np.sqrt(a.size), r
    assert abs(np.corrcoef(a * a, b * b)[0, 1]) < 5 / np.sqrt(a.size)  # nor dependent through the magnitude


def _read(reads: ReadNoise, instances: range, first_sample: int, batch: int, columns: int, std: float,
          read: int = 0, layer: int = 1) -> torch.Tensor:
    """What one fused read adds to zero column sums: std * z, shape (K, B, C)."""
    count = len(instances)
    acc = torch.empty((count, batch, columns))
    sums = torch.zeros((count, batch, columns))
    reads.read(acc, sums, torch.full((count, batch), std), torch.ones(count, dtype=torch.float64), layer=layer,
               read=read, instances=instances, first_sample=first_sample, shared=False, code_range=(0, 0),
               quantize=False, weight=1.0, accumulate=False)
    return acc


def test_fused_read_has_the_configured_std_and_no_correlation_between_reads_columns_samples_instances() -> None:
    reads = ReadNoise(seed=9)
    noise = _read(reads, range(16), 0, 1024, 64, std=0.25)  # 1 M values
    assert abs(noise.double().mean().item()) < 5 * 0.25 / np.sqrt(noise.numel())
    assert abs(noise.double().std().item() / 0.25 - 1) < 5 / np.sqrt(2 * noise.numel())
    assert stats.kstest(noise.double().numpy().ravel() / 0.25, "norm").pvalue > 1e-3
    _uncorrelated(noise[:-1], noise[1:])  # neighbouring instances
    _uncorrelated(noise[:, :-1], noise[:, 1:])  # neighbouring samples
    _uncorrelated(noise[..., :-1], noise[..., 1:])  # neighbouring columns
    _uncorrelated(noise, _read(reads, range(16), 0, 1024, 64, std=0.25, read=1))  # the next read
    _uncorrelated(noise, _read(reads, range(16), 0, 1024, 64, std=0.25, layer=2))  # the next layer
    _uncorrelated(noise, _read(ReadNoise(seed=10), range(16), 0, 1024, 64, std=0.25))  # another seed


def test_a_value_depends_only_on_its_instance_sample_and_column() -> None:
    reads = ReadNoise(seed=1)
    whole = _read(reads, range(12), 0, 700, 5, std=1.0)
    again = _read(reads, range(12), 0, 700, 5, std=1.0)
    assert torch.equal(whole, again)
    part = _read(reads, range(4, 7), 300, 200, 5, std=1.0)  # other chunk, other block of samples
    assert torch.equal(part, whole[4:7, 300:500])
    torch_path = _read(ReadNoise(seed=1, implementation="torch"), range(4, 7), 300, 200, 5, std=1.0)
    assert torch.equal(torch_path, part)


def test_shared_layout_read_matches_the_per_instance_layout() -> None:
    """The first layer's sums come as (B, K, C); the same element gets the same noise and ADC."""
    reads = ReadNoise(seed=2)
    sums = torch.randn(300, 6, 10) * 40
    std = torch.rand(300) * 3
    colscale = torch.rand(6, dtype=torch.float64) + 0.5
    out = {}
    for shared in (True, False):
        acc = torch.full((6, 300, 10), 0.5)
        source = sums if shared else sums.transpose(0, 1).contiguous()
        noise_std = std if shared else std.expand(6, 300).contiguous()
        reads.read(acc, source, noise_std, colscale, layer=0, read=3, instances=range(2, 8), first_sample=1000,
                   shared=shared, code_range=(-20, 20), quantize=True, weight=0.75, accumulate=True)
        out[shared] = acc
    assert torch.equal(out[True], out[False])
    codes = (out[True] - 0.5) / 0.75
    assert codes.min() == -20 and codes.max() == 20 and torch.equal(codes, codes.round())
