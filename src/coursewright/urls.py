from django.urls import URLPattern, URLResolver, include, path

from coursewright.api import api
from coursewright.assist.player_api import player_api

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/", api.urls),
    path("api/player/v1/", player_api.urls),
    # the Gatekeeper (licensed launches) and the token-signing public keys
    path("", include("coursewright.delivery.gatekeeper_views")),
    # what a launched course reports back (progress, runtime errors)
    path("", include("coursewright.delivery.reports")),
    # the xAPI LRS (and, with it, cmi5 launching)
    path("", include("coursewright.tracking.urls")),
    # the cmi5 launching system (launch, fetch URLs, the LMS listener)
    path("", include("coursewright.cmi5.urls")),
    # the embeddable editor and player (partners' iframes, no cookies)
    path("", include("coursewright.embed.views")),
    # the LTI 1.3 tool (login, launch, deep linking, its key set)
    path("", include("coursewright.lti.views")),
    path("", include("coursewright.web.urls")),
]
