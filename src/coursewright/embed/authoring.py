"""New courses from the embedded editor.

An author in a partner's product starts a course from a title and a short brief. No AI
is involved: the offline engine drafts from documents, and drafting from a brief alone
needs an LLM provider that an installation may not have (``ai.api.generate_from_brief``).
:func:`content_from_brief` turns the brief into screens by a rule the editor states:
each paragraph (paragraphs are separated by a blank line) is a screen; a paragraph of
several lines takes its first line as the screen's title, a one-line paragraph is
titled "Part N". Every block is marked as written by a person. From there the course is
an ordinary draft — edited, submitted, approved by a reviewer, published — through the
same actions as any other (``courses.actions``), which write its audit row and its
``course.created`` event.

Only an author token for every course (``"*"``) may create one: a token that names its
courses could not reach the course it made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coursewright.courses.actions import create_course, validate_content
from coursewright.courses.content import LANGUAGES, CourseContent
from coursewright.errors import Forbidden, Invalid

if TYPE_CHECKING:
    from coursewright.courses.models import CourseVersion
    from coursewright.embed.auth import EmbedPrincipal

MAX_BRIEF = 5000
MAX_SCREENS = 50


def content_from_brief(title: str, brief: str, language: str = "en") -> CourseContent:
    """A course of one screen per paragraph of ``brief`` (the module note's rule)."""
    title = (title or "").strip()
    if not title:
        raise Invalid("Give the course a title", code="title_required")
    if len(title) > 300:
        raise Invalid("The title must be at most 300 characters", code="title_too_long")
    if language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}", code="bad_language")
    text = (brief or "").replace("\r\n", "\n").strip()
    if not text:
        raise Invalid("Describe the course in a few paragraphs (the brief)",
                      code="brief_required")
    if len(text) > MAX_BRIEF:
        raise Invalid(f"The brief must be at most {MAX_BRIEF:,} characters",
                      code="brief_too_long")
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    if len(paragraphs) > MAX_SCREENS:
        raise Invalid(f"A brief makes at most {MAX_SCREENS} screens (one per paragraph)",
                      code="brief_too_long")
    screens = []
    for n, paragraph in enumerate(paragraphs, start=1):
        first, _, rest = paragraph.partition("\n")
        heading, body = (first.strip()[:300], rest.strip()) if rest.strip() else (
            f"Part {n}", paragraph)
        screens.append({"id": f"s{n}", "title": heading or f"Part {n}", "blocks": [
            {"type": "text", "id": f"s{n}-b1", "markdown": body}]})
    return validate_content({"title": title, "language": language, "screens": screens})


def create_course_from_brief(principal: EmbedPrincipal, *, title: str, brief: str,
                             language: str = "en") -> CourseVersion:
    """A new course (its first draft) made by the embedded author ``principal``."""
    if principal.scope != "author":
        raise Forbidden(f"This embed token's scope ({principal.scope}) does not allow "
                        "creating courses; it needs the author scope.",
                        code="insufficient_scope")
    if principal.claims.courses is not None:
        raise Forbidden('Creating a course needs an author token for every course ("*"): '
                        "this token names its courses, so it could not reach a new one.",
                        code="all_courses_required")
    content = content_from_brief(title, brief, language)
    return create_course(principal.org, content=content, actor=principal.actor)
