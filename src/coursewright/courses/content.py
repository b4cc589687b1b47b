"""The course content schema: screens of typed blocks, validated on every write.

A version's content is one JSON document. Every write goes through
``CourseContent.model_validate`` (pydantic, ``extra="forbid"``), so nothing malformed
or unknown is ever stored. Rich text is Markdown: raw HTML is stripped on the way in
(``clean_markdown``) and the rendered HTML is sanitised again on the way out
(``coursewright.courses.rendering``). Every block carries its provenance: written by a
person, or drafted by an AI engine (engine, model, time) citing the source chunks it
came from.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Annotated, Literal

import nh3
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1
LANGUAGES = ("en", "de", "fr", "es")
_ID = r"^[A-Za-z0-9_-]{1,40}$"
Id = Annotated[str, Field(pattern=_ID)]


def clean_markdown(value: str) -> str:
    """Strip any raw HTML from author/AI Markdown, keeping the text.

    nh3 removes tags and dangerous content (script/style bodies); unescaping turns the
    entities it emits back into plain characters, so ``a < b`` stays Markdown text.
    """
    stripped = nh3.clean(value, tags=set(), clean_content_tags={"script", "style"})
    return html.unescape(stripped).replace("\r\n", "\n").strip()


def clean_plain(value: str) -> str:
    return re.sub(r"\s+", " ", clean_markdown(value)).strip()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Provenance(Strict):
    kind: Literal["human", "ai"]
    engine: str | None = Field(default=None, max_length=80)
    model: str | None = Field(default=None, max_length=120)
    generated_at: datetime | None = None
    sources: list[Annotated[str, Field(max_length=80)]] = Field(default_factory=list)
    edited: bool = False  # AI-drafted, then changed by a person

    @model_validator(mode="after")
    def _ai_needs_engine(self) -> Provenance:
        if self.kind == "ai" and (not self.engine or self.generated_at is None):
            raise ValueError("AI provenance needs engine and generated_at")
        return self


HUMAN = Provenance(kind="human")


class BlockBase(Strict):
    id: Id
    provenance: Provenance = HUMAN


class HeadingBlock(BlockBase):
    type: Literal["heading"]
    level: int = Field(default=2, ge=2, le=4)
    text: str = Field(min_length=1, max_length=300)
    @field_validator("text")
    @classmethod
    def sanitise(cls, v: str) -> str:
        return clean_plain(v)


class TextBlock(BlockBase):
    type: Literal["text"]
    markdown: str = Field(min_length=1, max_length=20000)
    @field_validator("markdown")
    @classmethod
    def sanitise(cls, v: str) -> str:
        return clean_markdown(v)


class ImageBlock(BlockBase):
    type: Literal["image"]
    asset: str = Field(pattern=r"^[0-9a-f]{64}$")  # sha256 of an uploaded Asset
    alt: str = Field(min_length=1, max_length=500)
    caption: str = Field(default="", max_length=500)
    @field_validator("alt", "caption")
    @classmethod
    def sanitise(cls, v: str) -> str:
        return clean_plain(v)


class CalloutBlock(BlockBase):
    type: Literal["callout"]
    style: Literal["info", "tip", "warning"] = "info"
    markdown: str = Field(min_length=1, max_length=5000)
    @field_validator("markdown")
    @classmethod
    def sanitise(cls, v: str) -> str:
        return clean_markdown(v)


class Feedback(Strict):
    correct: str = Field(default="", max_length=2000)
    incorrect: str = Field(default="", max_length=2000)
    @field_validator("correct", "incorrect")
    @classmethod
    def sanitise(cls, v: str) -> str:
        return clean_markdown(v)


class Choice(Strict):
    id: Id
    text: str = Field(min_length=1, max_length=1000)
    correct: bool = False
    feedback: str = Field(default="", max_length=1000)
    @field_validator("text", "feedback")
    @classmethod
    def sanitise(cls, v: str) -> str:
        return clean_plain(v)


class QuestionBase(BlockBase):
    prompt: str = Field(min_length=1, max_length=2000)
    feedback: Feedback = Field(default_factory=Feedback)
    @field_validator("prompt")
    @classmethod
    def sanitise(cls, v: str) -> str:
        return clean_markdown(v)


class MultipleChoiceBlock(QuestionBase):
    type: Literal["multiple_choice"]
    choices: list[Choice] = Field(min_length=2, max_length=10)

    @model_validator(mode="after")
    def _one_correct(self) -> MultipleChoiceBlock:
        _unique_choice_ids(self.choices)
        if sum(c.correct for c in self.choices) != 1:
            raise ValueError("a multiple-choice question needs exactly one correct choice")
        return self


class MultipleResponseBlock(QuestionBase):
    type: Literal["multiple_response"]
    choices: list[Choice] = Field(min_length=2, max_length=10)

    @model_validator(mode="after")
    def _some_correct(self) -> MultipleResponseBlock:
        _unique_choice_ids(self.choices)
        if not any(c.correct for c in self.choices):
            raise ValueError("a multiple-response question needs at least one correct choice")
        return self


class TrueFalseBlock(QuestionBase):
    type: Literal["true_false"]
    answer: bool


class RubricCriterion(Strict):
    id: Id
    text: str = Field(min_length=1, max_length=500)
    points: int = Field(default=1, ge=1, le=100)
    @field_validator("text")
    @classmethod
    def sanitise(cls, v: str) -> str:
        return clean_plain(v)


class FreeTextBlock(QuestionBase):
    """A written answer, graded against ``rubric`` (by AI where the org allows it, with a
    person able to review). Not part of the player's local score: an offline package
    cannot grade it. ``feedback.correct`` is shown when every criterion is met."""

    type: Literal["free_text"]
    rubric: list[RubricCriterion] = Field(min_length=1, max_length=12)
    model_answer: str = Field(default="", max_length=5000)
    max_length: int = Field(default=1000, ge=50, le=5000)
    @field_validator("model_answer")
    @classmethod
    def sanitise_answer(cls, v: str) -> str:
        return clean_markdown(v)

    @model_validator(mode="after")
    def _unique_criteria(self) -> FreeTextBlock:
        ids = [c.id for c in self.rubric]
        if len(set(ids)) != len(ids):
            raise ValueError("rubric criterion ids must be unique within a question")
        return self


def _unique_choice_ids(choices: list[Choice]) -> None:
    ids = [c.id for c in choices]
    if len(set(ids)) != len(ids):
        raise ValueError("choice ids must be unique within a question")


Block = Annotated[
    HeadingBlock | TextBlock | ImageBlock | CalloutBlock
    | MultipleChoiceBlock | MultipleResponseBlock | TrueFalseBlock | FreeTextBlock,
    Field(discriminator="type"),
]
QUESTION_TYPES = ("multiple_choice", "multiple_response", "true_false")


class Screen(Strict):
    id: Id
    title: str = Field(min_length=1, max_length=300)
    blocks: list[Block] = Field(min_length=1, max_length=50)
    @field_validator("title")
    @classmethod
    def sanitise(cls, v: str) -> str:
        return clean_plain(v)


class CourseSettings(Strict):
    passing_score: int = Field(default=80, ge=0, le=100)


class CourseContent(Strict):
    schema_version: Literal[1] = 1
    title: str = Field(min_length=1, max_length=300)
    language: Literal["en", "de", "fr", "es"] = "en"
    description: str = Field(default="", max_length=5000)
    settings: CourseSettings = Field(default_factory=CourseSettings)
    screens: list[Screen] = Field(min_length=1, max_length=500)
    @field_validator("title")
    @classmethod
    def sanitise(cls, v: str) -> str:
        return clean_plain(v)

    @model_validator(mode="after")
    def _unique_ids(self) -> CourseContent:
        screen_ids = [s.id for s in self.screens]
        if len(set(screen_ids)) != len(screen_ids):
            raise ValueError("screen ids must be unique")
        block_ids = [b.id for s in self.screens for b in s.blocks]
        if len(set(block_ids)) != len(block_ids):
            raise ValueError("block ids must be unique within a course")
        return self

    def questions(self) -> list[MultipleChoiceBlock | MultipleResponseBlock | TrueFalseBlock]:
        return [
            b for s in self.screens for b in s.blocks
            if isinstance(b, MultipleChoiceBlock | MultipleResponseBlock | TrueFalseBlock)
        ]

    def asset_hashes(self) -> set[str]:
        return {b.asset for s in self.screens for b in s.blocks if isinstance(b, ImageBlock)}
