"""Benchmark: convert a ~300-page structured PDF, then draft a course from it.

Not a test. Run from the repository root:

    .venv/bin/python bench/ingest_and_draft.py [--runs 3] [--pages 300] [--rebuild]

The PDF is made once by LibreOffice from a generated flat ODT handbook (12 chapters with
sections, subsections, bullet and numbered lists, ruled tables, a running header and
page numbers) and cached under var/bench/. Prints convert wall time and peak RSS; if
``coursewright.ai.offline.draft_course`` is importable, also times document → draft.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from coursewright.ingest.types import ConvertedDocument

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
CACHE = ROOT / "var" / "bench"
WORDS_PER_PAGE = 535  # calibrated for the styles below: 11 pt body on A4

VOCABULARY = (  # noqa: SIM905 - a word list reads better as prose
    "technician safety inspection turbine inverter harness ladder client depot record "
    "schedule maintenance report cooperative training mentor weather isolation voltage "
    "battery cable panel roof tower blade gearbox bearing torque sensor meter reading "
    "defect repair replacement warranty invoice contract supplier delivery vehicle route "
    "site visit team colleague manager procedure checklist permit risk hazard control "
    "equipment tool calibration certificate audit quality standard regulation policy "
    "energy power output efficiency monitoring alarm fault diagnosis firmware update "
    "customer complaint feedback survey budget cost saving investment member meeting"
).split()
FILLER = "the a of to and in for with on at by from that this every each our your".split()  # noqa: SIM905


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(VOCABULARY if rng.random() < 0.55 else FILLER) for _ in range(14)]
    words += rng.sample(VOCABULARY, rng.randint(0, 6))
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 6)))


def _title(rng: random.Random, words: int) -> str:
    return " ".join(rng.sample(VOCABULARY, words)).title()


def _p(text: str, style: str = "Text_20_body") -> str:
    return f'<text:p text:style-name="{style}">{escape(text)}</text:p>'


def _h(text: str, level: int) -> str:
    return (
        f'<text:h text:style-name="Heading_20_{level}" text:outline-level="{level}">'
        f"{escape(text)}</text:h>"
    )


def _list(rng: random.Random, numbered: bool) -> str:
    style = "LNumber" if numbered else "LBullet"
    items = "".join(
        f"<text:list-item>{_p(_sentence(rng), 'List_20_Body')}</text:list-item>"
        for _ in range(rng.randint(3, 6))
    )
    return f'<text:list text:style-name="{style}">{items}</text:list>'


def _table(rng: random.Random, number: int) -> str:
    columns = rng.randint(3, 4)
    header = "".join(_cell(_title(rng, 2)) for _ in range(columns))
    rows = "".join(
        "<table:table-row>"
        + "".join(_cell(" ".join(rng.sample(VOCABULARY, 3))) for _ in range(columns))
        + "</table:table-row>"
        for _ in range(rng.randint(4, 8))
    )
    return (
        f'<table:table table:name="Table{number}" table:style-name="Tbl">'
        f'<table:table-column table:number-columns-repeated="{columns}"/>'
        f"<table:table-header-rows><table:table-row>{header}</table:table-row>"
        f"</table:table-header-rows>{rows}</table:table>"
    )


def _cell(text: str) -> str:
    return (
        '<table:table-cell table:style-name="Cell" office:value-type="string">'
        f"{_p(text, 'Table_20_Contents')}</table:table-cell>"
    )


def handbook_body(pages: int, seed: int = 7) -> str:
    """12 chapters of sections and subsections, sized to about ``pages`` pages."""
    rng = random.Random(seed)
    words_per_chapter = pages * WORDS_PER_PAGE // 12
    parts = [_h("Northwind Technical Operations Manual", 1), _p(_paragraph(rng))]
    tables = 0
    for chapter in range(1, 13):
        parts.append(_h(f"Chapter {chapter}: {_title(rng, 3)}", 2))
        parts.append(_p(_paragraph(rng)))
        written = 0
        section = 0
        while written < words_per_chapter:
            section += 1
            parts.append(_h(f"{chapter}.{section} {_title(rng, 2)}", 3))
            for sub in range(1, rng.randint(2, 4)):
                parts.append(_h(f"{chapter}.{section}.{sub} {_title(rng, 2)}", 4))
                for _ in range(rng.randint(2, 4)):
                    text = _paragraph(rng)
                    parts.append(_p(text))
                    written += len(text.split())
                if rng.random() < 0.5:
                    parts.append(_list(rng, numbered=rng.random() < 0.4))
                    written += 60
                if rng.random() < 0.15:
                    tables += 1
                    parts.append(_table(rng, tables))
                    written += 80
    return "\n".join(parts)


FODT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document
 xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
 <office:meta><dc:title>Northwind Technical Operations Manual</dc:title></office:meta>
 <office:styles>
  <style:style style:name="Standard" style:family="paragraph">
   <style:text-properties fo:font-family="'Liberation Serif'" fo:font-size="11pt"/>
  </style:style>
  <style:style style:name="Text_20_body" style:family="paragraph"
   style:parent-style-name="Standard">
   <style:paragraph-properties fo:margin-bottom="0.2cm" fo:text-align="justify"/>
  </style:style>
  <style:style style:name="List_20_Body" style:family="paragraph"
   style:parent-style-name="Standard"/>
  <style:style style:name="Table_20_Contents" style:family="paragraph"
   style:parent-style-name="Standard"><style:text-properties fo:font-size="10pt"/></style:style>
  <style:style style:name="Heading_20_1" style:family="paragraph"
   style:parent-style-name="Standard" style:default-outline-level="1">
   <style:paragraph-properties fo:margin-bottom="0.4cm"/>
   <style:text-properties fo:font-size="24pt" fo:font-weight="bold"/></style:style>
  <style:style style:name="Heading_20_2" style:family="paragraph"
   style:parent-style-name="Standard" style:default-outline-level="2">
   <style:paragraph-properties fo:margin-top="0.6cm" fo:margin-bottom="0.3cm"
    fo:break-before="page"/>
   <style:text-properties fo:font-size="18pt" fo:font-weight="bold"/></style:style>
  <style:style style:name="Heading_20_3" style:family="paragraph"
   style:parent-style-name="Standard" style:default-outline-level="3">
   <style:paragraph-properties fo:margin-top="0.4cm" fo:margin-bottom="0.2cm"
    fo:keep-with-next="always"/>
   <style:text-properties fo:font-size="14pt" fo:font-weight="bold"/></style:style>
  <style:style style:name="Heading_20_4" style:family="paragraph"
   style:parent-style-name="Standard" style:default-outline-level="4">
   <style:paragraph-properties fo:margin-top="0.3cm" fo:margin-bottom="0.1cm"
    fo:keep-with-next="always"/>
   <style:text-properties fo:font-size="12pt" fo:font-weight="bold"/></style:style>
  <style:style style:name="Header" style:family="paragraph" style:parent-style-name="Standard">
   <style:text-properties fo:font-size="9pt" fo:font-style="italic"/></style:style>
  <style:style style:name="Footer" style:family="paragraph" style:parent-style-name="Standard">
   <style:paragraph-properties fo:text-align="center"/>
   <style:text-properties fo:font-size="9pt"/></style:style>
  <text:list-style style:name="LBullet">
   <text:list-level-style-bullet text:level="1" text:bullet-char="•">
    <style:list-level-properties text:list-level-position-and-space-mode="label-alignment">
     <style:list-level-label-alignment text:label-followed-by="listtab"
      text:list-tab-stop-position="1.27cm" fo:text-indent="-0.635cm" fo:margin-left="1.27cm"/>
    </style:list-level-properties></text:list-level-style-bullet>
  </text:list-style>
  <text:list-style style:name="LNumber">
   <text:list-level-style-number text:level="1" style:num-suffix="." style:num-format="1">
    <style:list-level-properties text:list-level-position-and-space-mode="label-alignment">
     <style:list-level-label-alignment text:label-followed-by="listtab"
      text:list-tab-stop-position="1.27cm" fo:text-indent="-0.635cm" fo:margin-left="1.27cm"/>
    </style:list-level-properties></text:list-level-style-number>
  </text:list-style>
 </office:styles>
 <office:automatic-styles>
  <style:style style:name="Tbl" style:family="table">
   <style:table-properties style:width="16cm" table:align="left"
    xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"/></style:style>
  <style:style style:name="Cell" style:family="table-cell">
   <style:table-cell-properties fo:padding="0.1cm" fo:border="0.5pt solid #000000"/>
  </style:style>
  <style:page-layout style:name="pm1">
   <style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm"
    fo:margin-top="1.5cm" fo:margin-bottom="1.5cm" fo:margin-left="2cm" fo:margin-right="2cm"/>
   <style:header-style><style:header-footer-properties fo:min-height="0.6cm"
    fo:margin-bottom="0.4cm"/></style:header-style>
   <style:footer-style><style:header-footer-properties fo:min-height="0.6cm"
    fo:margin-top="0.4cm"/></style:footer-style>
  </style:page-layout>
 </office:automatic-styles>
 <office:master-styles>
  <style:master-page style:name="Standard" style:page-layout-name="pm1">
   <style:header><text:p text:style-name="Header">Northwind Technical Operations Manual
    · internal</text:p></style:header>
   <style:footer><text:p text:style-name="Footer">Page <text:page-number
    text:select-page="current">1</text:page-number></text:p></style:footer>
  </style:master-page>
 </office:master-styles>
 <office:body><office:text>
__BODY__
 </office:text></office:body>
</office:document>
"""


def build_pdf(pages: int, rebuild: bool) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"handbook-{pages}.pdf"
    if target.exists() and not rebuild:
        return target
    if shutil.which("soffice") is None:
        sys.exit("soffice (LibreOffice) is needed to build the benchmark PDF")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / target.with_suffix(".fodt").name
        source.write_text(FODT.replace("__BODY__", handbook_body(pages)), encoding="utf-8")
        started = time.perf_counter()
        subprocess.run(
            [
                "soffice",
                "--headless",
                f"-env:UserInstallation=file://{tmp}/profile",
                "--convert-to",
                "pdf",
                "--outdir",
                tmp,
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        print(f"built {target.name} with LibreOffice in {time.perf_counter() - started:.1f} s")
        shutil.move(str(source.with_suffix(".pdf")), target)
    return target


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def time_convert(path: Path, runs: int) -> tuple[ConvertedDocument, float]:
    """Converts ``runs`` times; returns the document and the fastest wall time."""
    from coursewright.ingest.convert import convert_document

    data = path.read_bytes()
    timings = []
    doc = None
    for _ in range(runs):
        started = time.perf_counter()
        doc = convert_document(path.name, data, max_bytes=200 * 2**20, max_pages=2000)
        timings.append(time.perf_counter() - started)
    assert doc is not None
    pages = doc.page_count or 1
    print(
        f"convert_document: {pages} pages, {len(data) / 2**20:.1f} MiB, "
        f"{len(doc.sections)} top-level sections, {len(doc.chunks)} chunks, "
        f"{len(doc.markdown.split())} words of Markdown"
    )
    print(
        f"  wall time: min {min(timings):.2f} s, median {statistics.median(timings):.2f} s, "
        f"max {max(timings):.2f} s over {runs} run(s); {min(timings) / pages * 1000:.1f} ms/page"
    )
    return doc, min(timings)


def time_draft(doc: ConvertedDocument) -> float | None:
    """Seconds for coursewright.ai.offline.draft_course, or None if it is not there yet."""
    try:
        import django

        django.setup()
        from coursewright.ai.offline import draft_course
    except ImportError as exc:
        print(f"draft_course: skipped, not importable ({exc})")
        return None
    started = time.perf_counter()
    course = draft_course(doc, title=None, language="en", target_screens=40, now=datetime.now(UTC))
    elapsed = time.perf_counter() - started
    print(f"draft_course: {elapsed:.2f} s ({type(course).__name__})")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description="Time document conversion and drafting.")
    parser.add_argument("--pages", type=int, default=300, help="approximate size of the PDF")
    parser.add_argument("--runs", type=int, default=3, help="conversions to time")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached PDF")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coursewright.settings")
    path = build_pdf(args.pages, args.rebuild)
    print(f"process peak RSS before converting: {peak_rss_mib():.0f} MiB")
    doc, convert_seconds = time_convert(path, args.runs)
    print(f"  peak RSS after converting: {peak_rss_mib():.0f} MiB")
    draft_seconds = time_draft(doc)
    if draft_seconds is not None:
        print(f"  peak RSS after drafting: {peak_rss_mib():.0f} MiB")
        print(
            f"document -> draft: {convert_seconds + draft_seconds:.2f} s (fastest convert + draft)"
        )


if __name__ == "__main__":
    main()
