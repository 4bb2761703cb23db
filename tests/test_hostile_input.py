"""Hostile input: every attack on an argument, a size, a file or the output folder gets its exact
answer (the exception and the argument named; or exit 2, one line on stderr, no traceback; or
the file system as it should be after), never a crash, an allocation of terabytes or data lost.

The categories are those of docs/verification.md's "Hostile input"; each attack is one test id.
"""

import hashlib
import inspect
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

import twolayer
from twolayer import Dims, Params, conformance, network, training, vectors, zoo
from twolayer.cli import main
from twolayer.shapes import MAX_BYTES

_F = TypeVar("_F", bound=Callable[..., Any])

# How shapes.shown writes numpy's scalars, type then repr: numpy 2 names its bool numpy.bool and
# writes reprs as np.True_ and np.float64(2.0) (NEP 51); 1.26, the lowest allowed, numpy.bool_,
# True and 2.0.
_NUMPY_2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
SHOWN_TRUE = "numpy.bool np.True_" if _NUMPY_2 else "numpy.bool_ True"
SHOWN_TWO = "numpy.float64 np.float64(2.0)" if _NUMPY_2 else "numpy.float64 2.0"


def _not_jaxtyping(function: Callable[..., Any]) -> bool:
    return "jaxtyping" not in inspect.getfile(function)


def _unchecked(function: _F) -> _F:
    """``function`` without the run-time type check that jaxtyping's import hook wraps around it
    in this test run (it would refuse these calls first, with its own message): the messages
    here are twolayer's own, the ones every user sees (as in tests/test_validation.py)."""
    unwrapped: _F = inspect.unwrap(function, stop=_not_jaxtyping)
    return unwrapped


def bad(value: object) -> Any:
    """Hand a deliberately ill-typed argument past mypy."""
    return value


train = _unchecked(training.train)
sgd_step = _unchecked(training.sgd_step)
init_params = _unchecked(network.init_params)
init_data = _unchecked(network.init_data)
legacy_init = _unchecked(network.legacy_init)
check_results = _unchecked(conformance.check_results)
check_results_file = _unchecked(conformance.check_results_file)
check_trajectory_results = _unchecked(conformance.check_trajectory_results)

SMALL = ["--batch", "3", "--d-in", "4", "--hidden", "5", "--d-out", "2"]
PARAMS = Params(np.ones((3, 2)), np.ones((2, 1)))
X, Y = np.ones((4, 3)), np.zeros((4, 1))
LIMIT = f"beyond the limit of {MAX_BYTES:,} bytes (16 GiB, twolayer.shapes.MAX_BYTES)"
TIE_CASE_ID = 14  # a frozen case with an exact tie h == 0 that moves grad_w1 (2 x 2 x 2 x 2)


class _Unprintable:
    """An argument whose ``repr`` raises: its own error message must not."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _one_usage_line(status: int, err: str) -> str:
    """The one line of a usage error, after checking that it is one, with status 2."""
    assert status == 2
    assert err.count("\n") == 1
    assert err.endswith("\n")
    assert "Traceback" not in err
    return err.removesuffix("\n")


# -- 1. arguments of every type: the argument is named --------------------------------------


def _train_rate(value: object) -> object:
    return train(PARAMS, X, Y, learning_rate=bad(value), steps=1)


def _sgd_rate(value: object) -> object:
    grads = twolayer.Grads(np.zeros((3, 2)), np.zeros((2, 1)))
    return sgd_step(PARAMS, grads, bad(value))


def _train_rule(value: object) -> object:
    return train(PARAMS, X, Y, learning_rate=0.0, steps=1, relu_grad_at_zero=bad(value))


def _train_steps(value: object) -> object:
    return train(PARAMS, X, Y, learning_rate=0.0, steps=bad(value))


def _dims(value: object) -> object:
    return init_params(np.random.default_rng(0), bad(value))


ARGUMENTS: list[tuple[str, Callable[[object], object], object, type[Exception], str]] = [
    (
        "learning_rate-int-of-401-digits",
        _train_rate,
        10**400,
        ValueError,
        "learning_rate must be a finite number >= 0; got an integer of 401 digits",
    ),
    (
        "learning_rate-negative-int-of-401-digits",
        _sgd_rate,
        -(10**400),
        ValueError,
        "learning_rate must be a finite number >= 0; got an integer of 401 digits",
    ),
    (
        "learning_rate-0d-array",
        _train_rate,
        np.array(1e-3),
        TypeError,
        "learning_rate must be a real number >= 0; got numpy.ndarray array(0.001)",
    ),
    (
        "learning_rate-numpy-bool",
        _sgd_rate,
        np.True_,
        TypeError,
        f"learning_rate must be a real number >= 0; got {SHOWN_TRUE}",
    ),
    (
        "learning_rate-repr-raises",
        _train_rate,
        _Unprintable(),
        TypeError,
        "learning_rate must be a real number >= 0; got "
        "test_hostile_input._Unprintable <test_hostile_input._Unprintable object>",
    ),
    (
        "learning_rate-string-with-escape-sequence",
        _train_rate,
        "\x1b[2J",
        TypeError,
        r"learning_rate must be a real number >= 0; got str '\x1b[2J'",
    ),
    (
        "relu_grad_at_zero-int-of-5001-digits",
        _train_rule,
        10**5000,
        ValueError,
        "relu_grad_at_zero must be one of 0, 0.5, 1; got an integer of 5001 digits",
    ),
    (
        "relu_grad_at_zero-0d-array",
        _train_rule,
        np.array(0.5),
        TypeError,
        "relu_grad_at_zero must be one of 0, 0.5, 1; got numpy.ndarray array(0.5)",
    ),
    (
        "relu_grad_at_zero-bool",
        _train_rule,
        True,
        TypeError,
        "relu_grad_at_zero must be one of 0, 0.5, 1; got bool True",
    ),
    (
        "steps-numpy-bool",
        _train_steps,
        np.True_,
        TypeError,
        f"steps must be an integer >= 0; got {SHOWN_TRUE}",
    ),
    (
        "steps-numpy-float",
        _train_steps,
        np.float64(2.0),
        TypeError,
        f"steps must be an integer >= 0; got {SHOWN_TWO}",
    ),
    (
        "steps-0d-array",
        _train_steps,
        np.array(2),
        TypeError,
        "steps must be an integer >= 0; got numpy.ndarray array(2)",
    ),
    (
        "legacy-seed-int-of-5001-digits",
        lambda value: legacy_init(bad(value), Dims(1, 1, 1, 1)),
        10**5000,
        ValueError,
        "seed must be an integer in [0, 2**32) for RandomState; got an integer of 5001 digits",
    ),
    (
        "dims-a-list",
        _dims,
        [2, 3, 4, 5],
        TypeError,
        "dims must be twolayer.Dims(batch, d_in, hidden, d_out); got list [2, 3, 4, 5]",
    ),
    (
        "dims-numpy-bool-size",
        _dims,
        Dims(2, bad(np.True_), 4, 5),
        TypeError,
        f"dims.d_in must be an integer >= 1; got {SHOWN_TRUE}",
    ),
]


@pytest.mark.parametrize(
    ("call", "value", "error", "message"),
    [pytest.param(*attack[1:], id=attack[0]) for attack in ARGUMENTS],
)
def test_an_argument_of_any_type_is_refused_by_name(
    call: Callable[[object], object], value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        call(value)
    assert type(raised.value) is error
    assert str(raised.value) == message


def test_numpy_scalars_are_arguments_like_python_numbers() -> None:
    # The other side of the attacks above: numpy's own scalars are real numbers and integers.
    by_numpy = train(
        PARAMS,
        X,
        Y,
        learning_rate=bad(np.float32(0.25)),
        steps=bad(np.int8(2)),
        relu_grad_at_zero=bad(np.float64(0.5)),
    )
    by_python = train(PARAMS, X, Y, learning_rate=0.25, steps=2, relu_grad_at_zero=0.5)
    assert by_numpy.losses.tolist() == by_python.losses.tolist()
    assert by_numpy.losses.shape == (2,)


# -- 2. sizes: judged by their bytes before anything is allocated ---------------------------

# Dims(10**7, 1000, 100, 10): x 10**10 entries, y 10**8, the weights three times 101,000, the
# four (batch, hidden) arrays 4 * 10**9, y_pred and grad_y_pred 2 * 10**8: 14,300,303,000
# float64 entries, 114,402,424,000 bytes.
SEED_WITH_HUGE_BATCH = "114,402,424,000 bytes (106.5 GiB)"

X_ONE = np.ones((1, 1))

SIZES: list[tuple[str, Callable[[], object], str]] = [
    (
        "init_params-batch-10**7",
        lambda: init_params(np.random.default_rng(0), Dims(10**7, 1000, 100, 10)),
        "dims = Dims(batch=10000000, d_in=1000, hidden=100, d_out=10) needs about "
        f"{SEED_WITH_HUGE_BATCH}, {LIMIT}",
    ),
    (
        "init_data-d_in-10**12",
        # 8 * (10**12 + 1 + 3 * (10**12 + 1) + 4 + 2) = 32,000,000,000,080 bytes
        lambda: init_data(np.random.default_rng(0), Dims(1, 10**12, 1, 1)),
        "dims = Dims(batch=1, d_in=1000000000000, hidden=1, d_out=1) needs about "
        f"32,000,000,000,080 bytes (29.1 TiB), {LIMIT}",
    ),
    (
        "legacy_init-hidden-of-70-digits",
        lambda: legacy_init(0, Dims(1, 1, 10**70, 1)),
        "dims = Dims(batch=1, d_in=1, hidden=an integer of 71 digits, d_out=1) needs more than "
        f"10**71 bytes, {LIMIT}",
    ),
    (
        "train-steps-10**12",
        lambda: train(PARAMS, X, Y, learning_rate=0.0, steps=10**12),
        f"steps = 1000000000000 needs about 8,000,000,000,000 bytes (7.276 TiB), {LIMIT}",
    ),
    (
        "check_training-steps-10**6",
        # A trajectory at the largest drawn dims (130, 1100, 260, 20): one step's arrays,
        # 8 * 1,159,600 = 9,276,800 bytes; the losses, 8 * 10**6; the weights,
        # 8 * (10**6 + 1) * (1100 * 260 + 260 * 20) = 2,329,602,329,600.
        lambda: conformance.check_training(_never_called, steps=10**6),
        "steps = 1000000 (a drawn trajectory at the largest drawn dims, (130, 1100, 260, 20)) "
        f"needs about 2,329,619,606,400 bytes (2.119 TiB), {LIMIT}",
    ),
    (
        "check_training_case-steps-10**12",
        # 8 * 14 = 112 bytes of one step's arrays, 8 * 10**12 of losses, 16 * (10**12 + 1)
        # of weights.
        lambda: conformance.check_training_case(
            _never_called, X_ONE, X_ONE, X_ONE, X_ONE, 0.5, 10**12
        ),
        f"steps = 1000000000000 at dims (1, 1, 1, 1) needs about 24,000,000,000,128 bytes "
        f"(21.83 TiB), {LIMIT}",
    ),
]


def _never_called(*arguments: object) -> object:
    """A training implementation that the judge must not reach: its answer would be a verdict."""
    raise AssertionError("called")


@pytest.mark.parametrize(
    ("call", "message"), [pytest.param(*attack[1:], id=attack[0]) for attack in SIZES]
)
def test_a_size_beyond_the_limit_is_refused_before_allocating(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        call()
    assert str(raised.value) == message


CLI_SIZES: list[tuple[str, list[str], str]] = [
    (
        "train-steps-10**12",
        ["train", "--steps", "1000000000000"],
        "twolayer train: error: --steps 1000000000000 needs about 8,000,000,000,000 bytes "
        f"(7.276 TiB), {LIMIT}",
    ),
    (
        "train-batch-10**7",
        ["train", "--batch", "10000000"],
        "twolayer train: error: --batch 10000000 --d-in 1000 --hidden 100 --d-out 10 needs "
        f"about {SEED_WITH_HUGE_BATCH}, {LIMIT}",
    ),
    (
        "train-d-in-10**7",
        # 8 * (64 * 10**7 + 640 + 3 * (10**9 + 1000) + 4 * 6400 + 2 * 640) = 29,120,244,160
        ["train", "--d-in", "10000000"],
        "twolayer train: error: --batch 64 --d-in 10000000 --hidden 100 --d-out 10 needs "
        f"about 29,120,244,160 bytes (27.12 GiB), {LIMIT}",
    ),
    (
        "train-steps-of-40-digits",
        ["train", "--steps", "1" + "0" * 40],
        f"twolayer train: error: --steps 1{'0' * 40} needs more than 10**40 bytes, {LIMIT}",
    ),
    (
        "train-lr-1e400",
        ["train", "--lr", "1e400"],
        "twolayer train: error: argument --lr: learning_rate must be a finite number >= 0; got "
        "inf (see twolayer train --help)",
    ),
    (
        "train-seed-of-5000-digits",
        ["train", "--seed", "9" * 5000],
        "twolayer train: error: argument --seed: expected an integer in [0, 2**32), got "
        f"'{'9' * 56}... (see twolayer train --help)",
    ),
    (
        "train-steps-of-5000-digits",
        # Python's int() refuses 5,000 digits; the text goes to the check, which names it.
        ["train", "--steps", "9" * 5000],
        "twolayer train: error: argument --steps: steps must be an integer >= 0; got str "
        f"'{'9' * 56}... (see twolayer train --help)",
    ),
    (
        "check-train-steps-10**5",
        # As check_training-steps-10**6 above, for 10**5 steps.
        ["check", "--train", "twolayer.zoo:reference_train", "--steps", "100000"],
        "twolayer: error: steps = 100000 (a drawn trajectory at the largest drawn dims, "
        f"(130, 1100, 260, 20)) needs about 232,972,406,400 bytes (217 GiB), {LIMIT}",
    ),
]


@pytest.mark.parametrize(
    ("argv", "line"), [pytest.param(*attack[1:], id=attack[0]) for attack in CLI_SIZES]
)
def test_the_command_refuses_a_size_in_one_line_before_allocating(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(argv, capsys)
    assert out == ""
    assert _one_usage_line(status, err) == line


# -- 3. .npz members whose header lies ----------------------------------------------------------


def _npz(header_shape: str, member: str = "case_0001.x.npy", magic: bytes = b"\x93NUMPY") -> bytes:
    """An .npz of one member: a .npy 1.0 header declaring ``header_shape`` (128 bytes with its
    magic and length), then 16 bytes of data: 144 bytes in all."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {header_shape}, }}"
    header = header.ljust(64 * (len(header) // 64 + 1) - 11) + "\n"
    npy = magic + b"\x01\x00" + len(header).to_bytes(2, "little") + header.encode("ascii")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as file:
        file.writestr(member, npy + bytes(16))
    return archive.getvalue()


NPZ_ATTACKS: list[tuple[str, bytes, str]] = [
    (
        "negative-shape",
        _npz("(-1, 2)"),
        "case_0001.x.npy declares shape (-1, 2), with a negative size",
    ),
    (
        "astronomical-shape",
        _npz("(1099511627776, 1099511627776)"),
        "case_0001.x.npy declares shape (1099511627776, 1099511627776), "
        "9,671,406,556,917,033,397,649,408 bytes of float64, more data than the 144 bytes that "
        "the member holds",
    ),
    (
        "shape-beyond-10**30-bytes",
        _npz("(10**20, 10**20)".replace("10**20", "1" + "0" * 20)),
        "case_0001.x.npy declares shape (100000000000000000000, 100000000000000000000), more "
        "than 10**30 bytes of float64, more data than the 144 bytes that the member holds",
    ),
    (
        "not-a-npy-member",
        _npz("(2,)", magic=b"\x93NUMPX"),
        "case_0001.x.npy: not a readable .npy header (the magic string is not correct; expected "
        "b'\\x93NUMPY', got b'\\x93NUMPX')",
    ),
]


@pytest.mark.parametrize(
    ("data", "message"), [pytest.param(*attack[1:], id=attack[0]) for attack in NPZ_ATTACKS]
)
def test_an_npz_member_whose_header_lies_is_refused_by_name(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        vectors.load_npz(data)
    assert str(raised.value) == message


def test_an_honest_npz_member_is_read() -> None:
    # The other side: the same builder with a true header gives the array back.
    assert vectors.load_npz(_npz("(2,)"))["case_0001.x"].tolist() == [0.0, 0.0]


# -- 4. suites and results files: bounded, named, escaped -------------------------------------


@pytest.fixture(scope="module")
def tie_suite() -> bytes:
    """A suite of the one frozen case 14 (an exact tie that moves grad_w1), as JSON."""
    suite = vectors.build_suite()
    return vectors.suite_json(
        suite._replace(cases=tuple(c for c in suite.cases if c.inputs.id == TIE_CASE_ID))
    )


def _tie_case() -> vectors.CaseInputs:
    return next(case for case in vectors.build_cases() if case.id == TIE_CASE_ID)


def _results(step: conformance.StepFunction, implementation: str) -> bytes:
    document = conformance.results_document(
        step, cases=[_tie_case()], implementation=implementation
    )
    return json.dumps(document).encode("ascii")


def _results_with(**fields: object) -> bytes:
    document = json.loads(_results(zoo.reference_step, "mine"))
    document.update(fields)
    return json.dumps(document).encode("ascii")


DOCUMENT_ATTACKS: list[tuple[str, Callable[[bytes], object], type[Exception], str]] = [
    (
        "results-beyond-128-MiB",
        lambda suite: check_results(suite, b"{" + b" " * vectors.MAX_DOCUMENT_BYTES + b"}"),
        ValueError,
        "the results file is larger than 134,217,728 bytes (128 MiB, "
        "twolayer.vectors.MAX_DOCUMENT_BYTES), the most that is read; the frozen suite's is "
        "about 55 MB",
    ),
    (
        "results-integer-literal-of-4299-digits",
        lambda suite: check_results(suite, b'{"schema_version": ' + b"7" * 4299 + b"}"),
        ValueError,
        "not a twolayer results file: it holds an integer literal of 4299 digits, more than the "
        "400 that any float64 needs",
    ),
    (
        "suite-integer-literal-of-5000-digits",
        lambda suite: vectors.load_suite(suite.replace(b'"id":14', b'"id":' + b"1" * 5000)),
        ValueError,
        "not a twolayer vector suite: it holds an integer literal of 5000 digits, more than the "
        "400 that any float64 needs",
    ),
    (
        "suite-relu_grad_at_zero-1e400",
        lambda suite: vectors.load_suite(
            suite.replace(b'"relu_grad_at_zero":0.0', b'"relu_grad_at_zero":1e400')
        ),
        ValueError,
        "cases[0] (id 14).relu_grad_at_zero must be 0, 0.5 or 1; got number inf",
    ),
    (
        "suite_document-a-list",
        lambda suite: check_results(bad([suite]), b"{}"),
        TypeError,
        "suite_document must be None or the bytes of a suite's JSON file (such as "
        "Path(...).read_bytes()); got list",
    ),
    (
        "results_document-a-dict",
        lambda suite: check_results_file(suite, bad({"results": []})),
        TypeError,
        "results_document must be the bytes of a results JSON file (such as "
        "Path(...).read_bytes()); got dict",
    ),
    (
        "results_document-a-str",
        lambda suite: check_trajectory_results(None, bad(suite.decode())),
        TypeError,
        "results_document must be the bytes of a results JSON file (such as "
        "Path(...).read_bytes()); got str",
    ),
    (
        "suite-with-no-cases",
        lambda suite: check_results(
            vectors.suite_json(vectors.build_suite()._replace(cases=())),
            _results_with(results=[]),
        ),
        ValueError,
        "nothing to judge: none of the suite's 0 case(s) applies to float64 (inputs on its "
        "grid, values within its range); a verdict needs at least one case",
    ),
    (
        "judge-with-no-cases-and-no-draws",
        lambda suite: conformance.check_implementation(
            zoo.reference_step, cases=[], max_examples=0
        ),
        ValueError,
        "nothing to judge: none of the 0 frozen cases given applies to float64 and max_examples "
        "is 0; a verdict needs at least one judged case",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [pytest.param(*attack[1:], id=attack[0]) for attack in DOCUMENT_ATTACKS],
)
def test_a_hostile_document_is_refused_with_its_field_named(
    call: Callable[[bytes], object], error: type[Exception], message: str, tie_suite: bytes
) -> None:
    with pytest.raises(error) as raised:
        call(tie_suite)
    assert type(raised.value) is error
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        pytest.param("clear\x1b[2Jscreen", r"clear\x1b[2Jscreen", id="name-with-escape-sequence"),
        pytest.param("lone\ud800surrogate", r"lone\ud800surrogate", id="name-with-lone-surrogate"),
        pytest.param("bell\x07and\rreturn", r"bell\x07and\x0dreturn", id="name-with-bell-and-cr"),
    ],
)
def test_text_from_a_results_file_reaches_the_terminal_escaped(
    name: str,
    shown: str,
    tie_suite: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "suite.json").write_bytes(tie_suite)
    (tmp_path / "results.json").write_bytes(_results(zoo.reference_step, name))
    argv = ["check", "--suite", str(tmp_path / "suite.json"), "--results"]
    status, out, err = _run([*argv, str(tmp_path / "results.json")], capsys)
    assert (status, err) == (0, "")
    assert out.startswith(f"{shown}: conforms (arithmetic float64, relu_grad_at_zero 1)\n")
    assert not any(c in out for c in "\x1b\x07\r\ud800")


def test_a_results_file_beyond_the_limit_is_refused_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A sparse file: 128 MiB + 1 byte long, nothing on the disk, and nothing of it read.
    path = tmp_path / "huge.json"
    with open(path, "wb") as file:
        file.truncate(vectors.MAX_DOCUMENT_BYTES + 1)
    status, out, err = _run(["check", "--results", str(path)], capsys)
    assert out == ""
    assert _one_usage_line(status, err) == (
        "twolayer: error: the results file is larger than 134,217,728 bytes (128 MiB, "
        "twolayer.vectors.MAX_DOCUMENT_BYTES), the most that is read; the frozen suite's is "
        "about 55 MB"
    )


def test_an_endless_stream_on_standard_input_is_read_only_up_to_the_limit() -> None:
    # /dev/zero never ends: the reader stops one byte past the limit and refuses it.
    with open("/dev/zero", "rb") as endless:
        finished = subprocess.run(
            [sys.executable, "-m", "twolayer", "check", "--results", "/dev/stdin"],
            stdin=endless,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert (finished.returncode, finished.stdout) == (2, "")
    assert finished.stderr == (
        "twolayer: error: the results file is larger than 134,217,728 bytes (128 MiB, "
        "twolayer.vectors.MAX_DOCUMENT_BYTES), the most that is read; the frozen suite's is "
        "about 55 MB\n"
    )


def test_an_empty_suite_and_empty_results_are_a_usage_error_not_conforms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "suite.json").write_bytes(
        vectors.suite_json(vectors.build_suite()._replace(cases=()))
    )
    (tmp_path / "results.json").write_bytes(_results_with(results=[]))
    argv = ["check", "--suite", str(tmp_path / "suite.json"), "--results"]
    status, out, err = _run([*argv, str(tmp_path / "results.json")], capsys)
    assert out == ""
    assert _one_usage_line(status, err) == (
        "twolayer: error: nothing to judge: none of the suite's 0 case(s) applies to float64 "
        "(inputs on its grid, values within its range); a verdict needs at least one case"
    )


# -- 5. Ctrl-C: one line, status 130, nothing half-written -------------------------------------


def test_ctrl_c_while_training_ends_with_one_line_and_status_130(tmp_path: Path) -> None:
    # A real SIGINT, sent from a thread of the process itself while train runs its many steps.
    script = textwrap.dedent(
        f"""
        import os, signal, sys, threading
        from twolayer.cli import main
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        sys.exit(main(["train", "--steps", "100000000", "--batch", "1", "--d-in", "1",
                       "--hidden", "1", "--d-out", "1", "--save", {str(tmp_path / "w.npz")!r}]))
        """
    )
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert (finished.returncode, finished.stdout) == (130, "")
    assert finished.stderr == "twolayer: error: interrupted\n"
    assert time.monotonic() - started < 300
    assert list(tmp_path.iterdir()) == []  # no weights, no temporary file


def test_ctrl_c_while_saving_leaves_no_file_half_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(descriptor: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)  # Ctrl-C as the bytes reach the disk
    status, out, err = _run(
        ["train", *SMALL, "--steps", "1", "--save", str(tmp_path / "w.npz")], capsys
    )
    assert (status, out, err) == (130, "", "twolayer: error: interrupted\n")
    assert list(tmp_path.iterdir()) == []


# -- 6. vectors --out DIR --force: only what twolayer wrote is replaced -------------------------

NEW = {"suite.json": b'{"new": true}\n', "suite.npz": b"PK new"}
OLD = {"suite.json": b'{"old": true}\n', "suite.npz": b"PK old"}


def _with_manifest(files: dict[str, bytes]) -> dict[str, bytes]:
    return {**files, vectors.MANIFEST_FILE: vectors.manifest(files)}


def _write(directory: Path, files: dict[str, bytes]) -> None:
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)


def _contents(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture
def small_suite(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """``twolayer vectors`` writes these three small files (a manifest among them) instead of
    the suite, which takes about a minute to compute: what is judged here is the file system."""
    files = _with_manifest(NEW)
    monkeypatch.setattr(vectors, "suite_files", lambda: dict(files))
    return files


def _vectors(out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return _run(["vectors", "--out", str(out), "--force"], capsys)


def test_force_replaces_an_earlier_suite_and_leaves_nothing_behind(
    tmp_path: Path, small_suite: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "out", _with_manifest(OLD))
    status, out, err = _vectors(tmp_path / "out", capsys)
    assert (status, err) == (0, "")
    assert _contents(tmp_path / "out") == dict(sorted(small_suite.items()))
    assert [path.name for path in tmp_path.iterdir()] == ["out"]
    digest = hashlib.sha256(NEW["suite.json"]).hexdigest()
    assert f"{digest}          14 bytes  {tmp_path / 'out' / 'suite.json'}" in out.splitlines()


def _a_folder_named_like_a_suite_file(out: Path) -> None:
    _write(out, {})
    _write(out / "suite.json", {"thesis.tex": b"mine"})


def _a_file_changed_since_the_manifest(out: Path) -> None:
    _write(out, _with_manifest(OLD))
    (out / "suite.json").write_bytes(b"my edits")


def _a_file_not_in_the_manifest(out: Path) -> None:
    _write(out, _with_manifest(OLD))
    (out / "notes.txt").write_bytes(b"mine")


def _a_listed_name_that_is_a_symlink(out: Path) -> None:
    _write(out, _with_manifest(OLD))
    (out / "suite.npz").unlink()
    (out.parent / "precious").write_bytes(b"PK old")  # the very bytes that the manifest lists
    (out / "suite.npz").symlink_to(out.parent / "precious")


def _a_manifest_that_lists_a_path(out: Path) -> None:
    _write(out, {vectors.MANIFEST_FILE: b"0" * 64 + b"  ../precious\n"})
    (out.parent / "precious").write_bytes(b"mine")


FORCE_ATTACKS: list[tuple[Callable[[Path], None], str]] = [
    (_a_folder_named_like_a_suite_file, "no SHA256SUMS file"),
    (_a_file_changed_since_the_manifest, "suite.json differs from its sha256 in SHA256SUMS"),
    (_a_file_not_in_the_manifest, "not listed in its SHA256SUMS: notes.txt"),
    (_a_listed_name_that_is_a_symlink, "suite.npz is not a regular file"),
    (_a_manifest_that_lists_a_path, "SHA256SUMS is not a list of sha256 sums"),
]


@pytest.mark.parametrize(
    ("prepare", "problem"),
    [
        pytest.param(*attack, id=attack[0].__name__[1:].replace("_", "-"))
        for attack in FORCE_ATTACKS
    ],
)
def test_force_refuses_a_directory_that_twolayer_did_not_write(
    prepare: Callable[[Path], None],
    problem: str,
    tmp_path: Path,
    small_suite: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    prepare(out)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    status, printed, err = _vectors(out, capsys)
    assert printed == ""
    assert _one_usage_line(status, err) == (
        f"twolayer: error: {out} does not hold only a suite that twolayer wrote ({problem}); "
        "refusing to replace it"
    )
    after = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert after == before  # nothing read is changed, nothing new is left


def test_force_never_follows_a_symbolic_link(
    tmp_path: Path, small_suite: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "old", _with_manifest(OLD))
    (tmp_path / "out").symlink_to(tmp_path / "old")
    status, printed, err = _vectors(tmp_path / "out", capsys)
    assert printed == ""
    assert _one_usage_line(status, err) == (
        f"twolayer: error: {tmp_path / 'out'} is a symbolic link; refusing to replace it (give "
        "the directory it points to, or remove the link)"
    )
    assert (tmp_path / "out").is_symlink()
    assert _contents(tmp_path / "old") == dict(sorted(_with_manifest(OLD).items()))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["old", "out"]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(KeyboardInterrupt, id="ctrl-c-between-the-renames"),
        pytest.param(OSError(28, "No space left on device"), id="second-rename-fails"),
    ],
)
def test_the_earlier_suite_is_put_back_if_the_new_one_cannot_be_put_in_place(
    failure: BaseException | type[BaseException],
    tmp_path: Path,
    small_suite: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _write(tmp_path / "out", _with_manifest(OLD))
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def rename(source: str | Path, target: str | Path) -> None:
        renames.append((Path(source).name, Path(target).name))
        if len(renames) == 2:  # the new directory's rename into place
            raise failure
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename)
    status, printed, err = _vectors(tmp_path / "out", capsys)
    expected = (
        (130, "twolayer: error: interrupted\n")
        if failure is KeyboardInterrupt
        else (2, "twolayer: error: [Errno 28] No space left on device\n")
    )
    assert (status, printed, err) == (*expected[:1], "", expected[1])
    assert [target for _, target in renames][::2] == [renames[0][1], "out"]  # aside, then back
    assert _contents(tmp_path / "out") == dict(sorted(_with_manifest(OLD).items()))
    assert [path.name for path in tmp_path.iterdir()] == ["out"]  # no staging, no .old


def test_a_name_of_250_bytes_is_written_with_short_temporary_names(
    tmp_path: Path, small_suite: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    # 250 bytes is a legal name (the limit is 255); ".name.XXXXXXXX.tmp" beside it would not be.
    out = tmp_path / ("v" * 250)
    status, _, err = _run(["vectors", "--out", str(out)], capsys)
    assert (status, err) == (0, "")
    assert _contents(out) == dict(sorted(small_suite.items()))
    saved = tmp_path / ("w" * 246 + ".npz")
    status, _, err = _run(["train", *SMALL, "--steps", "1", "--save", str(saved)], capsys)
    assert (status, err) == (0, "")
    assert sorted(path.name for path in tmp_path.iterdir()) == [out.name, saved.name]


def test_a_real_ctrl_c_during_the_renames_waits_until_the_replacement_is_whole(
    tmp_path: Path,
    small_suite: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SIGINT sent to this process as the old suite is renamed aside (to whichever of pytest's
    # threads the system gives it): it is held back until the new suite is in place and the old
    # one removed, and only then ends the command (130).
    _write(tmp_path / "out", _with_manifest(OLD))
    real_rename = os.rename

    def rename(source: str | Path, target: str | Path) -> None:
        if Path(source).name == "out":
            os.kill(os.getpid(), signal.SIGINT)
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename)
    status, printed, err = _vectors(tmp_path / "out", capsys)
    assert (status, printed, err) == (130, "", "twolayer: error: interrupted\n")
    assert _contents(tmp_path / "out") == dict(sorted(small_suite.items()))
    assert [path.name for path in tmp_path.iterdir()] == ["out"]  # no staging, no .old
