"""``cmi5.xml`` (cmi5 course structure) and ``tincan.xml`` (TinCan/xAPI package), and the
offline validation of cmi5.xml against the cmi5 ``CourseStructure.xsd``.

Design note
-----------
- **Identifiers.** Every IRI derives from one ``activity_base`` the caller passes (exports
  pass ``<platform>/xapi/activities/courses/<course uid>``): the course is the base
  itself, an AU is ``<base>/au`` (one AU for the course) or ``<base>/au/<screen id>``
  (one AU per module, i.e. per screen). They do not depend on the version, so the
  statements of every version of a course aggregate under the same activities; they
  are the publisher ids of the cmi5 course structure (the launching LMS makes its own
  activity ids from them, and they travel in ``contextActivities.grouping``).
- **Completion rules.** An AU whose screens hold questions is ``moveOn="CompletedAndPassed"``
  with ``masteryScore`` = passing score / 100 (scaled, at most 4 decimals); one without
  questions is ``moveOn="Completed"`` and has no mastery score. ``launchMethod`` is
  ``AnyWindow``: the player runs in a frame or a window alike.
- **Modules.** The course model has screens, not modules; "one AU per module" makes each
  screen an AU whose URL is ``index.html?module=<screen id>`` (cmi5 merges that query
  with its launch parameters): the player then shows that screen and its results only.
- **Validation** uses the unchanged ``xsd/cmi5/CourseStructure.xsd`` with a parser that
  never touches the network. ``tincan.xml`` has no schema shipped here; its shape is
  Rustici's ``http://projecttincan.com/tincan.xsd`` (one activity with name,
  description and launch).
- Pure: no clock, no settings, no database; the same arguments give the same bytes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from lxml import etree

from coursewright.courses.content import CourseContent, Screen

CMI5_NS = "https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd"
TINCAN_NS = "http://projecttincan.com/tincan.xsd"
CMI5_FILE = "cmi5.xml"
TINCAN_FILE = "tincan.xml"
CMI5_XSD = Path(__file__).resolve().parent / "xsd" / "cmi5" / "CourseStructure.xsd"
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
MODULE_TYPE = "http://adlnet.gov/expapi/activities/module"
LAUNCH_FILE = "index.html"

Cmi5Layout = Literal["course", "module"]
MoveOn = Literal["NotApplicable", "Passed", "Completed", "CompletedAndPassed",
                 "CompletedOrPassed"]
LAYOUTS: tuple[Cmi5Layout, ...] = ("course", "module")


class StructureValidationError(ValueError):
    """cmi5.xml does not validate; ``errors`` lists libxml2's messages."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("cmi5.xml is not valid: " + "; ".join(errors[:5]))
        self.errors = errors


@dataclass(frozen=True)
class AuSpec:
    """One assignable unit of a course structure (what the launching system needs too)."""

    id: str  # the publisher id (IRI)
    title: str
    description: str
    url: str  # relative to the package root
    move_on: MoveOn
    mastery_score: Decimal | None
    screens: tuple[str, ...]  # the screen ids it shows
    activity_type: str


def mastery(passing_score: int) -> Decimal:
    """The scaled mastery score of a passing percentage (0 to 100 → 0 to 1, at most 4 decimals)."""
    return (Decimal(passing_score) / 100).quantize(Decimal("0.0001")).normalize()


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _has_questions(screens: list[Screen], question_ids: set[str]) -> bool:
    return any(b.id in question_ids for s in screens for b in s.blocks)


def assignable_units(content: CourseContent, *, activity_base: str,
                     layout: Cmi5Layout = "course") -> list[AuSpec]:
    """The AUs of ``content`` in ``layout`` (see the module note)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown cmi5 layout {layout!r}: use course or module")
    if not activity_base or ":" not in activity_base:
        raise ValueError("activity_base must be an absolute IRI")
    question_ids = {q.id for q in content.questions()}
    description = content.description.strip() or content.title
    groups: list[tuple[str, str, str, list[Screen], str]]
    if layout == "course":
        groups = [(f"{activity_base}/au", content.title, LAUNCH_FILE, list(content.screens),
                   COURSE_TYPE)]
    else:
        groups = [(f"{activity_base}/au/{s.id}", s.title, f"{LAUNCH_FILE}?module={s.id}",
                   [s], MODULE_TYPE) for s in content.screens]
    units = []
    for au_id, title, url, screens, kind in groups:
        scored = _has_questions(screens, question_ids)
        units.append(AuSpec(
            id=au_id, title=title,
            description=description if layout == "course" else f"{title} ({content.title})",
            url=url, move_on="CompletedAndPassed" if scored else "Completed",
            mastery_score=mastery(content.settings.passing_score) if scored else None,
            screens=tuple(s.id for s in screens), activity_type=kind))
    return units


def _text(parent: etree._Element, tag: str, value: str, language: str,
          namespace: str = CMI5_NS) -> None:
    holder = etree.SubElement(parent, f"{{{namespace}}}{tag}")
    string = etree.SubElement(holder, f"{{{namespace}}}langstring", lang=language)
    string.text = value


def _xml_bytes(root: etree._Element) -> bytes:
    body = etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def build_cmi5_xml(content: CourseContent, *, activity_base: str,
                   layout: Cmi5Layout = "course") -> bytes:
    """cmi5.xml for ``content`` (validated before it is returned)."""
    language = content.language
    root = etree.Element(f"{{{CMI5_NS}}}courseStructure", nsmap={None: CMI5_NS})
    course = etree.SubElement(root, f"{{{CMI5_NS}}}course", id=activity_base)
    _text(course, "title", content.title, language)
    _text(course, "description", content.description.strip() or content.title, language)
    for unit in assignable_units(content, activity_base=activity_base, layout=layout):
        au = etree.SubElement(root, f"{{{CMI5_NS}}}au", id=unit.id)
        au.set("moveOn", unit.move_on)
        if unit.mastery_score is not None:
            au.set("masteryScore", _decimal_text(unit.mastery_score))
        au.set("launchMethod", "AnyWindow")
        au.set("activityType", unit.activity_type)
        _text(au, "title", unit.title, language)
        _text(au, "description", unit.description, language)
        url = etree.SubElement(au, f"{{{CMI5_NS}}}url")
        url.text = unit.url
    xml = _xml_bytes(root)
    validate_cmi5_xml(xml)
    return xml


@cache
def _schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(CMI5_XSD), parser))


_validate_lock = threading.Lock()


def validate_cmi5_xml(xml_bytes: bytes) -> None:
    """Raise :class:`StructureValidationError` unless ``xml_bytes`` is a course structure
    that validates against the cmi5 CourseStructure.xsd."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    try:
        doc = etree.fromstring(xml_bytes, parser)
    except etree.XMLSyntaxError as exc:
        raise StructureValidationError([f"not well-formed XML: {exc}"]) from exc
    schema = _schema()
    with _validate_lock:
        ok = schema.validate(doc)
        errors = [f"line {e.line}: {e.message}" for e in schema.error_log]
    if not ok:
        raise StructureValidationError(errors)


def cmi5_schema_files() -> dict[str, bytes]:
    """The cmi5 schema, to ship next to cmi5.xml (as SCORM packages ship theirs)."""
    return {CMI5_XSD.name: CMI5_XSD.read_bytes()}


def build_tincan_xml(content: CourseContent, *, activity_base: str) -> bytes:
    """tincan.xml: the course as one activity launched at index.html."""
    language = content.language
    root = etree.Element(f"{{{TINCAN_NS}}}tincan", nsmap={None: TINCAN_NS})
    activities = etree.SubElement(root, f"{{{TINCAN_NS}}}activities")
    activity = etree.SubElement(activities, f"{{{TINCAN_NS}}}activity", id=activity_base,
                                type=COURSE_TYPE)
    for tag, value in (("name", content.title),
                       ("description", content.description.strip() or content.title),
                       ("launch", LAUNCH_FILE)):
        element = etree.SubElement(activity, f"{{{TINCAN_NS}}}{tag}", lang=language)
        element.text = value
    return _xml_bytes(root)
