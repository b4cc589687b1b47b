"""What ingest hands to the course engines: Markdown, a section tree, stable chunks."""

from __future__ import annotations

from dataclasses import dataclass, field


class IngestError(Exception):
    """A document we refuse, with a message fit to show the person who uploaded it.

    ``code`` is a stable machine-readable reason: unsupported_type, empty, corrupt,
    encrypted, too_large, too_many_pages, zip_bomb, wrong_extension.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Chunk:
    """A passage of the source that AI output can cite.

    ``id`` is stable: derived from the section path, the passage's position within its
    section and its text, so re-ingesting the same document gives the same ids.
    """

    id: str
    ordinal: int
    section_path: tuple[str, ...]  # headings from the top level down to this passage
    text: str  # Markdown
    page: int | None = None  # 1-based page (PDF/PPTX slide) where the passage starts


@dataclass
class Section:
    title: str
    level: int  # 1 = top level
    chunk_ids: list[str] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)


@dataclass
class ConvertedDocument:
    title: str
    markdown: str
    sections: list[Section]  # top-level sections, in document order
    chunks: list[Chunk]
    page_count: int | None = None
    source_format: str = ""  # pdf, docx, pptx, md, html, txt
