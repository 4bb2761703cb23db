"""Reading a results file: the format (``results.schema.json``) and its validating parser.

``load_results`` parses and checks a results document, written by an implementation in any
language, into ``Results``: per case id its outputs and, from ``schema_version`` 2, its
trajectories. Nothing in the document is evaluated or executed; ``twolayer.results_judge``
judges what it holds.
"""

import importlib.resources
import math
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from twolayer.report import OUTPUTS, REQUIRED_OUTPUTS, TRAJECTORY_OUTPUTS
from twolayer.shapes import frozen
from twolayer.strict_json import json_kind, parse_json

RESULTS_SCHEMA = "twolayer-results"
"""The name of the results format, the document's ``schema`` field."""


RESULTS_SCHEMA_VERSION = 2
"""The results format's version. Version 2 added ``trajectories``; a reader reads versions 1 and
2 and refuses any other."""


RESULTS_SCHEMA_VERSIONS = (1, 2)
"""The versions of the results format that ``load_results`` reads."""


RESULTS_SCHEMA_FILE = "results.schema.json"
"""The JSON Schema of a results document, shipped in ``twolayer/schemas``."""


_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)[pP][+-]?[0-9]{1,5}"
)


_FLOAT_TEXT_MAX = 64


_RESULT_FIELDS = frozenset({"id", *OUTPUTS})


_TRAJECTORY_FIELDS = frozenset({"id", "steps", *TRAJECTORY_OUTPUTS})


_DOCUMENT_FIELDS = {
    1: frozenset({"schema", "schema_version", "implementation", "results"}),
    2: frozenset({"schema", "schema_version", "implementation", "results", "trajectories"}),
}


_NO_TRAJECTORIES: Mapping[int, Mapping[str, NDArray[np.float64]]] = MappingProxyType({})


class Results(NamedTuple):
    """A parsed results document: the implementation's name and, per case id, its outputs.

    ``outputs[id][name]`` is a float64 array: ``loss`` of shape ``()``, the others 2-D.
    ``trajectories[id]`` (version 2) holds ``losses`` ``(steps,)``, ``w1`` ``(steps + 1, d_in,
    hidden)`` and ``w2`` ``(steps + 1, hidden, d_out)``, as a training implementation returns
    them. ``sections`` names the parts that the document holds, ``"results"`` and/or
    ``"trajectories"`` (an empty ``outputs`` alone cannot tell an absent part from an empty one).
    """

    implementation: str
    outputs: Mapping[int, Mapping[str, NDArray[np.float64]]]
    trajectories: Mapping[int, Mapping[str, NDArray[np.float64]]] = _NO_TRAJECTORIES
    sections: tuple[str, ...] = ("results",)


def results_schema_json() -> bytes:
    """Return the JSON Schema of a results document, as shipped in the package."""
    resource = importlib.resources.files("twolayer").joinpath("schemas", RESULTS_SCHEMA_FILE)
    return resource.read_bytes()


def _result_float(value: object, path: str) -> float:
    """Read a float: a JSON number, or a hexadecimal string as ``float.hex`` or C's ``%a``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(
            f"{path} must be a float (a float.hex string or a number); got {json_kind(value)}"
        )
    if isinstance(value, str):
        shown = value[:_FLOAT_TEXT_MAX] + ("..." if len(value) > _FLOAT_TEXT_MAX else "")
        if len(value) > _FLOAT_TEXT_MAX or not _HEX_FLOAT.fullmatch(value):
            raise ValueError(
                f"{path} must be a finite float in hexadecimal form such as '-0x1.8p-3'; got "
                f"{shown!r}"
            )
        try:
            number = float.fromhex(value)
        except (OverflowError, ValueError):
            raise ValueError(f"{path} is not a float64: {shown!r}") from None
    else:
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"{path} overflows float64: {value!r:.40}") from None
        if isinstance(value, int) and number != value:
            raise ValueError(f"{path} is an integer that no float64 holds exactly: {value!r:.40}")
    if not math.isfinite(number):
        raise ValueError(f"{path} must be finite; got {number!r}")
    return number


def _result_array(value: object, path: str) -> NDArray[np.float64]:
    if not isinstance(value, dict) or set(value) != {"shape", "data"}:
        raise ValueError(
            f"{path} must be an object with exactly 'shape' and 'data'; got {json_kind(value)}"
        )
    shape, data = value["shape"], value["data"]
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
    ):
        raise ValueError(
            f"{path}.shape must be [rows, columns] of integers >= 1; got {shape!r:.40}"
        )
    rows, columns = shape
    if not isinstance(data, list) or len(data) != rows * columns:
        count = len(data) if isinstance(data, list) else json_kind(data)
        raise ValueError(
            f"{path}.data must hold rows * columns = {rows * columns} floats for shape "
            f"[{rows}, {columns}]; got {count}"
        )
    flat = [_result_float(item, f"{path}.data[{i}]") for i, item in enumerate(data)]
    return frozen(np.array(flat, dtype=np.float64).reshape(rows, columns))


def _result_case(value: object, path: str) -> tuple[int, dict[str, NDArray[np.float64]]]:
    if not isinstance(value, dict):
        raise ValueError(f"{path} must be a JSON object; got {json_kind(value)}")
    case_id = value.get("id")
    if isinstance(case_id, bool) or not isinstance(case_id, int) or case_id < 1:
        raise ValueError(
            f"{path}.id must be an integer >= 1 (a case id of the suite); got {case_id!r:.40}"
        )
    path = f"{path} (id {case_id})"
    unknown = sorted(set(value) - _RESULT_FIELDS)
    if unknown:
        raise ValueError(f"{path} has unknown field(s) {', '.join(map(repr, unknown))}")
    missing = [name for name in REQUIRED_OUTPUTS if name not in value]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}")
    outputs = {"loss": np.array(_result_float(value["loss"], f"{path}.loss"))}
    for name in OUTPUTS:
        if name != "loss" and name in value:
            outputs[name] = _result_array(value[name], f"{path}.{name}")
    return case_id, outputs


def _integer(value: object, path: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{path} must be an integer >= 1 ({what}); got {value!r:.40}")
    return value


def _result_trajectory(value: object, path: str) -> tuple[int, dict[str, NDArray[np.float64]]]:
    """Read one entry of ``trajectories``: its case id and its ``losses``, ``w1``, ``w2``."""
    if not isinstance(value, dict):
        raise ValueError(f"{path} must be a JSON object; got {json_kind(value)}")
    case_id = _integer(value.get("id"), f"{path}.id", "a case id of the suite")
    path = f"{path} (id {case_id})"
    unknown = sorted(set(value) - _TRAJECTORY_FIELDS)
    if unknown:
        raise ValueError(f"{path} has unknown field(s) {', '.join(map(repr, unknown))}")
    missing = [name for name in ("steps", *TRAJECTORY_OUTPUTS) if name not in value]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}")
    steps = _integer(value["steps"], f"{path}.steps", "the number of updates")
    arrays: dict[str, NDArray[np.float64]] = {}
    for name, count, what in (
        ("losses", steps, "floats, the loss before each update"),
        ("w1", steps + 1, "arrays, the weights before each update and after the last"),
        ("w2", steps + 1, "arrays, the weights before each update and after the last"),
    ):
        items = value[name]
        if not isinstance(items, list) or len(items) != count:
            got = len(items) if isinstance(items, list) else json_kind(items)
            raise ValueError(
                f"{path}.{name} must be an array of {count} {what} (steps = {steps}); got {got}"
            )
        if name == "losses":
            losses = [_result_float(item, f"{path}.losses[{t}]") for t, item in enumerate(items)]
            arrays[name] = frozen(np.array(losses, dtype=np.float64))
            continue
        matrices = [_result_array(item, f"{path}.{name}[{t}]") for t, item in enumerate(items)]
        for t, matrix in enumerate(matrices):
            if matrix.shape != matrices[0].shape:
                raise ValueError(
                    f"{path}.{name}[{t}].shape is {list(matrix.shape)}, unlike {name}[0]'s "
                    f"{list(matrices[0].shape)}: every step's {name} has the same shape"
                )
        arrays[name] = frozen(np.stack(matrices))
    return case_id, arrays


def load_results(data: bytes) -> Results:
    """Parse and validate a results document (format: ``results.schema.json``).

    Checks the schema and its version (1, or 2 with ``trajectories``), every field, every float
    (a finite JSON number, or a hexadecimal string as Python's ``float.hex`` or C's
    ``printf("%a")`` writes it), each array's shape against its data, each trajectory's lengths
    against its ``steps``, and that no case id appears twice in ``results`` or in
    ``trajectories``. Nothing in the document is evaluated or executed. The shapes are checked
    against the suite's cases by ``check_results`` and ``check_trajectory_results``.

    Args:
        data: the bytes of the JSON document.

    Returns:
        The ``Results``.

    Raises:
        ValueError: the document is not a valid results file; the message names the field.
    """
    document = parse_json(data, "results file")
    if not isinstance(document, dict) or document.get("schema") != RESULTS_SCHEMA:
        raise ValueError(f"not a twolayer results file: its 'schema' is not {RESULTS_SCHEMA!r}")
    version = document.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in _DOCUMENT_FIELDS:
        raise ValueError(
            f"unsupported schema_version {version!r:.40}: this reader reads {RESULTS_SCHEMA} "
            f"versions {' and '.join(map(str, RESULTS_SCHEMA_VERSIONS))}"
        )
    unknown = sorted(set(document) - _DOCUMENT_FIELDS[version])
    if unknown:
        later = " (trajectories came with schema_version 2)" if "trajectories" in unknown else ""
        raise ValueError(
            f"the results file has unknown field(s) {', '.join(map(repr, unknown))}{later}"
        )
    name = document.get("implementation", "results file")
    if not isinstance(name, str):
        raise ValueError(f"implementation must be a string; got {json_kind(name)}")
    sections = tuple(part for part in ("results", "trajectories") if part in document)
    if version == 1 and not sections:
        raise ValueError(f"results must be an array of cases; got {json_kind(None)}")
    if not sections:
        raise ValueError("the results file holds neither results nor trajectories")
    outputs = _by_id(document, "results", "cases", _result_case)
    trajectories = _by_id(document, "trajectories", "trajectories", _result_trajectory)
    return Results(name[:200], outputs, MappingProxyType(trajectories), sections)


def _by_id(
    document: Mapping[str, object],
    field: str,
    items: str,
    read: Callable[[object, str], tuple[int, dict[str, NDArray[np.float64]]]],
) -> dict[int, dict[str, NDArray[np.float64]]]:
    """Read the array ``field`` of the document (empty if absent) with ``read``, by case id."""
    if field not in document:
        return {}
    raw = document[field]
    if not isinstance(raw, list):
        raise ValueError(f"{field} must be an array of {items}; got {json_kind(raw)}")
    read_so_far: dict[int, dict[str, NDArray[np.float64]]] = {}
    for index, item in enumerate(raw):
        case_id, values = read(item, f"{field}[{index}]")
        if case_id in read_so_far:
            raise ValueError(f"{field}[{index}]: the case id {case_id} appears twice")
        read_so_far[case_id] = values
    return read_so_far
