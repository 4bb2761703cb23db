"""The frozen test-vector suite: named cases, their exact outputs and error bounds, as files.

A suite is one JSON document, modelled on Project Wycheproof, that any language can read: every
float is a ``float.hex`` string (``"-0x1.8p-3"``), so that a reader gets the exact bits back. Each
case holds the inputs of one step of the seed's network, every output correctly rounded from the
exact value, and the rigorous error bounds for float64 and float32 arithmetic. An ``.npz`` twin
holds the same arrays for numpy readers; ``SHA256SUMS`` holds the files' digests. The cases are
built from hand-made arrays and fixed seeds, so two builds give the same bytes.

``suite_files()`` returns every file's name and bytes (``twolayer vectors`` writes them);
``load_suite`` and ``load_npz`` read them back and reject anything malformed with a ValueError.
"""

import hashlib
import importlib.resources
import io
import json
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from functools import cache
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from twolayer import bounds, exact
from twolayer.cases import CaseInputs, Inputs, build_cases
from twolayer.floats import (
    HEX_PATTERN,
    float_from_hex,
    float_to_hex,
    floats_from_hex,
    floats_to_hex,
)
from twolayer.shapes import (
    STEP_AXES,
    W1,
    W2,
    Hidden,
    Params,
    Sizes,
    Y,
    check_array,
    check_relu_grad_at_zero,
    frozen,
    shown,
)
from twolayer.strict_json import MAX_DOCUMENT_BYTES, check_document_size, json_kind, parse_json

__all__ = [
    "ALGORITHM",
    "HEADER",
    "HEX_PATTERN",
    "INPUT_AXES",
    "MANIFEST_FILE",
    "MAX_DOCUMENT_BYTES",
    "NOTES",
    "NPZ_FILE",
    "OUTPUT_AXES",
    "OUTPUT_NAMES",
    "SCHEMA",
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "SUITE_FILE",
    "CaseInputs",
    "Inputs",
    "StepOutputs",
    "Suite",
    "VectorCase",
    "build_cases",
    "build_suite",
    "check_document_size",
    "check_manifest",
    "compute_case",
    "float_from_hex",
    "float_to_hex",
    "floats_from_hex",
    "floats_to_hex",
    "json_kind",
    "load_npz",
    "load_suite",
    "manifest",
    "npz_arrays",
    "npz_bytes",
    "parse_json",
    "schema_json",
    "suite_files",
    "suite_json",
]

SCHEMA = "twolayer-vectors"
"""The name of the suite's format, the document's ``schema`` field."""

SCHEMA_VERSION = 1
"""The format's version, the document's ``schema_version``; a reader refuses any other."""

ALGORITHM = "two-layer ReLU network, summed squared error, one step of gradient descent"
"""What every case computes: the seed notebook's cells 8-17, once."""

SUITE_FILE = "twolayer_vectors.json"
NPZ_FILE = "twolayer_vectors.npz"
SCHEMA_FILE = "vectors.schema.json"
MANIFEST_FILE = "SHA256SUMS"

OUTPUT_NAMES = (
    "h",
    "h_relu",
    "y_pred",
    "loss",
    "grad_y_pred",
    "grad_h",
    "grad_w1",
    "grad_w2",
    "w1_next",
    "w2_next",
)
"""The outputs of a case, in the order of the math."""

INPUT_AXES = {"x": "batch d_in", "y": "batch d_out", "w1": "d_in hidden", "w2": "hidden d_out"}
OUTPUT_AXES = {name: " ".join(STEP_AXES[name]) for name in OUTPUT_NAMES if STEP_AXES[name]}
"""The axes of every array output (``loss`` is a scalar), in ``OUTPUT_NAMES``' order, spelled as
``check_array`` takes them: ``shapes.STEP_AXES``, the one source, joined by spaces."""

NOTES: Mapping[str, str] = MappingProxyType(
    {
        "SeedDims": "The seed notebook's sizes (64, 1000, 100, 10), standard normal data and "
        "weights, learning rate 1e-6.",
        "SingleSample": "batch is 1.",
        "HiddenOne": "hidden is 1: one hidden unit.",
        "DOutOne": "d_out is 1: one output.",
        "ReluTieAtZero": "Some h is exactly 0, where grad_h_relu is not, so grad_h, grad_w1 and "
        "w1_next depend on relu_grad_at_zero; the same inputs appear once per convention. A "
        "case without this flag has no h exactly 0 and its outputs hold under every convention.",
        "DeadUnits": "Some hidden unit is dead: its h is negative for every sample, so its "
        "column of h_relu, grad_h and grad_w1 is 0.",
        "Cancellation": "A sum or difference cancels: the exact value is far smaller than its "
        "terms, so float arithmetic gets few (or no) of its bits right, within the bound.",
        "LargeMagnitude": "Values near 1e100, products near 1e200; off float32's grid.",
        "SmallMagnitude": "Values near 1e-100, products near 1e-200; off float32's grid.",
        "Float32Grid": "Drawn on float32's grid: x, y, w1 and w2 are float32 numbers (other cases "
        "may be too; bounds.float32 is given wherever they are).",
        "Bf16Grid": "Drawn on bfloat16's grid: x, y, w1 and w2 have at most 8 significant bits.",
        "ZeroLearningRate": "learning_rate is 0: w1_next equals w1 and w2_next equals w2.",
        "ZeroLoss": "y equals y_pred exactly: the loss and every gradient are 0.",
        "NegativeZero": "Some inputs are -0.0. Exact values have no sign of zero: an output that "
        "is exactly 0 is written +0.0, and either sign is correct.",
        "ExactInFloat64": "Small integers and powers of two: every float64 operation is exact, "
        "so a correct float64 implementation returns these bits exactly, in any order of "
        "summation.",
        "AwkwardSizes": "Every axis is a prime or one off a multiple of 8 (e.g. 9, 11, 33, 63, "
        "65, 97, 127, 129, 257, 1001, 1025), and one is 100 or more: blocked, tiled or "
        "vectorized code runs its tails and remainders on every axis, at a realistic scale.",
        "LargerThanSeedDims": "Every axis is larger than the seed's (64, 1000, 100, 10).",
        "NegativeZeroTie": "Some h is an exact tie that float arithmetic computes as -0.0 (if it "
        "sums from the first product, not from +0.0): every product of its sum is -0.0, x > 0 "
        "times w1 == -0.0. An implementation that reads the ReLU mask from the sign bit of h, "
        "not from h > 0 and h == 0, gets grad_h, grad_w1 and w1_next wrong there. As at every "
        "tie, the bounds allow either mask where h is within rounding of 0: a judge that sees "
        "that every product is 0, a certain tie, holds the step to its convention (twolayer "
        "check does). The same inputs appear once per convention.",
    }
)
"""Every flag that a case may carry, with its meaning (the document's ``notes``)."""

HEADER = (
    "Test vectors for one step of the two-layer ReLU network of the seed notebook: "
    "h = x @ w1, h_relu = max(h, 0), y_pred = h_relu @ w2, loss = sum((y_pred - y)**2), "
    "grad_y_pred = 2 (y_pred - y), grad_w2 = h_relu.T @ grad_y_pred, "
    "grad_h_relu = grad_y_pred @ w2.T, grad_h = grad_h_relu * relu'(h), grad_w1 = x.T @ grad_h, "
    "w1_next = w1 - learning_rate * grad_w1, w2_next = w2 - learning_rate * grad_w2; "
    "relu'(h) is 1 where h > 0, 0 where h < 0 and relu_grad_at_zero where h == 0.",
    "Every float is a float.hex string ('-0x1.8p-3', '0x0p+0'), read exactly by Python's "
    "float.fromhex, C's strtod and Java's Double.parseDouble.",
    "An array is {'shape': [rows, columns], 'data': [...]} with data in row-major order; its "
    "axes are named batch, d_in, hidden, d_out as in the formulas.",
    "expected holds the exact value of every output, correctly rounded to float64 (ties to "
    "even). bounds.float64 and bounds.float32 hold, elementwise, a rigorous bound on "
    "|computed - exact| for an implementation that computes in that arithmetic with round to "
    "nearest and gradual underflow, in any order of summation, blocking or FMA. A float32 "
    "implementation takes float32 inputs (it may round the learning rate), so bounds.float32 is "
    "given where x, y, w1 and w2 are float32 numbers, and is null elsewhere.",
    "Case ids are stable: a new case is appended with a new id, and no id is ever reused.",
)
"""The document's ``header``: what the file holds and how to read it."""


class StepOutputs(NamedTuple):
    """Every output of one step (or a bound on each), in the order of the math.

    ``h, h_relu, grad_h (batch, hidden)``, ``y_pred, grad_y_pred (batch, d_out)``,
    ``grad_w1, w1_next (d_in, hidden)``, ``grad_w2, w2_next (hidden, d_out)``; ``loss`` a float.
    """

    h: Hidden
    h_relu: Hidden
    y_pred: Y
    loss: float
    grad_y_pred: Y
    grad_h: Hidden
    grad_w1: W1
    grad_w2: W2
    w1_next: W1
    w2_next: W2


class VectorCase(NamedTuple):
    """One case of the suite: its inputs, the exact outputs rounded to float64, and bounds.

    ``bounds_float32`` is None unless ``x, y, w1, w2`` are float32 numbers (see ``HEADER``).
    """

    inputs: CaseInputs
    expected: StepOutputs
    bounds_float64: StepOutputs
    bounds_float32: StepOutputs | None


class Suite(NamedTuple):
    """A parsed suite document: its format, ``header``, ``notes`` (flag -> meaning), ``cases``."""

    schema: str
    schema_version: int
    algorithm: str
    header: tuple[str, ...]
    notes: Mapping[str, str]
    cases: tuple[VectorCase, ...]


# -- the outputs: exact values and bounds --------------------------------------------------------


def _on_float32_grid(inputs: CaseInputs) -> bool:
    """Whether ``x, y, w1, w2`` are all float32 numbers: the inputs of a float32 implementation."""
    arrays = (inputs.x, inputs.y, inputs.w1, inputs.w2)
    with np.errstate(over="ignore"):  # a float64 beyond float32's range is simply off the grid
        return all(np.array_equal(a.astype(np.float32).astype(np.float64), a) for a in arrays)


def _outputs_of(values: StepOutputs | bounds.StepBounds, path: str) -> StepOutputs:
    """Copy the suite's outputs out of ``values`` (rounded exact values, or bounds); all finite."""
    arrays = {
        name: frozen(np.array(getattr(values, name), dtype=np.float64)) for name in OUTPUT_AXES
    }
    loss = float(values.loss)
    infinite = [name for name, array in arrays.items() if not np.isfinite(array).all()]
    if infinite or not math.isfinite(loss):
        raise ValueError(f"{path}: {(infinite or ['loss'])[0]} is not finite; the case overflows")
    return StepOutputs(loss=loss, **arrays)


def _rounded(value: exact.Limbs) -> NDArray[np.float64]:
    """Round exact values to float64, to nearest, ties to even (``exact.round_limbs``)."""
    rounded = exact.round_limbs(value, "float64")
    if np.isinf(rounded).any():
        raise ValueError("an exact value lies beyond float64's range")
    return frozen(rounded)


def compute_case(inputs: CaseInputs) -> VectorCase:
    """Compute a case's exact outputs, rounded to float64, and its float64 and float32 bounds.

    Args:
        inputs: one of ``build_cases()``.

    Returns:
        The ``VectorCase``. ``bounds_float32`` is None unless ``x, y, w1, w2`` are all float32
        numbers, the inputs that ``twolayer.bounds`` models for float32 arithmetic.

    Raises:
        ValueError: a value or a bound of the case is not finite (the case overflows).
    """
    params = Params(inputs.w1, inputs.w2)
    rule = inputs.relu_grad_at_zero
    reference = exact.fast_step(
        inputs.w1, inputs.w2, inputs.x, inputs.y, inputs.learning_rate, rule, None
    )
    rounded = {name: _rounded(getattr(reference, name)) for name in OUTPUT_AXES}
    loss = _rounded(reference.loss)
    expected = _outputs_of(StepOutputs(loss=float(loss), **rounded), f"case {inputs.id}")

    def bound(arithmetic: str) -> StepOutputs:
        found = bounds.step_bounds(
            params,
            inputs.x,
            inputs.y,
            inputs.learning_rate,
            arithmetic=arithmetic,
            relu_grad_at_zero=rule,
            reference=reference,
            reproducible=True,  # the same bytes on every machine and BLAS
        )
        return _outputs_of(found, f"case {inputs.id}, {arithmetic} bounds")

    float32 = bound("float32") if _on_float32_grid(inputs) else None
    return VectorCase(inputs, expected, bound("float64"), float32)


@cache
def build_suite() -> Suite:
    """Return the whole suite: every case of ``build_cases()`` with its outputs and bounds.

    Takes a fraction of a second (the fast exact engine); cached.
    """
    return Suite(
        schema=SCHEMA,
        schema_version=SCHEMA_VERSION,
        algorithm=ALGORITHM,
        header=HEADER,
        notes=NOTES,
        cases=tuple(compute_case(inputs) for inputs in build_cases()),
    )


# -- writing ---------------------------------------------------------------------------------------


def _json_array(array: NDArray[np.float64]) -> dict[str, object]:
    if not np.isfinite(array).all():
        raise ValueError("only finite floats are written; got an array with NaN or inf")
    return {"shape": list(array.shape), "data": floats_to_hex(array.ravel().tolist())}


def _json_outputs(outputs: StepOutputs) -> dict[str, object]:
    return {
        name: float_to_hex(outputs.loss) if name == "loss" else _json_array(getattr(outputs, name))
        for name in OUTPUT_NAMES
    }


def _json_case(case: VectorCase) -> dict[str, object]:
    inputs = case.inputs
    batch, d_in = inputs.x.shape
    hidden, d_out = inputs.w2.shape
    return {
        "id": inputs.id,
        "comment": inputs.comment,
        "flags": list(inputs.flags),
        "relu_grad_at_zero": inputs.relu_grad_at_zero,
        "dims": {"batch": batch, "d_in": d_in, "hidden": hidden, "d_out": d_out},
        "inputs": {
            **{name: _json_array(getattr(inputs, name)) for name in INPUT_AXES},
            "learning_rate": float_to_hex(inputs.learning_rate),
        },
        "expected": _json_outputs(case.expected),
        "bounds": {
            "float64": _json_outputs(case.bounds_float64),
            "float32": None if case.bounds_float32 is None else _json_outputs(case.bounds_float32),
        },
    }


def suite_json(suite: Suite) -> bytes:
    """Return the suite as its JSON document: the header indented, then one case per line."""
    head = {
        "schema": suite.schema,
        "schema_version": suite.schema_version,
        "algorithm": suite.algorithm,
        "number_of_cases": len(suite.cases),
        "header": list(suite.header),
        "notes": dict(suite.notes),
    }
    opening = json.dumps(head, indent=2, ensure_ascii=True).removesuffix("\n}")
    cases = ",\n".join(
        "    " + json.dumps(_json_case(case), ensure_ascii=True, separators=(",", ":"))
        for case in suite.cases
    )
    return f'{opening},\n  "cases": [\n{cases}\n  ]\n}}\n'.encode("ascii")


def _case_key(case_id: int) -> str:
    return f"case_{case_id:04d}"


def npz_arrays(suite: Suite) -> dict[str, NDArray[np.float64]]:
    """Return the arrays of the ``.npz`` twin: every number of every case, as float64.

    Names: ``case_0001.x`` (likewise ``y``, ``w1``, ``w2``, ``learning_rate``,
    ``relu_grad_at_zero``), ``case_0001.expected.h`` (every output),
    ``case_0001.bounds.float64.h`` and ``case_0001.bounds.float32.h`` (absent where the JSON has
    null); scalars are arrays of shape ``()``.
    """
    arrays: dict[str, NDArray[np.float64]] = {}
    for case in suite.cases:
        key, inputs = _case_key(case.inputs.id), case.inputs
        for name in INPUT_AXES:
            arrays[f"{key}.{name}"] = getattr(inputs, name)
        arrays[f"{key}.learning_rate"] = np.array(inputs.learning_rate)
        arrays[f"{key}.relu_grad_at_zero"] = np.array(inputs.relu_grad_at_zero)
        tables = {"expected": case.expected, "bounds.float64": case.bounds_float64}
        if case.bounds_float32 is not None:
            tables["bounds.float32"] = case.bounds_float32
        for table, outputs in tables.items():
            for name in OUTPUT_NAMES:
                arrays[f"{key}.{table}.{name}"] = np.asarray(getattr(outputs, name), np.float64)
    return arrays


def npz_bytes(arrays: Mapping[str, NDArray[np.float64]]) -> bytes:
    """Return the arrays as an ``.npz``: a zip of ``.npy`` files, stored, never pickled.

    ``numpy.savez`` stamps each member with the time of writing; this writes the fixed date
    1980-01-01 instead, so that two runs give identical bytes.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array, order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16  # a plain file, rw-r--r--, whatever the umask
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def schema_json() -> bytes:
    """Return the JSON Schema of the suite document, as shipped in the package."""
    resource = importlib.resources.files("twolayer").joinpath("schemas").joinpath(SCHEMA_FILE)
    return resource.read_bytes()


def manifest(files: Mapping[str, bytes]) -> bytes:
    """Return ``SHA256SUMS``: one ``<sha256>  <name>`` line per file, sorted by name.

    The format of coreutils: ``sha256sum -c SHA256SUMS`` checks the files in their folder.
    """
    lines = (f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n" for name in sorted(files))
    return "".join(lines).encode("ascii")


def check_manifest(files: Mapping[str, bytes]) -> None:
    """Raise ValueError unless ``files[MANIFEST_FILE]`` lists every other file's sha256."""
    if MANIFEST_FILE not in files:
        raise ValueError(f"no {MANIFEST_FILE} among the files {sorted(files)}")
    listed = {name: data for name, data in files.items() if name != MANIFEST_FILE}
    if files[MANIFEST_FILE] != manifest(listed):
        raise ValueError(
            f"{MANIFEST_FILE} does not match the files {sorted(listed)}: a file was changed, "
            "added or removed since it was written"
        )


def suite_files() -> dict[str, bytes]:
    """Return every file of the frozen suite, name -> bytes, the same bytes on every run.

    The JSON document (``SUITE_FILE``), its ``.npz`` twin (``NPZ_FILE``), the JSON Schema
    (``SCHEMA_FILE``) and ``SHA256SUMS`` (``MANIFEST_FILE``) over the other three.
    """
    suite = build_suite()
    files = {
        SUITE_FILE: suite_json(suite),
        NPZ_FILE: npz_bytes(npz_arrays(suite)),
        SCHEMA_FILE: schema_json(),
    }
    return {**files, MANIFEST_FILE: manifest(files)}


# -- reading -------------------------------------------------------------------------------------

_MAX_AXIS = 2**31  # far beyond any real case; keeps a hostile shape's product small to check


def _fields(value: object, path: str, keys: Sequence[str]) -> dict[str, object]:
    """Return the JSON object ``value`` if it has exactly ``keys``; else raise."""
    if not isinstance(value, dict):
        raise ValueError(f"{path} must be a JSON object; got {json_kind(value)}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(map(repr, missing))}")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ValueError(f"{path} has unknown field(s) {', '.join(map(repr, unknown))}")
    return {key: value[key] for key in keys}


def _integer(value: object, path: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{path} must be an integer >= {minimum}; got {value!r:.40}")
    return value


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path} must be a string; got {json_kind(value)}")
    return value


def _strings(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{path} must be an array of strings; got {json_kind(value)}")
    return tuple(_string(item, f"{path}[{index}]") for index, item in enumerate(value))


def _array(value: object, path: str) -> NDArray[np.float64]:
    fields = _fields(value, path, ("shape", "data"))
    shape, data = fields["shape"], fields["data"]
    if not isinstance(shape, list) or len(shape) != 2:
        raise ValueError(f"{path}.shape must be [rows, columns]; got {shape!r:.40}")
    rows, columns = (_integer(size, f"{path}.shape[{i}]", 1) for i, size in enumerate(shape))
    if rows > _MAX_AXIS or columns > _MAX_AXIS:
        raise ValueError(f"{path}.shape {shape} is too large")
    if not isinstance(data, list) or len(data) != rows * columns:
        count = len(data) if isinstance(data, list) else json_kind(data)
        raise ValueError(
            f"{path}.data must hold rows * columns = {rows * columns} floats for shape "
            f"[{rows}, {columns}]; got {count}"
        )
    flat = floats_from_hex(data, f"{path}.data")
    return frozen(np.array(flat, dtype=np.float64).reshape(rows, columns))


def _checked(name: str, array: NDArray[np.float64], axes: str, sizes: Sizes, path: str) -> None:
    """Check ``array`` against the axis sizes of the case so far, naming the case's path."""
    try:
        check_array(name, array, axes, sizes)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


def _outputs(value: object, path: str, sizes: Sizes, *, bound: bool) -> StepOutputs:
    fields = _fields(value, path, OUTPUT_NAMES)
    loss = float_from_hex(fields["loss"], f"{path}.loss")
    arrays: dict[str, NDArray[np.float64]] = {}
    for name, axes in OUTPUT_AXES.items():
        arrays[name] = _array(fields[name], f"{path}.{name}")
        _checked(name, arrays[name], axes, sizes, path)
    if math.copysign(1.0, loss) < 0:
        raise ValueError(f"{path}.loss must be >= 0 (and not -0.0); got {float_to_hex(loss)!r}")
    if bound:
        negative = [name for name, array in arrays.items() if np.signbit(array).any()]
        if negative:
            raise ValueError(f"{path}: a bound must be >= 0 (and not -0.0); {negative[0]} is not")
    return StepOutputs(loss=loss, **arrays)


def _relu_grad_at_zero(value: object, path: str) -> float:
    try:
        return check_relu_grad_at_zero(value, path)
    except (TypeError, ValueError):
        raise ValueError(
            f"{path} must be 0, 0.5 or 1; got {json_kind(value)} {shown(value)}"
        ) from None


def _case(value: object, path: str, notes: Mapping[str, str]) -> VectorCase:
    keys = ("id", "comment", "flags", "relu_grad_at_zero", "dims", "inputs", "expected", "bounds")
    fields = _fields(value, path, keys)
    case_id = _integer(fields["id"], f"{path}.id", 1)
    path = f"{path} (id {case_id})"
    flags = _strings(fields["flags"], f"{path}.flags")
    unknown = [flag for flag in flags if flag not in notes]
    if unknown:
        raise ValueError(f"{path}.flags: {', '.join(unknown)} not documented in notes")
    raw = _fields(fields["inputs"], f"{path}.inputs", (*INPUT_AXES, "learning_rate"))
    sizes: Sizes = {}
    arrays: dict[str, NDArray[np.float64]] = {}
    for name, axes in INPUT_AXES.items():
        arrays[name] = _array(raw[name], f"{path}.inputs.{name}")
        _checked(name, arrays[name], axes, sizes, f"{path}.inputs")
    dims = _fields(fields["dims"], f"{path}.dims", ("batch", "d_in", "hidden", "d_out"))
    found = {axis: size for axis, (size, _) in sizes.items()}
    if dims != found:
        raise ValueError(f"{path}.dims is {dims} but the inputs' shapes give {found}")
    learning_rate = float_from_hex(raw["learning_rate"], f"{path}.inputs.learning_rate")
    if math.copysign(1.0, learning_rate) < 0:
        raise ValueError(
            f"{path}.inputs.learning_rate must be >= 0 (and not -0.0); got {learning_rate!r}"
        )
    inputs = CaseInputs(
        id=case_id,
        comment=_string(fields["comment"], f"{path}.comment"),
        flags=flags,
        relu_grad_at_zero=_relu_grad_at_zero(
            fields["relu_grad_at_zero"], f"{path}.relu_grad_at_zero"
        ),
        learning_rate=learning_rate,
        **arrays,
    )
    expected = _outputs(fields["expected"], f"{path}.expected", sizes, bound=False)
    both = _fields(fields["bounds"], f"{path}.bounds", ("float64", "float32"))
    float64 = _outputs(both["float64"], f"{path}.bounds.float64", sizes, bound=True)
    float32 = None
    if both["float32"] is not None:
        float32 = _outputs(both["float32"], f"{path}.bounds.float32", sizes, bound=True)
    return VectorCase(inputs, expected, float64, float32)


def load_suite(data: bytes) -> Suite:
    """Parse and validate a suite document, as written by ``suite_json``.

    Checks the schema and its version, every field's type, every float's spelling (finite,
    canonical ``float.hex``), and that the shapes of each case agree, in axis names. Nothing in
    the document is evaluated or executed.

    Args:
        data: the bytes of the JSON document.

    Returns:
        The ``Suite``, with read-only float64 arrays whose bits are those written.

    Raises:
        ValueError: the document is not a valid suite; the message names the field.
    """
    document = parse_json(data)
    keys = (
        "schema",
        "schema_version",
        "algorithm",
        "number_of_cases",
        "header",
        "notes",
        "cases",
    )
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ValueError(f"not a twolayer vector suite: its 'schema' is not {SCHEMA!r}")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ValueError(
            f"unsupported schema_version {version!r:.40}: this reader reads {SCHEMA} version "
            f"{SCHEMA_VERSION}"
        )
    fields = _fields(document, "suite", keys)
    raw_notes = fields["notes"]
    if not isinstance(raw_notes, dict):
        raise ValueError(
            f"suite.notes must be an object of flag -> meaning; got {json_kind(raw_notes)}"
        )
    notes = {
        _string(flag, "suite.notes key"): _string(meaning, f"suite.notes[{flag!r}]")
        for flag, meaning in raw_notes.items()
    }
    raw_cases = fields["cases"]
    if not isinstance(raw_cases, list):
        raise ValueError(f"suite.cases must be an array; got {json_kind(raw_cases)}")
    count = _integer(fields["number_of_cases"], "suite.number_of_cases", 0)
    if count != len(raw_cases):
        raise ValueError(f"suite.number_of_cases is {count} but cases holds {len(raw_cases)}")
    cases = tuple(_case(case, f"cases[{i}]", notes) for i, case in enumerate(raw_cases))
    ids = [case.inputs.id for case in cases]
    if len(set(ids)) != len(ids):
        duplicate = next(case_id for case_id in ids if ids.count(case_id) > 1)
        raise ValueError(f"suite.cases: the id {duplicate} appears twice")
    return Suite(
        schema=SCHEMA,
        schema_version=SCHEMA_VERSION,
        algorithm=_string(fields["algorithm"], "suite.algorithm"),
        header=_strings(fields["header"], "suite.header"),
        notes=MappingProxyType(notes),
        cases=cases,
    )


_MAX_NPZ_BYTES = 2**30  # 1 GiB unpacked, some 40 times the suite's own
_NPZ_NAME = re.compile(r"case_[0-9]{4,}\.[a-z0-9_.]+")


def _npz_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> NDArray[np.float64]:
    """Read one ``.npy`` member after checking, from its header alone, that it is safe."""
    name = info.filename
    if not name.endswith(".npy") or not _NPZ_NAME.fullmatch(name.removesuffix(".npy")):
        raise ValueError(f"unexpected member {name!r:.60}: every member is case_NNNN.<field>.npy")
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f".npy format version {version}; 1.0 and 2.0 are read")
    except ValueError as error:  # numpy's message names no member
        raise ValueError(f"{name}: not a readable .npy header ({error})") from None
    if dtype != np.dtype("<f8"):
        raise ValueError(
            f"{name} holds dtype {dtype}, not float64 ('<f8'); pickled Python objects and "
            "other types are refused"
        )
    if any(size < 0 for size in shape):
        raise ValueError(f"{name} declares shape {shown(shape, 80)}, with a negative size")
    needed = math.prod(shape) * dtype.itemsize
    if needed > info.file_size:
        amount = f"{needed:,}" if needed < 10**30 else "more than 10**30"
        raise ValueError(
            f"{name} declares shape {shown(shape, 80)}, {amount} bytes of float64, more data than "
            f"the {info.file_size:,} bytes that the member holds"
        )
    with archive.open(info) as member:
        array = np.lib.format.read_array(member, allow_pickle=False)
    return frozen(np.asarray(array, dtype=np.float64))


def load_npz(data: bytes) -> dict[str, NDArray[np.float64]]:
    """Read an ``.npz`` twin (see ``npz_arrays`` for its names) without ever unpickling.

    Every member's header is checked before its data is read: float64 only, and no more data
    than the member holds, so that a hostile file can neither run code nor claim a huge array.

    Args:
        data: the bytes of the ``.npz`` file.

    Returns:
        Name -> read-only float64 array.

    Raises:
        ValueError: the bytes are not such an ``.npz``; the message says why.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"data must be the bytes of an .npz file; got {type(data).__qualname__}")
    if not data.startswith(b"PK\x03\x04"):
        raise ValueError("not an .npz file: it does not begin as a zip archive does")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            size = sum(info.file_size for info in archive.infolist())
            if size > _MAX_NPZ_BYTES:
                raise ValueError(f"the .npz unpacks to {size} bytes, beyond {_MAX_NPZ_BYTES}")
            return {
                info.filename.removesuffix(".npy"): _npz_member(archive, info)
                for info in archive.infolist()
            }
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
        raise ValueError(f"not a readable .npz file: {error}") from None
