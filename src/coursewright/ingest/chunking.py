"""Turn a flat list of blocks (headings and Markdown paragraphs) into a ConvertedDocument.

Every format converter produces an :class:`Extracted`: blocks in reading order plus
title hints. This module owns what is common to all formats:

* the document title (visible title > a single top heading > metadata > file name),
* level normalisation (a lone H1 used as the title is lifted out, so top-level sections
  are the real chapters; skipped levels are closed up),
* the section tree,
* chunks of ~100-250 words that never cross a section boundary, with stable ids,
* the Markdown of the whole document.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath

from coursewright.ingest.types import Chunk, ConvertedDocument, IngestError, Section

MAX_CHUNK_WORDS = 250
MIN_CHUNK_WORDS = 100

_WS_RE = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=\S)")
_JUNK_TITLE_RE = re.compile(
    r"^(untitled|document\d*|microsoft (word|powerpoint) - .*"
    r"|.*\.(docx?|pptx?|pdf|odt|html?|txt|md))$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Heading:
    level: int  # as found in the source: 1 = biggest
    text: str
    page: int | None = None


@dataclass(frozen=True)
class Paragraph:
    text: str  # Markdown
    page: int | None = None
    # text | list | table | code | raw (source Markdown, kept as is): decides how the text
    # is cleaned and how an oversized block is split
    kind: str = "text"


Block = Heading | Paragraph


@dataclass
class Extracted:
    """What a format converter found, before sections and chunks are built."""

    blocks: list[Block]
    visible_title: str | None = None  # e.g. a DOCX paragraph styled "Title"
    metadata_title: str | None = None  # PDF Info /Title, DOCX core properties, HTML <title>
    page_count: int | None = None
    markdown: str | None = None  # the source itself, when it already is Markdown


@dataclass
class _Node:
    """A section while it is being built: source level plus its direct paragraphs."""

    section: Section
    raw_level: int
    path: tuple[str, ...]
    paragraphs: list[Paragraph] = field(default_factory=list)


def build_document(extracted: Extracted, *, filename: str, source_format: str) -> ConvertedDocument:
    blocks = list(_clean_blocks(extracted.blocks))
    title_heading, blocks = _lift_title_headings(blocks)
    title = _choose_title(extracted, blocks, title_heading, filename)
    preface, roots, nodes = _build_tree(blocks)
    chunks = _make_chunks(preface, nodes)
    if not chunks:
        raise IngestError(
            "empty",
            "We couldn't find any text to build a course from in this file. If it is a scan "
            "or made of images, run text recognition (OCR) on it first and upload it again.",
        )
    markdown = extracted.markdown or _render_markdown(title, preface, nodes)
    return ConvertedDocument(
        title=title,
        markdown=markdown.strip() + "\n",
        sections=[n.section for n in roots],
        chunks=chunks,
        page_count=extracted.page_count,
        source_format=source_format,
    )


# --- cleaning -------------------------------------------------------------------------


def normalise_space(text: str) -> str:
    """Collapse runs of spaces (not newlines) and strip each line."""
    lines = (_WS_RE.sub(" ", line).strip() for line in text.replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def escape_markdown_line_start(text: str) -> str:
    """Stop plain text from turning into Markdown headings or quotes."""
    if text[:1] in {"#", ">"}:
        return "\\" + text
    return text


def _clean_blocks(blocks: Iterable[Block]) -> Iterator[Block]:
    for block in blocks:
        if isinstance(block, Heading):
            text = " ".join(normalise_space(block.text).split("\n")).strip(" #")
            if text:
                yield Heading(max(1, block.level), text[:300], block.page)
        elif block.text.strip():
            yield Paragraph(_clean_text(block.text, block.kind), block.page, block.kind)


def _clean_text(text: str, kind: str) -> str:
    if kind in {"code", "raw"}:
        return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))
    if kind == "list":  # keep the indentation that nests list items
        lines = (line.replace("\t", "    ").rstrip() for line in text.split("\n"))
        return "\n".join(
            line[: len(line) - len(line.lstrip())] + _WS_RE.sub(" ", line.strip())
            for line in lines
            if line.strip()
        )
    return normalise_space(text)


def markdown_table(rows: list[list[str]]) -> str:
    """A GitHub-style Markdown table; the first row is the header."""
    rows = [[_table_cell(cell) for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * width)
    return "\n".join(lines)


def _table_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# --- title and levels -----------------------------------------------------------------


def _lift_title_headings(blocks: list[Block]) -> tuple[Heading | None, list[Block]]:
    """Lifts a lone top heading out as the title; a lone heading right below it (a
    subtitle above the chapters) becomes a plain paragraph, and so on down."""
    title = _title_heading(blocks)
    if title is None:
        return None, blocks
    blocks = [b for b in blocks if b is not title]
    while (subtitle := _title_heading(blocks)) is not None:
        blocks = [Paragraph(b.text, b.page) if b is subtitle else b for b in blocks]
    return title, blocks


def _title_heading(blocks: list[Block]) -> Heading | None:
    """The heading to lift out as the title: the only one at the top level, first in the
    document, with deeper headings (the real chapters) after it."""
    headings = [b for b in blocks if isinstance(b, Heading)]
    if len(headings) < 2:
        return None
    top = min(h.level for h in headings)
    tops = [h for h in headings if h.level == top]
    if len(tops) == 1 and headings[0] is tops[0]:
        return tops[0]
    return None


def _choose_title(
    extracted: Extracted, blocks: list[Block], title_heading: Heading | None, filename: str
) -> str:
    """Visible title > lifted title heading > metadata > first top heading > file name."""
    headings = [b for b in blocks if isinstance(b, Heading)]
    top = min((h.level for h in headings), default=0)
    first_top = next((h.text for h in headings if h.level == top), None)
    candidates = [
        extracted.visible_title,
        title_heading.text if title_heading else None,
        extracted.metadata_title,
        first_top,
    ]
    for candidate in candidates:
        text = " ".join((candidate or "").split())
        if text and not _JUNK_TITLE_RE.match(text):
            return text[:300]
    return title_from_filename(filename)


def title_from_filename(filename: str) -> str:
    stem = PurePath(filename.replace("\\", "/")).stem
    words = re.sub(r"[-_.\s]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else "Untitled document"


# --- the section tree -----------------------------------------------------------------


def _build_tree(blocks: list[Block]) -> tuple[list[Paragraph], list[_Node], list[_Node]]:
    """Returns (paragraphs before any heading, top-level nodes, all nodes in order)."""
    preface: list[Paragraph] = []
    roots: list[_Node] = []
    nodes: list[_Node] = []
    stack: list[_Node] = []
    for block in blocks:
        if isinstance(block, Paragraph):
            (stack[-1].paragraphs if stack else preface).append(block)
            continue
        while stack and stack[-1].raw_level >= block.level:
            stack.pop()
        parent = stack[-1] if stack else None
        path = (*parent.path, block.text) if parent else (block.text,)
        node = _Node(Section(title=block.text, level=len(path)), block.level, path)
        if parent is None:
            roots.append(node)
        else:
            parent.section.children.append(node.section)
        nodes.append(node)
        stack.append(node)
    return preface, roots, nodes


# --- chunks ---------------------------------------------------------------------------


def _make_chunks(preface: list[Paragraph], nodes: list[_Node]) -> list[Chunk]:
    chunks: list[Chunk] = []
    seen_ids: set[str] = set()
    runs: list[tuple[tuple[str, ...], list[Paragraph], Section | None]] = [((), preface, None)]
    runs += [(n.path, n.paragraphs, n.section) for n in nodes]
    for path, paragraphs, section in runs:
        for ordinal_in_section, (text, page) in enumerate(_group_paragraphs(paragraphs)):
            chunk_id = _chunk_id(path, ordinal_in_section, text, seen_ids)
            chunks.append(Chunk(chunk_id, len(chunks), path, text, page))
            if section is not None:
                section.chunk_ids.append(chunk_id)
    return chunks


def _chunk_id(path: tuple[str, ...], ordinal: int, text: str, seen: set[str]) -> str:
    salt = 0
    while True:
        material = "\x1f".join(path) + "\x1e" + str(ordinal) + "\x1e" + text
        if salt:
            material += f"\x1e{salt}"
        chunk_id = "c-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]
        if chunk_id not in seen:
            seen.add(chunk_id)
            return chunk_id
        salt += 1


def _group_paragraphs(paragraphs: list[Paragraph]) -> Iterator[tuple[str, int | None]]:
    """Greedy grouping of pieces into chunks of at most MAX_CHUNK_WORDS words."""
    current: list[str] = []
    words = 0
    page: int | None = None
    for paragraph in paragraphs:
        for piece in split_oversized(paragraph):
            piece_words = count_words(piece)
            if current and words + piece_words > MAX_CHUNK_WORDS:
                yield "\n\n".join(current), page
                current, words = [], 0
            if not current:
                page = paragraph.page
            current.append(piece)
            words += piece_words
    if current:
        yield "\n\n".join(current), page


def count_words(text: str) -> int:
    return len(text.split())


def split_oversized(paragraph: Paragraph) -> list[str]:
    """Split a block longer than MAX_CHUNK_WORDS at line, row or sentence boundaries."""
    text = paragraph.text
    if count_words(text) <= MAX_CHUNK_WORDS:
        return [text]
    if paragraph.kind == "table":
        return _split_table(text)
    if paragraph.kind in {"list", "code", "raw"}:
        lines = [piece for line in text.split("\n") for piece in _split_sentences(line)]
        return _pack(lines, "\n")
    return _pack(_split_sentences(text), " ")


def _split_sentences(text: str) -> list[str]:
    if count_words(text) <= MAX_CHUNK_WORDS:
        return [text]
    return [s for part in _SENTENCE_END_RE.split(text) for s in _split_words(part)]


def _split_words(text: str) -> list[str]:
    words = text.split(" ")
    if len(words) <= MAX_CHUNK_WORDS:
        return [text]
    return [" ".join(words[i : i + MAX_CHUNK_WORDS]) for i in range(0, len(words), MAX_CHUNK_WORDS)]


def _split_table(text: str) -> list[str]:
    lines = text.split("\n")
    header, rows = lines[:2], lines[2:]
    budget = MAX_CHUNK_WORDS - count_words("\n".join(header))
    if budget < 20 or not rows:
        return _pack(lines, "\n")
    return ["\n".join([*header, part]) for part in _pack(rows, "\n", budget)]


def _pack(parts: list[str], joiner: str, budget: int = MAX_CHUNK_WORDS) -> list[str]:
    packed: list[str] = []
    current: list[str] = []
    words = 0
    for part in parts:
        part_words = count_words(part)
        if current and words + part_words > budget:
            packed.append(joiner.join(current))
            current, words = [], 0
        current.append(part)
        words += part_words
    if current:
        packed.append(joiner.join(current))
    return packed


# --- Markdown -------------------------------------------------------------------------


def _render_markdown(title: str, preface: list[Paragraph], nodes: list[_Node]) -> str:
    """The document as Markdown: the title as H1, then sections one level below."""
    parts = [f"# {title}"]
    parts += [p.text for p in preface]
    for node in nodes:
        parts.append("#" * min(6, node.section.level + 1) + " " + node.section.title)
        parts += [p.text for p in node.paragraphs]
    return "\n\n".join(parts)
