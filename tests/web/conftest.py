"""Fixtures for the dashboard tests: one of each Acme object, made without the document
converter or the AI engine, so these tests exercise the pages and nothing else."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest

# The fake AI provider endpoints and a providers file naming them, for the pages that
# call a provider (tests/web/test_ai_dashboard*.py).
from tests.ai.conftest import fake, providers_file  # noqa: F401
from tests.conftest import People
from tests.support.sample_course import sample_assets, sample_course

# The sample course cites these passages; "doc-3#c1" is left out on purpose, so the
# version page has a citation it cannot resolve.
CHUNKS = {
    "doc-1#c1": (["Phishing", "Introduction"], "Phishing mails imitate **trusted senders** "
                 "to get your password."),
    "doc-1#c2": (["Phishing", "Warning signs"], "Urgent wording and odd sender addresses "
                 "are the commonest signs."),
    "doc-1#c3": (["Phishing", "Warning signs"], "Links may point somewhere else than "
                 "their text says."),
    "doc-1#c9": (["Phishing", "Summary"], "Slow down, check, report."),
    "doc-2#c1": (["Links"], "Short links hide where they lead."),
    "doc-2#c4": (["Links", "Checklist"], "Deadlines, mismatched links and unexpected "
                 "attachments are warning signs."),
}


@dataclass
class AcmeObjects:
    document: Any
    job: Any
    course: Any
    version: Any
    screen_id: str
    asset: Any


def make_course(org: Any, user: Any) -> AcmeObjects:
    from coursewright.ai.actions import start_generation
    from coursewright.audit.actor import Actor
    from coursewright.courses.actions import add_image, create_course
    from coursewright.ingest.models import Document, DocumentChunk

    source = b"# Phishing handbook\n\nSlow down, check, report.\n"
    document = Document.objects.create(
        org=org, uploaded_by=user, filename="phishing.md", source_format="md",
        size=len(source), sha256=hashlib.sha256(source).hexdigest(),
        storage_path=f"eu/org-{org.pk}/uploads/x.md", title="Phishing handbook",
        markdown=source.decode(), outline=[])
    DocumentChunk.objects.bulk_create(
        DocumentChunk(org=org, document=document, chunk_id=chunk_id, ordinal=i,
                      section_path=path, text=text, page=None)
        for i, (chunk_id, (path, text)) in enumerate(CHUNKS.items()))
    actor = Actor.person(user)
    job = start_generation(document, actor=actor, title="Phishing", enqueue=False)
    version = create_course(org, content=sample_course(), actor=actor, source_document=document)
    (png, _), = sample_assets().values()
    asset = add_image(version.course, data=png, actor=actor)
    return AcmeObjects(document=document, job=job, course=version.course, version=version,
                       screen_id="spotting", asset=asset)


@pytest.fixture
def acme_objects(people: People) -> AcmeObjects:
    return make_course(people.acme, people.bob)
