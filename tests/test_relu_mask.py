"""ReLU's mask in the backward pass: 0 where ``h < 0``, 1 where ``h > 0``, the convention at 0.

``grad_h`` must be 0 where ``h < 0``, ``grad_h_relu`` where ``h > 0`` and
``relu_grad_at_zero * grad_h_relu`` where ``h == 0``, for each of the conventions 0, 0.5, 1. The
strategies make exact zeros of ``h`` (small integers; a zeroed column of ``w1``), and the tests
count them, so that the tie branch is shown to have been exercised, not assumed.
"""

from collections import Counter

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import twolayer
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
