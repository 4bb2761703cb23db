"""The judge's drawn cases reach the sizes where kernels break, with today's variety of values.

``strategies.judge_cases`` is what ``check_implementation`` draws 200 of. These tests hold it to
the promise of docs/verification.md, "The sizes the judge tries": every
axis reaches beyond the seed's dims, tile and chunk tails, powers of two and primes are drawn
often, values stay on the declared arithmetic's grid and within its range, exact ties, ``-0.0``,
wide magnitudes and cancellation all appear, the mean cost stays affordable, and shrinking still
ends at a small case. Counts are taken over a fixed, derandomized sample of 200 cases, drawn
as the judge draws them (the sample is not the judge's own sequence, which depends on its test
function, but one of the same distribution).
"""

import contextlib
import importlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from random import Random

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

from twolayer import SEED_DIMS, Dims, conformance, drawn, zoo
from twolayer import strategies as tst
from twolayer.vectors import CaseInputs

ARITHMETICS = ("float64", "float32", "tf32", "bf16")
SAMPLE = 200  # the judge's default number of drawn cases
MAX_DIMS = Dims(130, 1100, 260, 20)  # what issue 12 asks the sizes to reach, at least
AXES = ("batch", "d_in", "hidden", "d_out")


def dims_of(case: CaseInputs) -> Dims:
    return Dims(case.x.shape[0], case.x.shape[1], case.w1.shape[1], case.y.shape[1])


@cache
def sample(arithmetic: str) -> tuple[CaseInputs, ...]:
    """200 cases of ``judge_cases(arithmetic)``, the same on every run."""
    return collect(arithmetic, SAMPLE)


def collect(arithmetic: str, examples: int) -> tuple[CaseInputs, ...]:
    drawn: list[CaseInputs] = []

    @settings(
        max_examples=examples,
        database=None,
        derandomize=True,
        deadline=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    @given(tst.judge_cases(arithmetic))
    def record(case: CaseInputs) -> None:
        drawn.append(case)

    record()
    return tuple(drawn)


def count(arithmetic: str, predicate: Callable[[CaseInputs], bool]) -> int:
    return sum(predicate(case) for case in sample(arithmetic))


def multiply_adds(dims: Dims) -> int:
    """The multiply-adds of one step: x @ w1 and x.T @ grad_h; three products with d_out."""
    batch, d_in, hidden, d_out = dims
    return 2 * batch * d_in * hidden + 3 * batch * hidden * d_out


@pytest.mark.parametrize("arithmetic", ARITHMETICS)
def test_every_drawn_case_lies_on_the_grid_and_within_the_range(arithmetic: str) -> None:
    cases = sample(arithmetic)
    assert len(cases) == SAMPLE
    assert all(conformance.applies(case, arithmetic) for case in cases)
    assert all(case.learning_rate >= 0 for case in cases)


@pytest.mark.parametrize("arithmetic", ["float64", "float32"])
def test_each_axis_reaches_beyond_the_seeds_dims(arithmetic: str) -> None:
    largest = np.max([dims_of(case) for case in sample(arithmetic)], axis=0)
    assert all(largest > np.array(SEED_DIMS)), largest
    assert count(arithmetic, lambda case: case.x.shape[1] > 512) >= SAMPLE // 10
    assert count(arithmetic, lambda case: multiply_adds(dims_of(case)) >= multiply_adds(SEED_DIMS))


@pytest.mark.parametrize("axis", range(4))
def test_each_axis_can_reach_its_maximum_and_shrinks_to_it(axis: int) -> None:
    # find shrinks to the least size that meets the condition: the maximum itself is drawn.
    limit = MAX_DIMS[axis]
    found = find(
        tst.judge_dims(),
        lambda dims: dims[axis] >= limit,
        # a fixed seed: a derandomized find's seed changes with how the test is installed, and
        # the maximum is about 1 in 90 draws of d_in, so 500 could miss it; dims alone are cheap
        settings=settings(database=None, max_examples=5000),
        random=Random(2026),
    )
    assert found[axis] == limit
    assert [size for i, size in enumerate(found) if i != axis] == [1, 1, 1]


@pytest.mark.parametrize("arithmetic", ["float64", "float32"])
@pytest.mark.parametrize("tile", [8, 16, 32, 64])
def test_tile_and_chunk_tails_are_drawn_often_on_every_axis_that_can_have_them(
    arithmetic: str, tile: int
) -> None:
    for axis, name in enumerate(AXES):
        if MAX_DIMS[axis] <= tile:
            continue
        sizes = np.array([dims_of(case)[axis] for case in sample(arithmetic)])
        tails = int(np.sum((sizes > tile) & (sizes % tile != 0)))
        # the designed share is 0.128 for d_out past 16 (sizes 17 to 19 of 20), 0.28 to 0.51
        # elsewhere; hypothesis biases its draws, so the floor is 1 in 20
        assert tails >= SAMPLE // 20, (name, tile, tails)


def test_the_awkward_sizes_are_tails_powers_of_two_primes_and_landmarks() -> None:
    groups = tst.awkward_sizes(1100, 1000)
    sizes = set().union(*groups)
    assert {63, 64, 65, 127, 129, 511, 513, 1023, 1024, 1025, 1089} <= sizes
    assert {2, 3, 5, 7, 97, 101, 1097} <= sizes  # primes
    assert {1, 999, 1000, 1001, 1100} <= sizes  # landmarks: 1, the seed's size, the maximum
    assert all(group == tuple(sorted(group)) and group[0] >= 1 for group in groups)
    assert max(sizes) == 1100
    assert tst.awkward_sizes(20, 10)[-1] == (1, 9, 10, 11, 20)


def test_negative_zeros_and_exact_ties_are_drawn() -> None:
    cases = sample("float64")

    def negative_zeros(case: CaseInputs) -> bool:
        arrays = (case.x, case.y, case.w1, case.w2)
        return any(bool(np.any((a == 0) & np.signbit(a))) for a in arrays)

    def moving_tie(case: CaseInputs) -> bool:
        # a column of w1 that is all zeros, and a sample whose x reaches it: h is 0 for certain
        dead = ~np.any(case.w1 != 0, axis=0)
        return bool(dead.any() and np.any(case.x != 0))

    def negative_zero_column(case: CaseInputs) -> bool:
        # a column of w1 all -0.0, reached by a non-zero x: the products there are -0.0 or +0.0
        dead = np.all((case.w1 == 0) & np.signbit(case.w1), axis=0)
        return bool(dead.any() and np.any(case.x != 0))

    assert sum(map(negative_zeros, cases)) >= SAMPLE // 2
    assert sum(map(moving_tie, cases)) >= SAMPLE // 3
    assert sum(map(negative_zero_column, cases)) >= SAMPLE // 10


def test_wide_magnitudes_cancellation_and_sparse_rows_are_drawn() -> None:
    def wide(case: CaseInputs) -> bool:
        largest = max(float(np.abs(a).max()) for a in (case.x, case.w1, case.w2))
        return largest >= 2.0**12  # beyond 2**5: scaled (2**100 and more in float64)

    def cancelling(case: CaseInputs) -> bool:
        y_pred = np.maximum(case.x @ case.w1, 0) @ case.w2
        near = np.abs(y_pred - case.y) <= 4 * np.spacing(np.abs(y_pred))
        return case.y.size >= 4 and bool(near.all()) and bool(np.any(case.y != 0))

    def sparse(case: CaseInputs) -> bool:
        return case.x.shape[1] >= 64 and float(np.mean(case.x == 0)) > 0.9

    def integers(case: CaseInputs) -> bool:
        return case.x.size >= 64 and bool(np.all(case.x[3:] == np.round(case.x[3:])))

    for feature in (wide, cancelling, sparse, integers):
        # hypothesis draws the same fill for several cases: counted over two samples
        drawn = count("float64", feature) + count("float32", feature)
        assert drawn >= SAMPLE // 20, feature.__name__


def test_the_mean_cost_of_a_drawn_case_is_a_fraction_of_a_seed_step() -> None:
    # The judge's 200 drawn cases cost about 200 times this mean, in multiply-adds, against the
    # seed's step: most cases are small, a few are larger than the seed's (up to 5.8 times). The
    # mean over many more draws is about 0.07 of the seed's; 200 draws scatter around it.
    for arithmetic in ("float64", "float32"):
        costs = [multiply_adds(dims_of(case)) for case in sample(arithmetic)]
        assert np.mean(costs) <= 0.5 * multiply_adds(SEED_DIMS), np.mean(costs)


def test_a_tail_shrinks_to_the_least_size_with_one() -> None:
    # Generate and shrink only: the explain phase, which runs after shrinking and only writes
    # comments for a failure report, cost three quarters of this test and cannot change what
    # the shrinker ends at (a case it found would have to be smaller still).
    strategy = tst.judge_cases("float64")
    # Without hypothesis's constants from the code that calls it, as the judge draws (else a
    # number added to any test file moves the draw: this test once ended at batch 63 so).
    shrink = settings(
        database=None, derandomize=True, max_examples=500, phases=(Phase.generate, Phase.shrink)
    )
    with drawn.without_local_constants():
        found = find(
            strategy,
            lambda case: case.x.shape[1] > 64 and case.x.shape[1] % 64 != 0,
            settings=shrink,
        )
    assert dims_of(found) == Dims(1, 65, 1, 1)
    with drawn.without_local_constants():
        found = find(
            strategy,
            lambda case: case.x.shape[0] > 32 and case.x.shape[0] % 32 != 0 and bool(case.y.any()),
            settings=shrink,
        )
    assert dims_of(found) == Dims(33, 1, 1, 1)


@pytest.mark.parametrize("arithmetic", ARITHMETICS)
def test_grid_values_keep_the_sign_of_zero(arithmetic: str) -> None:
    # The case of issue 12, x = [[1]], y = [[1]], w1 = [[-0.0]], w2 = [[1]], exposes a mask read
    # from the sign bit of h (1 * -0.0 = -0.0, a tie where the seed's gradient flows): the values
    # that make up a small case must hold -0.0, which the judge's grid once turned into +0.0.
    found = find(
        tst.grid_values(arithmetic),
        lambda value: value == 0 and bool(np.signbit(value)),
        settings=settings(database=None, derandomize=True),
    )
    assert np.signbit(found)


def test_the_same_choices_draw_the_same_cases_read_only() -> None:
    first, again = collect("bf16", 20), collect("bf16", 20)
    for one, other in zip(first, again, strict=True):
        for name in ("x", "y", "w1", "w2"):
            assert np.array_equal(getattr(one, name), getattr(other, name))
            assert np.array_equal(np.signbit(getattr(one, name)), np.signbit(getattr(other, name)))
            assert not getattr(one, name).flags.writeable
        assert one.learning_rate == other.learning_rate


@pytest.mark.parametrize("arithmetic", ARITHMETICS)
def test_the_small_cases_have_every_axis_from_one_to_three(arithmetic: str) -> None:
    drawn: list[CaseInputs] = []

    @settings(max_examples=100, database=None, derandomize=True, phases=(Phase.generate,))
    @given(tst.judge_cases(arithmetic, small=True))
    def record(case: CaseInputs) -> None:
        assert conformance.on_grid(case.x, arithmetic)
        drawn.append(case)

    record()
    sizes = {size for case in drawn for size in dims_of(case)}
    assert len(drawn) == 100
    assert sizes == {1, 2, 3}, sizes


# Literals of the kinds the judge draws: sizes near tile edges, small floats, a learning rate.
_LOCAL_LITERALS = (
    "SIZES = (3, 7, 17, 33, 65, 129, 257, 513, 1023, 1025)\n"
    "VALUES = (0.1, 0.3, 1.7, 2.5, -3.25, 0.001, 12.5, -0.75, 6.0e-05, 1e-06)\n"
)


def _drawn_verdict() -> str:
    report = conformance.check_implementation(
        zoo.reference_step, cases=[], max_examples=40, implementation="reference_step"
    )
    assert report.conforms
    return conformance.format_report(report)


def _has_constant_collector() -> bool:
    try:
        from hypothesis.internal.conjecture import providers  # noqa: PLC0415 (private)
    except ImportError:
        return False
    return hasattr(providers, "_get_local_constants")


def test_the_drawn_cases_do_not_depend_on_the_callers_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The judge's drawn cases are the same whatever else is loaded: hypothesis's constants from
    local modules (a user's module with literals, imported beside the judge) do not reach them.

    Without the guard, the same import changes the cases wherever hypothesis collects such
    constants (6.131 and later), so the first assertion is not vacuous there; hypothesis 6.100,
    the lowest allowed, collects none, and then the cases must agree even unguarded.
    """
    before = _drawn_verdict()
    (tmp_path / "user_literals.py").write_text(_LOCAL_LITERALS)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("user_literals")
    assert _drawn_verdict() == before
    monkeypatch.setattr(drawn, "without_local_constants", contextlib.nullcontext)
    assert (_drawn_verdict() != before) == _has_constant_collector()
