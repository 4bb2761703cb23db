"""Worker processes that hold an implementation under test, so that the judge can stop it.

The judge (``twolayer.conformance``) calls code that it does not trust: an import or a step may
exit, never return, or leave global state behind. Python cannot interrupt a thread that never
returns, so a worker process holds the implementation and calls it on request, and the judge
kills the process (its whole process group) when a call outlasts its timeout or when the judge is
done. Two kinds:

- ``spawn(spec, what, timeout)``: a fresh interpreter imports ``"module:attr"`` with the judge's
  ``sys.path`` (the judge never runs the module's code), its standard input, output and error
  on ``os.devnull``: what the implementation prints is discarded. ``twolayer check --impl`` and
  ``--train`` use it, and the API given a name.
- ``fork(answer, timeout)``: a fork of the judge's own process, for a callable handed to the API
  with ``timeout=``; it inherits the caller's standard streams.

The worker ignores SIGINT: Ctrl-C is the judge's to handle (it then kills the worker), and a
KeyboardInterrupt inside the worker is the implementation's own doing. Requests are pickled; the
answers, which come from a process that runs untrusted code, are read by an unpickler that
admits plain builtins only (no class, no function), up to ``MAX_ANSWER_BYTES``. Nothing here
prints.
"""

import contextlib
import io
import os
import pickle
import signal
import socket
import subprocess
import sys
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

DEFAULT_TIMEOUT_S = 60.0
"""The default limit on one call of an implementation, and on its import, in seconds.

At the seed's dims numpy's step (``twolayer.zoo.reference_step``) took 1 to 44 ms a call on the
project's shared 2-core machine (``python benchmarks/bench.py --only-isolation``); the judge's
largest case, ``Dims(130, 1100, 260, 20)``, has about 6 times the seed's products. 60 s leaves
a margin of hundreds for an implementation far slower than numpy (a pure-Python loop, a cold
GPU start, importing torch), while a step that never returns costs a minute, not the afternoon.
``twolayer check --timeout`` and the API's ``timeout=`` change it.
"""

MAX_ANSWER_BYTES = 1 << 30
"""The largest answer read from a worker: far above the outputs of the judge's largest case
(a few MB), far below what would exhaust the judge's memory."""


class StoppedError(Exception):
    """The worker did not answer: the call outlasted its timeout, or the process ended.

    Its message completes a sentence whose subject is the call: ``"did not return within 60 s
    (its worker process was stopped)"``, ``"ended its process (exit status 0)"``.
    """


def _describe(status: int) -> str:
    """An exit code as ``subprocess`` gives it (minus a signal's number where one ended it)."""
    if status < 0:
        try:
            return f"killed by signal {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


class _PlainUnpickler(pickle.Unpickler):
    """Reads builtins only: a pickle that names any class or function is refused."""

    def find_class(self, module: str, name: str, /) -> type:
        raise pickle.UnpicklingError(f"a worker's answer may not name {module}.{name}")


class Worker:
    """A process that holds one implementation and answers the judge's requests, one at a time.

    ``request`` sends a request and waits at most ``timeout`` seconds for the answer; where none
    comes, the process is killed and ``StoppedError`` says why. ``close`` kills it (idempotent).
    """

    def __init__(
        self, connection: Connection, pid: int, reap: Callable[[], int], timeout: float
    ) -> None:
        self.timeout = timeout
        self._connection: Connection | None = connection
        self._pid = pid
        self._reap = reap
        self._status: int | None = None

    def request(self, message: object) -> object:
        """Send ``message``; return the answer, read as plain builtins, or raise StoppedError."""
        return self.receive(self.timeout, message)

    def receive(self, timeout: float, message: object = None) -> object:
        """Send ``message`` unless None; wait at most ``timeout`` seconds for the next answer."""
        connection = self._connection
        if connection is None:
            raise StoppedError("was not made: the worker process was stopped earlier")
        try:
            if message is not None:
                connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
            if not connection.poll(timeout):
                self.close()
                raise StoppedError(
                    f"did not return within {timeout:g} s (its worker process was stopped)"
                )
            data = connection.recv_bytes(MAX_ANSWER_BYTES)
            return _PlainUnpickler(io.BytesIO(data)).load()
        except StoppedError:
            raise
        except (EOFError, OSError):
            status = self.close()
            raise StoppedError(f"ended its process ({_describe(status)})") from None
        except Exception as error:  # a garbled answer: the process wrote to the judge's socket
            self.close()
            raise StoppedError(f"left an answer that the judge cannot read ({error})") from None

    def close(self) -> int:
        """Kill the process and its group, if still there; return its exit code."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(self._pid, signal.SIGKILL)
            self._status = self._reap()
        return self._status if self._status is not None else 0


def _serve(connection: Connection, answer: Callable[[object], object]) -> None:
    """Answer the judge's requests until it closes the connection."""
    while True:
        try:
            data = connection.recv_bytes()
        except EOFError:
            return
        reply = answer(pickle.loads(data))  # from the judge, which is trusted
        connection.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


def _child(fd: int) -> None:
    """The body of a spawned worker: load the implementation that the first request names."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = Connection(fd)
    from twolayer import calls  # noqa: PLC0415 (calls imports this module: a cycle at the top)

    connection.send_bytes(pickle.dumps(("started", "")))
    _, spec, what, path = pickle.loads(connection.recv_bytes())
    sys.path[:] = path
    try:
        function = calls.worker_load(spec, what)
    except ValueError as error:
        connection.send_bytes(pickle.dumps(("refused", str(error))))
        return
    connection.send_bytes(pickle.dumps(("ready", "")))
    _serve(connection, lambda request: calls.worker_answer(function, request))


def spawn(spec: str, what: str, timeout: float) -> Worker:
    """Start a worker that imports ``spec`` (``"module:attr"``) and calls it on request.

    Raises:
        ValueError: the import failed, exited or outlasted ``timeout``; the message is one
            line that names the module.
    """
    parent, child = socket.socketpair()
    # The folder that holds this package, first: the worker imports the same twolayer.
    root = str(Path(__file__).resolve().parent.parent)
    code = (
        f"import sys; sys.path.insert(0, {root!r}); "
        f"from twolayer.isolation import _child; _child({child.fileno()})"
    )
    try:
        process = subprocess.Popen(
            [sys.executable, "-P", "-c", code],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: killed whole, spared the terminal's ^C
        )
    except OSError as error:
        parent.close()
        raise ValueError(f"cannot start a worker process for {spec}: {error}") from None
    finally:
        child.close()
    worker = Worker(Connection(parent.detach()), process.pid, process.wait, timeout)
    module = spec.partition(":")[0]
    try:
        # Python and the judge's own modules load before the clock of the import starts.
        started = worker.receive(max(timeout, DEFAULT_TIMEOUT_S))
    except StoppedError as error:
        raise ValueError(f"cannot start a worker process for {spec}: it {error}") from None
    if started != ("started", ""):
        worker.close()
        raise ValueError(f"cannot start a worker process for {spec}: it gave no answer")
    try:
        answer = worker.request(("load", spec, what, list(sys.path)))
    except StoppedError as error:
        raise ValueError(f"cannot import {module}: importing it {error}") from None
    if answer == ("ready", ""):
        return worker
    worker.close()
    if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[1], str):
        raise ValueError(answer[1])
    raise ValueError(f"cannot import {module}: its worker process gave no answer")


def _reap(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def fork(answer: Callable[[object], object], timeout: float) -> Worker:
    """Start a worker that is a fork of this process and answers with ``answer(request)``."""
    parent, child = socket.socketpair()
    for stream in (sys.stdout, sys.stderr):  # what is buffered would be written twice
        with contextlib.suppress(Exception):
            stream.flush()
    with warnings.catch_warnings():
        # Python 3.12+ warns where a process with threads forks (the BLAS's idle threads here):
        # the worker calls the implementation and numpy, and ends with os._exit.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the worker
        status = 0
        try:
            parent.close()
            os.setsid()
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _serve(Connection(child.detach()), answer)
        except BaseException:  # the worker ends here, whatever happened
            status = 1
        finally:
            os._exit(status)
    child.close()
    return Worker(Connection(parent.detach()), pid, lambda: _reap(pid), timeout)
