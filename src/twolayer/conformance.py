"""The conformance judge: is another implementation of the seed's step right, up to rounding?

An implementation is a callable ``step(x, y, w1, w2, learning_rate)`` returning a mapping with
``loss``, ``grad_w1``, ``grad_w2``, ``w1_next``, ``w2_next`` and, if it can, ``h``, as anything
that ``numpy.asarray`` takes. ``check_implementation`` runs it on the frozen cases of
``twolayer.vectors`` and then on cases that hypothesis draws, compares every output with the
exact value (``twolayer.exact``) within the rigorous bound of the declared arithmetic
(``twolayer.bounds``), and returns a ``ConformanceReport``: the verdict, the worst ``|error| /
bound`` of each output, and the failing case, shrunk by hypothesis and written as code that
reproduces it. ``check_results`` judges what an implementation in another language wrote to a
results file (``results.schema.json``). Whatever the implementation does, raise, return garbage
or NaN, is a verdict: the judge itself does not raise because of it.

The inputs lie on the grid of the declared arithmetic: float64 for ``"float64"``, float32 for
``"float32"`` and ``"tf32"``, bfloat16 for ``"bf16"``. They are handed over as float64 arrays
that hold those values, and an implementation casts them to its own dtype, which is exact.
Where the sign of ``h`` is within rounding of 0, either ReLU mask is legal: the judge follows the
implementation's own ``h`` there (which must be within its bound) and recomputes the exact
reference with that mask, so that the bounds stay tight.

This module holds the judge's entry points for a Python step or training loop
(``check_implementation``, ``check_case``, ``check_training``, ``check_training_case``) and
re-exports the judge's public names (``__all__``); the work is done, one job each, by
``twolayer.report`` (the report, as text and JSON), ``twolayer.reference`` (the exact reference
and bounds of a case), ``twolayer.comparison`` (reading and comparing outputs),
``twolayer.calls`` (calling the implementation), ``twolayer.snippets`` (reproducer code),
``twolayer.verdicts`` (one case judged, and the tally), ``twolayer.trajectories`` (one
trajectory judged), ``twolayer.drawn`` (the drawn cases: hypothesis), ``twolayer.results``
(reading results files) and ``twolayer.results_judge`` (judging them).
"""

from collections.abc import Callable, Iterable

import numpy as np
from numpy.typing import NDArray

from twolayer.calls import (
    Judge,
    StepFunction,
    TrainFunction,
    TrainJudge,
    check_timeout,
    implementation_name,
    load_implementation,
    load_training,
    start_runner,
)
from twolayer.cases import CaseInputs, build_cases
from twolayer.drawn import run_drawn, run_drawn_training
from twolayer.network import forward
from twolayer.reference import (
    Reference,
    applies,
    check_arithmetic,
    frozen_references,
    in_range,
    on_grid,
    suite_id,
    suite_reference,
)
from twolayer.report import (
    DRAWN,
    INPUTS,
    OUTPUT_AXES,
    OUTPUTS,
    REPORT_SCHEMA,
    REPORT_SCHEMA_FILE,
    REPORT_SCHEMA_VERSION,
    REQUIRED_OUTPUTS,
    STATE,
    STEP,
    TRAJECTORY_OUTPUTS,
    CaseRatio,
    ConformanceReport,
    Failure,
    OutputSummary,
    format_report,
    printable,
    report_document,
    report_json,
    report_schema_json,
    tie_hint,
)
from twolayer.results import (
    RESULTS_SCHEMA,
    RESULTS_SCHEMA_FILE,
    RESULTS_SCHEMA_VERSION,
    RESULTS_SCHEMA_VERSIONS,
    Results,
    load_results,
    results_schema_json,
)
from twolayer.results_judge import (
    check_results,
    check_results_file,
    check_trajectory_results,
    results_document,
    training_results_document,
)
from twolayer.shapes import (
    JUDGE_MAX_DIMS,
    Params,
    check_bytes,
    check_count,
    check_relu_grad_at_zero,
    trajectory_bytes,
)
from twolayer.trajectories import (
    TRAINING_CASES,
    TrainingTally,
    check_trajectory_bytes,
    judge_training_case,
    training_cases,
    training_rejudge,
)
from twolayer.verdicts import Progress, Tally, judge_case, report_progress, step_rejudge

__all__ = [
    "DRAWN",
    "INPUTS",
    "OUTPUTS",
    "OUTPUT_AXES",
    "REPORT_SCHEMA",
    "REPORT_SCHEMA_FILE",
    "REPORT_SCHEMA_VERSION",
    "REQUIRED_OUTPUTS",
    "RESULTS_SCHEMA",
    "RESULTS_SCHEMA_FILE",
    "RESULTS_SCHEMA_VERSION",
    "RESULTS_SCHEMA_VERSIONS",
    "STATE",
    "STEP",
    "TRAINING_CASES",
    "TRAJECTORY_OUTPUTS",
    "CaseRatio",
    "ConformanceReport",
    "Failure",
    "OutputSummary",
    "Progress",
    "Results",
    "StepFunction",
    "TrainFunction",
    "applies",
    "check_case",
    "check_implementation",
    "check_results",
    "check_results_file",
    "check_training",
    "check_training_case",
    "check_trajectory_results",
    "format_report",
    "implementation_name",
    "in_range",
    "load_implementation",
    "load_results",
    "load_training",
    "on_grid",
    "printable",
    "report_document",
    "report_json",
    "report_schema_json",
    "results_document",
    "results_schema_json",
    "tie_hint",
    "training_cases",
    "training_results_document",
]


def check_implementation(
    step: StepFunction | str,
    *,
    arithmetic: str = "float64",
    relu_grad_at_zero: float = 1.0,
    max_examples: int = 200,
    cases: Iterable[CaseInputs] | None = None,
    implementation: str | None = None,
    progress: Progress | None = None,
    timeout: float | None = None,
) -> ConformanceReport:
    """Judge ``step``: the frozen cases, then ``max_examples`` cases drawn by hypothesis.

    Each case's inputs lie on the grid of ``arithmetic`` and are handed to ``step`` as fresh
    float64 arrays (``step`` casts them to its own dtype, exactly). Every output is compared with
    the exact value within the rigorous bound of ``arithmetic`` (see ``twolayer.bounds``); where
    ``h`` is within rounding of 0 the implementation's own ``h`` decides the mask, if it returns
    ``h``. The drawn cases are derandomized, so that a verdict is the same on every run, and a
    failing one is shrunk by hypothesis to a minimal case. Half of them (the first) have every
    axis 1 to 3; the others reach past the seed's dims, at tile and chunk tails, powers of two
    and primes (``twolayer.strategies.judge_cases``).

    Args:
        step: ``step(x, y, w1, w2, learning_rate) -> {"loss", "grad_w1", "grad_w2", "w1_next",
            "w2_next"[, "h"]: values}``, with ``x (batch, d_in)``, ``y (batch, d_out)``,
            ``w1 (d_in, hidden)``, ``w2 (hidden, d_out)``; outputs shaped as ``h (batch,
            hidden)``, ``grad_w1, w1_next (d_in, hidden)``, ``grad_w2, w2_next (hidden, d_out)``,
            ``loss`` a scalar. Or its name, ``"module:attr"``: then a worker process of its own
            imports it and runs it (``twolayer.isolation``), as ``twolayer check --impl`` does.
        arithmetic: what ``step`` claims to compute in: ``"float64"``, ``"float32"``,
            ``"tf32"`` (tf32 products, float32 otherwise) or ``"bf16"`` (bf16 products, float32
            otherwise).
        relu_grad_at_zero: the tie convention that ``step`` claims, ReLU's derivative at an
            exact zero: 0 (``torch.relu``), 0.5 (``torch.maximum``) or 1 (the seed's).
        max_examples: the number of drawn cases (0: the frozen cases only).
        cases: the frozen cases to judge first (default: every case of ``twolayer.vectors``);
            those off the arithmetic's grid or range are skipped and counted.
        implementation: the name of ``step`` for the report, ``"module:attr"`` (default: from
            ``step`` itself).
        progress: called as ``progress(done, total)`` after each case judged (``Progress``);
            default None, nothing is called.
        timeout: the most seconds that one call of ``step`` (and, for a name, its import) may
            take. For a name, default ``isolation.DEFAULT_TIMEOUT_S``. For a callable, default
            None: it runs in this process, with no limit (its state and the caller's GPU
            context stay where the caller sees them); a number runs it in a fork of this
            process instead, killed when a call outlasts it. A call that outlasts it, or ends
            its worker process, fails its case and ends the run: no further case is judged.

    Returns:
        The ``ConformanceReport``. If it fails only where the tie convention decides, its
        ``conforms_under`` names the conventions under which the failing cases conform.

    Raises:
        ValueError: a bad ``arithmetic``, ``relu_grad_at_zero``, ``max_examples`` or
            ``timeout``; nothing to judge (no frozen case applies and ``max_examples`` is 0); a
            name that does not import (never for anything that ``step`` does once loaded).
    """
    arithmetic = check_arithmetic(arithmetic)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    examples = check_count("max_examples", max_examples, 0)
    limit = check_timeout(timeout)
    chosen = build_cases() if cases is None else cases
    references, skipped = frozen_references(chosen, arithmetic, rule)
    if not references and not examples:
        raise ValueError(
            f"nothing to judge: none of the {skipped} frozen cases given applies to {arithmetic} "
            "and max_examples is 0; a verdict needs at least one judged case"
        )
    runner, name = start_runner(step, "step", limit)
    try:
        judge = Judge(runner, name if implementation is None else implementation, arithmetic, rule)
        return _judge_step_run(judge, references, skipped, examples, progress)
    finally:
        runner.close()


def _judge_step_run(
    judge: Judge,
    references: tuple[Reference, ...],
    skipped: int,
    examples: int,
    progress: Progress | None,
) -> ConformanceReport:
    """``check_implementation``'s run: the frozen cases, then the drawn ones."""
    tally = Tally()
    total = len(references) + examples
    first_failure: tuple[Failure, Reference] | None = None
    stopped = False
    for reference in references:
        verdict = judge_case(judge, reference.case, reference.label, reference)
        tally.add(reference.label, verdict, "frozen")
        report_progress(progress, tally.done(), total)
        if first_failure is None and verdict.failure is not None:
            first_failure = verdict.failure, reference
        if verdict.stopped:
            stopped = True
            break
    if first_failure is not None:
        failure, reference = first_failure
        tally.record(failure, step_rejudge(judge, reference.case, reference.label))
    if examples and not stopped:
        run_drawn(judge, tally, examples, progress, total)
    return tally.report(judge, skipped)


def check_case(
    step: StepFunction | str,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    w1: NDArray[np.float64],
    w2: NDArray[np.float64],
    learning_rate: float,
    *,
    arithmetic: str = "float64",
    relu_grad_at_zero: float = 1.0,
    timeout: float | None = None,
) -> ConformanceReport:
    """Judge ``step`` on one case: what a failure's snippet calls to reproduce it.

    Args:
        step: the implementation, as for ``check_implementation``.
        x: ``(batch, d_in)``, float64 holding numbers of the arithmetic's grid.
        y: ``(batch, d_out)``, likewise.
        w1: ``(d_in, hidden)``, likewise.
        w2: ``(hidden, d_out)``, likewise.
        learning_rate: a finite float >= 0.
        arithmetic: as for ``check_implementation``.
        relu_grad_at_zero: as for ``check_implementation``.
        timeout: as for ``check_implementation``.

    Returns:
        The ``ConformanceReport`` of this one case (``frozen_cases`` 1, labelled ``"given"``).

    Raises:
        ValueError: the case is not on the arithmetic's grid or leaves its range, or a bad
            argument (as ``twolayer.forward`` says).
    """
    arithmetic = check_arithmetic(arithmetic)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    forward(Params(w1, w2), x)  # validates the shapes and dtypes, in axis names
    case = CaseInputs(0, "given", (), rule, x, y, w1, w2, float(learning_rate))
    if not applies(case, arithmetic):
        raise ValueError(
            f"the case's inputs must lie on the {arithmetic} grid (numbers that its format holds "
            "exactly) and its values within the format's range"
        )
    limit = check_timeout(timeout)
    known = suite_id(case)
    reference = None
    if known is not None:
        reference = suite_reference(known, arithmetic, rule)._replace(case=case, label="given")
    runner, name = start_runner(step, "step", limit)
    try:
        judge = Judge(runner, name, arithmetic, rule)
        verdict = judge_case(judge, case, "given", reference)
        tally = Tally()
        tally.add("given", verdict, "frozen")
        if verdict.failure is not None:
            tally.record(verdict.failure, step_rejudge(judge, case, "given"))
        return tally.report(judge, 0)
    finally:
        runner.close()


def check_training(
    train: TrainFunction | str,
    *,
    arithmetic: str = "float64",
    relu_grad_at_zero: float = 1.0,
    steps: int = 4,
    max_examples: int = 200,
    cases: Iterable[tuple[CaseInputs, int]] | None = None,
    implementation: str | None = None,
    progress: Progress | None = None,
    timeout: float | None = None,
) -> ConformanceReport:
    """Judge a training loop ``train``: every update, from the implementation's own weights.

    Comparing whole trajectories does not work: rounding differences grow from step to step. So
    each transition ``t -> t + 1`` is judged as ``check_implementation`` judges a step, from the
    implementation's own ``w1[t]``, ``w2[t]``: ``losses[t]``, ``w1[t + 1]`` and ``w2[t + 1]``
    against the exact step and its rigorous bounds in ``arithmetic`` (re-anchored). Index 0
    must be the weights received, bit for bit; the weights of every later step must be numbers
    of the arithmetic's storage format (float64 for ``"float64"``, float32 for the others). A
    trajectory is judged up to the first step whose weights leave the format's range (the bounds
    hold only within it; ``steps_unjudged`` counts what is left), and ``train`` is called twice
    on fresh copies of each case, as a step is.

    The frozen trajectories are ``TRAINING_CASES``: the seed's dims for 3 steps, awkward sizes
    past them, exact ties, dead units. The drawn ones are the cases of ``check_implementation``
    (half with every axis 1 to 3, first), trained for 2 to ``steps`` updates (no mistake between
    steps shows in one update, which ``check_implementation`` judges); in half of them the
    learning rate is a power of two from ``2**-6`` to ``2**2`` times the rate at which the
    first update moves ``h`` by as much as its largest entry, so that masks change sign between
    steps (the report counts the trajectories where they did). A failing one is shrunk by
    hypothesis, its number of steps too, and printed as code that reproduces it.

    Args:
        train: ``train(x, y, w1, w2, learning_rate, steps) -> {"losses", "w1", "w2": values}``:
            ``losses (steps,)`` the loss before each update, ``w1 (steps + 1, d_in, hidden)``
            and ``w2 (steps + 1, hidden, d_out)`` the weights before each update and after the
            last, in any array type that ``numpy.asarray`` takes; it must not change its
            arguments. Or its name, ``"module:attr"``, as for ``check_implementation``.
        arithmetic: what ``train`` claims to compute in, as for ``check_implementation``.
        relu_grad_at_zero: the tie convention that it claims: 0, 0.5 or 1.
        steps: the most updates of a drawn trajectory (at least 1).
        max_examples: the number of drawn trajectories (0: the frozen ones only).
        cases: the frozen trajectories, ``(case, steps)`` pairs (default: ``TRAINING_CASES``);
            those off the arithmetic's grid or range are skipped and counted.
        implementation: the name of ``train`` for the report (default: from ``train`` itself).
        progress: called as ``progress(done, total)`` after each trajectory judged
            (``Progress``); default None, nothing is called.
        timeout: the most seconds that one call of ``train`` may take, as for
            ``check_implementation``.

    Returns:
        A ``ConformanceReport`` of ``kind`` ``"training"``, which ``format_report`` prints; its
        ``conforms_under`` as for ``check_implementation``.

    Raises:
        ValueError: a bad ``arithmetic``, ``relu_grad_at_zero``, ``steps``, ``max_examples`` or
            ``timeout``; nothing to judge; a name that does not import (never for anything that
            ``train`` does once loaded).
    """
    arithmetic = check_arithmetic(arithmetic)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    max_steps = check_count("steps", steps, 1)
    examples = check_count("max_examples", max_examples, 0)
    limit = check_timeout(timeout)
    if examples:
        check_bytes(
            f"steps = {max_steps} (a drawn trajectory at the largest drawn dims, "
            f"{tuple(JUDGE_MAX_DIMS)})",
            trajectory_bytes(JUDGE_MAX_DIMS, max_steps),
        )
    chosen = training_cases() if cases is None else tuple(cases)
    applying: list[tuple[CaseInputs, int]] = []
    for case, case_steps in chosen:
        check_count("a frozen trajectory's steps", case_steps, 1)
        check_trajectory_bytes("a frozen trajectory's steps", case, case_steps)
        if applies(case, arithmetic):
            applying.append((case, case_steps))
    skipped = len(chosen) - len(applying)
    if not applying and not examples:
        raise ValueError(
            f"nothing to judge: none of the {skipped} frozen trajectories given applies to "
            f"{arithmetic} and max_examples is 0; a verdict needs at least one judged case"
        )
    runner, name = start_runner(train, "train", limit)
    try:
        judge = TrainJudge(
            runner, name if implementation is None else implementation, arithmetic, rule
        )
        return _judge_training_run(judge, applying, skipped, examples, max_steps, progress)
    finally:
        runner.close()


def _judge_training_run(
    judge: TrainJudge,
    chosen: list[tuple[CaseInputs, int]],
    skipped: int,
    examples: int,
    max_steps: int,
    progress: Progress | None,
) -> ConformanceReport:
    """``check_training``'s run: the frozen trajectories that apply, then the drawn ones."""
    tally = TrainingTally()
    total = len(chosen) + examples
    first_failure: tuple[Failure, Callable[[float], bool]] | None = None
    stopped = False
    for case, case_steps in chosen:
        label = f"case {case.id}"
        verdict = judge_training_case(judge, case, case_steps, label)
        tally.add_trajectory(label, verdict, "frozen")
        report_progress(progress, tally.done(), total)
        if first_failure is None and verdict.verdict.failure is not None:
            rejudge = training_rejudge(judge, case, case_steps, label)
            first_failure = verdict.verdict.failure, rejudge
        if verdict.verdict.stopped:
            stopped = True
            break
    if first_failure is not None:
        tally.record(*first_failure)
    if examples and not stopped:
        run_drawn_training(judge, tally, examples, max_steps, progress, total)
    return tally.training_report(judge, skipped)


def check_training_case(
    train: TrainFunction | str,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    w1: NDArray[np.float64],
    w2: NDArray[np.float64],
    learning_rate: float,
    steps: int,
    *,
    arithmetic: str = "float64",
    relu_grad_at_zero: float = 1.0,
    timeout: float | None = None,
) -> ConformanceReport:
    """Judge ``train`` on one trajectory: what a failure's snippet calls to reproduce it.

    Args:
        train: the implementation, as for ``check_training``.
        x: ``(batch, d_in)``, float64 holding numbers of the arithmetic's grid.
        y: ``(batch, d_out)``, likewise.
        w1: ``(d_in, hidden)``, likewise.
        w2: ``(hidden, d_out)``, likewise.
        learning_rate: a finite float >= 0.
        steps: the number of updates, at least 1.
        arithmetic: as for ``check_training``.
        relu_grad_at_zero: as for ``check_training``.
        timeout: as for ``check_training``.

    Returns:
        The ``ConformanceReport`` of this one trajectory (``frozen_cases`` 1, labelled
        ``"given"``).

    Raises:
        ValueError: the case is not on the arithmetic's grid or leaves its range, or a bad
            argument (as ``twolayer.forward`` says).
    """
    arithmetic = check_arithmetic(arithmetic)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    count = check_count("steps", steps, 1)
    forward(Params(w1, w2), x)  # validates the shapes and dtypes, in axis names
    case = CaseInputs(0, "given", (), rule, x, y, w1, w2, float(learning_rate))
    check_trajectory_bytes("steps", case, count)
    if not applies(case, arithmetic):
        raise ValueError(
            f"the case's inputs must lie on the {arithmetic} grid (numbers that its format holds "
            "exactly) and its values within the format's range"
        )
    limit = check_timeout(timeout)
    runner, name = start_runner(train, "train", limit)
    try:
        judge = TrainJudge(runner, name, arithmetic, rule)
        tally = TrainingTally()
        verdict = judge_training_case(judge, case, count, "given")
        tally.add_trajectory("given", verdict, "frozen")
        if verdict.verdict.failure is not None:
            tally.record(verdict.verdict.failure, training_rejudge(judge, case, count, "given"))
        return tally.training_report(judge, 0)
    finally:
        runner.close()
