"""The verdict on one trajectory of a training loop, judged transition by transition.

``judge_transitions`` judges each update ``t -> t + 1`` from the implementation's own weights
``w1[t]``, ``w2[t]`` against the exact step and its bounds; ``judge_training_case`` calls the
loop on one case (twice) and judges what it returned. ``TRAINING_CASES`` and ``training_cases``
are the frozen trajectories; ``TrainingTally`` tallies trajectories into a report of ``kind``
``"training"``.
"""

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from twolayer import exact, isolation
from twolayer.calls import Called, Judge, TrainJudge
from twolayer.cases import CaseInputs
from twolayer.comparison import Comparison, judge_outputs
from twolayer.network import value_and_grad
from twolayer.reference import (
    case_params,
    exact_reference,
    format_range,
    in_range,
    on_grid,
    suite_by_id,
)
from twolayer.report import INPUTS, STATE, STEP, TRAJECTORY_OUTPUTS, ConformanceReport, Failure
from twolayer.shapes import Dims, check_bytes, frozen, trajectory_bytes
from twolayer.snippets import training_snippet
from twolayer.training import sgd_step
from twolayer.verdicts import STOPPED, CaseVerdict, Tally, halt

TRAINING_CASES: tuple[tuple[int, int], ...] = (
    (1, 3),  # the seed's dims
    (42, 2),  # awkward sizes past the seed's, in float64
    (43, 2),  # awkward sizes past the seed's, on the bf16 grid
    (44, 3),
    (45, 3),
    (46, 3),
    (2, 6),
    (9, 8),
    (14, 4),  # an exact tie h == 0
    (17, 4),
    (24, 5),  # dead units
    (34, 2),  # on the bf16 grid (diverging: two steps keep within float32's range)
    (35, 2),
    (38, 6),
    (39, 3),  # zero loss
    (41, 5),  # learning rate 1
    (47, 4),  # a tie at -0.0
)
"""The frozen training cases: ``(id, steps)``, a case of ``twolayer.vectors`` and the number of
updates to train from it."""


_ANCHOR_GRID = {"float64": "float64", "float32": "float32", "tf32": "float32", "bf16": "float32"}


_TRAJECTORY_NAMES = {"loss": ("losses", 0), "w1_next": ("w1", 1), "w2_next": ("w2", 1)}


class _TrajectoryVerdict(NamedTuple):
    """The judgement of one trajectory: as a case's, with the transitions counted."""

    verdict: CaseVerdict
    judged: int  # transitions judged
    unjudged: int  # transitions from weights outside the format's range (not those after a failure)
    mask_changed: bool  # the exact mask of some unit differs between two judged steps


def _call_train(judge: TrainJudge, case: CaseInputs, steps: int) -> Called:
    """Call ``train`` on fresh copies: its trajectory (or why not), and the arguments it changed.

    Raises ``isolation.StoppedError`` where its worker gave no answer.
    """
    if judge.runner is None:
        raise ValueError("a judge of a results file has no train to call")
    return judge.runner.call(case, steps)


def _first_difference(first: NDArray[np.float64], second: NDArray[np.float64]) -> tuple[int, ...]:
    differ = first.view(np.int64) != second.view(np.int64)
    return tuple(int(i) for i in np.argwhere(differ)[0]) if differ.any() else ()


def _at(name: str, index: tuple[int, ...]) -> str:
    return f"{name}[{', '.join(map(str, index))}]"


def transition_in_range(case: CaseInputs, arithmetic: str, relu_grad_at_zero: float) -> bool:
    """Whether the step from ``case`` keeps within the format's range, its loss and update too.

    ``in_range`` checks the inputs and every value up to the gradients; the loss and the weights
    after the update (from the float64 oracle, close enough for the margin of ``2**64``) are
    checked here.
    """
    if not in_range(case, arithmetic):
        return False
    low, high = format_range(arithmetic)
    params = case_params(case)
    with np.errstate(all="ignore"):
        loss, grads = value_and_grad(params, case.x, case.y, relu_grad_at_zero=relu_grad_at_zero)
        after = sgd_step(params, grads, case.learning_rate)
    magnitudes = np.abs(np.concatenate([[loss], after.w1.ravel(), after.w2.ravel()]))
    magnitudes = magnitudes[magnitudes != 0]
    return bool(np.all(np.isfinite(magnitudes) & (magnitudes >= low) & (magnitudes <= high)))


def _failed_training(
    judge: TrainJudge,
    case: CaseInputs,
    steps: int,
    label: str,
    blamed: tuple[str, ...],
    messages: list[str],
) -> CaseVerdict:
    failure = Failure(
        case=label,
        outputs=blamed,
        message="\n".join(messages),
        snippet=training_snippet(judge, case, steps, label),
    )
    return CaseVerdict({}, failure, moving_ties=False)


def judge_transitions(
    judge: TrainJudge,
    case: CaseInputs,
    steps: int,
    label: str,
    trajectory: Mapping[str, NDArray[np.float64]],
) -> _TrajectoryVerdict:
    """Judge each transition ``t -> t + 1`` from the implementation's own ``w1[t]``, ``w2[t]``."""
    losses, w1s, w2s = (trajectory[name] for name in TRAJECTORY_OUTPUTS)
    for name, received, returned in (("w1", case.w1, w1s[0]), ("w2", case.w2, w2s[0])):
        if not np.array_equal(returned.view(np.int64), received.view(np.int64)):
            index = _first_difference(returned, received)
            message = (
                f"step 0: {_at(name, (0, *index))} = {float(returned[index])!r}, not the "
                f"{float(received[index])!r} received; index 0 must be the weights received, "
                "bit for bit"
            )
            return _TrajectoryVerdict(
                _failed_training(judge, case, steps, label, (name,), [message]), 0, 0, False
            )
    grid = _ANCHOR_GRID[judge.arithmetic]
    worst: dict[str, Comparison] = {}
    moving, mask_changed = False, False
    previous: NDArray[np.bool_] | None = None
    for t in range(steps):
        anchor = case._replace(w1=frozen(np.array(w1s[t])), w2=frozen(np.array(w2s[t])))
        off = [name for name in ("w1", "w2") if not on_grid(getattr(anchor, name), grid)]
        if off:
            message = (
                f"step {t}: {' and '.join(f'{name}[{t}]' for name in off)} hold values that are "
                f"not {grid} numbers; an implementation in {judge.arithmetic} keeps its weights "
                f"in {grid}"
            )
            verdict = _failed_training(judge, case, steps, label, tuple(off), [message])
            return _TrajectoryVerdict(verdict, t, 0, mask_changed)
        if t and not transition_in_range(anchor, judge.arithmetic, judge.relu_grad_at_zero):
            # The bounds hold only within the range; the transitions up to here were within it.
            verdict = CaseVerdict(worst, None, moving)
            return _TrajectoryVerdict(verdict, t, steps - t, mask_changed)
        outputs = {"loss": np.asarray(losses[t]), "w1_next": w1s[t + 1], "w2_next": w2s[t + 1]}
        for name, values in outputs.items():
            bad = ~np.isfinite(values)
            if bad.any():
                output, offset = _TRAJECTORY_NAMES[name]
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                message = (
                    f"step {t}: {_at(output, (t + offset, *index))} is {float(values[index])}, "
                    f"computed from w1[{t}], w2[{t}], which are within the format's range, as "
                    "is the exact step from them; every value must be finite there"
                )
                verdict = _failed_training(judge, case, steps, label, (output,), [message])
                return _TrajectoryVerdict(verdict, t, 0, mask_changed)
        reference = exact_reference(anchor, label, judge.arithmetic, judge.relu_grad_at_zero, None)
        moving = moving or reference.moving_ties
        mask = exact.signs(reference.exact.h) > 0
        mask_changed = mask_changed or (previous is not None and bool((mask != previous).any()))
        previous = mask
        comparisons, messages = judge_outputs(outputs, reference)
        failing: list[str] = []
        renamed: list[str] = []
        blamed = [name for name, comparison in comparisons.items() if comparison.failing]
        for name, message in zip(blamed, messages, strict=True):
            output, offset = _TRAJECTORY_NAMES[name]
            failing.append(output)
            renamed.append(f"{_at(output, (t + offset,))}{message[len(name) :]}")
        for name, comparison in comparisons.items():
            output, offset = _TRAJECTORY_NAMES[name]
            placed = comparison._replace(position=(t + offset, *comparison.position))
            known = worst.get(output)
            if known is None or placed.worst_ratio > known.worst_ratio:
                worst[output] = placed
        if failing:
            header = (
                f"step {t}: the update from the implementation's own w1[{t}], w2[{t}] departs "
                f"from the exact step (the first step that does, of {steps})"
            )
            verdict = _failed_training(
                judge, case, steps, label, tuple(failing), [header, *renamed]
            )
            verdict = verdict._replace(comparisons=worst, moving_ties=moving)
            return _TrajectoryVerdict(verdict, t + 1, 0, mask_changed)
    return _TrajectoryVerdict(CaseVerdict(worst, None, moving), steps, 0, mask_changed)


def _train_outputs(
    judge: TrainJudge, case: CaseInputs, steps: int, label: str, *, again: bool
) -> tuple[dict[str, NDArray[np.float64]], list[str]] | CaseVerdict:
    """One call of ``train`` (``again``: the second on this case): its trajectory and the
    arguments that it changed, or the verdict where it gave no trajectory."""
    blamed, prefix = (
        ((STATE,), "called a second time on the same inputs, ") if again else ((STEP,), "")
    )
    try:
        trajectory, changed = _call_train(judge, case, steps)
    except isolation.StoppedError as error:
        message = f"{prefix}train {error}{STOPPED}"
        return halt(_failed_training(judge, case, steps, label, blamed, [message]), judge.runner)
    if isinstance(trajectory, str):
        return _failed_training(judge, case, steps, label, blamed, [prefix + trajectory])
    return trajectory, changed


def judge_training_case(
    judge: TrainJudge, case: CaseInputs, steps: int, label: str
) -> _TrajectoryVerdict:
    """Call ``train`` on one case (twice, on fresh copies) and judge what it did."""
    called = _train_outputs(judge, case, steps, label, again=False)
    if isinstance(called, CaseVerdict):
        return _TrajectoryVerdict(called, 0, 0, False)
    first, changed = called
    if changed:
        message = (
            f"train changed its argument(s) {', '.join(changed)} in place; a caller's data "
            "would change under it"
        )
        verdict = _failed_training(judge, case, steps, label, (INPUTS,), [message])
        return _TrajectoryVerdict(verdict, 0, 0, False)
    judged = judge_transitions(judge, case, steps, label, first)
    # The same case again: training is a function of its arguments alone.
    called = _train_outputs(judge, case, steps, label, again=True)
    if isinstance(called, CaseVerdict):
        return judged._replace(verdict=called)
    again, _ = called
    differing = next(
        (
            name
            for name in TRAJECTORY_OUTPUTS
            if not np.array_equal(first[name].view(np.int64), again[name].view(np.int64))
        ),
        None,
    )
    if differing is None:
        return judged
    # Different bits from the same inputs: legal rounding variation while both are within their
    # bounds, or state kept between calls, which makes one of them wrong.
    second = judge_transitions(judge, case, steps, label, again)
    if judged.verdict.failure is None and second.verdict.failure is None:
        return judged
    index = _first_difference(first[differing], again[differing])
    wrong = "the second answer" if judged.verdict.failure is None else "the first answer"
    failure = judged.verdict.failure or second.verdict.failure
    details = failure.message if failure is not None else ""
    message = (
        f"stateful: called a second time on the same inputs, train returned "
        f"{_at(differing, index)} = {float(again[differing][index])!r}, not "
        f"{float(first[differing][index])!r}, and {wrong} is beyond its bounds; its answer "
        f"depends on earlier calls, and training must depend on its arguments alone. {details}"
    )
    verdict = _failed_training(judge, case, steps, label, (STATE,), [message])
    return judged._replace(verdict=verdict)


def training_rejudge(
    judge: TrainJudge, case: CaseInputs, steps: int, label: str
) -> Callable[[float], bool]:
    """Whether the trajectory conforms when judged again under another tie convention."""

    def conforms(rule: float) -> bool:
        under = judge._replace(relu_grad_at_zero=rule)
        again = case._replace(relu_grad_at_zero=rule)
        return judge_training_case(under, again, steps, label).verdict.failure is None

    return conforms


class TrainingTally(Tally):
    """As ``Tally``, with the transitions counted."""

    def __init__(self) -> None:
        super().__init__()
        self.judged, self.unjudged, self.mask_changes = 0, 0, 0

    def add_trajectory(self, label: str, verdict: _TrajectoryVerdict, kind: str) -> None:
        self.judged += verdict.judged
        self.unjudged += verdict.unjudged
        self.mask_changes += verdict.mask_changed
        self.add(label, verdict.verdict, kind)  # last: it ends a drawn run that got no answer

    def training_report(self, judge: TrainJudge, skipped: int) -> ConformanceReport:
        as_step = Judge(None, judge.implementation, judge.arithmetic, judge.relu_grad_at_zero)
        return self.report(as_step, skipped, TRAJECTORY_OUTPUTS)._replace(
            kind="training",
            steps_judged=self.judged,
            steps_unjudged=self.unjudged,
            mask_changes=self.mask_changes,
        )


def check_trajectory_bytes(name: str, case: CaseInputs, steps: int) -> None:
    """Refuse, before ``train`` is called, a trajectory too large to hold (``shapes.MAX_BYTES``)."""
    dims = Dims(case.x.shape[0], case.x.shape[1], case.w1.shape[1], case.w2.shape[1])
    check_bytes(f"{name} = {steps} at dims {tuple(dims)}", trajectory_bytes(dims, steps))


def training_cases() -> tuple[tuple[CaseInputs, int], ...]:
    """The frozen trajectories: each of ``TRAINING_CASES`` as ``(case, steps)``."""
    return tuple((suite_by_id()[case_id], steps) for case_id, steps in TRAINING_CASES)
