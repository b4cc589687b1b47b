"""Embed-token fixtures: Acme's two courses and Globex's one (helpers: ``helpers.py``)."""

from __future__ import annotations

import pytest

from coursewright.audit.actor import Actor
from coursewright.courses import actions as course_actions
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import content
from tests.embed.helpers import Courses


@pytest.fixture
def courses(people: People) -> Courses:
    draft = course_actions.create_course(people.acme, content=content("Fire safety"),
                                         actor=Actor.person(people.bob))
    other = course_actions.create_course(people.acme, content=content("First aid"),
                                         actor=Actor.person(people.bob))
    globex = course_actions.create_course(people.globex, content=content("Globex onboarding"),
                                          actor=Actor.person(people.mallory))
    return Courses(acme=draft.course, acme_other=other.course, globex=globex.course,
                   acme_draft=draft)
