"""The verdict on one case of a step, and the tally of a run's verdicts into a report.

``judge_case`` calls the implementation on a case (twice, to catch state kept between calls)
and judges what it did; ``judge_read`` judges outputs already read (a results file's too).
``Tally`` counts the cases judged, keeps the worst ratio of each output and the failures, and
makes the ``ConformanceReport``; ``step_rejudge`` judges a failing case again under another tie
convention, for the report's hint.
"""

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from twolayer import isolation
from twolayer.calls import Judge, Runner
from twolayer.cases import CaseInputs
from twolayer.comparison import Comparison, judge_outputs
from twolayer.reference import Reference, exact_reference
from twolayer.report import (
    INPUTS,
    OUTPUTS,
    STATE,
    STEP,
    CaseRatio,
    ConformanceReport,
    Failure,
    OutputSummary,
)
from twolayer.shapes import RELU_GRAD_AT_ZERO_CHOICES
from twolayer.snippets import limited_snippet, step_snippet


class CaseVerdict(NamedTuple):
    """The judgement of one case: each output's comparison, and a failure if any."""

    comparisons: Mapping[str, Comparison]
    failure: Failure | None
    moving_ties: bool
    stopped: bool = False  # the worker did not answer (a timeout, an exit): judge no further


def _differing(
    first: Mapping[str, NDArray[np.float64]], second: Mapping[str, NDArray[np.float64]]
) -> tuple[str, tuple[int, ...]] | None:
    """The first output (and entry) whose bits differ between two calls, or None if none does."""
    for name in OUTPUTS:
        if (name in first) != (name in second):
            return name, ()
        if name not in first:
            continue
        differ = first[name].view(np.int64) != second[name].view(np.int64)
        if differ.any():
            return name, tuple(int(i) for i in np.argwhere(differ)[0])
    return None


def _failed(
    judge: Judge, case: CaseInputs, label: str, blamed: tuple[str, ...], messages: list[str]
) -> CaseVerdict:
    failure = Failure(
        case=label,
        outputs=blamed,
        message="\n".join(messages),
        snippet=step_snippet(judge, case, label, blamed),
    )
    return CaseVerdict({}, failure, moving_ties=False)


STOPPED = "; no further case was judged"


def halted(failure: Failure) -> bool:
    """Whether ``failure`` is where the worker gave no answer (and the judge's run ended)."""
    return failure.message.endswith(STOPPED)


def halt(verdict: CaseVerdict, runner: "Runner | None") -> CaseVerdict:
    """``verdict`` marked as the end of the run, its snippet limited by the worker's timeout."""
    failure = verdict.failure
    if failure is not None and runner is not None and runner.worker is not None:
        snippet = limited_snippet(failure.snippet, runner.worker.timeout)
        verdict = verdict._replace(failure=failure._replace(snippet=snippet))
    return verdict._replace(stopped=True)


def _stopped(
    judge: Judge, case: CaseInputs, label: str, blamed: tuple[str, ...], message: str
) -> CaseVerdict:
    """The verdict on a case where the worker gave no answer: the judge's run ends with it."""
    return halt(_failed(judge, case, label, blamed, [message + STOPPED]), judge.runner)


def _call_twice(
    judge: Judge, case: CaseInputs, label: str
) -> tuple[dict[str, NDArray[np.float64]], list[str], dict[str, NDArray[np.float64]]] | CaseVerdict:
    """The outputs of two calls on the same case and the arguments that the first changed, or
    the verdict where a call gave no outputs."""
    if judge.runner is None:
        raise ValueError("a judge of a results file has no step to call")
    try:
        outputs, changed = judge.runner.call(case)
    except isolation.StoppedError as error:
        return _stopped(judge, case, label, (STEP,), f"step {error}")
    if isinstance(outputs, str):
        return _failed(judge, case, label, (STEP,), [outputs])
    # The same case again, on fresh copies: a step is a function of its arguments alone.
    try:
        again, _ = judge.runner.call(case)
    except isolation.StoppedError as error:
        message = f"called a second time on the same inputs, step {error}"
        return _stopped(judge, case, label, (STATE,), message)
    if isinstance(again, str):
        message = f"called a second time on the same inputs, {again}"
        return _failed(judge, case, label, (STATE,), [message])
    return outputs, changed, again


def judge_read(
    judge: Judge,
    reference: Reference,
    outputs: Mapping[str, NDArray[np.float64]],
    changed: list[str],
) -> CaseVerdict:
    """Judge the outputs read from an implementation (``changed``: arguments it overwrote)."""
    if reference.needs_mask and "h" in outputs:
        reference = exact_reference(
            reference.case,
            reference.label,
            judge.arithmetic,
            judge.relu_grad_at_zero,
            outputs["h"],
        )
    comparisons, messages = judge_outputs(outputs, reference)
    blamed = [name for name, comparison in comparisons.items() if comparison.failing]
    if changed:
        blamed.append(INPUTS)
        messages.append(
            f"step changed its argument(s) {', '.join(changed)} in place; a caller's data "
            "would change under it"
        )
    if not blamed:
        return CaseVerdict(comparisons, None, reference.moving_ties)
    verdict = _failed(judge, reference.case, reference.label, tuple(blamed), messages)
    return verdict._replace(comparisons=comparisons, moving_ties=reference.moving_ties)


def judge_case(
    judge: Judge, case: CaseInputs, label: str, reference: Reference | None
) -> CaseVerdict:
    """Call the implementation on one case and judge what it did.

    ``reference``: the case's, computed without the implementation's ``h`` (frozen cases), or
    None to compute it after the call, with its ``h`` (drawn cases).
    """
    called = _call_twice(judge, case, label)
    if isinstance(called, CaseVerdict):
        return called
    outputs, changed, again = called
    if reference is None:
        h = outputs.get("h")
        reference = exact_reference(case, label, judge.arithmetic, judge.relu_grad_at_zero, h)
    verdict = judge_read(judge, reference, outputs, changed)
    differing = _differing(outputs, again)
    if differing is None:
        return verdict
    # Different bits from the same inputs: either rounding that varies from call to call (a
    # nondeterministic summation order), which is legal while both answers are within their
    # bounds, or state kept between calls, which makes one of them wrong.
    second = judge_read(judge, reference, again, [])
    if verdict.failure is None and second.failure is None:
        return verdict
    name, index = differing
    if name in outputs and name in again:
        where = f"[{', '.join(map(str, index))}]" if index else ""
        returned = (
            f"{name}{where} = {float(again[name][index])!r}, not {float(outputs[name][index])!r}"
        )
    else:
        returned = f"{'no' if name in outputs else 'an'} {name}, unlike the first time"
    wrong = "the second answer" if verdict.failure is None else "the first answer"
    failure = verdict.failure or second.failure
    details = failure.message if failure is not None else ""
    message = (
        f"stateful: called a second time on the same inputs, step returned {returned}, and "
        f"{wrong} is beyond its bounds; its answer depends on earlier calls, and a step must "
        f"depend on its arguments alone. {details}"
    )
    return _failed(judge, case, label, (STATE,), [message])


Progress = Callable[[int, int], None]
"""A callback ``progress(done, total)``: the cases (or trajectories) judged so far, of ``total``.

``done`` never exceeds ``total``; a run that stops early (a failure, then shrinking) may end below
it. The judge calls it after each case and prints nothing itself (``twolayer check`` draws it on a
terminal)."""


def report_progress(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(min(done, total), total)


def step_rejudge(judge: Judge, case: CaseInputs, label: str) -> Callable[[float], bool]:
    """Whether ``case`` conforms when judged again under another tie convention."""

    def conforms(rule: float) -> bool:
        under = judge._replace(relu_grad_at_zero=rule)
        again = case._replace(relu_grad_at_zero=rule)
        return judge_case(under, again, label, None).failure is None

    return conforms


class StopDrawingError(BaseException):
    """Raised inside the hypothesis run where the worker gave no answer: no shrinking, no more
    cases (a step that never returns would cost its timeout on each). A ``BaseException``:
    hypothesis lets it through, as it does ``KeyboardInterrupt``, instead of shrinking."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class Tally:
    """The worst ratio of each output so far, the counts, and the failures (mutable)."""

    def __init__(self) -> None:
        self.worst: dict[str, OutputSummary] = {}
        self.counts = {"frozen": 0, "drawn": 0, "ties": 0}
        self.failures: list[Failure] = []
        self.case_ratios: list[CaseRatio] = []
        # Per failure recorded: does its case conform when judged again under this convention?
        self.rejudges: list[Callable[[float], bool]] = []

    def done(self) -> int:
        """The cases judged so far (drawn ones include those that hypothesis shrank)."""
        return self.counts["frozen"] + self.counts["drawn"]

    def record(self, failure: Failure, rejudge: Callable[[float], bool]) -> None:
        """Record a failure of the report, with how to judge its case under another rule."""
        self.failures.append(failure)
        self.rejudges.append(rejudge)

    def conforms_under(self, claimed: float) -> tuple[float, ...]:
        """The other tie conventions under which every recorded failing case conforms."""
        # A step that raised, kept state or changed an argument is wrong under every convention;
        # a results file's failures have no call to make again.
        if len(self.rejudges) != len(self.failures) or any(
            set(f.outputs) & {STEP, INPUTS, STATE} for f in self.failures
        ):
            return ()
        return tuple(
            rule
            for rule in RELU_GRAD_AT_ZERO_CHOICES
            if self.failures and rule != claimed and all(rejudge(rule) for rejudge in self.rejudges)
        )

    def add(self, label: str, verdict: CaseVerdict, kind: str) -> None:
        """Count a judged case; where its worker gave no answer in a drawn run, end that run.

        (Ended here, not in the drawn run's ``judge_one``: hypothesis derives its derandomized
        cases from that function's source, and the verdicts of the docs from those cases.)
        """
        if kind == "drawn" and verdict.stopped and verdict.failure is not None:
            self.counts[kind] += 1
            raise StopDrawingError(verdict.failure)
        self.counts[kind] += 1
        self.counts["ties"] += verdict.moving_ties
        case = label if kind == "frozen" else f"{kind} {self.counts[kind]}"
        for name, comparison in verdict.comparisons.items():
            self.case_ratios.append(CaseRatio(case, name, comparison.worst_ratio))
            known = self.worst.get(name)
            if known is None or comparison.worst_ratio > known.worst_ratio:
                self.worst[name] = OutputSummary(
                    name, comparison.worst_ratio, label, comparison.position
                )

    def report(
        self, judge: Judge, skipped: int, order: tuple[str, ...] = OUTPUTS
    ) -> ConformanceReport:
        if not self.done():  # "conforms" on nothing judged would be a verdict on nothing
            raise ValueError(
                f"nothing was judged: no case applies to {judge.arithmetic} ({skipped} skipped: "
                "off its grid or range) and none was drawn; a verdict needs at least one case"
            )
        return ConformanceReport(
            conforms=not self.failures,
            implementation=judge.implementation,
            arithmetic=judge.arithmetic,
            relu_grad_at_zero=judge.relu_grad_at_zero,
            frozen_cases=self.counts["frozen"],
            skipped_cases=skipped,
            drawn_cases=self.counts["drawn"],
            tie_cases=self.counts["ties"],
            outputs=tuple(self.worst[name] for name in order if name in self.worst),
            failures=tuple(self.failures),
            case_ratios=tuple(self.case_ratios),
            conforms_under=self.conforms_under(judge.relu_grad_at_zero),
        )
