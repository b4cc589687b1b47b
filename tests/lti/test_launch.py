"""LTI 1.3 login and launch: what is accepted, and every way a launch is refused.

The platform is a stub on 127.0.0.1 (its key set is fetched through the outbound guard,
which the tests allow to reach loopback); id_tokens are crafted with joserfc."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from joserfc.jwk import RSAKey

from coursewright.audit.actor import Actor
from coursewright.delivery import licenses
from coursewright.delivery.models import (
    LaunchEvent,
    LaunchOutcome,
    LaunchSession,
    License,
)
from coursewright.lti.launch import learner_id, sha
from coursewright.lti.models import LoginState, LtiLaunch, UsedNonce
from tests.conftest import People
from tests.lti.support import (
    AGS,
    CLAIM,
    CLIENT_ID,
    DEPLOYMENT,
    INSTRUCTOR,
    SCORE_SCOPE,
    Setup,
    StubPlatform,
    hs256_with_public_key,
    launch,
    login,
    register,
    stub_platform,
)
from tests.support.pii_scan import learner_pii_hits

pytestmark = pytest.mark.django_db

NAME, EMAIL = "Grace Hopper", "grace.hopper@lms.example"


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = True  # the stub platform is on 127.0.0.1


@pytest.fixture
def platform() -> Iterator[StubPlatform]:
    with stub_platform() as stub:
        yield stub


@pytest.fixture
def setup(people: People, platform: StubPlatform) -> Setup:
    return register(people, platform)


def refused(response: Any, code: str, status: int = 403) -> None:
    assert response.status_code == status, (response.status_code, response.content[:400])
    text = response.content.decode()
    assert "This course cannot be opened" in text
    assert f"<code>{code}</code>" in text
    assert "frame-ancestors *" in response["Content-Security-Policy"]


def blocked_events(setup: Setup) -> list[str]:
    return list(LaunchEvent.objects.filter(license=setup.license,
                                           outcome=LaunchOutcome.BLOCKED)
                .values_list("reason", flat=True))


# --- login ------------------------------------------------------------------------------


def test_login_redirects_to_the_platform_with_state_and_nonce(setup: Setup) -> None:
    client = Client()
    response = client.get(f"/lti/r/{setup.registration.uid}/login", {
        "iss": setup.platform.issuer, "login_hint": "h", "lti_message_hint": "m",
        "target_link_uri": "https://evil.example/steal", "client_id": CLIENT_ID})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{setup.platform.url}/auth")
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    # the redirect_uri is always our launch URL, never the target_link_uri given
    assert query["redirect_uri"].endswith(f"/lti/r/{setup.registration.uid}/launch")
    assert (query["scope"], query["response_type"], query["response_mode"],
            query["prompt"]) == ("openid", "id_token", "form_post", "none")
    assert query["client_id"] == CLIENT_ID
    assert query["lti_message_hint"] == "m"
    assert len(query["state"]) >= 43
    assert len(query["nonce"]) >= 43
    # only the hashes are stored
    stored = LoginState.objects.get()
    assert stored.state_hash == sha(query["state"])
    assert stored.nonce_hash == sha(query["nonce"])


@pytest.mark.parametrize(("change", "code", "status"), [
    ({"iss": "https://other.example"}, "wrong_issuer", 403),
    ({"client_id": "someone-else"}, "wrong_client", 403),
    ({"lti_deployment_id": "dep-unknown"}, "wrong_deployment", 403),
    ({"login_hint": ""}, "bad_request", 400),
])
def test_a_login_that_is_not_the_registrations_is_refused(
        setup: Setup, change: dict[str, str], code: str, status: int) -> None:
    params = {"iss": setup.platform.issuer, "login_hint": "h", "client_id": CLIENT_ID,
              "target_link_uri": "https://tool.example/launch", **change}
    response = Client().post(f"/lti/r/{setup.registration.uid}/login", params)
    refused(response, code, status)
    assert not LoginState.objects.exists()


def test_an_unknown_or_disabled_registration_is_a_404_page(setup: Setup) -> None:
    refused(Client().get("/lti/r/not-a-uid/login", {"iss": "x"}), "unknown_registration", 404)
    setup.registration.active = False
    setup.registration.save()
    refused(Client().post(f"/lti/r/{setup.registration.uid}/launch", {"id_token": "x"}),
            "unknown_registration", 404)


def test_login_with_platform_storage_puts_a_secret_there_first(setup: Setup) -> None:
    response = Client().get(f"/lti/r/{setup.registration.uid}/login", {
        "iss": setup.platform.issuer, "login_hint": "h", "client_id": CLIENT_ID,
        "target_link_uri": "https://tool.example/launch",
        "lti_storage_target": "post_message_forwarding"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "/lti/assets/login.js" in page
    assert '"target": "post_message_forwarding"' in page
    assert f'"origin": "{setup.platform.url}"' in page
    stored = LoginState.objects.get()
    assert stored.storage_hash
    assert stored.storage_target == "post_message_forwarding"
    assert "script-src 'self'" in response["Content-Security-Policy"]


# --- a valid launch ----------------------------------------------------------------------


def test_a_learner_launch_opens_the_course_through_the_gatekeeper(setup: Setup) -> None:
    client = Client()
    state, nonce = login(client, setup)
    token = setup.platform.id_token(nonce=nonce, course=setup.course, **{
        AGS: {"scope": [SCORE_SCOPE], "lineitem": f"{setup.platform.url}/lineitems/1"}})
    response = launch(client, setup, token, state)
    assert response.status_code == 200, response.content[:500]
    page = response.content.decode()
    assert "/launch/v1/play/" in page
    assert "relay=scorm2004&host=self" in page
    # the Gatekeeper decided and recorded it, keyed to the hashed learner only
    event = LaunchEvent.objects.get(license=setup.license, outcome=LaunchOutcome.LAUNCHED)
    expected = licenses.hash_learner(setup.license,
                                     learner_id(setup.registration, "lms-user-7"))
    assert event.learner == expected
    session = LaunchSession.objects.get(license=setup.license)
    record = LtiLaunch.objects.get()
    assert (record.session_id, record.learner, record.course_id) == (
        session.pk, expected, setup.course.pk)
    assert record.lineitem_url == f"{setup.platform.url}/lineitems/1"
    assert record.subject == "lms-user-7"  # sealed: AGS needs it back
    # the state and nonce are used up
    assert LoginState.objects.get().used_at is not None
    assert UsedNonce.objects.filter(nonce_hash=sha(nonce)).exists()
    assert setup.platform.jwks_fetches == 1


def test_the_key_set_is_cached_and_an_unknown_kid_is_not_refetched_at_once(
        setup: Setup) -> None:
    client = Client()
    for _ in range(2):
        state, nonce = login(client, setup)
        assert launch(client, setup, setup.platform.id_token(
            nonce=nonce, course=setup.course), state).status_code == 200
    assert setup.platform.jwks_fetches == 1


def test_an_instructor_sees_the_course_info_and_uses_no_launch(setup: Setup) -> None:
    client = Client()
    state, nonce = login(client, setup)
    response = launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course, roles=[INSTRUCTOR]), state)
    assert response.status_code == 200
    assert "Fire safety" in response.content.decode()
    assert "Live version: 1" in response.content.decode()
    assert not LaunchSession.objects.exists()
    assert License.objects.get(pk=setup.license.pk).launches == 0


def test_no_name_or_email_is_stored_after_a_launch_that_carries_them(
        setup: Setup, people: People) -> None:
    client = Client()
    state, nonce = login(client, setup)
    token = setup.platform.id_token(
        nonce=nonce, course=setup.course, name=NAME, given_name="Grace",
        family_name="Hopper", email=EMAIL, picture="https://lms.example/p/grace.png",
        **{"https://purl.imsglobal.org/spec/lti/claim/lis": {
            "person_sourcedid": "grace-hopper-sis", "course_section_sourcedid": "s1"},
           AGS: {"scope": [SCORE_SCOPE], "lineitem": f"{setup.platform.url}/lineitems/1"}})
    assert launch(client, setup, token, state).status_code == 200
    assert learner_pii_hits(people.acme, [NAME, EMAIL, "Hopper", "grace.png",
                                          "grace-hopper-sis"]) == []


# --- every refusal ------------------------------------------------------------------------


def test_a_replayed_launch_is_refused(setup: Setup) -> None:
    client = Client()
    state, nonce = login(client, setup)
    token = setup.platform.id_token(nonce=nonce, course=setup.course)
    assert launch(client, setup, token, state).status_code == 200
    # the same form posted again: the state is used up
    refused(launch(client, setup, token, state), "state_unknown")
    # the same id_token with a fresh state: its nonce is not the fresh state's
    fresh, _ = login(client, setup)
    refused(launch(client, setup, token, fresh), "nonce_mismatch")
    assert LaunchSession.objects.count() == 1
    assert blocked_events(setup) == ["lti_nonce_mismatch", "lti_state_unknown"]


def test_a_nonce_used_before_is_refused_even_with_a_valid_state(setup: Setup) -> None:
    client = Client()
    state, nonce = login(client, setup)
    assert launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course), state).status_code == 200
    # a second login whose state were bound to the same nonce (the state check bypassed):
    # a new token carrying the used nonce is a replay
    again, _ = login(client, setup)
    LoginState.objects.filter(state_hash=sha(again)).update(nonce_hash=sha(nonce))
    token = setup.platform.id_token(nonce=nonce, course=setup.course, jti="other")
    refused(launch(client, setup, token, again), "replayed")
    # and the refusal used nothing up: the state is still unused
    assert LoginState.objects.get(state_hash=sha(again)).used_at is None
    assert LaunchSession.objects.count() == 1


def _fresh(client: Client, setup: Setup) -> tuple[str, str]:
    return login(client, setup)


@pytest.mark.parametrize(("claims", "code"), [
    ({"iss": "https://evil.example"}, "wrong_issuer"),
    ({"aud": "another-tool"}, "wrong_client"),
    ({"aud": ["another-tool", CLIENT_ID]}, "wrong_client"),  # several audiences, no azp
    ({"aud": [CLIENT_ID, "x"], "azp": "x"}, "wrong_client"),
    ({CLAIM + "deployment_id": "dep-9"}, "wrong_deployment"),
    ({"exp": int(time.time()) - 5}, "expired"),
    ({"iat": int(time.time()) + 600}, "bad_time"),
    ({"iat": int(time.time()) - 3600}, "bad_time"),
    ({CLAIM + "version": "1.1"}, "wrong_message"),
    ({CLAIM + "message_type": "LtiSubmissionReviewRequest"}, "wrong_message"),
    ({CLAIM + "resource_link": {}}, "wrong_message"),
])
def test_a_token_with_wrong_claims_is_refused(setup: Setup, claims: dict[str, Any],
                                              code: str) -> None:
    client = Client()
    state, nonce = _fresh(client, setup)
    refused(launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course, **claims), state), code)
    assert not LaunchSession.objects.exists()
    assert blocked_events(setup) == [f"lti_{code}"]
    # nothing was used up
    assert LoginState.objects.get().used_at is None
    assert not UsedNonce.objects.exists()


def test_a_token_missing_roles_or_sub_is_refused(setup: Setup) -> None:
    client = Client()
    state, nonce = login(client, setup)
    refused(launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course, drop=(CLAIM + "roles",)), state), "wrong_message")
    refused(launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course, drop=("sub",)), state), "wrong_message")


def test_a_token_signed_by_an_unknown_key_is_refused(setup: Setup) -> None:
    client = Client()
    state, nonce = login(client, setup)
    stranger = RSAKey.generate_key(2048)
    # an unknown kid
    refused(launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course, key=stranger, header={"kid": "stranger"}),
        state), "unknown_key")
    # the platform's kid, another key's signature
    refused(launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course, key=stranger), state), "bad_token")
    assert not LaunchSession.objects.exists()


@pytest.mark.parametrize("attack", ["hs256", "none", "rs512", "jku", "tampered", "junk"])
def test_other_algorithms_and_forged_tokens_are_refused(setup: Setup, attack: str) -> None:
    client = Client()
    state, nonce = login(client, setup)
    platform = setup.platform
    good = platform.id_token(nonce=nonce, course=setup.course)
    head, _, signature = good.split(".")
    from tests.delivery.test_licenses_fixtures import b64, forge, parts
    if attack == "hs256":
        token, code = hs256_with_public_key(platform, nonce, setup.course), "wrong_algorithm"
    elif attack == "none":
        token, code = forge({"alg": "none", "kid": platform.kid}, parts(good)[1]), \
            "wrong_algorithm"
    elif attack == "rs512":
        token, code = platform.id_token(nonce=nonce, course=setup.course, alg="RS512"), \
            "wrong_algorithm"
    elif attack == "jku":
        token, code = platform.id_token(nonce=nonce, course=setup.course, header={
            "jku": "https://evil.example/jwks"}), "bad_token"
    elif attack == "tampered":
        claims = parts(good)[1]
        claims["sub"] = "somebody-else"
        token = ".".join([head, b64(__import__("json").dumps(claims).encode()), signature])
        code = "bad_token"
    else:
        token, code = "not.a-token", "bad_token"
    refused(launch(client, setup, token, state), code)
    assert not LaunchSession.objects.exists()


def test_missing_or_mismatched_state_is_refused(setup: Setup, people: People) -> None:
    client = Client()
    state, nonce = login(client, setup)
    token = setup.platform.id_token(nonce=nonce, course=setup.course)
    refused(launch(client, setup, token, ""), "state_missing")
    refused(launch(client, setup, token, "made-up-state"), "state_unknown")
    # a state issued to another registration (here: of the same platform) is not this one's
    other = register(people, setup.platform, client_id="second-client")
    other_state, _ = login(client, other, client_id="second-client")
    refused(launch(client, setup, token, other_state), "state_unknown")
    # an expired state
    LoginState.objects.filter(state_hash=sha(state)).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    refused(launch(client, setup, token, state), "state_unknown")
    assert not LaunchSession.objects.exists()


def test_a_get_or_an_empty_post_is_a_clear_4xx(setup: Setup) -> None:
    client = Client()
    refused(client.get(f"/lti/r/{setup.registration.uid}/launch"), "bad_request", 405)
    refused(client.post(f"/lti/r/{setup.registration.uid}/launch", {}), "bad_request", 400)


def test_revoked_or_expired_license_refuses_the_launch(setup: Setup, people: People) -> None:
    client = Client()
    licenses.revoke_license(setup.license, actor=Actor.person(people.alice))
    state, nonce = login(client, setup)
    response = launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course), state)
    refused(response, "revoked")
    assert "Access to this course has ended" in response.content.decode()
    licenses.reinstate_license(setup.license, actor=Actor.person(people.alice))
    License.objects.filter(pk=setup.license.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1))
    state, nonce = login(client, setup)
    response = launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course), state)
    refused(response, "expired")
    assert not LaunchSession.objects.exists()
    # the Gatekeeper recorded both refusals against the license, with the course
    events = LaunchEvent.objects.filter(license=setup.license, outcome=LaunchOutcome.BLOCKED)
    assert sorted(events.values_list("reason", flat=True)) == ["expired", "revoked"]
    assert set(events.values_list("course_id", flat=True)) == {setup.course.pk}


def test_a_course_not_on_the_license_or_no_course_is_refused(setup: Setup,
                                                               people: People) -> None:
    from tests.delivery.test_licenses_fixtures import deployed_course

    other = deployed_course(people.acme, people.bob, "Not licensed")
    client = Client()
    state, nonce = login(client, setup)
    refused(launch(client, setup, setup.platform.id_token(nonce=nonce, course=other.course),
                   state), "wrong_course")
    state, nonce = login(client, setup)
    refused(launch(client, setup, setup.platform.id_token(nonce=nonce), state),
            "no_course", 400)


def test_the_learner_cap_applies_to_lti_launches(people: People,
                                                 platform: StubPlatform) -> None:
    setup = register(people, platform, max_learners=1)
    client = Client()
    state, nonce = login(client, setup)
    assert launch(client, setup, platform.id_token(nonce=nonce, course=setup.course),
                  state).status_code == 200
    state, nonce = login(client, setup)
    refused(launch(client, setup, platform.id_token(nonce=nonce, course=setup.course,
                                                    sub="another-user"), state),
            "learner_cap")


def test_an_unreachable_key_set_is_a_503_page(setup: Setup, settings: Any) -> None:
    client = Client()
    state, nonce = login(client, setup)
    settings.OUTBOUND_ALLOW_PRIVATE = False  # the guard refuses loopback now
    refused(launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course), state), "jwks_unavailable", 503)


def test_the_tool_key_set_is_public_rsa_only(client: Client) -> None:
    data = client.get("/lti/jwks.json").json()
    assert data["keys"]
    assert all(k["kty"] == "RSA" and k["alg"] == "RS256" and "d" not in k
                                for k in data["keys"])


def test_deployment_id_and_state_checks_hold_for_a_second_deployment(
        setup: Setup, people: People) -> None:
    from coursewright.lti.actions import update_registration

    update_registration(setup.registration, deployment_ids=[DEPLOYMENT, "dep-2"],
                        actor=Actor.person(people.alice))
    client = Client()
    state, nonce = login(client, setup)
    assert launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course, **{CLAIM + "deployment_id": "dep-2"}),
        state).status_code == 200


def test_an_unexpected_failure_is_a_503_page_not_a_500(
        setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    from coursewright.lti import views

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(views.gatekeeper, "launch_for_license", broken)
    client = Client()
    state, nonce = login(client, setup)
    refused(launch(client, setup, setup.platform.id_token(
        nonce=nonce, course=setup.course), state), "unavailable", 503)
