"""twolayer.testing and its pytest plugin: the judge's verdict as an assertion, a case a test id.

The assertions pass a correct implementation and raise ``AssertionError`` with the report's
text for a bug of the zoo. The plugin is run as a user runs it, in a pytest session of its own
(``pytester``) over a user's test file: one test id per applicable case, named so that ``-k``
selects by flag, a correct step passing every one and a wrong one failing.
"""

import subprocess
import sys
from collections.abc import Sequence
from typing import cast

import numpy as np
import pytest

from twolayer import conformance, vectors, zoo
from twolayer.shapes import W1, W2, X, Y
from twolayer.testing import (
    FrozenCase,
    assert_case_conforms,
    assert_conforms,
    assert_training_conforms,
    assert_trajectory_conforms,
    frozen_cases,
    frozen_trajectories,
    snake_case,
)

pytest_plugins = ["pytester"]

# A few small frozen cases, a tie among them: the assertions are thin, the judge is tested
# elsewhere (tests/test_conformance.py, tests/test_bug_zoo.py).
FEW_CASE_IDS = (2, 9, 16, 38)
FEW_TRAJECTORY_IDS = (2, 9, 38)
FEW_DRAWN = 3


def few_cases() -> list[vectors.CaseInputs]:
    return [case for case in vectors.build_cases() if case.id in FEW_CASE_IDS]


def few_trajectories() -> list[tuple[vectors.CaseInputs, int]]:
    return [pair for pair in conformance.training_cases() if pair[0].id in FEW_TRAJECTORY_IDS]


def test_assert_conforms_passes_a_correct_step_and_returns_its_report() -> None:
    report = assert_conforms(zoo.reference_step, cases=few_cases(), max_examples=FEW_DRAWN)
    assert report.conforms
    assert (report.frozen_cases, report.drawn_cases) == (len(FEW_CASE_IDS), FEW_DRAWN)


def test_assert_conforms_raises_the_reports_text_for_a_wrong_step() -> None:
    with pytest.raises(AssertionError) as raised:
        assert_conforms(zoo.missing_factor_two, cases=few_cases(), max_examples=0)
    expected = conformance.check_implementation(
        zoo.missing_factor_two, cases=few_cases(), max_examples=0
    )
    assert not expected.conforms
    assert str(raised.value) == conformance.format_report(expected)


def test_assert_training_conforms_passes_a_correct_loop_and_returns_its_report() -> None:
    report = assert_training_conforms(
        zoo.reference_train, cases=few_trajectories(), max_examples=FEW_DRAWN
    )
    assert report.conforms
    assert report.kind == "training"
    assert (report.frozen_cases, report.drawn_cases) == (len(FEW_TRAJECTORY_IDS), FEW_DRAWN)


def test_assert_training_conforms_raises_the_reports_text_for_a_wrong_loop() -> None:
    with pytest.raises(AssertionError) as raised:
        assert_training_conforms(
            zoo.momentum_in_plain_descent, cases=few_trajectories(), max_examples=0
        )
    expected = conformance.check_training(
        zoo.momentum_in_plain_descent, cases=few_trajectories(), max_examples=0
    )
    assert not expected.conforms
    assert str(raised.value) == conformance.format_report(expected)


def test_the_frozen_cases_of_an_arithmetic_are_exactly_those_that_apply_to_it() -> None:
    suite = vectors.build_cases()
    assert [frozen.case.id for frozen in frozen_cases()] == [case.id for case in suite]
    for arithmetic in ("float32", "tf32", "bf16"):
        chosen = frozen_cases(arithmetic)
        expected = [case.id for case in suite if conformance.applies(case, arithmetic)]
        assert [frozen.case.id for frozen in chosen] == expected
        assert 0 < len(chosen) < len(suite)  # some apply, some do not: the filter filtered
        assert {frozen.arithmetic for frozen in chosen} == {arithmetic}
    trajectories = frozen_trajectories("float32")
    expected_pairs = [
        (case.id, steps)
        for case, steps in conformance.training_cases()
        if conformance.applies(case, "float32")
    ]
    assert [(frozen.case.id, frozen.steps) for frozen in trajectories] == expected_pairs
    with pytest.raises(ValueError, match="arithmetic must be one of float64, float32"):
        frozen_cases("float16")


def test_test_ids_name_the_case_and_its_flags_in_snake_case_and_are_unique() -> None:
    assert snake_case("NegativeZeroTie") == "negative_zero_tie"
    assert snake_case("ExactInFloat64") == "exact_in_float64"
    ids = [frozen.test_id for frozen in frozen_cases()]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "case1-seed_dims"
    assert ids[1] == "case2"  # a case without flags
    assert "case9-single_sample-hidden_one-d_out_one" in ids
    trajectory_ids = [frozen.test_id for frozen in frozen_trajectories()]
    assert len(set(trajectory_ids)) == len(trajectory_ids)
    assert trajectory_ids[0] == "case1-3_steps-seed_dims"


def test_assert_case_conforms_judges_the_frozen_case_as_check_case_does() -> None:
    frozen = next(f for f in frozen_cases("float32") if f.case.id == 16)
    assert assert_case_conforms(zoo.reference_step, frozen).conforms
    case = frozen.case
    expected = conformance.check_case(
        zoo.missing_factor_two,
        case.x,
        case.y,
        case.w1,
        case.w2,
        case.learning_rate,
        arithmetic="float32",
    )
    assert not expected.conforms
    with pytest.raises(AssertionError) as raised:
        assert_case_conforms(zoo.missing_factor_two, frozen)
    assert str(raised.value) == conformance.format_report(expected)


def test_assert_trajectory_conforms_judges_the_frozen_trajectory() -> None:
    frozen = next(f for f in frozen_trajectories() if f.case.id == 2)
    assert assert_trajectory_conforms(zoo.reference_train, frozen).conforms
    with pytest.raises(AssertionError, match="DOES NOT CONFORM"):
        assert_trajectory_conforms(zoo.momentum_in_plain_descent, frozen)


def test_a_case_off_the_declared_arithmetic_is_skipped_with_the_reason_not_passed() -> None:
    seed_dims = frozen_cases()[0]
    assert not conformance.applies(seed_dims.case, "float32")
    with pytest.raises(pytest.skip.Exception, match=r"case 1 does not apply to float32"):
        assert_case_conforms(zoo.reference_step, seed_dims, arithmetic="float32")


def test_without_pytest_a_case_off_the_declared_arithmetic_is_a_value_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_dims: FrozenCase = frozen_cases()[0]
    monkeypatch.setitem(sys.modules, "pytest", None)  # `import pytest` now fails, as without it
    with pytest.raises(ValueError, match=r"mark the test @pytest.mark.twolayer"):
        assert_case_conforms(zoo.reference_step, seed_dims, arithmetic="bf16")


def imported_after(statement: str) -> list[str]:
    """Which of pytest and twolayer a fresh interpreter has imported after ``statement``."""
    probe = (
        f"{statement}; import sys; print(*[m for m in ('pytest', 'twolayer') if m in sys.modules])"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return ran.stdout.split()


def test_twolayer_testing_does_not_import_pytest_and_the_plugin_does_not_import_twolayer() -> None:
    """A plain install has no pytest; and pytest imports its plugins before jaxtyping's hook,
    which refuses to check a package already imported (--jaxtyping-packages=twolayer,...)."""
    assert imported_after("import twolayer.testing") == ["twolayer"]
    assert imported_after("import pytest_twolayer") == ["pytest"]


# A step whose loss is 1.5 times the right one, plus 1: wrong on every case, and rejected on
# each case whose bound on the loss is tight enough to see it.
WRONG_STEP = """
def wrong_step(x, y, w1, w2, learning_rate):
    outputs = dict(zoo.reference_step(x, y, w1, w2, learning_rate))
    outputs["loss"] = 1.5 * np.asarray(outputs["loss"]) + 1.0
    return outputs
"""

USER_TESTS = f"""
import numpy as np
import pytest

from twolayer import zoo
from twolayer.testing import assert_case_conforms, assert_trajectory_conforms


{WRONG_STEP}

def test_float64_step(twolayer_case):
    assert_case_conforms(zoo.reference_step, twolayer_case)


@pytest.mark.twolayer(arithmetic="float32")
def test_float32_step(twolayer_case):
    assert_case_conforms(zoo.reference_step, twolayer_case)


@pytest.mark.twolayer(arithmetic="float32")
def test_wrong_step(twolayer_case):
    assert_case_conforms(wrong_step, twolayer_case)


def test_float32_step_unmarked(twolayer_case):
    assert_case_conforms(zoo.reference_step, twolayer_case, arithmetic="float32")


@pytest.mark.twolayer(arithmetic="float32")
def test_float32_loop(twolayer_trajectory):
    assert_trajectory_conforms(zoo.reference_train_float32, twolayer_trajectory)


def test_wrong_loop(twolayer_trajectory):
    assert_trajectory_conforms(zoo.momentum_in_plain_descent, twolayer_trajectory)


def test_left_alone():
    pass
"""


def inputs(frozen: FrozenCase) -> tuple[X, Y, W1, W2, float]:
    case = frozen.case
    return case.x, case.y, case.w1, case.w2, case.learning_rate


def collected(pytester: pytest.Pytester, *arguments: str) -> list[str]:
    """The node ids that pytest collects from the user's tests, with ``arguments``."""
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q", *arguments)
    return [line for line in result.outlines if "::" in line]


def names(test: str, ids: Sequence[str]) -> list[str]:
    return [f"test_user.py::{test}[{test_id}]" for test_id in ids]


def test_the_plugin_gives_each_applicable_frozen_case_its_own_test_id(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    every = [frozen.test_id for frozen in frozen_cases()]
    float32 = [frozen.test_id for frozen in frozen_cases("float32")]
    ids = collected(pytester)
    assert [i for i in ids if "::test_float64_step[" in i] == names("test_float64_step", every)
    assert [i for i in ids if "::test_float32_step[" in i] == names("test_float32_step", float32)
    assert [i for i in ids if "::test_float32_loop[" in i] == names(
        "test_float32_loop", [frozen.test_id for frozen in frozen_trajectories("float32")]
    )
    assert "test_user.py::test_left_alone" in ids
    # -k by flag: the seed's dims and the case larger than them; neither is on float32's grid
    assert collected(pytester, "-k", "seed_dims and float64_step") == names(
        "test_float64_step", ["case1-seed_dims", "case42-awkward_sizes-larger_than_seed_dims"]
    )
    assert collected(pytester, "-k", "case1- and float64_step") == names(
        "test_float64_step", ["case1-seed_dims"]
    )


def test_under_the_plugin_a_correct_step_passes_every_case_and_a_wrong_one_fails(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    float32 = len(frozen_cases("float32"))
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "float32_step and not unmarked")
    result.assert_outcomes(passed=float32)
    namespace: dict[str, object] = {"np": np, "zoo": zoo}
    exec(WRONG_STEP, namespace)
    wrong_step = cast(conformance.StepFunction, namespace["wrong_step"])
    rejected = [
        frozen.test_id
        for frozen in frozen_cases("float32")
        if not conformance.check_case(wrong_step, *inputs(frozen), arithmetic="float32").conforms
    ]
    assert len(rejected) >= float32 - 1  # case 25 alone: its loss cancels, its bound is huge
    records = pytester.inline_run("-p", "no:cacheprovider", "-k", "wrong_step")
    passed, skipped, failed = records.listoutcomes()
    assert [report.nodeid for report in failed] == names("test_wrong_step", rejected)
    assert len(passed) == float32 - len(rejected)
    assert not skipped
    # unmarked, the cases off float32's grid are skipped, each with its reason, and the rest pass
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs", "-k", "unmarked")
    result.assert_outcomes(passed=float32, skipped=len(frozen_cases()) - float32)
    result.stdout.fnmatch_lines(["SKIPPED*case 1 does not apply to float32*"])


def test_under_the_plugin_a_correct_loop_passes_every_trajectory_and_a_wrong_one_fails(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "float32_loop")
    result.assert_outcomes(passed=len(frozen_trajectories("float32")))
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "wrong_loop and (case2- or case9-)")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*momentum_in_plain_descent: DOES NOT CONFORM*"])


def test_a_bad_marker_is_an_error_at_collection_that_says_what_is_allowed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_user="""
        import pytest

        @pytest.mark.twolayer(arithmetic="float16")
        def test_step(twolayer_case):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*arithmetic must be one of float64, float32, tf32, bf16*"])
