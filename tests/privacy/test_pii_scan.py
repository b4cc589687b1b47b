"""The learner-PII scan the launch tests end with finds what it looks for: in a raw
column, and in a value sealed under the organisation's key (through the export)."""

from __future__ import annotations

from coursewright.delivery.models import PlayerError
from tests.conftest import People
from tests.delivery.test_logs_fixtures import make_logs
from tests.support.pii_scan import learner_pii_hits


def test_the_scan_finds_a_raw_value_and_a_sealed_one(people: People) -> None:
    logs = make_logs(people)
    org = logs.live.course.org
    assert learner_pii_hits(org, ["ada.lovelace@lms.example"]) == []
    # a plain column
    logs.session.learner = "ada.lovelace@lms.example"
    logs.session.save(update_fields=["learner"])
    raw = learner_pii_hits(org, ["ADA.Lovelace@lms.example"])
    assert any(hit.startswith("delivery_launchsession.learner") for hit in raw)
    logs.session.learner = "0" * 64
    logs.session.save(update_fields=["learner"])
    # a sealed one: only the decrypted pass can see it
    error = PlayerError.objects.get(pk=logs.script_error.pk)
    error.message = "Lovelace, Ada said hello"
    error.save(update_fields=["message"])
    sealed = learner_pii_hits(org, ["Lovelace, Ada"])
    assert sealed
    assert all(hit.startswith("export ") for hit in sealed)
