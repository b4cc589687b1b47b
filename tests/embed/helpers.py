"""Helpers to mint and use embed tokens through the API, as a partner's backend and its
embedded page would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.test import Client

from coursewright.courses.models import Course, CourseVersion
from tests.conftest import key_client


@dataclass
class Courses:
    acme: Course  # "Fire safety"
    acme_other: Course  # "First aid"
    globex: Course
    acme_draft: CourseVersion  # the draft of ``acme``


def post_json(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def exchange(key: str, **body: Any) -> Any:
    """POST /api/v1/embed/token with the API key ``key``."""
    return post_json(key_client(key), "/api/v1/embed/token", body)


def mint(key: str, user: str = "u-1001", scope: str = "author",
         courses: list[int] | str | None = None, **extra: Any) -> dict[str, Any]:
    """A token pair (the exchange must succeed)."""
    response = exchange(key, user=user, scope=scope,
                        courses=courses if courses is not None else "*", **extra)
    assert response.status_code == 200, response.content
    data: dict[str, Any] = response.json()
    return data


def bearer(token: str) -> Client:
    """An embedded page's client: the token in memory, no cookies."""
    return Client(headers={"Authorization": f"Bearer {token}"})


def refresh(refresh_token: str) -> Any:
    return post_json(Client(), "/api/v1/embed/refresh", {"refresh_token": refresh_token})


def reason(response: Any) -> str:
    """The refusal reason of a 401 ``invalid_token`` answer."""
    error = response.json()["error"]
    assert error["code"] == "invalid_token", error
    return str(error["details"][0]["reason"])
