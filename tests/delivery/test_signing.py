"""Token-signing keys: stored sealed under the master key, rotated and retired with
`coursewright keys`, followed by every process through the key file, and published
without private parts."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import CommandError, call_command

from coursewright.audit.models import AuditEvent
from coursewright.delivery import gatekeeper, signing
from coursewright.delivery.models import License
from coursewright.privacy import keys
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import Live, deployed_course, issue, parts, unb64


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("keys", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def live(people: People) -> Live:
    return deployed_course(people.acme, people.bob)


@pytest.fixture
def licensed(people: People, live: Live) -> tuple[License, str]:
    return issue(people, [live.course])


def launches(token: str, live: Live) -> str:
    decision = gatekeeper.launch(token, course_uid=str(live.course.uid), learner_id="u")
    return "ok" if decision.allowed else decision.reason


def key_file(settings: Any) -> Path:
    return Path(settings.KEYS_DIR) / signing.FILE_NAME


def test_the_first_key_is_made_on_first_use_and_sealed(settings: Any) -> None:
    assert signing.list_keys() == []
    token, kid = signing.sign({"hello": "world"})
    path = key_file(settings)
    assert path.stat().st_mode & 0o777 == 0o600
    stored = json.loads(path.read_text())
    (entry,) = stored["keys"]
    assert (entry["kid"], entry["state"]) == (kid, "active")
    assert "d" not in entry["public"]
    # the private key is in the file only sealed: neither its JWK nor its bytes show
    assert '"d"' not in path.read_text()
    assert entry["master"] == keys.load_master_keys().current_id
    # the kid is the key's RFC 7638 thumbprint
    assert signing.verify(token).claims == {"hello": "world"}
    assert parts(token)[0] == {"alg": "EdDSA", "kid": kid, "typ": "JWT"}


def test_tokens_verify_with_plain_ed25519_elsewhere() -> None:
    # what any other JOSE library does: EdDSA over "header.payload" with the JWKS key
    token, kid = signing.sign({"sub": "x"})
    (published,) = signing.jwks()["keys"]
    public = Ed25519PublicKey.from_public_bytes(unb64(published["x"]))
    header, payload, signature = token.split(".")
    public.verify(unb64(signature), f"{header}.{payload}".encode())
    assert published["kid"] == kid


def test_rotation_keeps_old_tokens_until_the_key_is_retired(
        people: People, live: Live, licensed: tuple[License, str]) -> None:
    # given a token signed by the first key
    license, old_token = licensed
    old_kid = license.token_kid
    # when the signing key is rotated
    out = run("rotate-signing")
    new_kid = signing.active_kid()
    assert new_kid != old_kid
    assert new_kid in out
    assert old_kid in out
    states = {k.kid: k.state for k in signing.list_keys()}
    assert states == {old_kid: "verifying", new_kid: "active"}
    # then the old token still launches, and new tokens use the new key
    assert launches(old_token, live) == "ok"
    from coursewright.audit.actor import Actor
    from coursewright.delivery.licenses import license_token

    new_token = license_token(license, actor=Actor.person(people.alice))
    assert parts(new_token)[0]["kid"] == new_kid
    assert {k["kid"] for k in signing.jwks()["keys"]} == {old_kid, new_kid}
    # when the old key is retired: its tokens stop, the new ones go on
    assert "Retired" in run("retire-signing", "--", old_kid)
    assert launches(old_token, live) == "unknown_key"
    assert launches(new_token, live) == "ok"
    assert {k["kid"] for k in signing.jwks()["keys"]} == {new_kid}
    assert old_kid in run("list-signing")  # listed as retired
    actions = list(AuditEvent.objects.filter(object_type="signing_key")
                   .values_list("action", "object_id"))
    assert actions == [("signing_key.rotated", new_kid), ("signing_key.retired", old_kid)]


def test_the_active_key_cannot_be_retired(licensed: tuple[License, str]) -> None:
    with pytest.raises(CommandError, match="active signing key"):
        run("retire-signing", "--", signing.active_kid())
    with pytest.raises(CommandError, match="no signing key"):
        run("retire-signing", "--", "nope")
    assert "active" in run("list-signing")


def test_a_kid_beginning_with_a_dash_can_be_retired(settings: Any,
                                                     licensed: tuple[License, str]) -> None:
    # one thumbprint in 64 begins with "-": the CLI must still take it after "--"
    run("rotate-signing")
    path = key_file(settings)
    data = json.loads(path.read_text())
    old = next(k for k in data["keys"] if k["state"] != "active")
    with pytest.raises(CommandError, match="no signing key"):
        run("retire-signing", "--", "-" + old["kid"][1:])


def test_a_change_by_another_process_is_seen_on_the_next_launch(
        settings: Any, live: Live, licensed: tuple[License, str]) -> None:
    # given a warm key cache in this process
    _license, token = licensed
    assert launches(token, live) == "ok"
    # when another process rotates and retires the key (the file changes under us)
    path = key_file(settings)
    data = json.loads(path.read_text())
    data["keys"] = []
    tmp = path.with_name("other-process")
    tmp.write_text(json.dumps(data))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    # then this process refuses the token at once
    assert launches(token, live) == "unknown_key"


def test_an_edited_key_file_is_refused_loudly(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    signing.sign({})
    path = key_file(settings)
    data = json.loads(path.read_text())
    stranger = signing.OKPKey.generate_key("Ed25519")
    data["keys"][0]["public"] = stranger.as_dict(private=False)  # kid no longer matches
    path.write_text(json.dumps(data))
    with pytest.raises(ImproperlyConfigured, match="does not match its kid"):
        signing.jwks()


def test_master_rotation_reseals_the_signing_keys(settings: Any, monkeypatch: Any,
                                                  live: Live,
                                                  licensed: tuple[License, str]) -> None:
    monkeypatch.delenv("COURSEWRIGHT_MASTER_KEY", raising=False)
    monkeypatch.delenv("COURSEWRIGHT_MASTER_KEY_FILE", raising=False)
    monkeypatch.setattr(keys, "_keyring", None)
    _, token = licensed
    out = run("rotate-master")
    assert "Re-sealed 1 token-signing keys" in out
    # drop the old master key line: signing still works with the new master key alone
    master_file = Path(settings.KEYS_DIR) / "master.keys"
    lines = master_file.read_text().splitlines()
    master_file.write_text(lines[-1] + "\n")
    signing.forget_cached()
    stored = json.loads(key_file(settings).read_text())
    assert stored["keys"][0]["master"] == lines[-1].partition(":")[0]
    fresh, _ = signing.sign({"after": "rotation"})
    assert signing.verify(fresh).claims == {"after": "rotation"}
    assert launches(token, live) == "ok"


def test_the_sealed_key_is_bound_to_its_kid(db: None, settings: Any) -> None:
    # a sealed private key copied onto another entry does not open there
    signing.sign({})
    run("rotate-signing")
    path = key_file(settings)
    data = json.loads(path.read_text())
    data["keys"][1]["sealed"] = data["keys"][0]["sealed"]
    path.write_text(json.dumps(data))
    signing.forget_cached()
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):
        signing.sign({})
    assert base64.b64decode(data["keys"][0]["sealed"])  # still just bytes
