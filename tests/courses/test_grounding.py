"""The grounding check: AI sentences their cited source does not support are flagged,
stored encrypted on the version, shown to the reviewer, and approving over open flags
needs an explicit confirmation (action, dashboard and API alike)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coursewright.ai.offline import _QUOTES, _STRINGS, draft_course
from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.courses import actions, grounding
from coursewright.courses.content import CourseContent, TextBlock
from coursewright.courses.grounding import Flag, check_content, cited_passage, score_sentence
from coursewright.courses.models import CourseVersion
from coursewright.errors import Conflict, Forbidden, NotFound
from coursewright.ingest.convert import convert_document
from coursewright.ingest.types import ConvertedDocument, Section
from tests.ai.test_offline_engine import fire_safety_doc, generated_doc
from tests.conftest import People, client_for, key_client

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"
AI = {"kind": "ai", "engine": "test-engine", "model": "m", "generated_at": NOW.isoformat()}

SOURCE = ("Fire extinguishers must be inspected every month by a trained person. The "
          "inspection is recorded in the log book. Extinguishers older than 10 years are "
          "replaced.")


def supported(sentence: str, *passages: str, language: str = "en") -> bool:
    return score_sentence(sentence, passages or (SOURCE,), language=language).supported


# --------------------------------------------------------------------------- scoring


def test_a_sentence_of_the_source_and_a_close_paraphrase_are_supported() -> None:
    assert supported("Fire extinguishers must be inspected every month by a trained person.")
    # other inflections, another word order
    assert supported("A trained person must inspect each fire extinguisher monthly.")
    assert supported("Inspections are recorded in the log book.")


def test_a_paraphrase_with_an_invented_fact_is_flagged() -> None:
    support = score_sentence(
        "A trained person inspects extinguishers and sends the report to the fire brigade "
        "headquarters.", [SOURCE])
    assert not support.supported
    assert support.reason == grounding.UNSUPPORTED
    assert {"report", "brigade", "headquarters"} <= set(support.missing)
    # an invented name is enough, even when most words are the source's
    named = score_sentence("Fire extinguishers must be inspected every month by Acme.",
                           [SOURCE])
    assert (named.supported, named.reason, named.missing) == (False, grounding.NAMES,
                                                               ("Acme",))


def test_numbers_must_match_even_when_the_words_do() -> None:
    wrong = score_sentence("Extinguishers older than 12 years are replaced.", [SOURCE])
    assert wrong.score >= grounding.SUPPORT_THRESHOLD  # the words are all there
    assert (wrong.supported, wrong.reason, wrong.missing) == (False, grounding.NUMBERS,
                                                               ("12",))
    assert not supported("Extinguishers older than eleven years are replaced.")
    # the same value written another way is the same number
    assert supported("Extinguishers older than ten years are replaced.")
    assert supported("The limit is 2500 kg.", "The limit is 2,500 kg.")
    assert supported("Der Grenzwert liegt bei 1.5 bar.", "Der Grenzwert liegt bei 1,5 bar.",
                     language="de")
    assert supported("Submit it by 2024.", "Submit it by 03.04.2024.")


def test_german_and_french_are_folded_stemmed_and_checked() -> None:
    de = ("Feuerlöscher müssen jeden Monat von einer geschulten Person geprüft werden. "
          "Die Prüfung wird im Prüfbuch vermerkt.")
    assert supported("Feuerlöscher werden monatlich von geschulten Personen geprüft.", de,
                     language="de")
    assert supported("Die Prüfungen werden im Prüfbuch vermerkt.", de, language="de")
    assert not supported("Feuerlöscher müssen jährlich vom Hersteller ausgetauscht werden.",
                         de, language="de")
    fr = "Les extincteurs doivent être vérifiés chaque mois par une personne formée."
    assert supported("Une personne formée vérifie les extincteurs chaque mois.", fr,
                     language="fr")
    assert supported("Les extincteurs doivent etre verifies chaque mois.", fr, language="fr")
    assert not supported("Les extincteurs sont remplacés tous les cinq ans par le fabricant.",
                         fr, language="fr")
    es = "Los extintores deben revisarse cada mes por una persona formada."
    assert supported("Una persona formada revisa los extintores cada mes.", es, language="es")
    assert not supported("Los extintores se cambian cada dos años.", es, language="es")


def _course(*blocks: dict[str, Any], language: str = "en") -> CourseContent:
    return CourseContent.model_validate({"title": "Fire", "language": language, "screens": [
        {"id": "s1", "title": "Fire safety", "blocks": list(blocks)}]})


def _ai(*sources: str) -> dict[str, Any]:
    return {**AI, "sources": list(sources)}


PASSAGES = {"c-fire": cited_passage(SOURCE, headings=["Fire safety", "Extinguishers"],
                                    title="Safety handbook")}


def test_blocks_citing_nothing_or_something_unavailable_flag_every_sentence() -> None:
    content = _course(
        {"type": "text", "id": "b1", "provenance": _ai(),
         "markdown": "Fire extinguishers must be inspected every month. Keep exits clear."},
        {"type": "callout", "id": "b2", "provenance": _ai("c-gone"),
         "markdown": "Fire extinguishers must be inspected every month."})
    flags = check_content(content, PASSAGES)
    assert [(f.block_id, f.reason, f.score) for f in flags] == [
        ("b1", grounding.UNSOURCED, 0.0), ("b1", grounding.UNSOURCED, 0.0),
        ("b2", grounding.SOURCE_MISSING, 0.0)]
    assert flags[0].sentence == "Fire extinguishers must be inspected every month."


def test_what_is_checked_and_what_is_not() -> None:
    content = _course(
        {"type": "heading", "id": "h1", "provenance": _ai("c-fire"),
         "text": "Zorblax procedures"},  # a title, not a claim
        {"type": "text", "id": "human", "markdown": "Ask Zorblax about anything."},
        {"type": "multiple_choice", "id": "mc", "provenance": _ai("c-fire"),
         "prompt": "Which term completes the sentence?\n\n> Fire \\_\\_\\_\\_\\_ must be "
                   "inspected every month.",
         "choices": [{"id": "a", "text": "extinguishers", "correct": True},
                     {"id": "b", "text": "Zorblax blankets"}],  # a wrong choice is wrong
         "feedback": {"correct": "Correct. The source says: “Fire extinguishers must be "
                                 "inspected every month by a trained person.”",
                      "incorrect": "Not quite. The answer is “extinguishers”."}},
        {"type": "true_false", "id": "tf", "provenance": _ai("c-fire"), "answer": False,
         "prompt": "True or false?\n\n> Extinguishers older than 3 years are replaced.",
         "feedback": {"incorrect": "Not quite. The statement is false. The source says: "
                                   "“Extinguishers older than 10 years are replaced.”"}},
        {"type": "multiple_response", "id": "mr", "provenance": _ai("c-fire"),
         "prompt": "Which of these are covered in “Extinguishers”? Select all that apply.",
         "choices": [{"id": "a", "text": "log book", "correct": True},
                     {"id": "b", "text": "Zorblax", "feedback": "The Zorblax is made up."}],
         "feedback": {"correct": "Correct. “Extinguishers” covers: “log book”."}},
    )
    flags = check_content(content, PASSAGES)
    # only the per-choice feedback, which a learner reads as a statement, is flagged
    assert [(f.block_id, f.sentence) for f in flags] == [("mr", "The Zorblax is made up.")]


@pytest.mark.parametrize("language", sorted(_STRINGS))
def test_the_offline_engines_scaffolding_is_never_a_claim(language: str) -> None:
    # every fixed phrase of the offline engine, its slots filled with a word the source
    # does not have: only the slots are left to check
    opening, closing = _QUOTES[language]
    values = {"n": 3, "title": f"{opening}Zyxwv{closing}", "quote": f"{opening}Zyxwv.{closing}",
              "term": f"{opening}Zyxwv{closing}", "section": f"{opening}Zyxwv{closing}",
              "items": f"{opening}Zyxwv{closing}, {opening}Zyxwv{closing}",
              "topics": f"{opening}Zyxwv{closing}"}
    for key, template in _STRINGS[language].items():
        text = template.format(**values)
        block = TextBlock(type="text", id="b", markdown=text)
        claims = [claim for _, claim in grounding.block_claims(block, language)]
        words = {w for claim in claims for w in re.findall(r"\w+", claim)}
        assert words <= {"Zyxwv"}, (key, text, claims)
        assert bool(claims) == bool(set(re.findall(r"{(\w+)}", template)) - {"n"}), key


def test_a_list_of_the_sources_section_titles_is_not_a_claim() -> None:
    content = _course({"type": "text", "id": "b1", "provenance": _ai("c-fire"),
                       "markdown": "This course covers the following topics:\n\n"
                                   "- Evacuation drills\n- Zorblax maintenance"})
    flags = check_content(content, PASSAGES, titles=["Safety handbook", "Evacuation drills"])
    assert [f.sentence for f in flags] == ["Zorblax maintenance"]


def test_flags_round_trip_through_json() -> None:
    flag = Flag("s1", "b1", "A sentence.", 0.5, ("c-1",), grounding.NUMBERS, ("12",))
    assert Flag.from_json(flag.to_json()) == flag
    assert flag.reason_label == "a number or date in it is not in the cited source"


# --------------------------------------------------------------------------- offline drafts


def _titles(doc: ConvertedDocument) -> list[str]:
    def walk(sections: list[Section]) -> list[str]:
        return [t for s in sections for t in (s.title, *walk(s.children))]

    return [doc.title, *walk(doc.sections)]


def _check_offline(doc: ConvertedDocument, language: str, target: int) -> list[Flag]:
    course = draft_course(doc, title=None, language=language, target_screens=target, now=NOW)
    passages = {c.id: cited_passage(c.text, headings=c.section_path, title=doc.title)
                for c in doc.chunks}
    assert any(grounding.block_claims(b, language) for s in course.screens for b in s.blocks)
    return check_content(course, passages, titles=_titles(doc))


@pytest.mark.parametrize("name", ["handbook.pdf", "handbook.docx", "handbook.html",
                                  "deck.pptx", "twocolumn.pdf"])
def test_offline_drafts_of_the_fixture_documents_raise_no_flag(name: str) -> None:
    # the offline engine is extractive: every sentence it shows is in the chunk it cites
    doc = convert_document(name, (FIXTURES / name).read_bytes(), max_bytes=50 * 1024 * 1024,
                           max_pages=1000)
    for language in ("en", "de", "fr", "es"):
        for target in (1, 3, 25):
            assert _check_offline(doc, language, target) == [], (language, target)


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=8),
       seed=st.integers(min_value=0, max_value=10_000),
       language=st.sampled_from(["en", "de", "fr", "es"]),
       target=st.integers(min_value=1, max_value=60))
def test_offline_drafts_of_generated_documents_raise_no_flag(
        sizes: list[int], seed: int, language: str, target: int) -> None:
    assert _check_offline(generated_doc(sizes, seed=seed), language, target) == []


def test_offline_draft_of_the_fire_safety_manual_raises_no_flag() -> None:
    assert _check_offline(fire_safety_doc(), "en", 25) == []


# --------------------------------------------------------------------------- stored on versions

MARKER = "Zorblax"
CHUNKS = {
    "c-fire": (["Fire safety", "Extinguishers"], SOURCE),
    "c-exit": (["Fire safety", "Exits"], "Never block emergency exits. Keep exit routes "
                                         "clear at all times."),
}
INVENTED = f"Extinguishers are refilled by {MARKER} Ltd every 3 years."


def _document(org: Any, user: Any) -> Any:
    from coursewright.ingest.models import Document, DocumentChunk

    source = b"# Safety handbook\n"
    document = Document.objects.create(
        org=org, uploaded_by=user, filename="safety.md", source_format="md",
        size=len(source), sha256=hashlib.sha256(source).hexdigest(),
        storage_path=f"eu/org-{org.pk}/uploads/s.md", title="Safety handbook",
        markdown=source.decode(), outline=[
            {"title": "Fire safety", "level": 1, "chunk_ids": [], "children": [
                {"title": "Extinguishers", "level": 2, "chunk_ids": ["c-fire"],
                 "children": []},
                {"title": "Exits", "level": 2, "chunk_ids": ["c-exit"], "children": []}]}])
    DocumentChunk.objects.bulk_create(
        DocumentChunk(org=org, document=document, chunk_id=chunk_id, ordinal=i,
                      section_path=path, text=text, page=None)
        for i, (chunk_id, (path, text)) in enumerate(CHUNKS.items()))
    return document


def _content() -> CourseContent:
    return _course(
        {"type": "text", "id": "b1", "provenance": _ai("c-fire"),
         "markdown": f"Fire extinguishers must be inspected every month. {INVENTED}"},
        {"type": "true_false", "id": "q1", "provenance": _ai("c-exit"), "answer": False,
         "prompt": "Emergency exits may be blocked.",
         "feedback": {"incorrect": "Never block emergency exits."}},
        {"type": "text", "id": "b2", "markdown": "Ask the warden anything."})


@pytest.fixture
def draft(people: People) -> CourseVersion:
    document = _document(people.acme, people.bob)
    return actions.create_course(people.acme, content=_content(),
                                 actor=Actor.person(people.bob), source_document=document)


@pytest.fixture
def in_review(draft: CourseVersion, people: People) -> CourseVersion:
    return actions.submit_for_review(draft, actor=Actor.person(people.bob))


def _raw(column: str, pk: int) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM courses_courseversion WHERE id = %s",  # noqa: S608
                       [pk])
        return bytes(cursor.fetchone()[0])


def test_a_new_course_stores_its_flags_encrypted(draft: CourseVersion) -> None:
    # then the invented sentence, and only it, is flagged
    fresh = CourseVersion.objects.get(pk=draft.pk)
    assert [(f["block_id"], f["sentence"], f["reason"]) for f in fresh.grounding_flags] == [
        ("b1", INVENTED, grounding.UNSUPPORTED)]
    assert len(fresh.open_flags) == 1
    assert fresh.grounding["method"] == grounding.METHOD
    # and the database holds it as ciphertext only
    raw = _raw("grounding", draft.pk)
    assert MARKER.encode() not in raw
    assert b"refilled" not in raw
    event = AuditEvent.objects.get(action="course.created")
    assert (event.after["flagged_sentences"], event.after["open_flags"]) == (1, 1)


def test_editing_rechecks_and_keeps_what_a_reviewer_checked(draft: CourseVersion,
                                                            people: People) -> None:
    bob, rita = Actor.person(people.bob), Actor.person(people.rita)
    flag_id = draft.open_flags[0]["id"]

    # when Rita marks the flag as checked, then it stays, resolved, with an audit row
    version = actions.resolve_flag(draft, flag_id, actor=rita)
    assert version.open_flags == []
    assert version.grounding_flags[0]["resolved_by"] == "rita@acme.test"
    event = AuditEvent.objects.get(action="version.flag_resolved")
    assert event.after == {"flag": flag_id, "block": "b1", "flagged_sentences": 1,
                           "open_flags": 0}
    assert MARKER not in str(event.after)  # audit rows carry ids, not content
    with pytest.raises(NotFound):
        actions.resolve_flag(version, "f-nope", actor=rita)

    # when Bob edits another block, then the checked flag stays checked
    screen: dict[str, Any] = dict(version.content["screens"][0])
    blocks = [dict(b) for b in screen["blocks"]]
    blocks[2]["markdown"] = "Ask the warden, Zorblax, anything."  # human: not checked
    version = actions.update_screen(version, "s1", {**screen, "blocks": blocks}, actor=bob)
    assert [f["id"] for f in version.grounding_flags] == [flag_id]
    assert version.open_flags == []

    # when he rewrites the AI text, then his new sentence is checked (and flagged) afresh
    blocks[0]["markdown"] = "Fire extinguishers must be inspected every 2 months."
    version = actions.update_screen(version, "s1", {**screen, "blocks": blocks}, actor=bob)
    assert [(f["sentence"], f["reason"]) for f in version.open_flags] == [
        ("Fire extinguishers must be inspected every 2 months.", grounding.NUMBERS)]
    event = AuditEvent.objects.filter(action="version.screen_edited").latest("seq")
    assert event.after["open_flags"] == 1


def test_only_reviewers_mark_flags_as_checked(draft: CourseVersion, people: People) -> None:
    flag_id = draft.open_flags[0]["id"]
    from coursewright.orgs.models import ApiKey

    for actor in (Actor.person(people.bob), Actor.key(ApiKey.objects.get(org=people.acme)),
                  Actor.person(people.mallory)):
        with pytest.raises(Forbidden):
            actions.resolve_flag(draft, flag_id, actor=actor)
    assert len(CourseVersion.objects.get(pk=draft.pk).open_flags) == 1


def test_approval_over_open_flags_needs_confirmation(in_review: CourseVersion,
                                                     people: People) -> None:
    rita = Actor.person(people.rita)
    # when Rita approves without confirming, then it is refused and nothing changes
    with pytest.raises(Conflict) as refused:
        actions.approve_version(in_review, actor=rita)
    assert refused.value.code == "unsupported_claims"
    assert refused.value.details == [{"open_flags": 1}]
    in_review.refresh_from_db()
    assert in_review.state == "in_review"

    # when she confirms, then it is approved and the audit row says what she confirmed
    version = actions.approve_version(in_review, actor=rita, confirm_unsupported=True)
    assert version.state == "approved"
    event = AuditEvent.objects.get(action="version.approved")
    assert event.after["grounding"] == {"checked": True, "flags": 1, "open_flags": 1,
                                        "confirmed_unsupported": True}
    with pytest.raises(Conflict):  # the check is part of what was approved
        actions.refresh_grounding(version)


def test_approval_with_every_flag_checked_needs_no_confirmation(
        in_review: CourseVersion, people: People) -> None:
    rita = Actor.person(people.rita)
    actions.resolve_flag(in_review, in_review.open_flags[0]["id"], actor=rita)
    version = actions.approve_version(in_review, actor=rita)
    assert version.state == "approved"
    event = AuditEvent.objects.get(action="version.approved")
    assert event.after["grounding"] == {"checked": True, "flags": 1, "open_flags": 0,
                                        "confirmed_unsupported": False}


def test_a_new_draft_is_checked_and_keeps_checked_flags(in_review: CourseVersion,
                                                        people: People) -> None:
    rita = Actor.person(people.rita)
    flag_id = in_review.open_flags[0]["id"]
    actions.resolve_flag(in_review, flag_id, actor=rita)
    approved = actions.approve_version(in_review, actor=rita)
    new = actions.start_new_draft(approved.course, actor=Actor.person(people.bob))
    assert [(f["id"], f["resolved_by"]) for f in new.grounding_flags] == [
        (flag_id, "rita@acme.test")]
    # and refresh_grounding, for engines whose sources changed, writes its audit row
    refreshed = actions.refresh_grounding(new)
    assert refreshed.grounding_flags[0]["resolved_by"] == "rita@acme.test"
    assert AuditEvent.objects.filter(action="version.grounding_checked").count() == 1


@pytest.mark.usefixtures("run_jobs")
def test_a_generated_draft_of_the_handbook_has_no_flags(people: People) -> None:
    from coursewright.ai.actions import run_generation, start_generation
    from coursewright.ingest.actions import ingest_document

    bob = Actor.person(people.bob)
    document = ingest_document(people.acme, filename="handbook.html",
                               data=(FIXTURES / "handbook.html").read_bytes(), actor=bob)
    job = start_generation(document, actor=bob, enqueue=False)
    job = run_generation(job.pk)
    version = job.course.versions.get()
    assert version.grounding is not None
    assert version.grounding_flags == []


# --------------------------------------------------------------------------- review page and API


def test_review_page_shows_the_flag_and_approval_asks_for_the_box(
        in_review: CourseVersion, people: People) -> None:
    rita = client_for(people.rita)
    url = f"/o/acme/versions/{in_review.pk}/"
    page = rita.get(url).content.decode()
    assert "Source check: 1 flagged sentence" in page
    assert f"<mark>{INVENTED}</mark>" in page
    assert "not supported by the cited source" in page
    assert "I have checked the 1 flagged sentence" in page

    # when she approves without ticking the box, then the page asks for it
    response = rita.post(f"{url}approve/")
    assert response.status_code == 422
    assert "Confirm that you checked the 1 flagged sentence before approving." in (
        response.content.decode())
    in_review.refresh_from_db()
    assert in_review.state == "in_review"

    # when she ticks it, then the version is approved
    response = rita.post(f"{url}approve/", {"approve-confirm_unsupported": "on"})
    assert response.status_code == 302
    in_review.refresh_from_db()
    assert in_review.state == "approved"
    event = AuditEvent.objects.get(action="version.approved")
    assert event.after["grounding"]["confirmed_unsupported"] is True


def test_review_page_marks_a_flag_as_checked(in_review: CourseVersion,
                                             people: People) -> None:
    flag_id = in_review.open_flags[0]["id"]
    url = f"/o/acme/versions/{in_review.pk}/"
    # the author who submitted it cannot
    assert client_for(people.bob).post(url, {"flag": flag_id}).status_code == 403
    response = client_for(people.rita).post(url, {"flag": flag_id})
    assert response.status_code == 302
    assert response["Location"] == f"{url}#flag-{flag_id}"
    page = client_for(people.rita).get(url).content.decode()
    assert "Checked by rita@acme.test" in page
    assert "I have checked the" not in page  # nothing left to confirm


def test_api_shows_flags_and_approval_needs_the_confirmation(
        in_review: CourseVersion, people: People) -> None:
    rita = client_for(people.rita)
    url = f"/api/v1/versions/{in_review.pk}"
    grounding_out = rita.get(url).json()["grounding"]
    assert (grounding_out["checked"], grounding_out["flags_total"],
            grounding_out["flags_open"]) == (True, 1, 1)
    flag = grounding_out["flags"][0]
    assert (flag["sentence"], flag["reason"], flag["resolved"]) == (INVENTED, "unsupported",
                                                                   False)

    refused = rita.post(f"{url}/approve")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "unsupported_claims"
    assert refused.json()["error"]["details"] == [{"open_flags": 1}]
    bad = rita.post(f"{url}/approve", {"confirm_unsupported": "yes please"},
                    content_type="application/json")
    assert bad.status_code == 422

    approved = rita.post(f"{url}/approve", {"confirm_unsupported": True},
                         content_type="application/json")
    assert approved.status_code == 200, approved.content
    assert approved.json()["state"] == "approved"


def test_api_resolves_flags_for_reviewers_only(in_review: CourseVersion,
                                               people: People) -> None:
    flag_id = in_review.open_flags[0]["id"]
    url = f"/api/v1/versions/{in_review.pk}/grounding/{flag_id}/resolve"
    refused = key_client(people.acme_key).post(url)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "person_required"
    response = client_for(people.rita).post(url)
    assert response.status_code == 200
    assert response.json()["grounding"]["flags_open"] == 0
    assert client_for(people.rita).post(
        f"/api/v1/versions/{in_review.pk}/grounding/f-nope/resolve").status_code == 404


def test_other_organisations_see_nothing(in_review: CourseVersion, people: People) -> None:
    flag_id = in_review.open_flags[0]["id"]
    for client in (key_client(people.globex_key), client_for(people.mallory)):
        for path in (f"/api/v1/versions/{in_review.pk}/grounding/{flag_id}/resolve",
                     f"/api/v1/versions/{in_review.pk}/approve"):
            response = client.post(path, {"confirm_unsupported": True},
                                   content_type="application/json")
            assert response.status_code == 404, path
    mallory = client_for(people.mallory)
    assert mallory.post(f"/o/acme/versions/{in_review.pk}/",
                        {"flag": flag_id}).status_code == 404
    assert len(CourseVersion.objects.get(pk=in_review.pk).open_flags) == 1
