"""The reproducer snippets: Python code, printed with a failure, that reproduces its verdict.

For a step ``step_snippet`` calls ``check_case``, for a training loop ``training_snippet`` calls
``check_training_case`` (both imported from ``twolayer.conformance``, the implementation loaded
by name where it has one); for a results file the snippets compute the exact values to compare
by hand. ``limited_snippet`` adapts one to a call that never answered.
"""

import re

import numpy as np
from numpy.typing import NDArray

from twolayer.calls import SPEC, Judge, TrainJudge
from twolayer.cases import CaseInputs
from twolayer.reference import is_suite_case
from twolayer.report import DRAWN, OUTPUTS

_SNIPPET_MAX_ENTRIES = 400  # a case with more is loaded from the suite, not written out


def _literal(array: NDArray[np.float64]) -> str:
    """Write a float64 matrix as ``np.array([[...], ...])``; ``repr`` of a float round-trips."""
    rows = ("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in array.tolist())
    return f"np.array([{', '.join(rows)}])"


def _case_lines(case: CaseInputs, from_suite: bool) -> list[str]:
    """The lines of a snippet that give ``x, y, w1, w2, learning_rate``: the case looked up in the
    frozen suite by its id, or its arrays written out."""
    if from_suite:
        return [
            f"case = next(case for case in build_cases() if case.id == {case.id})",
            "x, y, w1, w2 = case.x, case.y, case.w1, case.w2",
            "learning_rate = case.learning_rate",
        ]
    return [
        f"x = {_literal(case.x)}",
        f"y = {_literal(case.y)}",
        f"w1 = {_literal(case.w1)}",
        f"w2 = {_literal(case.w2)}",
        f"learning_rate = {case.learning_rate!r}",
    ]


def step_snippet(judge: Judge, case: CaseInputs, label: str, blamed: tuple[str, ...]) -> str:
    """Python code that reproduces the verdict on this one case.

    For a step: ``check_case`` on the case, with the step loaded by name where it has one. For
    a results file: the exact outputs of the case, rounded to float64, to compare by hand.
    """
    size = sum(a.size for a in (case.x, case.y, case.w1, case.w2))
    from_suite = label != DRAWN and size > _SNIPPET_MAX_ENTRIES and is_suite_case(case)
    loadable = SPEC.fullmatch(judge.implementation) and not judge.implementation.startswith(
        "__main__:"
    )
    imports = [] if from_suite else ["import numpy as np", ""]
    if judge.runner is None:
        imports += ["from twolayer import exact", "from twolayer.shapes import Params"]
    elif loadable:
        imports.append(
            "from twolayer.conformance import check_case, format_report, load_implementation"
        )
    else:
        imports.append("from twolayer.conformance import check_case, format_report")
    if from_suite:
        imports.append("from twolayer.vectors import build_cases")
    lines = [*imports, ""]
    if judge.runner is not None:
        if loadable:
            lines.append(f"step = load_implementation({judge.implementation!r})")
        else:
            lines.append(f"step = ...  # the implementation under test: {judge.implementation}")
    lines += _case_lines(case, from_suite)
    rule = judge.relu_grad_at_zero
    if judge.runner is None:
        shown = next((name for name in blamed if name in OUTPUTS), "loss")
        lines += [
            "",
            "reference = exact.step(",
            f"    Params(w1, w2), x, y, learning_rate, relu_grad_at_zero={rule!r}",
            ")",
            f"print(exact.round_to(reference.{shown}))  # the exact {shown}, rounded to float64",
        ]
    else:
        lines += [
            "",
            "report = check_case(",
            "    step, x, y, w1, w2, learning_rate,",
            f"    arithmetic={judge.arithmetic!r}, relu_grad_at_zero={rule!r}",
            ")",
            "print(format_report(report))",
        ]
    return "\n".join(lines) + "\n"


def training_snippet(judge: TrainJudge, case: CaseInputs, steps: int, label: str) -> str:
    """Python code that reproduces the verdict on this one trajectory (``check_training_case``)."""
    size = sum(a.size for a in (case.x, case.y, case.w1, case.w2))
    from_suite = label != DRAWN and size > _SNIPPET_MAX_ENTRIES and is_suite_case(case)
    loadable = SPEC.fullmatch(judge.implementation) and not judge.implementation.startswith(
        "__main__:"
    )
    lines = [] if from_suite else ["import numpy as np", ""]
    lines.append(
        "from twolayer.conformance import check_training_case, format_report"
        + (", load_training" if loadable else "")
    )
    if from_suite:
        lines.append("from twolayer.vectors import build_cases")
    lines.append("")
    if loadable:
        lines.append(f"train = load_training({judge.implementation!r})")
    else:
        lines.append(f"train = ...  # the implementation under test: {judge.implementation}")
    lines += _case_lines(case, from_suite)
    lines += [
        "",
        "report = check_training_case(",
        f"    train, x, y, w1, w2, learning_rate, {steps},",
        f"    arithmetic={judge.arithmetic!r}, relu_grad_at_zero={judge.relu_grad_at_zero!r}",
        ")",
        "print(format_report(report))",
    ]
    return "\n".join(lines) + "\n"


def trajectory_results_snippet(judge: TrainJudge, case: CaseInputs, steps: int) -> str:
    """Python code that recomputes each exact update of a trajectory read from a results file,
    from the file's own weights, to compare by hand."""
    rule = judge.relu_grad_at_zero
    return (
        "from pathlib import Path\n"
        "\n"
        "from twolayer import exact\n"
        "from twolayer.conformance import load_results\n"
        "from twolayer.shapes import Params\n"
        "from twolayer.vectors import build_cases\n"
        "\n"
        'results = load_results(Path("results.json").read_bytes())  # the file judged\n'
        f"losses, w1, w2 = (results.trajectories[{case.id}][name] for name in "
        '("losses", "w1", "w2"))\n'
        f"case = next(case for case in build_cases() if case.id == {case.id})\n"
        f"for t in range({steps}):  # each update, from the file's own w1[t], w2[t]\n"
        "    reference = exact.step(\n"
        "        Params(w1[t], w2[t]), case.x, case.y, case.learning_rate,\n"
        f"        relu_grad_at_zero={rule!r},\n"
        "    )\n"
        "    print(t, losses[t], exact.round_to(reference.loss))  # the exact loss, rounded\n"
    )


def limited_snippet(snippet: str, timeout: float) -> str:
    """A reproducing snippet for a call that never answered: the implementation given by name
    (where it has one), so that a worker process runs it, and the judge's ``timeout`` passed on:
    the snippet then ends as the judge's run did, instead of hanging."""
    for loader in ("load_implementation", "load_training"):
        snippet = snippet.replace(f", {loader}\n", "\n")
        snippet = re.sub(
            rf" = {loader}\(('[^']*')\)\n", r" = \1  # a worker process runs it\n", snippet
        )
    return re.sub(r"(relu_grad_at_zero=[^\n]*)\n\)", rf"\1, timeout={timeout!r}\n)", snippet)
