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
    print("flow done")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
