"""Bad input raises ValueError or TypeError naming the argument, its axes and what arrived.

One good call first (the fixtures), then each class of bad call, as equinox's tests do.

The calls go through ``unhooked`` (tests/unhooking.py): during this test run jaxtyping's import hook wraps every
twolayer function in a beartype shape check, which would reject these calls first with its own
message. These tests are about twolayer's own messages, the ones every user sees;
``test_the_runtime_shape_checker_rejects_them_too`` shows the wrapper's check as well.
"""

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from unhooking import unhooked

import twolayer

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


def test_activations_of_the_wrong_shape_are_refused() -> None:
    activations = twolayer.forward(PARAMS, X)
    short = twolayer.Activations(activations.h[:, :4], activations.h_relu, activations.y_pred)
    with pytest.raises(
        ValueError, match=r"activations\.h must have shape \(batch, hidden\) = \(4, 5\)"
    ):
        backward(PARAMS, X, Y, short)
    with pytest.raises(TypeError, match=r"activations must be twolayer\.Activations"):
        backward(PARAMS, X, Y, bad(activations.h))


def test_the_runtime_shape_checker_rejects_them_too() -> None:
    # Wrapped by jaxtyping + beartype in this test run: y's batch disagrees with x's.
    with pytest.raises(TypeError, match="batch"):
        twolayer.value_and_grad(PARAMS, X, np.array(Y[:3]))
