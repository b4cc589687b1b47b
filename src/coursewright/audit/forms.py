"""The dashboard's audit log filters."""

from __future__ import annotations

from typing import Any

from django import forms

from coursewright.audit.browse import AuditFilter
from coursewright.audit.models import ActorKind, AuditEvent


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label="Action", required=False)
    actor = forms.ChoiceField(label="Who", required=False)
    since = forms.DateField(label="From", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, org_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from coursewright.accounts.models import User
        from coursewright.orgs.models import ApiKey

        events = AuditEvent.objects.filter(org_id=org_id)
        actions = list(events.order_by("action").values_list("action", flat=True).distinct())
        families = sorted({a.split(".", 1)[0] + "." for a in actions if "." in a})
        self._choices("action", [
            ("", "Any action"),
            ("Every action of a kind", [(f, f"{f}*") for f in families]),
            ("One action", [(a, a) for a in actions]),
        ])
        # people who are members now, or who acted here before
        acted = (events.filter(actor_user__isnull=False).order_by()
                 .values("actor_user_id").distinct())
        people = (User.objects.filter(memberships__org_id=org_id) | User.objects.filter(
            pk__in=acted)).distinct().order_by("email")
        keys = ApiKey.objects.filter(org_id=org_id).order_by("name")
        self._choices("actor", [
            ("", "Anyone"),
            ("People", [(f"user:{u.pk}", u.email) for u in people]),
            ("API keys", [(f"key:{k.pk}", f"{k.name} ({k.prefix}…)") for k in keys]),
            ("Other", [(ActorKind.SYSTEM.value, "System (jobs, command line)"),
                       (ActorKind.ANONYMOUS.value, "Anonymous API calls")]),
        ])

    def _choices(self, name: str, choices: list[Any]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“From” must not be after “To”.")
        return data

    def filters(self) -> AuditFilter:
        data = self.cleaned_data
        return AuditFilter(action=data.get("action") or "", actor=data.get("actor") or "",
                           since=data.get("since"), until=data.get("until"))
