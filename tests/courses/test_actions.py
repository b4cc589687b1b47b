"""Course lifecycle actions: the human-in-the-loop rules, provenance integrity, audit."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent, Channel
from coursewright.courses import actions
from coursewright.courses.content import CourseContent
from coursewright.courses.models import CourseVersion, ReviewComment
from coursewright.errors import Conflict, Forbidden, Invalid, TooLarge, UnsupportedMedia
from coursewright.orgs.models import ApiKey
from tests.conftest import People

# Cites a chunk of no document: the grounding check flags these blocks, so approvals
# here confirm the flagged sentences (tests/courses/test_grounding.py tests that rule).
AI = {"kind": "ai", "engine": "coursewright-offline", "model": "extractive-v1",
      "generated_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(), "sources": ["c-1"]}


def ai_content() -> CourseContent:
    return CourseContent.model_validate({"title": "Safety", "screens": [
        {"id": "s1", "title": "Fire", "blocks": [
            {"type": "text", "id": "b1", "markdown": "Never block exits.", "provenance": AI},
            {"type": "true_false", "id": "q1", "prompt": "Exits may be blocked.",
             "answer": False, "provenance": AI}]}]})


@pytest.fixture
def draft(people: People) -> CourseVersion:
    return actions.create_course(people.acme, content=ai_content(), actor=Actor.person(people.bob))


def screen_payload(version: CourseVersion, **changes: Any) -> dict[str, Any]:
    screen: dict[str, Any] = dict(version.content["screens"][0])
    screen.update(changes)
    return screen


def test_edit_keeps_server_provenance_and_marks_ai_blocks_edited(
        draft: CourseVersion, people: People) -> None:
    # given an AI block whose text the author changes, claiming it is human-made
    payload = screen_payload(draft)
    payload["blocks"] = [dict(b) for b in payload["blocks"]]
    payload["blocks"][0].update(markdown="Never, ever block exits.",
                                provenance={"kind": "human"})
    # and a new block that claims to be AI-made
    payload["blocks"].append({"type": "text", "id": "b9", "markdown": "Added.",
                              "provenance": AI})

    version = actions.update_screen(draft, "s1", payload, actor=Actor.person(people.bob))

    blocks = {b["id"]: b for b in version.content["screens"][0]["blocks"]}
    assert blocks["b1"]["provenance"]["kind"] == "ai"
    assert blocks["b1"]["provenance"]["edited"] is True
    assert blocks["q1"]["provenance"]["edited"] is False  # untouched
    assert blocks["b9"]["provenance"]["kind"] == "human"
    event = AuditEvent.objects.get(action="version.screen_edited")
    assert event.before["content_sha256"] != event.after["content_sha256"]


def test_invalid_edit_changes_nothing(draft: CourseVersion, people: People) -> None:
    before = draft.content
    with pytest.raises(Invalid) as caught:
        actions.update_screen(draft, "s1", {"title": "x", "blocks": [{"type": "nope"}]},
                              actor=Actor.person(people.bob))
    assert caught.value.details
    draft.refresh_from_db()
    assert draft.content == before


def test_full_review_cycle_writes_one_audit_row_per_transition(
        draft: CourseVersion, people: People) -> None:
    bob, rita = Actor.person(people.bob), Actor.person(people.rita)
    version = actions.submit_for_review(draft, actor=bob)
    version = actions.reject_version(version, actor=rita, comment="Add a fire-drill screen.")
    assert version.state == "draft"
    assert ReviewComment.objects.get(version=version).body == "Add a fire-drill screen."
    version = actions.submit_for_review(version, actor=bob)
    version = actions.approve_version(version, actor=rita, confirm_unsupported=True)
    version = actions.publish_version(version, actor=bob)
    assert version.state == "published"
    transitions = [(e.action, e.before.get("state"), e.after.get("state"), e.actor_label)
                   for e in AuditEvent.objects.filter(object_type="course_version")
                   .order_by("seq")]
    assert transitions == [
        ("version.submitted", "draft", "in_review", "bob@acme.test"),
        ("version.rejected", "in_review", "draft", "rita@acme.test"),
        ("version.submitted", "draft", "in_review", "bob@acme.test"),
        ("version.approved", "in_review", "approved", "rita@acme.test"),
        ("version.published", "approved", "published", "bob@acme.test"),
    ]


def test_a_transition_happens_once(draft: CourseVersion, people: People) -> None:
    version = actions.submit_for_review(draft, actor=Actor.person(people.bob))
    stale = CourseVersion.objects.get(pk=version.pk)
    actions.approve_version(version, actor=Actor.person(people.rita), confirm_unsupported=True)
    with pytest.raises(Conflict, match="not in review"):
        actions.approve_version(stale, actor=Actor.person(people.alice),
                                confirm_unsupported=True)
    assert AuditEvent.objects.filter(action="version.approved").count() == 1


@pytest.mark.parametrize("who", ["bob", "api_key", "system", "mallory"])
def test_only_reviewers_approve(draft: CourseVersion, people: People, who: str) -> None:
    version = actions.submit_for_review(draft, actor=Actor.person(people.alice))
    actor = {
        "bob": Actor.person(people.bob),
        "mallory": Actor.person(people.mallory),
        "api_key": Actor.key(ApiKey.objects.get(org=people.acme)),
        "system": Actor.system(Channel.CLI),
    }[who]
    with pytest.raises(Forbidden):
        actions.approve_version(version, actor=actor)
    version.refresh_from_db()
    assert version.state == "in_review"


def test_reject_needs_a_comment(draft: CourseVersion, people: People) -> None:
    version = actions.submit_for_review(draft, actor=Actor.person(people.bob))
    with pytest.raises(Invalid, match="comment"):
        actions.reject_version(version, actor=Actor.person(people.rita), comment="  ")


def test_editing_after_approval_makes_a_new_draft(draft: CourseVersion, people: People) -> None:
    bob = Actor.person(people.bob)
    version = actions.submit_for_review(draft, actor=bob)
    version = actions.approve_version(version, actor=Actor.person(people.rita),
                                      confirm_unsupported=True)
    with pytest.raises(Conflict):
        actions.update_title(version, "New", actor=bob)
    new = actions.start_new_draft(version.course, actor=bob)
    assert (new.number, new.state, new.based_on_id) == (2, "draft", version.pk)
    actions.update_title(new, "New title", actor=bob)
    version.refresh_from_db()
    assert version.content["title"] == "Safety"
    assert actions.start_new_draft(version.course, actor=bob).pk == new.pk


def _image(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_images_are_accepted_by_content(draft: CourseVersion, people: People, fmt: str) -> None:
    asset = actions.add_image(draft.course, data=_image(fmt), actor=Actor.person(people.bob))
    assert asset.content_type == f"image/{fmt.lower()}"
    assert (asset.width, asset.height) == (8, 8)


@pytest.mark.parametrize(("data", "error"), [
    (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', UnsupportedMedia),
    (b'<?xml version="1.0"?><svg/>', UnsupportedMedia),
    (b"\x89PNG\r\n\x1a\nnot really", UnsupportedMedia),
    (_image("GIF"), UnsupportedMedia),
    (b"", Invalid),
])
def test_bad_images_are_refused(draft: CourseVersion, people: People, data: bytes,
                                error: type[Exception]) -> None:
    with pytest.raises(error):
        actions.add_image(draft.course, data=data, actor=Actor.person(people.bob))
    assert not draft.course.assets.exists()


def test_oversized_image_is_refused(draft: CourseVersion, people: People, settings: Any) -> None:
    settings.MAX_IMAGE_MB = 1
    with pytest.raises(TooLarge):
        actions.add_image(draft.course, data=b"\0" * (1024 * 1024 + 1),
                          actor=Actor.person(people.bob))
