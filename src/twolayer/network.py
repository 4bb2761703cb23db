"""The seed's network: initialisation, forward pass, loss and hand-written backward pass.

Each function is one group of the seed notebook's cells, in its names and its order of
operations, so that the oracle reproduces the notebook bit for bit. Every function is pure: it
reads its arguments, never writes them, and hands out new read-only float64 arrays.

The checked functions (``forward``, ``loss``, ``backward_values``, ``backward``,
``value_and_grad``) validate their arguments (see ``twolayer.shapes``) and hand out read-only
arrays. The ``*_unchecked`` functions (``forward_unchecked``, ``loss_unchecked``,
``backward_unchecked``) do the same arithmetic alone, for callers that validated their arguments
once already (``training.train``'s loop, ``gradcheck``'s evaluations): no check, no copy, and the
arrays they return are new and writable.
"""

from typing import NamedTuple

import numpy as np

from twolayer.shapes import (
    W1,
    W2,
    Activations,
    Dims,
    Grads,
    Hidden,
    Params,
    Sizes,
    X,
    Y,
    check_array,
    check_dims,
    check_params,
    check_relu_grad_at_zero,
    check_rng,
    frozen,
    shown,
)


class BackwardValues(NamedTuple):
    """Every value of the backward pass, in the seed's names and order (cells 12-16)."""

    grad_y_pred: Y  # (batch, d_out)
    grad_w2: W2  # (hidden, d_out)
    grad_h_relu: Hidden  # (batch, hidden)
    grad_h: Hidden  # (batch, hidden)
    grad_w1: W1  # (d_in, hidden)


def init_data(rng: np.random.Generator, dims: Dims) -> tuple[X, Y]:
    """Draw inputs and targets from the standard normal, as seed cells 3-4 do (x first).

    Args:
        rng: the source of randomness, e.g. ``numpy.random.default_rng(0)``.
        dims: the sizes; ``x`` is ``(batch, d_in)`` and ``y`` is ``(batch, d_out)``.

    Returns:
        ``(x, y)``, read-only float64 arrays of shapes ``(batch, d_in)`` and ``(batch, d_out)``.
    """
    rng, dims = check_rng(rng), check_dims(dims)
    x = rng.standard_normal((dims.batch, dims.d_in))
    y = rng.standard_normal((dims.batch, dims.d_out))
    return frozen(x), frozen(y)


def init_params(rng: np.random.Generator, dims: Dims) -> Params:
    """Draw the weights from the standard normal, as seed cells 5-6 do (w1 first).

    Args:
        rng: the source of randomness, e.g. ``numpy.random.default_rng(0)``.
        dims: the sizes; ``w1`` is ``(d_in, hidden)`` and ``w2`` is ``(hidden, d_out)``.

    Returns:
        ``Params(w1, w2)``, read-only float64 arrays.

    >>> import numpy as np
    >>> params = init_params(np.random.default_rng(0), Dims(batch=2, d_in=3, hidden=4, d_out=1))
    >>> params.w1.shape, params.w2.shape, params.w1.flags.writeable
    ((3, 4), (4, 1), False)
    """
    rng, dims = check_rng(rng), check_dims(dims)
    w1 = rng.standard_normal((dims.d_in, dims.hidden))
    w2 = rng.standard_normal((dims.hidden, dims.d_out))
    return Params(frozen(w1), frozen(w2))


def legacy_init(seed: int, dims: Dims) -> tuple[X, Y, Params]:
    """Draw ``x, y, w1, w2`` exactly as the notebook does after ``numpy.random.seed(seed)``.

    The notebook calls ``np.random.randn`` for x, y, w1 and w2 in that order; this draws the
    same stream from ``numpy.random.RandomState(seed)``, without touching numpy's global state.

    Args:
        seed: an integer in ``[0, 2**32)``.
        dims: the sizes.

    Returns:
        ``(x (batch, d_in), y (batch, d_out), Params(w1 (d_in, hidden), w2 (hidden, d_out)))``.
    """
    dims = check_dims(dims)
    value: object = seed  # callers without a type checker pass anything
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ValueError(
            f"seed must be an integer in [0, 2**32) for RandomState; got {shown(value)}"
        )
    state = np.random.RandomState(seed)
    x = state.randn(dims.batch, dims.d_in)
    y = state.randn(dims.batch, dims.d_out)
    w1 = state.randn(dims.d_in, dims.hidden)
    w2 = state.randn(dims.hidden, dims.d_out)
    return frozen(x), frozen(y), Params(frozen(w1), frozen(w2))


# -- forward (seed cells 8-11) ------------------------------------------------------------------


def forward_unchecked(w1: W1, w2: W2, x: X) -> Activations:
    """Run the forward pass on arrays that the caller validated: seed cells 8-10, as ``forward``.

    Args:
        w1: ``(d_in, hidden)``, float64.
        w2: ``(hidden, d_out)``, float64.
        x: ``(batch, d_in)``, float64.

    Returns:
        ``Activations(h, h_relu, y_pred)``: ``h, h_relu (batch, hidden)``, ``y_pred (batch,
        d_out)``, new writable arrays.
    """
    # ``.dot`` as in the seed, not ``@``: the same BLAS call, so the same bits in every shape.
    h: Hidden = x.dot(w1)
    h_relu: Hidden = np.maximum(h, 0)
    y_pred: Y = h_relu.dot(w2)
    return Activations(h, h_relu, y_pred)


def loss_unchecked(y_pred: Y, y: Y) -> float:
    """Return the summed squared error of arrays that the caller validated: seed cell 11.

    Args:
        y_pred: ``(batch, d_out)``, float64.
        y: ``(batch, d_out)``, float64, the same shape (nothing checks that it is).

    Returns:
        ``sum((y_pred - y) ** 2)``, a Python float, as ``loss`` returns it.
    """
    # np.square(...).sum() as in the seed: numpy's pairwise summation, in its order.
    return float(np.square(y_pred - y).sum())


def forward(params: Params, x: X) -> Activations:
    """Run the forward pass: seed cells 8-10.

    ``h = x @ w1``, ``h_relu = max(h, 0)``, ``y_pred = h_relu @ w2``.

    Args:
        params: ``w1 (d_in, hidden)`` and ``w2 (hidden, d_out)``.
        x: the inputs, ``(batch, d_in)``.

    Returns:
        ``Activations(h, h_relu, y_pred)``: ``h, h_relu (batch, hidden)``, ``y_pred (batch,
        d_out)``, read-only.

    >>> import numpy as np
    >>> params = Params(np.array([[1.0, -1.0]]), np.array([[2.0], [3.0]]))
    >>> forward(params, np.array([[2.0]]))
    Activations(h=array([[ 2., -2.]]), h_relu=array([[2., 0.]]), y_pred=array([[4.]]))
    """
    sizes: Sizes = {}
    w1, w2 = check_params(params, sizes)
    x = check_array("x", x, "batch d_in", sizes)
    return Activations(*map(frozen, forward_unchecked(w1, w2, x)))


def loss(y_pred: Y, y: Y) -> float:
    """Return the summed (not averaged) squared error: seed cell 11.

    ``loss = sum((y_pred - y) ** 2)``

    Args:
        y_pred: the predictions, ``(batch, d_out)``.
        y: the targets, ``(batch, d_out)``; a ``(batch, 1)`` array is refused, never broadcast.

    Returns:
        The loss, a Python float.

    >>> import numpy as np
    >>> loss(np.array([[4.0]]), np.array([[1.0]]))
    9.0
    """
    sizes: Sizes = {}
    y_pred = check_array("y_pred", y_pred, "batch d_out", sizes)
    y = check_array("y", y, "batch d_out", sizes)
    return loss_unchecked(y_pred, y)


# -- backward (seed cells 12-16) ----------------------------------------------------------------


def _relu_backward(grad_h_relu: Hidden, h: Hidden, relu_grad_at_zero: float) -> Hidden:
    # The seed copies grad_h_relu and sets 0 where h < 0; np.where with the literal 0.0 gives
    # the same bits (+0.0 there) without the copy. At h == 0 the factor is relu_grad_at_zero.
    if relu_grad_at_zero == 1.0:
        return np.where(h < 0, 0.0, grad_h_relu)
    if relu_grad_at_zero == 0.0:
        return np.where(h > 0, grad_h_relu, 0.0)
    return np.where(h > 0, grad_h_relu, np.where(h < 0, 0.0, relu_grad_at_zero * grad_h_relu))


def backward_unchecked(
    w2: W2, x: X, y: Y, h: Hidden, h_relu: Hidden, y_pred: Y, relu_grad_at_zero: float
) -> BackwardValues:
    """Run the backward pass on arrays that the caller validated: seed cells 12-16.

    The formulas and the tie at ``h == 0`` are ``backward_values``'s.

    Args:
        w2: ``(hidden, d_out)``, float64.
        x: ``(batch, d_in)``, float64.
        y: ``(batch, d_out)``, float64.
        h: ``(batch, hidden)``, from ``forward_unchecked``.
        h_relu: ``(batch, hidden)``, from ``forward_unchecked``.
        y_pred: ``(batch, d_out)``, from ``forward_unchecked``.
        relu_grad_at_zero: ReLU's derivative at an exact zero, already checked: 0, 0.5 or 1.

    Returns:
        ``BackwardValues``: ``grad_y_pred (batch, d_out)``, ``grad_w2 (hidden, d_out)``,
        ``grad_h_relu, grad_h (batch, hidden)``, ``grad_w1 (d_in, hidden)``, new writable arrays
        (``train`` updates the weights in the buffers of ``grad_w1`` and ``grad_w2``).
    """
    grad_y_pred: Y = 2.0 * (y_pred - y)
    grad_w2: W2 = h_relu.T.dot(grad_y_pred)
    grad_h_relu: Hidden = grad_y_pred.dot(w2.T)
    grad_h = _relu_backward(grad_h_relu, h, relu_grad_at_zero)
    grad_w1: W1 = x.T.dot(grad_h)
    return BackwardValues(grad_y_pred, grad_w2, grad_h_relu, grad_h, grad_w1)


def _check_backward_args(
    params: object, x: object, y: object, activations: object, relu_grad_at_zero: object
) -> tuple[W2, X, Y, Hidden, Hidden, Y, float]:
    """Validate the arguments of ``backward``; return those that ``backward_unchecked`` takes."""
    sizes: Sizes = {}
    _, w2 = check_params(params, sizes)
    x = check_array("x", x, "batch d_in", sizes)
    y = check_array("y", y, "batch d_out", sizes)
    if not isinstance(activations, tuple) or len(activations) != len(Activations._fields):
        raise TypeError(
            "activations must be twolayer.Activations(h, h_relu, y_pred) from forward(params, x); "
            f"got {type(activations).__qualname__}"
        )
    h = check_array("activations.h", activations[0], "batch hidden", sizes)
    h_relu = check_array("activations.h_relu", activations[1], "batch hidden", sizes)
    y_pred = check_array("activations.y_pred", activations[2], "batch d_out", sizes)
    return w2, x, y, h, h_relu, y_pred, check_relu_grad_at_zero(relu_grad_at_zero)


def backward_values(
    params: Params, x: X, y: Y, activations: Activations, *, relu_grad_at_zero: float = 1.0
) -> BackwardValues:
    """Run the backward pass and return every intermediate: seed cells 12-16.

    ``grad_y_pred = 2 (y_pred - y)``, ``grad_w2 = h_relu.T @ grad_y_pred``,
    ``grad_h_relu = grad_y_pred @ w2.T``, ``grad_h = grad_h_relu * relu'(h)``,
    ``grad_w1 = x.T @ grad_h``, where ``relu'(h)`` is 1 where ``h > 0``, 0 where ``h < 0`` and
    ``relu_grad_at_zero`` where ``h == 0``.

    The tie at ``h == 0``: ReLU has no derivative there and systems differ. The seed zeroes the
    gradient only where ``h < 0``, so a zero passes with factor 1 (the default, as does
    ``torch.clamp(x, min=0)``); ``torch.relu``, ``jax.nn.relu`` and micrograd use 0;
    ``torch.maximum(h, 0)`` and ``jnp.maximum`` under ``jax.grad`` split it, 0.5.

    Args:
        params: ``w1 (d_in, hidden)``, ``w2 (hidden, d_out)``.
        x: ``(batch, d_in)``.
        y: ``(batch, d_out)``.
        activations: ``forward(params, x)``: ``h, h_relu (batch, hidden)``,
            ``y_pred (batch, d_out)``.
        relu_grad_at_zero: ReLU's derivative at an exact zero: 0, 0.5 or 1.

    Returns:
        ``BackwardValues``: ``grad_y_pred (batch, d_out)``, ``grad_w2 (hidden, d_out)``,
        ``grad_h_relu, grad_h (batch, hidden)``, ``grad_w1 (d_in, hidden)``, read-only.
    """
    values = backward_unchecked(*_check_backward_args(params, x, y, activations, relu_grad_at_zero))
    return BackwardValues(*map(frozen, values))


def backward(
    params: Params, x: X, y: Y, activations: Activations, *, relu_grad_at_zero: float = 1.0
) -> Grads:
    """Return the gradient of the loss with respect to ``w1`` and ``w2``: seed cells 12-16.

    See ``backward_values`` for the formulas and the tie at ``h == 0``.

    Args:
        params: ``w1 (d_in, hidden)``, ``w2 (hidden, d_out)``.
        x: ``(batch, d_in)``.
        y: ``(batch, d_out)``.
        activations: ``forward(params, x)``.
        relu_grad_at_zero: ReLU's derivative at an exact zero: 0, 0.5 or 1 (default 1, the seed's).

    Returns:
        ``Grads(w1 (d_in, hidden), w2 (hidden, d_out))``, read-only.

    >>> import numpy as np
    >>> params = Params(np.array([[1.0, -1.0]]), np.array([[2.0], [3.0]]))
    >>> x, y = np.array([[2.0]]), np.array([[1.0]])
    >>> backward(params, x, y, forward(params, x))
    Grads(w1=array([[24.,  0.]]), w2=array([[12.],
           [ 0.]]))
    """
    values = backward_unchecked(*_check_backward_args(params, x, y, activations, relu_grad_at_zero))
    return Grads(frozen(values.grad_w1), frozen(values.grad_w2))


def value_and_grad(
    params: Params, x: X, y: Y, *, relu_grad_at_zero: float = 1.0
) -> tuple[float, Grads]:
    """Return the loss and its gradient at ``params``: seed cells 8-16 in one call.

    Args:
        params: ``w1 (d_in, hidden)``, ``w2 (hidden, d_out)``.
        x: ``(batch, d_in)``.
        y: ``(batch, d_out)``.
        relu_grad_at_zero: ReLU's derivative at an exact zero: 0, 0.5 or 1 (default 1, the seed's).

    Returns:
        ``(loss, Grads(w1 (d_in, hidden), w2 (hidden, d_out)))``.
    """
    sizes: Sizes = {}
    w1, w2 = check_params(params, sizes)
    x = check_array("x", x, "batch d_in", sizes)
    y = check_array("y", y, "batch d_out", sizes)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    h, h_relu, y_pred = forward_unchecked(w1, w2, x)
    values = backward_unchecked(w2, x, y, h, h_relu, y_pred, rule)
    return loss_unchecked(y_pred, y), Grads(frozen(values.grad_w1), frozen(values.grad_w2))
