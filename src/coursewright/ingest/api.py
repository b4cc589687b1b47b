from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from coursewright.ai.api import JobOut
from coursewright.api import principal
from coursewright.api_types import Pagination
from coursewright.audit.actions import record_read
from coursewright.errors import TooLarge
from coursewright.ingest.models import Document, DocumentChunk
from coursewright.orgs.access import get_scoped, scoped
from coursewright.orgs.models import AUTHORING_ROLES

router = Router(tags=["documents"])


class DocumentOut(Schema):
    id: int
    filename: str
    title: str
    source_format: str
    size: int
    sha256: str
    page_count: int | None
    chunk_count: int
    created_at: datetime

    @staticmethod
    def resolve_chunk_count(obj: Document) -> int:
        return getattr(obj, "n_chunks", None) or obj.chunks.count()


class ChunkOut(Schema):
    chunk_id: str
    ordinal: int
    section_path: list[str]
    text: str
    page: int | None


class GenerateIn(Schema):
    title: str = ""
    language: str = "en"
    target_screens: int | None = None
    provider: str = ""  # one the org's AI policy allows; blank: the policy's order


@router.post("", response={201: DocumentOut}, summary="Upload a document")
def upload_document(request: HttpRequest, file: File[UploadedFile],
                    org: Form[str] = "") -> Status[Document]:
    from django.conf import settings

    from coursewright.ingest.actions import ingest_document

    p = principal(request)
    target = p.default_org(org or None)
    p.require(target, AUTHORING_ROLES, "upload documents")
    limit = settings.MAX_UPLOAD_MB * 1024 * 1024
    if file.size is not None and file.size > limit:
        raise TooLarge(f"This file is larger than the {settings.MAX_UPLOAD_MB} MB limit.")
    data = file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"This file is larger than the {settings.MAX_UPLOAD_MB} MB limit.")
    document = ingest_document(target, filename=file.name or "", data=data, actor=p.actor)
    return Status(201, document)


@router.get("", response=list[DocumentOut], summary="List documents")
@paginate(Pagination)
def list_documents(request: HttpRequest) -> list[Document]:
    return list(scoped(Document, principal(request)).order_by("-id"))


@router.get("/{document_id}", response=DocumentOut, summary="Read a document")
def get_document(request: HttpRequest, document_id: int) -> Document:
    return get_scoped(Document, principal(request), pk=document_id)


@router.get("/{document_id}/chunks", response=list[ChunkOut],
            summary="The document's source passages")
@paginate(Pagination)
def list_chunks(request: HttpRequest, document_id: int) -> list[DocumentChunk]:
    document = get_scoped(Document, principal(request), pk=document_id)
    record_read(org=document.org, actor=principal(request).actor, object_type="document",
                object_id=document.pk, details={"what": "source passages"})
    return list(document.chunks.order_by("ordinal"))


@router.post("/{document_id}/generate", response={202: JobOut},
             summary="Start drafting a course from a document")
def generate(request: HttpRequest, document_id: int, body: GenerateIn) -> Status[object]:
    from coursewright.ai.actions import start_generation

    p = principal(request)
    document = get_scoped(Document, p, pk=document_id)
    p.require(document.org_id, AUTHORING_ROLES, "generate courses")
    job = start_generation(document, actor=p.actor, title=body.title, language=body.language,
                           target_screens=body.target_screens, provider=body.provider)
    return Status(202, job)
