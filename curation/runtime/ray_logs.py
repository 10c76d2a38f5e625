"""Ray's own output kept out of the terminal: a normal run shows only our progress and summaries.

Ray speaks on the driver's stderr from three places: Python loggers it configures when it is imported and
started (``ray``, ``ray.data``: token authentication, the streaming executor's plan, "progress bars
disabled"), and its C++ core worker, which writes straight to file descriptor 2 (e.g. the actor "constructor
arguments in the object store" error line). Only a file-descriptor redirect catches all three, so
:func:`ray_output_to` points fd 2, and with it ``sys.stderr``, at a log file for the duration of a job; our
own output goes to :func:`terminal` (the progress line, and the root logger's handlers are moved there). The
tracebacks of internal errors (:data:`curation.core.errors.INTERNAL_LOGGER`) go to the log file too: the
terminal gets the summary's count, the file the details.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Iterator

from curation.core import storage
from curation.core.errors import INTERNAL_LOGGER

# OUTPUT/_logs/ray-<UTC time>.log holds Ray's output of the job that wrote OUTPUT.
LOG_DIR = "_logs"
_terminal: io.TextIOBase | None = None


def terminal():
    """The stream for our own progress output: the terminal's stderr, also while Ray's output is sent to a
    log file."""
    return _terminal or sys.stderr


@dataclass
class RayLog:
    """Where Ray's output of a job went: ``path`` (a local path or an object-store URI), ``kept`` once the block
    has ended and something was written (a job that never started Ray leaves nothing)."""

    path: str | None
    kept: bool = False


@contextlib.contextmanager
def ray_output_to(output: str | None) -> Iterator[RayLog]:
    """Send everything written to fd 2 during the block (Ray's loggers and its C++ workers) to a log file that
    ends up at ``OUTPUT/_logs/ray-<UTC time>.log`` (``output`` may be an object-store URI; the file is staged
    locally and copied there when the block ends, also after an error). ``output=None`` changes nothing
    (``--verbose``)."""
    if output is None:
        yield RayLog(None)
        return
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = storage.join(output, LOG_DIR, f"ray-{stamp}.log")
    fd, staged = tempfile.mkstemp(prefix="curation-ray-", suffix=".log")
    global _terminal
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    terminal = io.TextIOWrapper(os.fdopen(terminal_fd, "wb", buffering=0), write_through=True,
                                encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                                errors="backslashreplace")
    moved = [h for h in logging.getLogger().handlers
             if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.stderr]
    for handler in moved:
        handler.setStream(terminal)
    _terminal = terminal
    internal = logging.getLogger(INTERNAL_LOGGER)
    to_file = logging.StreamHandler(sys.stderr)  # fd 2, the log file
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    internal.addHandler(to_file)
    internal.propagate = False
    log = RayLog(target)
    try:
        yield log
    finally:
        sys.stderr.flush()
        internal.removeHandler(to_file)
        internal.propagate = True
        os.dup2(terminal_fd, 2)  # fd 2 is the terminal again; ``terminal`` still owns terminal_fd
        for handler in moved:
            handler.setStream(sys.stderr)
        _terminal = None
        terminal.close()
        try:
            with open(staged, "rb") as f:
                data = f.read()
            if data:
                storage.write_bytes(target, data)
                log.kept = True
        finally:
            os.unlink(staged)
