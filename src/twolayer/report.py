"""The judge's verdict as records and as text: what a report holds, and how it is printed.

The vocabulary of a report (the outputs compared, ``OUTPUTS`` and ``TRAJECTORY_OUTPUTS``; the
names blamed where no output is, ``STEP``, ``INPUTS``, ``STATE``; the label of a drawn case,
``DRAWN``), the records (``OutputSummary``, ``CaseRatio``, ``Failure``, ``ConformanceReport``),
``printable`` for every text that an implementation provides, and the report as text
(``format_report``, ``tie_hint``) and as JSON (``report_json``, ``report_document``, whose
schema is ``report.schema.json``). It judges nothing: ``twolayer.conformance`` does.
"""

import importlib.resources
import math
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

from twolayer.shapes import STEP_AXES

REQUIRED_OUTPUTS = ("loss", "grad_w1", "grad_w2", "w1_next", "w2_next")
"""The outputs that every implementation returns."""


OUTPUTS = ("h", *REQUIRED_OUTPUTS)
"""Every output that the judge compares, in the order of the math (``h`` is optional)."""


OUTPUT_AXES = {name: STEP_AXES[name] for name in OUTPUTS}
"""The axes of each output (``shapes.STEP_AXES``, the one source); ``loss`` is a scalar."""


TRAJECTORY_OUTPUTS = ("losses", "w1", "w2")
"""What a training implementation returns: ``losses (steps,)``, the loss before each update;
``w1 (steps + 1, d_in, hidden)`` and ``w2 (steps + 1, hidden, d_out)``, the weights before each
update and after the last (index 0: the weights received)."""


STEP = "step"
"""The name blamed when the implementation raised or returned something that is not outputs."""


INPUTS = "inputs"
"""The name blamed when the implementation changed one of its arguments in place."""


STATE = "state"
"""The name blamed when the implementation answered the same case differently a second time."""


DRAWN = "hypothesis"
"""The case label of the cases that hypothesis draws."""


_TEXT_MAX = 400  # characters of a text from the implementation (a message, a name) kept


# Control characters, format characters (bidirectional overrides), lone surrogates and line or
# paragraph separators: a terminal acts on them, or str.splitlines splits at them.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def printable(text: str, limit: int = _TEXT_MAX) -> str:
    r"""``text`` as one line that a terminal shows as it is: each control character, format
    character, lone surrogate or line separator written as its Python escape, and at most
    ``limit`` characters kept (the rest counted).

    Every text that an implementation provides (an exception's message, a type's or a
    callable's name) goes through it before it reaches a report.

    >>> printable("bad\x1b[2J value\nsecond line")
    'bad\\x1b[2J value\\nsecond line'
    """
    kept = text[:limit]
    escaped = "".join(
        ascii(char)[1:-1] if unicodedata.category(char) in _UNPRINTABLE else char for char in kept
    )
    if len(text) > limit:
        escaped += f"... ({len(text) - limit} more characters)"
    return escaped


def describe_error(error: BaseException) -> str:
    """``"TypeName: message"`` of an exception that the implementation raised, printable.

    Its ``str`` is the implementation's code too, and may raise in turn.
    """
    try:
        message = str(error)
    except KeyboardInterrupt:
        raise
    except BaseException as failure:  # whatever a hostile __str__ raises
        message = f"<its str() raised {type(failure).__name__}>"
    name = printable(type(error).__name__)
    return f"{name}: {printable(message)}" if message else name


class OutputSummary(NamedTuple):
    """The worst ``|computed - exact| / bound`` of one output over the cases judged.

    ``worst_ratio`` is 0 where every error was 0 and inf where an error met a bound of 0; it is
    at most 1 for a conforming output. ``case`` labels the case where it was worst (``"case
    17"``, ``"hypothesis"``) and ``position`` the entry there (``()`` for the loss).
    """

    output: str
    worst_ratio: float
    case: str
    position: tuple[int, ...]


class CaseRatio(NamedTuple):
    """The worst ``|computed - exact| / bound`` of one output in one judged case."""

    case: str  # "case 17" for a frozen case, "drawn 3" for the third drawn one
    output: str
    worst_ratio: float


class Failure(NamedTuple):
    """One case that the implementation got wrong.

    ``outputs`` names each output that exceeded its bound, or ``"step"`` (it raised or returned
    no usable outputs) or ``"inputs"`` (it changed an argument in place); ``message`` says what,
    one line each; ``snippet`` is Python code that reproduces the verdict on this case.
    """

    case: str
    outputs: tuple[str, ...]
    message: str
    snippet: str


class ConformanceReport(NamedTuple):
    """The judge's verdict on an implementation, and what it is based on.

    ``conforms``: every output of every case judged was within its bound. ``frozen_cases`` and
    ``drawn_cases`` count the cases judged; ``skipped_cases`` the frozen ones whose inputs lie off
    the arithmetic's grid or whose values leave its range; ``tie_cases`` the cases with an exact
    tie ``h == 0`` that moved a gradient (so that the tie convention was put to the test).
    ``outputs`` holds the worst ratio of each output that was compared. ``failures`` holds the
    first failing frozen case, then the drawn one that hypothesis shrank, if any.

    A report of ``check_training`` has ``kind`` ``"training"``: its cases are trajectories and its
    outputs ``losses``, ``w1`` and ``w2`` (positions index the returned arrays, step first);
    ``steps_judged`` counts the transitions judged, ``steps_unjudged`` those left unjudged because
    the implementation's weights had left the format's range, and ``mask_changes`` the
    trajectories in which the exact ReLU mask of some unit changed from one step to the next.

    ``conforms_under`` is a hint for a failure that only exact ties explain: when every failure
    recorded is a case with an exact tie ``h == 0`` that moves ``grad_w1`` (and no failing case
    lacked one), each of these cases is judged again under the other tie conventions, and the
    conventions under which all of them conform are listed (``(0.0,)`` for ``torch.relu``'s
    ``relu'(0) = 0``). It never changes ``conforms``: the implementation was judged under the
    convention it claims. For a results file, every failing case (or trajectory) is judged
    again, its outputs as the file gives them, against the other conventions' exact values and
    bounds; the report still shows the first. Empty otherwise.
    """

    conforms: bool
    implementation: str
    arithmetic: str
    relu_grad_at_zero: float
    frozen_cases: int
    skipped_cases: int
    drawn_cases: int
    tie_cases: int
    outputs: tuple[OutputSummary, ...]
    failures: tuple[Failure, ...]
    case_ratios: tuple[CaseRatio, ...] = ()  # every case and output judged, for a plot
    kind: str = "step"  # "training": each case is a trajectory, judged transition by transition
    steps_judged: int = 0  # training: transitions judged, each from the implementation's weights
    steps_unjudged: int = 0  # training: transitions from weights outside the format's range
    mask_changes: int = 0  # training: trajectories whose exact ReLU mask changed between steps
    conforms_under: tuple[float, ...] = ()  # a hint, never a verdict: see the docstring

    @property
    def failure(self) -> Failure | None:
        """The smallest failing case: the shrunk drawn one if any, else the frozen one."""
        return self.failures[-1] if self.failures else None


def _ratio_text(ratio: float) -> str:
    return "0" if ratio == 0 else f"{ratio:.3g}"


def format_report(report: ConformanceReport) -> str:
    """Render a report as text: the verdict, a table (output, worst error/bound, case), failures.

    Args:
        report: from ``check_implementation``, ``check_case`` or ``check_results``.

    Returns:
        The text, lines ending in newlines; a failure's snippet is indented by four spaces.
    """
    verdict = "conforms" if report.conforms else "DOES NOT CONFORM"
    rule = f"{report.relu_grad_at_zero:g}"
    lines = [
        f"{report.implementation}: {verdict} (arithmetic {report.arithmetic}, "
        f"relu_grad_at_zero {rule})",
    ]
    if report.kind == "training":
        unjudged = (
            f", {report.steps_unjudged} not (the weights had left the format's range)"
            if report.steps_unjudged
            else ""
        )
        lines += [
            f"trajectories judged: {report.frozen_cases} frozen ({report.skipped_cases} skipped: "
            f"off the {report.arithmetic} grid or range), {report.drawn_cases} drawn; "
            f"{report.mask_changes} with a ReLU mask that changed between steps, "
            f"{report.tie_cases} with an exact tie h == 0 that moves grad_w1",
            f"updates judged, each from the implementation's own weights: "
            f"{report.steps_judged}{unjudged}",
        ]
    else:
        lines.append(
            f"cases judged: {report.frozen_cases} frozen ({report.skipped_cases} skipped: off the "
            f"{report.arithmetic} grid or range), {report.drawn_cases} drawn; {report.tie_cases} "
            "with an exact tie h == 0 that moves grad_w1"
        )
    lines.append("")
    rows = [("output", "worst error/bound", "case")]
    for summary in report.outputs:
        where = f"{summary.case}" + (f" at {list(summary.position)}" if summary.position else "")
        rows.append((summary.output, _ratio_text(summary.worst_ratio), where))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines += [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c}".rstrip() for a, b, c in rows]
    for failure in report.failures:
        lines += ["", f"FAILED at {failure.case}: {', '.join(failure.outputs)}"]
        lines += [f"  {line}" for line in failure.message.splitlines()]
        lines += ["  reproduce with:"]
        lines += [f"    {line}".rstrip() for line in failure.snippet.splitlines()]
    hint = tie_hint(report)
    if hint is not None:
        lines += ["", hint]
    return "\n".join(lines) + "\n"


_CONVENTIONS = {0.0: "torch.relu's convention", 0.5: "torch.maximum's", 1.0: "the seed's"}


def tie_hint(report: ConformanceReport) -> str | None:
    """The line that names the tie conventions under which the failing cases conform, or None.

    A hint, not a verdict: the report's failures stand under the convention that was claimed.

    Args:
        report: from ``check_implementation``, ``check_training`` or the one-case judges.

    Returns:
        ``"hint: on the failing case it conforms with relu_grad_at_zero=0 (torch.relu's
        convention); ..."``, or None where ``report.conforms_under`` is empty.
    """
    if not report.conforms_under:
        return None
    where = "the failing case" if len(report.failures) == 1 else "each failing case"
    named = " and with ".join(
        f"relu_grad_at_zero={rule:g} ({_CONVENTIONS[rule]})" for rule in report.conforms_under
    )
    flags = " or ".join(f"--relu-grad-at-zero {rule:g}" for rule in report.conforms_under)
    keywords = " or ".join(f"relu_grad_at_zero={rule:g}" for rule in report.conforms_under)
    return (
        f"hint: on {where} it conforms with {named}; pass {flags} ({keywords} in Python) if that "
        "is the convention it implements"
    )


REPORT_SCHEMA = "twolayer-report"
"""The name of the report format, the document's ``schema`` field."""


REPORT_SCHEMA_VERSION = 1
"""The report format's version, the document's ``schema_version`` field."""


REPORT_SCHEMA_FILE = "report.schema.json"
"""The JSON Schema of a report document (``twolayer check --json``), in ``twolayer/schemas``."""


def report_schema_json() -> bytes:
    """Return the JSON Schema of a report document, as shipped in the package."""
    resource = importlib.resources.files("twolayer").joinpath("schemas", REPORT_SCHEMA_FILE)
    return resource.read_bytes()


def _json_ratio(ratio: float) -> float | str:
    # JSON has no inf or nan: as `twolayer train --json` writes an overflowed loss, a string.
    return ratio if math.isfinite(ratio) else str(ratio)


def report_json(report: ConformanceReport) -> dict[str, object]:
    """One report as a JSON object: what ``format_report`` prints, field by field.

    A worst ratio that is inf (an error where the bound is 0) is the string ``"inf"`` (``"nan"``
    likewise); the training counts appear only in a report of ``kind`` ``"training"``. The
    schema: ``report.schema.json``'s ``$defs/report``.
    """
    counts = {
        "frozen_cases": report.frozen_cases,
        "skipped_cases": report.skipped_cases,
        "drawn_cases": report.drawn_cases,
        "tie_cases": report.tie_cases,
    }
    if report.kind == "training":
        counts |= {
            "steps_judged": report.steps_judged,
            "steps_unjudged": report.steps_unjudged,
            "mask_changes": report.mask_changes,
        }
    return {
        "kind": report.kind,
        "conforms": report.conforms,
        "implementation": report.implementation,
        "arithmetic": report.arithmetic,
        "relu_grad_at_zero": report.relu_grad_at_zero,
        "counts": counts,
        "outputs": [
            {
                "output": summary.output,
                "worst_ratio": _json_ratio(summary.worst_ratio),
                "case": summary.case,
                "position": list(summary.position),
            }
            for summary in report.outputs
        ],
        "failures": [
            {
                "case": failure.case,
                "outputs": list(failure.outputs),
                "message": failure.message,
                "snippet": failure.snippet,
            }
            for failure in report.failures
        ],
        "conforms_under": list(report.conforms_under),
        "hint": tie_hint(report),
    }


def report_document(reports: Iterable[ConformanceReport]) -> dict[str, object]:
    """The JSON document of ``twolayer check --json``: every report of one check, and the verdict.

    ``conforms`` is true when every report conforms (the exit status 0). A results file holding
    step results and trajectories gives two reports, in that order.

    Args:
        reports: from ``check_implementation``, ``check_training`` or ``check_results_file``.

    Returns:
        The document (``report.schema.json``), ready for ``json.dumps``.
    """
    entries = [report_json(report) for report in reports]
    return {
        "schema": REPORT_SCHEMA,
        "schema_version": REPORT_SCHEMA_VERSION,
        "conforms": all(entry["conforms"] for entry in entries),
        "reports": entries,
    }
