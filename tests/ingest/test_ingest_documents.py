"""Real documents made by LibreOffice (tests/fixtures/documents) convert with their
structure: chapters as top-level sections, headings, lists and tables in Markdown,
stable chunk ids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coursewright.ingest.convert import convert_document
from coursewright.ingest.types import ConvertedDocument, Section

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"
LIMITS = {"max_bytes": 20 * 2**20, "max_pages": 500}

CHAPTERS = [
    "Welcome to Northwind",
    "Safety on Site",
    "Tools and Equipment",
    "Working with Clients",
    "Reporting and Records",
    "Growing Your Career",
]
SUBSECTIONS = {
    "Welcome to Northwind": ["Our values", "Your first week"],
    "Tools and Equipment": ["Inspection intervals", "Lost or damaged tools"],
    "Growing Your Career": ["Training budget", "Becoming a mentor"],
}
HANDBOOKS = ["handbook.pdf", "handbook.docx", "handbook.html"]
CHUNK_ID = re.compile(r"^c-[0-9a-f]{12}$")


def convert(name: str) -> ConvertedDocument:
    return convert_document(name, (FIXTURES / name).read_bytes(), **LIMITS)


def walk(sections: list[Section]) -> list[Section]:
    return [s for section in sections for s in [section, *walk(section.children)]]


@pytest.mark.parametrize("name", HANDBOOKS)
def test_every_chapter_is_a_top_level_section(name: str) -> None:
    doc = convert(name)

    assert doc.title == "Northwind Field Handbook"
    assert [s.title for s in doc.sections] == CHAPTERS
    assert all(s.level == 1 for s in doc.sections)
    by_title = {s.title: s for s in doc.sections}
    for chapter, children in SUBSECTIONS.items():
        assert [c.title for c in by_title[chapter].children] == children
        assert all(c.level == 2 for c in by_title[chapter].children)


@pytest.mark.parametrize("name", HANDBOOKS)
def test_headings_lists_and_tables_survive_as_markdown(name: str) -> None:
    markdown = convert(name).markdown

    assert markdown.startswith("# Northwind Field Handbook\n")
    assert "\n## Safety on Site\n" in markdown
    assert "\n### Working at height\n" in markdown
    assert "\n- Safety before speed, every single time.\n" in markdown
    assert "\n    - Never block fire exits or farm gates.\n" in markdown  # nested item
    assert "\n1. Check the weather forecast for gusts above 35 km/h.\n" in markdown
    assert "\n4. Keep three points of contact while climbing.\n" in markdown
    assert "| Equipment | Interval | Inspected by |\n|---|---|---|\n" in markdown
    assert "| Ladders | Before each use | User |" in markdown
    assert "•" not in markdown


@pytest.mark.parametrize("name", HANDBOOKS)
def test_chunks_belong_to_one_section_and_are_listed_there(name: str) -> None:
    doc = convert(name)

    assert doc.chunks
    assert [c.ordinal for c in doc.chunks] == list(range(len(doc.chunks)))
    assert len({c.id for c in doc.chunks}) == len(doc.chunks)
    assert all(CHUNK_ID.match(c.id) for c in doc.chunks)
    chunks = {c.id: c for c in doc.chunks}
    listed = set()
    for section in walk(doc.sections):
        for chunk_id in section.chunk_ids:
            assert chunks[chunk_id].section_path[-1] == section.title
            listed.add(chunk_id)
    # only the introduction under the title sits outside every section
    assert {c.id for c in doc.chunks} - listed == {c.id for c in doc.chunks if c.section_path == ()}
    table_chunk = next(c for c in doc.chunks if "| Equipment |" in c.text)
    assert table_chunk.section_path == ("Tools and Equipment", "Inspection intervals")


@pytest.mark.parametrize("name", [*HANDBOOKS, "twocolumn.pdf", "deck.pptx"])
def test_chunk_ids_are_stable_across_conversions(name: str) -> None:
    first, second = convert(name), convert(name)

    assert [c.id for c in first.chunks] == [c.id for c in second.chunks]
    assert first.markdown == second.markdown


def test_pdf_chunks_know_their_page() -> None:
    doc = convert("handbook.pdf")

    assert doc.page_count == 3
    assert doc.source_format == "pdf"
    assert doc.chunks[0].page == 1
    last = next(c for c in doc.chunks if "Mentors receive extra training" in c.text)
    assert last.page == 3


def test_two_column_pdf_reads_each_column_top_to_bottom() -> None:
    doc = convert("twocolumn.pdf")
    text = doc.markdown

    assert [s.title for s in doc.sections] == [
        "River Restoration",
        "Community Solar Roof",
        "Repair Cafe Opens",
        "Wildflower Verges",
        "Winter Walking Group",
        "Library Seed Bank",
    ]
    # paragraphs that wrap from one column (or page) into the next stay whole
    assert (
        "The cooperative finished the solar roof on the sports centre in June. The array has "
        "two hundred panels and produces enough electricity to run the swimming pool pumps "
        "and the floodlights throughout the summer." in text
    )
    assert "Many come back later as volunteers themselves" in text
    river = text.index("## River Restoration")
    solar = text.index("## Community Solar Roof")
    assert river < text.index("The next phase will plant willow") < solar


def test_running_header_and_page_numbers_are_dropped() -> None:
    doc = convert("twocolumn.pdf")

    assert doc.page_count == 3
    assert "Spring edition" not in doc.markdown
    assert not re.search(r"(?m)^Page \d+$", doc.markdown)
    assert doc.title == "Northwind Village Newsletter"


def test_pptx_slide_titles_become_sections_and_notes_are_ignored() -> None:
    doc = convert("deck.pptx")

    assert doc.title == "Ladder Safety Briefing"
    assert doc.source_format == "pptx"
    assert doc.page_count == 5
    assert [s.title for s in doc.sections] == [
        "Before you climb",
        "While climbing",
        "Inspection record",
        "Summary",
    ]
    assert "SPEAKER NOTE" not in doc.markdown
    assert "- Check the feet are clean and not worn\n    - Replace worn feet before use" in (
        doc.markdown
    )
    assert "| Ladder | Last inspected | Result |" in doc.markdown
    slide_pages = {c.section_path: c.page for c in doc.chunks}
    assert slide_pages[("Before you climb",)] == 2
    assert slide_pages[("Summary",)] == 5
