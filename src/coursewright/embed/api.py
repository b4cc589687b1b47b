"""Embed tokens over the API (``/api/v1/embed``): exchange an API key for a token pair,
refresh it, revoke tokens. How the tokens work: ``embed.tokens`` and ``embed.actions``.

- ``POST /embed/token``: the partner's backend, with its API key only (not a dashboard
  session): ``{user, scope, courses, ttl}`` → ``{access_token, token_type, expires_in,
  refresh_token, refresh_expires_in, scope}``.
- ``POST /embed/refresh``: no API key (the embedded page refreshes itself):
  ``{refresh_token}`` → a new pair; the old refresh token is spent.
- ``POST /embed/revoke``: API key only: exactly one of ``{"jti": …}``, ``{"user": …}``
  or ``{"all": true}`` (every token the calling key minted).

Token answers are ``Cache-Control: no-store``; no embed answer sets a cookie.
(No postponed annotations here: ninja reads the schemas at runtime.)
"""

from typing import Annotated, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from coursewright.api import ApiKeyAuth, principal
from coursewright.embed import actions
from coursewright.embed.actions import IssuedTokens
from coursewright.embed.tokens import MAX_TTL, MIN_TTL
from coursewright.errors import Invalid
from coursewright.orgs.models import ApiKey

router = Router(tags=["embed"])
MAX_ID = 2**63 - 1  # a database id (bigint)


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
