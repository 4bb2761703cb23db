"""Hypothesis strategies for the seed's network, public for other projects' tests.

hypothesis is a dependency of twolayer: the judge draws its cases from ``judge_cases`` here.
Each strategy's docstring says what it draws. Every case is a ``Case(x, y, params)`` of float64
arrays with consistent axes ``batch d_in hidden d_out``, writeable (so that a test can check they
were not mutated).
"""

import math
import struct
from collections.abc import Callable
from functools import cache
from typing import Literal, NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from twolayer.cases import CaseInputs
from twolayer.shapes import JUDGE_MAX_DIMS, SEED_DIMS, Dims, Params, X, Y, frozen

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
#
# Kernels break at tile and chunk tails, at powers of two and at primes, and only at sizes that a
# hand-written case never reaches. The judge's cases therefore draw each axis from a mixture that
# reaches beyond the seed's dims and favours those sizes, and fill arrays of that size from numpy:
# hypothesis draws the dims, each array's top-left 3 x 3 corner entry by entry (all of a case
# with every axis at most 3, so that shrinking ends at small values), the kind of values and a
# seed; ``numpy.random.Generator``s seeded from it fill the rest, block by block, so that an entry
# does not depend on the dims drawn and shrinking a dim keeps every other value where it was.

_JUDGE_LOW, _JUDGE_HIGH = 2.0**-4, 2.0**5
_JUDGE_LEARNING_RATE_LOW, _JUDGE_LEARNING_RATE_HIGH = 2.0**-10, 0.5
_JUDGE_CORNER = 3  # hypothesis draws each array's top-left corner of this side entry by entry
_JUDGE_BLOCK = 64  # numpy fills the rest in blocks of this side, each from its own stream
_JUDGE_MAX_DIMS = JUDGE_MAX_DIMS  # the seed's dims and beyond, on every axis
_JUDGE_TILES = (8, 16, 32, 64)  # the tile and chunk widths whose tails the sizes favour
# Each axis: a small size (1 to 3, where shrinking ends), an awkward size, or any size at all.
_JUDGE_SIZE_BRANCHES = ("small",) * 6 + ("awkward",) * 6 + ("any",) * 4
_JUDGE_KINDS = ("integers", "grid", "wide", "cancellation")
_JUDGE_ZERO_RATES = (0.0, 0.125, 0.5, 0.96875)  # the last: sparse rows, a few terms in each sum
_JUDGE_WIDE_EXPONENTS = {"float64": (340, 150), "float32": (30, 15)}
_RANGE_MARGIN_BITS = 64 + 2  # as twolayer.conformance.in_range (2**64), and 2 more for safety


def _bf16_scalar(value: float) -> float:
    """Round a float32 number to bfloat16 (its top 16 bits), to nearest, ties to even."""
    (bits,) = struct.unpack("<I", struct.pack("<f", value))
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    (rounded,) = struct.unpack("<f", struct.pack("<I", bits))
    return float(rounded)


def _zero_below(low: float) -> Callable[[float], float]:
    def snap(value: float) -> float:
        return value if abs(value) >= low else math.copysign(0.0, value)  # -0.0 stays -0.0

    return snap


def grid_values(
    arithmetic: str, low: float = _JUDGE_LOW, high: float = _JUDGE_HIGH
) -> st.SearchStrategy[float]:
    """Draw values on the arithmetic's input grid, +-0 or of magnitude in ``[low, high]``.

    float64 for ``"float64"``, float32 for ``"float32"`` and ``"tf32"``, bfloat16 for
    ``"bf16"``. Half are the integers -3 to 3 that lie in ``[low, high]`` (and 0 and -0.0),
    which make exact zeros of ``h`` common; the others have every significant bit of the format
    free, and those below ``low`` become a zero of their sign. Shrinks towards 0 and small
    integers.
    """
    width: Literal[32, 64] = 64 if arithmetic == "float64" else 32
    generic = st.floats(-high, high, width=width)
    if arithmetic == "bf16":
        generic = generic.map(_bf16_scalar)
    integers = [float(k) for k in (1, -1, 2, -2, 3, -3) if low <= k <= high or low <= -k <= high]
    return st.one_of(st.sampled_from([0.0, *integers, -0.0]), generic.map(_zero_below(low)))


# -- sizes


def _primes(limit: int) -> tuple[int, ...]:
    sieve = np.ones(limit + 1, dtype=np.bool_)
    sieve[:2] = False
    for n in range(2, math.isqrt(limit) + 1):
        if sieve[n]:
            sieve[n * n :: n] = False
    return tuple(int(n) for n in np.flatnonzero(sieve))


def awkward_sizes(limit: int, seed_size: int) -> tuple[tuple[int, ...], ...]:
    """The sizes of one axis where kernels break, in groups, each sorted, all in ``[1, limit]``.

    One group for each tile width ``t`` of 8, 16, 32 and 64: the multiples of ``t`` and their
    neighbours ``m t - 1, m t, m t + 1`` (a chunked loop's tail is empty, full or one); the powers
    of two and their neighbours; the primes (no tile divides them); and the landmarks 1, the
    seed's size and its neighbours, and ``limit``. Groups that would be empty are left out.
    """
    groups: list[tuple[int, ...]] = []
    for tile in _JUDGE_TILES:
        tails = {m * tile + d for m in range(1, limit // tile + 1) for d in (-1, 0, 1)}
        groups.append(tuple(sorted(n for n in tails if 1 <= n <= limit)))
    powers = {2**e + d for e in range(limit.bit_length()) for d in (-1, 0, 1)}
    groups.append(tuple(sorted(n for n in powers if 1 <= n <= limit)))
    groups.append(_primes(limit))
    landmarks = {1, seed_size - 1, seed_size, seed_size + 1, limit}
    groups.append(tuple(sorted(n for n in landmarks if 1 <= n <= limit)))
    return tuple(group for group in groups if group)


def _judge_size(limit: int, seed_size: int) -> st.SearchStrategy[int]:
    branches = {
        "small": st.integers(1, min(_JUDGE_CORNER, limit)),
        "awkward": st.sampled_from(awkward_sizes(limit, seed_size)).flatmap(st.sampled_from),
        "any": st.integers(1, limit),
    }
    return st.sampled_from(_JUDGE_SIZE_BRANCHES).flatmap(branches.__getitem__)


def small_dims() -> st.SearchStrategy[Dims]:
    """Draw dims with every axis from 1 to 3: a case of them is drawn entry by entry."""
    size = st.integers(1, _JUDGE_CORNER)
    return st.builds(Dims, size, size, size, size)


def judge_dims() -> st.SearchStrategy[Dims]:
    """Draw the dims of a judge's case: each axis small, awkward or anything up to its maximum.

    Each axis independently: 6 times in 16 a size from 1 to 3; 6 in 16 an awkward size
    (``awkward_sizes``: one of its groups, then one of the group's sizes, each uniformly); 4 in
    16 any size from 1 to the maximum. The maxima, ``Dims(130, 1100, 260, 20)``, lie beyond the
    seed's ``Dims(64, 1000, 100, 10)`` on every axis. Shrinks towards 1 on every axis.
    """
    seed_batch, seed_d_in, seed_hidden, seed_d_out = SEED_DIMS
    batch, d_in, hidden, d_out = _JUDGE_MAX_DIMS
    return st.builds(
        Dims,
        _judge_size(batch, seed_batch),
        _judge_size(d_in, seed_d_in),
        _judge_size(hidden, seed_hidden),
        _judge_size(d_out, seed_d_out),
    )


# -- values


def _on_judge_grid(values: NDArray[np.float64], arithmetic: str) -> NDArray[np.float64]:
    """Round float64 ``values`` to the arithmetic's input grid, to nearest (bf16: ties to even)."""
    if arithmetic == "float64":
        return values
    narrow = values.astype(np.float32)
    if arithmetic == "bf16":
        bits = narrow.view(np.uint32)
        bits = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(
            0xFFFF0000
        )
        narrow = bits.view(np.float32)
    return narrow.astype(np.float64)


def _grid_steps(
    values: NDArray[np.float64], steps: NDArray[np.int64], arithmetic: str
) -> NDArray[np.float64]:
    """Move each of ``values`` (on the grid, normal or 0) by ``steps`` grid units in magnitude.

    Zeros stay 0: a step from 0 would be a subnormal, outside the range the bounds hold in.
    """
    if arithmetic == "float64":
        moved = (values.view(np.int64) + steps).view(np.float64)
    else:
        unit = 1 << 16 if arithmetic == "bf16" else 1
        bits = values.astype(np.float32).view(np.int32) + (steps * unit).astype(np.int32)
        moved = bits.view(np.float32).astype(np.float64)
    return np.where(values == 0, values, moved)


def _fill(
    rng: np.random.Generator,
    shape: tuple[int, int],
    kind: str,
    arithmetic: str,
    zero_rate: float,
) -> NDArray[np.float64]:
    """One array of the kind's values, on the arithmetic's grid, a share ``zero_rate`` of them 0.

    ``"integers"``: -3 to 3; otherwise magnitudes ``2**e``, ``e`` uniform in [-4, 5], with random
    signs and every bit of the format's significand free. Zeros take either sign.
    """
    if kind == "integers":
        values = rng.integers(-3, 4, size=shape).astype(np.float64)
    else:
        exponents = rng.uniform(math.log2(_JUDGE_LOW), math.log2(_JUDGE_HIGH), size=shape)
        values = _on_judge_grid(
            np.exp2(exponents) * rng.choice((-1.0, 1.0), size=shape), arithmetic
        )
    if zero_rate:
        values[rng.random(size=shape) < zero_rate] = 0.0
    signs = rng.choice((-0.0, 0.0), size=shape)
    return np.where(values == 0, signs, values)


_Arrays = tuple[
    NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]
]  # x, y, w1, w2


def _filled(
    arithmetic: str, kind: str, seed: int, zero_rate: float, array: int, shape: tuple[int, int]
) -> NDArray[np.float64]:
    """The numpy part of one array (``array``: 0 to 3 for ``x, y, w1, w2``) of ``shape``.

    Drawn in blocks of 64 x 64, each from its own stream ``(seed, array, row block, column
    block)``, so that an entry does not depend on the shape cut around it: shrinking a dim keeps
    every other value where it was, and a small case costs a block, not the largest dims.
    """
    rows, columns = shape
    side = _JUDGE_BLOCK
    out = np.empty(shape, dtype=np.float64)
    for top in range(0, rows, side):
        for left in range(0, columns, side):
            rng = np.random.default_rng([seed, array, top // side, left // side])
            block = _fill(rng, (side, side), kind, arithmetic, zero_rate)
            out[top : top + side, left : left + side] = block[: rows - top, : columns - left]
    return out


class _Drawn(NamedTuple):
    """What hypothesis draws for one case besides the dims (see ``judge_cases``)."""

    corners: tuple[NDArray[np.float64], ...]  # x, y, w1, w2: their top-left corners
    kind: str
    seed: int
    zero_rate: float
    exponents: tuple[int, int, int]  # the wide kind's scalings a, s, c (see _scaled_exponents)
    learning_rate: float
    tie_column: tuple[int, float] | None  # a column of w1 set to this zero, +0.0 or -0.0


# -- keeping every value of the step within the arithmetic's range

# The log2 of every value of the step moves by a linear function of the exponents (a, s, c) when
# x is scaled by 2**a, w1 by 2**(s - a), w2 by 2**c and y by 2**(s + c): h by s, y_pred by s + c,
# and so on. Scaling by powers of two is exact on every grid (no value comes near underflow).
_SCALINGS = {
    "x": (1, 0, 0),
    "w1": (-1, 1, 0),
    "w2": (0, 0, 1),
    "y": (0, 1, 1),
    "h": (0, 1, 0),
    "y_pred": (0, 1, 1),
    "loss": (0, 2, 2),
    "grad_w2": (0, 2, 1),
    "grad_h_relu": (0, 1, 2),
    "grad_w1": (1, 1, 2),
}


def _log2_extents(
    x: NDArray[np.float64], y: NDArray[np.float64], w1: NDArray[np.float64], w2: NDArray[np.float64]
) -> dict[str, tuple[float, float]]:
    """For each value of the float64 step: log2 of its smallest non-zero magnitude and largest."""
    with np.errstate(all="ignore"):
        h = x @ w1
        h_relu = np.maximum(h, 0.0)
        y_pred = h_relu @ w2
        grad_y_pred = 2.0 * (y_pred - y)
        grad_h_relu = grad_y_pred @ w2.T
        grad_h = np.where(h < 0, 0.0, grad_h_relu)
        values = {
            "x": [x],
            "w1": [w1],
            "w2": [w2],
            "y": [y],
            "h": [h, h_relu],
            "y_pred": [y_pred, grad_y_pred],
            "loss": [np.square(y_pred - y).sum(keepdims=True)],
            "grad_w2": [h_relu.T @ grad_y_pred],
            "grad_h_relu": [grad_h_relu, grad_h],
            "grad_w1": [x.T @ grad_h],
        }
    extents: dict[str, tuple[float, float]] = {}
    for name, arrays in values.items():
        magnitudes = np.abs(np.concatenate([a.ravel() for a in arrays]))
        nonzero = magnitudes[magnitudes != 0]
        if nonzero.size:
            extents[name] = (float(np.log2(nonzero.min())), float(np.log2(nonzero.max())))
    return extents


def _fits(
    extents: dict[str, tuple[float, float]], exponents: tuple[int, int, int], arithmetic: str
) -> bool:
    """Whether every value, scaled by ``exponents``, keeps ``2**66`` from the format's limits."""
    info = np.finfo(np.float64 if arithmetic == "float64" else np.float32)
    lowest = math.log2(float(info.smallest_normal)) + _RANGE_MARGIN_BITS
    highest = math.log2(float(info.max)) - _RANGE_MARGIN_BITS
    for name, (low, high) in extents.items():
        shift = sum(c * e for c, e in zip(_SCALINGS[name], exponents, strict=True))
        if not (math.isfinite(low) and math.isfinite(high)):
            return False
        if low + shift < lowest or high + shift > highest:
            return False
    return True


def _scaled_exponents(
    extents: dict[str, tuple[float, float]], wanted: tuple[int, int, int], arithmetic: str
) -> tuple[int, int, int]:
    """The scaling nearest ``wanted`` on the way to 0 that keeps every value in range.

    ``wanted``, then halved (towards 0) until it fits; where even no scaling does not fit (large
    sums of large values in float32), the smallest scaling of the values down or up that does.
    """
    exponents = wanted
    while exponents != (0, 0, 0):
        if _fits(extents, exponents, arithmetic):
            return exponents
        exponents = (int(exponents[0] / 2), int(exponents[1] / 2), int(exponents[2] / 2))
    for size in range(64):
        for exponents in ((0, -size, 0), (0, 0, -size), (0, -size, -size), (0, size, size)):
            if _fits(extents, exponents, arithmetic):
                return exponents
    return (0, 0, 0)  # no case of the judge's kinds gets here: tests check that all fit


def _scaled_by(arrays: _Arrays, exponents: tuple[int, int, int]) -> _Arrays:
    x, y, w1, w2 = arrays
    a, s, c = exponents
    return np.ldexp(x, a), np.ldexp(y, s + c), np.ldexp(w1, s - a), np.ldexp(w2, c)


def _cancelling(arrays: _Arrays, rng: np.random.Generator, arithmetic: str) -> _Arrays:
    """Make a column of ``h`` cancel to (nearly) 0, and ``y`` lie next to ``y_pred``.

    As ``cancellation_cases``: where ``d_in >= 2``, ``x[:, 1] = x[:, 0]`` and, in one column
    ``j``, ``w1[1, j]`` is ``-w1[0, j]`` moved by 0 to 3 units of the grid, the rest of the
    column 0; ``y`` is ``y_pred`` (float64) rounded to the grid and moved by -2 to 2 units.
    """
    x, _, w1, w2 = arrays
    if x.shape[1] >= 2:
        column = int(rng.integers(w1.shape[1]))
        steps = rng.integers(0, 4, size=(1,))
        x[:, 1] = x[:, 0]
        w1[1:, column] = 0.0
        w1[1, column] = -_grid_steps(w1[0:1, column], steps, arithmetic)[0]
    y_pred = np.maximum(x @ w1, 0.0) @ w2
    y = _grid_steps(
        _on_judge_grid(y_pred, arithmetic), rng.integers(-2, 3, size=y_pred.shape), arithmetic
    )
    return x, y, w1, w2


def _drawn_case(dims: Dims, drawn: _Drawn, arithmetic: str) -> CaseInputs:
    """The case of ``dims`` from what hypothesis drew (see ``judge_cases``)."""
    batch, d_in, hidden, d_out = dims
    shapes = ((batch, d_in), (batch, d_out), (d_in, hidden), (hidden, d_out))
    arrays = []
    for index, (corner, (rows, columns)) in enumerate(zip(drawn.corners, shapes, strict=True)):
        array = _filled(arithmetic, drawn.kind, drawn.seed, drawn.zero_rate, index, (rows, columns))
        top, left = min(rows, _JUDGE_CORNER), min(columns, _JUDGE_CORNER)
        array[:top, :left] = corner[:top, :left]
        arrays.append(array)
    if drawn.tie_column is not None:
        column, zero = drawn.tie_column
        arrays[2][:, column % hidden] = zero
    cases: _Arrays = (arrays[0], arrays[1], arrays[2], arrays[3])
    if drawn.kind == "cancellation":
        cases = _cancelling(cases, np.random.default_rng([drawn.seed, 1]), arithmetic)
    wanted = drawn.exponents if drawn.kind == "wide" else (0, 0, 0)
    exponents = _scaled_exponents(_log2_extents(*cases), wanted, arithmetic)
    x, y, w1, w2 = _scaled_by(cases, exponents)
    return CaseInputs(
        id=0,
        comment="drawn by hypothesis",
        flags=(),
        relu_grad_at_zero=1.0,
        x=frozen(x),
        y=frozen(y),
        w1=frozen(w1),
        w2=frozen(w2),
        learning_rate=drawn.learning_rate,
    )


def _corner(values: st.SearchStrategy[float]) -> st.SearchStrategy[NDArray[np.float64]]:
    side = _JUDGE_CORNER
    return st.lists(values, min_size=side * side, max_size=side * side).map(
        lambda flat: np.array(flat, dtype=np.float64).reshape(side, side)
    )


@cache
def judge_cases(arithmetic: str, *, small: bool = False) -> st.SearchStrategy[CaseInputs]:
    """Draw the judge's cases for ``arithmetic``: sizes where kernels break, values on its grid.

    With ``small``, every axis is 1 to 3 (``small_dims``) and each case is drawn entry by
    entry: the judge draws these first, because a mistake that shows at such sizes then
    shrinks to a case that one reads at a glance.

    The dims (``judge_dims``) reach ``Dims(130, 1100, 260, 20)`` and favour tile and chunk tails,
    powers of two and primes. Each array's top-left 3 x 3 corner is drawn entry by entry
    (``grid_values``: half small integers, -0.0 among them); the rest is filled by numpy from a
    drawn seed, of one of four kinds:

    - ``"integers"``: -3 to 3, which make exact zeros and exact cancellation of sums common;
    - ``"grid"``: magnitudes from 2**-4 to 2**5 with every bit of the grid's significand free;
    - ``"wide"``: the same scaled by powers of two, ``x`` by ``2**a``, ``w1`` by ``2**(s - a)``,
      ``w2`` by ``2**c``, ``y`` by ``2**(s + c)``, ``a`` up to 340 and ``s, c`` to 150 in
      float64 (30 and 15 in the float32 formats), as far as the range allows;
    - ``"cancellation"``: a column of ``h`` that cancels to 0 or nearly, and ``y`` within a few
      units of the grid of ``y_pred`` (as ``cancellation_cases``).

    A share of 0, 1/8, 1/2 or 31/32 of the filled entries is zero, of either sign. Half the cases
    have a column of ``w1`` set to 0 (+0.0 or -0.0), so that ``h`` is exactly 0 there with no
    rounding to excuse a difference: the tie convention is tested, not assumed, and so is a mask
    that reads ``h < 0`` from the sign bit (``-0.0``). Every value of the step keeps
    ``2**64`` from the format's limits (scaled down where it would not). An entry of the fill
    does not depend on the dims drawn, so that hypothesis shrinks the dims without disturbing
    the values; a case with every axis at most 3 is hypothesis's entry by entry, and
    shrinks to small values.
    """
    values = grid_values(arithmetic)
    learning_rate = st.one_of(
        grid_values(arithmetic, _JUDGE_LEARNING_RATE_LOW, _JUDGE_LEARNING_RATE_HIGH).map(abs),
        st.just(0.0),
    )
    wide, narrow = _JUDGE_WIDE_EXPONENTS["float64" if arithmetic == "float64" else "float32"]
    drawn = st.builds(
        _Drawn,
        st.tuples(_corner(values), _corner(values), _corner(values), _corner(values)),
        st.sampled_from(_JUDGE_KINDS),
        st.integers(0, 2**32 - 1),
        st.sampled_from(_JUDGE_ZERO_RATES),
        st.tuples(_exponents(wide), _exponents(narrow), _exponents(narrow)),
        learning_rate,
        st.one_of(
            st.none(), st.tuples(st.integers(0, _JUDGE_CORNER - 1), st.sampled_from((0.0, -0.0)))
        ),
    )
    dims = small_dims() if small else judge_dims()
    return st.builds(_drawn_case, dims, drawn, st.just(arithmetic))
