"""LTI 1.3 launches: the OIDC third-party-initiated login, and the id_token check.

Design, and what it guarantees:

- **One registration per URL.** Each registration has its own login and launch URLs
  (``/lti/r/<uid>/login``, ``/lti/r/<uid>/launch``). A login whose ``iss`` or
  ``client_id`` is not the registration's is refused, and the authorisation request
  always names *our* launch URL as ``redirect_uri`` (never the ``target_link_uri`` the
  login carried: no open redirect). So another organisation cannot capture a platform's
  launches by registering the same issuer and client id.
- **State and nonce.** A login makes a random state (256 bits) and nonce (256 bits);
  only their SHA-256 are stored (``LoginState``), with a ten-minute life. A launch must
  bring a state we issued for this registration, unused and unexpired, and an id_token
  whose ``nonce`` is the one issued with it; the state is then marked used with a
  conditional update (two concurrent launches cannot both use it), and the nonce is
  written to ``UsedNonce`` (unique per registration) until the token expires — so a
  replayed id_token, or another token carrying a nonce already used, is refused even if
  the state check were ever bypassed. pylti1p3 2.0 checks neither of these once: it
  only asks whether a nonce exists.
- **Where the state is kept without third-party cookies.** Inside the LMS's iframe,
  Chromium does not send ordinary cookies to coursewright. The server-side record above
  is what the launch is checked against in every case. In addition, when the platform
  offers the LTI client-side postMessage storage (``lti_storage_target``), the login page
  puts a random secret into it under the state's key (``lti.put_data``) and the launch
  page reads it back (``lti.get_data``) before the course opens: a launch that did not
  start in this browser's platform session stops there. (No cookie is used: inside the
  iframe Chromium would not send it, and a check that only runs when it is present
  binds nothing.)
- **The id_token**, in this order (the first failing check is the reason shown and
  logged), after the state: at most 16 KiB, a JWS whose header says ``RS256`` (nothing
  else is accepted: not ``none``, not ``HS256`` with the public key as secret), names a
  ``kid`` and has no ``jku``/``jwk``/``x5u``/``x5c``/``crit`` (keys come from the
  registration only); ``iss`` is the registration's issuer; ``aud`` is (or, as a list,
  contains) our client id, and ``azp`` — required when there are several audiences — is
  our client id; ``exp`` is in the future; ``iat`` is at most a minute ahead and at most
  ``MAX_TOKEN_AGE`` old; ``deployment_id`` is on the registration's list; the message
  type is ``LtiResourceLinkRequest`` or ``LtiDeepLinkingRequest``, version ``1.3.0``;
  the ``kid`` is in the platform's key set (fetched from the registered JWKS URL through
  the outbound guard, cached on the registration for an hour — longer only while the
  URL cannot be fetched — and re-fetched at most once a minute for an unknown kid); the
  ``nonce`` is the state's; then pylti1p3 verifies the signature (PyJWT, RS256 only),
  the registration and deployment again, and the message's required claims (``sub``,
  roles, resource link id or deep linking settings). Only then are state and nonce used
  up (a refused launch uses nothing).
- **Learners.** The Gatekeeper gets ``lti:`` + SHA-256(issuer, client id, ``sub``) as the
  learner id and keeps only its HMAC under the license salt. Names, e-mail, picture,
  roster and every other claim are not read into anything stored. The raw ``sub`` is
  needed once more — as the AGS ``userId`` — and is kept sealed on the launch's grade
  record only while a grade may still be sent (``lti.grades``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.registration import Registration
from pylti1p3.request import Request
from pylti1p3.tool_config.abstract import ToolConfAbstract

from coursewright import netguard
from coursewright.lti.models import LoginState, PlatformRegistration, UsedNonce

STATE_TTL = timedelta(minutes=10)
MAX_TOKEN_CHARS = 16 * 1024
MAX_TOKEN_AGE = 600  # seconds: an id_token is used right after it is issued
CLOCK_SKEW = 60
JWKS_TTL = timedelta(hours=1)
JWKS_REFETCH = timedelta(minutes=1)
JWKS_MAX_BYTES = 256 * 1024
FORBIDDEN_HEADER = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
MESSAGE_TYPES = (RESOURCE_LINK, DEEP_LINKING)
TEACHING_ROLES = ("#Instructor", "#Administrator", "#ContentDeveloper", "#Mentor",
                  "#TeachingAssistant", "/Instructor", "/Administrator")

# What a refused launch shows (learner) and what the LMS administrator is told.
REASONS: dict[str, tuple[str, str]] = {
    "bad_request": ("The learning platform sent an incomplete request.",
                    "The login or launch request lacked a required parameter."),
    "unknown_registration": ("This course link is not set up (or no longer).",
                             "The registration in the tool URL does not exist or is "
                             "switched off in coursewright."),
    "wrong_issuer": ("The course link was not sent by the expected learning platform.",
                     "The token's issuer (iss) is not the registration's issuer."),
    "wrong_client": ("The course link was not meant for this tool.",
                     "The login's client_id, or the token's audience (aud/azp), is not "
                     "the registration's client id."),
    "state_missing": ("Your session with the course could not be confirmed. Please open "
                      "the course again from your learning platform.",
                      "The launch carried no state parameter."),
    "state_unknown": ("Your session with the course could not be confirmed, or it was "
                      "already used. Please open the course again from your learning "
                      "platform.",
                      "The state is unknown, expired (10 minutes), already used, or does "
                      "not match the browser that started the login."),
    "bad_token": ("The course link from your learning platform is not valid.",
                  "The id_token is malformed, or its signature or claims do not verify."),
    "wrong_algorithm": ("The course link from your learning platform is not valid.",
                        "The id_token is not signed with RS256."),
    "unknown_key": ("The course link from your learning platform is not valid.",
                    "The id_token's key (kid) is not in the platform's key set at the "
                    "registered JWKS URL."),
    "jwks_unavailable": ("The course cannot be opened right now; please try again in a "
                         "few minutes.",
                         "coursewright could not fetch the platform's key set from the "
                         "registered JWKS URL."),
    "expired": ("The course link has expired. Please open the course again from your "
                "learning platform.", "The id_token has expired (exp)."),
    "bad_time": ("The course link is not valid at this time. Please open the course "
                 "again from your learning platform.",
                 "The id_token's issued-at time (iat) is in the future or too old; check "
                 "the platform's clock."),
    "wrong_deployment": ("This course link is not set up for this part of your learning "
                         "platform.",
                         "The token's deployment_id is not on the registration's list."),
    "wrong_message": ("The learning platform sent a kind of launch this tool does not "
                      "support.",
                      "Only LTI 1.3.0 resource link and deep linking requests are "
                      "accepted, with sub, roles and their required claims."),
    "nonce_mismatch": ("Your session with the course could not be confirmed. Please open "
                       "the course again from your learning platform.",
                       "The id_token's nonce is not the one issued with its state."),
    "replayed": ("This course link was already used. Please open the course again from "
                 "your learning platform.",
                 "The id_token's nonce was used before: a replayed launch."),
    "no_course": ("This link does not say which course to open.",
                  "The resource link carries no course (custom parameter 'course'); "
                  "create it with deep linking."),
    "unavailable": ("This course cannot be opened right now; please try again in a few "
                    "minutes.", "coursewright could not complete the request (logged)."),
    "not_instructor": ("Only teachers can choose content here.",
                       "Deep linking requests are accepted from teaching roles only."),
}


class LaunchRefused(Exception):
    def __init__(self, code: str, status: int = 403) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def launch_url(registration: PlatformRegistration) -> str:
    return settings.BASE_URL + reverse("lti:launch", args=[registration.uid])


def login_url(registration: PlatformRegistration) -> str:
    return settings.BASE_URL + reverse("lti:login", args=[registration.uid])


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# --- the login ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginStart:
    redirect: str  # the platform's authorisation request
    state: str
    storage_target: str  # "" when the platform offers no client-side storage
    storage_key: str
    storage_secret: str
    platform_origin: str


def begin_login(registration: PlatformRegistration, params: dict[str, str]) -> LoginStart:
    """Check a third-party-initiated login and make its state; :class:`LaunchRefused`."""
    iss, login_hint = params.get("iss", ""), params.get("login_hint", "")
    if not iss or not login_hint or not params.get("target_link_uri"):
        raise LaunchRefused("bad_request", 400)
    if iss != registration.issuer:
        raise LaunchRefused("wrong_issuer")
    client_id = params.get("client_id", "")
    if client_id and client_id != registration.client_id:
        raise LaunchRefused("wrong_client")
    deployment = params.get("lti_deployment_id", "")
    if deployment and deployment not in registration.deployment_ids:
        raise LaunchRefused("wrong_deployment")
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    target = params.get("lti_storage_target", "")[:100]
    storage_secret = secrets.token_urlsafe(24) if target else ""
    now = timezone.now()
    LoginState.objects.create(registration=registration, state_hash=sha(state),
                              nonce_hash=sha(nonce),
                              storage_hash=sha(storage_secret) if storage_secret else "",
                              storage_target=target,
                              created_at=now, expires_at=now + STATE_TTL)
    query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
             "prompt": "none", "client_id": registration.client_id,
             "redirect_uri": launch_url(registration), "login_hint": login_hint,
             "state": state, "nonce": nonce}
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in registration.auth_url else "?"
    return LoginStart(redirect=f"{registration.auth_url}{separator}{urlencode(query)}",
                      state=state, storage_target=target, storage_key=storage_key(state),
                      storage_secret=storage_secret,
                      platform_origin=origin_of(registration.auth_url))


def storage_key(state: str) -> str:
    return f"cw_state_{state[:43]}"


# --- the platform's key set ----------------------------------------------------------------


def _fetch_jwks(registration: PlatformRegistration) -> dict[str, Any]:
    try:
        answer = netguard.send(registration.jwks_url, method="GET",
                               headers={"Accept": "application/json"}, timeout=10.0,
                               follow_redirects=True, max_body=JWKS_MAX_BYTES)
    except (netguard.UrlRefused, ConnectionError, OSError, ValueError) as exc:
        raise LaunchRefused("jwks_unavailable", 503) from exc
    if answer.status != 200:
        raise LaunchRefused("jwks_unavailable", 503)
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise LaunchRefused("jwks_unavailable", 503) from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise LaunchRefused("jwks_unavailable", 503)
    keys = [k for k in data["keys"] if isinstance(k, dict) and k.get("kty") == "RSA"
            and isinstance(k.get("kid"), str) and "d" not in k
            and k.get("alg", "RS256") == "RS256" and k.get("use", "sig") == "sig"]
    return {"keys": keys}


def platform_keys(registration: PlatformRegistration, kid: str) -> dict[str, Any]:
    """The platform's key set, holding ``kid`` if the platform publishes it."""
    now = timezone.now()
    cached = registration.jwks_cache if isinstance(registration.jwks_cache, dict) else {}
    fetched = registration.jwks_fetched_at
    known = any(k.get("kid") == kid for k in cached.get("keys", []))
    fresh = fetched is not None and now - fetched < JWKS_TTL
    if known and fresh:
        return cached
    if not known and fetched is not None and now - fetched < JWKS_REFETCH:
        return cached  # asked a moment ago: an unknown kid does not make us fetch again
    try:
        keys = _fetch_jwks(registration)
    except LaunchRefused:
        if known:  # stale but holding the key: an outage of the platform's URL waits
            return cached
        raise
    PlatformRegistration.objects.filter(pk=registration.pk).update(jwks_cache=keys,
                                                                   jwks_fetched_at=now)
    registration.jwks_cache, registration.jwks_fetched_at = keys, now
    return keys


# --- pylti1p3, with our registration, state and nonce ------------------------------------


class _Request(Request):
    def __init__(self, params: dict[str, str]) -> None:
        self._params = params

    @property
    def session(self) -> None:
        return None

    def get_param(self, key: str) -> str:
        return self._params.get(key, "")

    def is_secure(self) -> bool:
        return settings.BASE_URL.startswith("https://")


class _ToolConf(ToolConfAbstract[_Request]):
    def __init__(self, registration: PlatformRegistration, key_set: dict[str, Any]) -> None:
        super().__init__()
        self._registration = registration
        self._key_set = key_set

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def _pylti_registration(self) -> Registration:
        reg = self._registration
        return (Registration().set_issuer(reg.issuer).set_client_id(reg.client_id)
                .set_key_set(cast(Any, self._key_set)).set_key_set_url(reg.jwks_url)
                .set_auth_login_url(reg.auth_url).set_auth_token_url(reg.token_url))

    def find_registration_by_issuer(  # type: ignore[override]
            self, iss: str, *args: Any, **kwargs: Any) -> Registration | None:
        return None

    def find_registration_by_params(  # type: ignore[override]
            self, iss: str, client_id: str, *args: Any, **kwargs: Any) -> Registration | None:
        reg = self._registration
        if iss != reg.issuer or client_id != reg.client_id:
            return None
        return self._pylti_registration()

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return None

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str,
                                  *args: Any, **kwargs: Any) -> Deployment | None:
        reg = self._registration
        if (iss != reg.issuer or client_id != reg.client_id
                or deployment_id not in reg.deployment_ids):
            return None
        return Deployment().set_deployment_id(deployment_id)


class _Checked:
    """pylti1p3's session and cookie services: the state and nonce are checked (and
    consumed) by this module before pylti1p3 runs, so these only say so."""

    def check_state_is_valid(self, state: str, id_token_hash: str) -> bool:
        return True

    def check_nonce(self, nonce: str) -> bool:
        return True

    def get_cookie(self, name: str) -> str | None:
        return None

    def save_launch_data(self, key: str, data: Any) -> None:
        return None


class _MessageLaunch(MessageLaunch[_Request, _ToolConf, Any, Any]):
    def _get_request_param(self, key: str) -> str:
        return str(self._request.get_param(key))


# --- the launch --------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidLaunch:
    registration: PlatformRegistration
    message_type: str
    subject: str
    roles: tuple[str, ...]
    deployment_id: str
    resource_link_id: str
    custom: dict[str, str]
    target_link_uri: str
    ags: dict[str, Any]
    deep_linking: dict[str, Any]
    storage_hash: str  # the login put a secret into the platform's storage
    storage_target: str  # the platform's storage frame
    claims_exp: int

    @property
    def teaching(self) -> bool:
        return any(role.endswith(TEACHING_ROLES) for role in self.roles)


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _unverified(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not id_token or len(id_token) > MAX_TOKEN_CHARS or id_token.count(".") != 2:
        raise LaunchRefused("bad_token")
    head, body, _ = id_token.split(".")
    try:
        header, claims = _b64json(head), _b64json(body)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise LaunchRefused("bad_token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise LaunchRefused("bad_token")
    return header, claims


def _number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LaunchRefused("bad_token")
    return int(value)


def _check_claims(registration: PlatformRegistration, claims: dict[str, Any]) -> None:
    if claims.get("iss") != registration.issuer:
        raise LaunchRefused("wrong_issuer")
    aud, azp = claims.get("aud"), claims.get("azp")
    client = registration.client_id
    if isinstance(aud, list):
        if client not in aud or (len(aud) > 1 and azp is None):
            raise LaunchRefused("wrong_client")
    elif aud != client:
        raise LaunchRefused("wrong_client")
    if azp is not None and azp != client:
        raise LaunchRefused("wrong_client")
    now = time.time()
    if _number(claims.get("exp")) <= now:
        raise LaunchRefused("expired")
    iat = _number(claims.get("iat"))
    if iat > now + CLOCK_SKEW or iat < now - MAX_TOKEN_AGE:
        raise LaunchRefused("bad_time")
    deployment = claims.get(CLAIM + "deployment_id")
    if not isinstance(deployment, str) or deployment not in registration.deployment_ids:
        raise LaunchRefused("wrong_deployment")
    if (claims.get(CLAIM + "message_type") not in MESSAGE_TYPES
            or claims.get(CLAIM + "version") != "1.3.0"):
        raise LaunchRefused("wrong_message")


def _find_state(registration: PlatformRegistration, state: str) -> LoginState:
    if not state:
        raise LaunchRefused("state_missing")
    if len(state) > 100:
        raise LaunchRefused("state_unknown")
    found = LoginState.objects.filter(registration=registration, state_hash=sha(state),
                                      used_at__isnull=True,
                                      expires_at__gt=timezone.now()).first()
    if found is None:
        raise LaunchRefused("state_unknown")
    return found


def verify_launch(registration: PlatformRegistration, params: dict[str, str]) -> ValidLaunch:
    """Check a launch (``id_token`` and ``state`` as posted) and use up its state and
    nonce; :class:`LaunchRefused` with the first failing check's code."""
    id_token, state = params.get("id_token", ""), params.get("state", "")
    if not id_token:
        raise LaunchRefused("bad_request", 400)
    login = _find_state(registration, state)
    header, claims = _unverified(id_token)
    if header.get("alg") != "RS256":
        raise LaunchRefused("wrong_algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or FORBIDDEN_HEADER & set(header):
        raise LaunchRefused("bad_token")
    _check_claims(registration, claims)
    keys = platform_keys(registration, kid)
    if not any(k.get("kid") == kid for k in keys.get("keys", [])):
        raise LaunchRefused("unknown_key")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(sha(nonce), login.nonce_hash):
        raise LaunchRefused("nonce_mismatch")

    checked = _Checked()
    message = _MessageLaunch(_Request({"id_token": id_token, "state": state}),
                             _ToolConf(registration, keys), session_service=checked,
                             cookie_service=checked)
    message.set_auto_validation(enable=False)  # the steps run one by one below
    message.set_jwt_verify_options(cast(Any, {
        "verify_aud": False, "require": ["exp", "iat", "iss", "aud", "nonce"]}))
    try:
        message.validate_state().validate_jwt_format().validate_nonce()
        message.validate_registration().validate_jwt_signature()
    except LtiException:
        raise LaunchRefused("bad_token") from None
    try:
        message.validate_deployment()
    except LtiException:
        raise LaunchRefused("wrong_deployment") from None
    try:
        message.validate_message()
    except LtiException:
        raise LaunchRefused("wrong_message") from None
    verified: dict[str, Any] = dict(cast(Any, message.get_launch_data()))
    if verified != claims:  # the verified claims are the ones checked above
        raise LaunchRefused("bad_token")

    _use(registration, login, nonce, _number(claims["exp"]))
    return _valid(registration, claims, login)


def _use(registration: PlatformRegistration, login: LoginState, nonce: str,
         exp: int) -> None:
    """Mark the state used and record the nonce, both or neither."""
    now = timezone.now()
    try:
        with transaction.atomic():
            if not LoginState.objects.filter(pk=login.pk, used_at__isnull=True).update(
                    used_at=now):
                raise LaunchRefused("state_unknown")
            UsedNonce.objects.create(
                registration=registration, nonce_hash=sha(nonce),
                expires_at=max(now, datetime.fromtimestamp(exp, tz=now.tzinfo)))
    except IntegrityError:
        raise LaunchRefused("replayed") from None


def _strings(value: Any, limit: int = 50) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v)[:200] for v in value[:limit] if isinstance(v, str))


def _valid(registration: PlatformRegistration, claims: dict[str, Any],
           login: LoginState) -> ValidLaunch:
    link = claims.get(CLAIM + "resource_link")
    custom = claims.get(CLAIM + "custom")
    ags = claims.get(AGS_CLAIM)
    settings_claim = claims.get(DL_CLAIM + "deep_linking_settings")
    return ValidLaunch(
        registration=registration, message_type=str(claims[CLAIM + "message_type"]),
        subject=str(claims.get("sub", ""))[:255],
        roles=_strings(claims.get(CLAIM + "roles")),
        deployment_id=str(claims[CLAIM + "deployment_id"]),
        resource_link_id=str(link.get("id", ""))[:255] if isinstance(link, dict) else "",
        custom={str(k)[:50]: str(v)[:200] for k, v in list(custom.items())[:20]}
        if isinstance(custom, dict) else {},
        target_link_uri=str(claims.get(CLAIM + "target_link_uri", ""))[:2000],
        ags=ags if isinstance(ags, dict) else {},
        deep_linking=settings_claim if isinstance(settings_claim, dict) else {},
        storage_hash=login.storage_hash, storage_target=login.storage_target,
        claims_exp=_number(claims["exp"]))


def learner_id(registration: PlatformRegistration, subject: str) -> str:
    """What the Gatekeeper is given as the learner's id (it stores only its HMAC): the
    platform's user, named by issuer, client id and ``sub`` together (a ``sub`` is
    unique only within its platform)."""
    digest = hashlib.sha256("\x00".join(
        [registration.issuer, registration.client_id, subject]).encode()).hexdigest()
    return f"lti:{digest}"
