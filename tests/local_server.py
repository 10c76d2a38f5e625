"""A test server in a child process on a free 127.0.0.1 port: started, waited for, stopped (the S3 and GCS
fixtures share this)."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(command: list[str], probe_url: str, log_path: Path, name: str, timeout_s: float,
          unavailable: Callable[[str], None] = pytest.fail) -> Iterator[subprocess.Popen]:
    """Run ``command`` (output to ``log_path``) until the context ends; ready once ``probe_url`` answers (any
    HTTP status). ``unavailable(message)`` is called when it cannot start or does not answer within
    ``timeout_s`` seconds (default: fail the test; a fixture may skip instead)."""
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        except OSError as exc:
            unavailable(f"{name} cannot start: {exc}")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                urllib.request.urlopen(probe_url, timeout=1).close()
                break
            except urllib.error.HTTPError:  # it answered
                break
            except (urllib.error.URLError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    unavailable(f"{name} did not start; see {log_path}")
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
