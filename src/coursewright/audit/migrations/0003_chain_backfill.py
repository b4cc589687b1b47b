"""Chain the rows written before the audit log was a hash chain, in id order: give each a
seq and uid, seal its actor label and before/after state under its organisation's key
(or keep them in clear JSON when it has none), and hash it. Reversible: going back puts
the payloads into the old columns again."""

import uuid

from django.db import migrations

from coursewright.audit.chain import (
    GENESIS,
    canonical_payload,
    compute_entry_hash,
    payload_where,
)


def forwards(apps, schema_editor):
    from coursewright.privacy.crypto import seal
    from coursewright.privacy.keys import KeyDestroyed

    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    Organisation = apps.get_model("orgs", "Organisation")
    key_ids = {pk: str(key_id) for pk, key_id in Organisation.objects.values_list("pk", "key_id")}
    seq, prev = 0, GENESIS
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=1000):
        seq += 1
        event.seq, event.uid, event.prev_hash = seq, uuid.uuid4(), prev
        plain = canonical_payload({"actor": event.actor_label, "before": event.before or {},
                                   "after": event.after or {}})
        event.key_id = key_ids.get(event.org_id, "") if event.org_id else ""
        if event.key_id:
            try:
                event.payload = seal(event.key_id, plain, where=payload_where(event.uid))
            except KeyDestroyed:
                event.payload = b""  # the organisation's data is gone for good
        else:
            event.payload = plain
        event.entry_hash = compute_entry_hash(event)
        event.save(update_fields=["seq", "uid", "prev_hash", "key_id", "payload", "entry_hash"])
        prev = event.entry_hash
    AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": seq, "entry_hash": prev})


def backwards(apps, schema_editor):
    from coursewright.audit.chain import read_payload

    AuditEvent = apps.get_model("audit", "AuditEvent")
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=1000):
        data = read_payload(event)
        if not isinstance(data, dict):
            data = {"actor": data}
        event.actor_label = str(data.get("actor", ""))[:254]
        event.before = data.get("before") or {}
        event.after = data.get("after") or {}
        event.save(update_fields=["actor_label", "before", "after"])
    apps.get_model("audit", "AuditChainHead").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_chain_columns'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
