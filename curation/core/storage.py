"""Local paths and object-store URIs behind one small set of functions, built on ``pyarrow.fs``.

A URI is a local path (absolute, relative, or ``file://`` followed by an absolute path, not percent-decoded),
``s3://bucket/key`` (``pyarrow.fs.S3FileSystem``) or ``gs://bucket/key`` (``pyarrow.fs.GcsFileSystem``).
Functions return URIs in the style they were given. Both object stores are tested against real APIs on
127.0.0.1: S3 with moto's server, GCS with fake-gcs-server (``tests/s3_server.py``, ``tests/gcs_server.py``).

Object stores have no rename, so every write here writes one complete object: on S3 and GCS a single upload
that becomes visible only when it completes, on local disk a hidden temporary file in the same folder renamed
into place. A reader never sees a partial object.

Endpoint, region and credentials come from :class:`StorageOptions` (set per process with :func:`configure`,
e.g. from a job config, so worker processes can be configured too), else from the standard places: the AWS
variables and files for S3; ``STORAGE_EMULATOR_HOST`` and Google's Application Default Credentials for GCS.
Errors at this boundary become :class:`StorageError`: one line naming the URI and the problem, with secrets
removed (:func:`redact`).
"""
from __future__ import annotations

import datetime
import functools
import io
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO

import botocore.exceptions
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import ConfigDict, Field, field_validator, model_validator

from curation.core.errors import ConfigError
from curation.core.section import Float, Section, fail, validate

REMOTE_SCHEMES = ("s3", "gs")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Default read-ahead of open_input on object stores, bytes. Each unbuffered read there is one ranged GET, and
# PyAV reads 32 KiB at a time: without this a decode would pay one request latency per 32 KiB.
REMOTE_READ_BUFFER = 4 << 20
GCS_ENDPOINT = "https://storage.googleapis.com"  # Google's JSON API, where no endpoint is set
# What the GCS lease's HTTP requests ask of Google's default credentials.
GCS_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"


# Every secret this process has been given, so redact() can remove it from any message.
_SECRETS: set[str] = set()


class StorageError(ConfigError):
    """A storage operation failed; the message is one line naming the URI and the problem, without secrets.
    A ConfigError so the CLI prints it as one line."""


class StorageNotFound(StorageError):
    """The object, file or folder does not exist."""


class StorageOptions(Section):
    """Where the object stores are and who we are. Every field is optional; unset ones fall back to the
    standard environment.

    S3 (s3://): ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` (pyarrow does not read these itself),
    ``AWS_REGION``/``AWS_DEFAULT_REGION``, and the SDKs' own credential chain (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, ``~/.aws``, instance metadata).

    endpoint_url: an S3-compatible endpoint such as ``http://127.0.0.1:9000`` (MinIO, Ceph, moto); http:// is
        honoured, a bare ``host:port`` means https.
    region: e.g. ``eu-west-1``.
    profile: a profile in ``~/.aws/config``/``~/.aws/credentials``; its credentials (and region, if none is set)
        are resolved once with boto3 when the filesystem is first made.
    access_key_id, secret_access_key: explicit keys; both or neither. The secret never appears in repr, logs
        or errors (no value of this section is echoed in an error). An empty string is unset.

    GCS (gs://): credentials are Google's Application Default Credentials, found where Google's libraries look
    (``GOOGLE_APPLICATION_CREDENTIALS`` naming a credentials JSON file, the file ``gcloud auth
    application-default login`` writes, or the metadata server on Google Cloud); none is ever set here.

    gcs_endpoint_url: a GCS JSON-API endpoint other than Google's (an emulator such as fake-gcs-server, a
        Private Service Connect endpoint), written like endpoint_url; else ``STORAGE_EMULATOR_HOST`` (or
        ``CLOUD_STORAGE_EMULATOR_ENDPOINT``), where a bare ``host:port`` means http, as Google's libraries read it.
    gcs_anonymous: send no credentials. Default: true when the endpoint comes from ``STORAGE_EMULATOR_HOST``
        (Google's libraries do the same for an emulator), else false.
    gcs_retry_limit_s: how long one GCS operation retries transient failures (unreachable endpoint, 5xx, 429)
        before it fails; default pyarrow's (google-cloud-cpp's, 15 minutes).
    """

    # Values are never echoed in errors: one may be a secret.
    model_config = ConfigDict(hide_input_in_errors=True)

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = Field(default=None, repr=False)
    gcs_endpoint_url: str | None = None
    gcs_anonymous: bool | None = None
    gcs_retry_limit_s: Float | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return (value or None) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> StorageOptions:
        if bool(self.access_key_id) != bool(self.secret_access_key):
            missing, given = (("access_key_id", "secret_access_key") if self.secret_access_key
                              else ("secret_access_key", "access_key_id"))
            raise fail(missing, f"is not set but {given} is (set both or neither)")
        if self.profile and self.access_key_id:
            raise fail("profile", "set either a profile or access keys, not both")
        for key in ("endpoint_url", "gcs_endpoint_url"):
            url = getattr(self, key)
            if url and _SCHEME.match(url) and not url.startswith(("http://", "https://")):
                raise fail(key, "must be http://HOST[:PORT], https://HOST[:PORT] or HOST[:PORT]")
        if self.gcs_retry_limit_s is not None and not self.gcs_retry_limit_s > 0:
            raise fail("gcs_retry_limit_s", "must be > 0 seconds")
        return self

    def model_post_init(self, context: Any) -> None:
        if self.secret_access_key:
            _SECRETS.add(self.secret_access_key)

    @classmethod
    def from_mapping(cls, data: Any, where: str = "storage") -> StorageOptions:
        """Build from a config mapping (None = no options); unknown keys, non-string values and inconsistent
        keys raise ConfigError naming ``{where}.{key}`` (values are not echoed: one may be a secret)."""
        return validate(cls, {} if data is None else data, where)

    def resolved(self) -> StorageOptions:
        """These options with the endpoints, region and GCS anonymity filled in from the environment where
        unset (idempotent)."""
        env = os.environ.get
        emulator = env("STORAGE_EMULATOR_HOST") or env("CLOUD_STORAGE_EMULATOR_ENDPOINT") or None
        if emulator and not _SCHEME.match(emulator):
            emulator = f"http://{emulator}"  # the emulator convention: a bare host:port is plain http
        return self.model_copy(update={
            "endpoint_url": self.endpoint_url or env("AWS_ENDPOINT_URL_S3") or env("AWS_ENDPOINT_URL") or None,
            "region": self.region or env("AWS_REGION") or env("AWS_DEFAULT_REGION") or None,
            "gcs_endpoint_url": self.gcs_endpoint_url or emulator,
            "gcs_anonymous": self.gcs_anonymous if self.gcs_anonymous is not None else
            bool(emulator and not self.gcs_endpoint_url)})


_DEFAULT = StorageOptions()
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_SECRET_PATTERNS = (
    # presigned URLs and Authorization headers: X-Amz-Signature=..., Credential=..., Signature=...
    re.compile(r"(?i)((?:X-Amz-)?(?:Signature|Credential|Security-Token)\s*[=:]\s*)[^&\s,;'\"]+"),
    re.compile(r"(?i)((?:aws_)?(?:secret_access_key|secret_key|session_token)\s*[=:]\s*)[^&\s,;'\"]+"),
    re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+(?=@)"),  # user:password@ in a URL
    # Google: OAuth tokens in headers and token responses, keys in credentials files
    re.compile(r"(?i)(\bBearer\s+)[^\s,;'\"]+"),
    re.compile(r"(?i)(\b(?:access_token|refresh_token|id_token|client_secret|private_key_id)[\"']?\s*[=:]\s*[\"']?)"
               r"[^&\s,;'\"]+"),
    re.compile(r"()-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
)


def configure(options: StorageOptions) -> None:
    """Set the process-wide default options used by every function here (call it in each worker process)."""
    global _DEFAULT
    _DEFAULT = options


def options() -> StorageOptions:
    """The process-wide default options (unresolved)."""
    return _DEFAULT


def redact(text: str) -> str:
    """``text`` with every known secret (configured secret keys, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN``), URL signatures/credentials, URL passwords, OAuth tokens and private keys replaced
    by ``***``."""
    secrets = _SECRETS | {os.environ.get(name) or "" for name in _SECRET_ENV}
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


# ---------------------------------------------------------------------------------------------------- URIs

def _split(uri: str) -> tuple[str, str]:
    """(scheme, path): scheme "" for a plain local path, "file" for file://, else the remote scheme; path is
    the local path, or ``bucket/key`` for a remote URI."""
    if not isinstance(uri, str):
        uri = os.fspath(uri)
    m = _SCHEME.match(uri)
    if not m:
        return "", uri
    scheme = m.group(1).lower()
    rest = uri[m.end():]
    if scheme == "file":
        if not rest.startswith("/"):
            raise StorageError(f"{redact(uri)}: a file:// URI needs an absolute path (file:///data/...)")
        return "file", rest
    if scheme not in REMOTE_SCHEMES:
        raise StorageError(f"{redact(uri)}: unsupported scheme {scheme}:// (use a local path, s3:// or gs://)")
    if not rest.strip("/"):
        raise StorageError(f"{redact(uri)}: no bucket name")
    return scheme, rest.rstrip("/")


def _make(scheme: str, path: str) -> str:
    return path if scheme == "" else f"{scheme}://{path}"


def is_remote(uri: str) -> bool:
    """True for an object-store URI (s3://, gs://), False for a local path or file:// URI."""
    return _split(uri)[0] in REMOTE_SCHEMES


def local_path(uri: str) -> str | None:
    """The plain local path of a local URI (as given, not made absolute), None for a remote one."""
    scheme, path = _split(uri)
    return None if scheme in REMOTE_SCHEMES else path


def join(uri: str, *names: str) -> str:
    """``uri`` with path components appended (each may contain ``/``)."""
    scheme, path = _split(uri)
    if scheme in REMOTE_SCHEMES:
        return _make(scheme, "/".join([path, *(n.strip("/") for n in names if n.strip("/"))]))
    return _make(scheme, os.path.join(path, *names))


def parent(uri: str) -> str:
    """The folder (prefix) holding ``uri``; a bucket is its own parent, ``.`` is a relative name's parent."""
    scheme, path = _split(uri)
    if scheme in REMOTE_SCHEMES:
        return _make(scheme, path.rsplit("/", 1)[0])
    head = os.path.dirname(path.rstrip("/") or "/")
    return _make(scheme, head or ".")


def name(uri: str) -> str:
    """The last path component (file or object name)."""
    scheme, path = _split(uri)
    return path.rstrip("/").rsplit("/", 1)[-1] if scheme in REMOTE_SCHEMES else os.path.basename(path.rstrip("/"))


# ------------------------------------------------------------------------------------------- filesystems

def _endpoint(url: str) -> tuple[str, str]:
    """(scheme, host[:port][/path]) of an endpoint URL; a bare ``host:port`` means https."""
    m = _SCHEME.match(url)
    scheme = m.group(1).lower() if m else "https"
    return scheme, (url[m.end():] if m else url).rstrip("/")


def _credentials(o: StorageOptions) -> dict[str, str]:
    """Explicit pyarrow credentials: the options' keys, or a profile's keys resolved with boto3; empty to leave
    the choice to the SDK's default chain (environment, ~/.aws, instance metadata)."""
    if o.access_key_id:
        return {"access_key": o.access_key_id, "secret_key": o.secret_access_key or ""}
    if not o.profile:
        return {}
    import boto3

    try:
        creds = boto3.Session(profile_name=o.profile).get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        raise StorageError(f"AWS profile {o.profile!r}: {redact(str(exc))}") from None
    if creds is None:
        raise StorageError(f"AWS profile {o.profile!r}: no credentials found")
    frozen = creds.get_frozen_credentials()
    _SECRETS.update(filter(None, (frozen.secret_key, frozen.token)))
    out = {"access_key": frozen.access_key, "secret_key": frozen.secret_key}
    if frozen.token:
        out["session_token"] = frozen.token
    return out


def _profile_region(profile: str | None) -> str | None:
    if not profile:
        return None
    import boto3

    try:
        return boto3.Session(profile_name=profile).region_name
    except botocore.exceptions.BotoCoreError as exc:
        raise StorageError(f"AWS profile {profile!r}: {redact(str(exc))}") from None


# The environment values the SDKs read when a filesystem is made: part of the cache key, so changing them
# (a test fixture, a re-configured worker) makes a new filesystem instead of reusing stale credentials.
_ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
             "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "GOOGLE_APPLICATION_CREDENTIALS",
             "CLOUD_STORAGE_EMULATOR_ENDPOINT", "CLOUDSDK_CONFIG")


@functools.lru_cache(maxsize=32)
def _filesystem(scheme: str, o: StorageOptions, _env: tuple) -> pafs.FileSystem:
    if scheme in ("", "file"):
        return pafs.LocalFileSystem()
    if scheme == "gs":
        if not hasattr(pafs, "GcsFileSystem"):
            raise StorageError("gs:// is not supported by this pyarrow build")
        gcs: dict[str, Any] = {"anonymous": bool(o.gcs_anonymous)}
        if o.gcs_endpoint_url:
            gcs["scheme"], gcs["endpoint_override"] = _endpoint(o.gcs_endpoint_url)
        if o.gcs_retry_limit_s:
            # whole seconds: pyarrow ignores the rest
            gcs["retry_time_limit"] = datetime.timedelta(seconds=max(1, round(o.gcs_retry_limit_s)))
        return pafs.GcsFileSystem(**gcs)
    kwargs: dict[str, Any] = _credentials(o)
    region = o.region or _profile_region(o.profile)
    if region:
        kwargs["region"] = region
    if o.endpoint_url:
        kwargs["scheme"], kwargs["endpoint_override"] = _endpoint(o.endpoint_url)
    return pafs.S3FileSystem(**kwargs)


def filesystem(uri: str, options: StorageOptions | None = None) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path inside it) for ``uri``; the filesystem is cached per scheme and resolved
    options. Local paths are made absolute (pyarrow's LocalFileSystem needs that)."""
    scheme, path = _split(uri)
    if scheme not in REMOTE_SCHEMES:
        return _filesystem("", StorageOptions(), ()), os.path.abspath(path)
    o = (options or _DEFAULT).resolved()
    return _filesystem(scheme, o, tuple(os.environ.get(k) for k in _ENV_KEYS)), path


def s3_client(options: StorageOptions | None = None):
    """A boto3 S3 client configured like the pyarrow filesystem (endpoint, region, profile or keys; path-style
    addressing on a custom endpoint, as pyarrow uses). For what pyarrow cannot do, e.g. conditional writes."""
    return _s3_client((options or _DEFAULT).resolved(), tuple(os.environ.get(k) for k in _ENV_KEYS))


@functools.lru_cache(maxsize=8)
def _s3_client(o: StorageOptions, _env: tuple):
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=o.profile, aws_access_key_id=o.access_key_id,
                            aws_secret_access_key=o.secret_access_key, region_name=o.region)
    config = Config(s3={"addressing_style": "path"}) if o.endpoint_url else None
    url = None
    if o.endpoint_url:
        scheme, host = _endpoint(o.endpoint_url)
        url = f"{scheme}://{host}"
    # boto3 sessions are not thread-safe, clients are: one cached client is shared by threads.
    return session.client("s3", endpoint_url=url, config=config)


def gcs_session(options: StorageOptions | None = None):
    """(requests session, JSON-API base URL such as ``https://storage.googleapis.com``) for GCS, authorised
    like the pyarrow filesystem: anonymous, or Google's default credentials through google-auth (tokens
    refreshed as they expire). For what pyarrow cannot do, e.g. the generation-conditional writes of the
    output lease. StorageError (one line) when no credentials are found."""
    return _gcs_session((options or _DEFAULT).resolved(), tuple(os.environ.get(k) for k in _ENV_KEYS))


@functools.lru_cache(maxsize=8)
def _gcs_session(o: StorageOptions, _env: tuple):
    import requests

    base = GCS_ENDPOINT
    if o.gcs_endpoint_url:
        scheme, host = _endpoint(o.gcs_endpoint_url)
        base = f"{scheme}://{host}"
    if o.gcs_anonymous:
        return requests.Session(), base
    try:
        import google.auth
        import google.auth.exceptions
        from google.auth.transport.requests import AuthorizedSession
    except ImportError:
        raise StorageError("gs:// with Google credentials needs the google-auth package") from None
    try:
        credentials, _project = google.auth.default(scopes=[GCS_SCOPE])
    except google.auth.exceptions.GoogleAuthError as exc:
        raise StorageError(redact(f"Google credentials: {_first_line(exc)} (set GOOGLE_APPLICATION_CREDENTIALS, "
                                  f"run 'gcloud auth application-default login', or run on Google Cloud; "
                                  f"storage.gcs_anonymous: true for an emulator)")) from None
    return AuthorizedSession(credentials), base


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------------------------------------ errors

# Markers in pyarrow's error text (AWS SDK C++ names; google-cloud-cpp status codes and curl's words), in S3
# error codes and in requests' connection errors -> a plain problem.
_PROBLEMS = (
    (("ACCESS_DENIED", "AccessDenied", "Access Denied", "PERMISSION_DENIED"), "access denied"),
    (("NO_SUCH_BUCKET", "NoSuchBucket"), "no such bucket"),
    (("INVALID_ACCESS_KEY_ID", "InvalidAccessKeyId"), "the access key id is not known to the object store"),
    (("SIGNATURE_DOES_NOT_MATCH", "SignatureDoesNotMatch"), "credentials rejected (signature does not match)"),
    (("UNAUTHENTICATED",), "credentials rejected"),
    (("EXPIRED_TOKEN", "ExpiredToken", "TokenRefreshRequired"), "credentials expired"),
    (("NETWORK_CONNECTION", "Could not connect", "Couldn't resolve host", "Failed to establish a new connection",
      "NameResolutionError"), "cannot connect to the object store"),
    (("Parquet magic bytes not found",), "not a parquet file"),
)
# HTTP statuses of Google's JSON API (the lease's own requests) -> a plain problem.
_HTTP_PROBLEMS = {401: "credentials rejected", 403: "access denied", 412: "precondition failed",
                  429: "too many requests"}


def _http_problem(response) -> tuple[str, type[StorageError]]:
    """The problem of a failed requests.Response from Google's JSON API."""
    try:
        message = str(response.json()["error"]["message"])
    except Exception:  # noqa: BLE001 -- not JSON, or not Google's error shape
        message = ""
    status = response.status_code
    if status == 404:
        return ("no such bucket", StorageError) if "bucket" in message.lower() else ("not found", StorageNotFound)
    problem = _HTTP_PROBLEMS.get(status) or f"HTTP {status} {response.reason or ''}".strip()
    return (f"{problem}: {message}" if message and status >= 500 else problem), StorageError


def _problem(exc: BaseException, scheme: str = "s3") -> tuple[str, type[StorageError]]:
    response = getattr(exc, "response", None)  # a botocore ClientError's S3 error code
    if response is not None and hasattr(response, "status_code"):  # a requests HTTPError
        return _http_problem(response)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    if isinstance(exc, FileNotFoundError) or code in ("NoSuchKey", "NotFound", "404"):
        return "not found", StorageNotFound
    if isinstance(exc, NotADirectoryError):
        return "not a directory", StorageError
    if isinstance(exc, IsADirectoryError):
        return "is a directory", StorageError
    if isinstance(exc, PermissionError):
        return "permission denied", StorageError
    text = str(exc)
    for markers, problem in _PROBLEMS:
        if any(m in text for m in markers):
            if problem.startswith("cannot connect"):
                resolved = _DEFAULT.resolved()
                endpoint = (resolved.gcs_endpoint_url or GCS_ENDPOINT) if scheme == "gs" else resolved.endpoint_url
                problem += f" at {endpoint}" if endpoint else ""
            return problem, StorageError
    line = re.sub(r"^\[Errno \d+\] ", "", text.strip().splitlines()[0] if text.strip() else type(exc).__name__)
    return line[:300], StorageError


def error(uri: str, exc: BaseException) -> StorageError:
    """The one-line, redacted StorageError for ``exc`` raised while working on ``uri``."""
    m = _SCHEME.match(uri)
    problem, cls = _problem(exc, m.group(1).lower() if m else "")
    return cls(redact(f"{uri}: {problem}").replace("\n", " "))


def _missing_gcs_bucket(uri: str) -> bool:
    """True if ``uri`` is on GCS and its bucket does not exist (GCS reports both as a plain 404)."""
    if not uri.lower().startswith("gs://"):
        return False
    try:
        fs, path = filesystem(uri)
        return fs.get_file_info(path.split("/", 1)[0]).type == pafs.FileType.NotFound
    except (StorageError, OSError):
        return False


@contextmanager
def _boundary(uri: str) -> Iterator[None]:
    """Turn OS/pyarrow I/O errors into StorageError. ``from None``: the original text may hold what redact()
    removed; the message keeps the problem."""
    try:
        yield
    except (OSError, pa.ArrowInvalid, botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        err = error(uri, exc)
        if isinstance(err, StorageNotFound) and _missing_gcs_bucket(uri):
            err = StorageError(redact(f"{uri}: no such bucket"))
        raise err from None


# ---------------------------------------------------------------------------------------------- queries

def _info(uri: str) -> pafs.FileInfo:
    fs, path = filesystem(uri)
    with _boundary(uri):
        return fs.get_file_info(path)


def exists(uri: str) -> bool:
    """True if a file/object or a folder/prefix exists at ``uri`` (a missing bucket is just False)."""
    return _info(uri).type != pafs.FileType.NotFound


def is_dir(uri: str) -> bool:
    """True for a local folder, or a bucket/prefix that holds objects."""
    return _info(uri).type == pafs.FileType.Directory


def size(uri: str) -> int:
    """Size of a file/object in bytes; StorageNotFound if missing."""
    info = _info(uri)
    if info.type != pafs.FileType.File:
        if info.type == pafs.FileType.NotFound:
            raise StorageNotFound(redact(f"{uri}: not found"))
        raise StorageError(redact(f"{uri}: is a directory"))
    return info.size


def list_files(uri_dir: str, suffix: str | tuple[str, ...] | None = None, recursive: bool = False,
               include_hidden: bool = False) -> list[str]:
    """Sorted full URIs (in the style of ``uri_dir``) of the files under ``uri_dir``; a missing folder gives [].
    suffix: keep names ending with it (case-insensitive; a tuple for several). recursive: also sub-folders
    (default False). include_hidden: also names starting with ``.`` (default False: those are temporary files
    of writes in progress)."""
    fs, base = filesystem(uri_dir)
    with _boundary(uri_dir):
        infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True, recursive=recursive))
        # A missing folder is just empty, but a mistyped bucket must not pass silently as "no files".
        if not infos and not isinstance(fs, pafs.LocalFileSystem) and \
                fs.get_file_info(base.split("/", 1)[0]).type == pafs.FileType.NotFound:
            raise StorageError(redact(f"{uri_dir}: no such bucket"))
    suffixes = tuple(s.lower() for s in ((suffix,) if isinstance(suffix, str) else suffix or ()))
    out = []
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        rel = info.path[len(base.rstrip("/")) + 1:]
        if not include_hidden and any(part.startswith(".") for part in rel.split("/")):
            continue
        if suffixes and not info.base_name.lower().endswith(suffixes):
            continue
        out.append(join(uri_dir, rel))
    return sorted(out)


# ----------------------------------------------------------------------------------------- read / write

def read_bytes(uri: str) -> bytes:
    """The whole file/object, as one version of it even while it is being replaced."""
    fs, path = filesystem(uri)
    if isinstance(fs, pafs.S3FileSystem):
        # One GET through boto3: pyarrow reads an object as a HEAD and ranged GETs, which fail (416) or mix
        # two versions when the object is replaced in between.
        bucket, _, key = path.partition("/")
        with _boundary(uri):
            return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    with _boundary(uri), fs.open_input_stream(path) as fh:
        return fh.read()


def read_text(uri: str, encoding: str = "utf-8") -> str:
    return read_bytes(uri).decode(encoding)


def write_bytes(uri: str, data: bytes | bytearray | memoryview | pa.Buffer) -> None:
    """Write a whole file/object, replacing any old one; readers see the old or the new, never a part. Local:
    a hidden temporary file in the same folder (folders are created), fsynced, then renamed into place.
    S3, GCS: one upload, which becomes visible only when complete."""
    fs, path = filesystem(uri)
    with _boundary(uri):
        if isinstance(fs, pafs.LocalFileSystem):
            _write_local(path, data)
        else:
            with fs.open_output_stream(path) as out:
                out.write(data)


def _write_local(path: str, data) -> None:
    folder, base = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:12]}.tmp")  # unique: concurrent writers
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(uri: str, text: str, encoding: str = "utf-8") -> None:
    write_bytes(uri, text.encode(encoding))


class _RawInput(io.RawIOBase):
    """A pyarrow random-access file as a Python raw stream, so io.BufferedReader can read ahead; read errors
    become StorageError. Reads are positional (``read_at``: one ranged request each, never past the end):
    pyarrow's GCS file starts a download at every seek, and one at the end of the object fails (HTTP 416)
    where a Python file just reads nothing."""

    def __init__(self, uri: str, native: pa.NativeFile):
        self._uri, self._f, self._pos = uri, native, 0
        with _boundary(uri):
            self._size = native.size()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        with _boundary(self._uri):
            data = self._f.read_at(n, self._pos)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence not in (io.SEEK_SET, io.SEEK_CUR, io.SEEK_END):
            raise ValueError(f"invalid whence ({whence})")
        pos = offset + (0, self._pos, self._size)[whence]
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


def open_input(uri: str, buffer_size: int = REMOTE_READ_BUFFER) -> BinaryIO:
    """A seekable binary file object for reading (``av.open(fh)``, ``pq.read_table(fh)``); use it in a ``with``.
    Remote objects are read ahead ``buffer_size`` bytes per request (default 4 MiB); local files are
    plain Python files. Remote reads are ranged requests: an object replaced while open can read as a mix of
    versions, so replace objects only under a :class:`curation.core.lease.Lease`, never while they are read."""
    fs, path = filesystem(uri)
    with _boundary(uri):
        if isinstance(fs, pafs.LocalFileSystem):
            return open(path, "rb")
        native = fs.open_input_file(path)
    return io.BufferedReader(_RawInput(uri, native), buffer_size=buffer_size)


def delete(uri: str, missing_ok: bool = True) -> None:
    """Delete one file/object; a missing one is fine unless ``missing_ok`` is False (StorageNotFound)."""
    fs, path = filesystem(uri)
    try:
        with _boundary(uri):
            fs.delete_file(path)
    except StorageNotFound:
        if not missing_ok:
            raise


def delete_dir(uri: str, missing_ok: bool = True) -> None:
    """Delete a folder / every object under a prefix (never a bucket itself)."""
    fs, path = filesystem(uri)
    try:
        with _boundary(uri):
            if _is_gcs(fs) and "/" in path:
                # pyarrow's GCS delete_dir also deletes a folder marker object, and fails where there is none
                # (nothing here writes markers): delete what is under the prefix instead.
                if fs.get_file_info(path).type == pafs.FileType.NotFound:
                    raise FileNotFoundError(path)
                fs.delete_dir_contents(path, missing_dir_ok=True)
            else:
                fs.delete_dir(path)
    except StorageNotFound:
        if not missing_ok:
            raise


def _is_gcs(fs: pafs.FileSystem) -> bool:
    return hasattr(pafs, "GcsFileSystem") and isinstance(fs, pafs.GcsFileSystem)


def makedirs(uri: str) -> None:
    """Create a local folder and its parents; a no-op on object stores, which have no folders."""
    fs, path = filesystem(uri)
    if isinstance(fs, pafs.LocalFileSystem):
        with _boundary(uri):
            os.makedirs(path, exist_ok=True)


def write_parquet(table: pa.Table, uri: str, **kwargs: Any) -> None:
    """Write ``table`` as one parquet file/object (``kwargs`` go to ``pq.write_table``). Serialised in memory
    first, so a partial file never exists."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **kwargs)
    write_bytes(uri, sink.getvalue())


def read_parquet(uri: str, columns: list[str] | None = None, schema: pa.Schema | None = None) -> pa.Table:
    """Read a parquet file/object (or a folder of them) into a table (ranged reads: see open_input)."""
    fs, path = filesystem(uri)
    with _boundary(uri):
        return pq.read_table(path, filesystem=fs, columns=columns, schema=schema)


def read_parquet_schema(uri: str) -> pa.Schema:
    """The Arrow schema a parquet file/object was written with (its footer only)."""
    fs, path = filesystem(uri)
    with _boundary(uri):
        return pq.read_schema(path, filesystem=fs)


@contextmanager
def parquet_writer(uri: str, schema: pa.Schema, **kwargs: Any) -> Iterator[pq.ParquetWriter]:
    """A Parquet file/object written a row group at a time (``writer.write_table``), so a table larger than
    memory can be written; ``kwargs`` go to ``pq.ParquetWriter``. Readers see the old file or the complete new
    one, never a part: the file is written to a hidden temporary file (beside the target on local disk, in
    the temporary folder for an object store) and, only when the block ends without an error, renamed into
    place or uploaded (streamed, 8 MiB at a time)."""
    fs, path = filesystem(uri)
    local = isinstance(fs, pafs.LocalFileSystem)
    if local:
        folder, base = os.path.split(path)
        with _boundary(uri):
            os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:12]}.tmp")
    else:
        import tempfile

        handle, tmp = tempfile.mkstemp(prefix="curation-", suffix=".parquet")
        os.close(handle)
    try:
        with pq.ParquetWriter(tmp, schema, **kwargs) as writer:
            yield writer  # an error in the caller's block is the caller's, not the store's
        with _boundary(uri):
            if local:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            else:
                with open(tmp, "rb") as src, fs.open_output_stream(path) as out:
                    while block := src.read(8 << 20):
                        out.write(block)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
