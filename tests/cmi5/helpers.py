"""Helpers for the cmi5 tests (no tests here): a deployed course on a license, a launch
through ``POST /cmi5/v1/launch``, and an AU that speaks to the launch's fetch URL and LMS
listener through the Django test client, as the player does in a browser."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.conf import settings
from django.test import Client

from coursewright.courses.content import CourseContent
from coursewright.delivery.models import License
from coursewright.tracking.models import Statement
from coursewright.tracking.statements import open_statement
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import AI, Live, deploy, issue

ORIGIN = "https://lms.example.com"
AU_URL = "https://lms.example.com/packages/fire-safety/"
LEARNER = "lms-learner-7"
V = "1.0.3"
CMI5 = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
MOVEON = "https://w3id.org/xapi/cmi5/context/categories/moveon"
SESSION = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
MASTERY = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore"
VERB = "http://adlnet.gov/expapi/verbs/"


def two_question_course() -> CourseContent:
    return CourseContent.model_validate({"title": "Fire safety", "screens": [
        {"id": "s1", "title": "Exits", "blocks": [
            {"type": "text", "id": "b1", "markdown": "Never block the exits.",
             "provenance": AI},
            {"type": "true_false", "id": "q1", "prompt": "Exits may be blocked.",
             "answer": False, "provenance": AI}]},
        {"id": "s2", "title": "Alarms", "blocks": [
            {"type": "text", "id": "b2", "markdown": "Raise the alarm first.",
             "provenance": AI},
            {"type": "true_false", "id": "q2", "prompt": "The alarm comes first.",
             "answer": True, "provenance": AI}]}]})


def live_course(people: People, org: Any = None) -> Live:
    from django.utils import timezone

    from coursewright.audit.actor import Actor
    from coursewright.courses import actions as course_actions
    from coursewright.courses.models import CourseVersion, VersionState

    org = org or people.acme
    user = people.bob if org.pk == people.acme.pk else people.mallory
    version = course_actions.create_course(org, content=two_question_course(),
                                           actor=Actor.person(user))
    CourseVersion.objects.filter(pk=version.pk).update(state=VersionState.APPROVED,
                                                       approved_at=timezone.now())
    version.refresh_from_db()
    return Live(course=version.course, version=version, deployment=deploy(version))


def licensed(people: People, live: Live, **settings_: Any) -> tuple[License, str]:
    settings_.setdefault("allowed_origins", [ORIGIN])
    return issue(people, [live.course], **settings_)


def launch(token: str, course: Any, *, learner: str = LEARNER, origin: str = ORIGIN,
           client: Client | None = None, **extra: Any) -> Any:
    body = {"token": token, "course": str(course.uid), "learner": learner,
            "au_url": AU_URL, **extra}
    return (client or Client()).post("/cmi5/v1/launch", json.dumps(body),
                                     content_type="application/json",
                                     headers={"Origin": origin})


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Au:
    """What an AU knows after its launch: the launch parameters, then its token."""

    url: str
    params: dict[str, str] = field(default_factory=dict)
    token: str = ""
    launch_data: dict[str, Any] = field(default_factory=dict)
    client: Client = field(default_factory=Client)

    def __post_init__(self) -> None:
        self.params = dict(parse_qsl(urlsplit(self.url).query))

    @property
    def actor(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.params["actor"])
        return result

    def path(self, resource: str) -> str:
        endpoint = self.params["endpoint"]
        assert endpoint.startswith(settings.BASE_URL)
        return endpoint[len(settings.BASE_URL):] + resource

    def fetch(self) -> Any:
        fetch_path = self.params["fetch"][len(settings.BASE_URL):]
        return self.client.post(fetch_path)

    def start(self) -> None:
        answer = self.fetch().json()
        self.token = answer["auth-token"]
        response = self.state_get("LMS.LaunchData")
        assert response.status_code == 200, response.content
        self.launch_data = response.json()

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Basic {token if token is not None else self.token}",
                "X-Experience-API-Version": V}

    def state_query(self, state_id: str, **extra: str) -> str:
        return urlencode({"activityId": self.params["activityId"],
                          "agent": json.dumps(self.actor),
                          "registration": self.params["registration"],
                          "stateId": state_id, **extra})

    def state_get(self, state_id: str) -> Any:
        return self.client.get(self.path("activities/state?" + self.state_query(state_id)),
                               headers=self.headers())

    def state_put(self, state_id: str, body: dict[str, Any]) -> Any:
        return self.client.put(self.path("activities/state?" + self.state_query(state_id)),
                               json.dumps(body), content_type="application/json",
                               headers=self.headers())

    def send(self, *statements: dict[str, Any], token: str | None = None) -> Any:
        return self.client.post(self.path("statements"), json.dumps(list(statements)),
                                content_type="application/json",
                                headers=self.headers(token))

    def statement(self, verb: str, *, result: dict[str, Any] | None = None,
                  moveon: bool = False, mastery: float | None = None,
                  allowed: bool = False) -> dict[str, Any]:
        context = json.loads(json.dumps(self.launch_data["contextTemplate"]))
        context["registration"] = self.params["registration"]
        if not allowed:
            category = context.setdefault("contextActivities", {}).setdefault("category", [])
            category.append({"id": CMI5})
            if moveon:
                category.append({"id": MOVEON})
        if mastery is not None:
            context.setdefault("extensions", {})[MASTERY] = mastery
        statement: dict[str, Any] = {
            "id": str(uuid.uuid4()), "timestamp": now(), "actor": self.actor,
            "verb": {"id": VERB + verb, "display": {"en-US": verb}},
            "object": {"id": self.params["activityId"], "objectType": "Activity"},
            "context": context}
        if result is not None:
            statement["result"] = result
        return statement


def basic(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def stored(org: Any, registration: str) -> list[dict[str, Any]]:
    """The statements of a registration in our LRS, in the order they were stored."""
    rows = Statement.objects.filter(org=org, registration=registration).order_by("stored", "id")
    return [open_statement(str(org.key_id), row) for row in rows]


def verbs(statements: list[dict[str, Any]]) -> list[str]:
    return [s["verb"]["id"].rsplit("/", 1)[-1] for s in statements]
