"""Hypothesis strategies for the seed's network, public for other projects' tests.

hypothesis is a dependency of twolayer: the judge draws its cases from ``judge_cases`` here.
Each strategy's docstring says what it draws. Every case is a ``Case(x, y, params)`` of float64
arrays with consistent axes ``batch d_in hidden d_out``, writeable (so that a test can check they
were not mutated).
"""

import struct
from collections.abc import Callable
from functools import cache
from typing import Literal, NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from twolayer.shapes import Dims, Params, X, Y, frozen
from twolayer.vectors import CaseInputs

__all__ = [
    "Case",
    "bf16_cases",
    "bf16_values",
    "cancellation_cases",
    "cases",
    "dims",
    "dyadic_cases",
    "dyadic_values",
    "float32_cases",
    "float32_values",
    "float64_values",
    "grid_values",
    "integer_cases",
    "judge_cases",
    "learning_rates",
    "tie_cases",
    "wide_magnitude_cases",
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
    sizes: st.SearchStrategy[Dims] = dims(),
    values: st.SearchStrategy[float] = float64_values(),
) -> st.SearchStrategy[Case]:
    """Draw a ``Case`` with the given dims and element values (default: float64 in [-4, 4])."""
    return sizes.flatmap(lambda drawn: _cases_of(drawn, values))


def dyadic_cases(sizes: st.SearchStrategy[Dims] = dims()) -> st.SearchStrategy[Case]:
    """Draw a ``Case`` on the dyadic grid of ``dyadic_values`` (multiples of 1/16 in [-4, 4])."""
    return cases(sizes, dyadic_values())


def integer_cases(
    sizes: st.SearchStrategy[Dims] = dims(),
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


def tie_cases(sizes: st.SearchStrategy[Dims] = dims()) -> st.SearchStrategy[Case]:
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


# -- grids of narrower formats, cancellation, wide magnitudes ------------------------------------


def float32_values(*, max_magnitude: float = 4.0) -> st.SearchStrategy[float]:
    """Draw float32 numbers in ``[-max_magnitude, max_magnitude]``, as float64.

    Float32 subnormals included: data on the float32 grid, which a float32 implementation
    receives exactly.
    """
    return st.floats(
        -max_magnitude, max_magnitude, allow_nan=False, allow_infinity=False, width=32
    ).map(float)


def bf16_values(*, max_units: int = 255, exponent: int = -6) -> st.SearchStrategy[float]:
    """Draw numbers of the bf16 grid, in ``[-4, 4]`` by default, as float64.

    Each is ``k * 2**e`` for an integer ``|k| <= max_units`` (at most 8 significant bits) and
    ``e`` in ``[exponent - 6, exponent]``.
    """
    return st.builds(
        lambda units, shift: float(np.ldexp(float(units), shift)),
        st.integers(-max_units, max_units),
        st.integers(exponent - 6, exponent),
    )


def float32_cases(sizes: st.SearchStrategy[Dims] = dims()) -> st.SearchStrategy[Case]:
    """Draw a ``Case`` of float32 numbers in ``[-4, 4]`` (``float32_values``), as float64."""
    return cases(sizes, float32_values())


def bf16_cases(sizes: st.SearchStrategy[Dims] = dims()) -> st.SearchStrategy[Case]:
    """Draw a ``Case`` of bf16 numbers in ``[-4, 4]`` (``bf16_values``), as float64."""
    return cases(sizes, bf16_values())


_GRIDS = {"float64": np.float64, "float32": np.float32}


def _on_grid(values: NDArray[np.float64], grid: str) -> NDArray[np.float64]:
    """Round float64 ``values`` to the named grid (float32: to nearest), as float64."""
    with np.errstate(over="ignore"):
        return np.asarray(values.astype(_GRIDS[grid]), dtype=np.float64)


def _nudged(values: NDArray[np.float64], steps: int, grid: str) -> NDArray[np.float64]:
    """Move each of ``values`` by ``steps`` units in the last place of the grid (signed)."""
    out = values.astype(_GRIDS[grid])
    direction = np.inf if steps > 0 else -np.inf  # a Python float: nextafter keeps out's dtype
    for _ in range(abs(steps)):
        out = np.nextafter(out, direction)
    return np.asarray(out, dtype=np.float64)


def _cancelled(case: Case, column: int, steps: int, target_steps: int, grid: str) -> Case:
    x, _, (w1, w2) = case
    x, w1 = x.copy(), w1.copy()
    if x.shape[1] >= 2:
        # h[:, column] = x[:, 0] * (w1[0, column] + w1[1, column]) with w1[1] = -w1[0] nudged:
        # a sum whose terms nearly cancel, so that h is tiny against |x| @ |w1| (a near-tie).
        x[:, 1] = x[:, 0]
        w1[1:, column] = 0.0
        w1[1, column] = -_nudged(w1[0:1, column], steps, grid)[0]
    h_relu = np.maximum(x @ w1, 0.0)
    # y within a few units in the last place of the float64 y_pred: y_pred - y cancels.
    y = _nudged(_on_grid(h_relu @ w2, grid), target_steps, grid)
    return Case(x, y, Params(w1, w2))


def cancellation_cases(
    sizes: st.SearchStrategy[Dims] = dims(),
    *,
    grid: str = "float64",
) -> st.SearchStrategy[Case]:
    """Draw a ``Case`` whose sums cancel: ``h`` near zero in one column, ``y`` next to ``y_pred``.

    Where ``d_in >= 2``, column ``j`` of ``h`` is ``x[:, 0] * (w1[0, j] - w1[0, j]')`` with
    ``w1[0, j]'`` within a few units in the last place of ``w1[0, j]`` (0 to 3 steps), so that
    ``h[:, j]`` is tiny or exactly zero: the ReLU mask is uncertain there. ``y`` is ``y_pred``
    rounded to the grid and moved by -2 to 2 units in its last place, so that ``y_pred - y``
    cancels. ``grid`` is ``"float64"`` or ``"float32"``: every array is on that grid.
    """
    values = float64_values() if grid == "float64" else float32_values()
    return cases(sizes, values).flatmap(
        lambda case: st.builds(
            _cancelled,
            st.just(case),
            st.integers(0, case.params.w1.shape[1] - 1),
            st.integers(0, 3),
            st.integers(-2, 2),
            st.just(grid),
        )
    )


_WIDE_EXPONENTS = {"float64": (340, 150), "float32": (30, 15)}


def _scaled(case: Case, x_exponent: int, h_exponent: int, w2_exponent: int) -> Case:
    x, y, (w1, w2) = case
    return Case(
        np.ldexp(x, x_exponent),
        np.ldexp(y, h_exponent + w2_exponent),
        Params(np.ldexp(w1, h_exponent - x_exponent), np.ldexp(w2, w2_exponent)),
    )


def wide_magnitude_cases(
    sizes: st.SearchStrategy[Dims] = dims(),
    *,
    grid: str = "float64",
) -> st.SearchStrategy[Case]:
    """Draw a ``Case`` scaled by powers of two across the grid's range, without overflow.

    The values are 0 or of magnitude in ``[1/4, 4]``, then ``x`` is scaled by ``2**a``, ``w1`` by
    ``2**(s - a)``, ``w2`` by ``2**c`` and ``y`` by ``2**(s + c)`` (so that ``h`` is near ``2**s``
    and ``y`` is comparable with ``y_pred``). For ``grid="float64"``: ``|a| <= 340`` (``x`` from
    about 1e-102 to 1e102, ``w1`` further) and ``|s|, |c| <= 150``; for ``"float32"``: ``|a| <=
    30``, ``|s|, |c| <= 15``. Every value of a step with a learning rate of at most 1 then stays
    below the grid's overflow threshold (its largest exponent is about ``a + 2 s + 3 c + 20``);
    small values may underflow to subnormals, which the error bounds cover. The extreme exponents
    are drawn often.
    """
    wide, narrow = _WIDE_EXPONENTS[grid]
    magnitudes = (
        st.floats(0.25, 4.0, width=32) if grid == "float32" else st.floats(0.25, 4.0)
    ).map(float)
    values = st.one_of(st.just(0.0), magnitudes, magnitudes.map(lambda value: -value))
    return st.builds(
        _scaled,
        cases(sizes, values),
        _exponents(wide),
        _exponents(narrow),
        _exponents(narrow),
    )


def _exponents(limit: int) -> st.SearchStrategy[int]:
    """Integers in ``[-limit, limit]``, the two ends drawn often (hypothesis prefers small ones)."""
    return st.one_of(st.sampled_from((-limit, limit)), st.integers(-limit, limit))


def learning_rates() -> st.SearchStrategy[float]:
    """Draw a learning rate: 0, a power of two in ``[2**-20, 1]``, or any float in ``[0, 1]``."""
    return st.one_of(
        st.just(0.0),
        st.integers(-20, 0).map(lambda exponent: float(np.ldexp(1.0, exponent))),
        st.floats(0.0, 1.0),
    )


# -- the judge's cases (twolayer.conformance draws them) -------------------------------------------

_JUDGE_LOW, _JUDGE_HIGH = 2.0**-4, 2.0**5
_JUDGE_LEARNING_RATE_LOW, _JUDGE_LEARNING_RATE_HIGH = 2.0**-10, 0.5
_JUDGE_MAX_SIZE = 3


def _bf16_scalar(value: float) -> float:
    """Round a float32 number to bfloat16 (its top 16 bits), to nearest, ties to even."""
    (bits,) = struct.unpack("<I", struct.pack("<f", value))
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    (rounded,) = struct.unpack("<f", struct.pack("<I", bits))
    return float(rounded)


def _zero_below(low: float) -> Callable[[float], float]:
    def snap(value: float) -> float:
        return value if abs(value) >= low else 0.0

    return snap


def grid_values(
    arithmetic: str, low: float = _JUDGE_LOW, high: float = _JUDGE_HIGH
) -> st.SearchStrategy[float]:
    """Draw values on the arithmetic's input grid, 0 or of magnitude in ``[low, high]``.

    float64 for ``"float64"``, float32 for ``"float32"`` and ``"tf32"``, bfloat16 for
    ``"bf16"``. Half are the integers -3 to 3, which make exact zeros of ``h`` common; the
    others have every significant bit of the format free. Shrinks towards 0 and small integers.
    """
    width: Literal[32, 64] = 64 if arithmetic == "float64" else 32
    generic = st.floats(-high, high, width=width)
    if arithmetic == "bf16":
        generic = generic.map(_bf16_scalar)
    return generic.map(_zero_below(low))


def _drawn_case(
    dims: Dims,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    w1: NDArray[np.float64],
    w2: NDArray[np.float64],
    learning_rate: float,
    tie_column: int | None,
) -> CaseInputs:
    """The case of ``dims`` cut from the top-left corners of square ``x, y, w1, w2``.

    With ``tie_column``, that column of ``w1`` (modulo ``hidden``) is 0, so ``h`` is 0 there.
    """
    batch, d_in, hidden, d_out = dims
    w1 = w1[:d_in, :hidden].copy()
    if tie_column is not None:
        w1[:, tie_column % hidden] = 0.0
    return CaseInputs(
        id=0,
        comment="drawn by hypothesis",
        flags=(),
        relu_grad_at_zero=1.0,
        x=frozen(x[:batch, :d_in].copy()),
        y=frozen(y[:batch, :d_out].copy()),
        w1=frozen(w1),
        w2=frozen(w2[:hidden, :d_out].copy()),
        learning_rate=learning_rate,
    )


@cache
def judge_cases(arithmetic: str) -> st.SearchStrategy[CaseInputs]:
    """Draw the judge's cases for ``arithmetic``: every axis 1 to 3, values on its grid.

    Half of them have a column of ``w1`` set to 0, so that ``h`` is exactly 0 there with no
    rounding to excuse a difference: the tie convention is tested, not assumed. The arrays are
    drawn at the largest size and cut to the dims drawn, so that hypothesis shrinks the dims
    without disturbing the values (a flatmap from dims to arrays shrinks poorly).
    """
    values = grid_values(arithmetic)
    learning_rate = st.one_of(
        grid_values(arithmetic, _JUDGE_LEARNING_RATE_LOW, _JUDGE_LEARNING_RATE_HIGH).map(abs),
        st.just(0.0),
    )
    side = _JUDGE_MAX_SIZE
    square = st.lists(values, min_size=side * side, max_size=side * side).map(
        lambda flat: np.array(flat, dtype=np.float64).reshape(side, side)
    )
    size = st.integers(1, side)
    return st.builds(
        _drawn_case,
        st.builds(Dims, size, size, size, size),
        square,
        square,
        square,
        square,
        learning_rate,
        st.one_of(st.none(), st.integers(0, side - 1)),
    )
