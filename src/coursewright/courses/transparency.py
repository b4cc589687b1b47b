"""AI transparency markers (EU AI Act Art. 50(2)): what made each block, screen and course.

Design note
-----------
Article 50(2) asks that AI-generated text be marked in a machine-readable way and be
detectable as artificially generated. Every export carries the marks of this module
(``publishing.packaging`` writes them, ``player.render`` puts them in the page), so a
client LMS, a crawler or an auditor can tell, per block, how the text was made. What is
guaranteed, and why:

* **Every machine-drafted block is marked; the term says how.** The marker is a term of
  the IPTC Digital Source Type vocabulary (``http://cv.iptc.org/newscodes/
  digitalsourcetype/``), the vocabulary C2PA, schema.org and search engines read:

  ======================================  ===========================================
  block provenance                        IPTC term
  ======================================  ===========================================
  LLM provider (any engine but ours)      ``trainedAlgorithmicMedia``
  LLM provider, then edited by a person   ``compositeWithTrainedAlgorithmicMedia``
  offline engine (rules, no model)        ``algorithmicMedia``
  offline engine, then edited by a person ``composite``
  written by a person                     none (see below)
  ======================================  ===========================================

  The offline engine (``ai.offline``) is extractive and rule-based with no trained
  model, which is IPTC's "created purely by an algorithm not based on any sampled
  training data". Once a person edits such a block it is no longer purely
  algorithmic: it is a mix of machine-made and human-made text. IPTC ``composite``
  ("mix or composite of several elements, any of which may or may not be generative
  AI") is the term for exactly that. The alternatives say something false:
  ``compositeSynthetic`` is defined as containing *generative AI* elements (the
  offline engine has none), and ``humanEdits`` describes original media retouched by a
  person, which would hide that a machine wrote the base text.
  An LLM block a person edited becomes ``compositeWithTrainedAlgorithmicMedia``
  (generative-AI output combined with other material, here the person's edits).
* **Human blocks carry no marker, not ``digitalCreation``.** ``kind="human"`` means a
  person typed or pasted the block in the editor; coursewright cannot know where pasted
  text came from, so asserting IPTC ``digitalCreation`` ("created by a human using
  non-generative tools") would be a claim we cannot back. Article 50 asks for the AI
  output to be marked, not for human work to be certified. The provenance record still
  says ``"kind": "human"`` for such a block, so a reader can tell "made by a person"
  from "not described".
* **Screens and courses are summarised with the same rule.** A screen (or a course) is
  AI-made if any of its blocks is. Its term is the blocks' term when they all share
  one; otherwise ``compositeSynthetic`` when any block involves generative AI, else
  ``composite``; no term when no block is AI-made.
* **No personal data of staff.** Packages go to client LMSs, so the review record has
  no field for a name or an email: the reviewer is an opaque reference,
  HMAC-SHA256(key = the organisation's random ``key_id``, message = the user's id). It
  is stable (the same reviewer in the same organisation always gets the same
  reference, so rebuilds stay byte-identical), cannot be reversed or even tested
  without that key, and differs between organisations (two clients cannot link a
  person across them). Who it stands for is in the version row and the audit log,
  for the organisation's own staff.
* **Deterministic.** Everything here is a pure function of its arguments (no clock, no
  database, no environment): dates come from the content and the review record and are
  written in UTC; lists follow content order.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from coursewright.courses.content import Block, CourseContent, Provenance, Screen

# ``ai.offline.ENGINE`` (a test pins them equal): named here rather than imported, so
# that courses does not depend on ai (the data path runs ai -> courses -> publishing).
OFFLINE_ENGINE = "coursewright-offline"

LAW = "EU AI Act Art. 50(2)"  # Regulation (EU) 2024/1689, Article 50(2)
RECORD_SCHEMA = "coursewright.provenance/1"
IPTC_SCHEME = "http://cv.iptc.org/newscodes/digitalsourcetype/"

TRAINED_ALGORITHMIC_MEDIA = IPTC_SCHEME + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC_SCHEME + "compositeWithTrainedAlgorithmicMedia"
ALGORITHMIC_MEDIA = IPTC_SCHEME + "algorithmicMedia"
COMPOSITE = IPTC_SCHEME + "composite"
COMPOSITE_SYNTHETIC = IPTC_SCHEME + "compositeSynthetic"

GENERATIVE = frozenset({TRAINED_ALGORITHMIC_MEDIA, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
                        COMPOSITE_SYNTHETIC})

# IPTC's English names, and the schema.org members of IPTCDigitalSourceEnumeration
# (the range schema.org declares for ``digitalSourceType``) naming the same codes.
IPTC_NAMES = {
    TRAINED_ALGORITHMIC_MEDIA: "Created using Generative AI",
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA: "Edited using Generative AI",
    ALGORITHMIC_MEDIA: "Pure algorithmic media",
    COMPOSITE: "Composite of elements",
    COMPOSITE_SYNTHETIC: "Composite including generative AI elements",
}
SCHEMA_ORG_TERMS = {
    TRAINED_ALGORITHMIC_MEDIA: "https://schema.org/TrainedAlgorithmicMediaDigitalSource",
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA:
        "https://schema.org/CompositeWithTrainedAlgorithmicMediaDigitalSource",
    ALGORITHMIC_MEDIA: "https://schema.org/AlgorithmicMediaDigitalSource",
    COMPOSITE: "https://schema.org/CompositeDigitalSource",
    COMPOSITE_SYNTHETIC: "https://schema.org/CompositeSyntheticDigitalSource",
}

_REVIEWER_CONTEXT = b"coursewright.reviewer-ref/1:"


def block_source_type(provenance: Provenance) -> str | None:
    """The IPTC digital source type of a block, or None for a person's block."""
    if provenance.kind != "ai":
        return None
    if provenance.engine == OFFLINE_ENGINE:
        return COMPOSITE if provenance.edited else ALGORITHMIC_MEDIA
    return COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA if provenance.edited \
        else TRAINED_ALGORITHMIC_MEDIA


def combined_source_type(types: Iterable[str | None]) -> str | None:
    """The term for a whole made of parts with ``types`` (None: a person's part)."""
    found = set(types)
    marked = found - {None}
    if not marked:
        return None
    if len(found) == 1:
        (only,) = marked
        return only
    return COMPOSITE_SYNTHETIC if marked & GENERATIVE else COMPOSITE


def is_ai_made(screen: Screen) -> bool:
    return any(b.provenance.kind == "ai" for b in screen.blocks)


@dataclass(frozen=True)
class ScreenSummary:
    id: str
    title: str
    position: int  # 1-based, in course order
    ai_made: bool
    source_type: str | None


@dataclass(frozen=True)
class CourseSummary:
    ai_made: bool
    source_type: str | None
    screens: tuple[ScreenSummary, ...]


def summarise(content: CourseContent) -> CourseSummary:
    screens = tuple(
        ScreenSummary(id=s.id, title=s.title, position=n, ai_made=is_ai_made(s),
                      source_type=combined_source_type(
                          block_source_type(b.provenance) for b in s.blocks))
        for n, s in enumerate(content.screens, start=1)
    )
    all_types = [block_source_type(b.provenance) for s in content.screens for b in s.blocks]
    return CourseSummary(ai_made=any(s.ai_made for s in screens),
                         source_type=combined_source_type(all_types), screens=screens)


def reviewer_reference(org_key: uuid.UUID, user_id: int) -> str:
    """An opaque, stable reference to a reviewer, for exports (see the design note)."""
    message = _REVIEWER_CONTEXT + str(int(user_id)).encode("ascii")
    return hmac.new(org_key.bytes, message, hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class ReviewRecord:
    """The human review of a version as it may leave the organisation: no name, no email."""

    approved_at: datetime  # timezone-aware
    approved_via: str | None = None  # the channel: "web", "api" or "cli"
    reviewer_ref: str | None = None  # from reviewer_reference(); None: reviewer deleted
    published_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("approved_at", "published_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")

    @property
    def state(self) -> str:
        return "published" if self.published_at is not None else "approved"


def iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("datetimes in an export must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _block_record(block: Block) -> dict[str, Any]:
    p = block.provenance
    return {
        "id": block.id,
        "type": block.type,
        "kind": p.kind,
        "digital_source_type": block_source_type(p),
        "engine": p.engine,
        "model": p.model,
        "generated_at": iso_utc(p.generated_at) if p.generated_at else None,
        "edited": p.edited,
        "sources": list(p.sources),
    }


def provenance_record(content: CourseContent, *, course_id: str, version_number: int,
                      review: ReviewRecord) -> dict[str, Any]:
    """The provenance record of a version (``provenance.json`` in every package)."""
    summary = summarise(content)
    by_id = {s.id: s for s in summary.screens}
    return {
        "schema": RECORD_SCHEMA,
        "law": LAW,
        "vocabulary": IPTC_SCHEME,
        "course": {
            "id": course_id,
            "version": version_number,
            "title": content.title,
            "language": content.language,
            "ai_made": summary.ai_made,
            "digital_source_type": summary.source_type,
        },
        "review": {
            "state": review.state,
            "approved_at": iso_utc(review.approved_at),
            "approved_via": review.approved_via or None,
            "reviewer_ref": review.reviewer_ref,
            "published_at": iso_utc(review.published_at) if review.published_at else None,
        },
        "screens": [
            {
                "id": screen.id,
                "ai_made": by_id[screen.id].ai_made,
                "digital_source_type": by_id[screen.id].source_type,
                "blocks": [_block_record(b) for b in screen.blocks],
            }
            for screen in content.screens
        ],
    }
