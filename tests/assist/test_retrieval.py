"""BM25 retrieval over a version's passages."""

from __future__ import annotations

from coursewright.assist import retrieval
from coursewright.courses.content import CourseContent
from tests.assist.conftest import Course
from tests.conftest import People


def test_ranks_the_passage_that_answers_first(people: People, acme_course: Course) -> None:
    content = CourseContent.model_validate(acme_course.version.content)
    index = retrieval.index_for(acme_course.version, content)
    hits = index.search("who asks for my password?")
    assert hits[0].passage.kind == "source"
    assert "never ask for your password" in hits[0].passage.text
    assert hits[0].passage.screen_id == "intro"  # the screen that cites it

    kinds = {(p.kind, p.block_id or p.chunk_id) for p in index.passages}
    assert ("screen", "t2") in kinds
    assert ("source", "hb#c1") in kinds
    assert ("source", "hb#c3") not in kinds  # not cited by the course
    assert not any(p.block_id in ("q1", "ft1") for p in index.passages)  # no quiz


def test_index_is_cached_and_follows_purged_text(people: People, acme_course: Course) -> None:
    content = CourseContent.model_validate(acme_course.version.content)
    retrieval.forget()
    first = retrieval.index_for(acme_course.version, content)
    assert retrieval.index_for(acme_course.version, content) is first
    acme_course.document.text_purged = True
    acme_course.document.save(update_fields=["text_purged"])
    after = retrieval.index_for(acme_course.version, content)
    assert after is not first
    assert all(p.kind == "screen" for p in after.passages)


def test_markdown_and_long_text_become_plain_windows() -> None:
    assert retrieval.plain("Use **the [report](https://x) button** `now`") == (
        "Use the report button now")
    long = "\n\n".join(f"Paragraph {i} " + "word " * 100 for i in range(10))
    pieces = retrieval._windows(long)
    assert all(len(p) <= retrieval.MAX_PASSAGE_CHARS for p in pieces)
    assert len(pieces) >= 5
    assert retrieval.tokens("Passwords and the PASSWORD") == ["passwor", "passwor"]
