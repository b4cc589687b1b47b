"""Residency: an organisation's files live only in its region's storage location."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.storage import ResidencyViolation, read_bytes
from tests.api.test_flow import generated_version
from tests.conftest import People, client_for
from tests.courses.test_actions import _image


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.usefixtures("run_jobs")
def test_an_eu_organisation_never_writes_to_the_us_location(
        people: People, acme_api: Client, settings: Any, tmp_path: Path) -> None:
    # given separate volumes per region
    settings.REGION_STORAGE_DIRS = {"eu": tmp_path / "eu-volume", "us": tmp_path / "us-volume",
                                    "uk": tmp_path / "uk-volume"}
    assert people.acme.region == "eu"

    # when Acme runs the whole flow: upload, draft, image, approval, export
    version = generated_version(acme_api)
    upload = io.BytesIO(_image("PNG"))
    upload.name = "figure.png"
    assert acme_api.post(f"/api/v1/courses/{version['course_id']}/images",
                         {"file": upload}).status_code == 201
    acme_api.post(f"/api/v1/versions/{version['id']}/submit")
    client_for(people.rita).post(f"/api/v1/versions/{version['id']}/approve")
    for fmt in ("scorm2004", "scorm12", "html"):
        assert acme_api.get(f"/api/v1/versions/{version['id']}/export/{fmt}").status_code == 200

    # then every file is on the EU volume and none anywhere else
    eu_files = _files(tmp_path / "eu-volume")
    assert len(eu_files) >= 5  # upload, image, three packages
    assert all(f"org-{people.acme.pk}" in str(p) for p in eu_files)
    assert _files(tmp_path / "us-volume") == []
    assert _files(tmp_path / "uk-volume") == []
    default_root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    assert _files(default_root) == []


def test_a_path_in_another_region_is_refused_and_recorded(people: People) -> None:
    forged = f"us/org-{people.acme.pk}/uploads/{'0' * 64}.pdf"
    with pytest.raises(ResidencyViolation):
        read_bytes(people.acme, forged)
    event = AuditEvent.objects.filter(action="residency.refused").get()
    assert event.org_id == people.acme.pk


def test_another_organisations_path_is_refused(people: People) -> None:
    with pytest.raises(ResidencyViolation):
        read_bytes(people.acme, f"eu/org-{people.globex.pk}/uploads/x.pdf")


def test_the_region_cannot_be_changed(people: People) -> None:
    acme = people.acme
    acme.region = "us"
    with pytest.raises(ValueError, match="cannot be changed"):
        acme.save()
    acme.refresh_from_db()
    assert acme.region == "eu"
