"""The main job through the dashboard: Bob uploads a handbook, the draft is generated,
Bob edits and submits, Bob cannot approve, Rita approves, Bob publishes and downloads."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from coursewright.ai.models import GenerationJob
from coursewright.courses.content import TextBlock
from coursewright.courses.models import VersionState
from tests.conftest import People, client_for
from tests.web.helpers import (
    ai_block_screen,
    content_of,
    editor_data,
    latest_version,
    only_course,
    upload_handbook,
)


def test_handbook_to_scorm_package(people: People,
                                   django_capture_on_commit_callbacks: Any) -> None:
    bob, rita = client_for(people.bob), client_for(people.rita)

    # given Bob uploads the handbook from the dashboard, and the queued generation runs
    # once the upload's transaction commits (as the job consumer would run it)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload_handbook(bob, "acme", title="Field handbook")
    job = GenerationJob.objects.get(org=people.acme)
    assert response.status_code == 302
    assert response["Location"] == f"/o/acme/jobs/{job.pk}/"

    # then the job page and its JSON say the draft is ready and where it is
    course = only_course(people.acme)
    page = bob.get(response["Location"])
    assert page.status_code == 200
    assert f"/o/acme/courses/{course.pk}/" in page.content.decode()
    status = bob.get(f"/o/acme/jobs/{job.pk}/status.json").json()
    assert status["status"] == "succeeded"
    assert status["progress"] == 100
    assert status["course_url"] == f"/o/acme/courses/{course.pk}/"

    # and the version page shows AI blocks beside the passages they cite
    version = latest_version(course)
    content = content_of(version)
    screen = ai_block_screen(content)
    block = next(b for b in screen.blocks if b.type == "text" and b.provenance.kind == "ai")
    assert course.source_document is not None
    chunk = course.source_document.chunks.get(chunk_id=block.provenance.sources[0])
    page = bob.get(f"/o/acme/versions/{version.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "AI draft" in html
    assert chunk.text.split()[0] in html

    # when Bob edits that screen's title and text
    edit_url = f"/o/acme/versions/{version.pk}/screens/{screen.id}/edit/"
    assert bob.get(edit_url).status_code == 200
    response = bob.post(edit_url, editor_data(
        screen, title="Our values, in practice",
        **{f"b-{block.id}-markdown": "Safety before speed, **every** time."}))
    assert response.status_code == 302, response.content.decode()
    edited = content_of(version)
    saved = next(s for s in edited.screens if s.id == screen.id)
    saved_block = next(b for b in saved.blocks if b.id == block.id)
    assert isinstance(saved_block, TextBlock)
    assert saved.title == "Our values, in practice"
    assert saved_block.markdown == "Safety before speed, **every** time."
    assert saved_block.provenance.kind == "ai"
    assert saved_block.provenance.edited is True
    assert "AI, edited" in bob.get(f"/o/acme/versions/{version.pk}/").content.decode()

    # and submits it for review
    assert bob.post(f"/o/acme/versions/{version.pk}/submit/").status_code == 302
    version.refresh_from_db()
    assert version.state == VersionState.IN_REVIEW

    # then Bob, an author, cannot approve it: a friendly 403 page
    refused = bob.post(f"/o/acme/versions/{version.pk}/approve/")
    assert refused.status_code == 403
    assert "Only a reviewer, admin or owner" in refused.content.decode()
    assert "Approve version" not in bob.get(f"/o/acme/courses/{course.pk}/").content.decode()

    # and Rita, a reviewer, sees the button and approves; Bob's rewrite of an AI sentence
    # is flagged by the source check, so she confirms that she checked it
    assert "Approve version 1" in rita.get(f"/o/acme/courses/{course.pk}/").content.decode()
    response = rita.post(f"/o/acme/versions/{version.pk}/approve/",
                         {"approve-confirm_unsupported": "on"})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.state == VersionState.APPROVED
    assert version.approved_by == people.rita
    course_page = bob.get(response["Location"]).content.decode()
    assert "rita@acme.test" in course_page
    assert "Approved" in course_page

    # when Bob publishes and downloads the SCORM 2004 package
    assert bob.post(f"/o/acme/versions/{version.pk}/publish/").status_code == 302
    version.refresh_from_db()
    assert version.state == VersionState.PUBLISHED
    package = bob.get(f"/o/acme/versions/{version.pk}/export/scorm2004/")

    # then it is a zip with a SCORM manifest
    assert package.status_code == 200
    assert package["Content-Type"] == "application/zip"
    assert package["Content-Disposition"].startswith('attachment; filename="field-handbook-v1')
    names = zipfile.ZipFile(io.BytesIO(package.content)).namelist()
    assert "imsmanifest.xml" in names


@pytest.mark.parametrize(("name", "data", "status", "message"), [
    ("tool.exe", b"MZ\x90\x00binary", 415, "read .exe files. Upload a PDF"),
    ("broken.pdf", b"%PDF-1.7 not really", 422, "PDF"),
    ("empty.md", b"", 422, "The submitted file is empty."),
])
def test_a_refused_upload_is_explained_on_the_form(people: People, name: str, data: bytes,
                                                   status: int, message: str) -> None:
    from coursewright.ingest.models import Document
    from tests.web.helpers import named_file

    # when Bob uploads a file the converter refuses
    response = client_for(people.bob).post("/o/acme/documents/upload/",
                                           {"file": named_file(data, name), "language": "en"})

    # then the form comes back with the converter's reason next to the file field
    assert response.status_code == status
    page = response.content.decode()
    assert 'id="id_file_error"' in page
    assert message in page.replace("&#x27;", "'")
    assert not Document.objects.filter(org=people.acme).exists()
