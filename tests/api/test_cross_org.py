"""Mallory (Globex) must see nothing of Acme through the API.

The cases are generated from the OpenAPI document: every operation is called with
Acme's object ids, by Globex's API key and by Mallory's dashboard session, and must
answer 404. An operation whose path parameters or body this test does not know how to
fill makes the test fail, so a new endpoint cannot land without its denial case.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from django.test import Client

from coursewright.assist.models import GradingRecord
from tests.api.test_flow import HANDBOOK, generated_version
from tests.conftest import People, client_for, key_client

# Bodies for operations that take one (by operationId suffix). Content does not matter:
# the object lookup must refuse before anything else happens.
SAMPLE_BODIES: dict[str, dict[str, Any]] = {
    "generate": {"title": "x"},
    "edit_screen": {"title": "x", "blocks": [{"type": "text", "id": "b1", "markdown": "x"}]},
    "reject": {"comment": "x"},
    "approve": {"confirm_unsupported": True},
    "delete_organisation_endpoint": {"confirm": "acme"},
    "put_retention": {"rules": {"drafts": 30}},
    "policy_put_ai_policy": {"providers": ["offline"]},
    "policy_put_ai_credential": {"api_key": "sk-mallory-0123456789"},
    "generate_from_brief": {"brief": "x"},
    "regenerate_screen": {"screen_id": "s1"},
    "refine": {"tone": "formal"},
    "questions": {"screen_id": "s1"},
    "translate": {"language": "de"},
    "review_grading": {"score": 0},
    "delete_learner_endpoint": {"learner_id": "lms-1"},
    "export_learner_endpoint": {"learner_id": "lms-1"},
    "deployments_deploy_version": {"reason": "x"},
    "deployments_promote_course": {"reason": "x"},
    # the course lookup refuses first: the deployment id needs no real row
    "deployments_rollback_course": {"channel": "production", "deployment_id": 1,
                                    "reason": "x"},
    "licenses_issue_license": {"name": "x", "courses": [1]},  # with ?org=acme
    "licenses_update_license": {"name": "x"},
    "licenses_suspend_license": {"reason": "x"},
    "licenses_revoke_license": {"reason": "x"},
    "licenses_reinstate_license": {"reason": "x"},
    "xapi_issue_credential": {"name": "x"},
    "xapi_put_settings": {"pseudonymise": True},
    "forwarding_create_target": {"name": "x", "url": "https://93.184.215.14/xapi/"},
    "forwarding_update_target": {"name": "x"},
    "forwarding_resume_target": {"skip_rejected": True},
    "create_webhook": {"url": "https://93.184.215.14/hooks", "events": ["course.created"]},
    "update_webhook": {"description": "x"},
    "rotate_webhook_secret": {"keep_previous_hours": 0},
    # valid content, so only the organisation (?org=acme) can be what refuses
    "create_course": {"title": "x", "screens": [{"id": "s1", "title": "x", "blocks": [
        {"type": "text", "id": "b1", "markdown": "x"}]}]},
    "duplicate_course": {"title": "x"},
    "revert_course": {"reason": "x"},
    "put_embed_origins": {"origins": ["https://globex.example"]},  # with ?org=acme
    "report_embedded_progress": {"values": {"cmi.completion_status": "completed"}},
    # an LTI registration (with ?org=acme; the license id needs no real row)
    "create_registration": {"name": "x", "issuer": "https://lms.example", "client_id": "c",
                            "deployment_ids": ["1"], "jwks_url": "https://lms.example/j",
                            "auth_url": "https://lms.example/a",
                            "token_url": "https://lms.example/t", "license_id": 1},
    "update_registration": {"name": "x"},
}
# Operations that take no object id: what they must do instead of answering 404.
NO_ID_OPERATIONS = {"upload_document", "list_documents", "list_courses", "me",
                    "list_audit_events", "export_audit_events",
                    # public (no authentication): the platform's subprocessors, nothing
                    # of any organisation; tests/ai/test_policy_subprocessors.py
                    "policy_list_subprocessors",
                    # embed tokens: the key's own organisation only, or a refresh token;
                    # cross-org cases in tests/embed/test_api.py
                    "exchange_embed_token", "refresh_embed_token", "revoke_embed_tokens",
                    # one-time codes (the key's own organisation; a code) and what embedded
                    # pages do with a token (its organisation and courses): cross-org
                    # cases in tests/embed/test_codes.py and test_playing.py
                    "issue_embed_code", "exchange_embed_code", "create_embedded_course",
                    "open_embedded_attempt"}
# Operations only an embed token may call: Globex's key and Mallory's session are not
# one (401); Mallory's embed tokens are refused in tests/embed/test_playing.py.
EMBED_TOKEN_ONLY = {"report_embedded_progress"}
# Operations that take the organisation as ``?org=<slug>`` are also called with Acme's
# slug (and any path parameters filled as below) and must answer 404 as well.


@pytest.fixture
def acme_objects(people: People, run_jobs: None) -> dict[str, Any]:
    api = key_client(people.acme_key)
    version = generated_version(api)
    course = api.get(f"/api/v1/courses/{version['course_id']}").json()
    job_id = api.post(f"/api/v1/documents/{course['source_document_id']}/generate", {},
                      content_type="application/json").json()["id"]
    grading = GradingRecord.objects.create(
        org=people.acme, course_id=course["id"], version_id=version["id"], block_id="b1",
        learner_ref="0" * 64, answer="x", result={"criteria": []}, provider="offline",
        model="", ai_score=0, max_score=1)
    from coursewright.audit.actor import Actor
    from coursewright.delivery.licenses import issue_license
    from coursewright.tracking.credentials import issue_credential

    license, _ = issue_license(people.acme, name="Acme LMS", courses=[course["id"]],
                               actor=Actor.person(people.alice))
    credential, _ = issue_credential(people.acme, name="Acme LRS client",
                                     actor=Actor.person(people.alice))
    from coursewright.tracking.forwarding import create_target

    # a literal public address: saving it needs no DNS, and nothing is sent in this test
    forward_target = create_target(people.acme, name="Acme data team",
                                   url="https://93.184.215.14/xapi/",
                                   actor=Actor.person(people.alice))
    from coursewright.webhooks.actions import create_endpoint
    from coursewright.webhooks.events import emit

    webhook, _ = create_endpoint(people.acme, url="https://93.184.215.14/hooks",
                                 events=["course.created"], actor=Actor.person(people.alice))
    (webhook_delivery,) = emit(people.acme, "course.created", {"course": {"id": 1}})
    from coursewright.lti.actions import register_platform

    lti_registration = register_platform(
        people.acme, name="Acme Moodle", issuer="https://lms.acme.example", client_id="c1",
        deployment_ids=["1"], jwks_url="https://lms.acme.example/jwks",
        auth_url="https://lms.acme.example/auth", token_url="https://lms.acme.example/token",
        license=license, actor=Actor.person(people.alice))
    return {
        "reg_id": lti_registration.pk,
        "webhook_id": webhook.pk,
        "delivery_id": webhook_delivery.pk,
        "license_id": license.pk,
        "credential_id": credential.pk,
        "forwarding_id": forward_target.pk,
        "grading_id": grading.pk,
        "document_id": course["source_document_id"],
        "job_id": job_id,
        "course_id": course["id"],
        "version_id": version["id"],
        "screen_id": version["content"]["screens"][0]["id"],
        "fmt": "scorm2004",
        "org_slug": "acme",
        "provider": "openai",  # a provider name, not an object: ?org=acme names Acme
        "flag_id": "f-0",  # a flagged sentence's id: the version lookup refuses first
        "attempt_id": 1,  # an embedded player's attempt: only an embed token gets that far
    }


def _operations(client: Client) -> list[tuple[str, str, dict[str, Any]]]:
    schema = client.get("/api/v1/openapi.json").json()
    return [(method.upper(), path, op) for path, methods in schema["paths"].items()
            for method, op in methods.items()]


def _takes_org(op: dict[str, Any]) -> bool:
    return any(p.get("in") == "query" and p.get("name") == "org"
               for p in op.get("parameters", []))


def _op_name(op: dict[str, Any]) -> str:
    return str(op["operationId"]).rsplit("_api_", 1)[-1]


def _call(client: Client, method: str, url: str, op: dict[str, Any]) -> Any:
    name = _op_name(op)
    if "requestBody" in op:
        content = op["requestBody"]["content"]
        if "multipart/form-data" in content:
            handle = io.BytesIO(b"\x89PNG\r\n")
            handle.name = "x.png"
            return client.post(url, {"file": handle})
        assert name in SAMPLE_BODIES, f"add a sample body for {name} to SAMPLE_BODIES"
        return client.generic(method, url, data=json.dumps(SAMPLE_BODIES[name]),
                              content_type="application/json")
    return client.generic(method, url)


@pytest.mark.parametrize("as_session", [False, True], ids=["globex-key", "mallory-session"])
def test_every_operation_hides_acme_objects(people: People, acme_objects: dict[str, Any],
                                            as_session: bool) -> None:
    client = client_for(people.mallory) if as_session else key_client(people.globex_key)
    checked = 0
    for method, path, op in _operations(client):
        params = re.findall(r"{(\w+)}", path)
        org_query = _takes_org(op)
        if not params and not org_query:
            assert _op_name(op) in NO_ID_OPERATIONS, (
                f"{method} {path}: add a cross-org case for this operation")
            continue
        missing = [p for p in params if p not in acme_objects]
        assert not missing, f"{method} {path}: teach this test to fill {missing}"
        url = path.format(**acme_objects) + ("?org=acme" if org_query else "")
        response = _call(client, method, url, op)
        if _op_name(op) in EMBED_TOKEN_ONLY:
            assert response.status_code == 401, (method, url, response.status_code)
            continue
        assert response.status_code == 404, (method, url, response.status_code,
                                              response.content[:300])
        assert response.json()["error"]["code"] == "not_found"
        checked += 1
    assert checked >= 10


def test_lists_hold_nothing_of_acme(people: People, acme_objects: dict[str, Any]) -> None:
    for client in (key_client(people.globex_key), client_for(people.mallory)):
        assert client.get("/api/v1/courses").json()["count"] == 0
        assert client.get("/api/v1/documents").json()["count"] == 0
        me = client.get("/api/v1/me").json()
        assert [o["slug"] for o in me["organisations"]] == ["globex"]


def test_upload_into_acme_is_refused(people: People) -> None:
    for client in (key_client(people.globex_key), client_for(people.mallory)):
        handle = io.BytesIO(HANDBOOK)
        handle.name = "handbook.md"
        response = client.post("/api/v1/documents", {"file": handle, "org": "acme"})
        assert response.status_code == 404
    from coursewright.ingest.models import Document

    assert not Document.objects.filter(org=people.acme).exists()
