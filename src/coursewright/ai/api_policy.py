"""The AI policy over the API, and the read models the dashboard's AI pages share with it.

Endpoints (``?org=<slug>`` names the organisation when a person belongs to several):

* ``GET /api/v1/ai/policy`` — any member or the org's API key: authors and reviewers need
  to know what is allowed. ``PUT`` — owners and admins only (an API key acts with the
  author role, so it cannot widen what its own organisation sends to a provider).
* ``PUT``/``DELETE /api/v1/ai/credentials/{provider}`` — owners and admins only; the key is
  stored encrypted under the org's data key and never returned by anything.
* ``GET /api/v1/ai/providers`` — any member: the configured providers, whether each may
  process this organisation's region, its place in the policy, where its key comes from,
  and the circuit breaker's health.
* ``GET /api/v1/ai/ledger`` — owners and admins, or the organisation's API key (as for the
  audit log it complements); plain columns only, never the sealed ``detail``.
* ``GET /api/v1/subprocessors`` — public, no authentication: what a trust page shows. A
  caller who does authenticate also learns which of its organisations allow each one.

Every change goes through ``ai.policy``'s action functions, which validate and audit.
``coursewright.api`` mounts these routers and the dashboard imports the read models here,
so ``coursewright.api`` is imported when a request runs, never when this module loads.
"""

# No ``from __future__ import annotations``: django-ninja reads the ``Query[...]``
# parameter annotation at import time.
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from django.db.models import Avg, Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from coursewright.ai.config import ProviderConfig
from coursewright.ai.config import providers as configured_providers
from coursewright.ai.models import (
    FEATURES,
    AiPolicy,
    LedgerEntry,
    Outcome,
    ProviderCredential,
    ProviderState,
)
from coursewright.ai.policy import (
    DEFAULT_DISCLOSURE,
    FEATURE_LABELS,
    get_policy,
    remove_credential,
    set_credential,
    update_policy,
)
from coursewright.api_types import IsoDate, Pagination
from coursewright.errors import Invalid, NotFound
from coursewright.orgs.access import Principal
from coursewright.orgs.models import MANAGING_ROLES, Organisation

# --- read models (shared with web.ai_views) ---------------------------------------------

BreakerState = Literal["closed", "open", "half_open"]
KeySource = Literal["organisation", "operator", "none", "not_needed"]


@dataclass(frozen=True)
class Health:
    """A provider's circuit breaker, as the gateway keeps it in ``ProviderState``.

    Open: skipped until ``open_until``. Half-open: the cool-down is over but the last
    calls failed, so the next request is a trial (a success closes it, a failure reopens
    it). Closed: in use."""

    state: BreakerState = "closed"
    open_until: datetime | None = None
    consecutive_failures: int = 0
    last_error: str = ""
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None


def health_of(names: Iterable[str]) -> dict[str, Health]:
    now = timezone.now()
    found: dict[str, Health] = {}
    for s in ProviderState.objects.filter(provider__in=list(names)):
        state: BreakerState = "closed"
        if s.open_until is not None:
            state = "open" if s.open_until > now else "half_open"
        found[s.provider] = Health(
            state=state, open_until=s.open_until, consecutive_failures=s.consecutive_failures,
            last_error=s.last_error, last_success_at=s.last_success_at,
            last_failure_at=s.last_failure_at)
    return found


def region_reason(cfg: ProviderConfig, org: Organisation) -> str:
    """Why ``cfg`` may not process ``org``'s content, or "" if it may."""
    if org.region in cfg.regions:
        return ""
    if not cfg.regions:
        return "It declares no processing region, so it can process no organisation's content."
    where = ", ".join(r.upper() for r in cfg.regions)
    return (f"It processes data in {where} only, not in your organisation's region "
            f"({org.region.upper()}).")


@dataclass(frozen=True)
class ProviderRow:
    config: ProviderConfig
    reason: str  # "" when the provider may process this organisation's region
    position: int | None  # 1-based place in the policy's order; None: not allowed
    own_key_set_at: datetime | None
    key_source: KeySource
    health: Health

    @property
    def eligible(self) -> bool:
        return not self.reason

    @property
    def allowed(self) -> bool:
        return self.position is not None


def provider_rows(org: Organisation, policy: AiPolicy) -> list[ProviderRow]:
    """Every configured provider for ``org``: the allowed ones in the policy's order first,
    then the others in the configuration file's order."""
    configured = configured_providers()
    order = [p for p in policy.providers if p in configured]
    names = order + [n for n in configured if n not in order]
    keys = dict(ProviderCredential.objects.filter(org=org, provider__in=names)
                .values_list("provider", "created_at"))
    health = health_of(names)
    rows = []
    for name in names:
        cfg = configured[name]
        own = keys.get(name)
        source: KeySource
        if cfg.is_offline:
            source = "not_needed"
        elif own is not None:
            source = "organisation"
        elif cfg.operator_key():
            source = "operator"
        else:
            source = "none"
        rows.append(ProviderRow(
            config=cfg, reason=region_reason(cfg, org),
            position=order.index(name) + 1 if name in order else None,
            own_key_set_at=own, key_source=source, health=health.get(name, Health())))
    return rows


def stale_providers(policy: AiPolicy) -> list[str]:
    """Allowed in the policy but no longer configured on this server (ignored by the
    gateway; dropped when the policy is next saved from the dashboard)."""
    configured = configured_providers()
    return [p for p in policy.providers if p not in configured]


@dataclass(frozen=True)
class Usage:
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> calls
    avg_latency_ms: int | None = None  # of the successful calls

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def recent_usage(org: Organisation, names: Sequence[str], *,
                 hours: int = 24) -> dict[str, Usage]:
    """Per provider, this organisation's ledger over the last ``hours``: calls by outcome
    and the average latency of the successful ones."""
    since = timezone.now() - timedelta(hours=hours)
    counts: dict[str, dict[str, int]] = {n: {} for n in names}
    latency: dict[str, int | None] = dict.fromkeys(names)
    grouped = (LedgerEntry.objects.filter(org=org, created_at__gte=since, provider__in=names)
               .order_by().values("provider", "outcome")
               .annotate(n=Count("id"), avg=Avg("latency_ms")))
    for row in grouped:
        counts[row["provider"]][row["outcome"]] = row["n"]
        if row["outcome"] == Outcome.OK and row["avg"] is not None:
            latency[row["provider"]] = round(row["avg"])
    return {n: Usage(counts[n], latency[n]) for n in names}


@dataclass(frozen=True)
class LedgerFilter:
    feature: str = ""
    provider: str = ""
    outcome: str = ""
    since: date | None = None  # inclusive, UTC
    until: date | None = None  # inclusive, UTC

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items() if v}


def ledger_for(org: Organisation, filters: LedgerFilter) -> QuerySet[LedgerEntry]:
    if filters.outcome and filters.outcome not in Outcome.values:
        raise Invalid(f"outcome must be one of {', '.join(Outcome.values)}",
                      code="bad_filter")
    if filters.since and filters.until and filters.since > filters.until:
        raise Invalid("since must not be after until", code="bad_filter")
    entries = LedgerEntry.objects.filter(org=org).select_related("user", "api_key")
    if filters.feature:
        entries = entries.filter(feature=filters.feature)
    if filters.provider:
        entries = entries.filter(provider=filters.provider)
    if filters.outcome:
        entries = entries.filter(outcome=filters.outcome)
    if filters.since:
        entries = entries.filter(created_at__gte=datetime.combine(filters.since, time.min, UTC))
    if filters.until:
        entries = entries.filter(
            created_at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, UTC))
    return entries.order_by("-id")


def who(entry: LedgerEntry) -> str:
    if entry.user is not None:
        return entry.user.email
    if entry.api_key is not None:
        return f"api-key:{entry.api_key.prefix}"
    return "system"


def redactions_text(redactions: dict[str, int]) -> str:
    return ", ".join(f"{kind} ×{n}" for kind, n in sorted(redactions.items()) if n)


LEDGER_CSV_COLUMNS = ("time_utc", "feature", "provider", "model", "region", "tokens_in",
                      "tokens_out", "redactions", "latency_ms", "outcome", "reason", "who",
                      "channel")


def ledger_csv(entries: Iterable[LedgerEntry]) -> Iterator[str]:
    from coursewright.csvexport import csv_lines

    return csv_lines(LEDGER_CSV_COLUMNS, (
        (e.created_at.astimezone(UTC).isoformat(timespec="seconds"), e.feature,
         e.provider, e.model, e.region, e.tokens_in, e.tokens_out,
         redactions_text(e.redactions), e.latency_ms, e.outcome, e.reason, who(e),
         e.channel) for e in entries))


@dataclass(frozen=True)
class Subprocessor:
    name: str
    label: str
    purpose: str
    legal_entity: str
    processing_regions: list[str]
    serves_regions: list[str]  # organisations of these regions may send content to it
    training_opt_out: bool | None  # None: not applicable (hosting)
    retention: str
    certifications: list[str]
    dpa_url: str

    @property
    def dpa_link(self) -> str:
        """``dpa_url`` if it is a web address, so a page can link it safely."""
        return self.dpa_url if self.dpa_url.startswith(("https://", "http://")) else ""


PROVIDER_PURPOSE = "AI model provider: drafts, refines, translates and grades course text"


def subprocessors() -> list[Subprocessor]:
    """The platform's subprocessors, from its configuration: the ``[hosting]`` table of
    the providers file (if written), then every configured AI provider
    with its declared commitments. The offline engine runs on this server: not one."""
    found: list[Subprocessor] = []
    from coursewright.ai.config import hosting as configured_hosting

    host = configured_hosting()
    if host is not None:
        found.append(Subprocessor(
            name="hosting", label=host.label, purpose=host.purpose,
            legal_entity=host.legal_entity, processing_regions=list(host.processing_regions),
            serves_regions=list(host.serves_regions), training_opt_out=None,
            retention=host.retention, certifications=list(host.certifications),
            dpa_url=host.dpa_url))
    for cfg in configured_providers().values():
        if cfg.is_offline:
            continue
        c = cfg.commitments
        found.append(Subprocessor(
            name=cfg.name, label=cfg.display, purpose=PROVIDER_PURPOSE,
            legal_entity=c.legal_entity, processing_regions=list(c.processing_regions),
            serves_regions=list(cfg.regions), training_opt_out=c.training_opt_out,
            retention=c.retention, certifications=list(c.certifications), dpa_url=c.dpa_url))
    return found


def allowing_orgs(orgs: Iterable[Organisation]) -> dict[str, list[Organisation]]:
    """Provider name -> which of ``orgs`` allow it in their policy now."""
    orgs = list(orgs)
    policies = {p.org_id: p.providers for p in AiPolicy.objects.filter(org__in=orgs)}
    allowed: dict[str, list[Organisation]] = {}
    for org in orgs:
        for name in policies.get(org.pk, ["offline"]):
            allowed.setdefault(name, []).append(org)
    return allowed


# --- the API --------------------------------------------------------------------------

router = Router(tags=["AI policy"])
public_router = Router(tags=["trust"])


def _principal(request: HttpRequest) -> Principal:
    from coursewright.api import principal

    return principal(request)


def _org(request: HttpRequest, slug: str | None) -> tuple[Principal, Organisation]:
    p = _principal(request)
    org = p.default_org(slug)
    request.audit_org = org  # type: ignore[attr-defined]  # the API-call entry's organisation
    return p, org


class PolicyOut(Schema):
    org: str
    region: str
    features: dict[str, bool]
    feature_labels: dict[str, str]
    providers: list[str]
    store_prompts: bool
    disclosure_text: str
    disclosure_shown: str
    updated_at: datetime


class PolicyIn(Schema):
    model_config = ConfigDict(extra="forbid")
    features: dict[str, bool] | None = None
    providers: list[str] | None = None
    store_prompts: bool | None = None
    disclosure_text: str | None = None


def _policy_out(org: Organisation, policy: AiPolicy) -> PolicyOut:
    return PolicyOut(
        org=org.slug, region=org.region,
        features={f: bool(policy.features.get(f, True)) for f in FEATURES},
        feature_labels={f: FEATURE_LABELS.get(f, f) for f in FEATURES},
        providers=list(policy.providers), store_prompts=policy.store_prompts,
        disclosure_text=policy.disclosure_text,
        disclosure_shown=policy.disclosure_text or DEFAULT_DISCLOSURE,
        updated_at=policy.updated_at)


@router.get("/policy", response=PolicyOut,
            summary="The organisation's AI policy (any member or the org's API key)")
def get_ai_policy(request: HttpRequest, org: str | None = None) -> PolicyOut:
    _, organisation = _org(request, org)
    return _policy_out(organisation, get_policy(organisation))


@router.put("/policy", response=PolicyOut,
            summary="Change the AI policy: features, ordered providers, prompt storage, "
                    "disclosure wording (owners and admins)")
def put_ai_policy(request: HttpRequest, body: PolicyIn, org: str | None = None) -> PolicyOut:
    p, organisation = _org(request, org)
    p.require(organisation, MANAGING_ROLES, "change the AI policy")
    policy = update_policy(organisation, actor=p.actor, features=body.features,
                           providers=body.providers, store_prompts=body.store_prompts,
                           disclosure_text=body.disclosure_text)
    return _policy_out(organisation, policy)


class CredentialIn(Schema):
    model_config = ConfigDict(extra="forbid")
    api_key: str


class CredentialOut(Schema):
    provider: str
    set_at: datetime


@router.put("/credentials/{provider}", response=CredentialOut,
            summary="Store the organisation's own API key for a provider, encrypted "
                    "(owners and admins; the key is never returned)")
def put_ai_credential(request: HttpRequest, provider: str, body: CredentialIn,
                      org: str | None = None) -> CredentialOut:
    p, organisation = _org(request, org)
    p.require(organisation, MANAGING_ROLES, "manage AI provider keys")
    cred = set_credential(organisation, provider, body.api_key, actor=p.actor)
    return CredentialOut(provider=cred.provider, set_at=cred.created_at)


@router.delete("/credentials/{provider}", response={204: None},
               summary="Remove the organisation's own API key for a provider "
                       "(owners and admins)")
def delete_ai_credential(request: HttpRequest, provider: str,
                         org: str | None = None) -> Status[None]:
    p, organisation = _org(request, org)
    p.require(organisation, MANAGING_ROLES, "manage AI provider keys")
    if not remove_credential(organisation, provider, actor=p.actor):
        raise NotFound(f"Your organisation has no API key of its own for {provider!r}.")
    return Status(204, None)


class HealthOut(Schema):
    state: BreakerState
    open_until: datetime | None
    consecutive_failures: int
    last_error: str
    last_success_at: datetime | None
    last_failure_at: datetime | None


class ProviderOut(Schema):
    name: str
    label: str
    kind: str
    model: str
    regions: list[str]
    usable_in_your_region: bool
    reason: str
    allowed: bool
    position: int | None
    key_source: KeySource
    own_key_set_at: datetime | None
    health: HealthOut


@router.get("/providers", response=list[ProviderOut],
            summary="The AI providers configured on this server, for the organisation: "
                    "region eligibility, place in the policy, key source and health")
def list_ai_providers(request: HttpRequest, org: str | None = None) -> list[ProviderOut]:
    _, organisation = _org(request, org)
    return [ProviderOut(
        name=r.config.name, label=r.config.display, kind=r.config.kind, model=r.config.model,
        regions=list(r.config.regions), usable_in_your_region=r.eligible, reason=r.reason,
        allowed=r.allowed, position=r.position, key_source=r.key_source,
        own_key_set_at=r.own_key_set_at, health=HealthOut(**asdict(r.health)))
        for r in provider_rows(organisation, get_policy(organisation))]


class LedgerEntryOut(Schema):
    id: int
    uid: str
    created_at: datetime
    feature: str
    provider: str
    model: str
    region: str
    tokens_in: int
    tokens_out: int
    redactions: dict[str, int]
    latency_ms: int
    outcome: str
    reason: str
    channel: str
    user_id: int | None
    api_key_id: int | None
    who: str

    @staticmethod
    def resolve_uid(obj: LedgerEntry) -> str:
        return str(obj.uid)

    @staticmethod
    def resolve_who(obj: LedgerEntry) -> str:
        return who(obj)


class LedgerQuery(Schema):
    org: str | None = None
    feature: str | None = None
    provider: str | None = None
    outcome: str | None = None
    since: IsoDate | None = None
    until: IsoDate | None = None

    def as_filter(self) -> LedgerFilter:
        return LedgerFilter(feature=self.feature or "", provider=self.provider or "",
                            outcome=self.outcome or "", since=self.since, until=self.until)


@router.get("/ledger", response=list[LedgerEntryOut],
            summary="The AI ledger: one row per attempt to use AI, newest first "
                    "(owners and admins, or the org's API key)")
@paginate(Pagination)
def list_ai_ledger(request: HttpRequest, params: Query[LedgerQuery]) -> QuerySet[LedgerEntry]:
    p, organisation = _org(request, params.org)
    if p.actor.api_key is None:  # a key belongs to this one organisation, as for audit
        p.require(organisation, MANAGING_ROLES, "read the AI ledger")
    return ledger_for(organisation, params.as_filter())


class SubprocessorOut(Schema):
    name: str
    label: str
    purpose: str
    legal_entity: str
    processing_regions: list[str]
    serves_regions: list[str]
    training_opt_out: bool | None
    retention: str
    certifications: list[str]
    dpa_url: str
    allowed_by_your_organisations: list[str] | None = None


class SubprocessorsOut(Schema):
    generated_at: datetime
    subprocessors: list[SubprocessorOut]


def _optional_principal(request: HttpRequest) -> Principal | None:
    """The caller, if it sent an API key or a dashboard session; nobody otherwise."""
    from coursewright.api import ApiKeyAuth, PersonSessionAuth

    for auth in (ApiKeyAuth(), PersonSessionAuth()):
        found = auth(request)
        if isinstance(found, Principal):
            request.auth = found  # type: ignore[attr-defined]  # for the API-call log
            return found
    return None


@public_router.get("", response=SubprocessorsOut, auth=None,
                   summary="The platform's subprocessors (public; no authentication)")
def list_subprocessors(request: HttpRequest) -> SubprocessorsOut:
    caller = _optional_principal(request)
    allowed = allowing_orgs(caller.orgs.values()) if caller is not None else None
    return SubprocessorsOut(generated_at=timezone.now(), subprocessors=[
        SubprocessorOut(**asdict(s), allowed_by_your_organisations=(
            sorted(o.slug for o in allowed.get(s.name, [])) if allowed is not None else None))
        for s in subprocessors()])
