"""Run by test_no_plaintext.py in a fresh process on a real state directory: drives the
platform like its users, putting MARKER into every kind of content it stores."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlencode


def main(marker: str, source_path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coursewright.settings")
    # the outbound targets below are on loopback (a closed port): nothing leaves
    os.environ["COURSEWRIGHT_OUTBOUND_ALLOW_PRIVATE"] = "true"
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from coursewright.courses.models import CourseVersion

    call_command("demo", stdout=io.StringIO())
    state = Path(os.environ["COURSEWRIGHT_VAR_DIR"])
    passwords = json.loads((state / "demo-credentials.json").read_text(encoding="utf-8"))

    def signed_in(email: str) -> Client:
        client = Client()
        response = client.post("/login/", {"email": email, "password": passwords[email]})
        assert response.status_code == 302, response.status_code
        return client

    author = signed_in("author@demo.local")
    with open(source_path, "rb") as handle:
        upload = io.BytesIO(handle.read())
    upload.name = f"handbook-{marker}.md"
    response = author.post("/o/demo/documents/upload/",
                           {"file": upload, "title": f"Course {marker}", "language": "en"})
    assert response.status_code == 302, response.content[:500]
    # the job consumer is not running here: run the queued job as it would
    from coursewright.ai.actions import run_generation
    from coursewright.ai.models import GenerationJob

    job = GenerationJob.objects.get()
    run_generation(job.pk)
    version = CourseVersion.objects.get()
    assert author.post(f"/o/demo/versions/{version.pk}/submit/").status_code == 302
    reviewer = signed_in("reviewer@demo.local")
    response = reviewer.post(f"/o/demo/versions/{version.pk}/reject/",
                             {f"reject-{version.pk}-comment": f"Please fix {marker}."})
    assert response.status_code == 302, response.content[:300]
    assert author.post(f"/o/demo/versions/{version.pk}/submit/").status_code == 302
    assert reviewer.post(f"/o/demo/versions/{version.pk}/approve/").status_code == 302
    assert reviewer.post(f"/o/demo/versions/{version.pk}/publish/").status_code == 302
    for fmt in ("scorm12", "scorm2004", "html"):
        assert reviewer.get(f"/o/demo/versions/{version.pk}/export/{fmt}/").status_code == 200
    # the API too (its calls are logged)
    api = Client()
    version.refresh_from_db()
    api.force_login(version.approved_by)  # type: ignore[arg-type]
    assert api.get(f"/api/v1/versions/{version.pk}").status_code == 200
    _ai_flow(marker, state, source_path, version, author, api)
    _delivery_and_tracking_flow(marker, version)
    print("flow done")


def _delivery_and_tracking_flow(marker: str, version: object) -> None:
    """What later issues store: a launch's player error, an LRS statement and state
    document, a forwarding target's credentials, a webhook endpoint and an event's
    payload, and a partner's user named in an embed session — each with the marker."""
    import base64

    from django.test import Client

    from coursewright.audit.actor import Actor
    from coursewright.courses.models import CourseVersion
    from coursewright.delivery import gatekeeper
    from coursewright.delivery.deployments import deploy_to_staging, promote
    from coursewright.delivery.licenses import issue_license
    from coursewright.delivery.models import LaunchSession
    from coursewright.delivery.reports import record_player_error
    from coursewright.embed.actions import exchange_token
    from coursewright.orgs.actions import create_api_key
    from coursewright.orgs.models import Membership
    from coursewright.tracking.credentials import issue_credential
    from coursewright.tracking.forwarding import create_target
    from coursewright.webhooks.actions import create_endpoint
    from coursewright.webhooks.events import emit

    assert isinstance(version, CourseVersion)
    org = version.org
    owner = Membership.objects.get(org=org, role="owner").user
    actor = Actor.person(owner)
    # a launch through a license, and an error its player reports
    deploy_to_staging(version, actor=actor)
    promote(version.course, actor=actor, reason="scan")
    _, token = issue_license(org, name="Scan LMS", courses=[version.course], actor=actor)
    decision = gatekeeper.launch(token, course_uid=str(version.course.uid),
                                 learner_id="learner-1")
    assert decision.allowed, decision.reason
    session = LaunchSession.objects.get(license__name="Scan LMS")
    record_player_error(session, "script", f"TypeError near {marker}", f"app.js:1 {marker}")
    # the LRS: a statement and a state document
    credential, secret = issue_credential(org, name="Scan LRS client", actor=actor)
    lrs = Client(HTTP_AUTHORIZATION="Basic " + base64.b64encode(
        f"{credential.key}:{secret}".encode()).decode(), HTTP_X_EXPERIENCE_API_VERSION="1.0.3")
    agent = {"objectType": "Agent", "account": {"homePage": "https://lms.example",
                                                "name": "learner-1"}}
    statement = {"actor": agent, "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
                 "object": {"id": "https://example.com/activities/q1", "definition": {
                     "name": {"en-US": f"Question {marker}"}}},
                 "result": {"response": f"My answer is {marker}"}}
    answer = lrs.post("/xapi/statements", statement, content_type="application/json")
    assert answer.status_code == 200, answer.content[:300]
    answer = lrs.put("/xapi/activities/state?" + urlencode({
        "activityId": "https://example.com/activities/q1", "agent": json.dumps(agent),
        "stateId": "bookmark"}), json.dumps({"note": marker}), content_type="application/json")
    assert answer.status_code == 204, answer.content[:300]
    # outbound targets (port 9 on loopback: nothing listens, nothing leaves the machine)
    create_target(org, name="Warehouse", url=f"http://127.0.0.1:9/xapi/{marker}/",
                  auth="basic", key="scan", secret=f"secret-{marker}", actor=actor)
    create_endpoint(org, url=f"http://127.0.0.1:9/hooks/{marker}",
                    events=["course.created"], actor=actor)
    emit(org, "course.created", {"note": marker})
    # a partner's user, named by the partner's own id
    api_key, _ = create_api_key(org, name="Partner", actor=actor)
    exchange_token(api_key, user=marker, scope="learner", courses=[version.course_id])
    # and each of them holds the marker, read back through the platform
    from coursewright.delivery.models import PlayerError
    from coursewright.embed.privacy import org_export as embed_export
    from coursewright.tracking.models import Statement
    from coursewright.tracking.statements import open_statement
    from coursewright.webhooks.privacy import org_export as webhooks_export

    assert marker in PlayerError.objects.get(session=session).message
    assert marker in json.dumps(open_statement(str(org.key_id), Statement.objects.get(org=org)))
    assert marker in json.dumps(embed_export(org), default=str)
    assert marker in json.dumps(webhooks_export(org), default=str)


def _ai_flow(marker: str, state: Path, source_path: str, version: object, author: object,
             owner_api: object) -> None:
    """The same with a model provider: prompts kept (opted in), a brief, AI edits, the
    tutor and the ledger — all of which hold the marker — through a local fake endpoint."""
    from django.test import Client

    from coursewright.ai.policy import update_policy
    from coursewright.assist.actions import enable_assist
    from coursewright.audit.actor import Actor
    from coursewright.orgs.models import Organisation
    from tests.support.fake_providers import FakeProviders
    from tests.support.scripted_llm import respond

    with FakeProviders(respond) as fake:
        (state / "ai-providers.toml").write_text(f"""
[providers.fake]
kind = "openai"
base_url = "{fake.openai_base_url}"
model = "fake-model"
regions = ["eu", "uk", "us"]
""", encoding="utf-8")
        demo = Organisation.objects.get(slug="demo")
        update_policy(demo, actor=Actor.system(), providers=["fake", "offline"],
                      store_prompts=True)
        client: Client = author  # type: ignore[assignment]
        # a course from a brief alone, and the document again through the model
        response = client.post("/api/v1/ai/generate?org=demo", data=json.dumps(
            {"brief": f"Ladder safety {marker}", "target_screens": 3}),
            content_type="application/json")
        assert response.status_code == 202, response.content[:300]
        from coursewright.ai.actions import run_generation, start_generation
        from coursewright.ai.models import GenerationJob
        from coursewright.ingest.models import Document

        for job in GenerationJob.objects.filter(status="queued"):
            run_generation(job.pk)
        document = Document.objects.get()
        job = start_generation(document, actor=Actor.system(), enqueue=False)
        job = run_generation(job.pk)
        assert job.status == "succeeded", job.error
        # the learner side: the tutor on the published version
        access = enable_assist(version, actor=Actor.system(), tutor=True,  # type: ignore[arg-type]
                               grading=False)
        learner = Client(HTTP_AUTHORIZATION=f"Bearer {access.token}")
        response = learner.post("/api/player/v1/tutor/ask", data=json.dumps(
            {"session_id": "0123456789abcdef0123456789abcdef",
             "question": f"What does the {marker} rule say about ladders?"}),
            content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        assert marker in "".join(r.body_text for r in fake.requests)  # it did go out
        from coursewright.ai.models import LedgerEntry

        assert any(marker in json.dumps(e.detail) for e in LedgerEntry.objects.all()
                   if e.detail)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
