"""The player API at ``/api/player/v1``: what a learner's player calls (tutor, grading).

A separate API from ``/api/v1`` because its caller is different in every way: not a
person or an organisation's key but a player running on an LMS at an unknown origin,
authenticated by the version's player token (``assist.access``; interim, to be replaced
by launch-session credentials) in ``Authorization: Bearer``.

CORS: every answer (errors included, so the player can read a 403's reason or a 429's
``Retry-After``) carries ``Access-Control-Allow-Origin: *`` and never
``Access-Control-Allow-Credentials``: browsers then send no cookies and expose no
cookie-authenticated data, and no session or CSRF is involved. Preflights (``OPTIONS``)
allow ``POST`` with the ``Authorization`` and ``Content-Type`` headers.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from coursewright.assist.access import authenticate_token
from coursewright.assist.grading import grade_answer
from coursewright.assist.models import AssistAccess
from coursewright.assist.ratelimit import RateLimited
from coursewright.assist.tutor import MAX_QUESTION, answer_question
from coursewright.errors import DomainError

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Expose-Headers": "Retry-After",
    "Access-Control-Max-Age": "600",
}


class PlayerTokenAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> AssistAccess | None:
        return authenticate_token(token)


class PlayerApi(NinjaAPI):
    def _cors(self, response: HttpResponse) -> HttpResponse:
        for name, value in CORS_HEADERS.items():
            response[name] = value
        response["Cache-Control"] = "no-store"
        return response

    def create_response(self, request: HttpRequest, data: Any, *, status: int | None = None,
                        temporal_response: HttpResponse | None = None) -> HttpResponse:
        return self._cors(super().create_response(request, data, status=status,
                                                  temporal_response=temporal_response))


player_api = PlayerApi(
    title="coursewright player API",
    version="1",
    description="What the learner player calls: the AI tutor and AI grading of free-text "
                "answers. Authenticate with `Authorization: Bearer <player token>` (the "
                "version's interim token from its build).",
    auth=PlayerTokenAuth(),
    urls_namespace="player_api",
    docs_url=None,
)


def _error(request: HttpRequest, status: int, code: str, message: str,
           details: list[Any] | None = None) -> HttpResponse:
    return player_api.create_response(
        request, {"error": {"code": code, "message": message, "details": details or []}},
        status=status)


@player_api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    response = _error(request, exc.status, exc.code, exc.message, exc.details)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


@player_api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = [{"loc": [str(p) for p in e.get("loc", [])], "msg": e.get("msg", "")}
               for e in exc.errors]
    return _error(request, 422, "invalid", "The request is not valid.", details)


@player_api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "bad_player_token",
                  "This course's player token is missing, revoked or not valid.")


@player_api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, "error", str(exc))


def _access(request: HttpRequest) -> AssistAccess:
    auth = request.auth  # type: ignore[attr-defined]
    assert isinstance(auth, AssistAccess)
    return auth


router = Router(tags=["player"])


class QuestionIn(Schema):
    session_id: str = Field(description="The player's random session id (not an LMS id)",
                            max_length=64)
    question: str = Field(max_length=MAX_QUESTION * 2)


class ReferenceOut(Schema):
    ref: str
    kind: str = Field(description="screen: the course's own text; source: a cited passage "
                                  "of the source document")
    screen_id: str
    screen_title: str
    section: str
    excerpt: str


class TutorOut(Schema):
    mode: str = Field(description="ai: a model answered from the passages; extractive: no "
                                  "model, the best-matching passages quoted")
    found: bool
    answer: str
    references: list[ReferenceOut]


class AnswerIn(Schema):
    session_id: str = Field(max_length=64)
    block_id: str = Field(max_length=40)
    answer: str = Field(max_length=20000)


class CriterionOut(Schema):
    id: str
    met: bool
    justification: str


class GradeOut(Schema):
    id: str = Field(description="The grading record (a reviewer may change the score)")
    score: int
    max_score: int
    status: str
    criteria: list[CriterionOut]


def _preflight(request: HttpRequest) -> HttpResponse:
    return player_api._cors(HttpResponse(status=204))


@router.post("/tutor/ask", response=TutorOut, summary="Ask the course's AI tutor")
def ask_tutor(request: HttpRequest, body: QuestionIn) -> Any:
    return answer_question(_access(request), session_id=body.session_id,
                           question=body.question)


@router.post("/grading/submit", response=GradeOut,
             summary="Have a free-text answer graded against its rubric")
def submit_answer(request: HttpRequest, body: AnswerIn) -> dict[str, Any]:
    record = grade_answer(_access(request), session_id=body.session_id,
                          block_id=body.block_id, answer=body.answer)
    return {"id": str(record.uid), "score": record.score, "max_score": record.max_score,
            "status": record.status, "criteria": record.result["criteria"]}


@router.api_operation(["OPTIONS"], "/tutor/ask", auth=None, include_in_schema=False)
def ask_tutor_preflight(request: HttpRequest) -> HttpResponse:
    return _preflight(request)


@router.api_operation(["OPTIONS"], "/grading/submit", auth=None, include_in_schema=False)
def submit_answer_preflight(request: HttpRequest) -> HttpResponse:
    return _preflight(request)


player_api.add_router("/", router)
