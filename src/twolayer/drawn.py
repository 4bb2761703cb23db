"""The drawn cases: everything of the judge that needs hypothesis.

``run_drawn`` judges the steps that hypothesis draws (``twolayer.strategies.judge_cases``),
derandomized, and records the failing case that hypothesis shrank; ``run_drawn_training`` does
the same for drawn trajectories. hypothesis is imported only when cases are drawn, never by
``import twolayer.conformance``: judging frozen cases and results files needs none of it.

hypothesis derives its derandomized cases from the source text of the function that it is given
(``judge_one`` in each run): that text, the names that it calls (``_judge_case``,
``_report_progress``, ``_judge_training_case``, imported here under those names) and its
signature, whose annotations hypothesis spells with their modules (``CaseInputs.__module__`` is
``twolayer.vectors``, see ``twolayer.cases``), must stay as they are, or every drawn case, and
the figures that the docs quote, change.
"""

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from twolayer.calls import Judge, TrainJudge
from twolayer.cases import CaseInputs
from twolayer.network import value_and_grad
from twolayer.reference import applies, case_params
from twolayer.report import DRAWN, STATE, Failure
from twolayer.training import sgd_step
from twolayer.trajectories import TrainingTally, training_rejudge, transition_in_range
from twolayer.trajectories import judge_training_case as _judge_training_case
from twolayer.verdicts import Progress, StopDrawingError, Tally, halted, step_rejudge
from twolayer.verdicts import judge_case as _judge_case
from twolayer.verdicts import report_progress as _report_progress

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


_DrawnT = TypeVar("_DrawnT")


_TRAINING_SHIFTS = (-6, 2)  # the drawn learning rates: 2**shift times the rate that moves h by h


class _RejectedCaseError(Exception):
    """Raised inside the hypothesis run to mark a drawn case as failing."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@contextmanager
def without_local_constants() -> Iterator[None]:
    """While the judge's hypothesis runs, hypothesis draws nothing from the caller's code.

    hypothesis (6.131 and later) mixes into its draws literals that it collects from every
    loaded module outside site-packages: the caller's own module, an implementation judged in
    process, twolayer itself when installed editable. The judge's derandomized cases, and so its
    verdicts and the figures that the docs quote, would then depend on what else is loaded and
    on where twolayer is installed (the default judge run of ``reference_step`` drew 97 moving
    ties from a source checkout and 124 from an installed wheel). No public setting turns this
    off, so this swaps hypothesis's private collector for an empty one, and clears the cache of
    constants it keeps, on the way in and on the way out. A hypothesis without the collector
    (6.100, the lowest allowed) draws no such constants and is left as it is.
    """
    try:
        from hypothesis.internal.conjecture import providers  # noqa: PLC0415 (private, may go)
    except ImportError:  # hypothesis before 6.131: no collector
        yield
        return
    collect = getattr(providers, "_get_local_constants", None)
    cache_ = getattr(providers, "CONSTANTS_CACHE", None)
    constants = getattr(providers, "_local_constants", None)
    if collect is None or cache_ is None or constants is None:
        yield
        return
    empty = type(constants)()
    cache_.cache.clear()
    providers._get_local_constants = lambda: empty  # private: see the docstring
    try:
        yield
    finally:
        providers._get_local_constants = collect
        cache_.cache.clear()


def _shrunk_failure(
    strategy: "Callable[[bool], SearchStrategy[_DrawnT]]",
    judge_one: "Callable[[_DrawnT], None]",
    max_examples: int,
    last: list[Failure],
) -> Failure | None:
    """Run ``judge_one`` on ``max_examples`` drawn values: the first half (rounded up) from
    ``strategy(True)`` (small), the rest from ``strategy(False)`` if the first found nothing.
    Returns the failure of the case that hypothesis shrank, or None."""
    # hypothesis is imported here, not at the top: judging frozen cases and results files needs
    # none of it, and a plain `import twolayer.conformance` stays quick.
    from hypothesis import (  # noqa: PLC0415 (only where cases are drawn: see above)
        HealthCheck,
        Phase,
        Verbosity,
        given,
        settings,
    )

    small = max_examples - max_examples // 2
    for small_dims, examples in ((True, small), (False, max_examples - small)):
        if not examples:
            continue
        run = settings(
            max_examples=examples,
            database=None,
            derandomize=True,  # the same cases for every implementation, and the same verdict
            deadline=None,
            print_blob=False,
            report_multiple_bugs=False,
            verbosity=Verbosity.quiet,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )(given(strategy(small_dims))(judge_one))
        try:
            with without_local_constants():
                run()
        except _RejectedCaseError as rejected:  # hypothesis re-raises the shrunk case's failure
            return rejected.failure
        except StopDrawingError as stop:
            return stop.failure
        except Exception as error:  # e.g. a verdict that does not reproduce (hypothesis's Flaky)
            if not last:
                raise RuntimeError(f"the judge's hypothesis run failed: {error}") from error
            return last[-1]
    return None


def run_drawn(
    judge: Judge,
    tally: Tally,
    max_examples: int,
    progress: Progress | None = None,
    total: int = 0,
) -> None:
    """Judge ``max_examples`` drawn cases; on a failure, let hypothesis shrink it and record it.

    Two runs of hypothesis: the first half of the cases (rounded up) has every axis 1 to 3, drawn
    entry by entry, so that a mistake that shows at such sizes shrinks to a case one reads at a
    glance; the second half reaches the sizes where kernels break (``strategies.judge_cases``).
    The second run is made only if the first found nothing.
    """
    last: list[Failure] = []
    stateful: list[Failure] = []  # the verdicts that caught the step keeping state
    cases: dict[int, CaseInputs] = {}  # id() of each failure in `last` (kept alive) -> its case

    def judge_one(case: CaseInputs) -> None:
        verdict = _judge_case(judge, case, DRAWN, None)
        tally.add(DRAWN, verdict, "drawn")
        _report_progress(progress, tally.done(), total)
        if verdict.failure is not None:
            last.append(verdict.failure)
            cases[id(verdict.failure)] = case
            if STATE in verdict.failure.outputs:
                stateful.append(verdict.failure)
            raise _RejectedCaseError(verdict.failure)

    from twolayer.strategies import judge_cases  # noqa: PLC0415 (it imports hypothesis)

    def strategy(small: bool) -> "SearchStrategy[CaseInputs]":
        return judge_cases(judge.arithmetic, small=small)

    found = _shrunk_failure(strategy, judge_one, max_examples, last)
    if found is None:
        return
    # A step that keeps state may fail a shrunk case only because of the calls before it, which
    # its reproducer does not make: the last case that caught the state is the one to show.
    if halted(found):
        tally.record(found, lambda rule: False)  # never asked: a step that did not answer
        return
    if STATE not in found.outputs:
        if stateful:
            found = stateful[-1]
        elif any(STATE in failure.outputs for failure in tally.failures):
            return  # the state was caught in a frozen case, which shows it: that one stays last
    tally.record(found, step_rejudge(judge, cases[id(found)], DRAWN))


def _scaled_rate(case: CaseInputs, shift: int, relu_grad_at_zero: float) -> float | None:
    """``2**shift`` times the power of two nearest below the rate at which the first update
    moves ``h`` by as much as its largest entry: masks change sign at the larger shifts."""
    params = case_params(case)
    with np.errstate(all="ignore"):
        _, grads = value_and_grad(params, case.x, case.y, relu_grad_at_zero=relu_grad_at_zero)
        largest = float(np.max(np.abs(case.x @ case.w1), initial=0.0))
        moved = float(np.max(np.abs(case.x @ grads.w1), initial=0.0))
        ratio = largest / moved if moved > 0 else 0.0
    if not (math.isfinite(ratio) and ratio > 0):
        return None
    return math.ldexp(1.0, math.frexp(ratio)[1] - 1 + shift)


def _training_case(
    case: CaseInputs, steps: int, shift: int | None, judge: TrainJudge
) -> tuple[CaseInputs, int]:
    """A drawn trajectory: the case, its learning rate rescaled by ``shift`` where that keeps it
    in range, and as many of ``steps`` updates as the float64 oracle's weights stay in range."""
    if shift is not None:
        rate = _scaled_rate(case, shift, judge.relu_grad_at_zero)
        rescaled = case if rate is None else case._replace(learning_rate=rate)
        if (
            rate is not None
            and applies(rescaled, judge.arithmetic)
            and transition_in_range(rescaled, judge.arithmetic, judge.relu_grad_at_zero)
        ):
            case = rescaled
    if not transition_in_range(case, judge.arithmetic, judge.relu_grad_at_zero):
        return case, 1  # its first step is judged all the same, as check_implementation would
    params, kept = case_params(case), 1
    with np.errstate(all="ignore"):
        for _ in range(steps - 1):
            _, grads = value_and_grad(
                params, case.x, case.y, relu_grad_at_zero=judge.relu_grad_at_zero
            )
            params = sgd_step(params, grads, case.learning_rate)
            anchor = case._replace(w1=params.w1, w2=params.w2)
            if not transition_in_range(anchor, judge.arithmetic, judge.relu_grad_at_zero):
                break
            kept += 1
    return case, kept


def run_drawn_training(
    judge: TrainJudge,
    tally: TrainingTally,
    max_examples: int,
    max_steps: int,
    progress: Progress | None = None,
    total: int = 0,
) -> None:
    """Judge ``max_examples`` drawn trajectories, as ``run_drawn`` judges steps: half with every
    axis 1 to 3 first, then at the sizes where kernels break; a failure is shrunk, steps too."""
    last: list[Failure] = []
    stateful: list[Failure] = []  # the verdicts that caught the loop keeping state
    cases: dict[int, tuple[CaseInputs, int]] = {}  # id() of each failure in `last` -> its case

    def judge_one(drawn: tuple[CaseInputs, int, int | None]) -> None:
        case, steps = _training_case(*drawn, judge)
        verdict = _judge_training_case(judge, case, steps, DRAWN)
        tally.add_trajectory(DRAWN, verdict, "drawn")
        _report_progress(progress, tally.done(), total)
        failure = verdict.verdict.failure
        if failure is not None:
            last.append(failure)
            cases[id(failure)] = case, steps
            if STATE in failure.outputs:
                stateful.append(failure)
            raise _RejectedCaseError(failure)

    from hypothesis import strategies as st  # noqa: PLC0415 (only where cases are drawn)

    from twolayer.strategies import judge_cases  # noqa: PLC0415 (it imports hypothesis)

    def drawn(small: bool) -> "SearchStrategy[tuple[CaseInputs, int, int | None]]":
        return st.tuples(
            judge_cases(judge.arithmetic, small=small),
            st.integers(min(2, max_steps), max_steps),
            st.one_of(st.integers(*_TRAINING_SHIFTS), st.none()),
        )

    found = _shrunk_failure(drawn, judge_one, max_examples, last)
    if found is None:
        return
    # As for steps (run_drawn): a loop that keeps state may fail a shrunk case only because of
    # the calls before it; the last case that caught the state is the one to show.
    if halted(found):
        tally.record(found, lambda rule: False)  # never asked: a loop that did not answer
        return
    if STATE not in found.outputs:
        if stateful:
            found = stateful[-1]
        elif any(STATE in failure.outputs for failure in tally.failures):
            return
    tally.record(found, training_rejudge(judge, *cases[id(found)], DRAWN))
