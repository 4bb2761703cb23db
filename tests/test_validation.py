"""Bad input raises ValueError or TypeError naming the argument, its axes and what arrived.

One good call first (the fixtures), then each class of bad call, as equinox's tests do.

The calls go through ``unhooked`` (tests/unhooking.py): during this test run jaxtyping's import hook wraps every
twolayer function in a beartype shape check, which would reject these calls first with its own
message. These tests are about twolayer's own messages, the ones every user sees;
``test_the_runtime_shape_checker_rejects_them_too`` shows the wrapper's check as well.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from unhooking import unhooked

import twolayer
from twolayer import bounds, exact, gradcheck, shapes

DIMS = twolayer.Dims(batch=4, d_in=3, hidden=5, d_out=2)
RNG = np.random.default_rng(0)
X, Y = twolayer.init_data(RNG, DIMS)
PARAMS = twolayer.init_params(RNG, DIMS)


def test_the_good_call_works() -> None:
    value, grads = twolayer.value_and_grad(PARAMS, X, Y)
    assert value > 0
    assert (grads.w1.shape, grads.w2.shape) == ((3, 5), (5, 2))


def bad(value: object) -> Any:
    """Hand a deliberately ill-typed argument past mypy."""
    return value


value_and_grad = unhooked(twolayer.value_and_grad)
train = unhooked(twolayer.train)
backward = unhooked(twolayer.backward)
forward = unhooked(twolayer.forward)
loss = unhooked(twolayer.loss)
sgd_step = unhooked(twolayer.sgd_step)
init_params = unhooked(twolayer.init_params)
legacy_init = unhooked(twolayer.legacy_init)
backward_values = unhooked(twolayer.backward_values)
exact_step = unhooked(exact.step)
exact_value_and_grad = unhooked(exact.value_and_grad)
step_bounds = unhooked(bounds.step_bounds)
check_gradients = unhooked(gradcheck.check_gradients)


Call = Callable[[twolayer.Params, NDArray[np.float64], NDArray[np.float64]], object]

CALLS: dict[str, Call] = {
    "value_and_grad": value_and_grad,
    "train": lambda p, x, y: train(p, x, y, learning_rate=1e-3, steps=1),
    "backward": lambda p, x, y: backward(p, x, y, twolayer.forward(PARAMS, X)),
    "forward+loss": lambda p, x, y: loss(forward(p, x).y_pred, y),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        # numpy would broadcast (batch, 1) against (batch, d_out) and give a wrong loss silently.
        (
            X,
            Y[:, :1],
            r"y must have shape \(batch, d_out\) = \(4, 2\) \(d_out = 2 from (params\.w2|y_pred)\); got shape \(4, 1\)",
        ),
        (
            X,
            Y[:3],
            r"y must have shape \(batch, d_out\) = \(4, 2\) \(batch = 4 from (x|y_pred)\); got shape \(3, 2\)",
        ),
        (
            X[:, :2],
            Y,
            r"x must have shape \(batch, d_in\) = \(\?, 3\) \(d_in = 3 from params\.w1\); got shape \(4, 2\)",
        ),
        (X[0], Y, r"x must have 2 axes \(batch, d_in\) = \(\?, 3\); got shape \(3,\) with 1"),
        (
            X[None],
            Y,
            r"x must have 2 axes \(batch, d_in\) = \(\?, 3\); got shape \(1, 4, 3\) with 3",
        ),
        (X[:0], Y, r"x must have batch >= 1; got shape \(0, 3\)"),
    ],
)
def test_shapes_that_disagree_are_refused_in_axis_names(
    call: Call, x: NDArray[np.float64], y: NDArray[np.float64], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(PARAMS, x, y)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_hidden_sizes_that_disagree_between_w1_and_w2_are_refused(call: Call) -> None:
    params = twolayer.Params(PARAMS.w1, PARAMS.w2[:4])
    with pytest.raises(
        ValueError,
        match=r"params\.w2 must have shape \(hidden, d_out\) = \(5, \?\) \(hidden = 5 from params\.w1\); got shape \(4, 2\)",
    ):
        call(params, X, Y)


# -- every array argument of every public function, by name --------------------------------------

# A batch of 3, as many rows as an Activations triple has members: an array of h then passes a bare
# length check, so that only backward's own type check can refuse it (see the activations below).
TRIPLE_DIMS = twolayer.Dims(batch=3, d_in=4, hidden=5, d_out=2)
X3, Y3, PARAMS3 = twolayer.legacy_init(0, TRIPLE_DIMS)
ACTIVATIONS3 = twolayer.forward(PARAMS3, X3)
_, GRADS3 = twolayer.value_and_grad(PARAMS3, X3, Y3)

# Every array argument of the public functions, by the name its errors give it, with its axes.
ARRAY_ARGUMENTS: dict[str, tuple[NDArray[np.float64], str]] = {
    "params.w1": (PARAMS3.w1, "d_in, hidden"),
    "params.w2": (PARAMS3.w2, "hidden, d_out"),
    "grads.w1": (GRADS3.w1, "d_in, hidden"),
    "grads.w2": (GRADS3.w2, "hidden, d_out"),
    "grad_error_bound.w1": (np.abs(GRADS3.w1), "d_in, hidden"),
    "grad_error_bound.w2": (np.abs(GRADS3.w2), "hidden, d_out"),
    "x": (X3, "batch, d_in"),
    "y": (Y3, "batch, d_out"),
    "y_pred": (ACTIVATIONS3.y_pred, "batch, d_out"),
    "activations.h": (ACTIVATIONS3.h, "batch, hidden"),
    "activations.h_relu": (ACTIVATIONS3.h_relu, "batch, hidden"),
    "activations.y_pred": (ACTIVATIONS3.y_pred, "batch, d_out"),
}

Arrays = Mapping[str, NDArray[np.float64]]


def _params(a: Arrays) -> twolayer.Params:
    return twolayer.Params(a["params.w1"], a["params.w2"])


def _grads(a: Arrays, name: str = "grads") -> twolayer.Grads:
    return twolayer.Grads(a[f"{name}.w1"], a[f"{name}.w2"])


def _activations(a: Arrays) -> twolayer.Activations:
    return twolayer.Activations(
        a["activations.h"], a["activations.h_relu"], a["activations.y_pred"]
    )


BACKWARD_ARGS = (
    "params.w1",
    "params.w2",
    "x",
    "y",
    *(f"activations.{n}" for n in ("h", "h_relu", "y_pred")),
)

# Each public function that takes arrays: how to call it from ARRAY_ARGUMENTS' names, and which
# of them it takes.
ARRAY_CALLS: dict[str, tuple[Callable[[Arrays], object], tuple[str, ...]]] = {
    "forward": (lambda a: forward(_params(a), a["x"]), ("params.w1", "params.w2", "x")),
    "loss": (lambda a: loss(a["y_pred"], a["y"]), ("y_pred", "y")),
    "backward": (lambda a: backward(_params(a), a["x"], a["y"], _activations(a)), BACKWARD_ARGS),
    "backward_values": (
        lambda a: backward_values(_params(a), a["x"], a["y"], _activations(a)),
        BACKWARD_ARGS,
    ),
    "value_and_grad": (
        lambda a: value_and_grad(_params(a), a["x"], a["y"]),
        ("params.w1", "params.w2", "x", "y"),
    ),
    "sgd_step": (
        lambda a: sgd_step(_params(a), _grads(a), 1e-3),
        ("params.w1", "params.w2", "grads.w1", "grads.w2"),
    ),
    "train": (
        lambda a: train(_params(a), a["x"], a["y"], learning_rate=1e-3, steps=1),
        ("params.w1", "params.w2", "x", "y"),
    ),
    "exact.step": (
        lambda a: exact_step(_params(a), a["x"], a["y"], 1e-3),
        ("params.w1", "params.w2", "x", "y"),
    ),
    "exact.value_and_grad": (
        lambda a: exact_value_and_grad(_params(a), a["x"], a["y"]),
        ("params.w1", "params.w2", "x", "y"),
    ),
    "bounds.step_bounds": (
        lambda a: step_bounds(_params(a), a["x"], a["y"], 1e-3),
        ("params.w1", "params.w2", "x", "y"),
    ),
    "gradcheck.check_gradients": (
        lambda a: check_gradients(
            _params(a),
            a["x"],
            a["y"],
            _grads(a),
            grad_error_bound=_grads(a, "grad_error_bound"),
        ),
        ("params.w1", "params.w2", "x", "y", "grads.w1", "grads.w2", "grad_error_bound.w1"),
    ),
}


@pytest.mark.parametrize(
    ("call", "argument"),
    [(call, argument) for call, (_, arguments) in ARRAY_CALLS.items() for argument in arguments],
)
def test_every_array_argument_is_named_with_its_axes_in_its_own_error(
    call: str, argument: str
) -> None:
    """An array argument with a wrong number of axes is refused by its own name and its axes.

    Every array argument of every public function: the error starts
    ``<argument> must have 2 axes (<its axes>)``, and a good call with the same arrays passes.
    """
    function, _ = ARRAY_CALLS[call]
    arrays = {name: array for name, (array, _) in ARRAY_ARGUMENTS.items()}
    function(arrays)  # the good call passes, so the error below is this argument's
    arrays[argument] = arrays[argument][None]
    with pytest.raises(ValueError, match="axes") as info:
        function(arrays)
    assert str(info.value).startswith(
        f"{argument} must have 2 axes ({ARRAY_ARGUMENTS[argument][1]})"
    )


# Every (call, argument) pair but (backward, w1): backward does not read w1's values, which the
# activations carry; the test after this one holds it to refusing a non-finite w1 all the same.
ARGUMENTS_READ = [
    pytest.param(CALLS[name], where, id=f"{name}-{where}")
    for name in CALLS
    for where in ("x", "y", "w1", "w2")
    if (name, where) != ("backward", "w1")
]


@pytest.mark.parametrize(("call", "where"), ARGUMENTS_READ)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_refused_with_their_index(call: Call, bad: float, where: str) -> None:
    arrays = {"x": X, "y": Y, "w1": PARAMS.w1, "w2": PARAMS.w2}
    arrays = {name: np.array(array) for name, array in arrays.items()}
    arrays[where][1, 0] = bad
    name = {"w1": "params.w1", "w2": "params.w2"}.get(where, where)
    with pytest.raises(
        ValueError, match=rf"{re.escape(name)} must be finite; got {bad} at index \(1, 0\)"
    ):
        call(twolayer.Params(arrays["w1"], arrays["w2"]), arrays["x"], arrays["y"])


def test_backward_checks_w1_too_although_only_activations_use_it() -> None:
    w1 = np.array(PARAMS.w1)
    w1[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"params\.w1 must be finite"):
        backward(twolayer.Params(w1, PARAMS.w2), X, Y, twolayer.forward(PARAMS, X))


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.complex128, np.longdouble])
def test_other_dtypes_are_refused_naming_the_dtype(call: Call, dtype: type) -> None:
    with pytest.raises(
        TypeError, match=rf"x must have dtype float64 .*; got dtype {np.dtype(dtype)}"
    ):
        call(PARAMS, X.astype(dtype), Y)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_non_arrays_are_refused(call: Call) -> None:
    with pytest.raises(
        TypeError,
        match=r"x must be a numpy\.ndarray of float64 with shape \(batch, d_in\) = \(\?, 3\); got list",
    ):
        call(PARAMS, bad(X.tolist()), Y)
    with pytest.raises(TypeError, match=r"params must be twolayer\.Params\(w1, w2\)"):
        call(bad(PARAMS.w1), X, Y)


@pytest.mark.parametrize(
    ("rate", "error", "message"),
    [
        (-1e-6, ValueError, r"learning_rate must be a finite number >= 0; got -1e-06"),
        (np.nan, ValueError, r"learning_rate must be a finite number >= 0; got nan"),
        (np.inf, ValueError, r"learning_rate must be a finite number >= 0; got inf"),
        ("0.1", TypeError, r"learning_rate must be a real number >= 0; got str '0\.1'"),
        (True, TypeError, r"learning_rate must be a real number >= 0; got bool True"),
        (None, TypeError, r"learning_rate must be a real number >= 0; got NoneType None"),
    ],
)
def test_bad_learning_rates_are_refused(rate: object, error: type[Exception], message: str) -> None:
    _, grads = twolayer.value_and_grad(PARAMS, X, Y)
    with pytest.raises(error, match=message):
        sgd_step(PARAMS, grads, bad(rate))
    with pytest.raises(error, match=message):
        train(PARAMS, X, Y, learning_rate=bad(rate), steps=1)


@pytest.mark.parametrize(
    ("steps", "error", "message"),
    [
        (-1, ValueError, r"steps must be an integer >= 0; got -1"),
        (2.0, TypeError, r"steps must be an integer >= 0; got float 2\.0"),
        (True, TypeError, r"steps must be an integer >= 0; got bool True"),
    ],
)
def test_bad_step_counts_are_refused(steps: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        train(PARAMS, X, Y, learning_rate=1e-3, steps=bad(steps))


def test_numpy_integers_are_step_counts() -> None:
    result = train(PARAMS, X, Y, learning_rate=1e-3, steps=bad(np.int64(2)))
    assert result.losses.shape == (2,)


@pytest.mark.parametrize(
    ("dims", "error", "message"),
    [
        (twolayer.Dims(0, 3, 5, 2), ValueError, r"dims\.batch must be an integer >= 1; got 0"),
        (twolayer.Dims(4, -3, 5, 2), ValueError, r"dims\.d_in must be an integer >= 1; got -3"),
        (
            twolayer.Dims(4, 3, bad(5.0), 2),
            TypeError,
            r"dims\.hidden must be an integer >= 1; got float 5\.0",
        ),
        ((4, 3, 5), TypeError, r"dims must be twolayer\.Dims\(batch, d_in, hidden, d_out\)"),
    ],
)
def test_bad_dims_are_refused(dims: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        init_params(np.random.default_rng(0), bad(dims))


@pytest.mark.parametrize("rng", [0, np.random.RandomState(0), None])
def test_an_rng_that_is_not_a_generator_is_refused(rng: object) -> None:
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        init_params(bad(rng), DIMS)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5])
def test_legacy_seeds_outside_randomstates_range_are_refused(seed: object) -> None:
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*32\)"):
        legacy_init(bad(seed), DIMS)


@pytest.mark.parametrize("seed", [-1, -(2**32), 2**32, 2**33, 3**32, True, False, 1.0, 2.0**40])
def test_legacy_init_refuses_every_other_seed_in_its_own_words(seed: object) -> None:
    """A seed that RandomState would not take as it is, a bool or a float included, is refused.

    The ``ValueError`` says the range and what arrived, in these words exactly; the seeds that
    it takes are in tests/test_seed_fidelity.py.
    """
    with pytest.raises(ValueError, match="seed") as info:
        legacy_init(bad(seed), DIMS)
    assert str(info.value) == (
        f"seed must be an integer in [0, 2**32) for RandomState; got {seed!r}"
    )


def test_activations_of_the_wrong_shape_are_refused() -> None:
    activations = twolayer.forward(PARAMS, X)
    short = twolayer.Activations(activations.h[:, :4], activations.h_relu, activations.y_pred)
    with pytest.raises(
        ValueError, match=r"activations\.h must have shape \(batch, hidden\) = \(4, 5\)"
    ):
        backward(PARAMS, X, Y, short)
    with pytest.raises(TypeError, match=r"activations must be twolayer\.Activations"):
        backward(PARAMS, X, Y, bad(activations.h))


@pytest.mark.parametrize(
    "activations",
    [list(ACTIVATIONS3), ACTIVATIONS3[:2], (*ACTIVATIONS3, ACTIVATIONS3.h), ACTIVATIONS3.h, None],
    ids=["list", "pair", "quadruple", "array-of-3-rows", "None"],
)
@pytest.mark.parametrize("function", [backward, backward_values], ids=["backward", "values"])
def test_backward_refuses_anything_but_an_activations_triple_in_its_own_words(
    function: Callable[..., object], activations: object
) -> None:
    """``backward`` and ``backward_values`` take only ``twolayer.Activations`` from ``forward``.

    A list, a tuple of another length, an array or None is a ``TypeError`` in these words
    exactly, even an array of 3 rows, which has a triple's length.
    """
    assert len(X3) == 3  # so that an array of h passes a bare length check
    with pytest.raises(TypeError, match="activations") as info:
        function(PARAMS3, X3, Y3, activations)
    assert str(info.value) == (
        "activations must be twolayer.Activations(h, h_relu, y_pred) from forward(params, x); "
        f"got {type(activations).__qualname__}"
    )


def test_the_runtime_shape_checker_rejects_them_too() -> None:
    # Wrapped by jaxtyping + beartype in this test run: y's batch disagrees with x's.
    with pytest.raises(TypeError, match="batch"):
        twolayer.value_and_grad(PARAMS, X, np.array(Y[:3]))


# -- the words of the messages: what shapes' helpers print, exactly ----------------------------
#
# Each rule below is a documented promise of twolayer.shapes about the text of an error message;
# the tests were written where mutation testing of shapes.py found a rule that no test held.


def test_a_one_axis_array_is_named_with_a_trailing_comma_as_python_writes_one_tuple() -> None:
    sizes: shapes.Sizes = {}
    with pytest.raises(
        ValueError, match=r"^losses must have 1 axes \(steps,\); got shape \(2, 2\)"
    ):
        shapes.check_array("losses", np.zeros((2, 2)), "steps", sizes)
    shapes.check_array("losses", np.zeros(3), "steps", sizes)
    expected = (
        r"^losses must have shape \(steps,\) = \(3,\) \(steps = 3 from losses\); got shape \(4,\)$"
    )
    with pytest.raises(ValueError, match=expected):
        shapes.check_array("losses", np.zeros(4), "steps", sizes)


def test_params_must_be_a_pair_in_a_tuple_and_the_message_names_what_came() -> None:
    for not_params in ([PARAMS.w1, PARAMS.w2], (PARAMS.w1,), (PARAMS.w1, PARAMS.w2, PARAMS.w2)):
        kind = type(not_params).__qualname__
        with pytest.raises(
            TypeError, match=rf"^params must be twolayer\.Params\(w1, w2\).*; got {kind}$"
        ):
            forward(bad(not_params), X)


def test_an_rng_message_names_the_type_that_came() -> None:
    with pytest.raises(TypeError, match=r"; got RandomState$"):
        init_params(bad(np.random.RandomState(0)), DIMS)


@pytest.mark.parametrize("rule", [10**400, -(10**400), 2, -1.0, 0.25, np.float32(0.25)])
def test_any_relu_grad_at_zero_but_0_half_and_1_is_a_value_error_naming_it(rule: object) -> None:
    with pytest.raises(ValueError, match=r"^relu_grad_at_zero must be one of 0, 0\.5, 1; got "):
        value_and_grad(PARAMS, X, Y, relu_grad_at_zero=bad(rule))


@pytest.mark.parametrize("rule", [0, 0.5, 1, np.float32(0.5), np.int64(1), 1.0])
def test_every_spelling_of_a_legal_relu_grad_at_zero_is_a_float(rule: object) -> None:
    checked = shapes.check_relu_grad_at_zero(rule)
    assert type(checked) is float
    assert checked == rule


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10**59, "1" + "0" * 59),  # 60 characters: shown whole
        (10**60, "an integer of 61 digits"),  # the limit, 10**60, is counted, not written
        (-(10**60), "an integer of 61 digits"),
        (10**61 - 1, "an integer of 61 digits"),  # 203 bits: the bit-length estimate says 62
        pytest.param(10**5000, "an integer of 5001 digits", id="10**5000"),  # past str's limit
        pytest.param(10**4999 - 1, "an integer of 4999 digits", id="10**4999-1"),
        ("a" * 58, "'" + "a" * 58 + "'"),  # 60 characters with its quotes: whole
        ("a" * 59, "'" + "a" * 56 + "..."),  # 61: cut to 60 with an ellipsis
        ("é", r"'\xe9'"),  # nothing but ASCII reaches a message
        ("\u2028", r"'\u2028'"),
    ],
)
def test_shown_writes_a_value_within_its_limit_in_printable_ascii(value: object, text: str) -> None:
    assert shapes.shown(value) == text


class Hostile:
    def __repr__(self) -> str:
        return "\x1b[2J\x07bell"


class Raising:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_shown_escapes_what_a_repr_returns_raw() -> None:
    assert shapes.shown(Hostile()) == r"\x1b[2J\x07bell"
    assert shapes.shown(Raising()) == "<test_validation.Raising object>"


@pytest.mark.parametrize(
    ("batch", "text"),
    [(10**23, "batch=" + "1" + "0" * 23), (10**24, "batch=an integer of 25 digits")],
)
def test_a_size_in_dims_is_shown_whole_below_24_digits(batch: int, text: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^dims = Dims\({text}, d_in=1, hidden=1, d_out=1\) needs"
    ):
        shapes.check_dims(twolayer.Dims(batch, 1, 1, 1))


GIB = 2**30


@pytest.mark.parametrize(
    ("needed", "amount"),
    [
        (shapes.MAX_BYTES + 1, "about 17,179,869,185 bytes (16 GiB)"),
        (1000 * GIB, "about 1,073,741,824,000 bytes (1000 GiB)"),
        (1024 * GIB - 1, "about 1,099,511,627,775 bytes (1024 GiB)"),  # never 1.02e+03 GiB
        (1024 * GIB, "about 1,099,511,627,776 bytes (1 TiB)"),
        (1024**2 * GIB * 3 // 2, "about 1,688,849,860,263,936 bytes (1.5 PiB)"),
        (1024**3 * GIB, "about 1,152,921,504,606,846,976 bytes (1 EiB)"),
        (1024**4 * GIB - 1, "about 1,180,591,620,717,411,303,423 bytes (1024 EiB)"),
        (1024**4 * GIB, "about 1,180,591,620,717,411,303,424 bytes (over 1 ZiB)"),
        (10**30 - 1, "about " + "999," * 9 + "999 bytes (over 1 ZiB)"),
        (10**30, "more than 10**30 bytes"),
        (10**400, "more than 10**400 bytes"),
    ],
)
def test_an_amount_beyond_the_limit_is_written_in_bytes_and_its_largest_binary_unit(
    needed: int, amount: str
) -> None:
    limit = "beyond the limit of 17,179,869,184 bytes (16 GiB, twolayer.shapes.MAX_BYTES)"
    with pytest.raises(ValueError, match=r"^it needs ") as refused:
        shapes.check_bytes("it", needed)
    assert str(refused.value) == f"it needs {amount}, {limit}"


def test_the_limit_itself_is_allowed() -> None:
    shapes.check_bytes("it", shapes.MAX_BYTES)


MASK_SHAPE = r"mask must be None or a numpy bool array of shape \(batch, hidden\) = \(4, 5\); got"


@pytest.mark.parametrize(
    ("mask", "error", "message"),
    [
        ([[True] * 5] * 4, TypeError, rf"^{MASK_SHAPE} list$"),  # no dtype to name
        (np.ones((4, 5)), TypeError, rf"^{MASK_SHAPE} ndarray float64$"),
        (
            np.ones((5, 4), dtype=bool),
            ValueError,
            r"^mask must have shape \(batch, hidden\) = \(4, 5\); got shape \(5, 4\)$",
        ),
    ],
)
def test_a_mask_that_is_not_a_bool_array_of_the_hidden_units_is_refused_naming_what_came(
    mask: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        step_bounds(PARAMS, X, Y, 1e-3, mask=bad(mask))
