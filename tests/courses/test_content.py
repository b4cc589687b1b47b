"""The content schema: every write validated, rich text sanitised in and out."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from coursewright.courses.content import CourseContent, clean_markdown
from coursewright.courses.rendering import render_markdown


def course(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"title": "T", "screens": [{"id": "s1", "title": "S", "blocks": list(blocks)}]}


def test_rejects_unknown_fields_and_types() -> None:
    with pytest.raises(ValidationError):
        CourseContent.model_validate(course({"type": "video", "id": "b1", "url": "x"}))
    with pytest.raises(ValidationError):
        CourseContent.model_validate(course({"type": "text", "id": "b1", "markdown": "x",
                                             "onclick": "alert(1)"}))


def test_image_needs_alt_text() -> None:
    image = {"type": "image", "id": "b1", "asset": "a" * 64, "alt": ""}
    with pytest.raises(ValidationError, match="alt"):
        CourseContent.model_validate(course(image))


@pytest.mark.parametrize(("block", "message"), [
    ({"type": "multiple_choice", "id": "q", "prompt": "?", "choices": [
        {"id": "a", "text": "A", "correct": True}, {"id": "b", "text": "B", "correct": True}]},
     "exactly one correct"),
    ({"type": "multiple_response", "id": "q", "prompt": "?", "choices": [
        {"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}, "at least one correct"),
    ({"type": "multiple_choice", "id": "q", "prompt": "?", "choices": [
        {"id": "a", "text": "A", "correct": True}, {"id": "a", "text": "B"}]}, "unique"),
])
def test_question_rules(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CourseContent.model_validate(course(block))


def test_duplicate_block_ids_are_refused() -> None:
    text = {"type": "text", "id": "b1", "markdown": "x"}
    with pytest.raises(ValidationError, match="unique"):
        CourseContent.model_validate(course(text, text))


def test_ai_provenance_needs_engine_and_time() -> None:
    block = {"type": "text", "id": "b1", "markdown": "x", "provenance": {"kind": "ai"}}
    with pytest.raises(ValidationError, match="engine"):
        CourseContent.model_validate(course(block))


def test_raw_html_is_stripped_on_the_way_in() -> None:
    markdown = "Hi <script>alert(1)</script><b>there</b> & 1 < 2"
    content = CourseContent.model_validate(course({"type": "text", "id": "b1",
                                                   "markdown": markdown}))
    assert content.screens[0].blocks[0].markdown == "Hi there & 1 < 2"  # type: ignore[union-attr]


def test_rendering_allows_only_safe_links() -> None:
    html = render_markdown("[x](javascript:alert(1)) [y](https://example.org)")
    assert "href=\"javascript" not in html
    assert 'href="https://example.org"' in html


def _check_html(html: str) -> None:
    import lxml.html

    from coursewright.courses.rendering import ALLOWED_ATTRIBUTES, ALLOWED_TAGS

    if not html.strip():
        return
    for element in lxml.html.fragment_fromstring(html, create_parent="div").iter():
        if element.tag == "div" and element.getparent() is None:
            continue
        assert element.tag in ALLOWED_TAGS, element.tag
        for name, value in element.attrib.items():
            assert name in ALLOWED_ATTRIBUTES.get(element.tag, set()) or name == "rel", name
            if name == "href":
                # a scheme starts with a letter: ":x" (an empty "scheme") is a relative
                # reference to browsers, harmless; anything else before ":" must be ours
                scheme = value.split(":", 1)[0].lower()
                assert scheme in {"http", "https", "mailto", ""} or (
                    ":" not in value.split("/", 1)[0]), value


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    *"<>/=\"' ab()[]:!*_`#-\n", "script", "onerror", "javascript", "img", "src", "iframe",
    "style", "&#", "x;", "<a href=", "](", "<svg onload="]), max_size=60).map("".join))
def test_no_active_content_survives_in_and_out(text: str) -> None:
    _check_html(render_markdown(clean_markdown(text)))
    _check_html(render_markdown(text))  # even without the inbound clean-up
