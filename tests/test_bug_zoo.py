"""The bug zoo: the judge rejects every exhibit, blaming only what its mistake corrupts.

Each exhibit of ``twolayer.zoo.BUGS`` is judged in the arithmetic and tie convention that it
claims; the judge must say that it does not conform and name, in the failing case that
hypothesis shrank, only outputs that the mistake can make wrong. The correct ``reference_step``
beside them must conform, so that the rejections are the mistakes', not the judge's.
"""

import numpy as np
import pytest

from twolayer import conformance, zoo


def test_the_zoo_has_at_least_eight_exhibits_each_documented() -> None:
    assert len(zoo.BUGS) >= 8
    for name, bug in zoo.BUGS.items():
        doc = bug.step.__doc__ or ""
        assert doc.startswith("Mistake:"), name
        assert "Caught by" in doc or "caught by" in doc, name
        assert bug.corrupts <= {*conformance.OUTPUTS, conformance.INPUTS}, name


@pytest.mark.parametrize("name", sorted(zoo.BUGS))
def test_every_exhibit_is_rejected(name: str) -> None:
    """Rejected, blaming only what the mistake corrupts, in a small drawn case, beyond its bound.

    One test an exhibit, so that its judge run (seconds to a minute) is made once under
    pytest-xdist; each assertion below says which of these it checks.
    """
    bug = zoo.BUGS[name]
    report = conformance.check_implementation(
        bug.step, arithmetic=bug.arithmetic, relu_grad_at_zero=bug.relu_grad_at_zero
    )  # the judge's default number of drawn cases, the one users get: each mistake must surface
    # in the drawn cases, not only in the frozen ones, whatever order hypothesis draws them in
    # rejected
    assert not report.conforms, name
    failure = report.failure
    assert failure is not None
    # the judge blames only outputs that the mistake corrupts
    assert failure.outputs, name
    assert set(failure.outputs) <= bug.corrupts, (name, failure.message)
    # the failing case is a drawn one, shrunk to a small one: one entry in most axes; a kernel
    # exhibit's one long axis (d_in 65, batch 33, d_in 513) is written out as long lines
    assert failure.case == conformance.DRAWN, name
    assert failure.snippet.count("\n") < 40, failure.snippet
    # the worst ratio of a blamed output exceeds one
    worst = {summary.output: summary.worst_ratio for summary in report.outputs}
    for output in failure.outputs:
        if output != conformance.INPUTS:
            assert worst[output] > 1, (name, output)


def test_the_reference_step_conforms() -> None:
    report = conformance.check_implementation(zoo.reference_step)
    assert report.conforms, conformance.format_report(report)
    assert report.drawn_cases == 200
    assert report.frozen_cases >= 40
    assert report.tie_cases > 0
    assert {summary.output for summary in report.outputs} == set(conformance.OUTPUTS)


def test_the_blocked_reference_step_conforms() -> None:
    # the point of comparison of the kernel exhibits: tiles, chunks and blocks, tails handled
    report = conformance.check_implementation(zoo.blocked_reference_step)
    assert report.conforms, conformance.format_report(report)
    assert report.drawn_cases == 200


def test_the_averaged_loss_of_33_samples_is_half_the_sum() -> None:
    # issue 12's smallest counterexample: batch 33, the other axes 1, every input 1, y = 0
    x, y = np.ones((33, 1)), np.zeros((33, 1))
    w1, w2 = np.ones((1, 1)), np.ones((1, 1))
    assert zoo.loss_averaged_over_micro_batches(x, y, w1, w2, 0.0)["loss"] == 16.5
    assert zoo.reference_step(x, y, w1, w2, 0.0)["loss"] == 33.0
    report = conformance.check_case(
        zoo.loss_averaged_over_micro_batches, x, y, w1, w2, 0.0, arithmetic="float32"
    )
    assert report.failure is not None
    assert report.failure.outputs == ("loss",)
    at_32 = conformance.check_case(
        zoo.loss_averaged_over_micro_batches, x[:32], y[:32], w1, w2, 0.0, arithmetic="float32"
    )
    assert at_32.conforms  # one micro-batch: the mean over chunks is the sum


def test_the_float32_exhibit_conforms_as_float32_what_it_is() -> None:
    report = conformance.check_implementation(
        zoo.float32_claimed_as_float64, arithmetic="float32", max_examples=100
    )
    assert report.conforms, conformance.format_report(report)
    assert report.frozen_cases > 0
    assert report.skipped_cases > 0  # the float64-only cases are not put to a float32 step


def test_the_in_place_exhibit_changes_its_callers_array() -> None:
    x, y = np.array([[1.0]]), np.array([[0.0]])
    w1, w2 = np.array([[1.0]]), np.array([[1.0]])
    zoo.update_before_backprop(x, y, w1, w2, 0.5)
    assert w2[0, 0] != 1.0  # the mistake is real: the caller's w2 moved


def test_the_tiny_error_is_below_what_allclose_sees() -> None:
    x, y = np.array([[1.0, 2.0]]), np.array([[0.5]])
    w1, w2 = np.array([[1.0], [0.5]]), np.array([[3.0]])
    wrong = zoo.tiny_relative_error(x, y, w1, w2, 0.125)
    right = zoo.reference_step(x, y, w1, w2, 0.125)
    assert np.allclose(wrong["grad_w1"], right["grad_w1"])
    assert not np.array_equal(wrong["grad_w1"], right["grad_w1"])
