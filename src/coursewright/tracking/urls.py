"""The tracking endpoints: the xAPI LRS at ``/xapi/`` (``tracking.lrs``)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from coursewright.tracking import lrs

app_name = "tracking"
urlpatterns: list[URLPattern | URLResolver] = [
    path("xapi/about", lrs.about, name="about"),
    path("xapi/statements", lrs.statement_resource, name="statements"),
    path("xapi/activities", lrs.activities, name="activities"),
    path("xapi/activities/state", lrs.state, name="state"),
    path("xapi/activities/profile", lrs.activity_profile, name="activity_profile"),
    path("xapi/agents", lrs.agents, name="agents"),
    path("xapi/agents/profile", lrs.agent_profile, name="agent_profile"),
]
