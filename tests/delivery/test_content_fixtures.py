"""Shared helpers for the published-content tests (no tests here).

``illustrated_course`` makes a course whose approved version shows images, live in
production; ``launch`` opens a launch session for it through the Gatekeeper and returns
the session credential.
"""

from __future__ import annotations

import io
from functools import cache
from typing import Any

from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.courses import actions as course_actions
from coursewright.courses.content import CourseContent
from coursewright.courses.models import CourseVersion, VersionState
from coursewright.delivery import gatekeeper
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import AI, ORIGIN, Live, deploy, issue


@cache
def png(colour: tuple[int, int, int] = (30, 64, 175)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, format="PNG")
    return out.getvalue()


def sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def illustrated_course(org: Any, user: Any, images: tuple[bytes, ...] = (),
                       title: str = "Fire safety") -> Live:
    images = images or (png(),)
    blocks: list[dict[str, Any]] = [
        {"type": "text", "id": "b1", "markdown": "Never block the exits.", "provenance": AI}]
    blocks += [{"type": "image", "id": f"i{n}", "asset": sha(data), "alt": f"Exit sign {n}",
                "provenance": AI} for n, data in enumerate(images, start=1)]
    blocks.append({"type": "true_false", "id": "q1", "prompt": "Exits may be blocked.",
                   "answer": False, "provenance": AI})
    content = CourseContent.model_validate(
        {"title": title, "screens": [{"id": "s1", "title": "Exits", "blocks": blocks}]})
    version = course_actions.create_course(org, content=content, actor=Actor.person(user))
    for data in images:
        course_actions.add_image(version.course, data=data, actor=Actor.person(user))
    CourseVersion.objects.filter(pk=version.pk).update(state=VersionState.APPROVED,
                                                       approved_at=timezone.now())
    version.refresh_from_db()
    return Live(course=version.course, version=version, deployment=deploy(version))


def launch(people: People, live: Live, **license_settings: Any) -> tuple[Any, str]:
    """A license for ``live``'s course and a launch on it: (license, session secret)."""
    license_settings.setdefault("allowed_origins", [ORIGIN])
    license, token = issue(people, [live.course], **license_settings)
    decision = gatekeeper.launch(token, course_uid=str(live.course.uid), learner_id="u-1",
                                 origin=ORIGIN)
    assert decision.allowed, decision.reason
    return license, decision.session
