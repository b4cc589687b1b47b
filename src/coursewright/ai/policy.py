"""Per-organisation AI policy: which features are on, which providers, in what order.

Design note
-----------
* The default is the safe one: every feature on, and only the offline engine allowed, so
  nothing leaves the server until an owner or admin names a provider.
* The policy is read by the gateway on every request (one indexed row), so a change
  takes effect on the next request; every change goes through ``update_policy`` and is
  audited with before/after.
* The region lock is not a setting: an organisation's content only ever goes to a
  provider that declares the organisation's region (``ai.config``), whatever the list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from coursewright.ai.config import providers as configured_providers
from coursewright.ai.models import FEATURES, AiPolicy, ProviderCredential
from coursewright.audit.actions import record_event
from coursewright.errors import Invalid

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor
    from coursewright.orgs.models import Organisation

DEFAULT_DISCLOSURE = "This screen was drafted with AI and checked by a person."
FEATURE_LABELS = {
    "generate": "Generate a course",
    "regenerate_screen": "Regenerate a screen",
    "refine": "Refine (tone, reading level, length)",
    "translate": "Translate a version",
    "quiz": "Generate questions",
    "tutor": "AI tutor for learners",
    "grading": "AI grading of free-text answers",
}


def get_policy(org: Organisation) -> AiPolicy:
    policy, _ = AiPolicy.objects.get_or_create(org=org)
    return policy


def disclosure_text(org: Organisation) -> str:
    """The short note the player shows on AI-made screens, in the org's own wording."""
    text = AiPolicy.objects.filter(org=org).values_list("disclosure_text", flat=True).first()
    return text or DEFAULT_DISCLOSURE


def _snapshot(policy: AiPolicy) -> dict[str, Any]:
    return {"features": dict(policy.features), "providers": list(policy.providers),
            "store_prompts": policy.store_prompts,
            "disclosure_text": policy.disclosure_text}


def update_policy(org: Organisation, *, actor: Actor,
                  features: dict[str, bool] | None = None,
                  providers: list[str] | None = None,
                  store_prompts: bool | None = None,
                  disclosure_text: str | None = None) -> AiPolicy:
    details: list[dict[str, Any]] = []
    if features is not None:
        unknown = sorted(set(features) - set(FEATURES))
        if unknown:
            details.append({"field": "features",
                            "message": f"unknown feature(s): {', '.join(unknown)}"})
    if providers is not None:
        known = configured_providers()
        unknown = [p for p in providers if p not in known]
        if unknown:
            details.append({"field": "providers",
                            "message": f"not configured on this server: {', '.join(unknown)}"})
        outside = [p for p in providers if p in known and org.region not in known[p].regions]
        if outside:
            details.append({"field": "providers", "message": (
                f"{', '.join(outside)} does not process data in your region "
                f"({org.region.upper()})")})
        if len(set(providers)) != len(providers):
            details.append({"field": "providers", "message": "a provider is listed twice"})
    if disclosure_text is not None and len(disclosure_text.strip()) > 300:
        details.append({"field": "disclosure_text", "message": "at most 300 characters"})
    if details:
        raise Invalid("The AI policy was not changed: " + details[0]["message"],
                      code="bad_policy", details=details)
    with transaction.atomic():
        policy = AiPolicy.objects.select_for_update().get(pk=get_policy(org).pk)
        before = _snapshot(policy)
        if features is not None:
            policy.features = {f: bool(features.get(f, policy.features.get(f, True)))
                               for f in FEATURES}
        if providers is not None:
            policy.providers = list(providers)
        if store_prompts is not None:
            policy.store_prompts = store_prompts
        if disclosure_text is not None:
            policy.disclosure_text = " ".join(disclosure_text.split())
        after = _snapshot(policy)
        if after != before:
            policy.save()
            record_event(org=org, actor=actor, action="ai.policy_changed",
                         object_type="ai_policy", object_id=policy.pk,
                         before=before, after=after)
    return policy


def feature_enabled(policy: AiPolicy, feature: str) -> bool:
    return bool(policy.features.get(feature, True))


def set_credential(org: Organisation, provider: str, api_key: str, *,
                   actor: Actor) -> ProviderCredential:
    """Store an organisation's own key for a provider (encrypted under its data key)."""
    if provider not in configured_providers() or provider == "offline":
        raise Invalid(f"{provider!r} is not a provider configured on this server",
                      code="unknown_provider")
    api_key = api_key.strip()
    if not 8 <= len(api_key) <= 500:
        raise Invalid("The API key must be 8 to 500 characters", code="bad_api_key")
    with transaction.atomic():
        cred, created = ProviderCredential.objects.select_for_update().get_or_create(
            org=org, provider=provider, defaults={"api_key": api_key})
        if not created:
            cred.api_key = api_key
            cred.save()
        record_event(org=org, actor=actor, action="ai.credential_set",
                     object_type="provider_credential", object_id=cred.pk,
                     after={"provider": provider, "replaced": not created})
    return cred


def remove_credential(org: Organisation, provider: str, *, actor: Actor) -> bool:
    with transaction.atomic():
        cred = ProviderCredential.objects.filter(org=org, provider=provider).first()
        if cred is None:
            return False
        pk = cred.pk
        cred.delete()
        record_event(org=org, actor=actor, action="ai.credential_removed",
                     object_type="provider_credential", object_id=pk,
                     after={"provider": provider})
    return True


def org_key_for(org: Organisation, provider: str) -> str:
    cred = ProviderCredential.objects.filter(org=org, provider=provider).first()
    return cred.api_key if cred is not None else ""
