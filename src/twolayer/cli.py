"""The ``twolayer`` command: the only module that prints or touches files.

Exit status: 0 on success, 1 on a failed check, 2 on a usage error (a bad flag or value, a file
that exists without ``--force``), 141 when the reader of standard output went away (``twolayer
train | head -1``: 128 + SIGPIPE, as a shell reports a program that the signal ended), quietly,
and 130 on Ctrl-C (128 + SIGINT), with one line. Every error is one line on stderr, never a
traceback, with what a file or an implementation named escaped (``terminal_text``).
"""

import argparse
import contextlib
import hashlib
import importlib.util
import io
import json
import math
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import NoReturn, Protocol, TypeVar, runtime_checkable

import numpy as np

from twolayer import SEED_DIMS, SEED_LEARNING_RATE, SEED_STEPS, __version__
from twolayer.network import init_data, init_params, legacy_init
from twolayer.shapes import (
    Dims,
    Params,
    check_bytes,
    check_count,
    check_learning_rate,
    check_relu_grad_at_zero,
    dims_bytes,
    shown,
    steps_bytes,
)
from twolayer.strict_json import MAX_DOCUMENT_BYTES, check_document_size
from twolayer.training import train

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_CLOSED_PIPE = 128 + 13  # 128 + SIGPIPE (13 on every POSIX system), as a shell reports it
EXIT_INTERRUPTED = 128 + 2  # 128 + SIGINT (2): Ctrl-C, as a shell reports it
PROGRESS_AFTER_S = 1.0  # a check quicker than this shows no progress at all
PROGRESS_EVERY_S = 0.1  # redraws at most this often: a terminal is slow to write to


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def terminal_text(text: str) -> str:
    """``text`` with every character that a terminal would act on, or that cannot be encoded,
    escaped as ``\\x1b`` or ``\\ud800``: newlines and tabs stay.

    What a file or an implementation names (a results file's ``implementation``, a path) reaches
    the terminal through here, so that ``ESC [2J`` is shown, not obeyed, and a lone surrogate
    is shown, not a codec error.

    >>> terminal_text("name\\x1b[2J\\ud800")
    'name\\\\x1b[2J\\\\ud800'
    """
    return _CONTROL.sub(lambda found: f"\\{_escape(found.group())}", text)


def _escape(character: str) -> str:
    code = ord(character)
    return f"x{code:02x}" if code < 0x100 else f"u{code:04x}"


class UsageError(Exception):
    """A bad flag, value or path: reported as one line on stderr with exit status 2."""

    def __init__(self, message: str, prog: str = "twolayer") -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not a usage block and a traceback."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)", prog=self.prog)


_Checked = TypeVar("_Checked")


def _number(text: str, kind: Callable[[str], object]) -> object:
    """The number that ``text`` spells, or ``text`` itself for the check to refuse by its type."""
    try:
        return kind(text)
    except ValueError:
        return text


def _argument(
    check: Callable[[object], _Checked], kind: Callable[[str], object]
) -> Callable[[str], _Checked]:
    """An argparse type made of ``twolayer.shapes``' own check: the API's words, on one line.

    ``--batch 0`` reads ``argument --batch: dims.batch must be an integer >= 1; got 0``, the
    message that ``init_params`` gives for a ``Dims`` with ``batch=0``.
    """

    def parse(text: str) -> _Checked:
        try:
            return check(_number(text, kind))
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def _count(name: str, minimum: int) -> Callable[[str], int]:
    return _argument(lambda value: check_count(name, value, minimum), int)


_learning_rate = _argument(check_learning_rate, float)
_relu_grad_at_zero = _argument(check_relu_grad_at_zero, float)


def _seed(text: str) -> int:
    value = _number(text, int)
    if not isinstance(value, int) or not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {shown(text)}")
    return value


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _build_parser() -> _Parser:
    parser = _Parser(
        prog="twolayer",
        description="The reference implementation (oracle) of the seed's two-layer ReLU network.",
    )
    parser.add_argument("--version", action="version", version=f"twolayer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser(
        "train",
        help="run the seed's training loop",
        description=(
            "Run the seed notebook's training loop and print 'Iteration: {t}\\t loss:{loss}' "
            "every --print-every steps, as the notebook does. With no flags: dims (64, 1000, "
            "100, 10), lr 1e-6, 500 steps, seed 0."
        ),
    )
    for flag, axis, seed_name in (
        ("--batch", "batch", "N"),
        ("--d-in", "d_in", "D_in"),
        ("--hidden", "hidden", "H"),
        ("--d-out", "d_out", "D_out"),
    ):
        default = getattr(SEED_DIMS, axis)
        run.add_argument(
            flag,
            type=_count(f"dims.{axis}", 1),
            default=default,
            help=f"{seed_name} (default {default})",
        )
    run.add_argument("--lr", type=_learning_rate, default=SEED_LEARNING_RATE, help="default 1e-6")
    run.add_argument("--steps", type=_count("steps", 0), default=SEED_STEPS, help="default 500")
    run.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    run.add_argument("--print-every", type=_count("print_every", 1), default=10, help="default 10")
    run.add_argument(
        "--relu-grad-at-zero",
        type=_relu_grad_at_zero,
        default=1.0,
        help="ReLU's derivative at h == 0: 0, 0.5 or 1 (default 1, the seed's)",
    )
    run.add_argument(
        "--legacy-rng",
        action="store_true",
        help=(
            "draw x, y, w1, w2 with numpy.random.RandomState(seed).randn, in that order, so that "
            "the output equals the notebook's run after numpy.random.seed(seed)"
        ),
    )
    run.add_argument("--save", type=Path, metavar="PATH", help="write the final w1, w2 as .npz")
    run.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw the loss curve on a log scale (needs matplotlib: pip install twolayer[plot])",
    )
    run.add_argument("--force", action="store_true", help="let --save and --plot overwrite files")
    run.add_argument(
        "--json",
        action="store_true",
        help=(
            "print the run and every loss as one JSON object instead of the lines; a loss that "
            "overflowed is written as the string 'inf', '-inf' or 'nan'"
        ),
    )
    vectors_command = commands.add_parser(
        "vectors",
        help="write the frozen test-vector suite",
        description=(
            "Write the frozen test-vector suite into a new directory: the JSON document, its "
            ".npz twin, the JSON Schema and SHA256SUMS. The same bytes on every run."
        ),
    )
    vectors_command.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="the directory to create"
    )
    vectors_command.add_argument(
        "--force",
        action="store_true",
        help="replace DIR if it holds an earlier suite, every file as its SHA256SUMS lists it "
        "(never a symbolic link, never a folder with other files)",
    )
    check = commands.add_parser(
        "check",
        help="judge another implementation against the oracle",
        description=(
            "Judge another implementation of the seed's step: a Python function (--impl), run "
            "on the frozen cases and then on drawn ones; a Python training loop (--train), each "
            "update judged from its own weights; or the outputs that a program in any language "
            "wrote for the suite's cases and frozen trajectories (--results). Each output is "
            "compared with the exact result within a rigorous bound for the declared "
            "arithmetic. Exit 0 if it conforms, 1 if not, 2 on a usage error."
        ),
    )
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--impl",
        metavar="MODULE:ATTR",
        help="a step(x, y, w1, w2, learning_rate) returning loss, grad_w1, grad_w2, w1_next, "
        "w2_next (and optionally h); imported like python -m, so trust what you name",
    )
    source.add_argument(
        "--train",
        metavar="MODULE:ATTR",
        help="a train(x, y, w1, w2, learning_rate, steps) returning losses (steps,), w1 (steps + "
        "1, d_in, hidden) and w2 (steps + 1, hidden, d_out); imported as --impl is",
    )
    source.add_argument(
        "--results",
        type=Path,
        metavar="FILE",
        help="a results file of step results and/or trajectories (docs/vectors.md); each part "
        "that it holds is judged and reported",
    )
    check.add_argument(
        "--suite",
        type=Path,
        metavar="FILE",
        help="with --results: the suite's JSON file that the results answer (default: the frozen "
        "suite that `twolayer vectors` writes)",
    )
    check.add_argument(
        "--arithmetic",
        choices=("float64", "float32", "tf32", "bf16"),
        default="float64",
        help="what the implementation computes in (default float64)",
    )
    check.add_argument(
        "--relu-grad-at-zero",
        type=_relu_grad_at_zero,
        default=1.0,
        help="the tie convention that it claims: 0, 0.5 or 1 (default 1, the seed's)",
    )
    check.add_argument(
        "--max-examples",
        type=_count("max_examples", 1),
        default=200,
        help="with --impl or --train: how many drawn cases or trajectories after the frozen "
        "ones (default 200)",
    )
    check.add_argument(
        "--timeout",
        type=_timeout,
        metavar="SECONDS",
        help="with --impl or --train: the most seconds one call (and the import) may take; the "
        "implementation runs in a worker process that is stopped then, and its case fails "
        "(default 60)",
    )
    check.add_argument(
        "--steps",
        type=_count("steps", 1),
        metavar="N",
        help="with --train: the most updates of a drawn trajectory (default 4)",
    )
    check.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw the worst error/bound per output and case (trajectory for --train), with "
        "the line at 1; for a results file holding both parts, the step results'",
    )
    check.add_argument("--force", action="store_true", help="let --plot overwrite FILE.png")
    check.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (its schema: twolayer/schemas/report.schema.json) instead "
        "of the text; a ratio that is infinite is written as the string 'inf'",
    )
    return parser


# -- files --------------------------------------------------------------------------------------


def check_writable(path: Path, *, force: bool) -> None:
    """Raise ``UsageError`` unless ``path`` can be written: its folder exists, and it does not
    exist unless ``force``."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a file path")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a directory")


def write_atomic(path: Path, data: bytes, *, force: bool) -> None:
    """Write ``data`` to ``path`` whole or not at all; never overwrite unless ``force``.

    The bytes go to a temporary file in the same folder, are flushed to disk, and then take the
    name in one step: ``os.replace`` with ``force``, else ``os.link``, which fails if the name
    appeared in the meantime.
    """
    check_writable(path, force=force)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=_TEMPORARY_PREFIX, suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 is for secrets; these are results
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if force:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise UsageError(f"{path} exists; pass --force to overwrite it") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _pyplot() -> ModuleType:
    """Return matplotlib.pyplot on the non-interactive Agg backend, or raise ``UsageError``."""
    try:
        import matplotlib  # noqa: PLC0415 (an optional extra, imported only when asked for)

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: PLC0415 (likewise)
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed: pip install 'twolayer[plot]'"
        ) from None
    return matplotlib.pyplot


def loss_plot_png(losses: Sequence[float], title: str) -> bytes:
    """Draw ``losses`` against the step on a log scale; return the PNG's bytes.

    A log scale cannot show a loss that is zero, inf or nan: such steps are left out of the
    line, and the title says how many.
    """
    pyplot = _pyplot()
    steps = [t for t, value in enumerate(losses) if math.isfinite(value) and value > 0]
    if len(steps) < len(losses):
        title += f"\n({len(losses) - len(steps)} losses that are 0, inf or nan not drawn)"
    figure, axes = pyplot.subplots(figsize=(7, 4.5), dpi=100)
    try:
        axes.semilogy(steps, [losses[t] for t in steps], color="tab:blue", linewidth=1.5)
        axes.set_xlabel("step t")
        axes.set_ylabel("loss before update t (summed squared error)")
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
    finally:
        pyplot.close(figure)
    return buffer.getvalue()


_TEMPORARY_PREFIX = ".twolayer-"  # short whatever the target's name: a name has at most 255 bytes
_MANIFEST_MAX_BYTES = 2**16  # a manifest lists a handful of files; more is not one of ours
_MANIFEST_LINE = re.compile(r"([0-9a-f]{64})  ([^/\x00\n]+)")


def check_replaceable(directory: Path, *, force: bool, manifest: str) -> bool:
    """Whether ``directory`` exists and may be replaced; raise ``UsageError`` if it may not.

    It may be replaced only with ``force``, only if it is a real directory (not a symbolic link,
    which is never followed into deleting), and only if it holds what this project wrote: a
    ``manifest`` file (``sha256  name`` lines) that lists every other entry, each a regular file
    with that sha256, and nothing else. Names alone prove nothing: a user's folder named like a
    suite's file is refused.
    """
    if directory.is_symlink():
        raise UsageError(
            f"{_shown_path(directory)} is a symbolic link; refusing to replace it (give the "
            "directory it points to, or remove the link)"
        )
    if not directory.exists():
        return False
    if not directory.is_dir():
        raise UsageError(f"{_shown_path(directory)} exists and is not a directory")
    if not force:
        raise UsageError(f"{_shown_path(directory)} exists; pass --force to replace it")
    problem = _foreign(directory, manifest)
    if problem is not None:
        raise UsageError(
            f"{_shown_path(directory)} does not hold only a suite that twolayer wrote ({problem}); "
            "refusing to replace it"
        )
    return True


def _foreign(directory: Path, manifest: str) -> str | None:
    """What in ``directory`` its ``manifest`` does not vouch for, or None if it vouches for all."""
    listed = _listed_files(directory, manifest)
    if isinstance(listed, str):
        return listed
    with os.scandir(directory) as entries:
        found = {entry.name: entry for entry in entries}
    strangers = sorted(set(found) - set(listed) - {manifest})
    if strangers:
        return f"not listed in its {manifest}: {terminal_text(', '.join(strangers))[:200]}"
    for name, digest in listed.items():
        entry = found.get(name)
        if entry is None:
            return f"{terminal_text(name)} is listed in its {manifest} but absent"
        if not entry.is_file(follow_symlinks=False):
            return f"{terminal_text(name)} is not a regular file"
        with open(entry.path, "rb") as file:
            if hashlib.file_digest(file, "sha256").hexdigest() != digest:
                return f"{terminal_text(name)} differs from its sha256 in {manifest}"
    return None


def _listed_files(directory: Path, manifest: str) -> dict[str, str] | str:
    """The names and sha256 that ``directory``'s manifest lists, or what is wrong with it."""
    path = directory / manifest
    if not path.is_file() or path.is_symlink():
        return f"no {manifest} file"
    with open(path, "rb") as file:
        data = file.read(_MANIFEST_MAX_BYTES + 1)
    lines = data.decode("utf-8", "replace").splitlines()
    matched = [_MANIFEST_LINE.fullmatch(line) for line in lines]
    if len(data) > _MANIFEST_MAX_BYTES or not lines or None in matched:
        return f"{manifest} is not a list of sha256 sums"
    listed = {found.group(2): found.group(1) for found in matched if found is not None}
    if {".", "..", manifest} & set(listed):
        return f"{manifest} lists a name that no suite file has"
    return listed


def write_directory_atomic(
    directory: Path, files: dict[str, bytes], *, force: bool, manifest: str
) -> None:
    """Create ``directory`` holding ``files`` (name -> bytes), whole or not at all.

    The files are written into a temporary directory beside it and flushed, and the directory
    takes its name in one rename. With ``force``, an existing directory is replaced if
    ``check_replaceable`` allows it (what this project wrote, by the sha256 sums in its
    ``manifest``): it is renamed aside, the new one renamed in, and only then are the old files
    removed, each by the name that the manifest lists. If the new directory cannot be put in
    place, whatever the reason (an error, Ctrl-C between the two renames), the old one is put
    back. The temporary names are short, whatever ``directory``'s name.
    """
    replacing = check_replaceable(directory, force=force, manifest=manifest)
    if not directory.parent.is_dir():
        raise UsageError(f"{_shown_path(directory.parent)} is not a directory")
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=_TEMPORARY_PREFIX, suffix=".tmp"))
    retired = staging.with_suffix(".old")
    placed = False
    try:
        for name, data in files.items():
            with open(staging / name, "xb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(staging / name, 0o666 & ~_umask())
        os.chmod(staging, 0o777 & ~_umask())
        with _interrupts_deferred():  # Ctrl-C lands before the renames or after the old files
            try:
                if replacing:
                    os.rename(directory, retired)
                os.rename(staging, directory)
                placed = True
            finally:
                if not placed and retired.is_dir() and not os.path.lexists(directory):
                    os.rename(retired, directory)  # the old output back where it was
            if replacing:
                _remove_retired(retired, directory, manifest)
    finally:
        if not placed and staging.is_dir():
            shutil.rmtree(staging)


def _remove_retired(retired: Path, directory: Path, manifest: str) -> None:
    """Remove the earlier output, renamed aside, file by file as its manifest lists them."""
    listed = _listed_files(retired, manifest)
    names = [*listed, manifest] if isinstance(listed, dict) else []
    try:
        for name in names:
            if (retired / name).is_file() and not (retired / name).is_symlink():
                os.unlink(retired / name)
        os.rmdir(retired)
    except OSError as error:
        raise UsageError(
            f"{_shown_path(directory)} holds the new suite, but the earlier one, moved to "
            f"{_shown_path(retired)}, could not be removed: {error.strerror}"
        ) from None


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C back while the block runs, so that it lands after the renames, not between
    them: SIGINT's handler only notes it, and the handler that was there runs once the block
    ends. Python runs signal handlers in the main thread alone, whichever thread the signal
    reached, so this holds in a process with threads too; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, _: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)  # Python's default raises KeyboardInterrupt here


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_plot_png(report: object) -> bytes:
    """Draw each output's worst error/bound in each judged case, on a log scale, with 1 marked.

    ``report`` is a ``twolayer.conformance.ConformanceReport``. A ratio of 0 (no error at all)
    is drawn at the floor of the plot, an infinite one at its ceiling, so that every judged
    case shows.
    """
    conformance = _conformance(draws=False)
    if not isinstance(report, conformance.ConformanceReport):
        raise TypeError(f"report must be a ConformanceReport; got {type(report).__qualname__}")
    pyplot = _pyplot()
    cases = list(dict.fromkeys(entry.case for entry in report.case_ratios))
    position = {case: index for index, case in enumerate(cases)}
    finite = [r.worst_ratio for r in report.case_ratios if 0 < r.worst_ratio < math.inf]
    floor = min([*finite, 1e-3]) / 10
    ceiling = max([*finite, 10.0]) * 10
    figure, axes = pyplot.subplots(figsize=(10, 5), dpi=100, layout="constrained")
    try:
        outputs = list(dict.fromkeys(entry.output for entry in report.case_ratios))
        for offset, output in enumerate(outputs):
            entries = [r for r in report.case_ratios if r.output == output]
            axes.scatter(
                [position[r.case] + (offset - len(outputs) / 2) * 0.08 for r in entries],
                [min(max(r.worst_ratio, floor), ceiling) for r in entries],
                s=12,
                label=output,
            )
        axes.axhline(1.0, color="black", linewidth=1.2, linestyle="--", label="bound (ratio 1)")
        axes.set_yscale("log")
        axes.set_ylim(floor / 2, ceiling * 2)
        axes.set_xlabel("case judged (frozen cases first, then drawn ones)")
        axes.set_ylabel("worst |computed - exact| / bound")
        verdict = "conforms" if report.conforms else "does NOT conform"
        axes.set_title(
            f"{terminal_text(report.implementation)}: {verdict} ({report.arithmetic}, relu'(0) = "
            f"{report.relu_grad_at_zero:g})"
        )
        axes.grid(True, which="major", alpha=0.3)
        axes.text(
            0.01,
            0.01,
            "bottom row: error exactly 0",
            transform=axes.transAxes,
            fontsize="small",
            color="gray",
        )
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
    finally:
        pyplot.close(figure)
    return buffer.getvalue()


def params_npz_bytes(params: Params) -> bytes:
    """Return ``w1`` and ``w2`` as the bytes of an uncompressed ``.npz`` (no pickled objects)."""
    buffer = io.BytesIO()
    np.savez(buffer, w1=params.w1, w2=params.w2)
    return buffer.getvalue()


# -- commands -----------------------------------------------------------------------------------


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _train(args: argparse.Namespace) -> int:
    dims = Dims(args.batch, args.d_in, args.hidden, args.d_out)
    # Sizes are judged before any array is made: a typo must not allocate terabytes.
    sizes = f"--batch {dims.batch} --d-in {dims.d_in} --hidden {dims.hidden} --d-out {dims.d_out}"
    try:
        check_bytes(f"--steps {args.steps}", steps_bytes(args.steps))
        check_bytes(sizes, dims_bytes(dims))
        check_bytes(
            f"{sizes} with --steps {args.steps}", dims_bytes(dims) + steps_bytes(args.steps)
        )
    except ValueError as error:
        raise UsageError(str(error), prog="twolayer train") from None
    for path in (args.save, args.plot):
        if path is not None:
            check_writable(path, force=args.force)  # fail before the work, not after it
    if args.plot is not None:
        _pyplot()
    if args.legacy_rng:
        x, y, params = legacy_init(args.seed, dims)
    else:
        rng = np.random.default_rng(args.seed)
        x, y = init_data(rng, dims)
        params = init_params(rng, dims)
    result = train(
        params,
        x,
        y,
        learning_rate=args.lr,
        steps=args.steps,
        relu_grad_at_zero=args.relu_grad_at_zero,
    )
    if args.save is not None:
        write_atomic(args.save, params_npz_bytes(result.params), force=args.force)
    if args.plot is not None:
        title = (
            f"twolayer train: dims ({dims.batch}, {dims.d_in}, {dims.hidden}, {dims.d_out}), "
            f"lr {args.lr:g}, seed {args.seed}"
        )
        write_atomic(args.plot, loss_plot_png(result.losses.tolist(), title), force=args.force)
    if args.json:
        record = {
            "dims": dims._asdict(),
            "learning_rate": args.lr,
            "steps": args.steps,
            "seed": args.seed,
            "legacy_rng": args.legacy_rng,
            "relu_grad_at_zero": args.relu_grad_at_zero,
            "losses": [_json_float(float(value)) for value in result.losses],
        }
        print(json.dumps(record))
        return EXIT_OK
    for t in range(0, args.steps, args.print_every):
        # The notebook's own format, applied to a numpy float64 as the notebook does.
        print("Iteration: {}\t loss:{}".format(t, result.losses[t]))  # noqa: UP032 (the seed's)
    return EXIT_OK


def _vectors(args: argparse.Namespace) -> int:
    from twolayer import vectors  # noqa: PLC0415 (exact arithmetic: loaded only when asked for)

    # Judged before the work (about a minute), and again when the new suite is put in place.
    check_replaceable(args.out, force=args.force, manifest=vectors.MANIFEST_FILE)
    files = vectors.suite_files()
    write_directory_atomic(args.out, files, force=args.force, manifest=vectors.MANIFEST_FILE)
    for name, data in files.items():
        where = terminal_text(str(args.out / name))
        print(f"{hashlib.sha256(data).hexdigest()}  {len(data):>10} bytes  {where}")
    return EXIT_OK


def _read(path: Path, what: str) -> bytes:
    """The bytes of ``path``, at most ``MAX_DOCUMENT_BYTES`` of them, or ``UsageError``.

    A file's size is checked before it is read; a pipe or a device (``/dev/stdin``, an endless
    stream) is read up to one byte past the limit and no further.
    """
    try:
        with open(path, "rb") as file:
            status = os.fstat(file.fileno())
            if stat.S_ISDIR(status.st_mode):
                raise UsageError(f"the {what} {_shown_path(path)} is a directory, not a file")
            if stat.S_ISREG(status.st_mode):
                check_document_size(status.st_size, f"{what} file")
            data = file.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read the {what} {_shown_path(path)}: {error.strerror}") from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        check_document_size(len(data), f"{what} file")
    except ValueError as error:
        raise UsageError(str(error)) from None
    return data


def _shown_path(path: Path) -> str:
    return terminal_text(str(path))


def _conformance(*, draws: bool) -> ModuleType:
    """Return twolayer.conformance; if it will draw cases, check first that hypothesis imports.

    hypothesis is a dependency of twolayer, so only a broken environment lacks it (an install with
    ``--no-deps``, say); judging a results file never needs it.
    """
    from twolayer import conformance  # noqa: PLC0415 (on demand: train needs none of it)

    if draws and importlib.util.find_spec("hypothesis") is None:
        raise UsageError(
            "twolayer check --impl draws its cases with hypothesis, which is not installed "
            "(it is a dependency of twolayer): pip install hypothesis"
        )
    return conformance


@runtime_checkable
class _Stream(Protocol):
    """Where the progress line goes: sys.stderr, or anything that writes text as it does."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class _Progress:
    """``judged 120 of 249 cases`` on a terminal, redrawn in place, from a second on."""

    def __init__(self, stream: _Stream, what: str) -> None:
        self.stream, self.what = stream, what
        self.start = time.monotonic()
        self.drawn_at = -math.inf
        self.width = 0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.start < PROGRESS_AFTER_S or now - self.drawn_at < PROGRESS_EVERY_S:
            return
        self.drawn_at = now
        line = f"judged {done} of {total} {self.what}"
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = max(self.width, len(line))

    def clear(self) -> None:
        """Blank the line drawn, if any, so that what follows starts on a clean line."""
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def _progress(what: str) -> _Progress | None:
    """A progress line on stderr if it is a terminal; None on a pipe or file (logs stay clean)."""
    stream = sys.stderr
    isatty: Callable[[], bool] | None = getattr(stream, "isatty", None)
    return _Progress(stream, what) if isatty is not None and isatty() else None


def _timeout_option(timeout: float | None, python: str | None) -> float | None:
    if timeout is not None and python is None:
        raise UsageError("--timeout goes with --impl or --train")
    return timeout


def _check(args: argparse.Namespace) -> int:
    python = args.impl if args.impl is not None else args.train
    conformance = _conformance(draws=python is not None and args.max_examples > 0)
    if args.suite is not None and args.results is None:
        raise UsageError("--suite goes with --results")
    if args.steps is not None and args.train is None:
        raise UsageError("--steps goes with --train")
    if args.plot is not None:
        check_writable(args.plot, force=args.force)
        _pyplot()
    options = {"arithmetic": args.arithmetic, "relu_grad_at_zero": args.relu_grad_at_zero}
    timeout = _timeout_option(args.timeout, python)
    progress = _progress("trajectories" if args.train is not None else "cases")
    try:
        # The implementation is named, not loaded here: a worker process imports and runs it,
        # so that an exit, a hang or what it prints stays there (twolayer.isolation).
        if args.impl is not None:
            reports = (
                conformance.check_implementation(
                    args.impl,
                    max_examples=args.max_examples,
                    progress=progress,
                    timeout=timeout,
                    **options,
                ),
            )
        elif args.train is not None:
            steps = {} if args.steps is None else {"steps": args.steps}
            reports = (
                conformance.check_training(
                    args.train,
                    max_examples=args.max_examples,
                    progress=progress,
                    timeout=timeout,
                    **steps,
                    **options,
                ),
            )
        else:
            suite = None if args.suite is None else _read(args.suite, "suite")
            results = _read(args.results, "results")
            reports = conformance.check_results_file(suite, results, **options)
    except ValueError as error:
        raise UsageError(str(error).splitlines()[0]) from None
    finally:
        if progress is not None:
            progress.clear()
    if args.json:
        print(json.dumps(conformance.report_document(reports), indent=2, allow_nan=False))
    else:
        text = "\n".join(conformance.format_report(report) for report in reports)
        print(terminal_text(text))
    if args.plot is not None:
        write_atomic(args.plot, check_plot_png(reports[0]), force=args.force)
    return EXIT_OK if all(report.conforms for report in reports) else EXIT_CHECK_FAILED


def _run(args: argparse.Namespace) -> int:
    if args.command == "train":
        return _train(args)
    if args.command == "vectors":
        return _vectors(args)
    if args.command == "check":
        return _check(args)
    raise UsageError(f"unknown command {args.command!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``twolayer`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        args = _build_parser().parse_args(argv)
        status = _run(args)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then caught below
        return status
    except BrokenPipeError:
        # The reader went away (`twolayer train | head -1`): nothing more can reach it, and
        # nothing is wrong. Point stdout at devnull so that the flush at exit cannot fail too.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE
    except KeyboardInterrupt:
        # Ctrl-C: one line and the status a shell gives a program that SIGINT ended. Files are
        # written whole or not at all (write_atomic, write_directory_atomic), so none is half.
        _error_line("twolayer", "interrupted")
        return EXIT_INTERRUPTED
    except UsageError as error:
        _error_line(error.prog, str(error))
    except MemoryError:
        _error_line("twolayer", "out of memory: the sizes asked for do not fit in this machine")
    except (ValueError, TypeError, OSError) as error:
        _error_line("twolayer", str(error))
    return EXIT_USAGE


def _error_line(prog: str, message: str) -> None:
    """Write ``prog: error: message`` as one line on stderr, escaped for the terminal."""
    first = message.splitlines()[0] if message else ""
    with contextlib.suppress(OSError, ValueError):  # stderr itself may be closed
        print(f"{prog}: error: {terminal_text(first)}", file=sys.stderr, flush=True)
