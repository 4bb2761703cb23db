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
from typing import Any, NamedTuple

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


# -- kernels: tiles, chunks and their tails ------------------------------------------------------
#
# A fast implementation does not compute ``x @ w1`` in one call: it sums over ``d_in`` in tiles
# that fit a cache or a warp, walks the batch in chunks, and splits the hidden units across
# blocks. Each loop has a tail, the partial last tile, and a loop bound written as ``n // tile``
# instead of ``ceil(n / tile)`` drops it. Such a kernel is right for every size that a tile
# divides and for every size below one tile (where kernels take a plain path), so cases of 1 to
# 3 entries an axis never see it: the judge draws sizes such as 65, 97 and 1025 for this.

MISTAKES = ("d_in_tail", "batch_remainder", "hidden_tail", "narrow_above_512", "loss_over_chunks")
"""The mistakes that ``blocked_step`` can make, one at a time (see its docstring)."""

NARROW_ABOVE = 512
"""The length of ``d_in`` above which ``narrow_above_512`` computes ``h`` in a narrower format."""


def _tiles(length: int, width: int, *, whole_only: bool = False) -> list[slice]:
    """The slices of ``range(length)`` in tiles of ``width``, as a blocked loop visits them.

    An axis no longer than one tile is one tile (a kernel's plain path for small sizes). With
    ``whole_only`` the loop runs over the ``length // width`` whole tiles and stops there: the
    partial last tile, ``length % width`` entries, is never visited.
    """
    if length <= width:
        return [slice(0, length)]
    stop = length - length % width if whole_only else length
    return [slice(start, min(start + width, length)) for start in range(0, stop, width)]


def _bf16(values: NDArray[np.float32]) -> NDArray[np.float32]:
    """Round float32 values to bfloat16 (their top 16 bits), to nearest, ties to even."""
    bits: NDArray[np.uint32] = values.view(np.uint32)
    bits = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(
        0xFFFF0000
    )
    return bits.view(np.float32)


def _narrower(values: NDArray[Any]) -> NDArray[Any]:
    """The values in the next narrower format: float64 to float32, float32 to bfloat16."""
    if values.dtype == np.float64:
        return values.astype(np.float32)
    return _bf16(values.astype(np.float32))


def _tiled_product(
    a: NDArray[Any], b: NDArray[Any], tile: int, mistake: str | None
) -> NDArray[Any]:
    """``a @ b`` summed over the inner axis tile by tile, in ``a``'s dtype."""
    inner = a.shape[1]
    if mistake == "narrow_above_512" and inner > NARROW_ABOVE:
        # A long product dispatched to a faster kernel in the narrower format, where (as in such
        # code) a value beyond the format's range becomes inf without a warning.
        with np.errstate(over="ignore", invalid="ignore"):
            narrow: NDArray[Any] = _narrower(a).dot(_narrower(b))
        return narrow.astype(a.dtype)
    out = np.zeros((a.shape[0], b.shape[1]), dtype=a.dtype)
    for k in _tiles(inner, tile, whole_only=mistake == "d_in_tail"):
        out += a[:, k].dot(b[k])
    return out


class Kernel(NamedTuple):
    """How ``blocked_step`` computes: its dtype, tile widths, and the mistake it makes, if any."""

    dtype: str = "float64"
    d_in_tile: int = 64
    batch_chunk: int = 32
    hidden_tile: int = 32
    mistake: str | None = None


def blocked_step(kernel: Kernel | None = None) -> Callable[[X, Y, W1, W2, float], Outputs]:
    """A step computed as blocked kernels compute it (default: ``Kernel()``, no mistake).

    ``h = x @ w1`` is summed over ``d_in`` in tiles of ``kernel.d_in_tile``; the batch is walked
    in chunks of ``kernel.batch_chunk`` samples (forward and backward per chunk, the loss and
    ``grad_w2`` summed over the chunks); ``grad_w1`` is computed in blocks of
    ``kernel.hidden_tile`` hidden units; every value in ``kernel.dtype`` (``"float64"`` or
    ``"float32"``). Every tail is handled: without a mistake the step conforms in its dtype, since
    the bounds hold for any order of summation. ``kernel.mistake``, one of ``MISTAKES``:

    - ``"d_in_tail"``: the product over ``d_in`` drops its partial last tile;
    - ``"batch_remainder"``: the last partial chunk of the batch is dropped (its rows of ``h``
      stay 0, and it is missing from the loss and the gradients);
    - ``"hidden_tail"``: ``grad_w1`` drops its partial last block of hidden units (left 0);
    - ``"narrow_above_512"``: where ``d_in > 512``, ``h`` is computed in the next narrower format
      (float32 for a float64 step, bfloat16 products for a float32 one);
    - ``"loss_over_chunks"``: the loss is the sum over the chunks divided by their number (a
      gradient accumulation's mean), the gradients right.
    """
    kernel = Kernel() if kernel is None else kernel
    if kernel.mistake is not None and kernel.mistake not in MISTAKES:
        raise ValueError(f"mistake must be one of {', '.join(MISTAKES)}; got {kernel.mistake!r}")
    if kernel.dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be float64 or float32; got {kernel.dtype!r}")

    def step(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
        return _blocked(x, y, w1, w2, learning_rate, kernel)

    return step


def _blocked(x: X, y: Y, w1: W1, w2: W2, learning_rate: float, kernel: Kernel) -> Outputs:
    if kernel.mistake == "narrow_above_512":  # its infs flow on as nan, without warnings
        with np.errstate(over="ignore", invalid="ignore"):
            return _blocked_loops(x, y, w1, w2, learning_rate, kernel)
    return _blocked_loops(x, y, w1, w2, learning_rate, kernel)


def _blocked_loops(x: X, y: Y, w1: W1, w2: W2, learning_rate: float, kernel: Kernel) -> Outputs:
    kind = np.dtype(kernel.dtype)
    mistake = kernel.mistake
    xs: NDArray[Any] = x.astype(kind)
    ys: NDArray[Any] = y.astype(kind)
    w1s: NDArray[Any] = w1.astype(kind)
    w2s: NDArray[Any] = w2.astype(kind)
    rate = kind.type(learning_rate)
    batch, hidden = xs.shape[0], w1s.shape[1]
    h = np.zeros((batch, hidden), dtype=kind)
    grad_h = np.zeros((batch, hidden), dtype=kind)
    grad_w2 = np.zeros_like(w2s)
    loss, chunks = kind.type(0), 0
    for rows in _tiles(batch, kernel.batch_chunk, whole_only=mistake == "batch_remainder"):
        h[rows] = _tiled_product(xs[rows], w1s, kernel.d_in_tile, mistake)
        h_relu = np.maximum(h[rows], 0)
        y_pred = h_relu.dot(w2s)
        loss += np.square(y_pred - ys[rows]).sum()
        grad_y_pred = 2 * (y_pred - ys[rows])
        grad_w2 += h_relu.T.dot(grad_y_pred)
        grad_h[rows] = grad_y_pred.dot(w2s.T)
        chunks += 1
    if mistake == "loss_over_chunks":
        loss /= chunks
    grad_h[h < 0] = 0
    grad_w1 = np.zeros_like(w1s)
    for columns in _tiles(hidden, kernel.hidden_tile, whole_only=mistake == "hidden_tail"):
        grad_w1[:, columns] = xs.T.dot(grad_h[:, columns])
    return {
        "h": h.astype(np.float64),
        "loss": float(loss),
        "grad_w1": grad_w1.astype(np.float64),
        "grad_w2": grad_w2.astype(np.float64),
        "w1_next": (w1s - rate * grad_w1).astype(np.float64),
        "w2_next": (w2s - rate * grad_w2).astype(np.float64),
    }


def blocked_reference_step(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """The seed's step as a blocked kernel, every tail handled: it conforms in float64.

    ``h`` summed over ``d_in`` in tiles of 64, the batch in chunks of 32, ``grad_w1`` in blocks of
    32 hidden units (``blocked_step()``): the point of comparison for the exhibits below, each of
    which differs from it in one loop bound or one branch.
    """
    return _blocked(x, y, w1, w2, learning_rate, Kernel())


def d_in_tail_dropped(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: ``h = x @ w1`` is summed over ``d_in`` in tiles of 64, whole tiles only.

    The loop runs ``for t in range(d_in // 64)``: where ``d_in`` is above 64 and no multiple of
    it, the last ``d_in % 64`` terms of every sum are lost (a product no longer than one tile
    takes the plain path and is right). Caught by ``h`` and everything after it at ``d_in = 65``
    (the judge's minimal case; its dims favour tile tails such as 65, 129 and 1025); cases of 1 to
    3 entries an axis can never see it.
    """
    return _blocked(x, y, w1, w2, learning_rate, Kernel(mistake="d_in_tail"))


def batch_remainder_dropped(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: the batch is processed in chunks of 32 samples, and the remainder is dropped.

    As a data loader with ``drop_last=True`` does, inside the step: where ``batch`` is above 32
    and no multiple of it, the last ``batch % 32`` samples are neither in the loss nor in the
    gradients, and their rows of ``h`` stay 0. Caught by ``h``, the loss and the gradients at
    ``batch = 33``.
    """
    return _blocked(x, y, w1, w2, learning_rate, Kernel(mistake="batch_remainder"))


def hidden_tail_dropped_in_grad_w1(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: ``grad_w1`` is computed in blocks of 32 hidden units, whole blocks only.

    The forward pass and ``grad_w2`` are right; the last ``hidden % 32`` columns of ``grad_w1``
    stay 0 where ``hidden`` is above 32 and no multiple of it. Caught by ``grad_w1`` (and
    ``w1_next``) at ``hidden = 33``, in a column whose ``grad_h`` is not 0.
    """
    return _blocked(x, y, w1, w2, learning_rate, Kernel(mistake="hidden_tail"))


def float32_products_above_512(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: claimed float64, ``h`` is computed in float32 where ``d_in`` is above 512.

    A dispatcher sends long products to a faster float32 kernel (or a GPU's default), and every
    test with a few inputs stays on the float64 path. Caught by ``h`` and everything after it at
    ``d_in = 513``, with values that float32 does not hold or sums that it rounds: the error is
    about ``2**-24`` of the terms where float64's bound allows about ``513 * 2**-53``.
    """
    return _blocked(x, y, w1, w2, learning_rate, Kernel(mistake="narrow_above_512"))


def loss_averaged_over_micro_batches(x: X, y: Y, w1: W1, w2: W2, learning_rate: float) -> Outputs:
    """Mistake: a float32 step over micro-batches of 32 divides the loss by their number.

    Gradient accumulation averages the micro-batches' losses; the gradients here are summed
    right, so a gradient check and every trained weight agree, and only the reported loss is
    off, by the number of chunks. Caught by ``loss`` at ``batch = 33`` (two chunks): with every
    input 1 and ``y = 0``, 16.5 instead of 33. Declared float32, which it is.
    """
    kernel = Kernel(dtype="float32", mistake="loss_over_chunks")
    return _blocked(x, y, w1, w2, learning_rate, kernel)


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
_EVERY_OUTPUT = _GRADIENTS_AND_UPDATES | {"h", "loss"}

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
    "d_in_tail_dropped": Bug(d_in_tail_dropped, _EVERY_OUTPUT),
    "batch_remainder_dropped": Bug(batch_remainder_dropped, _EVERY_OUTPUT),
    "hidden_tail_dropped_in_grad_w1": Bug(
        hidden_tail_dropped_in_grad_w1, frozenset({"grad_w1", "w1_next"})
    ),
    "float32_products_above_512": Bug(float32_products_above_512, _EVERY_OUTPUT),
    "loss_averaged_over_micro_batches": Bug(
        loss_averaged_over_micro_batches, frozenset({"loss"}), arithmetic="float32"
    ),
}
"""Every exhibit by name, with the arithmetic and tie convention that it claims, under which it
is judged: float64 and the seed's ``relu'(0) = 1``, except ``loss_averaged_over_micro_batches``,
a float32 step declared float32."""


# -- training loops: a trajectory, judged update by update -------------------------------------
#
# A training loop can be wrong where every one of its steps, taken alone, is right: it carries
# something from one step to the next (a gradient buffer never zeroed, a velocity, a schedule) or
# records its history off by one. ``twolayer.conformance.check_training`` judges each transition
# ``t -> t + 1`` from the loop's own weights at ``t``, so the first update that departs from the
# seed's is named by its step; a one-step check never sees these, and comparing the final loss
# cannot tell a mistake from rounding grown over many steps.

Trajectory = dict[str, NDArray[np.float64]]  # "losses" (steps,), "w1" and "w2" (steps + 1, ...)
Train = Callable[[X, Y, W1, W2, float, int], Mapping[str, object]]  # what check_training calls

WEIGHT_DECAY = 1e-3
"""The weight decay of ``weight_decay_in_plain_descent``: ``grad + WEIGHT_DECAY * w``."""

MOMENTUM = 0.9
"""The momentum of ``momentum_in_plain_descent``."""

LEARNING_RATE_DECAY = 0.99
"""The factor of ``decayed_learning_rate``: the rate at step ``t`` is ``rate * 0.99**t``."""


def _loss_and_gradients(
    x: NDArray[Any], y: NDArray[Any], w1: NDArray[Any], w2: NDArray[Any]
) -> tuple[float, NDArray[Any], NDArray[Any]]:
    """The seed's loss and gradients at ``w1``, ``w2`` (as ``reference_step``), in their dtype:
    float64 or float32, whichever the loop computes in."""
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = float(np.square(y_pred - y).sum())
    grad_y_pred = 2 * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h_relu = grad_y_pred.dot(w2.T)
    grad_h = grad_h_relu.copy()
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return loss, grad_w1, grad_w2


def _history(w1: NDArray[Any], w2: NDArray[Any], steps: int) -> tuple[NDArray[Any], NDArray[Any]]:
    """Empty ``w1 (steps + 1, d_in, hidden)`` and ``w2 (steps + 1, hidden, d_out)`` histories,
    index 0 holding the weights received."""
    w1s = np.empty((steps + 1, *w1.shape), dtype=w1.dtype)
    w2s = np.empty((steps + 1, *w2.shape), dtype=w2.dtype)
    w1s[0], w2s[0] = w1, w2
    return w1s, w2s


def reference_train(x: X, y: Y, w1: W1, w2: W2, learning_rate: float, steps: int) -> Trajectory:
    """The seed's training loop, plainly and correctly: the point of comparison of the loops.

    ``steps`` times: the loss and the gradients at the current weights (``relu'(0) = 1``, the
    seed's mask ``grad_h[h < 0] = 0``), then ``w - learning_rate * grad`` for each weight. It
    conforms in float64 with ``relu_grad_at_zero=1``.

    Args:
        x: ``(batch, d_in)``.
        y: ``(batch, d_out)``.
        w1: ``(d_in, hidden)``, left as it is.
        w2: ``(hidden, d_out)``, left as it is.
        learning_rate: the step size.
        steps: the number of updates.

    Returns:
        ``losses (steps,)``, the loss before each update; ``w1 (steps + 1, d_in, hidden)`` and
        ``w2 (steps + 1, hidden, d_out)``, the weights before each update and after the last.
    """
    losses = np.empty(steps)
    w1s, w2s = _history(w1, w2, steps)
    for t in range(steps):
        losses[t], grad_w1, grad_w2 = _loss_and_gradients(x, y, w1, w2)
        w1 = w1 - learning_rate * grad_w1
        w2 = w2 - learning_rate * grad_w2
        w1s[t + 1], w2s[t + 1] = w1, w2
    return {"losses": losses, "w1": w1s, "w2": w2s}


def reference_train_float32(
    x: X, y: Y, w1: W1, w2: W2, learning_rate: float, steps: int
) -> dict[str, NDArray[np.float32]]:
    """The seed's training loop in float32: the inputs cast once, every value computed in float32.

    It conforms declared ``"float32"``, which it is, and not declared ``"float64"``: its
    weights after the first update are float32 numbers, off by about ``2**-24`` of their terms.
    """
    # As in float32 code, a value beyond float32's range becomes inf, without a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        x32, y32 = x.astype(np.float32), y.astype(np.float32)
        w1_32: NDArray[np.float32] = w1.astype(np.float32)
        w2_32: NDArray[np.float32] = w2.astype(np.float32)
        rate = np.float32(learning_rate)
        losses = np.empty(steps, dtype=np.float32)
        w1s, w2s = _history(w1_32, w2_32, steps)
        grad_w1: NDArray[np.float32]
        grad_w2: NDArray[np.float32]
        for t in range(steps):
            losses[t], grad_w1, grad_w2 = _loss_and_gradients(x32, y32, w1_32, w2_32)
            w1_32 = w1_32 - rate * grad_w1
            w2_32 = w2_32 - rate * grad_w2
            w1s[t + 1], w2s[t + 1] = w1_32, w2_32
    return {"losses": losses, "w1": w1s, "w2": w2s}


def gradients_accumulate(
    x: X, y: Y, w1: W1, w2: W2, learning_rate: float, steps: int
) -> Trajectory:
    """Mistake: the gradient buffers are never zeroed, so each update uses the sum of all so far.

    PyTorch's ``loss.backward()`` adds into ``.grad``; a loop without ``optimizer.zero_grad()``
    updates with ``grad_0 + ... + grad_t``. The first update is right, and every step's gradient
    is right at its own weights, so a one-step check passes and the loss still falls for a
    while. Caught at step 1 by ``w1`` and ``w2``: the judge re-anchors at the loop's own
    ``w1[1]``, ``w2[1]``, where the exact update subtracts ``grad_1`` alone. Comparing the final
    loss cannot tell this from rounding grown over many steps.
    """
    losses = np.empty(steps)
    w1s, w2s = _history(w1, w2, steps)
    sum_w1, sum_w2 = np.zeros_like(w1), np.zeros_like(w2)
    for t in range(steps):
        losses[t], grad_w1, grad_w2 = _loss_and_gradients(x, y, w1, w2)
        sum_w1 = sum_w1 + grad_w1
        sum_w2 = sum_w2 + grad_w2
        w1 = w1 - learning_rate * sum_w1
        w2 = w2 - learning_rate * sum_w2
        w1s[t + 1], w2s[t + 1] = w1, w2
    return {"losses": losses, "w1": w1s, "w2": w2s}


def momentum_in_plain_descent(
    x: X, y: Y, w1: W1, w2: W2, learning_rate: float, steps: int
) -> Trajectory:
    """Mistake: the update carries a momentum of 0.9 (``torch.optim.SGD(momentum=0.9)``).

    ``velocity = 0.9 * velocity + grad``, ``w -= learning_rate * velocity``: the seed's plain
    descent has none. The velocity starts at 0, so the first update is the seed's and a
    one-step check passes; the loss falls, often faster, so a loss curve looks better. Caught at
    step 1 by ``w1`` and ``w2``, where the update from the loop's own weights adds
    ``0.9 * learning_rate * grad_0`` to the exact one.
    """
    losses = np.empty(steps)
    w1s, w2s = _history(w1, w2, steps)
    velocity_w1, velocity_w2 = np.zeros_like(w1), np.zeros_like(w2)
    for t in range(steps):
        losses[t], grad_w1, grad_w2 = _loss_and_gradients(x, y, w1, w2)
        velocity_w1 = MOMENTUM * velocity_w1 + grad_w1
        velocity_w2 = MOMENTUM * velocity_w2 + grad_w2
        w1 = w1 - learning_rate * velocity_w1
        w2 = w2 - learning_rate * velocity_w2
        w1s[t + 1], w2s[t + 1] = w1, w2
    return {"losses": losses, "w1": w1s, "w2": w2s}


def weight_decay_in_plain_descent(
    x: X, y: Y, w1: W1, w2: W2, learning_rate: float, steps: int
) -> Trajectory:
    """Mistake: the update adds a weight decay of 1e-3, ``grad + 1e-3 * w`` (an optimizer default).

    The difference from each update is ``learning_rate * 1e-3 * w``: a relative 1e-3 of the step
    at most, so the loss curve is indistinguishable and the final loss differs by far less than
    any tolerance picked by eye. Caught at step 0 by ``w1`` or ``w2`` (wherever a weight is not
    0), beyond a bound of a few units of ``2**-53`` of the terms.
    """
    losses = np.empty(steps)
    w1s, w2s = _history(w1, w2, steps)
    for t in range(steps):
        losses[t], grad_w1, grad_w2 = _loss_and_gradients(x, y, w1, w2)
        w1 = w1 - learning_rate * (grad_w1 + WEIGHT_DECAY * w1)
        w2 = w2 - learning_rate * (grad_w2 + WEIGHT_DECAY * w2)
        w1s[t + 1], w2s[t + 1] = w1, w2
    return {"losses": losses, "w1": w1s, "w2": w2s}


def decayed_learning_rate(
    x: X, y: Y, w1: W1, w2: W2, learning_rate: float, steps: int
) -> Trajectory:
    """Mistake: the learning rate decays, ``learning_rate * 0.99**t`` at step ``t`` (a scheduler).

    The seed's rate is constant. At step 0 the factor is 1, so a one-step check passes, and the
    loss curve is smooth and falling. Caught at step 1 by ``w1`` and ``w2``: the update from the
    loop's own weights is 1% short of the exact one, far beyond rounding.
    """
    losses = np.empty(steps)
    w1s, w2s = _history(w1, w2, steps)
    for t in range(steps):
        losses[t], grad_w1, grad_w2 = _loss_and_gradients(x, y, w1, w2)
        rate = learning_rate * LEARNING_RATE_DECAY**t
        w1 = w1 - rate * grad_w1
        w2 = w2 - rate * grad_w2
        w1s[t + 1], w2s[t + 1] = w1, w2
    return {"losses": losses, "w1": w1s, "w2": w2s}


def stale_grad_w2(x: X, y: Y, w1: W1, w2: W2, learning_rate: float, steps: int) -> Trajectory:
    """Mistake: ``grad_w2`` is computed once, at the first step, and reused at every step.

    A gradient hoisted out of the loop (cached "for speed", or a name shadowed): the first update
    is right, ``w1``'s updates stay right at every step, and with a small learning rate the loss
    still falls. Caught at step 1 by ``w2`` alone: the exact update from the loop's own
    ``w1[1]``, ``w2[1]`` uses the gradient there, not at step 0. A one-step check cannot see it,
    and the final loss differs from the seed's by an amount that looks like drift.
    """
    losses = np.empty(steps)
    w1s, w2s = _history(w1, w2, steps)
    first_grad_w2: W2 | None = None
    for t in range(steps):
        losses[t], grad_w1, grad_w2 = _loss_and_gradients(x, y, w1, w2)
        if first_grad_w2 is None:
            first_grad_w2 = grad_w2
        w1 = w1 - learning_rate * grad_w1
        w2 = w2 - learning_rate * first_grad_w2
        w1s[t + 1], w2s[t + 1] = w1, w2
    return {"losses": losses, "w1": w1s, "w2": w2s}


def first_weights_not_returned(
    x: X, y: Y, w1: W1, w2: W2, learning_rate: float, steps: int
) -> Trajectory:
    """Mistake: the history is written off by one: index ``t`` holds the weights after update ``t``.

    ``w1s[t] = w1`` right after the update, where ``w1s[t + 1]`` belongs, and the last entry is
    filled with the final weights: so index 0 holds the weights after the first update, not those
    received, and every entry is one step early. The losses and the final weights are right, so
    a check of the final loss or the final weights passes, and every update is right, so a
    one-step check does too. Caught at step 0 by ``w1`` (or ``w2``, where ``w1`` did not move):
    the judge holds index 0 to the weights received, bit for bit.
    """
    losses = np.empty(steps)
    w1s, w2s = _history(w1, w2, steps)
    for t in range(steps):
        losses[t], grad_w1, grad_w2 = _loss_and_gradients(x, y, w1, w2)
        w1 = w1 - learning_rate * grad_w1
        w2 = w2 - learning_rate * grad_w2
        w1s[t], w2s[t] = w1, w2
    w1s[steps], w2s[steps] = w1, w2
    return {"losses": losses, "w1": w1s, "w2": w2s}


class TrainingBug(NamedTuple):
    """An exhibit of the loops: a loop, what it claims, what its mistake corrupts, and when.

    ``corrupts`` names every returned array (``losses``, ``w1``, ``w2``) that the mistake can
    make wrong; the judge, rejecting the loop, must blame some of them and no other.
    ``first_step`` is the first transition ``t -> t + 1`` at which the loop departs from the
    seed's (0 for index 0 itself), the step that the judge's message names.
    """

    train: Train
    corrupts: frozenset[str]
    first_step: int
    arithmetic: str = "float64"
    relu_grad_at_zero: float = 1.0


_WEIGHTS = frozenset({"w1", "w2"})

TRAINING_BUGS: Mapping[str, TrainingBug] = {
    "gradients_accumulate": TrainingBug(gradients_accumulate, _WEIGHTS, 1),
    "momentum_in_plain_descent": TrainingBug(momentum_in_plain_descent, _WEIGHTS, 1),
    "weight_decay_in_plain_descent": TrainingBug(weight_decay_in_plain_descent, _WEIGHTS, 0),
    "decayed_learning_rate": TrainingBug(decayed_learning_rate, _WEIGHTS, 1),
    "stale_grad_w2": TrainingBug(stale_grad_w2, frozenset({"w2"}), 1),
    "first_weights_not_returned": TrainingBug(first_weights_not_returned, _WEIGHTS, 0),
}
"""Every loop exhibit by name, each judged as float64 with the seed's tie convention (``relu'(0)
= 1``), which is what each claims."""
