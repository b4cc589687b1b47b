"""Section tree, level normalisation, title choice and chunking, format-independent."""

from __future__ import annotations

import re

import pytest

from coursewright.ingest.chunking import (
    MAX_CHUNK_WORDS,
    Block,
    Extracted,
    Heading,
    Paragraph,
    build_document,
)
from coursewright.ingest.types import ConvertedDocument, IngestError


def words(count: int, word: str = "word") -> str:
    return " ".join(f"{word}{i}" for i in range(count)) + "."


def build(blocks: list[Block], **extracted: str) -> ConvertedDocument:
    return build_document(
        Extracted(blocks, **extracted),  # type: ignore[arg-type]
        filename="team-handbook_v2.md",
        source_format="md",
    )


def test_a_lone_h1_is_the_title_and_h2s_are_the_chapters() -> None:
    doc = build(
        [
            Heading(1, "Handbook"),
            Paragraph("Read this first."),
            Heading(2, "Safety"),
            Paragraph("Wear boots."),
            Heading(3, "Boots"),
            Paragraph("Steel toes."),
            Heading(2, "Tools"),
            Paragraph("Keep them clean."),
        ]
    )

    assert doc.title == "Handbook"
    assert [(s.title, s.level) for s in doc.sections] == [("Safety", 1), ("Tools", 1)]
    assert [(c.title, c.level) for c in doc.sections[0].children] == [("Boots", 2)]
    assert doc.chunks[0].section_path == ()
    assert doc.chunks[0].text == "Read this first."
    assert doc.markdown.startswith("# Handbook\n\nRead this first.\n\n## Safety\n")


def test_a_lone_subtitle_under_the_title_does_not_swallow_the_chapters() -> None:
    doc = build(
        [
            *(Heading(1, "Handbook"), Heading(2, "Edition 2025")),
            *(Heading(3, "Safety"), Paragraph("a"), Heading(3, "Tools"), Paragraph("b")),
        ]
    )

    assert doc.title == "Handbook"
    assert [s.title for s in doc.sections] == ["Safety", "Tools"]
    assert doc.chunks[0].text == "Edition 2025"


def test_several_h1s_stay_chapters() -> None:
    doc = build([Heading(1, "One"), Paragraph("a"), Heading(1, "Two"), Paragraph("b")])

    assert [s.title for s in doc.sections] == ["One", "Two"]
    assert doc.title == "One"


def test_skipped_levels_close_up() -> None:
    doc = build(
        [
            *(Heading(2, "Top"), Paragraph("a"), Heading(4, "Deep"), Paragraph("b")),
            *(Heading(3, "Mid"), Paragraph("c"), Heading(2, "Other"), Paragraph("d")),
        ]
    )

    top = doc.sections[0]
    assert [(s.title, s.level) for s in doc.sections] == [("Top", 1), ("Other", 1)]
    assert [(c.title, c.level) for c in top.children] == [("Deep", 2), ("Mid", 2)]
    assert doc.chunks[2].section_path == ("Top", "Mid")


def test_title_preference() -> None:
    blocks: list[Block] = [Heading(1, "Heading title"), Paragraph("x"), Heading(2, "Ch")]
    assert build(blocks, visible_title="Styled title").title == "Styled title"
    assert build(blocks, metadata_title="Meta").title == "Heading title"
    flat: list[Block] = [Paragraph("no headings at all")]
    assert build(flat, metadata_title="Meta").title == "Meta"
    assert build(flat, metadata_title="Microsoft Word - draft.docx").title == "Team handbook v2"
    assert build(flat).title == "Team handbook v2"


def test_chunks_group_paragraphs_without_crossing_sections() -> None:
    paragraphs: list[Block] = [Paragraph(words(60, f"p{n}w")) for n in range(10)]
    doc = build([Heading(1, "A"), *paragraphs, Heading(1, "B"), Paragraph("Short one.")])

    a_chunks = [c for c in doc.chunks if c.section_path == ("A",)]
    assert [len(c.text.split()) for c in a_chunks] == [240, 240, 120]
    assert all(100 <= len(c.text.split()) <= MAX_CHUNK_WORDS for c in a_chunks)
    assert doc.sections[0].chunk_ids == [c.id for c in a_chunks]
    assert doc.sections[1].chunk_ids == [doc.chunks[-1].id]
    assert doc.chunks[-1].text == "Short one."


def test_oversized_paragraphs_and_tables_are_split() -> None:
    long_text = " ".join(f"Sentence number {i} has six words." for i in range(120))
    table = "| A | B |\n|---|---|\n" + "\n".join(f"| x{i} y{i} z{i} | w{i} |" for i in range(200))
    doc = build([Heading(1, "S"), Paragraph(long_text), Paragraph(table, kind="table")])

    assert all(len(c.text.split()) <= MAX_CHUNK_WORDS for c in doc.chunks)
    table_chunks = [c for c in doc.chunks if "| A | B |" in c.text]
    assert len(table_chunks) > 1
    assert all(c.text.startswith("| A | B |\n|---|---|\n") for c in table_chunks)
    assert " ".join(c.text for c in doc.chunks if "Sentence" in c.text).count("Sentence") == 120


def test_chunk_ids_are_stable_and_depend_on_path_position_and_text() -> None:
    blocks: list[Block] = [Heading(1, "A"), Paragraph("Same text."), Heading(1, "B")]
    blocks.append(Paragraph("Same text."))
    first, second = build(blocks), build(list(blocks))

    ids = [c.id for c in first.chunks]
    assert ids == [c.id for c in second.chunks]
    assert all(re.fullmatch(r"c-[0-9a-f]{12}", i) for i in ids)
    assert ids[0] != ids[1]  # same text, different section
    renamed = build([Heading(1, "A2"), Paragraph("Same text."), Heading(1, "B")])
    assert renamed.chunks[0].id != ids[0]


def test_identical_sibling_sections_still_get_unique_ids() -> None:
    doc = build([Heading(1, "Notes"), Paragraph("Same."), Heading(1, "Notes"), Paragraph("Same.")])

    assert len({c.id for c in doc.chunks}) == 2


def test_no_text_at_all_is_empty() -> None:
    with pytest.raises(IngestError) as caught:
        build([Heading(1, "Only a heading")])

    assert caught.value.code == "empty"


def test_list_indentation_is_kept() -> None:
    doc = build([Paragraph("- a\n    - b\n- c", kind="list")])

    assert doc.chunks[0].text == "- a\n    - b\n- c"
