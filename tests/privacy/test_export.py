"""Export of a whole organisation: portable JSON, the audit log and the decrypted files,
for its owners and admins (or its API key) only, through the API and the command line."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from coursewright.ai.models import GenerationJob, LedgerEntry
from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.courses.models import Asset, CourseVersion
from coursewright.ingest.models import Document, DocumentChunk
from coursewright.orgs.models import ApiKey
from coursewright.privacy.export import FORMAT, FORMAT_VERSION, export_organisation
from coursewright.publishing.models import Export
from coursewright.storage import read_bytes
from tests.api.test_flow import HANDBOOK, upload
from tests.conftest import People, client_for
from tests.courses.test_actions import _image
from tests.privacy.test_deletion import _approved_course_with_files

URL = "/api/v1/organisations/{}/export"
GLOBEX_MEMO = b"""# Globex launch plan

## Project Cypress

The Cypress launch is scheduled for the third quarter. Only the board knows the price.
Every briefing about Cypress happens in room 42 and nobody takes notes.
"""


@pytest.fixture
def both_orgs(people: People, acme_api: Client, globex_api: Client,
              run_jobs: None) -> dict[str, Any]:
    acme_version = _approved_course_with_files(people, acme_api)
    doc = upload(globex_api, GLOBEX_MEMO, "cypress.md").json()
    job = globex_api.post(f"/api/v1/documents/{doc['id']}/generate", {"title": "Cypress"},
                          content_type="application/json").json()
    assert globex_api.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "succeeded"
    return {"acme_version": acme_version}


def _archive(response: Any) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def _org_json(archive: zipfile.ZipFile) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(archive.read("organisation.json"))
    return data


def _file(archive: zipfile.ZipFile, name: str | None) -> bytes:
    assert name is not None
    assert name.startswith("files/")
    return archive.read(name)


@pytest.mark.usefixtures("both_orgs")
def test_owner_downloads_everything_acme_holds_decrypted(people: People) -> None:
    # given Acme with a document, an approved course with an image, a review comment and
    # a package, and Globex with its own document and course

    # when Alice (owner) downloads the export
    response = client_for(people.alice).get(URL.format("acme"))

    # then it is a zip attachment that no cache keeps
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="coursewright-acme-')
    assert response["Cache-Control"] == "no-store"
    archive = _archive(response)
    data = _org_json(archive)
    assert (data["format"], data["format_version"]) == (FORMAT, FORMAT_VERSION)
    assert data["organisation"]["slug"] == "acme"
    assert data["organisation"]["region"] == "eu"
    assert {(m["email"], m["role"]) for m in data["members"]} == {
        ("alice@acme.test", "owner"), ("bob@acme.test", "author"),
        ("rita@acme.test", "reviewer")}
    assert [k["name"] for k in data["api_keys"]] == ["acme ci"]

    # and the original upload comes back decrypted, byte for byte, named by its sha256
    [document] = data["documents"]
    assert _file(archive, document["file"]) == HANDBOOK
    assert document["file"] == f"files/{hashlib.sha256(HANDBOOK).hexdigest()}.md"
    assert "Forklift operation" in document["markdown"]
    assert [c["chunk_id"] for c in document["chunks"]] == list(
        DocumentChunk.objects.filter(document_id=document["id"]).order_by("id")
        .values_list("chunk_id", flat=True))

    # and so do the image and the built package
    [course] = data["courses"]
    [image] = course["images"]
    assert hashlib.sha256(_file(archive, image["file"])).hexdigest() == image["sha256"]
    assert _file(archive, image["file"]) == _image("PNG")
    [version] = course["versions"]
    [package] = version["packages"]
    stored = Export.objects.get(pk=package["id"])
    assert _file(archive, package["file"]) == read_bytes(people.acme, stored.storage_path)
    for name in archive.namelist():
        if name.startswith("files/"):
            assert Path(name).stem == hashlib.sha256(archive.read(name)).hexdigest()

    # and the course carries its versions, approval and review
    assert course["title"] == "Safety"
    assert version["state"] == "approved"
    assert version["approved_by"] == "rita@acme.test"
    assert [c["body"] for c in version["review_comments"]] == ["Shorter, please."]
    assert data["generation_jobs"][0]["status"] == "succeeded"

    # and nothing of Globex is in any part of it
    for name in archive.namelist():
        content = archive.read(name)
        for secret in (b"Cypress", b"globex", b"Globex", b"mallory"):
            assert secret not in content, (name, secret)


@pytest.mark.usefixtures("both_orgs")
def test_json_round_trips_what_the_database_holds(people: People) -> None:
    # when Acme's API key exports
    response = Client(headers={"Authorization": f"Bearer {people.acme_key}"}).get(
        URL.format("acme"))

    # then organisation.json parses, and its key fields equal the decrypted rows
    assert response.status_code == 200
    data = _org_json(_archive(response))
    acme = people.acme
    [version] = data["courses"][0]["versions"]
    row = CourseVersion.objects.get(pk=version["id"], org=acme)
    assert version["content"] == row.content
    assert version["content_sha256"] == row.content_sha256
    document = Document.objects.get(org=acme)
    assert data["documents"][0]["outline"] == document.outline
    assert data["documents"][0]["filename"] == document.filename
    assert data["counts"] == {
        "members": 3, "invitations": 0, "api_keys": 1, "documents": 1,
        "document_chunks": DocumentChunk.objects.filter(org=acme).count(),
        "courses": 1, "versions": 1, "review_comments": 1, "images": 1, "packages": 1,
        "generation_jobs": GenerationJob.objects.filter(org=acme).count(),
        "ai_ledger": LedgerEntry.objects.filter(org=acme).count(), "gradings": 0,
        "audit_entries": data["counts"]["audit_entries"], "files": 3,
    }
    assert data["counts"]["ai_ledger"] >= 1  # the offline engine's draft is on the ledger
    assert [e["provider"] for e in data["ai"]["ledger"]] == list(
        LedgerEntry.objects.filter(org=acme).order_by("id").values_list("provider", flat=True))
    assert data["exported_by"].startswith("api-key:")


@pytest.mark.usefixtures("both_orgs")
def test_no_secrets_or_hashes_are_exported(people: People) -> None:
    archive = zipfile.ZipFile(io.BytesIO(
        export_organisation(people.acme, actor=Actor.person(people.alice))))
    everything = b"".join(archive.read(name) for name in archive.namelist())
    for key in ApiKey.objects.filter(org=people.acme):
        assert key.secret_hash.encode() not in everything
    for person in (people.alice, people.bob, people.rita):
        assert person.password.encode() not in everything
    assert str(people.acme.key_id).encode() not in everything
    assert b"secret_hash" not in everything
    assert b"token_hash" not in everything


@pytest.mark.usefixtures("both_orgs")
def test_audit_log_is_acme_entries_with_opened_payloads(people: People) -> None:
    # given the audit entries Acme has before the export
    expected = list(AuditEvent.objects.filter(org=people.acme).order_by("seq")
                    .values_list("seq", flat=True))

    # when Alice exports
    archive = _archive(client_for(people.alice).get(URL.format("acme")))

    # then audit.jsonl holds exactly those, in order, payloads decrypted
    entries = [json.loads(line) for line in archive.read("audit.jsonl").splitlines()]
    assert [e["seq"] for e in entries] == expected
    approved = next(e for e in entries if e["action"] == "version.approved")
    assert approved["actor"] == "rita@acme.test"
    assert approved["payload_readable"] is True


@pytest.mark.usefixtures("both_orgs")
def test_the_export_is_recorded_with_counts_only(people: People) -> None:
    # when Alice exports
    client_for(people.alice).get(URL.format("acme"))

    # then one audit entry says so, with numbers and nothing else
    event = AuditEvent.objects.get(action="export.organisation")
    assert event.org_id == people.acme.pk
    assert event.actor_label == "alice@acme.test"
    assert event.after["courses"] == 1
    assert event.after["files"] == 3
    assert all(isinstance(value, int) for value in event.after.values())


@pytest.mark.usefixtures("both_orgs")
def test_two_exports_of_the_same_data_differ_only_in_time_and_audit(people: People) -> None:
    # when Acme is exported twice in a row
    first, second = (zipfile.ZipFile(io.BytesIO(
        export_organisation(people.acme, actor=Actor.person(people.alice))))
        for _ in range(2))

    # then the second differs only in its time, and in the audit log by the first export
    one, two = _org_json(first), _org_json(second)
    assert two.pop("exported_at") >= one.pop("exported_at")
    assert two["counts"].pop("audit_entries") == one["counts"].pop("audit_entries") + 1
    assert one == two
    assert first.namelist() == second.namelist()
    assert first.read("audit.jsonl") in second.read("audit.jsonl")


@pytest.mark.usefixtures("both_orgs")
def test_a_file_gone_from_storage_is_listed_not_fatal(people: People, settings: Any) -> None:
    # given the image's stored file was deleted, and the document's original was
    # removed by retention
    asset = Asset.objects.get(org=people.acme)
    Path(settings.STORAGES["default"]["OPTIONS"]["location"], asset.storage_path).unlink()
    Document.objects.filter(org=people.acme).update(storage_path="")

    # when Alice exports
    data = _org_json(zipfile.ZipFile(io.BytesIO(
        export_organisation(people.acme, actor=Actor.person(people.alice)))))

    # then both say they have no file, and the missing one is named
    assert data["courses"][0]["images"][0]["file"] is None
    assert data["documents"][0]["file"] is None
    assert data["missing_files"] == [asset.storage_path]


@pytest.mark.parametrize("who", ["bob", "rita"])
def test_authors_and_reviewers_may_not_export(people: People, who: str) -> None:
    response = client_for(getattr(people, who)).get(URL.format("acme"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert not AuditEvent.objects.filter(action="export.organisation").exists()


def test_other_organisations_cannot_tell_acme_exists(people: People, globex_api: Client) -> None:
    for client in (client_for(people.mallory), globex_api):
        response = client.get(URL.format("acme"))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Client().get(URL.format("acme")).status_code == 401
    assert not AuditEvent.objects.filter(action="export.organisation").exists()


@pytest.mark.usefixtures("both_orgs")
def test_cli_writes_the_zip_and_refuses_to_overwrite(people: People, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "acme.zip"

    # when the export is written from the command line
    stdout = io.StringIO()
    call_command("export", "org", "acme", "-o", str(out), stdout=stdout)

    # then the file is a complete export, readable by its owner only
    assert "1 courses" in stdout.getvalue()
    data = _org_json(zipfile.ZipFile(out))
    assert data["organisation"]["slug"] == "acme"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert AuditEvent.objects.get(action="export.organisation").channel == "cli"

    # and an existing file is kept unless --force says otherwise
    out.write_bytes(b"keep me")
    with pytest.raises(CommandError, match="add --force"):
        call_command("export", "org", "acme", "-o", str(out), stdout=io.StringIO())
    assert out.read_bytes() == b"keep me"
    call_command("export", "org", "acme", "-o", str(out), "--force", stdout=io.StringIO())
    assert zipfile.ZipFile(out).testzip() is None
    assert [p.name for p in out.parent.iterdir()] == ["acme.zip"]  # no partial file left


@pytest.mark.django_db
def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no organisation with the slug 'nope'"):
        call_command("export", "org", "nope", "-o", str(tmp_path / "x.zip"))
    with pytest.raises(CommandError, match="invalid choice: 'everything'"):
        call_command("export", "everything", "acme")
    with pytest.raises(CommandError, match="no organisation with the slug 'nope'"):
        call_command("export", "learner", "lms-1", "--org", "nope")
    assert not (tmp_path / "x.zip").exists()
