"""Each dashboard page of the course flow, with the people on its permission edges."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from coursewright.audit.actor import Actor
from coursewright.courses import actions
from coursewright.courses.models import VersionState
from tests.conftest import People, client_for
from tests.support.sample_course import sample_assets
from tests.web.conftest import AcmeObjects
from tests.web.helpers import content_of, editor_data, named_file

S = VersionState


def _html(response: Any) -> str:
    return str(response.content.decode())


def _submit(objects: AcmeObjects, user: Any) -> None:
    actions.submit_for_review(objects.version, actor=Actor.person(user))


# --- home and dashboard ----------------------------------------------------------------


def test_home_sends_a_member_to_their_dashboard_and_others_to_sign_in(people: People) -> None:
    assert client_for(people.bob).get("/")["Location"] == "/o/acme/"
    assert Client().get("/")["Location"] == "/login/"


def test_home_explains_when_a_person_has_no_organisation(db: None) -> None:
    from coursewright.accounts.models import User

    loner = User.objects.create_user("loner@example.test", "x" * 12)
    response = client_for(loner).get("/")
    assert response.status_code == 200
    assert "You are not in an organisation yet" in _html(response)


def test_dashboard_lists_courses_documents_and_offers_upload_to_authors(
        people: People, acme_objects: AcmeObjects) -> None:
    # when Bob (author) and Rita (reviewer) open Acme's dashboard
    bob_page = _html(client_for(people.bob).get("/o/acme/"))
    rita_page = _html(client_for(people.rita).get("/o/acme/"))

    # then both see the course with its state, and only Bob can upload
    for page in (bob_page, rita_page):
        assert "Phishing awareness basics" in page
        assert "badge-draft" in page
        assert "phishing.md" in page
    assert 'action="/o/acme/documents/upload/"' in bob_page
    assert 'action="/o/acme/documents/upload/"' not in rita_page


def test_a_reviewer_cannot_upload(people: People) -> None:
    response = client_for(people.rita).get("/o/acme/documents/upload/")
    assert response.status_code == 403
    assert "does not allow you to upload documents" in _html(response)


def test_upload_form_errors_are_shown_on_the_form(people: People) -> None:
    # when Bob sends the form without a file and with a silly screen count
    response = client_for(people.bob).post("/o/acme/documents/upload/",
                                           {"language": "en", "target_screens": "1"})

    # then the form comes back with both problems, linked from the summary
    assert response.status_code == 422
    page = _html(response)
    assert "This field is required." in page
    assert "Ensure this value is greater than or equal to 3." in page
    assert 'href="#id_file"' in page


# --- generation job --------------------------------------------------------------------


def test_job_page_works_without_javascript(people: People, acme_objects: AcmeObjects) -> None:
    page = _html(client_for(people.rita).get(f"/o/acme/jobs/{acme_objects.job.pk}/"))
    assert "Refresh" in page
    assert 'data-job-polling="true"' in page
    assert f'data-job-status-url="/o/acme/jobs/{acme_objects.job.pk}/status.json"' in page


def test_a_failed_job_says_so_and_stops_polling(people: People,
                                               acme_objects: AcmeObjects) -> None:
    from coursewright.ai.models import GenerationJob

    GenerationJob.objects.filter(pk=acme_objects.job.pk).update(
        status="failed", stage="Failed", error="The draft could not be generated: Boom")
    page = _html(client_for(people.bob).get(f"/o/acme/jobs/{acme_objects.job.pk}/"))
    assert "The draft could not be generated: Boom" in page
    assert "Upload another document" in page
    assert "data-job-polling" not in page


def test_job_status_json(people: People, acme_objects: AcmeObjects) -> None:
    data = client_for(people.bob).get(f"/o/acme/jobs/{acme_objects.job.pk}/status.json").json()
    assert data["status"] == "queued"
    assert data["done"] is False
    assert data["course_url"] is None


# --- reading a version -----------------------------------------------------------------


def test_version_page_shows_blocks_beside_their_sources(
        people: People, acme_objects: AcmeObjects,
        django_assert_num_queries: Any) -> None:
    client = client_for(people.rita)
    url = f"/o/acme/versions/{acme_objects.version.pk}/"

    # when Rita reads the version: six queries to sign in and resolve the organisation
    # (session, user, two-factor devices twice, memberships, two-factor requirement), then
    # version, course, cited chunks and document, however many screens there are, plus
    # the audit row recording the read (savepoint, chain head, insert, head, release)
    with django_assert_num_queries(15):
        page = _html(client.get(url))

    # then AI blocks carry their badge and the passages they cite
    assert "AI draft" in page
    assert "AI, edited" in page
    assert "Urgent wording and odd sender addresses" in page
    assert "<strong>trusted senders</strong>" in page
    assert "Passage doc-3#c1 is not in the source document." in page
    assert "Written by a person." in page
    # and images come from the organisation's own image URL, with their alt text
    assert (f'src="/o/acme/courses/{acme_objects.course.pk}/images/{acme_objects.asset.sha256}/"'
            in page)
    assert 'alt="An envelope with an orange warning triangle in front of it"' in page
    # and a reviewer gets no edit buttons
    assert "Edit screen" not in page


def test_images_are_served_to_members(people: People, acme_objects: AcmeObjects) -> None:
    (png, _), = sample_assets().values()
    response = client_for(people.rita).get(
        f"/o/acme/courses/{acme_objects.course.pk}/images/{acme_objects.asset.sha256}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content == png


# --- editing ---------------------------------------------------------------------------


def _screen(objects: AcmeObjects, screen_id: str) -> Any:
    return next(s for s in content_of(objects.version).screens if s.id == screen_id)


def test_editor_shows_errors_by_field(people: People, acme_objects: AcmeObjects) -> None:
    screen = _screen(acme_objects, "spotting")
    url = f"/o/acme/versions/{acme_objects.version.pk}/screens/spotting/edit/"

    # when Bob empties a choice and leaves a multiple-choice question with no right answer
    response = client_for(people.bob).post(url, editor_data(
        screen, **{"b-q-sender-c-a-text": "", "b-q-sender-c-b-correct": False}))

    # then nothing is saved and each problem is shown where it belongs
    assert response.status_code == 422
    page = _html(response)
    assert 'id="id_b-q-sender-c-a-text_error"' in page
    assert "needs exactly one correct choice" in page
    assert _screen(acme_objects, "spotting") == screen


def test_editor_deletes_and_adds_blocks(people: People, acme_objects: AcmeObjects) -> None:
    screen = _screen(acme_objects, "spotting")
    url = f"/o/acme/versions/{acme_objects.version.pk}/screens/spotting/edit/"

    # when Bob deletes the heading and adds a text block
    response = client_for(people.bob).post(url, editor_data(
        screen, **{"b-spotting-heading-delete": True, "new_text": "Ask if *unsure*."}))

    # then the heading is gone and the new block is recorded as written by a person
    assert response.status_code == 302
    assert response["Location"].endswith("#screen-spotting")
    blocks = _screen(acme_objects, "spotting").blocks
    assert "spotting-heading" not in [b.id for b in blocks]
    assert blocks[-1].type == "text"
    assert blocks[-1].markdown == "Ask if *unsure*."
    assert blocks[-1].provenance.kind == "human"
    # and an untouched AI block keeps its provenance unedited
    question = next(b for b in blocks if b.id == "q-sender")
    assert question.provenance.kind == "ai"
    assert question.provenance.edited is False


def test_a_screen_keeps_at_least_one_block(people: People, acme_objects: AcmeObjects) -> None:
    screen = _screen(acme_objects, "summary")
    data = editor_data(screen, **{f"b-{b.id}-delete": True for b in screen.blocks})
    response = client_for(people.bob).post(
        f"/o/acme/versions/{acme_objects.version.pk}/screens/summary/edit/", data)
    assert response.status_code == 422
    assert "A screen needs at least one block" in _html(response)


def test_only_drafts_can_be_edited(people: People, acme_objects: AcmeObjects) -> None:
    _submit(acme_objects, people.bob)
    client = client_for(people.bob)
    url = f"/o/acme/versions/{acme_objects.version.pk}/screens/spotting/edit/"
    response = client.get(url, follow=True)
    assert "is in review and cannot be edited" in _html(response)
    assert client.get(f"/o/acme/versions/{acme_objects.version.pk}/screens/nope/edit/"
                      ).status_code == 404


def test_a_reviewer_cannot_edit(people: People, acme_objects: AcmeObjects) -> None:
    response = client_for(people.rita).get(
        f"/o/acme/versions/{acme_objects.version.pk}/screens/spotting/edit/")
    assert response.status_code == 403


def test_adding_an_image_needs_alt_text_and_a_real_image(
        people: People, acme_objects: AcmeObjects) -> None:
    client = client_for(people.bob)
    url = f"/o/acme/versions/{acme_objects.version.pk}/screens/links/images/"
    (png, _), = sample_assets().values()

    # when Bob forgets the alt text, then the form says so
    response = client.post(url, {"image-image": named_file(png, "x.png"), "image-alt": ""})
    assert response.status_code == 422
    assert 'id="id_image-alt_error"' in _html(response)

    # when Bob uploads an SVG, then it is refused with the reason
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    response = client.post(url, {"image-image": named_file(svg, "x.svg"), "image-alt": "x"})
    assert response.status_code == 415
    assert "SVG images are not accepted" in _html(response)

    # when Bob uploads a PNG with alt text, then the screen ends with the image block
    response = client.post(url, {"image-image": named_file(png, "x.png"),
                                 "image-alt": "A warning sign", "image-caption": "Careful"})
    assert response.status_code == 302
    block = _screen(acme_objects, "links").blocks[-1]
    assert block.type == "image"
    assert block.alt == "A warning sign"
    assert block.asset == acme_objects.asset.sha256
    assert block.provenance.kind == "human"


# --- review, publish, export -----------------------------------------------------------


def test_the_submitter_is_not_offered_approval(people: People,
                                               acme_objects: AcmeObjects) -> None:
    # given Alice (owner, who may review) submitted the version herself
    _submit(acme_objects, people.alice)
    alice = client_for(people.alice)
    course_url = f"/o/acme/courses/{acme_objects.course.pk}/"

    # then she gets no approve button, and the server refuses her anyway
    page = _html(alice.get(course_url))
    assert "Approve version 1" not in page
    assert "someone other than you must approve it" in page
    response = alice.post(f"/o/acme/versions/{acme_objects.version.pk}/approve/")
    assert response.status_code == 403
    assert "someone else must review it" in _html(response)


def test_reject_needs_a_comment_and_shows_it(people: People,
                                             acme_objects: AcmeObjects) -> None:
    _submit(acme_objects, people.bob)
    rita = client_for(people.rita)
    url = f"/o/acme/versions/{acme_objects.version.pk}/reject/"
    field = f"reject-{acme_objects.version.pk}-comment"

    # when Rita rejects without a comment, then the course page asks for one
    response = rita.post(url, {field: "  "})
    assert response.status_code == 422
    assert f'id="id_{field}_error"' in _html(response)

    # when she says what to change, then the version is a draft again with her comment
    response = rita.post(url, {field: "Add a screen on reporting by phone."}, follow=True)
    acme_objects.version.refresh_from_db()
    assert acme_objects.version.state == S.DRAFT
    page = _html(response)
    assert "Add a screen on reporting by phone." in page
    assert "Sent back to draft (version 1)" in page


def test_an_author_cannot_reject(people: People, acme_objects: AcmeObjects) -> None:
    _submit(acme_objects, people.alice)
    response = client_for(people.bob).post(
        f"/o/acme/versions/{acme_objects.version.pk}/reject/",
        {f"reject-{acme_objects.version.pk}-comment": "no"})
    assert response.status_code == 403


def test_export_and_publish_need_approval(people: People, acme_objects: AcmeObjects) -> None:
    bob = client_for(people.bob)
    vid = acme_objects.version.pk
    for fmt in ("scorm2004", "scorm12", "html"):
        response = bob.get(f"/o/acme/versions/{vid}/export/{fmt}/")
        assert response.status_code == 409
        assert "Only an approved version can be exported" in _html(response)
    assert bob.get(f"/o/acme/versions/{vid}/export/pdf/").status_code == 404
    response = bob.post(f"/o/acme/versions/{vid}/publish/")
    assert response.status_code == 409
    assert "Only an approved version can be published" in _html(response)


def test_new_draft_after_approval(people: People, acme_objects: AcmeObjects) -> None:
    # given an approved version
    _submit(acme_objects, people.bob)
    actions.approve_version(acme_objects.version, actor=Actor.person(people.rita),
                            confirm_unsupported=True)
    bob = client_for(people.bob)
    course_url = f"/o/acme/courses/{acme_objects.course.pk}/"
    assert "Start a new draft" in _html(bob.get(course_url))

    # when Bob starts a new draft, then he lands on version 2, ready to edit
    response = bob.post(f"/o/acme/courses/{acme_objects.course.pk}/drafts/", follow=True)
    page = _html(response)
    assert "Version 2 is a draft you can edit." in page
    assert "Edit screen" in page
    assert acme_objects.course.versions.count() == 2
    assert "Start a new draft" not in _html(bob.get(course_url))


def test_course_page_shows_the_history(people: People, acme_objects: AcmeObjects) -> None:
    _submit(acme_objects, people.bob)
    page = _html(client_for(people.rita).get(f"/o/acme/courses/{acme_objects.course.pk}/"))
    assert "Created the course" in page
    assert "Submitted for review (version 1)" in page
    assert "bob@acme.test" in page


@pytest.mark.parametrize("path", ["/o/acme/versions/{v}/submit/", "/o/acme/versions/{v}/approve/",
                                  "/o/acme/versions/{v}/publish/", "/o/acme/courses/{c}/drafts/"])
def test_state_changes_need_post(people: People, acme_objects: AcmeObjects, path: str) -> None:
    url = path.format(v=acme_objects.version.pk, c=acme_objects.course.pk)
    assert client_for(people.alice).get(url).status_code == 405


def test_preview_shows_the_learner_player(people: People, acme_objects: AcmeObjects) -> None:
    client = client_for(people.rita)
    base = f"/o/acme/versions/{acme_objects.version.pk}/preview/"
    page = _html(client.get(base))
    assert '<script src="player.js" defer></script>' in page
    assert f"/o/acme/courses/{acme_objects.course.pk}/images/{acme_objects.asset.sha256}/" in page
    script = client.get(base + "player.js")
    assert script.status_code == 200
    assert script["Content-Type"] == "text/javascript"
    assert client.get(base + "secret.py").status_code == 404


def _queries(client: Client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


def test_list_pages_do_not_grow_queries_with_their_rows(people: People) -> None:
    from tests.web.conftest import make_course

    # given one course with an approved version and a review comment
    first = make_course(people.acme, people.bob)
    _submit(first, people.bob)
    actions.reject_version(first.version, actor=Actor.person(people.rita), comment="Shorter")
    _submit(first, people.bob)
    actions.approve_version(first.version, actor=Actor.person(people.rita),
                            confirm_unsupported=True)
    actions.start_new_draft(first.course, actor=Actor.person(people.bob))
    rita = client_for(people.rita)
    course_url = f"/o/acme/courses/{first.course.pk}/"
    dashboard, course = _queries(rita, "/o/acme/"), _queries(rita, course_url)

    # when there are more courses, documents, versions and comments
    for _ in range(3):
        make_course(people.acme, people.bob)
    draft = first.course.versions.get(state=S.DRAFT)
    for comment in ("Again", "And again"):
        actions.submit_for_review(draft, actor=Actor.person(people.bob))
        draft = actions.reject_version(draft, actor=Actor.person(people.rita), comment=comment)

    # then the dashboard and the course page need no more queries than before
    assert _queries(rita, "/o/acme/") == dashboard
    assert _queries(rita, course_url) == course
