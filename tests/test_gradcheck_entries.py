"""Entries mode's parts, each against what its docstring or comment says it computes.

The rounding bounds (``_up``, ``_gamma``, ``_matmul_up``, ``_sum_up``, the loss bound of
``_evaluate`` and the gradient bound of ``_grad_error_bound``) are compared with an independent
evaluation of their documented formulas in exact rational arithmetic: each computed bound must be
at least the formula (it is rigorous) and at most the formula with every rounding of the bound's
own float64 arithmetic taken at its worst (it is no looser than documented). Floats are multiples
of 2**-1074, so the model rounds its lower ends up and its upper ends down to that grid: where
everything underflows the model is exact, and the underflow terms are pinned too. That model
spells the documented formulas again, so rigour is also checked against the values themselves,
with no formula in between: the exact ``h``, residual, loss (the slow exact engine's) and
gradient lie within the bounds of what float64 computed.

The mask, the steps, the plans and the report are checked on hand-built cases whose answer is
derived by hand in a comment, including the exact text of every reason that the report gives.
"""

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

import twolayer
from twolayer import exact as exact_engine
from twolayer import gradcheck as gc
from twolayer import strategies as tst

U = Fraction(1, 2**53)  # float64's unit roundoff
ETA = Fraction(1, 2**1074)  # float64's smallest subnormal: every float is a multiple of it
# _up is twolayer.rounding.round_up_bound for three roundings: its documented factor is the
# smallest float >= (1 - u)**-5 = 1 + 5u + 15u**2 + ... (floats above 1 are 2u apart), its addend
# (3 + 2) 2**-1074.
UP_FACTOR = 1 + 6 * U
UP_ADD = 5 * ETA

Obj = NDArray[np.object_]  # an array of Fractions


def gamma(k: int) -> Fraction:
    """The model's ``gamma(k) = k u / (1 - k u)`` (``twolayer.bounds``' module docstring)."""
    return k * U / (1 - k * U)


def exact(a: NDArray[np.float64]) -> Obj:
    result: Obj = np.array([Fraction(float(v)) for v in a.ravel()], dtype=object)
    return result.reshape(a.shape)


def _floor(r: Fraction) -> Fraction:
    return math.floor(r / ETA) * ETA


def _ceil(r: Fraction) -> Fraction:
    return math.ceil(max(r, Fraction(0)) / ETA) * ETA


_FLOOR = np.frompyfunc(_floor, 1, 1)
_CEIL = np.frompyfunc(_ceil, 1, 1)
_MAX = np.frompyfunc(max, 2, 1)


def floor_grid(r: Obj) -> Obj:
    """The largest float grid point at most ``r``: a computed value <= r is <= this."""
    result: Obj = np.asarray(_FLOOR(r), dtype=object)
    return result


def ceil_grid(r: Obj) -> Obj:
    """The smallest grid point at least ``max(r, 0)``: a computed value >= r, >= 0 is >= this."""
    result: Obj = np.asarray(_CEIL(r), dtype=object)
    return result


def maximum(a: Obj, b: Obj) -> Obj:
    result: Obj = np.asarray(_MAX(a, b), dtype=object)
    return result


class Model(NamedTuple):
    """One end of the bounds' own rounding: ``lo`` (each computed bound is at least it) or
    ``hi`` (at most it), for ``_up`` of a value with ``products`` products that may underflow,
    ``_gamma``, ``_matmul_up`` and ``_sum_up``."""

    up: Callable[[Obj, int], Obj]
    gamma: Callable[[int], Fraction]
    matmul: Callable[[Obj, Obj], Obj]
    sum: Callable[[Obj], Obj]


# _up of a value r whose exact formula is r, computed with at most three roundings of which
# `products` are products (each may underflow by 2**-1075; sums of floats never underflow):
# the wrapped value v is within r (1 +- u)**3 -+ products 2**-1075. fl(z) is within z (1 +- u)
# +- 2**-1075 (the second term for underflow); fl(v (1 + 6u)) >= v, as the factor exceeds 1
# and rounding is monotone; adding 5 2**-1074 rounds once more. Every intermediate is a float,
# so each end rounds to the grid inward.
def up_lo(r: Obj, products: int) -> Obj:
    inner = ceil_grid(r * (1 - U) ** 3 - products * ETA / 2)
    scaled = ceil_grid(maximum(inner, inner * UP_FACTOR * (1 - U) - ETA / 2))
    return ceil_grid((scaled + UP_ADD) * (1 - U))


def up_hi(r: Obj, products: int) -> Obj:
    inner = floor_grid(r * (1 + U) ** 3 + products * ETA / 2)
    scaled = floor_grid(inner * UP_FACTOR * (1 + U) + ETA / 2)
    return floor_grid((scaled + UP_ADD) * (1 + U))


def gamma_hi(k: int) -> Fraction:
    # _gamma rounds k u / (1 - k u) once to nearest, then one float up: (1 + u)(1 + 2u) < 1 + 4u.
    return gamma(k) * (1 + 4 * U)


def factor_hi(k: int) -> Fraction:
    # _up_scalar(1 + 2 gamma): one rounding to nearest, then one float up (2u relative at most).
    return (1 + 2 * gamma_hi(k)) * (1 + U) * (1 + 2 * U)


# _matmul_up's documented bound: (fl(a @ b) + 2k 2**-1074)(1 + 2 gamma(k)), where the model
# (docs/verification.md, "The error-bound model in plain words": gamma(k) in any order, at most
# 2**-1075 lost to underflow by each of the k products) puts fl(a @ b) within
# gamma(k) a @ b + k 2**-1075 of a @ b for non-negative a, b.
def matmul_lo(a: Obj, b: Obj) -> Obj:
    k = a.shape[-1]
    product = ceil_grid(np.matmul(a, b) * (1 - gamma(k)) - k * ETA / 2)
    return up_lo(up_lo(product + 2 * k * ETA, 0) * (1 + 2 * gamma(k)), 1)


def matmul_hi(a: Obj, b: Obj) -> Obj:
    k = a.shape[-1]
    product = floor_grid(np.matmul(a, b) * (1 + gamma(k)) + k * ETA / 2)
    return up_hi(up_hi(product + 2 * k * ETA, 0) * factor_hi(k), 1)


# _sum_up's documented bound: fl(sum)(1 + 2 gamma(m)) for m terms, fl(sum) within gamma(m) sum.
def _sums(a: Obj) -> tuple[Obj, int]:
    terms = a.shape[-2] * a.shape[-1]
    sums: Obj = np.array([sum(row, Fraction(0)) for row in a.reshape(-1, terms)], dtype=object)
    return sums, terms


def sum_lo(a: Obj) -> Obj:
    sums, terms = _sums(a)
    return up_lo(up_lo(ceil_grid(sums * (1 - gamma(terms))), 0) * (1 + 2 * gamma(terms)), 1)


def sum_hi(a: Obj) -> Obj:
    sums, terms = _sums(a)
    return up_hi(up_hi(floor_grid(sums * (1 + gamma(terms))), 0) * factor_hi(terms), 1)


LO = Model(up_lo, gamma, matmul_lo, sum_lo)
HI = Model(up_hi, gamma_hi, matmul_hi, sum_hi)


def assert_between(lo: Obj, got: NDArray[np.float64], hi: Obj) -> None:
    computed = exact(got)
    assert np.all(lo <= computed), (lo - computed).tolist()
    assert np.all(computed <= hi), (computed - hi).tolist()


# -- the rounding-up helpers --------------------------------------------------------------------


@given(st.floats(0.0, 2.0**1000))
@example(0.0)
@example(2.0**-1074)
@example(1.0)
def test_up_is_at_least_the_bound_it_documents_and_within_two_roundings_of_its_formula(
    r: float,
) -> None:
    got = Fraction(float(gc._up(np.array([r]))[0]))
    value = Fraction(r)
    # round_up_bound's promise for three roundings: r (1 + 6u) + 5 2**-1074, in float64, is at
    # least (r + 3 2**-1074) / (1 - u)**3; at most two roundings above that formula (the
    # product's may underflow).
    assert got >= (value + 3 * ETA) / (1 - U) ** 3
    assert got <= (value * UP_FACTOR * (1 + U) + ETA / 2 + UP_ADD) * (1 + U)


@given(st.integers(1, 2**40))
@example(1)
@example(2)
@example(1024)
def test_gamma_is_k_u_over_one_minus_k_u_rounded_up(k: int) -> None:
    assert gamma(k) <= Fraction(gc._gamma(k)) <= gamma_hi(k)


# Integer entries, so that fl(a @ b) and fl(sum) are exact and the documented formulas are too.
# k = 1024 makes gamma(k) a thousand times u, far above the slack of the helpers' own roundings;
# zeros make the underflow allowance 2k 2**-1074 the whole bound.
MATMUL_CASES = [
    (np.ones((2, 3, 1024)), np.ones((2, 1024, 2))),  # a stack: k is the last axis, not 3
    (np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)),
    (np.zeros((3, 1024)), np.ones((1024, 2))),
    (np.zeros((2, 5, 64)), np.zeros((2, 64, 1))),
]


@pytest.mark.parametrize(("a", "b"), MATMUL_CASES)
def test_matmul_up_is_the_documented_bound_on_an_exact_product(
    a: NDArray[np.float64], b: NDArray[np.float64]
) -> None:
    got = gc._matmul_up(a, b)
    k = a.shape[-1]
    formula = (exact(np.matmul(a, b)) + 2 * k * ETA) * (1 + 2 * gamma(k))
    upper = up_hi(up_hi(exact(np.matmul(a, b)) + 2 * k * ETA, 0) * factor_hi(k), 1)
    assert_between(formula, got, upper)


@pytest.mark.parametrize(
    "a", [np.ones((2, 32, 32)), np.arange(12.0).reshape(3, 4), np.zeros((1, 1))]
)
def test_sum_up_is_the_documented_bound_on_exact_sums(a: NDArray[np.float64]) -> None:
    got = gc._sum_up(a)
    sums, terms = _sums(exact(a))
    assert got.shape == (sums.size,)
    formula = sums * (1 + 2 * gamma(terms))
    upper = up_hi(up_hi(sums, 0) * factor_hi(terms), 1)
    assert_between(formula, got, upper)


# -- the loss's rounding bound (_evaluate) --------------------------------------------------------


def evaluate_model(model: Model, case: tst.Case, abs_h: NDArray[np.float64]) -> tuple[Obj, ...]:
    """``_evaluate``'s documented chain at one point: ``E_h``, ``E_d`` and the loss bound."""
    x, y, (w1, w2) = case
    d_in, hidden = w1.shape
    terms = y.size
    activations = twolayer.forward(case.params, x)
    residual = exact(np.abs(activations.y_pred - y))  # |fl(d)|
    abs_w2 = exact(np.abs(w2))
    up = model.up
    h_error = up(model.gamma(d_in) * exact(abs_h) + 2 * d_in * ETA, 1)
    y_pred_error = up(
        up(
            model.gamma(hidden) * model.matmul(exact(activations.h_relu), abs_w2)
            + 2 * hidden * ETA,
            1,
        )
        + model.matmul(h_error, abs_w2),
        0,
    )
    residual_error = up(U * residual + y_pred_error, 1)
    squares = model.sum(up(residual * residual, 1))
    cross = model.sum(up(residual_error * up(2 * residual + residual_error, 0), 1))
    loss_error = up(up(up(model.gamma(terms) * squares, 1) + cross, 0) + 2 * terms * ETA, 0)
    return h_error, residual_error, loss_error


def scaled(case: tst.Case, ex: int, e1: int, e2: int, ey: int) -> tst.Case:
    x, y, (w1, w2) = case
    return tst.Case(
        np.ldexp(x, ex), np.ldexp(y, ey), twolayer.Params(np.ldexp(w1, e1), np.ldexp(w2, e2))
    )


SCALE = st.integers(-60, 60)
# The exact chains cost tens of milliseconds a case: a hundred cases at most (fewer where the
# loaded profile asks for fewer), for the suite's time.
CHAIN_EXAMPLES = min(settings().max_examples, 100)
# Each tensor at its own scale, so that each term of a bound dominates in some cases.
SCALED_CASES = st.builds(scaled, tst.cases(), SCALE, SCALE, SCALE, SCALE)


def zero_case(batch: int, d_in: int, hidden: int, d_out: int) -> tst.Case:
    """Everything zero: every bound is its underflow allowances alone, and the model is exact."""
    return tst.Case(
        np.zeros((batch, d_in)),
        np.zeros((batch, d_out)),
        twolayer.Params(np.zeros((d_in, hidden)), np.zeros((hidden, d_out))),
    )


def abs_h_of(case: tst.Case) -> NDArray[np.float64]:
    with np.errstate(over="ignore", invalid="ignore"):
        return gc._matmul_up(np.abs(case.x), np.abs(case.params.w1))


@settings(max_examples=CHAIN_EXAMPLES)
@given(case=st.one_of(SCALED_CASES, tst.cases()))
@example(case=zero_case(8, 16, 64, 8))
def test_the_loss_bound_is_its_documented_chain(case: tst.Case) -> None:
    x, y, (w1, w2) = case
    abs_h = abs_h_of(case)
    point = gc._evaluate(w1[None], w2[None], x, y, abs_h[None]).base
    assert math.isfinite(point.loss_error)
    got = (point.h_error, point.residual_error, np.array(point.loss_error))
    for lo, value, hi in zip(
        evaluate_model(LO, case, abs_h), got, evaluate_model(HI, case, abs_h), strict=True
    ):
        assert_between(lo, value, hi)


def exact_errors_hold(bound: NDArray[np.float64], computed: Obj, exact_value: Obj) -> bool:
    """``|computed - exact| <= bound`` everywhere; an infinite bound holds whatever it bounds."""
    finite = np.isfinite(bound)
    error = np.abs(computed - exact_value)
    return bool(np.all(np.where(finite, exact(np.where(finite, bound, 0.0)) >= error, True)))


@settings(max_examples=CHAIN_EXAMPLES)
@given(case=st.one_of(SCALED_CASES, tst.cases()))
@example(case=zero_case(8, 16, 64, 8))
def test_the_loss_bounds_hold_for_the_exact_values(case: tst.Case) -> None:
    # Rigour against the values themselves, independently of the formulas above: the exact h,
    # residual (Fractions) and loss (the slow exact engine's) lie within each bound of what
    # float64 computed. Scales of 2**+-60 on values in [-4, 4] overflow nothing.
    x, y, (w1, w2) = case
    point = gc._evaluate(w1[None], w2[None], x, y, abs_h_of(case)[None]).base
    h = exact(x) @ exact(w1)
    residual = np.where(h > 0, h, 0) @ exact(w2) - exact(y)
    exact_loss, _ = exact_engine.value_and_grad(case.params, x, y)
    assert exact_errors_hold(point.h_error, exact(point.h), h)
    assert exact_errors_hold(point.residual_error, exact(point.y_pred - y), residual)
    assert math.isfinite(point.loss_error)
    assert abs(Fraction(point.loss) - exact_loss) <= Fraction(point.loss_error)


def test_the_gradient_bound_holds_for_the_exact_gradient() -> None:
    # Rigour against the slow exact engine, independently of grad_model: where the mask is
    # certain (the bound's stated premise), |value_and_grad's gradient - the exact one| is
    # within _grad_error_bound entry by entry.
    seen: Counter[str] = Counter()

    @settings(max_examples=CHAIN_EXAMPLES)
    @given(case=st.one_of(SCALED_CASES, tst.cases()))
    def holds(case: tst.Case) -> None:
        x, y, (w1, w2) = case
        abs_h = abs_h_of(case)
        point = gc._evaluate(w1[None], w2[None], x, y, abs_h[None]).base
        mask = gc._classify(point, abs_h, x, w1)
        seen["cases"] += 1
        if not mask.certain.all():
            return  # the premise fails: gradcheck skips such entries (counted below)
        bound = gc._grad_error_bound(point, w2, x, y, mask.possibly_active)
        _, grads = twolayer.value_and_grad(case.params, x, y)
        _, exact_grads = exact_engine.value_and_grad(case.params, x, y)
        for got, want, tensor_bound in zip(grads, exact_grads, bound, strict=True):
            assert exact_errors_hold(tensor_bound, exact(got), np.asarray(want, dtype=object))
        seen["certain"] += 1

    holds()
    assert seen["certain"] > 0, seen


def test_the_loss_bound_is_inf_not_nan_where_an_infinity_meets_a_zero() -> None:
    # |x| @ |w1| rounded up overflows (abs_h = inf) while h = 1.7e308 does not: E_h = inf meets
    # w2 = 0 in E_h @ |w2| (inf * 0), while the loss, (0 - 1)**2 = 1, is finite.
    x, y = np.array([[1.0]]), np.array([[1.0]])
    w1, w2 = np.array([[1.7e308]]), np.array([[0.0]])
    abs_h = np.array([[np.inf]])
    losses = gc._evaluate(w1[None], w2[None], x, y, abs_h[None])
    assert losses.loss.tolist() == [1.0]
    assert losses.loss_error.tolist() == [math.inf]


# -- the gradient's rounding bound (_grad_error_bound) --------------------------------------------


class Point(NamedTuple):
    """What ``_grad_error_bound`` reads of a base point, drawn freely (bounds are >= 0)."""

    h_relu: NDArray[np.float64]
    h_error: NDArray[np.float64]
    y_pred: NDArray[np.float64]
    residual_error: NDArray[np.float64]


def grad_model(
    model: Model,
    point: Point,
    w2: NDArray[np.float64],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    active: NDArray[np.float64],
) -> tuple[Obj, Obj]:
    """``_grad_error_bound``'s documented chain: bounds on grad_w1's and grad_w2's errors."""
    batch = x.shape[0]
    hidden, d_out = w2.shape
    up, mm, g = model.up, model.matmul, model.gamma
    abs_w2 = exact(np.abs(w2))
    abs_w2_t = exact(np.abs(w2.T))
    h_error = exact(point.h_error)
    h_relu_exact = up(exact(np.abs(point.h_relu)) + h_error, 0)
    h_relu_impl = up(h_relu_exact + h_error, 0)
    y_pred_error_impl = up(
        up(g(hidden) * mm(h_relu_impl, abs_w2) + 2 * hidden * ETA, 1) + mm(h_error, abs_w2), 0
    )
    residual_exact = up(exact(np.abs(point.y_pred - y)) + exact(point.residual_error), 0)
    residual_impl = up(residual_exact + y_pred_error_impl, 0)
    grad_y_pred_error = up(2 * up(y_pred_error_impl + up(U * residual_impl, 1), 0), 0)
    grad_y_pred_impl = up(2 * residual_impl, 0)
    grad_w2_error = up(
        up(
            up(g(batch) * mm(h_relu_impl.T, grad_y_pred_impl) + 2 * batch * ETA, 1)
            + mm(h_error.T, grad_y_pred_impl),
            0,
        )
        + mm(h_relu_exact.T, grad_y_pred_error),
        0,
    )
    grad_h_relu_error = up(
        up(g(d_out) * mm(grad_y_pred_impl, abs_w2_t) + 2 * d_out * ETA, 1)
        + mm(grad_y_pred_error, abs_w2_t),
        0,
    )
    grad_h_relu_impl = up(mm(2 * residual_exact, abs_w2_t) + grad_h_relu_error, 0)
    grad_h_error = up(grad_h_relu_error * exact(active), 0)
    grad_h_impl = up(grad_h_relu_impl * exact(active), 0)
    inner = up(up(g(batch) * grad_h_impl, 1) + grad_h_error, 0)
    grad_w1_error = up(mm(exact(np.abs(x.T)), inner) + 2 * batch * ETA, 0)
    return grad_w1_error, grad_w2_error


Drawn = tuple[Point, tst.Case, NDArray[np.float64]]  # a point, its case, its mask


VALUES = tst.float64_values()
MASK_VALUES = st.sampled_from([0.0, 1.0])


def _arrays(
    shape: tuple[int, int], values: st.SearchStrategy[float] = VALUES
) -> st.SearchStrategy[NDArray[np.float64]]:
    return hnp.arrays(np.float64, shape, elements=values)


def _nonnegative(shape: tuple[int, int], scale: int) -> st.SearchStrategy[NDArray[np.float64]]:
    return st.builds(lambda a: np.ldexp(np.abs(a), scale), _arrays(shape))


def points(dims: twolayer.Dims, scales: tuple[int, ...]) -> st.SearchStrategy[Drawn]:
    """A point with ``h_relu``, ``E_h``, ``y_pred``, ``E_d``, ``x``, ``w2``, ``y`` each scaled by
    its own power of two, and a random mask."""
    batch, _, hidden, d_out = dims
    h_relu, h_error, y_pred, residual_error, ex, e2, ey = scales
    signed = _arrays((batch, d_out))
    return st.tuples(
        st.builds(
            Point,
            _nonnegative((batch, hidden), h_relu),
            _nonnegative((batch, hidden), h_error),
            st.builds(lambda a: np.ldexp(a, y_pred), signed),
            _nonnegative((batch, d_out), residual_error),
        ),
        st.builds(
            scaled, tst.cases(st.just(dims)), st.just(ex), st.just(0), st.just(e2), st.just(ey)
        ),
        _arrays((batch, hidden), MASK_VALUES),
    )


POINTS = st.tuples(tst.dims(), st.tuples(*[SCALE] * 7)).flatmap(lambda d: points(*d))


def zero_point(batch: int, d_in: int, hidden: int, d_out: int) -> Drawn:
    case = zero_case(batch, d_in, hidden, d_out)
    zeros = np.zeros((batch, hidden))
    return Point(zeros, zeros, case.y, np.zeros_like(case.y)), case, np.ones((batch, hidden))


def unit_point(batch: int, d_in: int, hidden: int, d_out: int) -> Drawn:
    ones = np.ones((batch, hidden))
    case = tst.Case(
        np.ones((batch, d_in)),
        np.full((batch, d_out), 2.0**20),
        twolayer.Params(np.ones((d_in, hidden)), np.ones((hidden, d_out))),
    )
    return Point(ones, ones, np.zeros((batch, d_out)), np.zeros((batch, d_out))), case, ones


def underflow_point(batch: int, hidden: int, d_out: int, *, x: float, w2: float) -> Drawn:
    """Zero activations and bounds, ``x`` and ``w2`` constant: every bound is its underflow
    allowances, which ``x`` and ``w2`` of 1 carry on to ``grad_w1``'s bound (0 drops them)."""
    point, case, active = zero_point(batch, 1, hidden, d_out)
    params = twolayer.Params(case.params.w1, np.full((hidden, d_out), w2))
    return point, tst.Case(np.full((batch, 1), x), case.y, params), active


def wide_point(batch: int, hidden: int) -> Drawn:
    """h_relu = 0, E_h = 1, x = w2 = 1, with ``batch`` or ``hidden`` 256: the terms that
    gamma(256) multiplies (E_h's share of the implementation's h_relu, grad_h_relu's error in
    the implementation's grad_h) are 2**-45 of the bound, far above the model's slack."""
    zeros = np.zeros((batch, hidden))
    point = Point(zeros, np.ones((batch, hidden)), np.zeros((batch, 1)), np.zeros((batch, 1)))
    params = twolayer.Params(np.zeros((1, hidden)), np.ones((hidden, 1)))
    return (
        point,
        tst.Case(np.ones((batch, 1)), np.zeros((batch, 1)), params),
        np.ones((batch, hidden)),
    )


@settings(max_examples=CHAIN_EXAMPLES)
@given(drawn=POINTS)
@example(drawn=zero_point(16, 2, 16, 16))
@example(drawn=underflow_point(4, 16, 4, x=1.0, w2=1.0))
@example(drawn=underflow_point(4, 2, 16, x=1.0, w2=0.0))
@example(drawn=wide_point(1, 256))
@example(drawn=wide_point(256, 1))
@example(drawn=unit_point(1, 1, 1, 1))
@example(drawn=unit_point(3, 2, 4, 2))
def test_the_gradient_bound_is_its_documented_chain(drawn: Drawn) -> None:
    point, case, active = drawn
    x, y, (_, w2) = case
    base = gc._Point(
        0.0, 0.0, point.h_relu, point.h_relu, point.y_pred, point.h_error, point.residual_error
    )
    got = gc._grad_error_bound(base, w2, x, y, active)
    for lo, value, hi in zip(
        grad_model(LO, point, w2, x, y, active),
        got,
        grad_model(HI, point, w2, x, y, active),
        strict=True,
    ):
        assert_between(lo, value, hi)


# -- the steps ----------------------------------------------------------------------------------


def test_the_smooth_step_is_the_root_of_loss_scale_over_curvature_or_the_weights_size() -> None:
    # sqrt(1 / 4) = 0.5; no loss (0 / 4) or no curvature (1 / 0): max(|w|, 1).
    steps = gc._smooth_steps(1.0, np.array([4.0, 4.0, 0.0, 0.0]), np.array([8.0, 0.25, 3.0, -0.25]))
    assert steps.tolist() == [0.5, 0.5, 3.0, 1.0]
    assert gc._smooth_steps(0.0, np.array([4.0, 1.0]), np.array([0.25, -5.0])).tolist() == [
        1.0,
        5.0,
    ]


def context(case: tst.Case) -> gc._EntryContext:
    """What ``check_gradients`` hands to entries mode, built the same way."""
    x, y, (w1, w2) = case
    abs_h = abs_h_of(case)
    base = gc._evaluate(w1[None], w2[None], x, y, abs_h[None]).base
    mask = gc._classify(base, abs_h, x, w1)
    loss_scale = float(np.sum((np.abs(base.y_pred) + np.abs(y)) ** 2))
    return gc._EntryContext(w1, w2, x, y, np.abs(x), abs_h, base, mask, loss_scale)


STEP_SLACK = 2.0**-40  # the steps' own roundings: a few dozen at most, each within u = 2**-53
# ... and where the steps are subnormal, each rounding within half the spacing there, 2**-1074,
# and the w1 step one float (2**-1074) below its quarter of the kink: absolute, not relative.
STEP_UNDERFLOW = 2.0**-1074 * 64


def smooth(loss_scale: float, curvature: float, weight: float) -> float:
    """``sqrt(loss_scale / curvature)`` where that is a positive float, else ``max(|w|, 1)``."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        step = float(np.sqrt(np.float64(loss_scale) / np.float64(curvature)))
    return step if 0 < step < math.inf else max(abs(weight), 1.0)


@given(case=st.one_of(tst.cases(), tst.tie_cases()))
def test_each_step_is_the_smooth_step_capped_at_a_quarter_of_the_nearest_kink(
    case: tst.Case,
) -> None:
    ctx = context(case)
    x, _, (w1, w2) = case
    steps = gc._entry_steps(ctx)
    active = ctx.mask.possibly_active
    with np.errstate(over="ignore", under="ignore"):
        for a, j in np.ndindex(w1.shape):
            # The loss's curvature in w1[a, j] is sum_b active x[b, a]**2 sum_o w2[j, o]**2.
            rows = range(len(x))
            curvature = sum(active[b, j] * x[b, a] ** 2 for b in rows) * np.sum(w2[j] ** 2)
            # Moving w1[a, j] by s moves h[b, j] by s x[b, a]: the kink at margin / |x[b, a]|.
            certain = [b for b in rows if ctx.mask.certain[b, j] and x[b, a] != 0]
            kink = min((ctx.mask.margin[b, j] / abs(x[b, a]) for b in certain), default=math.inf)
            expected = min(smooth(ctx.loss_scale, float(curvature), float(w1[a, j])), kink / 4)
            assert steps.w1[a, j] == pytest.approx(expected, rel=STEP_SLACK, abs=STEP_UNDERFLOW)
        for j, o in np.ndindex(w2.shape):
            # In w2[j, o]: sum_b h_relu[b, j]**2.
            curvature = float(np.sum(ctx.base.h_relu[:, j] ** 2))
            expected = smooth(ctx.loss_scale, curvature, float(w2[j, o]))
            assert steps.w2[j, o] == pytest.approx(expected, rel=STEP_SLACK, abs=STEP_UNDERFLOW)


def assert_w1_steps_stay_below_a_quarter_of_every_kink(case: tst.Case) -> int:
    """Assert ``4 s |x[b, a]| < margin[b, j]`` exactly for every certain row; return how many."""
    ctx = context(case)
    x, _, (w1, _) = case
    steps = gc._entry_steps(ctx)
    compared = 0
    for (a, j), b in itertools.product(np.ndindex(w1.shape), range(len(x))):
        if ctx.mask.certain[b, j] and x[b, a] != 0:
            reach = 4 * Fraction(float(steps.w1[a, j])) * abs(Fraction(float(x[b, a])))
            assert reach < Fraction(float(ctx.mask.margin[b, j])), (a, j, b)
            compared += 1
    return compared


def test_w1_steps_stay_strictly_below_a_quarter_of_every_kink() -> None:
    # So every offset, at most 4 s from w, keeps |x| times it below the margin: the kink
    # certificate of _offsets_reason never rejects a step that _entry_steps chose.
    compared: list[int] = []

    @given(case=st.one_of(tst.cases(), tst.tie_cases(), tst.wide_magnitude_cases()))
    def check(case: tst.Case) -> None:
        compared.append(assert_w1_steps_stay_below_a_quarter_of_every_kink(case))

    check()
    assert sum(compared) > len(compared), compared  # more than one certain row a case, on average


def test_a_w1_step_is_one_float_below_an_exact_quarter() -> None:
    # x = w1 = w2 = 1, y = 0: h = 1 is certain, the kink is margin / 1 and margin / 4 is exact,
    # below the smooth step sqrt(1 / 1) = 1; the step is the float just below margin / 4.
    case = tst.Case(
        np.array([[1.0]]), np.array([[0.0]]), twolayer.Params(np.ones((1, 1)), np.ones((1, 1)))
    )
    assert assert_w1_steps_stay_below_a_quarter_of_every_kink(case) == 1
    margin = float(context(case).mask.margin[0, 0])
    assert gc._entry_steps(context(case)).w1[0, 0] == np.nextafter(margin / 4, 0.0)


# -- the mask -----------------------------------------------------------------------------------


def point_of(h: NDArray[np.float64], h_error: NDArray[np.float64]) -> gc._Point:
    zeros = np.zeros((h.shape[0], 1))
    return gc._Point(0.0, 0.0, h, np.maximum(h, 0), zeros, h_error, zeros)


def test_the_mask_is_certain_beyond_e_h_plus_4u_abs_h_and_its_margin_bounds_the_exact_h() -> None:
    # abs_h = 2**20, E_h = 2**-30: the threshold E_h + 4u abs_h = 2**-30 + 2**-31 = 1.5 2**-30,
    # rounded up by a few u. h just above it (by 2**-40 relative) is certain; h at 5u abs_h
    # (1.25 2**-30, below it) is not; 1.5 (1 - 2**-40) 2**-30 is not; 0.5 is certain and
    # positive, -0.5 certain and negative.
    threshold = 1.5 * 2.0**-30
    h = np.array(
        [
            [threshold * (1 + 2.0**-40), 1.25 * 2.0**-30, threshold * (1 - 2.0**-40)],
            [0.5, -0.5, -threshold * (1 + 2.0**-40)],
        ]
    )
    h_error = np.full(h.shape, 2.0**-30)
    abs_h = np.full(h.shape, 2.0**20)
    x = np.ones((2, 1))
    w1 = np.ones((1, 3))
    mask = gc._classify(point_of(h, h_error), abs_h, x, w1)
    assert mask.certain.tolist() == [[True, False, False], [True, True, True]]
    # A lower bound on |exact h| >= |h| - E_h, within one rounding and one float of it; 0 where
    # not certain.
    margin = exact(mask.margin)
    distance = exact(np.abs(h)) - exact(h_error)
    assert np.all(margin[mask.certain] <= distance[mask.certain])
    assert np.all(margin[mask.certain] >= distance[mask.certain] * (1 - 4 * U))
    assert mask.margin[~mask.certain].tolist() == [0.0, 0.0]
    # A unit passes a gradient unless it is certainly inactive (h < 0, certain).
    assert mask.possibly_active.tolist() == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]


def test_a_value_exactly_at_the_threshold_is_not_certain() -> None:
    # abs_h = 0 and E_h = 2**-1074 * 4: the threshold is _up(4 2**-1074 + _up(0)) = _up(9
    # 2**-1074) = 14 2**-1074 (subnormals add exactly; 9 2**-1074 (1 + 6u) rounds to itself).
    h = np.array([[14 * 2.0**-1074, 15 * 2.0**-1074]])
    mask = gc._classify(
        point_of(h, np.full(h.shape, 4 * 2.0**-1074)),
        np.zeros(h.shape),
        np.ones((1, 1)),
        np.ones((1, 2)),
    )
    assert mask.certain.tolist() == [[False, True]]


# x_row @ w1_column for the tie test: (products, robust tie?), derived by hand.
TIES = [
    # 1 * 2 - 2 * 1 == 0, on the integer grid with sum |p| = 4 <= 2**53.
    (([1.0, 2.0], [2.0, -1.0]), True),
    # no nonzero product at all
    (([0.0, 3.0], [5.0, 0.0]), True),
    # sum |p| = 2**53 exactly (on the integer grid): every partial sum is an exact integer.
    (([2.0**52, -(2.0**52)], [1.0, 1.0]), True),
    # sum |p| = 2**53 + 2 > 2**53: beyond the sufficient condition.
    (([2.0**52 + 1, -(2.0**52 + 1)], [1.0, 1.0]), False),
    # 2**-60 + 2**60 - 2**60 - 2**-60 == 0 on the grid 2**-60, but sum |p| 2**-60 = 2**121 + 2
    # > 2**53; left to right float64 computes -2**-60.
    (([2.0**-60, 2.0**60, -(2.0**60), -(2.0**-60)], [1.0, 1.0, 1.0, 1.0]), False),
    # products 1e400 and -1e400 sum to 0 but are no float64.
    (([1e200, -1e200], [1e200, 1e200]), False),
    # (1 + 2**-52)**2 - (1 + 2**-51) - 2**-104 == 0, but the first product is no float64: left to
    # right float64 computes fl(p1) - (1 + 2**-51) - 2**-104 = -2**-104.
    (([1 + 2.0**-52, -1.0, -(2.0**-52)], [1 + 2.0**-52, 1 + 2.0**-51, 2.0**-52]), False),
    # 1 - 1 + 1 != 0
    (([1.0, -1.0, 1.0], [1.0, 1.0, 1.0]), False),
]


@pytest.mark.parametrize(("vectors", "robust"), TIES)
def test_a_robust_tie_is_an_exact_zero_that_every_order_computes(
    vectors: tuple[list[float], list[float]], robust: bool
) -> None:
    x_row, w1_column = (np.array(v) for v in vectors)
    assert gc._is_robust_tie(x_row, w1_column) == robust
    if robust:
        assert float(x_row @ w1_column) == 0.0


# -- the plans ----------------------------------------------------------------------------------

RULES = st.sampled_from(twolayer.RELU_GRAD_AT_ZERO_CHOICES)


def test_each_plan_steps_once_each_way_or_twice_each_way_at_a_tie() -> None:
    seen: Counter[str] = Counter()

    @given(case=st.one_of(tst.tie_cases(), tst.cases()), rule=RULES)
    def plans_agree(case: tst.Case, rule: float) -> None:
        ctx = context(case)
        steps = gc._entry_steps(ctx)
        plans, skipped = gc._plan_entries(ctx, rule)
        x = case.x
        every = {
            (t, (a, j))
            for t, w in zip(("w1", "w2"), case.params, strict=True)
            for a, j in np.ndindex(w.shape)
        }
        assert (
            sorted((p.tensor, p.entry) for p in plans)
            + sorted((s.tensor, s.entry) for s in skipped)
            != []
        )
        assert {(p.tensor, p.entry) for p in plans} | {
            (s.tensor, s.entry) for s in skipped
        } == every
        for plan in plans:
            index = 0 if plan.tensor == "w1" else 1
            weight, step = float(case.params[index][plan.entry]), float(steps[index][plan.entry])
            a, j = plan.entry
            # Tied rows that w1[a, j] moves: h[b, j] == 0 exactly, x[b, a] != 0.
            tied = (
                []
                if plan.tensor == "w2"
                else [b for b in range(len(x)) if ctx.mask.tie[b, j] and x[b, a] != 0]
            )
            multiples = (1, 2, -1, -2) if tied else (1, -1)
            with np.errstate(over="ignore"):
                values = tuple(float(np.float64(weight) + k * step) for k in multiples)
            assert plan.values == values
            assert plan.offsets == tuple(Fraction(v) - Fraction(weight) for v in values)
            signs = {bool(x[b, a] > 0) for b in tied}
            if len(signs) == 1:
                assert plan.positive == signs.pop()
                seen["at a tie"] += 1
            elif not tied:
                assert plan.positive is None
                seen["central"] += 1

    plans_agree()
    assert seen["at a tie"] > 10, seen
    assert seen["central"] > 10, seen


def near_tie_case() -> tst.Case:
    """``h = 1 + 1e-17 - 1``: exactly 1e-17 > 0, computed as 0 in float64's left-to-right order."""
    x = np.array([[1.0, 1.0, 1.0]])
    w1 = np.array([[1.0], [1e-17], [-1.0]])
    return tst.Case(x, np.array([[1.0]]), twolayer.Params(w1, np.array([[2.0]])))


UNCERTAIN = re.compile(
    r"h\[0, 0\] = 0 is within rounding of 0 \(\|fl\(h\) - h\| <= (?P<bound>\S+)\) and is no exact"
    r" tie that float64 computes exactly: the ReLU mask there is uncertain"
)


def test_the_uncertain_row_is_the_one_named() -> None:
    # Row 0: h = 1, certain; row 1: h = 1 + 1e-17 - 1, uncertain. w1[0, 0] moves both (x = 1):
    # the reason names row 1, the uncertain one; w1[1, 0] and w1[2, 0] move row 1 only.
    x = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    w1 = np.array([[1.0], [1e-17], [-1.0]])
    case = tst.Case(x, np.ones((2, 1)), twolayer.Params(w1, np.array([[2.0]])))
    report = gc.check_gradients(
        case.params, x, case.y, twolayer.value_and_grad(case.params, x, case.y)[1]
    )
    assert [(s.tensor, s.entry) for s in report.skipped] == [("w1", (a, 0)) for a in range(3)]
    for entry in report.skipped:
        assert entry.reason.startswith("h[1, 0] = 0 is within rounding of 0"), entry.reason


def test_an_uncertain_mask_is_named_with_its_bound_in_the_reason() -> None:
    case = near_tie_case()
    _, grads = twolayer.value_and_grad(case.params, case.x, case.y)
    report = gc.check_gradients(case.params, case.x, case.y, grads)
    assert [(s.tensor, s.entry) for s in report.skipped] == [("w1", (a, 0)) for a in range(3)]
    for entry in report.skipped:
        match = UNCERTAIN.fullmatch(entry.reason)
        assert match is not None, entry.reason
        # E_h >= gamma(3) |x| @ |w1| = gamma(3) (2 + 1e-17), printed to 3 digits.
        printed = float(match["bound"])
        assert (
            gamma(3) * 2 * (1 - Fraction(1, 200)) <= printed <= gamma(3) * 2 * (1 + Fraction(1, 50))
        )
    assert report.worst["w1"] == 0.0  # nothing judged in w1: its worst is 0, not 1


def context_of(x: list[list[float]], w1: list[list[float]]) -> gc._EntryContext:
    x_array, w1_array = np.array(x), np.array(w1)
    y = np.zeros((len(x), 1))
    w2 = np.ones((w1_array.shape[1], 1))
    return context(tst.Case(x_array, y, twolayer.Params(w1_array, w2)))


def test_offsets_that_overflow_or_do_not_move_or_collapse_are_named() -> None:
    ctx = context_of([[1.0]], [[1.0]])
    reason = gc._offsets_reason
    assert reason(ctx, "w2", (0, 0), 1.0, (math.inf, 0.0)) == "the step overflows float64"
    spacing = "the step is below float64's spacing at w = 1"
    below = 1 - 2.0**-53  # the float below 1
    assert reason(ctx, "w2", (0, 0), 1.0, (1.0, below)) == spacing  # w + s rounded back to w
    assert reason(ctx, "w2", (0, 0), 1.0, (1 + 2.0**-52, 1.0)) == spacing
    # At a tie, w + s and w + 2s rounded to the same float: the side cannot be fitted.
    assert (
        reason(ctx, "w2", (0, 0), 1.0, (1 + 2.0**-52, 1 + 2.0**-52, below, 1 - 2.0**-52)) == spacing
    )
    assert reason(ctx, "w2", (0, 0), 1.0, (1 + 2.0**-52, 1 + 2.0**-51, below, 1 - 2.0**-52)) == ""
    assert reason(ctx, "w2", (0, 0), 1.0, (2.0, 0.0)) == ""


def test_offsets_that_reach_a_certain_h_are_named_and_only_those() -> None:
    # h = x @ w1 = [1, 1], both certain: row 0 moves with w1[0, 0] (x = 1), row 1 does not (x = 0).
    ctx = context_of([[1.0, 0.0], [0.0, 1.0]], [[1.0], [1.0]])
    margin = float(ctx.mask.margin[0, 0])
    assert ctx.mask.certain.all()
    assert 0.99 < margin < 1
    # 1 - margin is exact (Sterbenz): the offset -margin moves h[0, 0] by exactly its margin.
    reaching = (1 + 2.0**-52, 1 - margin)
    short = (1 + 2.0**-52, float(np.nextafter(1 - margin, 2.0)))
    assert (
        gc._offsets_reason(ctx, "w1", (0, 0), 1.0, reaching)
        == "the step would move h[0, 0] across 0"
    )
    assert gc._offsets_reason(ctx, "w1", (0, 0), 1.0, short) == ""
    # w2 never moves h; w1[0, 0] does not move h[1, 0] (x[1, 0] == 0), whatever its margin.
    assert gc._offsets_reason(ctx, "w2", (0, 0), 1.0, reaching) == ""
    far = (1 + 2.0**-52, -100.0)
    assert gc._offsets_reason(ctx, "w1", (0, 0), 1.0, far) == "the step would move h[0, 0] across 0"


def test_the_quadratic_fit_differentiates_a_quadratic_exactly_and_weighs_its_errors() -> None:
    # L(t) = 3 + 2t + 5t**2, derivative 2 at 0. One-sided t = (1, 2): the weights of the
    # derivative are -(t1 + t2)/(t1 t2) = -3/2, -t2/(t1 (t1 - t2)) = 2, -t1/(t2 (t2 - t1)) = -1/2.
    fit = gc._quadratic_fit((Fraction(1), Fraction(2)), [3.0, 10.0, 27.0], [1.0, 10.0, 100.0])
    assert fit.derivative == 2
    assert fit.error == Fraction(3, 2) * 1 + 2 * 10 + Fraction(1, 2) * 100
    # Central t = (1/2, -1/2): weights 0, 1, -1.
    fit = gc._quadratic_fit(
        (Fraction(1, 2), Fraction(-1, 2)), [3.0, 5.25, 3.25], [1.0, 10.0, 100.0]
    )
    assert fit.derivative == 2
    assert fit.error == 110


# -- the report ---------------------------------------------------------------------------------


def report_of(
    x: list[list[float]],
    w1: list[list[float]],
    w2: list[list[float]],
    y: list[list[float]],
    *,
    grads: twolayer.Grads | None = None,
    bound: twolayer.Grads | None = None,
    rule: float = 1.0,
) -> gc.GradcheckReport:
    params = twolayer.Params(np.array(w1), np.array(w2))
    if grads is None:
        grads = twolayer.Grads(np.zeros(params.w1.shape), np.zeros(params.w2.shape))
    return gc.check_gradients(
        params, np.array(x), np.array(y), grads, grad_error_bound=bound, relu_grad_at_zero=rule
    )


def reasons(report: gc.GradcheckReport) -> list[tuple[str, tuple[int, int], str]]:
    return [(s.tensor, s.entry, s.reason) for s in report.skipped]


BASE = "the loss at w, or its rounding bound, is not finite in float64"
AROUND = "the loss at w +- s is not finite in float64"


def test_an_infinite_loss_at_the_base_point_skips_every_planned_entry() -> None:
    # y_pred = 1e200 * 1e150 overflows: the loss at w is inf.
    report = report_of([[1.0]], [[1e200]], [[1e150]], [[0.0]])
    assert reasons(report) == [("w1", (0, 0), BASE), ("w2", (0, 0), BASE)]
    assert (report.entries_checked, report.worst) == (0, {"w1": 0.0, "w2": 0.0})


def test_an_overflowing_h_against_a_zero_weight_is_reported_not_raised() -> None:
    # h = 1e200 * 1e200 = inf, y_pred = inf * 0 = nan: E_h = inf, so h's mask is uncertain, and
    # the loss is not finite. Every inf - inf and inf * 0 on the way stays silent.
    report = report_of([[1e200]], [[1e200]], [[0.0]], [[1.0]])
    assert reasons(report) == [
        (
            "w1",
            (0, 0),
            "h[0, 0] = inf is within rounding of 0 (|fl(h) - h| <= inf) and is no exact tie that "
            "float64 computes exactly: the ReLU mask there is uncertain",
        ),
        ("w2", (0, 0), BASE),
    ]


def test_a_step_that_overflows_is_named() -> None:
    # h = -1 (inactive): the loss ignores w2 = 1e308, whose step is max(|w2|, 1) = 1e308, and
    # w2 + s overflows. The loss at w: its bound squares E_d ~ u 1e308, beyond float64.
    report = report_of([[1.0]], [[-1.0]], [[1e308]], [[0.0]])
    assert reasons(report) == [("w1", (0, 0), BASE), ("w2", (0, 0), "the step overflows float64")]


def test_an_infinite_loss_bound_at_a_perturbed_point_is_named() -> None:
    # h = -1.1e308 + 0.65e308 = -4.5e307 (inactive; y_pred = 0, loss 1) while |x| @ |w1| =
    # 1.75e308 stays finite. A quarter of the kink, 1.1e307, takes |x| @ |w1 +- s| past float64's
    # range; w2's step is max(|w2|, 1) = 1 (no curvature), and then E_d ~ gamma(2) 1.75e308,
    # squared, overflows.
    report = report_of([[1.0, 1.0]], [[-1.1e308], [0.65e308]], [[1e-300]], [[1.0]])
    assert reasons(report) == [
        ("w1", (0, 0), AROUND),
        ("w1", (1, 0), AROUND),
        ("w2", (0, 0), AROUND),
    ]


def test_a_tolerance_beyond_float64s_range_is_named() -> None:
    # h = 1e-150: w1's step is below a quarter of it, while the loss (1e153)**2 = 1e306 has a
    # rounding bound near 1e290: divided by the step, about 1e440.
    report = report_of([[1.0]], [[1e-150]], [[1.0]], [[1e153]])
    assert reasons(report) == [("w1", (0, 0), "the tolerance is beyond float64's range")]
    assert report.entries_checked == 1


def test_a_ratio_of_exactly_one_passes_and_any_above_fails() -> None:
    # h = [1, -1], y_pred = 1 = y: the loss is 0 and ignores w2[1, 0] (its unit is inactive),
    # so the exact derivative there is 0 and the loss bounds near 1e-30: with an allowance of 1,
    # a gradient entry of 1 is off by exactly the tolerance (ratio 1 / (1 + 1e-30) -> 1.0).
    allowance = twolayer.Grads(np.zeros((1, 2)), np.array([[0.0], [1.0]]))
    for given_value, passed in ((1.0, True), (1.5, False)):
        grads = twolayer.Grads(np.zeros((1, 2)), np.array([[0.0], [given_value]]))
        report = report_of(
            [[1.0]], [[1.0, -1.0]], [[1.0], [5.0]], [[1.0]], grads=grads, bound=allowance
        )
        assert report.worst["w2"] == given_value
        assert report.passed == passed


def test_convention_half_takes_the_mean_of_both_one_sided_tolerances() -> None:
    # h = 1 * 0 = 0, an exact tie with x > 0: convention 1 takes the right-hand fit, 0 the left,
    # 0.5 the mean of both derivatives and of both error bounds (plus the same allowance).
    tolerance: dict[float, float] = {}
    for rule in (0.0, 0.5, 1.0):
        report = report_of([[1.0]], [[0.0]], [[1.0]], [[1.0]], rule=rule)
        assert report.tolerance is not None
        assert report.tie_entries == ((0, 0),)
        tolerance[rule] = float(report.tolerance.w1[0, 0])
    assert tolerance[0.0] != tolerance[1.0]
    # Each tolerance is its exact value rounded up by one float: 4u relative covers both.
    assert tolerance[0.5] == pytest.approx(
        (tolerance[0.0] + tolerance[1.0]) / 2, rel=4 * float(U), abs=0
    )
