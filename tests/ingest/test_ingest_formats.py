"""Markdown, HTML, plain text and DOCX details, on small inputs made in the test."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator

import docx
import pytest
from docx.oxml.ns import qn
from lxml import etree

from coursewright.ingest.convert import convert_document
from coursewright.ingest.types import ConvertedDocument

MB = 2**20


def convert(filename: str, data: bytes | str) -> ConvertedDocument:
    raw = data.encode() if isinstance(data, str) else data
    return convert_document(filename, raw, max_bytes=MB, max_pages=50)


# --- Markdown --------------------------------------------------------------------------

MARKDOWN = """---
title: Field Guide
---
# Field Guide

Intro text.

## Setup

```sh
# not a heading
make install
```

| A | B |
|---|---|
| 1 | 2 |

Setext chapter
--------------

- one
  - two
"""


def test_markdown_is_kept_and_its_headings_parsed() -> None:
    doc = convert("guide.md", MARKDOWN)

    assert doc.source_format == "md"
    assert doc.title == "Field Guide"
    assert [s.title for s in doc.sections] == ["Setup", "Setext chapter"]
    assert doc.markdown == MARKDOWN.split("---\n", 2)[2]
    setup = next(c for c in doc.chunks if c.section_path == ("Setup",))
    assert "```sh\n# not a heading\nmake install\n```" in setup.text
    assert "| 1 | 2 |" in setup.text
    assert any(c.text == "- one\n  - two" for c in doc.chunks)


# --- HTML ------------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"FETCHED")

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def web_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.hits = []
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_html_structure_without_scripts_navigation_or_fetching(web_server: str) -> None:
    html = f"""<!DOCTYPE html [<!ENTITY xxe SYSTEM "{web_server}/entity">]>
<html><head><title>Depot Guide</title>
<link rel="stylesheet" href="{web_server}/style.css">
<script src="{web_server}/app.js"></script><style>p {{ color: red }}</style></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<h1>Depot Guide</h1>
<p>Opening <b>hours</b> are <em>seven</em> to five. &xxe;</p>
<img src="{web_server}/logo.png" alt="logo">
<iframe src="{web_server}/frame"></iframe>
<h2>Stores</h2>
<div>Loose text in a div.<p>And a paragraph.</p></div>
<ol start="3"><li>Third<ul><li>nested</li></ul></li><li>Fourth</li></ol>
<table><thead><tr><th>Item</th><th>Bin</th></tr></thead>
<tbody><tr><td colspan="2">Gloves | size L</td></tr></tbody></table>
<h2>Returns</h2><pre>  keep   spacing</pre>
<script>document.write("injected")</script>
</body></html>"""
    doc = convert("guide.html", html)

    assert _Recorder.hits == []
    assert doc.title == "Depot Guide"
    assert [s.title for s in doc.sections] == ["Stores", "Returns"]
    md = doc.markdown
    assert "Opening **hours** are *seven* to five." in md
    assert "Home" not in md
    assert "injected" not in md
    assert "color" not in md
    assert "FETCHED" not in md
    assert "Loose text in a div.\n\nAnd a paragraph." in md
    assert "3. Third\n    - nested\n4. Fourth" in md
    assert "| Item | Bin |\n|---|---|\n| Gloves \\| size L | |" in md
    assert "]>" not in md
    assert "```\n  keep   spacing\n```" in md


# --- plain text ------------------------------------------------------------------------


def test_plain_text_paragraphs_headings_and_lists() -> None:
    text = (
        "SAFETY NOTES\n\n"
        "These notes were written for the\nnew depot team.\n\n"
        "1. Introduction\n\n"
        "Welcome aboard.\n\n"
        "2.1 Scope\n\n"
        "• gloves\n• boots\n  and socks\n\n"
        "3. Remember to sign out.\n"
    )
    doc = convert("notes.txt", text)

    assert doc.source_format == "txt"
    assert doc.title == "SAFETY NOTES"
    assert [s.title for s in doc.sections] == ["SAFETY NOTES", "1. Introduction"]
    intro = doc.sections[1]
    assert [c.title for c in intro.children] == ["2.1 Scope"]
    assert "These notes were written for the new depot team." in doc.markdown
    assert "- gloves\n- boots and socks" in doc.markdown
    assert "3. Remember to sign out." in doc.markdown


def test_text_starting_with_a_hash_is_not_a_markdown_heading() -> None:
    doc = convert("tags.txt", "#depot and #safety are our tags.")

    assert doc.sections == []
    assert doc.chunks[0].text == "\\#depot and #safety are our tags."


# --- DOCX details ----------------------------------------------------------------------


def _docx_bytes() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Core title"
    document.add_paragraph("Styled Title", style="Title")
    document.add_paragraph("Opening words.")
    document.add_heading("Chapter one", level=1)
    document.add_paragraph("First point", style="List Bullet")
    document.add_paragraph("Second point", style="List Bullet")
    document.add_paragraph("Step", style="List Number")
    outlined = document.add_paragraph("Outlined chapter")
    level = etree.SubElement(outlined._p.get_or_add_pPr(), qn("w:outlineLvl"))
    level.set(qn("w:val"), "0")
    document.add_paragraph("Body under the outlined chapter.")
    table = document.add_table(rows=2, cols=3)
    for col, text in enumerate(["Name", "Role", "Site"]):
        table.cell(0, col).text = text
    merged = table.cell(1, 0).merge(table.cell(1, 1))
    merged.text = "Merged"
    table.cell(1, 2).text = "North"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_title_style_outline_levels_lists_and_merged_cells() -> None:
    doc = convert("report.docx", _docx_bytes())

    assert doc.title == "Styled Title"
    assert [s.title for s in doc.sections] == ["Chapter one", "Outlined chapter"]
    assert "Styled Title" not in doc.markdown.split("\n", 1)[1]
    assert "- First point\n- Second point\n1. Step" in doc.markdown
    assert "| Name | Role | Site |\n|---|---|---|\n| Merged | | North |" in doc.markdown
