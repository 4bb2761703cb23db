"""The judge against independent engines: each conforms as what it is, and only as that.

PyTorch (its layers, loss and optimizer) in float64 and float32 with three ways of writing ReLU,
JAX (``jax.value_and_grad``) with x64 and in float32, and HIPS autograd in float64 must conform
when declared with their own arithmetic and tie convention: a judge that rejected one would be
wrong. Declared with another arithmetic or another convention, each must be rejected, blamed on
the outputs that the difference reaches: a judge that let one through would be blind.
"""

from collections.abc import Callable
from functools import partial

import engines
import numpy as np
import pytest
import torch

from twolayer import conformance

# Enough drawn cases that a few dozen carry an exact tie of h that moves grad_w1.
EXAMPLES = 80

Engine = tuple[Callable[[], engines.Step], str, float]


def _engines() -> dict[str, Engine]:
    found: dict[str, Engine] = {}
    for name, (torch_relu, rule) in engines.TORCH_RELUS.items():
        found[f"torch float64 {name}"] = (
            partial(engines.torch_step, torch.float64, torch_relu),
            "float64",
            rule,
        )
        found[f"torch float32 {name}"] = (
            partial(engines.torch_step, torch.float32, torch_relu),
            "float32",
            rule,
        )
    for name, (jax_relu, rule) in engines.JAX_RELUS.items():
        found[f"jax x64 {name}"] = (
            partial(engines.jax_step, np.float64, jax_relu),
            "float64",
            rule,
        )
        found[f"jax float32 {name}"] = (
            partial(engines.jax_step, np.float32, jax_relu),
            "float32",
            rule,
        )
    for name, (numpy_relu, rule) in engines.AUTOGRAD_RELUS.items():
        found[f"autograd float64 {name}"] = (
            partial(engines.autograd_step, numpy_relu),
            "float64",
            rule,
        )
    return found


ENGINES = _engines()
"""Every engine, by name: how to build its step, its arithmetic and its tie convention."""


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_each_engine_conforms_as_what_it_is(name: str) -> None:
    build, arithmetic, rule = ENGINES[name]
    report = conformance.check_implementation(
        build(), arithmetic=arithmetic, relu_grad_at_zero=rule, max_examples=EXAMPLES
    )
    assert report.conforms, conformance.format_report(report)
    assert report.frozen_cases > 0
    assert report.drawn_cases == EXAMPLES
    assert report.tie_cases > 0  # the convention was put to the test at exact ties
    assert {summary.output for summary in report.outputs} == set(conformance.OUTPUTS)


WRONG_ARITHMETIC = {
    "torch float32 torch.relu": "float64",
    "jax float32 jax.nn.relu": "float64",
}

WRONG_CONVENTION = {
    "torch float64 torch.relu": 1.0,
    "torch float64 clamp(min=0)": 0.5,
    "torch float32 torch.maximum(h, 0)": 0.0,
    "jax x64 jax.nn.relu": 0.5,
    "jax float32 jnp.maximum(h, 0)": 1.0,
    "autograd float64 anp.maximum(h, 0)": 0.0,
}


@pytest.mark.parametrize("name", sorted(WRONG_ARITHMETIC))
def test_an_engine_declared_with_a_finer_arithmetic_is_rejected(name: str) -> None:
    build, _, rule = ENGINES[name]
    report = conformance.check_implementation(
        build(), arithmetic=WRONG_ARITHMETIC[name], relu_grad_at_zero=rule, max_examples=EXAMPLES
    )
    assert report.failure is not None, conformance.format_report(report)
    assert conformance.STEP not in report.failure.outputs


@pytest.mark.parametrize("name", sorted(WRONG_CONVENTION))
def test_an_engine_declared_with_another_tie_convention_is_rejected(name: str) -> None:
    build, arithmetic, _ = ENGINES[name]
    report = conformance.check_implementation(
        build(),
        arithmetic=arithmetic,
        relu_grad_at_zero=WRONG_CONVENTION[name],
        max_examples=EXAMPLES,
    )
    assert report.failure is not None, conformance.format_report(report)
    assert set(report.failure.outputs) <= {"grad_w1", "w1_next"}
