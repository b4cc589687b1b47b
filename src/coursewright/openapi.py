"""The error answers in the API's OpenAPI document.

Every error the API gives has one shape, ``{"error": {"code", "message", "details"}}``
(``coursewright.api.error_response``, and ``web.api_errors`` for what Django answers
before the API runs). django-ninja documents only the answers a route declares, which
are its successes, so the document said nothing of errors and a client generated from
it could not read one. :func:`document_errors` adds to every operation:

- ``401`` when the operation needs an API key or a session;
- ``404`` when it names an object or an organisation (a path parameter or ``org``):
  another organisation's object answers exactly like one that does not exist;
- ``422`` when it takes input: the framework's validation and the actions' ``Invalid``;
- ``default`` for the rest (403 role or CSRF, 409 state conflicts, 413, 415, 429 …),
  which depend on the object's state rather than on the operation's signature.

All of them point at one schema, ``ApiError``, closed like the shape itself, so a
stray key in an error answer fails the schemathesis run in
``tests/api/test_openapi_schemathesis.py``.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA_NAME = "ApiError"
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string", "description": "A stable machine-readable code, "
                                                      "e.g. not_found, invalid, forbidden"},
            "message": {"type": "string", "description": "What went wrong, for a person"},
            "details": {"type": "array", "items": {"type": "object"},
                        "description": "Per-field problems, when there are any"},
        },
    }},
}

_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
_DESCRIPTIONS = {
    "401": "Not authenticated: send an API key (Authorization: Bearer …) or a session",
    "404": "Not found — also another organisation's object or organisation",
    "422": "The request is not valid (details name the fields)",
    "default": "Another error: 403 not allowed, 409 conflict with the object's state, "
               "413 too large, 415 unsupported type, 429 rate limited (Retry-After) …",
}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _error(status: str) -> dict[str, Any]:
    return {"description": _DESCRIPTIONS[status],
            "content": {"application/json": {"schema": dict(_ERROR_REF)}}}


def _statuses(operation: dict[str, Any]) -> list[str]:
    parameters = operation.get("parameters") or []
    statuses = []
    if operation.get("security"):
        statuses.append("401")
    if any(p.get("in") == "path" or p.get("name") in {"org", "org_slug"}
           for p in parameters):
        statuses.append("404")
    if parameters or "requestBody" in operation:
        statuses.append("422")
    return [*statuses, "default"]


def document_errors(document: Any) -> Any:
    """``document`` (an OpenAPI 3.1 dict), with the error answers of every operation."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if schemas.get(ERROR_SCHEMA_NAME, ERROR_SCHEMA) != ERROR_SCHEMA:
        raise RuntimeError(f"another schema is already called {ERROR_SCHEMA_NAME!r}")
    schemas[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    for methods in document.get("paths", {}).values():
        for method, operation in methods.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            declared = {str(code) for code in responses}  # ninja keys them by int
            for status in _statuses(operation):
                if status not in declared:
                    responses[status] = _error(status)
    return document
