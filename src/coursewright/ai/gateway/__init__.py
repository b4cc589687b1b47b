"""The AI gateway: the one gate every request to an AI provider passes.

Design note
-----------
What ``ask`` guarantees, in order, for every request that could leave the server:

1. **Policy.** The feature must be on in the organisation's AI policy, and the provider
   must be on its allowed list (an explicitly requested provider too). Otherwise nothing
   is sent: a ledger row with outcome ``blocked`` and a clear ``AiBlocked`` error.
2. **Region lock.** A provider is used only if it declares the organisation's region.
   If the policy's order would send content to a provider outside it, the request is
   refused and logged (ledger + audit), never silently rerouted elsewhere.
3. **Privacy guard.** Every message is redacted (``ai.pii``) before it is handed to an
   adapter; the same value gets the same placeholder across the messages, and
   placeholders in the answer are mapped back. Callers never put who a learner is into a
   message (the tutor and grading send only the learner's text), and the redactor is a
   second line for what a learner types about themselves.
4. **Ledger.** Each attempt writes one ``LedgerEntry``: org, user or key, feature,
   provider, model, region, tokens from the provider's usage fields, redaction counts by
   type, latency and outcome. The prompt is stored only if the org opted in, and then
   sealed with the org's key, as is any error detail.
5. **Failover.** A timeout, 429, 5xx, unreadable or invalid answer (the caller's
   ``validate`` raising ``ValueError``), or a refused key moves on to the next allowed
   provider in the policy's order; a provider whose circuit breaker is open is skipped.

Only ``ai.gateway.adapters`` imports provider SDKs (an import-linter contract), and its
``complete`` runs only with a ``Clearance`` made here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from coursewright.ai import config as ai_config
from coursewright.ai.gateway import adapters
from coursewright.ai.gateway.adapters import Clearance, Completion, Message, ProviderError
from coursewright.ai.models import LedgerEntry, Outcome, ProviderState
from coursewright.ai.policy import FEATURE_LABELS, feature_enabled, get_policy, org_key_for
from coursewright.audit.actions import record_event
from coursewright.errors import DomainError

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor
    from coursewright.orgs.models import Organisation

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "AiBlocked",
    "AiFailed",
    "Answer",
    "Message",
    "ask",
    "breaker_open",
    "candidates",
    "record_local",
]


class AiBlocked(DomainError):
    """The organisation's policy (or the server's configuration) does not allow it."""

    status = 403
    code = "ai_blocked"


class AiFailed(DomainError):
    """Every allowed provider failed."""

    status = 502
    code = "ai_unavailable"


@dataclass
class Answer(Generic[T]):
    text: str
    value: T
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    redactions: dict[str, int] = field(default_factory=dict)
    failovers: list[str] = field(default_factory=list)  # providers tried before, with why


def _region(org: Organisation) -> str:
    return str(org.region)


def _ledger(org: Organisation, actor: Actor, *, feature: str, outcome: str, reason: str = "",
            provider: str = "", model: str = "", region: str = "", tokens_in: int = 0,
            tokens_out: int = 0, redactions: dict[str, int] | None = None,
            latency_ms: int = 0, detail: dict[str, Any] | None = None) -> LedgerEntry:
    return LedgerEntry.objects.create(
        org=org, user=actor.user, api_key=actor.api_key, channel=str(actor.channel),
        feature=feature, provider=provider, model=model[:120], region=region,
        tokens_in=tokens_in, tokens_out=tokens_out, redactions=dict(redactions or {}),
        latency_ms=latency_ms, outcome=outcome, reason=reason[:60], detail=detail)


def _block(org: Organisation, actor: Actor, feature: str, reason: str, message: str,
           provider: str = "", region: str = "") -> AiBlocked:
    with transaction.atomic():
        entry = _ledger(org, actor, feature=feature, outcome=Outcome.BLOCKED, reason=reason,
                        provider=provider, region=region)
        record_event(org=org, actor=actor, action="ai.blocked", object_type="ai_ledger",
                     object_id=entry.pk,
                     after={"feature": feature, "reason": reason, "provider": provider})
    return AiBlocked(message, code=reason)


def candidates(org: Organisation, actor: Actor, feature: str, *,
               provider: str | None = None,
               prompt_capable: bool = True) -> list[ai_config.ProviderConfig]:
    """The providers this request may use, in order; raises ``AiBlocked`` (logged) if none.

    ``prompt_capable``: the feature needs a prompt-taking model (everything but the
    offline engine's own drafting)."""
    policy = get_policy(org)
    label = FEATURE_LABELS.get(feature, feature)
    if not feature_enabled(policy, feature):
        raise _block(org, actor, feature, "feature_disabled",
                     f"{label} is switched off in your organisation's AI policy.")
    configured = ai_config.providers()
    order = list(policy.providers)
    if provider is not None:
        if provider not in configured:
            raise _block(org, actor, feature, "unknown_provider",
                         f"There is no AI provider called {provider!r} on this server.",
                         provider=provider)
        if provider not in order:
            raise _block(org, actor, feature, "provider_not_allowed",
                         f"Your organisation's AI policy does not allow {provider!r}.",
                         provider=provider)
        order = [provider]
    chosen: list[ai_config.ProviderConfig] = []
    for name in order:
        cfg = configured.get(name)
        if cfg is None:
            continue  # removed from the server's configuration since the policy was set
        if _region(org) not in cfg.regions:
            raise _block(
                org, actor, feature, "region_lock",
                f"{cfg.display} does not process data in your organisation's region "
                f"({_region(org).upper()}); the request was not sent.",
                provider=name, region=_region(org))
        if prompt_capable and cfg.is_offline:
            continue
        chosen.append(cfg)
    if not chosen:
        if prompt_capable:
            raise _block(org, actor, feature, "no_provider",
                         f"{label} needs an AI model provider, and your organisation's AI "
                         "policy allows only the offline engine. An owner or admin can "
                         "allow a provider under AI settings.")
        raise _block(org, actor, feature, "no_provider",
                     "No AI provider your organisation allows is available.")
    return chosen


# -- circuit breaker -----------------------------------------------------------------

def breaker_open(name: str) -> bool:
    state = ProviderState.objects.filter(provider=name).first()
    return bool(state and state.open_until and state.open_until > timezone.now())


def _succeeded(name: str) -> None:
    ProviderState.objects.get_or_create(provider=name)
    ProviderState.objects.filter(provider=name).update(
        consecutive_failures=0, open_until=None, last_success_at=timezone.now(),
        successes=F("successes") + 1)


def _failed(name: str, kind: str) -> None:
    ProviderState.objects.get_or_create(provider=name)
    now = timezone.now()
    ProviderState.objects.filter(provider=name).update(
        consecutive_failures=F("consecutive_failures") + 1, last_error=kind,
        last_failure_at=now, failures=F("failures") + 1)
    ProviderState.objects.filter(
        provider=name, consecutive_failures__gte=settings.AI_BREAKER_FAILURES).update(
        open_until=now + timedelta(seconds=settings.AI_BREAKER_COOLDOWN))


# -- the gate --------------------------------------------------------------------------

def _api_key(org: Organisation, cfg: ai_config.ProviderConfig) -> str:
    return org_key_for(org, cfg.name) or cfg.operator_key()


def ask(org: Organisation, *, actor: Actor, feature: str, messages: list[Message],
        validate: Callable[[str], T], json_schema: dict[str, Any] | None = None,
        schema_name: str = "", provider: str | None = None, language: str = "en",
        temperature: float = 0.2, max_tokens: int | None = None,
        restore: bool = True) -> Answer[T]:
    """Send one request through the gate; see the module note for what is guaranteed.

    ``validate`` turns the (placeholder-restored, if ``restore``) answer text into the
    caller's value and raises ``ValueError`` for an answer it cannot use, which counts
    as malformed output and fails over to the next provider."""
    from coursewright.ai.pii import Redactor

    chosen = candidates(org, actor, feature, provider=provider)
    policy = get_policy(org)
    redactor = Redactor(language=language)
    sent = [Message(m.role, redactor.redact(m.content)) for m in messages]
    counts = dict(redactor.counts)
    prompt_detail = ({"messages": [{"role": m.role, "content": m.content} for m in sent]}
                     if policy.store_prompts else None)
    tried: list[str] = []
    for cfg in chosen:
        if breaker_open(cfg.name):
            tried.append(f"{cfg.name}: circuit open")
            _ledger(org, actor, feature=feature, outcome=Outcome.FAILED,
                    reason="circuit_open", provider=cfg.name, model=cfg.model,
                    region=_region(org))
            continue
        started = time.monotonic()
        completion: Completion | None = None
        try:
            completion = adapters.complete(
                cfg, Clearance(cfg.name, adapters._GATE_SEAL), api_key=_api_key(org, cfg),
                messages=sent, json_schema=json_schema, schema_name=schema_name,
                temperature=temperature, max_tokens=max_tokens,
                timeout=cfg.timeout or float(settings.AI_TIMEOUT_SECONDS))
            text = completion.text
            if restore and json_schema is not None:
                # Inside a JSON answer an original value goes back JSON-escaped, so a
                # quote or backslash in it cannot break the answer.
                text = Redactor(language=language, mapping={
                    k: json.dumps(v, ensure_ascii=False)[1:-1]
                    for k, v in redactor.mapping.items()}).restore(text)
            elif restore:
                text = redactor.restore(text)
            value = validate(text)
        except (ProviderError, ValueError) as exc:
            kind = exc.kind if isinstance(exc, ProviderError) else "malformed"
            latency = int((time.monotonic() - started) * 1000)
            _failed(cfg.name, kind)
            detail: dict[str, Any] = dict(prompt_detail or {})
            detail["error"] = str(exc)[:500]
            _ledger(org, actor, feature=feature, outcome=Outcome.FAILED, reason=kind,
                    provider=cfg.name, model=cfg.model, region=_region(org),
                    tokens_in=completion.tokens_in if completion else 0,
                    tokens_out=completion.tokens_out if completion else 0,
                    redactions=counts, latency_ms=latency, detail=detail)
            log.warning("AI provider %s failed for %s: %s", cfg.name, feature, kind)
            tried.append(f"{cfg.name}: {kind}")
            continue
        latency = int((time.monotonic() - started) * 1000)
        _succeeded(cfg.name)
        _ledger(org, actor, feature=feature, outcome=Outcome.OK, provider=cfg.name,
                model=completion.model or cfg.model, region=_region(org),
                tokens_in=completion.tokens_in, tokens_out=completion.tokens_out,
                redactions=counts, latency_ms=latency, detail=prompt_detail)
        return Answer(text=text, value=value, provider=cfg.name,
                      model=completion.model or cfg.model, tokens_in=completion.tokens_in,
                      tokens_out=completion.tokens_out, redactions=counts, failovers=tried)
    raise AiFailed("No allowed AI provider could answer (" + "; ".join(tried) + "). "
                   "Try again later.", code="ai_unavailable",
                   details=[{"provider": t.split(":")[0], "reason": t.split(": ")[1]}
                            for t in tried])


def record_local(org: Organisation, actor: Actor, *, feature: str, latency_ms: int,
                 outcome: str = Outcome.OK, reason: str = "") -> LedgerEntry:
    """Ledger row for work the offline engine did on this server (nothing was sent)."""
    cfg = ai_config.OFFLINE_PROVIDER
    return _ledger(org, actor, feature=feature, outcome=outcome, reason=reason,
                   provider=cfg.name, model=cfg.model, region="local", latency_ms=latency_ms)


def parse_json(text: str) -> Any:
    """Parse a model's JSON answer, tolerating a Markdown code fence around it."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from exc
