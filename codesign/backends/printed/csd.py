"""Canonical signed-digit (non-adjacent) form: how a bespoke circuit multiplies by a constant.

A constant multiplier built from shifts costs one adder per non-zero digit after the first,
so the digit count is the cost model every approximation in this package works against.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=65536)
def csd(value: int) -> tuple[tuple[int, int], ...]:
    """Non-zero digits of ``value`` as (shift, sign) pairs, lowest shift first."""
    digits = []
    x, shift = int(value), 0
    while x:
        if x & 1:
            digit = 2 - (x & 3)  # +1 or -1: the non-adjacent form never has two digits in a row
            digits.append((shift, digit))
            x -= digit
        x >>= 1
        shift += 1
    return tuple(digits)


def digit_count(value: int) -> int:
    return len(csd(value))


def cheapest_near(value: int, tolerance: int) -> int:
    """The constant within ``value ± tolerance`` with the fewest CSD digits (closest on ties)."""
    best = value
    for delta in sorted(range(-tolerance, tolerance + 1), key=abs):
        candidate = value + delta
        if digit_count(candidate) < digit_count(best):
            best = candidate
    return best
