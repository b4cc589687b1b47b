"""The partner API's course operations beyond the main flow: create from content JSON,
duplicate, revert a publication, and the per-key rate limit."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.courses.models import Asset, Course, CourseVersion
from coursewright.orgs.models import ApiKeyWindow
from tests.conftest import People, client_for, key_client


def content(title: str = "Ladder safety", text: str = "Check the feet of the ladder.",
            **block: Any) -> dict[str, Any]:
    return {"title": title, "language": "en", "screens": [
        {"id": "s1", "title": "Before you climb",
         "blocks": [{"type": "text", "id": "b1", "markdown": text, **block}]},
        {"id": "s2", "title": "Check", "blocks": [
            {"type": "true_false", "id": "q1", "prompt": "Check the ladder first?",
             "answer": True}]}]}


def create(api: Client, body: dict[str, Any] | None = None, org: str = "") -> Any:
    url = "/api/v1/courses" + (f"?org={org}" if org else "")
    return api.post(url, body or content(), content_type="application/json")


def publish(people: People, api: Client, version_id: int) -> None:
    assert api.post(f"/api/v1/versions/{version_id}/submit").status_code == 200
    approved = client_for(people.rita).post(f"/api/v1/versions/{version_id}/approve",
                                            {"confirm_unsupported": True},
                                            content_type="application/json")
    assert approved.status_code == 200, approved.json()
    assert api.post(f"/api/v1/versions/{version_id}/publish").status_code == 200


def publish_new_version(people: People, api: Client, course_id: int, text: str) -> int:
    draft = api.post(f"/api/v1/courses/{course_id}/drafts").json()
    screen = {"title": "Before you climb",
              "blocks": [{"type": "text", "id": "b1", "markdown": text}]}
    edited = api.put(f"/api/v1/versions/{draft['id']}/screens/s1", screen,
                     content_type="application/json")
    assert edited.status_code == 200, edited.json()
    publish(people, api, draft["id"])
    return int(draft["id"])


# --- create -----------------------------------------------------------------------------


def test_create_course_from_content(people: People, acme_api: Client) -> None:
    # given content JSON claiming an AI provenance
    body = content(provenance={"kind": "ai", "engine": "gpt", "model": "x",
                               "generated_at": "2026-01-01T00:00:00Z", "sources": ["c1"]})

    # when the partner creates a course with its API key
    response = create(acme_api, body)

    # then the course is Acme's, its first version a draft, every block human-made
    assert response.status_code == 201, response.json()
    version = response.json()
    assert version["state"] == "draft"
    assert version["number"] == 1
    course = Course.objects.get(pk=version["course_id"])
    assert course.org == people.acme
    assert course.title == "Ladder safety"
    kinds = {b["provenance"]["kind"] for s in version["content"]["screens"]
             for b in s["blocks"]}
    assert kinds == {"human"}
    event = AuditEvent.objects.filter(action="course.created").latest("id")
    assert event.object_id == str(course.pk)


def test_create_course_refuses_bad_content(acme_api: Client) -> None:
    body = content()
    body["screens"][1]["id"] = "s1"  # duplicate screen ids
    response = create(acme_api, body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] in {"invalid", "invalid_content"}
    missing = create(acme_api, {"title": "No screens"})
    assert missing.status_code == 422
    assert not Course.objects.exists()


def test_create_course_needs_an_authoring_role(people: People) -> None:
    response = create(client_for(people.rita))
    assert response.status_code == 403
    assert create(client_for(people.bob)).status_code == 201


def test_mallory_cannot_create_in_acme(people: People) -> None:
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        response = create(client, org="acme")
        assert response.status_code == 404
    assert not Course.objects.filter(org=people.acme).exists()


# --- duplicate --------------------------------------------------------------------------


def test_duplicate_copies_the_latest_version(people: People, acme_api: Client) -> None:
    # given a published course with a newer draft
    first = create(acme_api).json()
    publish(people, acme_api, first["id"])
    draft = acme_api.post(f"/api/v1/courses/{first['course_id']}/drafts").json()
    acme_api.put(f"/api/v1/versions/{draft['id']}/screens/s1",
                 {"title": "Before you climb",
                  "blocks": [{"type": "text", "id": "b1", "markdown": "Newest text."}]},
                 content_type="application/json")
    source = Course.objects.get(pk=first["course_id"])
    Asset.objects.create(org=people.acme, course=source, sha256="a" * 64,
                         content_type="image/png", width=1, height=1, size=1,
                         storage_path="x/unused.png")

    # when the partner duplicates it
    response = acme_api.post(f"/api/v1/courses/{first['course_id']}/duplicate", {},
                             content_type="application/json")

    # then a new course in Acme has a first draft with the latest content, "… (copy)"
    assert response.status_code == 201, response.json()
    copy = response.json()
    assert copy["course_id"] != first["course_id"]
    assert copy["state"] == "draft"
    assert copy["number"] == 1
    assert copy["content"]["title"] == "Ladder safety (copy)"
    assert copy["content"]["screens"][0]["blocks"][0]["markdown"] == "Newest text."
    new_course = Course.objects.get(pk=copy["course_id"])
    assert new_course.org == people.acme
    assert new_course.title == "Ladder safety (copy)"
    assert not Asset.objects.filter(course=new_course).exists()  # not shown: not copied
    event = AuditEvent.objects.filter(action="course.duplicated").latest("id")
    assert event.object_id == str(new_course.pk)
    # and the source is untouched
    assert CourseVersion.objects.filter(course=source).count() == 2


def test_duplicate_brings_the_images_it_shows(people: People, acme_api: Client) -> None:
    body = content()
    body["screens"][0]["blocks"].append({"type": "image", "id": "i1", "asset": "b" * 64,
                                         "alt": "A ladder"})
    first = create(acme_api, body).json()
    source = Course.objects.get(pk=first["course_id"])
    for digest in ("b" * 64, "c" * 64):  # the second one is not in the content
        Asset.objects.create(org=people.acme, course=source, sha256=digest,
                             content_type="image/png", width=2, height=3, size=4,
                             storage_path=f"eu/org-1/images/{digest}.png")
    copy = acme_api.post(f"/api/v1/courses/{source.pk}/duplicate", {},
                         content_type="application/json").json()
    copied = Asset.objects.filter(course_id=copy["course_id"])
    assert [(a.sha256, a.storage_path, a.width) for a in copied] == [
        ("b" * 64, f"eu/org-1/images/{'b' * 64}.png", 2)]
    assert Asset.objects.filter(course=source).count() == 2


def test_duplicate_with_a_title_and_by_a_person(people: People, acme_api: Client) -> None:
    first = create(acme_api).json()
    bob = client_for(people.bob)
    response = bob.post(f"/api/v1/courses/{first['course_id']}/duplicate",
                        {"title": "  Ladders  for   contractors "},
                        content_type="application/json")
    assert response.status_code == 201
    assert response.json()["content"]["title"] == "Ladders for contractors"
    refused = client_for(people.rita).post(f"/api/v1/courses/{first['course_id']}/duplicate",
                                           {}, content_type="application/json")
    assert refused.status_code == 403
    too_long = acme_api.post(f"/api/v1/courses/{first['course_id']}/duplicate",
                             {"title": "x" * 301}, content_type="application/json")
    assert too_long.status_code == 422


def test_mallory_cannot_duplicate_acme_course(people: People, acme_api: Client) -> None:
    first = create(acme_api).json()
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        response = client.post(f"/api/v1/courses/{first['course_id']}/duplicate", {},
                               content_type="application/json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Course.objects.count() == 1


# --- revert -----------------------------------------------------------------------------


def test_revert_makes_the_previous_published_version_current(
        people: People, acme_api: Client) -> None:
    # given a course published twice
    first = create(acme_api).json()
    publish(people, acme_api, first["id"])
    second_id = publish_new_version(people, acme_api, first["course_id"], "Second text.")
    from coursewright.courses.actions import current_published

    course = Course.objects.get(pk=first["course_id"])
    assert current_published(course).pk == second_id  # type: ignore[union-attr]

    # when the partner reverts, with a reason
    response = acme_api.post(f"/api/v1/courses/{course.pk}/revert",
                             {"reason": "typo in version 2"}, content_type="application/json")

    # then version 1 is current again, version 2 is back to approved (still exportable)
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == first["id"]
    assert current_published(course).pk == first["id"]  # type: ignore[union-attr]
    second = CourseVersion.objects.get(pk=second_id)
    assert second.state == "approved"
    assert second.published_at is None
    assert second.approved_by == people.rita
    event = AuditEvent.objects.filter(action="course.reverted").latest("id")
    assert event.object_id == str(course.pk)
    from coursewright.audit.chain import read_payload

    payload = read_payload(event)
    assert isinstance(payload, dict)
    assert payload["after"] == {"current_version": 1, "unpublished_version": 2,
                                "reason": "typo in version 2"}
    # and with only one published version left, there is nothing earlier to revert to
    again = acme_api.post(f"/api/v1/courses/{course.pk}/revert", {"reason": "again"},
                          content_type="application/json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "no_earlier_version"
    # and republishing version 2 makes it current again
    assert acme_api.post(f"/api/v1/versions/{second_id}/publish").status_code == 200
    assert current_published(course).pk == second_id  # type: ignore[union-attr]


def test_revert_refusals(people: People, acme_api: Client) -> None:
    first = create(acme_api).json()
    url = f"/api/v1/courses/{first['course_id']}/revert"
    never = acme_api.post(url, {"reason": "x"}, content_type="application/json")
    assert never.status_code == 409
    assert never.json()["error"]["code"] == "not_published"
    publish(people, acme_api, first["id"])
    publish_new_version(people, acme_api, first["course_id"], "Second text.")
    blank = acme_api.post(url, {"reason": "   "}, content_type="application/json")
    assert blank.status_code == 422
    assert blank.json()["error"]["code"] == "reason_required"
    assert acme_api.post(url, {}, content_type="application/json").status_code == 422
    long = acme_api.post(url, {"reason": "x" * 501}, content_type="application/json")
    assert long.status_code == 422
    assert long.json()["error"]["code"] == "reason_too_long"
    assert CourseVersion.objects.filter(course_id=first["course_id"],
                                        state="published").count() == 2
    assert not AuditEvent.objects.filter(action="course.reverted").exists()


def test_mallory_cannot_revert_acme_course(people: People, acme_api: Client) -> None:
    first = create(acme_api).json()
    publish(people, acme_api, first["id"])
    second_id = publish_new_version(people, acme_api, first["course_id"], "Second text.")
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        response = client.post(f"/api/v1/courses/{first['course_id']}/revert",
                               {"reason": "x"}, content_type="application/json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert CourseVersion.objects.get(pk=second_id).state == "published"


# --- rate limits --------------------------------------------------------------------------


@pytest.fixture
def low_limit(settings: Any) -> int:
    settings.API_RATE_PER_MINUTE = 3
    settings.REDIS_URL = ""
    return 3


def _at(monkeypatch: pytest.MonkeyPatch, moment: float) -> None:
    import time

    monkeypatch.setattr(time, "time", lambda: moment)


def test_key_over_its_budget_gets_429(people: People, low_limit: int,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # given a limit of 3 a minute, 15 seconds into a window
    _at(monkeypatch, 1_800_000_015.2)
    acme = key_client(people.acme_key)
    for _ in range(low_limit):
        assert acme.get("/api/v1/courses").status_code == 200

    # when the key makes one more request
    response = acme.get("/api/v1/courses")

    # then it is refused with the error shape and the seconds to the next window
    assert response.status_code == 429
    assert response["Retry-After"] == "45"
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"] == [{"limit": 3, "window_seconds": 60, "retry_after": 45}]
    # another key is unaffected, and so are signed-in people
    assert key_client(people.globex_key).get("/api/v1/courses").status_code == 200
    alice = client_for(people.alice)
    for _ in range(low_limit + 2):
        assert alice.get("/api/v1/courses").status_code == 200

    # and a new window resets the budget, clearing the ended window's rows
    _at(monkeypatch, 1_800_000_060.0)
    assert acme.get("/api/v1/courses").status_code == 200
    assert list(ApiKeyWindow.objects.values_list("window_start", flat=True)) == [
        1_800_000_060]


def test_refused_requests_do_nothing(people: People, low_limit: int,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _at(monkeypatch, 1_800_000_000.0)
    acme = key_client(people.acme_key)
    for _ in range(low_limit):
        acme.get("/api/v1/me")
    response = create(acme)
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert not Course.objects.exists()


def test_limit_off_with_zero(people: People, settings: Any) -> None:
    settings.API_RATE_PER_MINUTE = 0
    acme = key_client(people.acme_key)
    for _ in range(5):
        assert acme.get("/api/v1/me").status_code == 200
    assert not ApiKeyWindow.objects.exists()


def test_redis_counter_is_shared(people: People, low_limit: int,
                                 settings: Any) -> None:
    import redis

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    from coursewright.ratelimit_api import RateLimited, charge_api_key

    settings.REDIS_URL = url
    key_id = people.acme.api_keys.get().pk
    window = (1_900_000_000 // 60 + people.acme.key_id.int % 100_000) * 60
    name = f"coursewright:ratelimit:{key_id}:{window}"
    server = redis.Redis.from_url(url)
    server.delete(name)
    try:
        counts = [charge_api_key(key_id, now=window + 10.0) for _ in range(low_limit)]
        assert counts == [1, 2, 3]
        with pytest.raises(RateLimited) as refused:
            charge_api_key(key_id, now=window + 40.0)
        assert refused.value.retry_after == 20
        assert server.get(name) == b"4"
        assert 0 < server.ttl(name) <= 120  # type: ignore[operator]  # ended windows expire by themselves
        assert not ApiKeyWindow.objects.exists()  # counted in Redis, not the database
    finally:
        server.delete(name)
