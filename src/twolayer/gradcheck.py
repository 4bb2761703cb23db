"""Finite-difference checks of anyone's gradient of the seed's loss, kink-aware and rigorous.

``check_gradients`` takes ``grads`` from any implementation and compares them with finite
differences of the oracle's *loss* alone (``twolayer.network``'s forward pass and loss; never its
backward pass), with a tolerance that is a rigorous bound on rounding, so that a correct float64
gradient is never rejected and a wrong one is rejected wherever rounding leaves room to see it.

Why no truncation error. With the ReLU mask fixed, ``y_pred`` is linear in ``w1`` (``w2``
fixed) and linear in ``w2`` (``w1`` fixed), so the loss along a line in one tensor is an exact
quadratic. A quadratic fitted through three evaluated points gives the derivative exactly, and
the central difference of a quadratic is exact. What remains is rounding, bounded in the error
model of ``twolayer.bounds`` (its module docstring; docs/verification.md, "The error-bound model
in plain words"): ``|fl(A @ B) - A @ B| <= gamma(k) |A| @ |B|`` in any summation order, and
``fl(a op b) = (a op b)(1 + d) + e`` with ``|d| <= u`` and an underflow term ``|e| <= 2**-1075``
for products only.

Kinks. Moving ``w1[a, j]`` by ``t`` moves ``h[b, j]`` by ``t x[b, a]``; ``w2`` never moves ``h``.
A step stays below the certified distance to the nearest kink, ``|fl(h)| - E_h`` (``E_h``
bounds ``|fl(h) - h|``). Where ``|fl(h)|`` is within rounding of 0 the mask is uncertain: the
exact ``h`` is computed in rational arithmetic, and an exact tie that every float64 summation
order computes as exactly 0 is checked with one-sided differences (see ``relu_grad_at_zero``
below); any other such entry is skipped and reported, never judged.
"""

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from twolayer.network import forward_unchecked, loss_unchecked
from twolayer.rounding import round_up_bound
from twolayer.shapes import (
    W1,
    W2,
    Grads,
    Hidden,
    Params,
    Sizes,
    X,
    Y,
    check_array,
    check_count,
    check_params,
    check_relu_grad_at_zero,
    check_rng,
)

__all__ = ["DirectionResult", "GradcheckReport", "SkippedEntry", "check_gradients"]

MODES = ("entries", "directional")
"""The legal values of ``mode``."""

DEFAULT_SEED = 0
"""The seed of the directions drawn when ``rng`` is not given: the same directions every call."""

_U = 2.0**-53  # float64's unit roundoff
_ETA = 2.0**-1074  # float64's smallest subnormal: twice the underflow error of one product
_ROUNDINGS = 3  # the roundings (and products) that every _up below wraps at most

Array = NDArray[np.float64]


class SkippedEntry(NamedTuple):
    """An entry that the check did not judge: ``tensor`` (``"w1"`` or ``"w2"``), its ``entry``
    (row, column) and the ``reason``."""

    tensor: str
    entry: tuple[int, int]
    reason: str


class DirectionResult(NamedTuple):
    """One random direction of directional mode, in one tensor (``"w1"`` or ``"w2"``).

    ``difference = fl(L(w + s v)) - fl(L(w - s v))`` (the weights ``w +- s v`` as rounded) and
    ``predicted = grads . (w+ - w-)``; they agree within ``tolerance`` (loss units) for a correct
    gradient. ``ratio = |fl(L(w+)) - fl(L(w-)) - predicted| / tolerance``, the numerator
    exact; NaN when the direction was not checked, with the reason in ``note``.
    """

    tensor: str
    step: float
    difference: float
    predicted: float
    tolerance: float
    ratio: float
    note: str


class GradcheckReport(NamedTuple):
    """What ``check_gradients`` found.

    ``passed``: every checked entry (or direction) is within its tolerance (vacuously true if
    nothing could be checked: read ``entries_checked``). ``worst``: per
    tensor, the largest ``|error| / tolerance`` over what was checked (0.0 if nothing was):
    a value above 1 fails. ``entries_checked`` / ``entries_skipped``: entries judged and not;
    together, every entry (in directional mode an entry is judged when some checked direction
    moved it; skipped are the ``w1`` entries of columns held still at a tie, and any entry that
    every direction left unchecked or rounded away: ``w +- s v == w``, a weight far larger
    than the step that the other entries allow); ``skipped``: each skipped entry and why.
    Entries mode also gives, shaped like ``grads``, the ``tolerance`` of each entry in gradient
    units (inf where skipped) and its ``ratio`` (NaN where skipped), and ``tie_entries``: the
    ``w1`` entries judged by one-sided differences at an exact tie. Directional mode gives
    ``directions``.
    """

    passed: bool
    worst: dict[str, float]
    entries_checked: int
    entries_skipped: int
    skipped: tuple[SkippedEntry, ...]
    mode: str
    tolerance: Grads | None
    ratio: Grads | None
    tie_entries: tuple[tuple[int, int], ...]
    directions: tuple[DirectionResult, ...]


# -- rounding-up arithmetic for the bounds ------------------------------------------------------
#
# Every bound below is a sum of products of non-negative floats, rounded up as it goes with _up,
# which is twolayer.rounding.round_up_bound (its docstring has the proof) for values computed
# from non-negative terms with at most three roundings and three products on any path: it returns
# at least their exact value. Every _up below wraps at most three roundings, and the matrix
# products and sums carry their own gamma factors (_matmul_up, _sum_up). So each computed bound
# is at least the exact value of its formula.


def _up(value: Array) -> Array:
    return round_up_bound(value, _ROUNDINGS)


def _up_scalar(value: float) -> float:
    return math.nextafter(value, math.inf)


def _gamma(k: int) -> float:
    # k u and 1 - k u are exact for k < 2**53; the division rounds once.
    return _up_scalar(k * _U / (1 - k * _U))


def _matmul_up(a: Array, b: Array) -> Array:
    """An upper bound on the exact ``a @ b`` for non-negative ``a, b`` with inner size ``k``.

    Any order: ``fl(a @ b) >= (1 - gamma(k)) a @ b - 2k 2**-1075``, so ``a @ b <= (fl(a @ b) +
    2k 2**-1074) (1 + 2 gamma(k))`` (``1 / (1 - g) <= 1 + 2g`` for ``g <= 1/2``).
    """
    k = a.shape[-1]
    factor = _up_scalar(1 + 2 * _gamma(k))
    return _up(_up(np.matmul(a, b) + 2 * k * _ETA) * factor)


def _sum_up(a: Array) -> Array:
    """Upper bounds on the exact sums of the non-negative ``a`` over its last two axes.

    Returns shape ``(n,)`` for a stack of ``n`` matrices, ``(1,)`` for one matrix. Additions do
    not underflow, so ``fl(sum) >= (1 - gamma(m)) sum`` for ``m`` terms.
    """
    terms = a.shape[-2] * a.shape[-1]
    factor = _up_scalar(1 + 2 * _gamma(terms))
    return _up(_up(a.reshape(-1, terms).sum(axis=1)) * factor)


# -- the loss and its rounding bound ------------------------------------------------------------


class _Point(NamedTuple):
    """The oracle's forward values and loss at the base weights, and rigorous rounding bounds."""

    loss: float  # fl(loss), as network.loss_unchecked computes it
    loss_error: float  # >= |fl(loss) - exact loss|; inf if anything overflowed
    h: Hidden  # fl(h)
    h_relu: Hidden  # fl(h_relu)
    y_pred: Y  # fl(y_pred)
    h_error: Hidden  # E_h >= |fl(h) - h|
    residual_error: Y  # E_d >= |fl(y_pred - y) - (y_pred - y)| (exact y_pred)


class _Losses(NamedTuple):
    """The oracle's loss at a stack of ``n`` weights, and bounds on its rounding error."""

    loss: Array  # (n,): fl(loss), as network.loss_unchecked computes it
    loss_error: Array  # (n,): >= |fl(loss) - exact loss|; inf where anything overflowed
    base: _Point  # everything at the first weights, for the base point


def _evaluate(w1s: Array, w2s: Array, x: X, y: Y, abs_h: Array) -> _Losses:
    """Evaluate the oracle's loss at each ``(w1s[i], w2s[i])`` and bound its rounding error.

    ``w1s (n, d_in, hidden)``, ``w2s (n, hidden, d_out)``; ``abs_h (n, batch, hidden)`` is an
    upper bound on ``|x| @ |w1s[i]|``. The chain (E = a bound on |fl - exact|): ``E_h =
    gamma(d_in) |x| @ |w1|``; ``E_hrelu <= E_h`` (ReLU is 1-Lipschitz, whatever the mask);
    ``E_ypred = gamma(hidden) |fl(h_relu)| @ |w2| + E_h @ |w2|``; the residual ``d = y_pred -
    y``: ``E_d = E_ypred + u |fl(d)|``; the loss ``sum(d**2)``: squaring and summing ``m = batch
    d_out`` terms in any order round by at most ``gamma(m) sum(fl(d)**2)``, and
    ``|sum(fl(d)**2) - sum(d**2)| <= sum(E_d (2 |fl(d)| + E_d))``. Each underflowing product
    adds at most 2**-1075: ``E_h`` and the first term of ``E_ypred`` add ``2k 2**-1074`` for
    their ``k = d_in``, ``hidden`` products, the loss ``2m 2**-1074``.
    """
    _, d_in, hidden = w1s.shape
    terms = y.size
    with np.errstate(over="ignore", invalid="ignore"):
        forwards = [forward_unchecked(w1, w2, x) for w1, w2 in zip(w1s, w2s, strict=True)]
        loss = np.array([loss_unchecked(f.y_pred, y) for f in forwards])
        h_relu = np.stack([f.h_relu for f in forwards])
        y_pred = np.stack([f.y_pred for f in forwards])
        residual = np.abs(y_pred - y)
        h_error = _up(_gamma(d_in) * abs_h + 2 * d_in * _ETA)
        abs_w2 = np.abs(w2s)
        y_pred_error = _up(
            _up(_gamma(hidden) * _matmul_up(np.abs(h_relu), abs_w2) + 2 * hidden * _ETA)
            + _matmul_up(h_error, abs_w2)
        )
        residual_error = _up(_U * residual + y_pred_error)
        squares = _sum_up(_up(residual * residual))
        cross = _sum_up(_up(residual_error * _up(2 * residual + residual_error)))
        loss_error = _up(_up(_up(_gamma(terms) * squares) + cross) + 2 * terms * _ETA)
        loss_error = np.where(np.isfinite(loss) & np.isfinite(loss_error), loss_error, np.inf)
    first = forwards[0]
    base = _Point(
        float(loss[0]),
        float(loss_error[0]),
        first.h,
        first.h_relu,
        first.y_pred,
        h_error[0],
        residual_error[0],
    )
    return _Losses(loss, loss_error, base)


def _grad_error_bound(point: _Point, w2: W2, x: X, y: Y, possibly_active: Hidden) -> Grads:
    """Bound ``|computed - exact|`` of a gradient computed in float64 in any summation order.

    The implementation's own forward values differ from the exact ones by the bounds of
    ``_evaluate`` (its ``|h_relu| <= |fl(h_relu)| + 2 E_h``, the oracle's ``fl`` plus two errors).
    Then, per the model's product rule (``twolayer.bounds``), with ``g = gamma(k)``: ``grad_y_pred =
    2 (y_pred - y)`` is off by ``E_gy = 2 (E_ypred + u |y_pred - y|)``; ``grad_w2 = h_relu.T @
    grad_y_pred`` by ``g |h_relu|.T @ |grad_y_pred| + E_h.T @ |grad_y_pred| + |h_relu|.T @ E_gy``;
    ``grad_h_relu = grad_y_pred @ w2.T`` by ``g |grad_y_pred| @ |w2.T| + E_gy @ |w2.T|``; ``grad_h``
    by that where the unit may be active (a factor of 0, 0.5 or 1 elsewhere exact); ``grad_w1 = x.T
    @ grad_h`` by ``g |x.T| @ |grad_h| + |x.T| @ E_gh``. It assumes the implementation's ReLU mask
    equals the exact one wherever it matters: entries where that is uncertain are skipped.
    """
    batch, _ = x.shape
    hidden, d_out = w2.shape
    abs_w2_t = np.abs(w2.T)
    with np.errstate(over="ignore", invalid="ignore"):
        h_relu_exact = _up(np.abs(point.h_relu) + point.h_error)
        h_relu_impl = _up(h_relu_exact + point.h_error)
        y_pred_error_impl = _up(
            _up(_gamma(hidden) * _matmul_up(h_relu_impl, np.abs(w2)) + 2 * hidden * _ETA)
            + _matmul_up(point.h_error, np.abs(w2))
        )
        residual_exact = _up(np.abs(point.y_pred - y) + point.residual_error)
        residual_impl = _up(residual_exact + y_pred_error_impl)
        grad_y_pred_error = _up(2 * _up(y_pred_error_impl + _up(_U * residual_impl)))
        # |fl(2 (y_pred - y))| <= 2 (1 + u) residual_impl: one rounding, which _up covers.
        grad_y_pred_impl = _up(2 * residual_impl)
        grad_w2_error = _up(
            _up(
                _up(_gamma(batch) * _matmul_up(h_relu_impl.T, grad_y_pred_impl) + 2 * batch * _ETA)
                + _matmul_up(point.h_error.T, grad_y_pred_impl)
            )
            + _matmul_up(h_relu_exact.T, grad_y_pred_error)
        )
        grad_h_relu_error = _up(
            _up(_gamma(d_out) * _matmul_up(grad_y_pred_impl, abs_w2_t) + 2 * d_out * _ETA)
            + _matmul_up(grad_y_pred_error, abs_w2_t)
        )
        grad_h_relu_impl = _up(_matmul_up(2 * residual_exact, abs_w2_t) + grad_h_relu_error)
        grad_h_error = _up(grad_h_relu_error * possibly_active)
        grad_h_impl = _up(grad_h_relu_impl * possibly_active)
        # One product for both terms: |x.T| @ (g |grad_h| + E_gh), and the underflow of its own.
        grad_w1_error = _up(
            _matmul_up(np.abs(x.T), _up(_up(_gamma(batch) * grad_h_impl) + grad_h_error))
            + 2 * batch * _ETA
        )
    return Grads(grad_w1_error, grad_w2_error)


def _smooth_steps(loss_scale: float, curvature: Array, weights: Array) -> Array:
    # The tolerance is about gamma (loss_scale + curvature s**2) / s: least at this s. Where it
    # is undefined (no curvature: the loss ignores the entry; no loss), any step does.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        step = np.sqrt(loss_scale / curvature)
        fallback = np.maximum(np.abs(weights), 1.0)
        return np.where(np.isfinite(step) & (step > 0), step, fallback)


# -- the mask: certain, exact ties, uncertain ---------------------------------------------------


def _is_robust_tie(x_row: NDArray[np.float64], w1_column: NDArray[np.float64]) -> bool:
    """Whether ``x_row @ w1_column`` is exactly 0 and every float64 order computes it as 0.

    Sufficient: the sum of the exact products is 0, each product is a float64, and all lie on a
    common grid ``2**-k`` with ``sum |p| <= 2**53 2**-k``, so every partial sum in any order (or
    with FMA) is exact.
    """
    products = [Fraction(a) * Fraction(w) for a, w in zip(x_row, w1_column, strict=True)]
    nonzero = [p for p in products if p != 0]
    if sum(nonzero) != 0:
        return False
    if not nonzero:
        return True
    try:
        if any(Fraction(float(p)) != p for p in nonzero):
            return False
    except OverflowError:
        return False
    finest = max(p.denominator for p in nonzero)
    return sum(abs(p) for p in nonzero) * finest <= 2**53


class _Mask(NamedTuple):
    """Where the exact ReLU mask at the base point is known, and how far each ``h`` is from 0."""

    certain: NDArray[np.bool_]  # (batch, hidden): sign of the exact h known and nonzero
    tie: NDArray[np.bool_]  # (batch, hidden): exact h == 0, computed as 0 in every order
    margin: Hidden  # (batch, hidden): a lower bound on |exact h| where certain, else 0
    possibly_active: Hidden  # (batch, hidden): 1.0 where the unit may pass a gradient


def _classify(point: _Point, abs_h: Hidden, x: X, w1: W1) -> _Mask:
    # The threshold adds 4u |x| @ |w1| to E_h: room for the rounding of perturbed weights in
    # directional mode, whose movement bound carries a term u |x| @ |w|. Nothing here overflows
    # (E_h and 4u |x| @ |w1| are far below float64's range where finite); h = E_h = inf, where
    # x @ w1 overflowed, makes |h| - E_h invalid.
    with np.errstate(invalid="ignore"):
        threshold = _up(point.h_error + _up(4 * _U * abs_h))
        certain = np.abs(point.h) > threshold
        margin = np.where(certain, np.nextafter(np.abs(point.h) - point.h_error, 0.0), 0.0)
    tie = np.zeros_like(certain)
    for b, j in zip(*np.nonzero(~certain), strict=True):
        tie[b, j] = _is_robust_tie(x[b], w1[:, j])
    possibly_active = np.where(certain & (point.h < 0), 0.0, 1.0)
    return _Mask(certain, tie, margin, possibly_active)


# -- entries mode --------------------------------------------------------------------------------


class _EntryContext(NamedTuple):
    """What every check shares: the problem, the base point and its mask."""

    w1: W1
    w2: W2
    x: X
    y: Y
    abs_x: X
    abs_h: Hidden
    base: _Point
    mask: _Mask
    loss_scale: float  # sum((|y_pred| + |y|)**2): the size of the loss near the base point


class _Plan(NamedTuple):
    """How one entry is checked: the perturbed weights, as rounded, and their exact offsets."""

    tensor: str  # "w1" or "w2"
    entry: tuple[int, int]
    values: tuple[float, ...]  # (w + s, w - s); at a tie (w + s, w + 2s, w - s, w - 2s)
    offsets: tuple[Fraction, ...]  # values - w, exactly
    positive: bool | None  # at a tie: whether every tied x[b, a] > 0; None: no tie


def _entry_steps(ctx: _EntryContext) -> Grads:
    """The step of every entry: least rounding error, below a quarter of the nearest kink."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # The curvature of the loss in w1[a, j] is sum_b active x[b, a]**2 * sum_o w2[j, o]**2;
        # in w2[j, o], sum_b h_relu[b, j]**2.
        curvature_w1 = ((ctx.x**2).T @ ctx.mask.possibly_active) * np.sum(ctx.w2**2, axis=1)
        curvature_w2 = np.sum(ctx.base.h_relu**2, axis=0)[:, None] * np.ones(ctx.w2.shape[1])
        # Moving w1[a, j] by s moves h[b, j] by s x[b, a]: at most margin[b, j] / |x[b, a]|.
        # A quarter: one-sided fits at a tie reach 2 s.
        room = ctx.mask.margin[None, :, :] / ctx.abs_x.T[:, :, None]
        moves = ctx.mask.certain[None, :, :] & (ctx.abs_x.T[:, :, None] > 0)
        kink = np.min(np.where(moves, room, np.inf), axis=1)
        # One float below fl(kink / 4): strictly below a quarter of the exact distance
        # margin / |x|, whatever the division and the quarter rounded to (subnormals too). An
        # offset |fl(w +- k s) - w| is at most 2 k s <= 4 s (w itself is a float k s away), so
        # |x| times it stays below margin: _offsets_reason's certificate holds for these steps.
        quarter = np.nextafter(kink / 4, 0.0)  # where no kink: the largest float, not inf
        steps_w1 = np.minimum(_smooth_steps(ctx.loss_scale, curvature_w1, ctx.w1), quarter)
    return Grads(steps_w1, _smooth_steps(ctx.loss_scale, curvature_w2, ctx.w2))


def _plan_entries(ctx: _EntryContext, rule: float) -> tuple[list[_Plan], list[SkippedEntry]]:
    """Choose each entry's perturbed weights, or the reason why it cannot be judged."""
    steps = _entry_steps(ctx)
    # Boolean matrix products: (d_in, batch) @ (batch, hidden) is True where some row b with
    # x[b, a] != 0 (or > 0, < 0) has the property at h[b, j].
    moved = ctx.x.T != 0  # does w1[a, :] move h[b, :]?
    uncertain = ~ctx.mask.certain & ~ctx.mask.tie
    blocked = moved @ uncertain  # (d_in, hidden)
    tie_up = (ctx.x.T > 0) @ ctx.mask.tie  # a tie that a step up activates
    tie_down = (ctx.x.T < 0) @ ctx.mask.tie  # ... that a step down activates
    plans: list[_Plan] = []
    skipped: list[SkippedEntry] = []
    for tensor, weights, tensor_steps in (("w1", ctx.w1, steps.w1), ("w2", ctx.w2, steps.w2)):
        for raw in np.ndindex(weights.shape):
            entry = (int(raw[0]), int(raw[1]))
            a, j = entry
            at_tie = tensor == "w1" and bool(tie_up[entry] or tie_down[entry])
            if tensor == "w1" and blocked[entry]:
                b = int(np.nonzero(moved[a] & uncertain[:, j])[0][0])
                reason = (
                    f"h[{b}, {j}] = {ctx.base.h[b, j]:.3g} is within rounding of 0 "
                    f"(|fl(h) - h| <= {ctx.base.h_error[b, j]:.3g}) and is no exact tie that "
                    "float64 computes exactly: the ReLU mask there is uncertain"
                )
            elif at_tie and rule != 0.5 and tie_up[entry] and tie_down[entry]:
                reason = (
                    f"exact ties h[b, {j}] == 0 at rows b with x[b, {a}] of both signs: "
                    f"relu_grad_at_zero={rule:g} is no one-sided derivative there"
                )
            else:
                weight, step = float(weights[entry]), float(tensor_steps[entry])
                multiples = (1, 2, -1, -2) if at_tie else (1, -1)
                with np.errstate(over="ignore"):
                    values = tuple(float(np.float64(weight) + k * step) for k in multiples)
                reason = _offsets_reason(ctx, tensor, entry, weight, values)
            if reason:
                skipped.append(SkippedEntry(tensor, entry, reason))
                continue
            offsets = tuple(Fraction(v) - Fraction(weight) for v in values)
            plans.append(
                _Plan(tensor, entry, values, offsets, bool(tie_up[entry]) if at_tie else None)
            )
    return plans, skipped


def _offsets_reason(
    ctx: _EntryContext,
    tensor: str,
    entry: tuple[int, int],
    weight: float,
    values: tuple[float, ...],
) -> str:
    """Why the perturbed ``values`` of one entry cannot serve, or "" if they can."""
    if not all(math.isfinite(v) for v in values):
        return "the step overflows float64"
    offsets = [Fraction(v) - Fraction(weight) for v in values]
    # Each side (w + s, w + 2s; w - s, w - 2s) must move, and its two points differ; offsets of
    # opposite sides have opposite signs, so only a zero could repeat across them.
    if 0 in offsets or len(set(offsets)) < len(offsets):
        return f"the step is below float64's spacing at w = {weight:.3g}"
    if tensor == "w1":
        # Certify, exactly, that no h[b, j] of certain sign reaches 0 within the offsets.
        a, j = entry
        reach = max(abs(t) for t in offsets)
        for b in np.nonzero(ctx.mask.certain[:, j] & (ctx.x[:, a] != 0))[0]:
            if Fraction(abs(float(ctx.x[b, a]))) * reach >= Fraction(ctx.mask.margin[b, j]):
                return f"the step would move h[{b}, {j}] across 0"
    return ""


def _to_float(value: Fraction) -> float:
    """``float(value)``, or inf where it is beyond float64's range."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


class _Fit(NamedTuple):
    derivative: Fraction  # the derivative at 0 of the quadratic through the points
    error: Fraction  # >= |derivative - the exact derivative| from the loss roundings


def _quadratic_fit(offsets: tuple[Fraction, ...], losses: list[float], errors: list[float]) -> _Fit:
    """Differentiate at 0 the quadratic through ``(0, L0), (t1, L1), (t2, L2)``, exactly.

    The Lagrange weights of the derivative at 0 are ``-(t1 + t2) / (t1 t2)``, ``-t2 / (t1 (t1 -
    t2))`` and ``-t1 / (t2 (t2 - t1))``; the loss is exactly this quadratic along the entry, so
    the only error is each ``L_k``'s rounding bound times ``|weight_k|``. The ``t_k`` are the
    exact offsets of the rounded perturbed weights, so the rounding of ``w + t`` costs nothing.
    For central offsets ``t2 = -t1`` the weight of ``L0`` vanishes.
    """
    t1, t2 = offsets
    c0, c1, c2 = (-(t1 + t2) / (t1 * t2), -t2 / (t1 * (t1 - t2)), -t1 / (t2 * (t2 - t1)))
    l0, l1, l2 = (Fraction(v) for v in losses)
    e0, e1, e2 = (Fraction(e) for e in errors)
    return _Fit(c0 * l0 + c1 * l1 + c2 * l2, abs(c0) * e0 + abs(c1) * e1 + abs(c2) * e2)


def _check_entries(
    ctx: _EntryContext, grads: Grads, allowance: Grads, rule: float
) -> GradcheckReport:
    plans, skipped = _plan_entries(ctx, rule)
    if not math.isfinite(ctx.base.loss_error):
        reason = "the loss at w, or its rounding bound, is not finite in float64"
        skipped = [SkippedEntry(p.tensor, p.entry, reason) for p in plans] + skipped
        plans = []
    # Every perturbed point of every entry, evaluated in one stack.
    w1s = np.repeat(ctx.w1[None], sum(len(p.values) for p in plans), axis=0)
    w2s = np.repeat(ctx.w2[None], len(w1s), axis=0)
    row = 0
    for plan in plans:
        stack = w1s if plan.tensor == "w1" else w2s
        for value in plan.values:
            stack[(row, *plan.entry)] = value
            row += 1
    loss_values, loss_errors = np.zeros(0), np.zeros(0)
    if plans:
        with np.errstate(over="ignore"):  # sums of non-negative finite terms: never invalid
            abs_h = _matmul_up(ctx.abs_x, np.abs(w1s))
        loss_values, loss_errors, _ = _evaluate(w1s, w2s, ctx.x, ctx.y, abs_h)

    tolerance = {"w1": np.full(ctx.w1.shape, np.inf), "w2": np.full(ctx.w2.shape, np.inf)}
    ratio = {"w1": np.full(ctx.w1.shape, np.nan), "w2": np.full(ctx.w2.shape, np.nan)}
    tie_entries: list[tuple[int, int]] = []
    row = 0
    for plan in plans:
        count = len(plan.values)
        loss = [float(v) for v in loss_values[row : row + count]]
        error = [float(e) for e in loss_errors[row : row + count]]
        row += count
        if not all(math.isfinite(e) for e in error):
            skipped.append(
                SkippedEntry(plan.tensor, plan.entry, "the loss at w +- s is not finite in float64")
            )
            continue
        fits = [
            _quadratic_fit(
                plan.offsets[i : i + 2],
                [ctx.base.loss, *loss[i : i + 2]],
                [ctx.base.loss_error, *error[i : i + 2]],
            )
            for i in range(0, count, 2)
        ]
        # A tie h[b, j] == 0 with x[b, a] > 0 becomes active for a step up, with x[b, a] < 0 for
        # a step down. Convention 0.5 is the mean of the one-sided derivatives, always; 1
        # activates every tie: the right derivative if all x[b, a] > 0, the left one if all are
        # < 0; convention 0 the other side. (Ties of both signs under 0 or 1 were skipped.)
        if plan.positive is None:
            expected, bound = fits[0]
        elif rule == 0.5:
            expected = (fits[0].derivative + fits[1].derivative) / 2
            bound = (fits[0].error + fits[1].error) / 2
        else:
            expected, bound = fits[0] if plan.positive == (rule == 1.0) else fits[1]
        if plan.positive is not None:
            tie_entries.append(plan.entry)
        index = 0 if plan.tensor == "w1" else 1
        allowed = bound + Fraction(float(allowance[index][plan.entry]))
        off = abs(Fraction(float(grads[index][plan.entry])) - expected)
        if not math.isfinite(_to_float(allowed)):
            skipped.append(
                SkippedEntry(plan.tensor, plan.entry, "the tolerance is beyond float64's range")
            )
            continue
        tolerance[plan.tensor][plan.entry] = _up_scalar(_to_float(allowed))
        # allowed > 0: every loss bound is at least 4 * 2**-1074 and every fit weight nonzero.
        ratio[plan.tensor][plan.entry] = _to_float(off / allowed)
    checked = sum(int(np.count_nonzero(~np.isnan(r))) for r in ratio.values())
    worst = {t: float(np.nanmax(r)) if not np.isnan(r).all() else 0.0 for t, r in ratio.items()}
    return GradcheckReport(
        passed=all(value <= 1.0 for value in worst.values()),
        worst=worst,
        entries_checked=checked,
        entries_skipped=len(skipped),
        skipped=tuple(sorted(skipped)),
        mode="entries",
        tolerance=Grads(tolerance["w1"], tolerance["w2"]),
        ratio=Grads(ratio["w1"], ratio["w2"]),
        tie_entries=tuple(sorted(tie_entries)),
        directions=(),
    )


# -- directional mode ----------------------------------------------------------------------------


class _Direction(NamedTuple):
    """One tensor's share of a direction, and what the comparison along it needs of ``grads``."""

    tensor: str  # "w1" or "w2"
    direction: Array  # v, shaped like the tensor; zero in held columns of w1
    given: Array  # grads' entries for the tensor
    weight: Array  # >= allowance + gamma(n + 2) |given|: what |span| is multiplied by


def _w1_reach(
    ctx: _EntryContext, direction: Array, moving: NDArray[np.bool_]
) -> tuple[float, Hidden]:
    """Choose the step along ``w1``'s direction, and bound ``|x| @ |w1+- - w1|``.

    ``w1+- = fl(w1 +- fl(s v))``, so ``|w1+- - w1| <= (|fl(s v)| + u |w1|) / (1 - u)`` with
    ``|fl(s v)| <= s (1 + u) |v| + 2**-1075``; the step is a quarter of the least certified
    distance to a kink per unit of ``|x| @ |v|`` (``_classify`` keeps ``u |x| @ |w1|`` below
    a quarter of that distance too), or smaller where the curvature calls for it. Called under
    ``_direction_check``'s ``np.errstate``: overflow to inf is reported there.
    """
    abs_v = np.abs(direction)
    moves = _matmul_up(ctx.abs_x, abs_v)  # >= |x| @ |v|, and > 0
    reach = _matmul_up(moves * ctx.mask.possibly_active, np.abs(ctx.w2))  # >= |J v|
    step = float(_smooth_steps(ctx.loss_scale, np.asarray(np.sum(reach**2)), np.ones(())))
    if moving.any():
        step = min(step, float(np.min(ctx.mask.margin[moving] / moves[moving])) / 4)
    # _up(s |v|) >= s (1 + u) |v| + 2**-1075 >= |fl(s v)| (the product and fl's rounding: two of
    # _up's three). One _up covers three roundings: the product u |x| @ |w1| (exact, or off by
    # under 2**-1075 where it underflows), the sum, and the division by 1 - u.
    shift = _matmul_up(ctx.abs_x, _up(step * abs_v))  # >= |x| @ |fl(s v)|
    move = _up(shift + _U * ctx.abs_h)
    return step, move


def _direction_check(
    ctx: _EntryContext, part: _Direction, moving: NDArray[np.bool_]
) -> tuple[DirectionResult, NDArray[np.bool_]]:
    """Compare ``grads . (w+ - w-)`` with ``fl(L(w+)) - fl(L(w-))`` along one direction.

    ``w+- = fl(w +- s v) = w + d+-``. With the mask fixed the loss is ``L0 + g . d + |J d|**2``
    (``J`` the linear map from the tensor to ``y_pred``), so ``L(w+) - L(w-) = g . (d+ - d-) +
    (J (d+ - d-)) . (J (d+ + d-))``, where ``d+ + d- = r+ + r-`` are the roundings of ``w +- s
    v`` (``|r+-| <= u |w+-|``). The tolerance sums the two loss bounds, that curvature term
    (``|J z| <= ((|x| @ |z|) * active) @ |w2|`` for ``w1``, ``|h_relu| @ |z|`` for ``w2``), the
    allowance for the gradient's own rounding times ``|d+ - d-|``, and the roundings of
    ``d+ - d- = fl(w+ - w-) (1 + e)`` and of the dot product; the error itself is exact.
    """
    weights = ctx.w1 if part.tensor == "w1" else ctx.w2
    abs_w2 = np.abs(ctx.w2)
    with np.errstate(over="ignore", invalid="ignore"):
        if part.tensor == "w1":
            step, move = _w1_reach(ctx, part.direction, moving)
        else:
            h_relu_exact = _up(np.abs(ctx.base.h_relu) + ctx.base.h_error)
            reach = _matmul_up(h_relu_exact, np.abs(part.direction))
            step = float(_smooth_steps(ctx.loss_scale, np.asarray(np.sum(reach**2)), np.ones(())))
        shift = step * part.direction
        plus = weights + shift
        minus = weights - shift
        span = plus - minus  # fl(d+ - d-), off by at most u |span|
        abs_span = _up(np.abs(span))  # >= |d+ - d-| = |span| / (1 + e)
        if part.tensor == "w1":
            safe = bool(np.all(move[moving] < ctx.mask.margin[moving]))
            abs_h = _up(ctx.abs_h + move)
            losses = _evaluate(
                np.stack([plus, minus]), np.stack([ctx.w2] * 2), ctx.x, ctx.y, np.stack([abs_h] * 2)
            )
            active = ctx.mask.possibly_active
            j_span = _matmul_up(_up(2 * move) * active, abs_w2)
            j_rounding = _matmul_up(_up(2 * _U * abs_h) * active, abs_w2)
        else:
            safe = True
            losses = _evaluate(
                np.stack([ctx.w1] * 2),
                np.stack([plus, minus]),
                ctx.x,
                ctx.y,
                np.stack([ctx.abs_h] * 2),
            )
            rounding = _up(_U * (np.abs(plus) + np.abs(minus)))  # >= |d+ + d-|
            j_span = _matmul_up(h_relu_exact, abs_span)
            j_rounding = _matmul_up(h_relu_exact, rounding)
        difference = float(losses.loss[0] - losses.loss[1])
        predicted = float(part.given.ravel().dot(span.ravel()))
        # Each _up(weight * |span|) wraps one product of the three that _up allows: the underflow
        # allowance of another (2**-1074) is room for the underflow of the same product in
        # grads . span (at most 2**-1075 each).
        terms = [
            losses.loss_error[0],
            losses.loss_error[1],
            _sum_up(_up(j_span * j_rounding))[0],
            _sum_up(_up(part.weight * abs_span))[0],
        ]
        tolerance = float(_sum_up(np.array([terms]))[0])
    moved = span != 0
    note = ""
    if not safe:
        note = "the step would move some h across 0"
    elif not part.direction.any():
        note = "every column of w1 is held still (see skipped)"
    elif not moved.any():
        note = f"step {step:.3g} moved no entry: below float64's spacing"
    elif not math.isfinite(tolerance):
        note = "the loss at w +- s v or its bound is not finite in float64"
    if note:
        unchecked = DirectionResult(
            part.tensor, step, difference, predicted, tolerance, math.nan, note
        )
        return unchecked, np.zeros_like(moved)
    # The error exactly, so that neither the subtraction nor the comparison rounds (a finite
    # tolerance means finite losses). grads . span may overflow where no loss difference does.
    ratio = math.inf
    if math.isfinite(predicted):
        error = (
            Fraction(float(losses.loss[0])) - Fraction(float(losses.loss[1])) - Fraction(predicted)
        )
        ratio = _to_float(abs(error) / Fraction(tolerance))
    return DirectionResult(part.tensor, step, difference, predicted, tolerance, ratio, note), moved


def _check_directions(
    ctx: _EntryContext,
    grads: Grads,
    allowance: Grads,
    directions: int,
    rng: np.random.Generator,
) -> GradcheckReport:
    # A column whose h is within rounding of 0 at a row that a direction would move is held
    # still: its mask is uncertain, or an exact tie (entries mode checks ties one-sided). Rows
    # with x[b] == 0 never move, whatever the direction.
    nonzero_rows = np.any(ctx.x != 0, axis=1)
    held = np.any(~ctx.mask.certain & nonzero_rows[:, None], axis=0)
    moving = ctx.mask.certain & nonzero_rows[:, None] & ~held[None, :]
    with np.errstate(over="ignore"):
        weights = [
            _up(extra + _up(_gamma(given.size + 2) * np.abs(given)))
            for given, extra in zip(grads, allowance, strict=True)
        ]
    results: list[DirectionResult] = []
    covered = {"w1": np.zeros(ctx.w1.shape, bool), "w2": np.zeros(ctx.w2.shape, bool)}
    for _ in range(directions):
        # Uniform in [-1, 1]: any direction serves, and these draw five times faster than normal.
        v1 = rng.uniform(-1.0, 1.0, ctx.w1.shape)
        v2 = rng.uniform(-1.0, 1.0, ctx.w2.shape)
        v1[:, held] = 0.0
        for part in (
            _Direction("w1", v1, grads.w1, weights[0]),
            _Direction("w2", v2, grads.w2, weights[1]),
        ):
            result, moved = _direction_check(ctx, part, moving)
            results.append(result)
            covered[part.tensor] |= moved
    # What no checked direction moved is skipped, with why: its column was held still, or each
    # direction along its tensor went unchecked (its note says why) or rounded the entry away.
    skipped: list[SkippedEntry] = []
    for tensor, tensor_weights in (("w1", ctx.w1), ("w2", ctx.w2)):
        notes = dict.fromkeys(r.note for r in results if r.tensor == tensor)
        for index in np.argwhere(~covered[tensor]):
            a, j = int(index[0]), int(index[1])
            if tensor == "w1" and held[j]:
                reason = (
                    f"column {j} held still in directional mode: h[b, {j}] is within rounding "
                    "of 0 (an exact tie or an uncertain mask; mode='entries' checks ties)"
                )
            else:
                spacing = f"the step is below float64's spacing at w = {tensor_weights[a, j]:.3g}"
                reason = "no checked direction moved it: " + "; ".join(
                    note or spacing for note in notes
                )
            skipped.append(SkippedEntry(tensor, (a, j), reason))
    worst = {
        t: max((r.ratio for r in results if r.tensor == t and not math.isnan(r.ratio)), default=0.0)
        for t in ("w1", "w2")
    }
    return GradcheckReport(
        passed=all(value <= 1.0 for value in worst.values()),
        worst=worst,
        entries_checked=sum(int(np.count_nonzero(c)) for c in covered.values()),
        entries_skipped=len(skipped),
        skipped=tuple(skipped),
        mode="directional",
        tolerance=None,
        ratio=None,
        tie_entries=(),
        directions=tuple(results),
    )


# -- the public entry point ----------------------------------------------------------------------


def _check_grads(value: object, sizes: Sizes, name: str) -> Grads:
    if not isinstance(value, tuple) or len(value) != len(Grads._fields):
        raise TypeError(
            f"{name} must be twolayer.Grads(w1, w2) shaped like params: w1 (d_in, hidden) and "
            f"w2 (hidden, d_out); got {type(value).__qualname__}"
        )
    w1 = check_array(f"{name}.w1", value[0], "d_in hidden", sizes)
    w2 = check_array(f"{name}.w2", value[1], "hidden d_out", sizes)
    return Grads(w1, w2)


def check_gradients(
    params: Params,
    x: X,
    y: Y,
    grads: Grads,
    *,
    relu_grad_at_zero: float = 1.0,
    mode: str = "entries",
    directions: int = 4,
    rng: np.random.Generator | None = None,
    grad_error_bound: Grads | None = None,
) -> GradcheckReport:
    """Check ``grads`` against finite differences of the oracle's loss, with rigorous tolerances.

    The exact derivative ``D`` of ``loss = sum((relu(x @ w1) @ w2 - y)**2)`` is found from the
    oracle's loss at perturbed weights, and ``|grads - D| <= tolerance`` is required, where the
    tolerance bounds the rounding of the loss evaluations (divided by the step) plus the
    rounding of a float64 gradient computed in any order (or ``grad_error_bound``). Steps stay
    below the certified distance to the nearest ReLU kink.

    ``mode="entries"``: every entry by itself, the derivative fitted exactly through three
    points. At an exact tie ``h[b, j] == 0`` (with ``x[b, a] != 0``) the loss has one-sided
    derivatives only; the entry is judged by the one that ``relu_grad_at_zero`` implies: 1 (the
    seed's) takes the tied units as active, so the right-hand derivative where the tied
    ``x[b, a] > 0`` and the left-hand one where they are ``< 0``; 0 the other side; 0.5 the mean
    of both. Where convention 0 or 1 is no one-sided derivative (tied ``x[b, a]`` of both
    signs), and where ``h`` is within rounding of 0 but not a tie computed exactly, the entry is
    skipped and reported. Cost: a forward pass or two per entry, for small problems.

    ``mode="directional"``: ``directions`` random directions, uniform in ``[-1, 1]`` per entry
    (from ``rng``; by default ``numpy.random.default_rng(DEFAULT_SEED)``, the same every call),
    each split into its ``w1`` and ``w2`` parts (along one tensor the loss is quadratic),
    comparing ``grads . (w+ - w-)`` with ``L(w+) - L(w-)``. Columns of ``w1`` whose ``h`` is
    within rounding of 0 are held still. Cost: a few matrix products of the forward pass's size
    per direction, at any size (the seed's 101,000 parameters: about 30 ms of one core).

    Args:
        params: ``w1 (d_in, hidden)``, ``w2 (hidden, d_out)``: where the gradient is taken.
        x: ``(batch, d_in)``.
        y: ``(batch, d_out)``.
        grads: the gradient to check, ``Grads(w1 (d_in, hidden), w2 (hidden, d_out))``.
        relu_grad_at_zero: the tie convention that ``grads`` declares: 0, 0.5 or 1.
        mode: ``"entries"`` or ``"directional"``.
        directions: the number of random directions in directional mode, >= 1.
        rng: the source of the directions.
        grad_error_bound: a bound on ``grads``' own rounding error per entry, shaped like
            ``grads`` (e.g. for float32 arithmetic); default: float64 in any order.

    Returns:
        A ``GradcheckReport``: ``passed``, ``worst`` ratio per tensor, counts, skipped entries.

    >>> import numpy as np, twolayer
    >>> params = twolayer.Params(np.array([[1.0, -1.0]]), np.array([[2.0], [3.0]]))
    >>> x, y = np.array([[2.0]]), np.array([[1.0]])
    >>> _, grads = twolayer.value_and_grad(params, x, y)
    >>> report = check_gradients(params, x, y, grads)
    >>> report.passed, report.entries_checked
    (True, 4)
    >>> check_gradients(params, x, y, twolayer.Grads(-grads.w1, grads.w2)).passed
    False
    """
    sizes: Sizes = {}
    w1, w2 = check_params(params, sizes)
    x = check_array("x", x, "batch d_in", sizes)
    y = check_array("y", y, "batch d_out", sizes)
    given = _check_grads(grads, sizes, "grads")
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    given_mode: object = mode  # callers without a type checker pass anything
    if not isinstance(given_mode, str) or given_mode not in MODES:
        raise ValueError(f"mode must be 'entries' or 'directional'; got {mode!r}")
    count = check_count("directions", directions, 1)
    generator = np.random.default_rng(DEFAULT_SEED) if rng is None else check_rng(rng)
    extra = (
        None
        if grad_error_bound is None
        else _check_grads(grad_error_bound, sizes, "grad_error_bound")
    )
    if extra is not None and (np.any(extra.w1 < 0) or np.any(extra.w2 < 0)):
        raise ValueError("grad_error_bound must be >= 0 in every entry")

    abs_x = np.abs(x)
    # Sums and squares of non-negative finite numbers, or of inf and NaN: they may overflow to
    # inf (then reported as not finite), never turn invalid.
    with np.errstate(over="ignore"):
        abs_h = _matmul_up(abs_x, np.abs(w1))
    base = _evaluate(w1[None], w2[None], x, y, abs_h[None]).base
    mask = _classify(base, abs_h, x, w1)
    with np.errstate(over="ignore"):
        loss_scale = float(np.sum((np.abs(base.y_pred) + np.abs(y)) ** 2))
    ctx = _EntryContext(w1, w2, x, y, abs_x, abs_h, base, mask, loss_scale)
    allowance = extra or _grad_error_bound(base, w2, x, y, mask.possibly_active)
    if mode == "entries":
        return _check_entries(ctx, given, allowance, rule)
    return _check_directions(ctx, given, allowance, count, generator)
