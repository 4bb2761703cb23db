"""Judging a results file: its step results and its trajectories, against the suite's cases.

``check_results`` judges the step results, ``check_trajectory_results`` the trajectories and
``check_results_file`` whatever the file holds, each output as the judge of a Python step would.
``results_document`` and ``training_results_document`` write such a file for a Python step or
training loop.
"""

from collections.abc import Callable, Iterable, Mapping

import numpy as np
from numpy.typing import NDArray

from twolayer.calls import (
    Judge,
    StepFunction,
    TrainFunction,
    TrainJudge,
    fresh,
    implementation_name,
)
from twolayer.cases import CaseInputs, build_cases
from twolayer.comparison import (
    UnusableResultError,
    expected_shape,
    read_outputs,
    read_trajectory,
    shape_in_axes,
    trajectory_shapes,
)
from twolayer.floats import float_to_hex
from twolayer.reference import applies, check_arithmetic, frozen_references
from twolayer.report import ConformanceReport, Failure
from twolayer.results import RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, Results, load_results
from twolayer.shapes import check_relu_grad_at_zero
from twolayer.snippets import trajectory_results_snippet
from twolayer.trajectories import TRAINING_CASES, TrainingTally, judge_transitions, training_cases
from twolayer.vector_files import load_suite
from twolayer.verdicts import Tally, judge_read


def _check_shapes(case: CaseInputs, outputs: Mapping[str, NDArray[np.float64]]) -> None:
    for name, values in outputs.items():
        shape = expected_shape(name, case)
        if values.shape != shape:
            raise ValueError(
                f"results for case {case.id}: {name} has shape {list(values.shape)}; the case's "
                f"{name} is {shape_in_axes(name, case)}"
            )


def _listed(ids: Iterable[int]) -> str:
    shown = sorted(ids)
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return ", ".join(map(str, shown[:10])) + more


def _documents(suite_document: object, results_document: object) -> tuple[bytes | None, bytes]:
    """Both documents as given, if each is bytes (the suite's may be None); else ``TypeError``."""
    if suite_document is not None and not isinstance(suite_document, bytes):
        raise TypeError(
            "suite_document must be None or the bytes of a suite's JSON file (such as "
            f"Path(...).read_bytes()); got {type(suite_document).__qualname__}"
        )
    if not isinstance(results_document, bytes):
        raise TypeError(
            "results_document must be the bytes of a results JSON file (such as "
            f"Path(...).read_bytes()); got {type(results_document).__qualname__}"
        )
    return suite_document, results_document


def _suite_cases(suite_document: bytes | None) -> tuple[CaseInputs, ...]:
    if suite_document is None:
        return tuple(build_cases())
    return tuple(case.inputs for case in load_suite(suite_document).cases)


def _judge_step_results(
    results: Results, cases: tuple[CaseInputs, ...], arithmetic: str, rule: float
) -> ConformanceReport:
    """``check_results`` on a document read and the suite's cases."""
    by_id = {case.id: case for case in cases}
    unknown = set(results.outputs) - set(by_id)
    if unknown:
        raise ValueError(
            f"the results hold case id(s) {_listed(unknown)} that the suite does not have: "
            "results for another suite, or another version of it"
        )
    applicable = [case for case in cases if applies(case, arithmetic)]
    if not applicable:
        raise ValueError(
            f"nothing to judge: none of the suite's {len(cases)} case(s) applies to {arithmetic} "
            "(inputs on its grid, values within its range); a verdict needs at least one case"
        )
    missing = [case.id for case in applicable if case.id not in results.outputs]
    if missing:
        raise ValueError(
            f"the results lack case(s) {_listed(missing)}, which apply to {arithmetic} "
            "(inputs on its grid, values within its range)"
        )
    for case in applicable:
        _check_shapes(case, results.outputs[case.id])
    known, _ = frozen_references(applicable, arithmetic, rule)
    references = {reference.case.id: reference for reference in known}
    judge = Judge(None, results.implementation, arithmetic, rule)
    tally = Tally()
    failures: list[tuple[Failure, CaseInputs]] = []
    for case in applicable:
        reference = references[case.id]
        verdict = judge_read(judge, reference, results.outputs[case.id], [])
        tally.add(reference.label, verdict, "frozen")
        if verdict.failure is not None:
            failures.append((verdict.failure, case))
    if failures:
        failing = [(case, results.outputs[case.id]) for _, case in failures]
        tally.record(failures[0][0], _results_rejudge(judge, failing))
    return tally.report(judge, len(cases) - len(applicable))


def _results_rejudge(
    judge: Judge, failing: list[tuple[CaseInputs, Mapping[str, NDArray[np.float64]]]]
) -> Callable[[float], bool]:
    """Whether every failing case of a results file conforms under another tie convention:
    the file's outputs judged again against the exact values and bounds of that convention."""

    def conforms(rule: float) -> bool:
        under = judge._replace(relu_grad_at_zero=rule)
        references, _ = frozen_references([case for case, _ in failing], judge.arithmetic, rule)
        by_id = {reference.case.id: reference for reference in references}
        return all(
            case.id in by_id and judge_read(under, by_id[case.id], outputs, []).failure is None
            for case, outputs in failing
        )

    return conforms


def check_results(
    suite_document: bytes | None,
    results_document: bytes,
    *,
    arithmetic: str = "float64",
    relu_grad_at_zero: float = 1.0,
) -> ConformanceReport:
    """Judge the outputs that an implementation wrote to a results file for a suite's cases.

    The results must hold every case of the suite whose inputs lie on the grid of ``arithmetic``
    and whose values keep within its range (for float64: every case; ``applies`` says which);
    results for other cases of the suite are ignored. Each output is judged as
    ``check_implementation`` judges a step's, with the exact values recomputed from the case's
    inputs (the suite's own expected values are not trusted).

    Args:
        suite_document: the bytes of the suite's JSON file, or None for the frozen suite of
            ``twolayer.vectors``.
        results_document: the bytes of the results' JSON file.
        arithmetic: what the implementation claims to compute in (as ``check_implementation``).
        relu_grad_at_zero: the tie convention that it claims: 0, 0.5 or 1.

    Returns:
        The ``ConformanceReport`` (``drawn_cases`` 0: a file cannot be asked for more).

    Raises:
        ValueError: either document is malformed, or the results do not match the suite's cases
            (an unknown id, a missing case, a shape that disagrees); the message says which.
    """
    suite_document, results_document = _documents(suite_document, results_document)
    arithmetic = check_arithmetic(arithmetic)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    results = load_results(results_document)
    if "results" not in results.sections:
        raise ValueError(
            "the results file holds no step results ('results'), only trajectories: judge them "
            "with check_trajectory_results (twolayer check --results judges either)"
        )
    return _judge_step_results(results, _suite_cases(suite_document), arithmetic, rule)


def results_document(
    step: StepFunction,
    *,
    arithmetic: str = "float64",
    cases: Iterable[CaseInputs] | None = None,
    implementation: str | None = None,
) -> dict[str, object]:
    """Run ``step`` on every case that applies to ``arithmetic``; return its results document.

    What an implementation in another language writes for ``check_results``: every float as a
    ``float.hex`` string. A reference for the format, and a way to judge a Python step as a
    file.

    Args:
        step: as for ``check_implementation``.
        arithmetic: selects the cases (on its grid and range).
        cases: default: every case of the frozen suite.
        implementation: the name written in the document (default: from ``step``).

    Returns:
        The document, ready for ``json.dumps``.

    Raises:
        ValueError: ``step`` returned something that is not outputs. Whatever ``step`` raises.
    """
    arithmetic = check_arithmetic(arithmetic)
    entries: list[dict[str, object]] = []
    for case in build_cases() if cases is None else cases:
        if not applies(case, arithmetic):
            continue
        x, y, w1, w2 = (np.array(a, dtype=np.float64) for a in (case.x, case.y, case.w1, case.w2))
        try:
            outputs = read_outputs(step(x, y, w1, w2, case.learning_rate), case)
        except UnusableResultError as error:
            raise ValueError(f"case {case.id}: {error}") from None
        entry: dict[str, object] = {"id": case.id}
        for name, values in outputs.items():
            if name == "loss":
                entry[name] = float_to_hex(float(values))
            else:
                data = [float_to_hex(v) for v in values.ravel().tolist()]
                entry[name] = {"shape": list(values.shape), "data": data}
        entries.append(entry)
    return {
        "schema": RESULTS_SCHEMA,
        "schema_version": 1,  # step results alone: read by every reader
        "implementation": implementation or implementation_name(step),
        "results": entries,
    }


def _check_trajectory_shapes(
    case: CaseInputs, steps: int, trajectory: Mapping[str, NDArray[np.float64]]
) -> None:
    for name, (shape, described) in trajectory_shapes(case, steps).items():
        values = trajectory[name]
        if values.shape != shape:
            raise ValueError(
                f"the trajectory of case {case.id}: {name} has shape {list(values.shape)}; "
                f"expected {described}"
            )


def _judge_trajectory_results(
    results: Results, cases: tuple[CaseInputs, ...], arithmetic: str, rule: float
) -> ConformanceReport:
    """``check_trajectory_results`` on a document read and the suite's cases."""
    expected = dict(TRAINING_CASES)
    unknown = set(results.trajectories) - set(expected)
    if unknown:
        raise ValueError(
            f"the results hold trajectories of case id(s) {_listed(unknown)}, which are not "
            f"frozen trajectories (those are of cases {_listed(expected)})"
        )
    for case_id, trajectory in results.trajectories.items():
        steps = len(trajectory["losses"])
        if steps != expected[case_id]:
            raise ValueError(
                f"the trajectory of case {case_id} has steps {steps}; the frozen trajectory of "
                f"case {case_id} has {expected[case_id]} (conformance.TRAINING_CASES)"
            )
    by_id = {case.id: case for case in cases}
    absent = [case_id for case_id in expected if case_id not in by_id]
    if absent:
        raise ValueError(
            f"the suite lacks case(s) {_listed(absent)}, from which the frozen trajectories "
            "start: judge trajectories against the frozen suite"
        )
    chosen = [(by_id[case_id], steps) for case_id, steps in TRAINING_CASES]
    applicable = [(case, steps) for case, steps in chosen if applies(case, arithmetic)]
    if not applicable:
        raise ValueError(
            f"nothing to judge: none of the frozen trajectories applies to {arithmetic}; a "
            "verdict needs at least one trajectory"
        )
    for case, steps in chosen:
        if case.id in results.trajectories:
            _check_trajectory_shapes(case, steps, results.trajectories[case.id])
    missing = [case.id for case, _ in applicable if case.id not in results.trajectories]
    if missing:
        raise ValueError(
            f"the results lack the trajectories of case(s) {_listed(missing)}, which apply to "
            f"{arithmetic} (inputs on its grid, values within its range)"
        )
    judge = TrainJudge(None, results.implementation, arithmetic, rule)
    tally = TrainingTally()
    failures: list[tuple[Failure, CaseInputs, int]] = []
    for case, steps in applicable:
        label = f"case {case.id}"
        verdict = judge_transitions(judge, case, steps, label, results.trajectories[case.id])
        failure = verdict.verdict.failure
        if failure is not None:
            failure = failure._replace(snippet=trajectory_results_snippet(judge, case, steps))
            verdict = verdict._replace(verdict=verdict.verdict._replace(failure=failure))
            failures.append((failure, case, steps))
        tally.add_trajectory(label, verdict, "frozen")
    if failures:
        failing = [(case, steps) for _, case, steps in failures]
        tally.record(failures[0][0], _trajectory_results_rejudge(judge, results, failing))
    return tally.training_report(judge, len(chosen) - len(applicable))


def _trajectory_results_rejudge(
    judge: TrainJudge, results: Results, failing: list[tuple[CaseInputs, int]]
) -> Callable[[float], bool]:
    """Whether every failing trajectory of a results file conforms under another convention."""

    def conforms(rule: float) -> bool:
        under = judge._replace(relu_grad_at_zero=rule)
        return all(
            judge_transitions(
                under, case, steps, f"case {case.id}", results.trajectories[case.id]
            ).verdict.failure
            is None
            for case, steps in failing
        )

    return conforms


def check_trajectory_results(
    suite_document: bytes | None,
    results_document: bytes,
    *,
    arithmetic: str = "float64",
    relu_grad_at_zero: float = 1.0,
) -> ConformanceReport:
    """Judge the training trajectories that an implementation wrote to a results file.

    The document's ``trajectories`` (``schema_version`` 2) must hold each frozen trajectory of
    ``TRAINING_CASES`` that applies to ``arithmetic``, with its number of steps; others are
    ignored. Each trajectory is judged as ``check_training`` judges what a ``train`` returned:
    index 0 must be the case's weights bit for bit, and each update ``t -> t + 1`` is judged from
    the file's own ``w1[t]``, ``w2[t]`` against the exact step and its bounds.

    Args:
        suite_document: the bytes of the suite's JSON file, or None for the frozen suite; the
            trajectories start from its cases of the ids in ``TRAINING_CASES``.
        results_document: the bytes of the results' JSON file.
        arithmetic: what the implementation claims to compute in (as ``check_training``).
        relu_grad_at_zero: the tie convention that it claims: 0, 0.5 or 1.

    Returns:
        A ``ConformanceReport`` of ``kind`` ``"training"`` (``drawn_cases`` 0).

    Raises:
        ValueError: either document is malformed, the file holds no trajectories, or they do
            not match the frozen ones (an unknown id, a missing trajectory, another number of
            steps, a shape that disagrees); the message says which.
    """
    suite_document, results_document = _documents(suite_document, results_document)
    arithmetic = check_arithmetic(arithmetic)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    results = load_results(results_document)
    if "trajectories" not in results.sections:
        raise ValueError(
            "the results file holds no trajectories (schema_version 2's 'trajectories')"
        )
    return _judge_trajectory_results(results, _suite_cases(suite_document), arithmetic, rule)


def check_results_file(
    suite_document: bytes | None,
    results_document: bytes,
    *,
    arithmetic: str = "float64",
    relu_grad_at_zero: float = 1.0,
) -> tuple[ConformanceReport, ...]:
    """Judge whatever a results file holds: its step results, its trajectories, or both.

    Returns:
        ``check_results``'s report if the file holds ``results``, then
        ``check_trajectory_results``'s if it holds ``trajectories``.

    Raises:
        ValueError: as ``check_results`` and ``check_trajectory_results``.
    """
    suite_document, results_document = _documents(suite_document, results_document)
    arithmetic = check_arithmetic(arithmetic)
    rule = check_relu_grad_at_zero(relu_grad_at_zero)
    results = load_results(results_document)
    cases = _suite_cases(suite_document)
    reports: list[ConformanceReport] = []
    if "results" in results.sections:
        reports.append(_judge_step_results(results, cases, arithmetic, rule))
    if "trajectories" in results.sections:
        reports.append(_judge_trajectory_results(results, cases, arithmetic, rule))
    return tuple(reports)


def _hex_floats(values: NDArray[np.float64], where: str) -> list[str]:
    if not np.isfinite(values).all():
        raise ValueError(f"{where} is not finite; a results file holds finite floats only")
    return [float_to_hex(v) for v in values.ravel().tolist()]


def training_results_document(
    train: TrainFunction,
    *,
    arithmetic: str = "float64",
    cases: Iterable[tuple[CaseInputs, int]] | None = None,
    implementation: str | None = None,
) -> dict[str, object]:
    """Run ``train`` on every frozen trajectory that applies to ``arithmetic``; return the
    results document (``schema_version`` 2, ``trajectories`` only) for
    ``check_trajectory_results``.

    What a training loop in another language writes: every float as a ``float.hex`` string. To
    judge steps and trajectories from one file, put ``results_document``'s ``results`` beside
    these ``trajectories``.

    Args:
        train: as for ``check_training``.
        arithmetic: selects the trajectories (on its grid and range).
        cases: ``(case, steps)`` pairs; default: ``training_cases()``.
        implementation: the name written in the document (default: from ``train``).

    Returns:
        The document, ready for ``json.dumps``.

    Raises:
        ValueError: ``train`` returned something that is not a trajectory, or a value that is
            not finite. Whatever ``train`` raises.
    """
    arithmetic = check_arithmetic(arithmetic)
    entries: list[dict[str, object]] = []
    for case, steps in training_cases() if cases is None else cases:
        if not applies(case, arithmetic):
            continue
        x, y, w1, w2 = fresh(case)
        try:
            trajectory = read_trajectory(
                train(x, y, w1, w2, case.learning_rate, steps), case, steps
            )
        except UnusableResultError as error:
            raise ValueError(f"case {case.id}: {error}") from None
        entry: dict[str, object] = {
            "id": case.id,
            "steps": steps,
            "losses": _hex_floats(trajectory["losses"], f"case {case.id}: losses"),
        }
        for name in ("w1", "w2"):
            entry[name] = [
                {
                    "shape": list(matrix.shape),
                    "data": _hex_floats(matrix, f"case {case.id}: {name}[{t}]"),
                }
                for t, matrix in enumerate(trajectory[name])
            ]
        entries.append(entry)
    return {
        "schema": RESULTS_SCHEMA,
        "schema_version": RESULTS_SCHEMA_VERSION,
        "implementation": implementation or implementation_name(train),
        "trajectories": entries,
    }
