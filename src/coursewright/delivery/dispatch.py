"""Dispatch packages: thin SCORM 1.2 / SCORM 2004 / cmi5 packages a client LMS imports in
place of the course.

Design, and what it guarantees:

- **No course content leaves the platform.** The zip holds ``imsmanifest.xml`` (one SCO,
  ``launcher.html``), ``launcher.html`` (its settings in a JSON block: the Gatekeeper's
  URL, the blocked page's URL, the course's uid, the format and the license token),
  ``launcher.js`` and ``launcher.css`` — nothing else. The manifest's title is neutral
  (the course's uid, not its title) and carries no mastery score: the deployed version's
  passing score applies, so a later deployment that changes it needs no new package.
- **Every launch goes through the Gatekeeper.** The package holds a token, not a right:
  revoking, suspending or capping the license blocks the next launch of a package
  already imported. The launcher sends only the LMS's opaque learner id (the
  Gatekeeper hashes it with the license's salt); it never reads the learner's name.
- **The runtime is relayed.** The course runs on the platform's origin inside the
  launcher's iframe; its SCORM calls reach the LMS through ``relay.js`` (served by the
  platform into the course page) and ``launcher.js`` (see both files' design notes).
- **cmi5.** The package is ``cmi5.xml`` (one AU, ``launcher.html``, whose publisher id
  is the course's AU id, the same as in the course's own cmi5 package), the
  ``CourseStructure.xsd``, and the cmi5 launcher (``cmi5launcher.js``): it is the AU the
  client LMS launches, holds the LMS's cmi5 session (fetch URL, auth-token, LaunchData)
  and turns the relayed runtime calls of the course page into cmi5 statements and state
  (see the script's design note). The learner id it gives the Gatekeeper is the LMS
  actor's account name, never a name or an mbox. moveOn and masteryScore are those of the
  version in production when the package is made (CompletedAndPassed with the passing
  score when it has questions, else Completed); the LMS's LaunchData masteryScore is what
  the course then applies.
- **Reproducible.** The same license, course, format and token give the same bytes (zip
  entries sorted, timestamps fixed to the license's creation time). A download mints a
  fresh token (``licenses.license_token``: audited), so two downloads differ in the token.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from lxml import etree

from coursewright.audit.actions import record_event
from coursewright.courses.content import CourseContent
from coursewright.courses.models import Course
from coursewright.delivery.licenses import license_token
from coursewright.delivery.models import License
from coursewright.errors import Invalid, NotFound
from coursewright.publishing import manifests
from coursewright.publishing.packaging import write_zip

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor

DispatchFormat = Literal["scorm12", "scorm2004", "cmi5"]
# the SCORM formats (the dashboard's choices); ALL_FORMATS adds cmi5
FORMATS: tuple[DispatchFormat, ...] = ("scorm12", "scorm2004")
ALL_FORMATS: tuple[DispatchFormat, ...] = ("scorm12", "scorm2004", "cmi5")
LAUNCHER_DIR = Path(__file__).resolve().parent / "launcher"
LAUNCH_FILE = "launcher.html"
PACKAGE_FILES = (LAUNCH_FILE, "launcher.js", "launcher.css")
CMI5_SCRIPT = "cmi5launcher.js"
CMI5_FILES = (LAUNCH_FILE, CMI5_SCRIPT, "launcher.css")
RELAY_SCRIPT = "relay.js"


@cache
def launcher_asset(name: str) -> bytes:
    """A file of the launcher folder (``launcher.*`` or ``relay.js``)."""
    if name not in (*PACKAGE_FILES, RELAY_SCRIPT, CMI5_SCRIPT):
        raise KeyError(name)
    return (LAUNCHER_DIR / name).read_bytes()


def launch_config(license: License, course: Course, fmt: DispatchFormat, token: str,
                  ) -> dict[str, str]:
    return {
        "format": fmt,
        "launch": settings.BASE_URL + reverse("delivery:launch"),
        "blocked": settings.BASE_URL + reverse("delivery:launch_blocked"),
        "course": str(course.uid),
        "token": token,
    }


def _launcher_html(config: dict[str, str], script: str = "launcher.js") -> bytes:
    """The launcher page with its settings, running ``script`` (the SCORM launcher, or
    the cmi5 one: the same page otherwise)."""
    # a JSON block is data, never run; "<" escaped so no text can close the element
    data = json.dumps(config, sort_keys=True).replace("<", "\\u003c")
    page = launcher_asset(LAUNCH_FILE).decode()
    assert page.count("{{CONFIG}}") == 1
    assert page.count('<script src="launcher.js" defer></script>') == 1
    page = page.replace('<script src="launcher.js"', f'<script src="{script}"')
    return page.replace("{{CONFIG}}", data).encode()


def _sub(parent: etree._Element, tag: str, text: str | None = None,
         **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def build_manifest(course: Course, fmt: manifests.ScormFormat) -> bytes:
    """imsmanifest.xml of a dispatch package: one SCO, ``launcher.html``, and its files."""
    base = manifests.ncname(f"cw-dispatch-{course.uid}")
    title = f"Course {course.uid}"
    if fmt == "scorm2004":
        cp, adlcp = manifests.CP_2004, manifests.ADLCP_2004
        nsmap = {None: cp, "adlcp": adlcp, "adlseq": manifests.ADLSEQ_2004,
                 "adlnav": manifests.ADLNAV_2004, "imsss": manifests.IMSSS,
                 "xsi": manifests.XSI}
        schemas = {cp: "imscp_v1p1.xsd", adlcp: "adlcp_v1p3.xsd",
                   manifests.ADLSEQ_2004: "adlseq_v1p3.xsd",
                   manifests.ADLNAV_2004: "adlnav_v1p3.xsd",
                   manifests.IMSSS: "imsss_v1p0.xsd"}
        schemaversion, scorm_type = "2004 4th Edition", "scormType"
    else:
        cp, adlcp = manifests.CP_12, manifests.ADLCP_12
        nsmap = {None: cp, "adlcp": adlcp, "xsi": manifests.XSI}
        schemas = {cp: "imscp_rootv1p1p2.xsd", adlcp: "adlcp_rootv1p2.xsd"}
        schemaversion, scorm_type = "1.2", "scormtype"
    root = etree.Element(f"{{{cp}}}manifest", nsmap=nsmap)
    root.set("identifier", base)
    root.set("version", "1")
    root.set(f"{{{manifests.XSI}}}schemaLocation",
             " ".join(f"{ns} {location}" for ns, location in schemas.items()))
    metadata = _sub(root, f"{{{cp}}}metadata")
    _sub(metadata, f"{{{cp}}}schema", "ADL SCORM")
    _sub(metadata, f"{{{cp}}}schemaversion", schemaversion)
    organizations = _sub(root, f"{{{cp}}}organizations", default=f"{base}-org")
    organization = _sub(organizations, f"{{{cp}}}organization", identifier=f"{base}-org")
    _sub(organization, f"{{{cp}}}title", title)
    item = _sub(organization, f"{{{cp}}}item", identifier=f"{base}-item",
                identifierref=f"{base}-sco")
    _sub(item, f"{{{cp}}}title", title)
    if fmt == "scorm2004":
        sequencing = _sub(item, f"{{{manifests.IMSSS}}}sequencing")
        _sub(sequencing, f"{{{manifests.IMSSS}}}deliveryControls", tracked="true",
             completionSetByContent="true", objectiveSetByContent="true")
        presentation = _sub(item, f"{{{manifests.ADLNAV_2004}}}presentation")
        navigation = _sub(presentation, f"{{{manifests.ADLNAV_2004}}}navigationInterface")
        for button in ("previous", "continue"):
            _sub(navigation, f"{{{manifests.ADLNAV_2004}}}hideLMSUI", button)
    resources = _sub(root, f"{{{cp}}}resources")
    resource = _sub(resources, f"{{{cp}}}resource", identifier=f"{base}-sco",
                    type="webcontent", href=LAUNCH_FILE)
    resource.set(f"{{{adlcp}}}{scorm_type}", "sco")
    for name in sorted(PACKAGE_FILES):
        _sub(resource, f"{{{cp}}}file", href=name)
    body = etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True)
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
    manifests.validate_manifest(xml, fmt)
    return xml


def _production_content(course: Course) -> CourseContent | None:
    from coursewright.courses.actions import validate_content
    from coursewright.delivery.models import Channel, ChannelName

    channel = (Channel.objects.filter(course=course, name=ChannelName.PRODUCTION)
               .select_related("current__version").first())
    return validate_content(channel.current.version.content) if channel else None


def build_cmi5_structure(course: Course, content: CourseContent | None) -> bytes:
    """cmi5.xml of a cmi5 dispatch package: one AU, the launcher (validated)."""
    from coursewright.publishing.actions import activity_base
    from coursewright.publishing.xapi_manifests import (
        CMI5_NS,
        mastery,
        validate_cmi5_xml,
    )

    base = activity_base(course)
    title = f"Course {course.uid}"
    scored = content is not None and bool(content.questions())
    root = etree.Element(f"{{{CMI5_NS}}}courseStructure", nsmap={None: CMI5_NS})
    node = _sub(root, f"{{{CMI5_NS}}}course", id=base)
    for tag in ("title", "description"):
        _sub(_sub(node, f"{{{CMI5_NS}}}{tag}"), f"{{{CMI5_NS}}}langstring", title, lang="en")
    au = _sub(root, f"{{{CMI5_NS}}}au", id=f"{base}/au",
              moveOn="CompletedAndPassed" if scored else "Completed")
    if scored and content is not None:
        au.set("masteryScore", format(mastery(content.settings.passing_score), "f"))
    au.set("launchMethod", "AnyWindow")
    for tag in ("title", "description"):
        _sub(_sub(au, f"{{{CMI5_NS}}}{tag}"), f"{{{CMI5_NS}}}langstring", title, lang="en")
    _sub(au, f"{{{CMI5_NS}}}url", LAUNCH_FILE)
    body = etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True)
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
    validate_cmi5_xml(xml)
    return xml


def build_dispatch_package(license: License, course: Course, fmt: DispatchFormat, *,
                           token: str) -> bytes:
    """The dispatch package's zip (see the module note); pure given its arguments (and,
    for cmi5, the version in production)."""
    if fmt not in ALL_FORMATS:
        raise Invalid(f"unknown dispatch format {fmt!r}: use scorm12, scorm2004 or cmi5",
                      code="bad_format")
    if fmt == "cmi5":
        from coursewright.publishing.xapi_manifests import cmi5_schema_files

        return write_zip({
            "cmi5.xml": build_cmi5_structure(course, _production_content(course)),
            LAUNCH_FILE: _launcher_html(launch_config(license, course, fmt, token),
                                        CMI5_SCRIPT),
            CMI5_SCRIPT: launcher_asset(CMI5_SCRIPT),
            "launcher.css": launcher_asset("launcher.css"),
            **cmi5_schema_files(),
        }, license.created_at)
    files = {
        "imsmanifest.xml": build_manifest(course, fmt),
        LAUNCH_FILE: _launcher_html(launch_config(license, course, fmt, token)),
        "launcher.js": launcher_asset("launcher.js"),
        "launcher.css": launcher_asset("launcher.css"),
        # the schema files the manifest's schemaLocation names, as in every SCORM package
        **manifests.schema_files(fmt),
    }
    return write_zip(files, license.created_at)


def package_filename(license: License, course: Course, fmt: DispatchFormat) -> str:
    return f"dispatch-{fmt}-course-{course.pk}-license-{license.pk}.zip"


def download_dispatch_package(license: License, *, course_id: int | None,
                              fmt: DispatchFormat, actor: Actor) -> tuple[bytes, str]:
    """A dispatch package of one of the license's courses, with a freshly minted token
    (``course_id`` may be left out when the license has exactly one course); the zip and
    its file name."""
    courses = list(license.courses.all().order_by("pk"))
    if course_id is None:
        if len(courses) != 1:
            raise Invalid("Name the course (?course=<id>): this license has "
                          f"{len(courses)} courses.", code="course_required")
        course = courses[0]
    else:
        found = [c for c in courses if c.pk == course_id]
        if not found:
            raise NotFound("This license does not include that course.",
                           code="not_found")
        course = found[0]
    with transaction.atomic():
        token = license_token(license, actor=actor)
        data = build_dispatch_package(license, course, fmt, token=token)
        record_event(org=license.org, actor=actor, action="license.dispatch_downloaded",
                     object_type="license", object_id=license.pk,
                     after={"course": course.pk, "format": fmt,
                            "token_kid": license.token_kid})
    return data, package_filename(license, course, fmt)
