"""The training judge against PyTorch training loops: the right ones conform, the wrong rejected.

The loops of ``loops.py`` (autograd with a manual update, ``nn.Sequential`` with
``torch.optim.SGD``) must conform under ``check_training`` when declared with their own
arithmetic and tie convention, and a float32 loop declared float64 must not. The mistakes that
``torch.optim`` invites must be rejected, blamed on the weights at the first update that they
change: momentum and gradients left to accumulate leave the first update as plain descent and
change the second (step 1); weight decay changes the first (step 0); a learning rate that
``ExponentialLR`` decays after each step is ``0.99 * lr`` from the second update on (step 1).
"""

from collections.abc import Callable, Iterator
from functools import partial

import loops
import pytest
import torch

from twolayer import conformance

# Drawn trajectories for a loop that should conform. The loops have one code path at every size
# (no kernels that tile or chunk), so what could go wrong (the convention at exact ties, the
# dtype, the transposed nn.Linear weight, the order of zero_grad and step) shows at the frozen
# trajectories, which hold ties, dead units and awkward sizes; 20 drawn ones add learning rates
# that change masks between steps (a few seconds a loop; the frozen ones take about as long).
EXAMPLES = 20
# None drawn for a loop that must be rejected: the frozen trajectories reject each already (the
# first, the seed's dims for 3 steps, reaches step 1), and a drawn failure costs its shrinking.
REJECTED_EXAMPLES = 0

Loop = tuple[Callable[[], loops.Train], str, float]


def _conforming() -> dict[str, Loop]:
    found: dict[str, Loop] = {}
    for dtype, arithmetic in ((torch.float64, "float64"), (torch.float32, "float32")):
        for name, (relu, rule) in loops.RELUS.items():
            found[f"autograd {arithmetic} {name}"] = (
                partial(loops.autograd_loop, dtype, relu),
                arithmetic,
                rule,
            )
        found[f"nn.Sequential+SGD {arithmetic}"] = (  # nn.ReLU: torch.relu's convention
            partial(loops.optim_loop, dtype, loops.sgd),
            arithmetic,
            loops.RELUS["torch.relu"][1],
        )
    return found


CONFORMING = _conforming()
"""Each right loop, by name: how to build it, its arithmetic and its tie convention."""

FINER_ARITHMETIC = {
    "autograd float32 torch.relu": "float64",
    "nn.Sequential+SGD float32": "float64",
}

REJECTED: dict[str, tuple[Callable[[], loops.Train], int]] = {
    "no zero_grad": (partial(loops.optim_loop, torch.float64, loops.sgd, zero_grad=False), 1),
    "SGD momentum=0.9": (partial(loops.optim_loop, torch.float64, loops.sgd_momentum), 1),
    "SGD weight_decay=1e-3": (partial(loops.optim_loop, torch.float64, loops.sgd_weight_decay), 0),
    "ExponentialLR gamma=0.99": (
        partial(
            loops.optim_loop,
            torch.float64,
            loops.sgd,
            make_scheduler=loops.exponential_decay,
        ),
        1,
    ),
}
"""Each wrong float64 nn.Sequential loop (torch.relu's convention): how to build it, and the
first step whose update departs from plain descent."""


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op thread: the judge's exact arithmetic holds the core that a second would
    fight for (several times slower at the frozen sizes on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", sorted(CONFORMING))
def test_each_loop_conforms_as_what_it_is(name: str) -> None:
    build, arithmetic, rule = CONFORMING[name]
    report = conformance.check_training(
        build(), arithmetic=arithmetic, relu_grad_at_zero=rule, max_examples=EXAMPLES
    )
    print(
        f"{name}: {report.frozen_cases} frozen ({report.skipped_cases} skipped), "
        f"{report.drawn_cases} drawn, {report.steps_judged} steps judged "
        f"({report.steps_unjudged} unjudged), {report.tie_cases} with moving ties, "
        f"{report.mask_changes} with a mask change"
    )
    assert report.conforms, conformance.format_report(report)
    assert report.kind == "training"
    assert report.frozen_cases > 0
    assert report.drawn_cases == EXAMPLES
    assert report.steps_judged > report.frozen_cases + report.drawn_cases  # trajectories, not steps
    assert report.mask_changes > 0  # some update moved h across 0 and was judged past it
    assert report.tie_cases > 0  # the convention was put to the test at exact ties
    assert {summary.output for summary in report.outputs} == set(conformance.TRAJECTORY_OUTPUTS)


@pytest.mark.parametrize("name", sorted(FINER_ARITHMETIC))
def test_a_float32_loop_declared_float64_is_rejected(name: str) -> None:
    build, _, rule = CONFORMING[name]
    report = conformance.check_training(
        build(),
        arithmetic=FINER_ARITHMETIC[name],
        relu_grad_at_zero=rule,
        max_examples=REJECTED_EXAMPLES,
    )
    assert report.failure is not None, conformance.format_report(report)
    # It cannot even hold the float64 weights that it receives: index 0 is already rounded.
    assert set(report.failure.outputs) <= {"w1", "w2"}
    assert report.failure.message.startswith("step 0: ")
    assert "index 0 must be the weights received" in report.failure.message


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_each_wrong_loop_is_rejected_at_the_step_it_departs(name: str) -> None:
    build, step = REJECTED[name]
    report = conformance.check_training(
        build(), arithmetic="float64", relu_grad_at_zero=0.0, max_examples=REJECTED_EXAMPLES
    )
    assert report.failure is not None, conformance.format_report(report)
    for failure in report.failures:
        assert failure.outputs, failure.message
        assert set(failure.outputs) <= {"w1", "w2"}, failure.message  # not the losses
        assert failure.message.startswith(
            f"step {step}: the update from the implementation's own w1[{step}], w2[{step}] "
            "departs from the exact step"
        ), failure.message
