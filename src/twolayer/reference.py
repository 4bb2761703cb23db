"""The exact reference of one case: its exact step, the bounds, and which cases apply.

``exact_reference`` computes a case's exact values (``twolayer.exact``) and their rigorous
bounds in an arithmetic (``twolayer.bounds``), with the tightest legal ReLU mask; ``on_grid``,
``in_range`` and ``applies`` say whether a case can judge an implementation in an arithmetic;
the suite lookups (``suite_id``, ``suite_reference``, ``frozen_references``) compute each frozen
case's reference once. Nothing here calls an implementation.
"""

from collections.abc import Iterable, Mapping
from functools import cache
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from twolayer import bounds, exact
from twolayer.cases import CaseInputs, build_cases
from twolayer.network import backward_values, forward
from twolayer.report import OUTPUTS
from twolayer.shapes import Params

_RANGE_MARGIN = 2.0**64  # values keep this far from a format's limits (drawn ones: 2**66)


class Reference(NamedTuple):
    """The exact values of a case, rounded to float64, their bounds, and what the mask needs."""

    case: CaseInputs
    label: str
    exact: exact.LimbStep  # the fast engine's exact values
    bounds: bounds.StepBounds
    rounded: Mapping[str, NDArray[np.float64]]  # each output's exact value rounded to float64
    needs_mask: bool  # some h is within rounding of 0: the implementation's h decides the mask
    moving_ties: bool  # an exact tie of h that moves grad_w1: the convention is put to the test
    rule_free: bool  # no h is 0 or within rounding of it: the same under every tie convention


def case_params(case: CaseInputs) -> Params:
    return Params(case.w1, case.w2)


def _as_bool(values: object) -> NDArray[np.bool_]:
    return np.asarray(values, dtype=np.bool_)


def _finish(
    case: CaseInputs,
    label: str,
    step: exact.LimbStep,
    found: bounds.StepBounds,
    *,
    needs_mask: bool,
    moving_ties: bool,
) -> Reference:
    rounded = {name: exact.round_limbs(getattr(step, name)) for name in OUTPUTS}
    rule_free = not ((exact.signs(step.h) == 0).any() or found.uncertain.any())
    return Reference(case, label, step, found, rounded, needs_mask, moving_ties, rule_free)


def _exact_step(case: CaseInputs, rule: float, mask: NDArray[np.bool_] | None) -> exact.LimbStep:
    return exact.fast_step(case.w1, case.w2, case.x, case.y, case.learning_rate, rule, mask)


def exact_reference(
    case: CaseInputs,
    label: str,
    arithmetic: str,
    relu_grad_at_zero: float,
    h: NDArray[np.float64] | None,
) -> Reference:
    """Compute the exact step of ``case`` and its bounds, with the tightest legal ReLU mask.

    A correct implementation's mask is known wherever ``|h| > E_h`` (the exact sign) and where
    every product ``x[i, k] * w1[k, j]`` is 0 (its ``h`` is exactly 0 too, in any arithmetic, and
    the tie convention applies). Elsewhere, ``|h| <= E_h``, the mask is the implementation's
    choice, read from its ``h`` (where that ``h`` is exactly 0, its tie convention applies);
    without ``h`` the bounds allow for either mask there (looser). The factor 0.5 at a tie is no
    mask, but every value after ``grad_h`` is affine in it and ``h_relu`` is 0 at an exact tie:
    the reference is the mean of the steps with the ties active and inactive.
    """
    params, rate = case_params(case), case.learning_rate
    plain = _exact_step(case, relu_grad_at_zero, None)
    h_signs = exact.signs(plain.h)
    loose = bounds.step_bounds(
        params,
        case.x,
        case.y,
        rate,
        arithmetic=arithmetic,
        relu_grad_at_zero=relu_grad_at_zero,
        reference=plain,
    )
    exact_zero = h_signs == 0
    # Where every product x[i, k] * w1[k, j] is 0, every implementation computes h exactly 0,
    # in any arithmetic: a certain tie, where the convention applies and nothing excuses it.
    ties = (case.x != 0).astype(np.int64) @ (case.w1 != 0).astype(np.int64) == 0
    moving = bool(
        (ties & (exact.signs(plain.grad_h_relu) != 0) & np.any(case.x != 0, axis=1)[:, None]).any()
    )
    open_choice = loose.uncertain & ~ties
    if open_choice.any() and h is None:
        return _finish(case, label, plain, loose, needs_mask=True, moving_ties=moving)
    active = h_signs > 0
    if h is not None and open_choice.any():
        active[open_choice] = h[open_choice] > 0
        own_ties = open_choice & (h == 0)
        if relu_grad_at_zero == 0.5 and (own_ties & ~exact_zero).any():
            # Halved at its own zero of an h that is not exactly 0: neither a mask nor a mean of
            # two is that step, and the loose bounds, which allow for any factor, judge it.
            return _finish(case, label, plain, loose, needs_mask=False, moving_ties=moving)
        ties = ties | own_ties
    if not ties.any() and not open_choice.any():
        return _finish(case, label, plain, loose, needs_mask=False, moving_ties=moving)
    high, low = active | ties, active & ~ties
    if relu_grad_at_zero == 1.0:
        reference = _exact_step(case, relu_grad_at_zero, high)
    elif relu_grad_at_zero == 0.0:
        reference = _exact_step(case, relu_grad_at_zero, low)
    else:
        reference = exact.mean_step(
            _exact_step(case, relu_grad_at_zero, high), _exact_step(case, relu_grad_at_zero, low)
        )
    # With the ties taken as active, the bound of grad_h there is E_grad_h_relu: at least the
    # error of any factor in [0, 1] applied to the computed grad_h_relu.
    tight = bounds.step_bounds(
        params,
        case.x,
        case.y,
        rate,
        arithmetic=arithmetic,
        relu_grad_at_zero=relu_grad_at_zero,
        mask=high,
        reference=reference,
    )
    return _finish(case, label, reference, tight, needs_mask=False, moving_ties=moving)


def check_arithmetic(arithmetic: object) -> str:
    if not isinstance(arithmetic, str) or arithmetic not in bounds.ARITHMETICS:
        raise ValueError(
            f"arithmetic must be one of {', '.join(bounds.ARITHMETICS)}; got {arithmetic!r}"
        )
    return arithmetic


def on_grid(values: NDArray[np.float64], arithmetic: str) -> bool:
    """Whether every value is exactly a number of the arithmetic's input format.

    float64 for ``"float64"``, float32 for ``"float32"`` and ``"tf32"`` (whose data are float32;
    the products round them), bfloat16 for ``"bf16"`` (float32 with the low 16 bits zero).
    """
    if not np.all(np.isfinite(values)):
        return False
    if arithmetic == "float64":
        return True
    with np.errstate(over="ignore"):
        narrowed = values.astype(np.float32)
    if not np.array_equal(narrowed.astype(np.float64), values):
        return False
    if arithmetic == "bf16":
        return bool(np.all(narrowed.view(np.uint32) & 0xFFFF == 0))
    return True


def format_range(arithmetic: str) -> tuple[float, float]:
    info = np.finfo(np.float64 if arithmetic == "float64" else np.float32)
    return float(info.smallest_normal) * _RANGE_MARGIN, float(info.max) / _RANGE_MARGIN


def in_range(case: CaseInputs, arithmetic: str) -> bool:
    """Whether every input and value of the step keeps ``2**64`` from the format's limits.

    The bounds assume that nothing overflows and that the rounding is relative (no underflow
    beyond the small ``eta`` terms). The values of the step are taken from the float64 oracle,
    close enough to the exact ones for a margin of ``2**64``.
    """
    low, high = format_range(arithmetic)
    params = case_params(case)
    with np.errstate(all="ignore"):
        activations = forward(params, case.x)
        if not all(np.isfinite(a).all() for a in activations):
            return False  # beyond the range (and backward takes finite values only)
        values = backward_values(params, case.x, case.y, activations)
        arrays = [case.x, case.y, case.w1, case.w2, np.array([case.learning_rate])]
        arrays += [*activations, *values]
        magnitudes = np.abs(np.concatenate([np.ravel(a) for a in arrays]))
    magnitudes = magnitudes[magnitudes != 0]
    return bool(np.all(np.isfinite(magnitudes) & (magnitudes >= low) & (magnitudes <= high)))


def applies(case: CaseInputs, arithmetic: str) -> bool:
    """Whether ``case`` can judge an implementation in ``arithmetic``: on its grid and range."""
    values = (case.x, case.y, case.w1, case.w2, np.array([case.learning_rate]))
    return all(on_grid(v, arithmetic) for v in values) and in_range(case, arithmetic)


@cache
def suite_by_id() -> Mapping[int, CaseInputs]:
    return {case.id: case for case in build_cases()}


def suite_id(case: CaseInputs) -> int | None:
    """The id of the frozen suite's case that has ``case``'s inputs, if there is one."""
    candidates = [suite_by_id().get(case.id)] if case.id else suite_by_id().values()
    names = ("x", "y", "w1", "w2")
    for known in candidates:
        if (
            known is not None
            and known.learning_rate == case.learning_rate
            and all(getattr(known, n).shape == getattr(case, n).shape for n in names)
            and all(np.array_equal(getattr(known, n), getattr(case, n)) for n in names)
        ):
            return known.id
    return None


@cache
def _suite_applies(case_id: int, arithmetic: str) -> bool:
    return applies(suite_by_id()[case_id], arithmetic)


@cache
def suite_reference(case_id: int, arithmetic: str, relu_grad_at_zero: float) -> Reference:
    """The reference of a case of the frozen suite, computed once (the seed's dims take a while).

    A case whose ``h`` has no zero, exact or within rounding, is the same under every tie
    convention, and is computed once for all three.
    """
    if relu_grad_at_zero != 1.0:
        shared = suite_reference(case_id, arithmetic, 1.0)
        if shared.rule_free:
            return shared
    case = suite_by_id()[case_id]
    return exact_reference(case, f"case {case_id}", arithmetic, relu_grad_at_zero, None)


def frozen_references(
    cases: Iterable[CaseInputs], arithmetic: str, relu_grad_at_zero: float
) -> tuple[tuple[Reference, ...], int]:
    """The references of the cases that apply to ``arithmetic``, and the number skipped."""
    references: list[Reference] = []
    skipped = 0
    for case in cases:
        label = f"case {case.id}"
        known = suite_id(case)
        if known is not None and _suite_applies(known, arithmetic):
            reference = suite_reference(known, arithmetic, relu_grad_at_zero)
            references.append(reference._replace(case=case, label=label))
        elif known is None and applies(case, arithmetic):
            references.append(exact_reference(case, label, arithmetic, relu_grad_at_zero, None))
        else:
            skipped += 1
    return tuple(references), skipped


def is_suite_case(case: CaseInputs) -> bool:
    """Whether ``case`` is the frozen suite's case of its id, inputs and all."""
    known = {known.id: known for known in build_cases()}.get(case.id)
    if known is None or known.learning_rate != case.learning_rate:
        return False
    names = ("x", "y", "w1", "w2")
    return all(np.array_equal(getattr(known, name), getattr(case, name)) for name in names)
