"""Trajectories in a results file (schema_version 2): the loader, the schema, the judge.

The loader must refuse every malformed document with a ValueError that names the JSON path; the
judge must refuse trajectories that do not match the frozen ones (``TRAINING_CASES``); every
document that ``training_results_document`` writes must validate against
``results.schema.json``.
"""

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import jsonschema
import numpy as np
import pytest
from numpy.typing import NDArray

from twolayer import conformance, zoo

Array = NDArray[np.float64]
SCHEMA = json.loads(conformance.results_schema_json())


def float32_loop(
    x: Array, y: Array, w1: Array, w2: Array, learning_rate: float, steps: int
) -> dict[str, Array]:
    """The seed's loop in float32, as an implementation that claims float32 would write it."""
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    a, b = w1.astype(np.float32), w2.astype(np.float32)
    rate = np.float32(learning_rate)
    losses, w1s, w2s = [], [a], [b]
    for _ in range(steps):
        h = x32 @ a
        h_relu = np.maximum(h, np.float32(0))
        y_pred = h_relu @ b
        losses.append(np.square(y_pred - y32).sum(dtype=np.float32))
        grad_y_pred = np.float32(2) * (y_pred - y32)
        grad_w2 = h_relu.T @ grad_y_pred
        grad_h = grad_y_pred @ b.T
        grad_h[h < 0] = 0
        a = a - rate * (x32.T @ grad_h)
        b = b - rate * grad_w2
        w1s.append(a)
        w2s.append(b)
    return {"losses": np.array(losses), "w1": np.stack(w1s), "w2": np.stack(w2s)}


SMALL = (14, 34, 35, 38, 39, 47)  # the frozen trajectories of a few entries each


@pytest.fixture(scope="module")
def written() -> dict[str, Any]:
    return conformance.training_results_document(float32_loop, arithmetic="float32")


@pytest.fixture(scope="module")
def small() -> dict[str, Any]:
    """A document of the small trajectories: quick to load, for the malformed ones."""
    cases = [(case, steps) for case, steps in conformance.training_cases() if case.id in SMALL]
    return conformance.training_results_document(float32_loop, arithmetic="float32", cases=cases)


def as_bytes(document: object) -> bytes:
    return json.dumps(document).encode()


def test_a_float32_loop_conforms_and_its_document_matches_the_schema(
    written: dict[str, Any],
) -> None:
    jsonschema.validate(written, SCHEMA)
    assert written["schema_version"] == 2
    report = conformance.check_trajectory_results(None, as_bytes(written), arithmetic="float32")
    assert report.conforms, conformance.format_report(report)
    assert report.kind == "training"
    expected = [
        i for i, _ in conformance.TRAINING_CASES if i in {t["id"] for t in written["trajectories"]}
    ]
    assert report.frozen_cases == len(expected)
    assert report.skipped_cases == len(conformance.TRAINING_CASES) - len(expected)
    assert report.steps_judged == sum(t["steps"] for t in written["trajectories"])


def test_both_parts_in_one_file_are_judged_and_validate(written: dict[str, Any]) -> None:
    steps = conformance.results_document(zoo.reference_step, arithmetic="float32")
    jsonschema.validate(steps, SCHEMA)  # version 1, as before
    both = {**written, "results": steps["results"]}
    jsonschema.validate(both, SCHEMA)
    reports = conformance.check_results_file(None, as_bytes(both), arithmetic="float32")
    assert [report.kind for report in reports] == ["step", "training"]
    with pytest.raises(ValueError, match="no trajectories"):
        conformance.check_trajectory_results(None, as_bytes(steps), arithmetic="float32")
    with pytest.raises(ValueError, match="no step results"):
        conformance.check_results(None, as_bytes(written), arithmetic="float32")


def test_momentum_is_judged_not_to_conform(written: dict[str, Any]) -> None:
    document = copy.deepcopy(written)
    entry = next(t for t in document["trajectories"] if t["id"] == 14)
    entry["w2"][2]["data"][0] = float.hex(float.fromhex(entry["w2"][2]["data"][0]) * 1.5)
    report = conformance.check_trajectory_results(None, as_bytes(document), arithmetic="float32")
    assert not report.conforms
    assert report.failure is not None
    assert report.failure.case == "case 14"
    assert "step 1:" in report.failure.message
    assert "load_results" in report.failure.snippet


def _first(document: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = document["trajectories"][0]
    return entry


Edit = Callable[[dict[str, Any]], object]

# Each edit of a valid document, and the words that the loader's error must hold.
MALFORMED: dict[str, tuple[Edit, str]] = {
    "version 1 with trajectories": (
        lambda d: d.update(schema_version=1),
        "unknown field(s) 'trajectories' (trajectories came with schema_version 2)",
    ),
    "version 3": (lambda d: d.update(schema_version=3), "unsupported schema_version 3"),
    "neither part": (lambda d: d.pop("trajectories"), "neither results nor trajectories"),
    "not an array": (lambda d: d.update(trajectories={}), "trajectories must be an array"),
    "an entry not an object": (lambda d: d["trajectories"].append(1), "trajectories[6] must be"),
    "no id": (lambda d: _first(d).pop("id"), "trajectories[0].id must be an integer >= 1"),
    "boolean steps": (lambda d: _first(d).update(steps=True), "(id 14).steps must be an integer"),
    "missing losses": (lambda d: _first(d).pop("losses"), "trajectories[0] (id 14) lacks losses"),
    "unknown field": (lambda d: _first(d).update(h=[]), "unknown field(s) 'h'"),
    "a loss too few": (
        lambda d: _first(d)["losses"].pop(),
        "trajectories[0] (id 14).losses must be an array of 4 floats",
    ),
    "a w1 too many": (
        lambda d: _first(d)["w1"].append(_first(d)["w1"][0]),
        "trajectories[0] (id 14).w1 must be an array of 5 arrays",
    ),
    "a w2 of another shape": (
        lambda d: _first(d)["w2"][1].update(shape=[1, len(_first(d)["w2"][1]["data"])]),
        "trajectories[0] (id 14).w2[1].shape is [1, ",
    ),
    "data count": (
        lambda d: _first(d)["w1"][2]["data"].pop(),
        "trajectories[0] (id 14).w1[2].data must hold rows * columns",
    ),
    "nan": (lambda d: _first(d)["losses"].__setitem__(1, "nan"), "(id 14).losses[1] must be"),
    "infinite number": (lambda d: _first(d)["losses"].__setitem__(0, 1e999), "Infinity is not"),
    "infinite hex": (
        lambda d: _first(d)["w2"][0]["data"].__setitem__(0, "0x1p+99999"),
        "(id 14).w2[0].data[0] is not a float64",
    ),
    "an id twice": (
        lambda d: d["trajectories"].append(_first(d)),
        "trajectories[6]: the case id 14 appears twice",
    ),
}


# What JSON Schema cannot state: counts that depend on steps, shapes, ids once, float64's range.
SCHEMA_CANNOT_TELL = {
    "a loss too few",
    "a w1 too many",
    "a w2 of another shape",
    "an id twice",
    "data count",
    "infinite hex",
    "infinite number",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_document_is_refused_naming_the_path(name: str, small: dict[str, Any]) -> None:
    edit, message = MALFORMED[name]
    document = copy.deepcopy(small)
    edit(document)
    with pytest.raises(ValueError, match=re.escape(message)):
        conformance.load_results(as_bytes(document))
    if name not in SCHEMA_CANNOT_TELL:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, SCHEMA)


# Documents that load but do not answer the frozen trajectories.
MISMATCHED: dict[str, tuple[Edit, str]] = {
    "trajectories missing": (
        lambda d: d["trajectories"].pop(),
        "the results lack the trajectories of case(s) 43, 44, 45, 46, 47, which apply to float32",
    ),
    "an unknown id": (
        lambda d: _first(d).update(id=3),
        "trajectories of case id(s) 3, which are not frozen trajectories",
    ),
    "wrong steps": (
        lambda d: d["trajectories"].append(
            {
                **_first(d),
                "id": 1,
                "losses": _first(d)["losses"][:1],
                "steps": 1,
                "w1": _first(d)["w1"][:2],
                "w2": _first(d)["w2"][:2],
            }
        ),
        "the trajectory of case 1 has steps 1; the frozen trajectory of case 1 has 3",
    ),
    "wrong shapes": (
        lambda d: d["trajectories"][0].update(w1=[{"shape": [1, 1], "data": ["0x0p+0"]}] * 5),
        "the trajectory of case 14: w1 has shape [5, 1, 1]; expected (steps + 1, d_in, hidden)",
    ),
}


@pytest.mark.parametrize("name", sorted(MISMATCHED))
def test_trajectories_that_are_not_the_frozen_ones_are_refused(
    name: str, small: dict[str, Any]
) -> None:
    edit, message = MISMATCHED[name]
    document = copy.deepcopy(small)
    edit(document)
    jsonschema.validate(document, SCHEMA)  # well formed: only the judge can tell
    with pytest.raises(ValueError, match=re.escape(message)):
        conformance.check_trajectory_results(None, as_bytes(document), arithmetic="float32")


def test_index_0_must_be_the_weights_received(written: dict[str, Any]) -> None:
    document = copy.deepcopy(written)
    entry = next(t for t in document["trajectories"] if t["id"] == 14)
    data = entry["w1"][0]["data"]
    data[0] = float.hex(float.fromhex(data[0]) + 1.0)
    report = conformance.check_trajectory_results(None, as_bytes(document), arithmetic="float32")
    assert report.failure is not None
    assert "index 0 must be the weights received" in report.failure.message
