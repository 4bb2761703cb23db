"""Properties of the contract that the mutation run (``nox -s mutation``) found unpinned.

Each is a property of the public API, not of one mutant: every array argument of every public
function is named, with its axes, in its own error; the three ways to the gradient agree bit for
bit; ``grad_h`` is +0.0 wherever ReLU's factor is zero, under every tie convention;
``legacy_init`` takes exactly the seeds of ``RandomState`` and refuses the rest in its own words;
``backward`` refuses anything but an ``Activations`` triple; a gradcheck report agrees with its
own details.

The bad calls go through ``unhooked``: jaxtyping's import hook wraps every twolayer function in a
beartype check during the ordinary test run, which would refuse them first with its own message.
"""

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from numpy.typing import NDArray
from unhooking import unhooked

import twolayer
from twolayer import bounds, exact, gradcheck
from twolayer import strategies as tst


def bad(value: object) -> Any:
    """Hand a deliberately ill-typed argument past mypy."""
    return value


def same_bits(a: NDArray[np.float64], b: NDArray[np.float64]) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


forward = unhooked(twolayer.forward)
loss = unhooked(twolayer.loss)
backward = unhooked(twolayer.backward)
backward_values = unhooked(twolayer.backward_values)
value_and_grad = unhooked(twolayer.value_and_grad)
sgd_step = unhooked(twolayer.sgd_step)
train = unhooked(twolayer.train)
legacy_init = unhooked(twolayer.legacy_init)
exact_step = unhooked(exact.step)
exact_value_and_grad = unhooked(exact.value_and_grad)
step_bounds = unhooked(bounds.step_bounds)
check_gradients = unhooked(gradcheck.check_gradients)

DIMS = twolayer.Dims(batch=3, d_in=4, hidden=5, d_out=2)
X, Y, PARAMS = twolayer.legacy_init(0, DIMS)
ACTIVATIONS = twolayer.forward(PARAMS, X)
_, GRADS = twolayer.value_and_grad(PARAMS, X, Y)

# Every array argument of the public functions, by the name its errors give it, with its axes.
GOOD: dict[str, tuple[NDArray[np.float64], str]] = {
    "params.w1": (PARAMS.w1, "d_in, hidden"),
    "params.w2": (PARAMS.w2, "hidden, d_out"),
    "grads.w1": (GRADS.w1, "d_in, hidden"),
    "grads.w2": (GRADS.w2, "hidden, d_out"),
    "grad_error_bound.w1": (np.abs(GRADS.w1), "d_in, hidden"),
    "grad_error_bound.w2": (np.abs(GRADS.w2), "hidden, d_out"),
    "x": (X, "batch, d_in"),
    "y": (Y, "batch, d_out"),
    "y_pred": (ACTIVATIONS.y_pred, "batch, d_out"),
    "activations.h": (ACTIVATIONS.h, "batch, hidden"),
    "activations.h_relu": (ACTIVATIONS.h_relu, "batch, hidden"),
    "activations.y_pred": (ACTIVATIONS.y_pred, "batch, d_out"),
}

Arrays = Mapping[str, NDArray[np.float64]]


def _params(a: Arrays) -> twolayer.Params:
    return twolayer.Params(a["params.w1"], a["params.w2"])


def _grads(a: Arrays, name: str = "grads") -> twolayer.Grads:
    return twolayer.Grads(a[f"{name}.w1"], a[f"{name}.w2"])


def _activations(a: Arrays) -> twolayer.Activations:
    return twolayer.Activations(
        a["activations.h"], a["activations.h_relu"], a["activations.y_pred"]
    )


BACKWARD_ARGS = (
    "params.w1",
    "params.w2",
    "x",
    "y",
    *(f"activations.{n}" for n in ("h", "h_relu", "y_pred")),
)

# Each public function that takes arrays: how to call it from GOOD's names, and which it takes.
CALLS: dict[str, tuple[Callable[[Arrays], object], tuple[str, ...]]] = {
    "forward": (lambda a: forward(_params(a), a["x"]), ("params.w1", "params.w2", "x")),
    "loss": (lambda a: loss(a["y_pred"], a["y"]), ("y_pred", "y")),
    "backward": (lambda a: backward(_params(a), a["x"], a["y"], _activations(a)), BACKWARD_ARGS),
    "backward_values": (
        lambda a: backward_values(_params(a), a["x"], a["y"], _activations(a)),
        BACKWARD_ARGS,
    ),
    "value_and_grad": (
        lambda a: value_and_grad(_params(a), a["x"], a["y"]),
        ("params.w1", "params.w2", "x", "y"),
    ),
    "sgd_step": (
        lambda a: sgd_step(_params(a), _grads(a), 1e-3),
        ("params.w1", "params.w2", "grads.w1", "grads.w2"),
    ),
    "train": (
        lambda a: train(_params(a), a["x"], a["y"], learning_rate=1e-3, steps=1),
        ("params.w1", "params.w2", "x", "y"),
    ),
    "exact.step": (
        lambda a: exact_step(_params(a), a["x"], a["y"], 1e-3),
        ("params.w1", "params.w2", "x", "y"),
    ),
    "exact.value_and_grad": (
        lambda a: exact_value_and_grad(_params(a), a["x"], a["y"]),
        ("params.w1", "params.w2", "x", "y"),
    ),
    "bounds.step_bounds": (
        lambda a: step_bounds(_params(a), a["x"], a["y"], 1e-3),
        ("params.w1", "params.w2", "x", "y"),
    ),
    "gradcheck.check_gradients": (
        lambda a: check_gradients(
            _params(a),
            a["x"],
            a["y"],
            _grads(a),
            grad_error_bound=_grads(a, "grad_error_bound"),
        ),
        ("params.w1", "params.w2", "x", "y", "grads.w1", "grads.w2", "grad_error_bound.w1"),
    ),
}


@pytest.mark.parametrize(
    ("call", "argument"),
    [(call, argument) for call, (_, arguments) in CALLS.items() for argument in arguments],
)
def test_every_array_argument_is_named_with_its_axes_in_its_own_error(
    call: str, argument: str
) -> None:
    function, _ = CALLS[call]
    arrays = {name: array for name, (array, _) in GOOD.items()}
    function(arrays)  # the good call passes, so the error below is this argument's
    arrays[argument] = arrays[argument][None]
    with pytest.raises(ValueError, match="axes") as info:
        function(arrays)
    assert str(info.value).startswith(f"{argument} must have 2 axes ({GOOD[argument][1]})")


@given(
    case=st.one_of(tst.cases(), tst.tie_cases()),
    rule=st.sampled_from(twolayer.RELU_GRAD_AT_ZERO_CHOICES),
)
def test_the_three_ways_to_the_gradient_agree_bit_for_bit(case: tst.Case, rule: float) -> None:
    activations = twolayer.forward(case.params, case.x)
    grads = twolayer.backward(case.params, case.x, case.y, activations, relu_grad_at_zero=rule)
    values = twolayer.backward_values(
        case.params, case.x, case.y, activations, relu_grad_at_zero=rule
    )
    value, grads_too = twolayer.value_and_grad(case.params, case.x, case.y, relu_grad_at_zero=rule)
    assert value == twolayer.loss(activations.y_pred, case.y)
    for a, b in ((grads.w1, values.grad_w1), (grads.w2, values.grad_w2)):
        assert same_bits(a, b)
    for a, b in zip(grads, grads_too, strict=True):
        assert same_bits(a, b)


@pytest.mark.parametrize("seed", [0, 1, 63, 64, 2**31, 2**32 - 1])
def test_legacy_init_takes_every_seed_that_randomstate_takes(seed: int) -> None:
    x, y, params = legacy_init(seed, DIMS)
    state = np.random.RandomState(seed)
    expected = [state.randn(*shape) for shape in (x.shape, y.shape, *(w.shape for w in params))]
    for got, want in zip((x, y, *params), expected, strict=True):
        assert same_bits(got, want)


@pytest.mark.parametrize("seed", [-1, -(2**32), 2**32, 2**33, 3**32, True, False, 1.0, 2.0**40])
def test_legacy_init_refuses_every_other_seed_in_its_own_words(seed: object) -> None:
    with pytest.raises(ValueError, match="seed") as info:
        legacy_init(bad(seed), DIMS)
    assert str(info.value) == (
        f"seed must be an integer in [0, 2**32) for RandomState; got {seed!r}"
    )


@pytest.mark.parametrize(
    "activations",
    [list(ACTIVATIONS), ACTIVATIONS[:2], (*ACTIVATIONS, ACTIVATIONS.h), ACTIVATIONS.h, None],
    ids=["list", "pair", "quadruple", "array-of-3-rows", "None"],
)
@pytest.mark.parametrize("function", [backward, backward_values], ids=["backward", "values"])
def test_backward_refuses_anything_but_an_activations_triple_in_its_own_words(
    function: Callable[..., object], activations: object
) -> None:
    assert len(X) == 3  # so that an array of h passes a bare length check
    with pytest.raises(TypeError, match="activations") as info:
        function(PARAMS, X, Y, activations)
    assert str(info.value) == (
        "activations must be twolayer.Activations(h, h_relu, y_pred) from forward(params, x); "
        f"got {type(activations).__qualname__}"
    )


# h = 1 * 0 = 0 exactly, and grad_h_relu = 2 (0 - 1) * 1 = -2: 0 * -2 would be -0.0.
NEGATIVE_TIE = tst.Case(
    np.array([[1.0]]), np.array([[1.0]]), twolayer.Params(np.array([[0.0]]), np.array([[1.0]]))
)


def test_the_negative_tie_is_a_tie_with_a_negative_gradient() -> None:
    case = NEGATIVE_TIE
    values = twolayer.backward_values(
        case.params, case.x, case.y, twolayer.forward(case.params, case.x)
    )
    assert twolayer.forward(case.params, case.x).h[0, 0] == 0.0
    assert values.grad_h_relu[0, 0] < 0


@given(
    case=st.one_of(tst.tie_cases(), tst.cases()),
    rule=st.sampled_from(twolayer.RELU_GRAD_AT_ZERO_CHOICES),
)
@example(case=NEGATIVE_TIE, rule=0.0)
def test_grad_h_is_positive_zero_wherever_relus_factor_is_zero(case: tst.Case, rule: float) -> None:
    activations = twolayer.forward(case.params, case.x)
    values = twolayer.backward_values(
        case.params, case.x, case.y, activations, relu_grad_at_zero=rule
    )
    h = activations.h
    factor_is_zero = (h < 0) | ((h == 0) & (rule == 0.0))
    assert np.all(values.grad_h[factor_is_zero] == 0.0)
    assert not np.signbit(values.grad_h[factor_is_zero]).any()


# Every function whose result depends on the tie convention, called on NEGATIVE_TIE with or
# without one (bounds.step_bounds is not: at a tie the mask is uncertain and covers both).
WITH_CONVENTION: dict[str, Callable[..., object]] = {
    "backward": lambda c, **k: twolayer.backward(
        c.params, c.x, c.y, twolayer.forward(c.params, c.x), **k
    ),
    "backward_values": lambda c, **k: twolayer.backward_values(
        c.params, c.x, c.y, twolayer.forward(c.params, c.x), **k
    ),
    "value_and_grad": lambda c, **k: twolayer.value_and_grad(c.params, c.x, c.y, **k),
    "train": lambda c, **k: twolayer.train(c.params, c.x, c.y, learning_rate=0.25, steps=2, **k),
    "exact.step": lambda c, **k: exact.step(c.params, c.x, c.y, 0.25, **k),
    "exact.value_and_grad": lambda c, **k: exact.value_and_grad(c.params, c.x, c.y, **k),
    "gradcheck.check_gradients": lambda c, **k: gradcheck.check_gradients(
        c.params, c.x, c.y, twolayer.value_and_grad(c.params, c.x, c.y)[1], **k
    ),
}


@pytest.mark.parametrize("call", WITH_CONVENTION.values(), ids=WITH_CONVENTION.keys())
def test_the_default_tie_convention_is_the_seeds_everywhere(call: Callable[..., object]) -> None:
    seeds = repr(call(NEGATIVE_TIE, relu_grad_at_zero=1.0))
    assert repr(call(NEGATIVE_TIE)) == seeds
    # At this tie the conventions differ, so the comparison above could tell them apart.
    assert repr(call(NEGATIVE_TIE, relu_grad_at_zero=0.0)) != seeds


@given(
    case=st.one_of(tst.cases(), tst.tie_cases()),
    mode=st.sampled_from(gradcheck.MODES),
    wrong=st.booleans(),
)
@example(case=NEGATIVE_TIE, mode="directional", wrong=False)  # a held column: skipped entries
@example(case=NEGATIVE_TIE, mode="entries", wrong=True)  # a tie entry, and a failing report
def test_a_gradcheck_report_agrees_with_its_own_details(
    case: tst.Case, mode: str, wrong: bool
) -> None:
    _, grads = twolayer.value_and_grad(case.params, case.x, case.y)
    if wrong:  # a sign flip, so that failing reports are drawn too
        grads = twolayer.Grads(-grads.w1, grads.w2)
    report = gradcheck.check_gradients(case.params, case.x, case.y, grads, mode=mode)
    assert report.mode == mode
    counted = report.entries_checked + report.entries_skipped
    # Every entry is accounted for, in both modes: checked, or skipped with its reason.
    assert counted == grads.w1.size + grads.w2.size
    assert all(entry.tensor in {"w1", "w2"} and entry.reason for entry in report.skipped)
    # The details' ratios per tensor: one a direction in directional mode, one an entry else.
    ratios: dict[str, list[float]] = {}
    if mode == "directional":
        assert (report.tolerance, report.ratio, report.tie_entries) == (None, None, ())
        assert all(direction.tensor in {"w1", "w2"} for direction in report.directions)
        for tensor in ("w1", "w2"):
            ratios[tensor] = [d.ratio for d in report.directions if d.tensor == tensor]
    else:
        assert report.directions == ()
        assert report.ratio is not None
        for tensor, ratio in zip(("w1", "w2"), report.ratio, strict=True):
            ratios[tensor] = ratio.ravel().tolist()
    # worst is stated by what it is, not recomputed as the code does: a ratio that the details
    # hold (or 0.0 where they hold none), and no judged ratio exceeds it; a nan is not judged.
    assert set(report.worst) == {"w1", "w2"}
    for tensor, details in ratios.items():
        judged = [r for r in details if not math.isnan(r)]
        assert report.worst[tensor] in [*judged, 0.0]
        assert all(r <= report.worst[tensor] for r in judged)
    # passed is read off the details, independently of worst: no judged ratio above 1.
    assert report.passed == (not any(r > 1 for rs in ratios.values() for r in rs))


def test_the_reports_examples_skip_and_fail_as_they_say() -> None:
    case = NEGATIVE_TIE
    _, grads = twolayer.value_and_grad(case.params, case.x, case.y)
    held = gradcheck.check_gradients(case.params, case.x, case.y, grads, mode="directional")
    assert [entry.tensor for entry in held.skipped] == ["w1"]
    flipped = twolayer.Grads(-grads.w1, grads.w2)
    failed = gradcheck.check_gradients(case.params, case.x, case.y, flipped, mode="entries")
    assert not failed.passed
    assert failed.tie_entries == ((0, 0),)


@given(case=tst.dyadic_cases())
@example(
    case=tst.Case(
        np.array([[1.0]]),
        np.array([[0.0]]),
        twolayer.Params(np.array([[1.0, 0.5]]), np.ones((2, 1))),
    )
)  # h = [1, 0.5]: 0.5 is one unit of h's dyadic grid, the smallest positive value it can hold
def test_the_exact_relu_keeps_every_positive_h_however_small(case: tst.Case) -> None:
    reference = exact.step(case.params, case.x, case.y, 0.0)
    h = np.array(reference.h.tolist(), dtype=object)
    expected = np.where(h > 0, h, 0)
    assert reference.h_relu.tolist() == expected.tolist()
    # On the dyadic grid float64 is exact, so the oracle's own h_relu must agree bit for bit.
    assert np.array_equal(
        np.array(reference.h_relu.tolist(), dtype=np.float64),
        twolayer.forward(case.params, case.x).h_relu,
    )
