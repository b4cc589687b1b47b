"""Forwarding an organisation's statements to an external LRS.

Design note
-----------
- **Ingestion never waits for forwarding.** The LRS's store path is untouched: no
  queue row, no flag, no extra write, no lookup per statement. A target keeps a cursor
  into the organisation's statements and a job (every minute, and at once after
  "retry now" or "resume") reads what follows the cursor. Whether the receiver is
  down, slow or refusing, the LRS answers its clients as before.
- **The cursor** is the last forwarded statement in ``(stored, id)`` order — the order
  of the LRS's own index ``(org, stored, id)``, so the next batch is an index range
  scan. ``stored`` is stamped before a write commits, so a write still in flight could
  be overtaken: a statement is only forwarded once it is ``XAPI_FORWARD_SETTLE_SECONDS``
  old (10 s by default), and statements that still commit behind the cursor (a request
  slower than that, e.g. uploading a large attachment) are found as *late rows*: their
  row id is higher than any row forwarded so far (``max_forwarded_id``), because ids
  are drawn at INSERT time (and stored at most an hour before the cursor: no request
  takes that long). Late rows are forwarded first, in id order. What this does not
  catch: on PostgreSQL, a write that drew its row id *before* a statement that was
  forwarded and commits after that forwarding read (its database transaction spanning
  that moment — milliseconds); on SQLite ids follow commit order and nothing is missed.
- **At-least-once.** The cursor moves only after the receiver accepted a batch (2xx).
  A batch that reached the receiver but whose answer was lost is sent again; receivers
  recognise statements by id (xAPI: a statement id already stored is not stored again).
- **What counts as delivered.** 2xx. A 409 means the receiver already holds a statement
  with one of the ids (xAPI lets an LRS answer 409 or 204 to a repeated id, and a 409
  refuses the *whole* batch): so a batch answered 409 — or refused with any other 4xx
  — is sent again one statement at a time, in order. A single statement answered 409
  is counted as delivered (``already_present``): the receiver holds that id and never
  changes a stored statement, so sending it again cannot help.
- **Failures back off; refusals stop.** No answer, an address the guard refuses, a
  3xx (redirects are not followed: a forwarded batch must not be replayed to another
  address), 408, 429 or 5xx: the error is recorded and the target waits
  30 s · 2^(failures-1), capped at one hour, with jitter (between half and all of it),
  or the receiver's ``Retry-After`` if longer. Any other 4xx for a single statement:
  the receiver refuses that statement, so the target stops (state ``rejected``, the
  statement id and the receiver's answer kept, audited) instead of retrying forever or
  skipping it silently. A person resumes it (optionally skipping that one statement,
  audited) after fixing the receiver or the target.
- **One worker per target.** A worker claims a target with a conditional update (a
  lease of five minutes, renewed after every batch) and every write of the cursor is
  conditional on holding the lease (and on the target still forwarding); a second
  worker finds the target leased and leaves it. A worker whose lease expired (it
  stalled), or whose target was paused or deleted meanwhile, loses its next write and
  stops; the batch it had sent goes again later (at least once).
- **Through the outbound guard.** Every request goes through ``coursewright.netguard``:
  the URL is checked (syntax and addresses) when a target is saved and again at every
  send (DNS answers change), and redirects come back as failures. Sending, back-off,
  scrubbing and the lease are shared with webhooks (``coursewright.outbound``).
- **Secrets.** The URL and the credentials are sealed under the organisation's key;
  the API never returns credentials, audit rows never hold them, and error texts never
  include them (a receiver's answer is kept sealed, with our credentials blanked out).
- **What is sent.** The statements exactly as the LRS stores them (with the stored,
  authority and version it set), voiding statements included (they are forwarded even
  when a verb filter would leave them out, so a forwarded statement's voiding follows
  it), as a JSON array of at most 100 statements per POST to ``<endpoint>/statements``
  with the target's ``X-Experience-API-Version``. Statements with attachments whose bytes
  the LRS holds go as multipart/mixed with those bytes (at most 8 MiB of attachments per
  POST, at least one statement).
- **Not recalled.** Forwarded statements are the receiver's copy: deleting a learner's
  records or purging by retention here does not reach them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from coursewright import outbound
from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.errors import Conflict, Invalid
from coursewright.privacy.fields import seal_for
from coursewright.tracking.models import (
    Attachment,
    ForwardAuth,
    ForwardState,
    ForwardTarget,
    Statement,
)
from coursewright.tracking.validation import is_iri

if TYPE_CHECKING:
    from coursewright.orgs.models import Organisation

logger = logging.getLogger(__name__)

MAX_TARGETS = 5
MAX_VERBS = 50
BATCH = 100
MAX_ATTACHMENT_BYTES = 8 * 1024 * 1024
LEASE = timedelta(minutes=5)
LATE_WINDOW = timedelta(hours=1)  # longer than any request may take to store
RUN_SECONDS = 50.0  # a run hands over to the next one after this long
TIMEOUT = 15.0
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0
BACKLOG_CAP = 10_000
DETAIL_CHARS = 1000
VERSIONS = ("1.0.3", "2.0.0")
USER_AGENT = "coursewright-forwarder/1"


# --- targets: checking and saving (one action per change, each audited) ----------------


def statements_url(url: str) -> str:
    """The receiver's statements resource: the endpoint given, with ``statements``
    appended unless the URL already names it."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if not path.rstrip("/").endswith("/statements"):
        path = path.rstrip("/") + "/statements"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _clean_text(value: Any, what: str, *, maximum: int, allow_colon: bool = True) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid(f"give the {what}", code="bad_credentials")
    if len(value) > maximum:
        raise Invalid(f"the {what} is longer than {maximum} characters",
                      code="bad_credentials")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Invalid(f"the {what} may not contain control characters",
                      code="bad_credentials")
    if not allow_colon and ":" in value:
        raise Invalid(f"the {what} may not contain ':' (HTTP Basic separates key and "
                      "secret with it)", code="bad_credentials")
    return value


def _credentials(auth: str, key: str | None, secret: str | None,
                 token: str | None) -> dict[str, str] | None:
    if auth == ForwardAuth.NONE:
        if key or secret or token:
            raise Invalid("credentials were given but auth is 'none'; say 'basic' or "
                          "'bearer'", code="bad_credentials")
        return None
    if auth == ForwardAuth.BASIC:
        if token:
            raise Invalid("HTTP Basic takes a key and a secret, not a token",
                          code="bad_credentials")
        return {"key": _clean_text(key, "key", maximum=255, allow_colon=False),
                "secret": _clean_text(secret, "secret", maximum=500)}
    if auth == ForwardAuth.BEARER:
        if key or secret:
            raise Invalid("a bearer token is given as 'token', without key or secret",
                          code="bad_credentials")
        value = _clean_text(token, "token", maximum=4000)
        if any(c.isspace() for c in value) or not value.isascii():
            raise Invalid("the token may only hold printable ASCII without spaces",
                          code="bad_credentials")
        return {"token": value}
    raise Invalid("auth must be 'none', 'basic' or 'bearer'", code="bad_auth")


def _name(value: Any) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > 100:
        raise Invalid("give the target a name of 1 to 100 characters", code="bad_name")
    return name


def _version(value: Any) -> str:
    if value not in VERSIONS:
        raise Invalid(f"xapi_version must be one of {', '.join(VERSIONS)}",
                      code="bad_version")
    return str(value)


def _verbs(values: Any) -> list[str]:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise Invalid("verbs must be a list of verb IRIs", code="bad_verbs")
    verbs = list(dict.fromkeys(values))
    if len(verbs) > MAX_VERBS:
        raise Invalid(f"name at most {MAX_VERBS} verbs", code="bad_verbs")
    bad = [v for v in verbs if not is_iri(v) or len(v) > 2000]
    if bad:
        raise Invalid(f"not a verb IRI: {str(bad[0])[:100]!r}", code="bad_verbs")
    return [str(v) for v in verbs]


def describe(target: ForwardTarget) -> dict[str, Any]:
    """What an audit row says about a target: never its credentials."""
    return {"name": target.name, "url": outbound.shown_url(target.url), "auth": target.auth,
            "xapi_version": target.xapi_version, "verbs": list(target.verbs),
            "only_licensed": target.only_licensed, "state": target.state}


def list_targets(org: Organisation) -> list[ForwardTarget]:
    return list(ForwardTarget.objects.filter(org=org).order_by("id"))


def create_target(org: Organisation, *, name: str, url: str, auth: str = ForwardAuth.NONE,
                  key: str | None = None, secret: str | None = None,
                  token: str | None = None, xapi_version: str = "1.0.3",
                  verbs: list[str] | None = None, only_licensed: bool = False,
                  enabled: bool = True, start: str = "now", actor: Actor) -> ForwardTarget:
    """A new target. ``start='now'`` forwards statements stored from now on,
    ``'beginning'`` the organisation's whole history as well."""
    if start not in ("now", "beginning"):
        raise Invalid("start must be 'now' or 'beginning'", code="bad_start")
    target = ForwardTarget(
        org=org, name=_name(name), url=outbound.vet_url(url), auth=auth,
        credentials=_credentials(auth, key, secret, token),
        xapi_version=_version(xapi_version), verbs=_verbs(verbs or []),
        only_licensed=bool(only_licensed),
        state=ForwardState.ACTIVE if enabled else ForwardState.PAUSED,
        created_by=actor.user if actor.is_person else None)
    if start == "now":
        # statements stamped before now but committed later are found as late rows
        target.cursor_stored = timezone.now()
        target.max_forwarded_id = Statement.objects.aggregate(m=Max("pk"))["m"] or 0
    from coursewright.orgs.models import Organisation

    with transaction.atomic():
        # the organisation's row serialises concurrent creations (the cap holds)
        Organisation.objects.select_for_update().filter(pk=org.pk).first()
        if ForwardTarget.objects.filter(org=org).count() >= MAX_TARGETS:
            raise Conflict(f"an organisation has at most {MAX_TARGETS} forwarding targets",
                           code="too_many_targets")
        if ForwardTarget.objects.filter(org=org, name=target.name).exists():
            raise Conflict(f"there is already a target named {target.name!r}",
                           code="name_taken")
        try:
            with transaction.atomic():
                target.save()
        except IntegrityError:
            raise Conflict(f"there is already a target named {target.name!r}",
                           code="name_taken") from None
        record_event(org=org, actor=actor, action="xapi_forwarding.created",
                     object_type="xapi_forward_target", object_id=target.pk,
                     after={**describe(target), "start": start})
    return target


_UNSET: Any = object()


def update_target(target: ForwardTarget, *, actor: Actor, name: Any = _UNSET,
                  url: Any = _UNSET, auth: Any = _UNSET, key: str | None = None,
                  secret: str | None = None, token: str | None = None,
                  xapi_version: Any = _UNSET, verbs: Any = _UNSET,
                  only_licensed: Any = _UNSET, enabled: Any = _UNSET) -> ForwardTarget:
    """Change a target's settings. Credentials change only together with ``auth``
    (given whole: key and secret, or token). ``enabled`` pauses or resumes it."""
    if auth is _UNSET and (key or secret or token):
        raise Invalid("say which auth the new credentials are for ('basic' or 'bearer')",
                      code="bad_credentials")
    changes: dict[str, Any] = {}
    if name is not _UNSET:
        changes["name"] = _name(name)
    if url is not _UNSET:
        changes["url"] = outbound.vet_url(url)
    if auth is not _UNSET:
        changes["credentials"] = _credentials(auth, key, secret, token)
        changes["auth"] = auth
    if xapi_version is not _UNSET:
        changes["xapi_version"] = _version(xapi_version)
    if verbs is not _UNSET:
        changes["verbs"] = _verbs(verbs)
    if only_licensed is not _UNSET:
        changes["only_licensed"] = bool(only_licensed)
    with transaction.atomic():
        current = ForwardTarget.objects.select_for_update().get(pk=target.pk)
        before = describe(current)
        if enabled is not _UNSET:
            if not enabled and current.state == ForwardState.ACTIVE:
                changes["state"] = ForwardState.PAUSED
            elif enabled and current.state != ForwardState.ACTIVE:
                changes.update(_resumed())
        if "name" in changes and ForwardTarget.objects.filter(
                org_id=current.org_id, name=changes["name"]).exclude(pk=current.pk).exists():
            raise Conflict(f"there is already a target named {changes['name']!r}",
                           code="name_taken")
        if {"url", "credentials", "xapi_version"} & set(changes):
            changes["next_attempt_at"] = None  # a fixed target is tried at once
        for attribute, value in changes.items():
            setattr(current, attribute, value)
        try:
            with transaction.atomic():
                current.save(update_fields=[*changes, "updated_at"])
        except IntegrityError:
            raise Conflict(f"there is already a target named {current.name!r}",
                           code="name_taken") from None
        after = describe(current)
        if "credentials" in changes:
            after["credentials_replaced"] = True
        record_event(org=current.org, actor=actor, action="xapi_forwarding.updated",
                     object_type="xapi_forward_target", object_id=current.pk,
                     before=before, after=after)
    _run_soon(current)
    return current


def delete_target(target: ForwardTarget, *, actor: Actor) -> None:
    with transaction.atomic():
        current = ForwardTarget.objects.select_for_update().get(pk=target.pk)
        before = {**describe(current), "delivered": current.delivered}
        pk, org = current.pk, current.org
        current.delete()
        record_event(org=org, actor=actor, action="xapi_forwarding.deleted",
                     object_type="xapi_forward_target", object_id=pk, before=before)


def pause_target(target: ForwardTarget, *, actor: Actor) -> ForwardTarget:
    with transaction.atomic():
        updated = ForwardTarget.objects.filter(pk=target.pk, state=ForwardState.ACTIVE
                                               ).update(state=ForwardState.PAUSED,
                                                        updated_at=timezone.now())
        if not updated:
            raise Conflict("the target is not forwarding (it is paused or stopped)",
                           code="not_active")
        current = ForwardTarget.objects.get(pk=target.pk)
        record_event(org=current.org, actor=actor, action="xapi_forwarding.paused",
                     object_type="xapi_forward_target", object_id=current.pk,
                     before={"state": ForwardState.ACTIVE}, after={"state": current.state})
    return current


def _resumed() -> dict[str, Any]:
    # the receiver's answer may quote the refused statement: not kept past the refusal
    return {"state": ForwardState.ACTIVE, "next_attempt_at": None, "failures": 0,
            "rejected_statement_id": None, "rejection_detail": None}


def resume_target(target: ForwardTarget, *, actor: Actor,
                  skip_rejected: bool = False) -> ForwardTarget:
    """Forward again. After a refusal the same statement is offered again, unless
    ``skip_rejected``: then that one statement is passed over (and the audit row names
    it)."""
    with transaction.atomic():
        current = ForwardTarget.objects.select_for_update().get(pk=target.pk)
        if current.state == ForwardState.ACTIVE:
            raise Conflict("the target is already forwarding", code="already_active")
        if skip_rejected and current.state != ForwardState.REJECTED:
            raise Conflict("no refused statement to skip: the target was paused, not "
                           "stopped by a refusal", code="nothing_to_skip")
        before = {"state": current.state}
        skipped = current.rejected_statement_id if skip_rejected else None
        if skipped is not None:
            row = (Statement.objects.filter(org_id=current.org_id, statement_id=skipped)
                   .only("pk", "stored").first())
            if row is not None:
                if _after_cursor(current, row.stored, row.pk):
                    current.cursor_stored, current.cursor_id = row.stored, row.pk
                current.max_forwarded_id = max(current.max_forwarded_id, row.pk)
        for attribute, value in _resumed().items():
            setattr(current, attribute, value)
        current.save(update_fields=["state", "next_attempt_at", "failures",
                                    "rejected_statement_id", "rejection_detail",
                                    "cursor_stored", "cursor_id", "max_forwarded_id",
                                    "updated_at"])
        record_event(org=current.org, actor=actor, action="xapi_forwarding.resumed",
                     object_type="xapi_forward_target", object_id=current.pk,
                     before=before,
                     after={"state": current.state,
                            "skipped_statement": str(skipped) if skipped else None})
    _run_soon(current)
    return current


def retry_now(target: ForwardTarget, *, actor: Actor) -> ForwardTarget:
    """Forget the back-off wait and forward at once (in a job)."""
    with transaction.atomic():
        current = ForwardTarget.objects.select_for_update().get(pk=target.pk)
        if current.state != ForwardState.ACTIVE:
            raise Conflict("the target is not forwarding: resume it first",
                           code="not_active")
        waiting_until = current.next_attempt_at
        current.next_attempt_at = None
        current.save(update_fields=["next_attempt_at", "updated_at"])
        record_event(org=current.org, actor=actor, action="xapi_forwarding.retried",
                     object_type="xapi_forward_target", object_id=current.pk,
                     before={"next_attempt_at": waiting_until.isoformat()
                             if waiting_until else None},
                     after={"next_attempt_at": None})
    _run_soon(current)
    return current


def _run_soon(target: ForwardTarget) -> None:
    if target.state != ForwardState.ACTIVE:
        return
    target_id = target.pk

    def enqueue() -> None:
        from coursewright.tracking.tasks import forward_target_task

        forward_target_task(target_id)

    transaction.on_commit(enqueue)


# --- the forwarder ----------------------------------------------------------------------


@dataclass
class Outcome:
    """How one POST went."""

    kind: str  # "delivered", "present" (409), "retry", "refused"
    status: int = 0
    error: str = ""
    detail: str = ""
    retry_after: float = 0.0


@dataclass
class RunReport:
    target_id: int
    claimed: bool = False
    delivered: int = 0
    already_present: int = 0
    result: str = "idle"  # idle, delivered, failed, rejected, busy, stopped
    error: str = ""


@dataclass
class _Run:
    target: ForwardTarget
    token: str
    clock: Callable[[], datetime]
    deadline: float
    key_id: str
    url: str
    headers: dict[str, str]
    hidden: list[str]  # credential values, blanked out of error texts
    report: RunReport
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


def settle() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "XAPI_FORWARD_SETTLE_SECONDS", 10)))


def due_targets(now: datetime | None = None) -> list[int]:
    """Targets that are forwarding, not waiting out a back-off, and not leased."""
    now = now or timezone.now()
    return list(ForwardTarget.objects.filter(state=ForwardState.ACTIVE).filter(
        outbound.due(now), outbound.unleased(now)).order_by("pk")
        .values_list("pk", flat=True))


def claim(target_id: int, now: datetime) -> str | None:
    """The lease token, or None when the target is not due or another worker has it."""
    return outbound.claim(
        ForwardTarget.objects.filter(pk=target_id, state=ForwardState.ACTIVE).filter(
            outbound.due(now)), now=now, lease=LEASE, last_attempt_at=now)


def _release(target_id: int, token: str) -> None:
    outbound.release(ForwardTarget.objects.filter(pk=target_id), token)


def forward_target(target_id: int, *, now: datetime | None = None) -> RunReport:
    """Forward what is due for one target, until it is caught up, a POST fails, the
    receiver refuses a statement, or the run's time is up."""
    start = now or timezone.now()
    started = time.monotonic()

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - started)

    report = RunReport(target_id)
    token = claim(target_id, start)
    if token is None:
        report.result = "busy"
        return report
    report.claimed = True
    try:
        target = ForwardTarget.objects.select_related("org").filter(pk=target_id).first()
        if target is None:  # deleted since the claim
            return report
        run = _Run(target=target, token=token, clock=clock,
                   deadline=started + RUN_SECONDS, key_id=str(target.org.key_id),
                   url=statements_url(target.url), headers=_headers(target),
                   hidden=_secret_values(target), report=report)
        try:
            _forward(run, horizon=start - settle())
        except Exception as exc:  # an internal fault: back off as after a failed POST
            logger.exception("forwarding target %s: internal error", target_id)
            _fail(run, Outcome("retry", error=f"internal error ({type(exc).__name__}); "
                                              "see the server log"))
        _update_backlog(run)
    finally:
        _release(target_id, token)
    return report


def _headers(target: ForwardTarget) -> dict[str, str]:
    import base64

    headers = {"X-Experience-API-Version": target.xapi_version, "User-Agent": USER_AGENT}
    credentials = target.credentials or {}
    if target.auth == ForwardAuth.BASIC and credentials:
        raw = f"{credentials['key']}:{credentials['secret']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    elif target.auth == ForwardAuth.BEARER and credentials:
        headers["Authorization"] = f"Bearer {credentials['token']}"
    return headers


def _secret_values(target: ForwardTarget) -> list[str]:
    values = [v for v in (target.credentials or {}).values() if isinstance(v, str)]
    authorization = _headers(target).get("Authorization", "")
    if authorization:
        values.append(authorization.split(" ", 1)[1])
    return [v for v in values if len(v) >= 4]


def _after_cursor(target: ForwardTarget, stored: datetime, pk: int) -> bool:
    return target.cursor_stored is None or (stored, pk) > (target.cursor_stored,
                                                           target.cursor_id)


def _selected(target: ForwardTarget) -> QuerySet[Statement]:
    rows = Statement.objects.filter(org_id=target.org_id)
    if target.verbs:
        from coursewright.tracking.statements import iri_digest

        rows = rows.filter(Q(verb__in=[iri_digest(v) for v in target.verbs])
                           | Q(voiding=True))
    if target.only_licensed:
        rows = rows.filter(license__isnull=False)
    return rows


def _behind_cursor(target: ForwardTarget) -> Q:
    assert target.cursor_stored is not None
    return (Q(stored__lt=target.cursor_stored)
            | Q(stored=target.cursor_stored, pk__lte=target.cursor_id))


def _ahead_of_cursor(target: ForwardTarget) -> Q:
    if target.cursor_stored is None:
        return Q()
    return (Q(stored__gt=target.cursor_stored)
            | Q(stored=target.cursor_stored, pk__gt=target.cursor_id))


def _late(target: ForwardTarget) -> QuerySet[Statement]:
    """Statements behind the cursor that were never forwarded: a higher row id than
    any forwarded, and stored at most an hour before the cursor (a bounded range of
    the ``(org, stored, id)`` index)."""
    if target.cursor_stored is None:
        return Statement.objects.none()
    return (_selected(target).filter(pk__gt=target.max_forwarded_id,
                                     stored__gte=target.cursor_stored - LATE_WINDOW)
            .filter(_behind_cursor(target)))


def _late_rows(target: ForwardTarget) -> list[Statement]:
    return list(_late(target).order_by("pk")
                .only("pk", "stored", "statement_id", "data", "has_attachments")[:BATCH])


def _next_rows(target: ForwardTarget, horizon: datetime) -> list[Statement]:
    return list(_selected(target).filter(_ahead_of_cursor(target), stored__lte=horizon)
                .order_by("stored", "pk")
                .only("pk", "stored", "statement_id", "data", "has_attachments")[:BATCH])


def _forward(run: _Run, *, horizon: datetime) -> None:
    for late in (True, False):
        while time.monotonic() < run.deadline:
            rows = _late_rows(run.target) if late else _next_rows(run.target, horizon)
            if not rows:
                break
            if not _deliver(run, rows, late=late):
                return
    run.report.result = "delivered" if run.report.delivered else "idle"


def _statements(run: _Run, rows: list[Statement]) -> list[dict[str, Any]]:
    from coursewright.tracking.statements import open_statement

    return [open_statement(run.key_id, row) for row in rows]


def _load_files(run: _Run, statements: list[dict[str, Any]]) -> None:
    from coursewright.storage import read_bytes

    wanted = {a["sha2"].lower() for s in statements for a in s.get("attachments") or []
              if isinstance(a, dict) and isinstance(a.get("sha2"), str)} - set(run.files)
    if not wanted:
        return
    for row in Attachment.objects.filter(org_id=run.target.org_id, sha2__in=wanted):
        run.files[row.sha2] = (row.content_type, read_bytes(run.target.org, row.path))


def _cut(run: _Run, rows: list[Statement], statements: list[dict[str, Any]]) -> int:
    """How many of the rows go in one POST (attachments bounded in bytes)."""
    total = 0
    for index, statement in enumerate(statements):
        for sha2 in _shas(statement):
            if sha2 in run.files:
                total += len(run.files[sha2][1])
        if total > MAX_ATTACHMENT_BYTES and index > 0:
            return index
    return len(rows)


def _shas(statement: dict[str, Any]) -> list[str]:
    return sorted({a["sha2"].lower() for a in statement.get("attachments") or []
                   if isinstance(a, dict) and isinstance(a.get("sha2"), str)})


def _payload(run: _Run, statements: list[dict[str, Any]]) -> tuple[bytes, str]:
    from coursewright.tracking.multipart import build
    from coursewright.tracking.statements import dumps

    document = dumps(statements)
    parts = [(sha2, *run.files[sha2]) for sha2 in sorted(
        {s for statement in statements for s in _shas(statement)}) if sha2 in run.files]
    if not parts:
        return document, "application/json"
    return build(document, parts)


def _deliver(run: _Run, rows: list[Statement], *, late: bool) -> bool:
    """Send rows (in order); True when all were delivered and the run may go on."""
    statements = _statements(run, rows)
    if any(row.has_attachments for row in rows):
        _load_files(run, statements)
        size = _cut(run, rows, statements)
        rows, statements = rows[:size], statements[:size]
    outcome = _post(run, statements)
    if outcome.kind == "delivered":
        return _advance(run, rows, late=late)
    if outcome.kind == "retry":
        _fail(run, outcome)
        return False
    if len(rows) == 1:
        if outcome.kind == "present":
            return _advance(run, rows, late=late, present=1)
        _reject(run, rows[0], outcome)
        return False
    # a batch answered 409 (one id is there already) or refused: one by one, in order
    for row, statement in zip(rows, statements, strict=True):
        if time.monotonic() >= run.deadline:
            return False
        single = _post(run, [statement])
        if single.kind in ("delivered", "present"):
            if not _advance(run, [row], late=late,
                            present=1 if single.kind == "present" else 0):
                return False
        elif single.kind == "retry":
            _fail(run, single)
            return False
        else:
            _reject(run, row, single)
            return False
    return True


def _post(run: _Run, statements: list[dict[str, Any]]) -> Outcome:
    body, content_type = _payload(run, statements)
    sent = outbound.post(run.url, body=body, headers={**run.headers,
                                                      "Content-Type": content_type},
                         timeout=TIMEOUT)
    answer = sent.answer
    if answer is None:
        return Outcome("retry", error=sent.error)
    status = answer.status
    if 200 <= status < 300:
        return Outcome("delivered", status=status)
    detail = outbound.excerpt(answer, DETAIL_CHARS)
    if status == 409:
        return Outcome("present", status=status, detail=detail)
    if 300 <= status < 400:
        return Outcome("retry", status=status,
                       error=f"the receiver answered HTTP {status} (a redirect); redirects "
                             "are not followed: give the target's final address")
    if status in (408, 429) or status >= 500 or status < 200:
        return Outcome("retry", status=status,
                       error=f"the receiver answered HTTP {status}",
                       retry_after=outbound.retry_after(answer.headers.get("retry-after", ""),
                                                        cap=BACKOFF_CAP))
    return Outcome("refused", status=status, detail=detail,
                   error=f"the receiver refused the statement: HTTP {status}")


def _advance(run: _Run, rows: list[Statement], *, late: bool, present: int = 0) -> bool:
    target, now = run.target, run.clock()
    top = max(row.pk for row in rows)
    changes: dict[str, Any] = {
        "max_forwarded_id": max(target.max_forwarded_id, top),
        "delivered": target.delivered + len(rows),
        "already_present": target.already_present + present,
        "last_success_at": now, "failures": 0, "next_attempt_at": None,
        "last_error": "", "lease_until": now + LEASE}
    if not late:
        last = rows[-1]
        changes.update(cursor_stored=last.stored, cursor_id=last.pk)
    updated = ForwardTarget.objects.filter(pk=target.pk, lease_token=run.token,
                                           state=ForwardState.ACTIVE).update(**changes)
    if not updated:  # the lease was lost (expired and taken), or paused or deleted
        run.report.result = "stopped"
        return False
    for attribute, value in changes.items():
        setattr(target, attribute, value)
    run.report.delivered += len(rows)
    run.report.already_present += present
    return True


def _fail(run: _Run, outcome: Outcome) -> None:
    target, now = run.target, run.clock()
    failures = target.failures + 1
    wait = max(outbound.backoff(failures, base=BACKOFF_BASE, cap=BACKOFF_CAP),
               outcome.retry_after)
    error = outbound.scrub(outcome.error, run.hidden)[:300]
    ForwardTarget.objects.filter(pk=target.pk, lease_token=run.token,
                                 state=ForwardState.ACTIVE).update(
        failures=failures, next_attempt_at=now + timedelta(seconds=wait),
        last_error=error, last_error_at=now)
    target.failures = failures
    run.report.result, run.report.error = "failed", error
    logger.info("forwarding target %s failed (%d in a row), next attempt in %.0f s: %s",
                target.pk, failures, wait, error)


def _reject(run: _Run, row: Statement, outcome: Outcome) -> None:
    target, now = run.target, run.clock()
    error = outbound.scrub(outcome.error, run.hidden)[:300]
    detail = outbound.scrub(outcome.detail, run.hidden)
    with transaction.atomic():
        updated = ForwardTarget.objects.filter(pk=target.pk, lease_token=run.token,
                                               state=ForwardState.ACTIVE).update(
            state=ForwardState.REJECTED, rejected_statement_id=row.statement_id,
            rejection_detail=seal_for(target, "rejection_detail", detail),
            last_error=error, last_error_at=now, next_attempt_at=None)
        if updated:
            record_event(org=target.org, actor=Actor.system(),
                         action="xapi_forwarding.rejected",
                         object_type="xapi_forward_target", object_id=target.pk,
                         before={"state": ForwardState.ACTIVE},
                         after={"state": ForwardState.REJECTED, "status": outcome.status,
                                "statement": str(row.statement_id)})
    run.report.result, run.report.error = "rejected", error


def _update_backlog(run: _Run) -> None:
    target = ForwardTarget.objects.filter(pk=run.target.pk).first()
    if target is None:
        return
    ahead = _selected(target).filter(_ahead_of_cursor(target))
    count = ahead[:BACKLOG_CAP].count() + _late(target)[:BACKLOG_CAP].count()
    ForwardTarget.objects.filter(pk=target.pk, lease_token=run.token).update(
        backlog=min(count, BACKLOG_CAP), backlog_at=run.clock())
