"""The conformance judge: it passes the oracle, rejects what is wrong, and never crashes.

The judge is itself a checker, so it is checked both ways: implementations that are right (the
oracle, in each tie convention; a float32 step as float32; a step that sums in another order)
conform, and each kind of wrong answer (a wrong convention, an output beyond its bound, an
exception, garbage, NaN, a changed argument) is reported with the output to blame. Results files
from other languages are read as hostile input: anything malformed is a ValueError that says
what is wrong, and nothing else ever escapes.
"""

import json
import re
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import twolayer
from twolayer import comparison, conformance, vectors, zoo
from twolayer import strategies as tst
from twolayer.shapes import Params

Outputs = dict[str, object]
Step = Callable[
    [NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float],
    Mapping[str, object],
]

# A few drawn cases where the point is the frozen ones or the failure's report, not the search.
FEW = 20
# Enough drawn cases that half of them carry an exact tie of h (see strategies.judge_cases).
SOME = 60
ARITHMETICS = ("float64", "float32", "tf32", "bf16")


def oracle_step(relu_grad_at_zero: float, *, with_h: bool = True) -> Step:
    """The oracle itself, as an implementation under test, in one tie convention."""

    def step(
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        w1: NDArray[np.float64],
        w2: NDArray[np.float64],
        learning_rate: float,
    ) -> Outputs:
        params = Params(w1, w2)
        activations = twolayer.forward(params, x)
        grads = twolayer.backward(params, x, y, activations, relu_grad_at_zero=relu_grad_at_zero)
        w1_next, w2_next = twolayer.sgd_step(params, grads, learning_rate)
        outputs: Outputs = {
            "loss": twolayer.loss(activations.y_pred, y),
            "grad_w1": grads.w1,
            "grad_w2": grads.w2,
            "w1_next": w1_next,
            "w2_next": w2_next,
        }
        if with_h:
            outputs["h"] = activations.h
        return outputs

    return step


def replaced(step: Step, **changes: Callable[[Outputs], object]) -> Step:
    """``step`` with some outputs replaced by a function of all of them."""

    def changed(
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        w1: NDArray[np.float64],
        w2: NDArray[np.float64],
        learning_rate: float,
    ) -> Outputs:
        outputs = dict(step(x, y, w1, w2, learning_rate))
        return {**outputs, **{name: change(outputs) for name, change in changes.items()}}

    return changed


def small_cases() -> tuple[vectors.CaseInputs, ...]:
    """Three small frozen cases: random, all dims 1, and the hand-made tie (seed convention)."""
    by_id = {case.id: case for case in vectors.build_cases()}
    tie = next(c for c in vectors.build_cases() if "ReluTieAtZero" in c.flags)
    return by_id[2], by_id[9], tie


# -- what conforms conforms ---------------------------------------------------------------------


@pytest.mark.parametrize("relu_grad_at_zero", twolayer.RELU_GRAD_AT_ZERO_CHOICES)
def test_the_oracle_conforms_in_each_tie_convention(relu_grad_at_zero: float) -> None:
    report = conformance.check_implementation(
        oracle_step(relu_grad_at_zero), relu_grad_at_zero=relu_grad_at_zero, max_examples=SOME
    )
    assert report.conforms, conformance.format_report(report)
    assert report.frozen_cases >= 40
    assert report.drawn_cases == SOME
    assert report.tie_cases > 0  # the convention was put to the test, not assumed
    assert all(summary.worst_ratio <= 1 for summary in report.outputs)
    assert {summary.output for summary in report.outputs} == set(conformance.OUTPUTS)


def test_a_step_without_h_is_judged_on_the_rest() -> None:
    report = conformance.check_implementation(oracle_step(1.0, with_h=False), max_examples=FEW)
    assert report.conforms, conformance.format_report(report)
    assert "h" not in {summary.output for summary in report.outputs}


def test_the_judge_follows_a_legal_mask_where_h_is_within_rounding_of_zero() -> None:
    # h = 2**53 + 1 - 2**53: summed left to right it rounds to 0 (the tie: relu'(0) = 0 makes
    # the unit inactive), right to left it is exactly 1 (active). Both are legal float64.
    x = np.array([[2.0**53, 1.0, -(2.0**53)]])
    y, w1, w2 = np.array([[1.0]]), np.array([[1.0], [1.0], [1.0]]), np.array([[0.5]])

    def summed(order: slice) -> Step:
        def step(
            x: NDArray[np.float64],
            y: NDArray[np.float64],
            w1: NDArray[np.float64],
            w2: NDArray[np.float64],
            learning_rate: float,
        ) -> Outputs:
            h = np.zeros((x.shape[0], w1.shape[1]))
            for k in range(x.shape[1])[order]:
                h = h + np.outer(x[:, k], w1[k])
            active = h > 0
            y_pred = np.where(active, h, 0.0) @ w2
            grad_y_pred = 2.0 * (y_pred - y)
            grad_w2 = np.where(active, h, 0.0).T @ grad_y_pred
            grad_w1 = x.T @ np.where(active, grad_y_pred @ w2.T, 0.0)
            return {
                "h": h,
                "loss": float(np.sum((y_pred - y) ** 2)),
                "grad_w1": grad_w1,
                "grad_w2": grad_w2,
                "w1_next": w1 - learning_rate * grad_w1,
                "w2_next": w2 - learning_rate * grad_w2,
            }

        return step

    forward, backward = summed(slice(None)), summed(slice(None, None, -1))
    assert forward(x, y, w1, w2, 0.5)["h"] != backward(x, y, w1, w2, 0.5)["h"]
    for step in (forward, backward):
        report = conformance.check_case(step, x, y, w1, w2, 0.5, relu_grad_at_zero=0.0)
        assert report.conforms, conformance.format_report(report)
    wrong_h = replaced(forward, h=lambda outputs: np.array([[100.0]]))
    report = conformance.check_case(wrong_h, x, y, w1, w2, 0.5, relu_grad_at_zero=0.0)
    assert report.failure is not None
    assert report.failure.outputs == ("h",)


# -- what is wrong is rejected, with the output to blame ----------------------------------------


@pytest.mark.parametrize(
    ("actual", "claimed", "with_h"), [(0.0, 1.0, True), (1.0, 0.5, False), (0.5, 0.0, True)]
)
def test_a_wrong_tie_convention_is_rejected_at_an_exact_tie(
    actual: float, claimed: float, with_h: bool
) -> None:
    report = conformance.check_implementation(
        oracle_step(actual, with_h=with_h), relu_grad_at_zero=claimed, max_examples=SOME
    )
    assert report.failure is not None, conformance.format_report(report)
    assert report.failure.case == conformance.DRAWN
    assert set(report.failure.outputs) <= {"grad_w1", "w1_next"}
    assert "w1 = " in report.failure.snippet


def _exact(mantissas: list[int], exponent: int) -> tuple[twolayer.exact.Limbs, list[Fraction]]:
    """Exact values ``m * 2**exponent`` as limbs, and as Fractions to reason with."""
    dyadic = twolayer.exact.Dyadic(np.array(mantissas, dtype=object), exponent)
    return twolayer.exact.limbs_from_dyadic(dyadic), [
        m * Fraction(2) ** exponent for m in mantissas
    ]


def test_an_error_just_beyond_the_bound_is_rejected_and_one_at_it_is_not() -> None:
    # 1/4 + 2**-62 and -(5/16 + 3 * 2**-62): more bits than a float64 holds.
    exact_values, (first, second) = _exact([2**60 + 1, -(5 * 2**58 + 3)], -62)
    rounded = twolayer.exact.round_limbs(exact_values)
    limit = np.array([2.0**-40, 2.0**-45])
    at_bound = np.array([float(first + Fraction(2) ** -40), float(second)])
    beyond = np.array([np.nextafter(at_bound[0], 1.0), float(second)])
    inside = comparison.compare(at_bound, exact_values, rounded, limit)
    outside = comparison.compare(beyond, exact_values, rounded, limit)
    assert Fraction(float(at_bound[0])) - first <= Fraction(2) ** -40
    assert Fraction(float(beyond[0])) - first > Fraction(2) ** -40
    assert inside.failing == 0
    assert inside.worst_ratio <= 1
    assert outside.failing == 1
    assert outside.worst_ratio > 1
    assert outside.position == (0,)


def test_a_bound_of_zero_admits_only_the_exact_value() -> None:
    exact_values, _ = _exact([3], -2)
    rounded, limit = np.array([0.75]), np.array([0.0])
    assert comparison.compare(np.array([0.75]), exact_values, rounded, limit).failing == 0
    wrong = comparison.compare(np.array([np.nextafter(0.75, 1)]), exact_values, rounded, limit)
    assert wrong.failing == 1
    assert wrong.worst_ratio == np.inf


def raises(*_: object) -> Outputs:
    raise RuntimeError("out of memory on device 0")


def _oracle(**changes: Callable[[Outputs], object]) -> Step:
    return replaced(oracle_step(1.0), **changes)


class _BadArray:
    def __array__(self, dtype: object = None, copy: object = None) -> NDArray[np.float64]:
        raise TypeError("Can't call numpy() on Tensor that requires grad")


class _BadMapping(Mapping[str, object]):
    def __getitem__(self, key: str) -> object:
        raise RuntimeError("lazy tensor not materialized")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 5


BROKEN: dict[str, tuple[Callable[..., object], str]] = {
    "raises": (raises, "RuntimeError: out of memory"),
    "returns a tuple": (lambda *args: (1.0, 2.0), "expected a mapping"),
    "lacks grad_w2": (_oracle(grad_w2=lambda o: None), "dtype object"),
    "wrong shape": (_oracle(grad_w2=lambda o: np.asarray(o["grad_w2"]).T[None]), "has shape"),
    "NaN": (_oracle(loss=lambda o: float("nan")), "must be finite"),
    "inf": (_oracle(w1_next=lambda o: np.asarray(o["w1_next"]) * np.inf), "must be finite"),
    "complex": (_oracle(grad_w1=lambda o: np.asarray(o["grad_w1"]) + 0j), "dtype complex128"),
    "strings": (_oracle(loss=lambda o: "0.5"), "dtype <U3"),
    "bools": (_oracle(grad_w1=lambda o: np.asarray(o["grad_w1"]) > 0), "dtype bool"),
    "unconvertible": (_oracle(grad_w1=lambda o: _BadArray()), "requires grad"),
    "hostile mapping": (lambda *args: _BadMapping(), "RuntimeError: lazy tensor"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_implementation_is_reported_never_raised(kind: str) -> None:
    step, phrase = BROKEN[kind]
    report = conformance.check_implementation(step, cases=small_cases()[:1], max_examples=0)
    assert not report.conforms
    assert report.failure is not None
    assert report.failure.outputs == (conformance.STEP,)
    assert phrase in report.failure.message, report.failure.message


def test_a_missing_output_is_named() -> None:
    def no_w2_next(*args: object) -> Outputs:
        return {"loss": 0.0, "grad_w1": 0, "grad_w2": 0, "w1_next": 0}

    report = conformance.check_implementation(no_w2_next, cases=small_cases(), max_examples=0)
    assert report.failure is not None
    assert "lacks w2_next" in report.failure.message


def test_a_crash_is_shrunk_to_a_minimal_case_too() -> None:
    def crashes_on_two_samples(
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        w1: NDArray[np.float64],
        w2: NDArray[np.float64],
        learning_rate: float,
    ) -> Mapping[str, object]:
        if x.shape[0] > 1:
            raise IndexError("batch > 1 is not supported")
        return oracle_step(1.0)(x, y, w1, w2, learning_rate)

    report = conformance.check_implementation(crashes_on_two_samples, cases=(), max_examples=FEW)
    assert report.failure is not None
    assert report.failure.case == conformance.DRAWN
    assert "x = np.array([[0.0], [0.0]])" in report.failure.snippet


def test_an_argument_changed_in_place_is_blamed() -> None:
    right = oracle_step(1.0)

    def scribbles(
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        w1: NDArray[np.float64],
        w2: NDArray[np.float64],
        learning_rate: float,
    ) -> Mapping[str, object]:
        outputs = right(x, y, w1, w2, learning_rate)
        y[...] = 7.0
        return outputs

    report = conformance.check_implementation(scribbles, cases=small_cases(), max_examples=0)
    assert report.failure is not None
    assert report.failure.outputs == (conformance.INPUTS,)
    assert "y" in report.failure.message


def test_declaring_float64_for_a_float32_step_is_rejected() -> None:
    report = conformance.check_implementation(
        zoo.float32_claimed_as_float64, cases=small_cases(), max_examples=0
    )
    assert report.failure is not None
    assert "h" in report.failure.outputs


# -- the report ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failing() -> conformance.ConformanceReport:
    """The judge's report on an exhibit of the bug zoo, shared by the tests of reports.

    With the judge's default number of drawn cases: how soon a drawn case exposes the mistake
    depends on the order in which hypothesis draws, which changes between its versions.
    """
    return conformance.check_implementation(zoo.wrong_update_sign)


def test_the_snippet_of_a_failure_reproduces_it(failing: conformance.ConformanceReport) -> None:
    report = failing
    assert report.failure is not None
    printed: list[object] = []
    exec(report.failure.snippet, {"print": printed.append})  # our own generated code
    assert len(printed) == 1
    assert "DOES NOT CONFORM" in str(printed[0])
    assert "w1_next" in str(printed[0]) or "w2_next" in str(printed[0])


def test_the_snippet_of_a_large_frozen_case_loads_it_from_the_suite() -> None:
    seed_case = next(case for case in vectors.build_cases() if "SeedDims" in case.flags)
    wrong = _oracle(loss=lambda outputs: 2 * np.asarray(outputs["loss"], dtype=np.float64))
    report = conformance.check_implementation(wrong, cases=[seed_case], max_examples=0)
    assert report.failure is not None
    snippet = report.failure.snippet
    assert f"case.id == {seed_case.id}" in snippet
    assert "step = ...  # the implementation under test" in snippet
    printed: list[object] = []
    exec(snippet.replace("step = ...", "step = wrong"), {"print": printed.append, "wrong": wrong})
    assert "DOES NOT CONFORM" in str(printed[0])


def test_the_report_renders_as_a_table(failing: conformance.ConformanceReport) -> None:
    report = failing
    text = conformance.format_report(report)
    lines = text.splitlines()
    assert lines[0] == (
        "twolayer.zoo:wrong_update_sign: DOES NOT CONFORM (arithmetic float64, relu_grad_at_zero 1)"
    )
    header = next(i for i, line in enumerate(lines) if line.startswith("output"))
    assert "worst error/bound" in lines[header]
    rows = [line.split()[0] for line in lines[header + 1 : header + 1 + len(conformance.OUTPUTS)]]
    assert rows == list(conformance.OUTPUTS)
    assert "FAILED at hypothesis: " in text
    assert "    report = check_case(" in text


def test_verdicts_are_the_same_on_every_run(failing: conformance.ConformanceReport) -> None:
    again = conformance.check_implementation(zoo.wrong_update_sign)
    assert again == failing


# -- arguments, grids and loading ---------------------------------------------------------------


def test_bad_arguments_to_the_judge_raise_value_error() -> None:
    step = oracle_step(1.0)
    with pytest.raises(ValueError, match="arithmetic must be one of"):
        conformance.check_implementation(step, arithmetic="float16")
    with pytest.raises(ValueError, match="relu_grad_at_zero must be one of"):
        conformance.check_implementation(step, relu_grad_at_zero=0.25)
    with pytest.raises(ValueError, match="max_examples must be an integer >= 0"):
        conformance.check_implementation(step, max_examples=-1)


def test_check_case_refuses_inputs_off_the_grid() -> None:
    x, y, w1, w2 = (np.array([[0.1]]) for _ in range(4))
    with pytest.raises(ValueError, match="float32 grid"):
        conformance.check_case(oracle_step(1.0), x, y, w1, w2, 0.5, arithmetic="float32")


def test_on_grid_tells_the_formats_apart() -> None:
    tenth, third_f32 = np.array([0.1]), np.array([float(np.float32(1 / 3))])
    assert conformance.on_grid(tenth, "float64")
    assert not conformance.on_grid(tenth, "float32")
    assert conformance.on_grid(third_f32, "tf32")
    assert not conformance.on_grid(third_f32, "bf16")
    assert conformance.on_grid(np.array([0.333984375]), "bf16")
    assert not conformance.on_grid(np.array([np.inf]), "float64")


GRID_FORMAT = {"float64": "float64", "float32": "float32", "tf32": "float32", "bf16": "bf16"}


@pytest.mark.parametrize("arithmetic", ARITHMETICS)
@settings(max_examples=30)
@given(data=st.data())
def test_drawn_cases_lie_on_the_grid_and_within_the_range(
    arithmetic: str, data: st.DataObject
) -> None:
    case = data.draw(tst.judge_cases(arithmetic))
    assert conformance.applies(case, arithmetic)
    value = data.draw(tst.grid_values(arithmetic))
    assert twolayer.exact.round_to(value, GRID_FORMAT[arithmetic]) == value


def test_load_implementation_imports_by_name_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_step_module.py").write_text("def step(*args):\n    return {}\nVALUE = 3\n")
    monkeypatch.chdir(tmp_path)
    assert conformance.load_implementation("my_step_module:step").__name__ == "step"
    assert conformance.load_implementation("twolayer.zoo:reference_step") is zoo.reference_step
    with pytest.raises(ValueError, match="must be module:attr"):
        conformance.load_implementation("my_step_module.step")
    with pytest.raises(ValueError, match="cannot import no_such_module_here"):
        conformance.load_implementation("no_such_module_here:step")
    with pytest.raises(ValueError, match="has no attribute nothing"):
        conformance.load_implementation("my_step_module:nothing")
    with pytest.raises(ValueError, match="not a callable step"):
        conformance.load_implementation("my_step_module:VALUE")
    (tmp_path / "broken_module.py").write_text("raise SystemError('no GPU')\n")
    with pytest.raises(ValueError, match="SystemError: no GPU"):
        conformance.load_implementation("broken_module:step")


# -- results files ------------------------------------------------------------------------------


def small_suite() -> bytes:
    cases = tuple(vectors.compute_case(inputs) for inputs in small_cases())
    suite = vectors.Suite(
        vectors.SCHEMA,
        vectors.SCHEMA_VERSION,
        vectors.ALGORITHM,
        vectors.HEADER,
        vectors.NOTES,
        cases,
    )
    return vectors.suite_json(suite)


SMALL_SUITE = small_suite()


def results_of(step: Step, arithmetic: str = "float64") -> dict[str, object]:
    return conformance.results_document(step, arithmetic=arithmetic, cases=small_cases())


def as_bytes(document: object) -> bytes:
    return json.dumps(document).encode()


def test_results_of_the_oracle_conform_and_match_the_schema() -> None:
    document = results_of(zoo.reference_step)
    jsonschema.validate(document, json.loads(conformance.results_schema_json()))
    report = conformance.check_results(SMALL_SUITE, as_bytes(document))
    assert report.conforms, conformance.format_report(report)
    assert report.frozen_cases == 3


def test_results_of_the_whole_frozen_suite_conform(reference_results: bytes) -> None:
    # as_bytes(conformance.results_document(zoo.reference_step)), built once a session
    report = conformance.check_results(None, reference_results)
    assert report.conforms, conformance.format_report(report)
    assert report.frozen_cases == len(vectors.build_cases())


def test_results_written_as_json_numbers_are_read_exactly() -> None:
    document = results_of(zoo.reference_step)
    for entry in _results(document):
        entry["loss"] = float.fromhex(entry["loss"])
        entry["grad_w1"]["data"] = [float.fromhex(v) for v in entry["grad_w1"]["data"]]
    assert conformance.check_results(SMALL_SUITE, as_bytes(document)).conforms


def test_wrong_results_are_rejected_naming_the_output() -> None:
    document = results_of(zoo.missing_factor_two)
    report = conformance.check_results(SMALL_SUITE, as_bytes(document))
    assert report.failure is not None
    assert set(report.failure.outputs) <= zoo.BUGS["missing_factor_two"].corrupts
    printed: list[object] = []
    exec(report.failure.snippet, {"print": printed.append})
    assert isinstance(printed[0], np.ndarray)


def test_results_of_a_float32_step_conform_as_float32() -> None:
    document = conformance.results_document(zoo.float32_claimed_as_float64, arithmetic="float32")
    report = conformance.check_results(None, as_bytes(document), arithmetic="float32")
    assert report.conforms, conformance.format_report(report)
    assert 0 < report.frozen_cases < len(vectors.build_cases())
    with pytest.raises(ValueError, match="lack case"):  # float64 asks for every case
        conformance.check_results(None, as_bytes(document), arithmetic="float64")


def _valid() -> dict[str, object]:
    return results_of(zoo.reference_step)


def _results(document: dict[str, object]) -> list[Any]:
    """The document's list of results, typed as the JSON it is (any shape inside)."""
    results = document["results"]
    assert isinstance(results, list)
    return results


def _first(document: dict[str, object]) -> dict[str, Any]:
    first = _results(document)[0]
    assert isinstance(first, dict)
    return first


def _edit(change: Callable[[dict[str, object]], object]) -> bytes:
    document = _valid()
    change(document)
    return as_bytes(document)


HOSTILE: dict[str, tuple[bytes, str]] = {
    "truncated": (as_bytes(_valid())[:-40], "not valid JSON"),
    "empty": (b"", "not valid JSON"),
    "not UTF-8": (b"\xff\xfe{}", "not valid JSON"),
    "a pickle": (b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.", "not valid JSON"),
    "nested deeply": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "a list": (b"[]", "'schema' is not 'twolayer-results'"),
    "another schema": (
        _edit(lambda d: d.update(schema="twolayer-vectors")),
        "'schema' is not 'twolayer-results'",
    ),
    "schema_version 3": (_edit(lambda d: d.update(schema_version=3)), "schema_version 3"),
    "schema_version true": (_edit(lambda d: d.update(schema_version=True)), "schema_version"),
    "unknown field": (_edit(lambda d: d.update(extra=1)), "unknown field(s) 'extra'"),
    "NaN literal": (
        as_bytes(_valid()).replace(b'"loss": "', b'"loss": NaN, "x": "', 1),
        "NaN is not JSON",
    ),
    "nan string": (_edit(lambda d: _first(d).update(loss="nan")), "hexadecimal form"),
    "malformed hex": (_edit(lambda d: _first(d).update(loss="0x1.gp+0")), "hexadecimal form"),
    "hex overflow": (_edit(lambda d: _first(d).update(loss="0x1p+99999")), "not a float64"),
    "number overflow": (
        re.sub(rb'"loss": "[^"]*"', b'"loss": 1e999', as_bytes(_valid()), count=1),
        "must be finite",
    ),
    "inexact integer": (_edit(lambda d: _first(d).update(loss=2**70 + 1)), "no float64 holds"),
    "boolean float": (_edit(lambda d: _first(d).update(loss=True)), "must be a float"),
    "long string": (_edit(lambda d: _first(d).update(loss="0x1" + "0" * 100 + "p+0")), "form"),
    "data count": (
        _edit(lambda d: _first(d)["grad_w1"]["data"].pop()),
        "must hold rows * columns",
    ),
    "shape of the case": (
        _edit(lambda d: _first(d).update(grad_w2={"shape": [1, 1], "data": ["0x0p+0"]})),
        "the case's grad_w2 is (hidden, d_out)",
    ),
    "unknown case": (_edit(lambda d: _first(d).update(id=9999)), "does not have"),
    "missing case": (_edit(lambda d: _results(d).pop()), "lack case"),
    "duplicate case": (
        _edit(lambda d: _results(d).append(_first(d))),
        "appears twice",
    ),
    "duplicate key": (
        as_bytes(_valid()).replace(b'"loss": ', b'"loss": 1, "loss": ', 1),
        "key 'loss' twice",
    ),
    "missing output": (_edit(lambda d: _first(d).pop("w2_next")), "lacks w2_next"),
    "id zero": (_edit(lambda d: _first(d).update(id=0)), "id must be an integer >= 1"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_results_file_is_a_clear_value_error(kind: str) -> None:
    data, phrase = HOSTILE[kind]
    with pytest.raises(ValueError, match=re.escape(phrase)):
        conformance.check_results(SMALL_SUITE, data)


@settings(max_examples=100)
@given(cut=st.integers(0, 4000), noise=st.binary(max_size=20))
def test_any_damage_to_a_results_file_is_a_value_error_or_a_verdict(cut: int, noise: bytes) -> None:
    valid = as_bytes(_valid())
    data = valid[:cut] + noise + valid[cut + len(noise) :]
    try:
        report = conformance.check_results(SMALL_SUITE, data)
    except ValueError:
        return
    assert isinstance(report.conforms, bool)


# -- state kept between calls -----------------------------------------------------------------


class AccumulatingStep:
    """A step that adds each call's gradient to the last one's: PyTorch without ``zero_grad``."""

    def __init__(self) -> None:
        self.grads: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None

    def __call__(
        self,
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        w1: NDArray[np.float64],
        w2: NDArray[np.float64],
        learning_rate: float,
    ) -> Outputs:
        outputs: Outputs = dict(zoo.reference_step(x, y, w1, w2, learning_rate))
        grad_w1, grad_w2 = np.asarray(outputs["grad_w1"]), np.asarray(outputs["grad_w2"])
        with np.errstate(over="ignore"):  # the sums grow; overflow is judged, not raised
            if self.grads is not None and self.grads[0].shape == grad_w1.shape:
                grad_w1, grad_w2 = grad_w1 + self.grads[0], grad_w2 + self.grads[1]
            self.grads = (grad_w1, grad_w2)
            outputs.update(grad_w1=grad_w1, grad_w2=grad_w2)
            outputs.update(
                w1_next=w1 - learning_rate * grad_w1, w2_next=w2 - learning_rate * grad_w2
            )
        return outputs


def test_a_step_that_keeps_state_is_rejected_as_stateful_and_the_snippet_reproduces_it() -> None:
    report = conformance.check_implementation(AccumulatingStep(), max_examples=FEW)
    assert not report.conforms
    failure = report.failure
    assert failure is not None
    assert failure.outputs == (conformance.STATE,)
    assert failure.message.startswith("stateful: called a second time on the same inputs")
    printed: list[object] = []
    # A fresh step, as a fresh process would have: the snippet's two calls expose the state.
    snippet = failure.snippet.replace("step = ...", "step = fresh")
    exec(snippet, {"print": printed.append, "fresh": AccumulatingStep()})  # our own code
    assert "DOES NOT CONFORM" in str(printed[0])
    assert "stateful" in str(printed[0])


class AlternatingOrderStep:
    """A correct step whose loss sums the squares in a different order on every other call.

    Its bits change from call to call, within rounding: a nondeterministic summation order (as
    GPU reductions have) is no state, and conforms.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.differed = 0

    def __call__(
        self,
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        w1: NDArray[np.float64],
        w2: NDArray[np.float64],
        learning_rate: float,
    ) -> Outputs:
        self.calls += 1
        outputs: Outputs = dict(zoo.reference_step(x, y, w1, w2, learning_rate))
        if self.calls % 2 == 0:
            residual = (np.maximum(x.dot(w1), 0).dot(w2) - y).ravel()
            loss = 0.0
            for value in residual[::-1].tolist():  # one term at a time, from the last entry
                loss += value * value
            self.differed += loss != outputs["loss"]
            outputs["loss"] = loss
        return outputs


def test_a_nondeterministic_summation_order_is_no_state() -> None:
    step = AlternatingOrderStep()
    report = conformance.check_implementation(step, max_examples=FEW)
    assert report.conforms, conformance.format_report(report)
    assert step.differed > 0  # some calls did return other bits for the same case


def test_the_first_half_of_the_drawn_cases_is_small_and_the_second_reaches_large_sizes() -> None:
    # A mistake that shows at 1 to 3 entries an axis is found, and shrunk, among those first (so
    # that its reproducer is read at a glance); kernels' tails need the second half's sizes.
    seen: list[tuple[int, int, int, int]] = []

    def recording(
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        w1: NDArray[np.float64],
        w2: NDArray[np.float64],
        learning_rate: float,
    ) -> dict[str, Any]:
        seen.append((x.shape[0], x.shape[1], w1.shape[1], y.shape[1]))
        return zoo.reference_step(x, y, w1, w2, learning_rate)

    report = conformance.check_implementation(recording, cases=[], max_examples=21)
    assert report.conforms, conformance.format_report(report)
    assert report.drawn_cases == 21
    assert len(seen) == 2 * 21  # each case twice, the second time to see state
    small, sized = seen[: 2 * 11], seen[2 * 11 :]
    assert all(max(dims) <= 3 for dims in small), small
    assert any(max(dims) > 3 for dims in sized), sized
