"""``check_gradients`` accepts every correct gradient and rejects wrong ones.

The checker is itself checked: fed the oracle's gradients (``twolayer.value_and_grad``) it must
pass on every drawn case, in both modes, for every tie convention (a false alarm is a bug); fed
a wrong gradient it must fail wherever its own tolerance leaves room to see the error. "Room to
see" is decided from the report of the *correct* gradient, never by a bare number: a change of
``c`` in an entry with tolerance ``t`` moves its error by ``|c|``, so a change ``|c| > 2 t``
takes a correct entry (error <= t) past ``t``. Each rejection property counts how often such
room existed and asserts that it did on some drawn case, so no property passes vacuously. The
counts are existence checks, not ratios: a share that the derandomized ``ci`` draw happens to
reach (say 60%) is no property of the strategies, and other profiles and seeds fall below it.
"""

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from shared_runs import NEGATIVE_TIE
from unhooking import unhooked

import twolayer
from twolayer import strategies as tst
from twolayer.gradcheck import MODES, GradcheckReport, check_gradients

RULES = st.sampled_from(twolayer.RELU_GRAD_AT_ZERO_CHOICES)
RULE_PAIRS = st.permutations(twolayer.RELU_GRAD_AT_ZERO_CHOICES).map(lambda p: (p[0], p[1]))
DETECTABLE = 2.0  # a change of more than DETECTABLE * tolerance must be rejected (see above)
RELATIVE_CHANGE = 1e-3  # "one entry off by 0.1%"


def _scaled(case: tst.Case, ex: int, e1: int, e2: int, ey: int) -> tst.Case:
    x, y, (w1, w2) = case
    return tst.Case(
        np.ldexp(x, ex), np.ldexp(y, ey), twolayer.Params(np.ldexp(w1, e1), np.ldexp(w2, e2))
    )


# Each tensor scaled by its own power of two, from about 1e-48 to 1e48 (y: 1e-144 to 1e144),
# on top of float64 values in [-4, 4] with subnormals: h and y_pred stay below 2**500, so the
# loss stays finite, while products underflow freely.
SCALE = st.integers(-160, 160)
WIDE_CASES = st.builds(_scaled, tst.cases(), SCALE, SCALE, SCALE, st.integers(-480, 480))
GENERAL_CASES = tst.cases()
ALL_CASES = st.one_of(GENERAL_CASES, tst.tie_cases(), tst.integer_cases(), WIDE_CASES)


def oracle(case: tst.Case, rule: float = 1.0) -> twolayer.Grads:
    _, grads = twolayer.value_and_grad(case.params, case.x, case.y, relu_grad_at_zero=rule)
    return grads


def check(
    case: tst.Case, grads: twolayer.Grads, rule: float = 1.0, mode: str = "entries"
) -> GradcheckReport:
    return check_gradients(case.params, case.x, case.y, grads, relu_grad_at_zero=rule, mode=mode)


def tolerances(report: GradcheckReport) -> twolayer.Grads:
    assert report.tolerance is not None  # entries mode
    return report.tolerance


def with_entry(
    grads: twolayer.Grads, tensor: str, entry: tuple[int, int], value: float
) -> twolayer.Grads:
    w1, w2 = np.array(grads.w1), np.array(grads.w2)
    (w1 if tensor == "w1" else w2)[entry] = value
    return twolayer.Grads(w1, w2)


def assert_every_entry_is_judged_or_skipped_with_a_reason(report: GradcheckReport) -> None:
    tol = tolerances(report)
    assert report.ratio is not None
    skipped = {(s.tensor, s.entry) for s in report.skipped}
    assert len(skipped) == report.entries_skipped == len(report.skipped)
    assert all(s.reason for s in report.skipped)
    for tensor, t, r in zip(("w1", "w2"), tol, report.ratio, strict=True):
        for raw in np.ndindex(t.shape):
            entry = (int(raw[0]), int(raw[1]))
            is_skipped = (tensor, entry) in skipped
            assert np.isinf(t[entry]) == is_skipped
            assert np.isnan(r[entry]) == is_skipped
    assert set(report.tie_entries) <= {
        (int(a), int(j)) for a, j in zip(*np.nonzero(np.isfinite(tol.w1)), strict=True)
    }


# -- no false alarm -----------------------------------------------------------------------------


def test_the_oracles_gradients_pass_entry_by_entry_and_skips_are_reported() -> None:
    seen: Counter[str] = Counter()

    @given(case=ALL_CASES, rule=RULES)
    def accepts(case: tst.Case, rule: float) -> None:
        report = check(case, oracle(case, rule), rule)
        assert report.passed, report
        assert report.entries_checked + report.entries_skipped == case.params.w1.size + (
            case.params.w2.size
        )
        assert_every_entry_is_judged_or_skipped_with_a_reason(report)
        seen["cases"] += 1
        seen["checked"] += report.entries_checked
        seen["skipped"] += report.entries_skipped
        seen["at ties"] += len(report.tie_entries)

    accepts()
    # Not vacuous: entries are judged, and entries at ties are judged, not only skipped.
    assert seen["checked"] > 0, seen
    assert seen["at ties"] > 0, seen


def test_the_oracles_gradients_pass_in_directional_mode() -> None:
    seen: Counter[str] = Counter()

    @given(case=ALL_CASES, rule=RULES)
    def accepts(case: tst.Case, rule: float) -> None:
        report = check(case, oracle(case, rule), rule, mode="directional")
        assert report.passed, report
        seen["cases"] += 1
        for direction in report.directions:
            if "held still" in direction.note:
                # Every column of w1 sits at a tie or an uncertain mask, and says so: each entry
                # of w1 is skipped for that reason (an entry of w2 may be skipped too, rounded
                # away by a weight far larger than the step, e.g. w2 = 2**54).
                held = {
                    s.entry for s in report.skipped if s.tensor == "w1" and "held still" in s.reason
                }
                assert len(held) == case.params.w1.size, report.skipped
                assert report.entries_skipped >= case.params.w1.size
                seen["held still"] += 1
            else:
                seen["directions"] += 1
                seen["checked"] += not np.isnan(direction.ratio)
        seen["entries moved"] += report.entries_checked

    accepts()
    # Not vacuous: directions that move something were judged, and they moved entries.
    assert seen["checked"] > 0, seen
    assert seen["entries moved"] > 0, seen


def test_directional_mode_covers_all_seed_parameters_and_sees_a_scaled_gradient() -> None:
    rng = np.random.default_rng(0)
    x, y = twolayer.init_data(rng, twolayer.SEED_DIMS)
    params = twolayer.init_params(rng, twolayer.SEED_DIMS)
    _, grads = twolayer.value_and_grad(params, x, y)
    report = check_gradients(params, x, y, grads, mode="directional")
    assert report.passed, report.worst
    assert report.entries_checked == params.w1.size + params.w2.size == 101_000
    assert report.entries_skipped == 0
    assert all(not np.isnan(d.ratio) for d in report.directions)
    for wrong in (
        twolayer.Grads(-grads.w1, grads.w2),
        twolayer.Grads(grads.w1, -grads.w2),
        twolayer.Grads(grads.w1 * (1 + RELATIVE_CHANGE), grads.w2),
        twolayer.Grads(grads.w1, grads.w2 * (1 + RELATIVE_CHANGE)),
    ):
        assert not check_gradients(params, x, y, wrong, mode="directional").passed


# -- rejections ---------------------------------------------------------------------------------


def test_one_entry_off_by_a_thousandth_is_rejected() -> None:
    seen: Counter[str] = Counter()

    @given(case=st.one_of(GENERAL_CASES, tst.integer_cases(), WIDE_CASES), rule=RULES)
    def rejects(case: tst.Case, rule: float) -> None:
        grads = oracle(case, rule)
        report = check(case, grads, rule)
        seen["cases"] += 1
        seen["nonzero"] += bool(grads.w1.any() or grads.w2.any())
        # The entry whose tolerance is smallest against its size, among the judged ones.
        best: tuple[float, str, tuple[int, int]] | None = None
        for tensor, grad, tol in zip(("w1", "w2"), grads, tolerances(report), strict=True):
            for index in zip(*np.nonzero(np.isfinite(tol) & (grad != 0)), strict=True):
                entry = (int(index[0]), int(index[1]))
                room = abs(grad[entry]) * RELATIVE_CHANGE / tol[entry]
                if best is None or room > best[0]:
                    best = (room, tensor, entry)
        if best is None or best[0] <= DETECTABLE:
            return
        _, tensor, entry = best
        value = float((grads.w1 if tensor == "w1" else grads.w2)[entry])
        wrong = check(case, with_entry(grads, tensor, entry, value * (1 + RELATIVE_CHANGE)), rule)
        assert not wrong.passed
        ratio = wrong.ratio
        assert ratio is not None
        assert (ratio.w1 if tensor == "w1" else ratio.w2)[entry] > 1
        seen["rejected"] += 1

    rejects()
    assert seen["rejected"] > 0, seen


def test_a_sign_flip_is_rejected_in_both_modes() -> None:
    seen: Counter[str] = Counter()

    @given(case=ALL_CASES, rule=RULES)
    def rejects(case: tst.Case, rule: float) -> None:
        grads = oracle(case, rule)
        report = check(case, grads, rule)
        flipped = twolayer.Grads(-grads.w1, -grads.w2)
        seen["cases"] += 1
        seen["nonzero"] += bool(grads.w1.any() or grads.w2.any())
        # Flipping moves an entry's error by 2 |g|.
        visible = [
            np.isfinite(tol) & (2 * np.abs(grad) > DETECTABLE * tol)
            for grad, tol in zip(grads, tolerances(report), strict=True)
        ]
        if any(v.any() for v in visible):
            assert not check(case, flipped, rule).passed
            seen["rejected entrywise"] += 1
        directional = check(case, grads, rule, mode="directional")
        if any(
            not np.isnan(d.ratio) and 2 * abs(d.predicted) > DETECTABLE * d.tolerance
            for d in directional.directions
        ):
            assert not check(case, flipped, rule, mode="directional").passed
            seen["rejected directionally"] += 1

    rejects()
    assert seen["rejected entrywise"] > 0, seen
    assert seen["rejected directionally"] > 0, seen


def square_dims(square: str) -> st.SearchStrategy[twolayer.Dims]:
    """Dims with ``w1`` square (``d_in == hidden``) or ``w2`` square (``hidden == d_out``)."""
    size = st.integers(1, 4)
    if square == "w1":
        return size.flatmap(lambda n: st.builds(twolayer.Dims, size, st.just(n), st.just(n), size))
    return size.flatmap(lambda n: st.builds(twolayer.Dims, size, size, st.just(n), st.just(n)))


@pytest.mark.parametrize("tensor", ["w1", "w2"])
def test_a_transposed_gradient_is_rejected(tensor: str) -> None:
    seen: Counter[str] = Counter()

    @given(case=tst.cases(square_dims(tensor)), rule=RULES)
    def rejects(case: tst.Case, rule: float) -> None:
        grads = oracle(case, rule)
        report = check(case, grads, rule)
        index = 0 if tensor == "w1" else 1
        grad, tol = grads[index], tolerances(report)[index]
        transposed = (
            twolayer.Grads(grad.T.copy(), grads.w2)
            if tensor == "w1"
            else twolayer.Grads(grads.w1, grad.T.copy())
        )
        seen["cases"] += 1
        # A transposition that moves some entry by more than 0.1% of the largest one.
        seen["differs"] += bool(
            np.max(np.abs(grad - grad.T)) > RELATIVE_CHANGE * np.max(np.abs(grad))
        )
        if np.any(np.isfinite(tol) & (np.abs(grad.T - grad) > DETECTABLE * tol)):
            assert not check(case, transposed, rule).passed
            seen["rejected"] += 1

    rejects()
    # A 1 x 1 tensor or a symmetric gradient is its own transpose: those cases cannot count.
    assert seen["rejected"] > 0, seen


def test_the_wrong_tie_convention_is_rejected_where_a_tie_matters() -> None:
    seen: Counter[str] = Counter()

    @given(case=tst.tie_cases(), rules=RULE_PAIRS)
    def rejects(case: tst.Case, rules: tuple[float, float]) -> None:
        rule, wrong_rule = rules
        right = oracle(case, rule)
        wrong = oracle(case, wrong_rule)
        report = check(case, right, rule)
        seen["cases"] += 1
        seen["differs"] += bool(np.any(right.w1 != wrong.w1))
        tol = tolerances(report).w1
        matters = [
            entry
            for entry in report.tie_entries
            if abs(wrong.w1[entry] - right.w1[entry]) > DETECTABLE * tol[entry]
        ]
        if matters:
            wrong_report = check(case, wrong, rule)
            assert not wrong_report.passed
            assert wrong_report.ratio is not None
            assert any(wrong_report.ratio.w1[entry] > 1 for entry in matters)
            seen["rejected"] += 1

    rejects()
    assert seen["rejected"] > 0, seen


# -- honest reports -----------------------------------------------------------------------------


def near_tie_case() -> tst.Case:
    """``h = 1 + 1e-17 - 1``: exactly 1e-17 > 0, computed as 0 in float64's left-to-right order."""
    x = np.array([[1.0, 1.0, 1.0]])
    w1 = np.array([[1.0], [1e-17], [-1.0]])
    return tst.Case(x, np.array([[1.0]]), twolayer.Params(w1, np.array([[2.0]])))


def test_an_uncertain_mask_is_skipped_and_named() -> None:
    case = near_tie_case()
    for rule in twolayer.RELU_GRAD_AT_ZERO_CHOICES:
        report = check(case, oracle(case, rule), rule)
        assert report.passed
        assert {s.entry for s in report.skipped if s.tensor == "w1"} == {(0, 0), (1, 0), (2, 0)}
        assert all("uncertain" in s.reason for s in report.skipped)
        assert report.entries_checked == 1  # w2[0, 0]
        directional = check(case, oracle(case, rule), rule, mode="directional")
        assert directional.passed
        assert {s.entry for s in directional.skipped} == {(0, 0), (1, 0), (2, 0)}


def test_ties_of_both_signs_are_skipped_under_conventions_0_and_1_only() -> None:
    # h[:, 0] == 0 for both samples; x[:, 0] has both signs.
    x = np.array([[1.0], [-2.0]])
    case = tst.Case(x, np.array([[1.0], [3.0]]), twolayer.Params(np.zeros((1, 1)), np.ones((1, 1))))
    for rule in twolayer.RELU_GRAD_AT_ZERO_CHOICES:
        report = check(case, oracle(case, rule), rule)
        assert report.passed
        if rule == 0.5:
            assert report.tie_entries == ((0, 0),)
        else:
            assert [s.entry for s in report.skipped] == [(0, 0)]
            assert "both signs" in report.skipped[0].reason


def test_a_tie_is_judged_by_the_one_sided_derivative_of_its_convention() -> None:
    # h = x w1 = 0 with x = 1: the right derivative sees the unit active, the left one not.
    case = tst.Case(
        np.array([[1.0]]), np.array([[1.0]]), twolayer.Params(np.zeros((1, 1)), np.ones((1, 1)))
    )
    # L(t) = (max(t, 0) - 1)**2: right derivative -2, left derivative 0.
    expected = {1.0: -2.0, 0.0: 0.0, 0.5: -1.0}
    for rule, derivative in expected.items():
        assert oracle(case, rule).w1[0, 0] == derivative
        for other in expected.values():
            given_grads = twolayer.Grads(np.array([[other]]), oracle(case, rule).w2)
            assert check(case, given_grads, rule).passed == (other == derivative)


def test_an_overflowing_loss_is_skipped_not_judged() -> None:
    # y_pred = 1e200 * 1e150 overflows; the gradient offered is finite (and wrong).
    params = twolayer.Params(np.array([[1e200, 1.0]]), np.array([[1e150], [1.0]]))
    case = tst.Case(np.array([[1.0]]), np.array([[0.0]]), params)
    grads = twolayer.Grads(np.zeros((1, 2)), np.zeros((2, 1)))
    entries = check(case, grads)
    assert (entries.entries_checked, entries.entries_skipped) == (0, 4)
    assert all("not finite" in s.reason for s in entries.skipped)
    directional = check(case, grads, mode="directional")
    assert directional.entries_checked == 0
    assert all("not finite" in d.note for d in directional.directions)


@given(
    case=st.one_of(tst.cases(), tst.tie_cases()),
    mode=st.sampled_from(MODES),
    wrong=st.booleans(),
)
@example(case=NEGATIVE_TIE, mode="directional", wrong=False)  # a held column: skipped entries
@example(case=NEGATIVE_TIE, mode="entries", wrong=True)  # a tie entry, and a failing report
def test_a_gradcheck_report_agrees_with_its_own_details(
    case: tst.Case, mode: str, wrong: bool
) -> None:
    """A report's summary is read off its details, in both modes, passing or failing.

    Every entry is checked or skipped with a reason; ``worst`` is a judged ratio of the details
    (or 0.0) and no judged ratio exceeds it; ``passed`` holds exactly when no ratio exceeds 1.
    """
    _, grads = twolayer.value_and_grad(case.params, case.x, case.y)
    if wrong:  # a sign flip, so that failing reports are drawn too
        grads = twolayer.Grads(-grads.w1, grads.w2)
    report = check_gradients(case.params, case.x, case.y, grads, mode=mode)
    assert report.mode == mode
    counted = report.entries_checked + report.entries_skipped
    # Every entry is accounted for, in both modes: checked, or skipped with its reason.
    assert counted == grads.w1.size + grads.w2.size
    assert all(entry.tensor in {"w1", "w2"} and entry.reason for entry in report.skipped)
    # The details' ratios per tensor: one a direction in directional mode, one an entry else.
    ratios: dict[str, list[float]] = {}
    if mode == "directional":
        assert (report.tolerance, report.ratio, report.tie_entries) == (None, None, ())
        assert all(direction.tensor in {"w1", "w2"} for direction in report.directions)
        for tensor in ("w1", "w2"):
            ratios[tensor] = [d.ratio for d in report.directions if d.tensor == tensor]
    else:
        assert report.directions == ()
        assert report.ratio is not None
        for tensor, ratio in zip(("w1", "w2"), report.ratio, strict=True):
            ratios[tensor] = ratio.ravel().tolist()
    # worst is stated by what it is, not recomputed as the code does: a ratio that the details
    # hold (or 0.0 where they hold none), and no judged ratio exceeds it; a nan is not judged.
    assert set(report.worst) == {"w1", "w2"}
    for tensor, details in ratios.items():
        judged = [r for r in details if not math.isnan(r)]
        assert report.worst[tensor] in [*judged, 0.0]
        assert all(r <= report.worst[tensor] for r in judged)
    # passed is read off the details, independently of worst: no judged ratio above 1.
    assert report.passed == (not any(r > 1 for rs in ratios.values() for r in rs))


def test_the_reports_examples_skip_and_fail_as_they_say() -> None:
    """On NEGATIVE_TIE, directional mode skips w1's held entry, and entries mode names the tie.

    So the examples of the property above are what their comments say: a report with a skipped
    entry, and a failing report with a tie entry.
    """
    case = NEGATIVE_TIE
    _, grads = twolayer.value_and_grad(case.params, case.x, case.y)
    held = check_gradients(case.params, case.x, case.y, grads, mode="directional")
    assert [entry.tensor for entry in held.skipped] == ["w1"]
    flipped = twolayer.Grads(-grads.w1, grads.w2)
    failed = check_gradients(case.params, case.x, case.y, flipped, mode="entries")
    assert not failed.passed
    assert failed.tie_entries == ((0, 0),)


# -- validation ---------------------------------------------------------------------------------

# Unhooked: the test run's beartype wrapper would reject these calls first with its own message.
unhooked_check: Callable[..., GradcheckReport] = unhooked(check_gradients)


def bad(value: object) -> Any:
    """Hand a deliberately ill-typed argument past mypy."""
    return value


CASE = tst.Case(np.ones((2, 3)), np.ones((2, 1)), twolayer.Params(np.ones((3, 4)), np.ones((4, 1))))
GRADS = oracle(CASE)


def test_a_good_call_reports() -> None:
    report = unhooked_check(CASE.params, CASE.x, CASE.y, GRADS)
    assert report.passed
    assert report.entries_checked == 16


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"grads": bad([GRADS.w1, GRADS.w2])}, TypeError, r"grads must be twolayer\.Grads"),
        (
            {"grads": twolayer.Grads(GRADS.w1.T.copy(), GRADS.w2)},
            ValueError,
            r"grads\.w1 must have shape \(d_in, hidden\) = \(3, 4\)",
        ),
        (
            {"grads": twolayer.Grads(GRADS.w1.astype(np.float32), GRADS.w2)},
            TypeError,
            r"grads\.w1 must have dtype float64",
        ),
        ({"mode": "fast"}, ValueError, r"mode must be 'entries' or 'directional'; got 'fast'"),
        ({"directions": 0}, ValueError, r"directions must be an integer >= 1; got 0"),
        ({"rng": bad(0)}, TypeError, r"rng must be a numpy\.random\.Generator"),
        ({"relu_grad_at_zero": 2.0}, ValueError, r"relu_grad_at_zero must be one of 0, 0\.5, 1"),
        (
            {"grad_error_bound": twolayer.Grads(-GRADS.w1, GRADS.w2)},
            ValueError,
            r"grad_error_bound must be >= 0",
        ),
    ],
)
def test_bad_arguments_are_named(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    arguments: dict[str, object] = {"grads": GRADS, **kwargs}
    with pytest.raises(error, match=match):
        unhooked_check(CASE.params, CASE.x, CASE.y, **arguments)


def test_a_given_error_bound_widens_the_tolerance() -> None:
    off = with_entry(GRADS, "w1", (0, 0), float(GRADS.w1[0, 0]) + 1.0)
    assert not check(CASE, off).passed
    bound = twolayer.Grads(np.full(GRADS.w1.shape, 1.0), np.zeros(GRADS.w2.shape))
    assert check_gradients(CASE.params, CASE.x, CASE.y, off, grad_error_bound=bound).passed


def test_the_default_directions_are_the_same_every_call() -> None:
    first = check(CASE, GRADS, mode="directional")
    second = check(CASE, GRADS, mode="directional")
    assert first.directions == second.directions
    other = check_gradients(
        CASE.params, CASE.x, CASE.y, GRADS, mode="directional", rng=np.random.default_rng(1)
    )
    assert other.directions != first.directions
