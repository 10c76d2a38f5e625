"""One writer per output: a lease object ``_lease.json`` in the output folder.

A second job on an output held by a live job is refused at once (:class:`LeaseHeld`, one line naming the
holder); the rerun of a crashed job takes over.

Local disk: ``fcntl.flock`` on the lease file, held open for the job's life. The kernel drops the lock when the
process dies, even on ``kill -9``, so a rerun takes over at once with no TTL wait (children forked from the job
inherit the lock and keep it while they live). The file also records the holder for the refusal message.
(flock works on local disks and Linux NFS; FUSE mounts of object stores may not honour it: use their s3:// URI.)

S3: pyarrow has no conditional writes, so this uses boto3: the lease is created with
``PutObject(IfNoneMatch="*")``; a daemon thread renews it every ``heartbeat_s`` with ``IfMatch=<our etag>``;
a lease whose last write is older than its TTL (measured on the store's clock: the ``Date`` of our read minus
the object's ``LastModified``, so client clock skew does not matter), or whose holder ran on this host and
process namespace and is gone, is taken over with ``IfMatch=<stale etag>`` (only one taker can win); release
is ``DeleteObject(IfMatch=<our etag>)``. moto 5.2.5 (server mode) supports all three conditions (probed:
If-None-Match and If-Match on PutObject answer 412 PreconditionFailed, If-Match on DeleteObject too; If-Match
on a missing key answers 404 NoSuchKey). Every write puts a fresh token and time in the body, so etags (MD5s)
never repeat.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from curation.core import storage
from curation.core.errors import ConfigError
from curation.core.layout import LEASE_FILE

log = logging.getLogger(__name__)

_CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
_MISSING = ("NoSuchKey", "404")


class LeaseHeld(ConfigError):
    """Another live job holds the output; the message is one line naming it."""


class LeaseLost(ConfigError):
    """This job's lease was taken over (or could not be renewed within its TTL): stop writing."""


def _pid_namespace() -> int | None:
    """The pid namespace's inode: two containers may share a host name but not a pid namespace."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


class Lease:
    """The right to write ``output_uri`` (a local folder or an s3:// prefix), for one job at a time.

    description: what the holder is doing, shown to a refused job (e.g. ``"curate annotate"``).
    ttl_s: on S3, a lease not renewed for this many seconds is taken to be dead and may be taken over
        (default 60). Local leases need no TTL: the kernel frees a dead holder's lock.
    heartbeat_s: seconds between renewals, < ttl_s (default 10).

    Use as a context manager, or ``acquire()``/``release()``. Call :meth:`check` before committing results:
    it raises LeaseLost if another job took the lease over.
    """

    def __init__(self, output_uri: str, description: str, ttl_s: float = 60.0, heartbeat_s: float = 10.0):
        if not ttl_s > 0 or not 0 < heartbeat_s < ttl_s:
            raise ConfigError(f"lease: need ttl_s > heartbeat_s > 0, got ttl_s={ttl_s}, heartbeat_s={heartbeat_s}")
        if storage.is_remote(output_uri) and not output_uri.startswith("s3://"):
            raise ConfigError(f"{output_uri}: leases need a local path or an s3:// URI")
        self.output = output_uri
        self.uri = storage.join(output_uri, LEASE_FILE)
        self.description, self.ttl_s, self.heartbeat_s = description, float(ttl_s), float(heartbeat_s)
        self.remote = storage.is_remote(output_uri)
        self.took_over: dict | None = None  # the dead holder's record, when acquire() took a lease over
        self._token = uuid.uuid4().hex
        self._started = 0.0
        self._lost: str | None = None
        self._held = False
        self._stop = threading.Event()
        self._lock = threading.Lock()  # serialises renewals with release
        self._thread: threading.Thread | None = None
        self._fd: int | None = None  # local
        self._etag: str | None = None  # S3

    # ------------------------------------------------------------------------------------------- public

    @property
    def lost(self) -> bool:
        """True once the lease was taken over or could not be renewed for ttl_s."""
        return self._lost is not None

    def check(self) -> None:
        """Raise LeaseLost if the lease is no longer ours."""
        if self._lost is not None:
            raise LeaseLost(f"{self.output}: {self._lost}; stop writing: another job may be writing this output")

    def acquire(self) -> Lease:
        """Take the lease or raise LeaseHeld at once; a dead holder's lease is taken over."""
        if self._held:
            return self
        self._started = time.time()
        (self._acquire_s3 if self.remote else self._acquire_local)()
        self._held, self._lost = True, None
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeats, name=f"lease {self.output}", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Give the lease up (a no-op if not held). A lease taken over by another job is left to it."""
        if not self._held:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            (self._release_s3 if self.remote else self._release_local)()
            self._held = False

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    # ------------------------------------------------------------------------------------------- common

    def _record(self) -> bytes:
        return json.dumps({
            "description": self.description, "host": socket.gethostname(), "pid_namespace": _pid_namespace(),
            "pid": os.getpid(), "started": self._started, "heartbeat": time.time(), "ttl_s": self.ttl_s,
            "token": self._token,
        }).encode()

    def _refusal(self, holder: dict, heartbeat_age_s: float | None, advice: str) -> LeaseHeld:
        what = holder.get("description") or "unknown job"
        started = _when(holder["started"]) if isinstance(holder.get("started"), (int, float)) else "?"
        age = f"{heartbeat_age_s:.0f} s ago" if heartbeat_age_s is not None else "unknown"
        return LeaseHeld(storage.redact(
            f"{self.output} is being written by another job ({what}: host {holder.get('host', '?')}, "
            f"pid {holder.get('pid', '?')}, started {started}, last heartbeat {age}); {advice}"))

    def _heartbeats(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.heartbeat_s):
            with self._lock:
                if self._stop.is_set():
                    return
                lost, ok = (self._renew_s3 if self.remote else self._renew_local)()
            if lost:
                self._lost = lost
                log.error("%s", storage.redact(f"{self.output}: {lost}"))
                return
            if ok:
                last_ok = time.monotonic()
            elif time.monotonic() - last_ok > self.ttl_s:
                # Another job may already have taken the lease over as stale.
                self._lost = f"lease not renewed for {self.ttl_s:g} s (object store unreachable?)"
                log.error("%s: %s", self.output, self._lost)
                return

    # -------------------------------------------------------------------------------------------- local

    def _acquire_local(self) -> None:
        path = storage.local_path(self.uri)
        storage.makedirs(self.output)
        for _ in range(20):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise storage.error(self.uri, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _parse(os.pread(fd, 1 << 16, 0))
                os.close(fd)
                age = time.time() - holder["heartbeat"] if isinstance(holder.get("heartbeat"), (int, float)) else None
                raise self._refusal(holder, age, "wait for it to finish, or stop it (a stopped job's lock is "
                                                 "freed at once)") from None
            except OSError as exc:  # e.g. ENOLCK: a file system without locks
                os.close(fd)
                raise storage.error(self.uri, exc) from None
            # A releasing holder unlinks the file before unlocking it: we may have locked a file no longer at
            # the path, while a third job creates a new one. Only the file still at the path counts.
            if self._same_file(fd, path):
                self._fd = fd
                self.took_over = _parse(os.pread(fd, 1 << 16, 0)) or None
                self._write_local()
                return
            os.close(fd)
        raise LeaseHeld(f"{self.output}: the lease file {LEASE_FILE} keeps changing; is another job starting?")

    @staticmethod
    def _same_file(fd: int, path: str) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            return False

    def _write_local(self) -> None:
        data = self._record()
        # Overwrite then cut the tail: the file is never empty for a reader of the holder record.
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def _renew_local(self) -> tuple[str | None, bool]:
        if not self._same_file(self._fd, storage.local_path(self.uri)):
            return f"the lease file {self.uri} was removed or replaced", False
        try:
            self._write_local()
        except OSError as exc:  # a full disk must not end the job: the lock, not the record, is the lease
            log.warning("%s: cannot update the lease record: %s", self.uri, exc.strerror)
        return None, True

    def _release_local(self) -> None:
        path = storage.local_path(self.uri)
        if self._same_file(self._fd, path):
            os.unlink(path)  # before unlocking: see _acquire_local
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    # ----------------------------------------------------------------------------------------------- S3

    def _bucket_key(self) -> tuple[str, str]:
        _fs, path = storage.filesystem(self.uri)
        bucket, _, key = path.partition("/")
        return bucket, key

    def _acquire_s3(self) -> None:
        import botocore.exceptions

        client, (bucket, key) = storage.s3_client(), self._bucket_key()
        for _ in range(10):
            try:
                self._etag = client.put_object(Bucket=bucket, Key=key, Body=self._record(), IfNoneMatch="*",
                                               ContentType="application/json")["ETag"]
                return
            except botocore.exceptions.ClientError as exc:
                if _code(exc) not in _CONFLICT:
                    raise storage.error(self.uri, exc) from None
            except botocore.exceptions.BotoCoreError as exc:
                raise storage.error(self.uri, exc) from None
            try:
                got = client.get_object(Bucket=bucket, Key=key)
                holder, etag = _parse(got["Body"].read()), got["ETag"]
            except botocore.exceptions.ClientError as exc:
                if _code(exc) in _MISSING:
                    continue  # released in between: try to create it again
                raise storage.error(self.uri, exc) from None
            except botocore.exceptions.BotoCoreError as exc:
                raise storage.error(self.uri, exc) from None
            age = _server_age_s(got)
            ttl = max(self.ttl_s, float(holder.get("ttl_s") or 0))
            dead_here = (holder.get("host") == socket.gethostname() and holder.get("pid_namespace") == _pid_namespace()
                         and isinstance(holder.get("pid"), int) and not _pid_alive(holder["pid"]))
            if not dead_here and age <= ttl:
                raise self._refusal(holder, age, f"wait for it, or if it died, rerun after {ttl - age:.0f} s "
                                                 f"(lease TTL {ttl:g} s)")
            try:
                self._etag = client.put_object(Bucket=bucket, Key=key, Body=self._record(), IfMatch=etag,
                                               ContentType="application/json")["ETag"]
                self.took_over = holder
                log.warning("%s", storage.redact(
                    f"{self.output}: took over the lease of a dead job (host {holder.get('host')}, pid "
                    f"{holder.get('pid')}, last heartbeat {age:.0f} s ago)"))
                return
            except botocore.exceptions.ClientError as exc:
                if _code(exc) not in _CONFLICT + _MISSING:
                    raise storage.error(self.uri, exc) from None
                # renewed, released or taken by another job in between: look again
            except botocore.exceptions.BotoCoreError as exc:
                raise storage.error(self.uri, exc) from None
        raise LeaseHeld(f"{self.output}: the lease {LEASE_FILE} keeps changing; is another job starting?")

    def _renew_s3(self) -> tuple[str | None, bool]:
        import botocore.exceptions

        client, (bucket, key) = storage.s3_client(), self._bucket_key()
        try:
            self._etag = client.put_object(Bucket=bucket, Key=key, Body=self._record(), IfMatch=self._etag,
                                           ContentType="application/json")["ETag"]
            return None, True
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in _CONFLICT + _MISSING:
                return "lease taken over by another job (or removed)", False
            log.warning("%s", storage.error(self.uri, exc))
        except botocore.exceptions.BotoCoreError as exc:  # network: retried until ttl_s has passed
            log.warning("%s", storage.error(self.uri, exc))
        return None, False

    def _release_s3(self) -> None:
        import botocore.exceptions

        client, (bucket, key) = storage.s3_client(), self._bucket_key()
        try:
            # Conditional: never delete a lease another job has taken over. (AWS and moto honour If-Match on
            # DeleteObject; a store that ignores it deletes unconditionally, a small window after a takeover.)
            client.delete_object(Bucket=bucket, Key=key, IfMatch=self._etag)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in _CONFLICT:
                self._lost = "lease taken over by another job"
            elif _code(exc) not in _MISSING:
                raise storage.error(self.uri, exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise storage.error(self.uri, exc) from None
        self._etag = None


def _code(exc) -> str:
    err = exc.response.get("Error", {})
    return str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _server_age_s(got: dict) -> float:
    """Seconds since the object was last written, on the store's clock (1 s resolution)."""
    from email.utils import parsedate_to_datetime

    date = got.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    now = parsedate_to_datetime(date).timestamp() if date else time.time()
    return max(0.0, now - got["LastModified"].timestamp())


def _parse(data: bytes) -> dict:
    """The holder record, {} if unreadable (being rewritten, or written by something else)."""
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}
