"""Hypothesis strategies for the seed's network, public for other projects' tests.

Needs hypothesis (``pip install twolayer[testing]``). Each strategy's docstring says what it
draws. Every case is a ``Case(x, y, params)`` of float64 arrays with consistent axes
``batch d_in hidden d_out``, writeable (so that a test can check they were not mutated).
"""

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from twolayer.shapes import Dims, Params, X, Y

__all__ = [
    "Case",
    "cases",
    "dims",
    "dyadic_cases",
    "dyadic_values",
    "float64_values",
    "integer_cases",
    "tie_cases",
]


class Case(NamedTuple):
    """One problem: inputs ``x (batch, d_in)``, targets ``y (batch, d_out)`` and ``params``."""

    x: X
    y: Y
    params: Params


def dims(*, max_size: int = 4, max_batch: int | None = None) -> st.SearchStrategy[Dims]:
    """Draw ``Dims`` with every axis in ``[1, max_size]`` (``batch`` up to ``max_batch``)."""
    size = st.integers(1, max_size)
    return st.builds(Dims, st.integers(1, max_batch or max_size), size, size, size)


def float64_values(*, max_magnitude: float = 4.0) -> st.SearchStrategy[float]:
    """Draw finite float64 values in ``[-max_magnitude, max_magnitude]``, subnormals included."""
    return st.floats(-max_magnitude, max_magnitude, allow_nan=False, allow_infinity=False)


def dyadic_values(*, max_units: int = 63, exponent: int = -4) -> st.SearchStrategy[float]:
    """Draw ``k * 2**exponent`` for integers ``|k| <= max_units``: a coarse, exact grid.

    On this grid every product and short sum in the network is exact in float64, so a test can
    reason about rounding exactly, and exact zeros of ``h`` (ReLU ties) are common.
    """
    return st.integers(-max_units, max_units).map(lambda k: float(np.ldexp(float(k), exponent)))


def _array(shape: tuple[int, int], values: st.SearchStrategy[float]) -> st.SearchStrategy[X]:
    return hnp.arrays(np.float64, shape, elements=values)


def _cases_of(sizes: Dims, values: st.SearchStrategy[float]) -> st.SearchStrategy[Case]:
    batch, d_in, hidden, d_out = sizes
    return st.builds(
        Case,
        _array((batch, d_in), values),
        _array((batch, d_out), values),
        st.builds(Params, _array((d_in, hidden), values), _array((hidden, d_out), values)),
    )


def cases(
    sizes: st.SearchStrategy[Dims] = dims(),  # noqa: B008 (a strategy is an immutable value)
    values: st.SearchStrategy[float] = float64_values(),  # noqa: B008
) -> st.SearchStrategy[Case]:
    """Draw a ``Case`` with the given dims and element values (default: float64 in [-4, 4])."""
    return sizes.flatmap(lambda drawn: _cases_of(drawn, values))


def dyadic_cases(sizes: st.SearchStrategy[Dims] = dims()) -> st.SearchStrategy[Case]:  # noqa: B008
    """Draw a ``Case`` on the dyadic grid of ``dyadic_values`` (multiples of 1/16 in [-4, 4])."""
    return cases(sizes, dyadic_values())


def integer_cases(
    sizes: st.SearchStrategy[Dims] = dims(),  # noqa: B008
    *,
    max_magnitude: int = 2,
) -> st.SearchStrategy[Case]:
    """Draw a ``Case`` of small integers in ``[-max_magnitude, max_magnitude]``: many exact ties."""
    return cases(sizes, st.integers(-max_magnitude, max_magnitude).map(float))


def _with_tie(case: Case, column: int, sample: int, feature: int, sign: float) -> Case:
    x, y, (w1, w2) = case
    w1 = w1.copy()
    w1[:, column] = 0.0
    if not x[sample].any():
        x = x.copy()
        x[sample, feature] = sign
    return Case(x, y, Params(w1, w2))


def tie_cases(sizes: st.SearchStrategy[Dims] = dims()) -> st.SearchStrategy[Case]:  # noqa: B008
    """Draw an integer ``Case`` in which ``h`` has exact zeros where they matter.

    One column ``j`` of ``w1`` is set to zero, so ``h[:, j] == 0`` for every sample, and one
    sample's ``x`` row is made non-zero, so that the tie convention changes ``grad_w1[:, j]``
    whenever ``grad_h_relu[:, j]`` is non-zero.
    """
    return integer_cases(sizes).flatmap(
        lambda case: st.builds(
            _with_tie,
            st.just(case),
            st.integers(0, case.params.w1.shape[1] - 1),
            st.integers(0, case.x.shape[0] - 1),
            st.integers(0, case.x.shape[1] - 1),
            st.sampled_from([-1.0, 1.0]),
        )
    )
