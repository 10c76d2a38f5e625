"""Run per-video work in a persistent child process so a decode stuck inside FFmpeg (or a crash in native
code) costs one video, not the worker: the child is killed at the time limit and started again."""
from __future__ import annotations

import multiprocessing as mp
import traceback
from typing import Any, Callable

from curation.video.errors import VideoError

_CONTEXT = mp.get_context("spawn")  # fork is unsafe in threaded processes such as Ray workers


def _child_loop(conn) -> None:
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        fn, args = message
        try:
            conn.send(("ok", fn(*args)))
        except VideoError as exc:
            conn.send(("video_error", (exc.kind, exc.message)))
        except Exception as exc:  # noqa: BLE001 - re-raised in the parent with the child's traceback
            conn.send(("exception", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class WorkerCrashed(RuntimeError):
    """The child raised an unexpected exception (a bug): re-raised in the parent with its traceback."""


class IsolatedWorker:
    """A child process that runs picklable module-level functions, one call at a time."""

    def __init__(self) -> None:
        self._process = None
        self._conn = None

    def _start(self) -> None:
        parent, child = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(target=_child_loop, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self._conn = parent

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=10)
            self._conn.close()
        self._process = self._conn = None

    def call(self, fn: Callable, args: tuple, timeout_s: float) -> Any:
        """``fn(*args)`` in the child. Raises VideoError('timeout') after ``timeout_s`` seconds (the child is
        killed), VideoError('worker_crashed') if the child dies, and re-raises VideoError from ``fn``."""
        if self._process is None or not self._process.is_alive():
            self._start()
        try:
            self._conn.send((fn, args))
            ready = self._conn.poll(timeout_s)
        except (BrokenPipeError, EOFError, OSError):
            ready, crashed = False, True
        else:
            crashed = False
        if not ready:
            died = crashed or not self._process.is_alive()
            code = self._process.exitcode
            self._kill()
            if died:
                raise VideoError("worker_crashed", f"the decoding process died (exit code {code})")
            raise VideoError("timeout", f"no result within the {timeout_s:g} s per-video time limit; killed")
        try:
            status, payload = self._conn.recv()
        except (EOFError, OSError):
            code = self._process.exitcode
            self._kill()
            raise VideoError("worker_crashed", f"the decoding process died (exit code {code})") from None
        if status == "ok":
            return payload
        if status == "video_error":
            raise VideoError(*payload)
        raise WorkerCrashed(payload)

    def close(self) -> None:
        if self._process is not None and self._process.is_alive():
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._process.join(timeout=5)
        self._kill()
