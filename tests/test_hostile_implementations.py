"""The judge treats an implementation as untrusted code: each attack gets a verdict or one line.

An implementation that exits, raises anything, never returns, returns garbage, changes its
arguments, prints megabytes or leaves numpy's error state behind gets a verdict (a failing case
with a one-line reason, exit status 1) or a usage error (one line on stderr, exit status 2):
never exit status 0 for what was not judged, never a traceback, never a hang. Each attack is a
small module written to a temporary folder and judged through ``twolayer check`` (whose worker
process imports it) or through the API, one test id each.
"""

import json
import math
import signal
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from twolayer import calls, conformance, isolation, zoo
from twolayer.cli import main
from twolayer.testing import assert_conforms
from twolayer.vectors import build_cases

TIMEOUT = "2"  # seconds: the attacks that never return cost this each, not DEFAULT_TIMEOUT_S
STOPPED = "; no further case was judged"
WORKER_STOPPED = "(its worker process was stopped)"
RESULT_KEYS = "loss, grad_w1, grad_w2, w1_next, w2_next (and optionally h)"

Array = NDArray[np.float64]


class Judged:
    """What one ``twolayer check`` run gave: its exit status, stdout and stderr."""

    def __init__(self, status: int, out: str, err: str) -> None:
        self.status, self.out, self.err = status, out, err

    def failure(self) -> Mapping[str, object]:
        """The first failure of the only report of a ``--json`` run."""
        document = json.loads(self.out)
        (report,) = document["reports"]
        failure: Mapping[str, object] = report["failures"][0]
        return failure


@pytest.fixture
def judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Judged]:
    """Write ``source`` as ./hostile.py and judge ``hostile:<attr>`` through the command line."""

    def run(source: str, *flags: str, kind: str = "--impl", attr: str = "step") -> Judged:
        (tmp_path / "hostile.py").write_text(textwrap.dedent(source))
        monkeypatch.chdir(tmp_path)
        argv = ["check", kind, f"hostile:{attr}", "--max-examples", "1", "--json", *flags]
        status = main(argv)
        out, err = capsys.readouterr()
        return Judged(status, out, err)

    return run


def usage_error(result: Judged, message: str) -> None:
    assert (result.status, result.out) == (2, "")
    assert result.err == f"twolayer: error: {message}\n"


def failed_with(result: Judged, outputs: list[str], message: str) -> None:
    assert (result.status, result.err) == (1, "")
    failure = result.failure()
    assert failure["case"] == "case 1"  # the first frozen case: the attack is met at once
    assert failure["outputs"] == outputs
    assert failure["message"] == message


CORRECT = """
from twolayer.zoo import reference_step
"""

# -- the import ----------------------------------------------------------------------------------


def test_an_import_that_calls_sys_exit_0_is_a_usage_error(judge: Callable[..., Judged]) -> None:
    result = judge("import sys\nsys.exit(0)\n")
    usage_error(result, "cannot import hostile: SystemExit: 0")


def test_an_import_that_ends_its_process_with_status_0_is_a_usage_error(
    judge: Callable[..., Judged],
) -> None:
    result = judge("import os\nos._exit(0)\n")
    usage_error(result, "cannot import hostile: importing it ended its process (exit status 0)")


def test_an_import_that_never_returns_is_stopped_after_the_timeout(
    judge: Callable[..., Judged],
) -> None:
    result = judge("import time\ntime.sleep(10**6)\n", "--timeout", TIMEOUT)
    usage_error(
        result, f"cannot import hostile: importing it did not return within 2 s {WORKER_STOPPED}"
    )


def test_an_import_that_raises_keyboard_interrupt_is_a_usage_error(
    judge: Callable[..., Judged],
) -> None:
    result = judge("raise KeyboardInterrupt\n")
    usage_error(result, "cannot import hostile: KeyboardInterrupt")


def test_an_import_that_raises_a_base_exception_subclass_is_a_usage_error(
    judge: Callable[..., Judged],
) -> None:
    result = judge("class Hostile(BaseException):\n    pass\nraise Hostile('boom')\n")
    usage_error(result, "cannot import hostile: Hostile: boom")


def test_an_import_that_prints_megabytes_leaves_the_json_document_whole(
    judge: Callable[..., Judged],
) -> None:
    source = "import sys\nprint('x' * 4_000_000)\nsys.stderr.write('y' * 4_000_000)\n" + CORRECT
    result = judge(source, attr="reference_step")
    assert (result.status, result.err) == (0, "")
    assert json.loads(result.out)["conforms"] is True


def test_an_attribute_lookup_that_raises_is_a_usage_error(judge: Callable[..., Judged]) -> None:
    source = "def __getattr__(name):\n    raise RuntimeError('no ' + name)\n"
    usage_error(judge(source), "looking up step in hostile raised RuntimeError: no step")


def test_an_attribute_lookup_that_calls_sys_exit_is_a_usage_error(
    judge: Callable[..., Judged],
) -> None:
    source = "import sys\ndef __getattr__(name):\n    sys.exit(3)\n"
    usage_error(judge(source), "looking up step in hostile raised SystemExit: 3")


# -- the step ending or leaving its process ------------------------------------------------------


def test_a_step_that_calls_sys_exit_0_fails_its_case(judge: Callable[..., Judged]) -> None:
    result = judge("import sys\ndef step(*args):\n    sys.exit(0)\n")
    failed_with(result, ["step"], "step raised SystemExit: 0")


def test_a_step_that_ends_its_process_with_status_0_fails_and_ends_the_run(
    judge: Callable[..., Judged],
) -> None:
    result = judge("import os\ndef step(*args):\n    os._exit(0)\n")
    failed_with(result, ["step"], f"step ended its process (exit status 0){STOPPED}")
    counts = json.loads(result.out)["reports"][0]["counts"]
    assert (counts["frozen_cases"], counts["drawn_cases"]) == (1, 0)


def test_a_step_that_crashes_with_sigsegv_fails_and_ends_the_run(
    judge: Callable[..., Judged],
) -> None:
    source = "import os, signal\ndef step(*args):\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
    result = judge(source)
    failed_with(result, ["step"], f"step ended its process (killed by signal SIGSEGV){STOPPED}")


def test_a_step_that_sleeps_forever_is_stopped_after_the_timeout(
    judge: Callable[..., Judged],
) -> None:
    result = judge("import time\ndef step(*args):\n    time.sleep(10**6)\n", "--timeout", TIMEOUT)
    failed_with(result, ["step"], f"step did not return within 2 s {WORKER_STOPPED}{STOPPED}")


def test_the_reproducer_of_a_step_that_never_returns_ends_after_the_timeout_too(
    judge: Callable[..., Judged], capsys: pytest.CaptureFixture[str]
) -> None:
    result = judge("import time\ndef step(*args):\n    time.sleep(10**6)\n", "--timeout", TIMEOUT)
    snippet = str(result.failure()["snippet"])
    assert "step = 'hostile:step'  # a worker process runs it" in snippet
    exec(snippet, {})  # the judge's own snippet, run as a user would run it
    printed = capsys.readouterr().out
    assert printed.startswith("hostile:step: DOES NOT CONFORM")
    assert f"step did not return within 2 s {WORKER_STOPPED}{STOPPED}" in printed


def test_a_step_that_loops_forever_ignoring_signals_is_stopped_after_the_timeout(
    judge: Callable[..., Judged],
) -> None:
    source = """
    import signal
    def step(*args):
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
            signal.signal(number, signal.SIG_IGN)
        while True:
            pass
    """
    result = judge(source, "--timeout", TIMEOUT)
    failed_with(result, ["step"], f"step did not return within 2 s {WORKER_STOPPED}{STOPPED}")


def test_a_step_that_hangs_on_its_second_call_is_blamed_for_its_state(
    judge: Callable[..., Judged],
) -> None:
    source = """
    import time
    from twolayer.zoo import reference_step
    calls = []
    def step(*args):
        calls.append(1)
        if len(calls) > 1:
            time.sleep(10**6)
        return reference_step(*args)
    """
    result = judge(source, "--timeout", TIMEOUT)
    message = "called a second time on the same inputs, step did not return within 2 s"
    failed_with(result, ["state"], f"{message} {WORKER_STOPPED}{STOPPED}")


# -- the step raising --------------------------------------------------------------------------


def test_a_step_that_raises_keyboard_interrupt_in_its_worker_fails_its_case(
    judge: Callable[..., Judged],
) -> None:
    result = judge("def step(*args):\n    raise KeyboardInterrupt\n")
    failed_with(result, ["step"], "step raised KeyboardInterrupt")


def test_a_step_that_raises_generator_exit_fails_its_case(judge: Callable[..., Judged]) -> None:
    result = judge("def step(*args):\n    raise GeneratorExit('closed')\n")
    failed_with(result, ["step"], "step raised GeneratorExit: closed")


def test_a_step_that_raises_a_base_exception_subclass_fails_its_case(
    judge: Callable[..., Judged],
) -> None:
    source = (
        "class Hostile(BaseException):\n    pass\ndef step(*args):\n    raise Hostile('boom')\n"
    )
    failed_with(judge(source), ["step"], "step raised Hostile: boom")


def test_an_exception_message_with_terminal_controls_is_escaped(
    judge: Callable[..., Judged],
) -> None:
    source = (
        "def step(*args):\n    raise ValueError('\\x1b[2J\\x1b[31mcleared\\nsecond line\\u202e')\n"
    )
    result = judge(source)
    failed_with(
        result, ["step"], "step raised ValueError: \\x1b[2J\\x1b[31mcleared\\nsecond line\\u202e"
    )


def test_an_exception_type_named_with_control_characters_is_escaped(
    judge: Callable[..., Judged],
) -> None:
    source = "def step(*args):\n    raise type('\\x1b[5mBlink', (Exception,), {})('x')\n"
    failed_with(judge(source), ["step"], "step raised \\x1b[5mBlink: x")


def test_an_exception_message_of_megabytes_is_cut_to_one_short_line(
    judge: Callable[..., Judged],
) -> None:
    source = "def step(*args):\n    raise ValueError('z' * 3_000_000)\n"
    kept = conformance.printable("z" * 3_000_000)
    assert kept == "z" * 400 + f"... ({3_000_000 - 400} more characters)"
    failed_with(judge(source), ["step"], f"step raised ValueError: {kept}")


def test_an_exception_whose_str_raises_is_still_named(judge: Callable[..., Judged]) -> None:
    source = """
    class Hostile(Exception):
        def __str__(self):
            raise RuntimeError('no text')
    def step(*args):
        raise Hostile()
    """
    failed_with(judge(source), ["step"], "step raised Hostile: <its str() raised RuntimeError>")


# -- the step's result -------------------------------------------------------------------------


def test_a_step_that_returns_a_generator_fails_its_case(judge: Callable[..., Judged]) -> None:
    source = "def step(*args):\n    yield {}\n"
    message = f"step returned generator; expected a mapping with keys {RESULT_KEYS}"
    failed_with(judge(source), ["step"], message)


def test_a_step_that_returns_none_fails_its_case(judge: Callable[..., Judged]) -> None:
    message = f"step returned NoneType; expected a mapping with keys {RESULT_KEYS}"
    failed_with(judge("def step(*args):\n    return None\n"), ["step"], message)


def test_a_step_that_returns_nan_fails_its_case(judge: Callable[..., Judged]) -> None:
    source = """
    from twolayer.zoo import reference_step
    def step(*args):
        return {**reference_step(*args), "loss": float("nan")}
    """
    failed_with(judge(source), ["step"], "loss is nan; every output must be finite")


def test_a_step_that_returns_object_arrays_fails_its_case(judge: Callable[..., Judged]) -> None:
    source = """
    import numpy as np
    from twolayer.zoo import reference_step
    def step(*args):
        return {**reference_step(*args), "loss": np.array([object()])}
    """
    message = "loss has dtype object; expected real floating-point values"
    failed_with(judge(source), ["step"], message)


def test_a_result_whose_lookup_calls_sys_exit_fails_its_case(
    judge: Callable[..., Judged],
) -> None:
    source = """
    import sys
    class Result(dict):
        def __contains__(self, key):
            sys.exit(1)
    def step(*args):
        return Result()
    """
    failed_with(judge(source), ["step"], "reading step's result raised SystemExit: 1")


def test_a_result_whose_conversion_never_returns_is_stopped(
    judge: Callable[..., Judged],
) -> None:
    source = """
    import time
    from twolayer.zoo import reference_step
    class Slow:
        def __array__(self, dtype=None, copy=None):
            time.sleep(10**6)
    def step(*args):
        return {**reference_step(*args), "loss": Slow()}
    """
    result = judge(source, "--timeout", TIMEOUT)
    failed_with(result, ["step"], f"step did not return within 2 s {WORKER_STOPPED}{STOPPED}")


def test_a_step_that_changes_its_argument_in_place_fails_its_case(
    judge: Callable[..., Judged],
) -> None:
    source = """
    from twolayer.zoo import reference_step
    def step(x, y, w1, w2, learning_rate):
        outputs = reference_step(x.copy(), y, w1, w2, learning_rate)
        x[...] = 0.0
        return outputs
    """
    message = "step changed its argument(s) x in place; a caller's data would change under it"
    failed_with(judge(source), ["inputs"], message)


def test_a_step_that_prints_megabytes_leaves_the_json_document_whole(
    judge: Callable[..., Judged],
) -> None:
    source = """
    import sys
    from twolayer.zoo import reference_step
    def step(*args):
        print("\\x1b[2J" + "x" * 1_000_000)
        sys.stderr.write("y" * 1_000_000)
        return reference_step(*args)
    """
    result = judge(source)
    assert (result.status, result.err) == (0, "")
    document = json.loads(result.out)
    assert document["conforms"] is True
    assert document["reports"][0]["counts"]["frozen_cases"] == len(build_cases())


def test_a_step_that_sets_numpy_to_raise_is_judged_under_the_judges_own_error_state(
    judge: Callable[..., Judged],
) -> None:
    # Left in force, numpy.seterr(all="raise") makes the judge's own reading of the next
    # outputs raise FloatingPointError (a traceback before the worker restored it).
    source = """
    import numpy as np
    from twolayer.zoo import reference_step
    def step(*args):
        np.seterr(all="raise")
        return reference_step(*args)
    """
    result = judge(source)
    assert (result.status, result.err) == (0, "")
    assert json.loads(result.out)["conforms"] is True


def test_a_stateful_step_is_still_caught_in_its_worker(judge: Callable[..., Judged]) -> None:
    source = """
    from twolayer.zoo import reference_step
    calls = []
    def step(*args):
        calls.append(1)
        outputs = reference_step(*args)
        return {**outputs, "loss": outputs["loss"] * (1 + 1e-3 * (len(calls) % 2))}
    """
    result = judge(source)
    assert (result.status, result.err) == (1, "")
    failure = result.failure()
    assert failure["outputs"] == ["state"]
    assert str(failure["message"]).startswith("stateful: called a second time on the same inputs")


# -- training loops ------------------------------------------------------------------------------


def test_a_training_loop_that_sleeps_forever_is_stopped_after_the_timeout(
    judge: Callable[..., Judged],
) -> None:
    source = "import time\ndef train(*args):\n    time.sleep(10**6)\n"
    result = judge(source, "--timeout", TIMEOUT, kind="--train", attr="train")
    failed_with(result, ["step"], f"train did not return within 2 s {WORKER_STOPPED}{STOPPED}")


def test_a_training_loop_that_calls_sys_exit_fails_its_case(
    judge: Callable[..., Judged],
) -> None:
    source = "import sys\ndef train(*args):\n    sys.exit(0)\n"
    result = judge(source, kind="--train", attr="train")
    failed_with(result, ["step"], "train raised SystemExit: 0")


def test_a_timeout_that_is_not_a_positive_number_is_a_usage_error(
    judge: Callable[..., Judged],
) -> None:
    result = judge(CORRECT, "--timeout", "nan", attr="reference_step")
    assert (result.status, result.out) == (2, "")
    assert result.err == (
        "twolayer check: error: argument --timeout: expected a number of seconds > 0, got 'nan' "
        "(see twolayer check --help)\n"
    )


# -- the API: callables in this process, or in a forked worker with timeout= ----------------------

ONE_CASE = build_cases()[0]


def check_one(step: Callable[..., object], timeout: float | None = None) -> conformance.Failure:
    """Judge ``step`` on the first frozen case; return its failure."""
    c = ONE_CASE
    report = conformance.check_case(step, c.x, c.y, c.w1, c.w2, c.learning_rate, timeout=timeout)
    assert not report.conforms
    failure = report.failure
    assert failure is not None
    return failure


def test_the_api_turns_sys_exit_in_a_step_into_a_verdict() -> None:
    def step(*args: object) -> object:
        raise SystemExit(0)

    assert check_one(step).message == "step raised SystemExit: 0"


def test_the_api_lets_keyboard_interrupt_stop_the_judge_in_process() -> None:
    # In this process a KeyboardInterrupt is the user's Ctrl-C: it stops the judge, as it would
    # stop any other call. (In a worker process, which ignores SIGINT, it is a verdict.)
    def step(*args: object) -> object:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check_one(step)


def test_the_api_restores_numpys_error_state_after_each_call() -> None:
    def step(x: Array, y: Array, w1: Array, w2: Array, learning_rate: float) -> object:
        np.seterr(all="raise")
        np.seterrcall(print)
        return zoo.reference_step(x, y, w1, w2, learning_rate)

    before, handler = np.geterr(), np.geterrcall()
    c = ONE_CASE
    report = conformance.check_case(step, c.x, c.y, c.w1, c.w2, c.learning_rate)
    assert report.conforms
    assert (np.geterr(), np.geterrcall()) == (before, handler)


def test_the_api_with_a_timeout_stops_a_callable_that_never_returns() -> None:
    def step(*args: object) -> object:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while True:
            pass

    message = f"step did not return within 0.5 s {WORKER_STOPPED}{STOPPED}"
    assert check_one(step, timeout=0.5).message == message


def test_a_drawn_case_that_never_returns_ends_the_run_without_shrinking() -> None:
    calls = []

    def step(x: Array, y: Array, w1: Array, w2: Array, learning_rate: float) -> object:
        calls.append(1)  # in the forked worker: the count there, not here
        if len(calls) > 2:  # answers the first drawn case (called twice), then hangs
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
            while True:
                pass
        return zoo.reference_step(x, y, w1, w2, learning_rate)

    report = conformance.check_implementation(step, cases=[], max_examples=20, timeout=1.0)
    assert not report.conforms
    assert (report.frozen_cases, report.drawn_cases) == (0, 2)  # the first, then the hang
    (failure,) = report.failures
    assert failure.case == conformance.DRAWN
    assert failure.message == f"step did not return within 1 s {WORKER_STOPPED}{STOPPED}"
    assert calls == []  # the step ran in its worker, never here


def test_the_api_with_a_timeout_survives_a_callable_that_ends_its_process() -> None:
    def step(*args: object) -> object:
        import os  # noqa: PLC0415 (the attack)

        os._exit(7)

    message = f"step ended its process (exit status 7){STOPPED}"
    assert check_one(step, timeout=isolation.DEFAULT_TIMEOUT_S).message == message


def test_assert_conforms_takes_the_timeout_and_fails_a_step_that_never_returns() -> None:
    def step(*args: object) -> object:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while True:
            pass

    with pytest.raises(AssertionError, match=r"step did not return within 0\.5 s"):
        assert_conforms(step, cases=[ONE_CASE], max_examples=0, timeout=0.5)


def test_the_api_escapes_a_callables_name() -> None:
    def step(*args: object) -> object:
        return None

    step.__qualname__ = "\x1b]0;owned\x07step"
    report = conformance.check_implementation(step, cases=[ONE_CASE], max_examples=0)
    assert report.implementation == f"{__name__}:\\x1b]0;owned\\x07step"


def test_the_api_refuses_to_judge_nothing() -> None:
    with pytest.raises(ValueError, match="nothing to judge: none of the 0 frozen cases given"):
        conformance.check_implementation(zoo.reference_step, cases=[], max_examples=0)
    with pytest.raises(ValueError, match="nothing to judge: none of the 0 frozen trajectories"):
        conformance.check_training(zoo.reference_train, cases=[], max_examples=0)


@pytest.mark.parametrize("timeout", [0, -1.0, math.inf, math.nan, True, "60"])
def test_the_api_refuses_a_timeout_that_is_not_a_positive_number(timeout: object) -> None:
    with pytest.raises((ValueError, TypeError), match="timeout must be"):
        calls.check_timeout(timeout)
