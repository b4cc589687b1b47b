"""Dashboard URLs, one list per area (accounts, organisation settings, course flow)."""

from django.urls import URLPattern, URLResolver, path

from coursewright.accounts.urls import patterns as account_patterns
from coursewright.audit.urls import patterns as audit_patterns
from coursewright.embed.dashboard import patterns as embedding_patterns
from coursewright.lti.dashboard import patterns as lti_patterns
from coursewright.orgs.urls import patterns as org_patterns
from coursewright.web import views
from coursewright.web.ai_views import patterns as ai_patterns
from coursewright.web.assist_views import patterns as assist_patterns
from coursewright.web.completion_views import patterns as completion_patterns
from coursewright.web.delivery_views import patterns as delivery_patterns
from coursewright.web.flow_urls import patterns as flow_patterns
from coursewright.web.forwarding_views import patterns as forwarding_patterns
from coursewright.web.license_views import patterns as license_patterns
from coursewright.web.log_views import patterns as log_patterns
from coursewright.webhooks.views import patterns as webhook_patterns

# Drafting and changing courses with AI (the views sit with the course flow's pages).
ai_flow_patterns: list[URLPattern] = [
    path("o/<slug:org_slug>/courses/brief/", views.draft_from_brief, name="draft_from_brief"),
    path("o/<slug:org_slug>/versions/<int:version_id>/screens/<slug:screen_id>/ai/redraft/",
         views.ai_redraft_screen, name="ai_redraft_screen"),
    path("o/<slug:org_slug>/versions/<int:version_id>/ai/refine/", views.ai_refine,
         name="ai_refine"),
    path("o/<slug:org_slug>/versions/<int:version_id>/ai/questions/", views.ai_questions,
         name="ai_questions"),
    path("o/<slug:org_slug>/versions/<int:version_id>/ai/translate/", views.ai_translate,
         name="ai_translate"),
]

app_name = "web"
urlpatterns: list[URLPattern | URLResolver] = [*account_patterns, *org_patterns, *flow_patterns,
                                              *audit_patterns, *ai_patterns, *ai_flow_patterns,
                                              *assist_patterns, *delivery_patterns,
                                              *license_patterns, *log_patterns,
                                              *completion_patterns, *forwarding_patterns,
                                              *webhook_patterns, *embedding_patterns,
                                              *lti_patterns]
