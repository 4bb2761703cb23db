"""Reading what an implementation returned, and comparing it with the exact reference.

``read_outputs`` and ``read_trajectory`` turn a step's or a training loop's result into float64
arrays of the expected shapes, or raise ``UnusableResultError`` saying why they cannot;
``compare`` decides, rigorously, which entries of one output lie beyond their bounds, and
``judge_outputs`` compares every output of a case with its ``Reference``.
"""

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from twolayer import exact
from twolayer.cases import CaseInputs
from twolayer.reference import Reference
from twolayer.report import (
    OUTPUT_AXES,
    OUTPUTS,
    REQUIRED_OUTPUTS,
    TRAJECTORY_OUTPUTS,
    describe_error,
    printable,
)

_F64_UNIT = 2.0**-53


class UnusableResultError(Exception):
    """What the implementation returned cannot be judged; the message says why."""


def expected_shape(name: str, case: CaseInputs) -> tuple[int, ...]:
    batch, d_in = case.x.shape
    hidden, d_out = case.w2.shape
    sizes = {"batch": batch, "d_in": d_in, "hidden": hidden, "d_out": d_out}
    return tuple(sizes[axis] for axis in OUTPUT_AXES[name])


def shape_in_axes(name: str, case: CaseInputs) -> str:
    axes = OUTPUT_AXES[name]
    if not axes:
        return "a scalar"
    sizes = ", ".join(map(str, expected_shape(name, case)))
    return f"({', '.join(axes)}) = ({sizes})"


def _as_float64(
    name: str,
    value: object,
    case: CaseInputs,
    shape: tuple[int, ...] | None = None,
    described: str | None = None,
    *,
    finite: bool = True,
) -> NDArray[np.float64]:
    """Convert one output to float64 exactly, or raise ``UnusableResultError`` saying why.

    ``shape`` and ``described`` (the shape in axis names) default to those of the step's output
    ``name``; a trajectory's outputs give their own, and ``finite=False``: a trajectory may leave
    the range, and its judge decides which entries must be finite.
    """
    try:
        array = np.asarray(value)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # any array type's conversion may fail in its own way
        raise UnusableResultError(
            f"numpy.asarray({name}) raised {describe_error(error)}; return numpy "
            "arrays, or tensors that numpy.asarray takes (detached, on the CPU)"
        ) from None
    narrow_float = array.dtype.kind == "V" and array.dtype.name.startswith(("bfloat", "float"))
    if array.dtype.kind not in "fiu" and not narrow_float:
        raise UnusableResultError(
            f"{name} has dtype {array.dtype}; expected real floating-point values"
        )
    if shape is None:
        shape = expected_shape(name, case)
    if name == "loss" and array.size == 1:
        array = array.reshape(())
    if array.shape != shape:
        expected = described if described is not None else shape_in_axes(name, case)
        raise UnusableResultError(f"{name} has shape {array.shape}; expected {expected}")
    with np.errstate(all="ignore"):
        values = array.astype(np.float64)  # exact from float16, float32, bfloat16, float64
    if finite:
        _check_finite(name, values)
    return values


def _check_finite(name: str, values: NDArray[np.float64]) -> None:
    """Raise ``UnusableResultError`` naming the first entry of ``values`` that is not finite."""
    finite = np.isfinite(values)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        where = f" at index {index}" if index else ""
        raise UnusableResultError(f"{name} is {values[index]}{where}; every output must be finite")


def read_outputs(result: object, case: CaseInputs) -> dict[str, NDArray[np.float64]]:
    """The implementation's outputs as float64 arrays, or ``UnusableResultError``."""
    if not isinstance(result, Mapping):
        raise UnusableResultError(
            f"step returned {printable(type(result).__qualname__)}; expected a mapping with keys "
            f"{', '.join(REQUIRED_OUTPUTS)} (and optionally h)"
        )
    try:
        missing = [name for name in REQUIRED_OUTPUTS if name not in result]
        if missing:
            raise UnusableResultError(f"step's result lacks {', '.join(missing)}")
        names = [name for name in OUTPUTS if name in result]
        return {name: _as_float64(name, result[name], case) for name in names}
    except (UnusableResultError, KeyboardInterrupt):
        raise
    except BaseException as error:  # a hostile mapping's lookups may raise anything
        raise UnusableResultError(f"reading step's result raised {describe_error(error)}") from None


def trajectory_shapes(case: CaseInputs, steps: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each returned array's shape, and the same in axis names."""
    d_in, hidden = case.w1.shape
    d_out = case.w2.shape[1]
    after = steps + 1
    return {
        "losses": ((steps,), f"(steps,) = ({steps},)"),
        "w1": ((after, d_in, hidden), f"(steps + 1, d_in, hidden) = ({after}, {d_in}, {hidden})"),
        "w2": (
            (after, hidden, d_out),
            f"(steps + 1, hidden, d_out) = ({after}, {hidden}, {d_out})",
        ),
    }


def read_trajectory(result: object, case: CaseInputs, steps: int) -> dict[str, NDArray[np.float64]]:
    """The implementation's trajectory as float64 arrays, or ``UnusableResultError``."""
    if not isinstance(result, Mapping):
        raise UnusableResultError(
            f"train returned {printable(type(result).__qualname__)}; expected a mapping with keys "
            f"{', '.join(TRAJECTORY_OUTPUTS)}"
        )
    shapes = trajectory_shapes(case, steps)
    try:
        missing = [name for name in TRAJECTORY_OUTPUTS if name not in result]
        if missing:
            raise UnusableResultError(f"train's result lacks {', '.join(missing)}")
        return {
            name: _as_float64(name, result[name], case, *shapes[name], finite=False)
            for name in TRAJECTORY_OUTPUTS
        }
    except (UnusableResultError, KeyboardInterrupt):
        raise
    except BaseException as error:  # a hostile mapping's lookups may raise anything
        raise UnusableResultError(
            f"reading train's result raised {describe_error(error)}"
        ) from None


class Comparison(NamedTuple):
    """The outcome of comparing one output: its worst ratio, where, and how many entries fail."""

    worst_ratio: float
    position: tuple[int, ...]
    failing: int


def compare(
    computed: NDArray[np.float64],
    exact_values: exact.Limbs,
    rounded: NDArray[np.float64],
    limit: NDArray[np.float64],
) -> Comparison:
    """Compare ``computed`` with the exact values within ``limit``, rigorously and quickly.

    With ``r`` the exact value rounded to float64 (``|r - exact| <= ulp(r) / 2``) and ``d =
    fl(|computed - r|)`` (one rounding), ``|computed - exact|`` lies within ``d (1 +- u) +-
    ulp(r) / 2``; a margin of ``4u`` covers the rounding of this test itself. Entries that the
    interval does not decide are compared in exact arithmetic. The ratio reported is ``d /
    limit``, an estimate, made to agree with the exact verdict: above 1 exactly where it fails.
    """
    flat_computed, flat_rounded = computed.ravel(), rounded.ravel()
    flat_limit = limit.ravel()
    margin = 1 + 4 * _F64_UNIT
    with np.errstate(over="ignore", invalid="ignore"):
        distance = np.abs(flat_computed - flat_rounded)
        half_ulp = np.spacing(np.abs(flat_rounded)) / 2
        upper = (distance + half_ulp) * margin
        lower = distance / margin - half_ulp * margin
    within, beyond = upper <= flat_limit, lower > flat_limit
    failing = beyond.copy()
    undecided = ~(within | beyond)
    if undecided.any():
        decided = exact.within_bound(computed, exact_values, limit).within.ravel()
        failing[undecided] = ~decided[undecided]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(flat_limit > 0, distance / flat_limit, np.where(distance > 0, np.inf, 0.0))
    ratio = np.nan_to_num(ratio, nan=0.0, posinf=np.inf)
    ratio = np.where(failing, np.maximum(ratio, np.nextafter(1.0, 2.0)), np.minimum(ratio, 1.0))
    if not ratio.size:
        return Comparison(0.0, (), 0)
    worst = int(np.argmax(ratio))
    index = tuple(int(i) for i in np.unravel_index(worst, computed.shape))
    return Comparison(float(ratio[worst]), index, int(failing.sum()))


def judge_outputs(
    outputs: Mapping[str, NDArray[np.float64]], reference: Reference
) -> tuple[dict[str, Comparison], list[str]]:
    """Compare every output given with the reference; return the comparisons and the messages."""
    comparisons: dict[str, Comparison] = {}
    messages: list[str] = []
    for name in OUTPUTS:
        if name not in outputs:
            continue
        limit = np.asarray(getattr(reference.bounds, name), dtype=np.float64)
        exact_values: exact.Limbs = getattr(reference.exact, name)
        comparison = compare(outputs[name], exact_values, reference.rounded[name], limit)
        comparisons[name] = comparison
        if comparison.failing:
            where = f"[{', '.join(map(str, comparison.position))}]" if comparison.position else ""
            computed = float(outputs[name][comparison.position])
            expected = float(reference.rounded[name][comparison.position])
            messages.append(
                f"{name}{where} = {computed!r}, exact {expected!r} (rounded), error "
                f"{abs(computed - expected):.3g} > bound {float(limit[comparison.position]):.3g}: "
                f"{comparison.failing} of {outputs[name].size} entries beyond their bounds, the "
                f"worst by {comparison.worst_ratio:.3g} times"
            )
    return comparisons, messages
