"""``twolayer.exact``: the step in exact arithmetic, and correct rounding to float formats.

The exact step is checked against a plain ``fractions.Fraction`` implementation written here with
loops (forward first, then backward and update), and against numpy on the dyadic grid, where
float64 makes no rounding error at all. ``round_to`` is checked against Python's correctly
rounded ``float(Fraction)``, numpy's float64 -> float32 conversion, and a table of every bf16
number, with ties to even and the double-rounding trap spelled out.
"""

import math
from collections import Counter
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray
from unhooking import unhooked

import twolayer
from twolayer import exact
from twolayer import strategies as tst

CONVENTIONS = st.sampled_from(twolayer.RELU_GRAD_AT_ZERO_CHOICES)
ANY_CASES = st.one_of(
    tst.cases(),
    tst.tie_cases(),
    tst.cancellation_cases(),
    tst.wide_magnitude_cases(),
    tst.float32_cases(),
)
FORWARD = ("h", "h_relu", "y_pred", "loss")
BACKWARD = ("grad_y_pred", "grad_w2", "grad_h_relu", "grad_h", "grad_w1", "w1_next", "w2_next")

Table = list[list[Fraction]]  # a matrix of exact values, row by row


# -- a plain Fraction implementation, the specification ------------------------------------------


def _table(values: NDArray[np.float64]) -> Table:
    return [[Fraction(v) for v in row] for row in values.tolist()]


def _matmul(a: Table, b: Table) -> Table:
    return [
        [sum((a[i][k] * b[k][j] for k in range(len(b))), Fraction(0)) for j in range(len(b[0]))]
        for i in range(len(a))
    ]


def _transpose(a: Table) -> Table:
    return [list(column) for column in zip(*a, strict=True)]


def plain_step(
    case: tst.Case,
    learning_rate: float,
    relu_grad_at_zero: float,
    mask: NDArray[np.bool_] | None = None,
) -> dict[str, Table | Fraction]:
    """The seed's step with Python Fractions and loops, straight from the formulas."""
    x, y, w1, w2 = _table(case.x), _table(case.y), *map(_table, case.params)
    rate, rule = Fraction(learning_rate), Fraction(relu_grad_at_zero)
    h = _matmul(x, w1)
    if mask is None:
        active = [[v > 0 for v in row] for row in h]
        slope = [
            [Fraction(1) if v > 0 else rule if v == 0 else Fraction(0) for v in row] for row in h
        ]
    else:
        active = mask.tolist()
        slope = [[Fraction(int(m)) for m in row] for row in active]
    h_relu = [
        [v if on else Fraction(0) for v, on in zip(row, ons, strict=True)]
        for row, ons in zip(h, active, strict=True)
    ]
    y_pred = _matmul(h_relu, w2)
    residual = [
        [p - t for p, t in zip(row, targets, strict=True)]
        for row, targets in zip(y_pred, y, strict=True)
    ]
    grad_y_pred = [[2 * r for r in row] for row in residual]
    grad_w2 = _matmul(_transpose(h_relu), grad_y_pred)
    grad_h_relu = _matmul(grad_y_pred, _transpose(w2))
    grad_h = [
        [g * s for g, s in zip(row, slopes, strict=True)]
        for row, slopes in zip(grad_h_relu, slope, strict=True)
    ]
    grad_w1 = _matmul(_transpose(x), grad_h)

    def update(w: Table, g: Table) -> Table:
        return [
            [a - rate * b for a, b in zip(rw, rg, strict=True)] for rw, rg in zip(w, g, strict=True)
        ]

    return {
        "h": h,
        "h_relu": h_relu,
        "y_pred": y_pred,
        "loss": sum((r * r for row in residual for r in row), Fraction(0)),
        "grad_y_pred": grad_y_pred,
        "grad_w2": grad_w2,
        "grad_h_relu": grad_h_relu,
        "grad_h": grad_h,
        "grad_w1": grad_w1,
        "w1_next": update(w1, grad_w1),
        "w2_next": update(w2, grad_w2),
    }


def assert_equals_plain(result: exact.ExactStep, expected: dict[str, Table | Fraction]) -> None:
    for name in FORWARD + BACKWARD:  # forward first: a wrong h explains everything after it
        value = getattr(result, name)
        got = value if isinstance(value, Fraction) else value.tolist()
        assert got == expected[name], name


def test_exact_step_equals_a_plain_fraction_implementation() -> None:
    seen: Counter[str] = Counter()

    @given(case=ANY_CASES, learning_rate=tst.learning_rates(), rule=CONVENTIONS)
    def check(case: tst.Case, learning_rate: float, rule: float) -> None:
        result = exact.step(case.params, case.x, case.y, learning_rate, relu_grad_at_zero=rule)
        assert_equals_plain(result, plain_step(case, learning_rate, rule))
        ties = (result.h == 0) & (result.grad_h_relu != 0)
        seen["tie that the convention decides"] += rule != 1 and bool(ties.any())
        magnitudes = np.abs(np.concatenate([case.x.ravel(), case.params.w1.ravel()]))
        tiny = (magnitudes > 0) & (magnitudes < 1e-100)
        seen["beyond 1e±100"] += bool(np.any((magnitudes > 1e100) | tiny))
        seen["update changes w1"] += bool(np.any(result.w1_next != case.params.w1))

    check()
    assert all(seen[kind] > 0 for kind in ("tie that the convention decides", "beyond 1e±100")), (
        seen
    )
    assert seen["update changes w1"] > 0, seen


@given(
    case=tst.tie_cases() | tst.cases(),
    learning_rate=tst.learning_rates(),
    rule=CONVENTIONS,
    data=st.data(),
)
def test_exact_step_with_a_mask_equals_the_plain_implementation(
    case: tst.Case, learning_rate: float, rule: float, data: st.DataObject
) -> None:
    shape = (case.x.shape[0], case.params.w1.shape[1])
    mask = data.draw(hnp.arrays(np.bool_, shape), label="mask")
    result = exact.step(
        case.params, case.x, case.y, learning_rate, relu_grad_at_zero=rule, mask=mask
    )
    # The mask decides everything, ties included: relu_grad_at_zero is not used.
    assert_equals_plain(result, plain_step(case, learning_rate, rule, mask))


def test_a_mask_decides_ties_and_overrides_the_sign_of_h() -> None:
    x = np.array([[1.0, 1.0]])
    params = twolayer.Params(
        np.array([[1.0, -1.0, 2.0], [-1.0, -2.0, 1.0]]), np.array([[1.0], [2.0], [3.0]])
    )
    y = np.array([[0.5]])
    h = exact.step(params, x, y, 0.0).h  # [0, -3, 3]: a tie, a dead unit, a live one
    assert h.tolist() == [[0, -3, 3]]
    everything = exact.step(
        params, x, y, 0.0, relu_grad_at_zero=0.0, mask=np.ones((1, 3), dtype=bool)
    )
    assert everything.h_relu.tolist() == [[0, -3, 3]]  # h_relu = h even where h < 0
    assert np.array_equal(everything.grad_h, everything.grad_h_relu)  # the tie passes: factor 1
    nothing = exact.step(
        params, x, y, 0.0, relu_grad_at_zero=1.0, mask=np.zeros((1, 3), dtype=bool)
    )
    assert nothing.h_relu.tolist() == [[0, 0, 0]]
    assert nothing.grad_w1.tolist() == [[0, 0, 0], [0, 0, 0]]  # the tie is blocked: factor 0
    seed_mask = exact.step(params, x, y, 0.0, mask=np.array([[True, False, True]]))
    assert_equals_plain(seed_mask, plain_step(tst.Case(x, y, params), 0.0, 1.0))


@given(case=tst.dyadic_cases())
@example(
    case=tst.Case(
        np.array([[1.0]]),
        np.array([[0.0]]),
        twolayer.Params(np.array([[1.0, 0.5]]), np.ones((2, 1))),
    )
)  # h = [1, 0.5]: 0.5 is one unit of h's dyadic grid, the smallest positive value it can hold
def test_the_exact_relu_keeps_every_positive_h_however_small(case: tst.Case) -> None:
    """The exact step's h_relu is h wherever h > 0, down to the smallest positive h, else 0.

    On the dyadic grid, where float64 is exact, it equals ``forward``'s h_relu.
    """
    reference = exact.step(case.params, case.x, case.y, 0.0)
    h = np.array(reference.h.tolist(), dtype=object)
    expected = np.where(h > 0, h, 0)
    assert reference.h_relu.tolist() == expected.tolist()
    # On the dyadic grid float64 is exact, so the oracle's own h_relu must agree bit for bit.
    assert np.array_equal(
        np.array(reference.h_relu.tolist(), dtype=np.float64),
        twolayer.forward(case.params, case.x).h_relu,
    )


def bad(value: object) -> Any:
    """Hand a deliberately ill-typed argument past mypy."""
    return value


def test_exact_step_refuses_a_bad_mask() -> None:
    # Unhooked: in this test run jaxtyping's hook would reject the calls first, in its words.
    step = unhooked(exact.step)
    x, y = np.ones((2, 3)), np.ones((2, 1))
    params = twolayer.init_params(np.random.default_rng(0), twolayer.Dims(2, 3, 4, 1))
    with pytest.raises(
        TypeError,
        match=r"mask must be None or a numpy bool array of shape \(batch, hidden\) = \(2, 4\)",
    ):
        step(params, x, y, 0.1, mask=bad(np.ones((2, 4))))
    with pytest.raises(
        ValueError, match=r"mask must have shape \(batch, hidden\) = \(2, 4\); got shape \(4, 2\)"
    ):
        step(params, x, y, 0.1, mask=np.ones((4, 2), dtype=bool))


def test_a_bad_mask_is_named_with_what_arrived() -> None:
    # The whole message, for a non-array (no dtype to show) and an array of the wrong dtype.
    step = unhooked(exact.step)
    x, y = np.ones((2, 3)), np.ones((2, 1))
    params = twolayer.init_params(np.random.default_rng(0), twolayer.Dims(2, 3, 4, 1))
    expected = "mask must be None or a numpy bool array of shape (batch, hidden) = (2, 4); got "
    for mask, arrived in (
        (bad([[True] * 4] * 2), "list"),
        (bad(np.ones((2, 4))), "ndarray float64"),
    ):
        with pytest.raises(TypeError) as raised:
            step(params, x, y, 0.1, mask=mask)
        assert str(raised.value) == expected + arrived


@given(case=ANY_CASES, rule=CONVENTIONS)
def test_exact_value_and_grad_equals_the_steps_loss_and_gradients(
    case: tst.Case, rule: float
) -> None:
    loss, grads = exact.value_and_grad(case.params, case.x, case.y, relu_grad_at_zero=rule)
    result = exact.step(case.params, case.x, case.y, 0.0, relu_grad_at_zero=rule)
    assert loss == result.loss
    assert grads.w1.tolist() == result.grad_w1.tolist()
    assert grads.w2.tolist() == result.grad_w2.tolist()


def test_exact_results_are_read_only_fractions() -> None:
    params = twolayer.Params(np.array([[1.0, -1.0]]), np.array([[2.0], [3.0]]))
    result = exact.step(params, np.array([[0.5]]), np.array([[0.1]]), 0.25)
    for name in FORWARD + BACKWARD:
        value = getattr(result, name)
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable, name
            assert all(isinstance(v, Fraction) for v in value.flat), name
        else:
            assert isinstance(value, Fraction)
    with pytest.raises(ValueError, match="read-only"):
        result.grad_w1[0, 0] = Fraction(0)


@given(
    values=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4),
        elements=st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-64, 64).map(float),  # coarse grids: trailing zero bits to strip
            st.just(0.0),
        ),
    )
)
def test_from_float64_is_exact_and_canonical(values: NDArray[np.float64]) -> None:
    result = exact.from_float64(values)
    assert result.mantissas.shape == values.shape
    assert result.mantissas.dtype == object
    mantissas: list[int] = result.mantissas.ravel().tolist()
    assert all(type(m) is int for m in mantissas)
    scale = Fraction(2) ** result.exponent
    assert [m * scale for m in mantissas] == [Fraction(v) for v in values.ravel().tolist()]
    if any(mantissas):
        # Canonical: the largest exponent that holds every value, so some mantissa is odd.
        assert any(m % 2 for m in mantissas)
    else:
        assert result.exponent == 0


@given(
    mantissas=st.lists(st.integers(-(2**200), 2**200), min_size=1, max_size=6),
    exponent=st.integers(-400, 40),
)
def test_to_fractions_gives_each_value_in_lowest_terms(mantissas: list[int], exponent: int) -> None:
    # Fraction's own equality and hashing assume lowest terms, with a positive denominator.
    value = exact.Dyadic(np.array(mantissas, dtype=object), exponent)
    result = exact.to_fractions(value).tolist()
    scale = Fraction(2) ** exponent
    assert result == [m * scale for m in mantissas]
    for q in result:
        assert type(q) is Fraction
        assert q.denominator > 0
        assert math.gcd(q.numerator, q.denominator) == 1


def test_equal_values_share_their_fraction_objects() -> None:
    # h_relu is h where a unit is active and grad_h is grad_h_relu there (factor 1): the same
    # immutable Fraction objects, built once. h = [[1/2, -1/2]]: unit 0 active, unit 1 not.
    params = twolayer.Params(np.array([[1.0, -1.0]]), np.array([[2.0], [3.0]]))
    result = exact.step(params, np.array([[0.5]]), np.array([[0.25]]), 0.125)
    assert result.h_relu[0, 0] is result.h[0, 0]
    assert result.grad_h[0, 0] is result.grad_h_relu[0, 0]
    assert result.h_relu[0, 1] == 0
    assert result.grad_h[0, 1] == 0


def test_the_dyadic_step_holds_python_integers() -> None:
    # Dyadic's contract (object arrays of Python ints), for every field, the 0-d loss included.
    params = twolayer.Params(np.array([[1.0, -1.0]]), np.array([[2.0], [3.0]]))
    values = exact.dyadic_step(
        params.w1, params.w2, np.array([[0.5]]), np.array([[0.25]]), 0.125, 1.0, None
    )
    for name, value in values._asdict().items():
        assert value.mantissas.dtype == object, name
        assert all(type(m) is int for m in value.mantissas.ravel().tolist()), name


# -- on the dyadic grid float64 is exact, so rounding the exact step gives numpy's bits ----------


def test_rounded_exact_step_equals_numpy_on_the_dyadic_grid() -> None:
    seen: Counter[str] = Counter()

    @given(case=tst.dyadic_cases(), shift=st.integers(0, 8), rule=CONVENTIONS)
    def check(case: tst.Case, shift: int, rule: float) -> None:
        seen.update(_assert_rounded_exact_step_is_numpys(case, 2.0**-shift, rule))

    check()
    assert seen["exact tie"] > 0, seen
    assert seen["update changes w1"] > 0, seen


def _assert_rounded_exact_step_is_numpys(
    case: tst.Case, learning_rate: float, rule: float
) -> set[str]:
    """Assert the property for one case (learning rate a power of two: the update is exact)."""
    result = exact.step(case.params, case.x, case.y, learning_rate, relu_grad_at_zero=rule)
    activations = twolayer.forward(case.params, case.x)
    values = twolayer.backward_values(
        case.params, case.x, case.y, activations, relu_grad_at_zero=rule
    )
    w1_next, w2_next = twolayer.sgd_step(
        case.params, twolayer.Grads(values.grad_w1, values.grad_w2), learning_rate
    )
    numpy_values = {
        **activations._asdict(),
        "loss": np.array(twolayer.loss(activations.y_pred, case.y)),
        **values._asdict(),
        "w1_next": w1_next,
        "w2_next": w2_next,
    }
    for name, computed in numpy_values.items():
        value = getattr(result, name)
        exact_value = value if isinstance(value, np.ndarray) else np.array(value, dtype=object)
        rounded = exact.round_to(exact_value)
        # The same bits up to the sign of zero (numpy gives -0.0 where, e.g., 0 * -1 is summed).
        assert np.array_equal(rounded, computed), name
        # The grid's premise, checked: float64 made no rounding error, numpy's values are exact.
        assert np.all(np.frompyfunc(Fraction, 1, 1)(computed) == exact_value), name
    seen = {"exact tie"} if np.any(result.h == 0) else set()
    return seen | ({"update changes w1"} if np.any(w1_next != case.params.w1) else set())


# -- round_to ------------------------------------------------------------------------------------

WIDE_FRACTIONS = st.builds(
    lambda numerator, denominator, shift: Fraction(numerator, denominator) * Fraction(2) ** shift,
    st.integers(-(2**120), 2**120),
    st.integers(1, 2**120),
    st.integers(-1200, 900),
)


@given(value=WIDE_FRACTIONS)
def test_round_to_float64_equals_pythons_correctly_rounded_float(value: Fraction) -> None:
    assert exact.round_to(value) == float(value)
    assert (
        math.copysign(1.0, exact.round_to(value)) == math.copysign(1.0, float(value)) or value == 0
    )


@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_round_to_float32_equals_numpys_conversion_of_a_float64(value: float) -> None:
    # One rounding either way: numpy converts a float64 to float32 correctly (to nearest, even).
    with np.errstate(over="ignore"):
        expected = float(np.float32(value))
    assert exact.round_to(Fraction(value), "float32") == expected
    assert exact.round_to(value, "float32") == expected


def _nearest_among(value: Fraction, candidates: list[float], is_even: list[bool]) -> float:
    distances = [abs(Fraction(c) - value) for c in candidates]
    best = min(distances)
    ties = [
        c for c, d, even in zip(candidates, distances, is_even, strict=True) if d == best and even
    ] or [c for c, d in zip(candidates, distances, strict=True) if d == best]
    return ties[0]


FLOAT32_MAX = float(np.finfo(np.float32).max)


@given(value=WIDE_FRACTIONS.filter(lambda q: abs(q) <= FLOAT32_MAX))
def test_round_to_float32_gives_the_nearest_float32_ties_to_even(value: Fraction) -> None:
    rounded = exact.round_to(value, "float32")
    as32 = np.float32(rounded)
    assert float(as32) == rounded  # a float32 number
    neighbours = [
        float(np.nextafter(as32, np.float32(-np.inf))),
        rounded,
        float(np.nextafter(as32, np.float32(np.inf))),
    ]
    even = [int(np.float32(n).view(np.uint32)) % 2 == 0 for n in neighbours]
    assert rounded == _nearest_among(value, neighbours, even)


def _all_bf16() -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Every finite bf16 number (the top 16 bits of a float32), sorted, and whether it is even."""
    patterns = np.arange(2**16, dtype=np.uint32)
    as_float32 = (patterns << np.uint32(16)).view(np.float32)
    # Drop NaN, inf and -0 before widening (a signalling NaN would warn in the cast).
    keep = np.isfinite(as_float32) & ~((as_float32 == 0) & (patterns >= 2**15))
    values = as_float32[keep].astype(np.float64)
    order = np.argsort(values)
    return values[order], (patterns[keep][order] % 2 == 0)


BF16, BF16_EVEN = _all_bf16()


@given(value=WIDE_FRACTIONS.filter(lambda q: abs(q) <= BF16[-1]))
def test_round_to_bf16_gives_the_nearest_bf16_ties_to_even(value: Fraction) -> None:
    rounded = exact.round_to(value, "bf16")
    index = int(np.searchsorted(BF16, float(value)))
    window = range(max(index - 2, 0), min(index + 2, BF16.size))
    expected = _nearest_among(
        value, [float(BF16[i]) for i in window], [bool(BF16_EVEN[i]) for i in window]
    )
    assert rounded == expected or (rounded == 0 and expected == 0)


@pytest.mark.parametrize(
    ("arithmetic", "digits"), [("float64", 53), ("float32", 24), ("tf32", 11), ("bf16", 8)]
)
def test_round_to_breaks_ties_to_even(arithmetic: str, digits: int) -> None:
    half_ulp = Fraction(1, 2**digits)  # half the spacing just above 1
    assert exact.round_to(1 + half_ulp, arithmetic) == 1.0  # 1 is even
    assert exact.round_to(1 + 3 * half_ulp, arithmetic) == 1 + 4 * half_ulp  # 1 + 2 ulp is even
    assert exact.round_to(-(1 + 3 * half_ulp), arithmetic) == -(1 + 4 * half_ulp)
    assert exact.round_to(1 + half_ulp + Fraction(1, 2**80), arithmetic) == 1 + 2 * half_ulp


@pytest.mark.parametrize(("arithmetic", "digits"), [("float32", 24), ("bf16", 8)])
def test_round_to_rounds_once_where_float_then_narrow_rounds_twice(
    arithmetic: str, digits: int
) -> None:
    # Just above a tie of the narrow format, by less than half a float64 ulp: float64 rounds it
    # onto the tie, and the second rounding then goes to even, down. The correct result is up.
    value = 1 + Fraction(1, 2**digits) + Fraction(1, 2**60)
    assert float(value) == 1 + 2.0**-digits  # the first rounding lands exactly on the tie
    assert exact.round_to(float(value), arithmetic) == 1.0  # so rounding twice gives 1
    assert exact.round_to(value, arithmetic) == 1 + 2.0 ** (1 - digits)  # once: the nearest
    if arithmetic == "float32":
        assert float(np.float32(float(value))) == 1.0  # numpy's double rounding, shown wrong


def test_round_to_handles_subnormals_overflow_and_signs() -> None:
    tiny32 = Fraction(1, 2**149)  # float32's smallest subnormal
    assert exact.round_to(tiny32 / 2, "float32") == 0.0  # a tie between 0 and tiny: 0 is even
    assert exact.round_to(tiny32 / 2 + Fraction(1, 2**400), "float32") == 2.0**-149
    assert exact.round_to(3 * tiny32 / 2, "float32") == 2.0**-148  # tie: 2 tiny is even
    assert math.copysign(1.0, exact.round_to(-tiny32 / 4, "float32")) == -1.0  # -0.0
    assert exact.round_to(Fraction(3, 2**134), "bf16") == 2.0**-132  # bf16 subnormals: 2**-133
    assert exact.round_to(Fraction(1, 2**1075), "float64") == 0.0
    assert exact.round_to(Fraction(3, 2**1076), "float64") == 2.0**-1074
    biggest = Fraction(FLOAT32_MAX)
    half_ulp = Fraction(2) ** (127 - 24)
    assert exact.round_to(biggest + half_ulp - 1, "float32") == FLOAT32_MAX
    assert exact.round_to(biggest + half_ulp, "float32") == math.inf  # the tie rounds to 2**128
    assert exact.round_to(-(Fraction(2) ** 2000)) == -math.inf
    assert exact.round_to(math.inf, "bf16") == math.inf


def test_round_to_keeps_the_shape_and_refuses_what_it_cannot_round() -> None:
    values = np.array([[Fraction(1, 3), Fraction(2, 3)]], dtype=object)
    rounded = exact.round_to(values, "float32")
    assert rounded.dtype == np.float64
    assert rounded.shape == (1, 2)
    assert rounded.tolist() == [[float(np.float32(1 / 3)), float(np.float32(2 / 3))]]
    with pytest.raises(ValueError, match="arithmetic must be one of float64, float32, tf32, bf16"):
        exact.round_to(Fraction(1, 3), "float16")
    with pytest.raises(TypeError, match="round_to takes Fraction, int or float values; got str"):
        exact.round_to(np.array(["1/3"], dtype=object))
