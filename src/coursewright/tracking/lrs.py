"""The xAPI LRS over HTTP, at ``/xapi/`` (plain Django views: the ingestion path
carries no framework weight it does not need).

Design note
-----------
- **Versions.** Every request except ``/about`` and CORS preflights must send
  ``X-Experience-API-Version``: 1.0 / 1.0.x is answered as 1.0.3, 2.0 / 2.0.x as 2.0.0,
  anything else (or nothing) is a 400. The version is checked before the credentials
  (the conformance suites expect a 400, not a 401, for a request with neither).
  Where the versions differ the request's version decides: validation (2.0's context
  agents and groups), state concurrency (409 under 2.0), the default statement
  ``version``, and the alternate request syntax (1.0.3 only; 2.0 removed it; its form
  parameters ``Authorization``, ``X-Experience-API-Version``, ``Content-Type``,
  ``Content-Length``, ``If-Match`` and ``If-None-Match`` override real headers).
- **Every answer** — success or error, from any resource — carries
  ``X-Experience-API-Version``, ``Date``, ``Cache-Control: no-store`` and the CORS
  headers; statement resource answers also carry ``X-Experience-API-Consistent-Through``
  (the LRS is consistent as soon as a write returns, so it is the time of the request).
  Errors are ``text/plain`` sentences.
- **Credentials** are HTTP Basic (``tracking.credentials``): one indexed lookup and a
  constant-time compare per request, nothing cached, so a revocation refuses the next
  request. A wrong or missing credential is 401 with ``WWW-Authenticate``; a credential
  whose scopes do not cover the request is 403. Everything is scoped to the credential's
  organisation (and license): another organisation's statements and documents are
  unreachable, not forbidden.
- **CORS.** Browser content (cmi5 AUs) calls the LRS from other origins with the
  credential in the ``Authorization`` header, never with cookies; so the LRS answers
  ``Access-Control-Allow-Origin: *`` without ``Allow-Credentials`` (a page on another
  site holding no credential can read nothing), answers preflights without credentials,
  and exposes the xAPI headers to scripts.
- **Strictness.** Unknown or mis-cased query parameters, repeated parameters, malformed
  values, unknown statement properties, wrong content types and malformed multipart
  bodies are 400; unsupported methods are 405 with ``Allow``; oversize requests are 413.
- **Request size.** Bodies are read through Django's stream up to
  ``settings.MAX_REQUEST_BYTES`` (``web.middleware.RequestSizeLimitMiddleware`` refuses
  larger declared lengths before this view runs), not through ``request.body``, whose
  smaller ``DATA_UPLOAD_MAX_MEMORY_SIZE`` would refuse attachments above 10 MB.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from coursewright.tracking import documents, statements
from coursewright.tracking.credentials import Caller, authenticate
from coursewright.tracking.models import DocumentKind, Scope
from coursewright.tracking.multipart import build as build_multipart
from coursewright.tracking.multipart import no_duplicate_keys, statements_and_attachments
from coursewright.tracking.validation import (
    XapiError,
    is_iri,
    is_uuid,
    parse_timestamp,
    validate_agent,
)

V1, V2 = "1.0.3", "2.0.0"
LATEST = V2
_VERSION_1 = re.compile(r"^1\.0(\.\d+)?$")
_VERSION_2 = re.compile(r"^2\.0(\.\d+)?$")
ALT_HEADERS = {"authorization": "Authorization", "x-experience-api-version": "version",
               "content-type": "Content-Type", "content-length": "Content-Length",
               "if-match": "If-Match", "if-none-match": "If-None-Match"}
ALT_METHODS = frozenset({"GET", "PUT", "POST", "DELETE"})
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified, Content-Type, Content-Length, "
                                     "X-Experience-API-Version, "
                                     "X-Experience-API-Consistent-Through",
}
PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Experience-API-Version, "
                                    "If-Match, If-None-Match, Accept-Language",
    "Access-Control-Max-Age": "86400",
}
MORE_SALT = "coursewright.tracking.more"
STATEMENT_QUERY = frozenset({"agent", "verb", "activity", "registration",
                             "related_activities", "related_agents", "since", "until",
                             "limit", "format", "attachments", "ascending"})
FORMATS = frozenset({"exact", "ids", "canonical"})


@dataclass
class XRequest:
    """A request as the LRS sees it, after the alternate request syntax is undone."""

    django: HttpRequest
    method: str
    params: dict[str, str]
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # from an alternate-syntax form
    version: str = LATEST
    caller: Caller | None = None

    @property
    def v2(self) -> bool:
        return self.version == V2

    def header(self, name: str) -> str | None:
        # xAPI 1.0.3 Communication 1.3.s3.b7: under the alternate request syntax the
        # listed form parameters are the request's headers, so they win over real ones
        # (the real Content-Type is the form's own, application/x-www-form-urlencoded)
        if name in self.headers:
            return self.headers[name]
        return self.django.headers.get(name)

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").strip()

    @property
    def mime(self) -> str:
        return self.content_type.split(";")[0].strip().lower()

    @property
    def authenticated(self) -> Caller:
        assert self.caller is not None
        return self.caller


# --- responses ---------------------------------------------------------------------------


def _finish(response: HttpResponse, version: str, *, consistent: bool = False) -> HttpResponse:
    response["X-Experience-API-Version"] = version
    response["Date"] = http_date()
    response["Cache-Control"] = "no-store"
    for name, value in CORS.items():
        response[name] = value
    if consistent:
        response["X-Experience-API-Consistent-Through"] = statements.iso(statements.now_ms())
    return response


def _json(data: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(statements.dumps(data), status=status, content_type="application/json")


def _error(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="xAPI"'
    return response


def _no_content(etag: str | None = None) -> HttpResponse:
    response = HttpResponse(status=204)
    del response["Content-Type"]
    if etag:
        response["ETag"] = f'"{etag}"'
    return response


def _version(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if _VERSION_1.match(value):
        return V1
    if _VERSION_2.match(value):
        return V2
    return None


# --- reading requests ---------------------------------------------------------------------


def _read_body(request: HttpRequest) -> bytes:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise XapiError(400, "Content-Length is not a number") from None
    if length > settings.MAX_REQUEST_BYTES:
        raise XapiError(413, "the request is too large")
    data = request.read(settings.MAX_REQUEST_BYTES + 1)
    if len(data) > settings.MAX_REQUEST_BYTES:
        raise XapiError(413, "the request is too large")
    return data


def _single_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in pairs:
        if key in values:
            raise XapiError(400, f"the parameter {key!r} is given more than once")
        values[key] = value
    return values


def _parse(request: HttpRequest) -> XRequest:
    method = request.method or "GET"
    params = _single_values([(k, v) for k, vs in request.GET.lists() for v in vs])
    body = b"" if method in ("GET", "HEAD", "OPTIONS") else _read_body(request)
    xrequest = XRequest(django=request, method=method, params=params, body=body)
    if "method" not in params:
        return xrequest
    # the alternate request syntax (xAPI 1.0.3 Communication 1.3; removed in 2.0)
    if method != "POST":
        raise XapiError(400, "the alternate request syntax (?method=) is only for POST")
    if set(params) != {"method"}:
        raise XapiError(400, "with the alternate request syntax every parameter goes in "
                             "the form body; the query string holds only method")
    tunnelled = params["method"].upper()
    if tunnelled not in ALT_METHODS:
        raise XapiError(400, f"method={params['method']!r} is not GET, PUT, POST or DELETE")
    mime = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if mime != "application/x-www-form-urlencoded":
        raise XapiError(400, "the alternate request syntax needs an "
                             "application/x-www-form-urlencoded body")
    try:
        form = _single_values(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                        strict_parsing=bool(body)))
    except (ValueError, UnicodeDecodeError):
        raise XapiError(400, "the form body is not application/x-www-form-urlencoded") from None
    headers: dict[str, str] = {}
    form_params: dict[str, str] = {}
    content: str | None = None
    for key, value in form.items():
        if key.lower() in ALT_HEADERS:
            name = ALT_HEADERS[key.lower()]
            headers["X-Experience-API-Version" if name == "version" else name] = value
        elif key == "content":
            content = value
        else:
            form_params[key] = value
    if tunnelled in ("PUT", "POST") and content is None:
        raise XapiError(400, "the alternate request syntax sends the body as the form "
                             "parameter 'content'")
    headers.setdefault("Content-Type", "application/json")
    return XRequest(django=request, method=tunnelled, params=form_params,
                    body=(content or "").encode(), headers=headers, version=LATEST)


Handler = Callable[[XRequest], HttpResponse]


def endpoint(handlers: dict[str, Handler], *, public: bool = False,
             consistent: bool = False) -> Callable[[HttpRequest], HttpResponse]:
    allowed = set(handlers) | ({"HEAD"} if "GET" in handlers else set())
    allow_header = ", ".join(sorted(allowed | {"OPTIONS"}))

    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        version = _version(request.headers.get("X-Experience-API-Version")) or LATEST
        if request.method == "OPTIONS":
            response = _no_content()
            for name, value in PREFLIGHT.items():
                response[name] = value
            return _finish(response, version)
        if request.method not in allowed:
            response = _error(405, f"{request.method} is not supported here; use "
                                   f"{allow_header}")
            response["Allow"] = allow_header
            return _finish(response, version, consistent=consistent)
        try:
            xrequest = _parse(request)
            declared = xrequest.header("X-Experience-API-Version")
            parsed = _version(declared)
            if parsed is not None:
                version = xrequest.version = parsed
            if "method" in request.GET and xrequest.v2:
                raise XapiError(400, "xAPI 2.0 removed the alternate request syntax")
            if xrequest.method not in allowed:
                raise XapiError(405, f"{xrequest.method} is not supported here")
            if not public:
                if parsed is None:
                    raise XapiError(400, "send the X-Experience-API-Version header (1.0.x "
                                         "or 2.0.x)" if declared is None else
                                    f"X-Experience-API-Version {declared!r} is not "
                                    "supported (1.0.x or 2.0.x)")
                xrequest.caller = authenticate(xrequest.header("Authorization"))
                if xrequest.caller is None:
                    raise XapiError(401, "authenticate with HTTP Basic: an xAPI credential's "
                                         "key and secret")
            handler = handlers["GET" if xrequest.method == "HEAD" else xrequest.method]
            response = handler(xrequest)
        except XapiError as exc:
            response = _error(exc.status, exc.message)
        if request.method == "HEAD":
            length = len(response.content)
            response.content = b""
            response["Content-Length"] = str(length)
        return _finish(response, version, consistent=consistent)

    return view


# --- parameters -----------------------------------------------------------------------------


def _only(request: XRequest, allowed: frozenset[str] | set[str]) -> None:
    unknown = [k for k in request.params if k not in allowed]
    if unknown:
        raise XapiError(400, f"unknown parameter{'s' if len(unknown) > 1 else ''}: "
                             f"{', '.join(sorted(unknown))}")


def _bool(request: XRequest, name: str) -> bool:
    value = request.params.get(name)
    if value is None:
        return False
    if value not in ("true", "false"):
        raise XapiError(400, f"{name} must be true or false")
    return value == "true"


def _agent(request: XRequest, name: str = "agent", *, required: bool = True
           ) -> dict[str, Any] | None:
    value = request.params.get(name)
    if value is None:
        if required:
            raise XapiError(400, f"the {name} parameter is required")
        return None
    try:
        agent = json.loads(value, object_pairs_hook=no_duplicate_keys)
    except ValueError:
        raise XapiError(400, f"{name} must be an Agent as JSON") from None
    return validate_agent(agent, name, v2=request.v2)


def _iri(request: XRequest, name: str, *, required: bool = True) -> str | None:
    value = request.params.get(name)
    if value is None:
        if required:
            raise XapiError(400, f"the {name} parameter is required")
        return None
    if not is_iri(value):
        raise XapiError(400, f"{name} must be an absolute IRI")
    return value


def _uuid(request: XRequest, name: str) -> str | None:
    value = request.params.get(name)
    if value is not None and not is_uuid(value):
        raise XapiError(400, f"{name} must be a UUID")
    return value


def _time(request: XRequest, name: str) -> datetime | None:
    value = request.params.get(name)
    if value is None:
        return None
    moment = parse_timestamp(value)
    if moment is None:
        raise XapiError(400, f"{name} must be an ISO 8601 timestamp")
    return moment


def _require(request: XRequest, name: str) -> str:
    value = request.params.get(name)
    if value is None:
        raise XapiError(400, f"the {name} parameter is required")
    return value


# --- /about ----------------------------------------------------------------------------------


def about_get(request: XRequest) -> HttpResponse:
    _only(request, set())
    versions = ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]
    if request.version != V1:  # a 1.0.x client only knows 1.0.x versions
        versions.append(V2)
    return _json({"version": versions, "extensions": {}})


# --- /statements -----------------------------------------------------------------------------


def _statement_documents(request: XRequest) -> tuple[list[Any], dict[str, tuple[bytes, str]],
                                                     bool]:
    """(statement objects, attachments by sha2, whether the body was an array)."""
    mime = request.mime
    if mime == "application/json":
        try:
            document = json.loads(request.body, object_pairs_hook=no_duplicate_keys)
        except (ValueError, UnicodeDecodeError) as exc:
            raise XapiError(400, f"the body is not valid JSON: {exc}") from None
        attachments: dict[str, tuple[bytes, str]] = {}
    elif mime == "multipart/mixed":
        document, attachments = statements_and_attachments(request.body,
                                                           request.content_type)
    else:
        raise XapiError(400, "send statements as application/json, or multipart/mixed "
                             "with attachments")
    if isinstance(document, list):
        return document, attachments, True
    return [document], attachments, False


def statements_post(request: XRequest) -> HttpResponse:
    _only(request, set())
    caller = request.authenticated
    if not caller.may(Scope.STATEMENTS_WRITE):
        raise XapiError(403, "this credential may not write statements")
    batch, attachments, _ = _statement_documents(request)
    if not batch:
        raise XapiError(400, "the batch holds no statement")
    prepared = statements.prepare(caller, batch, v2=request.v2, attachments=attachments)
    return _json(statements.store(caller, prepared, attachments))


def statements_put(request: XRequest) -> HttpResponse:
    _only(request, {"statementId"})
    statement_id = _require(request, "statementId")
    if not is_uuid(statement_id):
        raise XapiError(400, "statementId must be a UUID")
    caller = request.authenticated
    if not caller.may(Scope.STATEMENTS_WRITE):
        raise XapiError(403, "this credential may not write statements")
    batch, attachments, was_array = _statement_documents(request)
    if was_array or not isinstance(batch[0], dict):
        raise XapiError(400, "PUT takes one statement (a JSON object)")
    statement = batch[0]
    if "id" in statement and str(statement["id"]).lower() != statement_id.lower():
        raise XapiError(400, "the statement's id differs from the statementId parameter")
    statement["id"] = statement_id.lower()
    prepared = statements.prepare(caller, [statement], v2=request.v2,
                                  attachments=attachments)
    statements.store(caller, prepared, attachments)
    return _no_content()


def _more_token(request: XRequest, cursor: tuple[datetime, int]) -> str:
    caller = request.authenticated
    params = {k: v for k, v in request.params.items() if k != "more"}
    return signing.dumps({"p": params, "c": [cursor[0].isoformat(), cursor[1]],
                          "k": caller.credential_id}, salt=MORE_SALT, compress=True)


def _query(request: XRequest) -> tuple[statements.Query, str, bool]:
    _only(request, STATEMENT_QUERY)
    fmt = request.params.get("format", "exact")
    if fmt not in FORMATS:
        raise XapiError(400, "format must be exact, ids or canonical")
    limit_text = request.params.get("limit", "0")
    if not limit_text.isdigit() or len(limit_text) > 9:
        raise XapiError(400, "limit must be a whole number, 0 or more")
    query = statements.Query(
        agent=_agent(request, required=False), verb=_iri(request, "verb", required=False),
        activity=_iri(request, "activity", required=False),
        registration=_uuid(request, "registration"),
        related_activities=_bool(request, "related_activities"),
        related_agents=_bool(request, "related_agents"),
        since=_time(request, "since"), until=_time(request, "until"),
        ascending=_bool(request, "ascending"), limit=int(limit_text))
    return query, fmt, _bool(request, "attachments")


def _result(request: XRequest, body: Any, rendered: list[dict[str, Any]],
            attachments: bool) -> HttpResponse:
    if not attachments:
        return _json(body)
    parts = statements.attachment_parts(request.authenticated, rendered)
    payload, content_type = build_multipart(statements.dumps(body), parts)
    return HttpResponse(payload, content_type=content_type)


def statements_get(request: XRequest) -> HttpResponse:
    caller = request.authenticated
    languages = statements.accepted_languages(request.header("Accept-Language"))
    params = request.params
    if "more" in params:
        if set(params) != {"more"}:
            raise XapiError(400, "a more link takes no other parameter")
        try:
            token = signing.loads(params["more"], salt=MORE_SALT)
        except signing.BadSignature:
            raise XapiError(400, "the more link is not valid") from None
        if token.get("k") != caller.credential_id:
            raise XapiError(400, "the more link belongs to another credential")
        request.params = dict(token["p"])
        query, fmt, attachments = _query(request)
        query.after = (datetime.fromisoformat(token["c"][0]), int(token["c"][1]))
        return _statement_page(request, query, fmt, attachments, languages)
    single = {"statementId", "voidedStatementId"} & set(params)
    if single:
        if len(single) > 1:
            raise XapiError(400, "use statementId or voidedStatementId, not both")
        name = single.pop()
        _only(request, {name, "format", "attachments"})
        fmt = params.get("format", "exact")
        if fmt not in FORMATS:
            raise XapiError(400, "format must be exact, ids or canonical")
        attachments = _bool(request, "attachments")
        if not is_uuid(params[name]):
            raise XapiError(400, f"{name} must be a UUID")
        row = statements.single(caller, params[name], voided=name == "voidedStatementId")
        if row is None:
            raise XapiError(404, "no such statement" + (" (or it is voided: use "
                            "voidedStatementId)" if name == "statementId" else " voided"))
        rendered = statements.render(caller, [row], fmt, languages)
        response = _result(request, rendered[0], rendered, attachments)
        response["Last-Modified"] = http_date(row.stored.timestamp())
        return response
    query, fmt, attachments = _query(request)
    return _statement_page(request, query, fmt, attachments, languages)


def _statement_page(request: XRequest, query: statements.Query, fmt: str, attachments: bool,
                    languages: list[str]) -> HttpResponse:
    caller = request.authenticated
    rows, more = statements.page(caller, query)
    rendered = statements.render(caller, rows, fmt, languages)
    more_link = ""
    if more and rows:
        token = _more_token(request, (rows[-1].stored, rows[-1].pk))
        more_link = f"{request.django.path}?more={token}"
    return _result(request, {"statements": rendered, "more": more_link}, rendered,
                   attachments)


# --- /activities, /agents --------------------------------------------------------------------


def activities_get(request: XRequest) -> HttpResponse:
    _only(request, {"activityId"})
    iri = _iri(request, "activityId")
    assert iri is not None
    known = statements.canonical_activities(request.authenticated, [iri]).get(iri)
    activity: dict[str, Any] = {"objectType": "Activity", "id": iri}
    if known and known.get("definition"):
        activity["definition"] = known["definition"]
    return _json(activity)


def agents_get(request: XRequest) -> HttpResponse:
    _only(request, {"agent"})
    agent = _agent(request)
    assert agent is not None
    caller = request.authenticated
    if caller.pseudonymise:
        agent = caller.keys.pseudonymise(agent)
    person: dict[str, Any] = {"objectType": "Person"}
    if agent.get("objectType") != "Group" and "name" in agent:
        person["name"] = [agent["name"]]
    for key in ("mbox", "mbox_sha1sum", "openid", "account"):
        if key in agent:
            person[key] = [agent[key]]
    return _json(person)


# --- documents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentResource:
    kind: str
    id_param: str
    scope: str
    needs_activity: bool
    needs_agent: bool

    def params(self, request: XRequest, *, many: bool) -> set[str]:
        allowed = {self.id_param}
        if self.needs_activity:
            allowed.add("activityId")
        if self.needs_agent:
            allowed.add("agent")
        if self.kind == DocumentKind.STATE:
            allowed.add("registration")
        if many:
            allowed.add("since")
        return allowed

    def target(self, request: XRequest) -> documents.Target:
        return documents.Target(
            kind=self.kind,
            activity=_iri(request, "activityId") if self.needs_activity else None,
            agent=_agent(request) if self.needs_agent else None,
            registration=_uuid(request, "registration") if self.kind == DocumentKind.STATE
            else None,
            document_id=request.params.get(self.id_param))

    def check_scope(self, request: XRequest, *, write: bool) -> Caller:
        caller = request.authenticated
        if not (caller.may(self.scope) or (not write and caller.may_read())):
            raise XapiError(403, f"this credential lacks the {self.scope!r} scope")
        return caller

    def get(self, request: XRequest) -> HttpResponse:
        _only(request, self.params(request, many=True))
        caller = self.check_scope(request, write=False)
        target = self.target(request)
        since = _time(request, "since")  # checked even where it does not apply
        if target.document_id is None:
            ids = documents.list_ids(caller, target, since)
            response = _json(ids)
            response["ETag"] = f'"{documents.etag_of(response.content)}"'
            return response
        found = documents.read(caller, target)
        if found is None:
            raise XapiError(404, "no such document")
        response = HttpResponse(found.body, content_type=found.content_type)
        response["ETag"] = f'"{found.etag}"'
        response["Last-Modified"] = http_date(found.updated.timestamp())
        return response

    def write(self, request: XRequest, *, merge: bool) -> HttpResponse:
        _only(request, self.params(request, many=False))
        caller = self.check_scope(request, write=True)
        target = self.target(request)
        if target.document_id is None:
            raise XapiError(400, f"the {self.id_param} parameter is required")
        etag = documents.write(caller, target, request.body, request.content_type,
                               merge=merge, if_match=request.header("If-Match"),
                               if_none_match=request.header("If-None-Match"), v2=request.v2)
        return _no_content(etag)

    def put(self, request: XRequest) -> HttpResponse:
        return self.write(request, merge=False)

    def post(self, request: XRequest) -> HttpResponse:
        return self.write(request, merge=True)

    def delete(self, request: XRequest) -> HttpResponse:
        _only(request, self.params(request, many=False))
        caller = self.check_scope(request, write=True)
        target = self.target(request)
        if target.document_id is None and self.kind != DocumentKind.STATE:
            raise XapiError(400, f"the {self.id_param} parameter is required")
        documents.delete(caller, target, if_match=request.header("If-Match"),
                         if_none_match=request.header("If-None-Match"))
        return _no_content()

    def handlers(self) -> dict[str, Handler]:
        return {"GET": self.get, "PUT": self.put, "POST": self.post, "DELETE": self.delete}


STATE = DocumentResource(DocumentKind.STATE, "stateId", Scope.STATE, True, True)
ACTIVITY_PROFILE = DocumentResource(DocumentKind.ACTIVITY_PROFILE, "profileId",
                                    Scope.PROFILE, True, False)
AGENT_PROFILE = DocumentResource(DocumentKind.AGENT_PROFILE, "profileId", Scope.PROFILE,
                                 False, True)

about = endpoint({"GET": about_get}, public=True)
statement_resource = endpoint({"GET": statements_get, "POST": statements_post,
                               "PUT": statements_put}, consistent=True)
activities = endpoint({"GET": activities_get})
agents = endpoint({"GET": agents_get})
state = endpoint(STATE.handlers())
activity_profile = endpoint(ACTIVITY_PROFILE.handlers())
agent_profile = endpoint(AGENT_PROFILE.handlers())

