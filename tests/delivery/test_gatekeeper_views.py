"""The Gatekeeper over HTTP: the launch endpoint's answers and CORS, never a 500, the
friendly blocked page, the course served for a live session, and the public key set."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.actor import Actor
from coursewright.delivery import licenses
from coursewright.delivery.models import LaunchEvent, License
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import ORIGIN, Live, deployed_course, issue

LAUNCH = "/launch/v1"


@pytest.fixture
def live(people: People) -> Live:
    return deployed_course(people.acme, people.bob)


@pytest.fixture
def licensed(people: People, live: Live) -> tuple[License, str]:
    return issue(people, [live.course], allowed_origins=[ORIGIN])


def post(body: Any, origin: str | None = ORIGIN, raw: bool = False) -> Any:
    headers = {"Origin": origin} if origin else {}
    data = body if raw else json.dumps(body)
    return Client().post(LAUNCH, data=data, content_type="application/json", headers=headers)


def launch_body(token: str, live: Live, learner: str | None = "u-1") -> dict[str, Any]:
    body = {"token": token, "course": str(live.course.uid)}
    if learner is not None:
        body["learner"] = learner
    return body


def test_an_allowed_launch(live: Live, licensed: tuple[License, str]) -> None:
    _, token = licensed
    response = post(launch_body(token, live))
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Credentials" not in response
    assert response["Cache-Control"] == "no-store"
    assert "Origin" in response["Vary"]
    launch = response.json()["launch"]
    assert set(launch) == {"session", "course", "deployment", "version", "entry",
                           "expires_at"}
    assert (launch["course"], launch["deployment"], launch["version"]) == (
        str(live.course.uid), str(live.deployment.uid), live.version.number)
    assert len(launch["session"]) >= 40
    assert launch["entry"].endswith(f"/launch/v1/play/{launch['session']}/")


def test_the_entry_serves_the_course_while_the_session_lives(
        people: People, live: Live, licensed: tuple[License, str]) -> None:
    # given a launch
    license, token = licensed
    entry = post(launch_body(token, live)).json()["launch"]["entry"]
    path = entry.removeprefix("http://127.0.0.1:8000")
    browser = Client()
    # when the learner's browser opens it (framed by the LMS)
    page = browser.get(path)
    assert page.status_code == 200
    assert b"Never block the exits." in page.content
    assert f"frame-ancestors {ORIGIN}" in page["Content-Security-Policy"]
    assert "X-Frame-Options" not in page
    # then its files are signed storage URLs (tests/delivery/test_content.py), and the
    # old per-session file routes are gone
    player = re.search(r'<script src="(http[^"]+\.js\?[^"]+)" defer>', page.content.decode())
    assert player is not None
    file_url = player.group(1).replace("&amp;", "&").removeprefix("http://127.0.0.1:8000")
    assert browser.get(file_url).status_code == 200
    assert browser.get(path + "player.js").status_code == 404
    # then a revocation closes the page on the next request
    licenses.revoke_license(license, actor=Actor.person(people.alice))
    closed = browser.get(path)
    assert closed.status_code == 403
    assert b"Your course session has ended" in closed.content
    assert browser.get("/launch/v1/play/made-up-session/").status_code == 403


def test_a_refusal_is_a_403_with_the_reason(people: People, live: Live,
                                            licensed: tuple[License, str]) -> None:
    license, token = licensed
    licenses.suspend_license(license, actor=Actor.person(people.alice))
    response = post(launch_body(token, live))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "suspended"
    assert "paused" in error["message"]
    # the license allows this origin, so the launcher may read why
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_a_disallowed_origin_cannot_even_read_the_refusal(
        live: Live, licensed: tuple[License, str]) -> None:
    _, token = licensed
    response = post(launch_body(token, live), origin="https://evil.example")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response
    bad = post(launch_body("forged", live))
    assert bad.json()["error"]["code"] == "bad_token"
    assert "Access-Control-Allow-Origin" not in bad


def test_the_preflight_allows_any_origin_without_credentials() -> None:
    response = Client().options(LAUNCH, headers={
        "Origin": "https://anyone.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Content-Type" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[1, 2]", b'"token"', b"{}", b'{"token": 5, "course": "x"}',
    b'{"token": "t"}', b'{"token": "t", "course": 7}', b'{"token": "t", "course": "c", '
    b'"learner": 5}', b'{"token": "t", "course": "c", "learner": "' + b"x" * 300 + b'"}',
    b"\xff\xfe", b'{"token": "t", "course": "' + b"c" * 200 + b'"}',
], ids=lambda b: repr(b[:20]))
def test_a_malformed_body_is_a_400_never_a_500(db: None, body: bytes) -> None:
    response = post(body, raw=True)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert not LaunchEvent.objects.exists()


def test_a_huge_body_and_other_methods_are_refused_cleanly() -> None:
    response = post(b'{"token": "' + b"x" * 20_000 + b'"}', raw=True)
    assert (response.status_code, response.json()["error"]["code"]) == (413, "too_large")
    get = Client().get(LAUNCH)
    assert (get.status_code, get.json()["error"]["code"]) == (405, "method_not_allowed")


def test_a_launch_needs_no_cookie_or_csrf(people: People, live: Live,
                                          licensed: tuple[License, str]) -> None:
    _, token = licensed
    client = Client(enforce_csrf_checks=True)
    response = client.post(LAUNCH, data=json.dumps(launch_body(token, live)),
                           content_type="text/plain", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert "Set-Cookie" not in response
    assert not response.cookies


@pytest.mark.parametrize("reason", ["revoked", "suspended", "expired", "learner_cap",
                                    "origin_not_allowed", "bad_token", "session_expired"])
def test_the_blocked_page_says_what_happened(reason: str) -> None:
    response = Client().get(f"/launch/v1/blocked?reason={reason}")
    assert response.status_code == 200
    text = response.content.decode()
    assert '<html lang="en">' in text
    assert "<h1>" in text
    assert "<main" in text
    assert "This course cannot be opened" in text
    assert "contact the person or team who runs your learning platform" in text
    assert f"<code>{reason}</code>" in text
    assert "frame-ancestors *" in response["Content-Security-Policy"]
    assert "Traceback" not in text


def test_the_blocked_page_with_an_unknown_or_hostile_reason() -> None:
    for reason in ("", "nonsense", "<script>alert(1)</script>"):
        response = Client().get("/launch/v1/blocked", {"reason": reason})
        assert response.status_code == 200
        text = response.content.decode()
        assert "This course could not be opened." in text
        assert "<script>alert" not in text
        assert "<code>" not in text


def test_the_public_key_set_has_no_private_parts(live: Live,
                                                 licensed: tuple[License, str]) -> None:
    license, _ = licensed
    response = Client().get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age=" in response["Cache-Control"]
    assert "public" in response["Cache-Control"]
    assert response["Access-Control-Allow-Origin"] == "*"
    keys = response.json()["keys"]
    assert [k["kid"] for k in keys] == [license.token_kid]
    for key in keys:
        assert "d" not in key
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == (
            "OKP", "Ed25519", "EdDSA", "sig")


def test_our_own_failure_is_a_clean_503(settings: Any, live: Live,
                                        licensed: tuple[License, str]) -> None:
    # given a key file broken on disk (an operator's mistake)
    from pathlib import Path

    from coursewright.delivery import signing

    _, token = licensed
    (Path(settings.KEYS_DIR) / signing.FILE_NAME).write_text("{not json")
    # when a launch comes: a JSON answer the launcher understands, not a stack trace
    response = post(launch_body(token, live))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert b"Traceback" not in response.content
