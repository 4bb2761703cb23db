"""The bug zoo: implementations of one step, each with one realistic mistake, for code review.

Every ``step(x, y, w1, w2, learning_rate)`` here claims to compute one step of the seed's network
(cells 8-17) and returns the mapping that ``twolayer.conformance.check_implementation`` judges:
``h``, ``loss``, ``grad_w1``, ``grad_w2``, ``w1_next``, ``w2_next``. ``reference_step`` is right,
written plainly in numpy; each other differs from it in one place. Its docstring names the
mistake, the property of the judge that catches it, and why a weaker check would not.

``BUGS`` lists them with the arithmetic and tie convention that each claims and the outputs that
its mistake corrupts; ``tests/test_bug_zoo.py`` holds the judge to rejecting every one of them,
blaming only those outputs.
"""

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from twolayer.shapes import W1, W2, X, Y

Outputs = dict[str, NDArray[np.float64] | float]  # output name -> value, as the judge reads it
Step = Callable[[X, Y, W1, W2, float], Mapping[str, object]]  # the signature the judge calls

TINY_RELATIVE_ERROR = 1e-9
"""The relative error of ``tiny_relative_error``: far above float64's rounding, far below rtol."""


def reference_step(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """One step of the seed's network, plainly and correctly: the zoo's point of comparison.

    ``h = x @ w1``, ``h_relu = max(h, 0)``, ``y_pred = h_relu @ w2``, ``loss = sum((y_pred -
    y)**2)``, then the gradients by the chain rule (``relu'(0) = 1``, the seed's) and
    ``w - learning_rate * grad`` for each weight. It conforms in float64 with
    ``relu_grad_at_zero=1``.

    Args:
        x: ``(batch, d_in)``.
        y: ``(batch, d_out)``.
        w1: ``(d_in, hidden)``.
        w2: ``(hidden, d_out)``.
        learning_rate: the step size.

    Returns:
        ``h (batch, hidden)``, ``loss`` (a float), ``grad_w1``, ``w1_next (d_in, hidden)``,
        ``grad_w2``, ``w2_next (hidden, d_out)``.
    """
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = float(np.square(y_pred - y).sum())
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h_relu = grad_y_pred.dot(w2.T)
    grad_h = grad_h_relu.copy()
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return {
        "h": h,
        "loss": loss,
        "grad_w1": grad_w1,
        "grad_w2": grad_w2,
        "w1_next": w1 - learning_rate * grad_w1,
        "w2_next": w2 - learning_rate * grad_w2,
    }


def mean_instead_of_sum(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: the loss is the mean squared error, not the sum (and its gradient follows).

    ``loss = mean((y_pred - y)**2)``, ``grad_y_pred = 2 (y_pred - y) / (batch * d_out)``: a
    consistent pair, so a finite-difference gradient check passes. Caught by ``loss`` (and every
    gradient) exceeding its bound by the factor ``batch * d_out``; the judge's shrunk case has
    two entries in ``y``, since with one the mean is the sum.
    """
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = float(np.square(y_pred - y).mean())
    grad_y_pred = 2.0 * (y_pred - y) / y.size
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return _outputs(h, loss, w1, w2, grad_w1, grad_w2, learning_rate)


def mask_at_zero(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: the ReLU mask zeroes ``grad_h`` where ``h <= 0``, claiming the seed's ``h < 0``.

    That is ``relu'(0) = 0`` (``torch.relu``'s convention) while the step claims the seed's,
    ``relu'(0) = 1``. It differs only where ``h`` is exactly 0, which random float data never
    hits; caught by ``grad_w1`` at an exact tie (the judge draws ``w1`` with a zero column, where
    ``h`` is 0 with certainty, so that no rounding excuses the difference).
    """
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = float(np.square(y_pred - y).sum())
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h <= 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return _outputs(h, loss, w1, w2, grad_w1, grad_w2, learning_rate)


def missing_factor_two(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: ``grad_y_pred = y_pred - y``, the derivative of the square without its factor 2.

    The loss is right and training still converges (at half the step), so a loss curve looks
    fine. Caught by ``grad_w2`` or ``grad_w1``, off by half its value where the bound allows a
    few units of ``2**-53`` times the terms.
    """
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = float(np.square(y_pred - y).sum())
    grad_y_pred = y_pred - y
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return _outputs(h, loss, w1, w2, grad_w1, grad_w2, learning_rate)


def wrong_update_sign(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: the update climbs the gradient, ``w + learning_rate * grad``.

    Every gradient is right, so a gradient check passes; only the loss rising over steps would
    show it. Caught by ``w1_next`` or ``w2_next`` (the shrunk case has ``learning_rate > 0`` and a
    non-zero gradient, the least that exposes it).
    """
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = float(np.square(y_pred - y).sum())
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return {
        "h": h,
        "loss": loss,
        "grad_w1": grad_w1,
        "grad_w2": grad_w2,
        "w1_next": w1 + learning_rate * grad_w1,
        "w2_next": w2 + learning_rate * grad_w2,
    }


def h_instead_of_h_relu(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: ``grad_w2 = h.T @ grad_y_pred``, with ``h`` where ``h_relu`` belongs.

    Right whenever every ``h >= 0``, as with positive data. Caught by ``grad_w2`` at a case with a
    negative ``h`` whose row of ``grad_y_pred`` is non-zero.
    """
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = float(np.square(y_pred - y).sum())
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return _outputs(h, loss, w1, w2, grad_w1, grad_w2, learning_rate)


def float32_claimed_as_float64(
    x: X, y: Y, w1: W1, w2: W2, learning_rate: float
) -> dict[str, NDArray[np.float32] | float]:
    """Mistake: it computes in float32 (data loaded as float32, say) and claims float64.

    Its relative errors are about 1e-7 where float64's bound allows about 1e-16 times the
    terms. Caught by ``h`` and every output after it when judged as float64; the same step
    conforms when it is judged as float32, which is what it is (``tests/test_bug_zoo.py``).
    """
    # As in float32 code, a value beyond float32's range becomes inf, without a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        x32, y32 = x.astype(np.float32), y.astype(np.float32)
        w1_32, w2_32 = w1.astype(np.float32), w2.astype(np.float32)
        rate = np.float32(learning_rate)
        h = x32.dot(w1_32)
        h_relu = np.maximum(h, np.float32(0))
        y_pred = h_relu.dot(w2_32)
        loss = float(np.square(y_pred - y32).sum())
        grad_y_pred = np.float32(2) * (y_pred - y32)
        grad_w2 = h_relu.T.dot(grad_y_pred)
        grad_h = grad_y_pred.dot(w2_32.T)
        grad_h[h < 0] = 0
        grad_w1 = x32.T.dot(grad_h)
        w1_next, w2_next = w1_32 - rate * grad_w1, w2_32 - rate * grad_w2
    return {
        "h": h,
        "loss": loss,
        "grad_w1": grad_w1,
        "grad_w2": grad_w2,
        "w1_next": w1_next,
        "w2_next": w2_next,
    }


def tiny_relative_error(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: ``grad_w1`` is off by a relative 1e-9 (a constant typed as ``1.000000001``).

    ``numpy.allclose`` (``rtol=1e-5``) and any tolerance picked by eye let it through. Caught by
    ``grad_w1`` exceeding its float64 bound, about ``k * 2**-53`` (1e-16) times the terms, by a
    factor of about a million.
    """
    outputs = reference_step(x, y, w1, w2, learning_rate)
    grad_w1 = np.asarray(outputs["grad_w1"]) * (1.0 + TINY_RELATIVE_ERROR)
    return {**outputs, "grad_w1": grad_w1, "w1_next": w1 - learning_rate * grad_w1}


def update_before_backprop(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: ``w2`` is updated in place before ``grad_h_relu = grad_y_pred @ w2.T`` reads it.

    The update of ``w2`` moved up, next to ``grad_w2``, and subtracts in place (``w2 -=``), so
    the backward pass through the second layer sees the new ``w2``, and the caller's array is
    changed too. Caught by ``grad_w1`` (from the wrong ``w2``) and by the judge's check that the
    inputs are as they were handed in.
    """
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = float(np.square(y_pred - y).sum())
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    w2 -= learning_rate * grad_w2
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return {
        "h": h,
        "loss": loss,
        "grad_w1": grad_w1,
        "grad_w2": grad_w2,
        "w1_next": w1 - learning_rate * grad_w1,
        "w2_next": w2,
    }


def reshape_instead_of_transpose(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: ``grad_w2 = (grad_y_pred.T @ h_relu).reshape(hidden, d_out)``: reshape, not ``.T``.

    The shape comes out right, so a shape check passes, and the values are right whenever
    ``hidden`` or ``d_out`` is 1. Caught by ``grad_w2`` at a case with both above 1.
    """
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = float(np.square(y_pred - y).sum())
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = grad_y_pred.T.dot(h_relu).reshape(w2.shape)
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return _outputs(h, loss, w1, w2, grad_w1, grad_w2, learning_rate)


def missing_relu_mask(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: the backward pass forgets ReLU's mask, ``grad_h = grad_h_relu``.

    The network is then differentiated as if it were linear. Right whenever every ``h > 0``;
    caught by ``grad_w1`` at a case with a negative ``h`` (a dead unit) that reaches the loss.
    """
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = float(np.square(y_pred - y).sum())
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_w1 = x.T.dot(grad_h)
    return _outputs(h, loss, w1, w2, grad_w1, grad_w2, learning_rate)


def _outputs(
    h: NDArray[np.float64],
    loss: float,
    w1: W1,
    w2: W2,
    grad_w1: W1,
    grad_w2: W2,
    learning_rate: float,
) -> Outputs:
    """Pack the outputs, with the seed's update ``w - learning_rate * grad``."""
    return {
        "h": h,
        "loss": loss,
        "grad_w1": grad_w1,
        "grad_w2": grad_w2,
        "w1_next": w1 - learning_rate * grad_w1,
        "w2_next": w2 - learning_rate * grad_w2,
    }


class Bug(NamedTuple):
    """An exhibit of the zoo: a step, what it claims, and the outputs that its mistake corrupts.

    ``corrupts`` names every output (or ``"inputs"``, for an argument changed in place) that the
    mistake can make wrong; the judge, rejecting the step, must blame some of them and no other.
    """

    step: Step
    corrupts: frozenset[str]
    arithmetic: str = "float64"
    relu_grad_at_zero: float = 1.0


_GRADIENTS_AND_UPDATES = frozenset({"grad_w1", "grad_w2", "w1_next", "w2_next"})

BUGS: Mapping[str, Bug] = {
    "mean_instead_of_sum": Bug(mean_instead_of_sum, _GRADIENTS_AND_UPDATES | {"loss"}),
    "mask_at_zero": Bug(mask_at_zero, frozenset({"grad_w1", "w1_next"})),
    "missing_factor_two": Bug(missing_factor_two, _GRADIENTS_AND_UPDATES),
    "wrong_update_sign": Bug(wrong_update_sign, frozenset({"w1_next", "w2_next"})),
    "h_instead_of_h_relu": Bug(h_instead_of_h_relu, frozenset({"grad_w2", "w2_next"})),
    "float32_claimed_as_float64": Bug(
        float32_claimed_as_float64, _GRADIENTS_AND_UPDATES | {"h", "loss"}
    ),
    "tiny_relative_error": Bug(tiny_relative_error, frozenset({"grad_w1", "w1_next"})),
    "update_before_backprop": Bug(
        update_before_backprop, frozenset({"grad_w1", "w1_next", "inputs"})
    ),
    "reshape_instead_of_transpose": Bug(
        reshape_instead_of_transpose, frozenset({"grad_w2", "w2_next"})
    ),
    "missing_relu_mask": Bug(missing_relu_mask, frozenset({"grad_w1", "w1_next"})),
}
"""Every exhibit by name, each judged as float64 with the seed's tie convention (``relu'(0) =
1``), which is what each claims."""
