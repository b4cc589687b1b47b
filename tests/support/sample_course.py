"""A realistic sample course with every block type, for tests across the project.

``sample_course()`` returns a validated :class:`CourseContent` (five screens: heading,
text, image, callout, multiple-choice, multiple-response and true/false blocks; some
written by people, some drafted by an AI engine), ``sample_assets()`` the image it
shows (a PNG drawn in memory, keyed by its sha256) and ``sample_meta()`` package
metadata. ``CORRECT_ANSWERS`` / ``WRONG_ANSWERS`` say which choices a learner picks to
pass or fail (choice ids per question; ``"true"``/``"false"`` for true/false).
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from coursewright.courses.content import CourseContent

if TYPE_CHECKING:
    from coursewright.publishing.packaging import PackageMeta

GENERATED_AT = "2025-03-04T09:15:00Z"
ENGINE = "openai-compatible"
MODEL = "example-instruct-8b"


def _ai(*sources: str, edited: bool = False) -> dict[str, Any]:
    return {"kind": "ai", "engine": ENGINE, "model": MODEL, "generated_at": GENERATED_AT,
            "sources": list(sources), "edited": edited}


@cache
def _png() -> bytes:
    """A small illustration (an envelope with a warning sign), drawn with Pillow."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (480, 270), (232, 240, 254))
    draw = ImageDraw.Draw(img)
    draw.rectangle((90, 60, 390, 230), fill=(255, 255, 255), outline=(30, 64, 175), width=6)
    draw.line((90, 60, 240, 160, 390, 60), fill=(30, 64, 175), width=6)
    draw.polygon([(330, 150), (400, 262), (260, 262)], fill=(180, 83, 9))
    draw.rectangle((324, 185, 336, 230), fill=(255, 255, 255))
    draw.rectangle((324, 240, 336, 252), fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False, compress_level=9)
    return out.getvalue()


def image_sha256() -> str:
    return hashlib.sha256(_png()).hexdigest()


def sample_assets() -> dict[str, tuple[bytes, str]]:
    return {image_sha256(): (_png(), "image/png")}


def sample_course_data(language: str = "en", passing_score: int = 80) -> dict[str, Any]:
    return {
        "title": "Phishing awareness basics",
        "language": language,
        "description": "Recognise, avoid and report phishing emails in five short screens.",
        "settings": {"passing_score": passing_score},
        "screens": [
            {"id": "welcome", "title": "Welcome", "blocks": [
                {"id": "welcome-text", "type": "text", "provenance": _ai("doc-1#c1"),
                 "markdown": "Phishing emails try to trick you into **giving away passwords** "
                             "or opening harmful files. This course takes about ten minutes."},
                {"id": "welcome-image", "type": "image", "asset": image_sha256(),
                 "alt": "An envelope with an orange warning triangle in front of it",
                 "caption": "Not every message is what it claims to be."},
                {"id": "welcome-callout", "type": "callout", "style": "info",
                 "markdown": "You can leave at any time: the course remembers where you are."},
            ]},
            {"id": "spotting", "title": "Spotting a phishing email", "blocks": [
                {"id": "spotting-heading", "type": "heading", "level": 2,
                 "text": "Warning signs"},
                {"id": "spotting-text", "type": "text",
                 "provenance": _ai("doc-1#c2", "doc-1#c3", edited=True),
                 "markdown": "Look out for:\n\n- an **urgent** tone (\"your account will be "
                             "closed today\")\n- a sender address that does not match the "
                             "company\n- links whose real target differs from the text\n"
                             "- unexpected attachments"},
                {"id": "q-sender", "type": "multiple_choice", "provenance": _ai("doc-1#c2"),
                 "prompt": "An email from *IT Support* asks you to confirm your password "
                           "via a link. The sender is `it-support@examp1e-mail.com`. "
                           "What should you do?",
                 "choices": [
                     {"id": "a", "text": "Click the link and confirm the password quickly",
                      "feedback": "Urgency is a classic phishing trick."},
                     {"id": "b", "text": "Report the email and do not click the link",
                      "correct": True},
                     {"id": "c", "text": "Reply and ask whether it is genuine",
                      "feedback": "Replying confirms your address to the sender."},
                 ],
                 "feedback": {"correct": "Right: IT never asks for your password.",
                              "incorrect": "Not quite. IT never asks for your password by "
                                           "email: report it instead."}},
            ]},
            {"id": "links", "title": "Checking links safely", "blocks": [
                {"id": "links-text", "type": "text",
                 "markdown": "Hover over (or long-press) a link to see where it really "
                             "leads before you open it."},
                {"id": "links-callout", "type": "callout", "style": "warning",
                 "provenance": _ai("doc-2#c1"),
                 "markdown": "Shortened links (such as `bit.ly/...`) hide their target."},
                {"id": "q-signs", "type": "multiple_response", "provenance": _ai("doc-2#c4"),
                 "prompt": "Which of these are warning signs? Choose all that apply.",
                 "choices": [
                     {"id": "urgent", "text": "A deadline of a few hours", "correct": True},
                     {"id": "mismatch", "text": "Link text and link target differ",
                      "correct": True},
                     {"id": "greeting", "text": "The email greets you by your full name"},
                     {"id": "attachment", "text": "An unexpected invoice attached",
                      "correct": True},
                 ],
                 "feedback": {"correct": "Well spotted.",
                              "incorrect": "Urgency, mismatched links and unexpected "
                                           "attachments are all warning signs."}},
            ]},
            {"id": "reporting", "title": "Reporting", "blocks": [
                {"id": "reporting-heading", "type": "heading", "level": 2,
                 "text": "Use the report button"},
                {"id": "reporting-text", "type": "text",
                 "markdown": "Use the **Report phishing** button in your mail program. "
                             "If you already clicked a link, tell the service desk at once "
                             "(see the [security policy](https://intranet.example.com/"
                             "security))."},
                {"id": "q-delete", "type": "true_false", "answer": False,
                 "provenance": _ai("doc-3#c1"),
                 "prompt": "Deleting a phishing email is enough; there is no need to "
                           "report it.",
                 "feedback": {"correct": "Correct: reporting protects your colleagues too.",
                              "incorrect": "Reporting lets the security team warn others."}},
            ]},
            {"id": "summary", "title": "Summary", "blocks": [
                {"id": "summary-text", "type": "text", "provenance": _ai("doc-1#c9"),
                 "markdown": "1. Slow down when a message feels urgent.\n"
                             "2. Check the sender and the real link target.\n"
                             "3. Report, do not reply."},
                {"id": "summary-callout", "type": "callout", "style": "tip",
                 "markdown": "Save the service desk number in your phone: **+1 555 0100**."},
            ]},
        ],
    }


def sample_course(language: str = "en", passing_score: int = 80) -> CourseContent:
    return CourseContent.model_validate(sample_course_data(language, passing_score))


CORRECT_ANSWERS: dict[str, list[str]] = {
    "q-sender": ["b"],
    "q-signs": ["urgent", "mismatch", "attachment"],
    "q-delete": ["false"],
}
WRONG_ANSWERS: dict[str, list[str]] = {
    "q-sender": ["a"],
    "q-signs": ["greeting"],
    "q-delete": ["true"],
}


def sample_meta(**overrides: Any) -> PackageMeta:
    from coursewright.publishing.packaging import PackageMeta

    values: dict[str, Any] = {
        "course_id": "acme-12",
        "version_number": 3,
        "approved_by": "Rita Reviewer",
        "approved_at": datetime(2025, 3, 5, 14, 30, 12, tzinfo=UTC),
        "published_at": None,
        "org_name": "Acme Corp",
    }
    values.update(overrides)
    return PackageMeta(**values)
