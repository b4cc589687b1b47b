"""Benchmark: the cost of encryption at rest on course save and load.

    .venv/bin/python bench/encryption_overhead.py [--repeat 200]

A 25-screen course (the same one bench/package_build.py builds, ~40 KB of JSON) is saved
as a draft version and loaded back through the models on the embedded default (SQLite
WAL, fresh state under var/bench/enc-state). The same loop is then run with sealing
replaced by a pass-through, so the difference is what AES-256-GCM envelope encryption
costs per save and per load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any
from unittest import mock

from _state import fresh_installation


def _loop(version: Any, content: dict[str, Any], repeat: int) -> tuple[float, float]:
    from coursewright.courses.models import CourseVersion

    saves, loads = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        version.content = content
        version.save(update_fields=["content"])
        saves.append(time.perf_counter() - start)
        start = time.perf_counter()
        loaded = CourseVersion.objects.get(pk=version.pk).content
        loads.append(time.perf_counter() - start)
        assert loaded["title"] == content["title"]
    return statistics.median(saves) * 1000, statistics.median(loads) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description="encryption cost on course save/load")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    org, _owner = fresh_installation("enc-state")
    from coursewright.audit.actor import Actor
    from coursewright.courses.actions import create_course
    from coursewright.privacy import fields
    from package_build import course_of

    course, _ = course_of(25)
    version = create_course(org, content=course, actor=Actor.system())
    content = course.model_dump(mode="json")
    size = len(fields.EncryptedJSONField().encode(content))

    encrypted = _loop(version, content, args.repeat)
    with (mock.patch.object(fields, "seal", lambda key_id, plaintext, *, where: plaintext),
          mock.patch.object(fields, "unseal", lambda key_id, blob, *, where: bytes(blob))):
        plain = _loop(version, content, args.repeat)

    print(f"course save/load, 25 screens ({size / 1024:.0f} KiB JSON), median of "
          f"{args.repeat} (SQLite WAL, {os.cpu_count()} cores, python {sys.version.split()[0]})")
    for label, (enc, raw) in (("save", (encrypted[0], plain[0])),
                              ("load", (encrypted[1], plain[1]))):
        print(f"  {label}: {enc:6.3f} ms encrypted, {raw:6.3f} ms without   "
              f"overhead {enc - raw:+.3f} ms ({(enc - raw) / raw * 100:+.0f}%)")


if __name__ == "__main__":
    main()
