"""A suite's files read back: what a suite document holds, and its strict readers.

The records of a suite (``Suite``, ``VectorCase``, ``StepOutputs``; the inputs are
``twolayer.cases.CaseInputs``), the names and axes of its fields, and the readers:
``load_suite`` parses and validates the JSON document, ``load_npz`` its ``.npz`` twin, without
ever evaluating or unpickling anything, and each rejects anything malformed with a ValueError
that names the field. ``twolayer.vectors`` computes and writes the files that these read.
"""

import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from twolayer.cases import CaseInputs
from twolayer.floats import float_from_hex, float_to_hex, floats_from_hex
from twolayer.shapes import (
    STEP_AXES,
    W1,
    W2,
    Hidden,
    Sizes,
    Y,
    check_array,
    check_relu_grad_at_zero,
    frozen,
    shown,
)
from twolayer.strict_json import json_kind, parse_json

SCHEMA = "twolayer-vectors"
"""The name of the suite's format, the document's ``schema`` field."""

SCHEMA_VERSION = 1
"""The format's version, the document's ``schema_version``; a reader refuses any other."""

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

    ``bounds_float32`` is None unless ``x, y, w1, w2`` are float32 numbers (see
    ``twolayer.vectors.HEADER``).
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
    """Parse and validate a suite document, as written by ``twolayer.vectors.suite_json``.

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
    """Read an ``.npz`` twin (its names: ``twolayer.vectors.npz_arrays``) without unpickling.

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
