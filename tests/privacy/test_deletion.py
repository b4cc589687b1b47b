"""Deletion on request: courses and whole organisations, with receipts; an organisation's
keys are destroyed so anything left behind is unreadable."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from coursewright.accounts.models import User
from coursewright.ai.models import GenerationJob
from coursewright.audit.models import AuditEvent
from coursewright.courses.models import Asset, Course, CourseVersion, ReviewComment
from coursewright.ingest.models import Document, DocumentChunk
from coursewright.orgs.models import ApiKey, Membership, Organisation
from coursewright.privacy import keys
from coursewright.privacy.crypto import unseal
from coursewright.publishing.models import Export
from tests.api.test_flow import generated_version
from tests.conftest import People, client_for
from tests.courses.test_actions import _image

ORG_MODELS = [Membership, ApiKey, Document, DocumentChunk, GenerationJob, Course,
              CourseVersion, ReviewComment, Asset, Export]


def _storage(settings: Any) -> Path:
    return Path(settings.STORAGES["default"]["OPTIONS"]["location"])


def _approved_course_with_files(people: People, api: Client) -> dict[str, Any]:
    version = generated_version(api)
    upload = io.BytesIO(_image("PNG"))
    upload.name = "figure.png"
    api.post(f"/api/v1/courses/{version['course_id']}/images", {"file": upload})
    api.post(f"/api/v1/versions/{version['id']}/submit")
    client_for(people.rita).post(f"/api/v1/versions/{version['id']}/reject",
                                 {"comment": "Shorter, please."}, content_type="application/json")
    api.post(f"/api/v1/versions/{version['id']}/submit")
    client_for(people.rita).post(f"/api/v1/versions/{version['id']}/approve")
    api.get(f"/api/v1/versions/{version['id']}/export/scorm12")
    return version


@pytest.mark.usefixtures("run_jobs")
def test_deleting_a_course_removes_its_rows_and_files(people: People, acme_api: Client,
                                                      settings: Any) -> None:
    version = _approved_course_with_files(people, acme_api)
    course_id = version["course_id"]
    files_before = {p for p in _storage(settings).rglob("*") if p.is_file()}

    response = acme_api.delete(f"/api/v1/courses/{course_id}?reason=customer%20request")

    assert response.status_code == 200, response.content
    receipt = response.json()
    assert receipt["counts"] == {"courses": 1, "versions": 1, "review_comments": 1,
                                 "images": 1, "packages": 1, "generation_jobs": 1}
    assert receipt["files_deleted"] == 2  # the image and the package
    assert not Course.objects.filter(pk=course_id).exists()
    assert not CourseVersion.objects.filter(course_id=course_id).exists()
    files_after = {p for p in _storage(settings).rglob("*") if p.is_file()}
    assert len(files_before - files_after) == 2
    assert Document.objects.filter(org=people.acme).count() == 1  # the source stays
    event = AuditEvent.objects.get(action="deletion.course")
    assert event.after["counts"]["versions"] == 1
    assert acme_api.get(f"/api/v1/courses/{course_id}").status_code == 404


@pytest.mark.usefixtures("run_jobs")
def test_deleting_an_organisation_leaves_nothing_readable(people: People, acme_api: Client,
                                                          settings: Any,
                                                          tmp_path: Path) -> None:
    _approved_course_with_files(people, acme_api)
    acme_id, key_id = people.acme.pk, str(people.acme.key_id)
    acme_root = _storage(settings) / "eu" / f"org-{acme_id}"
    # a copy of one encrypted file that "escaped" (a stale replica, an old backup)
    escaped = next(p for p in acme_root.rglob("*") if p.is_file())
    stray = tmp_path / "stray-copy"
    stray.write_bytes(escaped.read_bytes())
    stray_name = str(escaped.relative_to(_storage(settings)))

    response = client_for(people.alice).delete(
        f"/api/v1/organisations/{people.acme.slug}",
        {"confirm": "acme", "reason": "contract ended"}, content_type="application/json")

    assert response.status_code == 200, response.content
    receipt = response.json()
    assert receipt["key_destroyed"] is True
    assert receipt["counts"]["courses"] == 1
    assert receipt["counts"]["accounts"] == 3  # Alice, Bob and Rita belonged only to Acme
    assert not Organisation.objects.filter(pk=acme_id).exists()
    for model in ORG_MODELS:
        assert not model._default_manager.filter(org_id=acme_id).exists(), model
    assert not User.objects.filter(email__endswith="@acme.test").exists()
    assert not acme_root.exists()
    assert keys.keyring().is_destroyed(key_id)
    with pytest.raises(keys.KeyDestroyed):
        unseal(key_id, stray.read_bytes(), where=f"file:{stray_name}")
    # Globex is untouched
    assert client_for(people.mallory).get("/api/v1/me").status_code == 200
    assert AuditEvent.objects.filter(action="deletion.organisation").count() == 1


@pytest.mark.parametrize("who", ["bob", "rita", "api_key"])
def test_only_a_signed_in_owner_deletes_the_organisation(people: People, who: str) -> None:
    client = {"bob": client_for(people.bob), "rita": client_for(people.rita),
              "api_key": Client(headers={"Authorization": f"Bearer {people.acme_key}"})}[who]
    response = client.delete("/api/v1/organisations/acme", {"confirm": "acme"},
                             content_type="application/json")
    assert response.status_code == 403
    assert Organisation.objects.filter(slug="acme").exists()


def test_the_slug_must_be_typed_to_confirm(people: People) -> None:
    response = client_for(people.alice).delete("/api/v1/organisations/acme",
                                               {"confirm": "ACME"},
                                               content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "confirmation_required"
    assert Organisation.objects.filter(slug="acme").exists()


def test_delete_from_the_command_line(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COURSEWRIGHT_") and k != "DATABASE_URL"}
    env.update(COURSEWRIGHT_VAR_DIR=str(tmp_path / "state"),
               DJANGO_SETTINGS_MODULE="coursewright.settings")

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "coursewright.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=check)

    cli("migrate", "--noinput")
    cli("demo")
    refused = cli("delete", "org", "demo", check=False)
    assert refused.returncode == 1
    assert "add --yes" in refused.stderr
    done = cli("delete", "org", "demo", "--yes", "--reason", "test")
    assert '"key_destroyed": true' in done.stdout
    assert not (tmp_path / "state" / "storage" / "eu" / "org-1").exists()


@pytest.mark.usefixtures("run_jobs")
def test_dashboard_deletes_a_course_after_confirmation(people: People, acme_api: Client) -> None:
    version = generated_version(acme_api)
    bob = client_for(people.bob)
    url = f"/o/acme/courses/{version['course_id']}/delete/"
    assert bob.post(url, {"reason": "old"}).status_code == 422  # box not ticked
    assert Course.objects.filter(pk=version["course_id"]).exists()
    response = bob.post(url, {"reason": "old", "confirm": "yes"})
    assert response.status_code == 302
    assert not Course.objects.filter(pk=version["course_id"]).exists()


def test_dashboard_deletes_the_organisation_for_its_owner(people: People) -> None:
    assert client_for(people.bob).post("/o/acme/settings/delete/",
                                       {"confirm": "acme"}).status_code in {403, 404}
    alice = client_for(people.alice)
    assert alice.post("/o/acme/settings/delete/", {"confirm": "nope"}).status_code == 422
    response = alice.post("/o/acme/settings/delete/", {"confirm": "acme", "reason": "bye"})
    assert response.status_code == 200
    assert b"Deletion receipt" in response.content
    assert not Organisation.objects.filter(slug="acme").exists()


@pytest.mark.usefixtures("run_jobs")
def test_audit_entries_outlive_the_organisation_without_content(people: People,
                                                                acme_api: Client) -> None:
    from coursewright.audit.verify import verify_chain

    _approved_course_with_files(people, acme_api)
    acme_id = people.acme.pk
    before = AuditEvent.objects.filter(org_id=acme_id).count()
    client_for(people.alice).delete("/api/v1/organisations/acme", {"confirm": "acme"},
                                    content_type="application/json")
    entries = list(AuditEvent.objects.filter(org_id=acme_id))
    assert len(entries) >= before > 5
    for entry in entries:
        assert entry.action  # ids, action names and hashes remain
        assert entry.entry_hash
        assert "unreadable" in str(entry.payload_data)
    assert verify_chain().ok


def test_a_backup_from_before_the_deletion_restores_nothing_readable(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COURSEWRIGHT_") and k != "DATABASE_URL"}
    env.update(COURSEWRIGHT_VAR_DIR=str(tmp_path / "state"),
               DJANGO_SETTINGS_MODULE="coursewright.settings")

    def cli(*args: str) -> str:
        result = subprocess.run([sys.executable, *args], env=env, capture_output=True,
                                text=True, timeout=180, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    source = tmp_path / "h.md"
    source.write_bytes(b"# Handbook\n\n## Ladders\n\nAlways check the ladder feet first.\n\n"
                       b"## Fire\n\nNever block a fire exit with boxes or pallets.\n")
    cli("-m", "coursewright.cli", "migrate", "--noinput")
    cli("-m", "coursewright.cli", "demo")
    cli("-m", "coursewright.cli", "generate", str(source), "--export", "scorm12", "-o",
        str(tmp_path / "c.zip"), "--approve-as", "reviewer@demo.local")
    backup = tmp_path / "before.cwbackup"
    cli("-m", "coursewright.cli", "backup", "-o", str(backup))
    cli("-m", "coursewright.cli", "delete", "org", "demo", "--yes")

    cli("-m", "coursewright.cli", "restore", str(backup), "--yes")

    probe = cli("-c", """
import django; django.setup()
from coursewright.courses.models import CourseVersion
from coursewright.storage import read_bytes
from coursewright.publishing.models import Export
version = CourseVersion.objects.get()
for what, read in [("content", lambda: version.content),
                   ("file", lambda: read_bytes(version.org, Export.objects.get().storage_path))]:
    try:
        read()
        print(what, "READABLE")
    except Exception as exc:
        print(what, type(exc).__name__)
""")
    assert "READABLE" not in probe, probe
    assert probe.split() == ["content", "KeyDestroyed", "file", "KeyDestroyed"], probe


def test_deleting_an_organisation_counts_and_removes_its_delivery_records(
        people: People) -> None:
    from coursewright.audit.actor import Actor
    from coursewright.delivery import gatekeeper
    from coursewright.delivery.models import LaunchEvent, LaunchProgress, PlayerError
    from coursewright.delivery.reports import record_player_error, record_progress
    from coursewright.privacy.deletion import delete_organisation
    from tests.delivery.test_licenses_fixtures import deployed_course, issue

    live = deployed_course(people.acme, people.bob)
    _, token = issue(people, [live.course])
    for learner in ("a", "b", "c"):
        decision = gatekeeper.launch(token, course_uid=str(live.course.uid),
                                     learner_id=learner, origin="")
        session = gatekeeper.live_session(decision.session)
        assert session is not None
        record_progress(session, "scorm12", {"cmi.core.lesson_status": "passed"})
        record_player_error(session, "script", "boom")
    theirs = deployed_course(people.globex, people.mallory)
    _, their_token = issue(people, [theirs.course])
    gatekeeper.launch(their_token, course_uid=str(theirs.course.uid), learner_id="a",
                      origin="")
    receipt = delete_organisation(people.acme, actor=Actor.person(people.alice),
                                  confirm=people.acme.slug)
    assert {k: receipt.counts[k] for k in ("licenses", "launch_events", "launch_sessions",
                                           "launch_progress", "player_errors")} == {
        "licenses": 1, "launch_events": 3, "launch_sessions": 3, "launch_progress": 3,
        "player_errors": 3}
    assert not LaunchProgress.objects.exists()
    assert not PlayerError.objects.exists()
    assert list(LaunchEvent.objects.values_list("org", flat=True)) == [people.globex.pk]
