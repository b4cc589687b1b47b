"""AI transparency (EU AI Act Art. 50(2)) in every export: IPTC digital source types per
block, screen and course in provenance.json, the page's JSON-LD and DOM, the LOM record
the SCORM manifests point to, a visible note on AI-made screens only, and a review record
that names no member of staff.

Packages are built from the database through ``publishing.actions`` (what a client LMS
receives), unzipped and parsed: JSON with ``json``, HTML and XML with lxml.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from lxml import html as lxml_html

from coursewright.ai.policy import DEFAULT_DISCLOSURE
from coursewright.audit.actor import Actor
from coursewright.courses import actions
from coursewright.courses.content import CourseContent, Provenance
from coursewright.courses.models import CourseVersion
from coursewright.courses.transparency import (
    ALGORITHMIC_MEDIA,
    COMPOSITE,
    COMPOSITE_SYNTHETIC,
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
    block_source_type,
    combined_source_type,
    reviewer_reference,
)
from coursewright.player.render import load_strings
from coursewright.publishing.actions import build_version_package
from coursewright.publishing.manifests import (
    ADLCP_12,
    ADLCP_2004,
    CP_12,
    CP_2004,
    IMSMD_12,
    LOM,
    validate_manifest,
)
from coursewright.publishing.packaging import PackageMeta, build_package
from tests.conftest import People

FORMATS = ["scorm12", "scorm2004", "html"]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
LIVE_ROLES = {"status", "alert", "log", "marquee", "timer"}

LLM = {"kind": "ai", "engine": "openai", "model": "gpt-4o-mini",
       "generated_at": "2025-06-01T08:00:00Z", "sources": ["doc-1#c1"]}


def _llm(*sources: str) -> dict[str, Any]:
    return {**LLM, "sources": list(sources)}


def llm_course_data(language: str = "en") -> dict[str, Any]:
    """Four screens: all-LLM, one LLM block (edited later), LLM + human, human only."""
    return {"title": "Handling customer data", "language": language, "screens": [
        {"id": "s-gen", "title": "Why it matters", "blocks": [
            {"id": "gen-text", "type": "text", "provenance": _llm("doc-1#c1"),
             "markdown": "Customer data is entrusted to us; losing it harms people."},
            {"id": "gen-q", "type": "true_false", "provenance": _llm("doc-1#c2"),
             "prompt": "Customer data may be copied to a private laptop.", "answer": False},
        ]},
        {"id": "s-edit", "title": "Storing data", "blocks": [
            {"id": "edit-text", "type": "text", "provenance": _llm("doc-1#c3", "doc-1#c4"),
             "markdown": "Store customer data only in the approved systems."},
        ]},
        {"id": "s-mix", "title": "Sharing data", "blocks": [
            {"id": "mix-text", "type": "text", "provenance": _llm("doc-2#c1"),
             "markdown": "Share data only with colleagues who need it for their work."},
            {"id": "mix-callout", "type": "callout", "style": "tip",
             "markdown": "Ask the privacy desk when in doubt."},
        ]},
        {"id": "s-human", "title": "Who to ask", "blocks": [
            {"id": "human-text", "type": "text",
             "markdown": "The privacy desk answers within one working day."},
        ]},
    ]}


LLM_BLOCKS = {"gen-text": TRAINED_ALGORITHMIC_MEDIA, "gen-q": TRAINED_ALGORITHMIC_MEDIA,
              "edit-text": COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
              "mix-text": TRAINED_ALGORITHMIC_MEDIA, "mix-callout": None, "human-text": None}
LLM_SCREENS = {"s-gen": TRAINED_ALGORITHMIC_MEDIA,
               "s-edit": COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
               "s-mix": COMPOSITE_SYNTHETIC, "s-human": None}


@dataclass
class Built:
    version: CourseVersion
    packages: dict[str, bytes]
    blocks: dict[str, str | None]  # expected IPTC term per block id
    screens: dict[str, str | None]  # expected IPTC term per screen id
    course: str | None


def _distinct_people(people: People) -> None:
    """Names nothing else in a package could contain by chance."""
    for user, name in ((people.rita, "Rita Quellenprüferin"), (people.bob, "Bob Autorenname"),
                       (people.alice, "Alice Eigentümerin")):
        user.display_name = name
        user.save(update_fields=["display_name"])


def _approve(version: CourseVersion, people: People) -> CourseVersion:
    version = actions.submit_for_review(version, actor=Actor.person(people.bob))
    # the cited chunks are not in the database: Rita confirms she checked the flagged text
    return actions.approve_version(version, actor=Actor.person(people.rita),
                                   confirm_unsupported=True)


def _edit_block(version: CourseVersion, screen_id: str, block_id: str, *,
                author: Any) -> CourseVersion:
    screen = next(s for s in version.content["screens"] if s["id"] == screen_id)
    blocks = []
    for block in screen["blocks"]:
        block = dict(block)
        if block["id"] == block_id:
            block["markdown"] = block["markdown"] + " A person added this sentence."
        blocks.append(block)
    return actions.update_screen(version, screen_id, {**screen, "blocks": blocks},
                                 actor=Actor.person(author))


def _packages(version: CourseVersion) -> dict[str, bytes]:
    return {fmt: build_version_package(version, fmt) for fmt in FORMATS}


@pytest.fixture
def llm_built(people: People) -> Built:
    # given a version whose blocks an LLM drafted, one of them then edited by the author
    _distinct_people(people)
    content = CourseContent.model_validate(llm_course_data())
    draft = actions.create_course(people.acme, content=content, actor=Actor.person(people.bob))
    draft = _edit_block(draft, "s-edit", "edit-text", author=people.bob)
    version = _approve(draft, people)
    return Built(version, _packages(version), LLM_BLOCKS, LLM_SCREENS, COMPOSITE_SYNTHETIC)


@pytest.fixture
def offline_built(people: People) -> Built:
    # given an offline-engine draft of the handbook: one block edited by the author, one
    # screen rewritten by hand, then approved by Rita
    from coursewright.ai.offline import draft_course
    from coursewright.ingest.convert import convert_document

    _distinct_people(people)
    doc = convert_document("handbook.docx", (FIXTURES / "handbook.docx").read_bytes(),
                           max_bytes=50 * 1024 * 1024, max_pages=1000)
    content = draft_course(doc, title=None, language="en", target_screens=8, now=NOW)
    draft = actions.create_course(people.acme, content=content, actor=Actor.person(people.bob))
    screens = draft.content["screens"]
    edited_screen, edited_block = next(
        (s["id"], b["id"]) for s in screens[1:] for b in s["blocks"] if b["type"] == "text")
    draft = _edit_block(draft, edited_screen, edited_block, author=people.bob)
    human_screen = screens[-1]["id"]
    draft = actions.update_screen(draft, human_screen, {
        "title": "Questions?", "blocks": [
            {"id": "by-hand", "type": "text", "markdown": "Ask your team lead."}]},
        actor=Actor.person(people.bob))
    version = _approve(draft, people)

    blocks: dict[str, str | None] = {}
    screen_terms: dict[str, str | None] = {}
    for screen in version.content["screens"]:
        terms = set()
        for block in screen["blocks"]:
            term = (None if block["id"] == "by-hand" else
                    COMPOSITE if block["id"] == edited_block else ALGORITHMIC_MEDIA)
            blocks[block["id"]] = term
            terms.add(term)
        screen_terms[screen["id"]] = (None if terms == {None} else
                                      ALGORITHMIC_MEDIA if terms == {ALGORITHMIC_MEDIA}
                                      else COMPOSITE)
    assert screen_terms[edited_screen] == COMPOSITE
    assert screen_terms[human_screen] is None
    assert ALGORITHMIC_MEDIA in screen_terms.values()
    return Built(version, _packages(version), blocks, screen_terms, COMPOSITE)


def _zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def _page(data: bytes) -> Any:
    return lxml_html.fromstring(_zip(data).read("index.html"))


def _linked_data(doc: Any) -> dict[str, Any]:
    (script,) = doc.xpath("//script[@type='application/ld+json']")
    parsed: dict[str, Any] = json.loads(script.text)
    return parsed


# --- the rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(("provenance", "expected"), [
    ({"kind": "ai", "engine": "openai", "model": "gpt-4o"}, TRAINED_ALGORITHMIC_MEDIA),
    ({"kind": "ai", "engine": "gemini", "model": "g", "edited": True},
     COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA),
    ({"kind": "ai", "engine": "coursewright-offline", "model": "extractive-v1"},
     ALGORITHMIC_MEDIA),
    ({"kind": "ai", "engine": "coursewright-offline", "model": "extractive-v1",
      "edited": True}, COMPOSITE),
    ({"kind": "human"}, None),
])
def test_block_source_type(provenance: dict[str, Any], expected: str | None) -> None:
    if provenance["kind"] == "ai":
        provenance = {**provenance, "generated_at": NOW}
    assert block_source_type(Provenance.model_validate(provenance)) == expected


def test_offline_engine_name_is_the_engines_own() -> None:
    from coursewright.ai.offline import ENGINE
    from coursewright.courses.transparency import OFFLINE_ENGINE

    assert ENGINE == OFFLINE_ENGINE


@pytest.mark.parametrize(("parts", "expected"), [
    ([None, None], None),
    ([TRAINED_ALGORITHMIC_MEDIA] * 2, TRAINED_ALGORITHMIC_MEDIA),
    ([TRAINED_ALGORITHMIC_MEDIA, None], COMPOSITE_SYNTHETIC),
    ([TRAINED_ALGORITHMIC_MEDIA, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA], COMPOSITE_SYNTHETIC),
    ([ALGORITHMIC_MEDIA, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA], COMPOSITE_SYNTHETIC),
    ([ALGORITHMIC_MEDIA, None], COMPOSITE),
    ([ALGORITHMIC_MEDIA, COMPOSITE], COMPOSITE),
    ([COMPOSITE], COMPOSITE),
])
def test_screens_and_courses_combine_their_parts(parts: list[str | None],
                                                 expected: str | None) -> None:
    assert combined_source_type(parts) == expected


def test_reviewer_reference_is_stable_opaque_and_per_organisation() -> None:
    acme, globex = uuid.UUID(int=1), uuid.UUID(int=2)
    ref = reviewer_reference(acme, 7)
    assert re.fullmatch(r"[0-9a-f]{32}", ref)
    assert ref == reviewer_reference(acme, 7)
    assert ref != reviewer_reference(acme, 8)
    assert ref != reviewer_reference(globex, 7)


# --- provenance.json ----------------------------------------------------------------------


@pytest.mark.parametrize("case", ["llm_built", "offline_built"])
@pytest.mark.django_db
def test_provenance_record_marks_every_block_and_screen(case: str, people: People,
                                                        request: pytest.FixtureRequest) -> None:
    built: Built = request.getfixturevalue(case)
    content = actions.validate_content(built.version.content)
    for fmt in FORMATS:
        # when the record is read back from the package
        record = json.loads(_zip(built.packages[fmt]).read("provenance.json"))

        # then every screen and block carries its exact IPTC term and its provenance
        assert record["law"] == "EU AI Act Art. 50(2)"
        assert record["vocabulary"] == "http://cv.iptc.org/newscodes/digitalsourcetype/"
        assert record["course"]["digital_source_type"] == built.course
        assert record["course"]["ai_made"] is True
        assert {s["id"]: s["digital_source_type"] for s in record["screens"]} == built.screens
        assert {s["id"]: s["ai_made"] for s in record["screens"]} == {
            sid: term is not None for sid, term in built.screens.items()}
        blocks = {b["id"]: b for s in record["screens"] for b in s["blocks"]}
        assert {bid: b["digital_source_type"] for bid, b in blocks.items()} == built.blocks
        for screen in content.screens:
            for block in screen.blocks:
                entry, p = blocks[block.id], block.provenance
                assert entry["type"] == block.type
                assert entry["engine"] == p.engine
                assert entry["model"] == p.model
                assert entry["edited"] is p.edited
                assert entry["sources"] == p.sources
                generated = p.generated_at
                assert entry["generated_at"] == (
                    generated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    if generated else None)

        # and the review record says who approved only through an opaque reference
        review = record["review"]
        approved_at = built.version.approved_at
        assert approved_at is not None
        assert review["state"] == "approved"
        assert review["approved_via"] == "web"
        assert review["approved_at"] == approved_at.astimezone(UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        assert review["reviewer_ref"] == reviewer_reference(people.acme.key_id, people.rita.pk)
        assert review["published_at"] is None


@pytest.mark.django_db
def test_llm_fixture_really_went_through_an_edit(llm_built: Built) -> None:
    blocks = {b["id"]: b for s in llm_built.version.content["screens"] for b in s["blocks"]}
    assert blocks["edit-text"]["provenance"]["edited"] is True
    assert blocks["gen-text"]["provenance"]["edited"] is False


# --- no personal data of staff ------------------------------------------------------------


@pytest.mark.parametrize("case", ["llm_built", "offline_built"])
@pytest.mark.django_db
def test_no_name_or_email_of_staff_anywhere_in_the_package(
        case: str, people: People, request: pytest.FixtureRequest) -> None:
    built: Built = request.getfixturevalue(case)
    personal = []
    for user in (people.rita, people.bob, people.alice):
        personal += [user.email, user.display_name, user.display_name.split()[1]]
    for fmt, data in built.packages.items():
        archive = _zip(data)
        blobs = [data] + [archive.read(name) for name in archive.namelist()]
        blobs += [name.encode() for name in archive.namelist()]
        for blob in blobs:
            lowered = blob.lower()
            for value in personal:
                assert value.lower().encode() not in lowered, (fmt, value)
        # the footer names the organisation that reviewed it instead
        footer = _page(data).xpath("string(//footer)")
        assert f"reviewed by {people.acme.name} on" in footer


# --- the page -----------------------------------------------------------------------------


def _in_live_region(el: Any) -> bool:
    node = el
    while node is not None:
        if node.get("aria-live") not in (None, "off") or node.get("role") in LIVE_ROLES:
            return True
        node = node.getparent()
    return False


@pytest.mark.parametrize("case", ["llm_built", "offline_built"])
@pytest.mark.django_db
def test_page_json_ld_dom_and_visible_note(case: str, request: pytest.FixtureRequest) -> None:
    built: Built = request.getfixturevalue(case)
    strings = load_strings("en")
    for fmt in FORMATS:
        doc = _page(built.packages[fmt])

        # then the JSON-LD describes the course and each screen with its IPTC term
        graph = _linked_data(doc)
        assert graph["@context"] == "https://schema.org"
        assert graph["@type"] == "Course"
        assert built.course in graph["digitalSourceType"]
        assert graph["subjectOf"]["url"] == "provenance.json"
        parts = {p["@id"]: p for p in graph["hasPart"]}
        assert set(parts) == {f"#s.{sid}" for sid in built.screens}
        for sid, term in built.screens.items():
            part = parts[f"#s.{sid}"]
            if term is None:
                assert "digitalSourceType" not in part
            else:
                (iptc,) = [v for v in part["digitalSourceType"] if "cv.iptc.org" in v]
                (schema_org,) = [v for v in part["digitalSourceType"] if "schema.org" in v]
                assert iptc == term
                assert schema_org.startswith("https://schema.org/")
                assert schema_org.endswith("DigitalSource")

        # and every block says what made it
        marked = {el.get("data-block-id"): el.get("data-digital-source-type")
                  for el in doc.xpath("//*[@data-block-id]")}
        assert marked == built.blocks

        # and each AI-made screen opens with the note, in text, outside live regions
        for sid, term in built.screens.items():
            (section,) = doc.xpath(f"//section[@data-screen-id='{sid}']")
            notes = section.xpath(".//*[contains(@class, 'cw-ai-disclosure')]")
            if term is None:
                assert notes == []
                assert section.get("data-digital-source-type") is None
                continue
            (note,) = notes
            assert note.text_content() == strings["ai_disclosure"] == DEFAULT_DISCLOSURE
            assert note.get("role") == "note"
            assert note.getprevious().tag == "h1"
            assert not _in_live_region(note)
            assert section.get("data-digital-source-type") == term


@pytest.mark.django_db
def test_manifests_name_a_lom_record_with_the_course_term(llm_built: Built) -> None:
    for fmt, cp, adlcp, md in (("scorm12", CP_12, ADLCP_12, IMSMD_12),
                               ("scorm2004", CP_2004, ADLCP_2004, LOM)):
        archive = _zip(llm_built.packages[fmt])
        manifest = archive.read("imsmanifest.xml")
        validate_manifest(manifest, fmt)  # type: ignore[arg-type]
        root = etree.fromstring(manifest)
        ns = {"cp": cp, "adlcp": adlcp, "md": md}
        assert root.xpath("cp:metadata/adlcp:location/text()", namespaces=ns) == ["metadata.xml"]
        listed = set(root.xpath("//cp:file/@href", namespaces=ns))
        assert {"metadata.xml", "provenance.json"} <= listed

        lom = etree.fromstring(archive.read("metadata.xml"))
        assert lom.tag == f"{{{md}}}lom"
        path = "md:taxonpath" if fmt == "scorm12" else "md:taxonPath"
        ids = lom.xpath(f"md:classification/{path}/md:taxon/md:id/text()", namespaces=ns)
        assert ids == [COMPOSITE_SYNTHETIC]
        source = lom.xpath(f"string(md:classification/{path}/md:source)", namespaces=ns)
        assert source.strip() == "http://cv.iptc.org/newscodes/digitalsourcetype/"
        title = lom.xpath("string(md:general/md:title)", namespaces=ns)
        assert title.strip() == "Handling customer data"

    # the HTML export carries the same record (IEEE LOM) as a file
    lom = etree.fromstring(_zip(llm_built.packages["html"]).read("metadata.xml"))
    assert lom.xpath("//lom:taxon/lom:id/text()", namespaces={"lom": LOM}) == [
        COMPOSITE_SYNTHETIC]


@pytest.mark.django_db
def test_rebuilds_from_the_database_are_byte_identical(llm_built: Built) -> None:
    version = CourseVersion.objects.get(pk=llm_built.version.pk)
    assert _packages(version) == llm_built.packages


@pytest.mark.django_db
def test_published_version_says_so(llm_built: Built, people: People) -> None:
    version = actions.publish_version(llm_built.version, actor=Actor.person(people.alice))
    record = json.loads(_zip(build_version_package(version, "html")).read("provenance.json"))
    assert record["review"]["state"] == "published"
    assert record["review"]["published_at"] is not None
    assert record["review"]["reviewer_ref"] == reviewer_reference(people.acme.key_id,
                                                                  people.rita.pk)


# --- wording ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
@pytest.mark.django_db
def test_default_note_is_translated(language: str, people: People) -> None:
    content = CourseContent.model_validate(llm_course_data(language))
    version = _approve(actions.create_course(people.acme, content=content,
                                             actor=Actor.person(people.bob)), people)
    doc = _page(build_version_package(version, "html"))
    notes = {n.text_content() for n in doc.xpath("//*[contains(@class, 'cw-ai-disclosure')]")}
    assert notes == {load_strings(language)["ai_disclosure"]}


@pytest.mark.django_db
def test_organisations_own_wording_is_used_in_every_language(
        people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    wording = "Entwurf: KI-Assistent von Acme; geprüft vom L&D-Team <Acme>."
    monkeypatch.setattr("coursewright.publishing.actions.disclosure_text", lambda org: wording)
    content = CourseContent.model_validate(llm_course_data("fr"))
    version = _approve(actions.create_course(people.acme, content=content,
                                             actor=Actor.person(people.bob)), people)
    data = build_version_package(version, "scorm2004")
    doc = _page(data)
    notes = [n.text_content() for n in doc.xpath("//*[contains(@class, 'cw-ai-disclosure')]")]
    assert notes == [wording] * 3  # s-gen, s-edit, s-mix
    assert b"<Acme>" not in _zip(data).read("index.html")  # escaped, not markup


def test_blank_wording_falls_back_to_the_default_note() -> None:
    content = CourseContent.model_validate(llm_course_data("es"))
    meta = PackageMeta(course_id="acme-1", version_number=1, approved_by="Acme",
                       approved_at=NOW, published_at=None, org_name="Acme")
    doc = _page(build_package(content, fmt="html", meta=meta, assets={}, disclosure="  "))
    notes = {n.text_content() for n in doc.xpath("//*[contains(@class, 'cw-ai-disclosure')]")}
    assert notes == {load_strings("es")["ai_disclosure"]}


def test_all_human_course_carries_no_ai_marker() -> None:
    data = llm_course_data()
    for screen in data["screens"]:
        for block in screen["blocks"]:
            block.pop("provenance", None)
    content = CourseContent.model_validate(data)
    meta = PackageMeta(course_id="acme-1", version_number=1, approved_by="Acme",
                       approved_at=NOW, published_at=None, org_name="Acme")
    package = build_package(content, fmt="scorm2004", meta=meta, assets={})
    doc = _page(package)
    assert "digitalSourceType" not in json.dumps(_linked_data(doc))
    assert not doc.xpath("//*[contains(@class, 'cw-ai-disclosure')]")
    assert not doc.xpath("//*[@data-digital-source-type]")
    lom = etree.fromstring(_zip(package).read("metadata.xml"))
    assert not lom.xpath("//lom:classification", namespaces={"lom": LOM})
    record = json.loads(_zip(package).read("provenance.json"))
    assert record["course"]["ai_made"] is False
    assert record["course"]["digital_source_type"] is None


def test_json_ld_cannot_break_out_of_its_script_element() -> None:
    data = llm_course_data()
    # (the schema strips real tags; entities survive as the characters they stand for)
    data["title"] = "Data &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &lt;!-- & more"
    data["screens"][0]["title"] = "&lt;/SCRIPT&gt;&lt;img src=x&gt;"
    content = CourseContent.model_validate(data)
    assert "</script>" in content.title
    assert content.screens[0].title.startswith("</SCRIPT>")
    meta = PackageMeta(course_id="acme-1", version_number=1, approved_by="Acme",
                       approved_at=NOW, published_at=None, org_name="Acme")
    page = _zip(build_package(content, fmt="html", meta=meta, assets={})).read("index.html")
    head = page.split(b"</head>")[0]
    assert head.count(b"<script") == 2  # the JSON-LD block and player.js
    graph = _linked_data(lxml_html.fromstring(page))
    assert graph["name"] == content.title
    assert graph["hasPart"][0]["name"] == content.screens[0].title


# --- in the browser -----------------------------------------------------------------------


@pytest.fixture
def chromium() -> Iterator[Any]:
    from tests.support.browser import launch_chromium

    with launch_chromium() as browser:
        yield browser


_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "object-src 'none'; base-uri 'none'")
_CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@pytest.mark.browser
def test_note_is_shown_on_ai_screens_only_in_chromium(chromium: Any, tmp_path: Path) -> None:
    from tests.support.browser import StaticServer, describe, run_axe, save_screenshot, serious

    # given the HTML export of the LLM course (the edited block already edited), served
    # under the player's strict CSP
    data = llm_course_data()
    data["screens"][1]["blocks"][0]["provenance"]["edited"] = True
    content = CourseContent.model_validate(data)
    meta = PackageMeta(course_id="acme-1", version_number=1, approved_by="Acme",
                       approved_at=NOW, published_at=None, org_name="Acme")
    _zip(build_package(content, fmt="html", meta=meta, assets={})).extractall(tmp_path)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(_CSP_LISTENER)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with StaticServer(tmp_path, headers={"Content-Security-Policy": _CSP}) as server:
        page.goto(f"{server.url}/index.html")
        page.wait_for_selector("html[data-player-ready]")

        # when the learner is on the first (AI-made) screen
        screen = page.locator(".cw-screen:not([hidden])")
        note = screen.locator(".cw-ai-disclosure")
        # then the note is visible, in text, and exposed to assistive technology as a note
        assert note.is_visible()
        assert note.inner_text() == DEFAULT_DISCLOSURE
        assert f"- note: {DEFAULT_DISCLOSURE}" in screen.aria_snapshot()
        assert serious(run_axe(page)) == [], describe(serious(run_axe(page)))
        shot = save_screenshot(page, "transparency-ai-screen", full_page=False)
        assert shot.is_file()

        # when the learner moves on to the screen written by a person
        for _ in range(3):
            page.locator("#cw-next").click()
        assert page.evaluate(
            "() => document.querySelector('.cw-screen:not([hidden])').dataset.screenId"
        ) == "s-human"
        # then no note is visible anywhere, and that screen has none
        assert page.locator(".cw-ai-disclosure:visible").count() == 0
        assert page.locator(".cw-screen:not([hidden]) .cw-ai-disclosure").count() == 0
        save_screenshot(page, "transparency-human-screen", full_page=False)

        # and the JSON-LD block broke nothing under the CSP
        assert page.evaluate("() => window.__csp") == []
        graph = json.loads(page.locator("script[type='application/ld+json']").text_content()
                           or "{}")
        assert graph["@type"] == "Course"
    assert not errors, errors
    context.close()
