"""Every kind of bad upload is refused with the right IngestError code and a message a
person can act on, and with no exception of any other type."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from coursewright.ingest import convert as convert_module
from coursewright.ingest.convert import convert_document
from coursewright.ingest.types import IngestError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"
MB = 2**20


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def refused(
    filename: str, data: bytes, *, max_bytes: int = 20 * MB, max_pages: int = 500
) -> IngestError:
    with pytest.raises(IngestError) as caught:
        convert_document(filename, data, max_bytes=max_bytes, max_pages=max_pages)
    error = caught.value
    assert error.message[:1].isupper()
    assert error.message.endswith(".")
    assert "Traceback" not in error.message
    return error


def rezip(
    source: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None
) -> bytes:
    """A copy of an OOXML package with some parts replaced or added."""
    replace, add = replace or {}, add or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = replace.get(info.filename, src.read(info))
            dst.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in add.items():
            dst.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


# --- encrypted -------------------------------------------------------------------------


def test_password_protected_pdf() -> None:
    error = refused("handbook.pdf", fixture("encrypted.pdf"))

    assert error.code == "encrypted"
    assert "password-protected" in error.message


def test_password_protected_docx() -> None:
    error = refused("handbook.docx", fixture("encrypted.docx"))

    assert error.code == "encrypted"
    assert "password" in error.message


def test_password_protected_pptx_is_recognised_from_the_ole_container() -> None:
    # an encrypted OOXML file is an OLE compound file whatever it is named
    error = refused("deck.pptx", fixture("encrypted.docx"))

    assert error.code == "encrypted"
    assert "PowerPoint" in error.message


# --- corrupt ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("broken.pdf", fixture("handbook.pdf")[:2000]),
        ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 200),
        ("broken.docx", fixture("handbook.docx")[:3000]),
        ("broken.pptx", fixture("deck.pptx")[:5000]),
        ("broken.docx", b"PK\x03\x04" + b"\x00" * 400),
        ("broken.docx", b"\x13\x37" * 500),
        ("broken.pdf", b"\x13\x37" * 500),
    ],
)
def test_damaged_files_are_corrupt(filename: str, data: bytes) -> None:
    assert refused(filename, data).code == "corrupt"


def test_docx_package_without_a_document_part_is_corrupt() -> None:
    data = rezip(fixture("handbook.docx"), replace={"word/document.xml": b"<not-xml"})

    assert refused("handbook.docx", data).code == "corrupt"


def test_library_failures_never_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RecursionError("deep")

    monkeypatch.setitem(convert_module._CONVERTERS, "txt", explode)

    assert refused("notes.txt", b"hello").code == "corrupt"


# --- empty -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("empty.pdf", b""),
        ("empty.txt", b""),
        ("blank.txt", b"  \n\t\n "),
        ("bom.md", b"\xef\xbb\xbf\n\n"),
        ("nothing.html", b"<html><head><title>x</title><script>var a;</script></head></html>"),
    ],
)
def test_files_without_text_are_empty(filename: str, data: bytes) -> None:
    assert refused(filename, data).code == "empty"


def test_pdf_with_pages_but_no_text_is_empty() -> None:
    blank = pdfium.PdfDocument.new()
    blank.new_page(595, 842)
    blank.new_page(595, 842)
    out = io.BytesIO()
    blank.save(out)

    error = refused("scan.pdf", out.getvalue())

    assert error.code == "empty"
    assert "OCR" in error.message


# --- size and page caps ----------------------------------------------------------------


def test_oversized_upload_is_refused_before_parsing() -> None:
    error = refused("handbook.pdf", fixture("handbook.pdf"), max_bytes=10_000)

    assert error.code == "too_large"
    assert "limit" in error.message


def test_too_many_pdf_pages() -> None:
    error = refused("handbook.pdf", fixture("handbook.pdf"), max_pages=2)

    assert error.code == "too_many_pages"
    assert "3 pages" in error.message


def test_too_many_slides() -> None:
    error = refused("deck.pptx", fixture("deck.pptx"), max_pages=4)

    assert error.code == "too_many_pages"
    assert "5 slides" in error.message


def test_too_many_docx_pages_from_the_app_properties() -> None:
    app = (
        b'<?xml version="1.0" encoding="UTF-8"?><Properties xmlns="http://schemas.openxml'
        b'formats.org/officeDocument/2006/extended-properties"><Pages>812</Pages></Properties>'
    )
    data = rezip(fixture("handbook.docx"), replace={"docProps/app.xml": app})

    error = refused("handbook.docx", data, max_pages=500)

    assert error.code == "too_many_pages"
    assert "812 pages" in error.message


# --- types and extensions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "source"),
    [
        ("handbook.docx", "handbook.pdf"),
        ("handbook.pdf", "handbook.docx"),
        ("deck.docx", "deck.pptx"),
        ("handbook.pptx", "handbook.docx"),
        ("handbook.txt", "handbook.pdf"),
        ("handbook.md", "handbook.docx"),
        ("handbook.pdf", "handbook.html"),
        ("handbook.docx", "handbook.html"),
    ],
)
def test_extension_that_does_not_match_the_content(filename: str, source: str) -> None:
    error = refused(filename, fixture(source))

    assert error.code == "wrong_extension"
    assert f".{filename.rsplit('.', 1)[1]}" in error.message


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("sheet.xlsx", b"PK\x03\x04whatever"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600),
        ("picture.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100),
        ("archive", b"\x1f\x8b\x08\x00" + b"\x00" * 100),
        ("notes.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100),
        ("notes.txt", bytes(range(256)) * 4),
        ("notes.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1")),
        ("notes.txt", "\ufeffhello".encode("utf-16")),
        ("legacy.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600),
    ],
)
def test_unsupported_types(filename: str, data: bytes) -> None:
    assert refused(filename, data).code == "unsupported_type"


def test_legacy_word_file_gets_a_hint() -> None:
    error = refused("minutes.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)

    assert ".docx" in error.message


def test_utf8_with_bom_is_accepted() -> None:
    doc = convert_document(
        "notes.md", "\ufeff# Café\n\nCrème brûlée.".encode(), max_bytes=MB, max_pages=10
    )

    assert doc.title == "Café"


# --- zip bombs -------------------------------------------------------------------------


def test_docx_with_a_highly_compressed_part_is_a_zip_bomb() -> None:
    data = rezip(fixture("handbook.docx"), add={"word/media/padding.bin": b"\0" * (24 * MB)})
    assert len(data) < MB  # tiny on the wire

    error = refused("handbook.docx", data)

    assert error.code == "zip_bomb"
    assert "unsafe" in error.message


def test_pptx_with_thousands_of_entries_is_a_zip_bomb() -> None:
    extra = {f"ppt/media/x{i}.bin": b"" for i in range(6000)}
    error = refused("deck.pptx", rezip(fixture("deck.pptx"), add=extra))

    assert error.code == "zip_bomb"


def _declare_size(data: bytes, name: str, size: int) -> bytes:
    """Rewrites the uncompressed size the central directory declares for ``name``."""
    patched = bytearray(data)
    start = 0
    while (start := patched.find(b"PK\x01\x02", start)) != -1:
        name_len = struct.unpack_from("<H", patched, start + 28)[0]
        if patched[start + 46 : start + 46 + name_len] == name.encode():
            struct.pack_into("<I", patched, start + 24, size)
        start += 4
    return bytes(patched)


def test_declared_uncompressed_total_is_checked_before_extracting() -> None:
    data = _declare_size(fixture("handbook.docx"), "word/styles.xml", 0xFFFF0000)

    assert refused("handbook.docx", data).code == "zip_bomb"


def test_a_part_that_inflates_past_its_declared_size_is_never_read_past_it() -> None:
    # the header claims 10 bytes; zipfile stops there and the CRC check fails
    data = _declare_size(fixture("handbook.docx"), "word/document.xml", 10)

    assert refused("handbook.docx", data).code in {"corrupt", "zip_bomb"}
