"""Dashboard URLs, one list per area (accounts, organisation settings, course flow)."""

from django.urls import URLPattern, URLResolver

from coursewright.accounts.urls import patterns as account_patterns
from coursewright.audit.urls import patterns as audit_patterns
from coursewright.orgs.urls import patterns as org_patterns
from coursewright.web.flow_urls import patterns as flow_patterns

app_name = "web"
urlpatterns: list[URLPattern | URLResolver] = [*account_patterns, *org_patterns, *flow_patterns,
                                              *audit_patterns]
