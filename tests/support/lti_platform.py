"""An independent LTI 1.3 platform (the LMS side) that drives our tool in the tests.

The acceptance tests of issue 8 want an LTI platform *we did not write* to launch our
tool, receive its deep links and take its grades. The platform logic comes from the PyPI
package ``lti1p3platform`` (0.1.x, MIT, by OpenLearning); this module is the glue that
runs it as a real HTTP server on 127.0.0.1 and gives tests a handle on what it saw.

What is the library's
---------------------
* **Registration and keys**: ``Registration`` holds issuer, client id, deployment id, the
  tool's URLs and key set URL, and the platform's RSA key pair; it publishes the
  platform JWKS (``get_jwks``, ``kid`` = RFC 7638 thumbprint) and signs with RS256.
* **OIDC third-party-initiated login**: ``OIDCLoginAbstract.prepare_preflight_url`` builds
  the login initiation (``iss``, ``login_hint``, ``target_link_uri``,
  ``lti_message_hint``, ``client_id``, ``lti_deployment_id``).
* **The launch**: ``LTIAdvantageMessageLaunchAbstract.lti_launch`` checks the tool's
  authentication request (``nonce``, ``state``, ``redirect_uri`` present, ``client_id``),
  builds every LTI claim (message type, version 1.3.0, ``iss``/``aud``/``azp``,
  ``deployment_id``, ``target_link_uri``, resource link, context, roles, ``sub``,
  ``name``/``email``, launch presentation, custom, the AGS endpoint claim, the NRPS
  claim, the deep-linking settings of an ``LtiDeepLinkingRequest``), adds the nonce and
  ``iat``/``exp`` and signs the ``id_token``.
* **Deep-linking response**: ``validate_deeplinking_resp`` fetches the tool's JWKS, finds
  the key by ``kid`` and ``alg``, verifies the RS256 signature and expiry, the message
  type and the content item types.
* **Token endpoint**: ``get_access_token`` checks the client-credentials form (required
  fields, ``grant_type``), verifies the tool's ``client_assertion`` signature the same
  way, keeps the requested scopes it supports (AGS and NRPS) and mints a signed bearer
  token; ``validate_token`` checks a bearer token's signature, issuer, expiry and scopes.
* **AGS and NRPS**: ``AssignmentsGradesService`` routes line item, score and result
  requests behind its ``authenticate`` decorator (bearer token, method, media type,
  paging links); ``NamesRoleProvisioningService`` builds the membership container.

What is ours (the library does not do it)
-----------------------------------------
* The HTTP server, the "LMS course page" that frames the tool in an iframe, and the
  auto-submitting forms (the library's own launch template is Jinja without
  autoescaping, reached through a module that imports ``pkg_resources``; ours escapes).
* OIDC checks the library leaves to the platform: ``redirect_uri`` must be a registered
  tool URL, ``scope=openid``, ``response_type=id_token``, ``response_mode=form_post``,
  ``prompt=none``, ``login_hint`` and ``lti_message_hint`` must be the ones sent.
* The claims the library has no setter for (``given_name``, ``family_name``,
  ``picture``, ``tool_platform``) — added through its ``set_extra_claims``.
* JWT checks the library skips (it decodes with ``verify_aud=False`` and reads no
  claims): for a deep-linking response ``iss`` = client id, ``aud`` = our issuer,
  ``exp``/``iat`` present, ``nonce`` present and never reused, version, deployment id,
  ``data`` echoed exactly, resource URLs on the tool's origin, ``lineItem`` well formed;
  for a client assertion the ``client_assertion_type``, ``iss`` = ``sub`` = client id,
  ``aud`` = token URL (or issuer), ``exp``/``iat``, ``jti`` never reused, and at least
  one grantable scope.
* Re-fetching the tool's JWKS once when a ``kid`` is unknown (the library caches the
  key set forever, so a tool that rotates its key would otherwise be refused).
* AGS details: per-endpoint scopes (the library accepts *any* AGS scope for every
  endpoint, so a ``result.readonly`` token could post scores), the request media types,
  score validation (the library's is a TODO), out-of-order timestamps (409), bearer
  tokens that fail to decode (the library lets PyJWT's exception escape), query
  parameters it would pass on blindly, and the storage behind its abstract methods.
* The platform side of the LTI client-side postMessage storage (``lti_storage.js``,
  announced with ``lti_storage_target=_parent``), which the library does not know.
* Test hooks: recorded requests, failure injection and :meth:`make_id_token` (forged
  tokens: other key, ``HS256`` with the public key as secret, ``alg=none``, any claim
  overridden or dropped; PyJWT, the library's own dependency, for the algorithms the
  library cannot sign with).

Sites: the platform binds 127.0.0.1 but names itself ``localhost`` (issuer, every URL),
so in a browser the platform and a tool served at 127.0.0.1 are different sites and the
tool runs in a cross-site iframe, as under a real LMS. Nothing here reaches the internet:
the only outbound call is the library fetching the tool's JWKS from ``tool_jwks_url``.

Usage::

    with IndependentPlatform(tool_login_url=..., tool_launch_url=...,
                             tool_jwks_url=..., tool_deep_link_url=...) as lms:
        page.goto(lms.launch_page_url("unit-1", roles=("Learner",)))
        ...
        [score] = lms.scores
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import http.server
import json
import re
import secrets
import threading
import traceback
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any, Literal, Self

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.constants import LTI_DEEP_LINKING_ACCEPTED_TYPES
from lti1p3platform.exceptions import (
    LineItemNotFoundException,
    LtiDeepLinkingResponseException,
    LtiException,
    LtiServiceException,
    MissingRequiredClaim,
    PreflightRequestValidationException,
    UnsupportedGrantType,
)
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest
from lti1p3platform.response import Response, generate_next_link
from lti1p3platform.score import UpdateScoreStatus
from lti1p3platform.service_connector import (
    AssignmentsGradesService,
    NamesRoleProvisioningService,
    TPage,
)

FILES = Path(__file__).with_name("lti_platform_files")

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DL_CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DL_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
STORAGE_TARGET = "_parent"

#: Short names accepted by :meth:`IndependentPlatform.make_id_token` for LTI claims.
CLAIM_ALIASES = {
    "message_type": LTI + "message_type",
    "version": LTI + "version",
    "deployment_id": LTI + "deployment_id",
    "target_link_uri": LTI + "target_link_uri",
    "resource_link": LTI + "resource_link",
    "roles": LTI + "roles",
    "context": LTI + "context",
    "custom": LTI + "custom",
    "launch_presentation": LTI + "launch_presentation",
    "tool_platform": LTI + "tool_platform",
    "deep_linking_settings": DL_SETTINGS,
    "ags": AGS_CLAIM,
    "nrps": NRPS_CLAIM,
}

_ROLE_URIS = {
    "Administrator": "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
    "TeachingAssistant":
        "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",
}
_ACTIVITY_PROGRESS = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
_GRADING_PROGRESS = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}
_MAX_BODY = 1_000_000


def role_uri(role: str) -> str:
    """A full LIS role URI: ``Learner`` -> ``...lis/v2/membership#Learner``; URIs pass."""
    if "://" in role:
        return role
    return _ROLE_URIS.get(role, f"http://purl.imsglobal.org/vocab/lis/v2/membership#{role}")


@dataclass(frozen=True)
class LtiUser:
    """A platform user. Everything but ``id`` (the ``sub``) is PII the tool must drop."""

    id: str
    name: str
    given_name: str
    family_name: str
    email: str
    picture: str


LEARNER = LtiUser("lms-learner-7f3a", "Ada Quillfeather", "Ada", "Quillfeather",
                  "ada.quillfeather@lms-learners.example",
                  "http://localhost/avatars/ada-quillfeather.png")
INSTRUCTOR = LtiUser("lms-instructor-2c9d", "Grace Thornbury", "Grace", "Thornbury",
                     "grace.thornbury@lms-staff.example",
                     "http://localhost/avatars/grace-thornbury.png")


def new_rsa_private_key_pem() -> str:
    """A fresh 2048-bit RSA private key (PKCS#8 PEM), e.g. to forge tokens."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_jwt(payload: Mapping[str, Any], secret: bytes, alg: str,
              headers: Mapping[str, Any]) -> str:
    # PyJWT refuses a PEM as an HMAC secret, which is exactly the algorithm-confusion
    # forgery a tool must refuse; so sign those by hand.
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    header = {"alg": alg, "typ": "JWT", **headers}
    signing_input = (_b64(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64(json.dumps(payload, separators=(",", ":")).encode()))
    signature = hmac.new(secret, signing_input.encode(), digest).digest()
    return signing_input + "." + _b64(signature)


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _now() -> datetime:
    return datetime.now(UTC)


# --- records ------------------------------------------------------------------------------


@dataclass
class PlannedLaunch:
    """One launch the platform prepared (a course page); ``hint`` is the lti_message_hint."""

    hint: str
    message_type: Literal["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    user: LtiUser
    roles: list[str]
    target_link_uri: str
    resource_link_id: str | None = None
    custom: dict[str, str] | None = None
    lineitem: str | None = None
    accept_types: list[str] = field(default_factory=list)
    data: str | None = None
    storage: bool = True
    login_method: Literal["GET", "POST"] = "GET"


@dataclass
class IssuedLaunch:
    """An id_token the platform answered an authentication request with."""

    hint: str
    id_token: str
    state: str
    redirect_uri: str
    claims: dict[str, Any]


@dataclass
class TokenRequest:
    """One call to the token endpoint, granted or not."""

    form: dict[str, str]
    status: int
    granted_scopes: list[str]
    error: str | None
    assertion_claims: dict[str, Any] | None


@dataclass
class ReceivedScore:
    """A score the platform accepted: ``body`` is the JSON exactly as posted."""

    lineitem: str
    body: dict[str, Any]
    received_at: datetime


@dataclass
class DeepLinkedResource:
    """A resource link the platform created from an ``ltiResourceLink`` content item."""

    resource_link_id: str
    url: str
    title: str
    custom: dict[str, str] | None
    lineitem: str | None
    content_item: dict[str, Any]


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class _Refused(Exception):
    def __init__(self, status: int, reason: str, *, error: str = "invalid_request") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.error = error


# --- lti1p3platform glue ---------------------------------------------------------------------


class _Request(Request):
    """The library's request view, built from what our HTTP handler parsed."""

    def build_metadata(self, request: Any) -> TRequest:
        parsed: dict[str, Any] = request
        return {
            "method": parsed["method"],
            "form_data": parsed.get("form", {}),
            "get_data": parsed.get("query", {}),
            "headers": parsed.get("headers", {}),
            "content_type": parsed.get("content_type"),
            "path": parsed.get("path", "/"),
            "json": parsed.get("json"),
        }


class _PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]
        # The library decodes with verify_aud=False; require exp and iat at least.
        self._jwt_verify_options = {"verify_aud": False, "require": ["exp", "iat"]}

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        assert self._registration is not None
        return self._registration

    def decode_tool_jwt(self, token: str) -> dict[str, Any]:
        """The library's verification, re-fetching the tool's JWKS once for a new kid."""
        try:
            return self.tool_validate_and_decode(token)
        except LtiException as exc:
            if "Unable to find public key" not in str(exc):
                raise
        assert self._registration is not None
        self._registration.set_tool_key_set(None)  # type: ignore[arg-type]
        return self.tool_validate_and_decode(token)


class _Oidc(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _Launch(LTIAdvantageMessageLaunchAbstract):
    """Fills the library's claim setters from a :class:`PlannedLaunch`."""

    def __init__(self, request: Request, conf: _PlatformConf, platform: IndependentPlatform,
                 planned: PlannedLaunch) -> None:
        super().__init__(request, conf)
        self._platform = platform
        self._planned = planned

    def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
        planned, lms = self._planned, self._platform
        user = planned.user
        self.set_launch_url(planned.target_link_uri)
        self.set_user_data(user.id, planned.roles, full_name=user.name,
                           email_address=user.email)
        self.set_extra_claims({
            "given_name": user.given_name,
            "family_name": user.family_name,
            "picture": user.picture,
            LTI + "tool_platform": {"guid": lms.platform_guid, "name": "Independent LMS",
                                    "product_family_code": "lti1p3platform",
                                    "version": "0.1"},
        })
        self.set_launch_context_claim(
            lms.context_id, ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
            lms.context_title, lms.context_label)
        self.set_launch_presentation_claim("iframe", f"{lms.base_url}/course/{planned.hint}")
        self.set_nrps(lms.memberships_url)
        if planned.custom:
            self.set_custom_parameters_claim(dict(planned.custom))
        if planned.message_type == "LtiDeepLinkingRequest":
            self.set_dl(f"{lms.base_url}/deep_link_return/{planned.hint}",
                        title="Add an activity", description="Pick content for this course",
                        accept_types=set(planned.accept_types),
                        # the library types it as a dict, but the spec's `data` is an
                        # opaque string, which it passes through unchanged
                        extra_data=planned.data)  # type: ignore[arg-type]
            return
        assert planned.resource_link_id is not None
        self.set_resource_link_claim(planned.resource_link_id,
                                     title=f"Activity {planned.resource_link_id}")
        if planned.lineitem:
            self.set_ags(lms.lineitems_url, planned.lineitem)

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class _Ags(AssignmentsGradesService):
    """The storage behind the library's AGS routing, plus the checks it leaves out."""

    def __init__(self, request: Request, conf: _PlatformConf, platform: IndependentPlatform,
                 lineitem_url: str | None = None) -> None:
        super().__init__(request, conf, platform.lineitems_url, lineitem_url)
        self._platform = platform

    def _require_scope(self, *accepted: str) -> None:
        assert self.request is not None
        granted = self._platform._token_scopes(self.request.headers)
        if not granted.intersection(accepted):
            raise LtiServiceException(
                f"access token lacks a scope for this endpoint (needs one of {list(accepted)})",
                403)

    def _get(self, line_item_id: str) -> dict[str, Any]:
        item = self._platform._line_items.get(line_item_id)
        if item is None:
            raise LineItemNotFoundException(line_item_id)
        return item

    def find_lineitems(self, page: int = 1, limit: int | None = None,
                       line_item_id: str | None = None, resource_link_id: str | None = None,
                       resource_id: str | None = None, tag: str | None = None) -> TPage:
        self._require_scope(SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
        items = [item for item in self._platform._line_items.values()
                 if (resource_link_id is None or item.get("resourceLinkId") == resource_link_id)
                 and (resource_id is None or item.get("resourceId") == resource_id)
                 and (tag is None or item.get("tag") == tag)]
        if limit is None:
            return {"content": items, "has_next": False, "next": None}
        start = (page - 1) * limit
        return {"content": items[start:start + limit], "has_next": len(items) > start + limit,
                "next": None}

    def find_lineitem(self, line_item_id: str) -> Any:
        self._require_scope(SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
        return self._get(line_item_id)

    def create_lineitem(self, creation_data: Any) -> Any:
        self._require_scope(SCOPE_LINEITEM)
        problem = _line_item_problem(creation_data)
        if problem:
            raise LtiServiceException(problem, 400)
        return self._platform.create_line_item(**{
            k: creation_data[k] for k in ("label", "scoreMaximum", "resourceLinkId",
                                          "resourceId", "tag") if k in creation_data})

    def update_lineitem(self, update_data: Any) -> Any:
        self._require_scope(SCOPE_LINEITEM)
        item = self._get(update_data["id"])
        problem = _line_item_problem({**item, **update_data})
        if problem:
            raise LtiServiceException(problem, 400)
        item.update({k: v for k, v in update_data.items() if k != "id"})
        return item

    def delete_lineitem(self, line_item_id: str) -> None:
        self._require_scope(SCOPE_LINEITEM)
        self._get(line_item_id)
        del self._platform._line_items[line_item_id]

    def update_score(self, line_item_id: str, score: Any) -> UpdateScoreStatus:
        self._require_scope(SCOPE_SCORE)
        item = self._get(line_item_id)
        return self._platform._accept_score(item, score)

    def get_results(self, line_item_id: str, page: int = 1, limit: int | None = None,
                    user_id: str | None = None) -> TPage:
        self._require_scope(SCOPE_RESULT_READONLY)
        item = self._get(line_item_id)
        latest: dict[str, dict[str, Any]] = {}
        for received in self._platform.scores:
            if received.lineitem == item["id"]:
                latest[received.body["userId"]] = received.body
        results = [{"id": f"{item['id']}/results/{uid}", "scoreOf": item["id"], "userId": uid,
                    "resultScore": body.get("scoreGiven"),
                    "resultMaximum": body.get("scoreMaximum"), "comment": body.get("comment")}
                   for uid, body in latest.items() if user_id in (None, uid)]
        return {"content": results, "has_next": False, "next": None}


def _line_item_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "a line item must be a JSON object"
    if not isinstance(item.get("label"), str) or not item["label"].strip():
        return "label is required"
    maximum = item.get("scoreMaximum")
    if isinstance(maximum, bool) or not isinstance(maximum, int | float) or maximum <= 0:
        return "scoreMaximum must be a number > 0"
    for name in ("resourceLinkId", "resourceId", "tag"):
        if name in item and not isinstance(item[name], str):
            return f"{name} must be a string"
    return None


def _score_problem(score: Any) -> str | None:
    if not isinstance(score, dict):
        return "a score must be a JSON object"
    if not isinstance(score.get("userId"), str) or not score["userId"]:
        return "userId (a string) is required"
    if score.get("activityProgress") not in _ACTIVITY_PROGRESS:
        return f"activityProgress must be one of {sorted(_ACTIVITY_PROGRESS)}"
    if score.get("gradingProgress") not in _GRADING_PROGRESS:
        return f"gradingProgress must be one of {sorted(_GRADING_PROGRESS)}"
    timestamp = score.get("timestamp")
    try:
        parsed = datetime.fromisoformat(timestamp) if isinstance(timestamp, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        return "timestamp must be an ISO 8601 date-time with a time zone"
    for name in ("scoreGiven", "scoreMaximum"):
        value = score.get(name)
        if name in score and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"{name} must be a number"
    if "scoreGiven" in score:
        if score["scoreGiven"] < 0:
            return "scoreGiven must be >= 0"
        if "scoreMaximum" not in score or score["scoreMaximum"] <= 0:
            return "scoreMaximum (> 0) is required with scoreGiven"
    if "comment" in score and score["comment"] is not None and not isinstance(
            score["comment"], str):
        return "comment must be a string"
    return None


class _Nrps(NamesRoleProvisioningService):
    def __init__(self, request: Request, conf: _PlatformConf,
                 platform: IndependentPlatform) -> None:
        super().__init__(request, conf, platform.memberships_url)
        self._platform = platform

    def get_context_by_id(self) -> Context:
        lms = self._platform
        return Context(id=lms.context_id, label=lms.context_label, title=lms.context_title)

    def is_resource_link_valid(self, context_id: str, resource_link_id: str) -> bool:
        return resource_link_id in self._platform._resource_links

    def get_member_data_page(self, page: int = 1, limit: int | None = None,
                             role: str | None = None, since: str | None = None,
                             **kwargs: Any) -> TPage:
        members = [{"user_id": user.id, "roles": roles, "status": "Active", "name": user.name,
                    "given_name": user.given_name, "family_name": user.family_name,
                    "email": user.email, "picture": user.picture}
                   for user, roles in self._platform._members.values()
                   if role is None or role_uri(role) in roles]
        return {"content": members, "has_next": False, "next": None}


# --- the platform ------------------------------------------------------------------------------


class IndependentPlatform:
    """An LTI 1.3 platform on 127.0.0.1 (named ``localhost``), driven by lti1p3platform.

    Every list attribute records what the platform saw, in arrival order; tests read
    them after the fact. See the module docstring for who does what.
    """

    def __init__(self, *, tool_login_url: str, tool_launch_url: str, tool_jwks_url: str,
                 tool_deep_link_url: str | None = None, client_id: str | None = None,
                 deployment_id: str | None = None,
                 redirect_uris: Sequence[str] | None = None) -> None:
        if "?" in tool_login_url:
            # lti1p3platform appends its parameters with a second "?" to a URL that
            # already has a query string
            raise ValueError("tool_login_url must not have a query string")
        self.tool_login_url = tool_login_url
        self.tool_launch_url = tool_launch_url
        self.tool_jwks_url = tool_jwks_url
        self.tool_deep_link_url = tool_deep_link_url or tool_launch_url
        self.redirect_uris = list(redirect_uris or dict.fromkeys(
            [tool_launch_url, self.tool_deep_link_url]))
        self.tool_origins = sorted({_origin(u) for u in (
            tool_login_url, tool_launch_url, self.tool_deep_link_url, *self.redirect_uris)})
        self.client_id = client_id or f"independent-lms-{secrets.token_hex(6)}"
        self.deployment_id = deployment_id or f"deployment-{secrets.token_hex(4)}"
        self.platform_guid = f"lms-{secrets.token_hex(8)}"
        self.context_id = f"course-{secrets.token_hex(4)}"
        self.context_title = "Introduction to Independent Testing"
        self.context_label = "IIT-101"

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.platform = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        port = self._httpd.server_address[1]
        self.base_url = f"http://localhost:{port}"
        self.issuer = self.base_url
        self.jwks_url = f"{self.base_url}/jwks"
        self.auth_url = f"{self.base_url}/auth"
        self.token_url = f"{self.base_url}/token"
        self.lineitems_url = f"{self.base_url}/ags/lineitems"
        self.memberships_url = f"{self.base_url}/nrps/memberships"

        self._private_pem = new_rsa_private_key_pem()
        self.public_pem = _public_pem(self._private_pem)
        self.registration = (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(self.deployment_id)
            .set_oidc_login_url(tool_login_url)
            .set_launch_url(tool_launch_url)
            .set_deeplink_launch_url(self.tool_deep_link_url)
            .set_tool_key_set_url(tool_jwks_url)
            .set_platform_private_key(self._private_pem)
            .set_platform_public_key(self.public_pem)
        )
        kid = self.registration.get_kid()
        assert kid is not None
        self.kid: str = kid

        self._lock = threading.RLock()
        self._planned: dict[str, PlannedLaunch] = {}
        self._line_items: dict[str, dict[str, Any]] = {}  # numeric id -> line item
        self._resource_links: set[str] = set()
        self._members: dict[str, tuple[LtiUser, list[str]]] = {}
        self._last_score_time: dict[tuple[str, str], datetime] = {}
        self._dl_nonces: set[str] = set()
        self._jtis: set[str] = set()
        self._failures: dict[str, list[int]] = {"token": [], "scores": []}
        self._next_id = 0

        #: OIDC authentication requests the tool sent to ``auth_url`` (all parameters).
        self.auth_requests: list[dict[str, str]] = []
        #: Why an authentication request was refused, one string per refusal.
        self.auth_errors: list[str] = []
        #: id_tokens the platform issued (resource-link and deep-linking launches).
        self.launches: list[IssuedLaunch] = []
        #: Content items of every accepted deep-linking response, as the tool sent them.
        self.received_deep_links: list[dict[str, Any]] = []
        #: Full claims of every accepted deep-linking response JWT.
        self.deep_link_responses: list[dict[str, Any]] = []
        #: Why a deep-linking response was refused, one string per refusal.
        self.deep_link_errors: list[str] = []
        #: Resource links the platform created from ``ltiResourceLink`` items.
        self.deep_linked_resources: list[DeepLinkedResource] = []
        #: Every call to ``token_url``.
        self.token_requests: list[TokenRequest] = []
        #: Scores the platform accepted.
        self.scores: list[ReceivedScore] = []
        #: Why an AGS/NRPS request was refused ("METHOD path: status reason").
        self.ags_errors: list[str] = []
        #: postMessage storage calls the course page answered (subject, origin, key, ok).
        self.storage_events: list[dict[str, Any]] = []
        #: Tracebacks of requests that crashed the platform (should stay empty).
        self.server_errors: list[str] = []

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what a tool registers --------------------------------------------------------------

    def public_jwks(self) -> dict[str, Any]:
        return dict(self._conf().get_jwks())

    @property
    def last_auth_request(self) -> dict[str, str] | None:
        """The last OIDC authentication request (``nonce``, ``state``, ``redirect_uri``...)."""
        with self._lock:
            return dict(self.auth_requests[-1]) if self.auth_requests else None

    # --- launches ----------------------------------------------------------------------------

    def launch_page_url(self, resource_link_id: str, *, roles: Iterable[str] = ("Learner",),
                        user: LtiUser | None = None, line_item: bool = True,
                        target_link_uri: str | None = None,
                        custom: Mapping[str, str] | None = None, storage: bool = True,
                        login_method: Literal["GET", "POST"] = "GET") -> str:
        """URL of a course page whose iframe launches ``resource_link_id`` (LtiResourceLinkRequest).

        ``user`` defaults to :data:`LEARNER` (or :data:`INSTRUCTOR` when the roles hold no
        ``Learner``). With ``line_item`` the launch carries the AGS claim (scopes lineitem,
        result.readonly, score) and the ``lineitem`` of the link — the one a deep link
        created, else one made now (``scoreMaximum`` 100). A link created by deep linking
        launches its own ``url`` and ``custom`` unless they are given. ``storage=False``
        leaves out ``lti_storage_target`` (the tool must then fall back to cookies);
        ``login_method="POST"`` sends the login initiation as a form POST.
        """
        linked = next((r for r in self.deep_linked_resources
                       if r.resource_link_id == resource_link_id), None)
        lineitem = None
        if line_item:
            existing = self.line_item_for(resource_link_id)
            lineitem = (existing or self.create_line_item(
                label=f"Activity {resource_link_id}", scoreMaximum=100,
                resourceLinkId=resource_link_id))["id"]
        target = target_link_uri or (linked.url if linked else self.tool_launch_url)
        if custom is None and linked is not None:
            custom = linked.custom
        planned = self._plan("LtiResourceLinkRequest", roles, user, target,
                             resource_link_id=resource_link_id,
                             custom=dict(custom) if custom else None, lineitem=lineitem,
                             storage=storage, login_method=login_method)
        return f"{self.base_url}/course/{planned.hint}"

    def deep_link_page_url(self, *, accept_types: Iterable[str] = ("ltiResourceLink",),
                           data: str | None = "opaque-data-xyz",
                           roles: Iterable[str] = ("Instructor",), user: LtiUser | None = None,
                           storage: bool = True,
                           login_method: Literal["GET", "POST"] = "GET") -> str:
        """URL of a course page whose iframe opens the tool's picker (LtiDeepLinkingRequest).

        The response goes to ``{base_url}/deep_link_return/<hint>``; ``data`` must come
        back exactly (``None``: the request carries no ``data``).
        """
        types = list(accept_types)
        unknown = set(types) - LTI_DEEP_LINKING_ACCEPTED_TYPES
        if unknown:
            raise ValueError(f"lti1p3platform does not know accept types {sorted(unknown)}")
        planned = self._plan("LtiDeepLinkingRequest", roles, user, self.tool_deep_link_url,
                             accept_types=types, data=data, storage=storage,
                             login_method=login_method)
        return f"{self.base_url}/course/{planned.hint}"

    def make_id_token(self, *, key: Any = None, kid: str | None = None, alg: str = "RS256",
                      drop: Iterable[str] = (), claims: Mapping[str, Any] | None = None,
                      deep_link: bool = False, resource_link_id: str = "forged-link",
                      roles: Iterable[str] = ("Learner",), user: LtiUser | None = None,
                      nonce: str | None = None, **overrides: Any) -> str:
        """A signed id_token, valid unless told otherwise, built by the library.

        * ``nonce`` defaults to the one of :attr:`last_auth_request` (else a random one);
          ``aud``/``iss``/``exp``/``iat``/any claim: pass it as a keyword (short names of
          :data:`CLAIM_ALIASES` such as ``deployment_id=`` or ``message_type=`` work) or
          in ``claims`` (full claim URIs); ``drop`` removes claims (short names too).
        * ``key``: another private key (PEM or key object) for RS*/PS*/ES* algorithms, or
          the secret for HS*; by default the platform's key, and for HS* the platform's
          public key PEM (the algorithm-confusion forgery). ``alg="none"``: unsigned.
        * ``kid``: header kid (default: the platform's); ``kid=""`` leaves it out.
        """
        if nonce is None:
            last = self.last_auth_request
            nonce = last["nonce"] if last and last.get("nonce") else secrets.token_urlsafe(16)
        if deep_link:
            planned = self._plan("LtiDeepLinkingRequest", roles, user, self.tool_deep_link_url,
                                 accept_types=["ltiResourceLink"], data="opaque-data-xyz")
        else:
            planned = self._plan("LtiResourceLinkRequest", roles, user, self.tool_launch_url,
                                 resource_link_id=resource_link_id)
        launch_data = self._run_library_launch(planned, {
            "nonce": nonce, "state": "make_id_token", "client_id": self.client_id,
            "redirect_uri": planned.target_link_uri})
        payload = jwt.decode(launch_data["id_token"], self.public_pem, algorithms=["RS256"],
                             audience=self.client_id)
        payload.update({CLAIM_ALIASES.get(name, name): value for name, value in overrides.items()})
        payload.update(claims or {})
        for name in drop:
            payload.pop(CLAIM_ALIASES.get(name, name), None)
        headers = {} if kid == "" else {"kid": kid or self.kid}
        if alg == "RS256":
            return Registration.encode_and_sign(payload, key or self._private_pem,
                                                headers=headers)
        if alg == "none":
            return jwt.encode(payload, None, algorithm="none", headers=headers)
        if alg.startswith("HS"):
            secret = key if key is not None else self.public_pem
            return _hmac_jwt(payload, secret.encode() if isinstance(secret, str) else secret,
                             alg, headers)
        return jwt.encode(payload, key or self._private_pem, algorithm=alg, headers=headers)

    # --- AGS -----------------------------------------------------------------------------------

    def create_line_item(self, *, label: str, scoreMaximum: float,
                         resourceLinkId: str | None = None, resourceId: str | None = None,
                         tag: str | None = None) -> dict[str, Any]:
        """Create a line item in the course's container; returns it (``id`` is its URL)."""
        with self._lock:
            self._next_id += 1
            number = str(self._next_id)
            item: dict[str, Any] = {"id": f"{self.lineitems_url}/{number}", "label": label,
                                    "scoreMaximum": scoreMaximum}
            for name, value in (("resourceLinkId", resourceLinkId),
                                ("resourceId", resourceId), ("tag", tag)):
                if value is not None:
                    item[name] = value
            self._line_items[number] = item
            return item

    @property
    def line_items(self) -> list[dict[str, Any]]:
        return list(self._line_items.values())

    def line_item_for(self, resource_link_id: str) -> dict[str, Any] | None:
        return next((item for item in self._line_items.values()
                     if item.get("resourceLinkId") == resource_link_id), None)

    def fail_next(self, endpoint: Literal["token", "scores"], count: int = 1,
                  status: int = 503) -> None:
        """Answer the next ``count`` calls to ``endpoint`` with ``status`` (retry tests)."""
        with self._lock:
            self._failures[endpoint].extend([status] * count)

    def forget_tool_keys(self) -> None:
        """Drop the cached tool JWKS (it is re-fetched on next use anyway for a new kid)."""
        self.registration.set_tool_key_set(None)  # type: ignore[arg-type]

    # --- internals -------------------------------------------------------------------------

    def _conf(self) -> _PlatformConf:
        # one per request: the library keeps the JWT being checked on the instance
        return _PlatformConf(registration=self.registration)

    def _plan(self, message_type: Literal["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
              roles: Iterable[str], user: LtiUser | None, target_link_uri: str,
              **options: Any) -> PlannedLaunch:
        role_uris = [role_uri(r) for r in roles]
        if user is None:
            learner = any(r.endswith("#Learner") for r in role_uris)
            user = LEARNER if learner else INSTRUCTOR
        planned = PlannedLaunch(hint=f"hint-{secrets.token_urlsafe(9)}",
                                message_type=message_type, user=user, roles=role_uris,
                                target_link_uri=target_link_uri, **options)
        with self._lock:
            self._planned[planned.hint] = planned
            self._members[user.id] = (user, role_uris)
            if planned.resource_link_id:
                self._resource_links.add(planned.resource_link_id)
        return planned

    def _run_library_launch(self, planned: PlannedLaunch,
                            params: dict[str, str]) -> dict[str, Any]:
        conf = self._conf()
        launch = _Launch(_Request({"method": "POST", "form": params}), conf, self, planned)
        result: dict[str, Any] = launch.lti_launch()
        return result

    def _token_scopes(self, headers: Mapping[str, Any]) -> set[str]:
        auth = str(headers.get("Authorization", "")).split()
        if len(auth) != 2:
            return set()
        claims = Registration.decode_and_verify(auth[1], self.public_pem)
        return set(str(claims.get("scopes", "")).split())

    def _accept_score(self, item: dict[str, Any], score: Any) -> UpdateScoreStatus:
        problem = _score_problem(score)
        if problem is None and score["userId"] not in self._members:
            problem = f"userId {score['userId']!r} is not a member of this course"
        if problem:
            raise LtiServiceException(problem, 400)
        timestamp = datetime.fromisoformat(score["timestamp"])
        with self._lock:
            key = (item["id"], score["userId"])
            previous = self._last_score_time.get(key)
            if previous is not None and timestamp <= previous:
                self.ags_errors.append(
                    f"POST {item['id']}/scores: 409 timestamp {score['timestamp']} is not "
                    "after the last score's")
                return UpdateScoreStatus.OLD_TIMESTAMP
            self._last_score_time[key] = timestamp
            self.scores.append(ReceivedScore(item["id"], score, _now()))
        return UpdateScoreStatus.SUCCESS

    def _take_failure(self, endpoint: str) -> int | None:
        with self._lock:
            pending = self._failures[endpoint]
            return pending.pop(0) if pending else None

    # --- HTTP endpoints (called by _Handler) -----------------------------------------------------

    def _page(self, title: str, body_html: str, *, status: int = 200,
              error: bool = False) -> _Reply:
        page = Template((FILES / "message.html").read_text()).substitute(
            title=html.escape(title), body=body_html, css_class="error" if error else "ok")
        return _Reply(status, page.encode())

    def _auto_post(self, action: str, fields: Mapping[str, str], title: str) -> _Reply:
        inputs = "\n".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in fields.items())
        page = Template((FILES / "auto_post.html").read_text()).substitute(
            title=html.escape(title), action=html.escape(action), fields=inputs)
        return _Reply(200, page.encode())

    def _course_page(self, hint: str) -> _Reply:
        planned = self._planned.get(hint)
        if planned is None:
            return self._page("Unknown activity", "<p>No such launch.</p>", status=404,
                              error=True)
        storage = ""
        if planned.storage:
            storage = (f'<script src="{self.base_url}/static/lti_storage.js" '
                       f'data-tool-origins="{html.escape(" ".join(self.tool_origins))}" '
                       f'data-events-url="{self.base_url}/lti_storage_events"></script>')
        heading = ("Add content from the tool" if planned.message_type == "LtiDeepLinkingRequest"
                   else f"Activity {planned.resource_link_id}")
        page = Template((FILES / "course_page.html").read_text()).substitute(
            heading=html.escape(heading), course_title=html.escape(self.context_title),
            user_name=html.escape(planned.user.name),
            role_names=html.escape(", ".join(r.rsplit("#", 1)[-1] for r in planned.roles)),
            initiate_url=html.escape(f"{self.base_url}/initiate/{hint}"),
            storage_script=storage)
        return _Reply(200, page.encode())

    def _initiate(self, hint: str) -> _Reply:
        planned = self._planned.get(hint)
        if planned is None:
            return self._page("Unknown activity", "<p>No such launch.</p>", status=404,
                              error=True)
        oidc = _Oidc(_Request({"method": "GET"}), self._conf())
        oidc.set_lti_message_hint(hint=hint)
        oidc.set_launch_url(planned.target_link_uri)
        url: str = oidc.initiate_login(planned.user.id)
        if planned.storage:
            url += "&" + urllib.parse.urlencode({"lti_storage_target": STORAGE_TARGET})
        if planned.login_method == "GET":
            return _Reply(302, headers={"Location": url})
        action, _, query = url.partition("?")
        return self._auto_post(action, dict(urllib.parse.parse_qsl(query)), "Signing in…")

    def _authorize(self, params: dict[str, str]) -> _Reply:
        with self._lock:
            self.auth_requests.append(dict(params))
        try:
            planned = self._check_auth_request(params)
            launch_data = self._run_library_launch(planned, params)
        except (_Refused, PreflightRequestValidationException) as exc:
            reason = exc.reason if isinstance(exc, _Refused) else "invalid authentication request"
            with self._lock:
                self.auth_errors.append(reason)
            return self._page("LTI launch refused by the platform",
                              f"<p>{html.escape(reason)}</p>", status=400, error=True)
        claims = jwt.decode(launch_data["id_token"], self.public_pem, algorithms=["RS256"],
                            audience=self.client_id)
        redirect_uri = params["redirect_uri"]
        with self._lock:
            self.launches.append(IssuedLaunch(planned.hint, launch_data["id_token"],
                                              launch_data["state"], redirect_uri, claims))
        fields = {"id_token": launch_data["id_token"], "state": launch_data["state"]}
        if planned.storage:
            fields["lti_storage_target"] = STORAGE_TARGET
        return self._auto_post(redirect_uri, fields, "Launching…")

    def _check_auth_request(self, params: Mapping[str, str]) -> PlannedLaunch:
        def require(ok: bool, reason: str) -> None:
            if not ok:
                raise _Refused(400, reason)

        require("openid" in params.get("scope", "").split(), "scope must include openid")
        require(params.get("response_type") == "id_token", "response_type must be id_token")
        require(params.get("response_mode") == "form_post", "response_mode must be form_post")
        require(params.get("prompt") == "none", "prompt must be none")
        require(params.get("client_id") == self.client_id, "unknown client_id")
        require(params.get("redirect_uri") in self.redirect_uris,
                f"redirect_uri {params.get('redirect_uri')!r} is not registered")
        require(bool(params.get("nonce")), "nonce is required")
        require(bool(params.get("state")), "state is required")
        planned = self._planned.get(params.get("lti_message_hint", ""))
        require(planned is not None, "unknown lti_message_hint")
        assert planned is not None
        require(params.get("login_hint") == planned.user.id,
                "login_hint is not the user who started the launch")
        return planned

    def _deep_link_return(self, hint: str, form: Mapping[str, str]) -> _Reply:
        try:
            items, claims = self._check_deep_link_response(hint, form)
        except (_Refused, LtiException, LtiDeepLinkingResponseException, jwt.PyJWTError,
                ValueError) as exc:
            reason = exc.reason if isinstance(exc, _Refused) else f"{type(exc).__name__}: {exc}"
            with self._lock:
                self.deep_link_errors.append(reason)
            return self._page("Deep link refused", f"<p>{html.escape(reason)}</p>",
                              status=400, error=True)
        created = []
        for item in items:
            if item.get("type") != "ltiResourceLink":
                continue
            link_id = f"dl-link-{secrets.token_hex(4)}"
            lineitem = None
            if isinstance(item.get("lineItem"), dict):
                spec = item["lineItem"]
                lineitem = self.create_line_item(
                    label=spec.get("label") or item.get("title") or link_id,
                    scoreMaximum=spec["scoreMaximum"], resourceLinkId=link_id,
                    resourceId=spec.get("resourceId"), tag=spec.get("tag"))["id"]
            custom = item.get("custom") if isinstance(item.get("custom"), dict) else None
            created.append(DeepLinkedResource(
                link_id, item.get("url") or self.tool_launch_url, str(item.get("title") or ""),
                custom, lineitem, item))
        with self._lock:
            self.deep_link_responses.append(claims)
            self.received_deep_links.extend(items)
            self.deep_linked_resources.extend(created)
            self._resource_links.update(c.resource_link_id for c in created)
        listing = "".join(f"<li>{html.escape(str(i.get('title') or i.get('url') or i['type']))}"
                          "</li>" for i in items)
        return self._page("Deep link received",
                          f"<p>{len(items)} item(s) added to the course.</p><ul>{listing}</ul>")

    def _check_deep_link_response(self, hint: str, form: Mapping[str, str]
                                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        planned = self._planned.get(hint)
        if planned is None or planned.message_type != "LtiDeepLinkingRequest":
            raise _Refused(404, "no deep-linking request with this return URL")
        token = form.get("JWT")
        if not token:
            raise _Refused(400, "the JWT parameter is missing")
        conf = self._conf()
        conf.set_accepted_deeplinking_types(planned.accept_types)
        claims = conf.decode_tool_jwt(token)  # signature by kid, RS256, exp, iat present
        raw_items = claims.get(DL_CONTENT_ITEMS, [])
        if not isinstance(raw_items, list) or not all(
                isinstance(i, dict) and isinstance(i.get("type"), str) for i in raw_items):
            raise _Refused(400, "content_items must be a list of objects with a type")
        items = conf.validate_deeplinking_resp({"JWT": token})  # message type, item types
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        checks = [
            (claims.get("iss") == self.client_id, "iss must be the client_id"),
            (self.issuer in audiences, "aud must be the platform issuer"),
            (claims.get(LTI + "version") == "1.3.0", "version must be 1.3.0"),
            (claims.get(LTI + "deployment_id") == self.deployment_id,
             "deployment_id does not match"),
            (bool(claims.get("nonce")), "nonce is required"),
        ]
        if planned.data is not None:
            checks.append((claims.get(DL_DATA) == planned.data,
                           "data was not echoed exactly"))
        for ok, reason in checks:
            if not ok:
                raise _Refused(400, reason)
        for item in items:
            url = item.get("url")
            if url is not None and (not isinstance(url, str)
                                    or _origin(url) not in self.tool_origins):
                raise _Refused(400, f"content item url {url!r} is not on the tool's origin")
            line = item.get("lineItem")
            if line is not None:
                maximum = line.get("scoreMaximum") if isinstance(line, dict) else None
                if isinstance(maximum, bool) or not isinstance(maximum, int | float) \
                        or maximum <= 0:
                    raise _Refused(400, "lineItem.scoreMaximum must be a number > 0")
        with self._lock:
            if claims["nonce"] in self._dl_nonces:
                raise _Refused(400, "nonce was already used")
            self._dl_nonces.add(claims["nonce"])
        return items, claims

    def _token(self, form: dict[str, str]) -> _Reply:
        claims: dict[str, Any] | None = None
        status, granted, error = 200, [], None
        failure = self._take_failure("token")
        try:
            if failure is not None:
                raise _Refused(failure, "injected failure", error="temporarily_unavailable")
            if form.get("client_assertion_type", CLIENT_ASSERTION_TYPE) != CLIENT_ASSERTION_TYPE:
                raise _Refused(400, "unsupported client_assertion_type")
            assertion = form.get("client_assertion")
            if assertion:
                claims = self._check_client_assertion(assertion)
            result = self._conf().get_access_token(form)  # fields, grant type, signature
            granted = result["scope"].split()
            if not granted:
                raise _Refused(400, "no requested scope can be granted", error="invalid_scope")
            body = dict(result)
        except _Refused as exc:
            status, error = exc.status, f"{exc.error}: {exc.reason}"
            body = {"error": exc.error, "error_description": exc.reason}
        except MissingRequiredClaim as exc:
            status, error = 400, f"invalid_request: {exc}"
            body = {"error": "invalid_request", "error_description": str(exc)}
        except UnsupportedGrantType:
            status, error = 400, "unsupported_grant_type"
            body = {"error": "unsupported_grant_type"}
        except (LtiException, jwt.PyJWTError, ValueError) as exc:
            status, error = 401, f"invalid_client: {type(exc).__name__}: {exc}"
            body = {"error": "invalid_client", "error_description": str(exc)}
        with self._lock:
            self.token_requests.append(TokenRequest(dict(form), status, granted, error, claims))
        headers = {"Cache-Control": "no-store"}
        return _Reply(status, json.dumps(body).encode(), "application/json", headers)

    def _check_client_assertion(self, assertion: str) -> dict[str, Any]:
        claims = self._conf().decode_tool_jwt(assertion)  # signature by kid, exp, iat
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            raise _Refused(401, "iss and sub must be the client_id", error="invalid_client")
        if not {self.token_url, self.issuer}.intersection(a for a in audiences if a):
            raise _Refused(401, "aud must be the token URL", error="invalid_client")
        jti = claims.get("jti")
        if not jti:
            raise _Refused(401, "jti is required", error="invalid_client")
        with self._lock:
            if jti in self._jtis:
                raise _Refused(401, "jti was already used", error="invalid_client")
            self._jtis.add(jti)
        return claims

    def _service(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                 body: bytes) -> _Reply:
        content_type = headers.get("Content-Type", "").split(";")[0].strip()
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return self._service_error(method, path, 400, "body is not JSON")
        if path == "/nrps/memberships":
            if method != "GET":
                return self._service_error(method, path, 405, f"{method} not allowed")
            wanted = {k: v for k, v in query.items() if k in ("role", "rlid", "since")}
            request = self._service_request(method, path, wanted, headers, content_type, None)
            nrps = _Nrps(request, self._conf(), self)
            try:
                response = nrps.handle_resp(nrps.handle_get_members)
            except (jwt.PyJWTError, LtiException) as exc:
                return self._service_error(method, path, 401, f"invalid access token: {exc}")
            return self._service_reply(method, path, response)
        match = re.fullmatch(r"/ags/lineitems(?:/([0-9]+)(/scores|/results)?)?", path)
        if not match:
            return self._service_error(method, path, 404, "no such service")
        number, sub = match.groups()
        try:
            page_query = self._ags_query(query, results=sub == "/results")
        except ValueError as exc:
            return self._service_error(method, path, 400, str(exc))
        request = self._service_request(method, path, page_query, headers, content_type,
                                        payload)
        lineitem_url = f"{self.lineitems_url}/{number}" if number else None
        ags = _Ags(request, self._conf(), self, lineitem_url)
        if sub == "/scores":
            failure = self._take_failure("scores")
            if failure is not None:
                return self._service_error(method, path, failure, "injected failure")
            if method == "POST" and content_type != SCORE_MEDIA_TYPE:
                return self._service_error(method, path, 415,
                                           f"Content-Type must be {SCORE_MEDIA_TYPE}")
            handler, kwargs = ags.handle_update_score, {"line_item_id": number}
        elif sub == "/results":
            handler, kwargs = ags.handle_get_results, {"line_item_id": number}
        elif number and method == "PUT":
            if not isinstance(payload, dict):
                return self._service_error(method, path, 400, "a line item must be an object")
            handler, kwargs = ags.handle_update_lineitem, {"line_item_id": number}
        elif number and method == "DELETE":
            handler, kwargs = ags.handle_delete_lineitem, {"line_item_id": number}
        elif number:
            handler, kwargs = ags.handle_get_lineitem, {"line_item_id": number}
        elif method == "POST":
            if content_type != LINEITEM_MEDIA_TYPE:
                return self._service_error(method, path, 415,
                                           f"Content-Type must be {LINEITEM_MEDIA_TYPE}")
            handler, kwargs = ags.handle_create_lineitem, {}
        else:
            handler, kwargs = ags.handle_get_lineitems, {}
        try:
            response = ags.handle_resp(handler, **kwargs)
        except LineItemNotFoundException:
            response = Response(result=None, code=404, message="Line item not found")
        except (jwt.PyJWTError, LtiException) as exc:  # the library lets these escape
            return self._service_error(method, path, 401, f"invalid access token: {exc}")
        return self._service_reply(method, path, response)

    @staticmethod
    def _ags_query(query: Mapping[str, str], *, results: bool) -> dict[str, Any]:
        names = (("user_id", "limit", "page") if results
                 else ("resource_link_id", "resource_id", "tag", "limit", "page"))
        wanted: dict[str, Any] = {k: v for k, v in query.items() if k in names}
        for name in ("limit", "page"):
            if name in wanted:
                if not wanted[name].isdigit() or int(wanted[name]) < 1:
                    raise ValueError(f"{name} must be a positive integer")
                wanted[name] = int(wanted[name])
        return wanted

    def _service_request(self, method: str, path: str, query: dict[str, Any],
                         headers: dict[str, str], content_type: str, payload: Any) -> _Request:
        return _Request({"method": method, "path": path, "query": query, "headers": headers,
                         "content_type": content_type, "json": payload})

    def _service_reply(self, method: str, path: str, response: Response) -> _Reply:
        if not 200 <= response.code < 300:
            return self._service_error(method, path, response.code, response.message)
        result = response.result
        data = result["content"] if isinstance(result, dict) and "content" in result else result
        headers = {}
        if isinstance(result, dict) and result.get("next"):
            headers["Link"] = generate_next_link(result["next"])
        body = json.dumps(data).encode() if data is not None else b""
        return _Reply(response.code, body, response.media_type, headers)

    def _service_error(self, method: str, path: str, status: int, reason: str) -> _Reply:
        with self._lock:
            self.ags_errors.append(f"{method} {path}: {status} {reason}")
        return _Reply(status, json.dumps({"error": reason}).encode(), "application/json")

    def _storage_event(self, body: bytes) -> _Reply:
        try:
            event = json.loads(body)
        except ValueError:
            return _Reply(400)
        if isinstance(event, dict):
            with self._lock:
                self.storage_events.append(event)
        return _Reply(204)


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "IndependentLMS/0.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def platform(self) -> IndependentPlatform:
        platform: IndependentPlatform = self.server.platform  # type: ignore[attr-defined]
        return platform

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            reply = self._route(method)
        except Exception:  # a crash is a harness bug: record it, answer 500
            self.platform.server_errors.append(traceback.format_exc())
            reply = _Reply(500, b"platform error", "text/plain")
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(reply.body)

    def _route(self, method: str) -> _Reply:
        lms = self.platform
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            return _Reply(413, b"too large", "text/plain")
        body = self.rfile.read(length) if length else b""
        headers = {name.title(): value for name, value in self.headers.items()}
        form: dict[str, str] = {}
        if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                               keep_blank_values=True))

        if path == "/jwks" and method == "GET":
            return _Reply(200, json.dumps(lms.public_jwks()).encode(), "application/json")
        if path == "/static/lti_storage.js" and method == "GET":
            return _Reply(200, (FILES / "lti_storage.js").read_bytes(),
                          "text/javascript; charset=utf-8")
        if path == "/lti_storage_events" and method == "POST":
            return lms._storage_event(body)
        if path.startswith("/course/") and method == "GET":
            return lms._course_page(path.removeprefix("/course/"))
        if path.startswith("/initiate/") and method == "GET":
            return lms._initiate(path.removeprefix("/initiate/"))
        if path == "/auth" and method in ("GET", "POST"):
            return lms._authorize(query if method == "GET" else form)
        if path.startswith("/deep_link_return/") and method == "POST":
            return lms._deep_link_return(path.removeprefix("/deep_link_return/"), form)
        if path == "/token" and method == "POST":
            return lms._token(form)
        if path.startswith(("/ags/", "/nrps/")):
            return lms._service(method, path, query, headers, body)
        return _Reply(404, b"not found", "text/plain")
