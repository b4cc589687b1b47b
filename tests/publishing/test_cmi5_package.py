"""cmi5 and xAPI (TinCan) packages: cmi5.xml against the cmi5 CourseStructure.xsd (the
copy in the shared standards folder, not only ours), moveOn and masteryScore, one AU per
course or per module, tincan.xml, and what the player page is told."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from coursewright.courses.content import CourseContent
from coursewright.publishing.packaging import PackagingError, build_package
from coursewright.publishing.xapi_manifests import (
    CMI5_NS,
    TINCAN_NS,
    StructureValidationError,
    assignable_units,
    build_cmi5_xml,
    validate_cmi5_xml,
)
from tests.support.sample_course import sample_assets, sample_course, sample_meta

STANDARDS = Path(__file__).resolve().parents[3] / "shared" / "standards"
BASE = "https://courses.example.com/xapi/activities/courses/5b8e7c1e-0d7e-4f0e-9a53-2f0c4a2b9c11"
NS = {"c": CMI5_NS}


OURS = (Path(__file__).resolve().parents[2] / "src" / "coursewright" / "publishing" / "xsd"
        / "cmi5" / "CourseStructure.xsd")


def official_xsd() -> Path:
    """The shared standards' copy of the cmi5 schema where this checkout sits beside it
    (developer machines), else the byte-identical copy the package ships (a CI clone)."""
    shared = STANDARDS / "cmi5" / "CourseStructure.xsd"
    if shared.is_file():
        assert shared.read_bytes() == OURS.read_bytes(), "our copy of the XSD was changed"
        return shared
    return OURS


def _official_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(official_xsd())))


def _package(fmt: str, **kwargs: object) -> zipfile.ZipFile:
    data = build_package(sample_course(), fmt=fmt,  # type: ignore[arg-type]
                         meta=sample_meta(activity_base=BASE), assets=sample_assets(),
                         **kwargs)  # type: ignore[arg-type]
    return zipfile.ZipFile(io.BytesIO(data))


def _no_questions() -> CourseContent:
    data = sample_course().model_dump(mode="json")
    for screen in data["screens"]:
        screen["blocks"] = [b for b in screen["blocks"]
                            if b["type"] not in ("multiple_choice", "multiple_response",
                                                 "true_false")]
    data["screens"] = [s for s in data["screens"] if s["blocks"]]
    return CourseContent.model_validate(data)


def test_one_au_for_the_course_validates_against_the_official_schema() -> None:
    package = _package("cmi5")
    xml = package.read("cmi5.xml")
    doc = etree.fromstring(xml)
    assert _official_schema().validate(doc), _official_schema().error_log
    # the package ships the schema next to cmi5.xml, unchanged
    assert package.read("CourseStructure.xsd") == official_xsd().read_bytes()
    course = doc.find("c:course", NS)
    assert course is not None
    assert course.get("id") == BASE
    [au] = doc.findall("c:au", NS)
    assert au.get("id") == BASE + "/au"
    assert au.get("moveOn") == "CompletedAndPassed"
    assert au.get("masteryScore") == "0.8"
    assert au.get("launchMethod") == "AnyWindow"
    assert au.findtext("c:url", namespaces=NS) == "index.html"
    assert au.findtext("c:title/c:langstring", namespaces=NS) == sample_course().title


def test_one_au_per_module() -> None:
    content = sample_course(passing_score=75)
    xml = build_cmi5_xml(content, activity_base=BASE, layout="module")
    doc = etree.fromstring(xml)
    assert _official_schema().validate(doc)
    aus = doc.findall("c:au", NS)
    assert [a.get("id") for a in aus] == [f"{BASE}/au/{s.id}" for s in content.screens]
    assert [a.findtext("c:url", namespaces=NS) for a in aus] == [
        f"index.html?module={s.id}" for s in content.screens]
    question_ids = {q.id for q in content.questions()}
    for au, screen in zip(aus, content.screens, strict=True):
        scored = any(b.id in question_ids for b in screen.blocks)
        assert au.get("moveOn") == ("CompletedAndPassed" if scored else "Completed")
        assert au.get("masteryScore") == ("0.75" if scored else None)


def test_a_course_without_questions_moves_on_when_completed() -> None:
    [unit] = assignable_units(_no_questions(), activity_base=BASE)
    assert (unit.move_on, unit.mastery_score) == ("Completed", None)
    doc = etree.fromstring(build_cmi5_xml(_no_questions(), activity_base=BASE))
    au = doc.find("c:au", NS)
    assert au is not None
    assert "masteryScore" not in au.attrib


def test_an_invalid_structure_is_refused() -> None:
    with pytest.raises(StructureValidationError):
        validate_cmi5_xml(b'<courseStructure xmlns="' + CMI5_NS.encode() + b'"/>')
    with pytest.raises(ValueError, match="absolute IRI"):
        assignable_units(sample_course(), activity_base="not-an-iri")


def test_cmi5_and_xapi_packages_need_an_activity_iri() -> None:
    for fmt in ("cmi5", "xapi"):
        with pytest.raises(PackagingError, match="activity_base"):
            build_package(sample_course(), fmt=fmt,  # type: ignore[arg-type]
                          meta=sample_meta(), assets=sample_assets())


def test_the_xapi_package_has_tincan_xml() -> None:
    package = _package("xapi")
    names = set(package.namelist())
    assert "tincan.xml" in names
    assert "cmi5.xml" not in names
    assert "imsmanifest.xml" not in names
    doc = etree.fromstring(package.read("tincan.xml"))
    ns = {"t": TINCAN_NS}
    [activity] = doc.findall("t:activities/t:activity", ns)
    assert activity.get("id") == BASE
    assert activity.get("type") == "http://adlnet.gov/expapi/activities/course"
    assert activity.findtext("t:launch", namespaces=ns) == "index.html"
    assert activity.findtext("t:name", namespaces=ns) == sample_course().title


@pytest.mark.parametrize("fmt", ["cmi5", "xapi"])
def test_the_player_page_knows_its_format_and_activity(fmt: str) -> None:
    page = _package(fmt).read("index.html").decode()
    found = re.search(r'<script type="application/json" id="cw-data">(.*?)</script>', page)
    assert found is not None
    data = json.loads(found.group(1))
    assert data["format"] == fmt
    assert data["xapi"] == {"activityId": BASE}


def test_other_formats_do_not_change() -> None:
    # the xAPI data block only appears in cmi5 and xAPI builds
    page = _package("scorm2004").read("index.html").decode()
    assert '"xapi"' not in page


def test_cmi5_builds_are_reproducible() -> None:
    first = build_package(sample_course(), fmt="cmi5", meta=sample_meta(activity_base=BASE),
                          assets=sample_assets(), cmi5_layout="module")
    second = build_package(sample_course(), fmt="cmi5", meta=sample_meta(activity_base=BASE),
                           assets=sample_assets(), cmi5_layout="module")
    assert first == second
