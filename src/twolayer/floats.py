"""The exact spelling of floats as text: canonical ``float.hex`` strings, written and read back.

Every float of a suite document, and of the results documents that twolayer writes, is a
``float.hex`` string without trailing zeros (``"-0x1.8p-3"``, ``"0x1p+0"``), so that any language
gets the exact bits back and every float has exactly one spelling. ``float_to_hex`` and
``floats_to_hex`` write them; ``float_from_hex`` and ``floats_from_hex`` read that canonical form
only, finite, and raise ValueError on anything else; ``HEX_PATTERN`` is the same rule as a
regular expression (the suite schema's ``float``).
"""

import contextlib
import math
import re

from twolayer.strict_json import json_kind

# An exact float.hex string: sign, 0x1 (normal) or 0x0 (zero, subnormal), hex digits without
# trailing zeros, a binary exponent. Only the canonical form that ``float_to_hex`` writes is read
# back, so that every float has exactly one spelling and a file's bytes are stable.
HEX_PATTERN = "^-?0x[01](\\.[0-9a-f]{0,12}[1-9a-f])?p[+-][0-9]{1,4}$"
_HEX_MAX_LENGTH = 24  # '-0x1.fffffffffffffp-1022' is the longest canonical spelling


def floats_to_hex(values: list[float]) -> list[str]:
    """Spell each float as ``float_to_hex`` does (finite values only: not checked here).

    One call for a whole array, e.g. ``floats_to_hex(array.ravel().tolist())``: the per-value
    work stays inside this loop, so that run-time type checking (one check per call) does not
    multiply by the 100,000 values of the seed's case.
    """
    spelled = []
    for value in values:
        mantissa, exponent = float.hex(value).split("p")
        spelled.append(f"{mantissa.rstrip('0').rstrip('.')}p{exponent}")
    return spelled


def float_to_hex(value: float) -> str:
    """Spell a finite float exactly, as ``float.hex`` does but without trailing zeros.

    >>> float_to_hex(-0.1875), float_to_hex(1.0), float_to_hex(-0.0), float_to_hex(5e-324)
    ('-0x1.8p-3', '0x1p+0', '-0x0p+0', '0x0.0000000000001p-1022')
    """
    if not math.isfinite(value):
        raise ValueError(f"only finite floats are written; got {value!r}")
    return floats_to_hex([value])[0]


def float_from_hex(text: object, path: str = "value") -> float:
    """Read a float written by ``float_to_hex``; raise ValueError on anything else.

    Only the canonical spelling is read (``'0x1p+0'``, not ``'0x1.0p+0'`` or ``'1.0'``), and
    never NaN or infinity, so that every float in a file has one spelling and exact bits.

    >>> float_from_hex("-0x1.8p-3")
    -0.1875
    """
    if not isinstance(text, str):
        raise ValueError(
            f"{path} must be a float.hex string such as '-0x1.8p-3'; got {json_kind(text)}"
        )
    shown = text[:_HEX_MAX_LENGTH] + ("..." if len(text) > _HEX_MAX_LENGTH else "")
    if len(text) > _HEX_MAX_LENGTH or not re.fullmatch(HEX_PATTERN, text):
        raise ValueError(
            f"{path} must be a finite float in canonical float.hex form such as '-0x1.8p-3'; "
            f"got {shown!r}"
        )
    try:
        value = float.fromhex(text)
    except OverflowError:
        raise ValueError(f"{path} overflows float64: {shown!r}") from None
    if floats_to_hex([value])[0] != text:
        raise ValueError(
            f"{path} is not a float64 in canonical float.hex form: {shown!r} reads back as "
            f"{float_to_hex(value)!r}"
        )
    return value


def floats_from_hex(texts: list[object], path: str = "values") -> list[float]:
    """Read every string with ``float_from_hex``'s rules, in one call (see ``floats_to_hex``).

    A text is read if it is the canonical spelling of the finite float that it reads as; the
    first one that is not goes to ``float_from_hex`` for the message that says why.
    """
    values = []
    for index, text in enumerate(texts):
        value = math.nan
        if isinstance(text, str) and len(text) <= _HEX_MAX_LENGTH:
            with contextlib.suppress(ValueError, OverflowError):
                value = float.fromhex(text)
        if math.isfinite(value):
            mantissa, exponent = float.hex(value).split("p")
            if f"{mantissa.rstrip('0').rstrip('.')}p{exponent}" == text:
                values.append(value)
                continue
        float_from_hex(text, f"{path}[{index}]")  # raises, saying why
        raise ValueError(f"{path}[{index}] is not a float in canonical float.hex form")
    return values
