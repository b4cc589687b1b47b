"""The embeddable pages' headers: frame-ancestors from the organisation's allow-list
(``'none'`` without one), no X-Frame-Options, no referrer, no cache, a strict page
policy with no inline script, and never a cookie — not even for a signed-in person."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.actor import Actor
from coursewright.embed.origins import set_origins
from tests.conftest import People, client_for
from tests.embed.helpers import Courses

ORIGINS = ["https://partner.example", "http://localhost:8001"]


def directives(response: Any) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
            for part in policy.split(";")}


def config(response: Any) -> dict[str, Any]:
    match = re.search(r'<script id="cw-embed-config" type="application/json">(.*?)</script>',
                      response.content.decode())
    assert match, "the page has no configuration block"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def assert_embeddable(response: Any) -> None:
    assert "Set-Cookie" not in response.headers
    assert not response.cookies
    assert "X-Frame-Options" not in response.headers
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store"


@pytest.fixture
def registered(people: People) -> None:
    set_origins(people.acme, ORIGINS, actor=Actor.person(people.alice))


@pytest.mark.usefixtures("registered")
def test_the_editor_may_be_framed_by_the_registered_origins_only(people: People) -> None:
    response = Client().get("/embed/v1/editor/?org=acme")
    assert response.status_code == 200
    assert_embeddable(response)
    policy = directives(response)
    assert policy["frame-ancestors"] == "https://partner.example http://localhost:8001"
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    assert "unsafe" not in response["Content-Security-Policy"]
    assert config(response) == {"page": "editor", "org": "acme", "origins": ORIGINS,
                                "course": "", "api": "/api/v1/"}
    # no inline code: every script is a file, or the JSON data block
    for tag in re.findall(r"<script\b[^>]*>", response.content.decode()):
        assert " src=" in tag or 'type="application/json"' in tag, tag


@pytest.mark.usefixtures("registered")
def test_the_player_page_also_allows_the_course_files_origin(
        people: People, settings: Any) -> None:
    uid = uuid.uuid4()
    response = Client().get(f"/embed/v1/player/{uid}/?org=acme")
    assert response.status_code == 200
    assert_embeddable(response)
    policy = directives(response)
    assert policy["frame-ancestors"] == " ".join(ORIGINS)
    files = settings.BASE_URL  # local storage: signed URLs on this site's base URL
    assert policy["script-src"] == f"'self' {files}"
    assert policy["img-src"] == f"'self' data: {files}"
    assert config(response)["course"] == str(uid)


def test_without_registered_origins_nobody_may_frame_the_pages(people: People,
                                                               courses: Courses) -> None:
    for url in ("/embed/v1/editor/?org=acme", f"/embed/v1/player/{courses.acme.uid}/?org=acme"):
        response = Client().get(url)
        assert response.status_code == 200
        assert_embeddable(response)
        assert directives(response)["frame-ancestors"] == "'none'"
        assert config(response)["origins"] == []


@pytest.mark.usefixtures("registered")
def test_another_organisation_s_page_carries_its_own_list(people: People) -> None:
    set_origins(people.globex, ["https://globex.example"], actor=Actor.person(people.mallory))
    response = Client().get("/embed/v1/editor/?org=globex")
    assert directives(response)["frame-ancestors"] == "https://globex.example"
    assert "partner.example" not in response.content.decode()
    assert config(response)["origins"] == ["https://globex.example"]


@pytest.mark.parametrize(("url", "status"), [
    ("/embed/v1/editor/", 400),
    ("/embed/v1/editor/?org=nope", 404),
    ("/embed/v1/player/not-a-uuid/?org=acme", 404),
])
@pytest.mark.usefixtures("registered")
def test_bad_addresses_answer_a_page_nobody_may_frame(url: str, status: int) -> None:
    response = Client().get(url)
    assert response.status_code == status
    assert_embeddable(response)
    assert directives(response)["frame-ancestors"] == "'none'"


@pytest.mark.usefixtures("registered")
def test_a_signed_in_person_gets_no_cookie_either(people: People) -> None:
    client = client_for(people.alice)
    for url in ("/embed/v1/editor/?org=acme", f"/embed/v1/player/{uuid.uuid4()}/?org=acme"):
        response = client.get(url)
        assert response.status_code == 200
        assert_embeddable(response)


@pytest.mark.usefixtures("registered")
def test_only_get(people: People) -> None:
    response = Client().post("/embed/v1/editor/?org=acme")
    assert response.status_code == 405
    assert "Set-Cookie" not in response.headers


def test_the_pages_scripts_and_styles_are_served_without_cookies(people: People) -> None:
    for name in ("embed/session.js", "embed/editor.js", "embed/player.js",
                 "embed/embed.css", "web/app.css"):
        response = Client().get(f"/static/{name}")
        assert response.status_code == 200, name
        assert "Set-Cookie" not in response.headers
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        code = re.sub(rb"/\*.*?\*/", b"", body, flags=re.S)  # the code, not its notes
        for storage in (b"localStorage", b"sessionStorage", b"document.cookie",
                        b"indexedDB"):
            assert storage not in code, (name, storage)
