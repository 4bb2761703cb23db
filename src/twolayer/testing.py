"""The judge as assertions, for an implementation's own test suite (pytest or any other).

``assert_conforms(step)`` runs ``check_implementation`` and ``assert_training_conforms(train)``
runs ``check_training``; each raises ``AssertionError`` carrying ``format_report``'s text when
the verdict is "does not conform", and returns the report otherwise. ``assert_case_conforms``
and ``assert_trajectory_conforms`` judge one frozen case or trajectory: the pytest plugin
``pytest_twolayer`` (installed with twolayer) hands them out one test id each through the
fixtures ``twolayer_case`` and ``twolayer_trajectory``. This module never imports pytest at
import time: a plain install has none.
"""

import re
from collections.abc import Iterable
from functools import cache
from typing import NamedTuple, NoReturn

from twolayer import bounds
from twolayer.cases import CaseInputs, build_cases
from twolayer.conformance import (
    ConformanceReport,
    StepFunction,
    TrainFunction,
    applies,
    check_case,
    check_implementation,
    check_training,
    check_training_case,
    format_report,
    training_cases,
)

# "DOutOne" -> "d_out_one", "Bf16Grid" -> "bf16_grid": a word starts at a capital that follows a
# small letter or a digit, or at a capital followed by a small letter after another capital.
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(flag: str) -> str:
    """A flag of the frozen suite, as the words of a test id.

    >>> snake_case("SeedDims"), snake_case("DOutOne"), snake_case("Bf16Grid")
    ('seed_dims', 'd_out_one', 'bf16_grid')
    """
    return _WORD_START.sub("_", flag).lower()


def _case_words(case: CaseInputs) -> list[str]:
    return [f"case{case.id}", *(snake_case(flag) for flag in case.flags)]


class FrozenCase(NamedTuple):
    """A case of the frozen suite, and the arithmetic it was chosen for (it applies to it)."""

    case: CaseInputs
    arithmetic: str

    @property
    def test_id(self) -> str:
        """The case's id and flags, for pytest: ``"case9-single_sample-hidden_one-d_out_one"``."""
        return "-".join(_case_words(self.case))


class FrozenTrajectory(NamedTuple):
    """A frozen trajectory (a case and its number of updates), and the arithmetic it applies to."""

    case: CaseInputs
    steps: int
    arithmetic: str

    @property
    def test_id(self) -> str:
        """The case's id, its steps and its flags, for pytest: ``"case1-3_steps-seed_dims"``."""
        first, *flags = _case_words(self.case)
        return "-".join([first, f"{self.steps}_steps", *flags])


def _arithmetic(arithmetic: object) -> str:
    if not isinstance(arithmetic, str) or arithmetic not in bounds.ARITHMETICS:
        raise ValueError(
            f"arithmetic must be one of {', '.join(bounds.ARITHMETICS)}; got {arithmetic!r}"
        )
    return arithmetic


@cache
def frozen_cases(arithmetic: str = "float64") -> tuple[FrozenCase, ...]:
    """The cases of the frozen suite that apply to ``arithmetic`` (on its grid and range).

    Args:
        arithmetic: ``"float64"`` (every case), ``"float32"``, ``"tf32"`` or ``"bf16"``.

    Returns:
        One ``FrozenCase`` a case, in the suite's order.

    Raises:
        ValueError: an unknown ``arithmetic``.
    """
    chosen = _arithmetic(arithmetic)
    return tuple(FrozenCase(case, chosen) for case in build_cases() if applies(case, chosen))


@cache
def frozen_trajectories(arithmetic: str = "float64") -> tuple[FrozenTrajectory, ...]:
    """The frozen trajectories (``conformance.training_cases()``) that apply to ``arithmetic``.

    Args:
        arithmetic: as for ``frozen_cases``.

    Returns:
        One ``FrozenTrajectory`` a trajectory, in the order of ``TRAINING_CASES``.

    Raises:
        ValueError: an unknown ``arithmetic``.
    """
    chosen = _arithmetic(arithmetic)
    return tuple(
        FrozenTrajectory(case, steps, chosen)
        for case, steps in training_cases()
        if applies(case, chosen)
    )


def _verdict(report: ConformanceReport) -> ConformanceReport:
    if not report.conforms:
        raise AssertionError(format_report(report))
    return report


def assert_conforms(
    step: StepFunction | str,
    *,
    arithmetic: str = "float64",
    relu_grad_at_zero: float = 1.0,
    max_examples: int = 200,
    cases: Iterable[CaseInputs] | None = None,
    implementation: str | None = None,
    timeout: float | None = None,
) -> ConformanceReport:
    """Assert that ``step`` conforms: ``check_implementation``, raising on its verdict.

    Args:
        step: ``step(x, y, w1, w2, learning_rate) -> {"loss", "grad_w1", "grad_w2", "w1_next",
            "w2_next"[, "h"]: values}``, as for ``check_implementation``.
        arithmetic: what ``step`` claims to compute in (``"float64"``, ``"float32"``, ``"tf32"``
            or ``"bf16"``).
        relu_grad_at_zero: the tie convention that ``step`` claims: 0, 0.5 or 1.
        max_examples: the number of cases drawn by hypothesis after the frozen ones.
        cases: the frozen cases (default: every case of ``twolayer.vectors``).
        implementation: the name of ``step`` in the report.
        timeout: the most seconds one call may take, as for ``check_implementation`` (a
            callable runs in a forked worker then; default: in this process, no limit).

    Returns:
        The ``ConformanceReport``, which conforms.

    Raises:
        AssertionError: ``step`` does not conform; the message is ``format_report``'s text,
            with the failing case written as code that reproduces it.
        ValueError: a bad option, as ``check_implementation`` says.
    """
    return _verdict(
        check_implementation(
            step,
            arithmetic=arithmetic,
            relu_grad_at_zero=relu_grad_at_zero,
            max_examples=max_examples,
            cases=cases,
            implementation=implementation,
            timeout=timeout,
        )
    )


def assert_training_conforms(
    train: TrainFunction | str,
    *,
    arithmetic: str = "float64",
    relu_grad_at_zero: float = 1.0,
    steps: int = 4,
    max_examples: int = 200,
    cases: Iterable[tuple[CaseInputs, int]] | None = None,
    implementation: str | None = None,
    timeout: float | None = None,
) -> ConformanceReport:
    """Assert that a training loop conforms: ``check_training``, raising on its verdict.

    Args:
        train: ``train(x, y, w1, w2, learning_rate, steps) -> {"losses", "w1", "w2": values}``,
            as for ``check_training``.
        arithmetic: what ``train`` claims to compute in.
        relu_grad_at_zero: the tie convention that it claims: 0, 0.5 or 1.
        steps: the most updates of a drawn trajectory (at least 1).
        max_examples: the number of drawn trajectories after the frozen ones.
        cases: the frozen trajectories, ``(case, steps)`` pairs (default: ``TRAINING_CASES``).
        implementation: the name of ``train`` in the report.
        timeout: the most seconds one call may take, as for ``check_training``.

    Returns:
        The ``ConformanceReport`` (``kind`` ``"training"``), which conforms.

    Raises:
        AssertionError: ``train`` does not conform; the message is ``format_report``'s text.
        ValueError: a bad option, as ``check_training`` says.
    """
    return _verdict(
        check_training(
            train,
            arithmetic=arithmetic,
            relu_grad_at_zero=relu_grad_at_zero,
            steps=steps,
            max_examples=max_examples,
            cases=cases,
            implementation=implementation,
            timeout=timeout,
        )
    )


def _not_applicable(case: CaseInputs, arithmetic: str, generated_for: str) -> NoReturn:
    """Skip the test under pytest (raise ``ValueError`` elsewhere): the case cannot judge."""
    message = (
        f"case {case.id} does not apply to {arithmetic}: its inputs are off the {arithmetic} grid "
        f"or its values leave the format's range (it was generated for {generated_for}); mark "
        f"the test @pytest.mark.twolayer(arithmetic={arithmetic!r}) to get only the cases that "
        "apply"
    )
    try:
        import pytest  # noqa: PLC0415 (a plain install has no pytest: only a test run needs it)
    except ModuleNotFoundError:
        raise ValueError(message) from None
    pytest.skip(message)


def assert_case_conforms(
    step: StepFunction,
    frozen: FrozenCase,
    *,
    arithmetic: str | None = None,
    relu_grad_at_zero: float = 1.0,
) -> ConformanceReport:
    """Assert that ``step`` conforms on one frozen case: ``check_case`` on its inputs.

    The frozen suite's reference of the case is computed once a process, and shared.

    Args:
        step: the implementation, as for ``assert_conforms``.
        frozen: the case, e.g. the ``twolayer_case`` fixture of the pytest plugin.
        arithmetic: what ``step`` claims to compute in (default: ``frozen.arithmetic``, the one
            that the test's ``@pytest.mark.twolayer(arithmetic=...)`` names).
        relu_grad_at_zero: the tie convention that ``step`` claims: 0, 0.5 or 1.

    Returns:
        The ``ConformanceReport`` of the case, which conforms.

    Raises:
        AssertionError: ``step`` does not conform on the case; the message is
            ``format_report``'s text.
        pytest.skip.Exception: the case does not apply to ``arithmetic`` (under pytest; a
            ``ValueError`` without it), with the reason and the marker that avoids it.
        ValueError: a bad ``arithmetic`` or ``relu_grad_at_zero``.
    """
    chosen = frozen.arithmetic if arithmetic is None else _arithmetic(arithmetic)
    case = frozen.case
    if chosen != frozen.arithmetic and not applies(case, chosen):
        _not_applicable(case, chosen, frozen.arithmetic)
    return _verdict(
        check_case(
            step,
            case.x,
            case.y,
            case.w1,
            case.w2,
            case.learning_rate,
            arithmetic=chosen,
            relu_grad_at_zero=relu_grad_at_zero,
        )
    )


def assert_trajectory_conforms(
    train: TrainFunction,
    frozen: FrozenTrajectory,
    *,
    arithmetic: str | None = None,
    relu_grad_at_zero: float = 1.0,
) -> ConformanceReport:
    """Assert that a training loop conforms on one frozen trajectory: ``check_training_case``.

    Args:
        train: the training loop, as for ``assert_training_conforms``.
        frozen: the trajectory, e.g. the ``twolayer_trajectory`` fixture of the pytest plugin.
        arithmetic: what ``train`` claims to compute in (default: ``frozen.arithmetic``).
        relu_grad_at_zero: the tie convention that ``train`` claims: 0, 0.5 or 1.

    Returns:
        The ``ConformanceReport`` of the trajectory, which conforms.

    Raises:
        AssertionError: ``train`` does not conform on it; the message is ``format_report``'s
            text.
        pytest.skip.Exception: the case does not apply to ``arithmetic``, as for
            ``assert_case_conforms``.
        ValueError: a bad ``arithmetic`` or ``relu_grad_at_zero``.
    """
    chosen = frozen.arithmetic if arithmetic is None else _arithmetic(arithmetic)
    case = frozen.case
    if chosen != frozen.arithmetic and not applies(case, chosen):
        _not_applicable(case, chosen, frozen.arithmetic)
    return _verdict(
        check_training_case(
            train,
            case.x,
            case.y,
            case.w1,
            case.w2,
            case.learning_rate,
            frozen.steps,
            arithmetic=chosen,
            relu_grad_at_zero=relu_grad_at_zero,
        )
    )
