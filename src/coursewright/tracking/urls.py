"""The tracking endpoints: the xAPI LRS at ``/xapi/``."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "tracking"
urlpatterns: list[URLPattern | URLResolver] = []
