"""The audit log pages (names in the "web" namespace)."""

from django.urls import URLPattern, path

from coursewright.audit import views

patterns: list[URLPattern] = [
    path("o/<slug:org_slug>/audit/", views.audit_log, name="audit_log"),
    path("o/<slug:org_slug>/audit/export.jsonl", views.audit_export, name="audit_export"),
]
