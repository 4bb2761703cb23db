"""Calling the implementation under test: in this process or in a worker, and loading it by name.

``Runner`` calls a step or a training loop on fresh copies of a case's arguments, in this
process or in a worker process of ``twolayer.isolation`` (``start_runner`` picks which; the
worker's side is ``worker_load`` and ``worker_answer``), and turns whatever it raises or returns
into outputs or a one-line message. ``load_implementation`` and ``load_training`` import an
implementation named ``"module:attr"``; ``Judge`` and ``TrainJudge`` hold what is fixed across
one run of the judge.
"""

import importlib
import math
import re
import sys
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from twolayer import isolation
from twolayer.cases import CaseInputs
from twolayer.comparison import UnusableResultError, read_outputs, read_trajectory
from twolayer.report import describe_error, printable

StepFunction = Callable[
    [
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        float,
    ],
    object,
]
"""An implementation under test: ``step(x, y, w1, w2, learning_rate) -> {name: value}``.

Its result is typed ``object`` because the judge takes whatever comes back and judges it."""


TrainFunction = Callable[
    [
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        float,
        int,
    ],
    object,
]
"""An implementation of training: ``train(x, y, w1, w2, learning_rate, steps) -> {name: value}``.

Its result is typed ``object`` because the judge takes whatever comes back and judges it."""


def fresh(case: CaseInputs) -> tuple[NDArray[np.float64], ...]:
    """Writeable copies of the case's ``x, y, w1, w2``, for one call of the implementation."""
    return tuple(np.array(a, dtype=np.float64) for a in (case.x, case.y, case.w1, case.w2))


def _changed(before: CaseInputs, arguments: tuple[NDArray[np.float64], ...]) -> list[str]:
    """The names of the arguments that no longer hold their values, bit for bit."""
    names = ("x", "y", "w1", "w2")
    originals = (before.x, before.y, before.w1, before.w2)
    return [
        name
        for name, original, argument in zip(names, originals, arguments, strict=True)
        if argument.shape != original.shape
        or not np.array_equal(argument.view(np.int64), original.view(np.int64))
    ]


Called = tuple[dict[str, NDArray[np.float64]] | str, list[str]]
"""One call of the implementation: its outputs read as float64 (or a message saying why they
cannot be), and the names of the arguments that it changed in place."""


def _invoke(
    what: str,
    call: Callable[[], object],
    read: Callable[[object], dict[str, NDArray[np.float64]]],
    *,
    interruptible: bool,
) -> dict[str, NDArray[np.float64]] | str:
    """Call the implementation and read what it returned, or say why not, in one line.

    Whatever it raises is a verdict, ``BaseException`` too (``SystemExit``, ``GeneratorExit``,
    a test runner's outcome), except ``KeyboardInterrupt`` where ``interruptible``: in this
    process that is the user's Ctrl-C, which stops the judge (a step that raises it itself
    stops it too). numpy's error state (``numpy.seterr``, ``numpy.seterrcall``) is restored
    after the call, whatever the implementation set.
    """
    errors, handler = np.geterr(), np.geterrcall()
    try:
        return read(call())
    except UnusableResultError as error:
        return str(error)
    except KeyboardInterrupt as error:
        if interruptible:
            raise
        return f"{what} raised {describe_error(error)}"
    except BaseException as error:  # the implementation's own failure is a verdict, not a crash
        return f"{what} raised {describe_error(error)}"
    finally:
        np.seterr(**errors)
        np.seterrcall(handler)


def _invoke_step(
    step: Callable[..., object], case: CaseInputs, *, interruptible: bool = True
) -> Called:
    """Call ``step`` on fresh copies of the case's arguments, in this process."""
    arguments = fresh(case)
    x, y, w1, w2 = arguments
    outputs = _invoke(
        "step",
        lambda: step(x, y, w1, w2, case.learning_rate),
        lambda result: read_outputs(result, case),
        interruptible=interruptible,
    )
    return outputs, [] if isinstance(outputs, str) else _changed(case, arguments)


def _invoke_train(
    train: Callable[..., object], case: CaseInputs, steps: int, *, interruptible: bool = True
) -> Called:
    """Call ``train`` on fresh copies of the case's arguments, in this process."""
    arguments = fresh(case)
    x, y, w1, w2 = arguments
    trajectory = _invoke(
        "train",
        lambda: train(x, y, w1, w2, case.learning_rate, steps),
        lambda result: read_trajectory(result, case, steps),
        interruptible=interruptible,
    )
    return trajectory, [] if isinstance(trajectory, str) else _changed(case, arguments)


class Runner:
    """Calls the implementation on a case: in this process (``function``), or in a worker
    process that the judge stops when a call outlasts its timeout (``worker``)."""

    def __init__(
        self, function: Callable[..., object] | None, worker: isolation.Worker | None
    ) -> None:
        self.function, self.worker = function, worker

    def call(self, case: CaseInputs, steps: int | None = None) -> Called:
        """A step's outputs on ``case`` (a trajectory of ``steps`` updates if given).

        Raises ``isolation.StoppedError`` where the worker gave no answer.
        """
        if self.worker is not None:
            return _decode_called(self.worker.request((case, steps)))
        if self.function is None:
            raise ValueError("a runner needs a function or a worker")
        if steps is None:
            return _invoke_step(self.function, case)
        return _invoke_train(self.function, case, steps)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


def _encode_called(called: Called) -> object:
    """A call's result as plain builtins, which the judge reads from a worker (no pickled class)."""
    outputs, changed = called
    if isinstance(outputs, str):
        return outputs, changed
    encoded = {
        name: (values.shape, values.astype("<f8").tobytes()) for name, values in outputs.items()
    }
    return encoded, changed


def _decode_called(answer: object) -> Called:
    """What ``_encode_called`` wrote, checked, or ``isolation.StoppedError``."""
    if isinstance(answer, tuple) and len(answer) == 2:
        outputs, changed = answer
        if isinstance(changed, list) and all(isinstance(name, str) for name in changed):
            names = [str(name) for name in changed]
            if isinstance(outputs, str):
                return outputs, names
            if isinstance(outputs, dict):
                decoded: dict[str, NDArray[np.float64]] = {}
                for name, entry in outputs.items():
                    shape, data = entry
                    values = np.frombuffer(data, dtype="<f8").astype(np.float64)
                    decoded[str(name)] = values.reshape(tuple(int(n) for n in shape))
                return decoded, names
    raise isolation.StoppedError("answered with something that is not the judge's reply")


class Judge(NamedTuple):
    """What is fixed across one run of the judge."""

    runner: "Runner | None"  # None when judging a results file
    implementation: str
    arithmetic: str
    relu_grad_at_zero: float


class TrainJudge(NamedTuple):
    """What is fixed across one run of the training judge."""

    runner: Runner | None  # None when judging the trajectories of a results file
    implementation: str
    arithmetic: str
    relu_grad_at_zero: float


def check_timeout(timeout: object) -> float | None:
    """``timeout`` as a float of seconds > 0 (None: the default), or ValueError/TypeError."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"timeout must be a number of seconds or None; got {type(timeout).__name__}"
        )
    try:
        seconds = float(timeout)
    except OverflowError:
        seconds = math.inf
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"timeout must be a finite number of seconds > 0; got {timeout!r}")
    return seconds


def start_runner(
    implementation: Callable[..., object] | str, what: str, timeout: float | None
) -> tuple[Runner, str]:
    """How to call ``implementation``, and its name for the report.

    A name ``"module:attr"`` is imported by a spawned worker process; a callable runs in this
    process where ``timeout`` is None, else in a forked worker. Raises ValueError where a name is
    malformed or does not import, TypeError where ``implementation`` is neither.
    """
    if isinstance(implementation, str):
        _check_spec(implementation, what)
        limit = isolation.DEFAULT_TIMEOUT_S if timeout is None else timeout
        return Runner(None, isolation.spawn(implementation, what, limit)), implementation
    if not callable(implementation):
        raise TypeError(
            f"{what} must be a callable or a 'module:attr' name; got "
            f"{printable(type(implementation).__qualname__)}"
        )
    name = implementation_name(implementation)
    if timeout is None:
        return Runner(implementation, None), name

    def answer(request: object) -> object:
        return worker_answer(implementation, request)

    return Runner(None, isolation.fork(answer, timeout)), name


def implementation_name(step: object) -> str:
    """Name ``step`` as ``module:qualified.name`` where it can be imported so, else its repr.

    The name is printable (``printable``): a callable's names and repr are its own code's.
    """
    try:
        module = getattr(step, "__module__", None)
        name = getattr(step, "__qualname__", None)
        if isinstance(module, str) and isinstance(name, str) and "<" not in name:
            return printable(f"{module}:{name}")
        return printable(repr(step))
    except KeyboardInterrupt:
        raise
    except BaseException:  # a hostile __getattr__ or __repr__
        return f"<a {printable(type(step).__qualname__)}>"


SPEC = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _check_spec(spec: str, what: str) -> None:
    if not SPEC.fullmatch(spec):
        raise ValueError(
            f"the implementation must be module:attr, e.g. mypackage.mymodule:{what}; "
            f"got {printable(repr(spec))}"
        )


def _load(spec: str, what: str) -> Callable[..., object]:
    _check_spec(spec, what)
    module_name, _, attribute = spec.partition(":")
    sys.path.insert(0, "")
    try:
        target: object = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # importing runs the module's code: SystemExit too
        raise ValueError(f"cannot import {module_name}: {describe_error(error)}") from None
    finally:
        sys.path.remove("")
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{module_name} has no attribute {attribute}") from None
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # a module's __getattr__ or a property is its own code
            raise ValueError(
                f"looking up {attribute} in {module_name} raised {describe_error(error)}"
            ) from None
    if not callable(target):
        raise ValueError(
            f"{spec} is a {printable(type(target).__qualname__)}, not a callable {what}"
        )
    return target


def load_implementation(spec: str) -> StepFunction:
    """Import the implementation named ``"module:attr"`` (``attr`` may be dotted).

    The module is imported with the current directory first on ``sys.path`` (as ``python -m``
    does), so that ``mystep:step`` finds ``./mystep.py``. Importing a module runs its code: name
    only modules that you trust, as with ``python -m``.

    Args:
        spec: ``"package.module:function"``, e.g. ``"twolayer.zoo:reference_step"``.

    Returns:
        The callable, for ``check_implementation``.

    Raises:
        ValueError: a malformed spec, a module that does not import (with its error), or an
            attribute that is missing or not callable.

    >>> load_implementation("twolayer.zoo:reference_step").__name__
    'reference_step'
    """
    return _load(spec, "step")


def load_training(spec: str) -> TrainFunction:
    """Import the training implementation named ``"module:attr"``, as ``load_implementation``.

    Raises:
        ValueError: as ``load_implementation``.
    """
    return _load(spec, "train")


def worker_load(spec: str, what: str) -> Callable[..., object]:
    """In a spawned worker: import ``spec``, or ValueError in one line (``_load``'s, or why the
    import raised what ``_load`` lets through)."""
    try:
        return _load(spec, what)
    except ValueError:
        raise
    except BaseException as error:  # a KeyboardInterrupt here is the module's own: no ^C comes
        raise ValueError(
            f"cannot import {spec.partition(':')[0]}: {describe_error(error)}"
        ) from None


def worker_answer(function: Callable[..., object], request: object) -> object:
    """In a worker: the answer to the judge's request ``(case, steps)``, as builtins.

    A KeyboardInterrupt is the implementation's own here (a worker ignores SIGINT): a verdict.
    """
    if not (isinstance(request, tuple) and len(request) == 2):
        raise TypeError(f"a worker's request is (case, steps); got {type(request).__qualname__}")
    case, steps = request
    if not isinstance(case, CaseInputs) or not (steps is None or isinstance(steps, int)):
        raise TypeError("a worker's request is (case, steps)")
    if steps is None:
        return _encode_called(_invoke_step(function, case, interruptible=False))
    return _encode_called(_invoke_train(function, case, steps, interruptible=False))
