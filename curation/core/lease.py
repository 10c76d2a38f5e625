"""One writer per output: a lease object ``_lease.json`` in the output folder.

A second job on an output held by a live job is refused at once (:class:`LeaseHeld`, one line naming the
holder); the rerun of a crashed job takes over.

Local disk: ``fcntl.flock`` on the lease file, held open for the job's life. The kernel drops the lock when the
process dies, even on ``kill -9``, so a rerun takes over at once with no TTL wait (children forked from the job
inherit the lock and keep it while they live). The file also records the holder for the refusal message.
(flock works on local disks and Linux NFS; FUSE mounts of object stores may not honour it: use their URI.)

Object stores (S3, GCS): one protocol on conditional writes, which pyarrow does not have, so each store has a
small back end of four calls (create if absent, read with its version and age, replace if still that version,
delete if still that version). The lease is created only if absent; a daemon thread renews it every
``heartbeat_s`` conditional on our version; a lease whose last write is older than its TTL (measured on the
store's clock: the ``Date`` of our read minus the object's last-modified time, so client clock skew does not
matter), or whose holder ran on this host and process namespace and is gone, is taken over conditional on the
stale version (only one taker can win); release deletes conditional on our version, and a lease seen taken over
is left alone. Every write puts a fresh token and time in the body, so versions never repeat.

- S3, through boto3: ``PutObject(IfNoneMatch="*")``, ``PutObject(IfMatch=<etag>)``,
  ``DeleteObject(IfMatch=<etag>)``. moto 5.2.5 (server mode) supports all three (probed: If-None-Match and
  If-Match on PutObject answer 412 PreconditionFailed, If-Match on DeleteObject too; If-Match on a missing key
  answers 404 NoSuchKey).
- GCS, through the JSON API over HTTP (:func:`curation.core.storage.gcs_session`: anonymous for an emulator,
  else Google's default credentials): multipart uploads with ``ifGenerationMatch=0`` (create) and
  ``ifGenerationMatch=<generation>`` (renew, take over), reads of metadata (``generation``, ``updated``) then
  of exactly that ``generation``, and ``DELETE ?ifGenerationMatch=<generation>``. fake-gcs-server 1.54 honours
  the upload conditions (412) but not the one on DELETE (see tests/gcs_server.py); Google's service honours all.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

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
    """The right to write ``output_uri`` (a local folder, an s3:// or a gs:// prefix), for one job at a time.

    description: what the holder is doing, shown to a refused job (e.g. ``"curate annotate"``).
    ttl_s: on an object store, a lease not renewed for this many seconds is taken to be dead and may be taken
        over (default 60). Local leases need no TTL: the kernel frees a dead holder's lock.
    heartbeat_s: seconds between renewals, < ttl_s (default 10).

    Use as a context manager, or ``acquire()``/``release()``. Call :meth:`check` before committing results:
    it raises LeaseLost if another job took the lease over.
    """

    def __init__(self, output_uri: str, description: str, ttl_s: float = 60.0, heartbeat_s: float = 10.0):
        if not ttl_s > 0 or not 0 < heartbeat_s < ttl_s:
            raise ConfigError(f"lease: need ttl_s > heartbeat_s > 0, got ttl_s={ttl_s}, heartbeat_s={heartbeat_s}")
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
        self._store: _S3Object | _GcsObject | None = None  # remote: the lease object's back end
        self._version: str | None = None  # remote: our write's ETag (S3) or generation (GCS)

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
        (self._acquire_remote if self.remote else self._acquire_local)()
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
            (self._release_remote if self.remote else self._release_local)()
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
                lost, ok = (self._renew_remote if self.remote else self._renew_local)()
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

    # ----------------------------------------------------------------------------------- object stores

    def _acquire_remote(self) -> None:
        store = self._store = _BACKENDS[self.uri.split("://", 1)[0].lower()](self.uri)
        for _ in range(10):
            try:
                self._version = store.create(self._record())
                return
            except _Conflict:
                pass
            try:
                data, version, age = store.read()
            except _Missing:
                continue  # released in between: try to create it again
            holder = _parse(data)
            ttl = max(self.ttl_s, float(holder.get("ttl_s") or 0))
            dead_here = (holder.get("host") == socket.gethostname() and holder.get("pid_namespace") == _pid_namespace()
                         and isinstance(holder.get("pid"), int) and not _pid_alive(holder["pid"]))
            if not dead_here and age <= ttl:
                raise self._refusal(holder, age, f"wait for it, or if it died, rerun after {ttl - age:.0f} s "
                                                 f"(lease TTL {ttl:g} s)")
            try:
                self._version = store.replace(self._record(), version)
            except _Conflict:
                continue  # renewed, released or taken by another job in between: look again
            self.took_over = holder
            log.warning("%s", storage.redact(
                f"{self.output}: took over the lease of a dead job (host {holder.get('host')}, pid "
                f"{holder.get('pid')}, last heartbeat {age:.0f} s ago)"))
            return
        raise LeaseHeld(f"{self.output}: the lease {LEASE_FILE} keeps changing; is another job starting?")

    def _renew_remote(self) -> tuple[str | None, bool]:
        try:
            self._version = self._store.replace(self._record(), self._version)
            return None, True
        except _Conflict:
            self._version = None  # no longer ours: release leaves it alone
            return "lease taken over by another job (or removed)", False
        except storage.StorageError as exc:  # network, 5xx, credentials: retried until ttl_s has passed
            log.warning("%s", exc)
        return None, False

    def _release_remote(self) -> None:
        if self._version is not None:
            try:
                # Conditional: never delete a lease another job has taken over. (AWS, moto and Google honour
                # the condition; a store that ignores it deletes unconditionally, a small window after a
                # takeover the last renewal did not see.)
                self._store.delete(self._version)
            except _Conflict:
                self._lost = "lease taken over by another job"
        self._version = None


# ------------------------------------------------------------------------------------------ back ends
# Each: create(body) -> version, or _Conflict if the object exists; read() -> (body, version, age in seconds on
# the store's clock), or _Missing; replace(body, version) -> new version, or _Conflict if the object is not at
# that version (changed or gone); delete(version), _Conflict if not at that version, nothing if gone. Any
# other failure is a one-line StorageError.

class _Conflict(Exception):
    """The condition failed: the object was written, removed or created by someone else."""


class _Missing(Exception):
    """There is no lease object."""


class _S3Object:
    """The lease object on S3, through boto3 (If-None-Match / If-Match on the ETag)."""

    def __init__(self, uri: str):
        self.uri, self.client = uri, storage.s3_client()
        _fs, path = storage.filesystem(uri)
        self.bucket, _, self.key = path.partition("/")

    def _put(self, body: bytes, **condition: str) -> str:
        return self._call(self.client.put_object, Bucket=self.bucket, Key=self.key, Body=body,
                          ContentType="application/json", **condition)["ETag"]

    def create(self, body: bytes) -> str:
        return self._put(body, IfNoneMatch="*")

    def replace(self, body: bytes, version: str) -> str:
        try:
            return self._put(body, IfMatch=version)
        except _Missing:
            raise _Conflict from None

    def read(self) -> tuple[bytes, str, float]:
        got = self._call(self.client.get_object, Bucket=self.bucket, Key=self.key)
        try:
            data = got["Body"].read()
        except Exception as exc:  # noqa: BLE001 -- botocore's read errors have no common base
            raise storage.error(self.uri, exc) from None
        return data, got["ETag"], _s3_age_s(got)

    def delete(self, version: str) -> None:
        try:
            self._call(self.client.delete_object, Bucket=self.bucket, Key=self.key, IfMatch=version)
        except _Missing:
            pass

    def _call(self, method, **kwargs) -> dict:
        import botocore.exceptions

        try:
            return method(**kwargs)
        except botocore.exceptions.ClientError as exc:
            code = _code(exc)
            if code in _CONFLICT:
                raise _Conflict from None
            if code in _MISSING:
                raise _Missing from None
            raise storage.error(self.uri, exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise storage.error(self.uri, exc) from None


class _GcsObject:
    """The lease object on GCS, through the JSON API (``ifGenerationMatch``)."""

    TIMEOUT_S = (10, 30)  # connect, read: a heartbeat must not hang for long

    def __init__(self, uri: str):
        self.uri = uri
        self.session, base = storage.gcs_session()
        _fs, path = storage.filesystem(uri)
        bucket, _, self.key = path.partition("/")
        self.upload_url = f"{base}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
        self.object_url = f"{base}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(self.key, safe='')}"

    def _upload(self, body: bytes, generation: str) -> str:
        # multipart: metadata and data in one request (the precondition applies to the whole upload)
        boundary = uuid.uuid4().hex
        meta = json.dumps({"name": self.key, "contentType": "application/json"}).encode()
        data = (f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode() + meta +
                f"\r\n--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode() + body +
                f"\r\n--{boundary}--\r\n".encode())
        r = self._call("POST", self.upload_url, {412}, params={
            "uploadType": "multipart", "ifGenerationMatch": generation, "fields": "generation"}, data=data,
            headers={"Content-Type": f"multipart/related; boundary={boundary}"})
        if r.status_code == 412:
            raise _Conflict
        return str(r.json()["generation"])

    def create(self, body: bytes) -> str:
        return self._upload(body, "0")

    def replace(self, body: bytes, version: str) -> str:
        return self._upload(body, version)

    def read(self) -> tuple[bytes, str, float]:
        meta = self._call("GET", self.object_url, {404}, params={"fields": "generation,updated"})
        if meta.status_code == 404:
            raise _Missing
        info = meta.json()
        generation = str(info["generation"])
        # exactly the generation whose time we have: a 404 means it was replaced or removed in between
        got = self._call("GET", self.object_url, {404}, params={"alt": "media", "generation": generation})
        if got.status_code == 404:
            raise _Missing
        return got.content, generation, _gcs_age_s(meta.headers.get("Date"), info["updated"])

    def delete(self, version: str) -> None:
        r = self._call("DELETE", self.object_url, {404, 412}, params={"ifGenerationMatch": version})
        if r.status_code == 412:
            raise _Conflict

    def _call(self, method: str, url: str, expected: set[int], **kwargs):
        """The response of one request; statuses other than 2xx and ``expected`` raise StorageError."""
        import requests

        try:
            r = self.session.request(method, url, timeout=self.TIMEOUT_S, **kwargs)
            if r.status_code not in expected:
                r.raise_for_status()
            return r
        except requests.RequestException as exc:
            if exc.response is not None and exc.response.status_code == 404 and "upload" in url:
                # an upload needs no object, only the bucket
                raise storage.StorageError(storage.redact(f"{self.uri}: no such bucket")) from None
            raise storage.error(self.uri, exc) from None
        except Exception as exc:
            if type(exc).__module__.startswith("google.auth"):  # token refresh failed
                raise storage.StorageError(storage.redact(
                    f"{self.uri}: Google credentials rejected ({type(exc).__name__}: "
                    f"{storage._first_line(exc)})")) from None
            raise


_BACKENDS = {"s3": _S3Object, "gs": _GcsObject}


def _code(exc) -> str:
    err = exc.response.get("Error", {})
    return str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _s3_age_s(got: dict) -> float:
    """Seconds since the object was last written, on the store's clock (1 s resolution)."""
    from email.utils import parsedate_to_datetime

    date = got.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    now = parsedate_to_datetime(date).timestamp() if date else time.time()
    return max(0.0, now - got["LastModified"].timestamp())


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.I)


def _gcs_age_s(date: str | None, updated: str) -> float:
    """Seconds between the object's ``updated`` time (RFC 3339) and the response's ``Date``, both the store's
    (the Date has 1 s resolution: a lease looks up to 1 s younger than it is, never older)."""
    from email.utils import parsedate_to_datetime

    m = _RFC3339.match(updated.strip())
    if not m:
        raise storage.StorageError(f"GCS object time {updated!r} is not RFC 3339")
    tz = timezone.utc if m[3].upper() == "Z" else datetime.strptime(m[3].replace(":", ""), "%z").tzinfo
    then = datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=tz).timestamp() + float(m[2] or 0)
    now = parsedate_to_datetime(date).timestamp() if date else time.time()
    return max(0.0, now - then)


def _parse(data: bytes) -> dict:
    """The holder record, {} if unreadable (being rewritten, or written by something else)."""
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}
