"""Document → draft, end to end, on documents written by another producer (LibreOffice
from Debian made the PDF, DOCX and PPTX fixtures; see tests/fixtures/documents).

For each: every top-level chapter of the source (read independently from the HTML the
fixtures were made from) is represented in the course outline, and every question's
correct answer is supported by the chunk it cites.
"""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest

from coursewright.ingest.convert import convert_document
from tests.ai.test_offline_engine import assert_well_formed, draft, represented

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"
LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pages": 1000}


def source_chapters() -> list[str]:
    tree = lxml.html.parse(str(FIXTURES / "handbook.html"))
    return [re.sub(r"\s+", " ", h.text_content()).strip() for h in tree.iter("h2")]


@pytest.mark.parametrize("name", ["handbook.pdf", "handbook.docx", "handbook.html"])
def test_handbook_chapters_reach_the_outline_and_answers_are_cited(name: str) -> None:
    doc = convert_document(name, (FIXTURES / name).read_bytes(), **LIMITS)
    course = draft(doc)

    chapters = source_chapters()
    assert len(chapters) >= 5
    assert [s.title for s in doc.sections] == chapters
    for chapter in chapters:
        assert represented(course, chapter), chapter
    assert len(course.questions()) >= 2
    assert_well_formed(course, doc, 25)


@pytest.mark.parametrize("name", ["twocolumn.pdf", "deck.pptx"])
def test_other_layouts_give_well_formed_cited_drafts(name: str) -> None:
    doc = convert_document(name, (FIXTURES / name).read_bytes(), **LIMITS)
    course = draft(doc)
    assert doc.sections
    assert_well_formed(course, doc, 25)


@pytest.mark.parametrize("target", [3, 5, 8])
def test_tight_budgets_still_represent_every_chapter(target: int) -> None:
    doc = convert_document("handbook.pdf", (FIXTURES / "handbook.pdf").read_bytes(), **LIMITS)
    course = draft(doc, target_screens=target)
    assert len(course.screens) <= target
    for chapter in source_chapters():
        assert represented(course, chapter), chapter
