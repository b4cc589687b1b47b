"""LTI records under the privacy rules: the organisation's export and deletion, one
learner's export and deletion (by the platform's ``sub``), retention, and the expiry of
login states, used nonces and the sealed ``sub``."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.delivery.models import LaunchEvent, LaunchSession
from coursewright.lti.models import (
    GradeState,
    LoginState,
    LtiLaunch,
    PlatformRegistration,
    UsedNonce,
)
from coursewright.lti.privacy import expire_records
from coursewright.privacy import retention
from coursewright.privacy.deletion import delete_organisation
from coursewright.privacy.export import export_organisation
from coursewright.privacy.learners import delete_learner, export_learner
from tests.conftest import People
from tests.lti.support import (
    AGS,
    SCORE_SCOPE,
    Setup,
    StubPlatform,
    launch,
    login,
    register,
    stub_platform,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = True


@pytest.fixture
def platform() -> Iterator[StubPlatform]:
    with stub_platform() as stub:
        yield stub


@pytest.fixture
def launched(people: People, platform: StubPlatform) -> Setup:
    setup = register(people, platform)
    client = Client()
    state, nonce = login(client, setup)
    token = platform.id_token(nonce=nonce, course=setup.course, **{AGS: {
        "scope": [SCORE_SCOPE], "lineitem": f"{platform.url}/lineitems/1"}})
    assert launch(client, setup, token, state).status_code == 200
    return setup


def test_the_organisation_export_has_registrations_and_launches_but_no_sub(
        launched: Setup, people: People) -> None:
    archive = zipfile.ZipFile(io.BytesIO(export_organisation(people.acme,
                                                             actor=Actor.system())))
    text = b"".join(archive.read(n) for n in archive.namelist()).decode()
    assert "lms-user-7" not in text  # the sealed sub never leaves
    data = next(json.loads(archive.read(n)) for n in archive.namelist()
                if n.endswith(".json") and b'"lti"' in archive.read(n))
    assert [r["issuer"] for r in data["lti"]["lti_registrations"]] == [
        launched.platform.issuer]
    assert len(data["lti"]["lti_launches"]) == 1
    assert data["counts"]["lti_registrations"] == 1


def test_a_learner_is_exported_and_deleted_by_their_sub(launched: Setup,
                                                        people: People) -> None:
    exported = export_learner(people.acme, "lms-user-7", actor=Actor.system())
    assert len(exported["lti"]["launch_events"]) == 1
    assert len(exported["lti"]["lti_launches"]) == 1
    receipt = delete_learner(people.acme, "lms-user-7", actor=Actor.system())
    assert receipt.counts["lti_launches"] == 1
    assert receipt.counts["launch_events"] == 1
    assert not LtiLaunch.objects.exists()
    assert not LaunchSession.objects.exists()
    assert not LaunchEvent.objects.filter(learner__gt="").exists()


def test_organisation_deletion_removes_everything_lti(launched: Setup,
                                                      people: People) -> None:
    receipt = delete_organisation(people.acme, actor=Actor.person(people.alice),
                                  confirm="acme")
    assert receipt.counts["lti_registrations"] == 1
    assert receipt.counts["lti_launches"] == 1
    assert not PlatformRegistration.objects.exists()
    assert not LtiLaunch.objects.exists()
    assert not LoginState.objects.exists()
    assert not UsedNonce.objects.exists()


def test_launch_log_retention_purges_lti_launches(launched: Setup, people: People) -> None:
    retention.set_retention(people.acme, {"launch_logs": 30},
                            actor=Actor.person(people.alice))
    LtiLaunch.objects.update(created_at=timezone.now() - timedelta(days=31))
    retention.purge_org(people.acme)
    assert not LtiLaunch.objects.exists()


def test_expiry_clears_states_nonces_and_the_sub_when_settled(launched: Setup) -> None:
    later = timezone.now() + timedelta(days=1)
    # the grade is still pending: the sub stays
    LtiLaunch.objects.update(grade_state=GradeState.PENDING)
    LaunchSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    report = expire_records(later)
    assert report["login_states"] == 1
    assert report["used_nonces"] == 1
    assert LtiLaunch.objects.get().subject == "lms-user-7"
    # settled: forgotten
    LtiLaunch.objects.update(grade_state=GradeState.SENT)
    assert expire_records(later)["subjects_forgotten"] == 1
    assert LtiLaunch.objects.get().subject is None
