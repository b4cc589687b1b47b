"""Render a course into the learner player's ``index.html``, at build time.

Every screen is a ``<section>`` (all but the first ``hidden``; ``noscript.css`` shows them
all when JavaScript is off), every Markdown field goes through
:func:`coursewright.courses.rendering.render_markdown`, every other text is escaped, and
the interface strings come from ``i18n/<course language>.json``. The page has no inline
script or style, so it runs under ``script-src 'self'; style-src 'self'``: behaviour is
in ``player.js``, looks in ``player.css``, and the data the script needs (question
keys, screen order, strings) sits in a ``<script type="application/json">`` block, which
is data, not code, for CSP. The answers to the questions are therefore in the page: a
learner who reads the source can find them. That is acceptable for an offline package
(an LMS package has no server to score against); do not use it for high-stakes exams.

AI transparency (EU AI Act Art. 50, terms from :mod:`coursewright.courses.transparency`):

* machine-readable: a schema.org JSON-LD block (``<script type="application/ld+json">``,
  data like the JSON block, so the CSP above needs no change) describing the course as a
  ``Course`` with ``digitalSourceType`` and every screen as a part, AI-made screens with
  their own ``digitalSourceType``; ``data-digital-source-type`` on AI-made screens and
  blocks, ``data-provenance="ai|human"`` on every block, ``<meta name="ai-generated"
  content="true|partial|false">``, and links to ``provenance.json`` (the full record)
  and ``ai-provenance.json`` (the older per-block list, see :func:`ai_provenance`);
* visible: each AI-made screen opens with a short note (``role="note"``, plain text
  right under the screen title, never in a live region) in the organisation's wording,
  or the player's translation of the default; and a footer line saying who reviewed it
  (``meta.approved_by``: exports pass the organisation's name, never a person's).

Output depends only on the arguments: no clock, locale or environment.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from coursewright.courses.content import (
    LANGUAGES,
    Block,
    CalloutBlock,
    CourseContent,
    FreeTextBlock,
    HeadingBlock,
    ImageBlock,
    MultipleChoiceBlock,
    MultipleResponseBlock,
    Screen,
    TextBlock,
    TrueFalseBlock,
)
from coursewright.courses.rendering import render_markdown
from coursewright.courses.transparency import (
    LAW,
    SCHEMA_ORG_TERMS,
    CourseSummary,
    block_source_type,
    iso_utc,
    summarise,
)

if TYPE_CHECKING:
    from coursewright.publishing.packaging import PackageMeta

Format = Literal["scorm2004", "scorm12", "html", "cmi5", "xapi"]
Question = MultipleChoiceBlock | MultipleResponseBlock | TrueFalseBlock
AiLevel = Literal["true", "partial", "false"]

PLAYER_FILES = ("player.js", "player.css", "noscript.css")
DATA_ELEMENT_ID = "cw-data"
LINKED_DATA_ELEMENT_ID = "cw-linked-data"
PROVENANCE_FILE = "provenance.json"


@dataclass(frozen=True)
class ImageFile:
    """Where an image asset is found relative to index.html, and its pixel size if known."""

    src: str
    width: int | None = None
    height: int | None = None


@cache
def load_strings(language: str) -> dict[str, str]:
    """The player's interface strings in ``language`` (one of ``LANGUAGES``)."""
    if language not in LANGUAGES:
        raise ValueError(f"no player strings for language {language!r}")
    raw = resources.files("coursewright.player").joinpath("i18n", f"{language}.json")
    strings: dict[str, str] = json.loads(raw.read_text(encoding="utf-8"))
    return strings


def player_assets() -> dict[str, bytes]:
    """The player's static files, by name (relative to the player asset folder)."""
    base = resources.files("coursewright.player").joinpath("assets")
    return {name: base.joinpath(name).read_bytes() for name in PLAYER_FILES}


def ai_level(content: CourseContent) -> AiLevel:
    kinds = {b.provenance.kind for s in content.screens for b in s.blocks}
    if kinds == {"ai"}:
        return "true"
    return "partial" if "ai" in kinds else "false"


def ai_provenance(content: CourseContent, meta: PackageMeta) -> dict[str, Any]:
    """The machine-readable provenance record (``ai-provenance.json``) of every block."""
    blocks = []
    for screen in content.screens:
        for block in screen.blocks:
            p = block.provenance
            blocks.append({
                "block_id": block.id,
                "screen_id": screen.id,
                "block_type": block.type,
                "kind": p.kind,
                "edited_by_human": p.edited,
                "engine": p.engine,
                "model": p.model,
                "generated_at": iso_utc(p.generated_at) if p.generated_at else None,
                "sources": list(p.sources),
                "approved_by": meta.approved_by,
                "approved_at": iso_utc(meta.approved_at),
            })
    return {
        "schema": "coursewright.ai-provenance/1",
        "course_id": meta.course_id,
        "version": meta.version_number,
        "title": content.title,
        "language": content.language,
        "organisation": meta.org_name,
        "ai_generated": ai_level(content),
        "approved_by": meta.approved_by,
        "approved_at": iso_utc(meta.approved_at),
        "published_at": iso_utc(meta.published_at) if meta.published_at else None,
        "blocks": blocks,
    }


def _md(text: str) -> str:
    """Sanitised HTML of Markdown; links open in a new tab so the course stays open."""
    return render_markdown(text).replace("<a href=", '<a target="_blank" href=')


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _fmt(template: str, **values: object) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", str(value))
    return out


def _questions(content: CourseContent) -> list[Question]:
    return content.questions()


def _choices(q: Question, strings: Mapping[str, str]) -> list[tuple[str, str, bool, str]]:
    """(id, text, correct, per-choice feedback) for every choice of a question."""
    if isinstance(q, TrueFalseBlock):
        return [("true", strings["true"], q.answer, ""), ("false", strings["false"],
                                                          not q.answer, "")]
    return [(c.id, c.text, c.correct, c.feedback) for c in q.choices]


def course_data(content: CourseContent, *, fmt: Format, meta: PackageMeta,
                assist: AssistConfig | None = None) -> dict[str, Any]:
    """What player.js needs: format, identity, screen order, question keys, strings (and
    free-text limits and the tutor/grading settings, when there are any)."""
    strings = load_strings(content.language)
    questions = {}
    for q in _questions(content):
        choices = _choices(q, strings)
        questions[q.id] = {
            "type": q.type,
            "choices": [c[0] for c in choices],
            "correct": [c[0] for c in choices if c[2]],
        }
    return {
        "format": fmt,
        "course": {"id": meta.course_id, "version": meta.version_number,
                   "title": content.title, "language": content.language},
        "passingScore": content.settings.passing_score,
        "screens": [
            {"id": s.id, "questions": [b.id for b in s.blocks if b.id in questions]}
            for s in content.screens
        ],
        "questions": questions,
        "strings": strings,
        **_assist_data(content, assist),
        **_xapi_data(fmt, meta),
    }


def _xapi_data(fmt: Format, meta: PackageMeta) -> dict[str, Any]:
    """For cmi5 and xAPI builds: the course's activity IRI (a TinCan launch that names no
    ``activity_id`` uses it; a cmi5 launch always names its own). Absent otherwise, so
    SCORM and HTML builds stay byte-identical."""
    if fmt not in ("cmi5", "xapi") or not meta.activity_base:
        return {}
    return {"xapi": {"activityId": meta.activity_base}}


def _json_for_html(data: object) -> str:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    # Nothing in a JSON data block may close the element or open a comment.
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _attrs(block: Block) -> str:
    p = block.provenance
    out = f' data-block-id="{_esc(block.id)}" data-provenance="{p.kind}"'
    if p.kind == "ai" and p.edited:
        out += ' data-ai-edited="true"'
    source_type = block_source_type(p)
    if source_type:
        out += f' data-digital-source-type="{_esc(source_type)}"'
    return out


_FIRST_P = re.compile(r"^<p>(.*?)</p>\s*(.*)$", re.DOTALL)


def _split_prompt(rendered: str) -> tuple[str, str]:
    """Phrasing content for the legend (the first paragraph) and the rest of the prompt."""
    m = _FIRST_P.match(rendered)
    if m:
        return m.group(1), m.group(2).strip()
    return "", rendered


def _render_question(q: Question, number: int, total: int,
                     strings: Mapping[str, str]) -> str:
    bid = f"b.{q.id}"
    multiple = isinstance(q, MultipleResponseBlock)
    legend_html, more_html = _split_prompt(_md(q.prompt))
    described = f"{bid}.more {bid}.hint" if more_html else f"{bid}.hint"
    parts = [f'<form class="cw-block cw-question" id="{_esc(bid)}" '
             f'data-question-type="{q.type}"{_attrs(q)} novalidate>',
             f'<fieldset aria-describedby="{_esc(described)}">',
             '<legend><span class="cw-q-number">'
             f'{_esc(_fmt(strings["question_x_of_y"], current=number, total=total))}</span>'
             f' <span class="cw-q-prompt">{legend_html}</span></legend>']
    if more_html:
        parts.append(f'<div class="cw-q-more" id="{_esc(bid)}.more">{more_html}</div>')
    hint = strings["choose_all"] if multiple else strings["choose_one"]
    parts.append(f'<p class="cw-q-hint" id="{_esc(bid)}.hint">{_esc(hint)}</p>')
    parts.append('<div class="cw-choices">')
    kind = "checkbox" if multiple else "radio"
    for cid, text, _correct, feedback in _choices(q, strings):
        iid = f"{bid}.c.{cid}"
        parts.append(
            f'<div class="cw-choice" data-choice-id="{_esc(cid)}">'
            f'<input type="{kind}" id="{_esc(iid)}" name="{_esc(bid)}" value="{_esc(cid)}">'
            f'<label for="{_esc(iid)}"><span class="cw-choice-text">{_esc(text)}</span>'
            '<span class="cw-choice-tags"></span></label>'
        )
        if feedback:
            parts.append(f'<p class="cw-choice-fb" hidden>{_esc(feedback)}</p>')
        parts.append("</div>")
    parts.append("</div></fieldset>")
    parts.append('<div class="cw-q-actions"><button type="submit" class="cw-btn cw-btn-primary '
                 f'cw-check">{_esc(strings["check_answer"])}</button></div>')
    parts.append(f'<div class="cw-feedback" id="{_esc(bid)}.fb" role="status" tabindex="-1">'
                 "</div>")
    parts.append('<div class="cw-fb-templates" hidden>')
    for key in ("correct", "incorrect"):
        text = getattr(q.feedback, key)
        body = _md(text) if text else ""
        parts.append(f'<div data-fb="{key}">{body}</div>')
    parts.append("</div></form>")
    return "".join(parts)


def _render_block(block: Block, *, strings: Mapping[str, str],
                  images: Mapping[str, ImageFile], numbers: Mapping[str, int],
                  total: int) -> str:
    if isinstance(block, HeadingBlock):
        return (f'<h{block.level} class="cw-block cw-heading" id="b.{_esc(block.id)}"'
                f"{_attrs(block)}>{_esc(block.text)}</h{block.level}>")
    if isinstance(block, TextBlock):
        return (f'<div class="cw-block cw-text"{_attrs(block)}>'
                f"{_md(block.markdown)}</div>")
    if isinstance(block, ImageBlock):
        image = images.get(block.asset)
        if image is None:
            raise ValueError(f"image block {block.id!r}: asset {block.asset} is missing")
        size = ""
        if image.width and image.height:
            size = f' width="{image.width}" height="{image.height}"'
        caption = (f"<figcaption>{_esc(block.caption)}</figcaption>" if block.caption else "")
        return (f'<figure class="cw-block cw-figure"{_attrs(block)}>'
                f'<img src="{_esc(image.src)}" alt="{_esc(block.alt)}"{size} decoding="async">'
                f"{caption}</figure>")
    if isinstance(block, CalloutBlock):
        label = strings[f"callout_{block.style}"]
        return (f'<div class="cw-block cw-callout cw-callout-{block.style}" role="note"'
                f'{_attrs(block)}><p class="cw-callout-label">{_esc(label)}</p>'
                f"{_md(block.markdown)}</div>")
    if isinstance(block, FreeTextBlock):
        return _render_free_text(block, strings)
    return _render_question(block, numbers[block.id], total, strings)


def _render_screen(screen: Screen, index: int, *, strings: Mapping[str, str],
                   images: Mapping[str, ImageFile], numbers: Mapping[str, int],
                   total: int, source_type: str | None, disclosure: str) -> str:
    sid = f"s.{screen.id}"
    hidden = "" if index == 0 else " hidden"
    blocks = "".join(
        _render_block(b, strings=strings, images=images, numbers=numbers, total=total)
        for b in screen.blocks
    )
    marker = note = ""
    if source_type:
        # Plain text right after the title, so it is read in order with the screen;
        # exposed as a note, and not in a live region (which would re-announce it).
        marker = f' data-digital-source-type="{_esc(source_type)}"'
        note = (f'<p class="cw-ai-disclosure" id="{_esc(sid)}.ai" role="note">'
                f"{_esc(disclosure)}</p>")
    return (f'<section class="cw-screen" id="{_esc(sid)}" data-screen-id="{_esc(screen.id)}" '
            f'data-index="{index}" aria-labelledby="{_esc(sid)}.h"{marker}{hidden}>'
            f'<h1 class="cw-screen-title" id="{_esc(sid)}.h" tabindex="-1">'
            f"{_esc(screen.title)}</h1>{note}{blocks}</section>")


def _source_type_values(source_type: str) -> list[str]:
    """``digitalSourceType`` values: schema.org's member of IPTCDigitalSourceEnumeration
    (the range schema.org declares) and the IPTC URI itself, which name the same code."""
    return [SCHEMA_ORG_TERMS[source_type], source_type]


def linked_data(content: CourseContent, *, meta: PackageMeta, summary: CourseSummary,
                provenance_href: str | None) -> dict[str, Any]:
    """The schema.org JSON-LD of the page: the course, its screens, how each was made."""
    parts = []
    for screen in summary.screens:
        part: dict[str, Any] = {"@type": "CreativeWork", "@id": f"#s.{screen.id}",
                                "name": screen.title, "position": screen.position}
        if screen.source_type:
            part["digitalSourceType"] = _source_type_values(screen.source_type)
        parts.append(part)
    course: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Course",
        "name": content.title,
        "inLanguage": content.language,
        "identifier": meta.course_id,
        "version": str(meta.version_number),
        "provider": {"@type": "Organization", "name": meta.org_name},
        "hasPart": parts,
    }
    if content.description:
        course["description"] = content.description
    if summary.source_type:
        course["digitalSourceType"] = _source_type_values(summary.source_type)
    if provenance_href:
        course["subjectOf"] = {"@type": "DigitalDocument", "url": provenance_href,
                               "encodingFormat": "application/json",
                               "name": f"AI provenance record ({LAW})"}
    return course


def render_index_html(
    content: CourseContent,
    *,
    fmt: Format,
    meta: PackageMeta,
    images: Mapping[str, ImageFile],
    asset_prefix: str = "player/",
    provenance_href: str | None = "ai-provenance.json",
    disclosure: str | None = None,
    assist: AssistConfig | None = None,
    asset_urls: Mapping[str, str] | None = None,
) -> str:
    """The player page for ``content``. ``images`` maps asset sha256 to its file.

    ``asset_prefix`` is where ``player.js``/``player.css`` live relative to the page (a
    preview may serve them from elsewhere); ``asset_urls`` gives one address per player
    file instead (by name, e.g. signed URLs; names it lacks keep ``asset_prefix``);
    ``provenance_href`` links the provenance
    files next to the page (None: the page is not in a package, so it links neither
    that file nor ``provenance.json``). ``disclosure`` is the note shown on AI-made
    screens in the organisation's wording; None or blank: the player's default note in
    the course language. ``assist``: the AI tutor / grading of free-text answers this
    build offers (None: neither).
    """
    strings = load_strings(content.language)
    summary = summarise(content)
    note_text = (disclosure or "").strip() or strings["ai_disclosure"]
    record_href = PROVENANCE_FILE if provenance_href else None
    questions = _questions(content)
    numbers = {q.id: i for i, q in enumerate(questions, start=1)}
    level = ai_level(content)
    n = len(content.screens)
    lang = _esc(content.language)
    title = _esc(content.title)
    href = {name: _esc((asset_urls or {}).get(name, asset_prefix + name))
            for name in PLAYER_FILES}

    toc = "".join(
        f'<li><a class="cw-toc-link" href="#s.{_esc(s.id)}" data-index="{i}">'
        f'<span class="cw-toc-title">{_esc(s.title)}</span>'
        f'<span class="cw-toc-visited" hidden> ({_esc(strings["visited"])})</span></a></li>'
        for i, s in enumerate(content.screens)
    )
    toc += (f'<li><a class="cw-toc-link" href="#cw-results" data-index="{n}">'
            f'<span class="cw-toc-title">{_esc(strings["results"])}</span></a></li>')
    screens = "".join(
        _render_screen(s, i, strings=strings, images=images, numbers=numbers,
                       total=len(questions), source_type=summary.screens[i].source_type,
                       disclosure=note_text)
        for i, s in enumerate(content.screens)
    )
    ai_note = ""
    if level != "false":
        note = _fmt(strings["ai_note"], approver=meta.approved_by,
                    date=iso_utc(meta.approved_at)[:10])
        ai_note = f'<p class="cw-ai-note" data-ai-generated="{level}">{_esc(note)}</p>'
    provenance_link = ""
    if provenance_href and record_href:
        provenance_link = "".join(
            f'<link rel="describedby" type="application/json" href="{_esc(href)}">\n'
            for href in (record_href, provenance_href)
        )
    description = ""
    if content.description:
        description = f'<meta name="description" content="{_esc(content.description)}">\n'
    data = _json_for_html(course_data(content, fmt=fmt, meta=meta, assist=assist))
    graph = _json_for_html(linked_data(content, meta=meta, summary=summary,
                                       provenance_href=record_href))
    position = _fmt(strings["screen_x_of_y"], current=1, total=n)

    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}" dir="ltr">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="ai-generated" content="{level}">\n'
        '<meta name="generator" content="coursewright">\n'
        f"{description}"
        f"<title>{title}</title>\n"
        f'<script type="application/ld+json" id="{LINKED_DATA_ELEMENT_ID}">{graph}</script>\n'
        f'<link rel="stylesheet" href="{href["player.css"]}">\n'
        f'<noscript><link rel="stylesheet" href="{href["noscript.css"]}"></noscript>\n'
        f"{provenance_link}"
        f'<script src="{href["player.js"]}" defer></script>\n'
        "</head>\n<body>\n"
        f'<a class="cw-skip" href="#cw-main">{_esc(strings["skip_to_content"])}</a>\n'
        '<header class="cw-header"><div class="cw-bar">'
        f'<p class="cw-course-title">{title}</p>{_tutor_toggle(strings, assist)}'
        '<button type="button" class="cw-btn cw-btn-secondary cw-menu-toggle" '
        'id="cw-menu-toggle" aria-expanded="false" aria-controls="cw-toc">'
        f'{_esc(strings["contents"])}</button></div>'
        f'<progress class="cw-progress" id="cw-progress" max="{n}" value="0" '
        f'aria-label="{_esc(strings["progress"])}"></progress></header>\n'
        f'<nav class="cw-toc" id="cw-toc" aria-label="{_esc(strings["contents"])}" hidden>'
        f"<ol>{toc}</ol></nav>\n"
        f"{_tutor_panel(strings, assist)}"
        '<main class="cw-main" id="cw-main" tabindex="-1">\n'
        f'<noscript><p class="cw-notice">{_esc(strings["no_script"])}</p></noscript>\n'
        '<p class="cw-notice" id="cw-notice" role="status"></p>\n'
        f"{screens}\n"
        '<section class="cw-screen cw-results" id="cw-results" aria-labelledby="cw-results-h" '
        f'data-index="{n}" hidden><h1 class="cw-screen-title" id="cw-results-h" tabindex="-1">'
        f'{_esc(strings["results"])}</h1><div class="cw-results-body" id="cw-results-body">'
        "</div>"
        '<div class="cw-results-actions"><button type="button" class="cw-btn cw-btn-primary" '
        f'id="cw-try-again" hidden>{_esc(strings["try_again"])}</button></div></section>\n'
        "</main>\n"
        f'<nav class="cw-pager" id="cw-pager" aria-label="{_esc(strings["pager"])}">'
        '<button type="button" class="cw-btn cw-btn-secondary" id="cw-prev">'
        f'{_esc(strings["previous"])}</button>'
        f'<p class="cw-position" id="cw-position">{_esc(position)}</p>'
        '<button type="button" class="cw-btn cw-btn-primary" id="cw-next">'
        f'{_esc(strings["next"])}</button></nav>\n'
        f'<footer class="cw-footer">{ai_note}'
        f'<p class="cw-org">{_esc(meta.org_name)}</p></footer>\n'
        f'<script type="application/json" id="{DATA_ELEMENT_ID}">{data}</script>\n'
        "</body>\n</html>\n"
    )
# -- learner-facing AI (coursewright.assist): the tutor panel and free-text questions ------


@dataclass(frozen=True)
class AssistConfig:
    """What a build switches on for learners (``assist.access.player_assist``): the player
    API's address and the version's interim token, which the player sends in a header.
    None (the default everywhere): the page has no tutor and grades nothing."""

    endpoint: str
    token: str
    tutor: bool = False
    grading: bool = False


def _assist_data(content: CourseContent, assist: AssistConfig | None) -> dict[str, Any]:
    """Extra ``cw-data`` keys, present only when used (older builds stay byte-identical)."""
    out: dict[str, Any] = {}
    free = {b.id: {"maxLength": b.max_length, "maxScore": sum(c.points for c in b.rubric)}
            for s in content.screens for b in s.blocks if isinstance(b, FreeTextBlock)}
    if free:
        out["freeText"] = free
    if assist is not None and (assist.tutor or assist.grading):
        out["assist"] = {"endpoint": assist.endpoint, "token": assist.token,
                         "tutor": assist.tutor, "grading": assist.grading}
    return out


def _render_free_text(block: FreeTextBlock, strings: Mapping[str, str]) -> str:
    """A written-answer question. The AI-grading notice is shown by player.js when the
    build has grading on (before anything can be submitted); otherwise the learner
    compares with the model answer and the criteria, which are in the page."""
    bid = f"b.{block.id}"
    legend_html, more_html = _split_prompt(_md(block.prompt))
    described = " ".join(i for i in (f"{bid}.more" if more_html else "", f"{bid}.ai",
                                     f"{bid}.count") if i)
    parts = [f'<form class="cw-block cw-free-text" id="{_esc(bid)}" '
             f'data-question-type="free_text"{_attrs(block)} novalidate>',
             f'<fieldset aria-describedby="{_esc(described)}">',
             f'<legend><span class="cw-q-number">{_esc(strings["free_text_kind"])}</span>'
             f' <span class="cw-q-prompt">{legend_html}</span></legend>']
    if more_html:
        parts.append(f'<div class="cw-q-more" id="{_esc(bid)}.more">{more_html}</div>')
    parts.append(f'<p class="cw-ai-grading-note" id="{_esc(bid)}.ai" role="note" hidden>'
                 f'{_esc(strings["free_text_ai_notice"])}</p>')
    parts.append(f'<label class="cw-ft-label" for="{_esc(bid)}.answer">'
                 f'{_esc(strings["free_text_label"])}</label>')
    parts.append(f'<textarea class="cw-input" id="{_esc(bid)}.answer" name="answer" rows="6" '
                 f'maxlength="{block.max_length}"></textarea>')
    parts.append(f'<p class="cw-ft-count" id="{_esc(bid)}.count"></p></fieldset>')
    parts.append('<div class="cw-q-actions"><button type="submit" class="cw-btn cw-btn-primary '
                 f'cw-check">{_esc(strings["free_text_check"])}</button></div>')
    parts.append(f'<div class="cw-feedback" id="{_esc(bid)}.fb" role="status" tabindex="-1">'
                 "</div>")
    parts.append('<div class="cw-fb-templates" hidden>')
    for key in ("correct", "incorrect"):
        text = getattr(block.feedback, key)
        parts.append(f'<div data-fb="{key}">{_md(text) if text else ""}</div>')
    model = _md(block.model_answer) if block.model_answer else ""
    parts.append(f'<div data-fb="model">{model}</div><ul data-fb="rubric">')
    parts.extend(f'<li data-criterion="{_esc(c.id)}" data-points="{c.points}">{_esc(c.text)}</li>'
                 for c in block.rubric)
    parts.append("</ul></div></form>")
    return "".join(parts)


def _tutor_toggle(strings: Mapping[str, str], assist: AssistConfig | None) -> str:
    if assist is None or not assist.tutor:
        return ""
    return ('<button type="button" class="cw-btn cw-btn-secondary cw-tutor-toggle" '
            'id="cw-tutor-toggle" aria-expanded="false" aria-controls="cw-tutor" hidden>'
            f'{_esc(strings["tutor_open"])}</button>')


def _tutor_panel(strings: Mapping[str, str], assist: AssistConfig | None) -> str:
    """The tutor: its AI disclosure comes first, and the question box stays disabled
    until the learner has confirmed it (player.js)."""
    if assist is None or not assist.tutor:
        return ""
    s = {k: _esc(v) for k, v in strings.items() if k.startswith("tutor_")}
    return (
        '<aside class="cw-tutor" id="cw-tutor" aria-labelledby="cw-tutor-h" '
        'data-acknowledged="false" hidden><div class="cw-tutor-head">'
        f'<h2 class="cw-tutor-title" id="cw-tutor-h">{s["tutor_title"]}</h2>'
        '<button type="button" class="cw-btn cw-btn-secondary" id="cw-tutor-close">'
        f'{s["tutor_close"]}</button></div>'
        f'<p class="cw-tutor-disclosure" id="cw-tutor-disclosure">{s["tutor_disclosure"]}</p>'
        '<button type="button" class="cw-btn cw-btn-primary cw-tutor-ack" id="cw-tutor-ack">'
        f'{s["tutor_ack"]}</button>'
        '<div class="cw-tutor-log" id="cw-tutor-log" role="log" aria-live="polite"></div>'
        '<form class="cw-tutor-form" id="cw-tutor-form" novalidate>'
        f'<label for="cw-tutor-input">{s["tutor_input_label"]}</label>'
        f'<p class="cw-tutor-hint" id="cw-tutor-hint">{s["tutor_ack_first"]}</p>'
        '<div class="cw-tutor-row"><textarea class="cw-input" id="cw-tutor-input" rows="2" '
        'maxlength="1000" aria-describedby="cw-tutor-disclosure cw-tutor-hint" disabled>'
        '</textarea><button type="submit" class="cw-btn cw-btn-primary" id="cw-tutor-send" '
        f'disabled>{s["tutor_ask"]}</button></div></form></aside>\n'
    )
