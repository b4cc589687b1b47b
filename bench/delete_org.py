"""Benchmark: deleting an organisation with many courses and learner records
(target ≤ 30 s for 1,000 courses and 1,000,000 learner records).

    .venv/bin/python bench/delete_org.py [--courses 1000] [--learner-records 1000000]

Builds an organisation with N courses (each a version of a 25-screen course, encrypted,
with its audit rows) on the embedded default, one license on all of them, and M learner
records: the progress rows launched attempts report (``LaunchProgress``, one per
attempt, spread over the courses and 100,000 pseudonymous learners), each with its
launch event. Then times delete_organisation: every row, the storage directory, and
the key destruction. ``DATABASE_URL`` selects PostgreSQL instead of SQLite.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from _state import fresh_installation


def main() -> None:
    parser = argparse.ArgumentParser(description="organisation deletion time")
    parser.add_argument("--courses", type=int, default=1000)
    parser.add_argument("--learner-records", type=int, default=1_000_000)
    args = parser.parse_args()
    org, owner = fresh_installation("delete-state")
    from coursewright.audit.actor import Actor
    from coursewright.courses.actions import create_course
    from coursewright.courses.models import CourseVersion
    from coursewright.privacy.deletion import delete_organisation
    from package_build import course_of

    course, _ = course_of(25)
    start = time.perf_counter()
    for _ in range(args.courses):
        create_course(org, content=course, actor=Actor.system())
    built = time.perf_counter() - start
    versions = CourseVersion.objects.filter(org=org).count()
    start = time.perf_counter()
    records = learner_records(org, owner, args.learner_records)
    filled = time.perf_counter() - start

    start = time.perf_counter()
    receipt = delete_organisation(org, actor=Actor.person(owner), confirm=org.slug)
    took = time.perf_counter() - start
    from django.db import connection

    print(f"delete an organisation ({connection.vendor}, {os.cpu_count()} cores, "
          f"python {sys.version.split()[0]})")
    print(f"  {args.courses} courses / {versions} versions built in {built:.1f} s")
    print(f"  {records:,} learner records (+ as many launch events) written in "
          f"{filled:.1f} s")
    print(f"  delete_organisation: {took:.2f} s  (rows: {sum(receipt.counts.values())}, "
          f"key destroyed: {receipt.key_destroyed})")


def learner_records(org: Any, owner: Any, count: int) -> int:
    """``count`` progress rows and launch events on one license, written in bulk."""
    import hashlib
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from coursewright.audit.actor import Actor
    from coursewright.courses.models import Course, CourseVersion
    from coursewright.delivery.licenses import issue_license
    from coursewright.delivery.models import LaunchEvent, LaunchProgress

    courses = list(Course.objects.filter(org=org).values_list("id", flat=True))
    versions = dict(CourseVersion.objects.filter(org=org).values_list("course_id", "id"))
    license, _ = issue_license(org, name="Bench LMS", courses=courses[:1],
                               actor=Actor.person(owner))
    learners = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(100_000)]
    now = timezone.now()
    batch = 20_000
    for first in range(0, count, batch):
        rows, events = [], []
        for i in range(first, min(first + batch, count)):
            course = courses[i % len(courses)]
            when = now - timedelta(minutes=i % 100_000)
            rows.append(LaunchProgress(
                org_id=org.pk, license_id=license.pk, course_id=course,
                version_id=versions.get(course), learner=learners[i % len(learners)],
                completion="completed" if i % 3 else "incomplete",
                success="passed" if i % 3 else "unknown", score=(i % 101) / 100,
                progress=1.0, reports=3, created_at=when, updated_at=when,
                completed_at=when if i % 3 else None))
            events.append(LaunchEvent(org_id=org.pk, license_id=license.pk,
                                      course_id=course, learner=learners[i % len(learners)],
                                      outcome="launched", origin="https://lms.example"))
        with transaction.atomic():
            LaunchProgress.objects.bulk_create(rows, batch_size=2_000)
            LaunchEvent.objects.bulk_create(events, batch_size=2_000)
    return count


if __name__ == "__main__":
    main()
