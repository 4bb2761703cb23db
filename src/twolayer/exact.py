"""The seed's forward pass, backward pass and update in exact rational arithmetic.

Every finite float is an integer times a power of two, and so is every value that the network
computes from floats: products, sums, ReLU, the factor 0.5 at a tie, and the update with a float
learning rate. This module computes those values exactly. Each array is held as Python integers in
a numpy object array with one power-of-two exponent for the whole array (``m * 2**e``), so that a
matrix product is one integer ``dot``; results are handed out as ``fractions.Fraction``, in
read-only object arrays. ``round_to`` rounds an exact value correctly (to nearest, ties to even)
to float64, float32, tf32 or bf16.

The contract: ``round_to(exact value, "float64")`` is what a float64 computation would give if it
made no rounding error at all; ``twolayer.bounds`` says how far a real computation may be from it.
"""

import math
import numbers
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple, cast, overload

import numpy as np
from jaxtyping import Bool, Shaped
from numpy.typing import NDArray

from twolayer.shapes import (
    W1,
    W2,
    BoolArray,
    Grads,
    ObjectArray,
    Params,
    Sizes,
    X,
    Y,
    check_array,
    check_learning_rate,
    check_params,
    check_relu_grad_at_zero,
)

__all__ = [
    "FORMATS",
    "Dyadic",
    "DyadicStep",
    "ExactStep",
    "FloatFormat",
    "Mask",
    "dyadic_step",
    "from_float64",
    "round_to",
    "step",
    "to_fractions",
    "value_and_grad",
]

ExactX = Shaped[ObjectArray, "batch d_in"]  # exact values shaped like x
ExactY = Shaped[ObjectArray, "batch d_out"]  # y_pred, grad_y_pred as Fractions
ExactW1 = Shaped[ObjectArray, "d_in hidden"]  # grad_w1, w1_next as Fractions
ExactW2 = Shaped[ObjectArray, "hidden d_out"]  # grad_w2, w2_next as Fractions
ExactHidden = Shaped[ObjectArray, "batch hidden"]  # h, h_relu, grad_h_relu, grad_h
Mask = Bool[BoolArray, "batch hidden"]  # True where a hidden unit is taken as active


class ExactStep(NamedTuple):
    """Every value of one training step, exact: object arrays of ``Fraction``, ``loss`` a Fraction.

    Shapes: ``h, h_relu, grad_h_relu, grad_h (batch, hidden)``; ``y_pred, grad_y_pred (batch,
    d_out)``; ``grad_w1, w1_next (d_in, hidden)``; ``grad_w2, w2_next (hidden, d_out)``.
    """

    h: ExactHidden
    h_relu: ExactHidden
    y_pred: ExactY
    loss: Fraction
    grad_y_pred: ExactY
    grad_w2: ExactW2
    grad_h_relu: ExactHidden
    grad_h: ExactHidden
    grad_w1: ExactW1
    w1_next: ExactW1
    w2_next: ExactW2


# -- dyadic arrays: integers in an object array, one exponent ------------------------------------


class Dyadic(NamedTuple):
    """An exact array ``mantissas * 2**exponent``: Python ints in an object array, one exponent."""

    mantissas: NDArray[np.object_]
    exponent: int


class DyadicStep(NamedTuple):
    """``ExactStep`` before conversion to Fractions (``loss`` a 0-d ``Dyadic``)."""

    h: Dyadic
    h_relu: Dyadic
    y_pred: Dyadic
    loss: Dyadic
    grad_y_pred: Dyadic
    grad_w2: Dyadic
    grad_h_relu: Dyadic
    grad_h: Dyadic
    grad_w1: Dyadic
    w1_next: Dyadic
    w2_next: Dyadic


_FLOAT64_DIGITS = 53  # frexp's mantissa in [0.5, 1) times 2**53 is an integer below 2**53


def from_float64(values: NDArray[np.float64]) -> Dyadic:
    """Return finite float64 ``values`` exactly as a ``Dyadic`` (any shape, same shape out).

    The form is canonical: the exponent is the largest one that holds every value with an integer
    mantissa (the lowest set bit among the non-zero values sits at ``2**exponent``), so that data on
    a coarse grid keeps small integers; an array of zeros only has exponent 0.
    """
    fractions, exponents = np.frexp(values)
    nonzero = fractions != 0
    # frexp's fraction is in [0.5, 1): times 2**53 it is an integer of 53 bits, exactly.
    mantissas = (fractions[nonzero] * 2.0**_FLOAT64_DIGITS).astype(np.int64)
    # m & -m is m's lowest set bit 2**t, and frexp of 2**t is (0.5, t + 1): t, exactly.
    trailing = np.frexp((mantissas & -mantissas).astype(np.float64))[1] - 1
    lowest = exponents[nonzero] - _FLOAT64_DIGITS + trailing  # each value's lowest set bit
    exponent = int(lowest.min()) if lowest.size else 0
    out = np.zeros(values.shape, dtype=object)
    out[nonzero] = (mantissas >> trailing).astype(object) << (lowest - exponent).astype(object)
    return Dyadic(out, exponent)


def _scalar(value: float) -> tuple[int, int]:
    """Return ``(m, e)`` with ``value == m * 2**e`` for a finite float."""
    numerator, denominator = value.as_integer_ratio()
    return numerator, 1 - denominator.bit_length()


def _aligned(a: Dyadic, b: Dyadic) -> tuple[NDArray[np.object_], NDArray[np.object_], int]:
    """Return both mantissa arrays shifted to the smaller of the two exponents, and it."""
    exponent = min(a.exponent, b.exponent)
    return (
        a.mantissas << (a.exponent - exponent),
        b.mantissas << (b.exponent - exponent),
        exponent,
    )


def _subtract(a: Dyadic, b: Dyadic) -> Dyadic:
    left, right, exponent = _aligned(a, b)
    return Dyadic(left - right, exponent)


def _dot(a: Dyadic, b: Dyadic) -> Dyadic:
    return Dyadic(a.mantissas.dot(b.mantissas), a.exponent + b.exponent)


def _transpose(a: Dyadic) -> Dyadic:
    return Dyadic(a.mantissas.T, a.exponent)


class _Ratio:
    """A numerator and a denominator in lowest terms, for ``Fraction`` to copy."""

    __slots__ = ("denominator", "numerator")

    def __init__(self, numerator: int, denominator: int) -> None:
        self.numerator = numerator
        self.denominator = denominator


# Fraction(r) of a numbers.Rational r takes r's numerator and denominator as they are, without
# the gcd that Fraction(n, d) computes. _fraction_of reduces them first, so the Fraction is the
# same either way: this only makes the thousands that exact.step hands out faster to build.
numbers.Rational.register(_Ratio)
_rational = cast(Callable[[int, int], numbers.Rational], _Ratio)  # what the registration says


def _fraction_of(mantissa: int, exponent: int) -> Fraction:
    """``mantissa * 2**exponent`` as a ``Fraction``: the power of two divides out exactly."""
    if exponent >= 0:
        return Fraction(mantissa << exponent)
    shift = -exponent
    zeros = min((mantissa & -mantissa).bit_length() - 1, shift) if mantissa else shift
    return Fraction(_rational(mantissa >> zeros, 1 << (shift - zeros)))


def _scalar_fraction(value: Dyadic) -> Fraction:
    return _fraction_of(int(value.mantissas[()]), value.exponent)


def to_fractions(value: Dyadic) -> NDArray[np.object_]:
    """Return a read-only object array of ``Fraction``, the values of ``value``."""
    mantissas: list[int] = value.mantissas.ravel().tolist()
    out = np.empty(value.mantissas.shape, dtype=object)
    if value.exponent >= 0:
        out.flat[:] = [Fraction(m << value.exponent) for m in mantissas]
    else:
        # _fraction_of, written out: this loop builds thousands of Fractions per exact.step.
        shift, zero = -value.exponent, Fraction(0)
        out.flat[:] = [
            Fraction(_rational(m >> (z := min((m & -m).bit_length() - 1, shift)), 1 << (shift - z)))
            if m
            else zero
            for m in mantissas
        ]
    out.flags.writeable = False
    return out


def _to_fractions_sharing(
    value: Dyadic, source: Dyadic, fractions: NDArray[np.object_]
) -> NDArray[np.object_]:
    """``to_fractions(value)``, taking the ``Fraction`` of ``source`` where the values are equal.

    Fractions are immutable, so two arrays may hold the same objects: ``h_relu`` is ``h`` or 0
    entry by entry, ``grad_h`` mostly ``grad_h_relu`` or 0, and each shared entry saves building
    one ``Fraction``.
    """
    left, right, _ = _aligned(value, source)
    differ = left != right
    out = fractions.copy()
    out[differ] = to_fractions(Dyadic(value.mantissas[differ], value.exponent))
    out.flags.writeable = False
    return out


# -- the step -----------------------------------------------------------------------------------


def _forward_backward(
    w1: W1, w2: W2, x: X, y: Y, relu_grad_at_zero: float, mask: Mask | None
) -> tuple[Dyadic, ...]:
    """Exact ``h, h_relu, y_pred, loss, grad_y_pred, grad_w2, grad_h_relu, grad_h, grad_w1``."""
    x_exact, w2_exact = from_float64(x), from_float64(w2)
    h = _dot(x_exact, from_float64(w1))
    # relu'(h) in halves (2, 1 or 0 per entry), so that the tie factor 0.5 stays an integer.
    if mask is None:
        active = h.mantissas > 0
        halves = 2 * active.astype(np.int64) + int(2 * relu_grad_at_zero) * (h.mantissas == 0)
    else:
        active = mask
        halves = 2 * mask.astype(np.int64)
    h_relu = Dyadic(np.where(active, h.mantissas, 0), h.exponent)
    y_pred = _dot(h_relu, w2_exact)
    residual = _subtract(y_pred, from_float64(y))
    loss = Dyadic(
        np.array(sum(int(r) * int(r) for r in residual.mantissas.flat), dtype=object),
        2 * residual.exponent,
    )
    grad_y_pred = Dyadic(residual.mantissas, residual.exponent + 1)  # 2 * (y_pred - y)
    grad_w2 = _dot(_transpose(h_relu), grad_y_pred)
    grad_h_relu = _dot(grad_y_pred, _transpose(w2_exact))
    grad_h = Dyadic(grad_h_relu.mantissas * halves.astype(object), grad_h_relu.exponent - 1)
    grad_w1 = _dot(_transpose(x_exact), grad_h)
    return h, h_relu, y_pred, loss, grad_y_pred, grad_w2, grad_h_relu, grad_h, grad_w1


def _updated(weights: NDArray[np.float64], grad: Dyadic, learning_rate: float) -> Dyadic:
    """Exact ``weights - learning_rate * grad``."""
    rate, rate_exponent = _scalar(learning_rate)
    step = Dyadic(grad.mantissas * rate, grad.exponent + rate_exponent)
    return _subtract(from_float64(weights), step)


def dyadic_step(
    w1: W1, w2: W2, x: X, y: Y, learning_rate: float, relu_grad_at_zero: float, mask: Mask | None
) -> DyadicStep:
    """Return every value of one step exactly, as ``Dyadic`` arrays; arguments not validated."""
    h, h_relu, y_pred, loss, grad_y_pred, grad_w2, grad_h_relu, grad_h, grad_w1 = _forward_backward(
        w1, w2, x, y, relu_grad_at_zero, mask
    )
    return DyadicStep(
        h,
        h_relu,
        y_pred,
        loss,
        grad_y_pred,
        grad_w2,
        grad_h_relu,
        grad_h,
        grad_w1,
        w1_next=_updated(w1, grad_w1, learning_rate),
        w2_next=_updated(w2, grad_w2, learning_rate),
    )


def _check_mask(mask: object, sizes: Sizes) -> Mask | None:
    if mask is None:
        return None
    batch, hidden = sizes["batch"][0], sizes["hidden"][0]
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise TypeError(
            f"mask must be None or a numpy bool array of shape (batch, hidden) = ({batch}, "
            f"{hidden}); got {type(mask).__qualname__} {getattr(mask, 'dtype', '')}".rstrip()
        )
    if mask.shape != (batch, hidden):
        raise ValueError(
            f"mask must have shape (batch, hidden) = ({batch}, {hidden}); got shape {mask.shape}"
        )
    return mask


def step(
    params: Params,
    x: X,
    y: Y,
    learning_rate: float,
    *,
    relu_grad_at_zero: float = 1.0,
    mask: Mask | None = None,
) -> ExactStep:
    """Return every value of one training step of the seed, computed exactly.

    ``h = x @ w1``, ``h_relu = max(h, 0)``, ``y_pred = h_relu @ w2``, ``loss = sum((y_pred -
    y)**2)``, ``grad_y_pred = 2 (y_pred - y)``, ``grad_w2 = h_relu.T @ grad_y_pred``,
    ``grad_h_relu = grad_y_pred @ w2.T``, ``grad_h = grad_h_relu * relu'(h)``, ``grad_w1 = x.T @
    grad_h``, ``w1_next = w1 - learning_rate * grad_w1`` (likewise ``w2``), all in exact rational
    arithmetic on the float64 values given (``learning_rate`` too is taken as the float it is).

    Without ``mask``, ``relu'(h)`` is 1 where ``h > 0``, 0 where ``h < 0`` and
    ``relu_grad_at_zero`` where ``h == 0`` exactly. With ``mask`` the sign of ``h`` is not looked
    at, ties included: where ``mask`` is True, ``h_relu = h`` (even where the exact ``h`` is
    negative) and ``relu'(h) = 1``; where it is False, ``h_relu = 0`` and ``relu'(h) = 0``;
    ``relu_grad_at_zero`` is then not used. A judge passes the mask of the implementation under
    test where that mask is a legal choice (``|h| <= E_h``, see ``twolayer.bounds``). The factor
    0.5 that an implementation applies at its own zeros of ``h`` is no mask; where the exact ``h``
    is 0 too, ``h_relu`` is 0 under either mask and the values downstream of ``grad_h`` are
    affine in the factor, so the mean of the two steps (that entry True, and False) is its
    reference.

    Args:
        params: ``w1 (d_in, hidden)``, ``w2 (hidden, d_out)``, float64.
        x: ``(batch, d_in)``.
        y: ``(batch, d_out)``.
        learning_rate: a finite float >= 0.
        relu_grad_at_zero: ReLU's derivative at an exact zero: 0, 0.5 or 1 (default 1, the seed's).
        mask: None, or a bool array ``(batch, hidden)`` that replaces the sign test of ``h``.

    Returns:
        ``ExactStep``: read-only object arrays of ``Fraction`` and the loss, a ``Fraction``.

    >>> import numpy as np
    >>> params = Params(np.array([[1.0, -1.0]]), np.array([[2.0], [3.0]]))
    >>> result = step(params, np.array([[0.5]]), np.array([[0.25]]), 0.125)
    >>> result.loss
    Fraction(9, 16)
    >>> result.h_relu.tolist(), result.w1_next.tolist()
    ([[Fraction(1, 2), Fraction(0, 1)]], [[Fraction(13, 16), Fraction(-1, 1)]])
    """
    sizes: Sizes = {}
    w1, w2 = check_params(params, sizes)
    x = check_array("x", x, "batch d_in", sizes)
    y = check_array("y", y, "batch d_out", sizes)
    rate = check_learning_rate(learning_rate)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    checked_mask = _check_mask(mask, sizes)
    values = dyadic_step(w1, w2, x, y, rate, rule, checked_mask)
    h, grad_h_relu = to_fractions(values.h), to_fractions(values.grad_h_relu)
    return ExactStep(
        h=h,
        h_relu=_to_fractions_sharing(values.h_relu, values.h, h),
        y_pred=to_fractions(values.y_pred),
        loss=_scalar_fraction(values.loss),
        grad_y_pred=to_fractions(values.grad_y_pred),
        grad_w2=to_fractions(values.grad_w2),
        grad_h_relu=grad_h_relu,
        grad_h=_to_fractions_sharing(values.grad_h, values.grad_h_relu, grad_h_relu),
        grad_w1=to_fractions(values.grad_w1),
        w1_next=to_fractions(values.w1_next),
        w2_next=to_fractions(values.w2_next),
    )


def value_and_grad(
    params: Params, x: X, y: Y, *, relu_grad_at_zero: float = 1.0
) -> tuple[Fraction, Grads]:
    """Return the exact loss and gradient at ``params``: ``twolayer.value_and_grad``, exactly.

    Args:
        params: ``w1 (d_in, hidden)``, ``w2 (hidden, d_out)``, float64.
        x: ``(batch, d_in)``.
        y: ``(batch, d_out)``.
        relu_grad_at_zero: ReLU's derivative at an exact zero: 0, 0.5 or 1 (default 1).

    Returns:
        ``(loss, Grads(w1, w2))``: the loss a ``Fraction``; ``w1 (d_in, hidden)`` and ``w2
        (hidden, d_out)`` read-only object arrays of ``Fraction`` (not float64, whatever
        ``Grads``' annotations say).
    """
    sizes: Sizes = {}
    w1, w2 = check_params(params, sizes)
    x = check_array("x", x, "batch d_in", sizes)
    y = check_array("y", y, "batch d_out", sizes)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    values = _forward_backward(w1, w2, x, y, rule, None)
    loss_value, grad_w2, grad_w1 = values[3], values[5], values[8]
    # Grads is annotated with float64 arrays; the contract hands the same fields out as exact
    # Fractions, and the cast tells the type checker so (at run time a NamedTuple checks nothing).
    grads = Grads(cast(W1, to_fractions(grad_w1)), cast(W2, to_fractions(grad_w2)))
    return _scalar_fraction(loss_value), grads


# -- correct rounding ---------------------------------------------------------------------------


class FloatFormat(NamedTuple):
    """A binary floating-point format: significand bits and the normal exponent range."""

    precision: int  # significand bits, the implicit one included
    min_exponent: int  # exponent of the smallest normal number, 2**min_exponent
    max_exponent: int  # exponent of the largest finite number, (2 - 2**(1-precision)) 2**max_exp


FORMATS = {
    "float64": FloatFormat(53, -1022, 1023),
    "float32": FloatFormat(24, -126, 127),
    "tf32": FloatFormat(11, -126, 127),  # float32's range, 10 stored significand bits
    "bf16": FloatFormat(8, -126, 127),  # float32's range, 7 stored significand bits
}
"""The formats that ``round_to`` rounds to, by name."""


def _round_fraction(value: Fraction, form: FloatFormat) -> float:
    """Round ``value`` to nearest in ``form``, ties to even; beyond the largest finite: inf."""
    if value == 0:
        return 0.0
    numerator, denominator = abs(value.numerator), value.denominator
    # 2**top <= |value| < 2**(top + 1): the estimate from bit lengths is top or top + 1.
    top = numerator.bit_length() - denominator.bit_length()
    if (numerator << max(0, -top)) < (denominator << max(0, top)):
        top -= 1
    quantum = max(top, form.min_exponent) - (form.precision - 1)  # the spacing there, 2**quantum
    scaled_numerator = numerator << max(0, -quantum)
    scaled_denominator = denominator << max(0, quantum)
    units, remainder = divmod(scaled_numerator, scaled_denominator)
    if 2 * remainder > scaled_denominator or (
        2 * remainder == scaled_denominator and units % 2 == 1
    ):
        units += 1
    if units.bit_length() + quantum > form.max_exponent + 1:  # |rounded| >= 2**(max_exponent+1)
        magnitude = math.inf
    else:
        magnitude = math.ldexp(float(units), quantum)  # exact: units has <= precision + 1 bits
    return -magnitude if value < 0 else magnitude  # -0.0 for a negative value rounded to 0


def _exact_value(value: object) -> Fraction | float:
    """Return ``value`` as an exact Fraction, or a non-finite float as it is."""
    if isinstance(value, Fraction | int) and not isinstance(value, bool):
        return Fraction(value)
    if isinstance(value, float | np.floating):
        as_float = float(value)  # exact: float32, float16 and float64 all widen exactly
        return Fraction(as_float) if math.isfinite(as_float) else as_float
    raise TypeError(f"round_to takes Fraction, int or float values; got {type(value).__qualname__}")


def _round_one(value: object, form: FloatFormat) -> float:
    exact = _exact_value(value)
    if isinstance(exact, float):
        return exact
    return _round_fraction(exact, form)


@overload
def round_to(value: Fraction | int | float, arithmetic: str = "float64") -> float: ...


@overload
def round_to(value: NDArray[np.generic], arithmetic: str = "float64") -> NDArray[np.float64]: ...


def round_to(
    value: Fraction | int | float | NDArray[np.generic], arithmetic: str = "float64"
) -> float | NDArray[np.float64]:
    """Round exact values correctly (to nearest, ties to even) to a float format.

    One rounding, straight from the rational value: ``numpy.float32(float(q))`` rounds twice
    (to float64, then to float32) and is wrong where the first rounding lands on a tie of the
    second. Subnormal results are rounded at the format's subnormal spacing; magnitudes that
    round beyond the largest finite number give inf, as IEEE 754 does.

    Args:
        value: a ``Fraction``, int or float, or an array of them (e.g. a field of ``ExactStep``).
        arithmetic: ``"float64"``, ``"float32"``, ``"tf32"`` or ``"bf16"``.

    Returns:
        A float, or a float64 array of ``value``'s shape, holding the rounded values (every value
        of the narrower formats is a float64).

    >>> round_to(Fraction(1, 3), "bf16")
    0.333984375
    """
    if arithmetic not in FORMATS:
        raise ValueError(f"arithmetic must be one of {', '.join(FORMATS)}; got {arithmetic!r}")
    form = FORMATS[arithmetic]
    if isinstance(value, np.ndarray):
        rounded = np.array([_round_one(v, form) for v in value.flat], dtype=np.float64)
        return rounded.reshape(value.shape)
    return _round_one(value, form)
