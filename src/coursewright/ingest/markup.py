"""Markdown, HTML and plain text → blocks.

All three arrive as already-decoded text (convert.py checks the encoding). Nothing here
fetches anything: lxml parses HTML with network access off and without DTDs, and
``<script>``/``<style>``/``<nav>`` and embedded objects are dropped unread.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import lxml.html
from lxml import etree
from markdown_it import MarkdownIt
from markdown_it.token import Token

from coursewright.ingest.chunking import (
    Block,
    Extracted,
    Heading,
    Paragraph,
    escape_markdown_line_start,
    markdown_table,
)

# --- Markdown -------------------------------------------------------------------------

_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_MATTER_TITLE_RE = re.compile(r"^title:\s*[\"']?(.+?)[\"']?\s*$", re.MULTILINE)


def convert_markdown(text: str) -> Extracted:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    metadata_title = None
    body = text
    front = _FRONT_MATTER_RE.match(text)
    if front:
        found = _FRONT_MATTER_TITLE_RE.search(front.group(1))
        metadata_title = found.group(1) if found else None
        body = text[front.end() :]
    lines = body.split("\n")
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    blocks = list(_markdown_blocks(tokens, lines))
    return Extracted(blocks, metadata_title=metadata_title, markdown=body)


def _markdown_blocks(tokens: list[Token], lines: list[str]) -> Iterator[Block]:
    for i, token in enumerate(tokens):
        if token.level != 0 or token.map is None or token.nesting == -1:
            continue
        if token.type == "heading_open":
            yield Heading(int(token.tag[1:]), _plain_inline(tokens[i + 1]))
            continue
        source = "\n".join(lines[token.map[0] : token.map[1]])
        if token.type == "html_block":  # raw HTML: its text, without scripts and styles
            yield from convert_html(source).blocks
            continue
        kind = {"table_open": "table", "fence": "code", "code_block": "code"}.get(token.type, "raw")
        yield Paragraph(source, kind=kind)


def _plain_inline(token: Token) -> str:
    children = token.children or []
    return "".join(c.content for c in children if c.type in {"text", "code_inline"}) or (
        token.content
    )


# --- HTML -----------------------------------------------------------------------------

_DROPPED_TAGS = frozenset(
    {
        "script", "style", "nav", "noscript", "template", "iframe", "object", "embed",
        "svg", "math", "canvas", "form", "button", "select", "textarea", "head", "audio",
        "video", "map", "title", "meta", "link", "base",
    }
)  # fmt: skip
_DOCTYPE_RE = re.compile(r"^\s*<!DOCTYPE[^>\[]*(\[.*?\])?\s*>", re.IGNORECASE | re.DOTALL)
_HEADING_TAGS = {f"h{n}": n for n in range(1, 7)}
_LIST_TAGS = frozenset({"ul", "ol", "menu"})
_INLINE_MARKS = {"strong": "**", "b": "**", "em": "*", "i": "*", "code": "`"}
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote",
        "pre", "ul", "ol", "menu", "li", "table", "h1", "h2", "h3", "h4", "h5", "h6", "dl",
        "dt", "dd", "figure", "figcaption", "hr", "address", "details", "summary", "body",
        "html", "center", "fieldset", "legend", "tr", "td", "th", "caption",
    }
)  # fmt: skip


def convert_html(text: str) -> Extracted:
    parser = lxml.html.HTMLParser(
        no_network=True, remove_comments=True, remove_pis=True, default_doctype=False
    )
    # Bytes would let a <meta charset> override what we already decoded. A DOCTYPE
    # (possibly with an internal subset the HTML parser does not understand) is dropped.
    text = _DOCTYPE_RE.sub("", text, count=1)
    if not text.strip():
        return Extracted([])
    try:
        root = lxml.html.document_fromstring(text, parser=parser)
    except etree.ParserError:  # nothing but comments or processing instructions
        return Extracted([])
    title_el = root.find(".//title")
    title = title_el.text_content() if title_el is not None else None
    walker = _HtmlWalker()
    body = root.find("body")
    walker.walk(body if body is not None else root)
    walker.flush()
    return Extracted(walker.blocks, metadata_title=title)


class _HtmlWalker:
    """Walks block-level structure; collects inline text into pending paragraphs."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.pending: list[str] = []

    def flush(self) -> None:
        text = "".join(self.pending).strip()
        self.pending = []
        if text:
            self.blocks.append(Paragraph(escape_markdown_line_start(text)))

    def walk(self, element: etree._Element) -> None:
        self.pending.append(element.text or "")
        for child in element:
            if isinstance(child.tag, str):
                self.visit(child)
            self.pending.append(child.tail or "")

    def visit(self, element: etree._Element) -> None:
        tag = _tag(element)
        if tag in _DROPPED_TAGS:
            return
        if tag not in _BLOCK_TAGS:
            self.pending.append(inline_markdown(element))
            return
        self.flush()
        block = _html_block(element, tag)
        if block is not None:
            self.blocks.append(block)
        elif tag not in {"hr", "table", "ul", "ol", "menu", "pre"}:
            self.walk(element)
            self.flush()


def _html_block(element: etree._Element, tag: str) -> Block | None:
    if tag in _HEADING_TAGS:
        return Heading(_HEADING_TAGS[tag], inline_markdown(element, marks=False))
    if tag == "p":
        return Paragraph(escape_markdown_line_start(inline_markdown(element).strip()))
    if tag in _LIST_TAGS:
        return Paragraph("\n".join(_list_lines(element, 0)), kind="list")
    if tag == "table":
        return Paragraph(markdown_table(_table_rows(element)), kind="table")
    if tag == "pre":
        code = "".join(element.itertext()).strip("\n")
        return Paragraph(f"```\n{code}\n```", kind="code")
    if tag == "blockquote":
        quoted = inline_markdown(element).strip()
        return Paragraph("\n".join("> " + line for line in quoted.split("\n") if line.strip()))
    return None


def _tag(element: etree._Element) -> str:
    tag = element.tag
    return tag.lower() if isinstance(tag, str) else ""


def inline_markdown(element: etree._Element, *, marks: bool = True) -> str:
    """The text of an element with bold/italic/code as Markdown and <br> as newline."""
    parts = [element.text or ""]
    for child in element:
        tag = _tag(child)
        if tag == "br":
            parts.append("\n")
        elif tag and tag not in _DROPPED_TAGS and tag not in _LIST_TAGS:
            inner = inline_markdown(child, marks=marks)
            mark = _INLINE_MARKS.get(tag, "") if marks else ""
            if mark and inner.strip():
                inner = f"{mark}{inner.strip()}{mark}"
            parts.append(inner if tag not in _BLOCK_TAGS else f" {inner} ")
        parts.append(child.tail or "")
    return re.sub(r"[ \t\r\f\v]+", " ", "".join(parts))


def _list_lines(element: etree._Element, depth: int) -> Iterator[str]:
    ordered = _tag(element) == "ol"
    number = _int_attr(element, "start", 1)
    for item in element:
        if _tag(item) != "li":
            continue
        marker = f"{number}." if ordered else "-"
        number += 1
        text = " ".join(inline_markdown(item).split())
        yield "    " * depth + f"{marker} {text}".rstrip()
        for nested in item:
            if _tag(nested) in _LIST_TAGS:
                yield from _list_lines(nested, depth + 1)


def _int_attr(element: etree._Element, name: str, default: int) -> int:
    value = element.get(name) or ""
    return int(value) if value.isdigit() and len(value) < 7 else default


def _table_rows(table: etree._Element) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr"):
        cells: list[str] = []
        for cell in row:
            if _tag(cell) not in {"td", "th"}:
                continue
            cells.append(" ".join(inline_markdown(cell).split()))
            cells += [""] * (min(_int_attr(cell, "colspan", 1), 50) - 1)
        rows.append(cells)
    return rows


# --- plain text -----------------------------------------------------------------------

_PARAGRAPH_SPLIT_RE = re.compile(r"\n[ \t]*\n")
_NUMBERED_HEADING_RE = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){0,4})\.?\s+([A-Z\u00c0-\u024f].*)$")
_TEXT_LIST_RE = re.compile(r"^(\s*)(?:[-*+•‣◦▪●–]|(\d{1,3})[.)])\s+(.*)$")
_UNDERLINE_RE = re.compile(r"^(=+|-+)$")


def convert_text(text: str) -> Extracted:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    blocks: list[Block] = []
    for raw in _PARAGRAPH_SPLIT_RE.split(text):
        lines = [line.rstrip() for line in raw.split("\n") if line.strip()]
        if lines:
            blocks.append(_text_block(lines))
    return Extracted(blocks)


def _text_block(lines: list[str]) -> Block:
    if len(lines) == 2 and _UNDERLINE_RE.match(lines[1].strip()):
        return Heading(1 if lines[1].strip()[0] == "=" else 2, lines[0])
    if len(lines) == 1:
        level = _text_heading_level(lines[0].strip())
        if level:
            return Heading(level, lines[0])
    if _TEXT_LIST_RE.match(lines[0]):
        return Paragraph("\n".join(_text_list_lines(lines)), kind="list")
    return Paragraph(escape_markdown_line_start(" ".join(line.strip() for line in lines)))


def _text_heading_level(line: str) -> int:
    if len(line) > 100 or len(line.split()) > 12 or line[-1] in ".,;:!?":
        return 0
    numbered = _NUMBERED_HEADING_RE.match(line)
    if numbered:
        return numbered.group(1).count(".") + 1
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 2 and line == line.upper():
        return 1
    return 0


def _text_list_lines(lines: list[str]) -> list[str]:
    items: list[str] = []
    for line in lines:
        item = _TEXT_LIST_RE.match(line)
        if item is None:  # a continuation of the previous item
            items[-1] += " " + line.strip()
            continue
        indent, number, rest = item.groups()
        depth = len(indent.replace("\t", "    ")) // 2
        items.append("    " * depth + (f"{number}. " if number else "- ") + rest.strip())
    return items
