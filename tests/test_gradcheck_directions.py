"""Directional mode of ``check_gradients`` reports what it did: counts, skips, steps, directions.

Hand-built cases whose answers are derived by hand in their comments: every entry is either
judged or skipped with its reason (checked + skipped == all entries), the directions are draws
of ``rng.uniform(-1, 1)`` per entry, reproducible from the seed, and the step along a direction
is the one documented: a quarter of the distance to the nearest kink per unit of ``|x| @ |v|``,
or ``sqrt(loss_scale / |J v|**2)`` where that is smaller. Directions are scripted with a
``Generator`` whose ``uniform`` returns chosen values, so that the steps can be derived exactly.
"""

import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from unhooking import unhooked

import twolayer
from twolayer import gradcheck
from twolayer.gradcheck import DEFAULT_SEED, GradcheckReport, SkippedEntry, check_gradients

U = 2.0**-53
# The step's bounds are computed rounding up: E_h, |x| @ |v| (a rounded-up product) and the
# loss scale each carry a relative slack of a few dozen units of roundoff, never more.
STEP_SLACK = 256 * U
HELD = (
    "column {j} held still in directional mode: h[b, {j}] is within rounding of 0 "
    "(an exact tie or an uncertain mask; mode='entries' checks ties)"
)
NOT_FINITE = (
    "no checked direction moved it: the loss at w +- s v or its bound is not finite in float64"
)


class Scripted(np.random.Generator):
    """A generator whose ``uniform`` returns the given arrays in turn, and records its calls."""

    def __init__(self, values: list[list[list[float]]]) -> None:
        super().__init__(np.random.PCG64(0))
        self.values: Iterator[list[list[float]]] = iter(values)
        self.calls: list[tuple[float, float, tuple[int, ...]]] = []

    def uniform(self, low: object = 0.0, high: object = 1.0, size: object = None) -> Any:
        # Any: the overloads of Generator.uniform return a float or an array.
        assert isinstance(low, float)
        assert isinstance(high, float)
        assert isinstance(size, tuple)
        self.calls.append((low, high, size))
        value = np.array(next(self.values), dtype=np.float64)
        assert value.shape == size
        return value


def directional(
    w1: list[list[float]],
    w2: list[list[float]],
    x: list[list[float]],
    y: list[list[float]],
    grads: twolayer.Grads | None = None,
    rng: np.random.Generator | None = None,
    directions: int = 4,
) -> GradcheckReport:
    params = twolayer.Params(np.array(w1), np.array(w2))
    xs, ys = np.array(x), np.array(y)
    if grads is None:
        _, grads = twolayer.value_and_grad(params, xs, ys)
    return check_gradients(
        params, xs, ys, grads, mode="directional", directions=directions, rng=rng
    )


def zeros_like(w1: list[list[float]], w2: list[list[float]]) -> twolayer.Grads:
    return twolayer.Grads(np.zeros(np.shape(w1)), np.zeros(np.shape(w2)))


# -- every entry judged or skipped, with its reason ----------------------------------------------


def test_an_entry_that_every_step_rounds_away_is_skipped_with_its_reason() -> None:
    # h = [2.35e-184, 1]: the kink of unit 0 limits the w1 step to about 2.35e-184 / 4 per unit
    # of |v|, so w1[0, 1] = 1 + s v rounds back to 1 in every direction (float64's spacing at 1
    # is 2.2e-16). w1[0, 0] moves, and w2 moves by steps near 1.
    report = directional([[2.35e-184, 1.0]], [[1.0], [0.0]], [[1.0]], [[0.0]])
    assert report.passed
    assert all(d.note == "" for d in report.directions)  # every direction was checked
    assert report.skipped == (
        SkippedEntry(
            "w1",
            (0, 1),
            "no checked direction moved it: the step is below float64's spacing at w = 1",
        ),
    )
    assert (report.entries_checked, report.entries_skipped) == (3, 1)


def test_entries_that_no_direction_could_check_are_skipped_with_the_directions_reasons() -> None:
    # y_pred = 1e200 * 1e150 overflows: no loss along any direction is finite.
    w1, w2 = [[1e200, 1.0]], [[1e150], [1.0]]
    report = directional(w1, w2, [[1.0]], [[0.0]], zeros_like(w1, w2))
    entries = [("w1", (0, 0)), ("w1", (0, 1)), ("w2", (0, 0)), ("w2", (1, 0))]
    assert report.skipped == tuple(SkippedEntry(t, e, NOT_FINITE) for t, e in entries)
    assert (report.entries_checked, report.entries_skipped) == (0, 4)
    assert report.passed  # vacuously: nothing was judged
    assert report.worst == {"w1": 0.0, "w2": 0.0}


def test_the_reasons_of_a_tensor_are_those_of_its_directions() -> None:
    # h = 1e10 * [1, -1] and y_pred = 1e310 overflow. w2 = 1e300 is far above any step (the
    # step falls back to 1 where the loss is not finite): w2 +- 1 == w2, so no w2 entry moves.
    w1, w2 = [[1.0, -1.0]], [[1e300], [1e300]]
    report = directional(w1, w2, [[1e10]], [[0.0]], zeros_like(w1, w2), directions=2)
    unmoved = "no checked direction moved it: step 1 moved no entry: below float64's spacing"
    assert report.skipped == (
        SkippedEntry("w1", (0, 0), NOT_FINITE),
        SkippedEntry("w1", (0, 1), NOT_FINITE),
        SkippedEntry("w2", (0, 0), unmoved),
        SkippedEntry("w2", (1, 0), unmoved),
    )
    assert [d.note for d in report.directions] == [
        "the loss at w +- s v or its bound is not finite in float64",
        "step 1 moved no entry: below float64's spacing",
    ] * 2


def test_a_column_at_a_tie_is_held_still_and_skipped_with_its_reason() -> None:
    # h = [0, 1]: column 0 is an exact tie, held still; w1[0, 1] and w2 are judged.
    w1, w2 = [[0.0, 1.0]], [[1.0], [1.0]]
    report = directional(w1, w2, [[1.0]], [[0.0]])
    assert report.passed
    assert report.skipped == (SkippedEntry("w1", (0, 0), HELD.format(j=0)),)
    assert (report.entries_checked, report.entries_skipped) == (3, 1)
    # A held column never moves: a gradient that is 1 there (and 0 elsewhere) predicts 0.
    at_tie = twolayer.Grads(np.array([[1.0, 0.0]]), np.zeros((2, 1)))
    held = directional(w1, w2, [[1.0]], [[0.0]], at_tie)
    assert all(d.predicted == 0.0 for d in held.directions)
    beside = twolayer.Grads(np.array([[0.0, 1.0]]), np.zeros((2, 1)))
    moving = directional(w1, w2, [[1.0]], [[0.0]], beside)
    assert all(d.predicted != 0.0 for d in moving.directions if d.tensor == "w1")


def test_when_every_column_is_held_the_w1_directions_say_so() -> None:
    report = directional([[0.0]], [[1.0]], [[1.0]], [[1.0]])
    assert report.skipped == (SkippedEntry("w1", (0, 0), HELD.format(j=0)),)
    assert (report.entries_checked, report.entries_skipped) == (1, 1)
    notes = [d.note for d in report.directions if d.tensor == "w1"]
    assert notes == ["every column of w1 is held still (see skipped)"] * 4


def test_a_zero_h_in_a_row_where_x_is_zero_holds_nothing() -> None:
    # h = [[1], [0]]: row 1 has x == 0, so no direction moves its h; the column is not held.
    report = directional([[1.0]], [[1.0]], [[1.0], [0.0]], [[0.0], [0.0]])
    assert report.passed
    assert (report.entries_checked, report.entries_skipped, report.skipped) == (2, 0, ())


def test_a_gradient_whose_prediction_overflows_fails_and_does_not_crash() -> None:
    # Along w2 the step is about sqrt(loss_scale) / |h| = 1e10 / 1e-10 = 1e20, so
    # grads . (w+ - w-) = 1e290 * 2e20 v overflows, while its tolerance, about 3u of it, does not.
    grads = twolayer.Grads(np.zeros((1, 1)), np.full((1, 1), 1e290))
    report = directional([[1e-10]], [[1.0]], [[1.0]], [[1e10]], grads)
    w2 = [d for d in report.directions if d.tensor == "w2"]
    assert all(math.isinf(d.predicted) and math.isfinite(d.tolerance) for d in w2)
    assert all(d.ratio == math.inf for d in w2)
    assert not report.passed


# -- the directions ------------------------------------------------------------------------------


def drawn_directions(seed: int | None, count: int) -> np.ndarray:
    """The entries of the directions drawn from ``default_rng(seed)`` (None: the default rng).

    Read where the weights are 0, so that ``w+ - w- = 2 fl(s v)`` exactly: ``w1[1, :]`` meets
    ``x[:, 1] == 0`` (it moves no h) and ``w2 == 0``. A gradient that is 1 at one such entry and
    0 elsewhere predicts ``2 fl(s v)``, so ``v = predicted / (2 s)`` up to one rounding.
    Returns shape ``(count, 2, 3)``: direction, tensor (w1 row 1, w2 column 0), entry.
    """
    w1, w2 = [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], [[0.0], [0.0], [0.0]]
    found = np.zeros((count, 2, 3))
    for tensor in range(2):
        for entry in range(3):
            grads = zeros_like(w1, w2)
            (grads.w1[1] if tensor == 0 else grads.w2[:, 0])[entry] = 1.0
            rng = None if seed is None else np.random.default_rng(seed)
            report = directional(w1, w2, [[1.0, 0.0]], [[1.0]], grads, rng, count)
            along = [d for d in report.directions if d.tensor == ("w1", "w2")[tensor]]
            assert all(d.note == "" for d in along)
            found[:, tensor, entry] = [d.predicted / (2 * d.step) for d in along]
    return found


def test_directions_are_uniform_in_minus_one_one_and_reproducible_from_the_seed() -> None:
    count = 20
    drawn = drawn_directions(7, count)
    assert np.array_equal(drawn, drawn_directions(7, count))
    assert not np.array_equal(drawn, drawn_directions(8, count))
    assert np.array_equal(drawn_directions(None, 3), drawn_directions(DEFAULT_SEED, 3))
    for tensor in range(2):
        values = drawn[:, tensor]
        assert np.all(np.abs(values) <= 1.0)
        # 60 uniform draws: each quarter of [-1, 1] holds some (a miss has odds 4 (3/4)**60).
        quarters = np.histogram(values, bins=4, range=(-1.0, 1.0))[0]
        assert np.all(quarters > 0), quarters


def test_directions_are_drawn_from_rng_uniform_over_minus_one_one_per_entry() -> None:
    rng = Scripted([[[0.5, -1.0]], [[1.0], [0.25]]])
    report = directional([[1.0, 1.0]], [[1.0], [1.0]], [[1.0]], [[0.0]], rng=rng, directions=1)
    assert rng.calls == [(-1.0, 1.0, (1, 2)), (-1.0, 1.0, (2, 1))]
    assert len(report.directions) == 2


# -- the step: below the nearest kink, else least rounding ---------------------------------------


def gamma(k: int) -> Fraction:
    return k * Fraction(U) / (1 - k * Fraction(U))


def step_of(report: GradcheckReport, tensor: str) -> Fraction:
    (step,) = {d.step for d in report.directions if d.tensor == tensor}
    return Fraction(step)


def assert_near(value: Fraction, expected: Fraction) -> None:
    assert abs(value / expected - 1) <= STEP_SLACK, float(value / expected)


def test_the_w1_step_is_a_quarter_of_the_distance_to_the_nearest_kink() -> None:
    # h = x w1 = [0.5, -2]; v = [1, 0.5]: h moves by s |x| |v| = [s, s / 2], so the kinks are
    # 0.5 and 4 steps away; a quarter of the nearer: s = 1/8, less E_h = gamma(1) |h| and the
    # rounding up of |x| @ |v|. The curvature's step, sqrt(0.25) / (1 * 1) = 0.5, is larger.
    rng = Scripted([[[1.0, 0.5]], [[1.0], [1.0]]])
    report = directional([[0.5, -2.0]], [[1.0], [1.0]], [[1.0]], [[0.0]], rng=rng, directions=1)
    step = step_of(report, "w1")
    assert step <= Fraction(1, 8) * (1 - gamma(1))  # the certified distance, never more
    assert_near(step, Fraction(1, 8))
    assert report.passed


def test_the_w1_step_is_the_curvatures_where_that_is_smaller() -> None:
    # h = [1, 1, -1] (unit 2 inactive), y_pred = 1 - 15/16 + 0 = 1/16, y = 1/32: loss_scale =
    # (|y_pred| + |y|)**2 = (3/32)**2. |J v| <= ((|x| @ |v|) * active) @ |w2| = 0.5 + 15/16 =
    # 23/16, so s = (3/32) / (23/16) = 3/46; the kinks allow min(1 / 0.5, 1, 1) / 4 = 1/4.
    rng = Scripted([[[0.5, 1.0, 1.0]], [[1.0], [1.0], [1.0]]])
    w1, w2 = [[1.0, 1.0, -1.0]], [[1.0], [-15 / 16], [4.0]]
    report = directional(w1, w2, [[1.0]], [[1 / 32]], rng=rng, directions=1)
    assert_near(step_of(report, "w1"), Fraction(3, 46))
    assert report.passed


def test_the_w2_step_is_sqrt_loss_scale_over_the_curvature_bound() -> None:
    # h = 1 + (-1 + 2**-49) = 2**-49 exactly, with |fl(h) - h| <= E_h = gamma(2) (|x| @ |w1|)
    # = gamma(2) (2 - 2**-49): |J v| <= (|h| + E_h) |v| with v = 1, and loss_scale = (|y_pred|
    # + |y|)**2 = (2**-49 + 1)**2, so s = (1 + 2**-49) / (2**-49 + E_h). E_h is a quarter of h.
    rng = Scripted([[[1.0], [1.0]], [[1.0]]])
    w1 = [[1.0], [-1.0 + 2.0**-49]]
    report = directional(w1, [[1.0]], [[1.0, 1.0]], [[1.0]], rng=rng, directions=1)
    h = Fraction(2**-49)
    e_h = gamma(2) * (2 - h)
    assert_near(step_of(report, "w2"), (1 + h) / (h + e_h))
    assert report.passed


def test_a_held_column_does_not_limit_the_step_or_the_safety_of_the_others() -> None:
    # Column 0 is held (h[0, 0] == 0, a tie); h[1, 0] = 1e30 * 2**-1073 ~ 1e-293 is of certain
    # sign but tiny. Held, column 0 never moves, so its h[1, 0] cannot cross 0 and must not
    # stop the directions: the w1 directions are checked, column 1's entries judged.
    w1 = [[0.0, 1.0], [2.0**-1073, 1.0]]
    report = directional(w1, [[1.0], [1.0]], [[1.0, 0.0], [0.0, 1e30]], [[0.0], [0.0]])
    assert all(d.note == "" for d in report.directions)
    assert report.skipped == tuple(SkippedEntry("w1", (a, 0), HELD.format(j=0)) for a in range(2))
    assert (report.entries_checked, report.entries_skipped) == (4, 2)
    assert report.passed


def test_an_entry_skipped_for_several_reasons_names_each() -> None:
    # As in the first test, w1[0, 1] = 1 rounds away in the checked direction. The second is
    # 2**-1000 along w1: its curvature term, about 2**-2000, underflows to 0, so the step falls
    # back to 1, and s v = 2**-1000 is below the spacing of both weights: it moves nothing.
    tiny = 2.0**-1000
    rng = Scripted([[[1.0, 1.0]], [[1.0], [1.0]], [[tiny, tiny]], [[1.0], [1.0]]])
    report = directional(
        [[2.35e-184, 1.0]], [[1.0], [0.0]], [[1.0]], [[0.0]], rng=rng, directions=2
    )
    assert report.skipped == (
        SkippedEntry(
            "w1",
            (0, 1),
            "no checked direction moved it: the step is below float64's spacing at w = 1; "
            "step 1 moved no entry: below float64's spacing",
        ),
    )


def test_an_entry_moved_by_any_checked_direction_is_judged() -> None:
    # The second direction leaves w1[0, 1] where it is (v = 0 there); the first moved it.
    rng = Scripted([[[1.0, 1.0]], [[1.0], [1.0]], [[1.0, 0.0]], [[1.0], [1.0]]])
    report = directional([[1.0, 1.0]], [[1.0], [1.0]], [[1.0]], [[0.0]], rng=rng, directions=2)
    assert (report.entries_checked, report.entries_skipped, report.skipped) == (4, 0, ())


def test_a_huge_given_error_bound_overflows_only_where_it_must() -> None:
    # A declared bound of 1.7e308 in w1 keeps a finite tolerance along w1 (step < 1); the
    # largest float in w2 overflows as it is rounded up: reported along w2, not judged.
    huge = np.finfo(np.float64).max
    bound = twolayer.Grads(np.full((1, 1), 1.7e308), np.full((1, 1), huge))
    params = twolayer.Params(np.ones((1, 1)), np.ones((1, 1)))
    x, y = np.ones((1, 1)), np.zeros((1, 1))
    _, grads = twolayer.value_and_grad(params, x, y)
    report = check_gradients(params, x, y, grads, mode="directional", grad_error_bound=bound)
    for d in report.directions:
        if d.tensor == "w1":
            assert (d.note, d.ratio) == ("", 0.0)
        else:
            assert d.note == "the loss at w +- s v or its bound is not finite in float64"
    assert report.passed


# -- the tolerance and the verdict ---------------------------------------------------------------

# The loss terms of the tolerance are a few u times losses below 16, under 1e-13; against a
# weight term above 1e-4 they are below 2**-30 of it.
DOMINATED = 2.0**-30


def test_a_wrong_gradients_own_rounding_term_is_gamma_n_plus_2_times_its_size() -> None:
    # grads = 2**40 everywhere (1 entry per tensor) and no other error allowed: the tolerance
    # is (gamma(n + 2) |grads| + 0) |w+ - w-| with n = 1, up to the loss terms, and
    # |w+ - w-| = |predicted| / 2**40 exactly (a product by a power of two).
    big = 2.0**40
    grads = twolayer.Grads(np.full((1, 1), big), np.full((1, 1), big))
    params = twolayer.Params(np.ones((1, 1)), np.ones((1, 1)))
    x, y = np.ones((1, 1)), np.zeros((1, 1))
    none = twolayer.Grads(np.zeros((1, 1)), np.zeros((1, 1)))
    report = check_gradients(params, x, y, grads, mode="directional", grad_error_bound=none)
    for d in report.directions:
        formula = gamma(3) * Fraction(big) * abs(Fraction(d.predicted)) / Fraction(big)
        assert formula <= Fraction(d.tolerance) <= formula * (1 + DOMINATED)
    assert not report.passed


def tolerance_knob_report(extra: float) -> GradcheckReport:
    """A gradient off by 1 in ``w2``; ``extra``, its declared error bound, moves only the
    tolerance, not the error."""
    params = twolayer.Params(np.ones((1, 1)), np.ones((1, 1)))
    x, y = np.ones((1, 1)), np.zeros((1, 1))
    _, grads = twolayer.value_and_grad(params, x, y)
    off = twolayer.Grads(grads.w1, grads.w2 + 1.0)
    bound = twolayer.Grads(np.zeros((1, 1)), np.full((1, 1), extra))
    return check_gradients(
        params, x, y, off, mode="directional", directions=1, grad_error_bound=bound
    )


def test_a_direction_fails_just_above_its_tolerance_and_passes_at_it() -> None:
    # Bisect the declared bound to where the w2 ratio crosses 1: below it fails, and a ratio of
    # exactly 1 (or the least above) decides by "a value above 1 fails".
    low, high = 0.0, 4.0  # a bound of 4 per unit of |w+ - w-| covers the error of 1
    assert tolerance_knob_report(low).worst["w2"] > 2.0
    assert tolerance_knob_report(high).worst["w2"] < 1.0
    seen_between = 0
    for _ in range(80):
        middle = (low + high) / 2
        report = tolerance_knob_report(middle)
        worst = report.worst["w2"]
        assert report.passed == (worst <= 1.0)
        seen_between += 1.0 < worst <= 2.0
        if worst > 1.0:
            low = middle
        else:
            high = middle
    assert tolerance_knob_report(high).worst["w2"] == 1.0  # the bisection ends exactly at 1
    assert tolerance_knob_report(high).passed
    assert seen_between > 0


# -- the entry point's arguments -----------------------------------------------------------------

# Only jaxtyping's import-hook wrapper is stripped (its beartype check would refuse these calls
# first, in its own words); mutmut's trampoline, which switches a mutant on, must stay.
unhooked_check: Callable[..., GradcheckReport] = unhooked(gradcheck.check_gradients)
PARAMS = twolayer.Params(np.ones((1, 2)), np.ones((2, 1)))
X, Y = np.ones((1, 1)), np.zeros((1, 1))
GRADS = twolayer.value_and_grad(PARAMS, X, Y)[1]
NOT_GRADS = (
    "{} must be twolayer.Grads(w1, w2) shaped like params: w1 (d_in, hidden) and w2 (hidden, "
    "d_out); got {}"
)


def test_four_directions_by_default_and_one_at_least() -> None:
    assert len(unhooked_check(PARAMS, X, Y, GRADS, mode="directional").directions) == 2 * 4
    assert (
        len(unhooked_check(PARAMS, X, Y, GRADS, mode="directional", directions=1).directions) == 2
    )


def negative_in(tensor: str) -> twolayer.Grads:
    """A declared error bound of 1, less 2 in one entry of ``tensor``."""
    bound = twolayer.Grads(np.ones((1, 2)), np.ones((2, 1)))
    (bound.w1 if tensor == "w1" else bound.w2)[0, 0] = -1.0
    return bound


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"grads": list(GRADS)}, TypeError, NOT_GRADS.format("grads", "list")),
        ({"grads": (*GRADS, GRADS.w1)}, TypeError, NOT_GRADS.format("grads", "tuple")),
        (
            {"grad_error_bound": (GRADS.w1,)},
            TypeError,
            NOT_GRADS.format("grad_error_bound", "tuple"),
        ),
        ({"mode": "fast"}, ValueError, "mode must be 'entries' or 'directional'; got 'fast'"),
        ({"mode": 1}, ValueError, "mode must be 'entries' or 'directional'; got 1"),
        ({"directions": 0}, ValueError, "directions must be an integer >= 1; got 0"),
        ({"directions": 1.0}, TypeError, "directions must be an integer >= 1; got float 1.0"),
        (
            {"grad_error_bound": negative_in("w1")},
            ValueError,
            "grad_error_bound must be >= 0 in every entry",
        ),
        (
            {"grad_error_bound": negative_in("w2")},
            ValueError,
            "grad_error_bound must be >= 0 in every entry",
        ),
    ],
)
def test_bad_arguments_are_refused_in_their_own_words(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    arguments: dict[str, object] = {"grads": GRADS, **kwargs}
    with pytest.raises(error) as raised:
        unhooked_check(PARAMS, X, Y, **arguments)
    assert str(raised.value) == message


# -- the tolerance, against its formula evaluated exactly ----------------------------------------

Matrix = list[list[Fraction]]
# The tolerance is computed rounding up: some forty operations, each rounded up by at most 16
# units of roundoff relative (and 2**-1072 absolute, far below these terms): under 2**-40.
TOLERANCE_SLACK = 2.0**-40


def exact(array: np.ndarray) -> Matrix:
    return [[Fraction(float(v)) for v in row] for row in np.atleast_2d(array)]


def product(a: Matrix, b: Matrix) -> Matrix:
    return [
        [
            sum((p * q for p, q in zip(row, col, strict=True)), Fraction(0))
            for col in zip(*b, strict=True)
        ]
        for row in a
    ]


def absolute(a: Matrix) -> Matrix:
    return [[abs(v) for v in row] for row in a]


def combine(a: Matrix, b: Matrix, f: Callable[[Fraction, Fraction], Fraction]) -> Matrix:
    return [[f(p, q) for p, q in zip(r, s, strict=True)] for r, s in zip(a, b, strict=True)]


def scaled(c: Fraction, a: Matrix) -> Matrix:
    return [[c * v for v in row] for row in a]


def total(a: Matrix) -> Fraction:
    return sum((v for row in a for v in row), Fraction(0))


def loss_bound(
    w1: np.ndarray, w2: np.ndarray, x: np.ndarray, y: np.ndarray, abs_h: Matrix
) -> Fraction:
    """``_evaluate``'s documented bound on ``|fl(loss) - loss|`` at ``(w1, w2)``, exactly:
    ``E_h = gamma(d_in) abs_h``, ``E_ypred = gamma(hidden) |h_relu| @ |w2| + E_h @ |w2|``,
    ``E_d = E_ypred + u |d|``, ``gamma(m) sum(d**2) + sum(E_d (2 |d| + E_d))``."""
    forward = twolayer.forward(twolayer.Params(w1, w2), x)
    abs_w2 = absolute(exact(w2))
    e_h = scaled(gamma(x.shape[1]), abs_h)
    e_ypred = combine(
        scaled(gamma(w2.shape[0]), product(absolute(exact(forward.h_relu)), abs_w2)),
        product(e_h, abs_w2),
        lambda p, q: p + q,
    )
    d = absolute(combine(exact(forward.y_pred), exact(y), lambda p, q: p - q))
    e_d = combine(e_ypred, d, lambda e, r: e + Fraction(U) * r)
    squares = total(combine(d, d, lambda p, q: p * q))
    return gamma(y.size) * squares + total(combine(e_d, d, lambda e, r: e * (2 * r + e)))


def tolerance_formula(
    params: twolayer.Params,
    x: np.ndarray,
    y: np.ndarray,
    grads: twolayer.Grads,
    tensor: str,
    v: np.ndarray,
    step: float,
) -> Fraction:
    """``_direction_check``'s documented tolerance along ``v`` (no declared error bound)."""
    w1, w2 = params
    weights = w1 if tensor == "w1" else w2
    plus, minus = weights + step * v, weights - step * v
    span = absolute(exact(plus - minus))
    given = grads.w1 if tensor == "w1" else grads.w2
    weight_term = total(
        combine(scaled(gamma(given.size + 2), absolute(exact(given))), span, lambda p, q: p * q)
    )
    abs_x, abs_w2 = absolute(exact(x)), absolute(exact(w2))
    abs_h = product(abs_x, absolute(exact(w1)))
    forward = twolayer.forward(params, x)
    e_h = scaled(gamma(x.shape[1]), abs_h)
    u = Fraction(U)
    if tensor == "w2":
        h_relu = combine(absolute(exact(forward.h_relu)), e_h, lambda p, q: p + q)
        ends = loss_bound(w1, plus, x, y, abs_h) + loss_bound(w1, minus, x, y, abs_h)
        rounding = scaled(
            u, combine(absolute(exact(plus)), absolute(exact(minus)), lambda p, q: p + q)
        )
        curvature = total(
            combine(product(h_relu, span), product(h_relu, rounding), lambda p, q: p * q)
        )
        return ends + curvature + weight_term
    # |x| @ |w1+- - w1| <= (s (1 + u) |x| @ |v| + 2**-1075 sum(|x|) + u |x| @ |w1|) / (1 - u)
    moves = product(abs_x, absolute(exact(v)))
    underflow = [[Fraction(2.0**-1075) * sum(row)] * w1.shape[1] for row in abs_x]
    move = [
        [
            (Fraction(step) * (1 + u) * m + e + u * h) / (1 - u)
            for m, e, h in zip(*rows, strict=True)
        ]
        for rows in zip(moves, underflow, abs_h, strict=True)
    ]
    moved_h = combine(abs_h, move, lambda p, q: p + q)
    active = [[Fraction(0) if h < 0 else Fraction(1) for h in row] for row in exact(forward.h)]
    ends = loss_bound(plus, w2, x, y, moved_h) + loss_bound(minus, w2, x, y, moved_h)
    j_span = product(combine(scaled(Fraction(2), move), active, lambda p, q: p * q), abs_w2)
    j_rounding = product(combine(scaled(2 * u, moved_h), active, lambda p, q: p * q), abs_w2)
    return ends + total(combine(j_span, j_rounding, lambda p, q: p * q)) + weight_term


FORMULA_CASES = [
    # h = [1.25, 0.25, -1.5]: two active units and one certainly inactive; y_pred = 1.25 - 0.5
    # = 0.75 against y = 3, so that the losses at w+ and w- differ. The directions are dyadic.
    (
        [[1.0, 0.5]],
        [[1.0, -0.25, -1.0], [0.5, 1.0, -1.0]],
        [[1.0], [-2.0], [3.0]],
        [[3.0]],
        [[0.5, -1.0, 1.0], [1.0, 0.25, 1.0]],
        [[1.0], [-0.5], [0.75]],
    ),
    # h = [2.35e-184, 1]: the kink of unit 0 allows steps near 1e-184, so w1[0, 1] = 1 does
    # not move and its bound on |x| @ |w1+- - w1| is its rounding, u |x| @ |w1|, alone; y = 1
    # = y_pred, so the loss bounds are of the same size as the curvature term.
    ([[1.0]], [[2.35e-184, 1.0]], [[1.0], [1.0]], [[1.0]], [[1.0, 0.5]], [[1.0], [1.0]]),
]


@pytest.mark.parametrize(("x", "w1", "w2", "y", "v1", "v2"), FORMULA_CASES)
def test_the_tolerance_is_its_documented_formula_rounded_up(
    x: list[list[float]],
    w1: list[list[float]],
    w2: list[list[float]],
    y: list[list[float]],
    v1: list[list[float]],
    v2: list[list[float]],
) -> None:
    params = twolayer.Params(np.array(w1), np.array(w2))
    xs, ys = np.array(x), np.array(y)
    _, grads = twolayer.value_and_grad(params, xs, ys)
    none = twolayer.Grads(np.zeros_like(params.w1), np.zeros_like(params.w2))
    rng = Scripted([v1, v2])
    report = check_gradients(
        params, xs, ys, grads, mode="directional", directions=1, rng=rng, grad_error_bound=none
    )
    assert report.passed
    for d, v in zip(report.directions, (np.array(v1), np.array(v2)), strict=True):
        assert d.note == ""
        # difference = fl(L(w+)) - fl(L(w-)) and predicted = grads . (w+ - w-), w+- = fl(w +- s v)
        index = 0 if d.tensor == "w1" else 1
        plus, minus = params[index] + d.step * v, params[index] - d.step * v
        ends = [
            twolayer.loss(twolayer.forward(params._replace(**{d.tensor: w}), xs).y_pred, ys)
            for w in (plus, minus)
        ]
        assert d.difference == ends[0] - ends[1]
        assert d.predicted == float(grads[index].ravel().dot((plus - minus).ravel()))
        formula = tolerance_formula(params, xs, ys, grads, d.tensor, v, d.step)
        assert formula <= Fraction(d.tolerance) <= formula * (1 + Fraction(TOLERANCE_SLACK)), (
            d.tensor,
            float(Fraction(d.tolerance) / formula - 1),
        )


def test_a_move_beyond_float64s_range_is_reported_and_warns_nothing() -> None:
    # x = 1e308 twice: h = [5e307, -5e307] is finite, but |x| @ |v| = 2e308 overflows (and
    # times the inactive unit's 0 it is NaN). The kink then allows no step at all: s = 0; along
    # w2 the loss overflows. Nothing is judged, every entry says why, and numpy warns nothing
    # (pytest turns warnings into errors).
    w1, w2 = [[1.0, -1.0], [-0.5, 0.5]], [[1.0], [1.0]]
    rng = Scripted([[[1.0, 1.0], [1.0, 1.0]], [[1.0], [1.0]]])
    report = directional(w1, w2, [[1e308, 1e308]], [[0.0]], zeros_like(w1, w2), rng, 1)
    unmoved = "step 0 moved no entry: below float64's spacing"
    not_finite = "the loss at w +- s v or its bound is not finite in float64"
    assert [d.note for d in report.directions] == [unmoved, not_finite]
    # What an unchecked direction reports: its step, its prediction (0: grads are 0), its
    # tolerance and loss difference as computed (not finite), and no ratio.
    assert [(d.tensor, d.step, d.predicted) for d in report.directions] == [
        ("w1", 0.0, 0.0),
        ("w2", 1.0, 0.0),
    ]
    assert all(math.isinf(d.tolerance) and math.isnan(d.ratio) for d in report.directions)
    assert not any(math.isfinite(d.difference) for d in report.directions)
    assert report.skipped == tuple(
        SkippedEntry("w1", (a, j), f"no checked direction moved it: {unmoved}")
        for a in range(2)
        for j in range(2)
    ) + tuple(
        SkippedEntry("w2", (j, 0), f"no checked direction moved it: {not_finite}") for j in range(2)
    )
    assert (report.entries_checked, report.entries_skipped) == (0, 6)


def test_a_problem_beyond_float64s_range_warns_nothing_in_either_mode() -> None:
    # |x| @ |w1| = 2e308 and y**2 = 1e400 overflow: nothing can be judged, and numpy warns
    # nothing (pytest turns warnings into errors).
    params = twolayer.Params(np.ones((2, 1)), np.ones((1, 1)))
    x, y = np.full((1, 2), 1e308), np.full((1, 1), 1e200)
    grads = twolayer.Grads(np.zeros((2, 1)), np.zeros((1, 1)))
    for mode in ("entries", "directional"):
        report = check_gradients(params, x, y, grads, mode=mode)
        assert (report.entries_checked, report.entries_skipped) == (0, 3)


def test_a_direction_whose_least_move_could_cross_a_kink_is_not_judged() -> None:
    # h = 2**-900, moved by w1[1, 0] with x[0, 1] = 2**200: the quarter-distance step is
    # 2**-900 / 2**200 / 4 = 2**-1102, below float64's range, and even the least representable
    # move, 2**-1074 * 2**200 = 2**-874, would carry h across 0. So no w1 direction is taken.
    w1, w2 = [[2.0**-900], [0.0]], [[1.0]]
    rng = Scripted([[[1.0], [1.0]], [[1.0]]])
    report = directional(w1, w2, [[1.0, 2.0**200]], [[0.0]], zeros_like(w1, w2), rng, 1)
    across = "the step would move some h across 0"
    first = report.directions[0]
    assert (first.tensor, first.step, first.note) == ("w1", 0.0, across)
    assert math.isnan(first.ratio)
    assert report.skipped == tuple(
        SkippedEntry("w1", (a, 0), f"no checked direction moved it: {across}") for a in range(2)
    )
    assert (report.entries_checked, report.entries_skipped) == (1, 2)


def test_a_move_bound_equal_to_the_margin_is_not_judged() -> None:
    # Found by a search over subnormal w1: here the certified move of h[1, 1] (an upper bound)
    # equals its certified distance to the kink (a lower bound), both 21 units of 2**-1074, so
    # h could reach 0. A direction is judged only when the move stays strictly below the margin.
    unit = 2.0**-1074
    w1, w2 = [[-8 * unit, -56 * unit]], [[0.0, -1.0], [3.0, 0.0]]
    x, y = [[0.0], [-0.5]], [[2.0, 1.0], [3.0, -3.0]]
    rng = Scripted([[[0.34405353893198787, 0.40297774590445945]], [[0.9, 0.6], [0.2, -0.8]]])
    report = directional(w1, w2, x, y, rng=rng, directions=1)
    across = "the step would move some h across 0"
    first = report.directions[0]
    assert (first.tensor, first.note) == ("w1", across)
    assert SkippedEntry("w1", (0, 1), f"no checked direction moved it: {across}") in report.skipped
