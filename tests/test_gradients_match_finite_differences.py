"""``backward`` agrees with central finite differences of ``loss(forward(...))``, entry by entry.

Why the check can be tight. With the ReLU mask fixed, the loss restricted to one weight entry
is an exact quadratic in that entry (``h`` and ``y_pred`` are linear in it), so the central
difference ``(L(w + s) - L(w - s)) / 2s`` equals the derivative exactly, with no truncation
error at all, as long as ``w +- s`` moves no ``h`` across zero. What remains is rounding, and on
the dyadic grid used here (every value ``k / 16`` with ``|k| <= 63``, dims <= 4, step
``s = 2**-11``) most of it is gone too:

- ``w +- s`` is exact (a multiple of ``2**-11`` below 4 needs 13 bits);
- at ``w +- s``: ``h`` is a multiple of ``2**-15`` below ``2**6`` (21 bits), ``y_pred`` a
  multiple of ``2**-26`` below ``2**11`` (37 bits), ``y_pred - y`` likewise: all exact in
  float64. Only the squares and their sum round: ``|fl(L) - L| <= gamma(m) * L`` with
  ``m = batch * d_out`` terms (one rounding per square, at most ``m - 1`` per sum, any order);
  so ``L <= fl(L) / (1 - gamma(m))``;
- at ``w``: every product and sum of the backward pass is a multiple of ``2**-20`` below ``2**20``
  (40 bits), so ``backward`` is exact and any disagreement is the finite difference's rounding:
  ``|fd - g| <= gamma(m) * (L+ + L-) / (2 s) + 2 u |fd|`` (the ``2u`` covers the subtraction
  ``fl(L+) - fl(L-)``; dividing by ``2s``, a power of two, is exact).

The cases are drawn on that grid, half of them as tie cases (small integers, one column of ``w1``
zeroed, so that ``h[:, j] == 0``), which are on the grid too.

A step ``s`` crosses a kink when ``0 < |h[b, j]| <= s |x[b, a]|`` for the entry ``w1[a, j]``; on
this grid ``|h| >= 2**-8 > s |x|`` unless ``h == 0``, so only exact ties are skipped (the
skipped entries are counted; ``w2`` entries never move ``h`` and are always checked).

The gradient checked here is ``value_and_grad``'s; ``backward`` and ``backward_values`` give the
same bits, and the same loss, under every tie convention (the last test), so the check holds for
all three.
"""

from collections import Counter
from typing import NamedTuple

import numpy as np
from hypothesis import event, given
from hypothesis import strategies as st
from numpy.typing import NDArray
from shared_runs import same_bits

import twolayer
from twolayer import strategies as tst

# The dyadic grid, and tie cases on it (small integers with a zeroed column of w1): exact ties.
GRID_CASES = st.one_of(tst.dyadic_cases(), tst.tie_cases())
STEP = 2.0**-11  # the finite-difference step: below every kink distance on the grid (see above)
UNIT_ROUNDOFF = 2.0**-53  # float64


def gamma(k: int) -> float:
    """Higham's ``gamma(k) = k u / (1 - k u)`` for float64."""
    return k * UNIT_ROUNDOFF / (1 - k * UNIT_ROUNDOFF)


class Mismatch(NamedTuple):
    tensor: str
    entry: tuple[int, int]
    error: float
    tolerance: float


class FiniteDifferenceReport(NamedTuple):
    mismatches: list[Mismatch]
    checked: int
    skipped_at_ties: int


def loss_at(case: tst.Case, w1: NDArray[np.float64], w2: NDArray[np.float64]) -> float:
    activations = twolayer.forward(twolayer.Params(w1, w2), case.x)
    return twolayer.loss(activations.y_pred, case.y)


def central_difference(case: tst.Case, tensor: str, index: tuple[int, int]) -> tuple[float, float]:
    """Return the central difference of the loss in one entry, and its rounding tolerance."""
    w1, w2 = (np.array(w) for w in case.params)
    weights = w1 if tensor == "w1" else w2
    centre = weights[index]
    weights[index] = centre + STEP
    assert weights[index] - centre == STEP  # the grid keeps w + s exact
    loss_plus = loss_at(case, w1, w2)
    weights[index] = centre - STEP
    assert centre - weights[index] == STEP
    loss_minus = loss_at(case, w1, w2)
    difference = (loss_plus - loss_minus) / (2 * STEP)
    m = case.y.size
    tolerance = gamma(m) / (1 - gamma(m)) * (loss_plus + loss_minus) / (2 * STEP)
    return difference, tolerance + 2 * UNIT_ROUNDOFF * abs(difference)


def crosses_a_kink(case: tst.Case, index: tuple[int, int]) -> bool:
    """Whether moving ``w1[a, j]`` by ``+-STEP`` can move some ``h[b, j]`` across or onto zero."""
    a, j = index
    h = case.x.dot(case.params.w1)[:, j]
    moves = STEP * np.abs(case.x[:, a])
    return bool(np.any((moves > 0) & (np.abs(h) <= moves)))


def finite_difference_report(case: tst.Case, grads: twolayer.Grads) -> FiniteDifferenceReport:
    mismatches, checked, skipped = [], 0, 0
    for tensor, grad in zip(("w1", "w2"), grads, strict=True):
        for raw_index in np.ndindex(grad.shape):
            index = (int(raw_index[0]), int(raw_index[1]))
            if tensor == "w1" and crosses_a_kink(case, index):
                skipped += 1
                continue
            difference, tolerance = central_difference(case, tensor, index)
            checked += 1
            error = abs(difference - grad[index])
            if error > tolerance:
                mismatches.append(Mismatch(tensor, index, error, tolerance))
    return FiniteDifferenceReport(mismatches, checked, skipped)


@given(case=GRID_CASES)
def test_backward_matches_central_differences_on_every_entry(case: tst.Case) -> None:
    _, grads = twolayer.value_and_grad(case.params, case.x, case.y)
    report = finite_difference_report(case, grads)
    assert report.mismatches == []
    assert report.checked >= case.params.w2.size  # w2 entries never sit on a kink
    event(f"entries skipped at ReLU ties: {'some' if report.skipped_at_ties else 'none'}")


def test_only_exact_ties_are_skipped_and_they_do_occur() -> None:
    seen: Counter[str] = Counter()

    @given(case=GRID_CASES)
    def count(case: tst.Case) -> None:
        h = case.x.dot(case.params.w1)
        _, grads = twolayer.value_and_grad(case.params, case.x, case.y)
        report = finite_difference_report(case, grads)
        seen["cases"] += 1
        seen["checked"] += report.checked
        seen["skipped"] += report.skipped_at_ties
        if report.skipped_at_ties:
            # The grid argument: a step only ever reaches a kink from an exact tie.
            assert (h == 0).any()
            seen["cases with skips"] += 1

    count()
    assert seen["cases with skips"] > 0
    assert seen["checked"] > 0, seen  # entries are checked, not only skipped


@given(case=GRID_CASES)
def test_the_check_rejects_a_gradient_off_by_more_than_its_tolerance(case: tst.Case) -> None:
    _, grads = twolayer.value_and_grad(case.params, case.x, case.y)
    index = (0, 0)
    _, tolerance = central_difference(case, "w2", index)
    wrong_w2 = np.array(grads.w2)
    wrong_w2[index] += 2 * tolerance + 2.0**-20  # 2**-20: the grid's spacing of true gradients
    report = finite_difference_report(case, twolayer.Grads(grads.w1, wrong_w2))
    assert [(m.tensor, m.entry) for m in report.mismatches] == [("w2", index)]


def test_the_tolerance_is_far_below_the_gradient_scale() -> None:
    # Not vacuous: on a typical case the tolerance is a few ulps of the loss over the step,
    # about 1e-9 here, while the gradients are of order 1 to 100.
    rng = np.random.default_rng(3)
    values = rng.integers(-63, 64, size=4 * 3 + 4 * 2 + 3 * 3 + 3 * 2) / 16
    x, y = values[:12].reshape(4, 3), values[12:20].reshape(4, 2)
    w1, w2 = values[20:29].reshape(3, 3), values[29:].reshape(3, 2)
    case = tst.Case(x, y, twolayer.Params(w1, w2))
    _, grads = twolayer.value_and_grad(case.params, x, y)
    _, tolerance = central_difference(case, "w2", (0, 0))
    assert tolerance < 1e-6
    assert np.abs(grads.w2).max() > 1e3 * tolerance


@given(
    case=st.one_of(tst.cases(), tst.tie_cases()),
    rule=st.sampled_from(twolayer.RELU_GRAD_AT_ZERO_CHOICES),
)
def test_the_three_ways_to_the_gradient_agree_bit_for_bit(case: tst.Case, rule: float) -> None:
    """backward, backward_values and value_and_grad give the same gradient bits, per convention.

    And value_and_grad's loss is loss(forward(...)) exactly.
    """
    activations = twolayer.forward(case.params, case.x)
    grads = twolayer.backward(case.params, case.x, case.y, activations, relu_grad_at_zero=rule)
    values = twolayer.backward_values(
        case.params, case.x, case.y, activations, relu_grad_at_zero=rule
    )
    value, grads_too = twolayer.value_and_grad(case.params, case.x, case.y, relu_grad_at_zero=rule)
    assert value == twolayer.loss(activations.y_pred, case.y)
    for a, b in ((grads.w1, values.grad_w1), (grads.w2, values.grad_w2)):
        assert same_bits(a, b)
    for a, b in zip(grads, grads_too, strict=True):
        assert same_bits(a, b)
