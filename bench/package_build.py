"""Benchmark: build time of each package format for a 25-screen course.

    .venv/bin/python bench/package_build.py [--screens 25] [--repeat 20]

Prints the median and worst build time per format (target: ≤ 0.5 s each). The course is
a realistic 25-screen course: text, callouts, an image and a question every third screen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coursewright.settings")
os.environ.setdefault("COURSEWRIGHT_VAR_DIR", str(ROOT / "var" / "bench"))


def course_of(screens: int) -> tuple[Any, dict[str, tuple[bytes, str]]]:
    from coursewright.courses.content import CourseContent
    from tests.support.sample_course import image_sha256, sample_assets

    paragraph = ("Forklift operators check the brakes, the horn and the mast chains before "
                 "every shift and record the result in the daily checklist. ") * 4
    items = []
    for n in range(screens):
        blocks: list[dict[str, Any]] = [
            {"type": "heading", "id": f"h{n}", "text": f"Topic {n + 1}"},
            {"type": "text", "id": f"t{n}", "markdown": f"{paragraph}\n\n- one\n- two\n- three"},
            {"type": "callout", "id": f"c{n}", "style": "warning", "markdown": "Never skip it."},
        ]
        if n % 5 == 0:
            blocks.append({"type": "image", "id": f"i{n}", "asset": image_sha256(),
                           "alt": "A forklift in a warehouse aisle"})
        if n % 3 == 2:
            blocks.append({"type": "multiple_choice", "id": f"q{n}", "prompt": "When?",
                           "choices": [{"id": "a", "text": "Before every shift", "correct": True},
                                       {"id": "b", "text": "Once a month"},
                                       {"id": "c", "text": "Only after an accident"}],
                           "feedback": {"correct": "Yes.", "incorrect": "Every shift."}})
        items.append({"id": f"s{n:02d}", "title": f"Screen {n + 1}", "blocks": blocks})
    content = CourseContent.model_validate({"title": "Forklift safety", "screens": items})
    return content, sample_assets()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    import django

    django.setup()
    from coursewright.publishing.packaging import PackageMeta, build_package

    content, assets = course_of(args.screens)
    meta = PackageMeta(course_id="bench-1", version_number=1, approved_by="Rita Reviewer",
                       approved_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                       published_at=None, org_name="Bench")
    print(f"package build, {args.screens} screens, {args.repeat} runs each "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} cores)")
    for fmt in ("scorm2004", "scorm12", "html"):
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            data = build_package(content, fmt=fmt, meta=meta, assets=assets)
            times.append(time.perf_counter() - start)
        print(f"  {fmt:<10} median {statistics.median(times) * 1000:7.1f} ms   "
              f"worst {max(times) * 1000:7.1f} ms   size {len(data) / 1024:7.1f} KiB")


if __name__ == "__main__":
    main()
