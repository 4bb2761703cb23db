"""Gradient descent: the seed's update (cell 17) and its training loop (cell 20).

``sgd_step`` returns new weights instead of subtracting in place; ``train`` runs the seed's loop
and returns the final weights with every loss, bit for bit the floats that the notebook's
mutating loop computes (``tests/test_seed_fidelity.py`` holds it to that).
"""

import numpy as np

from twolayer.network import backward_unchecked, forward_unchecked, loss_unchecked
from twolayer.shapes import (
    W1,
    W2,
    Grads,
    Params,
    Sizes,
    TrainResult,
    X,
    Y,
    check_array,
    check_bytes,
    check_count,
    check_learning_rate,
    check_params,
    check_relu_grad_at_zero,
    frozen,
    steps_bytes,
)


def sgd_step(params: Params, grads: Grads, learning_rate: float) -> Params:
    """Return the weights after one step of gradient descent: seed cell 17, without mutation.

    ``w1_next = w1 - learning_rate * grad_w1``, likewise ``w2``.

    Args:
        params: ``w1 (d_in, hidden)``, ``w2 (hidden, d_out)``.
        grads: the gradient, shaped like ``params``.
        learning_rate: a finite number >= 0.

    Returns:
        New ``Params``, read-only; ``params`` and ``grads`` are left as they were.

    >>> import numpy as np
    >>> params = Params(np.array([[1.0]]), np.array([[2.0]]))
    >>> sgd_step(params, Grads(np.array([[4.0]]), np.array([[-8.0]])), 0.25)
    Params(w1=array([[0.]]), w2=array([[4.]]))
    """
    sizes: Sizes = {}
    w1, w2 = check_params(params, sizes)
    grad_w1, grad_w2 = check_params(grads, sizes, name="grads")
    rate = check_learning_rate(learning_rate)
    return Params(frozen(w1 - rate * grad_w1), frozen(w2 - rate * grad_w2))


def train(
    params: Params,
    x: X,
    y: Y,
    *,
    learning_rate: float,
    steps: int,
    relu_grad_at_zero: float = 1.0,
) -> TrainResult:
    """Run ``steps`` steps of gradient descent from ``params``: the seed's loop, cell 20.

    Each step computes the forward pass, records the loss, runs the backward pass and updates
    both weights, in the seed's order of operations, so that every loss and the final weights are
    the notebook's floats bit for bit. Values that overflow float64 follow IEEE arithmetic (inf,
    nan), as the notebook's would.

    Args:
        params: the starting weights, ``w1 (d_in, hidden)``, ``w2 (hidden, d_out)``.
        x: ``(batch, d_in)``.
        y: ``(batch, d_out)``.
        learning_rate: a finite number >= 0 (the seed's is 1e-6).
        steps: the number of updates, an integer >= 0 (the seed's is 500) whose losses fit in
            ``twolayer.shapes.MAX_BYTES``.
        relu_grad_at_zero: ReLU's derivative at an exact zero: 0, 0.5 or 1 (default 1, the seed's).

    Returns:
        ``TrainResult(params, losses)``: the weights after the last update and ``losses
        (steps,)``, where ``losses[t]`` is the loss before update ``t``.

    >>> import numpy as np
    >>> params = Params(np.array([[1.0]]), np.array([[1.0]]))
    >>> result = train(params, np.array([[1.0]]), np.array([[0.0]]), learning_rate=0.25, steps=2)
    >>> result.losses.tolist()  # both weights go from 1 to 1 - 0.25 * 2 = 0.5: y_pred 0.25
    [1.0, 0.0625]
    """
    sizes: Sizes = {}
    w1, w2 = check_params(params, sizes)
    x = check_array("x", x, "batch d_in", sizes)
    y = check_array("y", y, "batch d_out", sizes)
    rate = check_learning_rate(learning_rate)
    count = check_count("steps", steps, 0)
    check_bytes(f"steps = {count}", steps_bytes(count))  # losses (steps,), before it is made
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    losses = np.empty(count, dtype=np.float64)
    for t in range(count):
        w1, w2, losses[t] = _train_step(w1, w2, x, y, rate, rule)
    if count == 0:  # hand out new arrays even when nothing was computed
        w1, w2 = w1.copy(), w2.copy()
    return TrainResult(Params(frozen(w1), frozen(w2)), frozen(losses))


def _train_step(
    w1: W1, w2: W2, x: X, y: Y, learning_rate: float, relu_grad_at_zero: float
) -> tuple[W1, W2, float]:
    h, h_relu, y_pred = forward_unchecked(w1, w2, x)
    step_loss = loss_unchecked(y_pred, y)
    values = backward_unchecked(w2, x, y, h, h_relu, y_pred, relu_grad_at_zero)
    # w - lr * grad in the buffers of this step's own gradients: the seed's bits, one allocation
    # fewer per weight (multiplication commutes exactly; the seed's -= is the same subtraction).
    grad_w1, grad_w2 = values.grad_w1, values.grad_w2
    np.multiply(learning_rate, grad_w1, out=grad_w1)
    np.multiply(learning_rate, grad_w2, out=grad_w2)
    return np.subtract(w1, grad_w1, out=grad_w1), np.subtract(w2, grad_w2, out=grad_w2), step_loss
