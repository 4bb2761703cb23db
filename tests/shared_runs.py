"""What several test files share: expensive results, one hand-made case, one comparison.

The expensive results are computed once a session: ``tests/conftest.py`` hands them out as
session-scoped fixtures; the types live here, where the tests can import them. Every array in
them is read-only, so no test can change another's. ``NEGATIVE_TIE`` and ``same_bits`` are
defined here once for the files that use them.
"""

import json
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

import twolayer
from twolayer import conformance, zoo
from twolayer import strategies as tst


class SeedRun(NamedTuple):
    """The seed's run as ``train`` computes it: its inputs, rate and steps, and the result."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    params: twolayer.Params
    learning_rate: float
    steps: int
    result: twolayer.TrainResult


def seed_run() -> SeedRun:
    """``train`` on the seed: ``default_rng(0)``, SEED_DIMS, rate 1e-6, 500 steps."""
    rng = np.random.default_rng(0)
    x, y = twolayer.init_data(rng, twolayer.SEED_DIMS)
    params = twolayer.init_params(rng, twolayer.SEED_DIMS)
    rate, steps = twolayer.SEED_LEARNING_RATE, twolayer.SEED_STEPS
    # as tests/test_seed_fidelity.py runs train: a diverging run must not warn
    with np.errstate(over="ignore", invalid="ignore"):
        result = twolayer.train(params, x, y, learning_rate=rate, steps=steps)
    arrays = (x, y, *params, *result.params, result.losses)
    assert not any(array.flags.writeable for array in arrays)
    return SeedRun(x, y, params, rate, steps, result)


def reference_results() -> bytes:
    """The results document of ``zoo.reference_step`` over the whole frozen suite, as JSON.

    ``json.dumps(conformance.results_document(zoo.reference_step))``, encoded: bytes, which no
    test can change.
    """
    return json.dumps(conformance.results_document(zoo.reference_step)).encode()


def same_bits(a: NDArray[np.float64], b: NDArray[np.float64]) -> bool:
    """Equal as raw bytes, with shape and dtype: -0.0 is not 0.0, and a NaN equals its own bits.

    ``np.array_equal`` is not enough for "bit for bit": it calls -0.0 equal to 0.0 and NaN
    unequal to itself.
    """
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


# A tie whose gradient is negative: h = 1 * 0 = 0 exactly, and grad_h_relu = 2 (0 - 1) * 1 = -2,
# so that a factor of 0 multiplied in (0 * -2) would give -0.0. tests/test_relu_mask.py holds it
# to being that tie (test_the_negative_tie_is_a_tie_with_a_negative_gradient).
NEGATIVE_TIE = tst.Case(
    np.array([[1.0]]), np.array([[1.0]]), twolayer.Params(np.array([[0.0]]), np.array([[1.0]]))
)
