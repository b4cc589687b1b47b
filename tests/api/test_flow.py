"""The main job through the API: upload → generate → edit → submit → approve → publish
→ export, with the human-in-the-loop rules on each step."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent
from tests.conftest import People, client_for

HANDBOOK = b"""# Warehouse Safety Handbook

## Forklift operation

Only certified operators may drive a forklift. The maximum speed inside the warehouse is
10 km/h. Operators must always wear a seatbelt and check the brakes before each shift.

## Fire safety

Fire extinguishers are inspected every month by the facilities team. The assembly point
is the north car park. Never block a fire exit with pallets or boxes.

## Chemical storage

Acids are stored in the blue cabinet, away from bases. Every container carries a label
with the hazard pictogram. Spills are reported to the shift supervisor immediately.

## First aid

The first aid kit hangs next to the loading dock. Trained first aiders wear a green
helmet. Every accident is recorded in the incident log within 24 hours.
"""


def upload(api: Client, data: bytes = HANDBOOK, name: str = "handbook.md") -> Any:
    return api.post("/api/v1/documents", {"file": _file(data, name)})


def _file(data: bytes, name: str) -> Any:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def generated_version(api: Client) -> dict[str, Any]:
    doc = upload(api).json()
    job = api.post(f"/api/v1/documents/{doc['id']}/generate", {"title": "Safety"},
                   content_type="application/json").json()
    job = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert job["status"] == "succeeded", job
    course = api.get(f"/api/v1/courses/{job['course_id']}").json()
    version: dict[str, Any] = api.get(f"/api/v1/versions/{course['versions'][0]['id']}").json()
    return version


@pytest.mark.usefixtures("run_jobs")
def test_document_to_exported_package(people: People, acme_api: Client) -> None:
    # given an uploaded handbook and a generated draft
    version = generated_version(acme_api)
    assert version["state"] == "draft"
    created = AuditEvent.objects.get(action="course.created")
    assert created.actor_label.startswith("api-key:")
    screen = version["content"]["screens"][1]

    # when the author edits a screen through the API
    screen["title"] = "Driving forklifts safely"
    edited = acme_api.put(f"/api/v1/versions/{version['id']}/screens/{screen['id']}",
                          {"title": screen["title"], "blocks": screen["blocks"]},
                          content_type="application/json")
    assert edited.status_code == 200, edited.json()

    # then the key can submit, but not approve
    vid = version["id"]
    assert acme_api.post(f"/api/v1/versions/{vid}/submit").status_code == 200
    refused = acme_api.post(f"/api/v1/versions/{vid}/approve")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "person_required"
    assert acme_api.get(f"/api/v1/versions/{vid}/export/scorm2004").status_code == 409

    # and a reviewer signed in to the dashboard approves it
    rita = client_for(people.rita)
    approved = rita.post(f"/api/v1/versions/{vid}/approve")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["approved_by"] == "rita@acme.test"

    published = acme_api.post(f"/api/v1/versions/{vid}/publish")
    assert published.json()["state"] == "published"
    package = acme_api.get(f"/api/v1/versions/{vid}/export/scorm2004")
    assert package.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(package.content)).namelist()
    assert "imsmanifest.xml" in names


@pytest.mark.usefixtures("run_jobs")
def test_submitter_cannot_approve_own_version(people: People) -> None:
    alice = client_for(people.alice)
    version = generated_version(alice)
    assert alice.post(f"/api/v1/versions/{version['id']}/submit").status_code == 200
    response = alice.post(f"/api/v1/versions/{version['id']}/approve")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "own_submission"


@pytest.mark.usefixtures("run_jobs")
def test_author_cannot_approve(people: People, acme_api: Client) -> None:
    version = generated_version(acme_api)
    acme_api.post(f"/api/v1/versions/{version['id']}/submit")
    response = client_for(people.bob).post(f"/api/v1/versions/{version['id']}/approve")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "reviewer_required"


@pytest.mark.usefixtures("run_jobs")
def test_unapproved_version_cannot_be_published_or_exported(acme_api: Client) -> None:
    version = generated_version(acme_api)
    vid = version["id"]
    assert acme_api.post(f"/api/v1/versions/{vid}/publish").status_code == 409
    for fmt in ("scorm12", "scorm2004", "html"):
        response = acme_api.get(f"/api/v1/versions/{vid}/export/{fmt}")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "not_approved"


@pytest.mark.usefixtures("run_jobs")
def test_approved_version_is_immutable(people: People, acme_api: Client) -> None:
    version = generated_version(acme_api)
    vid = version["id"]
    acme_api.post(f"/api/v1/versions/{vid}/submit")
    client_for(people.rita).post(f"/api/v1/versions/{vid}/approve")
    screen = version["content"]["screens"][0]
    response = acme_api.put(f"/api/v1/versions/{vid}/screens/{screen['id']}",
                            {"title": "Changed", "blocks": screen["blocks"]},
                            content_type="application/json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_editable"


def test_errors_have_one_shape(acme_api: Client) -> None:
    response = acme_api.get("/api/v1/versions/999999")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "details"}
    unauthenticated = Client().get("/api/v1/courses")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["code"] == "unauthenticated"


def test_errors_outside_the_operations_have_the_shape_too(people: People,
                                                          acme_api: Client) -> None:
    from coursewright.web.api_errors import is_error_shape

    unknown = acme_api.get("/api/v1/nope")
    wrong_method = acme_api.delete("/api/v1/courses")
    bad_body = acme_api.put("/api/v1/versions/1/screens/x", data="{bad",
                            content_type="application/json")
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(people.rita)
    no_csrf = csrf_client.post("/api/v1/versions/1/approve")
    for response, status, code in [(unknown, 404, "not_found"),
                                   (wrong_method, 405, "method_not_allowed"),
                                   (bad_body, 400, "bad_request"),
                                   (no_csrf, 403, "csrf_failed")]:
        assert response.status_code == status
        assert is_error_shape(response.content), response.content
        assert response.json()["error"]["code"] == code
