"""Shared helpers for the license, Gatekeeper and signing tests (no tests here).

``deployed_course`` makes a course with an approved version live in production (the
deployment rows are made directly: the deployment actions have their own tests);
``issue`` issues a license as Alice, Acme's owner.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.courses import actions as course_actions
from coursewright.courses.content import CourseContent
from coursewright.courses.models import Course, CourseVersion, VersionState
from coursewright.delivery import licenses
from coursewright.delivery.models import Channel, ChannelName, Deployment, License
from tests.conftest import People

ORIGIN = "https://lms.example.com"
AI = {"kind": "ai", "engine": "coursewright-offline", "model": "extractive-v1",
      "generated_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(), "sources": ["c-1"]}


def content(title: str = "Fire safety") -> CourseContent:
    return CourseContent.model_validate({"title": title, "screens": [
        {"id": "s1", "title": "Exits", "blocks": [
            {"type": "text", "id": "b1", "markdown": "Never block the exits.",
             "provenance": AI},
            {"type": "true_false", "id": "q1", "prompt": "Exits may be blocked.",
             "answer": False, "provenance": AI}]}]})


@dataclass
class Live:
    course: Course
    version: CourseVersion
    deployment: Deployment


def course_of(org: Any, user: Any, title: str = "Fire safety") -> CourseVersion:
    version = course_actions.create_course(org, content=content(title),
                                           actor=Actor.person(user))
    CourseVersion.objects.filter(pk=version.pk).update(state=VersionState.APPROVED,
                                                       approved_at=timezone.now())
    version.refresh_from_db()
    return version


def deploy(version: CourseVersion, channel: str = ChannelName.PRODUCTION) -> Deployment:
    deployment = Deployment.objects.create(
        org_id=version.org_id, course_id=version.course_id, channel=channel,
        version=version, action="deploy", actor_label="test")
    Channel.objects.update_or_create(org_id=version.org_id, course_id=version.course_id,
                                     name=channel, defaults={"current": deployment})
    return deployment


def deployed_course(org: Any, user: Any, title: str = "Fire safety") -> Live:
    version = course_of(org, user, title)
    return Live(course=version.course, version=version, deployment=deploy(version))


def issue(people: People, courses: list[Course], **settings: Any) -> tuple[License, str]:
    org = courses[0].org if courses else people.acme
    owner = people.alice if org.pk == people.acme.pk else people.mallory
    return licenses.issue_license(org, name=settings.pop("name", "Client LMS"),
                                  courses=courses, actor=Actor.person(owner), **settings)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def forge(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()),
                     signature])
