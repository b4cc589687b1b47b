"""imsmanifest.xml for SCORM 1.2 and SCORM 2004 4th edition, and offline validation.

One organisation, one item, one SCO (``index.html``) whose resource lists every file of
the package. SCORM 2004: the item's primary objective is satisfied by measure with
``minNormalizedMeasure`` = passing score / 100 (so the LMS hands the SCO
``cmi.scaled_passing_score``), completion and objective status are set by content, and
the LMS's own previous/continue buttons are hidden (the player navigates itself).
SCORM 1.2: ``adlcp:masteryscore`` = passing score. Courses without questions carry no
mastery score and no measured objective.

Metadata (AI transparency, EU AI Act Art. 50(2)): the manifest's ``<metadata>`` names
``metadata.xml`` with ``adlcp:location``, the place both editions give for a metadata
record (SCORM 1.2 allows only elements of imported schemas there, so inline LOM would
not validate). ``metadata.xml`` is a LOM record in the edition's binding (IMS MD 1.2.1
for SCORM 1.2, IEEE LOM for SCORM 2004 and the HTML export): title, language,
description, format and, when any block is machine-made, a ``classification`` whose
taxon is the course's IPTC digital source type (a controlled vocabulary is what LOM
classification is for), pointing to ``provenance.json`` for screens and blocks.

``validate_manifest`` checks a manifest against the official ADL/IMS schemas copied
unchanged into ``xsd/`` — offline: a small in-memory wrapper schema imports each
namespace from the local files, the parser never touches the network, and any schema
location outside ``xsd/`` is refused.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from coursewright.courses.content import CourseContent
from coursewright.courses.transparency import IPTC_NAMES, IPTC_SCHEME, LAW

ScormFormat = Literal["scorm2004", "scorm12"]

XSD_DIR = Path(__file__).resolve().parent / "xsd"
_XSD_SUBDIR: dict[str, str] = {"scorm12": "scorm12", "scorm2004": "scorm2004"}

XSI = "http://www.w3.org/2001/XMLSchema-instance"

# SCORM 2004 4th edition
CP_2004 = "http://www.imsglobal.org/xsd/imscp_v1p1"
ADLCP_2004 = "http://www.adlnet.org/xsd/adlcp_v1p3"
ADLSEQ_2004 = "http://www.adlnet.org/xsd/adlseq_v1p3"
ADLNAV_2004 = "http://www.adlnet.org/xsd/adlnav_v1p3"
IMSSS = "http://www.imsglobal.org/xsd/imsss"
_SCHEMAS_2004 = {
    CP_2004: "imscp_v1p1.xsd",
    ADLCP_2004: "adlcp_v1p3.xsd",
    ADLSEQ_2004: "adlseq_v1p3.xsd",
    ADLNAV_2004: "adlnav_v1p3.xsd",
    IMSSS: "imsss_v1p0.xsd",
}

# SCORM 1.2
CP_12 = "http://www.imsproject.org/xsd/imscp_rootv1p1p2"
ADLCP_12 = "http://www.adlnet.org/xsd/adlcp_rootv1p2"
IMSMD_12 = "http://www.imsglobal.org/xsd/imsmd_rootv1p2p1"
_SCHEMAS_12 = {
    CP_12: "imscp_rootv1p1p2.xsd",
    IMSMD_12: "imsmd_rootv1p2p1.xsd",
    ADLCP_12: "adlcp_rootv1p2.xsd",
}
# IMS MD 1.2.1 has content models libxml2 rejects as non-deterministic (a known flaw of
# that schema). Our manifests use no IMS MD element, so validation imports only these:
_VALIDATE_12 = {CP_12: "imscp_rootv1p1p2.xsd", ADLCP_12: "adlcp_rootv1p2.xsd"}

LOM = "http://ltsc.ieee.org/xsd/LOM"
XML_NS = "http://www.w3.org/XML/1998/namespace"

_SCHEMAVERSION = {"scorm2004": "2004 4th Edition", "scorm12": "1.2"}
LAUNCH_FILE = "index.html"
METADATA_FILE = "metadata.xml"


class ManifestValidationError(ValueError):
    """The manifest does not validate; ``errors`` lists libxml2's messages."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("imsmanifest.xml is not valid: " + "; ".join(errors[:5]))
        self.errors = errors


def ncname(value: str) -> str:
    """A string usable as an xsd:ID (NCName): letters, digits, ``._-``; never a digit first."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", value).strip("._-") or "course"
    return cleaned if cleaned[0].isalpha() or cleaned[0] == "_" else f"_{cleaned}"


def schema_files(fmt: ScormFormat) -> dict[str, bytes]:
    """The official XSD files of ``fmt``, by file name, to put next to imsmanifest.xml."""
    folder = XSD_DIR / _XSD_SUBDIR[fmt]
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.xsd"))}


def _mastery_score(content: CourseContent) -> int | None:
    return content.settings.passing_score if content.questions() else None


def build_manifest(
    content: CourseContent,
    *,
    fmt: ScormFormat,
    course_id: str,
    version_number: int,
    files: Iterable[str],
    metadata_location: str | None = None,
) -> bytes:
    """imsmanifest.xml (UTF-8 bytes) for a one-SCO package whose resource lists ``files``;
    ``metadata_location`` names the package's metadata record (``adlcp:location``)."""
    base = ncname(f"cw-{course_id}-v{version_number}")
    ids = {"manifest": base, "org": f"{base}-org", "item": f"{base}-item", "res": f"{base}-sco"}
    file_list = sorted(set(files))
    if LAUNCH_FILE not in file_list:
        raise ValueError(f"the package must contain {LAUNCH_FILE}")
    if metadata_location is not None and metadata_location not in file_list:
        raise ValueError(f"the package must contain its metadata file {metadata_location}")
    if fmt == "scorm2004":
        root = _manifest_2004(content, ids, str(version_number), file_list, metadata_location)
    elif fmt == "scorm12":
        root = _manifest_12(content, ids, str(version_number), file_list, metadata_location)
    else:  # pragma: no cover - guarded by the type
        raise ValueError(f"unknown SCORM format {fmt!r}")
    return _xml_bytes(root)


def _xml_bytes(root: etree._Element) -> bytes:
    body = etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def build_metadata(
    content: CourseContent,
    *,
    binding: Literal["imsmd", "lom"],
    course_id: str,
    version_number: int,
    source_type: str | None,
    provenance_file: str,
) -> bytes:
    """The package's LOM record (``metadata.xml``): ``binding`` "imsmd" is IMS MD 1.2.1
    (SCORM 1.2), "lom" the IEEE LOM XML binding (SCORM 2004, HTML export).

    ``source_type`` is the course's IPTC digital source type (None: no block is
    machine-made, so no classification is written)."""
    lang = content.language
    identifier = f"{course_id}-v{version_number}"
    note = (f"How this course was made ({LAW}): IPTC digital source type of the course; "
            f"each screen and block: {provenance_file}")
    if binding == "imsmd":
        md = f"{{{IMSMD_12}}}"

        def text(parent: etree._Element, tag: str, value: str,
                 language: str | None = lang) -> None:
            wrapper = _sub(parent, f"{md}{tag}")
            string = _sub(wrapper, f"{md}langstring", value)
            if language:
                string.set(f"{{{XML_NS}}}lang", language)

        root = etree.Element(f"{md}lom", nsmap={None: IMSMD_12})
        general = _sub(root, f"{md}general")
        _sub(general, f"{md}identifier", identifier)
        text(general, "title", content.title)
        _sub(general, f"{md}language", lang)
        if content.description:
            text(general, "description", content.description)
        technical = _sub(root, f"{md}technical")
        _sub(technical, f"{md}format", "text/html")
        if source_type:
            classification = _sub(root, f"{md}classification")
            path = _sub(classification, f"{md}taxonpath")
            text(path, "source", IPTC_SCHEME, language=None)
            taxon = _sub(path, f"{md}taxon")
            _sub(taxon, f"{md}id", source_type)
            text(taxon, "entry", IPTC_NAMES[source_type], language="en")
            text(classification, "description", note, language="en")
        return _xml_bytes(root)

    lo = f"{{{LOM}}}"

    def string(parent: etree._Element, tag: str, value: str,
               language: str | None = lang) -> None:
        wrapper = _sub(parent, f"{lo}{tag}")
        el = _sub(wrapper, f"{lo}string", value)
        if language:
            el.set("language", language)

    root = etree.Element(f"{lo}lom", nsmap={None: LOM})
    general = _sub(root, f"{lo}general")
    ident = _sub(general, f"{lo}identifier")
    _sub(ident, f"{lo}catalog", "coursewright")
    _sub(ident, f"{lo}entry", identifier)
    string(general, "title", content.title)
    _sub(general, f"{lo}language", lang)
    if content.description:
        string(general, "description", content.description)
    technical = _sub(root, f"{lo}technical")
    _sub(technical, f"{lo}format", "text/html")
    if source_type:
        classification = _sub(root, f"{lo}classification")
        path = _sub(classification, f"{lo}taxonPath")
        string(path, "source", IPTC_SCHEME, language=None)
        taxon = _sub(path, f"{lo}taxon")
        _sub(taxon, f"{lo}id", source_type)
        string(taxon, "entry", IPTC_NAMES[source_type], language="en")
        string(classification, "description", note, language="en")
    return _xml_bytes(root)


def _sub(parent: etree._Element, tag: str, text: str | None = None,
         **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _schema_location(schemas: dict[str, str]) -> str:
    return " ".join(f"{ns} {loc}" for ns, loc in schemas.items())


def _manifest_2004(content: CourseContent, ids: dict[str, str], version: str,
                 files: list[str], metadata_location: str | None) -> etree._Element:
    cp = f"{{{CP_2004}}}"
    nsmap = {None: CP_2004, "adlcp": ADLCP_2004, "adlseq": ADLSEQ_2004,
             "adlnav": ADLNAV_2004, "imsss": IMSSS, "xsi": XSI}
    root = etree.Element(f"{cp}manifest", nsmap=nsmap)
    root.set("identifier", ids["manifest"])
    root.set("version", version)
    root.set(f"{{{XSI}}}schemaLocation", _schema_location(_SCHEMAS_2004))

    metadata = _sub(root, f"{cp}metadata")
    _sub(metadata, f"{cp}schema", "ADL SCORM")
    _sub(metadata, f"{cp}schemaversion", _SCHEMAVERSION["scorm2004"])
    if metadata_location is not None:
        _sub(metadata, f"{{{ADLCP_2004}}}location", metadata_location)

    orgs = _sub(root, f"{cp}organizations", default=ids["org"])
    org = _sub(orgs, f"{cp}organization", identifier=ids["org"])
    org.set(f"{{{ADLSEQ_2004}}}objectivesGlobalToSystem", "false")
    _sub(org, f"{cp}title", content.title)
    item = _sub(org, f"{cp}item", identifier=ids["item"], identifierref=ids["res"])
    _sub(item, f"{cp}title", content.title)

    seq = _sub(item, f"{{{IMSSS}}}sequencing")
    mastery = _mastery_score(content)
    if mastery is not None:
        objectives = _sub(seq, f"{{{IMSSS}}}objectives")
        primary = _sub(objectives, f"{{{IMSSS}}}primaryObjective",
                       objectiveID="PRIMARYOBJ", satisfiedByMeasure="true")
        _sub(primary, f"{{{IMSSS}}}minNormalizedMeasure", f"{mastery / 100:.4f}")
    _sub(seq, f"{{{IMSSS}}}deliveryControls", tracked="true",
         completionSetByContent="true", objectiveSetByContent="true")

    presentation = _sub(item, f"{{{ADLNAV_2004}}}presentation")
    nav = _sub(presentation, f"{{{ADLNAV_2004}}}navigationInterface")
    for button in ("previous", "continue"):
        _sub(nav, f"{{{ADLNAV_2004}}}hideLMSUI", button)

    org_seq = _sub(org, f"{{{IMSSS}}}sequencing")
    _sub(org_seq, f"{{{IMSSS}}}controlMode", choice="true", flow="true")

    resources = _sub(root, f"{cp}resources")
    res = _sub(resources, f"{cp}resource", identifier=ids["res"], type="webcontent",
               href=LAUNCH_FILE)
    res.set(f"{{{ADLCP_2004}}}scormType", "sco")
    for name in files:
        _sub(res, f"{cp}file", href=name)
    return root


def _manifest_12(content: CourseContent, ids: dict[str, str], version: str,
                 files: list[str], metadata_location: str | None) -> etree._Element:
    cp = f"{{{CP_12}}}"
    nsmap = {None: CP_12, "adlcp": ADLCP_12, "xsi": XSI}
    root = etree.Element(f"{cp}manifest", nsmap=nsmap)
    root.set("identifier", ids["manifest"])
    root.set("version", version)
    root.set(f"{{{XSI}}}schemaLocation", _schema_location(_SCHEMAS_12))

    metadata = _sub(root, f"{cp}metadata")
    _sub(metadata, f"{cp}schema", "ADL SCORM")
    _sub(metadata, f"{cp}schemaversion", _SCHEMAVERSION["scorm12"])
    if metadata_location is not None:
        _sub(metadata, f"{{{ADLCP_12}}}location", metadata_location)

    orgs = _sub(root, f"{cp}organizations", default=ids["org"])
    org = _sub(orgs, f"{cp}organization", identifier=ids["org"])
    _sub(org, f"{cp}title", content.title)
    item = _sub(org, f"{cp}item", identifier=ids["item"], identifierref=ids["res"],
                isvisible="true")
    _sub(item, f"{cp}title", content.title)
    mastery = _mastery_score(content)
    if mastery is not None:
        _sub(item, f"{{{ADLCP_12}}}masteryscore", str(mastery))

    resources = _sub(root, f"{cp}resources")
    res = _sub(resources, f"{cp}resource", identifier=ids["res"], type="webcontent",
               href=LAUNCH_FILE)
    res.set(f"{{{ADLCP_12}}}scormtype", "sco")
    for name in files:
        _sub(res, f"{cp}file", href=name)
    return root


# --- validation -------------------------------------------------------------------------


class _LocalSchemasOnly(etree.Resolver):
    """Serve schema documents from ``xsd/`` only; refuse every other location."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def resolve(self, system_url: str | None, public_id: str | None,
                context: object) -> Any:
        url = system_url or ""
        path = Path(url.removeprefix("file://"))
        if path.is_absolute() and path.resolve().parent == self.folder and path.is_file():
            data = path.read_bytes()
            if path.name == "ims_xml.xsd":
                # SCORM 1.2's copy binds the xml namespace as the default namespace,
                # which Namespaces in XML forbids and libxml2 rejects. The binding is
                # never used (every reference is xsd:-prefixed), so drop it in memory;
                # the file shipped in packages stays byte-identical to ADL's.
                data = data.replace(b'xmlns="http://www.w3.org/XML/1998/namespace"', b"", 1)
            return self.resolve_string(data, context, base_url=str(path))
        raise ManifestValidationError([f"schema location outside the package: {url!r}"])


@cache
def _schema(fmt: ScormFormat) -> etree.XMLSchema:
    folder = (XSD_DIR / _XSD_SUBDIR[fmt]).resolve()
    schemas = _SCHEMAS_2004 if fmt == "scorm2004" else _VALIDATE_12
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{loc}"/>' for ns, loc in schemas.items()
    )
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'elementFormDefault="qualified">{imports}</xs:schema>'
    )
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalSchemasOnly(folder))
    doc = etree.fromstring(wrapper.encode(), parser, base_url=str(folder / "_wrapper.xsd"))
    return etree.XMLSchema(doc)


_validate_lock = threading.Lock()


def validate_manifest(xml_bytes: bytes, fmt: ScormFormat) -> None:
    """Validate ``xml_bytes`` against the official schemas of ``fmt``; raise if invalid.

    Raises :class:`ManifestValidationError` (a ``ValueError``) listing the problems: XML
    that does not parse, a schema violation, or SCORM metadata of the wrong edition.
    """
    if fmt not in _XSD_SUBDIR:
        raise ValueError(f"unknown SCORM format {fmt!r}")
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    try:
        doc = etree.fromstring(xml_bytes, parser)
    except etree.XMLSyntaxError as exc:
        raise ManifestValidationError([f"not well-formed XML: {exc}"]) from exc
    schema = _schema(fmt)
    with _validate_lock:  # an XMLSchema's error_log is per object, not per call
        ok = schema.validate(doc)
        errors = [f"line {e.line}: {e.message}" for e in schema.error_log]
    if not ok:
        raise ManifestValidationError(errors)
    cp = CP_2004 if fmt == "scorm2004" else CP_12
    version = doc.findtext(f"{{{cp}}}metadata/{{{cp}}}schemaversion")
    schema_name = doc.findtext(f"{{{cp}}}metadata/{{{cp}}}schema")
    if schema_name != "ADL SCORM" or version != _SCHEMAVERSION[fmt]:
        raise ManifestValidationError(
            [f"metadata must say ADL SCORM {_SCHEMAVERSION[fmt]}, "
             f"not {schema_name!r} {version!r}"]
        )
