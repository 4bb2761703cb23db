"""twolayer: the reference implementation (oracle) of the seed's two-layer ReLU network.

numpy only, one hidden layer, ReLU, summed squared error, hand-written backpropagation and plain
gradient descent, as pure functions over read-only float64 arrays that reproduce the seed
notebook bit for bit. Axis names everywhere: ``batch d_in hidden d_out``.
"""

from twolayer.gradcheck import DirectionResult, GradcheckReport, SkippedEntry, check_gradients
from twolayer.network import (
    BackwardValues,
    backward,
    backward_values,
    forward,
    init_data,
    init_params,
    legacy_init,
    loss,
    value_and_grad,
)
from twolayer.shapes import (
    AXES,
    RELU_GRAD_AT_ZERO_CHOICES,
    SEED_DIMS,
    Activations,
    Dims,
    Grads,
    Params,
    TrainResult,
)
from twolayer.training import sgd_step, train

SEED_LEARNING_RATE = 1e-6
"""The seed notebook's learning rate."""

SEED_STEPS = 500
"""The number of iterations of the seed notebook's training loop."""

__version__ = "0.1.0"

__all__ = [
    "AXES",
    "RELU_GRAD_AT_ZERO_CHOICES",
    "SEED_DIMS",
    "SEED_LEARNING_RATE",
    "SEED_STEPS",
    "Activations",
    "BackwardValues",
    "Dims",
    "DirectionResult",
    "GradcheckReport",
    "Grads",
    "Params",
    "SkippedEntry",
    "TrainResult",
    "__version__",
    "backward",
    "backward_values",
    "check_gradients",
    "forward",
    "init_data",
    "init_params",
    "legacy_init",
    "loss",
    "sgd_step",
    "train",
    "value_and_grad",
]
