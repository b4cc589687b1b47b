"""Package builders: manifests against the official XSDs, reproducibility, contents."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from lxml import html as lxml_html

from coursewright.courses.content import CourseContent
from coursewright.player.render import load_strings
from coursewright.publishing.manifests import (
    CP_12,
    CP_2004,
    XSD_DIR,
    ManifestValidationError,
    validate_manifest,
)
from coursewright.publishing.packaging import PackageMeta, PackagingError, build_package
from tests.support.sample_course import (
    sample_assets,
    sample_course,
    sample_course_data,
    sample_meta,
)

REPO = Path(__file__).resolve().parents[2]
STANDARDS = REPO.parent / "shared" / "standards"
SCORM = ["scorm12", "scorm2004"]
ALL = ["scorm12", "scorm2004", "html"]


def _zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


@pytest.fixture(scope="module")
def packages() -> dict[str, bytes]:
    return {fmt: build_package(sample_course(), fmt=fmt, meta=sample_meta(),  # type: ignore[arg-type]
                               assets=sample_assets()) for fmt in ALL}


def _read(packages: dict[str, bytes], fmt: str, name: str) -> bytes:
    return _zip(packages[fmt]).read(name)


# --- manifests ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", SCORM)
def test_manifest_validates_against_official_xsds(packages: dict[str, bytes], fmt: str) -> None:
    manifest = _read(packages, fmt, "imsmanifest.xml")
    validate_manifest(manifest, fmt)  # type: ignore[arg-type]
    root = etree.fromstring(manifest)
    cp = CP_2004 if fmt == "scorm2004" else CP_12
    assert root.findtext(f"{{{cp}}}metadata/{{{cp}}}schema") == "ADL SCORM"
    expected = "2004 4th Edition" if fmt == "scorm2004" else "1.2"
    assert root.findtext(f"{{{cp}}}metadata/{{{cp}}}schemaversion") == expected


def test_scorm2004_manifest_sco_and_objective(packages: dict[str, bytes]) -> None:
    root = etree.fromstring(_read(packages, "scorm2004", "imsmanifest.xml"))
    ns = {"cp": CP_2004, "adlcp": "http://www.adlnet.org/xsd/adlcp_v1p3",
          "imsss": "http://www.imsglobal.org/xsd/imsss"}
    (res,) = root.findall("cp:resources/cp:resource", ns)
    assert res.get("{http://www.adlnet.org/xsd/adlcp_v1p3}scormType") == "sco"
    assert res.get("href") == "index.html"
    measure = root.findtext(".//imsss:primaryObjective/imsss:minNormalizedMeasure",
                            namespaces=ns)
    assert measure == "0.8000"


def test_scorm12_manifest_mastery_score(packages: dict[str, bytes]) -> None:
    root = etree.fromstring(_read(packages, "scorm12", "imsmanifest.xml"))
    ns = {"cp": CP_12, "adlcp": "http://www.adlnet.org/xsd/adlcp_rootv1p2"}
    assert root.findtext(".//cp:item/adlcp:masteryscore", namespaces=ns) == "80"
    (res,) = root.findall("cp:resources/cp:resource", ns)
    assert res.get("{http://www.adlnet.org/xsd/adlcp_rootv1p2}scormtype") == "sco"


TAMPERINGS = {
    "bad scorm type": (b'scormType="sco"', b'scormType="lesson"',
                       b'scormtype="sco"', b'scormtype="lesson"'),
    "unknown element": (b"<resources>", b"<resources><bogus/>",
                        b"<resources>", b"<resources><bogus/>"),
    "no identifier": (b'<manifest ', b'<manifest bad="1" ',
                      b'<manifest ', b'<manifest bad="1" '),
    "organizations removed": (b"<organizations ", b"<xorganizations ",
                              b"<organizations ", b"<xorganizations "),
    "wrong edition": (b"2004 4th Edition", b"CAM 1.3", b"<schemaversion>1.2",
                      b"<schemaversion>1.1"),
}


@pytest.mark.parametrize("fmt", SCORM)
@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_tampered_manifest_fails_validation(packages: dict[str, bytes], fmt: str,
                                            tampering: str) -> None:
    manifest = _read(packages, fmt, "imsmanifest.xml")
    old24, new24, old12, new12 = TAMPERINGS[tampering]
    old, new = (old24, new24) if fmt == "scorm2004" else (old12, new12)
    tampered = manifest.replace(old, new, 1)
    if tampering == "organizations removed":
        tampered = tampered.replace(b"</organizations>", b"</xorganizations>", 1)
    if tampering == "no identifier":
        tampered = tampered.replace(b' identifier="cw-acme-12-v3" ', b" ", 1)
    assert tampered != manifest
    with pytest.raises(ManifestValidationError) as err:
        validate_manifest(tampered, fmt)  # type: ignore[arg-type]
    assert err.value.errors


def test_malformed_manifest_fails() -> None:
    with pytest.raises(ManifestValidationError):
        validate_manifest(b"<manifest", "scorm12")


@pytest.mark.parametrize("fmt", SCORM)
def test_course_without_questions_has_valid_manifest(fmt: str) -> None:
    data = sample_course_data()
    for screen in data["screens"]:
        screen["blocks"] = [b for b in screen["blocks"]
                            if b["type"] not in ("multiple_choice", "multiple_response",
                                                 "true_false")]
    content = CourseContent.model_validate(data)
    package = build_package(content, fmt=fmt, meta=sample_meta(),  # type: ignore[arg-type]
                            assets=sample_assets())
    manifest = _zip(package).read("imsmanifest.xml")
    validate_manifest(manifest, fmt)  # type: ignore[arg-type]
    assert b"masteryscore" not in manifest
    assert b"minNormalizedMeasure" not in manifest


@pytest.mark.parametrize("fmt", SCORM)
def test_package_ships_official_xsds_next_to_manifest(packages: dict[str, bytes],
                                                      fmt: str) -> None:
    archive = _zip(packages[fmt])
    names = set(archive.namelist())
    folder = XSD_DIR / ("scorm12" if fmt == "scorm12" else "scorm2004")
    official = STANDARDS / ("scorm12" if fmt == "scorm12" else "scorm2004-4th")
    for xsd in sorted(folder.glob("*.xsd")):
        assert xsd.name in names
        assert archive.read(xsd.name) == xsd.read_bytes()
        if official.is_dir():  # the copies are the official files, unchanged
            assert xsd.read_bytes() == (official / xsd.name).read_bytes()
    root = etree.fromstring(archive.read("imsmanifest.xml"))
    cp = CP_2004 if fmt == "scorm2004" else CP_12
    listed = {f.get("href") for f in root.iter(f"{{{cp}}}file")}
    content_files = {n for n in names if not n.endswith(".xsd") and n != "imsmanifest.xml"}
    assert listed == content_files


# --- reproducibility ----------------------------------------------------------------------

_BUILD_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.support.sample_course import sample_assets, sample_course, sample_meta
from coursewright.publishing.packaging import build_package
assets = dict(reversed(list(sample_assets().items())))
data = build_package(sample_course(), fmt=sys.argv[2], meta=sample_meta(), assets=assets)
open(sys.argv[3], "wb").write(data)
"""


@pytest.mark.parametrize("fmt", ALL)
def test_build_is_byte_identical_across_processes(tmp_path: Path, fmt: str,
                                                  packages: dict[str, bytes]) -> None:
    repo_dir = str(REPO)
    outputs = []
    for i, (tz, lang, seed) in enumerate([("UTC", "C.UTF-8", "0"),
                                          ("Pacific/Auckland", "de_DE.UTF-8", "4242")]):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "TZ"))}
        env.update(TZ=tz, LANG=lang, LC_ALL=lang, PYTHONHASHSEED=seed)
        out = tmp_path / f"{fmt}-{i}.zip"
        subprocess.run([sys.executable, "-c", _BUILD_SCRIPT, repo_dir, fmt, str(out)],
                       env=env, check=True, cwd=tmp_path, timeout=120)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] == packages[fmt]


def test_zip_entries_are_normalised(packages: dict[str, bytes]) -> None:
    archive = _zip(packages["scorm2004"])
    infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    for info in infos:
        assert info.date_time == (2025, 3, 5, 14, 30, 12)
        assert info.external_attr == 0o100644 << 16
        assert info.create_system == 3
        assert not info.filename.startswith("/")
        assert ".." not in info.filename.split("/")
        assert not info.is_dir()
        assert info.comment == b""
        assert info.extra == b""


def test_same_instant_in_another_zone_gives_same_bytes(packages: dict[str, bytes]) -> None:
    meta = sample_meta(approved_at=datetime(2025, 3, 6, 3, 30, 12,
                                            tzinfo=timezone(timedelta(hours=13))))
    data = build_package(sample_course(), fmt="scorm12", meta=meta, assets=sample_assets())
    assert data == packages["scorm12"]


def test_inputs_change_the_bytes(packages: dict[str, bytes]) -> None:
    other = build_package(sample_course(), fmt="scorm12", meta=sample_meta(version_number=4),
                          assets=sample_assets())
    assert other != packages["scorm12"]


# --- contents -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ALL)
def test_package_layout(packages: dict[str, bytes], fmt: str) -> None:
    names = set(_zip(packages[fmt]).namelist())
    sha = next(iter(sample_assets()))
    expected = {"index.html", "player/player.js", "player/player.css", "player/noscript.css",
                "ai-provenance.json", f"assets/{sha}.png"}
    assert expected <= names
    assert ("imsmanifest.xml" in names) == (fmt != "html")
    assert all(not n.endswith(".xsd") for n in names) or fmt != "html"


def _page(packages: dict[str, bytes], fmt: str = "html") -> Any:
    return lxml_html.fromstring(_read(packages, fmt, "index.html"))


def test_index_html_has_no_inline_code(packages: dict[str, bytes]) -> None:
    doc = _page(packages)
    for script in doc.iter("script"):
        # data blocks only (course data; the schema.org JSON-LD of the AI Act markers)
        assert script.get("src") or script.get("type") in ("application/json",
                                                           "application/ld+json")
        if script.get("src"):
            assert not (script.text or "").strip()
    assert not list(doc.iter("style"))
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        assert "style" not in el.attrib, el.tag
        assert not [a for a in el.attrib if a.startswith("on")], el.tag
        for attr in ("src", "href"):
            url = el.get(attr, "")
            assert not url.startswith(("/", "javascript:", "file:")), url
            assert "://" not in url or el.tag == "a", url


def test_index_html_structure_and_ai_markers(packages: dict[str, bytes]) -> None:
    doc = _page(packages, "scorm2004")
    assert doc.get("lang") == "en"
    assert doc.xpath("//meta[@name='ai-generated']/@content") == ["partial"]
    sections = doc.xpath("//section[contains(@class, 'cw-screen')]")
    assert len(sections) == 6  # five screens and the results screen
    course = sample_course()
    ai_blocks = {b.id for s in course.screens for b in s.blocks if b.provenance.kind == "ai"}
    marked = set(doc.xpath("//*[@data-provenance='ai']/@data-block-id"))
    assert marked == ai_blocks
    human = set(doc.xpath("//*[@data-provenance='human']/@data-block-id"))
    assert human
    assert not human & ai_blocks
    note = doc.xpath("string(//*[contains(@class, 'cw-ai-note')])")
    assert "AI-assisted" in note
    assert "Rita Reviewer" in note
    assert "2025-03-05" in note
    # every question is a fieldset with a legend; every choice is labelled
    for fieldset in doc.xpath("//form[contains(@class, 'cw-question')]/fieldset"):
        assert fieldset.xpath("legend")
        for inp in fieldset.xpath(".//input"):
            assert doc.xpath(f"//label[@for='{inp.get('id')}']")
    img = doc.xpath("//img")[0]
    assert img.get("alt")
    assert img.get("width") == "480"
    assert img.get("height") == "270"
    data = json.loads(doc.xpath("string(//script[@id='cw-data'])"))
    assert data["format"] == "scorm2004"
    assert data["passingScore"] == 80
    assert data["questions"]["q-delete"]["correct"] == ["false"]


def test_ai_provenance_file(packages: dict[str, bytes]) -> None:
    record = json.loads(_read(packages, "scorm12", "ai-provenance.json"))
    assert record["ai_generated"] == "partial"
    assert record["approved_by"] == "Rita Reviewer"
    assert record["approved_at"] == "2025-03-05T14:30:12Z"
    blocks = {b["block_id"]: b for b in record["blocks"]}
    course = sample_course()
    assert set(blocks) == {b.id for s in course.screens for b in s.blocks}
    sender = blocks["q-sender"]
    assert sender["kind"] == "ai"
    assert sender["engine"] == "openai-compatible"
    assert sender["model"] == "example-instruct-8b"
    assert sender["generated_at"] == "2025-03-04T09:15:00Z"
    assert sender["sources"] == ["doc-1#c2"]
    assert sender["approved_by"] == "Rita Reviewer"
    assert blocks["welcome-image"]["kind"] == "human"
    assert blocks["spotting-text"]["edited_by_human"] is True


def test_all_human_course_says_not_ai_generated() -> None:
    data = sample_course_data()
    for screen in data["screens"]:
        for block in screen["blocks"]:
            block.pop("provenance", None)
    content = CourseContent.model_validate(data)
    page = build_package(content, fmt="html", meta=sample_meta(), assets=sample_assets())
    doc = lxml_html.fromstring(_zip(page).read("index.html"))
    assert doc.xpath("//meta[@name='ai-generated']/@content") == ["false"]
    assert not doc.xpath("//*[contains(@class, 'cw-ai-note')]")


@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
def test_player_strings_complete_and_used(language: str) -> None:
    strings = load_strings(language)
    assert set(strings) == set(load_strings("en"))
    assert all(v.strip() for v in strings.values())
    content = sample_course(language=language)
    page = build_package(content, fmt="html", meta=sample_meta(), assets=sample_assets())
    doc = lxml_html.fromstring(_zip(page).read("index.html"))
    assert doc.get("lang") == language
    assert doc.xpath("string(//button[@id='cw-next'])") == strings["next"]
    assert doc.xpath("string(//a[contains(@class, 'cw-skip')])") == strings["skip_to_content"]


def test_markdown_is_sanitised_and_json_cannot_break_out() -> None:
    data = sample_course_data()
    data["title"] = "Quiz </script><script>alert(1)</script>"
    data["screens"][0]["blocks"][0]["markdown"] = (
        "[click](javascript:alert(1)) <img src=x onerror=alert(1)> **ok**"
    )
    content = CourseContent.model_validate(data)
    page = build_package(content, fmt="html", meta=sample_meta(), assets=sample_assets())
    text = _zip(page).read("index.html").decode()
    assert 'href="javascript' not in text
    assert "onerror" not in text
    assert text.count("<script") == 3  # player.js, the JSON data and the JSON-LD blocks
    doc = lxml_html.fromstring(text)
    data_json = json.loads(doc.xpath("string(//script[@id='cw-data'])"))
    assert data_json["course"]["title"].startswith("Quiz")


def test_missing_or_mismatched_asset_is_refused() -> None:
    with pytest.raises(PackagingError, match="not supplied"):
        build_package(sample_course(), fmt="html", meta=sample_meta(), assets={})
    sha = next(iter(sample_assets()))
    with pytest.raises(PackagingError, match="do not match"):
        build_package(sample_course(), fmt="html", meta=sample_meta(),
                      assets={sha: (b"not the image", "image/png")})
    real = sample_assets()[sha][0]
    with pytest.raises(PackagingError, match="unsupported"):
        build_package(sample_course(), fmt="html", meta=sample_meta(),
                      assets={sha: (real, "image/svg+xml")})


def test_package_meta_needs_aware_datetimes() -> None:
    with pytest.raises(PackagingError):
        PackageMeta(course_id="acme-1", version_number=1, approved_by="R",
                    approved_at=datetime(2025, 1, 1), published_at=None,  # noqa: DTZ001
                    org_name="Acme")
    meta = PackageMeta(course_id="acme-1", version_number=1, approved_by="R",
                       approved_at=datetime(2025, 1, 1, tzinfo=UTC), published_at=None,
                       org_name="Acme")
    assert hashlib.sha256(build_package(sample_course(), fmt="html", meta=meta,
                                        assets=sample_assets())).hexdigest()



def test_schema_loading_refuses_remote_locations() -> None:
    from coursewright.publishing import manifests

    resolver = manifests._LocalSchemasOnly((XSD_DIR / "scorm2004").resolve())
    for url in ("http://www.w3.org/2001/xml.xsd", "https://example.org/imscp_v1p1.xsd",
                str(XSD_DIR / "README.md"), "/etc/passwd"):
        with pytest.raises(ManifestValidationError):
            resolver.resolve(url, None, None)
