"""What several test files share: expensive results, and one comparison.

The expensive results are computed once a session: ``tests/conftest.py`` hands them out as
session-scoped fixtures; the types live here, where the tests can import them. Every array in
them is read-only, so no test can change another's. ``same_bits`` is defined
here once for the files that use it.
"""

import json
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

import twolayer
from twolayer import conformance, zoo


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
