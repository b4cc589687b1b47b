"""The dashboard's AI pages: the organisation's AI settings, provider health, the AI
ledger (with CSV export), and the public subprocessor list.

Who sees what, as on the other settings pages: every member may open the AI settings
page (authors and reviewers need to know which features and providers are allowed) and
sees it read-only; owners and admins see the controls, and every POST is
``org_view(roles=MANAGING_ROLES)``. Health and the ledger are for owners and admins only.
Someone outside the organisation gets a 404. Every change goes through ``ai.policy``'s
action functions, which validate it (the region lock included) and write the audit row.
A stored provider key is never put into a page, only the date it was set.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from coursewright.ai.api_policy import (
    LedgerFilter,
    ProviderRow,
    allowing_orgs,
    ledger_csv,
    ledger_for,
    provider_rows,
    recent_usage,
    redactions_text,
    stale_providers,
    subprocessors,
    who,
)
from coursewright.ai.config import providers as configured_providers
from coursewright.ai.models import FEATURES, AiPolicy, LedgerEntry, Outcome
from coursewright.ai.policy import (
    DEFAULT_DISCLOSURE,
    FEATURE_LABELS,
    get_policy,
    remove_credential,
    set_credential,
    update_policy,
)
from coursewright.audit.actions import record_read
from coursewright.errors import DomainError, Invalid
from coursewright.orgs.models import MANAGING_ROLES, Membership, Organisation
from coursewright.web.access import OrgRequest, org_view, web_actor

LEDGER_PAGE_SIZE = 50

# --- forms ----------------------------------------------------------------------------


class AiPolicyForm(forms.Form):
    """Features on/off, the allowed providers with their order, prompt storage and the
    disclosure wording. Shapes only: the rules (region lock, known providers) are
    ``update_policy``'s, and its refusals are shown on this form."""

    store_prompts = forms.BooleanField(
        label="Store prompts (encrypted)", required=False,
        help_text="Off by default. When on, the text sent to a provider (after personal "
                  "data is redacted) is kept in the AI ledger, encrypted with your "
                  "organisation's key, to help you investigate a bad answer. It is "
                  "removed with the ledger under your retention rules.")
    disclosure_text = forms.CharField(
        label="Disclosure wording", max_length=300, required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": DEFAULT_DISCLOSURE}),
        help_text="Learners see this on screens an AI drafted. At most 300 characters; "
                  "leave it empty to use the default shown in the box.")

    def __init__(self, *args: Any, rows: list[ProviderRow], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.rows = rows
        for feature in FEATURES:
            self.fields[f"feature_{feature}"] = forms.BooleanField(
                label=FEATURE_LABELS.get(feature, feature), required=False)
        for row in rows:
            name, display = row.config.name, row.config.display
            allow = forms.BooleanField(label=f"Allow {display}", required=False,
                                       help_text=row.reason)
            if row.reason and not row.allowed:
                # Shown, but not offered: it cannot process this organisation's content.
                # (A forged POST still reaches update_policy, which refuses it.)
                allow.widget.attrs["disabled"] = True
            self.fields[f"allow_{name}"] = allow
            self.fields[f"position_{name}"] = forms.IntegerField(
                label=f"Position of {display}", required=False, min_value=1, max_value=99,
                widget=forms.NumberInput(attrs={"class": "position"}))
        self.order_fields([*(f"feature_{f}" for f in FEATURES),
                           *(f"{kind}_{r.config.name}" for r in rows
                             for kind in ("allow", "position")),
                           "store_prompts", "disclosure_text"])

    @classmethod
    def for_policy(cls, policy: AiPolicy, rows: list[ProviderRow]) -> AiPolicyForm:
        initial: dict[str, Any] = {
            "store_prompts": policy.store_prompts,
            "disclosure_text": policy.disclosure_text,
            **{f"feature_{f}": bool(policy.features.get(f, True)) for f in FEATURES},
        }
        for row in rows:
            initial[f"allow_{row.config.name}"] = row.allowed
            initial[f"position_{row.config.name}"] = row.position
        return cls(initial=initial, rows=rows)

    def provider_fields(self) -> list[tuple[ProviderRow, forms.BoundField, forms.BoundField]]:
        return [(r, self[f"allow_{r.config.name}"], self[f"position_{r.config.name}"])
                for r in self.rows]

    def feature_fields(self) -> list[forms.BoundField]:
        return [self[f"feature_{f}"] for f in FEATURES]

    def features(self) -> dict[str, bool]:
        return {f: bool(self.cleaned_data.get(f"feature_{f}")) for f in FEATURES}

    def providers(self) -> list[str]:
        """The ticked providers, by position; unnumbered ones after the numbered, and ties
        in the order they had before."""
        picked = [(self.cleaned_data.get(f"position_{r.config.name}") or 1000, i,
                   r.config.name)
                  for i, r in enumerate(self.rows)
                  if self.cleaned_data.get(f"allow_{r.config.name}")]
        return [name for *_, name in sorted(picked)]


class CredentialForm(forms.Form):
    api_key = forms.CharField(
        label="Your own API key", strip=True, max_length=500,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Used instead of the server's key for your organisation's requests. "
                  "Stored encrypted; it is never shown again.")

    def __init__(self, *args: Any, provider: ProviderRow, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        kwargs["prefix"] = f"key-{provider.config.name}"
        super().__init__(*args, **kwargs)
        # one form per provider on the page: each field says which provider it is for
        self.fields["api_key"].label = f"Your own API key for {provider.config.display}"


class LedgerFilterForm(forms.Form):
    feature = forms.ChoiceField(label="Feature", required=False)
    provider = forms.ChoiceField(label="Provider", required=False)
    outcome = forms.ChoiceField(label="Outcome", required=False,
                                choices=[("", "Any outcome"), *Outcome.choices])
    since = forms.DateField(label="From", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, org: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        used = set(LedgerEntry.objects.filter(org=org).exclude(provider="").order_by()
                   .values_list("provider", flat=True).distinct())
        names = [*configured_providers(), *sorted(used - set(configured_providers()))]
        self._choices("feature", [("", "Any feature"),
                                  *((f, FEATURE_LABELS.get(f, f)) for f in FEATURES)])
        self._choices("provider", [("", "Any provider"), *((n, n) for n in names)])

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“From” must not be after “To”.")
        return data

    def filters(self) -> LedgerFilter:
        if not self.is_bound:
            return LedgerFilter()
        data = self.cleaned_data
        return LedgerFilter(feature=data.get("feature") or "",
                            provider=data.get("provider") or "",
                            outcome=data.get("outcome") or "",
                            since=data.get("since"), until=data.get("until"))


# --- AI settings -------------------------------------------------------------------------


def _settings_page(request: OrgRequest, *, form: AiPolicyForm | None = None,
                   key_forms: dict[str, CredentialForm] | None = None,
                   status: int = 200) -> HttpResponse:
    org = request.org
    policy = get_policy(org)
    rows = provider_rows(org, policy)
    can_manage = request.role in MANAGING_ROLES
    context: dict[str, Any] = {
        "can_manage": can_manage,
        "policy": policy,
        "rows": rows,
        "features": [(FEATURE_LABELS.get(f, f), bool(policy.features.get(f, True)))
                     for f in FEATURES],
        "disclosure_shown": policy.disclosure_text or DEFAULT_DISCLOSURE,
        "stale": stale_providers(policy),
        "outside_region": [r for r in rows if r.allowed and not r.eligible],
    }
    if can_manage:
        forms_by_name = dict(key_forms or {})
        context["form"] = form or AiPolicyForm.for_policy(policy, rows)
        context["key_rows"] = [
            (r, forms_by_name.get(r.config.name) or CredentialForm(provider=r))
            # a key for a provider that may not process this region would be unusable
            for r in rows
            if not r.config.is_offline and (r.eligible or r.own_key_set_at is not None)]
    return render(request, "web/ai_settings.html", context, status=status)


@org_view()
@require_GET
def ai_settings(request: OrgRequest) -> HttpResponse:
    return _settings_page(request)


@org_view(roles=MANAGING_ROLES)
@require_POST
def ai_policy_save(request: OrgRequest) -> HttpResponse:
    rows = provider_rows(request.org, get_policy(request.org))
    form = AiPolicyForm(request.POST, rows=rows)
    if not form.is_valid():
        return _settings_page(request, form=form, status=422)
    try:
        update_policy(request.org, actor=web_actor(request), features=form.features(),
                      providers=form.providers(),
                      store_prompts=bool(form.cleaned_data["store_prompts"]),
                      disclosure_text=form.cleaned_data["disclosure_text"] or "")
    except Invalid as exc:
        for detail in exc.details or [{"message": exc.message}]:
            field = detail.get("field")
            form.add_error(field if field in form.fields else None, str(detail["message"]))
        return _settings_page(request, form=form, status=exc.status)
    messages.success(request, "The AI policy is saved. It applies from the next request.")
    return redirect("web:ai_settings", request.org.slug)


def _provider_from_post(request: OrgRequest) -> str:
    return request.POST.get("provider", "").strip()[:40]


@org_view(roles=MANAGING_ROLES)
@require_POST
def ai_credential_set(request: OrgRequest) -> HttpResponse:
    provider = _provider_from_post(request)
    row = next((r for r in provider_rows(request.org, get_policy(request.org))
                if r.config.name == provider), None)
    if row is None or row.config.is_offline:  # no form of its own on the page
        messages.error(request, f"{provider!r} is not a provider configured on this server "
                                "that takes an API key.")
        return _settings_page(request, status=422)
    form = CredentialForm(request.POST, provider=row)
    if form.is_valid():
        try:
            set_credential(request.org, provider, form.cleaned_data["api_key"],
                           actor=web_actor(request))
        except DomainError as exc:
            form.add_error("api_key", exc.message)
        else:
            messages.success(request, f"Your organisation's own key for "
                                      f"{row.config.display} is saved. It is used from the "
                                      "next request.")
            return redirect("web:ai_settings", request.org.slug)
    # (a password input never renders its value, so the key does not come back)
    return _settings_page(request, key_forms={provider: form}, status=422)


@org_view(roles=MANAGING_ROLES)
@require_POST
def ai_credential_remove(request: OrgRequest) -> HttpResponse:
    provider = _provider_from_post(request)
    if remove_credential(request.org, provider, actor=web_actor(request)):
        messages.success(request, f"Your organisation's own key for {provider} is removed; "
                                  "the server's key (if any) is used again.")
    else:
        messages.warning(request, f"There was no key of your own for {provider} to remove.")
    return redirect("web:ai_settings", request.org.slug)


# --- provider health ---------------------------------------------------------------------


@org_view(roles=MANAGING_ROLES)
@require_GET
def ai_health(request: OrgRequest) -> HttpResponse:
    rows = [r for r in provider_rows(request.org, get_policy(request.org)) if r.allowed]
    usage = recent_usage(request.org, [r.config.name for r in rows])
    return render(request, "web/ai_health.html", {
        "rows": [(r, usage[r.config.name]) for r in rows],
        "outcomes": Outcome.choices,
        "now": timezone.now(),
    })


# --- the ledger --------------------------------------------------------------------------


def _ledger_filters(request: OrgRequest) -> tuple[LedgerFilterForm, LedgerFilter | None]:
    form = LedgerFilterForm(request.GET or None, org=request.org)
    if form.is_bound and not form.is_valid():
        return form, None
    return form, form.filters()


@org_view(roles=MANAGING_ROLES)
@require_GET
def ai_ledger(request: OrgRequest) -> HttpResponse:
    form, filters = _ledger_filters(request)
    if filters is None:
        return render(request, "web/ai_ledger.html", {"form": form, "page": None}, status=400)
    record_read(org=request.org, actor=web_actor(request), object_type="ai_ledger",
                object_id=request.org.pk, action="ai_ledger.viewed",
                details={"filters": filters.as_dict(),
                         "page": request.GET.get("page", "1")[:12]})
    page = Paginator(ledger_for(request.org, filters), LEDGER_PAGE_SIZE).get_page(
        request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "web/ai_ledger.html", {
        "form": form, "page": page, "filter_query": query.urlencode(),
        "rows": [(e, who(e), redactions_text(e.redactions)) for e in page.object_list],
        "labels": FEATURE_LABELS,
    })


# org_view is typed for HttpResponse; a streamed export is an HttpResponseBase
@org_view(roles=MANAGING_ROLES)  # type: ignore[arg-type]
@require_GET
def ai_ledger_export(request: OrgRequest) -> HttpResponse | StreamingHttpResponse:
    form, filters = _ledger_filters(request)
    if filters is None:
        return render(request, "web/ai_ledger.html", {"form": form, "page": None}, status=400)
    record_read(org=request.org, actor=web_actor(request), object_type="ai_ledger",
                object_id=request.org.pk, action="ai_ledger.exported",
                details={"filters": filters.as_dict(), "format": "csv"})
    entries = ledger_for(request.org, filters).iterator(chunk_size=500)
    response = StreamingHttpResponse(ledger_csv(entries), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        f'attachment; filename="ai-ledger-{request.org.slug}-{stamp}.csv"')
    return response


# --- the public subprocessor list ----------------------------------------------------------


def _signed_in_orgs(request: HttpRequest) -> list[Organisation]:
    """The visitor's organisations, if signed in (with two-factor where it applies)."""
    from coursewright.accounts.mfa import mfa_satisfied
    from coursewright.accounts.models import User

    user = request.user
    if not isinstance(user, User) or not mfa_satisfied(request):
        return []
    return [m.org for m in Membership.objects.filter(user=user)
            .select_related("org").order_by("org__name")]


@require_GET
def trust_subprocessors(request: HttpRequest) -> HttpResponse:
    orgs = _signed_in_orgs(request)
    allowed = allowing_orgs(orgs) if orgs else {}
    return render(request, "web/trust_subprocessors.html", {
        "subprocessors": [(s, allowed.get(s.name, [])) for s in subprocessors()],
        "your_orgs": orgs,
        "generated_at": timezone.now(),
    })


patterns: list[URLPattern] = [
    path("o/<slug:org_slug>/ai/", ai_settings, name="ai_settings"),
    path("o/<slug:org_slug>/ai/policy/", ai_policy_save, name="ai_policy_save"),
    path("o/<slug:org_slug>/ai/credentials/", ai_credential_set, name="ai_credential_set"),
    path("o/<slug:org_slug>/ai/credentials/remove/", ai_credential_remove,
         name="ai_credential_remove"),
    path("o/<slug:org_slug>/ai/health/", ai_health, name="ai_health"),
    path("o/<slug:org_slug>/ai/ledger/", ai_ledger, name="ai_ledger"),
    path("o/<slug:org_slug>/ai/ledger/export.csv", ai_ledger_export, name="ai_ledger_export"),
    path("trust/subprocessors", trust_subprocessors, name="trust_subprocessors"),
]
