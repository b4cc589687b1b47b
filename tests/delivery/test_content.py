"""Published course files (delivery.content) on local disk: content-addressed plaintext
copies under ``pub/``, signed expiring ``/content/`` URLs, the play page that uses only
those, renewal while the session lives, and deletion. The S3 side is in
test_content_s3.py."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from coursewright.audit.actor import Actor
from coursewright.delivery import content, deployments, licenses
from coursewright.delivery.models import LaunchSession
from coursewright.privacy.deletion import delete_course, delete_organisation
from coursewright.storage import put_bytes, region_storage
from tests.conftest import People
from tests.delivery.test_content_fixtures import illustrated_course, launch, png, sha
from tests.delivery.test_licenses_fixtures import ORIGIN, course_of

BASE = "http://127.0.0.1:8000"
SIGNED = re.compile(r"^http://127\.0\.0\.1:8000/content/[a-z]{2}/org-[0-9]+/pub/"
                    r"[0-9a-f]{64}\.(js|css|png|jpg|webp)\?e=[0-9]+&s=[0-9a-f]{64}$")


def local(url: str) -> str:
    assert url.startswith(BASE), url
    return url.removeprefix(BASE)


def stored(path: str) -> Path:
    region, _, name = path.partition("/")
    return Path(region_storage(region).path(name))


def published_names(org: Any) -> set[str]:
    folder = Path(region_storage(org.region).path(f"org-{org.pk}/pub"))
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


# --- publishing ---------------------------------------------------------------------------


def test_a_version_publishes_plaintext_content_addressed_copies(people: People) -> None:
    # given a deployed version that shows an image, and a draft image it does not show
    live = illustrated_course(people.acme, people.bob)
    from coursewright.courses.actions import add_image

    draft_only = png((200, 0, 0))
    add_image(live.course, data=draft_only, actor=Actor.person(people.bob))
    # when its files are published
    files = content.publish_version(live.version)
    # then the player files and the shown image are plaintext, named by their sha256
    from coursewright.player.render import player_assets

    assert set(files) == {"player.js", "player.css", "noscript.css", f"images/{sha(png())}"}
    for name, data in [*player_assets().items(), (f"images/{sha(png())}", png())]:
        path = files[name]
        assert path == (f"eu/org-{people.acme.pk}/pub/{sha(data)}"
                        f"{Path(name).suffix or '.png'}")
        assert stored(path).read_bytes() == data
    # and nothing of the draft is published
    assert f"{sha(draft_only)}.png" not in published_names(people.acme)


def test_publishing_is_idempotent(people: People) -> None:
    live = illustrated_course(people.acme, people.bob)
    first = content.publish_version(live.version)
    image = stored(first[f"images/{sha(png())}"])
    written = image.stat().st_mtime_ns
    # when published again, even re-checking storage, nothing is rewritten
    assert content.publish_version(live.version, recheck=True) == first
    assert image.stat().st_mtime_ns == written
    assert len(published_names(people.acme)) == 4


def test_deploying_publishes_after_commit(people: People,
                                          django_capture_on_commit_callbacks: Any) -> None:
    # given an approved version nobody launched yet
    version = course_of(people.acme, people.bob)
    assert published_names(people.acme) == set()
    # when an author deploys it
    with django_capture_on_commit_callbacks(execute=True):
        deployments.deploy_to_staging(version, actor=Actor.person(people.bob))
    # then its files are in storage before any learner asks
    assert len(published_names(people.acme)) == 3


# --- signed URLs on local disk ------------------------------------------------------------


@pytest.fixture
def player_js(people: People) -> str:
    live = illustrated_course(people.acme, people.bob)
    return content.publish_version(live.version)["player.js"]


def test_a_signed_url_serves_the_file_with_immutable_headers(player_js: str) -> None:
    url = content.signed_url(player_js, seconds=60)
    assert SIGNED.match(url)
    response = Client().get(local(url))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == stored(player_js).read_bytes()
    assert response["Content-Type"] == "text/javascript"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"


def refused(url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 403, url
    assert response.content == b"This link is not valid or has expired."
    assert response["Cache-Control"] == "no-store"


def test_an_expired_url_is_refused(player_js: str) -> None:
    url = content.signed_url(player_js, seconds=60, now=int(time.time()) - 61)
    refused(local(url))


def test_an_url_longer_than_the_ttl_allows_now_is_refused(player_js: str,
                                                           settings: Any) -> None:
    # a URL signed before the TTL was lowered stops at the new TTL
    url = content.signed_url(player_js, seconds=600)
    settings.CONTENT_URL_TTL = 60
    refused(local(url))


@pytest.mark.parametrize("tamper", ["signature", "expiry", "path", "missing"])
def test_a_tampered_url_is_refused(player_js: str, tamper: str) -> None:
    url = local(content.signed_url(player_js, seconds=60))
    address, _, query = url.partition("?")
    e, s = parse_qs(query)["e"][0], parse_qs(query)["s"][0]
    bad = {
        "signature": f"{address}?e={e}&s={s[:-1]}{'0' if s[-1] != '0' else '1'}",
        "expiry": f"{address}?e={int(e) + 1}&s={s}",
        "path": f"{address.replace('.js', '.css')}?e={e}&s={s}",
        "missing": address,
    }[tamper]
    refused(bad)


def test_a_sealed_private_file_is_never_reachable(people: People) -> None:
    # given a sealed upload of Acme's, and a signature made for its name with our own key
    path, _ = put_bytes(people.acme, "uploads", b"private notes", ".txt")
    with pytest.raises(ValueError, match="only published files"):
        content.signed_url(path, seconds=60)
    expires = int(time.time()) + 60
    forged = f"/content/{path}?e={expires}&s={content._signature(path, expires)}"
    # then even a valid signature does not open a name outside pub/
    refused(forged)
    traversal = f"eu/org-{people.acme.pk}/pub/../uploads/{Path(path).name}"
    refused(f"/content/{traversal}?e={expires}&s={content._signature(traversal, expires)}")


def test_an_orgs_url_cannot_be_turned_into_another_orgs(people: People) -> None:
    # given published files of Acme (eu) and of another eu organisation
    from coursewright.audit.actor import Actor as A
    from coursewright.orgs import actions

    other = actions.create_organisation(name="Initech", region="eu", owner=people.mallory,
                                        actor=A.system())
    acme = content.publish_version(illustrated_course(people.acme, people.bob).version)
    theirs = content.publish_version(illustrated_course(other, people.mallory).version)
    acme_image = acme[f"images/{sha(png())}"]
    their_image = theirs[f"images/{sha(png())}"]
    assert acme_image != their_image  # same bytes, separate copies per organisation
    # when Acme's signed URL is pointed at the other organisation's copy
    url = local(content.signed_url(acme_image, seconds=60))
    assert Client().get(url).status_code == 200
    refused(url.replace(f"/org-{people.acme.pk}/", f"/org-{other.pk}/"))


# --- the play page and renewal ------------------------------------------------------------


def page_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"#][^"]*)"', html)


def test_the_play_page_loads_only_signed_urls(people: People) -> None:
    live = illustrated_course(people.acme, people.bob, images=(png(), png((0, 120, 0))))
    _, session = launch(people, live)
    page = Client().get(f"/launch/v1/play/{session}/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    html = page.content.decode()
    urls = [u.replace("&amp;", "&") for u in page_urls(html)]
    files = [u for u in urls if not u.startswith("/launch/v1/")]
    # player.js, player.css, noscript.css and both images, each a signed URL
    assert len(files) == 5
    assert all(SIGNED.match(u) for u in files), files
    assert f"/pub/{sha(png((0, 120, 0)))}.png?" in html
    assert 'src="player.js"' not in html
    assert "images/" not in html
    # and the renewing script comes before the player, told the TTL
    assert re.search(r'<script src="/launch/v1/content\.js" defer data-ttl="600" '
                     r'data-expires="[^"]+"></script>\n?'
                     r'<script src="http[^"]+/pub/[0-9a-f]{64}\.js\?', html)
    # and every file it names works for the browser
    for url in files:
        assert Client().get(local(url)).status_code == 200


def test_the_relayed_play_page_keeps_relay_before_the_player(people: People) -> None:
    live = illustrated_course(people.acme, people.bob)
    _, session = launch(people, live)
    html = Client().get(f"/launch/v1/play/{session}/?relay=scorm2004").content.decode()
    relay = html.index('src="/launch/v1/relay.js"')
    assert relay < html.index("/launch/v1/content.js") < html.index('.js?e=')
    assert f'data-origins="{ORIGIN}"' in html
    assert '"format":"scorm2004"' in html.replace(" ", "")


def test_signed_urls_end_with_the_session(people: People) -> None:
    # given a session with 30 seconds left, and a ten-minute TTL
    live = illustrated_course(people.acme, people.bob)
    launch(people, live)
    from datetime import timedelta

    from django.utils import timezone

    LaunchSession.objects.update(expires_at=timezone.now() + timedelta(seconds=30))
    found = LaunchSession.objects.get()
    files = content.session_files(found)
    left = (files.expires_at - timezone.now()).total_seconds()
    assert 25 <= left <= 31
    e = int(parse_qs(urlsplit(files.urls["player.js"]).query)["e"][0])
    assert e == int(files.expires_at.timestamp())


def renew(secret: str | None) -> Any:
    headers = {"X-Coursewright-Session": secret} if secret is not None else {}
    return Client().post("/launch/v1/renew", headers=headers)


def test_renewal_gives_fresh_urls_while_the_session_lives(people: People,
                                                          settings: Any) -> None:
    settings.CONTENT_URL_TTL = 120
    live = illustrated_course(people.acme, people.bob)
    license, secret = launch(people, live)
    # when the page's script renews
    response = renew(secret)
    # then it gets a signed URL for every file, valid for the TTL
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body["files"]) == {"player.js", "player.css", "noscript.css",
                                  f"images/{sha(png())}"}
    from datetime import datetime

    expires = datetime.fromisoformat(body["expires_at"])
    assert 110 <= expires.timestamp() - time.time() <= 121
    image = Client().get(local(body["files"][f"images/{sha(png())}"]))
    assert (image.status_code, image["Content-Type"]) == (200, "image/png")
    # and once the license is revoked, renewal stops
    licenses.revoke_license(license, actor=Actor.person(people.alice))
    closed = renew(secret)
    assert closed.status_code == 403
    assert closed.json()["error"]["code"] == "session_expired"
    assert "files" not in closed.json()


@pytest.mark.parametrize("secret", [None, "", "made-up-session", "x" * 500])
def test_renewal_without_a_live_session_is_refused(db: None, secret: str | None) -> None:
    response = renew(secret)
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "session_expired", "message": response.json()[
        "error"]["message"], "details": []}}


def test_renewal_is_a_post(people: People) -> None:
    live = illustrated_course(people.acme, people.bob)
    _, secret = launch(people, live)
    response = Client().get("/launch/v1/renew", headers={"X-Coursewright-Session": secret})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_content_js_is_served_with_its_own_cache_headers(db: None) -> None:
    response = Client().get("/launch/v1/content.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript"
    assert response["Cache-Control"] == "public, max-age=300"
    assert b"launch/v1/renew" in response.content or b'"renew"' in response.content


# --- deletion -----------------------------------------------------------------------------


def test_deleting_a_course_removes_its_published_images_but_not_shared_ones(
        people: People, django_capture_on_commit_callbacks: Any) -> None:
    # given two Acme courses showing the same image, one with an image of its own
    own = png((90, 0, 90))
    first = illustrated_course(people.acme, people.bob, images=(png(), own))
    second = illustrated_course(people.acme, people.bob, title="Alarms")
    content.publish_version(first.version)
    content.publish_version(second.version)
    assert {f"{sha(png())}.png", f"{sha(own)}.png"} <= published_names(people.acme)
    # when the first course is deleted
    with django_capture_on_commit_callbacks(execute=True):
        receipt = delete_course(first.course, actor=Actor.person(people.alice))
    # then its own image's published copy is gone, the shared one stays
    names = published_names(people.acme)
    assert f"{sha(own)}.png" not in names
    assert f"{sha(png())}.png" in names
    assert receipt.files_deleted == 2  # the sealed image and its published copy
    # and the second course still plays its image
    _, secret = launch(people, second)
    url = renew(secret).json()["files"][f"images/{sha(png())}"]
    assert Client().get(local(url)).status_code == 200


def test_deleting_an_organisation_removes_its_published_files(people: People) -> None:
    live = illustrated_course(people.acme, people.bob)
    content.publish_version(live.version)
    folder = Path(region_storage("eu").path(f"org-{people.acme.pk}"))
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    assert files == 5  # the sealed image and four published files
    receipt = delete_organisation(people.acme, actor=Actor.person(people.alice),
                                  confirm=people.acme.slug)
    assert receipt.files_deleted == files
    assert not folder.exists()


def test_an_unreachable_storage_is_a_clean_503_page(people: People,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    live = illustrated_course(people.acme, people.bob)
    _, secret = launch(people, live)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise OSError("storage unreachable")

    monkeypatch.setattr(content, "session_files", down)
    response = Client().get(f"/launch/v1/play/{secret}/")
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert b"cannot be opened right now" in response.content
    assert b"Traceback" not in response.content
