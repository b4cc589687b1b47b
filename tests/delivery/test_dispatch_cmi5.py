"""cmi5 dispatch packages: a launcher AU and cmi5.xml (valid against the official
CourseStructure.xsd), never the course; moveOn and masteryScore from the version in
production; reproducible bytes; the download through the license actions."""

from __future__ import annotations

import pytest
from lxml import etree

from coursewright.audit.actor import Actor
from coursewright.delivery import dispatch
from coursewright.delivery.models import License
from coursewright.errors import Invalid
from coursewright.publishing.actions import activity_base
from coursewright.publishing.xapi_manifests import CMI5_NS
from tests.conftest import People
from tests.delivery.test_dispatch import CONTENT_SENTENCE, launch_config, unzip
from tests.delivery.test_licenses_fixtures import ORIGIN, Live, deployed_course, issue
from tests.publishing.test_cmi5_package import official_xsd

pytestmark = pytest.mark.django_db
NS = {"c": CMI5_NS}


@pytest.fixture
def live(people: People) -> Live:
    return deployed_course(people.acme, people.bob)


@pytest.fixture
def licensed(people: People, live: Live) -> tuple[License, str]:
    return issue(people, [live.course], allowed_origins=[ORIGIN])


def test_the_package_holds_the_launcher_au_and_no_course_content(
        live: Live, licensed: tuple[License, str]) -> None:
    license, token = licensed
    files = unzip(dispatch.build_dispatch_package(license, live.course, "cmi5", token=token))
    assert set(files) == {"cmi5.xml", "launcher.html", "cmi5launcher.js", "launcher.css",
                          "CourseStructure.xsd"}
    assert not any(CONTENT_SENTENCE.encode() in data for data in files.values())
    assert launch_config(files) == {
        "format": "cmi5", "course": str(live.course.uid), "token": token,
        "launch": dispatch.launch_config(license, live.course, "cmi5", token)["launch"],
        "blocked": dispatch.launch_config(license, live.course, "cmi5", token)["blocked"]}
    assert b'src="cmi5launcher.js"' in files["launcher.html"]
    doc = etree.fromstring(files["cmi5.xml"])
    schema = etree.XMLSchema(etree.parse(str(official_xsd())))
    assert schema.validate(doc), schema.error_log
    [au] = doc.findall("c:au", NS)
    # the same publisher id as the course's own cmi5 package, so records aggregate
    assert au.get("id") == activity_base(live.course) + "/au"
    assert au.findtext("c:url", namespaces=NS) == "launcher.html"
    assert (au.get("moveOn"), au.get("masteryScore")) == ("CompletedAndPassed", "0.8")
    # a neutral title: the course's uid, not its title
    assert live.version.content["title"].encode() not in files["cmi5.xml"]


def test_the_bytes_are_reproducible(live: Live, licensed: tuple[License, str]) -> None:
    license, token = licensed
    first = dispatch.build_dispatch_package(license, live.course, "cmi5", token=token)
    assert dispatch.build_dispatch_package(license, live.course, "cmi5", token=token) == first


def test_an_undeployed_course_moves_on_when_completed(people: People) -> None:
    from tests.delivery.test_licenses_fixtures import course_of

    version = course_of(people.acme, people.bob)
    license, token = issue(people, [version.course])
    files = unzip(dispatch.build_dispatch_package(license, version.course, "cmi5",
                                                  token=token))
    au = etree.fromstring(files["cmi5.xml"]).find("c:au", NS)
    assert au is not None
    assert au.get("moveOn") == "Completed"


def test_the_download_mints_a_token_and_is_audited(people: People, live: Live,
                                                  licensed: tuple[License, str]) -> None:
    from coursewright.audit.models import AuditEvent

    license, _ = licensed
    data, name = dispatch.download_dispatch_package(
        license, course_id=live.course.pk, fmt="cmi5", actor=Actor.person(people.alice))
    assert name.startswith("dispatch-cmi5-")
    assert "cmi5.xml" in unzip(data)
    assert AuditEvent.objects.filter(action="license.dispatch_downloaded").exists()
    with pytest.raises(Invalid):
        dispatch.build_dispatch_package(license, live.course, "aicc", token="x")  # type: ignore[arg-type]
