"""Caps hold under concurrent launches: the slots are taken with conditional updates in
one transaction per launch, so parallel launches never exceed a cap, and the same new
learner arriving twice at once is counted once. (Real threads and connections, so this
needs committed rows: a transactional test.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from coursewright.delivery import gatekeeper
from coursewright.delivery.models import LaunchEvent, License, LicenseLearner
from tests.delivery.test_licenses_fixtures import deployed_course, issue

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers: there is no race to lose (PostgreSQL run only)")


def _in_parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def run(number: int) -> None:
        try:
            barrier.wait()
            results[number] = work(number)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def setup(transactional_db: None, request: pytest.FixtureRequest) -> Any:
    people = request.getfixturevalue("people")
    return people, deployed_course(people.acme, people.bob)


def test_parallel_new_learners_never_exceed_the_learner_cap(setup: Any) -> None:
    people, live = setup
    license, token = issue(people, [live.course], max_learners=3)
    decisions = _in_parallel(8, lambda n: gatekeeper.launch(
        token, course_uid=str(live.course.uid), learner_id=f"learner-{n}"))
    assert sum(d.allowed for d in decisions) == 3
    assert {d.reason for d in decisions if not d.allowed} == {"learner_cap"}
    license.refresh_from_db()
    assert license.learners == 3 == LicenseLearner.objects.filter(license=license).count()
    assert LaunchEvent.objects.filter(license=license).count() == 8


def test_parallel_launches_never_exceed_the_launch_cap(setup: Any) -> None:
    people, live = setup
    license, token = issue(people, [live.course], max_launches=5)
    decisions = _in_parallel(10, lambda n: gatekeeper.launch(
        token, course_uid=str(live.course.uid), learner_id="same-learner"))
    assert sum(d.allowed for d in decisions) == 5
    license.refresh_from_db()
    assert (license.launches, license.learners) == (5, 1)


def test_one_new_learner_twice_at_once_counts_once(setup: Any) -> None:
    people, live = setup
    license, token = issue(people, [live.course], max_learners=1)
    decisions = _in_parallel(6, lambda n: gatekeeper.launch(
        token, course_uid=str(live.course.uid), learner_id="only-one"))
    assert all(d.allowed for d in decisions)
    license = License.objects.get(pk=license.pk)
    assert (license.learners, license.launches) == (1, 6)
