"""The HTTP API at /api/v1 (django-ninja, OpenAPI 3.1 at /api/v1/openapi.json).

Auth: ``Authorization: Bearer cw_…`` (an organisation's API key) or a dashboard session
(with CSRF). Every error has one shape: ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from coursewright.errors import DomainError
from coursewright.orgs.access import Principal, principal_for_key, principal_for_user
from coursewright.ratelimit_api import RateLimited


class ApiKeyAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        from coursewright.orgs.actions import authenticate_api_key
        from coursewright.ratelimit_api import charge_api_key

        key = authenticate_api_key(token)
        if key is None:
            return None
        charge_api_key(key.pk)  # RateLimited: 429 with Retry-After
        return principal_for_key(key)


class PersonSessionAuth(SessionAuth):
    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        from coursewright.audit.models import Channel

        user = super().authenticate(request, key)
        if user is None or not user.is_active:
            return None
        if not _mfa_satisfied(request):
            return None
        return principal_for_user(user, Channel.API)


def _mfa_satisfied(request: HttpRequest) -> bool:
    from coursewright.accounts.mfa import mfa_satisfied

    return mfa_satisfied(request)


class CoursewrightApi(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix: str | None = None,
                           path_params: dict[str, Any] | None = None) -> Any:
        from coursewright.openapi import document_errors

        return document_errors(super().get_openapi_schema(path_prefix=path_prefix,
                                                          path_params=path_params))


api = CoursewrightApi(
    title="coursewright API",
    version="1",
    description="Documents in, human-approved courses out. Authenticate with "
                "`Authorization: Bearer <org API key>`.",
    auth=[ApiKeyAuth(), PersonSessionAuth()],
    urls_namespace="api",
)


def error_response(request: HttpRequest, status: int, code: str, message: str,
                   details: list[Any] | None = None) -> HttpResponse:
    return api.create_response(
        request, {"error": {"code": code, "message": message, "details": details or []}},
        status=status)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(RateLimited)
def _rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = error_response(request, exc.status, exc.code, exc.message, exc.details)
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = [{"loc": [str(p) for p in e.get("loc", [])], "msg": e.get("msg", "")}
               for e in exc.errors]
    return error_response(request, 422, "invalid", "The request is not valid.", details)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, 401, "unauthenticated",
                          "Authenticate with an API key (Authorization: Bearer …) "
                          "or a dashboard session.")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", "not found")


_HTTP_ERROR_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden",
                     404: "not_found", 405: "method_not_allowed", 413: "too_large",
                     415: "unsupported_type", 429: "rate_limited"}


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    code = "csrf_failed" if "CSRF" in message else _HTTP_ERROR_CODES.get(
        exc.status_code, "error")
    if code == "csrf_failed":
        message = ("The CSRF check failed: send the csrftoken cookie's value in the "
                   "X-CSRFToken header, or use an API key.")
    return error_response(request, exc.status_code, code, message)


def principal(request: HttpRequest) -> Principal:
    auth = request.auth  # type: ignore[attr-defined]
    assert isinstance(auth, Principal)
    return auth


def _register() -> None:
    from coursewright.ai.api import ai_router
    from coursewright.ai.api import router as jobs_router
    from coursewright.courses.api import router as courses_router
    from coursewright.ingest.api import router as documents_router
    from coursewright.orgs.api import router as orgs_router
    from coursewright.privacy.api import router as deletion_router
    from coursewright.privacy.export_api import router as export_router
    from coursewright.privacy.retention_api import router as retention_router
    from coursewright.publishing.api import router as exports_router

    api.add_router("/", orgs_router)
    api.add_router("/documents", documents_router)
    api.add_router("/jobs", jobs_router)
    api.add_router("/", ai_router)
    api.add_router("/", courses_router)
    api.add_router("/", exports_router)
    api.add_router("/audit", "coursewright.audit.api.router")
    api.add_router("/", deletion_router)
    api.add_router("/", retention_router)
    api.add_router("/", export_router)
    api.add_router("/", "coursewright.assist.api.router")
    api.add_router("/", "coursewright.delivery.api_deployments.router")
    api.add_router("/ai", "coursewright.ai.api_policy.router")
    api.add_router("/subprocessors", "coursewright.ai.api_policy.public_router")
    api.add_router("/licenses", "coursewright.delivery.api_licenses.router")
    api.add_router("/", "coursewright.delivery.api_logs.router")
    api.add_router("/", "coursewright.tracking.api_completions.router")
    api.add_router("/xapi", "coursewright.tracking.api_xapi.router")
    api.add_router("/xapi/forwarding", "coursewright.tracking.api_forwarding.router")
    api.add_router("/embed", "coursewright.embed.api.router")
    api.add_router("/webhooks", "coursewright.webhooks.api.router")
    api.add_router("/lti", "coursewright.lti.api.router")


_register()
