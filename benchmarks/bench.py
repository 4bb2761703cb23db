"""Time ``twolayer.train`` against the seed notebook's own loop: ``nox -s bench``.

One process, every contender interleaved round by round (the order rotates each round), the
median of at least 7 rounds. The baseline is the seed's imperative loop, written out below; the
floor is the two large matrix products of each step alone (``x.dot(w1)`` and ``x.T.dot(grad_h)``),
which every implementation of the seed's order of operations pays, and the floor plus the update
of ``w1`` rounded as the seed rounds it (a multiply, then a subtract), which every bit-identical
one pays (with numpy's ufuncs). Ratios are to the seed loop doing the same work. Prints the tables
and writes them, with the machine they ran on, as JSON.

Run it on an otherwise idle machine: with other processes on the cores, a multithreaded BLAS waits
for its threads and a step can take a hundred times longer. ``OPENBLAS_NUM_THREADS=1`` (recorded
in the JSON) gives steadier, if different, figures there.

Not part of the package: it may print. Run ``python benchmarks/bench.py --help`` for the flags.
"""

import argparse
import datetime
import gc
import importlib
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import records
from numpy.typing import NDArray

import twolayer
from twolayer import bounds, calls, conformance, exact, gradcheck, vectors, verdicts, zoo

Array = NDArray[np.float64]
Thunk = Callable[[], object]  # one timed call: runs the work, returns its result

MIN_ROUNDS = 7
SCALING_BATCHES = (64, 256, 1024, 4096)  # at the seed's d_in
SCALING_D_INS = (1000, 2000, 4000, 8000)  # at the seed's batch
SMALL_DIMS = twolayer.Dims(batch=16, d_in=32, hidden=16, d_out=8)  # the exact step's small case
WIDE_SPREAD = 20  # exact.fast_step's wide case: each entry scaled by 2**k, |k| <= 20
MEMORY_STEPS = (500, 5000)
BASELINE_STEPS = 100  # seed-loop steps timed to give the cost of one
RESULTS_DIR = Path(__file__).resolve().parent / "results"
FAST_STEP_ROW = "exact.fast_step seed dims"
STEP_BOUNDS_ROW = "bounds.step_bounds seed dims (reference given)"
JUDGED_CASE_ROW = "one judged case, seed dims"
FLOOR_ROW = "floor: the 5 float64 GEMMs of a step, seed dims"
DEFAULT_CHECK_ROW = "check_implementation, defaults (49 frozen, 200 drawn)"
DEFAULT_TRAINING_ROW = "check_training, defaults (17 frozen, 200 drawn trajectories)"
TARGETS_MS = {  # issue 12; issue 13: a training judge within the one-step judge's budget
    FAST_STEP_ROW: 50.0,
    STEP_BOUNDS_ROW: 20.0,
    JUDGED_CASE_ROW: 150.0,
    DEFAULT_CHECK_ROW: 60_000.0,
    DEFAULT_TRAINING_ROW: 60_000.0,
}


# -- the contenders ------------------------------------------------------------------------------


def seed_loop(
    x: Array, y: Array, w1: Array, w2: Array, learning_rate: float, steps: int
) -> tuple[list[np.float64], Array, Array]:
    """The notebook's In [20], verbatim but for recording the loss instead of printing it."""
    w1, w2 = w1.copy(), w2.copy()
    losses = []
    for _t in range(steps):
        h = x.dot(w1)
        h_relu = np.maximum(h, 0)
        ypred = h_relu.dot(w2)
        loss = np.square(ypred - y).sum()
        losses.append(loss)
        grad_loss_ypred = 2.0 * (ypred - y)
        grad_ypred_w2 = h_relu
        grad_loss_w2 = grad_ypred_w2.T.dot(grad_loss_ypred)
        grad_ypred_hrelu = w2
        grad_loss_hrelu = grad_loss_ypred.dot(grad_ypred_hrelu.T)
        grad_loss_h = grad_loss_hrelu.copy()
        grad_loss_h[h < 0] = 0
        grad_h_w1 = x
        grad_loss_w1 = grad_h_w1.T.dot(grad_loss_h)
        w1 -= learning_rate * grad_loss_w1
        w2 -= learning_rate * grad_loss_w2
    return losses, w1, w2


def floor_products(x: Array, w1: Array, grad_h: Array, steps: int) -> None:
    """The two large products of each step, ``steps`` times: what every step must pay."""
    for _t in range(steps):
        x.dot(w1)
        x.T.dot(grad_h)


def floor_and_update(x: Array, w1: Array, grad_h: Array, learning_rate: float, steps: int) -> None:
    """The floor plus ``w1 - learning_rate * grad_w1`` rounded as the seed rounds it.

    A multiply, then a subtract, over every weight of ``w1``, in buffers that are reused: what a
    bit-identical step must add to the two products whatever else it saves (the rest of the step
    works on arrays 10 to 1,000 times smaller).
    """
    scaled = np.empty_like(w1)
    for _t in range(steps):
        x.dot(w1)
        grad_w1 = x.T.dot(grad_h)
        np.multiply(learning_rate, grad_w1, out=scaled)
        np.subtract(w1, scaled, out=grad_w1)


class Problem(NamedTuple):
    """One training problem: data, starting weights, rate and number of steps."""

    x: Array
    y: Array
    params: twolayer.Params
    learning_rate: float
    steps: int


def make_problem(dims: twolayer.Dims, steps: int, seed: int = 0) -> Problem:
    """Draw a problem as the seed does; the rate shrinks with ``batch * d_in`` to stay finite."""
    rng = np.random.default_rng(seed)
    x, y = twolayer.init_data(rng, dims)
    params = twolayer.init_params(rng, dims)
    scale = (twolayer.SEED_DIMS.batch * twolayer.SEED_DIMS.d_in) / (dims.batch * dims.d_in)
    return Problem(x, y, params, twolayer.SEED_LEARNING_RATE * min(1.0, scale), steps)


def seed_loop_thunk(p: Problem) -> Thunk:
    return lambda: seed_loop(p.x, p.y, p.params.w1, p.params.w2, p.learning_rate, p.steps)


def train_thunk(p: Problem) -> Thunk:
    return lambda: twolayer.train(p.params, p.x, p.y, learning_rate=p.learning_rate, steps=p.steps)


def floor_thunk(p: Problem) -> Thunk:
    # Any grad_h of the right shape will do: the products' cost does not depend on the values.
    grad_h = p.x.dot(p.params.w1)
    return lambda: floor_products(p.x, p.params.w1, grad_h, p.steps)


def floor_and_update_thunk(p: Problem) -> Thunk:
    grad_h = p.x.dot(p.params.w1)
    return lambda: floor_and_update(p.x, p.params.w1, grad_h, p.learning_rate, p.steps)


def torch_eager_thunk(p: Problem) -> Thunk | None:
    """PyTorch eager autograd in float64, the tutorial's loop; None if torch is not installed."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return None
    x, y = torch.tensor(p.x), torch.tensor(p.y)  # copies: torch wants writeable arrays

    def run() -> list[float]:
        w1 = torch.tensor(p.params.w1, requires_grad=True)
        w2 = torch.tensor(p.params.w2, requires_grad=True)
        losses: list[float] = []
        for _t in range(p.steps):
            # clamp(min=0) passes the gradient at h == 0, as the seed does.
            y_pred = x.mm(w1).clamp(min=0).mm(w2)
            loss = (y_pred - y).pow(2).sum()
            losses.append(float(loss.item()))
            loss.backward()
            with torch.no_grad():
                w1 -= p.learning_rate * w1.grad
                w2 -= p.learning_rate * w2.grad
                w1.grad.zero_()
                w2.grad.zero_()
        return losses

    return run


def jax_jit_thunk(p: Problem) -> Thunk | None:
    """JAX, one jitted step (value_and_grad and update) per step, float64; None if absent."""
    try:
        jax = importlib.import_module("jax")
        jnp = importlib.import_module("jax.numpy")
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    x, y = jnp.asarray(p.x), jnp.asarray(p.y)

    def loss_fn(w1: object, w2: object) -> object:
        # where(h < 0, 0, h) rather than maximum: the seed's gradient at h == 0 (factor 1).
        h = x.dot(w1)
        return jnp.square(jnp.where(h < 0, 0.0, h).dot(w2) - y).sum()

    value_and_grad = jax.value_and_grad(loss_fn, argnums=(0, 1))

    def step(w1: object, w2: object) -> tuple[object, object, object]:
        loss, (grad_w1, grad_w2) = value_and_grad(w1, w2)
        return w1 - p.learning_rate * grad_w1, w2 - p.learning_rate * grad_w2, loss

    jit_step = jax.jit(step)

    def run() -> list[float]:
        w1, w2 = jnp.asarray(p.params.w1), jnp.asarray(p.params.w2)
        losses = []
        for _t in range(p.steps):
            w1, w2, loss = jit_step(w1, w2)
            losses.append(loss)
        return [float(loss) for loss in losses]

    run()  # compile outside the timed rounds
    return run


# -- the reference tools ---------------------------------------------------------------------------


def exact_step_thunk(dims: twolayer.Dims) -> Thunk:
    """One ``twolayer.exact.step``: the exact step and every value as a ``Fraction``."""
    p = make_problem(dims, steps=1)
    return lambda: exact.step(p.params, p.x, p.y, p.learning_rate)


def dyadic_step_thunk(dims: twolayer.Dims) -> Thunk:
    """One ``twolayer.exact.dyadic_step``: the same exact arithmetic, without the Fractions."""
    p = make_problem(dims, steps=1)
    w1, w2 = p.params
    return lambda: exact.dyadic_step(w1, w2, p.x, p.y, p.learning_rate, 1.0, None)


def fast_step_thunk(dims: twolayer.Dims, spread: int = 0) -> Thunk:
    """One ``twolayer.exact.fast_step``: the same exact values, in limbs and float64 GEMMs.

    ``spread > 0`` scales every entry of the problem by its own power of two in ``2**-spread ..
    2**spread``: many limbs per entry, the engine's expensive case.
    """
    p = make_problem(dims, steps=1)
    x, y, (w1, w2) = p.x, p.y, p.params
    if spread:
        rng = np.random.default_rng(1)
        x, y, w1, w2 = (
            np.ldexp(a, rng.integers(-spread, spread + 1, size=a.shape)) for a in (x, y, w1, w2)
        )
    return lambda: exact.fast_step(w1, w2, x, y, p.learning_rate, 1.0, None)


def step_bounds_thunk(dims: twolayer.Dims) -> Thunk:
    """One ``twolayer.bounds.step_bounds`` in float64, given a ``fast_step`` result as its
    reference: the bounds alone, as the judge computes them."""
    p = make_problem(dims, steps=1)
    w1, w2 = p.params
    reference = exact.fast_step(w1, w2, p.x, p.y, p.learning_rate, 1.0, None)
    return lambda: bounds.step_bounds(p.params, p.x, p.y, p.learning_rate, reference=reference)


def default_check_thunk() -> object:
    """A whole default ``check_implementation`` of ``twolayer.zoo.reference_step``: the frozen
    cases and 200 drawn ones, half of them at sizes up to (130, 1100, 260, 20)."""
    report = conformance.check_implementation(zoo.reference_step)
    if not report.conforms:
        raise RuntimeError("the judge rejected zoo.reference_step")
    return report


def oracle_train(
    x: Array, y: Array, w1: Array, w2: Array, learning_rate: float, steps: int
) -> dict[str, Array]:
    """``twolayer``'s own step as a training implementation: the trajectory that the training
    judge reads (the loss before each update, the weights before each update and after the last)."""
    params = twolayer.Params(w1, w2)
    w1s, w2s, losses = [w1], [w2], []
    for _ in range(steps):
        loss, grads = twolayer.value_and_grad(params, x, y)
        params = twolayer.sgd_step(params, grads, learning_rate)
        losses.append(loss)
        w1s.append(params.w1)
        w2s.append(params.w2)
    return {"losses": np.array(losses), "w1": np.stack(w1s), "w2": np.stack(w2s)}


def default_training_thunk() -> object:
    """A whole default ``check_training`` of ``oracle_train``: the frozen trajectories (the
    seed's dims for 3 steps among them) and 200 drawn ones of 1 to 4 steps."""
    report = conformance.check_training(oracle_train)
    if not report.conforms:
        raise RuntimeError("the training judge rejected twolayer's own step")
    return report


def judged_case_thunk(dims: twolayer.Dims) -> Thunk:
    """Everything the conformance judge does for one drawn float64 case (``verdicts.judge_case``),
    which calls the implementation twice (``twolayer.zoo.reference_step``, a correct one),
    computes the exact step and its bounds with the implementation's ``h`` (more than one
    ``fast_step`` where the mask is open), and rounds and compares every output."""
    p = make_problem(dims, steps=1)
    w1, w2 = p.params
    case = vectors.CaseInputs(0, "bench", (), 1.0, p.x, p.y, w1, w2, p.learning_rate)
    runner = calls.Runner(zoo.reference_step, None)  # in this process, as the API's default
    judge = calls.Judge(runner, "twolayer.zoo:reference_step", "float64", 1.0)

    def run() -> object:
        verdict = verdicts.judge_case(judge, case, conformance.DRAWN, None)
        if verdict.failure is not None:  # a correct step must conform, or the timing is moot
            raise RuntimeError(f"the judge rejected zoo.reference_step: {verdict.failure.message}")
        return verdict

    return run


def call_thunk(dims: twolayer.Dims, runner: calls.Runner) -> Thunk:
    """One call of ``zoo.reference_step`` through ``runner``, its outputs read as the judge reads
    them (and its arguments compared with the case's, for mutation)."""
    p = make_problem(dims, steps=1)
    w1, w2 = p.params
    case = vectors.CaseInputs(0, "bench", (), 1.0, p.x, p.y, w1, w2, p.learning_rate)
    return lambda: runner.call(case)


def named_check_thunk() -> object:
    """``default_check_thunk``, the step given by name: a worker process imports and runs it
    (as ``twolayer check --impl`` does), started anew each time."""
    report = conformance.check_implementation("twolayer.zoo:reference_step")
    if not report.conforms:
        raise RuntimeError("the judge rejected twolayer.zoo:reference_step")
    return report


def isolation_section(rounds: int) -> dict[str, object]:
    """What the worker process costs: one call in process and through a worker, at 1 entry an
    axis and at the seed dims, and a whole default judge run both ways."""
    in_process = calls.Runner(zoo.reference_step, None)
    worker = calls.start_runner("twolayer.zoo:reference_step", "step", None)[0]
    tiny = twolayer.Dims(1, 1, 1, 1)
    thunks: dict[str, Thunk] = {
        "step call in process (1, 1, 1, 1)": call_thunk(tiny, in_process),
        "step call via worker (1, 1, 1, 1)": call_thunk(tiny, worker),
        "step call in process, seed dims": call_thunk(twolayer.SEED_DIMS, in_process),
        "step call via worker, seed dims": call_thunk(twolayer.SEED_DIMS, worker),
        DEFAULT_CHECK_ROW: default_check_thunk,
        "the same, by name (worker process)": named_check_thunk,
    }
    try:
        times = interleave(thunks, rounds)
    finally:
        worker.close()
    works = dict.fromkeys(times, "1 call")
    baseline = {name: statistics.median(t) for name, t in times.items()}
    for name in times:  # each row to its in-process twin
        twin = name.replace("via worker", "in process")
        baseline[name] = statistics.median(times[twin if twin in times else name])
    baseline["the same, by name (worker process)"] = statistics.median(times[DEFAULT_CHECK_ROW])
    table = rows(times, works, baseline)
    print_table(f"The judge's worker process, median of {rounds} rounds", table, "to in process")
    return {"rounds": rounds, "rows": [row._asdict() for row in table]}


def step_gemms(x: Array, y: Array, w1: Array, w2: Array) -> None:
    """The five float64 matrix products of one step, alone: the floor of any exact engine that
    splits them into float64 GEMMs."""
    h_relu = np.maximum(x.dot(w1), 0.0)
    grad_y_pred = 2.0 * (h_relu.dot(w2) - y)
    h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    x.T.dot(grad_h)


def step_gemms_thunk(dims: twolayer.Dims) -> Thunk:
    p = make_problem(dims, steps=1)
    return lambda: step_gemms(p.x, p.y, p.params.w1, p.params.w2)


def gradcheck_directional_thunk(dims: twolayer.Dims) -> Thunk:
    """One directional ``twolayer.gradcheck.check_gradients`` of the oracle's own gradient."""
    p = make_problem(dims, steps=1)
    _, grads = twolayer.value_and_grad(p.params, p.x, p.y)
    return lambda: gradcheck.check_gradients(p.params, p.x, p.y, grads, mode="directional")


# -- timing --------------------------------------------------------------------------------------


def interleave(thunks: dict[str, Thunk], rounds: int) -> dict[str, list[float]]:
    """Time each thunk once per round, in an order that rotates each round; milliseconds.

    One untimed call of each first (caches, lazy imports, allocator); the collector is off while
    timing, as in ``timeit``.
    """
    names = list(thunks)
    for name in names:
        thunks[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start = time.perf_counter()
                thunks[name]()
                times[name].append((time.perf_counter() - start) * 1e3)
    finally:
        if was_enabled:
            gc.enable()
    return times


class Row(NamedTuple):
    """One line of a table: the median and the least of the rounds, the median's ratio to the
    baseline, and every round's time."""

    name: str
    work: str
    median_ms: float
    min_ms: float
    ratio: float
    times_ms: list[float]


def rows(
    times: dict[str, list[float]], works: dict[str, str], baseline_ms: dict[str, float]
) -> list[Row]:
    """Rows with medians and ratios; ``baseline_ms[name]`` is the seed loop on the same work."""
    return [
        Row(
            name,
            works[name],
            statistics.median(t),
            min(t),
            statistics.median(t) / baseline_ms[name],
            t,
        )
        for name, t in times.items()
    ]


def print_table(title: str, table: Sequence[Row], ratio_label: str) -> None:
    # min and max show the spread: a wide one means the machine was busy, not a slow contender.
    print(f"\n{title}")
    print(f"  {'':40} {'work':>10} {'median ms':>10} {'min':>9} {'max':>9} {ratio_label:>14}")
    for row in table:
        print(
            f"  {row.name:40} {row.work:>10} {row.median_ms:10.2f} {row.min_ms:9.2f}"
            f" {max(row.times_ms):9.2f} {row.ratio:13.3f}x"
        )


def same_bits(a: Array, b: Array) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def train_matches_seed_loop(p: Problem) -> bool:
    """Whether ``train`` gives the seed loop's losses and final weights, bit for bit."""
    losses, w1, w2 = seed_loop(p.x, p.y, p.params.w1, p.params.w2, p.learning_rate, p.steps)
    result = twolayer.train(p.params, p.x, p.y, learning_rate=p.learning_rate, steps=p.steps)
    return (
        same_bits(result.losses, np.array(losses, dtype=np.float64).reshape(p.steps))
        and same_bits(result.params.w1, w1)
        and same_bits(result.params.w2, w2)
    )


# -- the sections ----------------------------------------------------------------------------------


def seed_run_section(rounds: int) -> dict[str, object]:
    """The seed run: train, the seed loop, the floor (and torch, jax when installed)."""
    p = make_problem(twolayer.SEED_DIMS, twolayer.SEED_STEPS)
    identical = train_matches_seed_loop(p)
    thunks: dict[str, Thunk] = {
        "seed loop (numpy, imperative)": seed_loop_thunk(p),
        "twolayer.train": train_thunk(p),
        "floor: the two large products": floor_thunk(p),
        "floor + the update of w1": floor_and_update_thunk(p),
    }
    optional = {
        "torch eager (float64, autograd)": torch_eager_thunk(p),
        "jax jit (float64)": jax_jit_thunk(p),
    }
    thunks.update({name: thunk for name, thunk in optional.items() if thunk is not None})
    times = interleave(thunks, rounds)
    seed_ms = statistics.median(times["seed loop (numpy, imperative)"])
    work = f"{p.steps} steps"
    table = rows(times, dict.fromkeys(times, work), dict.fromkeys(times, seed_ms))
    print_table(
        f"Seed run {tuple(twolayer.SEED_DIMS)}, {p.steps} steps, median of {rounds} rounds",
        table,
        "to seed loop",
    )
    for name, thunk in optional.items():
        if thunk is None:
            print(f"  {name:40} not available (not installed)")
    print(f"  twolayer.train bit-identical to the seed loop: {'yes' if identical else 'NO'}")
    return {
        "dims": list(twolayer.SEED_DIMS),
        "steps": p.steps,
        "rounds": rounds,
        "train_bit_identical_to_seed_loop": identical,
        "rows": [row._asdict() for row in table],
        "not_available": [name for name, thunk in optional.items() if thunk is None],
    }


def reference_section(rounds: int) -> dict[str, object]:
    """One exact step and one directional gradcheck, against one step of the seed loop.

    The seed loop runs ``BASELINE_STEPS`` steps at the same dims in the same rounds (one
    interleaved group per dims); one step of it is that median over ``BASELINE_STEPS`` (a single
    step alone is mostly start-up).
    """
    candidates = {
        f"exact.step {tuple(SMALL_DIMS)}": (SMALL_DIMS, exact_step_thunk(SMALL_DIMS)),
        f"exact.dyadic_step {tuple(SMALL_DIMS)}": (SMALL_DIMS, dyadic_step_thunk(SMALL_DIMS)),
        f"exact.fast_step {tuple(SMALL_DIMS)}": (SMALL_DIMS, fast_step_thunk(SMALL_DIMS)),
        "exact.step seed dims": (twolayer.SEED_DIMS, exact_step_thunk(twolayer.SEED_DIMS)),
        FAST_STEP_ROW: (twolayer.SEED_DIMS, fast_step_thunk(twolayer.SEED_DIMS)),
        f"exact.fast_step seed dims, entries * 2**±{WIDE_SPREAD}": (
            twolayer.SEED_DIMS,
            fast_step_thunk(twolayer.SEED_DIMS, WIDE_SPREAD),
        ),
        FLOOR_ROW: (
            twolayer.SEED_DIMS,
            step_gemms_thunk(twolayer.SEED_DIMS),
        ),
        STEP_BOUNDS_ROW: (twolayer.SEED_DIMS, step_bounds_thunk(twolayer.SEED_DIMS)),
        JUDGED_CASE_ROW: (twolayer.SEED_DIMS, judged_case_thunk(twolayer.SEED_DIMS)),
        DEFAULT_CHECK_ROW: (twolayer.SEED_DIMS, default_check_thunk),
        DEFAULT_TRAINING_ROW: (twolayer.SEED_DIMS, default_training_thunk),
        "gradcheck directional seed dims": (
            twolayer.SEED_DIMS,
            gradcheck_directional_thunk(twolayer.SEED_DIMS),
        ),
    }
    # One interleaved group per dims, each with its own seed loop: the seed dims' loop keeps
    # BLAS threads busy on the other core, which would slow the small dims' pure-Python rows.
    groups: dict[twolayer.Dims, dict[str, Thunk]] = {}
    baseline_of: dict[str, str] = {}
    for name, (dims, thunk) in candidates.items():
        baseline = f"seed loop {tuple(dims)}"
        group = groups.setdefault(
            dims, {baseline: seed_loop_thunk(make_problem(dims, BASELINE_STEPS))}
        )
        group[name] = thunk
        baseline_of[name] = baseline
    times = {name: t for group in groups.values() for name, t in interleave(group, rounds).items()}
    median_ms = {name: statistics.median(t) for name, t in times.items()}
    step_ms = {name: ms / BASELINE_STEPS for name, ms in median_ms.items()}
    works = dict.fromkeys(times, "1 call") | dict.fromkeys(
        baseline_of.values(), f"{BASELINE_STEPS} steps"
    )
    table = rows(
        times,
        works,
        # A baseline row is the seed loop on its own work: ratio 1.
        {
            name: step_ms[baseline_of[name]] if name in baseline_of else median_ms[name]
            for name in times
        },
    )
    print_table(f"Reference tools, median of {rounds} rounds", table, "to 1 seed step")
    to_floor = print_to_floor(times)
    return {"rounds": rounds, "rows": [row._asdict() for row in table], "to_floor": to_floor}


def print_to_floor(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """The seed dims' exact engine, bounds and judge beside the floor of the step's GEMMs."""
    floor = times[FLOOR_ROW]
    print(f"\n  At the seed dims, to the floor ({FLOOR_ROW}): ratios of medians and of minimums")
    header = f"{'median ms':>10} {'min':>9} {'target':>9} {'median/floor':>13} {'min/floor':>10}"
    print(f"  {'':40} {header}")
    ratios: dict[str, dict[str, float]] = {}
    for name, target in ((FLOOR_ROW, None), *TARGETS_MS.items()):
        t = times[name]
        median, least = statistics.median(t), min(t)
        ratios[name] = {
            "median_ms": median,
            "min_ms": least,
            "median_to_floor": median / statistics.median(floor),
            "min_to_floor": least / min(floor),
        }
        goal = "" if target is None else f"{target:.0f}"
        print(
            f"  {name:40} {median:10.2f} {least:9.2f} {goal:>9}"
            f" {ratios[name]['median_to_floor']:12.1f}x {ratios[name]['min_to_floor']:9.1f}x"
        )
    return ratios


def scaling_section(rounds: int) -> dict[str, object]:
    """Time per step of train, the seed loop and the floor as batch and d_in grow."""
    seed = twolayer.SEED_DIMS
    grid = [seed._replace(batch=batch) for batch in SCALING_BATCHES] + [
        seed._replace(d_in=d_in) for d_in in SCALING_D_INS if d_in != seed.d_in
    ]
    print(f"\nScaling, ms per step, median of {rounds} rounds (hidden {seed.hidden}, d_out 10)")
    print(
        f"  {'batch':>6} {'d_in':>6} {'steps':>6} {'train':>9} {'seed loop':>10} {'floor':>9}"
        f" {'train/floor':>12} {'seed/floor':>11} {'train/seed':>11} {'identical':>10}"
    )
    points: list[dict[str, object]] = []
    all_identical = True
    for dims in grid:
        # About as much work per call as 100 seed steps, and never fewer than 10 steps.
        steps = max(10, round(100 * seed.batch * seed.d_in / (dims.batch * dims.d_in)))
        p = make_problem(dims, steps)
        identical = train_matches_seed_loop(p)
        all_identical = all_identical and identical
        times = interleave(
            {"train": train_thunk(p), "seed": seed_loop_thunk(p), "floor": floor_thunk(p)}, rounds
        )
        per_step = {name: statistics.median(t) / steps for name, t in times.items()}
        print(
            f"  {dims.batch:6} {dims.d_in:6} {steps:6} {per_step['train']:9.3f}"
            f" {per_step['seed']:10.3f} {per_step['floor']:9.3f}"
            f" {per_step['train'] / per_step['floor']:11.3f}x"
            f" {per_step['seed'] / per_step['floor']:10.3f}x"
            f" {per_step['train'] / per_step['seed']:10.3f}x {'yes' if identical else 'NO':>10}"
        )
        points.append(
            {
                "dims": list(dims),
                "steps": steps,
                "ms_per_step": per_step,
                "train_bit_identical_to_seed_loop": identical,
                "times_ms": times,
            }
        )
    return {"rounds": rounds, "points": points, "all_bit_identical": all_identical}


def traced_peak(run: Thunk) -> int:
    """Peak bytes that ``run`` allocates above what was allocated before, by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def memory_section() -> dict[str, object]:
    """Peak memory of train and of the seed loop at the seed dims, for 500 and 5,000 steps."""
    print("\nPeak memory (tracemalloc) at the seed dims, KiB")
    print(f"  {'':16} {'steps':>6} {'peak':>10} {'losses':>10} {'peak - losses':>14}")
    measured: list[dict[str, object]] = []
    extra: dict[str, list[int]] = {}
    for steps in MEMORY_STEPS:
        p = make_problem(twolayer.SEED_DIMS, steps)
        losses_bytes = steps * np.dtype(np.float64).itemsize
        for name, thunk in (("twolayer.train", train_thunk(p)), ("seed loop", seed_loop_thunk(p))):
            peak = traced_peak(thunk)
            extra.setdefault(name, []).append(peak - losses_bytes)
            print(
                f"  {name:16} {steps:6} {peak / 1024:10.1f} {losses_bytes / 1024:10.1f}"
                f" {(peak - losses_bytes) / 1024:14.1f}"
            )
            measured.append(
                {
                    "name": name,
                    "steps": steps,
                    "peak_bytes": peak,
                    "losses_bytes": losses_bytes,
                    "beyond_losses_bytes": peak - losses_bytes,
                }
            )
    growth = {name: values[-1] - values[0] for name, values in extra.items()}
    for name, grew in growth.items():
        print(
            f"  {name}: beyond the losses array, the peak grows by {grew} bytes from "
            f"{MEMORY_STEPS[0]} to {MEMORY_STEPS[-1]} steps"
        )
    return {"peaks": measured, "growth_beyond_losses_bytes": growth}


def environment() -> dict[str, object]:
    """What the figures depend on: the machine (``records.machine``: CPU, cores, Python, numpy,
    its BLAS), twolayer's version and the BLAS threads asked for in the environment."""
    threads = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    return {
        **records.machine(),
        "twolayer": twolayer.__version__,
        "thread_env": {name: os.environ.get(name) for name in threads},
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rounds", type=int, default=MIN_ROUNDS, help=f"rounds per median (>= {MIN_ROUNDS})"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help=(
            "where to write the record (default: benchmarks/results/scratch/bench-<UTC time>.json,"
            " which git ignores; nox -s bench writes benchmarks/results/bench.json, which the docs"
            " quote)"
        ),
    )
    parser.add_argument("--skip-reference", action="store_true", help="no exact/gradcheck rows")
    parser.add_argument(
        "--only-reference", action="store_true", help="the reference tools' table alone"
    )
    parser.add_argument(
        "--only-isolation", action="store_true", help="the judge's worker process table alone"
    )
    parser.add_argument("--skip-scaling", action="store_true", help="no scaling table")
    parser.add_argument("--skip-memory", action="store_true", help="no memory table")
    args = parser.parse_args(argv)
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be >= {MIN_ROUNDS} for a median worth reporting")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section, print the tables, write the record; status 1 if train's bits differ."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(arguments)
    env = environment()
    print(f"twolayer {env['twolayer']}, numpy {env['numpy']}, python {env['python']}, ", end="")
    print(f"{env['cores']} CPUs, thread env {env['thread_env']}")
    command = " ".join(["python benchmarks/bench.py", *arguments])
    results: dict[str, object] = {}
    if args.only_reference:
        results["reference"] = reference_section(args.rounds)
        return _write(command, env, results, args.json)
    if args.only_isolation:
        results["isolation"] = isolation_section(args.rounds)
        return _write(command, env, results, args.json)
    seed_run = seed_run_section(args.rounds)
    results["seed_run"] = seed_run
    if not args.skip_reference:
        results["reference"] = reference_section(args.rounds)
    identical = bool(seed_run["train_bit_identical_to_seed_loop"])
    if not args.skip_scaling:
        scaling = scaling_section(args.rounds)
        results["scaling"] = scaling
        identical = identical and bool(scaling["all_bit_identical"])
    if not args.skip_memory:
        results["memory"] = memory_section()
    _write(command, env, results, args.json)
    return 0 if identical else 1


def _write(
    command: str, env: dict[str, object], results: dict[str, object], json_path: Path | None
) -> int:
    """Write the record (``records.record``'s fields; the machine with the thread settings)."""
    document = records.record(command, results) | {"machine": env}
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = records.write(json_path or RESULTS_DIR / "scratch" / f"bench-{stamp}.json", document)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
