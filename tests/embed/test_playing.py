"""What the embedded pages do with a token: an author creates a course from a brief; a
reviewer's token approves and publishes; a learner opens an attempt on the published
version and reports progress into the platform's progress records (hashed learner,
commenced / completed once each); nobody reaches another learner's attempt or Acme's
courses from Globex; the learner's records go with their export and deletion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.courses import actions as course_actions
from coursewright.courses.models import Course, CourseVersion, VersionState
from coursewright.delivery.models import Completion, LaunchProgress, Success
from coursewright.embed.actions import subject_digest
from coursewright.embed.authoring import content_from_brief
from coursewright.errors import Invalid
from tests.conftest import People, client_for, key_client
from tests.embed.helpers import Courses, bearer, mint, post_json

BRIEF = ("Why exits matter\nA blocked exit costs lives.\n\n"
         "Keep every corridor clear.\n\n"
         "What to do\nRaise the alarm, then leave by the nearest exit.")
DONE = {"cmi.completion_status": "completed", "cmi.success_status": "passed",
        "cmi.score.scaled": "0.9", "cmi.progress_measure": "1", "cmi.location": "s3"}
STARTED = {"cmi.completion_status": "incomplete", "cmi.progress_measure": "0.3333",
           "cmi.location": "s1"}


def create(token: str, **body: Any) -> Any:
    return post_json(bearer(token), "/api/v1/embed/courses",
                     {"title": "Fire safety", "brief": BRIEF, **body})


def open_attempt(token: str, course: Course | str) -> Any:
    uid = course if isinstance(course, str) else str(course.uid)
    return post_json(bearer(token), "/api/v1/embed/attempts", {"course": uid})


def report(token: str, attempt: int, values: dict[str, Any]) -> Any:
    return post_json(bearer(token), f"/api/v1/embed/attempts/{attempt}/progress",
                     {"values": values})


def publish(version: CourseVersion, people: People) -> CourseVersion:
    version = course_actions.submit_for_review(version, actor=Actor.person(people.bob))
    version = course_actions.approve_version(version, actor=Actor.person(people.rita),
                                             confirm_unsupported=True)
    return course_actions.publish_version(version, actor=Actor.person(people.rita))


def learner(people: People, course: Course, user: str = "learner-5",
            key: str | None = None) -> str:
    token: str = mint(key or people.acme_key, user=user, scope="learner",
                      courses=[course.pk])["access_token"]
    return token


# --- a course from a brief ---------------------------------------------------------------


def test_the_brief_rule_makes_one_screen_per_paragraph() -> None:
    content = content_from_brief("Fire safety", BRIEF)
    assert [(s.id, s.title) for s in content.screens] == [
        ("s1", "Why exits matter"), ("s2", "Part 2"), ("s3", "What to do")]
    assert [s.blocks[0].markdown for s in content.screens] == [  # type: ignore[union-attr]
        "A blocked exit costs lives.", "Keep every corridor clear.",
        "Raise the alarm, then leave by the nearest exit."]
    assert {b.provenance.kind for s in content.screens for b in s.blocks} == {"human"}


@pytest.mark.parametrize(("title", "brief", "code"), [
    ("", BRIEF, "title_required"),
    ("Fire safety", "  ", "brief_required"),
    ("Fire safety", "x" * 5001, "brief_too_long"),
    ("Fire safety", "\n\n".join(["para"] * 51), "brief_too_long"),
])
def test_bad_briefs_are_refused_clearly(title: str, brief: str, code: str) -> None:
    with pytest.raises(Invalid) as refused:
        content_from_brief(title, brief)
    assert refused.value.code == code


def test_an_author_for_every_course_creates_one(people: People) -> None:
    token = mint(people.acme_key, user="author-1", scope="author", courses="*")["access_token"]
    response = create(token)
    assert response.status_code == 201, response.content
    assert "Set-Cookie" not in response.headers
    body = response.json()
    course = Course.objects.get(pk=body["id"])
    assert (course.org_id, str(course.uid), course.title) == (
        people.acme.pk, body["uid"], "Fire safety")
    assert [v["state"] for v in body["versions"]] == ["draft"]
    (event,) = AuditEvent.objects.filter(action="course.created", object_id=str(course.pk))
    assert event.actor_label == "embed-user:author-1"
    # and the same token edits it at once
    read = bearer(token).get(f"/api/v1/versions/{body['versions'][0]['id']}")
    assert read.json()["content"]["screens"][0]["title"] == "Why exits matter"


def test_only_an_author_token_for_every_course_creates(people: People,
                                                       courses: Courses) -> None:
    named = mint(people.acme_key, scope="author", courses=[courses.acme.pk])["access_token"]
    response = create(named)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "all_courses_required"
    for scope in ("reviewer", "learner"):
        token = mint(people.acme_key, scope=scope, courses=[courses.acme.pk])["access_token"]
        response = create(token)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "insufficient_scope"
    # an API key or a person uses the other ways to make a course
    assert post_json(key_client(people.acme_key), "/api/v1/embed/courses",
                     {"title": "x", "brief": "y"}).status_code == 401
    assert post_json(client_for(people.bob), "/api/v1/embed/courses",
                     {"title": "x", "brief": "y"}).status_code == 401
    assert Course.objects.filter(org=people.acme).count() == 2  # the fixture's


def test_mallorys_author_creates_in_globex_only(people: People, courses: Courses) -> None:
    token = mint(people.globex_key, scope="author", courses="*")["access_token"]
    body = create(token).json()
    assert Course.objects.get(pk=body["id"]).org_id == people.globex.pk
    assert bearer(token).get(f"/api/v1/courses/{courses.acme.pk}").status_code == 404


def test_a_reviewer_token_approves_and_publishes_an_embedded_authors_course(
        people: People) -> None:
    author = mint(people.acme_key, user="author-1", scope="author", courses="*")["access_token"]
    body = create(author).json()
    version_id = body["versions"][0]["id"]
    assert bearer(author).post(f"/api/v1/versions/{version_id}/submit").status_code == 200
    reviewer = mint(people.acme_key, user="reviewer-1", scope="reviewer",
                    courses=[body["id"]])["access_token"]
    assert post_json(bearer(reviewer), f"/api/v1/versions/{version_id}/approve",
                     {}).status_code == 200
    published = bearer(reviewer).post(f"/api/v1/versions/{version_id}/publish")
    assert published.status_code == 200, published.content
    assert published.json()["state"] == "published"
    (event,) = AuditEvent.objects.filter(action="version.published")
    assert event.actor_label == "embed-user:reviewer-1"


def test_a_learner_token_cannot_publish(people: People, courses: Courses) -> None:
    version = courses.acme_draft
    version = course_actions.submit_for_review(version, actor=Actor.person(people.bob))
    version = course_actions.approve_version(version, actor=Actor.person(people.rita),
                                             confirm_unsupported=True)
    token = learner(people, courses.acme)
    response = bearer(token).post(f"/api/v1/versions/{version.pk}/publish")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    mallory = mint(people.globex_key, scope="author", courses="*")["access_token"]
    assert bearer(mallory).post(f"/api/v1/versions/{version.pk}/publish").status_code == 404
    assert CourseVersion.objects.get(pk=version.pk).state == VersionState.APPROVED


# --- the player's attempts -----------------------------------------------------------------


def test_a_course_without_a_published_version_cannot_be_played(people: People,
                                                               courses: Courses) -> None:
    response = open_attempt(learner(people, courses.acme), courses.acme)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_published"
    assert not LaunchProgress.objects.exists()


def test_a_learner_plays_the_published_version_into_the_progress_records(
        people: People, courses: Courses, settings: Any) -> None:
    version = publish(courses.acme_draft, people)
    token = learner(people, courses.acme)
    opened = open_attempt(token, courses.acme)
    assert opened.status_code == 200, opened.content
    assert "Set-Cookie" not in opened.headers
    assert opened["Cache-Control"] == "no-store"
    body = opened.json()
    assert body["resumed"] is False
    assert body["format"] == "scorm2004"
    assert body["course"] == {"id": courses.acme.pk, "uid": str(courses.acme.uid),
                              "title": "Fire safety"}
    assert body["version"] == {"id": version.pk, "number": version.number}
    assert body["values"] == {"cmi.entry": "ab-initio", "cmi.mode": "normal"}
    # the player's SCORM 2004 page, its files by signed URLs on this site
    assert "Never block the exits." in body["page"]
    assert f'{settings.BASE_URL}/content/' in body["page"]
    assert '"format": "scorm2004"' in body["page"] or '"format":"scorm2004"' in body["page"]
    row = LaunchProgress.objects.get()
    assert (row.pk, row.org_id, row.course_id, row.version_id) == (
        body["attempt"], people.acme.pk, courses.acme.pk, version.pk)
    assert (row.license_id, row.session_id, row.deployment_id) == (None, None, None)
    # the learner only as the keyed hash of the partner's id
    assert row.learner == subject_digest(people.acme, "learner-5") != "learner-5"
    assert row.completion == Completion.NOT_ATTEMPTED

    first = report(token, row.pk, STARTED)
    assert first.status_code == 200, first.content
    assert first.json() == {"completion": "incomplete", "success": "unknown", "score": None,
                            "progress": 0.3333, "commenced": True, "completed": False}
    again = report(token, row.pk, STARTED).json()
    assert (again["commenced"], again["completed"]) == (False, False)
    done = report(token, row.pk, DONE).json()
    assert done == {"completion": "completed", "success": "passed", "score": 0.9,
                    "progress": 1.0, "commenced": False, "completed": True}
    # a later report cannot undo it, nor complete it twice
    later = report(token, row.pk, {"cmi.completion_status": "incomplete"}).json()
    assert (later["completion"], later["completed"]) == ("completed", False)
    row.refresh_from_db()
    assert (row.completion, row.success, row.score, row.location, row.reports) == (
        Completion.COMPLETED, Success.PASSED, 0.9, "s3", 4)
    # the completion records list it like a launch's
    owner = client_for(people.alice)
    listed = owner.get(f"/api/v1/courses/{courses.acme.pk}/completions").json()
    assert [(r["learner"], r["status"], r["license_id"], r["score"])
            for r in listed["items"]] == [(row.learner, "passed", None, 0.9)]


def test_an_unfinished_attempt_is_resumed_and_a_finished_one_is_not(
        people: People, courses: Courses) -> None:
    publish(courses.acme_draft, people)
    token = learner(people, courses.acme)
    attempt = open_attempt(token, courses.acme).json()["attempt"]
    report(token, attempt, STARTED)
    resumed = open_attempt(token, courses.acme).json()
    assert (resumed["attempt"], resumed["resumed"]) == (attempt, True)
    assert resumed["values"] == {"cmi.entry": "resume", "cmi.mode": "normal",
                                 "cmi.completion_status": "incomplete",
                                 "cmi.location": "s1"}
    report(token, attempt, DONE)
    fresh = open_attempt(token, courses.acme).json()
    assert fresh["attempt"] != attempt
    assert fresh["resumed"] is False
    assert LaunchProgress.objects.count() == 2


def test_reports_belong_to_their_learner_course_and_organisation(
        people: People, courses: Courses) -> None:
    publish(courses.acme_draft, people)
    token = learner(people, courses.acme)
    attempt = open_attempt(token, courses.acme).json()["attempt"]
    # another Acme learner, an author of the course, Mallory's learner: not theirs
    other = learner(people, courses.acme, user="learner-6")
    assert report(other, attempt, DONE).status_code == 404
    author = mint(people.acme_key, scope="author", courses="*")["access_token"]
    refused = report(author, attempt, DONE)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    mallory = learner(people, courses.globex, user="learner-5", key=people.globex_key)
    assert report(mallory, attempt, DONE).status_code == 404
    assert open_attempt(mallory, courses.acme).status_code == 404
    # a learner token for another course does not reach this one
    elsewhere = learner(people, courses.acme_other)
    assert open_attempt(elsewhere, courses.acme).status_code == 404
    assert report(elsewhere, attempt, DONE).status_code == 404
    for bad in ("not-a-uid", "00000000-0000-0000-0000-000000000000"):
        assert open_attempt(token, bad).status_code == 404
    assert report(token, 2**70, DONE).status_code == 404
    assert report(token, 0, DONE).status_code == 404
    row = LaunchProgress.objects.get(pk=attempt)
    assert (row.reports, row.completion) == (0, Completion.NOT_ATTEMPTED)
    # no API key or person files an embedded learner's progress
    assert post_json(key_client(people.acme_key), f"/api/v1/embed/attempts/{attempt}/progress",
                     {"values": DONE}).status_code == 401


def test_a_launch_s_progress_row_is_not_reachable_as_an_attempt(people: People,
                                                               courses: Courses) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from tests.delivery.test_licenses_fixtures import issue

    version = publish(courses.acme_draft, people)
    license, _ = issue(people, [courses.acme])
    now = timezone.now()
    launched = LaunchProgress.objects.create(
        org=people.acme, license=license, course=courses.acme, version=version,
        learner=subject_digest(people.acme, "learner-5"), created_at=now,
        updated_at=now - timedelta(seconds=1))
    assert report(learner(people, courses.acme), launched.pk, DONE).status_code == 404


def test_bad_reports_are_refused_clearly(people: People, courses: Courses) -> None:
    publish(courses.acme_draft, people)
    token = learner(people, courses.acme)
    attempt = open_attempt(token, courses.acme).json()["attempt"]
    url = f"/api/v1/embed/attempts/{attempt}/progress"
    for body in ({"values": {f"cmi.k{n}": "x" for n in range(51)}},
                 {"values": {"cmi.location": "x" * 1001}},
                 {"values": {"cmi.score.scaled": 0.5}},
                 {"values": "completed"}, {}):
        response = bearer(token).post(url, data=json.dumps(body),
                                      content_type="application/json")
        assert response.status_code == 422, body
        assert response.json()["error"]["message"]
    assert LaunchProgress.objects.get().reports == 0


def test_an_embedded_learner_s_records_go_with_their_export_and_deletion(
        people: People, courses: Courses) -> None:
    publish(courses.acme_draft, people)
    token = learner(people, courses.acme, user="learner-5")
    attempt = open_attempt(token, courses.acme).json()["attempt"]
    report(token, attempt, DONE)
    other = learner(people, courses.acme, user="learner-6")
    open_attempt(other, courses.acme)
    post_json(key_client(people.acme_key), "/api/v1/embed/code",
              {"user": "learner-5", "scope": "learner", "courses": [courses.acme.pk]})
    owner = client_for(people.alice)
    exported = post_json(owner, "/api/v1/organisations/acme/learners/export",
                         {"learner_id": "learner-5"}).json()
    (progress,) = exported["embed_progress"]
    assert (progress["id"], progress["completion"]) == (attempt, "completed")
    assert len(exported["embed_codes"]) == 1
    assert len(exported["embed_sessions"]) == 1
    deleted = post_json(owner, "/api/v1/organisations/acme/learners/delete",
                        {"learner_id": "learner-5"}).json()
    assert deleted["counts"]["embed_progress"] == 1
    assert deleted["counts"]["embed_codes"] == 1
    assert list(LaunchProgress.objects.values_list("learner", flat=True)) == [
        subject_digest(people.acme, "learner-6")]
    # and the deleted learner's token no longer works
    assert open_attempt(token, courses.acme).status_code == 401


def test_the_org_export_lists_origins_and_codes_without_secrets(people: People,
                                                               courses: Courses) -> None:
    import io
    import zipfile

    from coursewright.embed.origins import set_origins
    from coursewright.privacy.export import export_organisation

    set_origins(people.acme, ["https://partner.example"], actor=Actor.person(people.alice))
    code = post_json(key_client(people.acme_key), "/api/v1/embed/code",
                     {"user": "learner-5", "scope": "learner",
                      "courses": [courses.acme.pk]}).json()["code"]
    archive = zipfile.ZipFile(io.BytesIO(export_organisation(
        people.acme, actor=Actor.person(people.alice))))
    text = archive.read("organisation.json").decode()
    data = json.loads(text)
    assert [o["origin"] for o in data["embed_origins"]] == ["https://partner.example"]
    (exported,) = data["embed_codes"]
    assert (exported["user"], exported["scope"]) == ("learner-5", "learner")
    assert data["counts"]["embed_origins"] == 1
    assert code not in text


def test_no_embed_answer_sets_a_cookie(people: People, courses: Courses) -> None:
    publish(courses.acme_draft, people)
    token = learner(people, courses.acme)
    attempt = open_attempt(token, courses.acme).json()["attempt"]
    author = mint(people.acme_key, scope="author", courses="*")["access_token"]
    answers = [
        open_attempt(token, courses.acme), report(token, attempt, STARTED),
        report(token, attempt + 1000, STARTED), create(author), create(token),
        post_json(Client(), "/api/v1/embed/code/exchange", {"code": "cwc_x"}),
        key_client(people.acme_key).get("/api/v1/embed/origins"),
    ]
    for response in answers:
        assert "Set-Cookie" not in response.headers, response.request
        assert not response.cookies
