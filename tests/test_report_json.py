"""``twolayer check --json``, the tie-convention hint and the progress line: what the judge's
report says besides its text, and that every document it writes is valid under its schema."""

import io
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from twolayer import cli, conformance, vectors, zoo
from twolayer.cli import main

TIE_CASE_ID = 14  # a frozen case with an exact tie h == 0 that moves grad_w1 (2 x 2 x 2 x 2)


def _valid(document: object) -> Any:
    """``document`` as strict JSON reads it back (no inf, no nan), validated by its schema."""
    schema = json.loads(conformance.report_schema_json())
    jsonschema.Draft202012Validator.check_schema(schema)
    read = json.loads(json.dumps(document, allow_nan=False))
    jsonschema.Draft202012Validator(schema).validate(read)
    return read


def _tie_case() -> vectors.CaseInputs:
    return next(case for case in vectors.build_cases() if case.id == TIE_CASE_ID)


def _train_masked_at_zero(
    x: object, y: object, w1: object, w2: object, rate: float, steps: int
) -> object:
    """A correct training loop under relu'(0) = 0 (``grad_h[h <= 0] = 0``, torch.relu's)."""
    x, y = np.asarray(x), np.asarray(y)
    w1s, w2s = [np.asarray(w1)], [np.asarray(w2)]
    losses = []
    for _ in range(steps):
        h = x.dot(w1s[-1])
        h_relu = np.maximum(h, 0)
        y_pred = h_relu.dot(w2s[-1])
        losses.append(float(np.square(y_pred - y).sum()))
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T.dot(grad_y_pred)
        grad_h = grad_y_pred.dot(w2s[-1].T)
        grad_h[h <= 0] = 0
        grad_w1 = x.T.dot(grad_h)
        w1s.append(w1s[-1] - rate * grad_w1)
        w2s.append(w2s[-1] - rate * grad_w2)
    return {"losses": np.array(losses), "w1": np.stack(w1s), "w2": np.stack(w2s)}


# -- the JSON document -------------------------------------------------------------------------


def test_a_conforming_and_a_failing_step_report_are_valid_documents() -> None:
    cases = [_tie_case(), *vectors.build_cases()[:3]]
    good = conformance.check_implementation(zoo.reference_step, cases=cases, max_examples=4)
    bad = conformance.check_implementation(zoo.missing_factor_two, cases=cases, max_examples=4)
    assert (good.conforms, bad.conforms) == (True, False)
    for report in (good, bad):
        document = _valid(conformance.report_document([report]))
        (entry,) = document["reports"]
        assert document["conforms"] is entry["conforms"] is report.conforms
        assert entry["counts"] == {
            "frozen_cases": report.frozen_cases,
            "skipped_cases": report.skipped_cases,
            "drawn_cases": report.drawn_cases,
            "tie_cases": report.tie_cases,
        }
        assert [(o["output"], o["case"], tuple(o["position"])) for o in entry["outputs"]] == [
            (o.output, o.case, o.position) for o in report.outputs
        ]
    entry = _valid(conformance.report_document([bad]))["reports"][0]
    assert entry["failures"] == [
        {"case": f.case, "outputs": list(f.outputs), "message": f.message, "snippet": f.snippet}
        for f in bad.failures
    ]
    assert (entry["conforms_under"], entry["hint"]) == ([], None)


def test_an_infinite_ratio_is_the_string_inf() -> None:
    cases = [_tie_case()]
    report = conformance.check_implementation(zoo.reference_step, cases=cases, max_examples=0)
    worst = report.outputs[0]._replace(worst_ratio=math.inf)
    entry = _valid(conformance.report_document([report._replace(outputs=(worst,))]))
    assert entry["reports"][0]["outputs"][0]["worst_ratio"] == "inf"


def test_a_training_report_is_a_valid_document_with_its_counts() -> None:
    report = conformance.check_training(
        zoo.reference_train, cases=conformance.training_cases()[:2], max_examples=2, steps=2
    )
    entry = _valid(conformance.report_document([report]))["reports"][0]
    assert entry["kind"] == "training"
    assert entry["counts"]["steps_judged"] == report.steps_judged > 0
    assert entry["counts"]["mask_changes"] == report.mask_changes


def test_check_json_prints_one_document_for_both_parts_of_a_results_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, reference_results: bytes
) -> None:
    both = json.loads(reference_results)
    trajectories = conformance.training_results_document(zoo.reference_train)
    both |= {"schema_version": 2, "trajectories": trajectories["trajectories"]}
    path = tmp_path / "both.json"
    path.write_text(json.dumps(both))
    status = main(["check", "--results", str(path), "--json"])
    out, err = capsys.readouterr()
    document = _valid(json.loads(out))
    assert (status, err, document["conforms"]) == (0, "", True)
    assert [entry["kind"] for entry in document["reports"]] == ["step", "training"]


def test_check_json_keeps_the_exit_status_and_one_line_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["check", "--impl", "twolayer.zoo:mask_at_zero", "--max-examples", "1", "--json"])
    out, err = capsys.readouterr()
    document = _valid(json.loads(out))
    assert (status, err, document["conforms"]) == (1, "", False)
    status = main(["check", "--impl", "no_such_module_here:step", "--json"])
    out, err = capsys.readouterr()
    assert (status, out, err.count("\n")) == (2, "", 1)


# -- the hint at exact ties --------------------------------------------------------------------


def test_a_step_with_torch_relus_convention_gets_the_hint_and_still_fails() -> None:
    report = conformance.check_implementation(zoo.mask_at_zero, cases=[_tie_case()], max_examples=0)
    assert not report.conforms  # the hint never turns a failure into a pass
    assert report.conforms_under == (0.0,)
    text = conformance.format_report(report)
    assert "DOES NOT CONFORM" in text.splitlines()[0]
    assert (
        "hint: on the failing case it conforms with relu_grad_at_zero=0 (torch.relu's "
        "convention); pass --relu-grad-at-zero 0" in text
    )
    entry = _valid(conformance.report_document([report]))["reports"][0]
    assert (entry["conforms"], entry["conforms_under"]) == (False, [0])
    assert entry["hint"] == conformance.tie_hint(report)


def test_a_shrunk_drawn_failure_gets_the_hint_too() -> None:
    # No frozen case: the failure is the one that hypothesis drew and shrank.
    report = conformance.check_implementation(zoo.mask_at_zero, cases=[], max_examples=30)
    assert [failure.case for failure in report.failures] == [conformance.DRAWN]
    assert (report.conforms, report.conforms_under) == (False, (0.0,))


def test_a_real_bug_gets_no_hint() -> None:
    cases = [_tie_case()]
    for bug in (zoo.missing_factor_two, zoo.mean_instead_of_sum):
        report = conformance.check_implementation(bug, cases=cases, max_examples=0)
        assert (report.conforms, report.conforms_under) == (False, ())
        assert "hint:" not in conformance.format_report(report)


def test_a_conforming_step_gets_no_hint() -> None:
    report = conformance.check_implementation(
        zoo.reference_step, cases=[_tie_case()], max_examples=0
    )
    assert (report.conforms, report.conforms_under, conformance.tie_hint(report)) == (
        True,
        (),
        None,
    )


def test_a_training_loop_with_torch_relus_convention_gets_the_hint() -> None:
    # Case 17's trajectory meets an exact tie that moves grad_w1; case 14's does not move it.
    tied = [(case, steps) for case, steps in conformance.training_cases() if case.id == 17]
    report = conformance.check_training(_train_masked_at_zero, cases=tied, max_examples=0)
    assert (report.conforms, report.conforms_under) == (False, (0.0,))
    under_zero = conformance.check_training(
        _train_masked_at_zero, cases=tied, max_examples=0, relu_grad_at_zero=0.0
    )
    assert under_zero.conforms  # the hint was right


# -- progress ----------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_judge_reports_progress_up_to_the_total() -> None:
    seen: list[tuple[int, int]] = []
    cases = [_tie_case(), *vectors.build_cases()[:2]]
    conformance.check_implementation(
        zoo.reference_step, cases=cases, max_examples=3, progress=lambda *a: seen.append(a)
    )
    assert seen[0] == (1, 6)
    assert seen[-1] == (6, 6)
    assert all(done <= total for done, total in seen)


@pytest.mark.parametrize("stream", [_Terminal(), io.StringIO()], ids=["terminal", "pipe"])
def test_progress_is_drawn_on_a_terminal_only(
    stream: io.StringIO, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(cli, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr("sys.stderr", stream)
    argv = ["check", "--train", "twolayer.zoo:reference_train", "--max-examples", "2"]
    status = main([*argv, "--steps", "1"])
    assert status == 0, stream.getvalue()
    written = stream.getvalue()
    if stream.isatty():
        assert "\rjudged 1 of " in written
        assert " trajectories" in written
        assert written.endswith("\r")  # cleared: the next line starts clean
    else:
        assert written == ""
    assert "conforms" in capsys.readouterr().out
