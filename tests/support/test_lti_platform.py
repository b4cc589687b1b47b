"""The independent LTI platform harness, proven without our tool.

A minimal fake tool (joserfc keys, a JWKS, and in the browser test a login and launch
page) plays the tool's part, so a failure here is the harness's, not coursewright's.
"""

from __future__ import annotations

import base64
import functools
import html.parser
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey, RSAKey

from tests.support.lti_platform import (
    AGS_CLAIM,
    CLIENT_ASSERTION_TYPE,
    DL_CONTENT_ITEMS,
    DL_DATA,
    DL_SETTINGS,
    LEARNER,
    LINEITEM_MEDIA_TYPE,
    LTI,
    NRPS_CLAIM,
    SCOPE_LINEITEM,
    SCOPE_NRPS,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    SCORE_MEDIA_TYPE,
    IndependentPlatform,
    new_rsa_private_key_pem,
)

LEARNER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


# --- a minimal fake tool ----------------------------------------------------------------------


@functools.cache
def _first_tool_key() -> RSAKey:
    return FakeTool._new_key("tool-key-1")


class FakeTool:
    """Serves a JWKS (and, for the browser, login and launch pages) on 127.0.0.1."""

    def __init__(self) -> None:
        self.key = _first_tool_key()
        self.platform: IndependentPlatform | None = None
        self.launched: list[dict[str, Any]] = []
        tool = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                if parts.path == "/jwks":
                    body = json.dumps({"keys": [tool.key.as_dict(private=False)]})
                    self._send(200, body, "application/json")
                elif parts.path == "/login":
                    self._send(200, tool.login_page(dict(urllib.parse.parse_qsl(parts.query))))
                else:
                    self._send(404, "not found")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                self._send(200, tool.launch_page(form))

            def _send(self, status: int, body: str, kind: str = "text/html") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @staticmethod
    def _new_key(kid: str) -> RSAKey:
        return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})

    def rotate_key(self) -> None:
        self.key = self._new_key(f"tool-key-{secrets.token_hex(3)}")

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def sign(self, claims: dict[str, Any], *, key: RSAKey | None = None) -> str:
        signer = key or self.key
        return jose_jwt.encode({"alg": "RS256", "kid": signer.kid}, claims, signer)

    # browser pages: state goes into the platform's postMessage storage, not a cookie
    def login_page(self, params: dict[str, str]) -> str:
        assert self.platform is not None
        state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        auth = self.platform.auth_url + "?" + urllib.parse.urlencode({
            "scope": "openid", "response_type": "id_token", "response_mode": "form_post",
            "prompt": "none", "client_id": params["client_id"],
            "redirect_uri": f"{self.url}/launch", "state": state, "nonce": nonce,
            "login_hint": params["login_hint"], "lti_message_hint": params["lti_message_hint"]})
        return f"""<!DOCTYPE html><html lang="en"><head><title>Tool login</title></head><body>
<script>
window.addEventListener("message", function (event) {{
  if (event.data.subject === "lti.put_data.response" && !event.data.error) {{
    window.location.href = {json.dumps(auth)};
  }}
}});
window.parent.postMessage({{subject: "lti.put_data", message_id: "m1",
  key: "state_" + {json.dumps(state)}, value: {json.dumps(nonce)}}}, "*");
</script></body></html>"""

    def launch_page(self, form: dict[str, str]) -> str:
        assert self.platform is not None
        token = jose_jwt.decode(form["id_token"], KeySet.import_key_set(
            self.platform.public_jwks()), algorithms=["RS256"])
        self.launched.append(token.claims)
        return f"""<!DOCTYPE html><html lang="en"><head><title>Tool</title></head><body>
<h1 id="who">Launched for {token.claims["sub"]}</h1><p id="check">checking state…</p>
<script>
window.addEventListener("message", function (event) {{
  if (event.data.subject !== "lti.get_data.response") return;
  var ok = !event.data.error && event.data.value === {json.dumps(token.claims["nonce"])};
  document.getElementById("check").textContent = ok ? "state verified" : "state MISMATCH";
}});
window.parent.postMessage({{subject: "lti.get_data", message_id: "m2",
  key: "state_" + {json.dumps(form["state"])}}}, "*");
</script></body></html>"""


@pytest.fixture
def tool() -> Iterator[FakeTool]:
    fake = FakeTool()
    yield fake
    fake.close()


@pytest.fixture
def lms(tool: FakeTool) -> Iterator[IndependentPlatform]:
    with IndependentPlatform(tool_login_url=f"{tool.url}/login",
                             tool_launch_url=f"{tool.url}/launch",
                             tool_jwks_url=f"{tool.url}/jwks") as platform:
        tool.platform = platform
        yield platform
    assert platform.server_errors == []


# --- helpers: what a tool does over HTTP -------------------------------------------------------


class _Forms(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.iframe_src = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and "name" in values:
            self.fields[values["name"]] = values.get("value", "")
        elif tag == "iframe":
            self.iframe_src = values.get("src", "")


def parse(page: str) -> _Forms:
    forms = _Forms()
    forms.feed(page)
    return forms


def login_initiation(session: requests.Session, page_url: str) -> dict[str, str]:
    """Load the course page and follow its iframe to the tool's login URL."""
    page = session.get(page_url, timeout=10)
    assert page.status_code == 200
    response = session.get(parse(page.text).iframe_src, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
        response.headers["Location"]).query))


def auth_params(login: dict[str, str], registered: str, **changes: str) -> dict[str, str]:
    """What a tool sends to the auth endpoint; ``registered`` is its redirect URI."""
    params = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
              "prompt": "none", "client_id": login["client_id"],
              "redirect_uri": registered, "state": secrets.token_urlsafe(8),
              "nonce": secrets.token_urlsafe(8), "login_hint": login["login_hint"],
              "lti_message_hint": login["lti_message_hint"]}
    params.update(changes)
    return params


def launch(lms: IndependentPlatform, page_url: str) -> tuple[dict[str, Any], _Forms]:
    """The whole login -> auth -> id_token dance; returns verified claims and the form."""
    session = requests.Session()
    login = login_initiation(session, page_url)
    params = auth_params(login, lms.tool_launch_url)
    answer = session.post(lms.auth_url, data=params, timeout=10)
    assert answer.status_code == 200, answer.text
    form = parse(answer.text)
    assert form.action == params["redirect_uri"]
    assert form.fields["state"] == params["state"]
    keys = KeySet.import_key_set(session.get(lms.jwks_url, timeout=10).json())
    token = jose_jwt.decode(form.fields["id_token"], keys, algorithms=["RS256"])
    jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": lms.issuer},
        aud={"essential": True, "value": lms.client_id},
        nonce={"essential": True, "value": params["nonce"]},
        exp={"essential": True}, iat={"essential": True},
    ).validate(token.claims)
    assert token.header["kid"] == lms.kid
    return token.claims, form


def deep_link_claims(lms: IndependentPlatform, *, data: str | None = "opaque-data-xyz",
                     items: list[dict[str, Any]] | None = None, **changes: Any
                     ) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": lms.client_id, "aud": lms.issuer, "iat": now, "exp": now + 300,
        "nonce": secrets.token_urlsafe(12),
        LTI + "message_type": "LtiDeepLinkingResponse", LTI + "version": "1.3.0",
        LTI + "deployment_id": lms.deployment_id,
        DL_CONTENT_ITEMS: items if items is not None else [{
            "type": "ltiResourceLink", "title": "Safety basics",
            "url": lms.tool_launch_url + "?course=safety", "custom": {"course": "safety"},
            "lineItem": {"label": "Safety basics", "scoreMaximum": 10}}],
    }
    if data is not None:
        claims[DL_DATA] = data
    claims.update(changes)
    return claims


def open_deep_link(lms: IndependentPlatform) -> str:
    """Start a deep-linking launch; returns its deep_link_return_url."""
    claims, _ = launch(lms, lms.deep_link_page_url())
    return str(claims[DL_SETTINGS]["deep_link_return_url"])


def client_assertion(tool: FakeTool, lms: IndependentPlatform, *, key: RSAKey | None = None,
                     **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": lms.client_id, "sub": lms.client_id, "aud": lms.token_url, "iat": now,
              "exp": now + 60, "jti": secrets.token_urlsafe(12)}
    claims.update(changes)
    return tool.sign(claims, key=key)


def token_form(assertion: str, scopes: list[str], **changes: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion, "scope": " ".join(scopes)}
    form.update(changes)
    return form


def access_token(tool: FakeTool, lms: IndependentPlatform, scopes: list[str]) -> str:
    answer = requests.post(lms.token_url, data=token_form(client_assertion(tool, lms), scopes),
                           timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def score(user_id: str = LEARNER.id, **changes: Any) -> dict[str, Any]:
    body = {"userId": user_id, "scoreGiven": 8, "scoreMaximum": 10,
            "activityProgress": "Completed", "gradingProgress": "FullyGraded",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            + f".{time.time_ns() % 10**9:09d}+00:00"}
    body.update(changes)
    return body


def post_score(lineitem: str, body: Any, token: str | None, *,
               content_type: str = SCORE_MEDIA_TYPE) -> requests.Response:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(f"{lineitem}/scores", data=json.dumps(body), headers=headers,
                         timeout=10)


# --- launch ------------------------------------------------------------------------------------


def test_it_publishes_its_keys_and_names_itself_localhost(lms: IndependentPlatform) -> None:
    jwks = requests.get(lms.jwks_url, timeout=10).json()
    assert [(k["kid"], k["alg"], k["kty"]) for k in jwks["keys"]] == [(lms.kid, "RS256", "RSA")]
    assert "d" not in jwks["keys"][0]
    assert jwks == lms.public_jwks()
    for url in (lms.issuer, lms.auth_url, lms.token_url, lms.jwks_url):
        assert url.startswith("http://localhost:")


def test_login_initiation_carries_the_oidc_parameters(lms: IndependentPlatform,
                                                      tool: FakeTool) -> None:
    # given a course page for a resource link
    page = requests.get(lms.launch_page_url("unit-1"), timeout=10)

    # then it frames the tool, and the frame starts a third-party-initiated login
    assert '<iframe id="lti-tool"' in page.text
    assert "lti_storage.js" in page.text
    login = login_initiation(requests.Session(), lms.launch_page_url("unit-1"))
    assert login["iss"] == lms.issuer
    assert login["target_link_uri"] == f"{tool.url}/launch"
    assert login["login_hint"] == LEARNER.id
    assert login["client_id"] == lms.client_id
    assert login["lti_deployment_id"] == lms.deployment_id
    assert login["lti_message_hint"].startswith("hint-")
    assert login["lti_storage_target"] == "_parent"


def test_login_initiation_can_be_a_form_post_without_storage(lms: IndependentPlatform,
                                                             tool: FakeTool) -> None:
    url = lms.launch_page_url("unit-1", login_method="POST", storage=False)
    page = requests.get(url, timeout=10)
    assert "lti_storage.js" not in page.text
    answer = requests.get(parse(page.text).iframe_src, timeout=10, allow_redirects=False)
    form = parse(answer.text)
    assert answer.status_code == 200
    assert form.action == f"{tool.url}/login"
    assert form.fields["iss"] == lms.issuer
    assert "lti_storage_target" not in form.fields


def test_a_resource_link_launch_yields_a_valid_id_token(lms: IndependentPlatform) -> None:
    # when the tool goes through login and the platform's auth endpoint
    claims, form = launch(lms, lms.launch_page_url("unit-1", custom={"unit": "1"}))

    # then the id_token is a complete LtiResourceLinkRequest
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims["azp"] == lms.client_id
    assert claims[LTI + "deployment_id"] == lms.deployment_id
    assert claims[LTI + "target_link_uri"] == lms.tool_launch_url
    assert claims[LTI + "resource_link"]["id"] == "unit-1"
    assert claims[LTI + "roles"] == [LEARNER_ROLE]
    assert claims[LTI + "custom"] == {"unit": "1"}
    assert claims["sub"] == LEARNER.id
    # the PII a careful tool must drop is there on purpose
    assert (claims["name"], claims["given_name"], claims["family_name"], claims["email"],
            claims["picture"]) == (LEARNER.name, LEARNER.given_name, LEARNER.family_name,
                                   LEARNER.email, LEARNER.picture)
    assert claims[NRPS_CLAIM]["context_memberships_url"] == lms.memberships_url
    line_item = lms.line_item_for("unit-1")
    assert line_item is not None
    assert claims[AGS_CLAIM]["lineitem"] == line_item["id"]
    assert sorted(claims[AGS_CLAIM]["scope"]) == sorted(
        [SCOPE_LINEITEM, SCOPE_RESULT_READONLY, SCOPE_SCORE])
    assert form.fields["lti_storage_target"] == "_parent"
    # and the platform recorded what the tool asked and what it issued
    assert lms.last_auth_request is not None
    assert lms.last_auth_request["nonce"] == claims["nonce"]
    assert lms.launches[-1].id_token == form.fields["id_token"]
    assert lms.launches[-1].claims == claims


def test_a_launch_without_grading_has_no_ags_claim(lms: IndependentPlatform) -> None:
    claims, _ = launch(lms, lms.launch_page_url("reading", line_item=False,
                                                roles=("Instructor",)))
    assert AGS_CLAIM not in claims
    assert lms.line_item_for("reading") is None
    assert claims[LTI + "roles"] == [INSTRUCTOR_ROLE]
    assert claims["sub"] != LEARNER.id


@pytest.mark.parametrize(("change", "reason"), [
    ({"redirect_uri": "http://127.0.0.1:1/evil"}, "is not registered"),
    ({"client_id": "someone-else"}, "unknown client_id"),
    ({"prompt": "login"}, "prompt must be none"),
    ({"response_type": "code"}, "response_type must be id_token"),
    ({"response_mode": "query"}, "response_mode must be form_post"),
    ({"scope": "profile"}, "scope must include openid"),
    ({"nonce": ""}, "nonce is required"),
    ({"state": ""}, "state is required"),
    ({"login_hint": "another-user"}, "login_hint is not the user"),
    ({"lti_message_hint": "hint-forged"}, "unknown lti_message_hint"),
])
def test_auth_refuses_a_bad_authentication_request(lms: IndependentPlatform,
                                                   change: dict[str, str],
                                                   reason: str) -> None:
    session = requests.Session()
    login = login_initiation(session, lms.launch_page_url("unit-1"))
    params = auth_params(login, lms.tool_launch_url, **change)
    answer = session.get(lms.auth_url, params=params, timeout=10)
    assert answer.status_code == 400
    assert "LTI launch refused" in answer.text
    assert reason in lms.auth_errors[-1]
    assert lms.launches == []


# --- forged tokens -------------------------------------------------------------------------------


def platform_keys(lms: IndependentPlatform) -> KeySet:
    return KeySet.import_key_set(lms.public_jwks())


def test_make_id_token_defaults_to_a_valid_token(lms: IndependentPlatform) -> None:
    session = requests.Session()
    login = login_initiation(session, lms.launch_page_url("unit-1"))
    session.get(lms.auth_url, params=auth_params(login, lms.tool_launch_url, nonce="the-nonce"),
                timeout=10)

    token = jose_jwt.decode(lms.make_id_token(), platform_keys(lms), algorithms=["RS256"])
    assert token.claims["nonce"] == "the-nonce"  # the last authentication request's
    assert token.claims["aud"] == lms.client_id
    assert token.claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert token.claims["exp"] > time.time()

    deep = jose_jwt.decode(lms.make_id_token(deep_link=True, nonce="n2"), platform_keys(lms),
                           algorithms=["RS256"])
    assert deep.claims[LTI + "message_type"] == "LtiDeepLinkingRequest"
    assert DL_SETTINGS in deep.claims


def test_make_id_token_overrides_and_drops_claims(lms: IndependentPlatform) -> None:
    expired = int(time.time()) - 60
    token = lms.make_id_token(aud="other-client", deployment_id="dep-x", exp=expired,
                              drop=("nonce", "roles"), claims={"iss": "http://evil"})
    claims = jose_jwt.decode(token, platform_keys(lms), algorithms=["RS256"]).claims
    assert claims["aud"] == "other-client"
    assert claims[LTI + "deployment_id"] == "dep-x"
    assert claims["exp"] == expired
    assert claims["iss"] == "http://evil"
    assert "nonce" not in claims
    assert LTI + "roles" not in claims


def test_make_id_token_forges_signatures_a_tool_must_refuse(lms: IndependentPlatform) -> None:
    keys = platform_keys(lms)
    other = lms.make_id_token(key=new_rsa_private_key_pem())
    with pytest.raises(JoseError):
        jose_jwt.decode(other, keys, algorithms=["RS256"])

    for alg in ("HS256", "none"):
        forged = lms.make_id_token(alg=alg)
        header = json.loads(base64.urlsafe_b64decode(forged.split(".")[0] + "=="))
        assert header["alg"] == alg
        with pytest.raises(JoseError):
            jose_jwt.decode(forged, keys, algorithms=["RS256"])
    assert lms.make_id_token(alg="none").endswith(".")

    no_kid = lms.make_id_token(kid="")
    assert "kid" not in json.loads(base64.urlsafe_b64decode(no_kid.split(".")[0] + "=="))


# --- deep linking --------------------------------------------------------------------------------


def test_a_deep_linking_request_carries_its_settings(lms: IndependentPlatform) -> None:
    claims, _ = launch(lms, lms.deep_link_page_url(data="echo-me"))
    settings = claims[DL_SETTINGS]
    assert claims[LTI + "message_type"] == "LtiDeepLinkingRequest"
    assert claims[LTI + "roles"] == [INSTRUCTOR_ROLE]
    assert settings["accept_types"] == ["ltiResourceLink"]
    assert settings["data"] == "echo-me"
    assert settings["accept_multiple"] is True
    assert settings["deep_link_return_url"].startswith(f"{lms.base_url}/deep_link_return/")
    assert LTI + "resource_link" not in claims


def test_a_valid_deep_link_response_is_accepted(lms: IndependentPlatform,
                                                tool: FakeTool) -> None:
    # given an open deep-linking request
    return_url = open_deep_link(lms)

    # when the tool answers with a signed response echoing `data`
    response_jwt = tool.sign(deep_link_claims(lms))
    answer = requests.post(return_url, data={"JWT": response_jwt}, timeout=10)

    # then the platform keeps the item, makes a link and its line item
    assert answer.status_code == 200, answer.text
    assert "Deep link received" in answer.text
    [item] = lms.received_deep_links
    assert item["title"] == "Safety basics"
    [link] = lms.deep_linked_resources
    assert link.url == lms.tool_launch_url + "?course=safety"
    line_item = lms.line_item_for(link.resource_link_id)
    assert line_item is not None
    assert (line_item["scoreMaximum"], line_item["id"]) == (10, link.lineitem)
    assert lms.deep_link_errors == []

    # and launching the new link sends its url, custom and line item
    claims, _ = launch(lms, lms.launch_page_url(link.resource_link_id))
    assert claims[LTI + "target_link_uri"] == link.url
    assert claims[LTI + "custom"] == {"course": "safety"}
    assert claims[AGS_CLAIM]["lineitem"] == link.lineitem
    assert len(lms.line_items) == 1


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims[DL_DATA] = "tampered"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(("forge", "reason"), [
    (lambda tool, lms: _tampered(tool.sign(deep_link_claims(lms))), "Signature"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, data="other")), "data was not echoed"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, data=None)), "data was not echoed"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, aud="http://elsewhere")), "aud must"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, iss="someone")), "iss must"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, **{LTI + "deployment_id": "d-x"})),
     "deployment_id"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, **{LTI + "version": "1.1"})),
     "version"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, exp=int(time.time()) - 10)), "expired"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, nonce="")), "nonce is required"),
    (lambda tool, lms: tool.sign(deep_link_claims(
        lms, **{LTI + "message_type": "LtiResourceLinkRequest"})), "Deep Linking Response"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, items=[{"type": "html", "html": "x"}])),
     "not supported"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, items=[{
        "type": "ltiResourceLink", "url": "http://127.0.0.2:1/elsewhere"}])), "tool's origin"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms, items=[{
        "type": "ltiResourceLink", "lineItem": {"scoreMaximum": 0}}])), "scoreMaximum"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms), key=FakeTool._new_key("tool-key-1")),
     "Signature"),
    (lambda tool, lms: tool.sign(deep_link_claims(lms), key=FakeTool._new_key("unknown")),
     "Unable to find public key"),
    (lambda tool, lms: jose_jwt.encode({"alg": "HS256", "kid": "tool-key-1"},
                                       deep_link_claims(lms),
                                       OctKey.import_key(secrets.token_bytes(32))),
     "Unable to find public key"),
])
def test_a_bad_deep_link_response_is_refused(lms: IndependentPlatform, tool: FakeTool,
                                             forge: Any, reason: str) -> None:
    return_url = open_deep_link(lms)
    answer = requests.post(return_url, data={"JWT": forge(tool, lms)}, timeout=10)
    assert answer.status_code == 400
    assert "Deep link refused" in answer.text
    assert reason in lms.deep_link_errors[-1]
    assert lms.received_deep_links == []
    assert lms.line_items == []


def test_a_replayed_deep_link_response_is_refused(lms: IndependentPlatform,
                                                  tool: FakeTool) -> None:
    return_url = open_deep_link(lms)
    response_jwt = tool.sign(deep_link_claims(lms))
    assert requests.post(return_url, data={"JWT": response_jwt}, timeout=10).status_code == 200
    again = requests.post(return_url, data={"JWT": response_jwt}, timeout=10)
    assert again.status_code == 400
    assert lms.deep_link_errors == ["nonce was already used"]
    assert len(lms.received_deep_links) == 1


def test_a_rotated_tool_key_is_fetched_again(lms: IndependentPlatform, tool: FakeTool) -> None:
    first = open_deep_link(lms)
    assert requests.post(first, data={"JWT": tool.sign(deep_link_claims(lms))},
                         timeout=10).status_code == 200
    tool.rotate_key()
    second = open_deep_link(lms)
    answer = requests.post(second, data={"JWT": tool.sign(deep_link_claims(lms))}, timeout=10)
    assert answer.status_code == 200, lms.deep_link_errors


# --- token endpoint ------------------------------------------------------------------------------


def test_the_token_endpoint_grants_requested_ags_scopes(lms: IndependentPlatform,
                                                        tool: FakeTool) -> None:
    scopes = [SCOPE_SCORE, SCOPE_LINEITEM, "https://example.org/unknown-scope"]
    answer = requests.post(lms.token_url, data=token_form(client_assertion(tool, lms), scopes),
                           timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert sorted(body["scope"].split()) == sorted([SCOPE_SCORE, SCOPE_LINEITEM])
    [request] = lms.token_requests
    assert request.status == 200
    assert request.assertion_claims is not None
    assert request.assertion_claims["iss"] == lms.client_id


def test_the_token_endpoint_accepts_the_issuer_as_audience(lms: IndependentPlatform,
                                                           tool: FakeTool) -> None:
    form = token_form(client_assertion(tool, lms, aud=[lms.issuer]), [SCOPE_SCORE])
    assert requests.post(lms.token_url, data=form, timeout=10).status_code == 200


@pytest.mark.parametrize(("make_form", "status", "error"), [
    (lambda tool, lms: token_form(client_assertion(tool, lms, key=FakeTool._new_key(
        "tool-key-1")), [SCOPE_SCORE]), 401, "invalid_client"),
    (lambda tool, lms: token_form(client_assertion(tool, lms, key=FakeTool._new_key(
        "stranger")), [SCOPE_SCORE]), 401, "invalid_client"),
    (lambda tool, lms: token_form(client_assertion(tool, lms, aud="http://elsewhere/token"),
                                  [SCOPE_SCORE]), 401, "invalid_client"),
    (lambda tool, lms: token_form(client_assertion(tool, lms, iss="other"), [SCOPE_SCORE]),
     401, "invalid_client"),
    (lambda tool, lms: token_form(client_assertion(tool, lms, exp=int(time.time()) - 5),
                                  [SCOPE_SCORE]), 401, "invalid_client"),
    (lambda tool, lms: token_form(client_assertion(tool, lms, jti=""), [SCOPE_SCORE]),
     401, "invalid_client"),
    (lambda tool, lms: token_form(client_assertion(tool, lms), [SCOPE_SCORE],
                                  client_assertion_type="urn:other"), 400, "invalid_request"),
    (lambda tool, lms: token_form(client_assertion(tool, lms), [SCOPE_SCORE],
                                  grant_type="password"), 400, "unsupported_grant_type"),
    (lambda tool, lms: token_form(client_assertion(tool, lms), ["https://example.org/x"]),
     400, "invalid_scope"),
    (lambda tool, lms: {"grant_type": "client_credentials", "scope": SCOPE_SCORE},
     400, "invalid_request"),
])
def test_the_token_endpoint_refuses_a_bad_request(lms: IndependentPlatform, tool: FakeTool,
                                                  make_form: Any, status: int,
                                                  error: str) -> None:
    answer = requests.post(lms.token_url, data=make_form(tool, lms), timeout=10)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert lms.token_requests[-1].status == status
    assert lms.token_requests[-1].granted_scopes == []


def test_the_token_endpoint_refuses_a_reused_jti(lms: IndependentPlatform,
                                                 tool: FakeTool) -> None:
    form = token_form(client_assertion(tool, lms, jti="once"), [SCOPE_SCORE])
    assert requests.post(lms.token_url, data=form, timeout=10).status_code == 200
    again = requests.post(lms.token_url, data=form, timeout=10)
    assert again.status_code == 401
    assert "jti was already used" in str(lms.token_requests[-1].error)


# --- assignment and grade services ---------------------------------------------------------------


@pytest.fixture
def lineitem(lms: IndependentPlatform) -> str:
    lms.launch_page_url("unit-1")  # the learner is a member, the link has a line item
    item = lms.line_item_for("unit-1")
    assert item is not None
    return str(item["id"])


def test_a_score_with_a_token_lands_at_the_line_item(lms: IndependentPlatform, tool: FakeTool,
                                                     lineitem: str) -> None:
    token = access_token(tool, lms, [SCOPE_SCORE, SCOPE_RESULT_READONLY])
    body = score()
    answer = post_score(lineitem, body, token)
    assert answer.status_code == 200, answer.text
    [received] = lms.scores
    assert (received.lineitem, received.body) == (lineitem, body)

    results = requests.get(f"{lineitem}/results", timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
    assert results.status_code == 200
    assert [(r["userId"], r["resultScore"]) for r in results.json()] == [(LEARNER.id, 8)]


@pytest.mark.parametrize(("token_scopes", "status"), [
    (None, 401),
    ([SCOPE_RESULT_READONLY], 403),
    (["garbage"], 401),
])
def test_a_score_without_the_score_scope_is_refused(lms: IndependentPlatform, tool: FakeTool,
                                                    lineitem: str, token_scopes: Any,
                                                    status: int) -> None:
    if token_scopes == ["garbage"]:
        token: str | None = "not-a-jwt"
    elif token_scopes:
        token = access_token(tool, lms, token_scopes)
    else:
        token = None
    answer = post_score(lineitem, score(), token)
    assert answer.status_code == status
    assert lms.scores == []
    assert lms.ags_errors[-1].startswith(f"POST /ags/lineitems/1/scores: {status}")


def test_a_token_signed_by_someone_else_is_refused(lms: IndependentPlatform,
                                                   lineitem: str) -> None:
    forged = jose_jwt.encode({"alg": "RS256"}, {
        "iss": lms.issuer, "sub": lms.client_id, "scopes": SCOPE_SCORE,
        "exp": int(time.time()) + 60}, RSAKey.generate_key(2048))
    assert post_score(lineitem, score(), forged).status_code == 401
    assert lms.scores == []


@pytest.mark.parametrize(("body", "reason"), [
    (score(timestamp="yesterday"), "timestamp"),
    (score(timestamp="2030-01-01T00:00:00"), "time zone"),
    (score(activityProgress="Done"), "activityProgress"),
    (score(gradingProgress="Graded"), "gradingProgress"),
    ({k: v for k, v in score().items() if k != "scoreMaximum"}, "scoreMaximum"),
    (score(scoreGiven=-1), "scoreGiven must be >= 0"),
    (score(scoreGiven="8"), "scoreGiven must be a number"),
    (score(userId="stranger"), "not a member"),
    (score(userId=""), "userId"),
    ([score()], "JSON object"),
])
def test_an_invalid_score_is_refused(lms: IndependentPlatform, tool: FakeTool, lineitem: str,
                                     body: Any, reason: str) -> None:
    answer = post_score(lineitem, body, access_token(tool, lms, [SCOPE_SCORE]))
    assert answer.status_code == 400
    assert reason in answer.json()["error"]
    assert lms.scores == []



def test_scores_need_their_media_type_and_a_newer_timestamp(lms: IndependentPlatform,
                                                            tool: FakeTool,
                                                            lineitem: str) -> None:
    token = access_token(tool, lms, [SCOPE_SCORE])
    assert post_score(lineitem, score(), token, content_type="application/json"
                      ).status_code == 415
    first = score(timestamp="2030-01-01T10:00:00.000+00:00")
    assert post_score(lineitem, first, token).status_code == 200
    older = score(timestamp="2030-01-01T09:59:59.000+00:00", scoreGiven=1)
    assert post_score(lineitem, older, token).status_code == 409
    assert [s.body for s in lms.scores] == [first]
    assert post_score(f"{lms.lineitems_url}/99", score(), token).status_code == 404


def test_injected_failures_answer_first(lms: IndependentPlatform, tool: FakeTool,
                                        lineitem: str) -> None:
    token = access_token(tool, lms, [SCOPE_SCORE])
    lms.fail_next("scores", count=2, status=503)
    lms.fail_next("token")
    assert [post_score(lineitem, score(), token).status_code for _ in range(3)] == [
        503, 503, 200]
    failed = requests.post(lms.token_url, timeout=10, data=token_form(
        client_assertion(tool, lms), [SCOPE_SCORE]))
    assert failed.status_code == 503
    assert len(lms.scores) == 1


def test_line_items_can_be_listed_and_created(lms: IndependentPlatform, tool: FakeTool,
                                              lineitem: str) -> None:
    token = access_token(tool, lms, [SCOPE_LINEITEM])
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(lms.lineitems_url, timeout=10, data=json.dumps(
        {"label": "Quiz", "scoreMaximum": 5, "resourceLinkId": "unit-2", "tag": "quiz"}),
        headers={**auth, "Content-Type": LINEITEM_MEDIA_TYPE})
    assert created.status_code == 201
    assert created.json()["id"] == f"{lms.lineitems_url}/2"

    listed = requests.get(lms.lineitems_url, params={"tag": "quiz"}, headers=auth, timeout=10)
    assert listed.status_code == 200
    assert [i["label"] for i in listed.json()] == ["Quiz"]
    page = requests.get(lms.lineitems_url, params={"limit": "1"}, headers=auth, timeout=10)
    assert len(page.json()) == 1
    assert 'rel=next' in page.headers["Link"]
    bad = requests.post(lms.lineitems_url, data=json.dumps({"label": ""}), timeout=10,
                        headers={**auth, "Content-Type": LINEITEM_MEDIA_TYPE})
    assert bad.status_code == 400
    assert requests.get(lms.lineitems_url, params={"limit": "x"}, headers=auth,
                        timeout=10).status_code == 400
    read_only = access_token(tool, lms, [SCOPE_SCORE])
    assert requests.get(lms.lineitems_url, headers={"Authorization": f"Bearer {read_only}"},
                        timeout=10).status_code == 403


def test_names_and_roles_lists_the_course_members(lms: IndependentPlatform,
                                                  tool: FakeTool) -> None:
    lms.launch_page_url("unit-1")
    token = access_token(tool, lms, [SCOPE_NRPS])
    answer = requests.get(lms.memberships_url, headers={"Authorization": f"Bearer {token}"},
                          timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["context"]["id"] == lms.context_id
    assert [m["user_id"] for m in body["members"]] == [LEARNER.id]
    assert requests.get(lms.memberships_url, timeout=10).status_code == 401


# --- in a browser ---------------------------------------------------------------------------


@pytest.mark.browser
def test_the_course_page_frames_the_tool_with_postmessage_storage(
        lms: IndependentPlatform, tool: FakeTool) -> None:
    from tests.support.browser import launch_chromium, save_screenshot

    with launch_chromium() as browser:
        page = browser.new_page()
        page.goto(lms.launch_page_url("unit-1"))
        frame = page.frame_locator("#lti-tool")
        try:  # a loaded CI runner is slow: a minute, then say where the flow stopped
            frame.locator("#check").get_by_text("state verified").wait_for(timeout=60_000)
        except Exception as stuck:
            raise AssertionError(
                f"auth_requests={lms.auth_requests} auth_errors={lms.auth_errors} "
                f"storage_events={lms.storage_events} launches={len(lms.launches)} "
                f"server_errors={lms.server_errors} frame={page.frames[-1].url}") from stuck
        assert frame.locator("#who").inner_text() == f"Launched for {LEARNER.id}"
        save_screenshot(page, "lti_platform_course_page")
        # the storage serves the tool's origin only, not e.g. the platform page itself
        reply = page.evaluate("""() => new Promise(resolve => {
          window.addEventListener("message", e => {
            if (e.data.subject === "lti.get_data.response") resolve(e.data);
          });
          window.postMessage({subject: "lti.get_data", message_id: "x", key: "state_a"}, "*");
        })""")
        assert reply["error"]["code"] == "unauthorized"
        for _ in range(50):  # beacons are asynchronous
            if len(lms.storage_events) >= 3:
                break
            time.sleep(0.1)
    assert [(e["subject"], e["ok"], e["origin"]) for e in lms.storage_events] == [
        ("lti.put_data", True, tool.url), ("lti.get_data", True, tool.url),
        ("lti.get_data", False, lms.base_url)]
    [claims] = tool.launched
    assert claims["sub"] == LEARNER.id
