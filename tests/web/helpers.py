"""Shared helpers for the dashboard tests: uploading the handbook and filling the editor."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from django.test import Client

from coursewright.courses.content import CourseContent, Screen
from coursewright.courses.models import Course, CourseVersion
from coursewright.web.forms import ScreenForm

HANDBOOK_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "handbook.html"


def named_file(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def upload_handbook(client: Client, slug: str, **fields: Any) -> Any:
    data = {"file": named_file(HANDBOOK_PATH.read_bytes(), "handbook.html"),
            "language": "en", "target_screens": "6", **fields}
    return client.post(f"/o/{slug}/documents/upload/", data)


def only_course(org: Any) -> Course:
    return Course.objects.get(org=org)


def latest_version(course: Course) -> CourseVersion:
    return course.versions.order_by("-number").first()  # type: ignore[return-value]


def content_of(version: CourseVersion) -> CourseContent:
    version.refresh_from_db()
    return CourseContent.model_validate(version.content)


def editor_data(screen: Screen, **changes: Any) -> dict[str, Any]:
    """What the screen editor posts when nothing is changed, plus ``changes``
    (a value of ``False`` leaves a checkbox unticked, ``True`` ticks it)."""
    form = ScreenForm(screen)
    data: dict[str, Any] = {}
    for bound in form:
        value = bound.value()
        if isinstance(value, bool) or bound.widget_type == "checkbox":
            if value:
                data[bound.html_name] = "on"
        elif value is not None:
            data[bound.html_name] = value
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        elif value is True:
            data[name] = "on"
        else:
            data[name] = value
    return data


def ai_block_screen(content: CourseContent) -> Screen:
    """The first screen with an AI-drafted text block."""
    return next(s for s in content.screens
                if any(b.type == "text" and b.provenance.kind == "ai" for b in s.blocks))
