"""No NUL characters in API input: a clear 422 instead of a database error.

PostgreSQL text cannot hold NUL (U+0000): a query filter or a stored field containing
one made the database raise, and the client got a 500 (the schemathesis run found it
with ``GET /api/v1/ai/ledger?feature=%00``; SQLite stores it, so only PostgreSQL broke).
No text this API takes has a use for NUL, so, as Django's form fields do with
``ProhibitNullCharactersValidator``, every request under ``/api/`` is refused when a
query parameter, a form field or a string anywhere in a JSON body (keys included)
holds one. Uploaded files are bytes, not text, and are not looked at.

It runs before the API (so before any view parses the body itself) and answers in the
API's error shape, with the location of each offending value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse

NUL = "\x00"
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class NulTextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path.startswith("/api/"):
            found = list(_nul_locations(request))
            if found:
                return JsonResponse({"error": {
                    "code": "invalid",
                    "message": "Text may not contain NUL (U+0000) characters.",
                    "details": [{"loc": loc, "msg": "NUL characters are not allowed"}
                                for loc in found[:20]]}}, status=422)
        return self.get_response(request)


def _nul_locations(request: HttpRequest) -> Iterator[list[str]]:
    for key, values in request.GET.lists():
        if NUL in key or any(NUL in v for v in values):
            yield ["query", key]
    content_type = request.content_type or ""
    if content_type == "multipart/form-data" and not _body_fits_in_memory(request):
        return  # a large upload: its text fields are the view's to check
    if content_type in FORM_TYPES:
        # read the raw body first: Django then parses the form from that copy, and a
        # view that reads ``request.body`` itself (a JSON endpoint sent a form) still can
        request.body  # noqa: B018
        for key, values in request.POST.lists():
            if NUL in key or any(NUL in v for v in values):
                yield ["form", key]
    elif "json" in content_type and b"\\u0000" in request.body:
        try:
            data = json.loads(request.body)
        except ValueError:
            return  # not JSON: the API answers that itself
        yield from _in_json(data, ["body"])


def _body_fits_in_memory(request: HttpRequest) -> bool:
    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return limit is None or length <= limit


def _in_json(value: Any, loc: list[str]) -> Iterator[list[str]]:
    if isinstance(value, str):
        if NUL in value:
            yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield [*loc, key]
            yield from _in_json(item, [*loc, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _in_json(item, [*loc, str(index)])
