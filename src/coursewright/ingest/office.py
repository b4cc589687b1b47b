"""DOCX (python-docx) and PPTX (python-pptx) → blocks.

convert.py has already checked the zip container (entry count, declared and actual sizes,
compression ratio) before these run. python-docx/python-pptx parse XML with entity
resolution off.

DOCX is read straight from the WordprocessingML tree, in body order: headings come from
paragraph styles ("Heading N", "Title") or outline levels, lists from numbering
definitions, tables become Markdown tables. PPTX gives one heading per slide title and
the slide's other text as bullets; speaker notes are ignored.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import docx
import pptx
from lxml import etree
from pptx.shapes.group import GroupShape

from coursewright.ingest.chunking import (
    Block,
    Extracted,
    Heading,
    Paragraph,
    escape_markdown_line_start,
    markdown_table,
)

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NS = {"w": _W, "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006"}
_HEADING_NAME_RE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_TEXT_XPATH = etree.XPath(
    ".//w:t[not(ancestor::mc:Fallback)] | .//w:tab[not(ancestor::w:tabs)] | .//w:br"
    " | .//w:cr | .//w:noBreakHyphen",
    namespaces=_NS,
)


def _w(tag: str) -> str:
    return f"{{{_W}}}{tag}"


def _val(element: etree._Element | None, tag: str) -> str | None:
    """The w:val of the child ``tag`` of ``element``, if any."""
    if element is None:
        return None
    child = element.find(_w(tag))
    return None if child is None else child.get(_w("val"))


# --- DOCX -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _StyleInfo:
    heading_level: int | None = None  # 0 = "Title"
    num_id: str | None = None
    ilvl: int = 0


class _BlockSink:
    """Collects blocks, gluing consecutive list items into one list block."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.list_lines: list[str] = []
        self.list_page: int | None = None

    def add(self, block: Block) -> None:
        self.flush_list()
        self.blocks.append(block)

    def add_list_line(self, line: str, page: int | None = None) -> None:
        if not self.list_lines:
            self.list_page = page
        self.list_lines.append(line)

    def flush_list(self) -> None:
        if self.list_lines:
            self.blocks.append(Paragraph("\n".join(self.list_lines), self.list_page, "list"))
            self.list_lines = []


def convert_docx(data: bytes, page_count: int | None = None) -> Extracted:
    document = docx.Document(io.BytesIO(data))
    reader = _DocxReader(document)
    reader.read(document.element.body)
    metadata_title = document.core_properties.title or None
    return Extracted(
        reader.sink.blocks,
        visible_title=reader.title,
        metadata_title=metadata_title,
        page_count=page_count,
    )


class _DocxReader:
    def __init__(self, document: Any) -> None:
        self.styles = _read_styles(document.styles.element)
        self.formats = _read_numbering_formats(document.part)
        self.counters: dict[tuple[str, int], int] = {}
        self.sink = _BlockSink()
        self.title: str | None = None

    def read(self, container: etree._Element) -> None:
        for element in container:
            tag = element.tag
            if tag == _w("p"):
                self.paragraph(element)
            elif tag == _w("tbl"):
                self.sink.add(Paragraph(markdown_table(_docx_table_rows(element)), kind="table"))
            elif tag in {_w("sdt"), _w("customXml"), _w("smartTag")}:
                content = element.find(_w("sdtContent"))
                self.read(content if content is not None else element)
        self.sink.flush_list()

    def paragraph(self, p: etree._Element) -> None:
        text = _paragraph_text(p)
        if not text.strip():
            return
        ppr = p.find(_w("pPr"))
        style = self.styles.get(_val(ppr, "pStyle") or "", _StyleInfo())
        level = _outline_level(ppr)
        level = style.heading_level if level is None else level
        if level == 0 and self.title is None:
            self.title = " ".join(text.split())
        elif level is not None:
            self.sink.add(Heading(max(1, level), text))
        elif (numbering := self.numbering(ppr, style)) is not None:
            self.sink.add_list_line(numbering + " ".join(text.split()))
        else:
            self.sink.add(Paragraph(escape_markdown_line_start(text)))

    def numbering(self, ppr: etree._Element | None, style: _StyleInfo) -> str | None:
        """The Markdown list marker (with indentation) of a numbered paragraph, if any."""
        num_pr = ppr.find(_w("numPr")) if ppr is not None else None
        num_id = _val(num_pr, "numId") or style.num_id
        if not num_id or num_id == "0":
            return None
        ilvl_text = _val(num_pr, "ilvl")
        ilvl = min(int(ilvl_text), 8) if ilvl_text and ilvl_text.isdigit() else style.ilvl
        indent = "    " * ilvl
        if self.formats.get((num_id, ilvl), "bullet") in {"bullet", "none"}:
            return indent + "- "
        for key in [k for k in self.counters if k[0] == num_id and k[1] > ilvl]:
            del self.counters[key]
        count = self.counters.get((num_id, ilvl), 0) + 1
        self.counters[(num_id, ilvl)] = count
        return f"{indent}{count}. "


def _paragraph_text(p: etree._Element) -> str:
    parts: list[str] = []
    for node in _TEXT_XPATH(p):
        name = etree.QName(node).localname
        if name == "t":
            parts.append(node.text or "")
        elif name == "noBreakHyphen":
            parts.append("-")
        else:
            parts.append(" ")
    return " ".join("".join(parts).split())


def _outline_level(ppr: etree._Element | None) -> int | None:
    value = _val(ppr, "outlineLvl")
    if value is None or not value.isdigit() or int(value) > 8:
        return None
    return int(value) + 1


def _read_styles(styles: etree._Element) -> dict[str, _StyleInfo]:
    """Paragraph styles by id, with heading level and numbering resolved through basedOn."""
    raw: dict[str, etree._Element] = {
        s.get(_w("styleId")) or "": s for s in styles.iterfind(_w("style"))
    }
    resolved: dict[str, _StyleInfo] = {}

    def resolve(style_id: str, depth: int = 0) -> _StyleInfo:
        if style_id in resolved:
            return resolved[style_id]
        element = raw.get(style_id)
        if element is None or depth > 20:
            return _StyleInfo()
        base_id = _val(element, "basedOn")
        base = resolve(base_id, depth + 1) if base_id else _StyleInfo()
        info = _own_style_info(element, base)
        resolved[style_id] = info
        return info

    for style_id in raw:
        resolve(style_id)
    return resolved


def _own_style_info(style: etree._Element, base: _StyleInfo) -> _StyleInfo:
    name = (_val(style, "name") or "").strip()
    ppr = style.find(_w("pPr"))
    level: int | None
    if name.lower() == "title":
        level = 0
    elif match := _HEADING_NAME_RE.match(name):
        level = int(match.group(1))
    else:
        level = _outline_level(ppr)
        if level is None:
            level = base.heading_level
    num_pr = ppr.find(_w("numPr")) if ppr is not None else None
    num_id = _val(num_pr, "numId") or base.num_id
    ilvl_text = _val(num_pr, "ilvl")
    ilvl = int(ilvl_text) if ilvl_text and ilvl_text.isdigit() else base.ilvl
    return _StyleInfo(level, num_id, min(ilvl, 8))


def _read_numbering_formats(part: Any) -> dict[tuple[str, int], str]:
    """(numId, ilvl) → numFmt ("bullet", "decimal", ...)."""
    try:
        numbering = part.numbering_part.element
    except (KeyError, NotImplementedError):
        return {}
    abstract: dict[str, dict[int, str]] = {}
    for definition in numbering.iterfind(_w("abstractNum")):
        levels: dict[int, str] = {}
        for lvl in definition.iterfind(_w("lvl")):
            ilvl = lvl.get(_w("ilvl")) or "0"
            if ilvl.isdigit():
                levels[int(ilvl)] = _val(lvl, "numFmt") or "decimal"
        abstract[definition.get(_w("abstractNumId")) or ""] = levels
    formats: dict[tuple[str, int], str] = {}
    for num in numbering.iterfind(_w("num")):
        num_id = num.get(_w("numId")) or ""
        for ilvl, fmt in abstract.get(_val(num, "abstractNumId") or "", {}).items():
            formats[(num_id, ilvl)] = fmt
    return formats


def _docx_table_rows(table: etree._Element) -> list[list[str]]:
    rows: list[list[str]] = []
    for tr in table.iterfind(_w("tr")):
        cells: list[str] = []
        for tc in tr.iterfind(_w("tc")):
            tc_pr = tc.find(_w("tcPr"))
            merge = tc_pr.find(_w("vMerge")) if tc_pr is not None else None
            continued = merge is not None and merge.get(_w("val")) != "restart"
            text = "" if continued else " ".join(_paragraph_text(p) for p in tc.iter(_w("p")))
            cells.append(text)
            span = _val(tc_pr, "gridSpan")
            cells += [""] * (min(int(span), 64) - 1 if span and span.isdigit() else 0)
        rows.append(cells)
    return rows


# --- PPTX -----------------------------------------------------------------------------

_TITLE_TYPES = {"TITLE", "CENTER_TITLE", "VERTICAL_TITLE"}


def convert_pptx(data: bytes) -> Extracted:
    presentation = pptx.Presentation(io.BytesIO(data))
    sink = _BlockSink()
    visible_title: str | None = None
    for number, slide in enumerate(presentation.slides, start=1):
        title_shape = _title_shape(slide)
        title = _shape_text(title_shape) if title_shape is not None else ""
        if number == 1 and title and _is_title_slide(slide):
            visible_title = title
        elif title:
            sink.add(Heading(1, title, number))
        title_id = title_shape.shape_id if title_shape is not None else None
        others = [s for s in slide.shapes if s.shape_id != title_id]
        _add_shapes(sink, others, number)
        sink.flush_list()
    metadata_title = presentation.core_properties.title or None
    return Extracted(
        sink.blocks,
        visible_title=visible_title,
        metadata_title=metadata_title,
        page_count=len(presentation.slides),
    )


def _title_shape(slide: Any) -> Any:
    for shape in slide.placeholders:
        if _placeholder_type(shape) in _TITLE_TYPES and shape.has_text_frame:
            return shape
    return None


def _is_title_slide(slide: Any) -> bool:
    """A centred title or a subtitle placeholder: the deck's cover, not a topic."""
    types = {_placeholder_type(shape) for shape in slide.placeholders}
    return bool(types & {"CENTER_TITLE", "SUBTITLE"})


def _placeholder_type(shape: Any) -> str:
    try:
        return str(shape.placeholder_format.type.name)
    except (AttributeError, ValueError):
        return ""


def _shape_text(shape: Any) -> str:
    return " ".join(shape.text_frame.text.replace("\v", " ").split())


def _reading_order(shapes: Iterable[Any]) -> list[Any]:
    return sorted(shapes, key=lambda s: ((s.top or 0) // 10_000, s.left or 0))


def _add_shapes(sink: _BlockSink, shapes: Iterable[Any], page: int) -> None:
    for shape in _reading_order(shapes):
        if isinstance(shape, GroupShape):
            _add_shapes(sink, shape.shapes, page)
        elif getattr(shape, "has_table", False) and shape.has_table:
            rows = [[_cell_text(cell) for cell in row.cells] for row in shape.table.rows]
            sink.add(Paragraph(markdown_table(rows), page, "table"))
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            for line in _bullet_lines(shape.text_frame.paragraphs):
                sink.add_list_line(line, page)


def _cell_text(cell: Any) -> str:
    return "" if cell.is_spanned else " ".join(cell.text.split())


def _bullet_lines(paragraphs: Iterable[Any]) -> Iterator[str]:
    for paragraph in paragraphs:
        text = " ".join(paragraph.text.replace("\v", " ").split())
        if text:
            yield "    " * min(int(paragraph.level), 8) + "- " + text
