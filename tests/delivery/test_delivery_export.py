"""The organisation export carries licenses (never their learner salt) and launch events
(learners only as the per-license hash)."""

from __future__ import annotations

import io
import json
import zipfile

from django.test import Client

from coursewright.delivery import gatekeeper
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import deployed_course, issue


def test_licenses_and_launches_are_exported_without_salts_or_raw_ids(people: People) -> None:
    live = deployed_course(people.acme, people.bob)
    license_, token = issue(people, [live.course], name="Client LMS")
    gatekeeper.launch(token, course_uid=str(live.course.uid), learner_id="lms-user-4711",
                      origin="")
    response = Client(headers={"Authorization": f"Bearer {people.acme_key}"}).get(
        "/api/v1/organisations/acme/export")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    data = json.loads(archive.read("organisation.json"))
    [exported] = data["licenses"]
    assert exported["uid"] == str(license_.uid)
    assert exported["courses"] == [live.course.pk]
    assert "learner_salt" not in exported
    [event] = data["launch_events"]
    assert event["outcome"] == "launched"
    assert event["learner"]
    assert event["learner"] != "lms-user-4711"
    whole = b"".join(archive.read(n) for n in archive.namelist())
    assert b"lms-user-4711" not in whole
    assert license_.learner_salt.encode() not in whole
    assert token.encode() not in whole
    assert data["counts"]["licenses"] == 1
