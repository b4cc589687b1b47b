"""The LRS's learner records under the privacy rules: one learner's rows (export,
deletion), the retention purge, and the organisation export.

Design note
-----------
- **Finding a learner.** Launches from our packages and dispatch name a learner by an
  account whose name is the per-license pseudonym (``delivery.licenses.hash_learner``)
  and whose homePage is ``tracking.agents.learner_home_page()``. Given the pseudonyms of
  one learner (``privacy.learners`` computes them from the LMS's id), their statements
  are those whose actor, object or any related agent (instructor, team, context agents,
  a sub-statement's agents) hashes to one of those accounts, and their documents those
  whose agent does. Statements from third parties naming people by mbox can only be
  found by that mbox (or its pseudonym, when the organisation pseudonymises): they are
  not linked to the LMS id.
- **What is deleted** is the rows (statement, its index rows, attachment links) and the
  documents; an attachment file goes when no remaining statement of the organisation
  references it (after the transaction commits). Statements of other learners that
  merely refer to a deleted one (a StatementRef, a voiding statement) stay.
- **Retention** purges statements stored, and documents last written, before the
  learner-records cutoff, in batches, then the attachments nothing references any more.
- Every function here works on one organisation's rows only and writes no audit row:
  the caller (``privacy.learners`` / ``privacy.retention`` / ``privacy.export``)
  writes the receipt.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q, QuerySet

from coursewright.tracking.agents import AgentKeys, learner_account
from coursewright.tracking.models import (
    Activity,
    Attachment,
    Document,
    ForwardTarget,
    Statement,
    StatementActivity,
    StatementAgent,
    StatementAttachment,
    XapiCredential,
)

if TYPE_CHECKING:
    from coursewright.orgs.models import Organisation

BATCH = 5000


def learner_agent_hashes(org: Organisation, pseudonyms: Iterable[str]) -> list[str]:
    keys = AgentKeys(str(org.key_id))
    return sorted({keys.hash(learner_account(p)) for p in pseudonyms})


def learner_statements(org: Organisation, pseudonyms: Iterable[str]) -> QuerySet[Statement]:
    hashes = learner_agent_hashes(org, pseudonyms)
    related = StatementAgent.objects.filter(agent__in=hashes).values("statement_id")
    return Statement.objects.filter(
        Q(actor__in=hashes) | Q(object_agent__in=hashes) | Q(pk__in=related), org=org)


def learner_documents(org: Organisation, pseudonyms: Iterable[str]) -> QuerySet[Document]:
    return Document.objects.filter(org=org, agent__in=learner_agent_hashes(org, pseudonyms))


def _statement_rows(org: Organisation, rows: Iterable[Statement]) -> Iterator[dict[str, Any]]:
    from coursewright.tracking.statements import open_statement

    key_id = str(org.key_id)
    for row in rows:
        yield {"statement": open_statement(key_id, row),
               "credential_id": row.credential_id, "license_id": row.license_id}


def _document_rows(org: Organisation, rows: Iterable[Document]) -> Iterator[dict[str, Any]]:
    from coursewright.privacy.crypto import unseal

    key_id = str(org.key_id)
    for row in rows:
        body = unseal(key_id, bytes(row.content), where=f"tracking_document.content:"
                                                         f"{row.location}")
        yield {"kind": row.kind, "id": row.document_id, "license_id": row.license_id,
               "registration": str(row.registration) if row.registration else None,
               "content_type": row.content_type, "etag": row.etag,
               "updated": row.updated.isoformat(),
               "content": body.decode("utf-8", errors="replace")}


def learner_export(org: Organisation, pseudonyms: Iterable[str]) -> dict[str, Any]:
    """The learner's statements and documents, decrypted (for ``export_learner``)."""
    pseudonyms = list(pseudonyms)
    return {
        "xapi_statements": list(_statement_rows(
            org, learner_statements(org, pseudonyms).order_by("stored", "pk"))),
        "xapi_documents": list(_document_rows(
            org, learner_documents(org, pseudonyms).order_by("updated", "pk"))),
    }


def _delete_statements(org: Organisation, rows: QuerySet[Statement]) -> int:
    deleted = 0
    while True:
        pks = list(rows.values_list("pk", flat=True)[:BATCH])
        if not pks:
            return deleted
        StatementActivity.objects.filter(statement_id__in=pks).delete()
        StatementAgent.objects.filter(statement_id__in=pks).delete()
        StatementAttachment.objects.filter(statement_id__in=pks).delete()
        count, _ = Statement.objects.filter(org=org, pk__in=pks).delete()
        deleted += count


def _drop_unreferenced_attachments(org: Organisation) -> int:
    from coursewright.storage import delete_quietly

    linked = StatementAttachment.objects.filter(org=org).values("sha2")
    orphans = list(Attachment.objects.filter(org=org).exclude(sha2__in=linked))
    for attachment in orphans:
        transaction.on_commit(lambda path=attachment.path: delete_quietly(path))  # type: ignore[misc]
    Attachment.objects.filter(pk__in=[a.pk for a in orphans]).delete()
    return len(orphans)


def delete_learner_records(org: Organisation, pseudonyms: Iterable[str]) -> dict[str, int]:
    """Delete one learner's statements and documents; counts by kind. Call inside the
    caller's transaction (it writes the receipt)."""
    pseudonyms = list(pseudonyms)
    statements = _delete_statements(org, learner_statements(org, pseudonyms))
    documents, _ = learner_documents(org, pseudonyms).delete()
    attachments = _drop_unreferenced_attachments(org)
    return {"xapi_statements": statements, "xapi_documents": documents,
            "xapi_attachments": attachments}


def purge_learner_records(org: Organisation, cutoff: datetime) -> int:
    """The learner-records retention rule for the LRS: statements stored and documents
    last written before ``cutoff``, and attachments no statement references any more."""
    with transaction.atomic():
        statements = _delete_statements(org, Statement.objects.filter(
            org=org, stored__lt=cutoff))
        documents, _ = Document.objects.filter(org=org, updated__lt=cutoff).delete()
        attachments = _drop_unreferenced_attachments(org)
    return statements + documents + attachments


def delete_org_records(org: Organisation) -> dict[str, int]:
    """Every LRS row of the organisation, deleted table by table with one DELETE each
    (the ingestion tables have no database-level foreign keys, so nothing cascades and
    nothing is loaded into memory: a million statements go in seconds, where the ORM's
    cascade from ``Organisation.delete()`` would fetch every row id first). Attachment
    files live under the organisation's storage folder and go with it. Call inside the
    organisation deletion's transaction, before ``org.delete()``."""
    from django.db import connection

    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        for name, sql in (
                ("xapi_statement_activities",
                 "DELETE FROM tracking_statementactivity WHERE statement_id IN "
                 "(SELECT id FROM tracking_statement WHERE org_id = %s)"),
                ("xapi_statement_agents",
                 "DELETE FROM tracking_statementagent WHERE statement_id IN "
                 "(SELECT id FROM tracking_statement WHERE org_id = %s)"),
                ("xapi_statement_attachments",
                 "DELETE FROM tracking_statementattachment WHERE org_id = %s"),
                ("xapi_statements", "DELETE FROM tracking_statement WHERE org_id = %s"),
                ("xapi_documents", "DELETE FROM tracking_document WHERE org_id = %s"),
                ("xapi_activities", "DELETE FROM tracking_activity WHERE org_id = %s"),
                ("xapi_attachments", "DELETE FROM tracking_attachment WHERE org_id = %s"),
                ("xapi_forwarding_targets",
                 "DELETE FROM tracking_forwardtarget WHERE org_id = %s")):
            cursor.execute(sql, [org.pk])
            counts[name] = cursor.rowcount
    return counts


def org_export(org: Organisation) -> dict[str, Any]:
    """The organisation's LRS data for its data export: statements and documents
    decrypted, canonical activities, the credentials' names and scopes (never their
    secret hashes), and the forwarding targets (never their credentials)."""
    import json

    from coursewright.privacy.crypto import unseal

    key_id = str(org.key_id)
    activities = []
    for row in Activity.objects.filter(org=org).order_by("pk"):
        activities.append(json.loads(unseal(key_id, bytes(row.data),
                                            where=f"tracking_activity.data:{org.pk}:"
                                                  f"{row.iri}")))
    return {
        "xapi_statements": list(_statement_rows(
            org, Statement.objects.filter(org=org).order_by("stored", "pk").iterator(
                chunk_size=1000))),
        "xapi_documents": list(_document_rows(
            org, Document.objects.filter(org=org).order_by("pk").iterator(chunk_size=1000))),
        "xapi_activities": activities,
        "xapi_credentials": [
            {"id": c.pk, "name": c.name, "key": c.key, "scopes": c.scopes,
             "license_id": c.license_id, "created_at": c.created_at.isoformat(),
             "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None}
            for c in XapiCredential.objects.filter(org=org).order_by("pk")],
        # where statements are forwarded, and how far: never the credentials
        "xapi_forwarding_targets": [_forward_target_row(t) for t in
                                    ForwardTarget.objects.filter(org=org).order_by("pk")],
    }


def _forward_target_row(target: ForwardTarget) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {"id": target.pk, "name": target.name, "url": target.url, "auth": target.auth,
            "xapi_version": target.xapi_version, "verbs": target.verbs,
            "only_licensed": target.only_licensed, "state": target.state,
            "delivered": target.delivered, "already_present": target.already_present,
            "last_success_at": iso(target.last_success_at),
            "last_error": target.last_error, "created_at": iso(target.created_at)}
