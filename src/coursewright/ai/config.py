"""The AI providers an operator offers, read from one TOML file.

Design note
-----------
* **One documented place.** Every provider lives in ``COURSEWRIGHT_AI_PROVIDERS_FILE``
  (default ``var/ai-providers.toml``; format in docs/ai-providers.md). The offline
  engine is always configured and always first-class: it needs no file.
* **Secrets are never in the file.** A provider names the environment variable that
  holds its key (``api_key_env``); an organisation may bring its own key instead, which
  is stored encrypted with the org's data key (``ai.models.ProviderCredential``).
* **Each provider declares where it processes data and what it promises** (training
  opt-out, retention, certifications, legal entity). The region list is what the region
  lock checks; the commitments are what the generated subprocessor list shows. A
  provider without a declared region can never process an organisation's content.
* The file is validated strictly (unknown keys, bad kinds, missing fields fail loudly at
  load with the file name), and re-read when it changes on disk.
"""

from __future__ import annotations

import os
import threading
import tomllib
from pathlib import Path
from typing import Literal

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

OFFLINE = "offline"
ProviderKind = Literal["offline", "openai", "azure", "gemini"]
REGIONS = ("eu", "uk", "us")


class Commitments(BaseModel):
    model_config = ConfigDict(extra="forbid")
    training_opt_out: bool = False
    processing_regions: list[str] = Field(default_factory=list)
    retention: str = ""
    certifications: list[str] = Field(default_factory=list)
    legal_entity: str = ""
    dpa_url: str = ""


class ProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    kind: ProviderKind
    label: str = ""
    model: str = ""
    # Regions whose organisations may send content here (where the endpoint processes).
    regions: tuple[str, ...] = ()
    base_url: str = ""          # openai: the OpenAI-compatible base URL; gemini: optional
    azure_endpoint: str = ""    # azure
    api_version: str = ""       # azure (e.g. 2024-10-21) / gemini (v1beta)
    api_key_env: str = ""
    timeout: float = Field(default=0, ge=0, le=600)  # 0: COURSEWRIGHT_AI_TIMEOUT
    json_mode: Literal["schema", "object"] = "schema"
    commitments: Commitments = Field(default_factory=Commitments)

    @model_validator(mode="after")
    def _complete(self) -> ProviderConfig:
        bad = [r for r in self.regions if r not in REGIONS]
        if bad:
            raise ValueError(f"unknown region(s) {bad}; use {', '.join(REGIONS)}")
        if self.kind == "openai" and not self.base_url:
            raise ValueError("an openai-kind provider needs base_url")
        if self.kind == "azure" and not (self.azure_endpoint and self.api_version):
            raise ValueError("an azure provider needs azure_endpoint and api_version")
        if self.kind != "offline" and not self.model:
            raise ValueError("a provider needs model (the Azure deployment name for azure)")
        return self

    @property
    def display(self) -> str:
        return self.label or self.name

    @property
    def is_offline(self) -> bool:
        return self.kind == "offline"

    def operator_key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""


OFFLINE_PROVIDER = ProviderConfig(
    name=OFFLINE, kind="offline", label="Offline engine (on this server)",
    model="extractive-v1", regions=REGIONS,
    commitments=Commitments(
        training_opt_out=True, processing_regions=["this server"],
        retention="nothing leaves the server", legal_entity="(your own deployment)"),
)


class ProviderFileError(ValueError):
    pass


def parse_providers(text: str, source: str = "<string>") -> dict[str, ProviderConfig]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProviderFileError(f"{source}: not valid TOML: {exc}") from exc
    unknown = set(raw) - {"providers", "hosting"}
    if unknown:
        raise ProviderFileError(f"{source}: unknown top-level key(s) {sorted(unknown)}")
    table = raw.get("providers", {})
    if not isinstance(table, dict):
        raise ProviderFileError(f"{source}: [providers] must be a table")
    found: dict[str, ProviderConfig] = {OFFLINE: OFFLINE_PROVIDER}
    for name, entry in table.items():
        if name == OFFLINE:
            raise ProviderFileError(f"{source}: the name 'offline' is reserved")
        if not isinstance(entry, dict):
            raise ProviderFileError(f"{source}: providers.{name} must be a table")
        try:
            found[name] = ProviderConfig(name=name, **entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ProviderFileError(
                f"{source}: providers.{name}{'.' + where if where else ''}: {first['msg']}"
            ) from exc
    return found


class Hosting(BaseModel):
    """The deployment's own hosting, first on the subprocessor list (``[hosting]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = "Hosting"
    purpose: str = "Hosting, storage and backups"
    legal_entity: str = ""
    processing_regions: list[str] = Field(default_factory=list)
    serves_regions: list[str] = Field(default_factory=list)
    retention: str = ""
    certifications: list[str] = Field(default_factory=list)
    dpa_url: str = ""


def parse_hosting(text: str, source: str = "<string>") -> Hosting | None:
    table = tomllib.loads(text).get("hosting")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ProviderFileError(f"{source}: [hosting] must be a table")
    try:
        return Hosting(**table)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ProviderFileError(
            f"{source}: hosting.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        ) from exc


_lock = threading.Lock()
_cache: tuple[str, float, dict[str, ProviderConfig], Hosting | None] | None = None


def _load() -> tuple[dict[str, ProviderConfig], Hosting | None]:
    global _cache
    path = Path(settings.AI_PROVIDERS_FILE)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return {OFFLINE: OFFLINE_PROVIDER}, None
    with _lock:
        if _cache is not None and _cache[0] == str(path) and _cache[1] == mtime:
            return _cache[2], _cache[3]
        text = path.read_text(encoding="utf-8")
        found = parse_providers(text, str(path))
        hosting = parse_hosting(text, str(path))
        _cache = (str(path), mtime, found, hosting)
        return found, hosting


def providers() -> dict[str, ProviderConfig]:
    """Every configured provider by name (insertion order: offline, then the file's)."""
    return _load()[0]


def hosting() -> Hosting | None:
    """The ``[hosting]`` table of the providers file, if the operator wrote one."""
    return _load()[1]


def get_provider(name: str) -> ProviderConfig | None:
    return providers().get(name)
