"""Uploaded file → ConvertedDocument, refusing anything we should not parse.

Design note: the defences run in this order, cheapest first, before any parser sees the
bytes.

1. Size: more than ``max_bytes`` is refused outright (``too_large``); nothing is parsed.
2. Type sniffing: the real type comes from the content (``%PDF-`` header, ZIP central
   directory listing ``word/`` or ``ppt/`` parts, OLE compound-file magic, well-known
   binary signatures, otherwise strict UTF-8 text). The extension only has to agree:
   a mismatch is ``wrong_extension``, an unknown extension or a known-but-unsupported
   format (legacy .doc, spreadsheets, images) is ``unsupported_type``.
3. Encryption: password-protected OOXML files are not ZIPs at all but OLE compound
   files holding an ``EncryptedPackage`` stream (magic D0 CF 11 E0); PDFs are opened by
   PDFium, whose password error becomes ``encrypted``. ZIP entries flagged as encrypted
   are refused the same way.
4. ZIP bombs (DOCX/PPTX): before anything is extracted, the central directory is checked
   for the number of entries, the declared uncompressed total, the size of each part and
   each part's compression ratio. Then every entry is streamed through a bounded reader
   that stops at the declared size (zipfile truncates there and checks the CRC) and at
   a hard cap on the total actually inflated, so a lying header cannot make us inflate
   more than the cap. Only then do python-docx/python-pptx open the package.
5. Page cap: PDF page count (from PDFium, before any page is read), PPTX slide count
   (from the ZIP listing) and DOCX ``docProps/app.xml`` <Pages> must not exceed
   ``max_pages`` (``too_many_pages``).
6. Parsers: lxml never touches the network or resolves entities; any exception a library
   raises is turned into ``corrupt`` — only IngestError leaves this module.
7. Result: a document with no text at all is ``empty``.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from coursewright.ingest.chunking import Extracted, build_document
from coursewright.ingest.markup import convert_html, convert_markdown, convert_text
from coursewright.ingest.office import convert_docx, convert_pptx
from coursewright.ingest.pdf import convert_pdf
from coursewright.ingest.types import ConvertedDocument, IngestError

logger = logging.getLogger(__name__)

MAX_ZIP_ENTRIES = 5_000
MAX_ZIP_TOTAL_UNCOMPRESSED = 300 * 2**20
MAX_ZIP_PART_UNCOMPRESSED = 100 * 2**20
MAX_ZIP_RATIO = 150  # uncompressed : compressed, checked for parts above 1 MiB
_RATIO_CHECK_FROM = 2**20
_READ_CHUNK = 2**20

SUPPORTED_EXTENSIONS = {
    "pdf": "pdf",
    "docx": "docx",
    "pptx": "pptx",
    "md": "md",
    "markdown": "md",
    "html": "html",
    "htm": "html",
    "txt": "txt",
    "text": "txt",
}
_TEXT_FORMATS = frozenset({"md", "html", "txt"})
_READABLE_KINDS = {"pdf": "pdf", "docx": "docx", "pptx": "pptx", "text": "text"}

_FORMAT_NAMES = {
    "pdf": "a PDF",
    "docx": "a Word document (.docx)",
    "pptx": "a PowerPoint presentation (.pptx)",
    "text": "a text file",
    "xlsx": "an Excel spreadsheet",
    "odf": "an OpenDocument file",
    "ole": "an old-style Office file (.doc/.ppt/.xls)",
    "zip": "a ZIP archive",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "gzip": "a compressed archive",
    "rtf": "a Rich Text (.rtf) document",
    "binary": "a binary file",
    "encrypted-ooxml": "a password-protected Office file",
}
_ACCEPTED = "PDF, Word (.docx), PowerPoint (.pptx), Markdown, HTML or plain text"
_SAVE_AS_DOCX = "Open it in Word or LibreOffice, save it as .docx (or PDF) and upload it again."
_SAVE_AS_PPTX = (
    "Open it in PowerPoint or LibreOffice, save it as .pptx (or PDF) and upload it again."
)
_HINTS = {
    "doc": f"Old-style Word .doc files aren't supported. {_SAVE_AS_DOCX}",
    "docm": f"Macro-enabled Word files aren't supported. {_SAVE_AS_DOCX}",
    "dotx": f"Word templates aren't supported. {_SAVE_AS_DOCX}",
    "odt": f"OpenDocument text files aren't supported yet. {_SAVE_AS_DOCX}",
    "rtf": f"RTF files aren't supported. {_SAVE_AS_DOCX}",
    "pages": f"Apple Pages files aren't supported. {_SAVE_AS_DOCX}",
    "ppt": f"Old-style PowerPoint .ppt files aren't supported. {_SAVE_AS_PPTX}",
    "pptm": f"Macro-enabled PowerPoint files aren't supported. {_SAVE_AS_PPTX}",
    "ppsx": f"PowerPoint shows aren't supported. {_SAVE_AS_PPTX}",
    "odp": f"OpenDocument presentations aren't supported yet. {_SAVE_AS_PPTX}",
    "key": f"Keynote files aren't supported. {_SAVE_AS_PPTX}",
}
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "gzip"),
    (b"\xfd7zXZ\x00", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "gzip"),
    (b"Rar!", "gzip"),
    (b"{\\rtf", "rtf"),
]
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_APP_PAGES_RE = re.compile(rb"<(?:\w+:)?Pages>\s*(\d{1,9})\s*</(?:\w+:)?Pages>")
_SLIDE_RE = re.compile(r"^ppt/slides/slide\d+\.xml$")


@dataclass(frozen=True)
class _Sniffed:
    kind: str  # pdf, docx, pptx, text, encrypted-ooxml, or a key of _FORMAT_NAMES
    names: tuple[str, ...] = ()  # ZIP entry names, when it is a ZIP


def convert_document(
    filename: str, data: bytes, *, max_bytes: int, max_pages: int
) -> ConvertedDocument:
    """Convert an upload, or raise IngestError with a message fit for its uploader."""
    try:
        return _convert(filename, data, max_bytes=max_bytes, max_pages=max_pages)
    except IngestError:
        raise
    except Exception as exc:  # a library failed on input it could not handle
        logger.info("ingest: %s could not be converted: %r", filename, exc)
        raise IngestError(
            "corrupt",
            "This file seems to be damaged and couldn't be read. Try opening it and saving "
            "or exporting it again, then upload the new copy.",
        ) from exc


def _convert(filename: str, data: bytes, *, max_bytes: int, max_pages: int) -> ConvertedDocument:
    _check_size(len(data), max_bytes)
    extension = PurePath(filename.replace("\\", "/")).suffix.lower().lstrip(".")
    _check_extension(extension)
    if not data.strip():
        raise IngestError("empty", "This file is empty. Check you picked the right file.")
    sniffed = _sniff(data)
    source_format = _resolve_format(extension, sniffed)
    extracted = _CONVERTERS[source_format](data, sniffed, max_pages)
    return build_document(extracted, filename=filename, source_format=source_format)


# --- size and type ---------------------------------------------------------------------


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise IngestError(
            "too_large",
            f"This file is {_megabytes(size)}; the limit is {_megabytes(max_bytes)}. "
            "Upload a smaller file or split it into parts.",
        )


def _megabytes(size: int) -> str:
    if size < 2**20:
        return f"{max(size, 1) / 1024:.0f} KB"
    return f"{size / 2**20:.1f} MB".replace(".0 MB", " MB")


def _check_extension(extension: str) -> None:
    if extension in SUPPORTED_EXTENSIONS or extension == "":
        return
    hint = _HINTS.get(extension)
    raise IngestError(
        "unsupported_type",
        hint or f"We can't read .{extension} files. Upload a {_ACCEPTED} file.",
    )


def _sniff(data: bytes) -> _Sniffed:
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-"):
        return _Sniffed("pdf")
    if b"%PDF-" in data[:1024] and not _looks_like_text(data):  # junk before the header
        return _Sniffed("pdf")
    if data.startswith(_OLE_MAGIC):
        return _Sniffed("encrypted-ooxml" if _ENCRYPTED_PACKAGE in data else "ole")
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data)
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return _Sniffed(kind)
    if data[8:12] == b"WEBP" and data.startswith(b"RIFF"):
        return _Sniffed("webp")
    return _Sniffed("text" if _looks_like_text(data) else "binary")


def _sniff_zip(data: bytes) -> _Sniffed:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = tuple(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return _Sniffed("zip")
    if "[Content_Types].xml" in names:
        for prefix, kind in (("word/", "docx"), ("ppt/", "pptx"), ("xl/", "xlsx")):
            if any(name.startswith(prefix) for name in names):
                return _Sniffed(kind, names)
    if "mimetype" in names and any(n == "content.xml" for n in names):
        return _Sniffed("odf", names)
    return _Sniffed("zip", names)


def _looks_like_text(data: bytes) -> bool:
    sample = data[:65536]
    if b"\x00" in sample:
        return False
    controls = sum(1 for byte in sample if byte < 32 and byte not in b"\t\n\r\f\x1b")
    return controls <= len(sample) // 100


def _resolve_format(extension: str, sniffed: _Sniffed) -> str:
    """The format to convert as, or why the content and extension don't fit."""
    kind = sniffed.kind
    expected = SUPPORTED_EXTENSIONS.get(extension)
    if kind == "encrypted-ooxml" and expected in {"docx", "pptx", None}:
        raise _encrypted_office(expected)
    actual = _READABLE_KINDS.get(kind)
    if expected is None:  # no extension: trust the content
        if actual is None:
            raise _unsupported_content(kind)
        return "txt" if actual == "text" else actual
    family = "text" if expected in _TEXT_FORMATS else expected
    if actual == family:
        return expected
    raise _mismatch(extension, family, kind, actual)


def _encrypted_office(expected: str | None) -> IngestError:
    label = {"docx": "Word file", "pptx": "PowerPoint file"}.get(expected or "", "Office file")
    return IngestError(
        "encrypted",
        f"This {label} is password-protected. Remove the password (in Office: File → Info → "
        "Protect → Encrypt with password) and upload it again.",
    )


def _mismatch(extension: str, family: str, kind: str, actual: str | None) -> IngestError:
    if actual is not None:  # a format we read, under the wrong name
        return IngestError(
            "wrong_extension",
            f"This file is named .{extension}, but it is actually {_FORMAT_NAMES[actual]}. "
            f"Rename it with the right extension, or re-export it as .{extension}, and "
            "upload it again.",
        )
    if family == "text" or kind not in {"binary", "zip"}:  # a format we don't read
        return _unsupported_content(kind, named=extension)
    return IngestError(  # unrecognisable bytes under a binary format's name
        "corrupt",
        f"This file is named .{extension}, but its content isn't {_FORMAT_NAMES[family]} "
        "we can read. It may be damaged: export it again and upload the new copy.",
    )


def _unsupported_content(kind: str, named: str | None = None) -> IngestError:
    description = _FORMAT_NAMES.get(kind, "a binary file")
    prefix = f"This file is named .{named}, but it is" if named else "This file is"
    return IngestError(
        "unsupported_type",
        f"{prefix} {description}, which we can't turn into a course. Upload a {_ACCEPTED} file.",
    )


# --- text decoding ---------------------------------------------------------------------


def _decode_text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(
            "unsupported_type",
            "This text file is saved as UTF-16. Save it with UTF-8 encoding and upload it again.",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(
            "unsupported_type",
            "This text file isn't UTF-8 encoded. Save it with UTF-8 encoding (most editors "
            "offer this under Save As) and upload it again.",
        ) from exc
    if not text.strip():
        raise IngestError("empty", "This file has no text in it.")
    return text


# --- ZIP containers (DOCX, PPTX) --------------------------------------------------------


def _guard_zip(data: bytes) -> zipfile.ZipFile:
    """Checks the central directory, then inflates every entry under hard caps."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise _corrupt_office() from exc
    infos = archive.infolist()
    _check_declared_sizes(infos)
    if any(info.flag_bits & 0x1 for info in infos):
        raise IngestError(
            "encrypted",
            "This file is password-protected. Remove the password and upload it again.",
        )
    _inflate_bounded(archive, infos)
    return archive


def _check_declared_sizes(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_ZIP_ENTRIES:
        raise _zip_bomb(f"it contains {len(infos)} parts")
    total = sum(info.file_size for info in infos)
    if total > MAX_ZIP_TOTAL_UNCOMPRESSED:
        raise _zip_bomb(f"it would unpack to {_megabytes(total)}")
    for info in infos:
        if info.file_size > MAX_ZIP_PART_UNCOMPRESSED:
            raise _zip_bomb(f"one part would unpack to {_megabytes(info.file_size)}")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_CHECK_FROM and ratio > MAX_ZIP_RATIO:
            raise _zip_bomb(f"one part is compressed {ratio:.0f} times")


def _inflate_bounded(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Reads every entry once, never more than declared (zipfile stops there and checks
    the CRC) and never more than the total cap, whatever the headers claim."""
    budget = MAX_ZIP_TOTAL_UNCOMPRESSED
    for info in infos:
        with archive.open(info) as stream:
            while chunk := stream.read(_READ_CHUNK):
                budget -= len(chunk)
                if budget < 0:
                    raise _zip_bomb("it unpacks to more than it declares")


def _zip_bomb(reason: str) -> IngestError:
    return IngestError(
        "zip_bomb",
        f"This file looks unsafe to open: {reason}, far more than a normal document. "
        "If it is genuine, save it again from Office or LibreOffice and upload the new copy.",
    )


def _corrupt_office() -> IngestError:
    return IngestError(
        "corrupt",
        "This Office file is damaged and can't be opened. Open it in Word, PowerPoint or "
        "LibreOffice, save it again and upload the new copy.",
    )


def _too_many_pages(count: int, max_pages: int, unit: str) -> IngestError:
    return IngestError(
        "too_many_pages",
        f"This document has {count} {unit}; the limit is {max_pages}. Split it into smaller "
        "parts and upload them separately.",
    )


def _docx_page_count(archive: zipfile.ZipFile) -> int | None:
    try:
        with archive.open("docProps/app.xml") as stream:
            head = stream.read(65536)
    except KeyError:
        return None
    found = _APP_PAGES_RE.search(head)
    return int(found.group(1)) if found else None


# --- per-format entry points -----------------------------------------------------------


def _convert_pdf(data: bytes, sniffed: _Sniffed, max_pages: int) -> Extracted:
    return convert_pdf(data, max_pages=max_pages)


def _convert_docx(data: bytes, sniffed: _Sniffed, max_pages: int) -> Extracted:
    with _guard_zip(data) as archive:
        pages = _docx_page_count(archive)
    if pages is not None and pages > max_pages:
        raise _too_many_pages(pages, max_pages, "pages")
    return convert_docx(data, page_count=pages)


def _convert_pptx(data: bytes, sniffed: _Sniffed, max_pages: int) -> Extracted:
    slides = sum(1 for name in sniffed.names if _SLIDE_RE.match(name))
    if slides > max_pages:
        raise _too_many_pages(slides, max_pages, "slides")
    _guard_zip(data).close()
    return convert_pptx(data)


def _convert_markdown(data: bytes, sniffed: _Sniffed, max_pages: int) -> Extracted:
    return convert_markdown(_decode_text(data))


def _convert_html(data: bytes, sniffed: _Sniffed, max_pages: int) -> Extracted:
    return convert_html(_decode_text(data))


def _convert_text(data: bytes, sniffed: _Sniffed, max_pages: int) -> Extracted:
    return convert_text(_decode_text(data))


_CONVERTERS: dict[str, Callable[[bytes, _Sniffed, int], Extracted]] = {
    "pdf": _convert_pdf,
    "docx": _convert_docx,
    "pptx": _convert_pptx,
    "md": _convert_markdown,
    "html": _convert_html,
    "txt": _convert_text,
}
