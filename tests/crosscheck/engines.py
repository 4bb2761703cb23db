"""Independent engines as steps for the conformance judge: PyTorch, JAX and HIPS autograd.

Each adapter builds one step of the seed's network the way a user of that engine would, with the
engine's own differentiation and, for PyTorch, its own layers, loss and optimizer, and returns
``h``, ``loss``, ``grad_w1``, ``grad_w2``, ``w1_next`` and ``w2_next`` as numpy arrays. Nothing
here computes a gradient by hand: the point is to check the judge against engines that share no
code with the oracle.
"""

from collections.abc import Callable

import autograd
import autograd.numpy as anp
import jax
import jax.numpy as jnp
import numpy as np
import torch
from numpy.typing import NDArray

Array = NDArray[np.float64]
Outputs = dict[str, NDArray[np.floating] | float]
Step = Callable[[Array, Array, Array, Array, float], Outputs]

TORCH_RELUS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], float]] = {
    "torch.relu": (torch.relu, 0.0),  # nn.ReLU: threshold_backward passes only where h > 0
    "clamp(min=0)": (lambda h: torch.clamp(h, min=0), 1.0),  # passes where h >= 0
    "torch.maximum(h, 0)": (lambda h: torch.maximum(h, torch.zeros_like(h)), 0.5),  # splits
}
"""ReLU as PyTorch users write it, with the derivative each takes at an exact zero."""

JAX_RELUS: dict[str, tuple[Callable[[jax.Array], jax.Array], float]] = {
    "jax.nn.relu": (jax.nn.relu, 0.0),
    "jnp.maximum(h, 0)": (lambda h: jnp.maximum(h, 0.0), 0.5),
}
"""ReLU as JAX users write it, with the derivative that ``jax.grad`` takes at an exact zero."""

AUTOGRAD_RELUS: dict[str, tuple[Callable[[Array], Array], float]] = {
    "anp.maximum(h, 0)": (lambda h: anp.maximum(h, 0.0), 0.5),
    "anp.where(h > 0, h, 0)": (lambda h: anp.where(h > 0, h, 0.0), 0.0),
}
"""ReLU as autograd users write it, with the derivative that ``autograd.grad`` takes at 0."""


def torch_step(dtype: torch.dtype, relu: Callable[[torch.Tensor], torch.Tensor]) -> Step:
    """PyTorch's own stack: two ``nn.Linear(bias=False)``, ``MSELoss(reduction="sum")``, SGD."""

    def step(x: Array, y: Array, w1: Array, w2: Array, learning_rate: float) -> Outputs:
        (d_in, hidden), d_out = w1.shape, w2.shape[1]
        first = torch.nn.Linear(d_in, hidden, bias=False, dtype=dtype)
        second = torch.nn.Linear(hidden, d_out, bias=False, dtype=dtype)
        with torch.no_grad():  # nn.Linear holds the transposed weight, (out, in)
            first.weight.copy_(torch.from_numpy(w1.T.copy()))
            second.weight.copy_(torch.from_numpy(w2.T.copy()))
        optimizer = torch.optim.SGD([first.weight, second.weight], lr=learning_rate)
        h = first(torch.from_numpy(x).to(dtype))
        y_pred = second(relu(h))
        loss = torch.nn.MSELoss(reduction="sum")(y_pred, torch.from_numpy(y).to(dtype))
        optimizer.zero_grad()
        loss.backward()
        grad_w1, grad_w2 = _grad(first.weight).T.clone(), _grad(second.weight).T.clone()
        optimizer.step()
        return {
            "h": h.detach().numpy(),
            "loss": loss.item(),
            "grad_w1": grad_w1.numpy(),
            "grad_w2": grad_w2.numpy(),
            "w1_next": first.weight.detach().T.numpy(),
            "w2_next": second.weight.detach().T.numpy(),
        }

    return step


def _grad(weight: torch.Tensor) -> torch.Tensor:
    if weight.grad is None:
        raise RuntimeError("backward left no gradient on a weight")
    return weight.grad


def jax_step(dtype: type[np.floating], relu: Callable[[jax.Array], jax.Array]) -> Step:
    """``jax.value_and_grad`` of the summed squared error, then ``w - learning_rate * grad``."""

    def loss_and_h(
        w1: jax.Array, w2: jax.Array, x: jax.Array, y: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        h = x @ w1
        y_pred = relu(h) @ w2
        return jnp.sum((y_pred - y) ** 2), h

    value_and_grad = jax.value_and_grad(loss_and_h, argnums=(0, 1), has_aux=True)

    def step(x: Array, y: Array, w1: Array, w2: Array, learning_rate: float) -> Outputs:
        # x64 makes float64 exist in JAX at all; float32 arrays stay float32 (explicit dtype).
        with jax.enable_x64(True):
            return _jax_outputs(value_and_grad, dtype, x, y, w1, w2, learning_rate)

    return step


def _jax_outputs(
    value_and_grad: Callable[..., tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]],
    dtype: type[np.floating],
    x: Array,
    y: Array,
    w1: Array,
    w2: Array,
    learning_rate: float,
) -> Outputs:
    x_, y_, w1_, w2_ = (jnp.asarray(a, dtype=dtype) for a in (x, y, w1, w2))
    (loss, h), (grad_w1, grad_w2) = value_and_grad(w1_, w2_, x_, y_)
    rate = jnp.asarray(learning_rate, dtype=dtype)
    return {
        "h": np.asarray(h),
        "loss": float(loss),
        "grad_w1": np.asarray(grad_w1),
        "grad_w2": np.asarray(grad_w2),
        "w1_next": np.asarray(w1_ - rate * grad_w1),
        "w2_next": np.asarray(w2_ - rate * grad_w2),
    }


def autograd_step(relu: Callable[[Array], Array]) -> Step:
    """HIPS autograd's ``value_and_grad`` of the summed squared error, in float64."""

    def loss(weights: tuple[Array, Array], x: Array, y: Array) -> Array:
        w1, w2 = weights
        y_pred = anp.dot(relu(anp.dot(x, w1)), w2)
        return anp.sum((y_pred - y) ** 2)

    value_and_grad = autograd.value_and_grad(loss)

    def step(x: Array, y: Array, w1: Array, w2: Array, learning_rate: float) -> Outputs:
        value, (grad_w1, grad_w2) = value_and_grad((w1, w2), x, y)
        return {
            "h": x.dot(w1),
            "loss": float(value),
            "grad_w1": grad_w1,
            "grad_w2": grad_w2,
            "w1_next": w1 - learning_rate * grad_w1,
            "w2_next": w2 - learning_rate * grad_w2,
        }

    return step
