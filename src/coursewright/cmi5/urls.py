"""The cmi5 launching system's routes (``cmi5.views``); the project's ``urls.py``
includes them at the root."""

from coursewright.cmi5.views import app_name, urlpatterns

__all__ = ["app_name", "urlpatterns"]
