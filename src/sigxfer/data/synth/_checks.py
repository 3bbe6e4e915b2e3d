"""Parameter checks and seeding shared by the synthetic data generators."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from sigxfer.errors import ParameterError


def check_int(name: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ParameterError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def check_real(name: str, value, *, minimum: float = -math.inf, strict: bool = False) -> float:
    """A finite number >= minimum (> minimum when ``strict``)."""
    ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        bound = f"{'>' if strict else '>='} {minimum:g}" if minimum > -math.inf else "finite"
        raise ParameterError(f"{name}={value!r} must be a number {bound}")
    return float(value)


def check_range(name: str, value, *, minimum: float = -math.inf) -> tuple[float, float]:
    """A number (a fixed value) or a (low, high) pair with low <= high, both >= minimum."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        low, high = (check_real(name, v, minimum=minimum) for v in value)
        if low > high:
            raise ParameterError(f"{name}={value!r}: give (low, high) with low <= high")
        return low, high
    try:
        fixed = check_real(name, value, minimum=minimum)
    except ParameterError:
        raise ParameterError(f"{name}={value!r} must be a number or a (low, high) pair of numbers"
                             + (f" >= {minimum:g}" if minimum > -math.inf else "")) from None
    return fixed, fixed


def seed_sequence(seed) -> np.random.SeedSequence:
    """A SeedSequence from an int, None, a SeedSequence or a Generator (which it advances)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2**63)))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0):
        raise ParameterError(f"seed={seed!r} must be a non-negative integer, a numpy Generator or None")
    return np.random.SeedSequence(seed)


def as_generator(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed_sequence(seed))
