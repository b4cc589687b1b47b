"""Envelope encryption: what the database and the storage hold is ciphertext bound to its
place; moving it fails; rotation keeps old data readable; destroyed keys are final."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from coursewright.audit.actor import Actor
from coursewright.courses import actions
from coursewright.courses.models import Course, CourseVersion
from coursewright.ingest.actions import ingest_document
from coursewright.ingest.models import Document, DocumentChunk
from coursewright.privacy import keys
from coursewright.privacy.crypto import DecryptionFailed, seal, unseal
from coursewright.storage import ResidencyViolation, put_bytes, read_bytes
from tests.api.test_flow import HANDBOOK
from tests.conftest import People
from tests.courses.test_actions import ai_content

MARKER = "zebra-quartz-7731"


def _raw(table: str, column: str, pk: int) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return bytes(cursor.fetchone()[0])


def _put_raw(table: str, column: str, pk: int, value: bytes) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, pk])  # noqa: S608


@pytest.fixture
def two_versions(people: People) -> tuple[CourseVersion, CourseVersion, CourseVersion]:
    bob, mallory = Actor.person(people.bob), Actor.person(people.mallory)
    first = actions.create_course(people.acme, content=ai_content(), actor=bob)
    second = actions.create_course(people.acme, content=ai_content(), actor=bob)
    foreign = actions.create_course(people.globex, content=ai_content(), actor=mallory)
    return first, second, foreign


def test_database_holds_ciphertext_only(people: People) -> None:
    document = ingest_document(people.acme, filename=f"{MARKER}.md",
                               data=HANDBOOK + f"\n\n{MARKER} appears here.\n".encode(),
                               actor=Actor.person(people.bob))
    assert MARKER.encode() not in _raw("ingest_document", "markdown", document.pk)
    assert MARKER.encode() not in _raw("ingest_document", "filename", document.pk)
    chunk = DocumentChunk.objects.get(document=document, text__isnull=False,
                                      pk=max(document.chunks.values_list("pk", flat=True)))
    assert MARKER.encode() not in _raw("ingest_documentchunk", "text", chunk.pk)
    # and the model reads it back
    fresh = Document.objects.get(pk=document.pk)
    assert MARKER in fresh.markdown
    assert fresh.filename == f"{MARKER}.md"


def test_ciphertext_moved_to_another_row_does_not_decrypt(two_versions: Any) -> None:
    first, second, _ = two_versions
    _put_raw("courses_courseversion", "content", second.pk,
             _raw("courses_courseversion", "content", first.pk))
    with pytest.raises(DecryptionFailed):
        _ = CourseVersion.objects.get(pk=second.pk).content


def test_ciphertext_moved_to_another_column_does_not_decrypt(two_versions: Any) -> None:
    first, _, _ = two_versions
    _put_raw("courses_course", "title", first.course_id,
             _raw("courses_courseversion", "content", first.pk))
    with pytest.raises(DecryptionFailed):
        _ = Course.objects.get(pk=first.course_id).title


def test_ciphertext_moved_to_another_organisation_does_not_decrypt(two_versions: Any) -> None:
    first, _, foreign = two_versions
    _put_raw("courses_courseversion", "content", foreign.pk,
             _raw("courses_courseversion", "content", first.pk))
    with pytest.raises(DecryptionFailed):
        _ = CourseVersion.objects.get(pk=foreign.pk).content
    acme_key, globex_key = str(first.org.key_id), str(foreign.org.key_id)
    blob = seal(acme_key, b"secret", where="x")
    with pytest.raises(DecryptionFailed):
        unseal(globex_key, blob, where="x")


def test_a_flipped_bit_is_detected(two_versions: Any) -> None:
    first, _, _ = two_versions
    blob = bytearray(_raw("courses_courseversion", "content", first.pk))
    blob[-1] ^= 1
    _put_raw("courses_courseversion", "content", first.pk, bytes(blob))
    with pytest.raises(DecryptionFailed):
        _ = CourseVersion.objects.get(pk=first.pk).content


def test_files_are_sealed_and_bound_to_their_path(people: People, settings: Any) -> None:
    path, _ = put_bytes(people.acme, "uploads", f"file {MARKER}".encode(), ".txt")
    storage = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    assert MARKER.encode() not in (storage / path).read_bytes()
    assert read_bytes(people.acme, path) == f"file {MARKER}".encode()
    other, _ = put_bytes(people.acme, "uploads", b"another file", ".txt")
    (storage / other).write_bytes((storage / path).read_bytes())
    with pytest.raises(DecryptionFailed):
        read_bytes(people.acme, other)
    with pytest.raises(ResidencyViolation):
        read_bytes(people.globex, path)


def test_data_key_rotation_keeps_old_values_readable(two_versions: Any) -> None:
    first, _, _ = two_versions
    key_id = str(first.org.key_id)
    old_version = keys.data_key(key_id).version
    keys.keyring().rotate_data_key(key_id)
    keys.forget_cached()
    newer = actions.create_course(first.org, content=ai_content(), actor=Actor.system())
    assert _raw("courses_courseversion", "content", newer.pk)[3:5] != (
        old_version.to_bytes(2, "big"))
    assert CourseVersion.objects.get(pk=first.pk).content["title"] == "Safety"
    assert CourseVersion.objects.get(pk=newer.pk).content["title"] == "Safety"


def test_master_key_rotation_rewraps_without_touching_data(two_versions: Any,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           settings: Any) -> None:
    first, _, _ = two_versions
    ciphertext = _raw("courses_courseversion", "content", first.pk)
    master_file = keys.keys_dir() / "master.keys"
    old_text = master_file.read_text()
    new_line = keys.new_master_key_line("mk-2")
    new_master = keys.LocalMasterKeys.parse(old_text + new_line + "\n", source="test")

    assert keys.keyring().rewrap_all(new_master) == 2  # Acme's and Globex's data keys

    # only the new master key is needed from now on; the data did not change
    master_file.write_text(new_line + "\n")
    keys._keyring = None
    keys.forget_cached()
    assert _raw("courses_courseversion", "content", first.pk) == ciphertext
    assert CourseVersion.objects.get(pk=first.pk).content["title"] == "Safety"


def test_a_destroyed_key_is_final(two_versions: Any) -> None:
    first, _, _ = two_versions
    key_id = str(first.org.key_id)
    keys.keyring().destroy(key_id, reason="test")
    keys.forget_cached()
    with pytest.raises(keys.KeyDestroyed):
        _ = CourseVersion.objects.get(pk=first.pk).content
    with pytest.raises(keys.KeyDestroyed):
        seal(key_id, b"new data", where="x")  # never silently re-created
    assert keys.keyring().is_destroyed(key_id)


def test_master_keys_fail_loudly_when_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("COURSEWRIGHT_MASTER_KEY", "mk-1:not-base64!")
    with pytest.raises(ImproperlyConfigured, match="base64 of 32 bytes"):
        keys.load_master_keys()


def test_a_running_process_survives_a_master_rotation_elsewhere(two_versions: Any) -> None:
    first, _, _ = two_versions
    master_file = keys.keys_dir() / "master.keys"
    new_line = keys.new_master_key_line("mk-9")
    rotated = keys.LocalMasterKeys.parse(master_file.read_text() + new_line + "\n",
                                         source="test")
    # another process rotates: the keyring and the key file change under this one
    keys.FileKeyring(keys.keys_dir() / "keyring.json", keys.load_master_keys()).rewrap_all(
        rotated)
    master_file.write_text(master_file.read_text() + new_line + "\n")
    keys.forget_cached()
    assert CourseVersion.objects.get(pk=first.pk).content["title"] == "Safety"


def test_a_key_destroyed_by_another_process_is_unusable_here_at_once(
        two_versions: Any) -> None:
    first, _, _ = two_versions
    key_id = str(first.org.key_id)
    assert CourseVersion.objects.get(pk=first.pk).content  # the key is now cached here
    # another process destroys it: its own keyring object, writing the shared file
    other = keys.FileKeyring(keys.keys_dir() / "keyring.json", keys.load_master_keys())
    other.destroy(key_id, reason="deleted elsewhere")
    with pytest.raises(keys.KeyDestroyed):
        _ = CourseVersion.objects.get(pk=first.pk).content
