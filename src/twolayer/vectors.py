"""The frozen test-vector suite computed and written: exact outputs, bounds, and the files.

``build_suite`` takes every case of ``twolayer.cases`` and computes, exactly (``twolayer.exact``),
its outputs correctly rounded to float64 and its rigorous error bounds for float64 and float32
arithmetic (``twolayer.bounds``). ``suite_files()`` writes it as files, the same bytes on every
run and machine: one JSON document, modelled on Project Wycheproof, that any language can read
(every float a canonical ``float.hex`` string, ``twolayer.floats``), an ``.npz`` twin for numpy
readers, the JSON Schema, and ``SHA256SUMS`` over them (``twolayer vectors`` writes them).

This module also re-exports (``__all__``) the suite's public names that live in the modules of
the other jobs: ``twolayer.cases`` (``CaseInputs``, ``build_cases``), ``twolayer.floats``,
``twolayer.vector_files`` (the records, ``load_suite`` and ``load_npz``, which read the files
back and reject anything malformed with a ValueError) and ``twolayer.strict_json``.
"""

import hashlib
import importlib.resources
import io
import json
import math
import zipfile
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

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
from twolayer.shapes import Params, frozen
from twolayer.strict_json import MAX_DOCUMENT_BYTES, check_document_size, json_kind, parse_json
from twolayer.vector_files import (
    INPUT_AXES,
    OUTPUT_AXES,
    OUTPUT_NAMES,
    SCHEMA,
    SCHEMA_VERSION,
    StepOutputs,
    Suite,
    VectorCase,
    load_npz,
    load_suite,
)

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

ALGORITHM = "two-layer ReLU network, summed squared error, one step of gradient descent"
"""What every case computes: the seed notebook's cells 8-17, once."""

SUITE_FILE = "twolayer_vectors.json"
NPZ_FILE = "twolayer_vectors.npz"
SCHEMA_FILE = "vectors.schema.json"
MANIFEST_FILE = "SHA256SUMS"

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
