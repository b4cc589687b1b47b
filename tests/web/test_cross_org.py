"""Mallory (Globex) must see nothing of Acme through the dashboard.

The cases are generated from the URL resolver: every pattern in the "web" namespace
that takes an ``org_slug`` or an object id is requested by Mallory with Acme's objects —
under Acme's slug, and under her own Globex slug — by GET and by POST, and must answer
404, exactly like an object that does not exist. A pattern with a keyword this test does
not know how to fill makes it fail, so a new page cannot land without its denial case.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from coursewright.assist.models import GradingRecord
from coursewright.audit.actor import Actor
from coursewright.delivery.licenses import issue_license
from coursewright.orgs.models import ApiKey, Membership
from tests.conftest import People, client_for
from tests.web.conftest import AcmeObjects

# Patterns whose keywords are not organisation objects, and why they need no case here.
NOT_ORG_OBJECTS = {
    "password_reset_confirm": "the signed token is the credential; no organisation object",
    "invitation": "the invitation token is the credential; tested with the invitations",
}


def _web_patterns() -> Iterator[tuple[str, list[str]]]:
    def walk(patterns: list[Any], namespace: str | None) -> Iterator[tuple[str, list[str]]]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and namespace == "web":
                assert entry.name, f"name the dashboard URL {entry.pattern}"
                yield entry.name, list(getattr(entry.pattern, "converters", {}))

    yield from walk(get_resolver().url_patterns, None)


def _in_scope(kwargs: list[str]) -> bool:
    return "org_slug" in kwargs or any(k.endswith("_id") for k in kwargs)


@pytest.fixture
def acme_kwargs(people: People, acme_objects: AcmeObjects) -> dict[str, Any]:
    """One Acme object for every keyword a dashboard URL may take."""
    grading = GradingRecord.objects.create(
        org=people.acme, course=acme_objects.course, version=acme_objects.version,
        block_id="b1", learner_ref="0" * 64, answer="x", result={"criteria": []},
        provider="offline", model="", ai_score=0, max_score=1)
    license, _ = issue_license(people.acme, name="Acme LMS", courses=[acme_objects.course],
                               actor=Actor.person(people.alice))
    from coursewright.tracking.forwarding import create_target

    # a literal public address: saving it needs no DNS, and nothing is sent here
    forwarding = create_target(people.acme, name="Acme data team",
                               url="https://93.184.215.14/xapi/",
                               actor=Actor.person(people.alice))
    from coursewright.webhooks.actions import create_endpoint
    from coursewright.webhooks.events import emit

    webhook, _ = create_endpoint(people.acme, url="https://93.184.215.14/hooks",
                                 events=["course.created"], actor=Actor.person(people.alice))
    (webhook_delivery,) = emit(people.acme, "course.created", {"course": {"id": 1}})
    from coursewright.lti.actions import register_platform

    registration = register_platform(
        people.acme, name="Acme Moodle", issuer="https://moodle.acme.example",
        client_id="acme-client", deployment_ids=["1"],
        jwks_url="https://moodle.acme.example/mod/lti/certs.php",
        auth_url="https://moodle.acme.example/mod/lti/auth.php",
        token_url="https://moodle.acme.example/mod/lti/token.php", license=license,
        actor=Actor.person(people.alice))
    return {
        "reg_id": registration.pk,
        "webhook_id": webhook.pk,
        "delivery_id": webhook_delivery.pk,
        "document_id": acme_objects.document.pk,
        "job_id": acme_objects.job.pk,
        "course_id": acme_objects.course.pk,
        "version_id": acme_objects.version.pk,
        "screen_id": acme_objects.screen_id,
        "sha256": acme_objects.asset.sha256,
        "fmt": "scorm2004",
        "name": "player.js",
        "membership_id": Membership.objects.get(org=people.acme, user=people.bob).pk,
        "key_id": ApiKey.objects.get(org=people.acme).pk,
        "grading_id": grading.pk,
        "license_id": license.pk,
        "forwarding_id": forwarding.pk,
    }


def _urls(slug: str, kwargs: dict[str, Any],
          with_objects_only: bool = False) -> list[tuple[str, str]]:
    urls = []
    for name, params in _web_patterns():
        if not params:
            continue
        if not _in_scope(params):
            assert name in NOT_ORG_OBJECTS, (
                f"web:{name} takes {params}: add a denial case for it here, or say in "
                "NOT_ORG_OBJECTS why it needs none")
            continue
        missing = [p for p in params if p != "org_slug" and p not in kwargs]
        assert not missing, f"web:{name} takes {missing}: teach acme_kwargs to fill them"
        if with_objects_only and params == ["org_slug"]:
            continue  # only the organisation itself: Mallory's own Globex pages are hers
        values = {p: (slug if p == "org_slug" else kwargs[p]) for p in params}
        urls.append((name, reverse(f"web:{name}", kwargs=values)))
    return urls


def test_every_page_is_covered() -> None:
    names = {name for name, params in _web_patterns() if params and _in_scope(params)}
    assert {"dashboard", "upload", "job", "job_status", "course", "new_draft", "image",
            "version", "edit_screen", "add_image", "submit", "approve", "reject", "publish",
            "export", "preview", "preview_file", "gradings", "review_grading",
            "licenses", "license_issue", "license", "license_edit", "license_suspend",
            "license_revoke", "license_reinstate", "license_token", "license_dispatch",
            "course_logs", "course_logs_errors", "course_logs_launches_csv",
            "course_logs_launches_json", "course_logs_errors_csv",
            "course_logs_errors_json"} <= names


def _made_up(kwargs: dict[str, Any]) -> dict[str, Any]:
    made_up = {k: (999999 if isinstance(v, int) else "nope") for k, v in kwargs.items()}
    return {**made_up, "fmt": kwargs["fmt"], "name": kwargs["name"]}


@pytest.mark.parametrize("slug", ["acme", "globex"],
                         ids=["acme-slug", "globex-slug-with-acme-ids"])
def test_mallory_gets_404_for_every_acme_object(people: People, acme_kwargs: dict[str, Any],
                                                slug: str) -> None:
    mallory = client_for(people.mallory)
    only_objects = slug == "globex"
    urls = _urls(slug, acme_kwargs, with_objects_only=only_objects)
    made_up = dict(_urls(slug, _made_up(acme_kwargs), with_objects_only=only_objects))
    assert urls
    for name, url in urls:
        for method in ("get", "post"):
            response = getattr(mallory, method)(url)
            assert b"Phishing" not in response.content
            if response.status_code == 405:
                # Under her own slug a POST-only page refuses a GET before looking
                # anything up: the same answer as for an object that does not exist.
                assert getattr(mallory, method)(made_up[name]).status_code == 405
                continue
            assert response.status_code == 404, (
                f"{method.upper()} web:{name} {url} answered {response.status_code}")


def test_the_same_urls_work_for_acme(people: People, acme_kwargs: dict[str, Any]) -> None:
    # The control: Acme's owner reaches every one of those URLs (a GET may be refused
    # as the wrong method or state, but never as "not found"), so the 404s above are
    # about the organisation, not about badly filled URLs.
    alice = client_for(people.alice)
    for name, url in _urls("acme", acme_kwargs):
        status = alice.get(url).status_code
        assert status != 404, f"web:{name} {url} is 404 even for Acme's owner"


def test_anonymous_visitors_are_sent_to_sign_in(acme_kwargs: dict[str, Any]) -> None:
    for name, url in _urls("acme", acme_kwargs):
        response = Client().get(url)
        assert response.status_code == 302, f"web:{name}"
        assert response["Location"].startswith("/login/?next=")
