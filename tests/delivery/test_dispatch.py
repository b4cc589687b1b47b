"""Dispatch packages: what is in the zip (a launcher, never the course), the manifest
against the official schemas, reproducible bytes, the download endpoint's permissions,
and the relay the platform adds to the course page of a dispatch launch."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.delivery import dispatch
from coursewright.delivery.models import License
from coursewright.publishing.manifests import validate_manifest
from tests.conftest import People, client_for, key_client
from tests.delivery.test_licenses_fixtures import ORIGIN, Live, deployed_course, issue

FORMATS = ["scorm12", "scorm2004"]
CONTENT_SENTENCE = "Never block the exits."


@pytest.fixture
def live(people: People) -> Live:
    return deployed_course(people.acme, people.bob)


@pytest.fixture
def licensed(people: People, live: Live) -> tuple[License, str]:
    return issue(people, [live.course], allowed_origins=[ORIGIN])


def unzip(data: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {name: archive.read(name) for name in archive.namelist()}


def launch_config(files: dict[str, bytes]) -> dict[str, Any]:
    found = re.search(rb'<script type="application/json" id="cw-launch">(.*?)</script>',
                      files["launcher.html"], re.S)
    assert found is not None
    config: dict[str, Any] = json.loads(found.group(1))
    return config


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_package_holds_a_launcher_and_no_course_content(
        live: Live, licensed: tuple[License, str], fmt: dispatch.DispatchFormat) -> None:
    # given a license and its token
    license, token = licensed
    # when its dispatch package is built
    files = unzip(dispatch.build_dispatch_package(license, live.course, fmt, token=token))
    # then it holds the launcher only
    from coursewright.publishing.manifests import schema_files

    assert sorted(files) == sorted(["imsmanifest.xml", "launcher.css", "launcher.html",
                                    "launcher.js", *schema_files(fmt)])
    everything = b"".join(files.values())
    for secret in (live.version.content["title"], CONTENT_SENTENCE, "Exits may be blocked",
                   "Exits"):
        assert secret.encode() not in everything, secret
    # and the launcher knows where to launch, what, and with which token
    assert launch_config(files) == {
        "format": fmt, "token": token, "course": str(live.course.uid),
        "launch": settings.BASE_URL + "/launch/v1",
        "blocked": settings.BASE_URL + "/launch/v1/blocked"}
    # and no inline code runs: the only script with code is launcher.js
    assert b'<script src="launcher.js" defer></script>' in files["launcher.html"]
    assert len(re.findall(rb"<script", files["launcher.html"])) == 2
    # and the manifest validates against the official schemas, one SCO: the launcher
    manifest = files["imsmanifest.xml"]
    validate_manifest(manifest, fmt)
    assert b'href="launcher.html"' in manifest
    assert manifest.count(b"<file ") == 3
    assert b"masteryscore" not in manifest
    assert b"minNormalizedMeasure" not in manifest


def test_the_bytes_are_reproducible(live: Live, licensed: tuple[License, str]) -> None:
    license, token = licensed
    first = dispatch.build_dispatch_package(license, live.course, "scorm2004", token=token)
    again = dispatch.build_dispatch_package(license, live.course, "scorm2004", token=token)
    assert first == again
    infos = zipfile.ZipFile(io.BytesIO(first)).infolist()
    assert {i.date_time for i in infos} == {infos[0].date_time}


def test_the_launcher_page_cannot_be_broken_out_of(live: Live,
                                                   licensed: tuple[License, str]) -> None:
    license, _ = licensed
    files = unzip(dispatch.build_dispatch_package(
        license, live.course, "scorm12", token="</script><script>alert(1)</script>"))
    assert b"<script>alert" not in files["launcher.html"]
    assert launch_config(files)["token"] == "</script><script>alert(1)</script>"


# --- the download endpoint -------------------------------------------------------------


def url(license: License, fmt: str = "scorm12", course: int | None = None) -> str:
    query = f"?course={course}" if course is not None else ""
    return f"/api/v1/licenses/{license.pk}/dispatch/{fmt}{query}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_owner_downloads_a_package_with_a_fresh_token(
        people: People, live: Live, licensed: tuple[License, str], fmt: str) -> None:
    license, issued_token = licensed
    # when Alice downloads the package of the license's course
    response = client_for(people.alice).get(url(license, fmt, live.course.pk))
    # then it is a zip with a freshly minted token of that license
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == (
        f'attachment; filename="dispatch-{fmt}-course-{live.course.pk}-license-'
        f'{license.pk}.zip"')
    config = launch_config(unzip(response.content))
    assert config["token"] != issued_token
    from coursewright.delivery.licenses import read_token

    assert read_token(config["token"]).license_uid == license.uid
    # and the download is in the audit log (the token mint too)
    actions = list(AuditEvent.objects.filter(object_type="license", object_id=str(license.pk))
                   .values_list("action", flat=True))
    assert "license.dispatch_downloaded" in actions
    assert "license.token_minted" in actions


def test_the_course_may_be_left_out_when_the_license_has_one(
        people: People, live: Live, licensed: tuple[License, str]) -> None:
    license, _ = licensed
    response = client_for(people.alice).get(url(license, "scorm2004"))
    assert response.status_code == 200
    assert launch_config(unzip(response.content))["course"] == str(live.course.uid)


def test_a_course_not_on_the_license_is_a_404(people: People, live: Live,
                                              licensed: tuple[License, str]) -> None:
    license, _ = licensed
    other = deployed_course(people.acme, people.bob, title="Other course")
    response = client_for(people.alice).get(url(license, "scorm12", other.course.pk))
    assert response.status_code == 404
    # and with two courses, the course must be named
    two, _ = issue(people, [live.course, other.course])
    response = client_for(people.alice).get(url(two, "scorm12"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "course_required"


def test_authors_and_api_keys_cannot_download(people: People, live: Live,
                                              licensed: tuple[License, str]) -> None:
    license, _ = licensed
    assert client_for(people.bob).get(url(license, course=live.course.pk)).status_code == 403
    by_key = key_client(people.acme_key).get(url(license, course=live.course.pk))
    assert by_key.status_code == 403
    assert by_key.json()["error"]["code"] == "person_required"


def test_another_org_sees_nothing(people: People, live: Live,
                                  licensed: tuple[License, str]) -> None:
    license, _ = licensed
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        assert client.get(url(license, course=live.course.pk)).status_code == 404


def test_a_revoked_license_has_no_package(people: People, live: Live,
                                          licensed: tuple[License, str]) -> None:
    from coursewright.audit.actor import Actor
    from coursewright.delivery.licenses import revoke_license

    license, _ = licensed
    revoke_license(license, actor=Actor.person(people.alice))
    response = client_for(people.alice).get(url(license, course=live.course.pk))
    assert response.status_code == 409


# --- the relay in the course page ------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_relayed_launch_gets_the_scorm_player_and_the_shim(
        live: Live, licensed: tuple[License, str], fmt: str) -> None:
    _, token = licensed
    launched = Client().post("/launch/v1", data=json.dumps(
        {"token": token, "course": str(live.course.uid), "learner": "u-1"}),
        content_type="application/json", headers={"Origin": ORIGIN})
    path = launched.json()["launch"]["entry"].removeprefix(settings.BASE_URL)
    page = Client().get(f"{path}?relay={fmt}").content.decode()
    shim = f'<script src="/launch/v1/relay.js" defer data-origins="{ORIGIN}"></script>'
    # relay.js first, then the content URL renewal, then the player (a signed URL)
    assert re.search(re.escape(shim) + r'\n<script src="/launch/v1/content\.js" [^>]*>'
                     r'</script>\n<script src="http[^"]+\.js\?[^"]+" defer></script>', page)
    assert f'"format":"{fmt}"' in page.replace(" ", "")
    # without (or with an unknown) relay, the plain page as before
    for plain in (path, f"{path}?relay=aicc"):
        body = Client().get(plain).content.decode()
        assert "relay.js" not in body
        assert '"format":"html"' in body.replace(" ", "")
    served = Client().get("/launch/v1/relay.js")
    assert served.status_code == 200
    assert served["Content-Type"] == "text/javascript"
    assert b"API_1484_11" in served.content
