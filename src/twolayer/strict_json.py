"""Strict JSON from untrusted files: the one parser of suite and results documents.

``parse_json`` refuses what Python's ``json`` would let through (NaN and Infinity, repeated keys,
integer literals longer than any float64 needs) and, before parsing, any document larger than
``MAX_DOCUMENT_BYTES``; ``json_kind`` names a parsed value's JSON type for the readers' messages.
``twolayer.vector_files`` reads suites with it, ``twolayer.results`` results files.
"""

import json

MAX_DOCUMENT_BYTES = 2**27
"""The largest JSON document (suite or results) that the readers parse: 128 MiB.

Checked before parsing: Python's JSON parser holds about ten times a document's size, so a
hostile file could otherwise take gigabytes before it is refused. The frozen suite's JSON is
about 55 MB, and the oracle's own results for it (steps and trajectories) about 45 MB."""


def json_kind(value: object) -> str:
    """Name the JSON type of a parsed value, for messages."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON and not a finite float; write floats as float.hex")


class _RefusedLiteralError(ValueError):
    """A literal that is valid JSON but that no document of twolayer's holds."""


_MAX_INTEGER_DIGITS = 400  # every float64 that is an integer has at most 309 digits


def _integer_literal(text: str) -> int:
    # Python refuses to convert more than 4,300 digits with a message about its own limit; a
    # document has no use for more than a float64's 309, so longer literals are refused here.
    if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
        raise _RefusedLiteralError(
            f"an integer literal of {len(text.lstrip('-'))} digits, more than the "
            f"{_MAX_INTEGER_DIGITS} that any float64 needs"
        )
    return int(text)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"a JSON object has the key {key!r:.40} twice")
        result[key] = value
    return result


def check_document_size(size: int, what: str) -> None:
    """Raise ``ValueError`` if a document of ``size`` bytes exceeds ``MAX_DOCUMENT_BYTES``."""
    if size > MAX_DOCUMENT_BYTES:
        raise ValueError(
            f"the {what} is larger than {MAX_DOCUMENT_BYTES:,} bytes (128 MiB, "
            "twolayer.vectors.MAX_DOCUMENT_BYTES), the most that is read; the frozen suite's is "
            "about 55 MB"
        )


def parse_json(data: bytes, what: str = "vector suite") -> object:
    """Parse strict JSON from an untrusted file: no NaN or Infinity, no repeated keys.

    Used for suites by ``twolayer.vector_files`` and for results files by ``twolayer.results``;
    ``what`` names the kind of file in the messages ("not a twolayer vector suite: ...").

    Raises:
        TypeError: ``data`` is not bytes.
        ValueError: it is larger than ``MAX_DOCUMENT_BYTES``, is not such JSON, or nests too
            deeply for the parser.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"data must be the bytes of a {what} file; got {type(data).__qualname__}")
    check_document_size(len(data), what)
    try:
        document: object = json.loads(
            data,
            parse_constant=_reject_constant,
            parse_int=_integer_literal,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise ValueError(f"not a twolayer {what}: JSON nested too deeply") from None
    except _RefusedLiteralError as error:
        raise ValueError(f"not a twolayer {what}: it holds {error}") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"not a twolayer {what}: not valid JSON ({error})") from None
    return document
