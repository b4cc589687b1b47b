"""An S3-compatible server for the tests: moto's, on 127.0.0.1 only.

``moto_endpoint()`` starts ``python -m moto.server`` on a free 127.0.0.1 port the first
time it is called in a test process and returns its address; the server lives until the
process exits (one per pytest-xdist worker, so ``-n 2`` runs two). Moto accepts any
credentials and keeps everything in memory.

The ``s3`` fixture (import it into a test module) gives a test fresh buckets of its own
(one per region) on that server, points the settings at them, sets dummy AWS credentials
(no real ones can leak in from the environment or ``~/.aws``) and empties the buckets
afterwards. Database ids restart between tests, so sharing buckets would mix one test's
``org-1`` with another's.
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

REGIONS = ("eu", "uk", "us")
AWS_REGION = "us-east-1"
_endpoint: str | None = None


def moto_endpoint() -> str:
    global _endpoint
    if _endpoint is None:
        _endpoint = _start()
    return _endpoint


def _start() -> str:
    log = Path(tempfile.mkdtemp(prefix="cw-moto-")) / "moto.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "NO_PROXY": "*"})
    atexit.register(_stop, server)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"Running on (http://127\.0\.0\.1:[0-9]+)",
                          log.read_text(errors="replace"))
        if found and _answers(found.group(1)):
            return found.group(1)
        if server.poll() is not None:
            break
        time.sleep(0.1)
    _stop(server)
    pytest.fail(f"moto server did not start: {log.read_text(errors='replace')[-2000:]}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
            return True
    except OSError:
        return False


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()


@dataclass
class S3:
    endpoint: str
    buckets: dict[str, str]
    client: Any

    def keys(self, region: str, prefix: str = "") -> list[str]:
        answer = self.client.list_objects_v2(Bucket=self.buckets[region], Prefix=prefix)
        return sorted(item["Key"] for item in answer.get("Contents", []))

    def head(self, region: str, key: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.client.head_object(Bucket=self.buckets[region], Key=key)
        return answer

    def get(self, region: str, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.buckets[region], Key=key)["Body"].read()
        return body


@pytest.fixture
def s3(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    endpoint = moto_endpoint()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": AWS_REGION, "NO_PROXY": "127.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    client = boto3.client("s3", endpoint_url=endpoint, region_name=AWS_REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    run = uuid.uuid4().hex[:12]
    buckets = {region: f"cw-test-{run}-{region}" for region in REGIONS}
    for bucket in buckets.values():
        client.create_bucket(Bucket=bucket)
    settings.REGION_S3_BUCKETS = dict(buckets)
    settings.S3_ENDPOINT_URL = endpoint
    settings.S3_REGION_NAME = AWS_REGION
    yield S3(endpoint=endpoint, buckets=buckets, client=client)
    for bucket in buckets.values():
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        client.delete_bucket(Bucket=bucket)
