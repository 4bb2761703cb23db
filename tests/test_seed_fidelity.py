"""``train`` computes the seed notebook's floats bit for bit.

The specification is the notebook's own loop (In [20]), copied below with its mutating updates
and its names. ``np.array_equal`` is not enough for "bit for bit" (it calls -0.0 equal to 0.0
and NaN unequal to itself), so arrays are compared as raw bytes.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray
from shared_runs import SeedRun, same_bits
from unhooking import unhooked

import twolayer
from twolayer import strategies as tst


def seed_loop(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    w1: NDArray[np.float64],
    w2: NDArray[np.float64],
    learning_rate: float,
    steps: int,
) -> tuple[list[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The notebook's In [20], verbatim but for recording the loss instead of printing it."""
    w1, w2 = w1.copy(), w2.copy()
    losses = []
    for _t in range(steps):
        h = x.dot(w1)
        h_relu = np.maximum(h, 0)
        ypred = h_relu.dot(w2)
        loss = np.square(ypred - y).sum()
        losses.append(loss)
        grad_loss_ypred = 2.0 * (ypred - y)
        grad_ypred_w2 = h_relu
        grad_loss_w2 = grad_ypred_w2.T.dot(grad_loss_ypred)
        grad_ypred_hrelu = w2
        grad_loss_hrelu = grad_loss_ypred.dot(grad_ypred_hrelu.T)
        grad_loss_h = grad_loss_hrelu.copy()
        grad_loss_h[h < 0] = 0
        grad_h_w1 = x
        grad_loss_w1 = grad_h_w1.T.dot(grad_loss_h)
        w1 -= learning_rate * grad_loss_w1
        w2 -= learning_rate * grad_loss_w2
    return losses, w1, w2


def assert_train_matches_seed_loop(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    params: twolayer.Params,
    learning_rate: float,
    steps: int,
) -> twolayer.TrainResult:
    # A large rate may diverge to inf and nan: that too must match, without numpy's warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        result = twolayer.train(params, x, y, learning_rate=learning_rate, steps=steps)
    assert_same_as_seed_loop(x, y, params, learning_rate, steps, result)
    return result


def assert_same_as_seed_loop(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    params: twolayer.Params,
    learning_rate: float,
    steps: int,
    result: twolayer.TrainResult,
) -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        losses, w1, w2 = seed_loop(x, y, params.w1, params.w2, learning_rate, steps)
    assert same_bits(result.losses, np.array(losses, dtype=np.float64).reshape(steps))
    assert same_bits(result.params.w1, w1)
    assert same_bits(result.params.w2, w2)


def test_train_reproduces_the_seed_run_bit_for_bit(seed_run: SeedRun) -> None:
    # train's run of the seed is the session's (tests/conftest.py), shared with test_cli.py
    x, y, params, learning_rate, steps, result = seed_run
    assert (learning_rate, steps) == (twolayer.SEED_LEARNING_RATE, twolayer.SEED_STEPS)
    assert_same_as_seed_loop(x, y, params, learning_rate, steps, result)
    # Not vacuous: the run trains, from about 3e7 to below 1e-6, as `twolayer train` prints.
    assert result.losses[0] > 1e7
    assert result.losses[-1] < 1e-6


def test_legacy_init_draws_the_notebooks_stream() -> None:
    dims = twolayer.Dims(3, 4, 5, 2)
    x, y, params = twolayer.legacy_init(7, dims)
    state = np.random.RandomState(7)  # what np.random.seed(7) sets up for np.random.randn
    for drawn, shape in zip((x, y, *params), [(3, 4), (3, 2), (4, 5), (5, 2)], strict=True):
        assert same_bits(drawn, state.randn(*shape))


@pytest.mark.parametrize("seed", [0, 1, 63, 64, 2**31, 2**32 - 1])
def test_legacy_init_takes_every_seed_that_randomstate_takes(seed: int) -> None:
    """Every seed in RandomState's range [0, 2**32), its ends included, draws RandomState's stream.

    The seeds outside it are refused (tests/test_validation.py,
    test_legacy_init_refuses_every_other_seed_in_its_own_words).
    """
    x, y, params = unhooked(twolayer.legacy_init)(seed, twolayer.Dims(3, 4, 5, 2))
    state = np.random.RandomState(seed)
    expected = [state.randn(*shape) for shape in (x.shape, y.shape, *(w.shape for w in params))]
    for got, want in zip((x, y, *params), expected, strict=True):
        assert same_bits(got, want)


@given(
    case=tst.cases(),
    learning_rate=st.sampled_from([0.0, 1e-6, 1e-3, 0.01, 0.1]),
    steps=st.integers(0, 6),
)
def test_train_matches_the_seed_loop_on_drawn_cases(
    case: tst.Case, learning_rate: float, steps: int
) -> None:
    assert_train_matches_seed_loop(case.x, case.y, case.params, learning_rate, steps)


@given(case=tst.integer_cases(), steps=st.integers(1, 4))
def test_train_matches_the_seed_loop_when_h_has_exact_zeros(case: tst.Case, steps: int) -> None:
    # Integer data: ties in h are common, and the seed lets the gradient through at h == 0.
    assert_train_matches_seed_loop(case.x, case.y, case.params, 0.125, steps)


@pytest.mark.parametrize("steps", [0, 1, 2])
def test_train_matches_the_seed_loop_for_few_steps(steps: int) -> None:
    rng = np.random.default_rng(1)
    dims = twolayer.Dims(5, 7, 3, 2)
    x, y = twolayer.init_data(rng, dims)
    assert_train_matches_seed_loop(x, y, twolayer.init_params(rng, dims), 1e-3, steps)


def test_value_and_grad_and_sgd_step_are_the_seeds_first_iteration() -> None:
    rng = np.random.default_rng(2)
    dims = twolayer.Dims(6, 5, 4, 3)
    x, y = twolayer.init_data(rng, dims)
    params = twolayer.init_params(rng, dims)
    losses, w1, w2 = seed_loop(x, y, params.w1, params.w2, 1e-2, 1)
    value, grads = twolayer.value_and_grad(params, x, y)
    stepped = twolayer.sgd_step(params, grads, 1e-2)
    assert value == losses[0]
    assert same_bits(stepped.w1, w1)
    assert same_bits(stepped.w2, w2)
