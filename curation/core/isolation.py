"""Run per-video work in a persistent child process so a decode stuck inside FFmpeg (or a crash in native
code) costs one video, not the worker: the child is killed at the time limit and a fresh one is started.

The child is a plain ``python -c`` process talking over a socket pair (not a ``multiprocessing`` spawn: that
re-runs the parent's ``__main__``, which in a Ray worker imports all of Ray into every child). It is started
ahead of need (``start()``, and again right after a kill) and can run a warm-up call first (imports, model
loading), so one child per worker serves every video and its start-up overlaps other work.
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
import time
import traceback
import weakref
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any, Callable

from curation.core.errors import VideoError

# Seconds a child may take to start and run its warm-up call (imports, model loading) on a busy machine.
STARTUP_TIMEOUT_S = 300.0

_PATH_ENV = "CURATION_ISOLATION_SYS_PATH"
_BOOT = ("import json, os, sys; sys.path[:] = json.loads(os.environ.pop({env!r})); "
         "from curation.core.isolation import _child_main; _child_main(int(sys.argv[1]), int(sys.argv[2]))")


def _watch_parent(parent_pid: int) -> None:
    """Exit when the parent is gone (an idle child then also sees EOF; this covers a busy one)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(1)


def _first_to_go_when_memory_runs_out() -> None:
    """Ask Linux's out-of-memory killer to pick this child first: a file whose decode exhausts memory then costs
    its own row (``worker_crashed``), not the job's driver or a Ray daemon. (Raising one's own score needs no
    privilege; elsewhere this does nothing.)"""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def _child_main(fd: int, parent_pid: int) -> None:
    _first_to_go_when_memory_runs_out()
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    _child_loop(Connection(fd))


# In a child: its connection to the parent, for ask_parent during a call.
_PARENT: Connection | None = None
_ASK_LOCK = threading.Lock()


def in_child() -> bool:
    """Is this process an isolated child (so :func:`ask_parent` can reach a parent)?"""
    return _PARENT is not None


def ask_parent(service: str, args: tuple) -> Any:
    """In a child, inside a call: run the parent's ``service`` (one of the ``services`` its
    :class:`IsolatedWorker` was given) on ``args`` and return the result. The parent serves it while it waits for
    the call, within the call's time limit. Re-raises a VideoError from the service; raises
    :class:`ServiceFailed` for any other exception of the service."""
    if _PARENT is None:
        raise RuntimeError("ask_parent outside an isolated child")
    with _ASK_LOCK:
        _PARENT.send(("ask", service, args))
        status, payload = _PARENT.recv()
    if status == "video_error":
        raise VideoError(*payload)
    if status == "exception":
        exc_type, message, parent_traceback = payload
        raise ServiceFailed(f"the parent's {service!r} raised {exc_type}: {message}\n{parent_traceback}")
    return payload


class ServiceFailed(RuntimeError):
    """In a child: a service of the parent (:func:`ask_parent`) raised an unexpected exception."""


def _child_loop(conn: Connection) -> None:
    global _PARENT
    _PARENT = conn
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            fn, args = pickle.loads(data)
            reply = ("ok", fn(*args))
        except VideoError as exc:
            reply = ("video_error", (exc.kind, exc.message))
        except Exception as exc:  # noqa: BLE001 - re-raised in the parent with the child's traceback
            reply = ("exception", (type(exc).__name__, str(exc), traceback.format_exc()))
        try:
            try:
                conn.send(reply)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an unpicklable result
                conn.send(("exception", (type(exc).__name__, str(exc), traceback.format_exc())))
        except OSError:  # the parent is gone
            return


class WorkerCrashed(RuntimeError):
    """The child could not start, or raised an unexpected exception (:class:`CallFailed`): raised in the
    parent."""


class CallFailed(WorkerCrashed):
    """A call raised an unexpected exception in the child (not a VideoError): a bug met while handling the
    call's input. ``exc_type`` and ``message`` are the exception's type name and text, ``child_traceback`` the
    child's traceback. The child lives on for the next call."""

    def __init__(self, exc_type: str, message: str, child_traceback: str):
        super().__init__(f"{exc_type}: {message}\n{child_traceback}")
        self.exc_type, self.message, self.child_traceback = exc_type, message, child_traceback


def _kill_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class IsolatedWorker:
    """A child process that runs picklable module-level functions, one call at a time.

    ``warmup``: ``(fn, args)`` run in every new child before its first call (imports, model loading); its
    result is discarded, an exception from it is re-raised as :class:`WorkerCrashed` by the next ``call``.
    ``services``: functions of this process a call may ask for by name (:func:`ask_parent`), run in the thread
    that waits for the call; a VideoError from one goes back to the child, any other exception raises here.
    """

    def __init__(self, warmup: tuple[Callable, tuple] | None = None,
                 services: dict[str, Callable] | None = None) -> None:
        self._warmup = warmup
        self._services = dict(services or {})
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._warming = False
        self._finalizer = None
        self.starts = 0  # children started so far (tests, logs)

    def start(self) -> None:
        """Start the child (and its warm-up) now, without waiting for it; ``call`` does it when needed."""
        if self._process is None or self._process.poll() is not None:
            self._kill()
            self._start()

    def _start(self) -> None:
        parent, child = Pipe(duplex=True)
        env = {**os.environ, _PATH_ENV: json.dumps([p for p in sys.path if isinstance(p, str)])}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOT.format(env=_PATH_ENV), str(child.fileno()), str(os.getpid())],
                pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL)
        finally:
            child.close()
        self._conn = parent
        self.starts += 1
        # Like a daemon process: killed when this worker object goes away or the interpreter exits.
        self._finalizer = weakref.finalize(self, _kill_process, self._process)
        self._warming = False
        if self._warmup is not None:
            self._conn.send(self._warmup)
            self._warming = True

    def _kill(self) -> None:
        if self._process is not None:
            _kill_process(self._process)
            self._conn.close()
            self._finalizer.detach()
        self._process = self._conn = self._finalizer = None
        self._warming = False

    def _stop_and_replace(self) -> int | None:
        """Kill the child and start its replacement at once (its start-up overlaps the caller's work);
        returns the old child's exit code (None: killed here)."""
        code = self._process.poll()
        self._kill()
        self._start()
        return code

    def _finish_warmup(self) -> None:
        try:
            ready = self._conn.poll(STARTUP_TIMEOUT_S)
            reply = self._conn.recv() if ready else None
        except (EOFError, OSError):
            ready, reply = True, None
        self._warming = False
        if reply is None or reply[0] != "ok":
            code = self._process.poll()
            self._kill()
            if not ready:
                raise WorkerCrashed(f"the child process did not start within {STARTUP_TIMEOUT_S:g} s")
            if reply is None:
                raise WorkerCrashed(f"the child process died while starting (exit code {code})")
            exc_type, message, child_traceback = reply[1]
            raise WorkerCrashed(f"starting the child process failed: {exc_type}: {message}\n{child_traceback}")

    def call(self, fn: Callable, args: tuple, timeout_s: float) -> Any:
        """``fn(*args)`` in the child. Raises VideoError('timeout') after ``timeout_s`` seconds (the child is
        killed), VideoError('worker_crashed') if the child dies, re-raises VideoError from ``fn``, raises
        :class:`CallFailed` for any other exception from ``fn``, and :class:`WorkerCrashed` when the child
        cannot start. The child's start-up and warm-up do not count against ``timeout_s``."""
        self.start()
        if self._warming:
            self._finish_warmup()
        deadline = time.monotonic() + timeout_s
        try:
            self._conn.send((fn, args))
        except (BrokenPipeError, EOFError, OSError):
            message = None
        else:
            message = self._receive(deadline)
        while message is not None and message[0] == "ask":
            try:
                self._serve(*message[1:])
            except (BrokenPipeError, OSError):
                message = None
                break
            except BaseException:
                self._kill()  # the child is inside the call, waiting: it must not answer the next one
                raise
            message = self._receive(deadline)
        if message is None:
            # Nothing before the deadline from a live child: it is hung. Anything else: it died.
            died = self._process.poll() is not None or time.monotonic() < deadline
            code = self._stop_and_replace()
            if died:
                raise VideoError("worker_crashed", f"the decoding process died (exit code {code})")
            raise VideoError("timeout", f"no result within the {timeout_s:g} s per-video time limit; killed")
        status, payload = message
        if status == "ok":
            return payload
        if status == "video_error":
            raise VideoError(*payload)
        raise CallFailed(*payload)

    def _receive(self, deadline: float):
        """The child's next message, or None when it sends none before ``deadline`` or its end of the pipe is
        gone (it died)."""
        try:
            if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                return None
            return self._conn.recv()
        except (EOFError, OSError):
            return None

    def _serve(self, service: str, args: tuple) -> None:
        """Answer a child's :func:`ask_parent`; an unexpected exception of the service goes back to the child
        (which raises :class:`ServiceFailed` in its call), so the child is never left waiting for an answer."""
        try:
            reply = ("ok", self._services[service](*args))
        except VideoError as exc:
            reply = ("video_error", (exc.kind, exc.message))
        except CallFailed as exc:  # the service's own child failed on this input
            reply = ("exception", (exc.exc_type, exc.message, exc.child_traceback))
        except WorkerCrashed:
            raise  # the service cannot run at all (it did not start): not the input's doing
        except Exception as exc:  # noqa: BLE001 - reported by the child's call, with this traceback
            reply = ("exception", (type(exc).__name__, str(exc), traceback.format_exc()))
        self._conn.send(reply)

    def close(self) -> None:
        """Kill the child: it holds nothing to save (results travel back with each call), and asking it to exit
        made a job's end wait for every child's interpreter to tear down (2.7 s for two scan children with
        torch loaded, profiled on 120 short clips; 0.4-0.5 s each with a half-second grace)."""
        self._kill()
