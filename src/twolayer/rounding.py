"""Floats rounded upward: the one model by which every bound of twolayer covers its own rounding.

A rigorous bound is a real-number formula (the error model of ``twolayer.bounds``, the tolerances
of ``twolayer.gradcheck``); evaluated in float64 it rounds, and may come out below the formula's
real value. Both modules evaluate their formulas in float64 and pass each result through
``round_up_bound`` with the number of roundings that it went through, which returns a float at
least the real value; exact values are rounded up with ``round_up``.
"""

import functools
import math
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

__all__ = ["ETA", "U", "round_up", "round_up_bound"]

U = Fraction(1, 2**53)
"""float64's unit roundoff: the bounds are evaluated in float64."""

ETA = math.ulp(0.0)
"""float64's smallest subnormal, ``2**-1074``: an underflowing product loses at most half of it."""


def round_up(value: Fraction) -> float:
    """Return the smallest float64 >= ``value`` (inf beyond float64's range).

    >>> round_up(Fraction(1, 3)) > 1 / 3, round_up(Fraction(1, 2))
    (True, 0.5)
    """
    try:
        nearest = float(value)
    except OverflowError:
        return math.inf
    return nearest if Fraction(nearest) >= value else math.nextafter(nearest, math.inf)


@functools.cache
def _widening(operations: int) -> float:
    """A float64 >= ``1 / (1 - u)**(operations + 2)``: see ``round_up_bound``."""
    return round_up(1 / (1 - U) ** (operations + 2))


def round_up_bound(computed: NDArray[np.float64], operations: int) -> NDArray[np.float64]:
    """Round a float64 evaluation of a bound up, so that it is at least the formula's real value.

    Returns ``fl(fl(computed F) + (n + 2) eta)`` with ``n = operations``, ``F`` the smallest
    float64 >= ``(1 - u)**-(n + 2)`` and ``eta`` the smallest subnormal; NaN (``inf * 0``, where
    a value could overflow) becomes inf.

    The proof. The formulas add non-negative terms, each a stored value (an exact input or a
    bound already rounded up), a sum of them, or a product of two such. Evaluated in float64 with
    at most ``n`` roundings on any path and at most ``n`` products, each rounding loses at most a
    factor ``1 - u`` and each product ``eta / 2`` more to underflow (which the later additions at
    most double), so the real value is ``T <= (computed + n eta) / (1 - u)**n``. Then
    ``fl(fl(computed F) + (n + 2) eta) >= T`` for ``F >= (1 - u)**-(n + 2)``: the product loses
    at most a factor ``1 - u`` and ``eta / 2``, the sum a factor ``1 - u``, and ``(n + 1.5) eta
    (1 - u) >= n eta / (1 - u)**n`` while ``n u`` is small. A rounding that the caller's
    argument adds outside the evaluation (``|a - b| <= |fl(a - b)| / (1 - u)``, say) counts as
    one of the ``n``.

    Args:
        computed: the float64 evaluation, non-negative (or NaN), any shape.
        operations: ``n``, the roundings (and products) on any path of the evaluation, >= 0.

    Returns:
        A new float64 array of ``computed``'s shape, each entry at least the real value.

    >>> round_up_bound(np.array([0.0, 1.0, np.nan]), 1).tolist()  # 1 + 4u, rounded up
    [1.5e-323, 1.0000000000000004, inf]
    """
    widened = computed * _widening(operations) + (operations + 2) * ETA
    return np.where(np.isnan(widened), np.inf, widened)
