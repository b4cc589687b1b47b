"""Every answer under /api/ that is an error has the API's one error shape, including
those Django produces before the API runs (unknown path, wrong method, server error)."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

MESSAGES = {
    404: ("not_found", "There is no such API endpoint; see /api/v1/docs."),
    405: ("method_not_allowed", "This endpoint does not accept that HTTP method."),
    500: ("server_error", "Something went wrong on our side; it has been logged."),
}


class ApiErrorShapeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (request.path.startswith("/api/") and response.status_code >= 400
                and not response.get("Content-Type", "").startswith("application/json")):
            code, message = MESSAGES.get(response.status_code, ("error", response.reason_phrase))
            shaped = JsonResponse({"error": {"code": code, "message": message, "details": []}},
                                  status=response.status_code)
            if "Allow" in response:
                shaped["Allow"] = response["Allow"]
            return shaped
        return response


def is_error_shape(body: bytes) -> bool:
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and set(error) == {"code", "message", "details"}
