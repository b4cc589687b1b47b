"""cmi5 and xAPI packages through the API: an approved version only, one AU per module
on request, and nothing for another organisation."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent
from tests.cmi5.helpers import live_course
from tests.conftest import People

pytestmark = pytest.mark.django_db


def _names(data: bytes) -> set[str]:
    return set(zipfile.ZipFile(io.BytesIO(data)).namelist())


def test_an_approved_version_exports_as_cmi5_and_xapi(people: People,
                                                      acme_api: Client) -> None:
    live = live_course(people)
    vid = live.version.pk
    cmi5 = acme_api.get(f"/api/v1/versions/{vid}/export/cmi5")
    assert cmi5.status_code == 200, cmi5.content
    assert {"cmi5.xml", "CourseStructure.xsd", "index.html"} <= _names(cmi5.content)
    assert b"<url>index.html</url>" in zipfile.ZipFile(io.BytesIO(cmi5.content)).read(
        "cmi5.xml")
    modules = acme_api.get(f"/api/v1/versions/{vid}/export/cmi5?aus=module")
    assert modules.status_code == 200
    structure = zipfile.ZipFile(io.BytesIO(modules.content)).read("cmi5.xml")
    assert structure.count(b"<au ") == 2
    assert b"index.html?module=s2" in structure
    assert "cmi5-modules" in modules["Content-Disposition"]
    xapi = acme_api.get(f"/api/v1/versions/{vid}/export/xapi")
    assert xapi.status_code == 200
    assert "tincan.xml" in _names(xapi.content)
    assert AuditEvent.objects.filter(action="export.built").exists()


def test_an_unapproved_version_is_not_exported(people: People, acme_api: Client) -> None:
    from coursewright.audit.actor import Actor
    from coursewright.courses import actions as course_actions
    from tests.cmi5.helpers import two_question_course

    draft = course_actions.create_course(people.acme, content=two_question_course(),
                                         actor=Actor.person(people.bob))
    for fmt in ("cmi5", "xapi"):
        assert acme_api.get(f"/api/v1/versions/{draft.pk}/export/{fmt}").status_code == 409


def test_it_rejects_other_org(people: People, globex_api: Client) -> None:
    live = live_course(people)
    for path in ("cmi5", "cmi5?aus=module", "xapi"):
        response = globex_api.get(f"/api/v1/versions/{live.version.pk}/export/{path}")
        assert response.status_code == 404
