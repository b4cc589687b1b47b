"""The dashboard's AI drafting and AI tools, through the pages, against the local fake
provider endpoints (``tests.support.fake_providers``, answered by the scripted model).

Alice owns Acme, Bob authors there, Rita reviews, Mallory (Globex) sees nothing of Acme.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from coursewright.ai.models import FEATURES, GenerationJob, JobStatus, LedgerEntry
from coursewright.ai.policy import update_policy
from coursewright.audit.actor import Actor
from coursewright.courses import actions
from coursewright.courses.content import CourseContent
from coursewright.courses.models import Course, CourseVersion
from tests.conftest import People, client_for
from tests.support.fake_providers import FakeProviders
from tests.web.conftest import AcmeObjects
from tests.web.helpers import content_of, upload_handbook

pytestmark = pytest.mark.usefixtures("providers_file")

AI_PAGES = {"draft_from_brief", "ai_redraft_screen", "ai_refine", "ai_questions",
            "ai_translate"}


def _html(response: Any) -> str:
    return str(response.content.decode())


def _allow(people: People, providers: list[str], **features: bool) -> None:
    update_policy(people.acme, actor=Actor.person(people.alice), providers=providers,
                  features={**dict.fromkeys(FEATURES, True), **features})


def _options(html: str, name: str) -> list[str]:
    """The values a select offers, in order."""
    select = re.search(rf'<select name="{re.escape(name)}".*?</select>', html, re.S)
    assert select, f"no select {name}"
    return re.findall(r'<option value="([^"]*)"', select.group(0))


def _approved(objects: AcmeObjects, people: People) -> CourseVersion:
    actions.submit_for_review(objects.version, actor=Actor.person(people.bob))
    return actions.approve_version(objects.version, actor=Actor.person(people.rita),
                                   confirm_unsupported=True)


def _screen(version: CourseVersion, screen_id: str) -> Any:
    return next(s for s in content_of(version).screens if s.id == screen_id)


# --- creating a course -------------------------------------------------------------------


def test_the_upload_page_offers_the_allowed_providers_in_policy_order(people: People) -> None:
    # given Acme allows Gemini, the offline engine and OpenAI, in that order
    _allow(people, ["fake-gemini", "offline", "fake-openai"])

    # when Bob opens the upload page
    page = _html(client_for(people.bob).get("/o/acme/documents/upload/"))

    # then a document may go to any of them (automatic first), in the policy's order, and
    # the offline engine says that it sends nothing
    assert _options(page, "provider") == ["", "fake-gemini", "offline", "fake-openai"]
    assert "Automatic tries Fake Gemini first" in page
    assert "Offline engine (on this server): nothing is sent" in page
    # and a brief may only go to an AI model provider
    assert _options(page, "brief-provider") == ["", "fake-gemini", "fake-openai"]
    assert 'action="/o/acme/courses/brief/"' in page


def test_with_one_provider_there_is_nothing_to_choose(people: People) -> None:
    _allow(people, ["fake-openai"])
    page = _html(client_for(people.bob).get("/o/acme/documents/upload/"))
    assert 'name="provider"' not in page
    assert 'name="brief-provider"' not in page
    assert 'name="brief-brief"' in page


@pytest.mark.parametrize(("name", "link"), [("alice", True), ("bob", False)])
def test_only_the_offline_engine_replaces_the_brief_form_with_the_reason(
        people: People, name: str, link: bool) -> None:
    # given Acme's default policy: only the offline engine
    page = _html(client_for(getattr(people, name)).get("/o/acme/documents/upload/"))

    # then documents can still be drafted, but the brief form is an explanation
    assert 'action="/o/acme/documents/upload/"' in page
    assert 'name="provider"' not in page  # one engine: nothing to choose
    assert 'action="/o/acme/courses/brief/"' not in page
    assert "A brief needs an AI model provider" in page
    assert ("Allow an AI model provider in the AI settings" in page) is link
    assert 'href="/o/acme/ai/"' in page


def test_draft_from_a_brief_through_the_page(people: People, fake: FakeProviders,
                                             run_jobs: None) -> None:
    # given Acme allows the offline engine and OpenAI
    _allow(people, ["offline", "fake-openai"])
    bob = client_for(people.bob)

    # when Bob describes the course he needs
    response = bob.post("/o/acme/courses/brief/", {
        "brief-brief": "Fire safety for new warehouse staff: exits, alarms, extinguishers.",
        "brief-title": "Fire safety", "brief-language": "en", "brief-target_screens": "3",
        "brief-provider": ""})

    # then he lands on the job's progress page, and the draft is written by OpenAI
    job = GenerationJob.objects.get(org=people.acme)
    assert response.status_code == 302
    assert response["Location"] == f"/o/acme/jobs/{job.pk}/"
    assert job.document is None
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert "Fire safety for new warehouse staff" in fake.requests[0].call.prompt_text
    content = CourseContent.model_validate(job.course.versions.get().content)
    assert len(content.screens) == 3
    assert {b.provenance.engine for s in content.screens for b in s.blocks} == {"fake-openai"}
    page = _html(bob.get(response["Location"]))
    assert "Drafting “Fire safety” from your brief now." in page
    assert "Draft ready: “Fire safety”" in page


def test_brief_form_errors_are_shown_on_the_form(people: People, fake: FakeProviders) -> None:
    _allow(people, ["fake-openai"])
    response = client_for(people.bob).post("/o/acme/courses/brief/", {
        "brief-brief": "", "brief-title": "", "brief-language": "en",
        "brief-target_screens": "500"})
    assert response.status_code == 422
    page = _html(response)
    assert 'href="#id_brief-brief"' in page
    assert "Ensure this value is less than or equal to 200." in page
    assert not fake.requests


def test_a_provider_the_policy_no_longer_allows_is_refused_with_the_reason(
        people: People, fake: FakeProviders) -> None:
    # given Bob's page offered Azure, but the policy has changed since
    _allow(people, ["fake-openai", "fake-gemini"])

    # when he sends the brief to Azure
    response = client_for(people.bob).post("/o/acme/courses/brief/", {
        "brief-brief": "Fire safety", "brief-title": "Fire safety", "brief-language": "en",
        "brief-provider": "fake-azure"})

    # then the form says why, at the provider select, and nothing was sent
    assert response.status_code == 403
    page = _html(response)
    assert "Your organisation&#x27;s AI policy does not allow &#x27;fake-azure&#x27;." in page
    assert 'href="#id_brief-provider"' in page
    assert not fake.requests
    assert LedgerEntry.objects.get(org=people.acme).reason == "provider_not_allowed"
    assert not GenerationJob.objects.exists()


def test_upload_with_a_chosen_provider(people: People, fake: FakeProviders,
                                       run_jobs: None) -> None:
    # given the offline engine comes first in Acme's policy
    _allow(people, ["offline", "fake-gemini"])

    # when Bob uploads the handbook and picks Gemini
    response = upload_handbook(client_for(people.bob), "acme", provider="fake-gemini")

    # then the draft is Gemini's, not the offline engine's
    assert response.status_code == 302
    job = GenerationJob.objects.get(org=people.acme)
    assert job.provider == "fake-gemini"
    content = CourseContent.model_validate(job.course.versions.get().content)
    assert {b.provenance.engine for s in content.screens for b in s.blocks} == {"fake-gemini"}
    assert {r.flavour for r in fake.requests} == {"gemini"}


def test_a_refused_upload_keeps_the_document_and_says_why(people: People,
                                                         fake: FakeProviders) -> None:
    _allow(people, ["offline", "fake-openai"])
    response = upload_handbook(client_for(people.bob), "acme", provider="fake-gemini")
    assert response.status_code == 403
    page = _html(response)
    assert ("Your organisation&#x27;s AI policy does not allow &#x27;fake-gemini&#x27;. "
            "“handbook.html” was uploaded, but no draft was started.") in page
    assert 'href="#id_provider"' in page
    assert not GenerationJob.objects.exists()
    assert not fake.requests


def test_generation_switched_off_shows_the_reason_instead_of_the_forms(
        people: People, fake: FakeProviders) -> None:
    _allow(people, ["fake-openai"], generate=False)
    bob = client_for(people.bob)
    for url in ("/o/acme/documents/upload/", "/o/acme/"):
        page = _html(bob.get(url))
        assert "“Generate a course” is switched off in Acme's AI policy" in page
        assert 'action="/o/acme/documents/upload/"' not in page
        assert 'action="/o/acme/courses/brief/"' not in page

    # and a page opened before the change gets the gateway's reason
    response = bob.post("/o/acme/courses/brief/", {
        "brief-brief": "Fire safety", "brief-title": "Fire safety", "brief-language": "en"})
    assert response.status_code == 403
    assert ("Generate a course is switched off in your organisation&#x27;s AI policy."
            in _html(response))
    assert not fake.requests


# --- the AI tools of a draft ---------------------------------------------------------------


def test_an_author_sees_the_ai_tools_of_a_draft(people: People,
                                                acme_objects: AcmeObjects) -> None:
    _allow(people, ["fake-openai", "fake-gemini"])
    page = _html(client_for(people.bob).get(f"/o/acme/versions/{acme_objects.version.pk}/"))
    assert 'id="ai-tools"' in page
    assert "Fake OpenAI (EU) or Fake Gemini" in page
    content = content_of(acme_objects.version)
    for screen in content.screens:
        assert (f'action="/o/acme/versions/{acme_objects.version.pk}/screens/{screen.id}'
                "/ai/redraft/\"") in page
    assert page.count("Redraft this screen with AI<span") == len(content.screens)
    assert _options(page, "refine-tone") == ["", "formal", "friendly", "neutral"]
    assert _options(page, "refine-reading_level") == ["", "simpler", "advanced"]
    assert _options(page, "refine-length") == ["", "shorter", "longer"]
    assert _options(page, "refine-scope") == ["", *(s.id for s in content.screens)]
    assert _options(page, "questions-screen") == [s.id for s in content.screens]
    assert _options(page, "questions-provider") == ["", "fake-openai", "fake-gemini"]
    assert "Translate into a new draft" not in page  # a draft is changed, not translated


def test_redraft_a_screen_through_the_page(people: People, acme_objects: AcmeObjects,
                                           fake: FakeProviders) -> None:
    _allow(people, ["fake-openai"])
    bob = client_for(people.bob)
    version = acme_objects.version
    before = content_of(version)

    # when Bob redrafts the "spotting" screen with an instruction
    response = bob.post(f"/o/acme/versions/{version.pk}/screens/spotting/ai/redraft/",
                        {"redraft-spotting-instruction": "Add an example from a bank"})

    # then he is back at the screen, whose blocks are now OpenAI's draft
    assert response.status_code == 302
    assert response["Location"] == f"/o/acme/versions/{version.pk}/#screen-spotting"
    after = content_of(version)
    screen = next(s for s in after.screens if s.id == "spotting")
    assert screen.title == "Spotting a phishing email"
    assert {b.provenance.engine for b in screen.blocks} == {"fake-openai"}
    assert all(b.provenance.kind == "ai" and not b.provenance.edited for b in screen.blocks)
    assert "Add an example from a bank" in fake.requests[0].call.prompt_text
    # and the other screens are untouched
    assert [s for s in after.screens if s.id != "spotting"] == [
        s for s in before.screens if s.id != "spotting"]
    page = _html(bob.get(response["Location"]))
    assert "Screen “Spotting a phishing email” was redrafted with AI." in page


def test_refine_the_whole_draft(people: People, acme_objects: AcmeObjects,
                                fake: FakeProviders) -> None:
    _allow(people, ["fake-openai"])
    bob = client_for(people.bob)
    url = f"/o/acme/versions/{acme_objects.version.pk}/ai/refine/"

    # when Bob asks for nothing, the form says what is missing and nothing is sent
    response = bob.post(url, {"refine-scope": "", "refine-tone": ""})
    assert response.status_code == 422
    assert "Choose at least one change" in _html(response)
    assert not fake.requests

    # when he asks for a friendly, simpler text
    response = bob.post(url, {"refine-scope": "", "refine-tone": "friendly",
                              "refine-reading_level": "simpler", "refine-length": ""})

    # then every text block was rewritten by OpenAI
    assert response.status_code == 302
    assert response["Location"] == f"/o/acme/versions/{acme_objects.version.pk}/"
    texts = [b for s in content_of(acme_objects.version).screens for b in s.blocks
             if b.type == "text"]
    assert texts
    assert all(b.markdown.startswith("Simply put:") for b in texts)  # type: ignore[union-attr]
    assert {b.provenance.engine for b in texts} == {"fake-openai"}
    system = fake.requests[0].call.system
    assert "warm, friendly" in system
    assert "simpler words" in system
    assert "The draft was refined with AI." in _html(bob.get(response["Location"]))


def test_refine_one_screen(people: People, acme_objects: AcmeObjects,
                           fake: FakeProviders) -> None:
    _allow(people, ["fake-openai"])
    version = acme_objects.version
    response = client_for(people.bob).post(f"/o/acme/versions/{version.pk}/ai/refine/", {
        "refine-scope": "links", "refine-length": "shorter"})
    assert response["Location"] == f"/o/acme/versions/{version.pk}/#screen-links"
    content = content_of(version)
    changed = {s.id for s in content.screens
               if any(b.provenance.engine == "fake-openai" for b in s.blocks)}
    assert changed == {"links"}


def test_add_questions_to_a_screen(people: People, acme_objects: AcmeObjects,
                                   fake: FakeProviders) -> None:
    _allow(people, ["fake-openai", "fake-gemini"])
    bob = client_for(people.bob)
    version = acme_objects.version
    url = f"/o/acme/versions/{version.pk}/ai/questions/"
    before = _screen(version, "links")

    response = bob.post(url, {"questions-screen": "links", "questions-count": "9"})
    assert response.status_code == 422
    assert "Ensure this value is less than or equal to 5." in _html(response)

    # when Bob asks Gemini for two questions on the "links" screen
    response = bob.post(url, {"questions-screen": "links", "questions-count": "2",
                              "questions-provider": "fake-gemini"})

    # then the question the scripted model wrote is added at the end of the screen
    assert response["Location"] == f"/o/acme/versions/{version.pk}/#screen-links"
    after = _screen(version, "links")
    added = after.blocks[len(before.blocks):]
    assert [b.type for b in added] == ["multiple_choice"]
    assert added[0].provenance.engine == "fake-gemini"
    assert {r.flavour for r in fake.requests} == {"gemini"}
    assert "A question was added with AI" in _html(bob.get(response["Location"]))


def test_a_feature_switched_off_says_why_and_sends_nothing(
        people: People, acme_objects: AcmeObjects, fake: FakeProviders) -> None:
    # given Acme switched off regenerating screens
    _allow(people, ["fake-openai"], regenerate_screen=False)
    bob = client_for(people.bob)
    version = acme_objects.version
    page = _html(bob.get(f"/o/acme/versions/{version.pk}/"))
    assert "Redraft this screen with AI<span" not in page
    assert "Switched off in Acme's AI policy: Regenerate a screen." in page
    assert f'action="/o/acme/versions/{version.pk}/ai/refine/"' in page

    # when Bob posts from a page opened before the change
    response = bob.post(f"/o/acme/versions/{version.pk}/screens/spotting/ai/redraft/",
                        {"redraft-spotting-instruction": ""})

    # then the page says why, and nothing was sent
    assert response.status_code == 403
    assert ("Regenerate a screen is switched off in your organisation&#x27;s AI policy."
            in _html(response))
    assert fake.requests == []
    assert LedgerEntry.objects.get(org=people.acme).reason == "feature_disabled"


def test_every_provider_failing_says_so(people: People, acme_objects: AcmeObjects,
                                        fake: FakeProviders) -> None:
    _allow(people, ["fake-openai"])
    fake.always_fail("500")
    version = acme_objects.version
    before = content_of(version)
    response = client_for(people.bob).post(
        f"/o/acme/versions/{version.pk}/ai/questions/",
        {"questions-screen": "links", "questions-count": "1"})
    assert response.status_code == 502
    assert "No allowed AI provider could answer" in _html(response)
    assert content_of(version) == before


def test_only_the_offline_engine_explains_instead_of_the_tools(
        people: People, acme_objects: AcmeObjects, fake: FakeProviders) -> None:
    page = _html(client_for(people.bob).get(f"/o/acme/versions/{acme_objects.version.pk}/"))
    assert "need an AI model provider" in page
    assert "Redraft this screen with AI" not in page
    assert "/ai/refine/" not in page
    # and a post anyway is refused with the gateway's reason
    response = client_for(people.bob).post(
        f"/o/acme/versions/{acme_objects.version.pk}/ai/refine/", {"refine-tone": "formal"})
    assert response.status_code == 403
    assert "allows only the offline engine" in _html(response)
    assert not fake.requests


# --- translating a released version --------------------------------------------------------


def test_translate_an_approved_version_into_a_new_draft(
        people: People, acme_objects: AcmeObjects, fake: FakeProviders) -> None:
    # given an approved version in English
    _allow(people, ["fake-openai", "fake-azure"])
    approved = _approved(acme_objects, people)
    bob = client_for(people.bob)
    page = _html(bob.get(f"/o/acme/versions/{approved.pk}/"))
    assert "Translate into a new draft" in page
    assert _options(page, "translate-language") == ["de", "fr", "es"]
    assert "Redraft this screen with AI" not in page

    # when Bob translates it into German with Azure
    response = bob.post(f"/o/acme/versions/{approved.pk}/ai/translate/",
                        {"translate-language": "de", "translate-provider": "fake-azure"})

    # then he lands on version 2, a German draft; version 1 is unchanged
    draft = Course.objects.get(pk=acme_objects.course.pk).versions.get(number=2)
    assert response.status_code == 302
    assert response["Location"] == f"/o/acme/versions/{draft.pk}/"
    assert draft.state == "draft"
    assert content_of(draft).language == "de"
    assert content_of(approved).language == "en"
    assert {r.flavour for r in fake.requests} == {"azure"}
    page = _html(bob.get(response["Location"]))
    assert "Version 2 is a new draft in Deutsch (German), translated with AI" in page

    # and a second translation is refused while version 2 is open, with the reason
    page = _html(bob.get(f"/o/acme/versions/{approved.pk}/"))
    assert "version 2 is still a draft" in page
    assert "/ai/translate/" not in page
    response = bob.post(f"/o/acme/versions/{approved.pk}/ai/translate/",
                        {"translate-language": "fr"})
    assert response.status_code == 409
    assert "when the course has no open draft" in _html(response)


def test_translate_needs_a_language_other_than_the_current_one(
        people: People, acme_objects: AcmeObjects, fake: FakeProviders) -> None:
    _allow(people, ["fake-openai"])
    approved = _approved(acme_objects, people)
    response = client_for(people.bob).post(f"/o/acme/versions/{approved.pk}/ai/translate/",
                                           {"translate-language": "en"})
    assert response.status_code == 422
    assert "Select a valid choice." in _html(response)
    assert not fake.requests


# --- who may use them ------------------------------------------------------------------------


def _ai_posts(objects: AcmeObjects) -> list[tuple[str, dict[str, str]]]:
    v = objects.version.pk
    return [
        ("/o/{slug}/courses/brief/", {"brief-brief": "x", "brief-title": "x",
                                      "brief-language": "en"}),
        (f"/o/{{slug}}/versions/{v}/screens/spotting/ai/redraft/", {}),
        (f"/o/{{slug}}/versions/{v}/ai/refine/", {"refine-tone": "formal"}),
        (f"/o/{{slug}}/versions/{v}/ai/questions/", {"questions-screen": "links",
                                                     "questions-count": "1"}),
        (f"/o/{{slug}}/versions/{v}/ai/translate/", {"translate-language": "de"}),
    ]


def test_reviewers_may_not_use_the_ai_tools(people: People, acme_objects: AcmeObjects,
                                            fake: FakeProviders) -> None:
    _allow(people, ["fake-openai"])
    rita = client_for(people.rita)
    page = _html(rita.get(f"/o/acme/versions/{acme_objects.version.pk}/"))
    assert 'id="ai-tools"' not in page
    assert "Redraft this screen" not in page
    for url, data in _ai_posts(acme_objects):
        response = rita.post(url.format(slug="acme"), data)
        assert response.status_code == 403, url
        assert "does not allow you to" in _html(response)
    assert not fake.requests


def test_mallory_gets_404_for_acme_drafts(people: People, acme_objects: AcmeObjects,
                                          fake: FakeProviders) -> None:
    _allow(people, ["fake-openai"])
    mallory = client_for(people.mallory)
    for url, data in _ai_posts(acme_objects):
        assert mallory.post(url.format(slug="acme"), data).status_code == 404, url
        if "versions" in url:
            assert mallory.post(url.format(slug="globex"), data).status_code == 404, url
    assert not fake.requests


def test_the_cross_org_test_covers_the_new_pages() -> None:
    from tests.web.test_cross_org import _in_scope, _web_patterns

    found = {name for name, params in _web_patterns() if params and _in_scope(params)}
    assert found >= AI_PAGES

