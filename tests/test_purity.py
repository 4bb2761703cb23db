"""No public function mutates its arguments, and every array it hands out is new and read-only."""

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given
from numpy.typing import NDArray

import twolayer
from twolayer import strategies as tst


def arrays_in(value: object) -> Iterator[NDArray[np.float64]]:
    """Every numpy array inside nested tuples (NamedTuples included)."""
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from arrays_in(item)


def snapshot(*values: object) -> list[bytes]:
    return [array.tobytes() for value in values for array in arrays_in(value)]


def assert_fresh_and_read_only(result: object, *inputs: object) -> None:
    handed_out = list(arrays_in(result))
    assert handed_out  # not vacuous: there are arrays to check
    for array in handed_out:
        assert not array.flags.writeable
        for given_array in (a for value in inputs for a in arrays_in(value)):
            assert not np.shares_memory(array, given_array)


@given(case=tst.cases())
def test_forward_and_backward_leave_their_inputs_alone(case: tst.Case) -> None:
    before = snapshot(case)
    activations = twolayer.forward(case.params, case.x)
    assert_fresh_and_read_only(activations, case)
    values = twolayer.backward_values(case.params, case.x, case.y, activations)
    grads = twolayer.backward(case.params, case.x, case.y, activations)
    assert_fresh_and_read_only(values, case, activations)
    assert_fresh_and_read_only(grads, case, activations)
    value, grads = twolayer.value_and_grad(case.params, case.x, case.y)
    assert_fresh_and_read_only(grads, case)
    assert isinstance(value, float)
    assert twolayer.loss(activations.y_pred, case.y) == value
    assert snapshot(case) == before


@given(case=tst.cases())
def test_sgd_step_and_train_leave_their_inputs_alone(case: tst.Case) -> None:
    _, grads = twolayer.value_and_grad(case.params, case.x, case.y)
    writable_grads = twolayer.Grads(np.array(grads.w1), np.array(grads.w2))
    before = snapshot(case, writable_grads)
    stepped = twolayer.sgd_step(case.params, writable_grads, 1e-3)
    assert_fresh_and_read_only(stepped, case, writable_grads)
    for steps in (0, 2):
        result = twolayer.train(case.params, case.x, case.y, learning_rate=1e-3, steps=steps)
        assert_fresh_and_read_only(result, case)
    assert snapshot(case, writable_grads) == before


def test_weights_handed_out_refuse_in_place_updates() -> None:
    params = twolayer.init_params(np.random.default_rng(0), twolayer.Dims(2, 3, 4, 1))
    w1 = params.w1
    with pytest.raises(ValueError, match="read-only"):
        w1 -= 1.0
    result = twolayer.train(params, np.ones((2, 3)), np.ones((2, 1)), learning_rate=1e-3, steps=1)
    with pytest.raises(ValueError, match="read-only"):
        result.losses[0] = 0.0


def test_init_draws_from_the_generator_it_is_given_and_nothing_else() -> None:
    dims = twolayer.Dims(2, 3, 4, 1)
    first = twolayer.init_params(np.random.default_rng(5), dims)
    np.random.seed(1)  # noqa: NPY002 (numpy's global state must not matter)
    second = twolayer.init_params(np.random.default_rng(5), dims)
    assert snapshot(first) == snapshot(second)
    rng = np.random.default_rng(5)
    x, y = twolayer.init_data(rng, dims)
    assert (x.shape, y.shape) == ((2, 3), (2, 1))
    # x and y came first, so the weights that follow differ from a fresh generator's.
    assert snapshot(twolayer.init_params(rng, dims)) != snapshot(first)
