from django.urls import URLPattern, URLResolver, include, path

from coursewright.api import api
from coursewright.assist.player_api import player_api

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/", api.urls),
    path("api/player/v1/", player_api.urls),
    path("", include("coursewright.web.urls")),
]
