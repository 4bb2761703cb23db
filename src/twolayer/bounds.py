"""Rigorous elementwise bounds on the rounding error of one training step, for four arithmetics.

``step_bounds`` says, for every value of one step of the seed's network, how far an
implementation that rounds in a given arithmetic may be from the exact result
(``twolayer.exact``): ``|computed - exact| <= bound``, entry by entry, for any summation order,
blocking, threading or fused multiply-add in its matrix products and its loss sum.

The model (in words: docs/verification.md, "The error-bound model in plain words"). Round to
nearest; unit roundoff ``u``; ``gamma(k) = k u / (1 - k u)``. A product ``C = A @ B`` with inner
dimension ``k``, computed from inputs already in error by ``E_A``, ``E_B``, is in error by at most::

    E_C = g (|A| + E_A) @ (|B| + E_B) + E_A @ |B| + |A| @ E_B + E_A @ E_B + k eta_acc
    g   = (1 + u_in)**2 (1 + gamma(k; u_acc)) (1 + u_out) - 1

where ``u_in`` is the rounding of the product's inputs to a narrower format (tf32 ``2**-11``,
bf16 ``2**-8``, else 0), ``u_acc`` the accumulator's (float32 for tf32 and bf16) and ``u_out`` the
output's (0: products are stored in the accumulator's format). The chain through the network is::

    E_h        = the product bound of x @ w1 (inputs exact)
    E_h_relu   = E_h where h > -E_h, else 0                  (ReLU is 1-Lipschitz)
    E_y_pred   = the product bound of h_relu @ w2
    E_residual = E_y_pred + u (|y_pred - y| + E_y_pred)      (the subtraction rounds once)
    E_gy       = 2 E_residual                                (doubling is exact)
    E_loss     = gamma(n) sum((|r| + E_r)**2) + sum(E_r (2 |r| + E_r)) + n eta   (n = batch d_out)
    E_grad_w2, E_grad_h_relu, E_grad_w1: the product bound
    E_grad_h   = E_grad_h_relu where the unit is surely active, 0 where surely inactive,
                 |grad_h_relu| + E_grad_h_relu where |h| <= E_h (the mask is uncertain)
    E_w_next   = ((1 + u)**3 - 1) (|w| + lr (|g| + E_g)) + lr E_g + eta (|g| + E_g + 1)

Subnormals (gradual underflow, as IEEE 754 and numpy on CPUs): each rounding then has an absolute
error of at most half the smallest subnormal ``eta``, which the ``eta`` terms above cover; the
inputs of a product rounded to tf32 or bf16 carry an extra absolute error of half that format's
smallest subnormal, added to ``E_A`` and ``E_B``. Not covered: flush-to-zero (FTZ/DAZ), overflow,
and an implementation that changes the association of the seed's operations (e.g. scaling ``x`` by
the learning rate before the product). The model assumes that nothing overflows; as a guard, a
bound is inf where its value or a product's magnitude could reach the overflow threshold.

The bounds are evaluated in float64 from the exact values, rounded upward at every operation (a
widening factor and an absolute ``eta`` term per operation; see
``twolayer.rounding.round_up_bound``), so the bound's own rounding, underflow included, is covered:
each returned number is at least the real-number value of its formula.
"""

import math
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from jaxtyping import Bool, Float64
from numpy.typing import NDArray

from twolayer import exact
from twolayer.rounding import round_up, round_up_bound
from twolayer.shapes import (
    W1,
    W2,
    BoolArray,
    Float64Array,
    Hidden,
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
    frozen,
)

__all__ = ["ARITHMETIC", "ARITHMETICS", "Arithmetic", "StepBounds", "round_up", "step_bounds"]

ARITHMETICS = ("float64", "float32", "tf32", "bf16")
"""The arithmetics that ``step_bounds`` models, by name (see ``ARITHMETIC``)."""

Uncertain = Bool[BoolArray, "batch hidden"]  # True where the ReLU mask is not certain
Left = Float64[Float64Array, "rows inner"]  # the left factor of a product being bounded
Right = Float64[Float64Array, "inner cols"]  # its right factor
Product = Float64[Float64Array, "rows cols"]  # the product's shape
Values = Float64[Float64Array, "..."]  # a bound being evaluated, any shape
Exact = ObjectArray | exact.Limbs  # exact values: Fractions (exact.step), or limbs (fast_step)
Matmul = Callable[[Left, Right], Product]  # how the bound's own products of magnitudes are summed


class Arithmetic(NamedTuple):
    """How an implementation rounds: its unit roundoffs and smallest subnormals, exact.

    ``unit_roundoff`` and ``smallest_subnormal`` are the storage format's (every elementwise
    operation rounds to it); ``input_*`` describe the rounding of a matrix product's inputs
    (0 where there is none) and ``accumulator_*`` the product's accumulation and output.
    """

    unit_roundoff: Fraction
    smallest_subnormal: Fraction
    input_roundoff: Fraction
    input_subnormal: Fraction
    accumulator_roundoff: Fraction
    accumulator_subnormal: Fraction
    output_roundoff: Fraction
    largest_finite: float


# float32 storage, elementwise operations and accumulation; no rounding of the products' inputs.
_FLOAT32 = Arithmetic(
    unit_roundoff=Fraction(1, 2**24),
    smallest_subnormal=Fraction(1, 2**149),
    input_roundoff=Fraction(0),
    input_subnormal=Fraction(0),
    accumulator_roundoff=Fraction(1, 2**24),
    accumulator_subnormal=Fraction(1, 2**149),
    output_roundoff=Fraction(0),
    largest_finite=float(np.finfo(np.float32).max),
)

ARITHMETIC = {
    "float64": Arithmetic(
        unit_roundoff=Fraction(1, 2**53),
        smallest_subnormal=Fraction(1, 2**1074),
        input_roundoff=Fraction(0),
        input_subnormal=Fraction(0),
        accumulator_roundoff=Fraction(1, 2**53),
        accumulator_subnormal=Fraction(1, 2**1074),
        output_roundoff=Fraction(0),
        largest_finite=float(np.finfo(np.float64).max),
    ),
    "float32": _FLOAT32,
    # TF32 (tensor cores): inputs rounded to nearest with 10 stored bits, float32's exponent range
    # (subnormal spacing 2**-136). Hardware that truncates the inputs instead errs by up to
    # 2**-10: not this model.
    "tf32": _FLOAT32._replace(
        input_roundoff=Fraction(1, 2**11), input_subnormal=Fraction(1, 2**136)
    ),
    # bf16 inputs: 7 stored bits, float32's exponent range (subnormal spacing 2**-133).
    "bf16": _FLOAT32._replace(
        input_roundoff=Fraction(1, 2**8), input_subnormal=Fraction(1, 2**133)
    ),
}
"""The model of each arithmetic in ``ARITHMETICS``."""


class StepBounds(NamedTuple):
    """Elementwise upper bounds on ``|computed - exact|`` for every value of one step (float64).

    Shapes as the values they bound: ``h, h_relu, grad_h_relu, grad_h (batch, hidden)``,
    ``y_pred, grad_y_pred (batch, d_out)``, ``grad_w1, w1_next (d_in, hidden)``, ``grad_w2,
    w2_next (hidden, d_out)``, ``loss`` a float; ``uncertain (batch, hidden)`` is True where
    ``|h| <= E_h``, so that an implementation may legally have either ReLU mask there.
    """

    h: Hidden
    h_relu: Hidden
    y_pred: Y
    loss: float
    grad_w1: W1
    grad_w2: W2
    w1_next: W1
    w2_next: W2
    uncertain: Uncertain
    grad_y_pred: Y
    grad_h_relu: Hidden
    grad_h: Hidden


# -- float64 evaluation, rounded upward (twolayer.rounding) --------------------------------------


def _magnitude_up(values: Exact) -> Values:
    """Upper bounds of ``|values|``, exact values: the float above, 0 for 0."""
    if isinstance(values, exact.Limbs):
        return exact.magnitude_up(values)  # the same numbers, whole arrays at a time
    out = np.empty(values.shape, dtype=np.float64)
    out.flat[:] = [_fraction_magnitude_up(value) for value in values.ravel().tolist()]
    return out


def _fraction_magnitude_up(value: Fraction) -> float:
    if value == 0:
        return 0.0
    try:
        nearest = float(abs(value))  # correctly rounded: within half an ulp
    except OverflowError:
        return math.inf
    return math.nextafter(nearest, math.inf)


def _blas_product(a: Left, b: Right) -> Product:
    """``a @ b`` by numpy's BLAS: fast, but its last bits depend on the BLAS and the CPU."""
    return a @ b


def _fixed_order_product(a: Left, b: Right) -> Product:
    """``a @ b`` summed in one fixed order, the same floats on every machine and BLAS.

    Entry ``(i, j)`` is ``((a[i, 0] b[0, j] + a[i, 1] b[1, j]) + a[i, 2] b[2, j]) + ...``, left
    to right: each product and each addition a correctly rounded IEEE operation of a numpy ufunc
    (no BLAS, no blocking, no threads, no fused multiply-add), in the same order whatever the
    machine: a loop over the inner index adds one outer product at a time (not ``add.reduce``
    or ``sum``, whose pairwise blocking is numpy's choice). The roundings are those of one
    summation order, which ``_up``'s count (``inner`` products summed: ``inner`` roundings on any
    path) covers. Only the frozen suite's writer uses it (49 cases), so its speed matters little.
    """
    rows, inner = a.shape
    cols = b.shape[1]
    if inner == 0:
        return np.zeros((rows, cols))
    total = np.empty((rows, cols))
    np.multiply.outer(a[:, 0], b[0], out=total)
    term = np.empty_like(total)
    for k in range(1, inner):
        np.multiply.outer(a[:, k], b[k], out=term)
        total += term
    return total


def _exceeds(values: Exact, limits: Values) -> NDArray[np.bool_]:
    """Return ``values > limits`` elementwise, exactly (Fraction against float compares exactly)."""
    if isinstance(values, exact.Limbs):
        return exact.compare(values, limits) > 0
    return values > limits


def _below(values: Exact, limits: Values) -> NDArray[np.bool_]:
    """Return ``values < limits`` elementwise, exactly."""
    if isinstance(values, exact.Limbs):
        return exact.compare(values, limits) < 0
    return values < limits


# -- the arithmetic's constants, exact then rounded up ------------------------------------------


def _gamma(count: int, unit: Fraction) -> Fraction | None:
    """``gamma(count) = count u / (1 - count u)``, or None where ``count u >= 1/2`` (no model)."""
    if 2 * count * unit >= 1:
        return None
    return count * unit / (1 - count * unit)


def _product_factor(arithmetic: Arithmetic, inner: int) -> float:
    """``g = (1 + u_in)**2 (1 + gamma(inner; u_acc)) (1 + u_out) - 1``, rounded up."""
    gamma = _gamma(inner, arithmetic.accumulator_roundoff)
    if gamma is None:
        return math.inf
    return round_up(
        (1 + arithmetic.input_roundoff) ** 2 * (1 + gamma) * (1 + arithmetic.output_roundoff) - 1
    )


# -- the chain ----------------------------------------------------------------------------------


def _product_bound(
    a: Left,
    a_error: Left,
    b: Right,
    b_error: Right,
    arithmetic: Arithmetic,
    matmul: Matmul = _blas_product,
) -> Product:
    """The product bound ``E_C`` of ``C = A @ B`` from ``|A|, E_A, |B|, E_B`` (upper bounds).

    The absolute error of rounding the inputs to a narrower format (its subnormals) is added to
    ``E_A`` and ``E_B``; the relative part is in ``g``. As a guard against overflow, the bound is
    inf where ``(1 + g) (|A| + E_A) @ (|B| + E_B)``, which bounds every partial sum, could reach
    the arithmetic's largest finite number.
    """
    inner = a.shape[1]
    input_subnormal = round_up(arithmetic.input_subnormal / 2)
    if input_subnormal:
        a_error, b_error = (
            round_up_bound(a_error + input_subnormal, 1),
            round_up_bound(b_error + input_subnormal, 1),
        )
    factor = _product_factor(arithmetic, inner)
    # One addition in each factor, then ``inner`` products summed: ``inner + 2`` roundings.
    envelope = round_up_bound(matmul(a + a_error, b + b_error), inner + 2)
    # ``3 inner + 1`` products, then at most ``inner + 3`` additions on any path.
    bound = round_up_bound(
        factor * envelope
        + matmul(a_error, b)
        + matmul(a, b_error)
        + matmul(a_error, b_error)
        + round_up(inner * arithmetic.accumulator_subnormal),
        3 * inner + 4,
    )
    too_large = envelope + factor * envelope >= arithmetic.largest_finite
    return np.where(too_large, np.inf, bound)


def _capped(bound: Values, magnitude: Values, arithmetic: Arithmetic) -> Values:
    """``bound``, or inf where ``|value| + bound`` reaches the arithmetic's overflow threshold."""
    return np.where(magnitude + bound >= arithmetic.largest_finite, np.inf, bound)


def _update_bound(
    weights: Values,
    grad: Values,
    grad_error: Values,
    learning_rate: float,
    arithmetic: Arithmetic,
) -> Values:
    """``E_w_next = ((1+u)**3 - 1)(|w| + lr (|g| + E_g)) + lr E_g + eta (|g| + E_g + 1)``.

    The cube counts the rounding of ``learning_rate`` to the storage format (none in float64, but
    counted anyway), of the product ``lr * g`` and of the subtraction; the ``eta`` term their
    underflow.
    """
    cubed = round_up((1 + arithmetic.unit_roundoff) ** 3 - 1)
    subnormal = round_up(arithmetic.smallest_subnormal)
    grad_envelope = round_up_bound(grad + grad_error, 1)
    weights_envelope = round_up_bound(weights + learning_rate * grad_envelope, 2)
    bound = round_up_bound(
        cubed * weights_envelope + learning_rate * grad_error + subnormal * (grad_envelope + 1.0),
        4,
    )
    return _capped(bound, weights, arithmetic)


def _loss_bound(
    residual: Values,
    residual_error: Values,
    arithmetic: Arithmetic,
    matmul: Matmul = _blas_product,
) -> float:
    """``E_loss = gamma(n) sum((|r| + E_r)**2) + sum(E_r (2|r| + E_r)) + n eta``, ``n`` terms.

    The squares and their sum in any order are a dot product of the computed residual with
    itself (``gamma(n)``); the rest is ``|r_hat**2 - r**2| <= E_r (2 |r| + E_r)``.
    """
    count = residual.size
    gamma = _gamma(count, arithmetic.unit_roundoff)
    if gamma is None:
        return math.inf
    flat, flat_error = residual.reshape(1, -1), residual_error.reshape(1, -1)
    envelope = flat + flat_error
    # As a product's envelope: one addition in each factor, then ``count`` products summed.
    squares = round_up_bound(matmul(envelope, envelope.T), count + 2)
    # 2 |r| is exact; one addition, ``count + 1`` products, ``count + 1`` additions after them.
    bound = round_up_bound(
        round_up(gamma) * squares
        + matmul(flat_error, (2.0 * flat + flat_error).T)
        + round_up(count * arithmetic.smallest_subnormal),
        count + 3,
    )
    too_large = squares + bound >= arithmetic.largest_finite
    return math.inf if bool(too_large.item()) else float(bound.item())


def _check_grid(name: str, values: NDArray[np.float64], arithmetic: str) -> None:
    """Raise unless ``values`` are float32 numbers: every arithmetic but float64 stores float32."""
    if arithmetic == "float64":
        return
    with np.errstate(over="ignore"):
        narrowed = values.astype(np.float32)
    if not np.array_equal(narrowed, values):  # float32 against float64 compares exactly
        raise ValueError(
            f"{name} must hold float32 values for arithmetic={arithmetic!r} (its inputs are "
            f"float32 data); convert with {name}.astype(numpy.float32).astype(numpy.float64)"
        )


def step_bounds(
    params: Params,
    x: X,
    y: Y,
    learning_rate: float,
    *,
    arithmetic: str = "float64",
    relu_grad_at_zero: float = 1.0,
    mask: exact.Mask | None = None,
    reference: exact.ExactStep | exact.LimbStep | None = None,
    reproducible: bool = False,
) -> StepBounds:
    """Return rigorous bounds on the rounding error of one step computed in ``arithmetic``.

    For an implementation of the seed's step that rounds as ``arithmetic`` says (see the module
    docstring for the model and its formulas), ``|computed - exact| <= bound`` on every entry of
    every value, where ``exact`` is ``twolayer.exact.step`` of the same arguments.

    What is assumed: ``x, y, w1, w2`` are the implementation's inputs exactly (for ``float32``,
    ``tf32`` and ``bf16``: float32 numbers, checked; the learning rate may be rounded to float32 by
    the implementation, which the bound covers); the implementation computes the seed's operations
    in the seed's association, rounding to nearest with gradual underflow; nothing overflows
    (where a value could, its bound is inf).

    The ReLU mask: where ``|h| <= E_h`` (``uncertain``) an implementation may have either mask,
    and the bounds of ``grad_h`` there (and of everything downstream) allow for either. With
    ``mask`` given, the bounds are for an implementation whose own mask is ``mask`` (a judge
    checks first that it is legal), against ``twolayer.exact.step(..., mask=mask)``: ``h_relu``
    and ``grad_h`` are then bounded as if the mask were certain, which keeps them tight.

    Args:
        params: ``w1 (d_in, hidden)``, ``w2 (hidden, d_out)``, float64.
        x: ``(batch, d_in)``.
        y: ``(batch, d_out)``.
        learning_rate: a finite float >= 0.
        arithmetic: one of ``ARITHMETICS``: ``"float64"``, ``"float32"``, ``"tf32"`` (tf32
            products, float32 otherwise) or ``"bf16"`` (bf16 products, float32 otherwise).
        relu_grad_at_zero: the exact reference's ReLU derivative at an exact zero: 0, 0.5 or 1.
        mask: None, or the implementation's ReLU mask, a bool array ``(batch, hidden)``.
        reference: the exact step, if the caller has it already: it must be
            ``twolayer.exact.step`` or ``twolayer.exact.fast_step`` of these same arguments (and
            ``mask``); not checked. Without it, ``fast_step`` computes it.
        reproducible: False (the default) evaluates the bounds' own matrix products of
            magnitudes with numpy's BLAS, whose last bits depend on the BLAS library, its threads
            and the CPU; True sums them in one fixed order with elementwise numpy operations, so
            the returned floats are the same on every machine (what the frozen test vectors
            need), at some cost in time. Both are rigorous.

    Returns:
        ``StepBounds``: float64 arrays shaped as the values they bound, ``loss`` a float, and
        ``uncertain (batch, hidden)``.

    A float64 step may be off by a few units in the last place, and a float32 step by about
    2**29 times as much; the bounds say exactly how much, per entry:

    >>> import numpy as np
    >>> from twolayer import Params
    >>> params = Params(np.array([[0.5, -0.25]]), np.array([[0.75], [2.0]]))
    >>> x, y = np.array([[3.0]]), np.array([[1.0]])
    >>> step_bounds(params, x, y, 0.125).h  # one product each: u |h|, |h| = 1.5, 0.75
    array([[1.66533454e-16, 8.32667268e-17]])
    >>> float(step_bounds(params, x, y, 0.125).loss), float(
    ...     step_bounds(params, x, y, 0.125, arithmetic="float32").loss
    ... )
    (9.887923813067872e-17, 5.308544342998932e-08)
    """
    sizes: Sizes = {}
    w1, w2 = check_params(params, sizes)
    x = check_array("x", x, "batch d_in", sizes)
    y = check_array("y", y, "batch d_out", sizes)
    rate = check_learning_rate(learning_rate)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    if arithmetic not in ARITHMETIC:
        raise ValueError(f"arithmetic must be one of {', '.join(ARITHMETICS)}; got {arithmetic!r}")
    for name, values in (("x", x), ("y", y), ("params.w1", w1), ("params.w2", w2)):
        _check_grid(name, values, arithmetic)
    if reference is None:
        reference = exact.fast_step(w1, w2, x, y, rate, rule, check_mask(mask, sizes))
    # inf and nan may arise where a value could overflow (the bound is then inf): no warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        matmul = _fixed_order_product if reproducible else _blas_product
        return _bounds(w1, w2, x, rate, rule, mask, reference, ARITHMETIC[arithmetic], matmul)


def _bounds(
    w1: W1,
    w2: W2,
    x: X,
    learning_rate: float,
    relu_grad_at_zero: float,
    mask: exact.Mask | None,
    reference: exact.ExactStep | exact.LimbStep,
    arithmetic: Arithmetic,
    matmul: Matmul,
) -> StepBounds:
    abs_x, abs_w1, abs_w2 = np.abs(x), np.abs(w1), np.abs(w2)  # exact: inputs are floats
    no_error_x, no_error_w1, no_error_w2 = (np.zeros_like(a) for a in (abs_x, abs_w1, abs_w2))
    h = _magnitude_up(reference.h)
    error_h = _capped(
        _product_bound(abs_x, no_error_x, abs_w1, no_error_w1, arithmetic, matmul), h, arithmetic
    )
    uncertain = ~_exceeds(reference.h, error_h) & ~_below(reference.h, -error_h)  # |h| <= E_h
    if mask is None:
        may_be_active = _exceeds(reference.h, -error_h)  # h > -E_h: the computed h may be > 0
        surely_active = ~uncertain & may_be_active
    else:
        may_be_active = surely_active = mask
    error_h_relu = np.where(may_be_active, error_h, 0.0)
    h_relu = _magnitude_up(reference.h_relu)

    y_pred = _magnitude_up(reference.y_pred)
    error_y_pred = _capped(
        _product_bound(h_relu, error_h_relu, abs_w2, no_error_w2, arithmetic, matmul),
        y_pred,
        arithmetic,
    )
    grad_y_pred = _magnitude_up(reference.grad_y_pred)
    residual = round_up_bound(0.5 * grad_y_pred, 1)  # |y_pred - y|: halving may underflow
    unit = float(arithmetic.unit_roundoff)  # a power of two: exact
    error_residual = round_up_bound(error_y_pred + unit * (residual + error_y_pred), 3)
    error_grad_y_pred = _capped(2.0 * error_residual, grad_y_pred, arithmetic)  # exact doubling
    error_loss = _loss_bound(residual, error_residual, arithmetic, matmul)

    error_grad_w2 = _product_bound(
        h_relu.T, error_h_relu.T, grad_y_pred, error_grad_y_pred, arithmetic, matmul
    )
    grad_h_relu = _magnitude_up(reference.grad_h_relu)
    error_grad_h_relu = _capped(
        _product_bound(grad_y_pred, error_grad_y_pred, abs_w2.T, no_error_w2.T, arithmetic, matmul),
        grad_h_relu,
        arithmetic,
    )
    # Where the mask is uncertain the implementation's factor may be 0, 1 or the tie's, against
    # the reference's: |f_impl g_hat - f g| <= |g_hat - g| + |g|. A factor 0.5 may underflow.
    tie_underflow = round_up(arithmetic.smallest_subnormal / 2) if relu_grad_at_zero == 0.5 else 0.0
    error_uncertain = round_up_bound(grad_h_relu + error_grad_h_relu + tie_underflow, 2)
    if mask is None:
        error_grad_h = np.where(
            uncertain, error_uncertain, np.where(surely_active, error_grad_h_relu, 0.0)
        )
    else:
        # A judge may take the mean of two masked steps for a tie factor 0.5: its underflow too.
        error_grad_h = np.where(mask, round_up_bound(error_grad_h_relu + tie_underflow, 1), 0.0)
    grad_h = _magnitude_up(reference.grad_h)
    error_grad_w1 = _product_bound(abs_x.T, no_error_x.T, grad_h, error_grad_h, arithmetic, matmul)
    grad_w1 = _magnitude_up(reference.grad_w1)
    grad_w2 = _magnitude_up(reference.grad_w2)
    error_grad_w1 = _capped(error_grad_w1, grad_w1, arithmetic)
    error_grad_w2 = _capped(error_grad_w2, grad_w2, arithmetic)

    uncertain.flags.writeable = False
    return StepBounds(
        h=frozen(error_h),
        h_relu=frozen(error_h_relu),
        y_pred=frozen(error_y_pred),
        loss=error_loss,
        grad_w1=frozen(error_grad_w1),
        grad_w2=frozen(error_grad_w2),
        w1_next=frozen(_update_bound(abs_w1, grad_w1, error_grad_w1, learning_rate, arithmetic)),
        w2_next=frozen(_update_bound(abs_w2, grad_w2, error_grad_w2, learning_rate, arithmetic)),
        uncertain=uncertain,
        grad_y_pred=frozen(error_grad_y_pred),
        grad_h_relu=frozen(error_grad_h_relu),
        grad_h=frozen(error_grad_h),
    )
