"""``twolayer.bounds`` against its own error model, evaluated exactly: at least it, barely more.

The model is the module docstring of ``twolayer.bounds`` (in words: docs/verification.md, "The
error-bound model in plain words"): the product bound, the chain through the network, the loss and
update bounds, the subnormal terms and the overflow guards. ``model_bounds`` below evaluates it
independently, in exact rational arithmetic, from the exact step (``twolayer.exact``).
``step_bounds`` evaluates the same formulas in float64 rounded upward, so every bound ``B`` must
satisfy

    M <= B <= M (1 + RELATIVE_SLACK) + ABSOLUTE_SLACK                       (M: the model)

where the slack pays only for the bound's own upward rounding. The first inequality is rigour
against the model; the second says that no term is counted twice or too large, which the
median-tightness test of tests/test_bounds.py cannot see. The cases include ones where a single
kind of term dominates: zero data in float32 (every bound is made of the subnormal terms alone),
toy arithmetics with huge roundoffs or with underflow only, uncertain and given ReLU masks, ties,
residuals that cancel, and values at the overflow guards' thresholds.

Where every operation of the bound's own float64 evaluation is exact (zero data, or toy constants
that are small multiples of float64's smallest subnormal), its allowance for its own rounding is
counted exactly, by hand, from the operation counts that bounds.py documents.
"""

import math
import re
from collections import Counter
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import twolayer
from twolayer import bounds, exact, rounding
from twolayer import strategies as tst

Exact = NDArray[np.object_]  # an array of Fractions

U64 = Fraction(1, 2**53)  # float64's unit roundoff: the bounds are evaluated in float64
ETA64 = Fraction(1, 2**1074)  # float64's smallest subnormal

# The bound's own rounding. Each of its float64 operations is widened upward by at most a factor (1
# - u)**-1 (``rounding.round_up_bound``: a factor (1 - u)**-(n + 2) per n operations, plus the
# rounding of the widening itself) and the magnitudes it starts from are at most 2 ulps above the
# exact ones. Along the longest chain (x @ w1 -> y_pred -> residual -> grad_h_relu -> grad_h ->
# grad_w1 -> w1_next, inner dimensions <= MAX_SIZE) this is fewer than ROUND_UPS steps of 2u each:
# the product bound's 3k + 4 and envelope's k + 2 operations, +4 for their widening, per product,
# five products deep, and the residual's and update's dozen.
MAX_SIZE = 4
ROUND_UPS = 5 * ((3 * MAX_SIZE + 4) + (MAX_SIZE + 2) + 4 + 4) + 24
RELATIVE_SLACK = ROUND_UPS * 2 * U64
# Each widening adds (n + 2) float64 subnormals, and products downstream scale them by at most
# MAX_SIZE * 4 per product, five deep, for float64 data in [-4, 4] (so no wide magnitudes in
# float64 here: scaled by 2**300, this allowance would exceed a bound of subnormal size). The bounds
# of float32 data are at least float32's smallest subnormal, 2**-149: far above it even scaled.
ABSOLUTE_SLACK = ROUND_UPS * (MAX_SIZE * 4 + 1) ** 5 * ETA64

# The zero-data and toy-arithmetic properties have few kinds of case to tell apart: more examples
# than this add time, not cases (the counts at their ends show each kind drawn).
ENOUGH_EXAMPLES = 100

FIELDS = exact.ExactStep._fields  # every value of a step, each of which StepBounds bounds


# -- the model, exactly -------------------------------------------------------------------------


def fractions(values: NDArray[np.float64]) -> Exact:
    """The exact values of float64 ``values``, as an object array of Fractions."""
    out = np.empty(values.shape, dtype=object)
    out.flat[:] = [Fraction(value) for value in values.ravel().tolist()]
    return out


def fractions_or_inf(values: NDArray[np.float64]) -> Exact:
    """``fractions(values)``, with inf kept as the float inf (which compares with Fractions)."""
    return np.where(np.isinf(values), math.inf, fractions(np.where(np.isinf(values), 0.0, values)))


def magnitude(values: Exact) -> Exact:
    return np.asarray(np.abs(values), dtype=object)


def gamma(count: int, unit: Fraction) -> Fraction | None:
    """``count u / (1 - count u)``; None where the model gives up (``count u >= 1/2``)."""
    if count * unit >= Fraction(1, 2):
        return None
    return count * unit / (1 - count * unit)


class Model(NamedTuple):
    """The model's bounds, exact, and where the model says inf (a value could overflow)."""

    values: dict[str, Exact]  # field -> the exact bound (loss: 0-d); 0 where infinite
    infinite: dict[str, NDArray[np.bool_]]  # field -> where the model's bound is inf
    uncertain: NDArray[np.bool_]


class Bound(NamedTuple):
    """One bound of the model: exact value (0 where infinite) and where it is infinite."""

    value: Exact
    infinite: NDArray[np.bool_]


def _largest(arithmetic: bounds.Arithmetic) -> Fraction:
    return Fraction(arithmetic.largest_finite)


def capped(bound: Bound, value: Exact, arithmetic: bounds.Arithmetic) -> Bound:
    """inf where ``|value| + bound`` reaches the overflow threshold (the ``_capped`` guard)."""
    over = np.asarray(magnitude(value) + bound.value >= _largest(arithmetic), dtype=np.bool_)
    return Bound(bound.value, bound.infinite | over)


def product(
    a: Exact,
    a_error: Bound,
    b: Exact,
    b_error: Bound,
    arithmetic: bounds.Arithmetic,
) -> Bound:
    """``E_C`` of ``C = A @ B`` from exact ``A, B`` and the bounds on their errors."""
    half_subnormal = arithmetic.input_subnormal / 2
    abs_a, abs_b = magnitude(a), magnitude(b)
    ea, eb = a_error.value + half_subnormal, b_error.value + half_subnormal
    inner = a.shape[1]
    gamma_k = gamma(inner, arithmetic.accumulator_roundoff)
    rows, cols = a.shape[0], b.shape[1]
    if gamma_k is None:
        return Bound(np.zeros((rows, cols), dtype=object), np.ones((rows, cols), dtype=np.bool_))
    g = (1 + arithmetic.input_roundoff) ** 2 * (1 + gamma_k) * (1 + arithmetic.output_roundoff) - 1
    envelope = (abs_a + ea) @ (abs_b + eb)
    value = (
        g * envelope + ea @ abs_b + abs_a @ eb + ea @ eb + inner * arithmetic.accumulator_subnormal
    )
    # inf in an input's error makes every entry that it reaches inf
    spread = (a_error.infinite.astype(int) @ np.ones((inner, cols), dtype=int)) > 0
    spread |= (np.ones((rows, inner), dtype=int) @ b_error.infinite.astype(int)) > 0
    over = np.asarray((1 + g) * envelope >= _largest(arithmetic), dtype=np.bool_)
    return Bound(np.asarray(value, dtype=object), spread | over)


def no_error(values: Exact) -> Bound:
    return Bound(np.zeros(values.shape, dtype=object), np.zeros(values.shape, dtype=np.bool_))


def update(
    weights: Exact,
    grad: Exact,
    grad_error: Bound,
    learning_rate: float,
    arithmetic: bounds.Arithmetic,
) -> Bound:
    """``E_w_next = ((1+u)**3 - 1)(|w| + lr (|g| + E_g)) + lr E_g + eta (|g| + E_g + 1)``."""
    u, eta, rate = arithmetic.unit_roundoff, arithmetic.smallest_subnormal, Fraction(learning_rate)
    abs_w, grad_envelope = magnitude(weights), magnitude(grad) + grad_error.value
    value = (
        ((1 + u) ** 3 - 1) * (abs_w + rate * grad_envelope)
        + rate * grad_error.value
        + eta * (grad_envelope + 1)
    )
    return capped(Bound(np.asarray(value, dtype=object), grad_error.infinite), weights, arithmetic)


def loss_bound(residual: Exact, residual_error: Bound, arithmetic: bounds.Arithmetic) -> Bound:
    """``E_loss = gamma(n) sum((|r| + E_r)**2) + sum(E_r (2|r| + E_r)) + n eta``."""
    count = residual.size
    gamma_n = gamma(count, arithmetic.unit_roundoff)
    error = residual_error.value
    squares = sum(((residual + error) ** 2).ravel().tolist(), Fraction(0))
    if gamma_n is None or residual_error.infinite.any():
        return Bound(np.array(Fraction(0), dtype=object), np.array(True))
    value = (
        gamma_n * squares
        + sum((error * (2 * residual + error)).ravel().tolist(), Fraction(0))
        + count * arithmetic.smallest_subnormal
    )
    return Bound(np.array(value, dtype=object), np.array(squares + value >= _largest(arithmetic)))


def where(condition: NDArray[np.bool_], yes: Bound, no: Bound) -> Bound:
    return Bound(
        np.asarray(np.where(condition, yes.value, no.value), dtype=object),
        np.asarray(np.where(condition, yes.infinite, no.infinite), dtype=np.bool_),
    )


def plus(bound: Bound, addend: Exact | Fraction) -> Bound:
    return Bound(np.asarray(bound.value + addend, dtype=object), bound.infinite)


def model_bounds(
    case: tst.Case,
    learning_rate: float,
    arithmetic: str,
    reference: exact.ExactStep,
    returned_h: NDArray[np.float64],
    *,
    rule: float = 1.0,
    mask: NDArray[np.bool_] | None = None,
) -> Model:
    """The module docstring's chain, exactly, from the exact step ``reference``; the ReLU mask's
    certainty from ``returned_h``, the bound on ``h`` that ``step_bounds`` returned."""
    model = bounds.ARITHMETIC[arithmetic]
    x, w1, w2 = fractions(case.x), fractions(case.params.w1), fractions(case.params.w2)
    h = reference.h
    e_h = capped(product(x, no_error(x), w1, no_error(w1), model), h, model)
    # The mask is uncertain where |h| <= E_h for the E_h that step_bounds returns (its own
    # rounding allowance included, which matters in float64's subnormal range); compared exactly.
    uncertain = np.asarray(magnitude(h) <= fractions_or_inf(returned_h), dtype=np.bool_)
    if mask is None:
        may_be_active = np.asarray(h > -fractions_or_inf(returned_h), dtype=np.bool_)
        surely_active = ~uncertain & may_be_active
    else:
        may_be_active = surely_active = mask
    zero_h = no_error(h)
    e_h_relu = where(may_be_active, e_h, zero_h)
    h_relu = reference.h_relu
    e_y_pred = capped(product(h_relu, e_h_relu, w2, no_error(w2), model), reference.y_pred, model)
    residual = magnitude(reference.grad_y_pred) / 2
    u = model.unit_roundoff
    e_residual = plus(e_y_pred, u * (residual + e_y_pred.value))
    e_grad_y_pred = capped(
        Bound(2 * e_residual.value, e_residual.infinite), reference.grad_y_pred, model
    )
    e_loss = loss_bound(residual, e_residual, model)
    grad_y_pred = reference.grad_y_pred
    e_grad_w2 = product(h_relu.T, transposed(e_h_relu), grad_y_pred, e_grad_y_pred, model)
    e_grad_h_relu = capped(
        product(grad_y_pred, e_grad_y_pred, w2.T, no_error(w2.T), model),
        reference.grad_h_relu,
        model,
    )
    tie = model.smallest_subnormal / 2 if rule == 0.5 else Fraction(0)
    e_uncertain = plus(e_grad_h_relu, magnitude(reference.grad_h_relu) + tie)
    if mask is None:
        e_grad_h = where(uncertain, e_uncertain, where(surely_active, e_grad_h_relu, zero_h))
    else:
        e_grad_h = where(mask, plus(e_grad_h_relu, tie), zero_h)
    e_grad_w1 = capped(
        product(x.T, no_error(x.T), reference.grad_h, e_grad_h, model), reference.grad_w1, model
    )
    e_grad_w2 = capped(e_grad_w2, reference.grad_w2, model)
    found = {
        "h": e_h,
        "h_relu": e_h_relu,
        "y_pred": e_y_pred,
        "loss": e_loss,
        "grad_y_pred": e_grad_y_pred,
        "grad_w2": e_grad_w2,
        "grad_h_relu": e_grad_h_relu,
        "grad_h": e_grad_h,
        "grad_w1": e_grad_w1,
        "w1_next": update(w1, reference.grad_w1, e_grad_w1, learning_rate, model),
        "w2_next": update(w2, reference.grad_w2, e_grad_w2, learning_rate, model),
    }
    return Model(
        {name: bound.value for name, bound in found.items()},
        {name: np.asarray(bound.infinite, dtype=np.bool_) for name, bound in found.items()},
        uncertain,
    )


def transposed(bound: Bound) -> Bound:
    return Bound(bound.value.T, bound.infinite.T)


# -- the comparison -----------------------------------------------------------------------------


class Verdict(NamedTuple):
    """Fields whose bound is below the model, or above its slack, somewhere; entries compared."""

    below: list[str]
    above: list[str]
    compared: int


def compare(model: Model, step_bounds: bounds.StepBounds) -> Verdict:
    """Check ``M <= B <= M (1 + RELATIVE_SLACK) + ABSOLUTE_SLACK`` on every finite entry, and that
    ``B`` is inf exactly where the model is."""
    below: list[str] = []
    above: list[str] = []
    compared = 0
    for name in FIELDS:
        bound = np.asarray(getattr(step_bounds, name), dtype=np.float64)
        infinite = model.infinite[name]
        if not np.array_equal(np.isinf(bound), infinite):
            (below if np.any(infinite & ~np.isinf(bound)) else above).append(name)
            continue
        value = fractions(np.where(infinite, 0.0, bound))
        exact_model = np.where(infinite, 0, model.values[name])
        if not np.all(value >= exact_model):
            below.append(name)
        elif not np.all(value <= exact_model * (1 + RELATIVE_SLACK) + ABSOLUTE_SLACK):
            above.append(name)
        compared += int(np.count_nonzero(~infinite))
    return Verdict(below, above, compared)


def check(
    case: tst.Case,
    learning_rate: float,
    arithmetic: str,
    *,
    rule: float = 1.0,
    mask: NDArray[np.bool_] | None = None,
    reproducible: bool = False,
) -> tuple[Model, int]:
    """Assert that ``step_bounds`` of ``case`` matches the model; return it and the number of
    finite entries compared. ``reproducible``: the bounds' products in the fixed order."""
    reference = exact.step(
        case.params, case.x, case.y, learning_rate, relu_grad_at_zero=rule, mask=mask
    )
    step_bounds = bounds.step_bounds(
        case.params,
        case.x,
        case.y,
        learning_rate,
        arithmetic=arithmetic,
        relu_grad_at_zero=rule,
        mask=mask,
        reproducible=reproducible,
    )
    model = model_bounds(
        case, learning_rate, arithmetic, reference, step_bounds.h, rule=rule, mask=mask
    )
    verdict = compare(model, step_bounds)
    assert (verdict.below, verdict.above) == ([], []), verdict
    assert np.array_equal(step_bounds.uncertain, model.uncertain)
    return model, verdict.compared


def test_the_comparison_rejects_a_bound_below_the_model_or_beyond_its_slack() -> None:
    w1, w2 = np.array([[0.5, 2.0], [-1.25, 0.5]]), np.array([[1.0], [-3.0]])
    case = tst.Case(np.array([[1.5, -0.75]]), np.array([[0.25]]), twolayer.Params(w1, w2))
    reference = exact.step(case.params, case.x, case.y, 0.125)
    step_bounds = bounds.step_bounds(case.params, case.x, case.y, 0.125)
    model = model_bounds(case, 0.125, "float64", reference, step_bounds.h)
    entries = sum(np.size(getattr(step_bounds, name)) for name in FIELDS)
    assert compare(model, step_bounds) == Verdict([], [], entries)
    for name in FIELDS:
        bound = np.asarray(getattr(step_bounds, name))
        assert np.all(bound > 0), name  # so that scaling it moves every entry
        wrongs = (
            ("below", bound * (1 - 2.0**-40)),
            ("above", bound * (1 + 4 * float(RELATIVE_SLACK))),
            ("above", np.full_like(bound, np.inf)),
        )
        for side, wrong in wrongs:
            fields = {**step_bounds._asdict(), name: wrong if bound.ndim else float(wrong)}
            assert getattr(compare(model, bounds.StepBounds(**fields)), side) == [name]


# -- the properties -----------------------------------------------------------------------------

CASES = {
    "float64": st.one_of(
        tst.cases(),
        tst.tie_cases(),
        tst.cancellation_cases(),
    ),
    "float32": st.one_of(
        tst.float32_cases(),
        tst.bf16_cases(),
        tst.tie_cases(),
        tst.cancellation_cases(grid="float32"),
        tst.wide_magnitude_cases(grid="float32"),
    ),
}


class Masked(NamedTuple):
    """A case and the ReLU mask to take (None: the exact sign of h)."""

    case: tst.Case
    mask: NDArray[np.bool_] | None


def with_masks(cases: st.SearchStrategy[tst.Case]) -> st.SearchStrategy[Masked]:
    """Each case with no mask (the usual step) or with any ReLU mask (a judge's, legal or not:
    the bounds' formulas are the same)."""

    def masks(case: tst.Case) -> st.SearchStrategy[NDArray[np.bool_] | None]:
        shape = (case.x.shape[0], case.params.w1.shape[1])
        flags = st.lists(st.booleans(), min_size=shape[0] * shape[1], max_size=shape[0] * shape[1])
        return st.one_of(
            st.none(), flags.map(lambda drawn: np.array(drawn, dtype=np.bool_).reshape(shape))
        )

    return cases.flatmap(lambda case: st.builds(Masked, st.just(case), masks(case)))


@pytest.mark.parametrize("arithmetic", bounds.ARITHMETICS)
def test_bounds_equal_the_exact_model_within_their_own_rounding(arithmetic: str) -> None:
    seen: Counter[str] = Counter()

    @given(
        drawn=with_masks(CASES["float64" if arithmetic == "float64" else "float32"]),
        learning_rate=tst.learning_rates(),
        rule=st.sampled_from(twolayer.RELU_GRAD_AT_ZERO_CHOICES),
        reproducible=st.booleans(),
    )
    def holds(drawn: Masked, learning_rate: float, rule: float, reproducible: bool) -> None:
        model, compared = check(
            drawn.case,
            learning_rate,
            arithmetic,
            rule=rule,
            mask=drawn.mask,
            reproducible=reproducible,
        )
        seen["cases"] += 1
        seen["reproducible"] += reproducible
        seen["entries"] += compared
        seen["masked"] += drawn.mask is not None
        seen["uncertain"] += int(drawn.mask is None and model.uncertain.any())

    holds()
    assert seen["entries"] > 0, seen
    assert seen["uncertain"] > 0, seen
    assert seen["masked"] > 0, seen
    assert 0 < seen["reproducible"] < seen["cases"], seen


def zero_data_cases() -> st.SearchStrategy[tst.Case]:
    """``x = 0`` and ``y = 0`` with float32 weights: every exact value of the step is 0 but the
    weights, so every bound is made of the model's subnormal terms alone."""
    return tst.float32_cases().map(
        lambda case: tst.Case(np.zeros_like(case.x), np.zeros_like(case.y), case.params)
    )


@pytest.mark.parametrize("arithmetic", ["float32", "tf32", "bf16"])
def test_bounds_of_zero_data_are_the_subnormal_terms(arithmetic: str) -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=min(ENOUGH_EXAMPLES, settings().max_examples))
    @given(
        drawn=with_masks(zero_data_cases()),
        learning_rate=tst.learning_rates(),
        rule=st.sampled_from(twolayer.RELU_GRAD_AT_ZERO_CHOICES),
    )
    def holds(drawn: Masked, learning_rate: float, rule: float) -> None:
        model, _ = check(drawn.case, learning_rate, arithmetic, rule=rule, mask=drawn.mask)
        assert model.uncertain.all()  # |h| = 0 <= E_h everywhere
        seen["cases"] += 1
        seen["masked"] += drawn.mask is not None
        seen["tie 0.5"] += rule == 0.5

    holds()
    assert seen["masked"] > 0, seen
    assert seen["tie 0.5"] > 0, seen


def ones_case(batch: int, d_in: int, hidden: int, d_out: int, value: float) -> tst.Case:
    """Every input equal to ``value``."""
    return tst.Case(
        np.full((batch, d_in), value),
        np.full((batch, d_out), value),
        twolayer.Params(np.full((d_in, hidden), value), np.full((hidden, d_out), value)),
    )


# Arithmetics that no hardware has, to make each kind of term of the model dominate.
# COARSE makes every rounding large: roundoffs all different (a term that takes the wrong one
# shows), an output rounding (0 in the real ones), gammas that give up at small counts (inner
# dimension 4 with 2**-3, a loss of 8 terms with 2**-4) and an overflow threshold that float32
# data in [-4, 4] reach.
COARSE = bounds.Arithmetic(
    unit_roundoff=Fraction(1, 2**4),
    smallest_subnormal=Fraction(1, 2**10),
    input_roundoff=Fraction(1, 2**5),
    input_subnormal=Fraction(1, 2**12),
    accumulator_roundoff=Fraction(1, 2**3),
    accumulator_subnormal=Fraction(1, 2**14),
    output_roundoff=Fraction(1, 2**6),
    largest_finite=2.0**11,
)
# UNDERFLOW_ONLY rounds nothing of normal size (u = 0) but underflows, with subnormals far above
# float64's own: every bound is the model's subnormal terms alone, on data of any magnitude.
UNDERFLOW_ONLY = bounds.Arithmetic(
    unit_roundoff=Fraction(0),
    smallest_subnormal=Fraction(1, 2**1000),
    input_roundoff=Fraction(0),
    input_subnormal=Fraction(1, 2**990),
    accumulator_roundoff=Fraction(0),
    accumulator_subnormal=Fraction(1, 2**995),
    output_roundoff=Fraction(0),
    largest_finite=2.0**100,
)
TOYS = {"coarse": COARSE, "underflow only": UNDERFLOW_ONLY}


@pytest.mark.parametrize("toy", TOYS)
def test_bounds_equal_the_exact_model_of_a_toy_arithmetic(
    toy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(bounds.ARITHMETIC, toy, TOYS[toy])
    seen: Counter[str] = Counter()

    @settings(max_examples=min(ENOUGH_EXAMPLES, settings().max_examples))
    @given(
        drawn=with_masks(st.one_of(tst.float32_cases(), zero_data_cases(), tst.tie_cases())),
        learning_rate=tst.learning_rates(),
        rule=st.sampled_from(twolayer.RELU_GRAD_AT_ZERO_CHOICES),
    )
    # Each kind of every field in every profile and seed, not only where the draw finds it:
    # zeros of size 1 keep every bound finite; d_in = 8 makes COARSE's gamma(8) give up
    # (8 * 2**-3 = 1), so h's bound is inf, and every bound that h's error reaches with it.
    @example(drawn=Masked(ones_case(1, 1, 1, 1, 0.0), None), learning_rate=0.5, rule=1.0)
    @example(drawn=Masked(ones_case(1, 8, 1, 1, 1.0), None), learning_rate=0.5, rule=1.0)
    def holds(drawn: Masked, learning_rate: float, rule: float) -> None:
        model, _ = check(drawn.case, learning_rate, toy, rule=rule, mask=drawn.mask)
        seen["cases"] += 1
        for name in FIELDS:
            seen[f"{name} inf"] += int(model.infinite[name].any())
            seen[f"{name} finite"] += int(not model.infinite[name].all())

    holds()
    kinds = ("inf", "finite") if toy == "coarse" else ("finite",)
    assert all(seen[f"{name} {kind}"] > 0 for name in FIELDS for kind in kinds), seen


# -- the pieces ---------------------------------------------------------------------------------


@given(
    computed=st.one_of(st.just(0.0), st.floats(0.0, 2.0**1000), st.floats(0.0, 2.0**-1000)),
    operations=st.integers(0, 3 * 1000 + 4),
)
def test_rounding_up_covers_the_real_value_and_adds_only_its_allowance(
    computed: float, operations: int
) -> None:
    # rounding.round_up_bound's contract: a value computed with at most n roundings (and n
    # underflows) has a real value T <= (computed + n eta) / (1 - u)**n below the result; the result
    # is fl(fl(computed F) + (n + 2) eta) with F the float above (1 - u)**-(n + 2), so at most that
    # formula with each of its three roundings (F's included) widened by (1 + u) and half an eta.
    n, value = operations, Fraction(computed)
    rounded = Fraction(float(rounding.round_up_bound(np.array(computed), n)))
    real = (value + n * ETA64) / (1 - U64) ** n
    widened = value * (1 + U64) ** 2 / (1 - U64) ** (n + 2) + ETA64 / 2
    allowance = (widened + (n + 2) * ETA64) * (1 + U64)
    assert real <= rounded <= allowance


def test_rounding_up_turns_nan_into_inf() -> None:
    # inf * 0, where a value could overflow, is NaN in float64: the bound must say inf.
    assert rounding.round_up_bound(np.array([np.nan, 1.0]), 1)[0] == np.inf


def test_each_arithmetic_has_its_formats_constants() -> None:
    # unit roundoff = half the machine epsilon; tf32 keeps 10 stored bits and bf16 7, both with
    # float32's exponent range, so their smallest subnormals are 2**(-126 - bits).
    for name, dtype in (("float64", np.float64), ("float32", np.float32)):
        info = np.finfo(dtype)
        model = bounds.ARITHMETIC[name]
        assert model.unit_roundoff == model.accumulator_roundoff == Fraction(float(info.eps)) / 2
        assert model.smallest_subnormal == model.accumulator_subnormal
        assert model.smallest_subnormal == Fraction(float(info.smallest_subnormal))
        assert model.largest_finite == float(info.max)
        assert model.input_roundoff == model.input_subnormal == model.output_roundoff == 0
    for name, stored_bits in (("tf32", 10), ("bf16", 7)):
        model = bounds.ARITHMETIC[name]
        assert (
            model._replace(input_roundoff=Fraction(0), input_subnormal=Fraction(0))
            == bounds.ARITHMETIC["float32"]
        )
        assert model.input_roundoff == Fraction(1, 2 ** (stored_bits + 1))
        assert model.input_subnormal == Fraction(1, 2 ** (126 + stored_bits))


def _h_at_its_own_bound(sign: float) -> tuple[tst.Case, float]:
    """A case whose exact ``h`` is ``sign E_h`` exactly: ``h = a - a + c`` with ``c`` a fixed
    point of ``c -> E_h``, which barely depends on ``c`` (``E_h`` is about ``2 u (2 a + c)``)."""
    x, y, w2 = np.ones((1, 3)), np.zeros((1, 1)), np.ones((1, 1))
    c = 0.0
    for _ in range(10):
        w1 = np.array([[1.0], [-1.0], [sign * c]])
        error_h = float(bounds.step_bounds(twolayer.Params(w1, w2), x, y, 0.0).h[0, 0])
        if error_h == c:
            return tst.Case(x, y, twolayer.Params(w1, w2)), c
        c = error_h
    raise AssertionError("no fixed point")


def test_h_exactly_at_its_bound_is_uncertain_and_exactly_below_minus_it_is_dead() -> None:
    # uncertain is |h| <= E_h, and E_h_relu is E_h where h > -E_h, else 0: both ends included.
    for sign in (1.0, -1.0):
        case, error_h = _h_at_its_own_bound(sign)
        reference = exact.step(case.params, case.x, case.y, 0.0)
        assert reference.h[0, 0] == sign * Fraction(error_h) != 0
        step_bounds = bounds.step_bounds(case.params, case.x, case.y, 0.0)
        assert step_bounds.uncertain[0, 0]
        assert step_bounds.h_relu[0, 0] == (error_h if sign > 0 else 0.0)


@pytest.mark.parametrize("rule", twolayer.RELU_GRAD_AT_ZERO_CHOICES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("learning_rate", [0.0, 1.0])
@pytest.mark.parametrize("storage_roundoff", ["float64", "1"])
def test_bounds_of_zero_float64_data_are_their_own_rounding_allowance(
    rule: float,
    masked: bool,
    learning_rate: float,
    storage_roundoff: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # All data 0 in float64: the model's terms are k eta_acc = k e (e = 2**-1074), and the bound
    # adds its own allowance for rounding: round_up_bound(m e, n) = (m + n + 2) e exactly (m e F
    # rounds back to m e, and (n + 2) e is exact), while every product of a float of size u
    # (g, u, (1 + u)**3 - 1) with a few e, or of e with e, rounds to 0. By hand, from the module's
    # formulas and the operation counts that its comments give (3 k + 4 for a product bound,
    # 3 for the residual, 2 and 1 for grad_h, count + 3 for the loss, 1, 2, 4 in the update):
    #   any product bound, inner dimension k:   (k + (3 k + 4) + 2) e = (4 k + 6) e
    #   residual |y_pred - y| = round_up_bound(0.5 * 0, 1) = 3 e; E_residual = E_y_pred + 5 e
    #   E_grad_y_pred = 2 E_residual; E_loss = (n + (n + 3) + 2) e, n = batch d_out
    #   E_grad_h (uncertain) = E_grad_h_relu + t e + 4 e; with a mask: E_grad_h_relu + t e + 3 e,
    #     t = 1 for the tie factor 0.5 (eta / 2 rounded up is e), else 0
    #   E_w_next = lr E_g + e + 6 e (eta (|g| + E_g + 1) is e, the rest rounds to 0)
    # A storage roundoff u = 1 (products still float64's) makes the u terms exact and visible:
    #   E_residual = E_y_pred + 1 (3 e + E_y_pred) + 5 e; E_loss = inf (gamma(n) gives up);
    #   (1 + u)**3 - 1 = 7: E_w_next = 7 (lr (E_g + 3 e) + 4 e) + lr E_g + e + 6 e
    batch, d_in, hidden, d_out = 2, 3, 4, 1
    e, lr = math.ulp(0.0), learning_rate
    coarse = storage_roundoff == "1"
    arithmetic = bounds.ARITHMETIC["float64"]
    if coarse:
        arithmetic = arithmetic._replace(unit_roundoff=Fraction(1))
    monkeypatch.setitem(bounds.ARITHMETIC, "zero data", arithmetic)
    case = tst.Case(
        np.zeros((batch, d_in)),
        np.zeros((batch, d_out)),
        twolayer.Params(np.zeros((d_in, hidden)), np.zeros((hidden, d_out))),
    )
    mask = np.array([[True, False, True, True], [False, True, True, False]]) if masked else None
    step_bounds = bounds.step_bounds(
        case.params,
        case.x,
        case.y,
        lr,
        arithmetic="zero data",
        relu_grad_at_zero=rule,
        mask=mask,
    )
    on = np.ones((batch, hidden), dtype=np.bool_) if mask is None else mask
    tie = 1 if rule == 0.5 else 0
    e_y_pred = 4 * hidden + 6
    e_residual = 2 * e_y_pred + 8 if coarse else e_y_pred + 5
    e_grad_h = 4 * d_out + 6 + tie + (4 if mask is None else 3)
    e_grad = 4 * batch + 6
    e_next = 7 * (lr * (e_grad + 3) + 4) + lr * e_grad + 7 if coarse else lr * e_grad + 7
    expected = {
        "h": np.full((batch, hidden), 4 * d_in + 6),
        "h_relu": np.where(on, 4 * d_in + 6, 0),
        "y_pred": np.full((batch, d_out), e_y_pred),
        "loss": np.array(math.inf if coarse else 2 * batch * d_out + 5),
        "grad_y_pred": np.full((batch, d_out), 2 * e_residual),
        "grad_w2": np.full((hidden, d_out), e_grad),
        "grad_h_relu": np.full((batch, hidden), 4 * d_out + 6),
        "grad_h": np.where(on, e_grad_h, 0),
        "grad_w1": np.full((d_in, hidden), e_grad),
        "w1_next": np.full((d_in, hidden), e_next),
        "w2_next": np.full((hidden, d_out), e_next),
    }
    for name, units in expected.items():
        assert np.array_equal(np.asarray(getattr(step_bounds, name)), units * e), name


# With no rounding of normal size but an input rounding of exactly 1 (so g = (1 + 1)**2 - 1 = 3)
# and subnormals of a few float64 subnormals e, every operation of a product bound on zeros and
# ones is exact in float64: the bound's own allowance for rounding shows, unit by unit.
PRODUCT_UNITS = bounds.Arithmetic(
    unit_roundoff=Fraction(0),
    smallest_subnormal=ETA64,
    input_roundoff=Fraction(1),
    input_subnormal=6 * ETA64,
    accumulator_roundoff=Fraction(0),
    accumulator_subnormal=ETA64,
    output_roundoff=Fraction(0),
    largest_finite=float(np.finfo(np.float64).max),
)


@pytest.mark.parametrize("inner", [1, 2, 3, 4])
@pytest.mark.parametrize("zero_side", ["a", "b"])
def test_product_bound_adds_its_documented_rounding_allowance_exactly(
    inner: int, zero_side: str
) -> None:
    # A @ B with one factor 0 and the other all ones, no errors given. By hand, in units of e
    # (round_up_bound(m e, n) = (m + n + 2) e; 1 + m e is 1.0 in float64; e * e rounds to 0):
    #   each input's error: half its subnormal, 3, then round_up_bound(3 e, 1) = 6
    #   envelope (|A| + E_A) @ (|B| + E_B) = 6 k, then round_up_bound(., k + 2): 7 k + 4
    #   g envelope + E_A @ |B| + |A| @ E_B + E_A @ E_B + k eta_acc = 3 (7 k + 4) + 6 k + 0 + k,
    #   then round_up_bound(., 3 k + 4): 31 k + 18
    ones, zeros = np.ones((2, inner)), np.zeros((2, inner))
    a, b = (zeros, ones.T) if zero_side == "a" else (ones, zeros.T)
    bound = bounds._product_bound(a, np.zeros_like(a), b, np.zeros_like(b), PRODUCT_UNITS)
    assert np.array_equal(bound, np.full((2, 2), (31 * inner + 18) * math.ulp(0.0)))


@pytest.mark.parametrize(
    "shape",
    [(3, 5, 4), (8, 100, 90), (1, 700, 1)],  # (rows, inner, cols): accumulated, looped, the loss's
)
def test_fixed_order_product_sums_left_to_right_and_its_rounding_is_covered(
    shape: tuple[int, int, int],
) -> None:
    rows, inner, cols = shape
    rng = np.random.default_rng(rows * inner * cols)
    # Magnitudes over many binades, so that the order of the additions shows in the last bits.
    a = np.ldexp(rng.uniform(0.5, 1.0, (rows, inner)), rng.integers(-30, 30, (rows, inner)))
    b = np.ldexp(rng.uniform(0.5, 1.0, (inner, cols)), rng.integers(-30, 30, (inner, cols)))
    product = bounds._fixed_order_product(a, b)
    for i, j in [(0, 0), (rows - 1, cols - 1), (rows // 2, cols // 3)]:
        total = float(a[i, 0] * b[0, j])  # Python floats: one rounding per operation
        for k in range(1, inner):
            total += float(a[i, k] * b[k, j])
        assert product[i, j] == total, (i, j)
    # _up with the product bound's count covers the left-to-right sum's own rounding.
    exact_product = fractions(a) @ fractions(b)
    assert np.all(fractions(rounding.round_up_bound(product, inner + 2)) >= exact_product)
    assert bounds._fixed_order_product(a[:, :0], b[:0]).shape == (rows, cols)


def test_update_bound_adds_its_documented_rounding_allowance_exactly() -> None:
    # A roundoff of 1 makes (1 + u)**3 - 1 = 7, exact. w = 0, g = 0, E_g = m e, lr = 1; by hand, in
    # units of e: |g| + E_g = m, round_up_bound(., 1): m + 3; |w| + lr (|g| + E_g) = m + 3,
    # round_up_bound(., 2): m + 7; 7 (m + 7) + lr E_g + eta (m + 3 + 1.0) (that is e: 1.0 absorbs m
    # + 3 e) = 8 m + 50, then round_up_bound(., 4): 8 m + 56.
    e, m = math.ulp(0.0), 5
    arithmetic = PRODUCT_UNITS._replace(unit_roundoff=Fraction(1))
    zeros = np.zeros((2, 3))
    bound = bounds._update_bound(zeros, zeros, np.full((2, 3), m * e), 1.0, arithmetic)
    assert np.array_equal(bound, np.full((2, 3), (8 * m + 56) * e))


def _at_threshold(largest_finite: float) -> bounds.Arithmetic:
    return PRODUCT_UNITS._replace(largest_finite=largest_finite)


@pytest.mark.parametrize("inner", [1, 3])
def test_a_bound_that_reaches_the_overflow_threshold_exactly_is_inf(
    inner: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "inf where ... reaches the largest finite number": at equality too, and finite one float64
    # subnormal e above. By hand, as in test_product_bound_adds_its_documented_rounding_allowance
    # _exactly (x = 0, w1 = 1): the product's envelope (1 + g)(|A| + E_A) @ (|B| + E_B) is
    # 4 (7 k + 4) e, and the bound on h is (31 k + 18) e with |h| = 0.
    e = math.ulp(0.0)
    ones, zeros = np.ones((2, inner)), np.zeros((2, inner))
    envelope = 4 * (7 * inner + 4)
    for units, expect_inf in ((envelope, True), (envelope + 1, False)):
        arithmetic = _at_threshold(units * e)
        bound = bounds._product_bound(zeros, zeros, ones.T, zeros.T, arithmetic)
        assert np.all(np.isinf(bound)) == expect_inf, units
    params = twolayer.Params(ones.T, np.ones((2, 1)))
    for units, expect_inf in ((31 * inner + 18, True), (31 * inner + 19, False)):
        monkeypatch.setitem(bounds.ARITHMETIC, "threshold", _at_threshold(units * e))
        error_h = bounds.step_bounds(params, zeros, np.zeros((2, 1)), 0.0, arithmetic="threshold")
        assert np.all(np.isinf(error_h.h)) == expect_inf, units


@pytest.mark.parametrize("count", [1, 6])
def test_loss_bound_adds_its_documented_allowance_and_is_inf_at_the_threshold(count: int) -> None:
    # r = 0, E_r = m e, no rounding of normal size (gamma = 0); by hand, in units of e: the
    # envelope's square sum (|r| + E_r) @ (|r| + E_r) underflows, so that squares is
    # round_up_bound(0, n + 2) = n + 4; gamma squares + E_r (2 |r| + E_r) + n eta = n (the rest
    # underflows), then round_up_bound(., n + 3): 2 n + 5. The guard: squares + bound = 3 n + 9
    # reaches the threshold.
    e, m = math.ulp(0.0), 5
    residual, residual_error = np.zeros((1, count)), np.full((1, count), m * e)
    for largest, expected in (
        ((3 * count + 10) * e, (2 * count + 5) * e),
        ((3 * count + 9) * e, math.inf),
    ):
        arithmetic = _at_threshold(largest)
        assert bounds._loss_bound(residual, residual_error, arithmetic) == expected, largest


def test_a_step_that_overflows_float64_gets_inf_bounds_without_warnings() -> None:
    # h[0, 0] = 2**1200 is beyond float64; its bound, and every bound that it reaches (through
    # inf * 0 in y_pred's product as well), is inf, and the rest stays finite. pytest turns any
    # numpy warning into an error: the overflow and the inf * 0 must be expected, not reported.
    x, y = np.array([[2.0**600]]), np.zeros((1, 1))
    params = twolayer.Params(np.array([[2.0**600, 1.0]]), np.array([[0.0], [1.0]]))
    step_bounds = bounds.step_bounds(params, x, y, 0.5)
    assert np.isinf(step_bounds.h[0, 0])
    assert np.isfinite(step_bounds.h[0, 1])
    assert np.isinf(step_bounds.y_pred).all()
    assert math.isinf(step_bounds.loss)


@pytest.mark.parametrize("name", ["x", "y", "params.w1", "params.w2"])
@pytest.mark.parametrize("value", [0.1, 1e300])
def test_data_off_the_float32_grid_is_refused_by_name(name: str, value: float) -> None:
    # 1e300 is beyond float32's range: refused as off the grid, not with an overflow warning.
    arrays = {"x": np.ones((1, 1)), "y": np.ones((1, 1))}
    arrays |= {"params.w1": np.ones((1, 1)), "params.w2": np.ones((1, 1))}
    arrays[name] = np.full((1, 1), value)
    params = twolayer.Params(arrays["params.w1"], arrays["params.w2"])
    message = f"{name} must hold float32 values for arithmetic='tf32'"
    with pytest.raises(ValueError, match=re.escape(message)):
        bounds.step_bounds(params, arrays["x"], arrays["y"], 0.5, arithmetic="tf32")


def test_an_unknown_arithmetic_is_refused_with_the_choices() -> None:
    message = "arithmetic must be one of float64, float32, tf32, bf16; got 'float16'"
    ones = np.ones((1, 1))
    with pytest.raises(ValueError, match=re.escape(message)):
        bounds.step_bounds(twolayer.Params(ones, ones), ones, ones, 0.5, arithmetic="float16")
