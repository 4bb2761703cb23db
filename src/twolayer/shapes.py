"""Axis names, array aliases, the value types of the contract, and input validation.

Every array in twolayer is named by the four axes of the seed notebook, ``batch d_in hidden
d_out`` (the notebook's ``N, D_in, H, D_out``), in annotations, docstrings and error messages
alike. Validation lives here so that every public function rejects bad input with the same
words: the argument, the expected shape in axis names, and what arrived.
"""

import math
import numbers
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
from jaxtyping import Float64
from numpy.typing import NDArray

AXES = ("batch", "d_in", "hidden", "d_out")
"""The axis names, in the order of ``Dims``."""

STEP_AXES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "h": ("batch", "hidden"),
        "h_relu": ("batch", "hidden"),
        "y_pred": ("batch", "d_out"),
        "loss": (),
        "grad_y_pred": ("batch", "d_out"),
        "grad_w2": ("hidden", "d_out"),
        "grad_h_relu": ("batch", "hidden"),
        "grad_h": ("batch", "hidden"),
        "grad_w1": ("d_in", "hidden"),
        "w1_next": ("d_in", "hidden"),
        "w2_next": ("hidden", "d_out"),
    }
)
"""The axes of every value of one training step, by name, in the seed's order (``loss`` is a
scalar: no axes). The one source of the output axes: ``vector_files.OUTPUT_AXES`` spells them as
``check_array`` takes them (``" ".join(axes)``)."""

# The array types inside the shape annotations: ``NDArray[np.float64]`` spelled out. numpy 2.5
# made ``NDArray`` a ``typing.TypeAliasType``, and jaxtyping (0.3.11) cannot subscript one
# (``Float64[Float64Array, ...]`` raises "issubclass() arg 1 must be a class" at import);
# ``np.ndarray[...]`` is the same type to a type checker, and its origin is a class to jaxtyping.
Float64Array = np.ndarray[tuple[Any, ...], np.dtype[np.float64]]
BoolArray = np.ndarray[tuple[Any, ...], np.dtype[np.bool_]]
ObjectArray = np.ndarray[tuple[Any, ...], np.dtype[np.object_]]

X = Float64[Float64Array, "batch d_in"]  # inputs x, one row per sample
Y = Float64[Float64Array, "batch d_out"]  # targets y; also y_pred and grad_y_pred
W1 = Float64[Float64Array, "d_in hidden"]  # input -> hidden weights; also grad_w1
W2 = Float64[Float64Array, "hidden d_out"]  # hidden -> output weights; also grad_w2
Hidden = Float64[Float64Array, "batch hidden"]  # h, h_relu, grad_h_relu, grad_h
Losses = Float64[Float64Array, " steps"]  # one loss per training step

RELU_GRAD_AT_ZERO_CHOICES = (0.0, 0.5, 1.0)
"""The legal values of ``relu_grad_at_zero``: the derivative of ReLU taken at an exact zero."""


class Dims(NamedTuple):
    """The four sizes of the network: the seed's ``N, D_in, H, D_out``."""

    batch: int
    d_in: int
    hidden: int
    d_out: int


SEED_DIMS = Dims(batch=64, d_in=1000, hidden=100, d_out=10)
"""The seed notebook's sizes: ``N, D_in, H, D_out = 64, 1000, 100, 10``."""


class Params(NamedTuple):
    """The weights: ``w1 (d_in, hidden)`` and ``w2 (hidden, d_out)``, float64."""

    w1: W1
    w2: W2


class Grads(NamedTuple):
    """The gradient of the loss, shaped like ``Params``: ``w1``, ``w2``."""

    w1: W1
    w2: W2


class Activations(NamedTuple):
    """The forward values that ``backward`` needs.

    ``h, h_relu (batch, hidden)`` and ``y_pred (batch, d_out)``.
    """

    h: Hidden
    h_relu: Hidden
    y_pred: Y


class TrainResult(NamedTuple):
    """What ``train`` returns: the final ``params`` and ``losses (steps,)``.

    ``losses[t]`` is the loss before update ``t``.
    """

    params: Params
    losses: Losses


# -- validation -------------------------------------------------------------------------------

Sizes = dict[str, tuple[int, str]]  # axis name -> (size, the argument that fixed it)


def _shape_in_axes(axes: tuple[str, ...], sizes: Sizes) -> str:
    """Render ``(batch, d_in) = (4, ?)`` for the axes, with the sizes known so far."""
    names = f"({', '.join(axes)})"
    known = ", ".join(str(sizes[axis][0]) if axis in sizes else "?" for axis in axes)
    if len(axes) == 1:
        names, known = names[:-1] + ",)", known + ","
    if not any(axis in sizes for axis in axes):
        return names
    return f"{names} = ({known})"


def _type_name(value: object) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def check_array(name: str, value: object, axes: str, sizes: Sizes) -> NDArray[np.float64]:
    """Return ``value`` if it is a finite float64 array with the named axes; else raise.

    ``sizes`` holds the axis sizes fixed by earlier arguments; the axes that ``value`` names for
    the first time are added to it, so that a later argument that disagrees is reported with the
    argument that fixed the size.

    Raises:
        TypeError: ``value`` is not a numpy array, or its dtype is not float64.
        ValueError: wrong number of axes, an empty axis, a size that disagrees, NaN or inf.

    The message names the argument, its axes and the argument that fixed a size; numpy itself
    would have broadcast this ``y`` into a wrong loss without a word:

    >>> import numpy as np
    >>> sizes: Sizes = {}
    >>> check_array("y_pred", np.zeros((64, 10)), "batch d_out", sizes).shape
    (64, 10)
    >>> check_array("y", np.zeros((64, 1)), "batch d_out", sizes)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: y must have shape (batch, d_out) = (64, 10) (d_out = 10 from y_pred); got ...
    """
    names = tuple(axes.split())
    if not isinstance(value, np.ndarray) or isinstance(value, (np.matrix, np.ma.MaskedArray)):
        raise TypeError(
            f"{name} must be a numpy.ndarray of float64 with shape "
            f"{_shape_in_axes(names, sizes)}; got {_type_name(value)}"
        )
    if value.dtype != np.float64:
        raise TypeError(
            f"{name} must have dtype float64 (shape {_shape_in_axes(names, sizes)}); got dtype "
            f"{value.dtype}. twolayer computes in float64 only: convert with "
            f"{name}.astype(numpy.float64), which is exact from float32 and float16"
        )
    if value.ndim != len(names):
        raise ValueError(
            f"{name} must have {len(names)} axes {_shape_in_axes(names, sizes)}; "
            f"got shape {value.shape} with {value.ndim}"
        )
    for index, size in enumerate(value.shape):  # as many as names: ndim was checked
        axis = names[index]
        if size < 1:
            raise ValueError(f"{name} must have {axis} >= 1; got shape {value.shape}")
        if axis in sizes and sizes[axis][0] != size:
            known, source = sizes[axis]
            raise ValueError(
                f"{name} must have shape {_shape_in_axes(names, sizes)} ({axis} = {known} from "
                f"{source}); got shape {value.shape}"
            )
    for index, size in enumerate(value.shape):
        sizes.setdefault(names[index], (size, name))
    finite = np.isfinite(value)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} must be finite; got {value[where]} at index {where} "
            f"(shape {_shape_in_axes(names, sizes)})"
        )
    return value


def check_params(params: object, sizes: Sizes, name: str = "params") -> Params:
    """Return ``params`` if it is a ``Params`` (or a pair) of valid ``w1``, ``w2``; else raise."""
    if not isinstance(params, tuple) or len(params) != 2:
        raise TypeError(
            f"{name} must be twolayer.Params(w1, w2) with w1 (d_in, hidden) and w2 "
            f"(hidden, d_out); got {type(params).__qualname__}"
        )
    w1 = check_array(f"{name}.w1", params[0], "d_in hidden", sizes)
    w2 = check_array(f"{name}.w2", params[1], "hidden d_out", sizes)
    return Params(w1, w2)


def shown(value: object, limit: int = 60) -> str:
    r"""``repr(value)`` for a message: at most ``limit`` characters, never raising, never raw.

    A hostile argument must not turn its own error message into another error: an integer of
    more than 4,300 digits has no ``repr`` under Python's default limit, and an object's
    ``__repr__`` may raise or hold terminal control characters, which are escaped here.

    >>> shown(10**5000)
    'an integer of 5001 digits'
    >>> shown("\x1b[2J")
    "'\\x1b[2J'"
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"an integer of {_digits(value)} digits"
    try:
        text = ascii(value)  # repr, with every character past ASCII escaped
    except Exception:  # any __repr__ may raise (an int of 5,000 digits in a tuple); no message may
        text = f"<{_type_name(value)} object>"
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _digits(value: int) -> int:
    """The number of decimal digits of ``value``, without ``str`` (refused past 4,300 digits)."""
    magnitude = abs(value)
    # With 2**(b - 1) <= magnitude < 2**b, the digits are at most this and at least one fewer.
    estimate = int(magnitude.bit_length() * math.log10(2)) + 1
    return estimate - 1 if magnitude < 10 ** (estimate - 1) else estimate


def _problem(name: str, what: str, value: object) -> str:
    return f"{name} must be {what}; got {_type_name(value)} {shown(value)}"


def check_relu_grad_at_zero(value: object, name: str = "relu_grad_at_zero") -> float:
    """Return ``value`` as a float if it is 0, 0.5 or 1; else raise.

    Any real number is read, numpy's included; a bool, a string or an array is not.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: it is not 0, 0.5 or 1 (an integer too large for a float included).
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(_problem(name, "one of 0, 0.5, 1", value))
    # Python compares an int with a float exactly, so 10**400 is refused here without the
    # OverflowError that float() would raise.
    if value not in RELU_GRAD_AT_ZERO_CHOICES:
        raise ValueError(f"{name} must be one of 0, 0.5, 1; got {shown(value)}")
    return float(value)


def check_learning_rate(value: object, name: str = "learning_rate") -> float:
    """Return ``value`` as a float if it is a finite real number >= 0; else raise.

    Raises:
        TypeError: ``value`` is not a real number (a bool, a string, an array).
        ValueError: it is negative, NaN, infinite, or an integer too large for a float.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(_problem(name, "a real number >= 0", value))
    try:
        rate = float(value)
    except (OverflowError, ValueError):
        rate = math.inf
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {shown(value)}")
    return rate


def check_count(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an integer >= ``minimum`` (a bool is not); else raise.

    Raises:
        TypeError: ``value`` is not an integer (numpy's integers are).
        ValueError: it is below ``minimum``.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(_problem(name, f"an integer >= {minimum}", value))
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {shown(value)}")
    return int(value)


MAX_BYTES = 2**34
"""The most memory, in bytes, that one call may ask for: 16 GiB.

Sizes and step counts are checked against it before any array is made, from an estimate of the
float64 arrays that the call holds at once (``dims_bytes``, ``steps_bytes``), so that a typo
such as ``--batch 10000000`` is a one-line error that names the argument, not a ``MemoryError``
after minutes or numpy's "Maximum allowed dimension exceeded". The seed's dims need about 1 MB.
"""

_FLOAT64_BYTES = 8


def dims_bytes(dims: Dims) -> int:
    """Estimate the bytes of the float64 arrays that one step at ``dims`` holds at once.

    ``x``, ``y``; ``w1``, ``w2``, their gradients and the next weights; ``h``, ``h_relu``,
    ``grad_h_relu``, ``grad_h``; ``y_pred`` and ``grad_y_pred``.
    """
    batch, d_in, hidden, d_out = dims
    entries = (
        batch * d_in
        + batch * d_out
        + 3 * (d_in * hidden + hidden * d_out)
        + 4 * batch * hidden
        + 2 * batch * d_out
    )
    return _FLOAT64_BYTES * entries


def steps_bytes(steps: int) -> int:
    """The bytes of ``train``'s ``losses``: one float64 a step."""
    return _FLOAT64_BYTES * steps


def trajectory_bytes(dims: Dims, steps: int) -> int:
    """Estimate the bytes of a trajectory of ``steps`` updates at ``dims``, as the training judge
    receives it: ``losses`` and every step's ``w1`` and ``w2`` (``steps + 1`` of each), on top
    of one step's arrays.

    >>> trajectory_bytes(SEED_DIMS, 500)  # the seed's run, kept whole
    407968160
    """
    _, d_in, hidden, d_out = dims
    weights = (steps + 1) * (d_in * hidden + hidden * d_out)
    return dims_bytes(dims) + steps_bytes(steps) + _FLOAT64_BYTES * weights


JUDGE_MAX_DIMS = Dims(130, 1100, 260, 20)
"""The largest dims of the judge's drawn cases: the seed's and beyond, on every axis."""


def check_bytes(what: str, needed: int) -> None:
    """Raise ``ValueError`` if ``needed`` bytes exceed ``MAX_BYTES``; ``what`` names the cause.

    >>> check_bytes("steps = 10**12", steps_bytes(10**12))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: steps = 10**12 needs about 8,000,000,000,000 bytes (7.276 TiB), beyond ...
    """
    if needed > MAX_BYTES:
        amount = (
            f"about {needed:,} bytes ({_binary(needed)})"
            if needed < 10**30
            else f"more than 10**{_digits(needed) - 1} bytes"
        )
        raise ValueError(
            f"{what} needs {amount}, beyond the limit of {MAX_BYTES:,} bytes "
            f"({_binary(MAX_BYTES)}, twolayer.shapes.MAX_BYTES)"
        )


_GIB = 2**30


def _binary(count: int) -> str:
    """``count`` bytes in binary units, ``7.276 TiB``: GiB and up, as ``check_bytes`` needs (its
    amounts are ``MAX_BYTES``, 16 GiB, and above), to four digits: below the next unit the
    amount is under 1024, which four digits write out (``1024 GiB``, never ``1.02e+03 GiB``)."""
    units = ("GiB", "TiB", "PiB", "EiB")
    if count >= _GIB * 1024 ** len(units):
        return "over 1 ZiB"
    power = 0
    while count >= _GIB * 1024 ** (power + 1):
        power += 1
    return f"{count / (_GIB * 1024**power):.4g} {units[power]}"


def check_dims(dims: object) -> Dims:
    """Return ``dims`` as ``Dims`` if it holds four positive integers within ``MAX_BYTES``.

    Raises:
        TypeError: ``dims`` is not four sizes, or a size is not an integer.
        ValueError: a size is below 1, or the arrays of a step at these sizes would need more
            than ``MAX_BYTES`` (``dims_bytes``).
    """
    if not isinstance(dims, tuple) or len(dims) != len(AXES):
        raise TypeError(
            f"dims must be twolayer.Dims(batch, d_in, hidden, d_out); got {_type_name(dims)} "
            f"{shown(dims)}"
        )
    checked = Dims(
        *(check_count(f"dims.{AXES[index]}", size, 1) for index, size in enumerate(dims))
    )
    check_bytes(f"dims = {_dims_text(checked)}", dims_bytes(checked))
    return checked


def _dims_text(dims: Dims) -> str:
    sizes = ", ".join(f"{axis}={shown(size, 24)}" for axis, size in dims._asdict().items())
    return f"Dims({sizes})"


def check_rng(rng: object) -> np.random.Generator:
    """Return ``rng`` if it is a ``numpy.random.Generator``; else raise."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, e.g. numpy.random.default_rng(0); "
            f"got {type(rng).__qualname__}"
        )
    return rng


def frozen(array: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mark a freshly computed array read-only and return it (no copy: nobody else holds it)."""
    array.setflags(write=False)
    return array


def check_mask(mask: object, sizes: Sizes) -> BoolArray | None:
    """Return ``mask`` if it is None or a bool array ``(batch, hidden)`` of those sizes; else raise.

    ``sizes`` must hold ``batch`` and ``hidden`` already (from ``x`` and ``params``).
    """
    if mask is None:
        return None
    batch, hidden = sizes["batch"][0], sizes["hidden"][0]
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise TypeError(
            f"mask must be None or a numpy bool array of shape (batch, hidden) = ({batch}, "
            f"{hidden}); got {type(mask).__qualname__} {getattr(mask, 'dtype', '')}".rstrip()
        )
    if mask.shape != (batch, hidden):
        raise ValueError(
            f"mask must have shape (batch, hidden) = ({batch}, {hidden}); got shape {mask.shape}"
        )
    return mask
