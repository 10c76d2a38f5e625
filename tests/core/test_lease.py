"""curation.core.lease: one writer per output, on local disk (flock), on S3 (conditional writes, moto server)
and on GCS (generation preconditions, fake-gcs-server).

The holder is another process, as in real use: a second job must be refused while it lives, and a rerun
must take over once it is killed with SIGKILL.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curation.core import storage
from curation.core.errors import ConfigError
from curation.core.lease import LEASE_FILE, Lease, LeaseHeld, LeaseLost
from curation.core.storage import StorageError
from tests.gcs_server import gcs_bucket, gcs_server  # noqa: F401  (fixtures)
from tests.s3_server import s3_bucket, s3_server  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[2]
# argv: output, ttl_s, heartbeat_s, host name to pretend ("" = real). Prints "held" or "refused ...", then
# waits: until stdin closes (then releases) or, if the lease is lost, prints "lost <message>".
HOLDER = r"""
import socket, sys, threading, time
if sys.argv[4]:
    socket.gethostname = lambda: sys.argv[4]
from curation.core.lease import Lease, LeaseHeld, LeaseLost
lease = Lease(sys.argv[1], "test holder", ttl_s=float(sys.argv[2]), heartbeat_s=float(sys.argv[3]))
try:
    lease.acquire()
except LeaseHeld as exc:
    print("refused", exc, flush=True)
    sys.exit(3)
print("held", flush=True)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
while not done.wait(0.05):
    try:
        lease.check()
    except LeaseLost as exc:
        print("lost", exc, flush=True)
        sys.exit(4)
lease.release()
print("released", flush=True)
"""


def _holder(output: str, ttl_s: float = 30.0, heartbeat_s: float = 0.5, host: str = "") -> subprocess.Popen:
    """Start a holder process and wait until it reports."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, output, str(ttl_s), str(heartbeat_s), host], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.first_line = proc.stdout.readline().strip()
    return proc


def _stop(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate("", timeout=30)
    return out


BUCKETS = {"s3": "s3_bucket", "gs": "gcs_bucket"}


@pytest.fixture(params=["local", "s3", "gs"])
def output(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "out")
    return request.getfixturevalue(BUCKETS[request.param]) + "/out"


@pytest.fixture(params=["s3", "gs"])
def remote_output(request) -> str:
    """An output prefix on each object store."""
    return request.getfixturevalue(BUCKETS[request.param]) + "/out"


def test_second_job_refused_while_first_holds(output):
    other = _holder(output)
    try:
        assert other.first_line == "held"
        with pytest.raises(LeaseHeld) as info:
            Lease(output, "second job").acquire()
        text = str(info.value)
        assert text.startswith(f"{output} is being written by another job (test holder: host ")
        assert f"pid {other.pid}," in text and "last heartbeat " in text and "\n" not in text
    finally:
        assert _stop(other).strip() == "released" and other.returncode == 0
    # the other order: this process holds, another process is refused
    with Lease(output, "first job") as lease:
        refused = _holder(output)
        assert refused.first_line.startswith(f"refused {output} is being written by another job (first job: ")
        assert f"pid {os.getpid()}," in refused.first_line
        assert refused.wait(30) == 3
        lease.check()
    assert not storage.exists(storage.join(output, LEASE_FILE))  # released: nothing left in the output


def test_release_lets_the_next_job_in(output):
    first = _holder(output)
    assert first.first_line == "held"
    assert _stop(first).strip() == "released"
    with Lease(output, "next job") as lease:
        assert lease.took_over is None
        record = json.loads(storage.read_bytes(storage.join(output, LEASE_FILE)))
        assert record["pid"] == os.getpid() and record["description"] == "next job"


def test_takeover_after_holder_is_killed(output):
    """A dead holder on this host is detected at once: locally by the kernel, on an object store by its pid."""
    victim = _holder(output)
    assert victim.first_line == "held"
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    with Lease(output, "rerun") as lease:
        assert lease.took_over["pid"] == victim.pid and lease.took_over["description"] == "test holder"


def test_takeover_of_another_hosts_lease_after_ttl(remote_output):
    output = remote_output
    ttl = 2.0
    victim = _holder(output, ttl_s=ttl, heartbeat_s=0.4, host="elsewhere")
    assert victim.first_line == "held"
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    killed = time.monotonic()
    with pytest.raises(LeaseHeld, match=r"host elsewhere, .* if it died, rerun after \d+ s \(lease TTL 2 s\)$"):
        Lease(output, "rerun", ttl_s=ttl, heartbeat_s=0.5).acquire()
    # the store's clock has 1 s resolution: past ttl + 1 s the lease is certainly stale
    time.sleep(max(0.0, ttl + 1.5 - (time.monotonic() - killed)))
    with Lease(output, "rerun", ttl_s=ttl, heartbeat_s=0.5) as lease:
        assert lease.took_over["host"] == "elsewhere" and lease.took_over["pid"] == victim.pid


def test_taken_over_lease_is_reported_lost_to_its_old_holder(remote_output):
    """A holder that stalls (SIGSTOP) past the TTL loses its lease; when it resumes it learns so, and its
    release does not delete the new holder's lease."""
    output = remote_output
    ttl = 2.0
    stalled = _holder(output, ttl_s=ttl, heartbeat_s=0.4, host="elsewhere")
    assert stalled.first_line == "held"
    stalled.send_signal(signal.SIGSTOP)
    try:
        time.sleep(ttl + 2.0)
        lease = Lease(output, "new job", ttl_s=ttl, heartbeat_s=0.5).acquire()
    finally:
        stalled.send_signal(signal.SIGCONT)
    try:
        line = stalled.stdout.readline().strip()
        assert line.startswith(f"lost {output}: lease taken over by another job") and stalled.wait(30) == 4
        time.sleep(1.0)  # the new holder keeps renewing undisturbed
        lease.check()
        record = json.loads(storage.read_bytes(storage.join(output, LEASE_FILE)))
        assert record["pid"] == os.getpid()
    finally:
        lease.release()


def test_lost_lease_in_process(remote_output):
    """Overwriting the lease behind the holder's back: check() raises, release() leaves the object alone."""
    output = remote_output
    lease_uri = storage.join(output, LEASE_FILE)
    lease = Lease(output, "job", ttl_s=2.0, heartbeat_s=0.2).acquire()
    first = json.loads(storage.read_bytes(lease_uri))["heartbeat"]
    time.sleep(0.7)
    assert json.loads(storage.read_bytes(lease_uri))["heartbeat"] > first  # renewed
    storage.write_bytes(lease_uri, b'{"host": "intruder"}')  # an unconditional write: a new ETag / generation
    deadline = time.monotonic() + 5
    while not lease.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(LeaseLost, match=rf"^{output}: lease taken over by another job"):
        lease.check()
    lease.release()
    assert storage.read_bytes(lease_uri) == b'{"host": "intruder"}'


def test_lease_removed_behind_the_holders_back_is_lost(remote_output):
    """A deleted lease object is lost too (renewal is conditional on our version, which is gone), and the next
    job creates a fresh one."""
    lease = Lease(remote_output, "job", ttl_s=2.0, heartbeat_s=0.2).acquire()
    storage.delete(storage.join(remote_output, LEASE_FILE))
    deadline = time.monotonic() + 5
    while not lease.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(LeaseLost, match="lease taken over by another job \\(or removed\\)"):
        lease.check()
    lease.release()
    with Lease(remote_output, "next") as nxt:
        assert nxt.took_over is None


def test_local_lease_file_removed_is_reported_lost(tmp_path):
    output = str(tmp_path / "out")
    with Lease(output, "job", ttl_s=2.0, heartbeat_s=0.1) as lease:
        os.unlink(os.path.join(output, LEASE_FILE))
        deadline = time.monotonic() + 5
        while not lease.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(LeaseLost, match="was removed or replaced"):
            lease.check()
    # the next job gets a fresh lease
    with Lease(output, "next"):
        pass


def test_bad_arguments_and_missing_bucket(tmp_path, s3_server, gcs_server):
    with pytest.raises(ConfigError, match="ttl_s > heartbeat_s > 0"):
        Lease(str(tmp_path), "job", ttl_s=5, heartbeat_s=5)
    for scheme in ("s3", "gs"):
        with pytest.raises(StorageError) as info:
            Lease(f"{scheme}://no-such-bucket-curation/out", "job").acquire()
        assert str(info.value) == f"{scheme}://no-such-bucket-curation/out/{LEASE_FILE}: no such bucket"
