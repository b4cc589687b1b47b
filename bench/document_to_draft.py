"""Benchmark: the whole document → draft path, as the platform runs it.

    .venv/bin/python bench/document_to_draft.py [--pages 300]

Uses a fresh embedded-default state directory (SQLite in WAL mode, local files) under
var/bench/state, then times the real actions: ingest_document (convert, store the file,
the document row and its chunks, audit) and run_generation (load the chunks, draft, create
the course and its draft version). Prints wall time per stage and the process's peak RSS.
The 300-page PDF is the one bench/ingest_and_draft.py makes with LibreOffice.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

from _state import fresh_installation


def main() -> None:
    parser = argparse.ArgumentParser(description="document → draft through the real actions")
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    from ingest_and_draft import build_pdf

    pdf = build_pdf(args.pages, rebuild=False)
    org, author = fresh_installation("draft-state")
    from coursewright.ai.actions import run_generation, start_generation
    from coursewright.audit.actor import Actor
    from coursewright.ingest.actions import ingest_document

    actor = Actor.person(author)
    data = pdf.read_bytes()

    start = time.perf_counter()
    document = ingest_document(org, filename=pdf.name, data=data, actor=actor)
    ingested = time.perf_counter()
    job = start_generation(document, actor=actor, enqueue=False)
    job = run_generation(job.pk)
    done = time.perf_counter()
    assert job.status == "succeeded", job.error
    version = job.course.versions.get()  # type: ignore[union-attr]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"document -> draft through the actions (SQLite WAL, {os.cpu_count()} cores, "
          f"python {sys.version.split()[0]})")
    print(f"  {pdf.name}: {document.page_count} pages, {len(data) / 1048576:.1f} MiB, "
          f"{document.chunks.count()} chunks")
    print(f"  ingest (convert + store + rows): {ingested - start:6.2f} s")
    print(f"  generation job (draft + course): {done - ingested:6.2f} s  "
          f"-> {len(version.content['screens'])} screens")
    print(f"  total wall time:                 {done - start:6.2f} s")
    print(f"  peak RSS:                        {rss:6.0f} MiB")


if __name__ == "__main__":
    main()
