"""Bad documents through the API: a clear 4xx with a message, never a 500, and nothing
left behind — no document row, no chunk, no audit row, no stored file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.ingest.models import Document, DocumentChunk
from tests.conftest import People

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _zip_bomb(kind: str) -> bytes:
    """A valid-looking OOXML container whose one part inflates to 1 GiB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        part = "word/document.xml" if kind == "docx" else "ppt/presentation.xml"
        with archive.open(part, "w", force_zip64=True) as handle:
            block = b"\0" * (1024 * 1024)
            for _ in range(1024):
                handle.write(block)
    return buffer.getvalue()


def _truncated(name: str) -> bytes:
    data = _fixture(name)
    return data[: len(data) // 3]


CASES: list[tuple[str, str, Any, set[int]]] = [
    # (id, filename, bytes or factory, acceptable statuses)
    ("pdf-corrupt", "a.pdf", lambda: _truncated("handbook.pdf"), {422}),
    ("pdf-garbage", "a.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 100, {422}),
    ("pdf-encrypted", "a.pdf", lambda: _fixture("encrypted.pdf"), {422}),
    ("pdf-empty", "a.pdf", b"", {422}),
    ("docx-corrupt", "a.docx", lambda: _truncated("handbook.docx"), {422}),
    ("docx-encrypted", "a.docx", lambda: _fixture("encrypted.docx"), {422}),
    ("docx-empty", "a.docx", b"", {422}),
    ("docx-zip-bomb", "a.docx", lambda: _zip_bomb("docx"), {413, 422}),
    ("pptx-corrupt", "a.pptx", lambda: _truncated("deck.pptx"), {422}),
    ("pptx-empty", "a.pptx", b"", {422}),
    ("pptx-zip-bomb", "a.pptx", lambda: _zip_bomb("pptx"), {413, 422}),
    ("md-empty", "a.md", b"", {422}),
    ("md-binary", "a.md", bytes(range(256)) * 4, {415, 422}),
    ("html-empty", "a.html", b"   \n", {422}),
    ("html-no-text", "a.html", b"<html><script>x()</script></html>", {422}),
    ("txt-empty", "a.txt", b"", {422}),
    ("txt-not-utf8", "a.txt", "Grüße aus Köln".encode("utf-16") * 50, {415, 422}),
    ("pdf-as-docx", "a.docx", lambda: _fixture("handbook.pdf"), {415}),
    ("docx-as-pdf", "a.pdf", lambda: _fixture("handbook.docx"), {415}),
    ("pptx-as-docx", "a.docx", lambda: _fixture("deck.pptx"), {415}),
    ("exe", "setup.exe", b"MZ\x90\x00" + b"\x00" * 200, {415}),
]


@pytest.mark.parametrize(("filename", "data", "statuses"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_document_is_refused_cleanly(people: People, acme_api: Client, settings: Any,
                                         filename: str, data: Any, statuses: set[int]) -> None:
    payload = data() if callable(data) else data
    handle = io.BytesIO(payload)
    handle.name = filename
    events_before = AuditEvent.objects.exclude(action="api.call").count()

    response = acme_api.post("/api/v1/documents", {"file": handle})

    assert response.status_code in statuses, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["message"]
    assert len(error["message"]) < 300
    assert not Document.objects.exists()
    assert not DocumentChunk.objects.exists()
    assert AuditEvent.objects.exclude(action="api.call").count() == events_before
    storage = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    assert [p for p in storage.rglob("*") if p.is_file()] == []


def test_oversized_upload_is_refused_before_reading_it_all(
        people: People, acme_api: Client, settings: Any) -> None:
    settings.MAX_UPLOAD_MB = 1
    handle = io.BytesIO(b"# Big\n\n" + b"word " * 300_000)
    handle.name = "big.md"
    response = acme_api.post("/api/v1/documents", {"file": handle})
    assert response.status_code == 413
    assert "1 MB" in response.json()["error"]["message"]
    assert not Document.objects.exists()


def test_too_many_pages_is_refused(people: People, acme_api: Client, settings: Any) -> None:
    settings.MAX_DOCUMENT_PAGES = 1
    handle = io.BytesIO(_fixture("handbook.pdf"))
    handle.name = "handbook.pdf"
    response = acme_api.post("/api/v1/documents", {"file": handle})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_pages"
    assert not Document.objects.exists()


def test_a_failure_after_storing_the_file_leaves_nothing(
        people: People, acme_api: Client, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # given the database refuses the chunks half-way through the upload
    def broken_bulk_create(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(DocumentChunk.objects, "bulk_create", broken_bulk_create)
    handle = io.BytesIO(_fixture("handbook.docx"))
    handle.name = "handbook.docx"
    client = Client(headers={"Authorization": f"Bearer {people.acme_key}"},
                    raise_request_exception=False)

    response = client.post("/api/v1/documents", {"file": handle})

    # then the request fails, and neither a row nor the stored file remains
    assert response.status_code == 500
    assert not Document.objects.exists()
    storage = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    assert [p for p in storage.rglob("*") if p.is_file()] == []


def test_a_body_over_the_limit_is_refused_before_it_is_read(people: People,
                                                            settings: Any) -> None:
    settings.MAX_UPLOAD_MB = 1
    settings.MAX_REQUEST_BYTES = 3 * 1024 * 1024
    client = Client(headers={"Authorization": f"Bearer {people.acme_key}"})
    handle = io.BytesIO(b"x" * (4 * 1024 * 1024))
    handle.name = "big.md"
    response = client.post("/api/v1/documents", {"file": handle})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
