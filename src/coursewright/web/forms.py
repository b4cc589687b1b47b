"""Dashboard forms. They check what a person typed and shape it for one action call;
the action (and the content schema behind it) stays the authority on what is valid.

The screen editor is built from the stored screen: which blocks exist, their ids, types
and provenance come from the server, never from the browser. The browser only sends the
text of each field, a delete box per block and an optional new text block.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from pydantic import ValidationError

from coursewright.courses.content import (
    LANGUAGES,
    Block,
    CalloutBlock,
    FreeTextBlock,
    HeadingBlock,
    ImageBlock,
    Screen,
    TextBlock,
    TrueFalseBlock,
)

if TYPE_CHECKING:
    from coursewright.ai.config import ProviderConfig

LANGUAGE_NAMES = {"en": "English", "de": "Deutsch (German)", "fr": "Français (French)",
                  "es": "Español (Spanish)"}
BLOCK_LABELS = {
    "heading": "Heading", "text": "Text", "image": "Image", "callout": "Callout",
    "multiple_choice": "Multiple-choice question",
    "multiple_response": "Multiple-response question", "true_false": "True/false question",
}
CALLOUT_STYLES = [("info", "Information"), ("tip", "Tip"), ("warning", "Warning")]


class Form(forms.Form):
    """Labels without a trailing colon (the layout puts each label above its field)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


# --- AI drafting and the AI tools --------------------------------------------------------
#
# The forms only offer what the organisation's AI policy allows (the view passes the
# providers it may use, in the policy's order); ``ai.gateway`` checks the policy again on
# every request, and its refusals are shown on the page.


def provider_label(provider: ProviderConfig) -> str:
    if provider.is_offline:
        return f"{provider.display}: nothing is sent"
    return provider.display


class ProviderField(forms.ChoiceField):
    """Offers the providers the policy allows; any well-formed name is passed on, so a
    provider the policy stopped allowing while the page was open is refused by the
    gateway, with its reason (and a ledger row), rather than as "not a valid choice"."""

    def valid_value(self, value: Any) -> bool:
        return bool(re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", str(value)))


class AiForm(Form):
    """A form whose request goes to an AI provider. With more than one provider to choose
    from it gets a ``provider`` select: "Automatic" follows the policy's order (and fails
    over to the next provider); a named one is the only one tried."""

    provider_field_label = "AI provider"
    provider_help = ("Automatic tries {first} first and moves on to the next provider your "
                     "organisation allows if it fails. Choose one to use only that one.")

    def __init__(self, *args: Any, providers: Sequence[ProviderConfig] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if len(providers) > 1:
            self.fields["provider"] = ProviderField(
                label=self.provider_field_label, required=False,
                help_text=self.provider_help.format(first=providers[0].display),
                choices=[("", "Automatic"), *((p.name, provider_label(p)) for p in providers)])

    @property
    def provider(self) -> str | None:
        return self.cleaned_data.get("provider") or None


class UploadForm(AiForm):
    provider_field_label = "Draft with"
    provider_help = ("The offline engine drafts on this server and sends nothing; an AI model "
                     "provider receives the document's text, with personal data removed. "
                     "Automatic tries {first} first and moves on to the next one your "
                     "organisation allows if it fails.")

    file = forms.FileField(
        label="Document",
        help_text="PDF, Word (.docx), PowerPoint (.pptx), Markdown, HTML or plain text.")
    title = forms.CharField(
        label="Course title (optional)", required=False, max_length=300,
        help_text="Leave empty to use the document's own title.")
    language = forms.ChoiceField(
        label="Course language", initial="en",
        choices=[(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES])
    target_screens = forms.IntegerField(
        label="Number of screens (optional)", required=False, min_value=3, max_value=200,
        help_text="Between 3 and 200. Leave empty for the default.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_screens"].help_text = (
            f"Between 3 and 200. Leave empty for the default ({settings.TARGET_SCREENS}).")

    def read_file(self) -> tuple[str, bytes]:
        """The upload's name and bytes, reading at most one byte past the limit so an
        oversized file is refused by ingest without being held in memory whole."""
        upload = self.cleaned_data["file"]
        limit = settings.MAX_UPLOAD_MB * 1024 * 1024
        return upload.name or "", upload.read(limit + 1)


class RejectForm(Form):
    comment = forms.CharField(
        label="What needs to change?", max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Required. The author sees this comment on the course page.")


class ApproveForm(Form):
    """Approval of a version in review. With ``open_flags`` sentences that the grounding
    check flagged and no reviewer marked as checked, the reviewer must tick that they
    checked them (``courses.actions.approve_version`` refuses otherwise)."""

    prefix = "approve"
    confirm_unsupported = forms.BooleanField(required=False)

    def __init__(self, *args: Any, open_flags: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_flags = open_flags
        field = self.fields["confirm_unsupported"]
        if open_flags:
            s = "s" if open_flags != 1 else ""
            field.required = True
            field.label = f"I have checked the {open_flags} flagged sentence{s}"
            field.help_text = ("The source check found sentences the cited source does not "
                               "support. Tick this once you have read each one against "
                               "its source, or mark them as checked one by one.")
            field.error_messages["required"] = (
                f"Confirm that you checked the {open_flags} flagged sentence{s} "
                "before approving.")
        else:
            field.widget = forms.HiddenInput()


class ImageBlockForm(Form):
    prefix = "image"  # the screen editor's form shares the page
    image = forms.FileField(label="Image file", help_text="PNG, JPEG or WebP. SVG is refused.")
    alt = forms.CharField(
        label="Alternative text", max_length=500,
        help_text="Required. Describe what the image shows for people who cannot see it.")
    caption = forms.CharField(label="Caption (optional)", required=False, max_length=500)

    def read_image(self) -> bytes:
        limit = settings.MAX_IMAGE_MB * 1024 * 1024
        data: bytes = self.cleaned_data["image"].read(limit + 1)
        return data

    def image_block(self, asset_sha256: str) -> dict[str, Any]:
        return {"id": new_block_id("image"), "type": "image", "asset": asset_sha256,
                "alt": self.cleaned_data["alt"], "caption": self.cleaned_data["caption"]}


def new_block_id(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(5)}"


def screen_without_provenance(screen: Screen) -> dict[str, Any]:
    """A stored screen as the action expects it back (provenance is kept server-side)."""
    data: dict[str, Any] = screen.model_dump(mode="json")
    for block in data["blocks"]:
        block.pop("provenance", None)
    return data


@dataclass
class EditorChoice:
    label: str
    fields: list[forms.BoundField]


@dataclass
class EditorBlock:
    """One block of the screen editor, grouped for the template."""

    block: Block
    number: int
    label: str
    fields: list[forms.BoundField]
    choices: list[EditorChoice]
    feedback: list[forms.BoundField]
    delete: forms.BoundField
    errors: list[str] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return f"block-{self.block.id}"


def _text(label: str, max_length: int, *, required: bool = True, rows: int | None = None,
          help_text: str = "") -> forms.CharField:
    widget = forms.Textarea(attrs={"rows": rows}) if rows else forms.TextInput()
    return forms.CharField(label=label, max_length=max_length, required=required,
                           widget=widget, help_text=help_text, strip=True)


_MARKDOWN_HELP = "Markdown: **bold**, *italic*, - lists, [links](https://…)."


class ScreenForm(Form):
    """Edit one screen: its title, each block's text, deletions and one new text block."""

    title = forms.CharField(label="Screen title", max_length=300)
    new_text = forms.CharField(
        label="Add a text block at the end (optional)", required=False, max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4}), help_text=_MARKDOWN_HELP)

    def __init__(self, screen: Screen, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.screen = screen
        self.fields["title"].initial = screen.title
        self.block_errors: dict[str, list[str]] = {}
        self._layout: list[tuple[Block, list[str], list[tuple[str, list[str]]], list[str]]] = []
        for block in screen.blocks:
            self._add_block_fields(block)
        self.built: dict[str, Any] | None = None

    # --- fields ---------------------------------------------------------------------

    def _put(self, name: str, form_field: forms.Field, initial: Any) -> str:
        form_field.initial = initial
        self.fields[name] = form_field
        return name

    def _add_block_fields(self, block: Block) -> None:
        p = f"b-{block.id}-"
        names: list[str] = []
        choices: list[tuple[str, list[str]]] = []
        feedback: list[str] = []
        if isinstance(block, HeadingBlock):
            names.append(self._put(p + "text", _text("Heading text", 300), block.text))
        elif isinstance(block, TextBlock):
            names.append(self._put(p + "markdown", _text("Text", 20000, rows=8,
                                                         help_text=_MARKDOWN_HELP),
                                   block.markdown))
        elif isinstance(block, CalloutBlock):
            names.append(self._put(p + "style", forms.ChoiceField(
                label="Callout style", choices=CALLOUT_STYLES), block.style))
            names.append(self._put(p + "markdown", _text("Callout text", 5000, rows=4,
                                                         help_text=_MARKDOWN_HELP),
                                   block.markdown))
        elif isinstance(block, ImageBlock):
            names.append(self._put(p + "alt", _text(
                "Alternative text", 500,
                help_text="Required. Describe what the image shows."), block.alt))
            names.append(self._put(p + "caption", _text("Caption", 500, required=False),
                                   block.caption))
        else:
            names.append(self._put(p + "prompt", _text("Question", 2000, rows=3,
                                                       help_text=_MARKDOWN_HELP),
                                   block.prompt))
            if isinstance(block, TrueFalseBlock):
                names.append(self._put(p + "answer", forms.TypedChoiceField(
                    label="Correct answer", choices=[("true", "True"), ("false", "False")],
                    coerce=lambda v: v == "true", widget=forms.RadioSelect),
                    "true" if block.answer else "false"))
            elif not isinstance(block, FreeTextBlock):  # the rubric is edited via the API
                for i, choice in enumerate(block.choices, start=1):
                    c = f"{p}c-{choice.id}-"
                    choices.append((f"Choice {i}", [
                        self._put(c + "text", _text(f"Choice {i} text", 1000), choice.text),
                        self._put(c + "correct", forms.BooleanField(
                            label=f"Choice {i} is correct", required=False), choice.correct),
                        self._put(c + "feedback", _text(f"Choice {i} feedback (optional)",
                                                        1000, required=False),
                                  choice.feedback),
                    ]))
            feedback.append(self._put(p + "fb-correct", _text(
                "Feedback when answered correctly", 2000, required=False, rows=2),
                block.feedback.correct))
            feedback.append(self._put(p + "fb-incorrect", _text(
                "Feedback when answered incorrectly", 2000, required=False, rows=2),
                block.feedback.incorrect))
        self._put(p + "delete", forms.BooleanField(label="Delete this block", required=False),
                  False)
        self._layout.append((block, names, choices, feedback))

    def editor_blocks(self) -> list[EditorBlock]:
        out = []
        for number, (block, names, choices, feedback) in enumerate(self._layout, start=1):
            label = BLOCK_LABELS.get(block.type, block.type)
            out.append(EditorBlock(
                block=block, number=number, label=label,
                fields=[self[n] for n in names],
                choices=[EditorChoice(lbl, [self[n] for n in ns]) for lbl, ns in choices],
                feedback=[self[n] for n in feedback],
                delete=self[f"b-{block.id}-delete"],
                errors=self.block_errors.get(block.id, [])))
        return out

    # --- building the screen ---------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}

        def value(name: str, stored: Any) -> Any:
            # A field that failed its own check keeps its stored value here, so the
            # schema check below still reports every other problem in the same round.
            return cleaned.get(name, stored)

        blocks: list[dict[str, Any]] = []
        owners: list[str] = []  # block id per built block, to map schema errors back
        for block in self.screen.blocks:
            p = f"b-{block.id}-"
            if cleaned.get(p + "delete"):
                continue
            data: dict[str, Any] = block.model_dump(mode="json", exclude={"provenance"})
            for key in ("text", "markdown", "style", "alt", "caption", "prompt", "answer"):
                if key in data:
                    data[key] = value(p + key, data[key])
            for choice in data.get("choices", []):
                c = f"{p}c-{choice['id']}-"
                for key in ("text", "correct", "feedback"):
                    choice[key] = value(c + key, choice[key])
            if "feedback" in data:
                data["feedback"] = {k: value(f"{p}fb-{k}", v)
                                    for k, v in data["feedback"].items()}
            blocks.append(data)
            owners.append(block.id)
        if cleaned.get("new_text"):
            blocks.append({"id": new_block_id("text"), "type": "text",
                           "markdown": cleaned["new_text"]})
            owners.append("")
        built = {"id": self.screen.id, "title": value("title", self.screen.title),
                 "blocks": blocks}
        try:
            Screen.model_validate(built)
        except ValidationError as exc:
            for error in exc.errors():
                self._attach(tuple(error["loc"]), _message(error["msg"]), owners)
            return cleaned
        if self.errors:
            return cleaned
        self.built = {"title": built["title"], "blocks": blocks}
        return cleaned

    def _attach(self, loc: tuple[Any, ...], message: str, owners: list[str]) -> None:
        if loc == ("title",):
            if "title" not in self.errors:
                self.add_error("title", message)
            return
        if loc == ("blocks",):
            self.add_error(None, "A screen needs at least one block; keep one or add text.")
            return
        if len(loc) < 2 or loc[0] != "blocks" or not isinstance(loc[1], int):
            self.add_error(None, message)
            return
        owner = owners[loc[1]] if loc[1] < len(owners) else ""
        if not owner:
            if "new_text" not in self.errors:
                self.add_error("new_text", message)
            return
        name = self._field_for(owner, loc[3:])  # after ("blocks", index, block type)
        if name in self.fields:
            if name not in self.errors:
                self.add_error(name, message)
            return
        self.block_errors.setdefault(owner, []).append(message)
        number = next(i for i, b in enumerate(self.screen.blocks, start=1) if b.id == owner)
        self.add_error(None, f"Block {number}: {message}")

    def _field_for(self, owner: str, rest: tuple[Any, ...]) -> str:
        p = f"b-{owner}-"
        if len(rest) == 1:
            return p + str(rest[0])
        if len(rest) == 2 and rest[0] == "feedback":
            return f"{p}fb-{rest[1]}"
        if len(rest) == 3 and rest[0] == "choices" and isinstance(rest[1], int):
            block = next(b for b in self.screen.blocks if b.id == owner)
            choices = getattr(block, "choices", [])
            if rest[1] < len(choices):
                return f"{p}c-{choices[rest[1]].id}-{rest[2]}"
        return ""


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")



LANGUAGE_CHOICES = [(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES]


class BriefForm(AiForm):
    """A course drafted from a description alone: no document, so no source to cite."""

    prefix = "brief"
    provider_field_label = "Draft with"
    provider_help = ("The brief is sent to the chosen provider, with personal data removed. "
                     "Automatic tries {first} first and moves on to the next one your "
                     "organisation allows if it fails.")

    brief = forms.CharField(
        label="Brief", max_length=5000, widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What the course should teach, to whom, and what it must cover. At most "
                  "5,000 characters.")
    title = forms.CharField(label="Course title", max_length=300)
    language = forms.ChoiceField(label="Course language", initial="en",
                                 choices=LANGUAGE_CHOICES)
    target_screens = forms.IntegerField(
        label="Number of screens (optional)", required=False, min_value=3, max_value=200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_screens"].help_text = (
            f"Between 3 and 200. Leave empty for the default ({settings.TARGET_SCREENS}).")


class RegenerateScreenForm(AiForm):
    """Redraft one screen; the view gives each screen's form its own prefix."""

    instruction = forms.CharField(
        label="What should change? (optional)", required=False, max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For example “explain it for new staff” or “add an example”. At most "
                  "500 characters.")


def set_choices(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


REFINEMENT_LABELS = {
    "formal": "Formal and professional", "friendly": "Warm and friendly",
    "neutral": "Neutral and plain", "simpler": "Simpler (plain language)",
    "advanced": "More technical (for experts)", "shorter": "Shorter (about a third)",
    "longer": "Longer (more explanation)",
}


def _refinements(kind: str, unchanged: str) -> list[tuple[str, str]]:
    # imported here: ai.llm loads the provider SDKs, which most pages never need
    from coursewright.ai.llm import REFINEMENTS

    return [("", unchanged), *((value, REFINEMENT_LABELS.get(value, value.capitalize()))
                               for value in REFINEMENTS[kind])]


class RefineForm(AiForm):
    prefix = "refine"

    scope = forms.ChoiceField(label="What to refine", required=False)
    tone = forms.ChoiceField(label="Tone", required=False)
    reading_level = forms.ChoiceField(label="Reading level", required=False)
    length = forms.ChoiceField(label="Length", required=False)

    def __init__(self, *args: Any, screens: Sequence[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "scope", [("", "The whole draft"), *screens])
        set_choices(self, "tone", _refinements("tone", "Keep the tone"))
        set_choices(self, "reading_level", _refinements("reading_level", "Keep the reading level"))
        set_choices(self, "length", _refinements("length", "Keep the length"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not any(cleaned.get(k) for k in ("tone", "reading_level", "length")):
            raise forms.ValidationError(
                "Choose at least one change: the tone, the reading level or the length.")
        return cleaned

    @property
    def screen_ids(self) -> list[str] | None:
        scope = self.cleaned_data.get("scope")
        return [scope] if scope else None


class QuestionsForm(AiForm):
    prefix = "questions"

    screen = forms.ChoiceField(label="Add to screen")
    count = forms.IntegerField(label="Number of questions", min_value=1, max_value=5,
                               initial=2, help_text="From 1 to 5.")

    def __init__(self, *args: Any, screens: Sequence[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "screen", list(screens))


class TranslateForm(AiForm):
    prefix = "translate"

    language = forms.ChoiceField(label="Translate into")

    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "language", [(code, name) for code, name in LANGUAGE_CHOICES
                                       if code != current])
