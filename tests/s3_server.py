"""A real S3 API for tests: moto's server on a free local port (import these fixtures from a conftest).

``s3_server`` (session): starts ``moto_server``, points the standard AWS variables at it for the session
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID=testing, AWS_SECRET_ACCESS_KEY=testing-secret,
AWS_DEFAULT_REGION=us-east-1; restored afterwards) and stops it at the end. Skips when moto is not installed.
``s3_bucket`` (function): a fresh, uniquely named bucket, as ``s3://curation-test-xxxxxxxx``.
"""
from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.local_server import free_port, serve

SECRET = "testing-secret"
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key=SECRET)

    def bucket(self, name: str) -> str:
        """Create bucket ``name`` (a valid S3 name: 3-63 lowercase letters, digits, dots, hyphens);
        returns ``s3://name``."""
        self.client().create_bucket(Bucket=name)
        return f"s3://{name}"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        pytest.skip('moto server is not installed (pip install "moto[server]==5.2.5")')
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = Path(tmp_path_factory.mktemp("moto")) / "moto_server.log"
    with serve([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], endpoint + "/moto-api/",
               log_path, "moto server", timeout_s=60):
        with pytest.MonkeyPatch.context() as mp:
            for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
                mp.delenv(name, raising=False)
            mp.setenv("AWS_ENDPOINT_URL", endpoint)
            for name, value in ENV.items():
                mp.setenv(name, value)
            yield S3Server(endpoint)


@pytest.fixture
def s3_bucket(s3_server) -> str:
    return s3_server.bucket(f"curation-test-{uuid.uuid4().hex[:8]}")
