from __future__ import annotations

import os
from dataclasses import asdict

from django.conf import settings
from django.db import transaction

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.errors import DomainError, Invalid, TooLarge, UnsupportedMedia
from coursewright.ingest.models import Document, DocumentChunk
from coursewright.ingest.types import Chunk, ConvertedDocument, IngestError, Section
from coursewright.orgs.models import Organisation
from coursewright.storage import delete_quietly, put_bytes

_STATUS_FOR_CODE: dict[str, type[DomainError]] = {
    "too_large": TooLarge,
    "unsupported_type": UnsupportedMedia,
    "wrong_extension": UnsupportedMedia,
}


def upload_error(exc: IngestError) -> DomainError:
    return _STATUS_FOR_CODE.get(exc.code, Invalid)(exc.message, code=exc.code)


def ingest_document(org: Organisation, *, filename: str, data: bytes, actor: Actor) -> Document:
    """Convert and store an upload. Either everything is stored (file, document, chunks,
    audit row) or nothing is: a refused or failed upload leaves no row and no file."""
    from coursewright.ingest.convert import convert_document

    filename = os.path.basename(filename or "").strip()[:255]
    if not filename:
        raise Invalid("the upload needs a file name", code="missing_filename")
    try:
        converted = convert_document(
            filename, data,
            max_bytes=settings.MAX_UPLOAD_MB * 1024 * 1024,
            max_pages=settings.MAX_DOCUMENT_PAGES,
        )
    except IngestError as exc:
        raise upload_error(exc) from exc
    ext = os.path.splitext(filename)[1].lower()[:8]
    path, digest = put_bytes(org, "uploads", data, ext)
    try:
        with transaction.atomic():
            document = Document.objects.create(
                org=org, uploaded_by=actor.user, filename=filename,
                source_format=converted.source_format, size=len(data), sha256=digest,
                storage_path=path, title=converted.title[:300], page_count=converted.page_count,
                markdown=converted.markdown,
                outline=[_section_json(s) for s in converted.sections],
            )
            DocumentChunk.objects.bulk_create(
                DocumentChunk(org=org, document=document, chunk_id=c.id, ordinal=c.ordinal,
                              section_path=list(c.section_path), text=c.text, page=c.page)
                for c in converted.chunks
            )
            record_event(org=org, actor=actor, action="document.uploaded",
                         object_type="document", object_id=document.pk,
                         after={"filename": filename, "sha256": digest, "size": len(data),
                                "chunks": len(converted.chunks)})
    except Exception:
        if not Document.objects.filter(org=org, storage_path=path).exists():
            delete_quietly(path)
        raise
    return document


def _section_json(section: Section) -> dict[str, object]:
    return asdict(section)


def _section_from_json(data: dict[str, object]) -> Section:
    children = [_section_from_json(c) for c in data.get("children", [])]  # type: ignore[attr-defined]
    return Section(title=str(data["title"]), level=int(data["level"]),  # type: ignore[call-overload]
                   chunk_ids=list(data.get("chunk_ids", [])),  # type: ignore[call-overload]
                   children=children)


def load_converted(document: Document) -> ConvertedDocument:
    """Rebuild what the converter produced, from the stored rows."""
    chunks = [
        Chunk(id=c.chunk_id, ordinal=c.ordinal, section_path=tuple(c.section_path),
              text=c.text, page=c.page)
        for c in document.chunks.order_by("ordinal")
    ]
    return ConvertedDocument(
        title=document.title, markdown=document.markdown,
        sections=[_section_from_json(s) for s in document.outline],
        chunks=chunks, page_count=document.page_count, source_format=document.source_format,
    )
