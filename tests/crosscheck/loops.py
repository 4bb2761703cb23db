"""PyTorch training loops as the judge's ``train``, written the way pytorch-examples writes them.

jcjohnson/pytorch-examples trains the two-layer network with autograd and a manual update
(``two_layer_net_autograd.py``) and with ``nn.Sequential``, ``nn.MSELoss(reduction="sum")`` and
an optimizer (``two_layer_net_optim.py``). Each loop here is one of those, fed the judge's
weights instead of random ones, and returns ``losses`` (the loss before each update) and the
weights before each update and after the last. Some are right; the rest carry the mistakes that
a user of ``torch.optim`` makes: gradients left to accumulate, momentum, weight decay, a learning
rate that a scheduler decays. Nothing here computes a gradient by hand.
"""

from collections.abc import Callable

import numpy as np
import torch
from numpy.typing import NDArray

Array = NDArray[np.float64]
Trajectory = dict[str, NDArray[np.floating]]
Train = Callable[[Array, Array, Array, Array, float, int], Trajectory]
Relu = Callable[[torch.Tensor], torch.Tensor]

RELUS: dict[str, tuple[Relu, float]] = {
    "torch.relu": (torch.relu, 0.0),  # as nn.ReLU: threshold_backward passes only where h > 0
    "clamp(min=0)": (lambda h: h.clamp(min=0), 1.0),  # upstream's own; passes where h >= 0
}
"""ReLU as the autograd loop writes it, with the derivative each takes at an exact zero (as
``engines.TORCH_RELUS`` declares them; that module needs JAX, this one torch alone)."""


def _snapshot(weight: torch.Tensor) -> NDArray[np.floating]:
    return weight.detach().clone().numpy()


def _grad(weight: torch.Tensor) -> torch.Tensor:
    if weight.grad is None:
        raise RuntimeError("backward left no gradient on a weight")
    return weight.grad


def autograd_loop(dtype: torch.dtype, relu: Relu) -> Train:
    """``two_layer_net_autograd``: weights with ``requires_grad``, ``loss.backward()``, the
    update ``w -= learning_rate * w.grad`` under ``torch.no_grad()``, then ``w.grad.zero_()``."""

    def train(
        x: Array, y: Array, w1: Array, w2: Array, learning_rate: float, steps: int
    ) -> Trajectory:
        # torch.tensor copies: the caller's arrays are never updated in place.
        x_, y_ = torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)
        w1_ = torch.tensor(w1, dtype=dtype, requires_grad=True)
        w2_ = torch.tensor(w2, dtype=dtype, requires_grad=True)
        losses: list[float] = []
        w1s, w2s = [_snapshot(w1_)], [_snapshot(w2_)]
        for _ in range(steps):
            y_pred = relu(x_.mm(w1_)).mm(w2_)
            loss = (y_pred - y_).pow(2).sum()
            losses.append(loss.item())
            # loss.backward(), which calls this; Tensor.backward has no annotations for mypy.
            torch.autograd.backward(loss)
            with torch.no_grad():
                w1_ -= learning_rate * _grad(w1_)
                w2_ -= learning_rate * _grad(w2_)
                _grad(w1_).zero_()
                _grad(w2_).zero_()
            w1s.append(_snapshot(w1_))
            w2s.append(_snapshot(w2_))
        return {
            "losses": np.array(losses, dtype=np.float64),
            "w1": np.stack(w1s),
            "w2": np.stack(w2s),
        }

    return train


MakeOptimizer = Callable[[list[torch.Tensor], float], torch.optim.Optimizer]
MakeScheduler = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


def optim_loop(
    dtype: torch.dtype,
    make_optimizer: MakeOptimizer,
    *,
    zero_grad: bool = True,
    make_scheduler: MakeScheduler | None = None,
) -> Train:
    """``two_layer_net_optim``: ``nn.Sequential`` of two ``nn.Linear(bias=False)`` around
    ``nn.ReLU()``, ``nn.MSELoss(reduction="sum")``, and ``optimizer.zero_grad()``,
    ``loss.backward()``, ``optimizer.step()`` each step (and ``scheduler.step()`` after it)."""

    def train(
        x: Array, y: Array, w1: Array, w2: Array, learning_rate: float, steps: int
    ) -> Trajectory:
        (d_in, hidden), d_out = w1.shape, w2.shape[1]
        first = torch.nn.Linear(d_in, hidden, bias=False, dtype=dtype)
        second = torch.nn.Linear(hidden, d_out, bias=False, dtype=dtype)
        model = torch.nn.Sequential(first, torch.nn.ReLU(), second)
        with torch.no_grad():  # nn.Linear holds the transposed weight, (out, in)
            first.weight.copy_(torch.from_numpy(w1.T.copy()))
            second.weight.copy_(torch.from_numpy(w2.T.copy()))
        loss_fn = torch.nn.MSELoss(reduction="sum")
        optimizer = make_optimizer([first.weight, second.weight], learning_rate)
        scheduler = None if make_scheduler is None else make_scheduler(optimizer)
        x_, y_ = torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)
        losses: list[float] = []
        w1s, w2s = [_snapshot(first.weight.T)], [_snapshot(second.weight.T)]
        for _ in range(steps):
            y_pred = model(x_)
            loss = loss_fn(y_pred, y_)
            losses.append(loss.item())
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            w1s.append(_snapshot(first.weight.T))
            w2s.append(_snapshot(second.weight.T))
        return {
            "losses": np.array(losses, dtype=np.float64),
            "w1": np.stack(w1s),
            "w2": np.stack(w2s),
        }

    return train


def sgd(parameters: list[torch.Tensor], learning_rate: float) -> torch.optim.Optimizer:
    """Plain ``torch.optim.SGD``: ``w -= lr * grad``, the seed's update."""
    return torch.optim.SGD(parameters, lr=learning_rate)


def sgd_momentum(parameters: list[torch.Tensor], learning_rate: float) -> torch.optim.Optimizer:
    """SGD with momentum 0.9: its first update is plain descent, the second is not."""
    return torch.optim.SGD(parameters, lr=learning_rate, momentum=0.9)


def sgd_weight_decay(parameters: list[torch.Tensor], learning_rate: float) -> torch.optim.Optimizer:
    """SGD with weight decay 1e-3: every update adds ``1e-3 * w`` to the gradient."""
    return torch.optim.SGD(parameters, lr=learning_rate, weight_decay=1e-3)


def exponential_decay(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """``ExponentialLR(gamma=0.99)``, stepped after each update: the second uses ``0.99 * lr``."""
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.99)
