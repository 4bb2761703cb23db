"""ReLU's mask in the backward pass: 0 where ``h < 0``, 1 where ``h > 0``, the convention at 0.

``grad_h`` must be 0 where ``h < 0``, ``grad_h_relu`` where ``h > 0`` and
``relu_grad_at_zero * grad_h_relu`` where ``h == 0``, for each of the conventions 0, 0.5, 1. The
strategies make exact zeros of ``h`` (small integers; a zeroed column of ``w1``), and the tests
count them, so that the tie branch is shown to have been exercised, not assumed.

Where the factor is 0, ``grad_h`` is +0.0, never -0.0; and a call that leaves the convention out
gets the seed's, 1, in every function whose result depends on it.
"""

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from shared_runs import NEGATIVE_TIE

import twolayer
from twolayer import exact, gradcheck
from twolayer import strategies as tst

CONVENTIONS = st.sampled_from(twolayer.RELU_GRAD_AT_ZERO_CHOICES)


def assert_mask_rule(case: tst.Case, relu_grad_at_zero: float) -> int:
    """Assert the mask rule on every entry; return the number of ties with grad_h_relu != 0."""
    activations = twolayer.forward(case.params, case.x)
    values = twolayer.backward_values(
        case.params, case.x, case.y, activations, relu_grad_at_zero=relu_grad_at_zero
    )
    h, grad_h, grad_h_relu = activations.h, values.grad_h, values.grad_h_relu
    negative, positive, tie = h < 0, h > 0, h == 0
    assert np.all(grad_h[negative] == 0)
    assert np.array_equal(grad_h[positive], grad_h_relu[positive])
    # Multiplying by 0, 0.5 or 1 is exact (the values are integers here), so == is the rule.
    assert np.array_equal(grad_h[tie], relu_grad_at_zero * grad_h_relu[tie])
    return int(np.count_nonzero(tie & (grad_h_relu != 0)))


@given(case=tst.tie_cases(), relu_grad_at_zero=CONVENTIONS)
def test_grad_h_follows_the_mask_and_the_tie_convention(
    case: tst.Case, relu_grad_at_zero: float
) -> None:
    ties = assert_mask_rule(case, relu_grad_at_zero)
    event(f"ties with non-zero grad_h_relu: {'yes' if ties else 'no'}")


@given(case=tst.integer_cases(), relu_grad_at_zero=CONVENTIONS)
def test_grad_h_follows_the_mask_on_integer_data(case: tst.Case, relu_grad_at_zero: float) -> None:
    assert_mask_rule(case, relu_grad_at_zero)


@given(case=tst.cases(), relu_grad_at_zero=CONVENTIONS)
def test_grad_h_follows_the_mask_on_float_data(case: tst.Case, relu_grad_at_zero: float) -> None:
    assert_mask_rule(case, relu_grad_at_zero)


def test_the_tie_strategy_produces_ties_that_matter() -> None:
    seen: Counter[str] = Counter()

    @given(case=tst.tie_cases(), relu_grad_at_zero=CONVENTIONS)
    def count(case: tst.Case, relu_grad_at_zero: float) -> None:
        seen["cases"] += 1
        seen["ties that matter"] += assert_mask_rule(case, relu_grad_at_zero) > 0

    count()
    assert seen["ties that matter"] > 0, seen


@given(case=tst.tie_cases())
def test_the_conventions_give_different_gradients_exactly_when_a_tie_matters(
    case: tst.Case,
) -> None:
    activations = twolayer.forward(case.params, case.x)
    grads = {
        rule: twolayer.backward_values(
            case.params, case.x, case.y, activations, relu_grad_at_zero=rule
        ).grad_h
        for rule in twolayer.RELU_GRAD_AT_ZERO_CHOICES
    }
    tie_matters = bool(np.any((activations.h == 0) & (grads[1.0] != 0)))
    assert np.array_equal(grads[0.0], grads[1.0]) != tie_matters
    assert np.array_equal(grads[0.5], grads[1.0]) != tie_matters


@pytest.mark.parametrize(
    ("relu_grad_at_zero", "expected"),
    [(0.0, [[0.0, 0.0, 18.0]]), (0.5, [[0.0, 6.0, 18.0]]), (1.0, [[0.0, 12.0, 18.0]])],
)
def test_one_sample_with_h_negative_zero_and_positive(
    relu_grad_at_zero: float, expected: list[list[float]]
) -> None:
    # h = [-1, 0, 1]; y_pred = 3, y = 0, so grad_y_pred = 6 and grad_h_relu = 6 * w2 = [6, 12, 18].
    params = twolayer.Params(np.array([[-1.0, 0.0, 1.0]]), np.array([[1.0], [2.0], [3.0]]))
    x, y = np.array([[1.0]]), np.array([[0.0]])
    values = twolayer.backward_values(
        params, x, y, twolayer.forward(params, x), relu_grad_at_zero=relu_grad_at_zero
    )
    assert values.grad_h_relu.tolist() == [[6.0, 12.0, 18.0]]
    assert values.grad_h.tolist() == expected


@pytest.mark.parametrize("bad", [0.25, 2.0, -1.0, float("nan")])
def test_other_tie_conventions_are_refused(bad: float) -> None:
    params = twolayer.Params(np.ones((1, 1)), np.ones((1, 1)))
    with pytest.raises(ValueError, match=r"relu_grad_at_zero must be one of 0, 0\.5, 1"):
        twolayer.value_and_grad(params, np.ones((1, 1)), np.ones((1, 1)), relu_grad_at_zero=bad)


def test_the_negative_tie_is_a_tie_with_a_negative_gradient() -> None:
    """NEGATIVE_TIE (tests/shared_runs.py) has h exactly 0 where grad_h_relu is below 0."""
    case = NEGATIVE_TIE
    values = twolayer.backward_values(
        case.params, case.x, case.y, twolayer.forward(case.params, case.x)
    )
    assert twolayer.forward(case.params, case.x).h[0, 0] == 0.0
    assert values.grad_h_relu[0, 0] < 0


@given(case=st.one_of(tst.tie_cases(), tst.cases()), rule=CONVENTIONS)
@example(case=NEGATIVE_TIE, rule=0.0)
def test_grad_h_is_positive_zero_wherever_relus_factor_is_zero(case: tst.Case, rule: float) -> None:
    """Wherever ReLU's factor is 0 (h < 0; and h == 0 under convention 0), grad_h is +0.0.

    Never -0.0, even where grad_h_relu is negative and a multiplication by 0 would give -0.0.
    """
    activations = twolayer.forward(case.params, case.x)
    values = twolayer.backward_values(
        case.params, case.x, case.y, activations, relu_grad_at_zero=rule
    )
    h = activations.h
    factor_is_zero = (h < 0) | ((h == 0) & (rule == 0.0))
    assert np.all(values.grad_h[factor_is_zero] == 0.0)
    assert not np.signbit(values.grad_h[factor_is_zero]).any()


# Every function whose result depends on the tie convention, called on NEGATIVE_TIE with or
# without one (bounds.step_bounds is not: at a tie the mask is uncertain and covers both).
WITH_CONVENTION: dict[str, Callable[..., object]] = {
    "backward": lambda c, **k: twolayer.backward(
        c.params, c.x, c.y, twolayer.forward(c.params, c.x), **k
    ),
    "backward_values": lambda c, **k: twolayer.backward_values(
        c.params, c.x, c.y, twolayer.forward(c.params, c.x), **k
    ),
    "value_and_grad": lambda c, **k: twolayer.value_and_grad(c.params, c.x, c.y, **k),
    "train": lambda c, **k: twolayer.train(c.params, c.x, c.y, learning_rate=0.25, steps=2, **k),
    "exact.step": lambda c, **k: exact.step(c.params, c.x, c.y, 0.25, **k),
    "exact.value_and_grad": lambda c, **k: exact.value_and_grad(c.params, c.x, c.y, **k),
    "gradcheck.check_gradients": lambda c, **k: gradcheck.check_gradients(
        c.params, c.x, c.y, twolayer.value_and_grad(c.params, c.x, c.y)[1], **k
    ),
}


@pytest.mark.parametrize("call", WITH_CONVENTION.values(), ids=WITH_CONVENTION.keys())
def test_the_default_tie_convention_is_the_seeds_everywhere(call: Callable[..., object]) -> None:
    """Leaving relu_grad_at_zero out gives what relu_grad_at_zero=1.0 (the seed's) gives.

    In every public function whose result depends on the convention.
    """
    seeds = repr(call(NEGATIVE_TIE, relu_grad_at_zero=1.0))
    assert repr(call(NEGATIVE_TIE)) == seeds
    # At this tie the conventions differ, so the comparison above could tell them apart.
    assert repr(call(NEGATIVE_TIE, relu_grad_at_zero=0.0)) != seeds
