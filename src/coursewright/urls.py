from django.urls import URLPattern, URLResolver, include, path

from coursewright.api import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/", api.urls),
    path("", include("coursewright.web.urls")),
]
