"""The seed's forward pass, backward pass and update in exact rational arithmetic.

Every finite float is an integer times a power of two, and so is every value that the network
computes from floats: products, sums, ReLU, the factor 0.5 at a tie, and the update with a float
learning rate. This module computes those values exactly. Each array is held as Python integers in
a numpy object array with one power-of-two exponent for the whole array (``m * 2**e``), so that a
matrix product is one integer ``dot``; results are handed out as ``fractions.Fraction``, in
read-only object arrays. ``round_to`` rounds an exact value correctly (to nearest, ties to even)
to float64, float32, tf32 or bf16.

``fast_step`` computes the same values as ``dyadic_step`` with int64 limbs and float64 GEMMs
(error-free splitting), for judges at real sizes; ``round_limbs`` rounds its results and
``within_bound`` compares a computation with them, whole arrays at a time.

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
    check_mask,
    check_params,
    check_relu_grad_at_zero,
)

__all__ = [
    "FORMATS",
    "RADIX_BITS",
    "BoundCheck",
    "Dyadic",
    "DyadicStep",
    "ExactStep",
    "FloatFormat",
    "LimbStep",
    "Limbs",
    "Mask",
    "compare",
    "dyadic_step",
    "fast_step",
    "from_float64",
    "limb_step_to_dyadic",
    "limbs_from_dyadic",
    "limbs_from_float64",
    "limbs_to_dyadic",
    "magnitude_up",
    "mean",
    "mean_step",
    "round_limbs",
    "round_to",
    "signs",
    "step",
    "to_fractions",
    "value_and_grad",
    "within_bound",
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
    checked_mask = check_mask(mask, sizes)
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


# -- the fast engine: error-free splitting into limbs, products as float64 GEMMs ------------------
#
# The same exact values as ``dyadic_step``, held as int64 "limbs" instead of Python integers: an
# integer ``m`` is ``sum(digits[l] * 2**(RADIX_BITS * l))``, every digit at most ``2**RADIX_BITS``
# in magnitude (see ``Limbs``). A product of two such arrays is a sum of limb products, each an
# ordinary float64 GEMM that makes no rounding error: a term is at most ``2**(2 * RADIX_BITS)``,
# at most ``_EXACT_TERMS`` terms are summed at once, so every partial sum is an integer of at
# most ``2**52`` in magnitude, whatever order, blocking, threading or FMA the BLAS uses. Carries
# are then propagated exactly in int64.

RADIX_BITS = 20
"""Bits per limb of the fast engine."""

_RADIX_MASK = (1 << RADIX_BITS) - 1
_EXACT_TERMS = 1 << (52 - 2 * RADIX_BITS)  # 4096 limb products sum exactly below 2**52
_TOEPLITZ_BYTES = 1 << 26  # the largest block matrix that one grouped GEMM may build (64 MiB)
_STACKED_INNER = 256  # inner axes at least this long: limbs stacked, not in a Toeplitz matrix
_CARRY_EVERY = 512  # sums of 512 GEMM outputs stay below 2**61
_WINDOW_DIGITS = 4  # a 55-bit window of an integer spans at most 4 limbs of 20 bits
_COMBINATION_COLUMNS = 1 << 15  # _limb_combination's piece: a few MiB of floats


class Limbs(NamedTuple):
    """An exact array ``sum(digits[l] * 2**(RADIX_BITS * l)) * 2**exponent``, shape ``digits[0]``.

    ``digits`` is int64 with a leading axis of limbs, in the form that carries toward -inf give:
    below the top limb every digit is in ``[0, 2**RADIX_BITS)``; the top limb, in ``[-2**b,
    2**b)``, carries the sign (negative exactly where the value is). With as few limbs as that
    allows, the form is unique. The exponent is ``dyadic_step``'s for the same value, so that
    ``limbs_to_dyadic`` gives its mantissas exactly.
    """

    digits: NDArray[np.int64]
    exponent: int


class LimbStep(NamedTuple):
    """``DyadicStep`` as ``Limbs``: every value of one step, exact (``loss`` 0-d)."""

    h: Limbs
    h_relu: Limbs
    y_pred: Limbs
    loss: Limbs
    grad_y_pred: Limbs
    grad_w2: Limbs
    grad_h_relu: Limbs
    grad_h: Limbs
    grad_w1: Limbs
    w1_next: Limbs
    w2_next: Limbs


def _propagate(digits: NDArray[np.int64]) -> None:
    """Carry in place from limb to limb, toward -inf: below the top, digits in ``[0, 2**b)``."""
    carry = np.empty(digits.shape[1:], dtype=np.int64)
    for limb in range(digits.shape[0] - 1):
        np.right_shift(digits[limb], RADIX_BITS, out=carry)
        np.bitwise_and(digits[limb], _RADIX_MASK, out=digits[limb])
        np.add(digits[limb + 1], carry, out=digits[limb + 1])


def _normalized(raw: NDArray[np.int64]) -> NDArray[np.int64]:
    """Return the canonical limbs of ``sum(raw[l] * 2**(b * l))``, ``|raw| < 2**62``; ``raw`` is
    overwritten.

    Carries toward -inf leave every digit in ``[0, 2**b)`` but the top one; limbs are added while
    it is out of ``[-2**b, 2**b)``, and dropped while it is 0 or -1 everywhere (folded into the
    limb below, which becomes the signed top).
    """
    _propagate(raw)
    digits = raw
    top = digits[-1]
    while np.any((top >= 1 << RADIX_BITS) | (top < -(1 << RADIX_BITS))):
        digits = np.concatenate([digits, (top >> RADIX_BITS)[np.newaxis]])
        digits[-2] &= _RADIX_MASK
        top = digits[-1]
    return _trimmed(digits)


def _trimmed(digits: NDArray[np.int64]) -> NDArray[np.int64]:
    """Canonical ``digits`` without the top limbs that are 0 or -1 everywhere (folded below)."""
    count = digits.shape[0]
    while count > 1 and np.all((digits[count - 1] == 0) | (digits[count - 1] == -1)):
        digits[count - 2] += digits[count - 1] << RADIX_BITS  # 0, or -2**b where the top is -1
        count -= 1
    return digits[:count]


def _magnitudes(digits: NDArray[np.int64]) -> NDArray[np.int64]:
    """The canonical digits of ``|value|``, all in ``[0, 2**b)`` (one more limb, maybe zero)."""
    negative = digits[-1] < 0
    out = np.concatenate([digits, np.zeros_like(digits[:1])])
    np.negative(out, out=out, where=negative)
    _propagate(out)
    return out


def limbs_from_float64(values: NDArray[np.float64]) -> Limbs:
    """Return finite float64 ``values`` exactly as ``Limbs``, with ``from_float64``'s exponent.

    Each value is ``m * 2**shift`` at the array's exponent, ``m`` a signed integer of at most 53
    bits; limb ``l`` is bits ``[b l, b (l + 1))`` of that integer in two's complement, which is
    the canonical form directly (the top limb, shifted arithmetically, keeps the sign).
    """
    fractions, exponents = np.frexp(values)
    mantissas = (fractions * 2.0**_FLOAT64_DIGITS).astype(np.int64)  # 0 where the value is 0
    nonzero = mantissas != 0
    bit_zero = exponents.astype(np.int64) - _FLOAT64_DIGITS  # the weight of m's bit 0: 2**bit_zero
    # m & -m is m's lowest set bit 2**t, and frexp of 2**t is (0.5, t + 1): t, exactly.
    trailing = np.frexp((mantissas & -mantissas).astype(np.float64))[1] - 1
    exponent = int((bit_zero + trailing)[nonzero].min()) if nonzero.any() else 0
    # m's bit 0 sits at bit `shift` of the integer (shift < 0: m's low bits are zeros, dropped).
    shift = np.where(nonzero, bit_zero - exponent, 0)
    # Every entry below 2**(shift + 53): the count of limbs that holds the widest, and its sign.
    count = (int(shift.max()) + _FLOAT64_DIGITS) // RADIX_BITS + 1 if shift.size else 1
    digits = np.empty((count, *values.shape), dtype=np.int64)
    for limb in range(count):
        # Bits [b l, b (l + 1)) of the integer are m's from bit b l - shift: m shifted up where
        # that is negative (bits that it shifts beyond 63 fall outside the limb anyway), down
        # where it is positive (arithmetically: beyond 63, only the sign is left).
        below = RADIX_BITS * limb - shift
        up = np.clip(-below, 0, 63)
        down = np.clip(below, 0, 63)
        np.right_shift(mantissas << up, down, out=digits[limb, ...])
        if limb < count - 1:
            digits[limb] &= _RADIX_MASK
    return Limbs(_trimmed(digits), exponent)


def limbs_to_dyadic(value: Limbs) -> Dyadic:
    """Return ``value`` as a ``Dyadic`` (Python integers, the same exponent)."""
    shape = value.digits.shape[1:]
    mantissas = np.zeros(shape, dtype=object).ravel()
    for limb in value.digits[::-1]:
        mantissas = (mantissas << RADIX_BITS) + limb.ravel().astype(object)
    return Dyadic(mantissas.reshape(shape), value.exponent)


def limbs_from_dyadic(value: Dyadic) -> Limbs:
    """Return a ``Dyadic`` as ``Limbs`` (one Python integer at a time: for tests and small data)."""
    mantissas: list[int] = value.mantissas.ravel().tolist()
    magnitudes = [abs(m) for m in mantissas]
    count = max(1, -(-max((m.bit_length() for m in magnitudes), default=0) // RADIX_BITS))
    signs = np.array([(m > 0) - (m < 0) for m in mantissas], dtype=np.int64)
    digits = np.array(
        [[(m >> (RADIX_BITS * limb)) & _RADIX_MASK for m in magnitudes] for limb in range(count)],
        dtype=np.int64,
    ).reshape(count, len(magnitudes))
    signed = (digits * signs).reshape(count, *value.mantissas.shape)
    return Limbs(_normalized(signed), value.exponent)


def limb_step_to_dyadic(values: LimbStep) -> DyadicStep:
    """Return every field of a ``LimbStep`` as a ``Dyadic``: what ``dyadic_step`` returns."""
    return DyadicStep(*(limbs_to_dyadic(value) for value in values))


def _carried(sums: NDArray[np.float64], into: NDArray[np.int64] | None = None) -> NDArray[np.int64]:
    """Canonical digits of ``sum(sums[l] * 2**(b * l))``, ``sums`` integers below ``2**52``.

    With ``into`` (two limbs more than ``sums``, e.g. some columns of a larger array), the digits
    are written there, not trimmed, and ``into`` is returned.
    """
    digits = (
        np.empty((sums.shape[0] + 2, *sums.shape[1:]), dtype=np.int64) if into is None else into
    )
    np.copyto(digits[:-2], sums, casting="unsafe")  # exact: integers below 2**53
    digits[-2:] = 0
    _propagate(digits)  # carries below 2**33: two more limbs hold the last one, signed
    return digits if into is not None else _trimmed(digits)


def _limb_matmul(a: Limbs, b: Limbs) -> Limbs:
    """Exact ``a @ b`` of two 2-d limb arrays, as float64 GEMMs and int64 carries.

    Every limb product ``a_i @ b_j`` (digits at most ``2**b`` in magnitude) is computed exactly
    and summed at limb ``i + j``, in float64 while every sum has at most ``_EXACT_TERMS`` terms
    (below ``2**52``: a long inner axis, or many limbs, are cut into pieces whose sums are then
    added in int64). Where the inner axis is long, one GEMM stacks the limbs of ``a`` as rows and
    those of ``b`` as columns; where it is short, the limbs of ``a`` are laid side by side along
    it and multiplied by a block Toeplitz matrix of ``b``'s, so that the GEMM itself sums over
    ``i + j = s`` (fewer outputs, and an inner axis long enough for the BLAS to be efficient).
    """
    if a.digits.shape[0] > b.digits.shape[0]:  # the operand with fewer limbs goes on the left
        return _limb_transpose(_limb_matmul(_limb_transpose(b), _limb_transpose(a)))
    a_limbs, rows, inner = a.digits.shape
    b_limbs, _, columns = b.digits.shape
    a_float = a.digits.astype(np.float64)
    b_stacked = b.digits.astype(np.float64).transpose(1, 0, 2).reshape(inner, b_limbs * columns)
    piece = min(inner, _EXACT_TERMS)
    blocks: list[tuple[int, NDArray[np.float64]]] = []  # (lowest limb, exact float sums)
    for start in range(0, inner, piece):
        stop = min(inner, start + piece)
        length = stop - start
        fits = _TOEPLITZ_BYTES // (8 * length * (a_limbs + b_limbs) * columns)
        group = max(1, min(a_limbs, _EXACT_TERMS // length, fits))
        for low in range(0, a_limbs, group):
            high = min(a_limbs, low + group)
            size = high - low
            left = a_float[low:high, :, start:stop]
            if length >= _STACKED_INNER:
                products = left.reshape(size * rows, length) @ b_stacked[start:stop]
                by_limb = products.reshape(size, rows, b_limbs, columns).transpose(0, 2, 1, 3)
                sums = np.zeros((size + b_limbs - 1, rows, columns))
                for i in range(size):
                    sums[i : i + b_limbs] += by_limb[i]  # at most `group` terms: exact
            else:
                toeplitz = np.zeros((size * length, (size + b_limbs - 1) * columns))
                for i in range(size):
                    block = slice(i * columns, (i + b_limbs) * columns)
                    toeplitz[i * length : (i + 1) * length, block] = b_stacked[start:stop]
                product = left.transpose(1, 0, 2).reshape(rows, size * length) @ toeplitz
                sums = product.reshape(rows, size + b_limbs - 1, columns).transpose(1, 0, 2)
            blocks.append((low, sums))
    exponent = a.exponent + b.exponent
    if len(blocks) == 1:
        return Limbs(_carried(blocks[0][1]), exponent)
    raw = np.zeros((a_limbs + b_limbs, rows, columns), dtype=np.int64)
    for additions, (low, sums) in enumerate(blocks, start=1):
        raw[low : low + sums.shape[0]] += sums.astype(np.int64)
        if additions % _CARRY_EVERY == 0:  # keep every int64 below 2**62
            _propagate(raw)
    return Limbs(_normalized(raw), exponent)


def _limb_transpose(a: Limbs) -> Limbs:
    return Limbs(a.digits.transpose(0, 2, 1), a.exponent)


def _limb_combination(terms: list[tuple[Limbs, int, int]]) -> Limbs:
    """Exact ``sum(value * factor * 2**shift)`` over ``terms`` of one shape, at the smallest
    exponent (as ``_subtract`` and ``_updated`` give it); ``factor`` a Python integer.

    Each factor, times the power of two that aligns its term to a whole limb, is split into limbs;
    one GEMM of a small banded matrix of those limbs by every term's digits, stacked, gives the
    sum at each limb, every product below ``2**40`` and a few of them a sum, exactly.
    """
    exponent = min(value.exponent + shift for value, _, shift in terms)
    shape = terms[0][0].digits.shape[1:]
    bands: list[NDArray[np.float64]] = []
    for value, factor, shift in terms:
        whole, part = divmod(value.exponent + shift - exponent, RADIX_BITS)
        magnitude = abs(factor) << part
        count = max(1, -(-magnitude.bit_length() // RADIX_BITS))
        sign = -1 if factor < 0 else 1
        limbs = value.digits.shape[0]
        band = np.zeros((whole + count + limbs, limbs))
        for i in range(count):
            digit = sign * ((magnitude >> (RADIX_BITS * i)) & _RADIX_MASK)
            band[whole + i + np.arange(limbs), np.arange(limbs)] = digit
        bands.append(band)
    height = max(band.shape[0] for band in bands)
    matrix = np.concatenate(
        [np.pad(band, ((0, height - band.shape[0]), (0, 0))) for band in bands], axis=1
    )
    flats = [value.digits.reshape(value.digits.shape[0], -1) for value, _, _ in terms]
    size = flats[0].shape[1]
    digits = np.empty((height + 2, size), dtype=np.int64)
    # A piece of the columns at a time: its floats, sums and carries stay in the caches.
    piece = max(1, min(size, _COMBINATION_COLUMNS))
    stacked, sums = np.empty((matrix.shape[1], piece)), np.empty((height, piece))
    for start in range(0, size, piece):
        stop = min(size, start + piece)
        row = 0
        for flat in flats:  # exact: digits at most 2**20 in magnitude
            np.copyto(stacked[row : row + flat.shape[0], : stop - start], flat[:, start:stop])
            row += flat.shape[0]
        np.matmul(matrix, stacked[:, : stop - start], out=sums[:, : stop - start])
        _carried(sums[:, : stop - start], digits[:, start:stop])
    return Limbs(_trimmed(digits).reshape(-1, *shape), exponent)


def _limb_signs(a: Limbs) -> NDArray[np.int64]:
    """-1, 0 or 1 per entry: the sign of the value (the top limb's if negative)."""
    return np.where(a.digits[-1] < 0, -1, a.digits.any(axis=0).astype(np.int64))


def signs(value: Limbs) -> NDArray[np.int64]:
    """Return -1, 0 or 1 per entry of ``value``: the sign of the exact value."""
    return _limb_signs(value)


def compare(value: Limbs, against: NDArray[np.float64]) -> NDArray[np.int64]:
    """Return ``sign(value - against)`` per entry, exactly: -1, 0 or 1.

    ``against`` is float64 of ``value``'s shape; an infinite entry is compared as such (every
    exact value is below inf and above -inf). NaN is refused.
    """
    shape = value.digits.shape[1:]
    if against.shape != shape:
        raise ValueError(f"against must have the exact values' shape {shape}; got {against.shape}")
    if np.isnan(against).any():
        raise ValueError("against must not hold NaN")
    # Rounding is monotone: where the value rounded to float64 differs from a finite float,
    # the exact value lies on the same side of it. Only the entries that round to ``against``
    # itself are compared in limbs.
    rounded, target = round_limbs(value, "float64").reshape(-1), against.reshape(-1)
    result = (rounded > target).astype(np.int64) - (rounded < target)
    infinite = np.isinf(target)
    result[infinite] = np.where(target[infinite] > 0, -1, 1)
    tied = np.flatnonzero((rounded == target) & ~infinite)
    if tied.size:
        entries = Limbs(value.digits.reshape(value.digits.shape[0], -1)[:, tied], value.exponent)
        floats = limbs_from_float64(target[tied])
        result[tied] = _limb_signs(_limb_combination([(entries, 1, 0), (floats, -1, 0)]))
    return result.reshape(shape)


def mean(a: Limbs, b: Limbs) -> Limbs:
    """Return the exact entrywise mean ``(a + b) / 2`` of two limb arrays of one shape."""
    shape = a.digits.shape[1:]
    a, b = (Limbs(v.digits.reshape(v.digits.shape[0], -1), v.exponent) for v in (a, b))  # 0-d too
    result = _limb_combination([(a, 1, -1), (b, 1, -1)])
    return Limbs(result.digits.reshape(result.digits.shape[0], *shape), result.exponent)


def mean_step(a: LimbStep, b: LimbStep) -> LimbStep:
    """The entrywise mean of two exact steps (for a tie factor 0.5: see ``step``'s ``mask``)."""
    return LimbStep(*(mean(x, y) for x, y in zip(a, b, strict=True)))


def magnitude_up(value: Limbs) -> NDArray[np.float64]:
    """Return an upper bound of ``|value|`` per entry, in float64.

    0 exactly where the value is 0; elsewhere the float above ``|value|`` rounded to nearest
    (inf beyond float64's range), so that a value below half the smallest subnormal, which rounds
    to 0, is bounded by the smallest subnormal. The same numbers as the bound that
    ``twolayer.bounds`` takes of a ``Fraction``.
    """
    nearest = np.abs(round_limbs(value, "float64"))
    with np.errstate(over="ignore"):
        above = np.nextafter(nearest, math.inf)
    # A value that rounds to 0 may be 0 or not: only those entries' limbs are read.
    rounded_zero = np.flatnonzero(nearest == 0)
    zero = np.zeros(np.shape(nearest), dtype=np.bool_)
    if rounded_zero.size:
        flat = value.digits.reshape(value.digits.shape[0], -1)
        zero.reshape(-1)[rounded_zero] = ~flat[:, rounded_zero].any(axis=0)
    return np.where(zero, 0.0, above)


def fast_step(
    w1: W1, w2: W2, x: X, y: Y, learning_rate: float, relu_grad_at_zero: float, mask: Mask | None
) -> LimbStep:
    """``dyadic_step`` in limbs and float64 GEMMs: the same exact values, 20 times faster at the
    seed's dims (docs/verification.md has the figures).

    ``limb_step_to_dyadic`` of the result equals ``dyadic_step``'s, mantissas and exponents; the
    tests check so. Arguments are not validated (``step`` validates its own). Cost: a product of
    arrays of ``p`` and ``q`` limbs (bits of the widest entry over ``RADIX_BITS``, from the array's
    one exponent) is about ``p * q`` GEMMs of its shape, so data that spans a wide range of
    magnitudes in one array costs more, in proportion.
    """
    x_limbs, w1_limbs, w2_limbs = (limbs_from_float64(a) for a in (x, w1, w2))
    h = _limb_matmul(x_limbs, w1_limbs)
    signs = _limb_signs(h)
    if mask is None:
        active = signs > 0
        halves = 2 * active.astype(np.int64) + int(2 * relu_grad_at_zero) * (signs == 0)
    else:
        active = mask
        halves = 2 * mask.astype(np.int64)
    h_relu = Limbs(_normalized(np.where(active, h.digits, 0)), h.exponent)
    y_pred = _limb_matmul(h_relu, w2_limbs)
    residual = _limb_combination([(y_pred, 1, 0), (limbs_from_float64(y), -1, 0)])
    flat = residual.digits.reshape(residual.digits.shape[0], 1, -1)
    squares = _limb_matmul(
        Limbs(flat, residual.exponent), _limb_transpose(Limbs(flat, residual.exponent))
    )
    loss = Limbs(squares.digits.reshape(squares.digits.shape[0]), squares.exponent)
    grad_y_pred = Limbs(residual.digits, residual.exponent + 1)
    grad_w2 = _limb_matmul(_limb_transpose(h_relu), grad_y_pred)
    grad_h_relu = _limb_matmul(grad_y_pred, _limb_transpose(w2_limbs))
    grad_h = Limbs(_normalized(grad_h_relu.digits * halves), grad_h_relu.exponent - 1)
    grad_w1 = _limb_matmul(_limb_transpose(x_limbs), grad_h)
    rate, rate_exponent = _scalar(learning_rate)
    return LimbStep(
        h,
        h_relu,
        y_pred,
        loss,
        grad_y_pred,
        grad_w2,
        grad_h_relu,
        grad_h,
        grad_w1,
        w1_next=_limb_combination([(w1_limbs, 1, 0), (grad_w1, -rate, rate_exponent)]),
        w2_next=_limb_combination([(w2_limbs, 1, 0), (grad_w2, -rate, rate_exponent)]),
    )


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


def round_limbs(value: Limbs, arithmetic: str = "float64") -> NDArray[np.float64]:
    """Round every entry of ``value`` correctly to a float format, as ``round_to`` does, at once.

    To nearest, ties to even, subnormals at the format's subnormal spacing, inf beyond the
    largest finite number, -0.0 for a negative value that rounds to 0, and 0.0 for 0. For each
    entry, from the limbs of its magnitude: the leading bit, hence the spacing ``2**quantum`` of
    the format there; the bits from ``quantum - 1`` (the rounding bit) up, at most ``precision +
    1`` of them, which four limbs hold; and whether any bit below them is set (the sticky bit).
    To float64, most entries take a shortcut that reads four limbs of each and decides by
    monotonicity (see ``_round_float64``), and the others this way.

    Args:
        value: exact values (e.g. a field of ``fast_step``'s result).
        arithmetic: ``"float64"``, ``"float32"``, ``"tf32"`` or ``"bf16"``.

    Returns:
        A float64 array of ``value``'s shape: the rounded values (every value of the narrower
        formats is a float64).
    """
    if arithmetic not in FORMATS:
        raise ValueError(f"arithmetic must be one of {', '.join(FORMATS)}; got {arithmetic!r}")
    shape = value.digits.shape[1:]
    flat = value.digits.reshape(value.digits.shape[0], -1)
    if arithmetic == "float64":
        return _round_float64(flat, value.exponent).reshape(shape)
    return _round_exact(flat, value.exponent, FORMATS[arithmetic]).reshape(shape)


_WINDOW_SCALE = 2.0 ** (2 * RADIX_BITS)  # the weight of a window's upper pair of limbs


def _round_float64(flat: NDArray[np.int64], exponent: int) -> NDArray[np.float64]:
    """``_round_exact`` to float64 of every column of ``flat`` (canonical digits), mostly in floats.

    Each entry's leading limb ``j`` is the highest that is not a sign digit (0 above a value
    >= 0; above a negative one, 2**b - 1 below a top digit of -1). With ``s`` the sign digits'
    value above ``j`` (0, or -1 for a negative entry whose top limb is above ``j``), the value
    is ``(W + f) 2**(b (j - 3) + exponent)``, where ``W = s 2**(4 b) + d_j 2**(3 b) + ... +
    d_(j-3)`` is an integer (limbs below 0 are 0) and ``f``, the limbs below ``j - 3``, is in
    ``[0, 1)``: every digit below the top is in ``[0, 2**b)``.

    ``W`` is the sum of two floats that hold it exactly, ``H = (s 2**(2 b) + d_j 2**b +
    d_(j-1)) 2**(2 b)`` (an integer below ``2**41`` in magnitude, times a power of two) and ``L
    = d_(j-2) 2**b + d_(j-3)`` (below ``2**40``), so that ``r = fl(H + L)`` is ``W`` correctly
    rounded to 53 bits, and ``fl(H + (L + 1))`` is ``W + 1`` correctly rounded. Rounding is
    monotone and ``W <= W + f < W + 1``: where the two agree, ``W + f`` rounds to ``r`` too.
    Scaled by the power of two, exactly, ``r`` is the value rounded to float64 wherever the
    result is a normal number (the format's spacing there is 53 bits'). Since ``d_j`` is not a
    sign digit, ``|W| >= 2**(3 b) = 2**60``, whose neighbours are ``2**8`` apart: the two
    disagree only for ``W`` within 1 of a midpoint, a few in a thousand at the most. Those
    entries, results near the subnormals or overflow, and the values 0 and -1 times
    ``2**exponent`` (which have no leading limb) go to ``_round_exact``.
    """
    count = flat.shape[0]
    top = flat[-1]
    negative = top < 0
    leading = (top != 0) & (top != -1)  # the top limb is the leading one
    # The top limb's window for every entry, its rows whole; only the leading ones are kept.
    rounded, decided = _round_window(flat, exponent, count - 1, None, negative)
    decided &= leading
    out = np.where(decided, rounded, 0.0)
    left: list[NDArray[np.intp]] = [np.flatnonzero(leading & ~decided)]  # for _round_exact
    pending = np.flatnonzero(~leading)
    level = count - 1
    while pending.size and level > 0:
        level -= 1
        sign_digits = np.where(negative[pending], _RADIX_MASK, 0)
        found = flat[level, pending] != sign_digits
        entries, pending = pending[found], pending[~found]
        if entries.size:
            rounded, decided = _round_window(flat, exponent, level, entries, negative)
            out[entries[decided]] = rounded[decided]
            left.append(entries[~decided])
    # No leading limb: 0 (out holds 0.0 already), or -1 times 2**exponent.
    left.append(pending[negative[pending]])
    rest = np.concatenate(left)
    if rest.size:
        out[rest] = _round_exact(flat[:, rest], exponent, FORMATS["float64"])
    return out


# Module-level helpers, not closures: the test suite's run-time type checker wraps a function at
# each definition, which for a closure is every call of the function that makes it.


def _digit(
    flat: NDArray[np.int64], entries: NDArray[np.intp] | None, limb: int
) -> NDArray[np.int64]:
    """The digits at ``limb`` of the columns ``entries`` (None: all) of ``flat``; 0 below 0."""
    if limb < 0:
        return np.zeros(flat.shape[1] if entries is None else entries.size, dtype=np.int64)
    row: NDArray[np.int64] = flat[limb] if entries is None else flat[limb, entries]
    return row


def _digits_at(
    limb_major: NDArray[np.int64], count: int, limbs: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Each entry's digit at limb ``limbs[n]``, 0 outside ``[0, count)``; ``limb_major`` holds
    digit ``(l, n)`` at ``l * size + n``."""
    size = limbs.shape[0]
    inside = (limbs >= 0) & (limbs < count)
    gathered = limb_major[np.clip(limbs, 0, count - 1) * size + np.arange(size)]
    return np.where(inside, gathered, 0)


def _round_window(
    flat: NDArray[np.int64],
    exponent: int,
    level: int,
    entries: NDArray[np.intp] | None,
    negative: NDArray[np.bool_],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The shortcut of ``_round_float64`` for ``entries`` (None: every column), taken as having
    their leading limb at ``level``: the rounded values, and where they are decided."""
    upper = (_digit(flat, entries, level) << RADIX_BITS) + _digit(flat, entries, level - 1)
    if level < flat.shape[0] - 1:
        signs = negative if entries is None else negative[entries]
        upper -= signs.astype(np.int64) << (2 * RADIX_BITS)  # s 2**(2 b)
    high = upper.astype(np.float64) * _WINDOW_SCALE  # exact: an integer below 2**41, scaled
    low = (  # exact
        (_digit(flat, entries, level - 2) << RADIX_BITS) + _digit(flat, entries, level - 3)
    ).astype(np.float64)
    rounded = high + low
    decided = rounded == high + (low + 1.0)
    shift = exponent + RADIX_BITS * (level - 3)
    scale = np.frexp(rounded)[1] + shift  # 2**(scale - 1) <= |result| < 2**scale
    float64 = FORMATS["float64"]
    # A normal result, with room to spare at both ends (none of them needs it).
    decided &= (scale - 1 > float64.min_exponent) & (scale <= float64.max_exponent)
    with np.errstate(over="ignore", under="ignore"):  # only where not decided
        return np.ldexp(rounded, shift), decided


def _round_exact(flat: NDArray[np.int64], exponent: int, form: FloatFormat) -> NDArray[np.float64]:
    """``round_limbs`` of the columns of ``flat`` (canonical digits, limbs first), as floats."""
    negative = flat[-1] < 0
    magnitudes = _magnitudes(flat)  # every digit in [0, 2**b)
    count = magnitudes.shape[0]
    used = magnitudes != 0
    size = flat.shape[1]
    columns = np.arange(size)
    limb_major = magnitudes.ravel()  # digit (l, n) at l * size + n

    top_limb = count - 1 - np.argmax(used[::-1], axis=0)  # anything where the value is 0
    top_digit = limb_major[top_limb * size + columns]
    top_bit = RADIX_BITS * top_limb + np.frexp(top_digit.astype(np.float64))[1] - 1
    quantum = np.maximum(top_bit + exponent, form.min_exponent) - (form.precision - 1)
    # The rounding bit's position in the integer: top_bit - precision at the least, so the
    # window from it to the leading bit is at most precision + 1 bits, which four limbs hold
    # (precision <= 53 < 3 b); its first limb may lie below limb 0 (zeros there). It may lie
    # far above the leading bit (a value below half the smallest subnormal): then the window
    # is zero limbs and the value rounds to 0.
    rounding_bit = quantum - 1 - exponent
    first, offset = np.divmod(rounding_bit, RADIX_BITS)
    window = _digits_at(limb_major, count, first)
    sticky = (window & ((1 << offset) - 1)) != 0
    window >>= offset
    for limb in range(1, _WINDOW_DIGITS):
        window += _digits_at(limb_major, count, first + limb) << (
            RADIX_BITS * limb - offset
        )  # none above the top
    # Any set bit in a limb below the window's first: the lowest non-zero limb is below it.
    sticky |= np.argmax(used, axis=0) < first
    units = window >> 1
    above_half = (window & 1 == 1) & (sticky | (units & 1 == 1))  # to nearest, ties to even
    units += above_half
    as_float = units.astype(np.float64)  # exact: at most 2**precision
    overflow = (units != 0) & (np.frexp(as_float)[1] + quantum > form.max_exponent + 1)
    magnitude = np.where(overflow, math.inf, np.ldexp(as_float, np.where(overflow, 0, quantum)))
    return np.where(negative, -magnitude, magnitude)


class BoundCheck(NamedTuple):
    """Per entry: whether ``|computed - exact| <= bound`` (exact), and the ratio (rounded)."""

    within: NDArray[np.bool_]
    ratio: NDArray[np.float64]


def within_bound(
    computed: NDArray[np.float64], exact: Limbs, bound: NDArray[np.float64]
) -> BoundCheck:
    """Decide ``|computed - exact| <= bound`` exactly for every entry, and give the ratio.

    The difference and its comparison with the bound are exact (limb arithmetic on the floats as
    they are); the ratio ``|computed - exact| / bound`` is the difference rounded to float64,
    divided in float64, so near 1 it may disagree with the verdict, which is the one to trust. A
    bound of 0 gives a ratio of 0 where the difference is 0 and inf elsewhere; a non-finite
    ``computed`` is never within (ratio inf); an infinite bound holds every finite value (ratio
    0).

    Args:
        computed: float64 values, the shape of ``exact``.
        exact: the exact values (e.g. a field of ``fast_step``'s result).
        bound: float64 bounds, >= 0 (inf allowed, NaN not), the same shape.

    Returns:
        ``BoundCheck(within, ratio)``: a bool array and a float64 array of that shape.
    """
    shape = exact.digits.shape[1:]
    for name, array in (("computed", computed), ("bound", bound)):
        if array.shape != shape:
            raise ValueError(f"{name} must have the exact values' shape {shape}; got {array.shape}")
    if np.any(np.isnan(bound) | (bound < 0)):
        raise ValueError("bound must be >= 0 everywhere (inf allowed, NaN not)")
    finite = np.isfinite(computed)
    unbounded = np.isinf(bound)
    computed_limbs = limbs_from_float64(np.where(finite, computed, 0.0))
    difference = _limb_combination([(computed_limbs, 1, 0), (exact, -1, 0)])
    distance = Limbs(_trimmed(_magnitudes(difference.digits)), difference.exponent)
    bound_limbs = limbs_from_float64(np.where(unbounded, 0.0, bound))
    margin = _limb_combination([(distance, 1, 0), (bound_limbs, -1, 0)])
    within = finite & ((_limb_signs(margin) <= 0) | unbounded)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        quotient = round_limbs(distance) / bound
    zero = ~distance.digits.any(axis=0)
    ratio = np.select([~finite, zero | unbounded, bound == 0], [math.inf, 0.0, math.inf], quotient)
    return BoundCheck(within, ratio)
