"""The reviewers' page of AI-graded answers, with the people on its permission edges:
Alice owns Acme and Rita reviews there (both may review grades), Bob authors (refused,
as by the API), Mallory owns Globex and must see nothing of Acme."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coursewright.assist.models import GradingRecord, GradingStatus
from coursewright.audit.models import AuditEvent, Channel
from coursewright.courses import models as courses
from tests.assist.conftest import Course, approved_course
from tests.conftest import People, client_for

ANSWER = "I would report it with the button ZQX-answer and not click the link."
VERDICTS = [
    {"id": "report", "met": True, "justification": "Mentions the report button."},
    {"id": "noclick", "met": False, "justification": "Says nothing about attachments."},
]


def learner_ref(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()


def graded(course: Course, *, answer: str = ANSWER, session: str = "session-1",
           ai_score: int = 2, **fields: Any) -> GradingRecord:
    """A grading record as ``assist.actions.record_grading`` stores one (without the AI)."""
    return GradingRecord.objects.create(
        org=course.version.org, course=course.course, version=course.version,
        block_id="ft1", learner_ref=learner_ref(session), answer=answer,
        result={"criteria": VERDICTS}, provider="fake", model="fake-model-1",
        ai_score=ai_score, max_score=3, **fields)


@pytest.fixture
def acme_course(people: People) -> Course:
    return approved_course(people.acme, people.bob, people.rita)


@pytest.fixture
def record(acme_course: Course) -> GradingRecord:
    return graded(acme_course)


def _url(course: Course, slug: str = "acme") -> str:
    return f"/o/{slug}/courses/{course.course.pk}/gradings/"


def _review_url(record: GradingRecord, slug: str = "acme") -> str:
    return f"/o/{slug}/courses/{record.course_id}/gradings/{record.pk}/review/"


def _html(response: Any) -> str:
    return str(response.content.decode())


# --- who may see it --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rita", "alice"])
def test_reviewers_and_owners_see_the_ai_grades(people: People, acme_course: Course,
                                                record: GradingRecord, name: str) -> None:
    # when a reviewer (or the owner) opens the course's graded answers
    response = client_for(getattr(people, name)).get(_url(acme_course))

    # then each answer is shown with its question, the AI's verdicts and who graded it
    assert response.status_code == 200
    html = _html(response)
    for text in (ANSWER, "What do you do with a suspicious email?",
                 "Says to report it with the report button", "Mentions the report button.",
                 "Says nothing about attachments.", "The AI's grade: 2 of 3 points",
                 "Graded by AI · not reviewed", "fake-model-1", "Version 1",
                 f'action="{_review_url(record)}"', 'name="grading-' + str(record.pk) + '-score"'):
        assert text in html, text
    # and it says plainly that an AI graded, and what the learner was told
    assert "These grades were made by AI" in html
    assert "An AI grades your answer against this question&#x27;s criteria." in html
    assert "Graded by AI. A person may review this grade." in html
    assert "does not show them" in html


def test_authors_are_refused_like_in_the_api(people: People, acme_course: Course,
                                             record: GradingRecord) -> None:
    bob = client_for(people.bob)
    response = bob.get(_url(acme_course))
    assert response.status_code == 403
    assert ANSWER not in _html(response)
    assert bob.post(_review_url(record), {f"grading-{record.pk}-score": "3"}).status_code == 403
    record.refresh_from_db()
    assert record.status == GradingStatus.AI_GRADED
    assert not AuditEvent.objects.filter(action="grading_records.read").exists()


def test_the_course_page_links_to_the_page_for_reviewing_roles_only(
        people: People, acme_course: Course) -> None:
    link = f'href="{_url(acme_course)}"'
    course_page = f"/o/acme/courses/{acme_course.course.pk}/"
    assert link in _html(client_for(people.rita).get(course_page))
    assert link in _html(client_for(people.alice).get(course_page))
    assert link not in _html(client_for(people.bob).get(course_page))


def test_mallory_sees_nothing_of_acme(people: People, acme_course: Course,
                                      record: GradingRecord) -> None:
    mallory = client_for(people.mallory)
    data = {f"grading-{record.pk}-score": "0"}
    for slug in ("acme", "globex"):
        assert mallory.get(_url(acme_course, slug)).status_code == 404
        assert mallory.post(_review_url(record, slug), data).status_code == 404
    record.refresh_from_db()
    assert record.status == GradingStatus.AI_GRADED
    assert not AuditEvent.objects.filter(action="grading_records.read").exists()


def test_anonymous_visitors_are_sent_to_sign_in(acme_course: Course,
                                                record: GradingRecord) -> None:
    for response in (Client().get(_url(acme_course)), Client().post(_review_url(record))):
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


# --- what it lists -----------------------------------------------------------------------


def test_it_lists_this_courses_records_only(people: People, acme_course: Course,
                                            record: GradingRecord) -> None:
    # given an answer in another Acme course and one in a Globex course
    other = approved_course(people.acme, people.bob, people.rita)
    graded(other, answer="ZQX-other-course")
    globex = approved_course(people.globex, people.mallory, people.mallory)
    graded(globex, answer="ZQX-globex")

    html = _html(client_for(people.rita).get(_url(acme_course, "acme") + "?show=all"))

    assert ANSWER in html
    assert "ZQX-other-course" not in html
    assert "ZQX-globex" not in html
    assert "1 graded answer<" in html


def test_the_learner_is_shown_only_as_a_short_hash(people: People, acme_course: Course,
                                                   record: GradingRecord) -> None:
    html = _html(client_for(people.rita).get(_url(acme_course)))
    ref = record.learner_ref
    assert f"<code>{ref[:8]}</code>" in html
    assert ref[:9] not in html
    assert ref[8:] not in html
    assert "session-1" not in html


def test_newest_first_in_pages_of_25(people: People, acme_course: Course) -> None:
    # given 27 answers, a minute apart
    start = timezone.now() - timedelta(hours=1)
    for i in range(27):
        r = graded(acme_course, answer=f"ZQX-answer-{i:02d}")
        GradingRecord.objects.filter(pk=r.pk).update(created_at=start + timedelta(minutes=i))
    rita = client_for(people.rita)

    first = _html(rita.get(_url(acme_course)))
    second = _html(rita.get(_url(acme_course) + "?show=pending&page=2"))

    shown = [f"ZQX-answer-{i:02d}" for i in range(27)]
    on_first = [a for a in shown if a in first]
    assert len(on_first) == 25
    assert first.index("ZQX-answer-26") < first.index("ZQX-answer-25") < first.index(
        "ZQX-answer-02")
    assert [a for a in shown if a in second] == ["ZQX-answer-00", "ZQX-answer-01"]
    assert "page 1 of 2" in first
    assert f'href="{_url(acme_course)}?show=pending&amp;page=2" rel="next"' in first


def test_the_filter_shows_the_review_queue_or_everything(
        people: People, acme_course: Course, record: GradingRecord) -> None:
    graded(acme_course, answer="ZQX-already-reviewed", status=GradingStatus.REVIEWED,
           final_score=3, review_note="Fine.", reviewed_by=people.rita,
           reviewed_at=timezone.now())
    rita = client_for(people.rita)

    pending = _html(rita.get(_url(acme_course)))
    everything = _html(rita.get(_url(acme_course) + "?show=all"))

    assert ANSWER in pending
    assert "ZQX-already-reviewed" not in pending
    assert "1 answer not yet reviewed" in pending
    assert 'aria-current="page">Not yet reviewed (1)' in pending
    assert "ZQX-already-reviewed" in everything
    assert "Reviewed by a person" in everything
    assert "Final score <strong>3 of 3</strong>, set by Rita (rita@acme.test)" in everything
    assert 'aria-current="page">All (2)' in everything


def test_reading_the_list_is_audited(people: People, acme_course: Course,
                                     record: GradingRecord) -> None:
    client_for(people.rita).get(_url(acme_course))
    event = AuditEvent.objects.get(action="grading_records.read")
    assert event.actor_user_id == people.rita.pk
    assert event.channel == Channel.WEB
    assert event.object_id == str(acme_course.course.pk)


def test_queries_do_not_grow_with_the_records(people: People, acme_course: Course) -> None:
    rita = client_for(people.rita)
    graded(acme_course)
    rita.get(_url(acme_course))  # sessions, keys and caches warmed up
    with CaptureQueriesContext(connection) as one:
        assert rita.get(_url(acme_course)).status_code == 200
    for i in range(10):
        graded(acme_course, session=f"s{i}", status=GradingStatus.REVIEWED, final_score=1,
               reviewed_by=people.rita if i % 2 else people.alice,
               reviewed_at=timezone.now())
    with CaptureQueriesContext(connection) as eleven:
        assert rita.get(_url(acme_course) + "?show=all").status_code == 200
    assert len(eleven) == len(one)


# --- overriding a grade ------------------------------------------------------------------


def test_a_reviewer_overrides_the_score_and_it_is_audited(
        people: People, acme_course: Course, record: GradingRecord) -> None:
    rita = client_for(people.rita)
    prefix = f"grading-{record.pk}"

    # when Rita sets 3 of 3 with a note
    response = rita.post(_review_url(record), {f"{prefix}-score": "3",
                                               f"{prefix}-note": " Says not to click. ",
                                               "show": "pending", "page": "1"})

    # then she is back on the list, with a confirmation
    assert response.status_code == 302
    assert response["Location"] == _url(acme_course) + "?show=pending"
    page = _html(rita.get(_url(acme_course) + "?show=all"))
    assert (f"Final score saved: 3 of 3 for the answer of learner "
            f"{record.learner_ref[:8]} (the AI gave 2).") in page

    # and the final score is set, the AI's kept, and the audit log has the review
    record.refresh_from_db()
    assert (record.status, record.final_score, record.ai_score) == (
        GradingStatus.REVIEWED, 3, 2)
    assert record.review_note == "Says not to click."
    assert record.reviewed_by == people.rita
    event = AuditEvent.objects.get(action="assist.grading_reviewed")
    assert event.object_id == str(record.pk)
    assert event.actor_user_id == people.rita.pk
    assert event.channel == Channel.WEB
    assert event.after["score"] == 3
    assert "Final score <strong>3 of 3</strong>" in page


@pytest.mark.parametrize(("score", "message"), [
    ("4", "The score must be between 0 and 3."),
    ("-1", "The score must be between 0 and 3."),
    ("two", "Enter the final score as a whole number."),
    ("", "Enter the final score."),
])
def test_a_bad_score_is_refused_at_the_field(people: People, acme_course: Course,
                                             record: GradingRecord, score: str,
                                             message: str) -> None:
    prefix = f"grading-{record.pk}"
    response = client_for(people.rita).post(_review_url(record), {f"{prefix}-score": score})

    assert response.status_code == 422
    html = _html(response)
    assert 'class="error-summary" role="alert"' in html
    assert f'<a href="#id_{prefix}-score">Final score (0 to 3): {message}</a>' in html
    assert 'aria-invalid="true"' in html
    # (the page answers the review URL: its links lead back to the list)
    assert f'href="{_url(acme_course)}?show=all"' in html
    record.refresh_from_db()
    assert record.status == GradingStatus.AI_GRADED
    assert not AuditEvent.objects.filter(action="assist.grading_reviewed").exists()


def test_a_too_long_note_is_refused(people: People, acme_course: Course,
                                    record: GradingRecord) -> None:
    prefix = f"grading-{record.pk}"
    response = client_for(people.rita).post(
        _review_url(record), {f"{prefix}-score": "1", f"{prefix}-note": "x" * 2001})
    assert response.status_code == 422
    assert "Note (optional): Ensure this value has at most 2000 characters" in _html(response)
    record.refresh_from_db()
    assert record.final_score is None


def test_a_record_of_another_course_is_not_found_under_this_one(
        people: People, acme_course: Course, record: GradingRecord) -> None:
    other = approved_course(people.acme, people.bob, people.rita)
    url = f"/o/acme/courses/{other.course.pk}/gradings/{record.pk}/review/"
    response = client_for(people.rita).post(url, {f"grading-{record.pk}-score": "1"})
    assert response.status_code == 404


def test_the_learners_notice_is_quoted_in_the_course_language(
        people: People, acme_course: Course, record: GradingRecord) -> None:
    courses.Course.objects.filter(pk=acme_course.course.pk).update(language="de")
    html = _html(client_for(people.rita).get(_url(acme_course)))
    assert ('<q lang="de">Von einer KI bewertet. Ein Mensch kann diese Bewertung '
            'überprüfen.</q>') in html
    assert "(in English: “Graded by AI. A person may review this grade.”)" in html
