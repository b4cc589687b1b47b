"""Model fields whose values are encrypted under the row's organisation's data key.

Use on models with an ``org`` foreign key and a ``uid`` field (a random UUID set before
the first save). The database holds only ciphertext bound to ``table.column`` and the
row's uid; reading the attribute decrypts on first access (and remembers the result on
the instance), assigning sets plaintext that is sealed on save.

Queryset ``update()`` and ``values()`` bypass models and see ciphertext: code that must
write with ``update()`` seals explicitly with ``seal_for(instance, field_name, value)``.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from coursewright.privacy.crypto import seal, unseal

_PLAIN = "_plain_"


def org_key_id(org_id: int) -> str:
    from coursewright.privacy.orgkeys import key_id_for_org

    return key_id_for_org(org_id)


def _where(instance: models.Model, field: EncryptedMixin) -> str:
    uid = getattr(instance, "uid", None)
    if not uid:
        raise ValueError(f"{type(instance).__name__} needs a uid before sealing {field.name}")
    return f"{instance._meta.db_table}.{field.column}:{uid}"


class _Descriptor:
    def __init__(self, field: EncryptedMixin) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type) -> Any:
        if instance is None:
            return self
        cache = instance.__dict__
        plain_name = _PLAIN + self.field.attname
        if plain_name not in cache:
            raw = cache.get(self.field.attname)
            if raw is None:
                cache[plain_name] = None
            else:
                blob = bytes(raw)
                data = unseal(org_key_id(instance.org_id),  # type: ignore[attr-defined]
                              blob, where=_where(instance, self.field))
                cache[plain_name] = self.field.decode(data)
        return cache[plain_name]

    def __set__(self, instance: models.Model, value: Any) -> None:
        if isinstance(value, _Raw):
            instance.__dict__[self.field.attname] = value.blob
            instance.__dict__.pop(_PLAIN + self.field.attname, None)
        else:
            instance.__dict__[_PLAIN + self.field.attname] = value
            instance.__dict__[self.field.attname] = _PENDING


class _Raw:
    """A value straight from the database (ciphertext)."""

    def __init__(self, blob: Any) -> None:
        self.blob = blob


_PENDING = object()


class EncryptedMixin(models.BinaryField):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        kwargs.setdefault("default", None)
        super().__init__(*args, **kwargs)

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def contribute_to_class(self, cls: type[models.Model], name: str,
                            private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only)
        setattr(cls, self.attname, _Descriptor(self))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return _Raw(value) if value is not None else None

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        current = model_instance.__dict__.get(self.attname)
        if current is not None and current is not _PENDING:
            return current  # unchanged since it was loaded or sealed: keep the ciphertext
        plain = getattr(model_instance, self.attname)
        if plain is None:
            return None
        blob = seal(org_key_id(model_instance.org_id),  # type: ignore[attr-defined]
                    self.encode(plain), where=_where(model_instance, self))
        model_instance.__dict__[self.attname] = blob
        return blob

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if isinstance(value, _Raw):
            value = value.blob
        if value is _PENDING:
            raise ValueError(f"{self.name}: plaintext reached the database unsealed")
        return super().get_db_prep_value(value, connection, prepared)


class EncryptedTextField(EncryptedMixin):
    def encode(self, value: Any) -> bytes:
        return str(value).encode()

    def decode(self, data: bytes) -> str:
        return data.decode()


class EncryptedJSONField(EncryptedMixin):
    def encode(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


def seal_for(instance: models.Model, field_name: str, value: Any) -> bytes:
    """Ciphertext for ``value`` in ``instance.field_name``, for queryset ``update()``."""
    field = instance._meta.get_field(field_name)
    assert isinstance(field, EncryptedMixin)
    return seal(org_key_id(instance.org_id),  # type: ignore[attr-defined]
                field.encode(value), where=_where(instance, field))
