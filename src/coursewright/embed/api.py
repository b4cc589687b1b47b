"""The partner API for embedding (``/api/v1/embed``): exchange an API key for a token
pair, refresh it, revoke tokens (how the tokens work: ``embed.tokens`` and
``embed.actions``); the origins allowed to embed; one-time codes; and what the embedded
pages do with a token.

- ``POST /embed/token``: the partner's backend, with its API key only (not a dashboard
  session): ``{user, scope, courses, ttl}`` → ``{access_token, token_type, expires_in,
  refresh_token, refresh_expires_in, scope}``.
- ``POST /embed/refresh``: no API key (the embedded page refreshes itself):
  ``{refresh_token}`` → a new pair; the old refresh token is spent.
- ``POST /embed/revoke``: API key only: exactly one of ``{"jti": …}``, ``{"user": …}``
  or ``{"all": true}`` (every token the calling key minted).
- ``GET/PUT /embed/origins``: the allow-list of origins that may frame the embedded
  pages (``embed.origins``), for the organisation's API key or its owners and admins.
- ``POST /embed/code`` (API key): a one-time code standing for a token exchange;
  ``POST /embed/code/exchange`` (no auth): the code, once, within 60 s → the token pair
  (``embed.codes``).
- With an embed token, for the embedded pages: ``POST /embed/courses`` (an author token
  for every course: a course from a title and a brief, ``embed.authoring``),
  ``POST /embed/attempts`` (a learner token: open or resume an attempt on a course, with
  its player page) and ``POST /embed/attempts/{id}/progress`` (its runtime's reports;
  ``embed.playing``).

Token answers are ``Cache-Control: no-store``; no embed answer sets a cookie.
(No postponed annotations here: ninja reads the schemas at runtime.)
"""

from typing import Annotated, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from coursewright.api import ApiKeyAuth, PersonSessionAuth, principal
from coursewright.courses.api import CourseOut
from coursewright.courses.models import Course
from coursewright.embed import actions, codes, playing
from coursewright.embed.actions import IssuedTokens
from coursewright.embed.auth import EmbedTokenAuth, embed_principal
from coursewright.embed.authoring import create_course_from_brief
from coursewright.embed.origins import registered_origins, set_origins
from coursewright.embed.tokens import MAX_TTL, MIN_TTL
from coursewright.errors import Invalid, NotFound
from coursewright.orgs.models import MANAGING_ROLES, ApiKey, Organisation

router = Router(tags=["embed"])
MAX_ID = 2**63 - 1  # a database id (bigint)
MAX_REPORT_VALUES = 50


class ExchangeIn(Schema):
    user: str = Field(description="Your own opaque id for the user (1 to 128 of A-Z a-z 0-9 "
                                  ". _ - : ~); never an e-mail address or a name")
    scope: Literal["author", "reviewer", "learner"]
    courses: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | Literal["*"] = Field(
        description='Ids of your organisation\'s courses the token may reach (1 to 50), or '
                    '"*" (author scope only) for every course, new ones included')
    ttl: int | None = Field(default=None, description=(
        f"Access-token lifetime in seconds ({MIN_TTL} to {MAX_TTL}); the default is the "
        "installation's (1 hour unless configured)"))


class RefreshIn(Schema):
    refresh_token: str


class TokenOut(Schema):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(description="Works once; refresh before the access token "
                                           "expires. Using a spent one revokes the session.")
    refresh_expires_in: int
    scope: str


class RevokeIn(Schema):
    jti: str | None = Field(default=None, description="One access token (its jti claim)")
    user: str | None = Field(default=None, description="Every session of this user")
    all: bool = Field(default=False, description="Every token the calling API key minted")


class RevokeOut(Schema):
    revoked: int = Field(description="Access tokens (by jti) or sessions (by user, all) "
                                     "revoked by this call")


def _token_answer(issued: IssuedTokens, response: HttpResponse) -> dict[str, object]:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return {"access_token": issued.access_token, "token_type": "Bearer",
            "expires_in": issued.expires_in, "refresh_token": issued.refresh_token,
            "refresh_expires_in": issued.refresh_expires_in, "scope": issued.scope}


def _api_key(request: HttpRequest) -> ApiKey:
    key = principal(request).actor.api_key
    assert key is not None  # ApiKeyAuth only
    return key


@router.post("/token", auth=ApiKeyAuth(), response=TokenOut,
             summary="Exchange the API key for an embed token pair for one of your users")
def exchange_embed_token(request: HttpRequest, body: ExchangeIn,
                         response: HttpResponse) -> dict[str, object]:
    issued = actions.exchange_token(_api_key(request), user=body.user, scope=body.scope,
                                    courses=body.courses, ttl=body.ttl)
    return _token_answer(issued, response)


@router.post("/refresh", auth=None, response=TokenOut,
             summary="Trade a refresh token for a new token pair (rotation)")
def refresh_embed_token(request: HttpRequest, body: RefreshIn,
                        response: HttpResponse) -> dict[str, object]:
    return _token_answer(actions.refresh_tokens(body.refresh_token), response)


@router.post("/revoke", auth=ApiKeyAuth(), response=RevokeOut,
             summary="Revoke embed tokens: one by jti, a user's, or all of this key's")
def revoke_embed_tokens(request: HttpRequest, body: RevokeIn) -> dict[str, int]:
    given = [name for name, value in (("jti", body.jti), ("user", body.user),
                                      ("all", body.all or None)) if value is not None]
    if len(given) != 1:
        raise Invalid('say exactly one of "jti", "user" or "all": true', code="bad_revoke")
    key = _api_key(request)
    actor = principal(request).actor
    if body.jti is not None:
        return {"revoked": actions.revoke_token(key, body.jti, actor=actor)}
    if body.user is not None:
        return {"revoked": actions.revoke_user(key, body.user, actor=actor)}
    return {"revoked": actions.revoke_key_tokens(key, actor=actor)}


# --- the allow-list of embedding origins (embed.origins) --------------------------------


class OriginsIn(Schema):
    origins: list[str] = Field(description=(
        "Every origin allowed to frame your embedded pages and to talk to them, "
        "scheme://host[:port] with no path: https, or http for localhost/127.0.0.1 only. "
        "The list replaces the current one; an empty list closes embedding."))


class OriginsOut(Schema):
    org: str
    origins: list[str]


def _origins_org(request: HttpRequest, slug: str | None) -> Organisation:
    """The organisation whose list is read or changed: the API key's, or one the
    signed-in person owns or administers (``?org=<slug>`` when they have several)."""
    p = principal(request)
    org = p.default_org(slug)
    request.audit_org = org  # type: ignore[attr-defined]  # the API-call entry's organisation
    if p.actor.api_key is None:
        p.require(org, MANAGING_ROLES, "manage the embedding origins")
    return org


@router.get("/origins", response=OriginsOut, auth=[ApiKeyAuth(), PersonSessionAuth()],
            summary="The origins allowed to embed your pages (the org's API key, or its "
                    "owners and admins)")
def get_embed_origins(request: HttpRequest, org: str | None = None) -> dict[str, object]:
    organisation = _origins_org(request, org)
    return {"org": organisation.slug, "origins": registered_origins(organisation)}


@router.put("/origins", response=OriginsOut, auth=[ApiKeyAuth(), PersonSessionAuth()],
            summary="Replace the origins allowed to embed your pages")
def put_embed_origins(request: HttpRequest, body: OriginsIn,
                      org: str | None = None) -> dict[str, object]:
    organisation = _origins_org(request, org)
    stored = set_origins(organisation, body.origins, actor=principal(request).actor)
    return {"org": organisation.slug, "origins": stored}


# --- one-time codes (embed.codes) -------------------------------------------------------


class CodeOut(Schema):
    code: str = Field(description="Put it in the embedded page's address (#code=…); it "
                                  "works once, for expires_in seconds")
    expires_in: int
    scope: str


class CodeExchangeIn(Schema):
    code: str


@router.post("/code", auth=ApiKeyAuth(), response=CodeOut,
             summary="A one-time code for an embed token pair (for the page's URL)")
def issue_embed_code(request: HttpRequest, body: ExchangeIn,
                     response: HttpResponse) -> dict[str, object]:
    issued = codes.issue_code(_api_key(request), user=body.user, scope=body.scope,
                              courses=body.courses, ttl=body.ttl)
    response["Cache-Control"] = "no-store"
    return {"code": issued.code, "expires_in": issued.expires_in, "scope": issued.scope}


@router.post("/code/exchange", auth=None, response=TokenOut,
             summary="Trade a one-time code for its token pair (once, within 60 seconds)")
def exchange_embed_code(request: HttpRequest, body: CodeExchangeIn,
                        response: HttpResponse) -> dict[str, object]:
    return _token_answer(codes.exchange_code(body.code), response)


# --- what the embedded pages do with an embed token -------------------------------------


class BriefIn(Schema):
    title: str = Field(max_length=300)
    brief: str = Field(max_length=5000, description=(
        "One screen per paragraph (paragraphs are separated by a blank line); a "
        "paragraph of several lines takes its first line as the screen's title"))
    language: Literal["en", "de", "fr", "es"] = "en"


@router.post("/courses", auth=EmbedTokenAuth(), response={201: CourseOut},
             summary="Create a course from a title and a brief (an embed author token for "
                     'every course, "*")')
def create_embedded_course(request: HttpRequest, body: BriefIn) -> Status[Course]:
    version = create_course_from_brief(embed_principal(request), title=body.title,
                                       brief=body.brief, language=body.language)
    return Status(201, version.course)


class AttemptIn(Schema):
    course: str = Field(description="The course's uid (as in the player's address)")


class AttemptCourse(Schema):
    id: int
    uid: str
    title: str


class AttemptVersion(Schema):
    id: int
    number: int


class AttemptOut(Schema):
    attempt: int
    resumed: bool
    format: Literal["scorm2004"]
    course: AttemptCourse
    version: AttemptVersion
    values: dict[str, str] = Field(description="What the page's SCORM API holds before "
                                               "the player sets anything")
    page: str = Field(description="The player's page (HTML) for the attempt")


class ProgressIn(Schema):
    values: dict[Annotated[str, Field(max_length=100)],
                 Annotated[str, Field(max_length=1000)]] = Field(
        max_length=MAX_REPORT_VALUES,
        description="The SCORM 2004 runtime's values (completion and success status, "
                    "score, progress measure, location); others are ignored")


class ProgressOut(Schema):
    completion: str
    success: str
    score: float | None
    progress: float | None
    commenced: bool = Field(description="This was the attempt's first report")
    completed: bool = Field(description="This report completed the attempt")


@router.post("/attempts", auth=EmbedTokenAuth(), response=AttemptOut,
             summary="Open (or resume) a learner's attempt on a course: the player page")
def open_embedded_attempt(request: HttpRequest, body: AttemptIn,
                          response: HttpResponse) -> dict[str, object]:
    attempt = playing.open_attempt(embed_principal(request), body.course)
    response["Cache-Control"] = "no-store"
    return {"attempt": attempt.row.pk, "resumed": attempt.resumed, "format": playing.FORMAT,
            "course": {"id": attempt.course.pk, "uid": str(attempt.course.uid),
                       "title": attempt.course.title},
            "version": {"id": attempt.version.pk, "number": attempt.version.number},
            "values": playing.seed_values(attempt.row, resumed=attempt.resumed),
            "page": attempt.page}


@router.post("/attempts/{attempt_id}/progress", auth=EmbedTokenAuth(), response=ProgressOut,
             summary="Report the embedded player's progress on an attempt")
def report_embedded_progress(request: HttpRequest, attempt_id: int,
                             body: ProgressIn) -> dict[str, object]:
    if not 1 <= attempt_id <= MAX_ID:
        raise NotFound("attempt not found")
    report = playing.report_progress(embed_principal(request), attempt_id, body.values)
    row = report.row
    return {"completion": row.completion, "success": row.success, "score": row.score,
            "progress": row.progress, "commenced": report.commenced,
            "completed": report.completed}
