"""PDF → blocks with pypdfium2, using the fonts to find the structure.

Speed matters (a 300-page PDF should take a second or two), so text is read per *text
object* through pypdfium2's raw API — a handful of ctypes calls per run of text, never
one per character. The rest is geometry in plain Python:

1. per page: text spans (bounds, baseline, font size times text-matrix scale, bold) and thin
   ruling lines;
2. ruled tables: clusters of crossing rules become grids; spans inside become cells;
3. spans on one baseline join into lines, split where a gap is wider than ~1 em;
4. running headers/footers (same text at the same place on several pages), page numbers
   in the top/bottom margin and table-of-contents entries ("Safety . . . 12") are dropped;
5. reading order by recursive XY-cut: bands separated by white space, consecutive bands
   that share a vertical gutter form a multi-column group that is read column by column;
6. lines → blocks (paragraphs, also across column and page breaks; list items from bullet
   glyphs, drawn bullet shapes or numbers, nested by indentation; headings):
   body size = the font size carrying most characters; short blocks in a clearly larger
   size are headings ranked by size, short all-bold lines at body size rank below them.
"""

from __future__ import annotations

import ctypes
import re
import threading
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from coursewright.ingest.chunking import (
    Block,
    Extracted,
    Heading,
    Paragraph,
    escape_markdown_line_start,
    markdown_table,
)
from coursewright.ingest.types import IngestError

# PDFium is not thread-safe; one conversion at a time per process.
_PDFIUM_LOCK = threading.Lock()

MAX_OBJECTS_PER_PAGE = 50_000  # further objects on a page are ignored
MAX_OBJECTS = 1_500_000  # a whole document with more is refused as too complex
MAX_BULLET_SHAPES = 400  # small shapes per page considered as drawn bullets
MAX_RULES_PER_PAGE = 1_500
_FORM_DEPTH = 6

_GLYPH_BULLETS = "•◦▪▫‣●○■□◆◇►▸▶➢➤✓✔·\uf0b7\uf0a7\uf076\uf0d8\uf0fc\uf06e\uf0a8"
_BULLETS = _GLYPH_BULLETS + "-–—*"
# a glyph bullet may touch its text; a dash or asterisk needs a space ("-5 °C" is no item)
_BULLET_RE = re.compile(rf"^\s*(?:[{re.escape(_GLYPH_BULLETS)}]\s*|[-–—*]\s+)(?=\S)")
_NUMBER_MARK_RE = re.compile(r"^\s*(\d{1,3}|[a-zA-Z]|[ivxIVX]{1,5})[.)]\s+(?=\S)")
_NUMBER_ONLY_RE = re.compile(r"^\s*(\d{1,3}|[a-zA-Z]|[ivxIVX]{1,5})[.)]\s*$")
_ROMAN = r"(?=[ivxlcdm])m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})"
_PAGE_NUMBER_RE = re.compile(
    rf"^(page\s+|p\.\s*|seite\s+|pagina\s+)?[-–—(\[]?\s*(\d{{1,4}}|{_ROMAN})\s*[-–—)\]]?"
    r"(\s*(of|/|von|de|sur)\s*\d{1,4})?$",
    re.IGNORECASE,
)
_TOC_ENTRY_RE = re.compile(r"(?:\s*[.·…]){4,}\s*(\d{1,4}|[ivxlcdm]{1,6})$", re.IGNORECASE)
_BOLD_NAME_RE = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
_TERMINAL_PUNCT = tuple(".!?:;")


# --- reading pages through pdfium -------------------------------------------------------


@dataclass(slots=True)
class _Span:
    x0: float
    x1: float
    bottom: float
    top: float
    baseline: float
    size: float
    bold: bool
    text: str


@dataclass(slots=True)
class _Page:
    number: int  # 1-based
    left: float
    bottom: float
    right: float
    top: float
    spans: list[_Span] = field(default_factory=list)
    rules: list[tuple[float, float, float, float]] = field(default_factory=list)
    dots: list[tuple[float, float, float, float]] = field(default_factory=list)  # drawn bullets


def convert_pdf(data: bytes, *, max_pages: int) -> Extracted:
    with _PDFIUM_LOCK:
        pages, metadata_title = _read_pdf(data, max_pages)
    return Extracted(
        blocks=_layout_document(pages),
        metadata_title=metadata_title,
        page_count=len(pages),
    )


def _read_pdf(data: bytes, max_pages: int) -> tuple[list[_Page], str | None]:
    document = _open_pdf(data)
    try:
        page_count = len(document)
        if page_count > max_pages:
            raise IngestError(
                "too_many_pages",
                f"This PDF has {page_count} pages; the limit is {max_pages}. Split it into "
                "smaller parts and upload them separately.",
            )
        pages = []
        budget = MAX_OBJECTS
        for index in range(page_count):
            page, seen = _read_page(document, index, budget)
            budget -= seen
            if budget < 0:
                raise IngestError(
                    "too_large",
                    "This PDF is too complex to read: its pages hold millions of separate "
                    "drawing objects. Try printing it to a new PDF and upload that instead.",
                )
            pages.append(page)
        title = document.get_metadata_value("Title")
        return pages, str(title) if title else None
    finally:
        document.close()


def _open_pdf(data: bytes) -> Any:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise IngestError(
                "encrypted",
                "This PDF is password-protected. Remove the password and upload it again.",
            ) from exc
        raise IngestError(
            "corrupt",
            "This PDF is damaged and can't be opened. Try exporting it again from the "
            "program that made it.",
        ) from exc


def _read_page(document: Any, index: int, budget: int) -> tuple[_Page, int]:
    """The page's content and how many objects were looked at."""
    page = document[index]
    textpage = page.get_textpage()
    try:
        left, bottom, right, top = (float(v) for v in page.get_bbox())
        reader = _PageReader(textpage.raw, limit=min(MAX_OBJECTS_PER_PAGE, budget + 1))
        reader.read_objects(page.raw)
        content = _Page(
            index + 1, left, bottom, right, top, reader.spans, reader.rules, reader.dots
        )
        return content, reader.seen
    finally:
        textpage.close()
        page.close()


_Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: _Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _concat(inner: _Matrix, outer: _Matrix) -> _Matrix:
    a, b, c, d, e, f = inner
    p, q, r, s, t, u = outer
    return (
        a * p + b * r,
        a * q + b * s,
        c * p + d * r,
        c * q + d * s,
        e * p + f * r + t,
        e * q + f * s + u,
    )


def _apply(m: _Matrix, x: float, y: float) -> tuple[float, float]:
    return (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])


class _PageReader:
    """Walks a page's objects (and form XObjects) collecting text spans and rules."""

    def __init__(self, textpage: Any, limit: int) -> None:
        self.textpage = textpage
        self.limit = limit
        self.spans: list[_Span] = []
        self.rules: list[tuple[float, float, float, float]] = []
        self.dots: list[tuple[float, float, float, float]] = []
        self.fonts: dict[int | None, bool] = {}
        self.seen = 0
        self._l, self._b, self._r, self._t = (ctypes.c_float() for _ in range(4))
        self._size = ctypes.c_float()
        self._matrix = pdfium_c.FS_MATRIX()
        self._grow(4096)

    def read_objects(self, page: Any) -> None:
        count = pdfium_c.FPDFPage_CountObjects(page)
        objects = (pdfium_c.FPDFPage_GetObject(page, i) for i in range(count))
        self._walk(objects, _IDENTITY, 0)

    def _walk(self, objects: Iterator[Any], matrix: _Matrix, depth: int) -> None:
        for obj in objects:
            self.seen += 1
            if self.seen > self.limit:
                return
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_TEXT:
                self._text(obj, matrix)
            elif kind == pdfium_c.FPDF_PAGEOBJ_PATH and len(self.rules) < MAX_RULES_PER_PAGE:
                self._path(obj, matrix)
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM and depth < _FORM_DEPTH:
                form_matrix = _concat(self._object_matrix(obj), matrix)
                count = pdfium_c.FPDFFormObj_CountObjects(obj)
                children = (pdfium_c.FPDFFormObj_GetObject(obj, i) for i in range(count))
                self._walk(children, form_matrix, depth + 1)

    def _object_matrix(self, obj: Any) -> _Matrix:
        m = self._matrix
        if not pdfium_c.FPDFPageObj_GetMatrix(obj, m):
            return _IDENTITY
        return (m.a, m.b, m.c, m.d, m.e, m.f)

    def _bounds(self, obj: Any, matrix: _Matrix) -> tuple[float, float, float, float] | None:
        if not pdfium_c.FPDFPageObj_GetBounds(obj, self._l, self._b, self._r, self._t):
            return None
        x0, y0, x1, y1 = self._l.value, self._b.value, self._r.value, self._t.value
        if matrix is not _IDENTITY:
            (ax, ay), (bx, by) = _apply(matrix, x0, y0), _apply(matrix, x1, y1)
            x0, x1, y0, y1 = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
        return x0, y0, x1, y1

    def _text(self, obj: Any, matrix: _Matrix) -> None:
        text = self._object_text(obj)
        if not text.strip():
            return
        bounds = self._bounds(obj, matrix)
        if bounds is None or not pdfium_c.FPDFTextObj_GetFontSize(obj, self._size):
            return
        x0, y0, x1, y1 = bounds
        tm = _concat(self._object_matrix(obj), matrix)
        scale = (tm[2] ** 2 + tm[3] ** 2) ** 0.5
        size = self._size.value * scale if scale > 0 else y1 - y0
        upright = abs(tm[1]) < 0.01 * max(abs(tm[0]), 1e-6) and tm[3] > 0
        baseline = tm[5] if upright and y0 - 1 <= tm[5] <= y1 + 1 else y0
        bold = self._is_bold(obj)
        self.spans.append(_Span(x0, x1, y0, y1, baseline, round(size, 1) or 1.0, bold, text))

    def _object_text(self, obj: Any) -> str:
        # One call when the text fits the buffer (pdfium copies only if it fits).
        needed = pdfium_c.FPDFTextObj_GetText(obj, self.textpage, self._target, self._capacity)
        if needed > self._capacity:
            self._grow(needed)
            needed = pdfium_c.FPDFTextObj_GetText(obj, self.textpage, self._target, needed)
        if needed <= 2:
            return ""
        raw = ctypes.string_at(self._buffer, needed - 2)
        return _clean_pdf_text(raw.decode("utf-16-le", errors="replace"))

    def _grow(self, size: int) -> None:
        self._buffer = ctypes.create_string_buffer(size)
        self._capacity = size
        self._target = ctypes.cast(self._buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR))

    def _is_bold(self, obj: Any) -> bool:
        font = pdfium_c.FPDFTextObj_GetFont(obj)
        key = ctypes.cast(font, ctypes.c_void_p).value
        if key not in self.fonts:
            self.fonts[key] = bool(font) and _font_is_bold(font)
        return self.fonts[key]

    def _path(self, obj: Any, matrix: _Matrix) -> None:
        bounds = self._bounds(obj, matrix)
        if bounds is None:
            return
        x0, y0, x1, y1 = bounds
        width, height = x1 - x0, y1 - y0
        if (height <= 2.5 and width >= 4) or (width <= 2.5 and height >= 4):
            self.rules.append(bounds)
        elif width <= 8 and height <= 8:
            if width >= 1.5 and height >= 1.5 and len(self.dots) < MAX_BULLET_SHAPES:
                self.dots.append(bounds)
        elif _is_rectangle(obj):  # a boxed cell: its four edges
            self.rules += [(x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)]


def _is_rectangle(path: Any) -> bool:
    count = pdfium_c.FPDFPath_CountSegments(path)
    if count not in (4, 5):
        return False
    for index in range(count):
        segment = pdfium_c.FPDFPath_GetPathSegment(path, index)
        if pdfium_c.FPDFPathSegment_GetType(segment) == pdfium_c.FPDF_SEGMENT_BEZIERTO:
            return False
    return True


def _font_is_bold(font: Any) -> bool:
    if pdfium_c.FPDFFont_GetWeight(font) >= 600:
        return True
    if pdfium_c.FPDFFont_GetFlags(font) & (1 << 18):  # ForceBold
        return True
    size = pdfium_c.FPDFFont_GetBaseFontName(font, None, 0)
    if size <= 0 or size > 512:
        return False
    name = ctypes.create_string_buffer(size)
    pdfium_c.FPDFFont_GetBaseFontName(font, name, size)
    return bool(_BOLD_NAME_RE.search(name.value.decode("latin-1")))


_CONTROL_RE = re.compile(r"[\x00\x01\x03-\x08\x0b-\x1f\ufffe\uffff]")
_SOFT_HYPHEN = "\u00ad"


def _clean_pdf_text(text: str) -> str:
    text = text.replace("\x02", _SOFT_HYPHEN)  # pdfium's mark for a hyphenated line end
    return _CONTROL_RE.sub("", text.replace("\r\n", " ").replace("\t", " ").replace("\n", " "))


# --- lines, tables and reading order within a page ---------------------------------------


@dataclass(slots=True)
class _Line:
    page: int
    x0: float
    x1: float
    top: float
    bottom: float
    baseline: float
    size: float
    bold: bool
    text: str
    text_x0: float  # where the text starts after a list marker
    marker: str | None = None  # "-" or "1." for list items
    row_peer: bool = False  # a line in the same style sits beside it: a table-like row


@dataclass(slots=True)
class _Table:
    page: int
    x0: float
    x1: float
    top: float
    bottom: float
    rows: list[list[str]]


_Item = _Line | _Table


def _page_items(page: _Page) -> list[_Item]:
    tables, spans = _extract_tables(page)
    lines = [line for row in _rows(spans) for line in _mark_row_peers(_row_lines(row, page.number))]
    if page.dots:
        _mark_drawn_bullets(lines, page.dots)
    return [*lines, *tables]


def _mark_drawn_bullets(lines: list[_Line], dots: list[tuple[float, float, float, float]]) -> None:
    """A small drawn shape just left of a line's start is that line's bullet."""
    for line in lines:
        if line.marker is not None:
            continue
        for x0, y0, x1, y1 in dots:
            centre = (y0 + y1) / 2
            if line.bottom <= centre <= line.top and 0 <= line.x0 - x1 <= 2.5 * line.size:
                line.marker, line.text_x0, line.x0 = "-", line.x0, x0
                break


def _rows(spans: list[_Span]) -> list[list[_Span]]:
    """Spans grouped by shared baseline, top of the page first."""
    rows: list[list[_Span]] = []
    anchor = 0.0
    for span in sorted(spans, key=lambda s: (-s.baseline, s.x0)):
        if rows and abs(anchor - span.baseline) <= 0.4 * min(span.size, rows[-1][0].size):
            rows[-1].append(span)
        else:
            rows.append([span])
            anchor = span.baseline
    return rows


def _row_lines(row: list[_Span], page: int) -> Iterator[_Line]:
    """One baseline's spans, split into lines where the gap is wider than ~1 em."""
    row.sort(key=lambda s: s.x0)
    current = [row[0]]
    for span in row[1:]:
        previous = current[-1]
        gap = span.x0 - previous.x1
        limit = max(previous.size, span.size)
        if gap > limit and not _is_marker_only(current):
            yield _make_line(current, page)
            current = [span]
        else:
            current.append(span)
    yield _make_line(current, page)


def _mark_row_peers(lines: Iterator[_Line]) -> list[_Line]:
    row = list(lines)
    for line in row:
        line.row_peer = any(
            other is not line and abs(other.size - line.size) < 0.6 and other.bold == line.bold
            for other in row
        )
    return row


def _is_marker_only(spans: list[_Span]) -> bool:
    text = "".join(s.text for s in spans).strip()
    return len(spans) == 1 and (
        (len(text) == 1 and text in _BULLETS) or bool(_NUMBER_ONLY_RE.match(text))
    )


def _join_spans(spans: Sequence[_Span]) -> str:
    parts: list[str] = []
    previous: _Span | None = None
    for span in spans:
        if previous is not None:
            gap = span.x0 - previous.x1
            if gap > 0.15 * span.size and not parts[-1].endswith(" ") and span.text[:1] != " ":
                parts.append(" ")
        parts.append(span.text)
        previous = span
    return " ".join("".join(parts).split())


def _make_line(spans: list[_Span], page: int) -> _Line:
    weights: Counter[float] = Counter()
    bold_chars = 0
    for span in spans:
        chars = len(span.text.strip())
        weights[span.size] += chars
        bold_chars += chars if span.bold else 0
    size = weights.most_common(1)[0][0]
    total = sum(weights.values())
    text = _join_spans(spans)
    marker, text, text_x0 = _list_marker(spans, text)
    return _Line(
        page=page,
        x0=spans[0].x0,
        x1=max(s.x1 for s in spans),
        top=max(s.top for s in spans),
        bottom=min(s.bottom for s in spans),
        baseline=spans[0].baseline,
        size=size,
        bold=total > 0 and bold_chars >= 0.9 * total,
        text=text,
        text_x0=text_x0,
        marker=marker,
    )


def _list_marker(spans: list[_Span], text: str) -> tuple[str | None, str, float]:
    """Recognises "• item" and "1. Item"; returns (marker, text without it, text start)."""
    bullet = _BULLET_RE.match(text)
    if bullet:
        return "-", text[bullet.end() :], _text_start(spans, bullet.end())
    number = _NUMBER_MARK_RE.match(text)
    marker_span = len(spans) > 1 and bool(_NUMBER_ONLY_RE.match(spans[0].text))
    if number and (marker_span or text[number.end()].isupper()):
        return number.group(1) + ".", text[number.end() :], _text_start(spans, number.end())
    return None, text, spans[0].x0


def _text_start(spans: list[_Span], marker_chars: int) -> float:
    """Where the text after a list marker starts on the page."""
    first = spans[0]
    if len(spans) > 1 and len(first.text.strip()) <= marker_chars:
        return spans[1].x0
    share = marker_chars / max(len(first.text), 1)
    return first.x0 + (first.x1 - first.x0) * share


# --- ruled tables ----------------------------------------------------------------------


def _extract_tables(page: _Page) -> tuple[list[_Table], list[_Span]]:
    if len(page.rules) < 4:
        return [], page.spans
    tables: list[_Table] = []
    spans = page.spans
    for cluster in _rule_clusters(page.rules):
        grid = _grid(cluster)
        if grid is None:
            continue
        xs, ys = grid
        inside = [s for s in spans if _centre_in(s, xs[0], xs[-1], ys[0], ys[-1])]
        if not inside:
            continue
        taken = {id(s) for s in inside}
        spans = [s for s in spans if id(s) not in taken]
        rows = _cells(inside, xs, ys)
        tables.append(_Table(page.number, xs[0], xs[-1], ys[0], ys[-1], rows))
    return tables, spans


def _rule_clusters(
    rules: list[tuple[float, float, float, float]],
) -> list[list[tuple[float, float, float, float]]]:
    """Connected groups of rules that touch or cross (union-find, 2 pt tolerance)."""
    parent = list(range(len(rules)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = sorted(range(len(rules)), key=lambda i: rules[i][0])
    for pos, i in enumerate(order):
        _, ay0, ax1, ay1 = rules[i]
        for j in order[pos + 1 :]:
            bx0, by0, _, by1 = rules[j]
            if bx0 > ax1 + 2:
                break
            if by0 <= ay1 + 2 and ay0 <= by1 + 2:
                parent[find(i)] = find(j)
    groups: dict[int, list[tuple[float, float, float, float]]] = defaultdict(list)
    for i, rule in enumerate(rules):
        groups[find(i)].append(rule)
    return list(groups.values())


def _grid(
    cluster: list[tuple[float, float, float, float]],
) -> tuple[list[float], list[float]] | None:
    """Column x positions (left→right) and row y positions (top→bottom) of a ruled grid."""
    vertical = [(x0 + x1) / 2 for x0, y0, x1, y1 in cluster if x1 - x0 <= 2.5 and y1 - y0 > 2.5]
    horizontal = [(y0 + y1) / 2 for x0, y0, x1, y1 in cluster if y1 - y0 <= 2.5 and x1 - x0 > 2.5]
    xs = _merge_positions(vertical)
    ys = _merge_positions(horizontal)
    if len(xs) < 3 or len(ys) < 2:
        return None
    return xs, ys[::-1]


def _merge_positions(values: list[float], tolerance: float = 3.0) -> list[float]:
    merged: list[float] = []
    for value in sorted(values):
        if merged and value - merged[-1] <= tolerance:
            continue
        merged.append(value)
    return merged


def _centre_in(span: _Span, left: float, right: float, top: float, bottom: float) -> bool:
    cx, cy = (span.x0 + span.x1) / 2, (span.top + span.bottom) / 2
    return left <= cx <= right and bottom <= cy <= top


def _cells(spans: list[_Span], xs: list[float], ys: list[float]) -> list[list[str]]:
    ups = [-y for y in ys]  # ascending, for bisect
    grid: dict[tuple[int, int], list[_Span]] = defaultdict(list)
    for span in spans:
        col = min(max(bisect_right(xs, (span.x0 + span.x1) / 2) - 1, 0), len(xs) - 2)
        row = min(max(bisect_right(ups, -(span.top + span.bottom) / 2) - 1, 0), len(ys) - 2)
        grid[(row, col)].append(span)
    rows: list[list[str]] = []
    for r in range(len(ys) - 1):
        cells = [_cell_text(grid.get((r, c), [])) for c in range(len(xs) - 1)]
        if any(cells):
            rows.append(cells)
    return rows


def _cell_text(spans: list[_Span]) -> str:
    return " ".join(_join_spans(sorted(row, key=lambda s: s.x0)) for row in _rows(spans))


# --- running headers and footers -------------------------------------------------------


def _drop_running_lines(pages: list[_Page], items: list[list[_Item]]) -> None:
    """Removes page numbers and text repeated at the same place at the top/bottom."""
    margins = [
        _margin_lines(page, page_items) for page, page_items in zip(pages, items, strict=True)
    ]
    counts: Counter[tuple[str, int, str]] = Counter()
    for candidates in margins:
        counts.update({key for key, _ in candidates})
    needed = max(2, min(3, (len(pages) + 1) // 2))
    for page_items, candidates in zip(items, margins, strict=True):
        doomed = {
            id(line)
            for key, line in candidates
            if counts[key] >= needed or _PAGE_NUMBER_RE.match(line.text.strip())
        }
        page_items[:] = [item for item in page_items if id(item) not in doomed]


def _margin_lines(page: _Page, items: list[_Item]) -> list[tuple[tuple[str, int, str], _Line]]:
    height = page.top - page.bottom
    lines = sorted((i for i in items if isinstance(i, _Line)), key=lambda line: -line.top)
    found = []
    for zone, chosen in (("top", lines[:3]), ("bottom", lines[-3:])):
        for line in chosen:
            in_top = line.bottom >= page.top - 0.12 * height
            in_bottom = line.top <= page.bottom + 0.12 * height
            if (zone == "top" and in_top) or (zone == "bottom" and in_bottom):
                key = re.sub(r"\d+", "#", line.text.lower())
                found.append(((zone, round(line.baseline / 4), key), line))
    return found


def _drop_contents_entries(items: list[list[_Item]]) -> None:
    """Table-of-contents lines ("Safety . . . . 12") carry nothing a course needs."""
    for page_items in items:
        page_items[:] = [
            item
            for item in page_items
            if not (isinstance(item, _Line) and _TOC_ENTRY_RE.search(item.text))
        ]


# --- reading order: recursive XY-cut ---------------------------------------------------


def _reading_order(items: list[_Item], gutter: float) -> list[_Item]:
    if len(items) <= 1:
        return items
    columns = _split_columns(items, gutter)
    if len(columns) > 1:
        return [item for column in columns for item in _reading_order(column, gutter)]
    bands = _split_bands(items)
    if len(bands) == 1:
        return sorted(items, key=lambda i: (-i.top, i.x0))
    ordered: list[_Item] = []
    for group in _column_groups(bands, gutter):
        if len(group) > 1:
            ordered += _reading_order([i for band in group for i in band], gutter)
        else:
            ordered += _reading_order(group[0], gutter)
    return ordered


def _split_columns(items: list[_Item], gutter: float) -> list[list[_Item]]:
    columns: list[list[_Item]] = []
    right = float("-inf")
    for item in sorted(items, key=lambda i: i.x0):
        if columns and item.x0 - right < gutter:
            columns[-1].append(item)
        else:
            columns.append([item])
        right = max(right, item.x1) if len(columns[-1]) > 1 else item.x1
    return columns


def _split_bands(items: list[_Item]) -> list[list[_Item]]:
    bands: list[list[_Item]] = []
    floor = float("inf")
    for item in sorted(items, key=lambda i: -i.top):
        if bands and item.top > floor:
            bands[-1].append(item)
            floor = min(floor, item.bottom)
        else:
            bands.append([item])
            floor = item.bottom
    return bands


def _column_groups(bands: list[list[_Item]], gutter: float) -> list[list[list[_Item]]]:
    """Consecutive bands whose union still has a vertical gutter are one group."""
    groups: list[list[list[_Item]]] = []
    coverage: list[tuple[float, float]] = []
    for band in bands:
        merged = _cover(coverage, band, gutter)
        if groups and len(merged) > 1:
            groups[-1].append(band)
            coverage = merged
        else:
            groups.append([band])
            coverage = _cover([], band, gutter)
    return groups


def _cover(
    intervals: list[tuple[float, float]], band: list[_Item], gutter: float
) -> list[tuple[float, float]]:
    """Union of x-intervals, keeping separate only those a gutter apart."""
    merged: list[tuple[float, float]] = []
    for x0, x1 in sorted([*intervals, *((i.x0, i.x1) for i in band)]):
        if merged and x0 - merged[-1][1] < gutter:
            merged[-1] = (merged[-1][0], max(merged[-1][1], x1))
        else:
            merged.append((x0, x1))
    return merged


# --- the whole document ----------------------------------------------------------------


def _layout_document(pages: list[_Page]) -> list[Block]:
    items = [_page_items(page) for page in pages]
    _drop_running_lines(pages, items)
    _drop_contents_entries(items)
    body_size = _body_size(items)
    flow: list[_Item] = []
    for page_items in items:
        flow += _reading_order(page_items, gutter=max(0.9 * body_size, 6.0))
    return _Blocker(body_size, flow).blocks()


def _body_size(items: list[list[_Item]]) -> float:
    weights: Counter[float] = Counter()
    for page_items in items:
        for item in page_items:
            if isinstance(item, _Line):
                weights[round(item.size * 2) / 2] += len(item.text)
    return weights.most_common(1)[0][0] if weights else 10.0


@dataclass
class _Group:
    """Lines of one paragraph, heading or list item while blocks are formed."""

    lines: list[_Line]
    table: _Table | None = None

    @property
    def first(self) -> _Line:
        return self.lines[0]

    @property
    def text(self) -> str:
        return _join_lines(self.lines)


def _join_lines(lines: list[_Line]) -> str:
    """Lines of a paragraph joined; a word broken by hyphenation is put back together
    (a soft hyphen goes, a real one such as in "twenty-three" stays)."""
    text = ""
    for line in lines:
        if text.endswith(_SOFT_HYPHEN):
            text = text[:-1] + line.text
        elif text.endswith("-") and len(text) > 1 and text[-2].isalpha():
            text += line.text
        else:
            text = f"{text} {line.text}" if text else line.text
    return text.replace(_SOFT_HYPHEN, "")


class _Blocker:
    """Turns the ordered lines of the whole document into Markdown blocks."""

    def __init__(self, body_size: float, flow: list[_Item]) -> None:
        self.body = body_size
        self.flow = flow
        self.pitch = _typical_pitch(flow)

    def blocks(self) -> list[Block]:
        groups = self._group()
        levels = self._heading_levels(groups)
        out: list[Block] = []
        list_run: list[_Group] = []
        for group in groups:
            if self._is_list_item(group):
                list_run.append(group)
                continue
            if list_run:
                out.append(_list_block(list_run))
                list_run = []
            out.append(self._block(group, levels))
        if list_run:
            out.append(_list_block(list_run))
        return _merge_split_tables(out)

    def _group(self) -> list[_Group]:
        groups: list[_Group] = []
        for item in self.flow:
            if isinstance(item, _Table):
                groups.append(_Group([], item))
            elif groups and groups[-1].table is None and self._continues(groups[-1], item):
                groups[-1].lines.append(item)
            else:
                groups.append(_Group([item]))
        return groups

    def _continues(self, group: _Group, line: _Line) -> bool:
        previous = group.lines[-1]
        if line.marker is not None or abs(line.size - previous.size) > 0.6:
            return False
        if line.bold != previous.bold:
            return False
        if self._heading_size(group) and len(group.lines) >= 3:
            return False
        moved_on = line.page != previous.page or line.top > previous.top + previous.size
        if moved_on:  # next column or page: a heading ends there, a paragraph may carry on
            return not (previous.bold or self._heading_size(group)) and _carries_on(group, line)
        pitch = previous.baseline - line.baseline
        if pitch > self.pitch.get(round(line.size * 2) / 2, 1.25 * line.size) * 1.3 + 1:
            return False
        return self._aligned(group, previous, line)

    def _aligned(self, group: _Group, previous: _Line, line: _Line) -> bool:
        shift = line.text_x0 - previous.text_x0
        tolerance = 0.8 * line.size
        if abs(shift) <= tolerance:
            return True
        # a paragraph whose first line is indented carries on at the margin
        return len(group.lines) == 1 and shift < 0 and group.first.marker is None

    def _is_list_item(self, group: _Group) -> bool:
        if group.table is not None:
            return False
        marker = group.first.marker
        if marker is None or self._heading_size(group):
            return False
        return marker == "-" or not self._is_heading(group)  # "1. Scope" in bold: a heading

    def _heading_size(self, group: _Group) -> bool:
        if group.table is not None:
            return False
        size = group.first.size
        return size >= self.body * 1.12 and size >= self.body + 1

    def _is_heading(self, group: _Group) -> bool:
        if group.table is not None or len(group.lines) > 3 or group.first.row_peer:
            return False
        text = group.text
        words = len(text.split())
        if not any(c.isalpha() for c in text) or words > 20:
            return False
        if self._heading_size(group):
            return True
        return (
            group.first.bold
            and group.first.size >= self.body - 0.5
            and words <= 12
            and len(group.lines) <= 2
            and not text.endswith((".", ",", ";", ":"))
        )

    def _heading_levels(self, groups: list[_Group]) -> dict[float, int]:
        sizes = {
            round(g.first.size * 2) / 2
            for g in groups
            if self._is_heading(g) and self._heading_size(g)
        }
        return {size: rank for rank, size in enumerate(sorted(sizes, reverse=True), start=1)}

    def _block(self, group: _Group, levels: dict[float, int]) -> Block:
        if group.table is not None:
            return Paragraph(markdown_table(group.table.rows), group.table.page, "table")
        page = group.first.page
        if self._is_heading(group):
            level = len(levels) + 1  # bold at body size: below every larger size
            if self._heading_size(group):
                level = levels.get(round(group.first.size * 2) / 2, level)
            marker = group.first.marker
            prefix = f"{marker} " if marker and marker != "-" else ""
            return Heading(min(level, 6), prefix + group.text, page)
        return Paragraph(escape_markdown_line_start(group.text), page)


def _carries_on(group: _Group, line: _Line) -> bool:
    """After a column or page break: unfinished sentence, lowercase start or a full line."""
    previous = group.lines[-1]
    if line.text[:1].islower() or not previous.text.endswith(_TERMINAL_PUNCT):
        return True
    if len(group.lines) < 2:
        return False
    return previous.x1 >= max(other.x1 for other in group.lines[:-1]) - line.size


def _typical_pitch(flow: list[_Item]) -> dict[float, float]:
    """Most common baseline-to-baseline distance per font size."""
    pitches: dict[float, Counter[float]] = defaultdict(Counter)
    previous: _Item | None = None
    for item in flow:
        if (
            isinstance(item, _Line)
            and isinstance(previous, _Line)
            and item.page == previous.page
            and abs(item.size - previous.size) < 0.6
        ):
            pitch = previous.baseline - item.baseline
            if 0.8 * item.size < pitch < 2.5 * item.size:
                pitches[round(item.size * 2) / 2][round(pitch, 0)] += 1
        previous = item
    return {size: counter.most_common(1)[0][0] for size, counter in pitches.items()}


def _list_block(groups: list[_Group]) -> Paragraph:
    """Consecutive list items; nesting from the marker's x position."""
    positions = _merge_positions([g.first.x0 for g in groups], tolerance=4.0)
    lines = []
    for group in groups:
        depth = min(bisect_right(positions, group.first.x0 + 4.0) - 1, 4)
        text = group.text
        lines.append("    " * max(depth, 0) + f"{group.first.marker} {text}")
    return Paragraph("\n".join(lines), groups[0].first.page, "list")


def _merge_split_tables(blocks: list[Block]) -> list[Block]:
    """A table broken over a page boundary (same header) becomes one table again."""
    merged: list[Block] = []
    for block in blocks:
        previous = merged[-1] if merged else None
        if (
            isinstance(block, Paragraph)
            and block.kind == "table"
            and isinstance(previous, Paragraph)
            and previous.kind == "table"
            and previous.page != block.page
        ):
            head, body = previous.text.split("\n"), block.text.split("\n")
            if head[0].count("|") == body[0].count("|"):
                rows = body[2:] if body[0] == head[0] else [body[0], *body[2:]]
                merged[-1] = Paragraph("\n".join([*head, *rows]), previous.page, "table")
                continue
        merged.append(block)
    return merged
