"""Benchmark: deleting an organisation with many courses (target ≤ 30 s).

    .venv/bin/python bench/delete_org.py [--courses 1000]

Builds an organisation with N courses (each a version of a 25-screen course, encrypted,
with its audit rows) on the embedded default, then times delete_organisation: every row,
the storage directory, and the key destruction. Learner records are not stored by the
platform yet (they arrive with the tracking issue); the figure for 1,000,000 of them is
to be added then.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _state import fresh_installation


def main() -> None:
    parser = argparse.ArgumentParser(description="organisation deletion time")
    parser.add_argument("--courses", type=int, default=1000)
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
    receipt = delete_organisation(org, actor=Actor.person(owner), confirm=org.slug)
    took = time.perf_counter() - start
    print(f"delete an organisation (SQLite WAL, {os.cpu_count()} cores, "
          f"python {sys.version.split()[0]})")
    print(f"  {args.courses} courses / {versions} versions built in {built:.1f} s")
    print(f"  delete_organisation: {took:.2f} s  (rows: {sum(receipt.counts.values())}, "
          f"key destroyed: {receipt.key_destroyed})")


if __name__ == "__main__":
    main()
