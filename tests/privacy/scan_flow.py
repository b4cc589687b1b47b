"""Run by test_no_plaintext.py in a fresh process on a real state directory: drives the
platform like its users, putting MARKER into every kind of content it stores."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path


def main(marker: str, source_path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coursewright.settings")
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
    print("flow done")


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
