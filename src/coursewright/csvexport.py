"""CSV exports that a spreadsheet opens safely, streamed line by line.

A spreadsheet runs a cell that starts like a formula (``=``, ``+``, ``-``, ``@``, tab,
carriage return). Exported values come from outside (model names, origins, reasons,
e-mail addresses), so such a cell is prefixed with ``'`` and read as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in _FORMULA_START else text


def csv_lines(header: Iterable[object], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The header, then one CSV line per row, every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: Iterable[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(v) for v in values])
        return buffer.getvalue()

    yield line(header)
    for row in rows:
        yield line(row)
