"""The player's credential for the tutor and AI grading.

Design note
-----------
Two credentials open the learner endpoints, each naming exactly one version:

* **A launch session's credential**, for a course launched through the Gatekeeper (a
  dispatch package, later LTI): the play page carries the session's credential instead
  of any token, and every call checks it with ``gatekeeper.live_session`` — in the
  database, uncached — so the tutor and grading stop the moment the session ends or the
  license is suspended, revoked or expires, and work only for the version that session
  was launched on.
* **A per-version assist token**, for a package that runs on its own (a SCORM, HTML
  export an organisation uploads to its LMS), where no launch happens. A package runs on
  an LMS we do not control, at an origin we do not know, for a learner we must not
  identify:

* **Minted** when someone with an authoring role at the organisation switches the tutor
  or AI grading on for an approved (or published) version: 256 random bits,
  ``cwa_<base64url>``. It is not derived from anything (no version id, no org key), so
  knowing one token, or every version id, tells nothing about another token.
* **Stored** as its SHA-256 (the lookup, like API keys) and, sealed under the
  organisation's data key, in full: every rebuild of the version's package must carry
  the same token (builds are reproducible), and the org's own people can read it back.
  Destroying the organisation's key makes the stored copy unreadable.
* **Shipped** in the package's ``cw-data`` block and sent by the player in the
  ``Authorization: Bearer`` header (never a cookie, never in a URL, so it stays out of
  access logs and ``Referer``). The player API answers CORS for any origin without
  credentials: the token, not the origin, is what is checked.
* **Scope.** A token names exactly one version: the learner endpoints take no version or
  organisation id at all, so a token can never reach another version, let alone another
  organisation. It grants asking the tutor about that version and having answers to its
  free-text questions graded, nothing else — and only while the organisation's AI policy
  has the feature on.
* **Revocation.** Switching assist off for the version deletes the token (every copy in
  the wild stops working at once); switching it on again mints a new one, so packages
  must be rebuilt.
* **Honest limits.** Anyone who has the package has the token: it is a capability to
  spend the organisation's AI budget on that one course, which is why both learner
  endpoints are rate-limited per learner session *and* per version. It does not prove a
  licensed launch: licensed launches use the session credential above, never the token.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from django.conf import settings

from coursewright.assist.models import AssistAccess
from coursewright.courses.models import IMMUTABLE_STATES, CourseVersion
from coursewright.player.render import AssistConfig

TOKEN_PREFIX = "cwa_"  # noqa: S105 (a prefix, not a secret)
_TOKEN = re.compile(r"^cwa_[A-Za-z0-9_-]{43}$")
# A launch session's credential (delivery.gatekeeper: secrets.token_urlsafe(32)).
_LAUNCH = re.compile(r"^[A-Za-z0-9_-]{43}$")
# The anonymous learner session id the player makes up (random, base64url or hex).
_SESSION = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PLAYER_API_PATH = "/api/player/v1"


def mint_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate_token(token: str) -> AssistAccess | None:
    """The access a credential grants — an assist token, or a live launch session's
    credential (for the version it was launched on) — or None (malformed, revoked, the
    session over, or the version not approved)."""
    if _TOKEN.match(token or ""):
        query = AssistAccess.objects.filter(token_sha256=token_digest(token))
    elif _LAUNCH.match(token or ""):
        from coursewright.delivery.gatekeeper import live_session

        session = live_session(token)
        if session is None:
            return None
        query = AssistAccess.objects.filter(version_id=session.version_id,
                                            org_id=session.org_id)
    else:
        return None
    access = query.select_related("version", "version__course", "org").first()
    if access is None or access.version.state not in IMMUTABLE_STATES:
        return None
    return access


def valid_session_id(session_id: str) -> bool:
    return bool(_SESSION.match(session_id or ""))


def learner_ref(session_id: str) -> str:
    """What we keep of a learner session: the hash of its random id, nothing else."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def player_assist(version: CourseVersion, *, base_url: str | None = None,
                  credential: str | None = None) -> AssistConfig | None:
    """The assist settings to render into ``version``'s player, or None when off.

    ``base_url``: where the player reaches this server; the configured public address
    by default (packages run elsewhere); ``""`` for a page this server serves itself
    (the preview), which then calls it same-origin. ``credential``: a launch session's
    credential to send instead of the version's assist token (a licensed launch)."""
    access = AssistAccess.objects.filter(version=version).first()
    if access is None or not (access.tutor or access.grading):
        return None
    base = settings.BASE_URL if base_url is None else base_url
    return AssistConfig(endpoint=base.rstrip("/") + PLAYER_API_PATH,
                        token=credential or access.token,
                        tutor=access.tutor, grading=access.grading)
