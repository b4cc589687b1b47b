"""Deleting an organisation never deletes or alters its audit entries: what is left is
ids, action names and hashes, the payload is unreadable once the organisation's key is
destroyed, and the chain still verifies."""

from __future__ import annotations

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.audit.browse import event_record
from coursewright.audit.chain import UNREADABLE_DESTROYED
from coursewright.audit.checkpoints import make_checkpoint
from coursewright.audit.models import AuditEvent
from coursewright.audit.verify import verify_chain
from coursewright.orgs.models import Organisation
from coursewright.privacy.keys import forget_cached, keyring
from tests.conftest import People


def _snapshot(org_id: int) -> list[tuple[object, ...]]:
    return list(AuditEvent.objects.filter(org_id=org_id).order_by("seq").values_list(
        "seq", "uid", "action", "object_id", "actor_user_id", "actor_api_key_id",
        "payload", "entry_hash"))


def test_deleting_the_org_and_its_key_leaves_ids_and_hashes(people: People) -> None:
    # given Acme's entries, one with data in its payload, and a checkpoint
    acme_id, key_id = people.acme.pk, str(people.acme.key_id)
    record_event(org=people.acme, actor=Actor.person(people.alice), action="course.renamed",
                 object_type="course", object_id=7, before={"title": "Phishing 101"},
                 after={"title": "Phishing 102"})
    make_checkpoint()
    before = _snapshot(acme_id)

    # when the organisation is deleted (its keys and members' rows with it)
    Organisation.objects.get(pk=acme_id).delete()

    # then its audit rows are all still there, unchanged, and still readable
    assert _snapshot(acme_id) == before
    renamed = AuditEvent.objects.get(org_id=acme_id, action="course.renamed")
    assert renamed.after == {"title": "Phishing 102"}

    # and once its key is destroyed, only ids, actions and hashes are left
    keyring().destroy(key_id, reason="organisation deleted")
    forget_cached(key_id)  # as privacy.deletion does; other processes forget within a minute
    renamed = AuditEvent.objects.get(pk=renamed.pk)
    assert renamed.payload_data == UNREADABLE_DESTROYED
    assert renamed.actor_label == UNREADABLE_DESTROYED
    assert (renamed.before, renamed.after) == ({}, {})
    record = event_record(renamed)
    assert record["payload_readable"] is False
    assert "Phishing" not in str(record)
    assert verify_chain().ok, verify_chain().summary()


def test_the_privacy_deletion_keeps_the_chain(people: People) -> None:
    from coursewright.privacy.deletion import delete_organisation

    acme_id = people.acme.pk
    count = AuditEvent.objects.filter(org_id=acme_id).count()
    delete_organisation(people.acme, actor=Actor.person(people.alice), confirm="acme")

    assert AuditEvent.objects.filter(org_id=acme_id).count() == count
    assert all(not e.payload_readable for e in AuditEvent.objects.filter(org_id=acme_id))
    assert AuditEvent.objects.filter(action="deletion.organisation").exists()
    assert verify_chain().ok, verify_chain().summary()
    assert make_checkpoint() is not None
