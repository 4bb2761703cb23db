"""Gradient descent with a small enough learning rate strictly decreases the loss, away from ties.

How small is small enough is computed from each case, from the curvature along the step. With the
ReLU mask fixed, ``y_pred`` along a step ``w - t g`` is a quadratic in ``t``:
``y_pred(t) = P0 - t P1 + t**2 P2`` with ``P0 = h_relu @ w2``,
``P1 = (m * (x @ g1)) @ w2 + h_relu @ g2`` and ``P2 = (m * (x @ g1)) @ g2`` (``m`` the mask), so the
loss along the step is the quartic ``phi(t) - phi(0) = -2 A t + B t**2 - 2 C t**3 + D t**4`` with
``A = sum(r P1) = |g|**2 / 2``, ``B = sum(P1**2 + 2 r P2)``, ``C = sum(P1 P2)``, ``D = sum(P2**2)``
and ``r = y_pred - y``. Whenever ``t (|B| + 2 t |C| + t**2 D) <= A``, ``phi(t) <= phi(0) - A t``: a
certain decrease, provided that no ``h`` reaches zero on the way (``t`` below the first kink,
where ``h - t (x @ g1)`` changes sign).

The test takes a learning rate that satisfies this at every one of ``STEPS`` steps of the
trajectory (halving it until it does), asks that the certain decrease ``A t`` be larger than the
rounding of two loss evaluations, and then asserts that ``train``'s losses strictly fall, that
every step changed the weights and that no gradient was zero.

At a tie (``h == 0``) the seed's gradient is a one-sided derivative and need not be a descent
direction at all: ``test_at_a_tie_the_seeds_gradient_can_increase_the_loss`` keeps an example.
"""

import math
from collections import Counter
from typing import NamedTuple

import numpy as np
from hypothesis import assume, event, given
from hypothesis import strategies as st

import twolayer
from twolayer import strategies as tst

STEPS = 5  # the number of consecutive steps that must each decrease the loss
UNIT_ROUNDOFF = 2.0**-53

# Values bounded away from zero, so that exact ties (h == 0), which the property excludes, are
# rare rather than the rule (hypothesis favours 0.0, and one zero row of x makes a tie).
AWAY_FROM_ZERO = st.one_of(st.floats(0.125, 4.0), st.floats(-4.0, -0.125))
CASES = tst.cases(values=AWAY_FROM_ZERO)


class StepCurvature(NamedTuple):
    decrease_rate: float  # A = |g|**2 / 2: the certain decrease per unit of t
    safe_rate: float  # the largest power-of-two t found with t (|B| + 2t|C| + t**2 D) <= A / 2
    loss_rounding: float  # a bound on |fl(loss) - loss| at this point


def loss_rounding_bound(case: tst.Case) -> float:
    """A bound on the rounding error of ``loss(forward(...))`` in float64.

    Each of ``h`` (``d_in`` terms), ``y_pred`` (``hidden`` terms), ``y_pred - y`` and the sum of
    ``batch * d_out`` squares rounds; to first order the error is at most
    ``gamma(k) * sum((|y| + |x| @ |w1| @ |w2|)**2)`` times 2 (the square doubles a relative
    error), with ``k = d_in + hidden + batch * d_out + 2``; the factor 4 covers the second-order
    terms with a wide margin (``k u < 1e-10`` here).
    """
    x, y, (w1, w2) = case
    k = w1.shape[0] + w1.shape[1] + y.size + 2
    gamma = k * UNIT_ROUNDOFF / (1 - k * UNIT_ROUNDOFF)
    magnitude = np.abs(y) + np.abs(x).dot(np.abs(w1)).dot(np.abs(w2))
    total: float = np.square(magnitude).sum()
    return float(4 * gamma * total)


def step_curvature(case: tst.Case) -> StepCurvature | None:
    """The curvature bound of the step from ``case.params``; None at a tie (h == 0)."""
    x, y, (w1, w2) = case
    h = x.dot(w1)
    if np.any(h == 0):
        return None
    _, (g1, g2) = twolayer.value_and_grad(case.params, x, y)
    mask = h > 0
    h_relu = np.where(mask, h, 0.0)
    x_g1 = x.dot(g1)
    r = h_relu.dot(w2) - y
    p1 = (mask * x_g1).dot(w2) + h_relu.dot(g2)
    p2 = (mask * x_g1).dot(g2)
    a = float((r * p1).sum())
    b, c, d = float((p1**2 + 2 * r * p2).sum()), float((p1 * p2).sum()), float((p2**2).sum())
    # The first kink: h - t * x_g1 reaches 0 at t = h / x_g1 where both have the same sign.
    with np.errstate(divide="ignore", invalid="ignore"):
        crossings = h / x_g1
    crossings = crossings[np.isfinite(crossings) & (crossings > 0)]
    kink = float(crossings.min()) if crossings.size else math.inf
    t = 2.0 ** math.floor(math.log2(min(kink / 2, 1.0)))
    while t > 0 and t * (abs(b) + 2 * t * abs(c) + t * t * d) > a / 2:
        t /= 2
    return StepCurvature(a, t, loss_rounding_bound(case))


def certain_learning_rate(case: tst.Case) -> float | None:
    """A learning rate under which each of STEPS steps decreases the loss for certain, or None."""
    curvature = step_curvature(case)
    if curvature is None or curvature.decrease_rate == 0:
        return None
    rate = curvature.safe_rate
    while rate > 0:
        params, fits = case.params, True
        for _ in range(STEPS):
            point = step_curvature(tst.Case(case.x, case.y, params))
            if point is None or rate > point.safe_rate:
                fits = False
                break
            # Halving A keeps a margin for the rounding of A itself (relative error ~1e-15).
            if point.decrease_rate / 2 * rate <= 2 * point.loss_rounding:
                return None  # the certain decrease is below what float64 can resolve
            _, grads = twolayer.value_and_grad(params, case.x, case.y)
            params = twolayer.sgd_step(params, grads, rate)
        if fits:
            return rate
        rate /= 2
    return None


@given(case=CASES)
def test_loss_strictly_decreases_below_the_curvature_learning_rate(case: tst.Case) -> None:
    rate = certain_learning_rate(case)
    assume(rate is not None)
    assert rate is not None
    result = twolayer.train(case.params, case.x, case.y, learning_rate=rate, steps=STEPS + 1)
    assert np.all(np.diff(result.losses) < 0), result.losses
    params = case.params
    for _ in range(STEPS):
        _, grads = twolayer.value_and_grad(params, case.x, case.y)
        assert grads.w1.any() or grads.w2.any()  # a non-zero gradient
        stepped = twolayer.sgd_step(params, grads, rate)
        assert not (
            np.array_equal(stepped.w1, params.w1) and np.array_equal(stepped.w2, params.w2)
        )  # the step changed the weights
        params = stepped
    event(f"learning rate 2**{math.log2(rate):.0f}")


def test_the_decrease_property_is_exercised_on_most_cases() -> None:
    seen: Counter[str] = Counter()

    @given(case=CASES)
    def count(case: tst.Case) -> None:
        seen["cases"] += 1
        seen["exercised"] += certain_learning_rate(case) is not None

    count()
    assert seen["exercised"] >= seen["cases"] // 2, seen


def test_at_a_tie_the_seeds_gradient_can_increase_the_loss() -> None:
    # h = [[0], [0]]: both samples sit on the kink. The seed's convention (factor 1 at h == 0)
    # takes the gradient from the active side, grad_w1 = -2, but the step w1 = 2 lr makes
    # h = [-2 lr, 2 lr]: sample 0, whose error drove the gradient, goes dead, and sample 1, whose
    # target is already met, wakes up: the loss becomes 1 + 4 lr**2 for every lr > 0.
    params = twolayer.Params(np.array([[0.0]]), np.array([[1.0]]))
    x, y = np.array([[-1.0], [1.0]]), np.array([[-1.0], [0.0]])
    value, grads = twolayer.value_and_grad(params, x, y)
    assert (value, grads.w1.tolist(), grads.w2.tolist()) == (1.0, [[-2.0]], [[0.0]])
    for rate in (2.0**-3, 2.0**-10, 2.0**-20):
        stepped = twolayer.sgd_step(params, grads, rate)
        after = twolayer.loss(twolayer.forward(stepped, x).y_pred, y)
        assert after == 1 + 4 * rate**2 > value


def test_the_issues_tie_example_decreases_the_loss_but_slower_than_the_gradient_promises() -> None:
    # The example in the issue (x=[[1]], w1=[[0, 1]], w2=[[2], [1]], y=[[0]]) is not an ascent
    # case: the step kills the tied unit, which contributed nothing, and loss(lr) = (1 - 2 lr)**4.
    # It does break the first-order promise: the slope is -8, not -|g|**2 = -24.
    params = twolayer.Params(np.array([[0.0, 1.0]]), np.array([[2.0], [1.0]]))
    x, y = np.array([[1.0]]), np.array([[0.0]])
    value, grads = twolayer.value_and_grad(params, x, y)
    squared_norm = float(np.square(grads.w1).sum() + np.square(grads.w2).sum())
    assert (value, squared_norm) == (1.0, 24.0)
    rate = 2.0**-10
    after = twolayer.loss(twolayer.forward(twolayer.sgd_step(params, grads, rate), x).y_pred, y)
    assert after == (1 - 2 * rate) ** 4
    assert value - rate * squared_norm < after < value
