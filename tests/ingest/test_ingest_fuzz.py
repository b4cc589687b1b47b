"""Whatever bytes arrive under whatever supported name, convert_document either returns a
document or raises IngestError: never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coursewright.ingest.convert import SUPPORTED_EXTENSIONS, convert_document
from coursewright.ingest.types import ConvertedDocument, IngestError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"
SOURCES = {
    name: (FIXTURES / name).read_bytes()
    for name in ["handbook.pdf", "handbook.docx", "deck.pptx", "twocolumn.pdf", "handbook.html"]
}
EXTENSIONS = sorted(SUPPORTED_EXTENSIONS)
# Function-scoped autouse fixtures (the storage sandbox in tests/conftest.py) are not
# used here, so sharing them across examples is harmless.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


CODES = {
    "unsupported_type",
    "empty",
    "corrupt",
    "encrypted",
    "too_large",
    "too_many_pages",
    "zip_bomb",
    "wrong_extension",
}


def convert_or_refuse(filename: str, data: bytes) -> None:
    """Any exception other than IngestError propagates and fails the example."""
    outcome: ConvertedDocument | IngestError
    try:
        outcome = convert_document(filename, data, max_bytes=2**20, max_pages=50)
    except IngestError as error:
        outcome = error
    if isinstance(outcome, IngestError):
        assert outcome.code in CODES
        assert outcome.message
    else:
        assert outcome.chunks


@FUZZ
@given(extension=st.sampled_from(EXTENSIONS), data=st.binary(max_size=4096))
def test_random_bytes_only_ever_raise_ingest_error(extension: str, data: bytes) -> None:
    convert_or_refuse(f"upload.{extension}", data)


MAGIC = [b"%PDF-1.7\n", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\xef\xbb\xbf", b""]


@FUZZ
@given(
    extension=st.sampled_from(EXTENSIONS),
    magic=st.sampled_from(MAGIC),
    data=st.binary(max_size=2048),
)
def test_random_bytes_behind_a_real_signature(extension: str, magic: bytes, data: bytes) -> None:
    convert_or_refuse(f"upload.{extension}", magic + data)


@FUZZ
@given(
    source=st.sampled_from(sorted(SOURCES)),
    cut=st.floats(min_value=0.0, max_value=1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8),
)
def test_damaged_real_documents(source: str, cut: float, flips: list[tuple[float, int]]) -> None:
    data = bytearray(SOURCES[source][: max(1, int(len(SOURCES[source]) * cut))])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    convert_or_refuse(source, bytes(data))
