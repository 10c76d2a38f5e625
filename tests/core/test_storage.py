"""curation.core.storage on local paths, file:// URIs, a real S3 API (moto server) and a real GCS API
(fake-gcs-server)."""
from __future__ import annotations

import json
import os
import threading

import av
import pyarrow as pa
import pytest

from curation.core import storage
from curation.core.errors import ConfigError
from curation.core.storage import StorageError, StorageNotFound, StorageOptions
from curation.testing.synthetic import Shot, write_video
from tests.gcs_server import gcs_bucket, gcs_server  # noqa: F401  (fixtures)
from tests.s3_server import SECRET, s3_bucket, s3_server  # noqa: F401  (fixtures)


@pytest.fixture(params=["local", "file", "s3", "gs"])
def root(request, tmp_path) -> str:
    """An empty folder / prefix in each URI style."""
    if request.param == "local":
        return str(tmp_path / "root")
    if request.param == "file":
        return f"file://{tmp_path}/root"
    return request.getfixturevalue({"s3": "s3_bucket", "gs": "gcs_bucket"}[request.param]) + "/root"


@pytest.fixture
def restore_options():
    before = storage.options()
    yield
    storage.configure(before)


# ------------------------------------------------------------------------------------------------- URIs

def test_uri_helpers():
    assert storage.join("s3://b-k-t/a", "x/y", "z.txt") == "s3://b-k-t/a/x/y/z.txt"
    assert storage.join("s3://b-k-t", "z") == "s3://b-k-t/z"
    assert storage.join("rel/dir", "f") == os.path.join("rel/dir", "f")
    assert storage.join("file:///data/in", "f") == "file:///data/in/f"
    assert storage.parent("s3://b-k-t/a/b.txt") == "s3://b-k-t/a"
    assert storage.parent("s3://b-k-t/a") == "s3://b-k-t"
    assert storage.parent("/data/a/") == "/data"
    assert storage.parent("name") == "."
    assert storage.parent("file:///data/a") == "file:///data"
    assert storage.name("s3://b-k-t/a/b.txt") == "b.txt"
    assert storage.name("/data/a/") == "a"
    assert storage.is_remote("s3://b-k-t/x") and storage.is_remote("gs://b-k-t/x")
    assert not storage.is_remote("/x") and not storage.is_remote("file:///x") and not storage.is_remote("x")
    assert storage.local_path("file:///x/y") == "/x/y" and storage.local_path("a/b") == "a/b"
    assert storage.local_path("s3://b-k-t/x") is None
    for bad, why in [("http://host/x", "unsupported scheme"), ("file://rel/x", "absolute path"), ("s3://", "bucket")]:
        with pytest.raises(StorageError, match=why):
            storage.is_remote(bad)


def test_options_from_mapping_and_env(monkeypatch):
    o = StorageOptions.from_mapping({"endpoint_url": "http://h:9000", "access_key_id": "AK",
                                     "secret_access_key": "s3cr3t-value"}, "job.storage")
    assert "s3cr3t-value" not in repr(o) and "AK" in repr(o)
    with pytest.raises(ConfigError, match=r"^job\.storage\.bogus: unknown key"):
        StorageOptions.from_mapping({"bogus": 1}, "job.storage")
    with pytest.raises(ConfigError, match=r"^job\.storage\.region: expected a string") as info:
        StorageOptions.from_mapping({"region": 12345}, "job.storage")
    assert "12345" not in str(info.value)
    with pytest.raises(ConfigError, match="set both or neither"):
        StorageOptions.from_mapping({"access_key_id": "AK"}, "s")
    with pytest.raises(ConfigError, match="endpoint_url"):
        StorageOptions.from_mapping({"endpoint_url": "ftp://h"}, "s")
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://env-host:1234")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    r = StorageOptions().resolved()
    assert (r.endpoint_url, r.region) == ("http://env-host:1234", "eu-west-3")
    assert StorageOptions(region="us-west-2").resolved().region == "us-west-2"
    assert storage._endpoint("http://h:9000/") == ("http", "h:9000")
    assert storage._endpoint("h:9000") == ("https", "h:9000")


# ------------------------------------------------------------------------------------------- functions

def test_write_read_exists_list_delete(root):
    f = storage.join(root, "sub", "a.txt")
    assert not storage.exists(f) and not storage.exists(root) and storage.list_files(root) == []
    storage.write_text(f, "héllo")
    storage.write_bytes(storage.join(root, "b.bin"), b"\x00\x01")
    storage.write_bytes(storage.join(root, "sub", "deep", "c.TXT"), b"c")
    storage.write_bytes(storage.join(root, ".hidden.txt"), b"h")
    assert storage.read_text(f) == "héllo" and storage.read_bytes(storage.join(root, "b.bin")) == b"\x00\x01"
    assert storage.exists(f) and not storage.is_dir(f) and storage.is_dir(storage.join(root, "sub"))
    assert storage.size(f) == len("héllo".encode())
    assert storage.list_files(root) == [storage.join(root, "b.bin")]
    assert storage.list_files(root, suffix=".txt", recursive=True) == \
        [storage.join(root, "sub", "a.txt"), storage.join(root, "sub", "deep", "c.TXT")]
    assert storage.join(root, ".hidden.txt") in storage.list_files(root, include_hidden=True)
    assert storage.list_files(storage.join(root, "missing")) == []
    storage.delete(f)
    storage.delete(f)  # missing is fine
    with pytest.raises(StorageNotFound, match="not found"):
        storage.delete(f, missing_ok=False)
    assert not storage.exists(f)
    storage.delete_dir(storage.join(root, "sub"))
    assert storage.list_files(root, recursive=True) == [storage.join(root, "b.bin")]
    storage.delete_dir(storage.join(root, "nothing-here"))
    with pytest.raises(StorageNotFound):
        storage.delete_dir(storage.join(root, "nothing-here"), missing_ok=False)


def test_missing_object_is_one_line_naming_uri(root):
    missing = storage.join(root, "nope.bin")
    for call in (storage.read_bytes, storage.open_input, storage.read_parquet, storage.size):
        with pytest.raises(StorageNotFound) as info:
            call(missing)
        assert str(info.value) == f"{missing}: not found"


def test_makedirs(root):
    d = storage.join(root, "x", "y")
    storage.makedirs(d)
    if storage.is_remote(root):
        assert storage.list_files(root, recursive=True, include_hidden=True) == []  # no marker objects
    else:
        assert os.path.isdir(storage.local_path(d))


def test_parquet_round_trip(root):
    table = pa.table({"video": ["a.mp4", "b.mp4"], "frames": [10, 20], "score": [0.5, 1.5]})
    uri = storage.join(root, "part-0.parquet")
    storage.write_parquet(table, uri, compression="zstd")
    assert storage.read_parquet(uri).equals(table)
    assert storage.read_parquet(uri, columns=["frames"]).column("frames").to_pylist() == [10, 20]
    with storage.open_input(uri) as fh:  # a file object works for pyarrow too
        import pyarrow.parquet as pq
        assert pq.read_table(fh).equals(table)
    storage.write_bytes(storage.join(root, "bad.parquet"), b"not parquet at all")
    with pytest.raises(StorageError, match="bad.parquet: not a parquet file"):
        storage.read_parquet(storage.join(root, "bad.parquet"))


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("video") / "tiny.mp4"
    write_video(path, [Shot(12, seed=1), Shot(13, (1.0, 0.0), seed=2)], width=64, height=48)
    return path.read_bytes()


def test_pyav_decodes_from_open_input(root, tiny_video):
    uri = storage.join(root, "clip.mp4")
    storage.write_bytes(uri, tiny_video)
    with storage.open_input(uri) as fh, av.open(fh) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 25 and frames[0].shape == (48, 64, 3)
    with storage.open_input(uri) as fh:  # seekable: random access as PyAV and parquet need
        fh.seek(-4, os.SEEK_END)
        tail = fh.read()
        fh.seek(4)
        assert fh.read(4) == b"ftyp" and tail == tiny_video[-4:] and fh.tell() == 8


# ------------------------------------------------------------------------------------ all-or-nothing

def test_write_bytes_replaces_whole_objects_under_concurrent_reads(root):
    uri = storage.join(root, "big.bin")
    payloads = [b"a" * (3 << 20), b"b" * (1 << 20) + b"!"]
    storage.write_bytes(uri, payloads[0])
    seen, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            seen.append(storage.read_bytes(uri))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(6):
            storage.write_bytes(uri, payloads[i % 2])
    finally:
        stop.set()
        t.join()
    assert seen and all(data in payloads for data in seen)
    assert storage.list_files(root, include_hidden=True) == [uri]  # no temporary files left


def test_failed_local_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    uri = str(tmp_path / "out.json")
    storage.write_text(uri, "old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageError, match=r"out\.json: No space left on device$"):
        storage.write_text(uri, "new and much longer")
    assert storage.read_text(uri) == "old" and os.listdir(tmp_path) == ["out.json"]


# ------------------------------------------------------------------------------------------------ errors

def _missing_bucket_errors(scheme: str) -> list[str]:
    """The StorageError texts of a write, a listing and a read in a bucket that does not exist."""
    root = f"{scheme}://no-such-bucket-curation"
    errors = []
    for call in (lambda: storage.write_bytes(f"{root}/x.bin", b"x"), lambda: storage.list_files(f"{root}/dir"),
                 lambda: storage.read_bytes(f"{root}/x.bin")):
        with pytest.raises(StorageError) as info:
            call()
        errors.append(str(info.value))
    return errors


def test_errors_are_one_line_without_secrets(s3_server, restore_options, monkeypatch):
    fake = "FAKEsecretKEY/0123456789abcdef"
    storage.configure(StorageOptions(endpoint_url=s3_server.endpoint, access_key_id="testing",
                                     secret_access_key=fake))
    errors = _missing_bucket_errors("s3")
    assert errors[0] == "s3://no-such-bucket-curation/x.bin: no such bucket"
    assert errors[1] == "s3://no-such-bucket-curation/dir: no such bucket"
    assert errors[2] == "s3://no-such-bucket-curation/x.bin: no such bucket"
    # nothing listens on port 1
    storage.configure(StorageOptions(endpoint_url="http://127.0.0.1:1", access_key_id="AKIDEXAMPLE",
                                     secret_access_key=fake))
    with pytest.raises(StorageError) as info:
        storage.read_bytes("s3://some-bucket/x.bin")
    errors.append(str(info.value))
    assert errors[-1] == "s3://some-bucket/x.bin: cannot connect to the object store at http://127.0.0.1:1"
    # pyarrow's own texts, with secrets planted, map to the same one-line problems
    planted = OSError(f"When reading key 'x' in bucket 'b': AWS Error ACCESS_DENIED during GetObject operation: "
                      f"secret {fake} env {SECRET}\nsecond line")
    errors.append(str(storage.error("s3://b-k-t/x", planted)))
    assert errors[-1] == "s3://b-k-t/x: access denied"
    other = OSError(f"weird failure with {fake} and {SECRET} at "
                    f"https://h/k?X-Amz-Credential=AKID%2F2026&X-Amz-Signature=abcdef0123&x=1\nmore")
    errors.append(str(storage.error("s3://user:pw@b-k-t/x", other)))
    assert errors[-1].startswith("s3://***@b-k-t/x: weird failure with *** and *** at https://h/k?")
    for text in errors:
        assert "\n" not in text and fake not in text and SECRET not in text and "abcdef0123" not in text
        assert "AKID%2F2026" not in text


def test_redact():
    StorageOptions(access_key_id="AK", secret_access_key="another-secret-123")
    text = storage.redact("a another-secret-123 b https://x:y@h/p?X-Amz-Security-Token=tok&X-Amz-Signature=sig")
    assert text == "a *** b https://***@h/p?X-Amz-Security-Token=***&X-Amz-Signature=***"


def test_explicit_keys_and_boto3_client(s3_server, s3_bucket, restore_options, monkeypatch):
    """Keys given in the options (not the environment) reach both pyarrow and boto3."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    storage.configure(StorageOptions(endpoint_url=s3_server.endpoint, region="us-east-1",
                                     access_key_id="testing", secret_access_key=SECRET))
    uri = storage.join(s3_bucket, "k.txt")
    storage.write_text(uri, "v")
    bucket = s3_bucket.removeprefix("s3://")
    assert storage.s3_client().get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"v"


# ------------------------------------------------------------------------------------------------- GCS

def test_gcs_options_from_mapping_and_env(monkeypatch):
    for name in ("STORAGE_EMULATOR_HOST", "CLOUD_STORAGE_EMULATOR_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    o = StorageOptions.from_mapping({"gcs_endpoint_url": "https://psc.example:443", "gcs_retry_limit_s": 30},
                                    "job.storage")
    assert (o.gcs_endpoint_url, o.gcs_retry_limit_s) == ("https://psc.example:443", 30.0)
    r = o.resolved()
    assert r.gcs_endpoint_url == "https://psc.example:443" and r.gcs_anonymous is False  # credentials by default
    assert StorageOptions().resolved().gcs_endpoint_url is None  # Google's own endpoint
    with pytest.raises(ConfigError, match=r"^job\.storage\.gcs_endpoint_url: must be http://"):
        StorageOptions.from_mapping({"gcs_endpoint_url": "ftp://h"}, "job.storage")
    with pytest.raises(ConfigError, match=r"^job\.storage\.gcs_retry_limit_s: must be > 0"):
        StorageOptions.from_mapping({"gcs_retry_limit_s": 0}, "job.storage")
    with pytest.raises(ConfigError, match=r"^job\.storage\.gcs_anonymous"):
        StorageOptions.from_mapping({"gcs_anonymous": "yes"}, "job.storage")
    # STORAGE_EMULATOR_HOST: an emulator, so anonymous; a bare host:port is http, as Google's libraries read it
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:4443")
    r = StorageOptions().resolved()
    assert (r.gcs_endpoint_url, r.gcs_anonymous) == ("http://127.0.0.1:4443", True)
    assert r.resolved() == r  # idempotent: workers resolve again
    assert StorageOptions(gcs_anonymous=False).resolved().gcs_anonymous is False
    # an endpoint in the config wins over the variable, and is not taken for an emulator
    r = StorageOptions(gcs_endpoint_url="http://other:1").resolved()
    assert (r.gcs_endpoint_url, r.gcs_anonymous) == ("http://other:1", False)


def test_gcs_errors_are_one_line(gcs_server, restore_options):
    errors = _missing_bucket_errors("gs")
    assert errors == ["gs://no-such-bucket-curation/x.bin: no such bucket",
                      "gs://no-such-bucket-curation/dir: no such bucket",
                      "gs://no-such-bucket-curation/x.bin: no such bucket"]
    assert not storage.exists("gs://no-such-bucket-curation/x.bin")
    # nothing listens on port 1; retries stop after the configured limit
    storage.configure(StorageOptions(gcs_endpoint_url="http://127.0.0.1:1", gcs_anonymous=True,
                                     gcs_retry_limit_s=1))
    with pytest.raises(StorageError) as info:
        storage.read_bytes("gs://some-bucket/x.bin")
    assert str(info.value) == "gs://some-bucket/x.bin: cannot connect to the object store at http://127.0.0.1:1"
    from curation.core.lease import Lease

    with pytest.raises(StorageError) as info:  # the lease's own HTTP requests say the same
        Lease("gs://some-bucket/out", "job").acquire()
    assert str(info.value) == \
        "gs://some-bucket/out/_lease.json: cannot connect to the object store at http://127.0.0.1:1"
    # google-cloud-cpp's texts map to the same one-line problems
    denied = OSError("google::cloud::Status(PERMISSION_DENIED: Permanent error, with a last message of x\n"
                     "error_info={reason=forbidden})")
    assert str(storage.error("gs://b-k-t/x", denied)) == "gs://b-k-t/x: access denied"
    unauth = OSError("google::cloud::Status(UNAUTHENTICATED: Permanent error ...)")
    assert str(storage.error("gs://b-k-t/x", unauth)) == "gs://b-k-t/x: credentials rejected"


def test_redact_google_secrets():
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nabc\n-----END PRIVATE KEY-----\n"
    text = storage.redact(f'Authorization: Bearer ya29.a0AfH6SMB-tok {{"access_token": "ya29.other", '
                          f'"refresh_token":"1//0gref", "private_key": "{key}"}}')
    assert "ya29" not in text and "1//0gref" not in text and "MIIEvQ" not in text and "abc" not in text
    assert text.startswith("Authorization: Bearer *** {")


def test_gcs_credentials_come_from_googles_standard_places(gcs_server, gcs_bucket, tmp_path, restore_options,
                                                            monkeypatch):
    """With credentials (not anonymous), the lease's requests carry a token that google-auth got for the
    service account in GOOGLE_APPLICATION_CREDENTIALS (a fresh key; its token endpoint is a local server);
    with no credentials anywhere, one line says where they are looked for."""
    import http.server
    import threading

    granted = []

    class TokenServer(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            granted.append("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in body)
            reply = json.dumps({"access_token": "ya29.test-token", "expires_in": 3600,
                                "token_type": "Bearer"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), TokenServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        adc = tmp_path / "service-account.json"
        adc.write_text(json.dumps({
            "type": "service_account", "project_id": "test", "private_key_id": "k1", "private_key": pem,
            "client_email": "curation@test.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": f"http://127.0.0.1:{server.server_address[1]}/token"}))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        storage.configure(StorageOptions(gcs_anonymous=False))
        session, base = storage.gcs_session()
        assert base == gcs_server.endpoint and type(session).__name__ == "AuthorizedSession"
        from curation.core.lease import Lease

        with Lease(f"{gcs_bucket}/out", "job", ttl_s=5, heartbeat_s=1):
            pass
        assert granted and all(granted)  # a token granted for the service account's signed assertion
        assert session.credentials.token == "ya29.test-token"
    finally:
        server.shutdown()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(StorageError) as info:
        storage.gcs_session()
    text = str(info.value)
    assert text.startswith("Google credentials: ") and "GOOGLE_APPLICATION_CREDENTIALS" in text
    assert "\n" not in text
