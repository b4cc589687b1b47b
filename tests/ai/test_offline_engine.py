"""The offline course engine: deterministic, extractive, cited, condensed within budget.

The documents are built by hand here (the converters are tested elsewhere): a realistic
small safety manual, a synthetic 14-chapter plant manual of ~1500 chunks with named
systems, people, numbers, lists and tables, and generated documents of any shape for the
property tests. No database is needed.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
import sys
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coursewright.ai import offline
from coursewright.ai.offline import ENGINE, MODEL, draft_course
from coursewright.courses.content import (
    CourseContent,
    HeadingBlock,
    MultipleChoiceBlock,
    MultipleResponseBlock,
    TrueFalseBlock,
)
from coursewright.ingest.types import Chunk, ConvertedDocument, Section

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)

# --------------------------------------------------------------------------- documents


class DocBuilder:
    """Builds a ConvertedDocument the way ingest does: sections, stable chunk ids."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.sections: list[Section] = []
        self.chunks: list[Chunk] = []
        self.markdown: list[str] = [f"# {title}"]
        self.paths: dict[int, tuple[str, ...]] = {}

    def section(self, title: str, parent: Section | None = None) -> Section:
        level = 1 if parent is None else parent.level + 1
        section = Section(title=title, level=level)
        (parent.children if parent else self.sections).append(section)
        self.markdown.append(f"{'#' * (level + 1)} {title}")
        self.paths[id(section)] = (*(self.paths[id(parent)] if parent else ()), title)
        return section

    def chunk(self, section: Section | None, text: str, page: int | None = None) -> Chunk:
        path = self.paths[id(section)] if section else ()
        pos = len(section.chunk_ids) if section else len(self.chunks)
        digest = hashlib.sha1(f"{'/'.join(path)}|{pos}|{text}".encode()).hexdigest()[:12]
        chunk = Chunk(
            id=f"c{digest}", ordinal=len(self.chunks), section_path=path, text=text, page=page
        )
        self.chunks.append(chunk)
        if section is not None:
            section.chunk_ids.append(chunk.id)
        self.markdown.append(text)
        return chunk

    def build(self, source_format: str = "md") -> ConvertedDocument:
        return ConvertedDocument(
            title=self.title, markdown="\n\n".join(self.markdown), sections=self.sections,
            chunks=self.chunks, page_count=None, source_format=source_format,
        )


def fire_safety_doc() -> ConvertedDocument:
    """A small, realistic policy document with a list, a table and warnings."""
    b = DocBuilder("Fire Safety at Work")
    s = b.section("Why fire safety matters")
    b.chunk(s, "Every year, workplace fires injure thousands of employees and destroy "
               "businesses. Most of these fires are preventable. The Regulatory Reform "
               "Order 2005 makes the responsible person accountable for fire safety in "
               "the building.")
    b.chunk(s, "A fire risk assessment must be reviewed at least every 12 months. "
               "The assessment identifies hazards, people at risk and the measures that "
               "remove or reduce the risk.")
    s = b.section("Preventing fires")
    b.chunk(s, "Good housekeeping is the cheapest form of fire prevention. Keep escape "
               "routes clear of boxes, bins and furniture at all times.")
    b.chunk(s, "The three elements of the fire triangle are:\n\n- heat\n- fuel\n- oxygen\n\n"
               "Removing any one of them puts the fire out.")
    b.chunk(s, "Never charge lithium batteries overnight on a desk or near paper. "
               "Portable heaters must be switched off when the office is empty.")
    s = b.section("Fire extinguishers")
    b.chunk(s, "Each extinguisher is marked with a coloured band that shows its contents. "
               "Using the wrong extinguisher can make a fire worse.\n\n"
               "| Band | Contents | Use on |\n|---|---|---|\n| Red | Water | Paper, wood |\n"
               "| Cream | Foam | Flammable liquids |\n| Black | Carbon dioxide | Electrical "
               "fires |")
    b.chunk(s, "Carbon dioxide extinguishers should never be used in a confined space. "
               "Fire wardens check every extinguisher once a month and record the check "
               "in the fire log book.")
    s = b.section("Evacuation")
    b.chunk(s, "When the alarm sounds, leave by the nearest safe exit and go to the "
               "assembly point in the north car park. Do not use the lifts.")
    b.chunk(s, "Fire wardens sweep their area and report to the incident controller "
               "within 5 minutes. Nobody may re-enter the building until the fire "
               "service gives the all-clear.")
    b.chunk(s, "Visitors are escorted by their host. The host is responsible for "
               "making sure every visitor reaches the assembly point.")
    return b.build()


_PREFIXES = [
    "Helios", "Orion", "Atlas", "Nimbus", "Vega", "Kestrel", "Falcon", "Juniper", "Cobalt",
    "Meridian", "Quartz", "Tundra", "Sierra", "Polaris", "Zephyr", "Boreal", "Cascade",
    "Granite", "Harbor", "Lumen", "Mistral", "Onyx", "Pioneer", "Redwood", "Summit",
    "Titan", "Umber", "Vertex", "Willow", "Apex",
]
_SUFFIXES = [
    "Control Unit", "Gateway", "Monitor", "Scheduler", "Relay", "Console", "Ledger",
    "Hub", "Beacon", "Array", "Controller", "Panel", "Station", "Tracker",
]
_PARTS = [
    "pressure valve", "coolant loop", "audit log", "access badge", "firmware image",
    "backup battery", "heat exchanger", "control panel", "safety interlock", "drive belt",
    "intake filter", "flow meter", "check valve", "spare fuse", "emergency stop",
    "cable tray", "drain pump", "air compressor", "smoke detector", "load cell",
    "torque wrench", "data logger", "fan assembly", "hydraulic hose", "relief valve",
    "temperature probe", "circuit breaker", "isolation switch", "oil separator",
    "vibration sensor", "gear coupling", "bearing housing", "sample port", "level gauge",
    "water softener", "dust collector", "conveyor roller", "lockout tag", "earth strap",
    "surge arrester", "pilot light", "solenoid coil", "motor starter", "spray nozzle",
    "expansion tank", "strainer basket", "signal cable", "door sensor", "key cabinet",
    "first aid kit", "eye wash station", "fire blanket", "permit board", "ladder hook",
    "rain gauge", "waste skip", "bund wall", "spill kit", "label printer", "tool trolley",
]
_PEOPLE = [
    "Dr. Amara Okafor", "Lena Fischer", "Marco Rossi", "Priya Raman", "Tomás Herrera",
    "Ingrid Nilsson", "Kwame Mensah", "Yuki Tanaka", "Fatima Zahra", "Oliver Grant",
]
_SITES = ["Northgate", "Riverside", "Eastfield", "Highmoor", "Westbrook", "Southport"]
_UNITS = ["bar", "litres per minute", "kilopascals", "degrees Celsius", "amperes", "volts"]
_ROLES = ["shift supervisor", "maintenance lead", "site engineer", "safety officer",
          "quality manager", "control room operator"]
_WINDOWS = ["night", "weekend", "Monday morning", "quarterly shutdown"]
_CHAPTERS = [
    "Introduction to the Plant", "Health and Safety", "Pumps and Valves",
    "Electrical Systems", "Cooling and Ventilation", "Control Software",
    "Inspection Routines", "Emergency Procedures", "Quality Assurance",
    "Environmental Compliance", "Spare Parts and Logistics", "Data and Reporting",
    "Contractors and Visitors", "Continuous Improvement", "Lifting Operations",
    "Chemical Handling", "Noise and Vibration", "Waste Management", "Security",
    "Training and Competence",
]
_SUBSECTIONS = [
    "Overview", "Key Components", "Daily Checks", "Common Faults", "Responsibilities",
    "Records", "Worked Example",
]
_TEMPLATES = [
    "The {sys} monitors the {part} and raises an alarm when the reading exceeds {n} {unit}.",
    "Operators must inspect the {part} every {n} days and record the result in the {sys}.",
    "In {year}, {person} introduced the {sys} to reduce unplanned downtime at the {site} "
    "site.",
    "Never open the {part} while the {sys} is still pressurised.",
    "About {pct}% of reported incidents involved the {part}, according to the {year} "
    "safety review.",
    "The {sys} connects to the {sys2} through a dedicated {part}.",
    "Note that the {part} should always be logged before the end of each shift.",
    "A typical {part} has a service life of roughly {n} months under normal load.",
    "The {role} approves every change to the {part} before work begins.",
    "If the {part} fails, the {sys} switches to the {part2} within {n} seconds.",
    "Training records for the {part} are kept for {n} years.",
    "The {site} site runs {big} inspections of the {part} every year.",
    "Important: the {part} is rated for a maximum of {n} {unit}.",
    "Technicians calibrate the {part} with the {sys} at the start of every quarter.",
    "The {part2} protects the {part} against sudden surges in demand.",
    "Most teams schedule maintenance of the {part} during the {window} window.",
    "{person} recommends testing the {part} after every firmware update, e.g. after a "
    "patch.",
    "It is easy to overlook the {part}, which is why the checklist lists it first.",
    "This step usually takes about {n} minutes per {part}.",
    "The {sys} stores readings from the {part} for {n} days before archiving them.",
    "Replacing a worn {part} early costs less than repairing the damage it causes later.",
    "The {role} keeps a spare {part} in the stores at the {site} site.",
    "Since {year}, every {part} carries a barcode that the {sys} reads automatically.",
    "A damaged {part} must be tagged out and reported to the {role} immediately.",
]


def _fill(rng: random.Random, template: str, chapter: int) -> str:
    parts = _PARTS[(chapter * 4) % len(_PARTS):] + _PARTS
    local_parts = parts[:8]
    systems = [
        _PREFIXES[(chapter * 2 + i) % len(_PREFIXES)] + " "
        + _SUFFIXES[(chapter + i) % len(_SUFFIXES)]
        for i in range(3)
    ]
    part, part2 = rng.sample(local_parts, 2)
    sys1, sys2 = rng.sample(systems, 2)
    return template.format(
        sys=sys1, sys2=sys2, part=part, part2=part2, n=rng.randint(2, 90),
        big=rng.randint(120, 4800), pct=rng.randint(5, 95), year=rng.randint(1995, 2024),
        person=rng.choice(_PEOPLE), site=rng.choice(_SITES), unit=rng.choice(_UNITS),
        role=rng.choice(_ROLES), window=rng.choice(_WINDOWS),
    )


def _paragraph(rng: random.Random, chapter: int) -> str:
    return " ".join(_fill(rng, rng.choice(_TEMPLATES), chapter) for _ in range(rng.randint(3, 6)))


def _list_chunk(rng: random.Random, chapter: int) -> str:
    parts = _PARTS[(chapter * 4) % len(_PARTS):] + _PARTS
    items = rng.sample(parts[:10], rng.randint(3, 6))
    system = f"{_PREFIXES[(chapter * 2) % len(_PREFIXES)]} {_SUFFIXES[chapter % len(_SUFFIXES)]}"
    lead = f"The {system} checklist covers:"
    return lead + "\n\n" + "\n".join(f"- {item.capitalize()}" for item in items)


def _table_chunk(rng: random.Random, chapter: int) -> str:
    parts = _PARTS[(chapter * 4) % len(_PARTS):] + _PARTS
    rows = "\n".join(
        f"| {p.capitalize()} | {rng.randint(1, 52)} weeks | {rng.choice(_ROLES).capitalize()} |"
        for p in rng.sample(parts[:8], 4)
    )
    return ("Inspection intervals for this area are summarised below.\n\n"
            "| Item | Interval | Owner |\n|---|---|---|\n" + rows)


def plant_manual(
    chapters: int = 14, chunks_per_chapter: int = 107, seed: int = 7, nested: bool = True
) -> ConvertedDocument:
    """A synthetic 100+ page manual: chapters with sub-sections, prose, lists, tables."""
    rng = random.Random(seed)
    b = DocBuilder("Northgate Plant Operations Manual")
    for c in range(chapters):
        top = b.section(f"{c + 1}. {_CHAPTERS[c % len(_CHAPTERS)]}")
        b.chunk(top, _paragraph(rng, c), page=1 + len(b.chunks) // 10)
        subs = _SUBSECTIONS[: 3 + (c % 4)]
        per_sub = max(1, (chunks_per_chapter - 1) // len(subs))
        for title in subs:
            sub = b.section(f"{c + 1}.{subs.index(title) + 1} {title}", top)
            for i in range(per_sub):
                roll = rng.random()
                if roll < 0.08:
                    text = _list_chunk(rng, c)
                elif roll < 0.12:
                    text = _table_chunk(rng, c)
                else:
                    text = _paragraph(rng, c)
                b.chunk(sub, text, page=1 + len(b.chunks) // 10)
                del i
        if not nested:
            top.chunk_ids = [cid for s in [top, *top.children] for cid in s.chunk_ids]
            top.children = []
    doc = b.build("pdf")
    doc.page_count = 1 + len(doc.chunks) // 10
    return doc


@lru_cache(maxsize=4)
def cached_manual(chapters: int = 14, chunks_per_chapter: int = 107) -> ConvertedDocument:
    return plant_manual(chapters, chunks_per_chapter)


def generated_doc(sizes: list[int], seed: int = 1) -> ConvertedDocument:
    """One top-level section per entry of ``sizes``, with that many prose chunks."""
    rng = random.Random(seed)
    b = DocBuilder("Generated Handbook")
    for c, n in enumerate(sizes):
        s = b.section(f"Topic {c + 1}: {_CHAPTERS[c % len(_CHAPTERS)]}")
        for _ in range(n):
            b.chunk(s, _paragraph(rng, c) if rng.random() > 0.1 else _list_chunk(rng, c))
    return b.build()


def draft(doc: ConvertedDocument, **kw: object) -> CourseContent:
    args: dict[str, object] = {"title": None, "language": "en", "target_screens": 25, "now": NOW}
    args.update(kw)
    return draft_course(doc, **args)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- checks


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_QUOTED = re.compile(r"(?:“(.+?)”|„(.+?)“|« (.+?) »|«(.+?)»)$")


def quoted_source(feedback: str) -> str:
    m = _QUOTED.search(feedback)
    assert m, feedback
    return next(g for g in m.groups() if g)


def word_diff(a: str, b: str) -> tuple[str, str]:
    """The words of ``a`` and of ``b`` left once their common start and end are removed."""
    wa, wb = a.split(), b.split()
    head = 0
    while head < min(len(wa), len(wb)) and wa[head] == wb[head]:
        head += 1
    tail = 0
    while tail < min(len(wa), len(wb)) - head and wa[-1 - tail] == wb[-1 - tail]:
        tail += 1
    return " ".join(wa[head : len(wa) - tail]), " ".join(wb[head : len(wb) - tail])


def represented(course: CourseContent, title: str) -> bool:
    return any(s.title == title for s in course.screens) or any(
        isinstance(b, HeadingBlock) and b.text == title
        for s in course.screens for b in s.blocks
    )


def assert_every_block_cites(course: CourseContent) -> None:
    """When every section has text, every block (scaffolding too) cites a chunk."""
    for screen in course.screens:
        for block in screen.blocks:
            assert block.provenance.sources, (screen.title, block)


def assert_well_formed(course: CourseContent, doc: ConvertedDocument, target: int) -> None:
    """The invariants every draft must satisfy."""
    assert 1 <= len(course.screens) <= max(1, target)
    again = CourseContent.model_validate(course.model_dump())
    assert again == course
    assert CourseContent.model_validate_json(course.model_dump_json()) == course
    ids = {c.id for c in doc.chunks}
    texts = {c.id: _norm(c.text) for c in doc.chunks}
    for section in doc.sections:
        assert represented(course, section.title), section.title
    for screen in course.screens:
        assert re.fullmatch(r"s\d{2,3}", screen.id)
        for block in screen.blocks:
            assert block.id.startswith(screen.id + "-b")
            p = block.provenance
            assert p.kind == "ai"
            assert p.engine == ENGINE
            assert p.model == MODEL
            assert p.generated_at == NOW
            assert set(p.sources) <= ids, (block.id, p.sources)
    for q in course.questions():
        cited = [texts[s] for s in q.provenance.sources]
        assert cited, q.id
        if isinstance(q, MultipleChoiceBlock):
            right = [c for c in q.choices if c.correct]
            assert len(right) == 1
            assert any(right[0].text in t for t in cited), (right[0].text, cited)
            keys = [c.text.casefold() for c in q.choices]
            assert len(set(keys)) == len(keys), keys
            assert len(q.choices) >= 3
            # The blanked sentence is a source sentence with the answer put back.
            stem = q.prompt.split("\n\n> ", 1)[1]
            restored = stem.replace(r"\_\_\_\_\_", right[0].text, 1)
            assert any(restored in t for t in cited), restored
            assert quoted_source(q.feedback.correct) == restored
        elif isinstance(q, TrueFalseBlock):
            statement = q.prompt.split("\n\n> ", 1)[1]
            source = quoted_source(q.feedback.correct)
            assert any(source in t for t in cited), source
            if q.answer:
                assert statement == source
            else:
                # One key term swapped for another term of the document.
                assert not any(statement in t for t in texts.values())
                swapped_in, swapped_out = word_diff(statement, source)
                assert 1 <= len(swapped_out.split()) <= 6, (statement, source)
                assert swapped_in.strip(".,;:!") in " ".join(texts.values()), swapped_in
        elif isinstance(q, MultipleResponseBlock):
            keys = [c.text.casefold() for c in q.choices]
            assert len(set(keys)) == len(keys), keys
            assert any(c.correct for c in q.choices)
            assert any(not c.correct for c in q.choices)
            for c in q.choices:
                assert any(c.text in t for t in cited) == c.correct, (c.text, cited)


# --------------------------------------------------------------------------- tests


def test_small_manual_draft_is_well_formed_and_readable() -> None:
    doc = fire_safety_doc()
    course = draft(doc)
    assert_well_formed(course, doc, 25)
    assert_every_block_cites(course)
    assert course.title == "Fire Safety at Work"
    assert course.language == "en"
    first = course.screens[0]
    assert first.title == "Fire Safety at Work"
    overview = "\n".join(b.markdown for b in first.blocks if b.type == "text")
    for section in doc.sections:
        assert section.title in overview
    assert len(course.questions()) >= 3
    kinds = {q.type for q in course.questions()}
    assert {"multiple_choice", "true_false"} <= kinds
    # Warnings from the source become callouts; the source table is kept.
    callouts = [b for s in course.screens for b in s.blocks if b.type == "callout"]
    assert any(b.style == "warning" for b in callouts)
    tables = [b for s in course.screens for b in s.blocks
              if b.type == "text" and "| Band | Contents |" in b.markdown]
    assert tables


def test_draft_is_deterministic() -> None:
    doc = cached_manual()
    a = draft(doc)
    b = draft(plant_manual())
    assert a.model_dump() == b.model_dump()
    assert a.model_dump_json() == draft(doc).model_dump_json()


def test_draft_does_not_depend_on_hash_seed() -> None:
    """Set/dict iteration order changes with PYTHONHASHSEED; the draft must not."""
    script = (
        "import hashlib, importlib.util, sys;"
        f"spec = importlib.util.spec_from_file_location('t', {str(Path(__file__))!r});"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
        "c = m.draft(m.plant_manual(6, 40));"
        "print(hashlib.sha256(c.model_dump_json().encode()).hexdigest())"
    )
    digests = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True,
            check=True, timeout=120,
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_big_manual_is_condensed_not_truncated() -> None:
    doc = cached_manual()
    assert len(doc.sections) == 14
    assert len(doc.chunks) >= 1400
    course = draft(doc)
    assert_well_formed(course, doc, 25)
    assert len(course.screens) <= 25
    assert course.screens[0].title == doc.title
    assert course.screens[-1].title == "Summary and quiz"
    # Roughly one question per 2-3 content screens, and the quiz at the end.
    questions = course.questions()
    content = [s for s in course.screens[1:-1] if s.title != "Check your understanding"]
    assert len(content) >= len(doc.sections)
    assert len(questions) >= len(content) / 3
    assert {q.type for q in questions} == {"multiple_choice", "true_false", "multiple_response"}
    assert_every_block_cites(course)


@pytest.mark.parametrize("target", [1, 2, 3, 5, 8, 14, 16, 40, 120])
def test_budget_respected_for_big_manual(target: int) -> None:
    doc = cached_manual()
    course = draft(doc, target_screens=target)
    assert_well_formed(course, doc, target)
    if target >= len(doc.sections) + 2:
        # Enough room for a screen per chapter: chapters are screen titles.
        titles = [s.title for s in course.screens]
        assert all(any(t.startswith(sec.title) for t in titles) for sec in doc.sections)


def test_merged_screens_have_a_heading_per_section() -> None:
    doc = cached_manual()
    course = draft(doc, target_screens=6)  # intro + 4 content + quiz for 14 chapters
    content = course.screens[1:-1]
    assert len(content) == 4
    headings = [b.text for s in content for b in s.blocks if isinstance(b, HeadingBlock)]
    assert headings[: len(doc.sections)] == [s.title for s in doc.sections][: len(headings)]
    for section in doc.sections:
        assert section.title in headings


def test_flat_sections_and_nested_sections_both_work() -> None:
    flat = plant_manual(5, 40, nested=False)
    course = draft(flat, target_screens=12)
    assert_well_formed(course, flat, 12)


@settings(
    max_examples=40, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    target=st.integers(min_value=3, max_value=60),
    sizes=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=40),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_budget_and_representation_property(target: int, sizes: list[int], seed: int) -> None:
    doc = generated_doc(sizes, seed)
    course = draft(doc, target_screens=target)
    assert_well_formed(course, doc, target)


@settings(max_examples=25, deadline=None, database=None)
@given(
    target=st.integers(min_value=1, max_value=60),
    sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=12),
    language=st.sampled_from(["en", "de", "fr", "es"]),
)
def test_any_budget_any_language_validates(target: int, sizes: list[int], language: str) -> None:
    doc = generated_doc(sizes)
    course = draft(doc, target_screens=target, language=language)
    assert course.language == language
    assert_well_formed(course, doc, target)


def test_questions_cite_their_answers_and_distractors_differ() -> None:
    doc = cached_manual()
    course = draft(doc, target_screens=40)
    assert_well_formed(course, doc, 40)
    texts = {c.id: _norm(c.text) for c in doc.chunks}
    mcs = [q for q in course.questions() if isinstance(q, MultipleChoiceBlock)]
    assert mcs
    for q in mcs:
        right = next(c for c in q.choices if c.correct)
        stem = q.prompt.split("\n\n> ", 1)[1]
        for wrong in (c for c in q.choices if not c.correct):
            assert wrong.text.casefold() != right.text.casefold()
            # A distractor is not simply the word already in the sentence.
            assert wrong.text.casefold() not in stem.casefold()
            # Distractors come from the document too.
            assert any(wrong.text in t for t in texts.values())
        assert q.feedback.correct.startswith("Correct.")
        assert q.feedback.incorrect.startswith("Not quite.")
        assert right.text in q.feedback.incorrect
    tfs = [q for q in course.questions() if isinstance(q, TrueFalseBlock)]
    assert tfs


def test_every_shown_sentence_comes_from_the_cited_chunks() -> None:
    doc = fire_safety_doc()
    course = draft(doc)
    texts = {c.id: _norm(c.text) for c in doc.chunks}
    for screen in course.screens[1:]:
        for block in screen.blocks:
            if block.type == "text" and block.markdown.startswith("- "):
                cited = " ".join(texts[s] for s in block.provenance.sources)
                for line in block.markdown.splitlines():
                    sentence = line.removeprefix("- ")
                    assert sentence in cited or sentence.startswith("“"), sentence
            if block.type == "callout":
                cited = " ".join(texts[s] for s in block.provenance.sources)
                assert block.markdown in cited


def test_tiny_document_yields_a_course() -> None:
    b = DocBuilder("Memo")
    b.chunk(None, "The office closes at 6 pm on Fridays during the summer months.")
    doc = b.build("txt")
    course = draft(doc)
    assert_well_formed(course, doc, 25)
    assert course.title == "Memo"
    assert any(
        "The office closes at 6 pm" in getattr(blk, "markdown", "")
        for s in course.screens for blk in s.blocks
    )
    for target in (1, 2, 3):
        assert_well_formed(draft(doc, target_screens=target), doc, target)


def test_empty_document_still_validates() -> None:
    doc = ConvertedDocument(title="", markdown="", sections=[], chunks=[])
    course = draft(doc, title="Blank")
    assert course.title == "Blank"
    assert len(course.screens) == 1
    CourseContent.model_validate(course.model_dump())


def test_headingless_document_is_split_by_position() -> None:
    rng = random.Random(3)
    b = DocBuilder("Untitled notes")
    for i in range(60):
        b.chunk(None, _paragraph(rng, i // 10))
    doc = b.build("txt")
    assert not doc.sections
    course = draft(doc)
    assert_well_formed(course, doc, 25)
    titles = [s.title for s in course.screens]
    assert "Part 1" in titles
    assert "Part 2" in titles
    assert len(course.questions()) >= 3
    # Every chunk's unit shows up: the key points span the whole document.
    cited = {src for s in course.screens for b in s.blocks for src in b.provenance.sources}
    first_half = {c.id for c in doc.chunks[:30]}
    assert cited & first_half
    assert cited - first_half


def test_single_wrapper_section_uses_its_chapters() -> None:
    b = DocBuilder("Wrapped")
    rng = random.Random(5)
    top = b.section("Employee Handbook")
    for c in range(4):
        chapter = b.section(_CHAPTERS[c], top)
        for _ in range(6):
            b.chunk(chapter, _paragraph(rng, c))
    doc = b.build()
    course = draft(doc)
    assert_well_formed(course, doc, 25)
    titles = [s.title for s in course.screens]
    for chapter in doc.sections[0].children:
        assert any(t.startswith(chapter.title) for t in titles)


def test_unsafe_and_odd_input_is_sanitised() -> None:
    b = DocBuilder("<b>Odd</b> & Ends")
    s = b.section("<script>alert(1)</script>")
    b.chunk(s, "Use <b>bold</b> tags sparingly & carefully in the Helios Control Unit. "
               "The backup battery lasts 12 hours in the Orion Gateway when fully charged. "
               "```\ncode block that is not prose.\n```")
    s2 = b.section("   ")
    b.chunk(s2, "![diagram](x.png) The coolant loop is flushed every 30 days by the "
                "site engineer at the Northgate site.")
    s3 = b.section("Empty section")
    del s3
    doc = b.build()
    course = draft(doc)
    CourseContent.model_validate(course.model_dump())
    assert len(course.screens) <= 25
    dumped = course.model_dump_json()
    assert "<script" not in dumped
    assert "<b>" not in dumped
    assert represented(course, "Empty section")


def test_languages_translate_fixed_strings() -> None:
    doc = fire_safety_doc()
    seen: dict[str, str] = {}
    for language in ("en", "de", "fr", "es"):
        course = draft(doc, language=language)
        assert course.language == language
        assert_well_formed(course, doc, 25)
        heading = next(b.text for b in course.screens[0].blocks if isinstance(b, HeadingBlock))
        prompt = course.questions()[0].prompt
        seen[language] = f"{heading}|{course.screens[-1].title}|{prompt}"
    assert len(set(seen.values())) == 4
    assert seen["de"].startswith("Überblick")
    assert seen["fr"].startswith("Vue d’ensemble")
    assert seen["es"].startswith("Visión general")
    # Every language has every string.
    assert all(offline._STRINGS[lang].keys() == offline._STRINGS["en"].keys()
               for lang in ("de", "fr", "es"))


def test_progress_is_reported() -> None:
    calls: list[tuple[int, str]] = []
    draft(fire_safety_doc(), progress=lambda p, s: calls.append((p, s)))
    percents = [p for p, _ in calls]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    assert len(calls) >= 3
    assert all(stage for _, stage in calls)


def test_user_title_wins() -> None:
    course = draft(fire_safety_doc(), title="  Fire Safety 101 ")
    assert course.title == "Fire Safety 101"
    assert course.screens[0].title == "Fire Safety 101"


def test_partition_is_contiguous_and_balanced() -> None:
    part = offline._partition
    assert part([], 3) == []
    assert part([1, 1, 1], 5) == [[0], [1], [2]]
    groups = part([10, 1, 1, 1, 1, 10], 3)
    assert [i for g in groups for i in g] == list(range(6))
    assert all(groups)
    assert groups[0] == [0]
    assert groups[-1] == [5]


@settings(database=None)
@given(
    weights=st.lists(st.floats(min_value=0, max_value=1000), min_size=1, max_size=80),
    k=st.integers(min_value=1, max_value=100),
)
def test_partition_property(weights: list[float], k: int) -> None:
    groups = offline._partition(weights, k)
    assert len(groups) == min(k, len(weights))
    assert all(groups)
    assert [i for g in groups for i in g] == list(range(len(weights)))


def test_a_300_page_document_drafts_a_well_formed_course() -> None:
    # how fast is bench/document_to_draft.py's to say (bench/RESULTS.md), not a test's
    doc = plant_manual(14, 215, seed=11)  # ~3000 chunks
    assert len(doc.chunks) >= 2900
    course = draft(doc)
    assert_well_formed(course, doc, 25)


_PIECES = [
    *"abcdefgh XYZ.,:;!?-*_#|`<>&\"'()[]\n\t0123456789%éßü“”«»",
    "<script>", "</b>", "&amp;", "&lt;b&gt;", "```", "| a | b |\n|---|---|\n", "- item\n",
    "# H\n", "The pump must run. ", "Never stop the Orion Gateway. ", "e.g. ", "Dr. Who ",
    "ISO 9001 ", "the valve is open. ", "12 bar ", "40% ", "In 2019, ", "\n\n",
]
_JUNK = st.lists(st.sampled_from(_PIECES), max_size=80).map("".join)


@settings(
    max_examples=60, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    texts=st.lists(_JUNK, max_size=12),
    titles=st.lists(st.text(max_size=40), max_size=6),
    layout=st.lists(st.integers(min_value=-1, max_value=8), max_size=12),
    nest=st.booleans(),
    target=st.integers(min_value=-3, max_value=600),
    language=st.sampled_from(["en", "de", "fr", "es", "xx", ""]),
    title=st.one_of(st.none(), st.text(max_size=20)),
)
def test_arbitrary_input_never_breaks(
    texts: list[str], titles: list[str], layout: list[int], nest: bool, target: int,
    language: str, title: str | None,
) -> None:
    """Junk text, odd titles, dangling and duplicate chunk ids: still a valid course."""
    chunks = [
        Chunk(id=f"k{i % 9}", ordinal=(i * 7) % 5, section_path=(), text=t)
        for i, t in enumerate(texts)
    ]
    sections = [Section(title=t, level=1) for t in titles]
    for i, where in enumerate(layout):
        if sections and where >= 0:
            target_section = sections[where % len(sections)]
            if nest and where % 2:
                if not target_section.children:
                    target_section.children.append(Section(title=f"{where}", level=2))
                target_section = target_section.children[0]
            target_section.chunk_ids.append(f"k{i % 11}")
    doc = ConvertedDocument(title="", markdown="", sections=sections, chunks=chunks)
    course = draft_course(doc, title=title, language=language, target_screens=target, now=NOW)
    assert 1 <= len(course.screens) <= max(1, min(target, 500))
    assert CourseContent.model_validate(course.model_dump()) == course


def test_passages_are_placed_by_section_path_when_sections_list_no_ids() -> None:
    rng = random.Random(9)
    chunks = [
        Chunk(id=f"p{i:03d}", ordinal=i, section_path=(_CHAPTERS[i // 5], "Detail"),
              text=_paragraph(rng, i // 5))
        for i in range(20)
    ]
    sections = [Section(title=_CHAPTERS[c], level=1) for c in range(4)]
    doc = ConvertedDocument(title="Paths only", markdown="", sections=sections, chunks=chunks)
    course = draft(doc)
    assert_well_formed(course, doc, 25)
    by_title = {s.title: s for s in course.screens}
    for c in range(4):
        screen = by_title[_CHAPTERS[c]]
        cited = {src for b in screen.blocks for src in b.provenance.sources}
        assert cited <= {f"p{i:03d}" for i in range(c * 5, c * 5 + 5)}


def test_slide_deck_of_bullets_yields_key_points_and_questions() -> None:
    """PPTX-like input: every passage is a short bulleted slide."""
    rng = random.Random(4)
    b = DocBuilder("Induction Slides")
    for c in range(6):
        s = b.section(_CHAPTERS[c])
        for _ in range(3):
            bullets = [_fill(rng, rng.choice(_TEMPLATES), c) for _ in range(4)]
            b.chunk(s, "\n".join(f"- {x}" for x in bullets), page=len(b.chunks) + 1)
    doc = b.build("pptx")
    course = draft(doc)
    assert_well_formed(course, doc, 25)
    assert_every_block_cites(course)
    assert len(course.questions()) >= 3


def test_sections_without_text_are_still_listed() -> None:
    b = DocBuilder("Sparse")
    rng = random.Random(2)
    for c in range(8):
        s = b.section(_CHAPTERS[c])
        if c % 3 == 1:
            continue  # a heading with nothing under it
        for _ in range(4):
            b.chunk(s, _paragraph(rng, c))
    doc = b.build()
    for target in (3, 4, 6, 25):
        course = draft(doc, target_screens=target)
        assert_well_formed(course, doc, target)
