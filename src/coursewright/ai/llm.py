"""Course generation and editing with a language model, through the AI gateway.

Design note
-----------
* **Same schema, validated.** The model answers in small JSON shapes (strict JSON
  schemas below, sent as the provider's structured-output format); we turn them into
  ``CourseContent`` blocks ourselves, so every result passes the same pydantic
  validation as a human edit. An answer that does not fit its schema is malformed
  output: the gateway fails over to the next allowed provider.
* **Citations are ours to check.** Passages are sent as short refs (``P12``); refs the
  model invents are dropped, and a block left with no valid ref is unsourced — the
  grounding check flags it for the reviewer. Prompt-only courses are unsourced by design.
* **Long documents by map-reduce, on a token budget.** Map: consecutive passages in
  batches of about ``BATCH_TOKENS`` become a one-line summary and a few key points, each
  citing refs. Outline: the summaries (only) become the screen plan. Screens: each
  screen is written from its batches' key points (not the passages again). Every
  passage is therefore sent exactly once, and the rest is small: the total prompt for a
  course stays within 1.3x the document's own tokens (``bench/ai_tokens.py`` measures it).
* **Resumable.** The map step's results are checkpointed per batch (encrypted, on the
  job), so a job resumed after a worker restart does not send those passages again.
* Nothing here talks to a provider directly: every call is ``gateway.ask``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from coursewright.ai import gateway
from coursewright.ai.gateway import Message
from coursewright.courses.content import (
    Block,
    CalloutBlock,
    Choice,
    CourseContent,
    Feedback,
    MultipleChoiceBlock,
    Provenance,
    Screen,
    TextBlock,
    TrueFalseBlock,
    clean_markdown,
    clean_plain,
)
from coursewright.ingest.types import Chunk, ConvertedDocument

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor
    from coursewright.orgs.models import Organisation

BATCH_TOKENS = 6000
LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish"}
SCREENS_PER_CALL = 6


def estimate_tokens(text: str) -> int:
    """A local token estimate (about four characters per token, as BPE tokenisers give
    for English prose). Used to size batches; the ledger records the provider's own
    counts."""
    return max(1, (len(text) + 3) // 4)


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


_STR = {"type": "string"}
_REFS = {"type": "array", "items": _STR}
MAP_SCHEMA = _obj({"summary": _STR, "points": {"type": "array", "items": _obj(
    {"text": _STR, "refs": _REFS})}})
OUTLINE_SCHEMA = _obj({"title": _STR, "description": _STR, "screens": {
    "type": "array", "items": _obj({"title": _STR, "from": _REFS})}})
_QUESTION = _obj({
    "type": {"type": "string", "enum": ["multiple_choice", "true_false"]},
    "prompt": _STR,
    "choices": {"type": "array", "items": _obj({"text": _STR, "correct": {"type": "boolean"}})},
    "answer": {"type": "boolean"},
    "explanation": _STR,
    "refs": _REFS,
})
_SCREEN = _obj({
    "key": _STR, "title": _STR,
    "paragraphs": {"type": "array", "items": _obj({"markdown": _STR, "refs": _REFS})},
    "callout": {"anyOf": [{"type": "null"}, _obj({
        "style": {"type": "string", "enum": ["info", "tip", "warning"]},
        "markdown": _STR, "refs": _REFS})]},
    "question": {"anyOf": [{"type": "null"}, _QUESTION]},
})
SCREENS_SCHEMA = _obj({"screens": {"type": "array", "items": _SCREEN}})
QUESTIONS_SCHEMA = _obj({"questions": {"type": "array", "items": _QUESTION}})
TEXTS_SCHEMA = _obj({"items": {"type": "array", "items": _obj({"key": _STR, "text": _STR})}})

MAP_SYSTEM = (
    "You turn source passages into study notes. Use only facts the passages state. "
    "Give a one-sentence summary and at most {n} key points; each point is one short "
    "sentence citing the refs (e.g. P3) it comes from. Write in {language}. Answer JSON.")
OUTLINE_SYSTEM = (
    "Plan an e-learning course of exactly {n} screens. Each screen has a short title and "
    "lists the ids (e.g. B2) of the parts it covers; cover every part once, in order. "
    "Also give the course title and a two-sentence description. Write in {language}. "
    "Answer JSON.")
PROMPT_OUTLINE_SYSTEM = (
    "Plan an e-learning course of exactly {n} screens for the brief below. Each screen "
    "has a short title; leave 'from' empty. Also give the course title and a "
    "two-sentence description. Write in {language}. Answer JSON.")
SCREENS_SYSTEM = (
    "Write e-learning screens. For each screen (echo its key), write 1-3 short "
    "paragraphs in Markdown (no HTML), optionally one callout (info, tip or warning) and "
    "optionally one question on a stated fact: multiple_choice (3-4 choices, exactly "
    "one correct; answer false) or true_false (answer is the truth; choices empty). "
    "{grounding} Write in {language}. Answer JSON.")
GROUNDED = ("Use only the facts in each screen's notes; every paragraph, callout and "
            "question cites the refs (e.g. P3) of the notes it uses.")
UNGROUNDED = ("There is no source document: write accurate, general material for the "
              "brief and leave refs empty.")


@dataclass
class Batch:
    key: str                 # B1, B2, ...
    section: str
    refs: list[str]          # P-refs of its passages
    text: str                # what is sent


@dataclass
class Notes:
    key: str
    section: str
    summary: str
    points: list[tuple[str, list[str]]]  # (text, chunk ids)


class _Refs:
    """Short passage refs (P1, P2...) for chunk ids, so prompts stay small."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.by_ref = {f"P{i + 1}": c.id for i, c in enumerate(chunks)}
        self.by_id = {cid: ref for ref, cid in self.by_ref.items()}

    def ids(self, refs: Any) -> list[str]:
        if not isinstance(refs, list):
            return []
        found: list[str] = []
        for ref in refs:
            cid = self.by_ref.get(str(ref).strip().strip("[]"))
            if cid is not None and cid not in found:
                found.append(cid)
        return found


def batches(doc: ConvertedDocument, refs: _Refs, budget: int | None = None) -> list[Batch]:
    budget = budget or BATCH_TOKENS
    found: list[Batch] = []
    current: list[Chunk] = []
    size = 0

    def flush() -> None:
        nonlocal current, size
        if not current:
            return
        section = " > ".join(current[0].section_path) or doc.title
        text = "\n\n".join(f"[{refs.by_id[c.id]}] {c.text.strip()}" for c in current)
        found.append(Batch(key=f"B{len(found) + 1}", section=section,
                           refs=[refs.by_id[c.id] for c in current], text=text))
        current, size = [], 0

    for chunk in doc.chunks:
        tokens = estimate_tokens(chunk.text)
        if current and size + tokens > budget:
            flush()
        current.append(chunk)
        size += tokens
    flush()
    return found


def _points_allowed(batch: Batch) -> int:
    return max(3, min(14, estimate_tokens(batch.text) // 450))


def _map_value(refs: _Refs, batch: Batch) -> Callable[[str], Notes]:
    def validate(text: str) -> Notes:
        data = gateway.parse_json(text)
        if not isinstance(data, dict) or not isinstance(data.get("points"), list):
            raise ValueError("map answer needs summary and points")
        points: list[tuple[str, list[str]]] = []
        for p in data["points"][:_points_allowed(batch) + 2]:
            if not isinstance(p, dict):
                raise ValueError("a point must be an object")
            line = clean_plain(str(p.get("text", "")))
            if line:
                points.append((line[:600], refs.ids(p.get("refs"))))
        return Notes(key=batch.key, section=batch.section,
                     summary=clean_plain(str(data.get("summary", "")))[:400], points=points)
    return validate


@dataclass
class Context:
    org: Organisation
    actor: Actor
    language: str
    provider: str | None = None
    now: datetime | None = None

    def ask(self, feature: str, system: str, user: str, schema: dict[str, Any],
            name: str, validate: Callable[[str], Any]) -> gateway.Answer[Any]:
        return gateway.ask(self.org, actor=self.actor, feature=feature,
                           messages=[Message("system", system), Message("user", user)],
                           validate=validate, json_schema=schema, schema_name=name,
                           provider=self.provider, language=self.language)


def _lang(code: str) -> str:
    return LANGUAGE_NAMES.get(code, "English")


def _provenance(answer: gateway.Answer[Any], sources: list[str],
                now: datetime) -> Provenance:
    return Provenance(kind="ai", engine=answer.provider, model=answer.model[:120] or None,
                      generated_at=now, sources=sources[:40])


class _Ids:
    def __init__(self, taken: set[str] | None = None) -> None:
        self.taken = set(taken or ())
        self.n = 0

    def new(self, prefix: str) -> str:
        while True:
            self.n += 1
            candidate = f"{prefix}{self.n}"
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate


def _question(q: Any, refs: _Refs | None, ids: _Ids, prov: Callable[[list[str]], Provenance]
              ) -> Block | None:
    """A question block from the model's answer, or None if it is not a sound question."""
    if not isinstance(q, dict):
        return None
    prompt = clean_markdown(str(q.get("prompt", "")))[:2000]
    explanation = clean_markdown(str(q.get("explanation", "")))[:2000]
    sources = refs.ids(q.get("refs")) if refs else []
    if not prompt:
        return None
    if q.get("type") == "true_false":
        return TrueFalseBlock(id=ids.new("q"), type="true_false", prompt=prompt,
                              answer=bool(q.get("answer")),
                              feedback=Feedback(correct=explanation, incorrect=explanation),
                              provenance=prov(sources))
    raw = q.get("choices")
    if not isinstance(raw, list):
        return None
    choices = [Choice(id=f"c{i + 1}", text=clean_plain(str(c.get("text", "")))[:1000] or "-",
                      correct=bool(c.get("correct")))
               for i, c in enumerate(raw[:10]) if isinstance(c, dict)]
    if len(choices) < 2 or sum(c.correct for c in choices) != 1:
        return None
    return MultipleChoiceBlock(id=ids.new("q"), type="multiple_choice", prompt=prompt,
                               choices=choices,
                               feedback=Feedback(correct=explanation, incorrect=explanation),
                               provenance=prov(sources))


def _screen(data: Any, refs: _Refs | None, ids: _Ids,
            prov: Callable[[list[str]], Provenance], screen_id: str,
            fallback_title: str) -> Screen:
    if not isinstance(data, dict):
        raise ValueError("a screen must be an object")
    blocks: list[Block] = []
    for para in data.get("paragraphs") or []:
        if isinstance(para, dict):
            md = clean_markdown(str(para.get("markdown", "")))[:20000]
            if md:
                blocks.append(TextBlock(id=ids.new("b"), type="text", markdown=md,
                                        provenance=prov(refs.ids(para.get("refs"))
                                                        if refs else [])))
    callout = data.get("callout")
    if isinstance(callout, dict):
        md = clean_markdown(str(callout.get("markdown", "")))[:5000]
        style = callout.get("style") if callout.get("style") in ("info", "tip", "warning") \
            else "info"
        if md:
            blocks.append(CalloutBlock(id=ids.new("b"), type="callout", style=style,
                                       markdown=md,
                                       provenance=prov(refs.ids(callout.get("refs"))
                                                       if refs else [])))
    question = _question(data.get("question"), refs, ids, prov)
    if question is not None:
        blocks.append(question)
    if not blocks:
        raise ValueError("a screen came back empty")
    title = clean_plain(str(data.get("title", "")))[:300] or fallback_title
    return Screen(id=screen_id, title=title, blocks=blocks[:50])


# -- whole-course generation -------------------------------------------------------------

@dataclass
class Plan:
    title: str
    description: str
    screens: list[tuple[str, list[str]]]  # (title, batch keys)


def _plan_value(n: int, keys: list[str]) -> Callable[[str], Plan]:
    def validate(text: str) -> Plan:
        data = gateway.parse_json(text)
        if not isinstance(data, dict) or not isinstance(data.get("screens"), list):
            raise ValueError("outline answer needs screens")
        screens: list[tuple[str, list[str]]] = []
        for s in data["screens"][:n]:
            if not isinstance(s, dict):
                raise ValueError("a planned screen must be an object")
            title = clean_plain(str(s.get("title", "")))[:300]
            got = [str(k) for k in s.get("from") or [] if str(k) in keys]
            screens.append((title or f"Part {len(screens) + 1}", got))
        if not screens:
            raise ValueError("the outline has no screens")
        if keys:  # every part of the document is covered, in order
            covered = {k for _, ks in screens for k in ks}
            for position, key in enumerate(keys):
                if key not in covered:
                    slot = min(len(screens) - 1, position * len(screens) // len(keys))
                    screens[slot][1].append(key)
        return Plan(title=clean_plain(str(data.get("title", "")))[:300],
                    description=clean_plain(str(data.get("description", "")))[:2000],
                    screens=screens)
    return validate


def _screens_value(keys: list[str]) -> Callable[[str], list[tuple[str, Any]]]:
    def validate(text: str) -> list[tuple[str, Any]]:
        data = gateway.parse_json(text)
        if not isinstance(data, dict) or not isinstance(data.get("screens"), list):
            raise ValueError("screens answer needs screens")
        by_key = {str(s.get("key")): s for s in data["screens"] if isinstance(s, dict)}
        if [k for k in keys if k not in by_key]:
            raise ValueError("the answer left out a screen")
        return [(k, by_key[k]) for k in keys]
    return validate


def generate_course(ctx: Context, *, doc: ConvertedDocument | None, brief: str = "",
                    title: str = "", target_screens: int = 12,
                    checkpoint: dict[str, Any] | None = None,
                    save_checkpoint: Callable[[dict[str, Any]], None] | None = None,
                    progress: Callable[[int, str], None] | None = None) -> CourseContent:
    """Draft a course from a document (map-reduce) or, with no document, from a brief."""
    now = ctx.now or datetime.now().astimezone()
    lang = _lang(ctx.language)
    report = progress or (lambda _p, _s: None)
    refs = _Refs(doc.chunks) if doc is not None else None
    notes: list[Notes] = []
    if doc is not None and refs is not None:
        parts = batches(doc, refs)
        saved = dict((checkpoint or {}).get("notes", {}))
        for i, batch in enumerate(parts):
            report(5 + 60 * i // max(1, len(parts)), f"Reading part {i + 1} of {len(parts)}")
            if batch.key in saved:
                s = saved[batch.key]
                notes.append(Notes(batch.key, s["section"], s["summary"],
                                   [(t, list(c)) for t, c in s["points"]]))
                continue
            answer = ctx.ask("generate",
                             MAP_SYSTEM.format(n=_points_allowed(batch), language=lang),
                             f"Part {batch.key}, section: {batch.section}\n\n{batch.text}",
                             MAP_SCHEMA, "study_notes", _map_value(refs, batch))
            note: Notes = answer.value
            notes.append(note)
            saved[batch.key] = {"section": note.section, "summary": note.summary,
                                "points": [[t, c] for t, c in note.points]}
            if save_checkpoint is not None:
                save_checkpoint({"notes": saved})
        if not notes:
            raise ValueError("the document has no text to draft from")
        outline_in = "\n".join(f"{n.key} ({n.section}): {n.summary}" for n in notes)
        keys = [n.key for n in notes]
        total_points = sum(len(n.points) for n in notes)
        count = max(1, min(target_screens, max(len(keys), total_points // 2)))
        system = OUTLINE_SYSTEM.format(n=count, language=lang)
        user = (f"Working title: {title or doc.title}\n\n" if (title or doc.title) else "") \
            + outline_in
    else:
        if not brief.strip():
            raise ValueError("a course needs a document or a brief")
        keys, count = [], target_screens
        system = PROMPT_OUTLINE_SYSTEM.format(n=count, language=lang)
        user = (f"Working title: {title}\n\n" if title else "") + f"Brief: {brief.strip()}"
    report(70, "Planning the screens")
    plan: Plan = ctx.ask("generate", system, user, OUTLINE_SCHEMA, "course_outline",
                         _plan_value(count, keys)).value
    by_key = {n.key: n for n in notes}
    # A part shared by several screens has its points dealt out among them, in order.
    sharing: dict[str, list[int]] = {}
    for index, (_t, parts_of) in enumerate(plan.screens):
        for part in parts_of:
            sharing.setdefault(part, []).append(index)

    def points_for(index: int, part: str) -> list[tuple[str, list[str]]]:
        points = by_key[part].points
        holders = sharing[part]
        if len(holders) == 1:
            return points
        k = holders.index(index)
        return points[k * len(points) // len(holders):(k + 1) * len(points) // len(holders)]
    ids = _Ids()
    screens: list[Screen] = []
    planned = [(f"S{i + 1}", t, ks) for i, (t, ks) in enumerate(plan.screens)]
    position = {key: i for i, (key, _t, _k) in enumerate(planned)}
    for start in range(0, len(planned), SCREENS_PER_CALL):
        group = planned[start:start + SCREENS_PER_CALL]
        report(75 + 20 * start // max(1, len(planned)), "Writing screens")
        lines: list[str] = []
        for key, screen_title, parts_of in group:
            lines.append(f"## {key}: {screen_title}")
            for part in parts_of:
                for text, cited in points_for(position[key], part):
                    tags = ",".join(refs.by_id[c] for c in cited) if refs else ""
                    lines.append(f"- {text} [{tags}]" if tags else f"- {text}")
        if not notes:
            lines.insert(0, f"Brief: {brief.strip()}\n")
        system = SCREENS_SYSTEM.format(grounding=GROUNDED if notes else UNGROUNDED,
                                       language=lang)
        titles = {k: t for k, t, _ in group}
        answer = ctx.ask("generate", system, "\n".join(lines), SCREENS_SCHEMA,
                         "course_screens",
                         _screens_value([k for k, _, _ in group]))

        def prov(sources: list[str], answer: gateway.Answer[Any] = answer) -> Provenance:
            return _provenance(answer, sources, now)
        for key, data in answer.value:
            screens.append(_screen(data, refs, ids, prov, f"s{len(screens) + 1}",
                                   titles[key]))
    course_title = clean_plain(title or plan.title or (doc.title if doc else ""))[:300]
    return CourseContent(title=course_title or "Untitled course", language=ctx.language,
                         description=plan.description, screens=screens)


# -- editing a draft -----------------------------------------------------------------------

REGENERATE_SYSTEM = SCREENS_SYSTEM
REFINE_SYSTEM = (
    "Rewrite each item of e-learning text (Markdown, no HTML) as instructed, keeping every "
    "fact and every placeholder like [PERSON_1] unchanged and adding no new facts. Echo "
    "each key. Instruction: {instruction}. Write in {language}. Answer JSON.")
TRANSLATE_SYSTEM = (
    "Translate each item of e-learning text from {source} into {target}. Keep Markdown, "
    "numbers, names and placeholders like [PERSON_1] unchanged. Echo each key. Answer JSON.")
QUESTIONS_SYSTEM = (
    "Write {n} questions testing facts stated in the screen below: multiple_choice (3-4 "
    "choices, exactly one correct; answer false) or true_false (answer is the truth; "
    "choices empty), each with a one-sentence explanation and the refs (e.g. P3) it "
    "tests. {grounding} Write in {language}. Answer JSON.")

REFINEMENTS = {
    "tone": {"formal": "use a formal, professional tone",
             "friendly": "use a warm, friendly, conversational tone",
             "neutral": "use a neutral, plain tone"},
    "reading_level": {"simpler": "use simpler words and shorter sentences (plain language)",
                      "advanced": "use precise, technical language for experts"},
    "length": {"shorter": "make it about a third shorter",
               "longer": "expand it with more explanation of the same facts"},
}


def _passages(refs: _Refs, chunks: dict[str, str], sources: Sequence[str]) -> str:
    return "\n\n".join(f"[{refs.by_id[c]}] {chunks[c]}" for c in sources
                       if c in chunks and c in refs.by_id)


def regenerate_screen(ctx: Context, content: CourseContent, screen_id: str,
                      chunks: dict[str, str], instruction: str = "") -> CourseContent:
    """Rewrite one screen from the passages its blocks cite (a new AI draft of it)."""
    index = next((i for i, s in enumerate(content.screens) if s.id == screen_id), None)
    if index is None:
        raise ValueError(f"no screen {screen_id!r}")
    screen = content.screens[index]
    cited = list(dict.fromkeys(c for b in screen.blocks for c in b.provenance.sources))
    refs = _Refs([Chunk(id=c, ordinal=i, section_path=(), text=chunks.get(c, ""))
                  for i, c in enumerate(cited) if c in chunks])
    now = ctx.now or datetime.now().astimezone()
    notes = _passages(refs, chunks, cited)
    user = f"## S1: {screen.title}\n" + (f"Notes:\n{notes}\n" if notes else "") + (
        f"\nAuthor's instruction: {instruction.strip()[:500]}" if instruction.strip() else "")
    system = REGENERATE_SYSTEM.format(grounding=GROUNDED if notes else UNGROUNDED,
                                      language=_lang(content.language))
    taken = {b.id for s in content.screens for b in s.blocks}
    ids = _Ids(taken)
    answer = ctx.ask("regenerate_screen", system, user, SCREENS_SCHEMA, "course_screens",
                     _screens_value(["S1"]))

    def prov(sources: list[str]) -> Provenance:
        return _provenance(answer, sources, now)
    new = _screen(answer.value[0][1], refs if notes else None, ids, prov, screen.id,
                  screen.title)
    screens = list(content.screens)
    screens[index] = new
    return content.model_copy(update={"screens": screens})


def _texts(content: CourseContent, screen_ids: set[str] | None) -> dict[str, str]:
    """Every translatable/refinable string of the content, by a stable key."""
    found: dict[str, str] = {}
    for s in content.screens:
        if screen_ids is not None and s.id not in screen_ids:
            continue
        found[f"{s.id}.title"] = s.title
        for b in s.blocks:
            for name in ("text", "markdown", "prompt", "alt", "caption"):
                value = getattr(b, name, None)
                if isinstance(value, str) and value:
                    found[f"{s.id}.{b.id}.{name}"] = value
            feedback = getattr(b, "feedback", None)
            if isinstance(feedback, Feedback):
                for name in ("correct", "incorrect"):
                    value = getattr(feedback, name)
                    if value:
                        found[f"{s.id}.{b.id}.feedback.{name}"] = value
            for c in getattr(b, "choices", None) or []:
                found[f"{s.id}.{b.id}.choice.{c.id}"] = c.text
    return found


def _texts_value(keys: list[str]) -> Callable[[str], dict[str, str]]:
    def validate(text: str) -> dict[str, str]:
        data = gateway.parse_json(text)
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise ValueError("answer needs items")
        got = {str(i.get("key")): str(i.get("text", "")) for i in data["items"]
               if isinstance(i, dict)}
        missing = [k for k in keys if not got.get(k, "").strip()]
        if missing:
            raise ValueError(f"the answer left out {len(missing)} item(s)")
        return {k: got[k] for k in keys}
    return validate


def _rewrite_texts(ctx: Context, feature: str, system: str,
                   texts: dict[str, str]) -> tuple[dict[str, str], gateway.Answer[Any] | None]:
    """Send texts in batches within the token budget; returns key -> new text."""
    out: dict[str, str] = {}
    last: gateway.Answer[Any] | None = None
    items = list(texts.items())
    start = 0
    while start < len(items):
        size, end = 0, start
        while end < len(items) and (end == start or size + estimate_tokens(items[end][1])
                                    <= BATCH_TOKENS // 2):
            size += estimate_tokens(items[end][1])
            end += 1
        chunk = items[start:end]
        user = "\n\n".join(f"<<{k}>>\n{v}" for k, v in chunk)
        last = ctx.ask(feature, system, user, TEXTS_SCHEMA, "texts",
                       _texts_value([k for k, _ in chunk]))
        out.update(last.value)
        start = end
    return out, last


def _apply_texts(content: CourseContent, new: dict[str, str], answer: gateway.Answer[Any],
                 now: datetime, language: str | None = None) -> CourseContent:
    data = content.model_dump(mode="json")
    for s in data["screens"]:
        if f"{s['id']}.title" in new:
            s["title"] = clean_plain(new[f"{s['id']}.title"])[:300] or s["title"]
        for b in s["blocks"]:
            touched = False
            for name in ("text", "markdown", "prompt", "alt", "caption"):
                key = f"{s['id']}.{b['id']}.{name}"
                if key in new and name in b:
                    b[name] = new[key]
                    touched = True
            for name in ("correct", "incorrect"):
                key = f"{s['id']}.{b['id']}.feedback.{name}"
                if key in new and "feedback" in b:
                    b["feedback"][name] = new[key]
                    touched = True
            for c in b.get("choices") or []:
                key = f"{s['id']}.{b['id']}.choice.{c['id']}"
                if key in new:
                    c["text"] = clean_plain(new[key])[:1000] or c["text"]
                    touched = True
            if touched and b.get("type") != "image":
                b["provenance"] = _provenance(answer, list(b["provenance"].get("sources", [])),
                                              now).model_dump(mode="json")
    if language is not None:
        data["language"] = language
    try:
        return CourseContent.model_validate(data)
    except Exception as exc:  # an answer that breaks the schema (e.g. too long)
        raise ValueError(f"the rewritten content is not valid: {exc}") from exc


def refine(ctx: Context, content: CourseContent, screen_ids: set[str] | None, *,
           tone: str = "", reading_level: str = "", length: str = "") -> CourseContent:
    wanted = [REFINEMENTS[k][v] for k, v in (("tone", tone), ("reading_level", reading_level),
                                             ("length", length)) if v]
    if not wanted:
        raise ValueError("say how to refine: tone, reading_level or length")
    texts = {k: v for k, v in _texts(content, screen_ids).items()
             if not k.endswith(".title") and ".choice." not in k}
    if not texts:
        raise ValueError("there is no text to refine on those screens")
    system = REFINE_SYSTEM.format(instruction="; ".join(wanted),
                                  language=_lang(content.language))
    new, answer = _rewrite_texts(ctx, "refine", system, texts)
    assert answer is not None
    return _apply_texts(content, new, answer, ctx.now or datetime.now().astimezone())


def translate(ctx: Context, content: CourseContent, target: str) -> CourseContent:
    if target == content.language:
        raise ValueError("the version is already in that language")
    texts = _texts(content, None)
    texts["course.title"] = content.title
    if content.description:
        texts["course.description"] = content.description
    system = TRANSLATE_SYSTEM.format(source=_lang(content.language), target=_lang(target))
    new, answer = _rewrite_texts(ctx, "translate", system, texts)
    assert answer is not None
    translated = _apply_texts(content, new, answer, ctx.now or datetime.now().astimezone(),
                              language=target)
    return translated.model_copy(update={
        "title": clean_plain(new.get("course.title", content.title))[:300] or content.title,
        "description": clean_plain(new.get("course.description", content.description))[:5000],
    })


def add_questions(ctx: Context, content: CourseContent, screen_id: str,
                  chunks: dict[str, str], count: int = 2) -> CourseContent:
    index = next((i for i, s in enumerate(content.screens) if s.id == screen_id), None)
    if index is None:
        raise ValueError(f"no screen {screen_id!r}")
    screen = content.screens[index]
    cited = list(dict.fromkeys(c for b in screen.blocks for c in b.provenance.sources))
    refs = _Refs([Chunk(id=c, ordinal=i, section_path=(), text=chunks.get(c, ""))
                  for i, c in enumerate(cited) if c in chunks])
    body = "\n\n".join(t for t in _texts(content, {screen_id}).values())
    notes = _passages(refs, chunks, cited)
    user = f"Screen: {screen.title}\n\n{body}" + (f"\n\nSources:\n{notes}" if notes else "")
    now = ctx.now or datetime.now().astimezone()
    ids = _Ids({b.id for s in content.screens for b in s.blocks})

    def validate(text: str) -> list[Any]:
        data = gateway.parse_json(text)
        if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
            raise ValueError("answer needs questions")
        return list(data["questions"])
    answer = ctx.ask("quiz", QUESTIONS_SYSTEM.format(
        n=count, grounding=GROUNDED if notes else UNGROUNDED,
        language=_lang(content.language)), user, QUESTIONS_SCHEMA, "questions", validate)

    def prov(sources: list[str]) -> Provenance:
        return _provenance(answer, sources, now)
    made = [q for q in (_question(q, refs if notes else None, ids, prov)
                        for q in answer.value[:count]) if q is not None]
    if not made:
        raise ValueError("the provider's questions were not usable")
    blocks = (list(screen.blocks) + made)[:50]
    screens = list(content.screens)
    screens[index] = screen.model_copy(update={"blocks": blocks})
    return content.model_copy(update={"screens": screens})

