"""The API's NUL guard (web/api_input.py) reads forms without taking the body from the
views: a JSON endpoint sent a form answers 4xx, never 500."""

from __future__ import annotations

from django.test import Client

from tests.conftest import People


def test_a_form_posted_to_a_json_endpoint_is_a_clear_4xx(people: People,
                                                         acme_api: Client) -> None:
    # multipart (the test client's default for a dict) and urlencoded, and an empty body
    multipart = acme_api.post("/api/v1/ai/generate?org=acme", {"brief": "Ladders"})
    assert 400 <= multipart.status_code < 500, multipart.content[:300]
    urlencoded = acme_api.post("/api/v1/ai/generate?org=acme", "brief=Ladders",
                               content_type="application/x-www-form-urlencoded")
    assert 400 <= urlencoded.status_code < 500, urlencoded.content[:300]
    empty = acme_api.post("/api/v1/ai/generate?org=acme")
    assert 400 <= empty.status_code < 500, empty.content[:300]


def test_nul_in_a_small_form_field_is_refused(people: People, acme_api: Client) -> None:
    answer = acme_api.post("/api/v1/ai/generate?org=acme", {"brief": "Lad\x00ders"})
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["loc"] == ["form", "brief"]


def test_a_far_utc_offset_in_a_date_filter_is_no_500(people: People,
                                                    acme_api: Client) -> None:
    from tests.delivery.test_licenses_fixtures import course_of

    course = course_of(people.acme, people.alice).course
    # Python accepts +21:53, PostgreSQL refuses offsets beyond 15:59: compared in UTC
    answer = acme_api.get(f"/api/v1/courses/{course.pk}/errors",
                          {"since": "0116-05-16T07:39:17+21:53"})
    assert answer.status_code == 200, answer.content[:300]
