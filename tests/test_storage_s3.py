"""Storage on S3 (django-storages + boto3), against moto's server on 127.0.0.1: sealed files
in the region's bucket, residency, a region without a bucket staying on disk, settings
that fail loudly, and an organisation's deletion emptying its prefix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from coursewright.audit.actor import Actor
from coursewright.orgs import actions as org_actions
from coursewright.privacy.crypto import DecryptionFailed
from coursewright.privacy.deletion import delete_organisation
from coursewright.storage import (
    ResidencyViolation,
    delete_quietly,
    put_bytes,
    read_bytes,
    region_storage,
)
from tests.conftest import People
from tests.support.s3 import S3, s3  # noqa: F401 - the fixture

SECRET = b"Quarterly numbers: do not share."


def test_a_sealed_file_lives_in_the_regions_bucket(people: People, s3: S3) -> None:  # noqa: F811
    # when Acme (eu) stores a file
    path, digest = put_bytes(people.acme, "uploads", SECRET, ".txt")
    # then it is in the eu bucket, named as on disk minus the region, sealed
    key = f"org-{people.acme.pk}/uploads/{digest}.txt"
    assert path == f"eu/{key}"
    assert s3.keys("eu") == [key]
    assert s3.keys("us") == []
    assert s3.keys("uk") == []
    stored = s3.get("eu", key)
    assert SECRET not in stored
    assert s3.head("eu", key)["ContentType"] == "application/octet-stream"
    # and it reads back, and a second identical write keeps one object
    assert read_bytes(people.acme, path) == SECRET
    assert put_bytes(people.acme, "uploads", SECRET, ".txt") == (path, digest)
    assert s3.keys("eu") == [key]
    # and it can be deleted
    delete_quietly(path)
    assert s3.keys("eu") == []
    delete_quietly(path)  # again: nothing there, no error


def test_residency_holds_on_s3(people: People, s3: S3) -> None:  # noqa: F811
    path, _ = put_bytes(people.acme, "uploads", SECRET, ".txt")
    # Globex (us) cannot read Acme's eu file, nor reach it by renaming the region
    with pytest.raises(ResidencyViolation):
        read_bytes(people.globex, path)
    with pytest.raises(ResidencyViolation):
        read_bytes(people.acme, "us/" + path.split("/", 1)[1])
    globex_path, _ = put_bytes(people.globex, "uploads", SECRET, ".txt")
    assert s3.keys("us") == [globex_path.split("/", 1)[1]]


def test_a_sealed_file_does_not_open_under_another_name(people: People, s3: S3) -> None:  # noqa: F811
    path, _ = put_bytes(people.acme, "uploads", SECRET, ".txt")
    key = path.split("/", 1)[1]
    moved = key.replace("/uploads/", "/images/")
    s3.client.copy_object(Bucket=s3.buckets["eu"], Key=moved,
                          CopySource={"Bucket": s3.buckets["eu"], "Key": key})
    with pytest.raises(DecryptionFailed):
        read_bytes(people.acme, f"eu/{moved}")


def test_a_region_without_a_bucket_stays_on_disk(people: People, s3: S3,  # noqa: F811
                                                 settings: Any) -> None:
    settings.REGION_S3_BUCKETS = {"eu": s3.buckets["eu"]}
    put_bytes(people.acme, "uploads", SECRET, ".txt")
    path, _ = put_bytes(people.globex, "uploads", SECRET, ".txt")
    assert len(s3.keys("eu")) == 1
    assert s3.keys("us") == []
    assert Path(region_storage("us").path(path.split("/", 1)[1])).is_file()


def test_storages_are_cached_per_bucket(s3: S3) -> None:  # noqa: F811
    assert region_storage("eu") is region_storage("eu")
    assert region_storage("eu") is not region_storage("us")


def test_deleting_an_organisation_empties_its_prefix_only(people: People,
                                                          s3: S3) -> None:  # noqa: F811
    # given two eu organisations with files in the same bucket
    initech = org_actions.create_organisation(name="Initech", region="eu",
                                              owner=people.mallory, actor=Actor.system())
    for n in range(7):
        put_bytes(people.acme, "uploads", SECRET + bytes([n]), ".txt")
    put_bytes(people.acme, "images", b"\x89PNG fake", ".png")
    kept, _ = put_bytes(initech, "uploads", SECRET, ".txt")
    # when Acme is deleted
    receipt = delete_organisation(people.acme, actor=Actor.person(people.alice),
                                  confirm=people.acme.slug)
    # then every object under its prefix is gone, and counted; Initech's stays
    assert receipt.files_deleted == 8
    assert s3.keys("eu", f"org-{people.acme.pk}/") == []
    assert s3.keys("eu") == [kept.split("/", 1)[1]]


def test_org_deletion_on_s3_pages_through_large_prefixes(people: People, s3: S3,  # noqa: F811
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # given more objects than one listing page holds (a small page, to keep this fast)
    from coursewright import storage

    bucket = s3.buckets["eu"]
    for n in range(5):
        s3.client.put_object(Bucket=bucket, Key=f"org-{people.acme.pk}/uploads/{n}", Body=b"x")
    real = region_storage("eu")
    paginator = real.connection.meta.client.get_paginator("list_objects_v2")
    original = paginator.paginate
    monkeypatch.setattr(type(paginator), "paginate",
                        lambda self, **kw: original(**kw, PaginationConfig={"PageSize": 2}))
    # when the organisation's files are removed, then all five go
    assert storage.delete_org_files("eu", people.acme.pk) == 5
    assert s3.keys("eu") == []


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with ``env`` (start-up, as it happens)."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("COURSEWRIGHT_", "DATABASE_URL"))}
    script = ("import json; from coursewright import settings as s; print(json.dumps("
              "[s.REGION_S3_BUCKETS, s.S3_ENDPOINT_URL, s.S3_REGION_NAME, s.CONTENT_URL_TTL]))")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**clean, "COURSEWRIGHT_VAR_DIR": str(tmp_path), **env},
                          timeout=60, check=False)


@pytest.mark.parametrize(("name", "value"), [
    ("COURSEWRIGHT_S3_BUCKET_EU", "Not_A_Bucket"),
    ("COURSEWRIGHT_S3_BUCKET_US", "ab"),
    ("COURSEWRIGHT_S3_ENDPOINT_URL", "127.0.0.1:9000"),
    ("COURSEWRIGHT_S3_ENDPOINT_URL", "http://127.0.0.1:9000/some/path"),
    ("COURSEWRIGHT_CONTENT_URL_TTL", "0"),
    ("COURSEWRIGHT_CONTENT_URL_TTL", "ten minutes"),
    ("COURSEWRIGHT_CONTENT_URL_TTL", "604801"),
])
def test_bad_storage_settings_stop_start_up(tmp_path: Path, name: str, value: str) -> None:
    result = load_settings(tmp_path, **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


def test_storage_settings(tmp_path: Path) -> None:
    # nothing configured: every region on disk, a ten-minute TTL
    default = load_settings(tmp_path)
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout) == [{}, None, None, 600]
    configured = load_settings(tmp_path, COURSEWRIGHT_S3_BUCKET_EU="cw-eu.files",
                               COURSEWRIGHT_S3_ENDPOINT_URL="https://s3.example.net/",
                               COURSEWRIGHT_S3_REGION_NAME="eu-west-1",
                               COURSEWRIGHT_CONTENT_URL_TTL="120")
    assert configured.returncode == 0, configured.stderr
    assert json.loads(configured.stdout) == [{"eu": "cw-eu.files"}, "https://s3.example.net",
                                             "eu-west-1", 120]
