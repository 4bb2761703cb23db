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

That property holds for any descent direction, a wrong gradient's included (scaled by 0.5 or 3,
``grad_w1`` zeroed, the ReLU mask dropped: each still decreases the loss at a small enough rate).
What only the true gradient does is asserted in exact arithmetic by the first-order tests below:
along a step ``s`` the loss changes by ``-<g, s>`` (down the gradient, by ``tau |g|**2``) up to
the quartic's curvature terms and ``g``'s own rounding bound. The last of them patches each of
those four wrong gradients into ``network.backward_unchecked`` and asserts that the property then
fails.

At a tie (``h == 0``) the seed's gradient is a one-sided derivative and need not be a descent
direction at all: ``test_at_a_tie_the_seeds_gradient_can_increase_the_loss`` keeps an example.
"""

import math
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import twolayer
from twolayer import bounds, network
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


def test_the_decrease_property_is_exercised() -> None:
    seen: Counter[str] = Counter()

    @given(case=CASES)
    def count(case: tst.Case) -> None:
        seen["cases"] += 1
        seen["exercised"] += certain_learning_rate(case) is not None

    count()
    # Not vacuous: some drawn case is exercised (254 of the ci profile's 300 are; a count that
    # holds for one draw only is no property of the strategy).
    assert seen["exercised"] > 0, seen


# -- the first-order change, in exact arithmetic ------------------------------------------------

Exact = NDArray[np.object_]  # an array of Fractions
FIRST_ORDER_TERMS = 40  # steps tau = 2**0 ... 2**-39 are tried, largest first
WRONG_EXAMPLES = 50  # cases drawn for each wrong gradient's demonstration
DECISIVE = 8  # decisive: the allowance is at most 1/DECISIVE of the predicted change (see below)


def exact(values: NDArray[np.float64]) -> Exact:
    """The float64 values as Fractions: every finite float is one exactly."""
    fractions = [Fraction(value) for value in values.ravel().tolist()]
    return np.array(fractions, dtype=object).reshape(values.shape)


def total(values: Exact) -> Fraction:
    return sum(values.ravel().tolist(), Fraction(0))


def exact_loss(params: twolayer.Params, x: NDArray[np.float64], y: NDArray[np.float64]) -> Fraction:
    """The seed's loss (docs/derivation.md), ``sum((relu(x @ w1) @ w2 - y)**2)``, exactly."""
    h = exact(x) @ exact(params.w1)
    residual = np.where(h > 0, h, 0) @ exact(params.w2) - exact(y)
    return total(residual * residual)


class FirstOrder(NamedTuple):
    """The loss's change along a step ``s = w - w_next``, against what the gradient predicts."""

    change: Fraction  # loss(w_next) - loss(w), exactly
    predicted: Fraction  # <g, s>: the decrease that the gradient g predicts to first order
    allowance: Fraction  # what |change + predicted| may be: curvature plus g's own rounding


def first_order(
    case: tst.Case, grads: twolayer.Grads, rounding: twolayer.Grads, stepped: twolayer.Params
) -> FirstOrder | None:
    """The first-order account of the step from ``case.params`` to ``stepped``.

    None where the segment between them reaches a ReLU kink (some ``h`` is 0 or changes sign), or
    where ``rounding`` (a bound on ``|g - G|``, ``G`` the exact gradient) is infinite.

    With the mask fixed along ``w - tau s``, ``tau`` in [0, 1], ``y_pred`` is the quadratic
    ``h_relu @ w2 - tau p1 + tau**2 p2`` (``p1``, ``p2`` as in the module docstring, with ``s``
    for ``t g``), so the exact change is ``-2 A + B - 2 C + D`` with ``2 A = sum(2 r p1) = <G, s>``.
    Hence ``change + <g, s> = <g - G, s> + B - 2 C + D``, and
    ``|change + <g, s>| <= <|rounding|, |s|> + |B| + 2 |C| + D``: the allowance.
    """
    if not all(np.isfinite(bound).all() for bound in rounding):
        return None
    x, y = exact(case.x), exact(case.y)
    w1, w2 = exact(case.params.w1), exact(case.params.w2)
    s1, s2 = w1 - exact(stepped.w1), w2 - exact(stepped.w2)
    h, h_end = x @ w1, x @ (w1 - s1)
    mask = h > 0
    if np.any(h == 0) or np.any(h_end == 0) or np.any(mask != (h_end > 0)):
        return None
    h_relu = np.where(mask, h, 0)
    r = h_relu @ w2 - y
    moved = np.where(mask, x @ s1, 0)
    p1, p2 = moved @ w2 + h_relu @ s2, moved @ s2
    b, c, d = total(p1 * p1 + 2 * r * p2), total(p1 * p2), total(p2 * p2)
    g1, g2 = exact(grads.w1), exact(grads.w2)
    e1, e2 = exact(rounding.w1), exact(rounding.w2)
    return FirstOrder(
        change=exact_loss(stepped, case.x, case.y) - exact_loss(case.params, case.x, case.y),
        predicted=total(g1 * s1) + total(g2 * s2),
        allowance=abs(b) + 2 * abs(c) + d + total(e1 * np.abs(s1)) + total(e2 * np.abs(s2)),
    )


def steps_along(case: tst.Case, grads: twolayer.Grads, tau: float) -> dict[str, twolayer.Params]:
    """Three steps of size ``tau``: down the gradient, and each weight shrunk by ``1 - tau``.

    Shrinking a weight is the direction in which ReLU's positive homogeneity makes the first
    order ``<G1, w1> = <G2, w2> = 2 sum(r * y_pred)``: a gradient with one tensor zeroed or
    scaled predicts it wrong, while along its own step a zeroed ``grad_w1`` is still exact to
    first order (it is ``G`` projected onto ``w2``'s coordinates).
    """
    w1, w2 = case.params
    return {
        "gradient": twolayer.sgd_step(case.params, grads, tau),
        "w1 shrunk": twolayer.Params(w1 * (1 - tau), w2),
        "w2 shrunk": twolayer.Params(w1, w2 * (1 - tau)),
    }


def first_order_accounts(case: tst.Case) -> dict[str, list[FirstOrder]]:
    """For each direction, the accounts of its steps, largest first, to the first decisive one.

    Decisive: ``allowance <= |predicted| / DECISIVE``. There a gradient whose error moves the
    prediction by more than ``2 |predicted| / DECISIVE`` (a quarter of it) breaks the inequality:
    a gradient scaled by ``c`` moves ``<g, s>`` by ``|1 - 1/c|`` of itself (1 for c = 1/2, 2/3 for
    c = 3), and a zeroed ``grad_w1`` moves ``w1 shrunk``'s prediction by all of it.
    """
    _, grads = twolayer.value_and_grad(case.params, case.x, case.y)
    rounding = bounds.step_bounds(case.params, case.x, case.y, 0.0)
    bound = twolayer.Grads(rounding.grad_w1, rounding.grad_w2)
    accounts: dict[str, list[FirstOrder]] = {}
    for exponent in range(FIRST_ORDER_TERMS):
        for direction, stepped in steps_along(case, grads, 2.0**-exponent).items():
            found = accounts.setdefault(direction, [])
            if found and found[-1].allowance * DECISIVE <= abs(found[-1].predicted):
                continue  # decisive already
            account = first_order(case, grads, bound, stepped)
            if account is not None:
                found.append(account)
    return accounts


def is_decisive(account: FirstOrder) -> bool:
    return account.allowance * DECISIVE <= abs(account.predicted)


def violations(case: tst.Case) -> list[str]:
    """The directions along which the loss's change breaks the gradient's first-order account."""
    return [
        direction
        for direction, found in first_order_accounts(case).items()
        if any(abs(account.change + account.predicted) > account.allowance for account in found)
    ]


@given(case=CASES)
def test_a_step_changes_the_loss_by_the_gradients_first_order_term(case: tst.Case) -> None:
    # loss(w - s) - loss(w) = -<g, s> + (curvature) + (g's rounding), exactly, for every step s
    # that reaches no ReLU kink: down the gradient (the first-order decrease |g|**2 tau) and
    # with either weight shrunk.
    assert violations(case) == []


def test_the_first_order_account_is_decisive_along_every_direction() -> None:
    seen: Counter[str] = Counter()

    @given(case=CASES)
    def count(case: tst.Case) -> None:
        for direction, found in first_order_accounts(case).items():
            seen[f"{direction} decisive"] += bool(found) and is_decisive(found[-1])
            seen[f"{direction} descends"] += any(
                is_decisive(account) and account.change < 0 < account.predicted for account in found
            )

    count()
    # Not vacuous: each direction is decisive on some drawn case, and the gradient's step
    # decreases the loss there, exactly, as its positive first-order term promises.
    assert all(seen[f"{d} decisive"] > 0 for d in ("gradient", "w1 shrunk", "w2 shrunk")), seen
    assert seen["gradient descends"] > 0, seen


def scaled(
    factor: float,
) -> Callable[[twolayer.BackwardValues, NDArray[np.float64]], twolayer.BackwardValues]:
    def wrong(values: twolayer.BackwardValues, x: NDArray[np.float64]) -> twolayer.BackwardValues:
        return values._replace(grad_w1=factor * values.grad_w1, grad_w2=factor * values.grad_w2)

    return wrong


def zeroed_grad_w1(
    values: twolayer.BackwardValues, x: NDArray[np.float64]
) -> twolayer.BackwardValues:
    return values._replace(grad_w1=np.zeros_like(values.grad_w1))


def unmasked(values: twolayer.BackwardValues, x: NDArray[np.float64]) -> twolayer.BackwardValues:
    return values._replace(grad_h=values.grad_h_relu, grad_w1=x.T.dot(values.grad_h_relu))


WRONG_GRADIENTS = {
    "scaled by 0.5": scaled(0.5),
    "scaled by 3": scaled(3.0),
    "grad_w1 zeroed": zeroed_grad_w1,
    "ReLU mask dropped": unmasked,
}


@pytest.mark.parametrize("wrong", WRONG_GRADIENTS.values(), ids=WRONG_GRADIENTS.keys())
def test_a_wrong_gradient_breaks_the_first_order_account(
    wrong: Callable[[twolayer.BackwardValues, NDArray[np.float64]], twolayer.BackwardValues],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    right = network.backward_unchecked

    def wrong_backward(
        w2: NDArray[np.float64],
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        h: NDArray[np.float64],
        h_relu: NDArray[np.float64],
        y_pred: NDArray[np.float64],
        relu_grad_at_zero: float,
    ) -> twolayer.BackwardValues:
        return wrong(right(w2, x, y, h, h_relu, y_pred, relu_grad_at_zero), x)

    monkeypatch.setattr(network, "backward_unchecked", wrong_backward)
    seen: Counter[str] = Counter()

    # A demonstration, not the property: fifty cases at most (the loaded profile's number where
    # fewer) keep the suite's time; each wrong gradient breaks most of them (ci: 158 of 300 for
    # the dropped mask, the least).
    @settings(max_examples=min(WRONG_EXAMPLES, settings().max_examples))
    @given(case=CASES)
    def count(case: tst.Case) -> None:
        seen["cases"] += 1
        seen["broken"] += bool(violations(case))

    count()
    assert seen["broken"] > 0, seen


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
