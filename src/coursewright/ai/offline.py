"""The offline course engine: a deterministic, extractive drafter (no network, no model).

Design note
-----------
What it guarantees, and why (a reviewer must be able to trust and check a draft):

* **Deterministic.** The same document and arguments give an identical course. There is
  no randomness: every "shuffle" (choice order, true/false variants, distractor rotation)
  is keyed on a BLAKE2 hash of the text involved, every ranking has a total order (score,
  then document position), nothing is ordered by iterating a set (so PYTHONHASHSEED does
  not matter), and ``now`` is the only clock (it becomes ``Provenance.generated_at``).
  Re-running a draft gives the same diff-able result; tests can pin it.
* **Extractive: it never invents facts.** Every sentence a learner reads comes verbatim
  (whitespace collapsed) from the document: key points, callouts, kept lists and tables,
  summary bullets, question statements and the quotes in feedback. The engine adds only
  fixed, translated scaffolding ("Overview", "True or false?"), section titles, and
  distractors, which are themselves terms or list items of the document. A false
  true/false statement is a source sentence with one key term swapped for a term of the
  same kind from elsewhere (checked not to occur in the document), and its feedback
  quotes the true sentence; a multiple-choice question blanks one term of a source
  sentence.
* **Every claim cites its source.** Every block carries AI provenance (engine, model,
  ``now``) whose ``sources`` are the chunk ids its text came from (scaffolding cites the
  chunks it introduces). For a question, the cited chunk literally contains the correct
  answer: the blanked term, the true statement, the listed items.
* **Condensed, never truncated.** The course has at most ``target_screens`` screens
  (intro, content, check and final summary/quiz screens all count), yet every top-level
  section is represented by a screen title or a heading block. With more sections than
  content screens, adjacent sections are merged into one screen with a heading per
  section, balancing screens by section size. With fewer, the spare budget goes to
  knowledge-check screens (about one per 2-3 content screens) and to extra key-point
  screens for the largest sections (D'Hondt by size, capped by how much material a
  section has). The one limit is the schema's 50 blocks per screen: beyond ~48 sections
  per screen, several titles share a heading block (the intro still lists them all).
* **Valid.** Every text is checked to be a fixed point of the schema's sanitisers before
  use, so the returned ``CourseContent`` validates and round-trips through
  ``model_dump``/``model_validate`` unchanged, whatever the input.

Key points are chosen extractively: sentences are scored by TF-IDF (term frequency in
their section against document frequency over chunks) with a bonus for leading
sentences and penalties for fragments, very long sentences, dangling openers ("This",
"However") and layout references ("the table below"); repeated boilerplate (running
headers) is dropped, near-duplicates and same-opening sentences are skipped. Callout
words ("never", "must", "tip") are matched in the document's own language, detected from
its function words. Everything is linear in the document size: about half a second of
CPU for 3,000 chunks (180,000 words).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from coursewright.courses.content import (
    LANGUAGES,
    Block,
    CalloutBlock,
    Choice,
    CourseContent,
    Feedback,
    HeadingBlock,
    MultipleChoiceBlock,
    MultipleResponseBlock,
    Provenance,
    Screen,
    TextBlock,
    TrueFalseBlock,
    clean_markdown,
    clean_plain,
)
from coursewright.ingest.types import Chunk, ConvertedDocument, Section

ENGINE = "coursewright-offline"
MODEL = "extractive-v1"
DEFAULT_TARGET_SCREENS = 25

_MAX_SCREENS = 500  # CourseContent.screens max_length
_MAX_BLOCKS = 50  # Screen.blocks max_length
_BLANK = r"\_\_\_\_\_"  # Markdown-escaped "_____"

Progress = Callable[[int, str], None]

# --------------------------------------------------------------------------- strings

_STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "course": "Course",
        "overview": "Overview",
        "covers": "This course covers the following topics:",
        "based_on": "Drafted from {title}.",
        "part": "Part {n}",
        "more": "…and {n} more",
        "check": "Check your understanding",
        "check_intro": "Test what you have learned about {topics}.",
        "summary": "Summary and quiz",
        "takeaways": "Key takeaways",
        "mc_stem": "Which term completes the sentence?",
        "tf_stem": "True or false?",
        "mr_stem": "Which of these are covered in {section}? Select all that apply.",
        "ok": "Correct.",
        "bad": "Not quite.",
        "is_true": "The statement is true.",
        "is_false": "The statement is false.",
        "answer": "The answer is {term}.",
        "source": "The source says: {quote}",
        "lists": "{section} covers: {items}.",
        "empty": "No text could be extracted from this document.",
    },
    "de": {
        "course": "Kurs",
        "overview": "Überblick",
        "covers": "Dieser Kurs behandelt die folgenden Themen:",
        "based_on": "Erstellt aus {title}.",
        "part": "Teil {n}",
        "more": "…und {n} weitere",
        "check": "Überprüfen Sie Ihr Wissen",
        "check_intro": "Testen Sie, was Sie über {topics} gelernt haben.",
        "summary": "Zusammenfassung und Quiz",
        "takeaways": "Das Wichtigste in Kürze",
        "mc_stem": "Welcher Begriff vervollständigt den Satz?",
        "tf_stem": "Richtig oder falsch?",
        "mr_stem": "Was davon wird in {section} behandelt? Wählen Sie alle zutreffenden "
        "Antworten aus.",
        "ok": "Richtig.",
        "bad": "Leider nicht.",
        "is_true": "Die Aussage ist richtig.",
        "is_false": "Die Aussage ist falsch.",
        "answer": "Die Antwort lautet {term}.",
        "source": "In der Quelle steht: {quote}",
        "lists": "{section} behandelt: {items}.",
        "empty": "Aus diesem Dokument konnte kein Text gewonnen werden.",
    },
    "fr": {
        "course": "Cours",
        "overview": "Vue d’ensemble",
        "covers": "Ce cours aborde les thèmes suivants :",
        "based_on": "Rédigé à partir de {title}.",
        "part": "Partie {n}",
        "more": "…et {n} de plus",
        "check": "Vérifiez vos connaissances",
        "check_intro": "Testez ce que vous avez appris sur {topics}.",
        "summary": "Résumé et quiz",
        "takeaways": "À retenir",
        "mc_stem": "Quel terme complète la phrase ?",
        "tf_stem": "Vrai ou faux ?",
        "mr_stem": "Lesquels de ces éléments sont traités dans {section} ? Sélectionnez toutes "
        "les bonnes réponses.",
        "ok": "Correct.",
        "bad": "Pas tout à fait.",
        "is_true": "L’affirmation est vraie.",
        "is_false": "L’affirmation est fausse.",
        "answer": "La réponse est {term}.",
        "source": "La source indique : {quote}",
        "lists": "{section} traite de : {items}.",
        "empty": "Aucun texte n’a pu être extrait de ce document.",
    },
    "es": {
        "course": "Curso",
        "overview": "Visión general",
        "covers": "Este curso trata los siguientes temas:",
        "based_on": "Elaborado a partir de {title}.",
        "part": "Parte {n}",
        "more": "…y {n} más",
        "check": "Comprueba lo que has aprendido",
        "check_intro": "Pon a prueba lo que has aprendido sobre {topics}.",
        "summary": "Resumen y cuestionario",
        "takeaways": "Ideas clave",
        "mc_stem": "¿Qué término completa la frase?",
        "tf_stem": "¿Verdadero o falso?",
        "mr_stem": "¿Cuáles de estos elementos se tratan en {section}? Selecciona todas las "
        "respuestas correctas.",
        "ok": "Correcto.",
        "bad": "No exactamente.",
        "is_true": "La afirmación es verdadera.",
        "is_false": "La afirmación es falsa.",
        "answer": "La respuesta es {term}.",
        "source": "La fuente dice: {quote}",
        "lists": "{section} trata: {items}.",
        "empty": "No se pudo extraer texto de este documento.",
    },
}
_QUOTES: dict[str, tuple[str, str]] = {
    "en": ("“", "”"),
    "de": ("„", "“"),
    "fr": ("« ", " »"),
    "es": ("«", "»"),
}


class _Tr:
    def __init__(self, language: str) -> None:
        self.language = language
        self._s = _STRINGS[language]
        self._q = _QUOTES[language]

    def __call__(self, key: str, **kw: object) -> str:
        return self._s[key].format(**kw)

    def quote(self, text: str) -> str:
        return f"{self._q[0]}{text}{self._q[1]}"


# --------------------------------------------------------------------------- language data


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_STOPWORDS = _wordset(
    """
    a about above after again against all also although am among an and another any are
    around as at be because been before being below between both but by can cannot could
    did do does doing done down during each either else etc even ever every few for from
    further had has have having he her here hers herself him himself his how however i if
    in into is it its itself just least less like made make makes many may me might more
    most much must my myself near need needs neither never no nor not now of off often on
    once one only or other others our ours ourselves out over own per rather same shall she
    should since so some such than that the their theirs them themselves then there these
    they this those though through thus to too toward under until up upon us use used uses
    using very via was we well were what when where whether which while who whom whose why
    will with within without would yet you your yours yourself also new first second third
    include includes including based following follows way ways get gets got within
    aber alle allem allen aller alles als also am an andere anderen auch auf aus bei beim
    bin bis bist da damit dann das dass dem den denn der des dessen die dies diese diesem
    diesen dieser dieses doch dort du durch ein eine einem einen einer eines er es etwa
    für gegen hat hatte hier ich ihr ihre ihrem ihren im in ist jede jedem jeden jeder
    jedes kann kein keine mit muss müssen nach nicht noch nur ob oder ohne sein seine
    sich sie sind so soll sollte über um und uns unter vom von vor war waren was weil
    wenn werden wie wir wird wurde zu zum zur zwischen
    au aux avec ce ces cette comme dans de des du elle elles en est et être eux il ils
    la le les leur leurs lui mais même mes moi mon ne nos notre nous ou par pas pour
    qu que qui sa sans se ses son sont sur ta te tes toi ton tous tout toute toutes très
    un une vos votre vous été sont peut doit entre aussi plus
    al algo como con cual cuando de del desde donde el ella ellas ellos en entre era es
    esa ese eso esta este esto estos están fue hay la las le les lo los más mi muy no
    nos o para pero por que se sea ser si sin sobre son su sus también tiene todo todos
    tu un una uno unos y ya puede deben debe
    """
)
_DANGLING = _wordset(
    """
    this these that those it its they them their he she his her such however also but and
    or so then thus therefore hence furthermore moreover additionally here there
    dies diese dieser dieses es sie er aber auch daher deshalb dabei damit
    ce cela ceci cette ces il elle ils elles mais aussi donc
    esto esta este estos estas eso ello él ella ellos pero también así
    """
)
_ABBREVIATIONS = _wordset(
    """
    e.g. i.e. etc. vs. cf. dr. mr. mrs. ms. prof. st. no. nr. fig. figs. approx. ca.
    inc. ltd. co. corp. jr. sr. vol. pp. p. sec. ch. art. abs. dept. est. min. max.
    z.b. bzw. u.a. d.h. usw. evtl. ggf. vgl. inkl. mme. mlle. env. p.ex. sra. sr. dra.
    """
)
# Sentences that warn, advise or insist become callouts (warning, tip, info), using the
# words of the document's own language (an English "attention" is not a warning).
_CALLOUTS: dict[str, tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]] = {
    lang: (
        re.compile(rf"\b({warning})\b", re.IGNORECASE),
        re.compile(rf"\b({tip})\b", re.IGNORECASE),
        re.compile(rf"\b({info})\b", re.IGNORECASE),
    )
    for lang, warning, tip, info in (
        ("en", r"never|must not|do not|don['’]t|warning|danger|dangerous|caution|hazard",
         r"tip|recommended|we recommend|best practice",
         r"must|always|important|note|required|ensure|mandatory"),
        ("de", r"niemals|nie|darf nicht|dürfen nicht|warnung|achtung|gefahr|vorsicht",
         r"tipp|empfohlen|empfehlen",
         r"muss|müssen|immer|wichtig|hinweis|erforderlich|unbedingt"),
        ("fr", r"jamais|ne doit pas|ne doivent pas|avertissement|attention|danger",
         r"conseil|recommandé|recommandons",
         r"doit|doivent|toujours|important|remarque|obligatoire"),
        ("es", r"nunca|no debe|no deben|advertencia|peligro|precaución|cuidado",
         r"consejo|recomendado|recomendamos",
         r"debe|deben|siempre|importante|nota|obligatorio"),
    )
}
# Sentences that point at the layout ("the table below") make no sense on their own.
_REFERENTIAL = re.compile(
    r"\b(?:(?:table|figure|list|diagram|example|steps|shown|listed|described|see|as)\s+"
    r"(?:below|above)\b|(?:below|above)[.:,]|as follows|this table|the table|figure \d|"
    r"fig\.|see (?:section|chapter|page)|(?:tabelle|abbildung|siehe) |"
    r"ci-dessous|ci-dessus|tableau|a continuación|(?:tabla|figura) \d)",
    re.IGNORECASE,
)
# Function words that identify the document's language.
_MARKERS: dict[str, frozenset[str]] = {
    "en": _wordset("the and of to is in that it with for are be this"),
    "de": _wordset("der die und das ist nicht mit den ein zu sich auf dem"),
    "fr": _wordset("le la les et des est une du que pour dans pas sur"),
    "es": _wordset("el la los las y es que del una por para con se"),
}

# --------------------------------------------------------------------------- regexes

_UP = "A-ZÀ-ÖØ-Þ"
_LO = "a-zß-öø-ÿ"
_WS = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")
_SHAPE = str.maketrans("0123456789", "9999999999")
_WORD = re.compile(r"[^\W\d_]{3,}")
_BOUNDARY = re.compile(rf"([.!?…][\"'”’»)\]]*)\s+(?=[\"'“‘«(\[¿¡]?[{_UP}0-9])")
_INITIALS = re.compile(r"^(?:[A-Za-z]\.)+$")
_LAST_TOKEN = re.compile(r"(\S+)$")
_HEADING_LINE = re.compile(r"^#{1,6}(\s|$)")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+•]|\d{1,3}[.)])\s+(.*)$")
_NESTED_ITEM = re.compile(r"^\s+(?:[-*+•]|\d{1,3}[.)])\s+(.*)$")
_TABLE_SEP = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_MARKUP = re.compile(r"[*_`\[\]|<>#\\~\"“”„«»]|!\[|\]\(")
_NUM = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*%?(?![\w%])")
_NAME = re.compile(
    rf"(?<![\w'’-])[{_UP}][\w'’-]*(?:[ ](?:[{_UP}][\w'’-]*|\d+(?![\w.,]\d)))*"
)
_LOWER_WORD = re.compile(rf"(?<![\w'’-])[{_LO}][{_LO}]{{4,}}(?![\w'’-])")
_DETERMINERS = (
    "the|a|an|each|every|these|those|its|their|our|your|"
    "der|die|das|den|dem|des|ein|eine|einen|einem|einer|jede|jeder|jedes|"
    "le|la|les|un|une|du|chaque|ce|cette|el|los|las|una|cada|este|esta"
)
_HEAD_NOUN = re.compile(
    rf"(?<![\w-])(?i:{_DETERMINERS})\s+([{_LO}][{_LO}]{{4,}})(\s+[\w'’-]+|[^\w\s]|$)"
)


def _collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _stable(text: str) -> bool:
    """True if the schema's sanitisers leave ``text`` exactly as it is."""
    if "<" not in text and "&" not in text:
        return True
    return clean_markdown(text) == text and clean_plain(text) == _collapse(text)


def _plain_title(raw: str, limit: int = 300) -> str:
    text = clean_plain(raw)
    for _ in range(3):
        again = clean_plain(text)
        if again == text:
            break
        text = again
    if not _stable(text):
        text = _collapse(text.replace("<", " ").replace("&", " and "))
    return _clip(text, limit)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _md_escape(text: str) -> str:
    """Escape a plain title for use inside a Markdown list item."""
    text = re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", text)


def _terms(text: str, cache: dict[str, str]) -> tuple[str, ...]:
    """Content terms of ``text`` (lower case, light plural folding), first occurrence order.

    ``cache`` maps a word to its term ("" for stop words); it is per draft.
    """
    seen: dict[str, None] = {}
    for w in _WORD.findall(text.lower()):
        t = cache.get(w)
        if t is None:
            if w in _STOPWORDS:
                t = ""
            elif len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
                t = w[:-1]
            else:
                t = w
            cache[w] = t
        if t:
            seen[t] = None
    return tuple(seen)


def _split_sentences(paragraph: str) -> list[str]:
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(paragraph):
        end = m.end(1)
        tok = _LAST_TOKEN.search(paragraph[start:end])
        word = tok.group(1).lower().lstrip("(\"'“‘«") if tok else ""
        if word in _ABBREVIATIONS or _INITIALS.match(word):
            continue
        out.append(paragraph[start:end].strip())
        start = m.end()
    out.append(paragraph[start:].strip())
    return [s for s in out if s]


# --------------------------------------------------------------------------- model


@dataclass(slots=True)
class _Sentence:
    idx: int
    text: str
    chunk: int  # index into _Doc.chunks
    unit: int
    first_in_chunk: bool
    terms: tuple[str, ...]
    words: int
    fragment: bool
    list_ref: int = -1  # index into _Doc.lists when the sentence is a list item
    referential: bool = False  # points at the layout ("the table below")
    score: float = 0.0
    eligible: bool = False  # may be shown as a key point
    askable: bool = False  # may be turned into a question


@dataclass(slots=True)
class _List:
    chunk: int
    items: list[str]
    lead: int  # the sentence introducing the list ("... includes:"), or -1
    sentences: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _ChunkInfo:
    chunk: Chunk
    unit: int
    sub: str  # title of the sub-section (child of the unit) holding it, or ""
    words: int = 0
    text: str = ""  # whitespace-collapsed
    sentences: list[int] = field(default_factory=list)
    lists: list[int] = field(default_factory=list)
    tables: list[tuple[str, int]] = field(default_factory=list)  # (table, lead sentence)


@dataclass(slots=True)
class _Unit:
    title: str
    chunks: list[int] = field(default_factory=list)
    words: int = 0
    eligible: int = 0


@dataclass(slots=True)
class _Segment:
    unit: int
    chunks: list[int]
    title: str  # the title of this part of the unit


@dataclass(slots=True)
class _ContentScreen:
    title: str
    segments: list[_Segment]
    shown: list[int] = field(default_factory=list)  # sentence ids shown as key points
    items: list[_Item] = field(default_factory=list)


@dataclass(slots=True)
class _Question:
    kind: str  # multiple_choice, true_false, multiple_response
    prompt: str
    sources: list[str]
    feedback_ok: str
    feedback_bad: str
    choices: list[tuple[str, bool]] = field(default_factory=list)
    answer: bool = True
    units: tuple[int, ...] = ()


# (kind, payload, sources): kind is heading[:level], text, callout:<style> or question.
_Item = tuple[str, "str | _Question", list[str]]


@dataclass(slots=True)
class _Doc:
    chunks: list[_ChunkInfo]
    units: list[_Unit]
    sentences: list[_Sentence]
    lists: list[_List]
    extra_headings: list[tuple[str, str]]  # (title, first chunk id) shown on the intro
    term_cache: dict[str, str] = field(default_factory=dict)
    lang: str = "en"  # the document's own language (for callout words)


# --------------------------------------------------------------------------- outline


def _all_ids(section: Section) -> list[str]:
    out = list(section.chunk_ids)
    for child in section.children:
        out.extend(_all_ids(child))
    return out


def _outline(doc: ConvertedDocument, tr: _Tr) -> _Doc:
    chunks = sorted(enumerate(doc.chunks), key=lambda p: (p[1].ordinal, p[0]))
    infos = [_ChunkInfo(chunk=c, unit=-1, sub="") for _, c in chunks]
    by_id: dict[str, int] = {}
    for i, info in enumerate(infos):
        by_id.setdefault(info.chunk.id, i)

    units: list[_Unit] = []
    extra_headings: list[tuple[str, str]] = []
    tops = list(doc.sections)
    if len(tops) == 1 and len(tops[0].children) >= 2:
        # A single top-level section holding the real chapters (e.g. "# Title" then
        # "## Chapter"): use the chapters; the wrapper's title heads the intro, and its
        # own passages (if any) become a section of their own.
        parent = tops[0]
        own = [cid for cid in parent.chunk_ids if cid in by_id]
        if own:
            tops = [Section(title=parent.title, level=1, chunk_ids=own), *parent.children]
        else:
            tops = list(parent.children)
            extra_headings.append((parent.title, ""))

    def assign(section_ids: Iterable[str], unit: int, sub: str) -> None:
        for cid in section_ids:
            i = by_id.get(cid)
            if i is not None and infos[i].unit == -1:
                infos[i].unit = unit
                infos[i].sub = sub

    for top in tops:
        u = len(units)
        units.append(_Unit(title=top.title))
        assign(top.chunk_ids, u, "")
        for child in top.children:
            assign(_all_ids(child), u, child.title)

    if not units:
        # No headings at all: use the section paths if the converter set any, else split
        # the text by position into parts of roughly equal size.
        if any(info.chunk.section_path for info in infos):
            titles: dict[str, int] = {}
            for info in infos:
                key = info.chunk.section_path[0] if info.chunk.section_path else ""
                if key not in titles or titles[key] != len(units) - 1:
                    titles[key] = len(units)
                    units.append(_Unit(title=key))
                info.unit = titles[key]
                info.sub = info.chunk.section_path[1] if len(info.chunk.section_path) > 1 else ""
        elif infos:
            sizes = [len(info.chunk.text.split()) + 1 for info in infos]
            n_parts = max(1, min(12, round(sum(sizes) / 700)))
            for p, members in enumerate(_partition(sizes, n_parts)):
                units.append(_Unit(title=tr("part", n=p + 1) if n_parts > 1 else doc.title))
                for i in members:
                    infos[i].unit = p
    else:
        # Passages no section claims: the section named by their path, else the section
        # of the passage before them (or the first section).
        first_title: dict[str, int] = {}
        for u, unit in enumerate(units):
            first_title.setdefault(unit.title, u)
        current = -1
        pending: list[int] = []  # passages before any claimed one: the first section's
        for i, info in enumerate(infos):
            if info.unit == -1 and info.chunk.section_path:
                info.unit = first_title.get(info.chunk.section_path[0], -1)
            if info.unit == -1:
                if current == -1:
                    pending.append(i)
                else:
                    info.unit = current
            else:
                if current == -1:
                    for j in pending:
                        infos[j].unit = info.unit
                    pending.clear()
                current = info.unit
        for j in pending:
            infos[j].unit = 0

    for u, unit in enumerate(units):
        unit.title = _plain_title(unit.title) or tr("part", n=u + 1)
    for i, info in enumerate(infos):
        units[info.unit].chunks.append(i)
    extra = [(_plain_title(t), cid) for t, cid in extra_headings]
    return _Doc(
        chunks=infos, units=units, sentences=[], lists=[],
        extra_headings=[(t, cid) for t, cid in extra if t],
    )


# --------------------------------------------------------------------------- parsing


def _parse(d: _Doc) -> None:
    """Split every chunk into sentences, list items and tables."""
    for ci, info in enumerate(d.chunks):
        info.text = _collapse(info.chunk.text or "")
        info.words = len(info.text.split())
        d.units[info.unit].words += info.words
        _ChunkParser(d, ci).run(info.chunk.text or "")


class _ChunkParser:
    """A small line-based Markdown reader: paragraphs, list items, tables; code skipped."""

    def __init__(self, d: _Doc, ci: int) -> None:
        self.d = d
        self.ci = ci
        self.info = d.chunks[ci]
        self.para: list[str] = []
        self.table: list[str] = []
        self.items: list[str] = []
        self.last = -1  # the sentence just before the current list or table

    def run(self, text: str) -> None:
        in_code = False
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith(("```", "~~~")):
                self.flush_all()
                in_code = not in_code
                continue
            if in_code:
                continue
            if not line:
                self.flush_para()
                self.flush_table()
                continue
            if line.startswith("|"):
                self.flush_para()
                self.flush_list()
                self.table.append(line)
                continue
            self.flush_table()
            if _HEADING_LINE.match(line):
                self.flush_para()
                self.flush_list()
                continue
            m = _LIST_ITEM.match(raw) or (_NESTED_ITEM.match(raw) if self.items else None)
            if m:
                self.flush_para()
                self.items.append(m.group(1))
                continue
            if self.items and raw[:1].isspace():
                self.items[-1] += " " + line
                continue
            self.flush_list()
            self.para.append(line.lstrip("> ").strip() if line.startswith(">") else line)
        self.flush_all()

    def flush_all(self) -> None:
        self.flush_para()
        self.flush_list()
        self.flush_table()

    def add_sentence(self, text: str, list_ref: int = -1) -> int:
        d = self.d
        idx = len(d.sentences)
        d.sentences.append(
            _Sentence(
                idx=idx, text=text, chunk=self.ci, unit=self.info.unit,
                first_in_chunk=not self.info.sentences, terms=_terms(text, d.term_cache),
                words=len(text.split()), fragment=text[-1] not in ".!?…", list_ref=list_ref,
            )
        )
        self.info.sentences.append(idx)
        return idx

    def flush_para(self) -> None:
        if self.para:
            for s in _split_sentences(_collapse(" ".join(self.para))):
                self.last = self.add_sentence(s)
            self.para.clear()

    def _lead(self, referential: bool) -> int:
        """The sentence introducing a list/table: ends with ':' (or points at it)."""
        if self.last < 0:
            return -1
        text = self.d.sentences[self.last].text
        if text.endswith(":") or (referential and _REFERENTIAL.search(text)):
            return self.last
        return -1

    def flush_table(self) -> None:
        if len(self.table) >= 2 and _TABLE_SEP.match(self.table[1]):
            self.info.tables.append(("\n".join(self.table), self._lead(True)))
            self.last = -1
        self.table.clear()

    def flush_list(self) -> None:
        if not self.items:
            return
        lead = self._lead(False)
        li = len(self.d.lists)
        lst = _List(chunk=self.ci, items=[_collapse(x) for x in self.items if x.strip()], lead=lead)
        self.d.lists.append(lst)
        self.info.lists.append(li)
        for item in lst.items:
            lst.sentences.append(self.add_sentence(item, list_ref=li))
        self.items.clear()
        self.last = -1


def _score(d: _Doc) -> None:
    """TF-IDF-ish sentence scores, eligibility for key points and for questions."""
    n_chunks = max(1, len(d.chunks))
    df: Counter[str] = Counter()
    for info in d.chunks:
        df.update({t for s in info.sentences for t in d.sentences[s].terms})
    idf = {t: math.log((n_chunks + 1) / (c + 1)) + 1.0 for t, c in df.items()}
    seen_text: Counter[str] = Counter(s.text.lower() for s in d.sentences)

    unit_tf: list[Counter[str]] = [Counter() for _ in d.units]
    for s in d.sentences:
        unit_tf[s.unit].update(s.terms)

    for s in d.sentences:
        tf = unit_tf[s.unit]
        s.eligible = (
            bool(s.terms)
            and (3 if s.list_ref >= 0 else 5) <= s.words <= 70
            and len(s.text) <= 600
            and not s.text.endswith((":", "?"))
            and "![" not in s.text
            and seen_text[s.text.lower()] <= 2  # running headers/footers, boilerplate
            and _stable(s.text)
        )
        if not s.eligible:
            continue
        weight = sum(idf[t] * math.log1p(tf[t]) for t in s.terms)
        score = weight / math.sqrt(len(s.terms) + 2)
        if s.first_in_chunk:
            score *= 1.15
        if s.fragment:
            score *= 0.6
        if s.words > 40:
            score *= 0.7
        first = s.text.split(" ", 1)[0].strip(",;:").lower()
        if first in _DANGLING:
            score *= 0.75
        s.referential = bool(_REFERENTIAL.search(s.text))
        if s.referential:
            score *= 0.5
        if _DIGIT.search(s.text):
            score *= 1.05
        s.score = score
        d.units[s.unit].eligible += 1
        s.askable = (
            not s.fragment
            and 6 <= s.words <= 45
            and s.text[-1] in ".!"
            and not _MARKUP.search(s.text)
            and first not in _DANGLING
            and not s.referential
        )
    for info in d.chunks:
        if info.sentences:
            first_sentence = d.sentences[info.sentences[0]]
            if first_sentence.eligible and info is d.chunks[d.units[info.unit].chunks[0]]:
                first_sentence.score *= 1.1


# --------------------------------------------------------------------------- budget


def _partition(weights: Sequence[float], k: int) -> list[list[int]]:
    """Split indices 0..n-1 into k contiguous, non-empty groups balanced by weight."""
    n = len(weights)
    if n == 0:
        return []
    k = max(1, min(k, n))
    total = float(sum(weights))
    groups: list[list[int]] = [[] for _ in range(k)]
    cum = 0.0
    j = 0
    for i, w in enumerate(weights):
        mid = cum + w / 2
        want = int(mid * k / total) if total > 0 else i * k // n
        lo = max(j, k - (n - i))
        hi = min(j + 1 if groups[j] else j, k - 1)
        j = min(max(want, lo), hi)
        groups[j].append(i)
        cum += w
    return groups


def _dhondt(weights: Sequence[float], caps: Sequence[int], seats: int) -> list[int]:
    """Give ``seats`` extra screens to units by size (D'Hondt), never beyond ``caps``."""
    alloc = [0] * len(weights)
    for _ in range(seats):
        best = -1
        best_q = -1.0
        for u, w in enumerate(weights):
            if alloc[u] < caps[u]:
                q = w / (alloc[u] + 1)
                if q > best_q:
                    best, best_q = u, q
        if best < 0:
            break
        alloc[best] += 1
    return alloc


def _groups(d: _Doc) -> list[list[int]]:
    """Units grouped so each group has exactly one unit with text (empty ones ride along)."""
    if not any(unit.chunks for unit in d.units):
        return [[u] for u in range(len(d.units))]  # headings only: merge them evenly
    groups: list[list[int]] = []
    pending: list[int] = []
    for u, unit in enumerate(d.units):
        pending.append(u)
        if unit.chunks:
            groups.append(pending)
            pending = []
    if pending:
        if groups:
            groups[-1].extend(pending)
        else:
            groups.append(pending)
    return groups


def _plan(d: _Doc, content_budget: int) -> tuple[list[_ContentScreen], int]:
    """Content screens (each a list of segments) and how many check screens fit."""
    groups = _groups(d)
    g_weight = [float(sum(d.units[u].words for u in g)) + 1.0 for g in groups]
    screens: list[_ContentScreen] = []
    if len(groups) >= content_budget:
        mean = sum(g_weight) / len(g_weight)
        smoothed = [w + mean * 0.25 for w in g_weight]
        for members in _partition(smoothed, content_budget):
            segs = [
                _Segment(unit=u, chunks=list(d.units[u].chunks), title=d.units[u].title)
                for gi in members for u in groups[gi]
            ]
            screens.append(_ContentScreen(title="", segments=segs))
        return screens, 0

    caps = [
        max(0, min(12, max(1, sum(d.units[u].eligible for u in g) // 6) - 1)) for g in groups
    ]
    spare = content_budget - len(groups)
    best: tuple[int, int] | None = None
    for extra in range(min(spare, sum(caps)), -1, -1):
        c = len(groups) + extra
        checks = round(c / 2.5)
        if c + checks <= content_budget:
            best = (extra, checks)
            break
    if best is None:  # not even one screen per group plus checks: checks go inline
        best = (min(spare, sum(caps)), 0)
    extra, checks = best
    alloc = _dhondt(g_weight, caps, extra)
    for gi, g in enumerate(groups):
        main = next((u for u in g if d.units[u].chunks), g[0])
        chunks = d.units[main].chunks
        sizes = [float(d.chunks[c].words) + 1.0 for c in chunks]
        parts = _partition(sizes, 1 + alloc[gi]) if chunks else [[]]
        prev_sub = ""
        for p, members in enumerate(parts):
            part_chunks = [chunks[i] for i in members]
            title = d.units[main].title
            if p > 0:
                sub = d.chunks[part_chunks[0]].sub if part_chunks else ""
                sub = _plain_title(sub, 120)
                title = f"{title}: {sub}" if sub and sub != prev_sub else f"{title} ({p + 1})"
                prev_sub = sub or prev_sub
            else:
                prev_sub = d.chunks[part_chunks[0]].sub if part_chunks else ""
            segs = [_Segment(unit=main, chunks=part_chunks, title=_clip(title, 300))]
            if p == 0:
                before = [u for u in g if u < main]
                segs = [_Segment(unit=u, chunks=[], title=d.units[u].title) for u in before] + segs
            if p == len(parts) - 1:
                segs += [
                    _Segment(unit=u, chunks=[], title=d.units[u].title) for u in g if u > main
                ]
            screens.append(_ContentScreen(title="", segments=segs))
    return screens, checks


# --------------------------------------------------------------------------- engine


class _Engine:
    """Picks key points and writes questions, remembering what it has already used."""

    def __init__(self, d: _Doc, tr: _Tr, now: datetime) -> None:
        self.d = d
        self.tr = tr
        self.now = now
        self.used_sentences: set[int] = set()
        self.used_terms: set[str] = set()
        self.used_lists: set[int] = set()
        self.shown_keys: list[frozenset[str]] = []
        # Distractor pools, built on first use: kind -> term length -> terms (hash order).
        self._pools: dict[str, dict[int, list[str]]] | None = None
        self._term_units: dict[str, set[int]] = {}  # casefolded term -> units using it
        self._word_count: Counter[str] = Counter()  # head nouns (key words)
        self._doc_text_lower = ""
        self._unit_text_lower: dict[int, str] = {}

    # ----------------------------------------------------------------- provenance

    def prov(self, sources: Iterable[str]) -> Provenance:
        seen: dict[str, None] = {}
        for s in sources:
            if s and len(s) <= 80:
                seen.setdefault(s, None)
        return Provenance(
            kind="ai", engine=ENGINE, model=MODEL, generated_at=self.now, sources=list(seen)
        )

    def cid(self, chunk: int) -> str:
        return self.d.chunks[chunk].chunk.id

    def sid(self, sentence: int) -> str:
        return self.cid(self.d.sentences[sentence].chunk)

    def unit_first_id(self, unit: int) -> str:
        chunks = self.d.units[unit].chunks
        return self.cid(chunks[0]) if chunks else ""

    # ----------------------------------------------------------------- key points

    def _pick(self, candidates: list[int], n: int) -> list[int]:
        """The ``n`` best sentences, skipping near-duplicates of anything already shown.

        A first pass also skips sentences opening like one already picked here, so the
        key points of a screen are varied; a second pass fills any remaining places.
        """
        ranked = sorted(candidates, key=lambda i: (-self.d.sentences[i].score, i))[: 20 * n + 40]
        chosen: list[int] = []
        openings: set[str] = set()
        for varied in (True, False):
            for s in ranked:
                if len(chosen) >= n:
                    return chosen
                if s in chosen:
                    continue
                opening = " ".join(self.d.sentences[s].text.lower().split()[:3])
                if varied and opening in openings:
                    continue
                keys = frozenset(self.d.sentences[s].terms)
                if any(_jaccard(keys, k) >= 0.6 for k in self.shown_keys[-300:]):
                    continue
                chosen.append(s)
                openings.add(opening)
                self.shown_keys.append(keys)
        return chosen

    def segment_blocks(
        self, seg: _Segment, n_points: int, rich: bool
    ) -> tuple[list[_Item], list[int]]:
        """Key points (+ a kept table/list and a callout when ``rich``) for one segment."""
        d = self.d
        out: list[_Item] = []
        cands = [
            s for c in seg.chunks for s in d.chunks[c].sentences if d.sentences[s].eligible
        ]
        kept: tuple[str, list[str]] | None = None
        skip: set[int] = set()
        if rich:
            kept, skip = self._keep_structure(seg)
        pool = [s for s in cands if s not in skip]
        callout: tuple[str, int] | None = None
        if rich:
            # The best-ranked sentence that warns or insists, if it is among the leaders.
            ranked = sorted(pool, key=lambda i: (-d.sentences[i].score, i))
            for s in ranked[: 3 * n_points + 3]:
                style = _callout_style(d.sentences[s].text, d.lang)
                if style and not d.sentences[s].fragment and not d.sentences[s].referential:
                    callout = (style, s)
                    self.shown_keys.append(frozenset(d.sentences[s].terms))
                    break
        if callout is not None:
            pool = [s for s in pool if s != callout[1]]
        points = sorted(self._pick(pool, n_points))
        if points:
            md = "\n".join(f"- {d.sentences[s].text}" for s in points)
            out.append(("text", md, [self.sid(s) for s in points]))
        if kept is not None:
            out.append(("text", kept[0], kept[1]))
        if callout is not None:
            out.append((f"callout:{callout[0]}", d.sentences[callout[1]].text,
                        [self.sid(callout[1])]))
        shown = points + ([callout[1]] if callout else [])
        return out, shown

    def _keep_structure(self, seg: _Segment) -> tuple[tuple[str, list[str]] | None, set[int]]:
        """A small source table (else list) worth showing as is, with its lead-in."""
        d = self.d
        for c in seg.chunks:
            for table, lead in d.chunks[c].tables:
                rows = table.count("\n") + 1
                if rows <= 12 and len(table) <= 3000 and _stable(table):
                    return (self._with_lead(lead, table), [self.cid(c)]), {lead}
        for c in seg.chunks:
            for li in d.chunks[c].lists:
                lst = d.lists[li]
                if not 3 <= len(lst.items) <= 8:
                    continue
                if any(len(x) > 200 or not _stable(x) or "![" in x for x in lst.items):
                    continue
                md = "\n".join(f"- {x}" for x in lst.items)
                return (self._with_lead(lst.lead, md), [self.cid(c)]), {*lst.sentences, lst.lead}
        return None, set()

    def _with_lead(self, lead: int, markdown: str) -> str:
        if lead >= 0 and _stable(self.d.sentences[lead].text):
            return f"{self.d.sentences[lead].text}\n\n{markdown}"
        return markdown

    # ----------------------------------------------------------------- questions

    def _prepare_pools(self) -> None:
        if self._pools is not None:
            return
        d = self.d
        pools: dict[str, dict[int, list[str]]] = {}
        seen: set[str] = set()
        # Key words are head nouns: "the <word>" followed by a small
        # word or punctuation ("the valve is", "each extinguisher."), which keeps
        # adjectives and verbs out of blanks and distractors.
        heads: Counter[str] = Counter()
        for s in d.sentences:
            if s.eligible:
                for m in _HEAD_NOUN.finditer(s.text):
                    following = m.group(2).strip().lower()
                    if not following or not following[0].isalnum() or following in _STOPWORDS:
                        heads[m.group(1)] += 1
        word_count = Counter({w: c for w, c in heads.items() if w not in _STOPWORDS})
        for s in d.sentences:
            if not s.eligible:
                continue
            for term, kinds in self._candidates(s, word_count):
                key = term.casefold()
                self._term_units.setdefault(key, set()).add(s.unit)
                if key in seen:
                    continue
                seen.add(key)
                for kind in kinds:
                    pools.setdefault(kind, {}).setdefault(len(term), []).append(term)
        for buckets in pools.values():
            for terms in buckets.values():
                terms.sort(key=lambda t: (_digest(t), t))
        self._pools = pools
        self._word_count = word_count
        self._doc_text_lower = "\n".join(info.text for info in d.chunks).casefold()

    @staticmethod
    def _candidates(
        s: _Sentence, word_count: Counter[str]
    ) -> list[tuple[str, tuple[str, ...]]]:
        """Key terms of a sentence with their kinds (most specific first), best first."""
        text = s.text
        out: list[tuple[str, tuple[str, ...]]] = []
        for m in _NUM.finditer(text):
            num = m.group(0).rstrip(".,")
            if not num:
                continue
            shape = num.translate(_SHAPE)
            if num.endswith("%"):
                cat = "pct"
            elif shape == "9999" and num[:2] in ("18", "19", "20"):
                cat = "year"
            elif shape.endswith((".9", ".99", ",9", ",99")):
                cat = "dec"
            else:
                cat = f"int{min(shape.count('9'), 4)}"
            out.append((num, (f"num:{shape}", f"num:{cat}")))
        for m in _NAME.finditer(text):
            words = m.group(0).split(" ")
            start = m.start()
            while words and words[0].lower() in _STOPWORDS:
                start += len(words[0]) + 1
                words = words[1:]
            while words and (words[-1].lower() in _STOPWORDS or words[-1].isdigit()):
                words = words[:-1]
            words = [w[:-2] if w.endswith(("'s", "’s")) else w for w in words]
            if not words or (start == 0 and len(words) == 1):
                continue
            name = " ".join(words)
            if len(name) < 3 or len(name) > 60:
                continue
            if len(words) == 1 and name.isupper():
                out.append((name, ("acro",)))
            else:
                out.append((name, (f"name{min(len(words), 3)}", "name")))
        words_found = sorted(
            {m.group(0) for m in _LOWER_WORD.finditer(text)
             if word_count[m.group(0)] >= 1},
            key=lambda w: (-len(w), w),
        )
        for w in words_found:
            plural = "s" if w.endswith("s") and not w.endswith("ss") else "1"
            out.append((w, (f"word:{w[-2:]}", f"word:{plural}")))
        return out

    def _distractors(self, term: str, kinds: tuple[str, ...], s: _Sentence, want: int) -> list[str]:
        assert self._pools is not None
        text_cf = s.text.casefold()
        term_cf = term.casefold()
        digits = re.sub(r"\D", "", term)
        preferred: list[str] = []
        fallback: list[str] = []
        taken: set[str] = set()
        length = len(term)
        spread = max(3, length // 2)
        offset = _digest(s.text + "|" + term)

        def ok(c: str) -> bool:
            cf = c.casefold()
            if cf == term_cf or cf in taken or cf in text_cf or term_cf in cf:
                return False
            if digits and re.sub(r"\D", "", c) == digits:
                return False
            return not any(cf in t or t in cf for t in taken)

        for kind in kinds:
            buckets = self._pools.get(kind, {})
            for delta in range(spread + 1):
                for size in (length - delta, length + delta) if delta else (length,):
                    bucket = buckets.get(size)
                    if not bucket:
                        continue
                    start = offset % len(bucket)
                    for i in range(min(len(bucket), 60)):
                        c = bucket[(start + i) % len(bucket)]
                        if not ok(c):
                            continue
                        units = self._term_units.get(c.casefold(), set())
                        if s.unit in units:
                            if len(fallback) < want:
                                fallback.append(c)
                            continue
                        preferred.append(c)
                        taken.add(c.casefold())
                        if len(preferred) >= want:
                            return preferred
            if len(preferred) >= 2:
                break
        for c in fallback:
            if len(preferred) >= want:
                break
            if ok(c):
                preferred.append(c)
                taken.add(c.casefold())
        return preferred

    def _feedback(self, s: _Sentence, head_ok: str, head_bad: str) -> tuple[str, str]:
        quote = self.tr("source", quote=self.tr.quote(s.text))
        return f"{head_ok} {quote}", f"{head_bad} {quote}"

    def question_mc(self, si: int) -> _Question | None:
        s = self.d.sentences[si]
        for term, kinds in self._candidates(s, self._word_count):
            if term.casefold() in self.used_terms:
                continue
            if len(re.findall(rf"(?<!\w){re.escape(term)}(?!\w)", s.text, re.IGNORECASE)) != 1:
                continue
            distractors = self._distractors(term, kinds, s, 3)
            if len(distractors) < 2:
                continue
            blanked = re.sub(rf"(?<!\w){re.escape(term)}(?!\w)", lambda _m: _BLANK, s.text, count=1)
            choices = [(term, True)] + [(x, False) for x in distractors]
            choices.sort(key=lambda c: (_digest(s.text + "|" + c[0]), c[0]))
            ok, bad = self._feedback(
                s, self.tr("ok"), f"{self.tr('bad')} {self.tr('answer', term=self.tr.quote(term))}"
            )
            self.used_terms.add(term.casefold())
            return _Question(
                kind="multiple_choice",
                prompt=f"{self.tr('mc_stem')}\n\n> {blanked}",
                sources=[self.cid(s.chunk)],
                feedback_ok=ok, feedback_bad=bad, choices=choices, units=(s.unit,),
            )
        return None

    def question_tf(self, si: int) -> _Question | None:
        s = self.d.sentences[si]
        want_false = _digest("tf|" + s.text) % 2 == 1
        statement = s.text
        answer = True
        if want_false:
            for term, kinds in self._candidates(s, self._word_count):
                if term.casefold() in self.used_terms:
                    continue
                pattern = rf"(?<!\w){re.escape(term)}(?!\w)"
                if len(re.findall(pattern, s.text)) != 1:
                    continue
                for alt in self._distractors(term, kinds, s, 2):
                    variant = re.sub(pattern, lambda _m, a=alt: a, s.text, count=1)  # type: ignore[misc]
                    if variant.casefold() not in self._doc_text_lower:
                        statement, answer = variant, False
                        self.used_terms.add(term.casefold())
                        break
                if not answer:
                    break
        elif not self._candidates(s, self._word_count):
            return None
        verdict = self.tr("is_true") if answer else self.tr("is_false")
        ok, bad = self._feedback(s, f"{self.tr('ok')} {verdict}", f"{self.tr('bad')} {verdict}")
        return _Question(
            kind="true_false",
            prompt=f"{self.tr('tf_stem')}\n\n> {statement}",
            sources=[self.cid(s.chunk)],
            feedback_ok=ok, feedback_bad=bad, answer=answer, units=(s.unit,),
        )

    def question_mr(self, units: Sequence[int]) -> _Question | None:
        d = self.d
        unit_set = set(units)
        for li, lst in enumerate(d.lists):
            if li in self.used_lists or d.chunks[lst.chunk].unit not in unit_set:
                continue
            items = [x for x in (_mr_item(i) for i in lst.items) if x]
            items = list(dict.fromkeys(items))
            if len(items) < 2:
                continue
            u = d.chunks[lst.chunk].unit
            correct = sorted(items, key=lambda x: (_digest(x), x))[:3]
            correct.sort(key=items.index)
            distractors = self._mr_distractors(u, correct)
            if not distractors:
                continue
            self.used_lists.add(li)
            section = self.tr.quote(d.units[u].title)
            choices = [(x, True) for x in correct] + [(x, False) for x in distractors]
            choices.sort(key=lambda c: (_digest(d.units[u].title + "|" + c[0]), c[0]))
            listing = self.tr(
                "lists", section=section, items=", ".join(self.tr.quote(x) for x in correct)
            )
            return _Question(
                kind="multiple_response",
                prompt=self.tr("mr_stem", section=section),
                sources=[self.cid(lst.chunk)],
                feedback_ok=f"{self.tr('ok')} {listing}",
                feedback_bad=f"{self.tr('bad')} {listing}",
                choices=choices, units=(u,),
            )
        return None

    def _mr_distractors(self, unit: int, correct: list[str]) -> list[str]:
        d = self.d
        if unit not in self._unit_text_lower:
            self._unit_text_lower[unit] = "\n".join(
                d.chunks[c].text for c in d.units[unit].chunks
            ).casefold()
        unit_text = self._unit_text_lower[unit]
        mean_len = sum(len(x) for x in correct) / len(correct)
        taken = {x.casefold() for x in correct}
        cands: list[tuple[int, int, str]] = []
        for lst in d.lists:
            if d.chunks[lst.chunk].unit == unit:
                continue
            for item in lst.items:
                x = _mr_item(item)
                if not x or x.casefold() in taken or x.casefold() in unit_text:
                    continue
                taken.add(x.casefold())
                cands.append((abs(len(x) - round(mean_len)) // 8, _digest(x + str(unit)), x))
        cands.sort()
        out: list[str] = []
        for _, _, x in cands:
            if all(x.casefold() not in y.casefold() and y.casefold() not in x.casefold()
                   for y in out + correct):
                out.append(x)
            if len(out) >= 3:
                break
        return out

    def make_question(
        self, kinds: Sequence[str], primary: Sequence[int], fallback: Sequence[int],
        units: Sequence[int],
    ) -> _Question | None:
        self._prepare_pools()
        d = self.d
        order = [s for s in primary if d.sentences[s].askable]
        seen = set(order)
        order += sorted(
            (s for s in fallback if d.sentences[s].askable and s not in seen),
            key=lambda i: (-d.sentences[i].score, i),
        )[:40]
        for kind in kinds:
            if kind == "multiple_response":
                q = self.question_mr(units)
                if q:
                    return q
                continue
            for si in order:
                if si in self.used_sentences:
                    continue
                q = self.question_mc(si) if kind == "multiple_choice" else self.question_tf(si)
                if q:
                    self.used_sentences.add(si)
                    return q
        return None


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _callout_style(text: str, lang: str) -> str | None:
    warning, tip, info = _CALLOUTS[lang]
    if warning.search(text):
        return "warning"
    if tip.search(text):
        return "tip"
    if info.search(text):
        return "info"
    return None


def _detect_language(d: _Doc, default: str) -> str:
    """The document's language from its function words (the course language on a tie)."""
    counts = dict.fromkeys(_MARKERS, 0)
    seen = 0
    for s in d.sentences:
        words = s.text.lower().split()
        for lang, markers in _MARKERS.items():
            counts[lang] += sum(1 for w in words if w in markers)
        seen += len(words)
        if seen > 5000:
            break
    best = max(counts.values())
    if best == 0 or counts[default] == best:
        return default
    return next(lang for lang, n in counts.items() if n == best)


def _mr_item(item: str) -> str:
    x = item.strip().rstrip(".;,:").strip()
    if not x or len(x) > 80 or len(x.split()) > 10 or _MARKUP.search(x) or not _stable(x):
        return ""
    return x


# --------------------------------------------------------------------------- assembly


class _Builder:
    """Turns planned screens into schema blocks with short stable ids."""

    def __init__(self, engine: _Engine) -> None:
        self.e = engine
        self.screens: list[Screen] = []

    def add(self, title: str, blocks: list[_Item]) -> None:
        sid = f"s{len(self.screens) + 1:02d}"
        out: list[Block] = []
        for kind, payload, sources in blocks:
            if len(out) >= _MAX_BLOCKS:
                break
            bid = f"{sid}-b{len(out) + 1:02d}"
            block = self._block(bid, kind, payload, sources)
            if block is not None:
                out.append(block)
        if not out:
            return
        self.screens.append(
            Screen(id=sid, title=_plain_title(title) or self.e.tr("course"), blocks=out)
        )

    def _block(
        self, bid: str, kind: str, payload: str | _Question, sources: list[str]
    ) -> Block | None:
        prov = self.e.prov(sources)
        if isinstance(payload, _Question):
            return self._question(bid, payload, prov) if kind == "question" else None
        if kind.startswith("heading"):
            text = _plain_title(payload)
            level = int(kind.split(":")[1]) if ":" in kind else 2
            if not text:
                return None
            return HeadingBlock(id=bid, type="heading", level=level, text=text, provenance=prov)
        if kind == "text":
            md = _settle(payload, 20000)
            return TextBlock(id=bid, type="text", markdown=md, provenance=prov) if md else None
        if kind.startswith("callout:"):
            md = _settle(payload, 5000)
            style = kind.split(":")[1]
            if not md or style not in ("info", "tip", "warning"):
                return None
            return CalloutBlock(
                id=bid, type="callout", style=style, markdown=md, provenance=prov
            )
        return None

    @staticmethod
    def _question(bid: str, q: _Question, prov: Provenance) -> Block | None:
        prompt = _settle(q.prompt, 2000)
        ok = _settle(q.feedback_ok, 2000)
        bad = _settle(q.feedback_bad, 2000)
        # Questions are built from sanitiser-proof text; anything else is dropped rather
        # than shown altered (its answer would no longer match its source).
        if not prompt or prompt != q.prompt or ok != q.feedback_ok or bad != q.feedback_bad:
            return None
        feedback = Feedback(correct=ok, incorrect=bad)
        choices = [
            Choice(id="abcdefghij"[i], text=text, correct=correct)
            for i, (text, correct) in enumerate(q.choices[:10])
        ]
        if q.kind == "multiple_choice":
            return MultipleChoiceBlock(
                id=bid, type="multiple_choice", prompt=prompt, feedback=feedback,
                choices=choices, provenance=prov,
            )
        if q.kind == "multiple_response":
            return MultipleResponseBlock(
                id=bid, type="multiple_response", prompt=prompt, feedback=feedback,
                choices=choices, provenance=prov,
            )
        return TrueFalseBlock(
            id=bid, type="true_false", prompt=prompt, feedback=feedback, answer=q.answer,
            provenance=prov,
        )


def _settle(markdown: str, limit: int) -> str:
    """``markdown`` clipped and sanitised to a fixed point ("" if it will not settle)."""
    text = _clip(clean_markdown(markdown), limit)
    for _ in range(3):
        again = clean_markdown(text)
        if again == text:
            return text
        text = again
    return ""


def _content_blocks(
    e: _Engine, screen: _ContentScreen, allowance: int, *, force_headings: bool
) -> list[_Item]:
    """The blocks of one content screen within ``allowance`` blocks."""
    segs = screen.segments
    single = len(segs) == 1 and not force_headings
    with_text = [s for s in segs if s.chunks]
    n_points = 5 if single else max(1, min(3, 10 // max(1, len(with_text))))
    blocks: list[_Item] = []
    headings_needed = len(segs) if not single else 0
    if headings_needed > allowance:
        # Pathological: more sections than blocks. Pack several titles per heading.
        per = math.ceil(len(segs) / max(1, allowance))
        for i in range(0, len(segs), per):
            group = segs[i : i + per]
            blocks.append(("heading", " · ".join(s.title for s in group),
                           [e.unit_first_id(s.unit) for s in group]))
        return blocks
    room = allowance - headings_needed
    for seg in segs:
        if not single:
            blocks.append(("heading", seg.title, [e.unit_first_id(seg.unit)]))
        if not seg.chunks:
            continue
        rich = single and room >= 3
        if room <= 0:
            continue
        seg_blocks, shown = e.segment_blocks(seg, n_points, rich)
        seg_blocks = seg_blocks[:room]
        room -= len(seg_blocks)
        screen.shown.extend(shown)
        for kind, md, src in seg_blocks:
            blocks.append((kind, md, src))
    if not blocks:
        # A section with no usable sentences: show its heading at least.
        blocks.extend(("heading", s.title, [e.unit_first_id(s.unit)]) for s in segs)
    return blocks


def _screen_title(screen: _ContentScreen) -> str:
    segs = screen.segments
    if len(segs) == 1:
        return segs[0].title
    titles = [s.title for s in segs]
    joined = " · ".join(titles)
    return joined if len(joined) <= 100 else _clip(f"{titles[0]} – {titles[-1]}", 300)


def _overview(e: _Engine, tr: _Tr) -> str:
    lines = [tr("covers"), ""]
    total = 0
    units = e.d.units
    for i, unit in enumerate(units):
        line = f"- {_md_escape(unit.title)}"
        if total + len(line) > 15000:
            lines.append(f"- {tr('more', n=len(units) - i)}")
            break
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)


def draft_course(
    doc: ConvertedDocument,
    *,
    title: str | None,
    language: str,
    target_screens: int = DEFAULT_TARGET_SCREENS,
    now: datetime,
    progress: Progress | None = None,
) -> CourseContent:
    """Draft a course from ``doc``: deterministic, extractive, every block cited.

    ``title`` overrides the document's title; ``language`` (en, de, fr, es; anything else
    falls back to en) sets the course language and the engine's own wording;
    ``target_screens`` is a hard ceiling (clamped to 1..500) that intro, content, check
    and final screens all count against; ``now`` stamps every block's provenance;
    ``progress(percent, stage)`` is called a few times, ending with 100.
    """

    def report(percent: int, stage: str) -> None:
        if progress is not None:
            progress(percent, stage)

    lang = (language or "en").lower()[:2]
    lang = lang if lang in LANGUAGES else "en"
    tr = _Tr(lang)
    budget = max(1, min(int(target_screens), _MAX_SCREENS))

    d = _outline(doc, tr)
    _parse(d)
    _score(d)
    d.lang = _detect_language(d, lang)
    report(10, "Reading the outline")

    course_title = _plain_title(title or "") or _plain_title(doc.title or "") or tr("course")
    doc_title = _plain_title(doc.title or "") or course_title
    e = _Engine(d, tr, now)
    b = _Builder(e)

    if not d.units:
        b.add(course_title, [("text", tr("empty"), [])])
        report(100, "Done")
        return _finish(b, course_title, lang, doc_title, tr)

    has_intro = budget >= 2
    has_final = budget >= 3
    content_budget = budget - int(has_intro) - int(has_final)
    planned, check_screens = _plan(d, content_budget)
    for screen in planned:
        screen.title = _screen_title(screen)

    # Fixed blocks first, so content knows how much room it has.
    intro_blocks: list[_Item] = [
        ("heading", t, [cid] if cid else []) for t, cid in d.extra_headings
    ]
    firsts = [e.unit_first_id(u) for u in range(len(d.units))]
    intro_blocks.append(("heading", tr("overview"), firsts))
    intro_blocks.append(("text", _overview(e, tr), firsts))
    if not has_intro:
        # One screen only: the intro overview is folded into it.
        planned[0].title = course_title

    # Questions: one per 2-3 content screens, separate check screens when budget allows,
    # else inline at the end of content screens (at least 3 if there is no final quiz).
    c = len(planned)
    inline = check_screens == 0
    if not inline:
        n_checks = check_screens
    elif has_final:
        n_checks = round(c / 2.5)
    else:
        n_checks = max(round(c / 2.5), 3)
    if n_checks <= c:
        groups = _partition([1.0] * c, n_checks) if n_checks else []
    else:
        groups = [[j * c // n_checks] for j in range(n_checks)]

    report(40, "Selecting key points")
    for i, screen in enumerate(planned):
        reserve = sum(1 for g in groups if g[-1] == i) if inline else 0
        if not has_intro and i == 0:
            reserve += len(intro_blocks)
        screen.items = _content_blocks(
            e, screen, _MAX_BLOCKS - reserve, force_headings=not has_intro
        )

    report(70, "Writing questions")
    check_qs: list[tuple[int, _Question]] = []
    for k, g in enumerate(groups):
        units = list(dict.fromkeys(seg.unit for i in g for seg in planned[i].segments))
        primary = [s for i in g for s in planned[i].shown]
        fallback = [
            s for i in g for seg in planned[i].segments for ch in seg.chunks
            for s in d.chunks[ch].sentences
        ]
        kinds = _rotation(k)
        q = e.make_question(kinds, sorted(primary, key=lambda s: (-d.sentences[s].score, s)),
                            fallback, units)
        if q is not None:
            check_qs.append((g[-1], q))

    final_qs: list[_Question] = []
    if has_final:
        n_final = max(2, 3 - len(check_qs))
        asked = Counter(u for _, q in check_qs for u in q.units)
        all_units = list(range(len(d.units)))
        mr = e.make_question(("multiple_response",), [], [], all_units)
        if mr is not None:
            final_qs.append(mr)
        for k in range(n_final * 2):
            if len(final_qs) >= n_final:
                break
            kinds = _rotation(2 * k + 1)  # no multiple response: at most one was asked
            for u in sorted(all_units, key=lambda x: (asked[x], x)):
                sents = [s for ch in d.units[u].chunks for s in d.chunks[ch].sentences]
                q = e.make_question(kinds, [], sents, [u])
                if q is not None:
                    final_qs.append(q)
                    asked[u] += 1
                    break
            else:
                break

    # Assemble.
    if has_intro:
        b.add(course_title, intro_blocks)
    for i, screen in enumerate(planned):
        items = screen.items
        if not has_intro and i == 0:
            items = intro_blocks + items
        mine = [q for at, q in check_qs if at == i]
        if inline:
            items = items + [("question", q, q.sources) for q in mine]
        b.add(screen.title, items)
        if not inline:
            for q in mine:
                topics = ", ".join(tr.quote(d.units[u].title) for u in q.units)
                b.add(tr("check"), [
                    ("text", tr("check_intro", topics=topics), q.sources),
                    ("question", q, q.sources),
                ])
    if has_final:
        # A recap only for a course long enough to need one.
        final_blocks = _summary(e, planned, tr) if len(planned) >= 3 else []
        final_title = tr("summary") if final_blocks else tr("check")
        if final_qs:
            if final_blocks:
                sources = [src for q in final_qs for src in q.sources]
                final_blocks.append(("heading", tr("check"), sources))
            final_blocks += [("question", q, q.sources) for q in final_qs]
        if final_qs or final_blocks:
            b.add(final_title, final_blocks)
    report(100, "Done")
    return _finish(b, course_title, lang, doc_title, tr)


def _rotation(k: int) -> tuple[str, ...]:
    if k % 3 == 2:
        return ("multiple_response", "multiple_choice", "true_false")
    if k % 2 == 0:
        return ("multiple_choice", "true_false")
    return ("true_false", "multiple_choice")


def _summary(
    e: _Engine, planned: list[_ContentScreen], tr: _Tr
) -> list[_Item]:
    d = e.d
    best: dict[int, int] = {}
    for screen in planned:
        for s in screen.shown:
            u = d.sentences[s].unit
            cur = best.get(u)
            if not d.sentences[s].fragment and (
                cur is None or (d.sentences[s].score, -s) > (d.sentences[cur].score, -cur)
            ):
                best[u] = s
    units = sorted(best)
    if len(units) > 10:
        units = [units[round(i * (len(units) - 1) / 9)] for i in range(10)]
    if not units:
        return []
    picks = [best[u] for u in units]
    md = "\n".join(f"- {d.sentences[s].text}" for s in picks)
    sources = [e.sid(s) for s in picks]
    return [("heading", tr("takeaways"), sources), ("text", md, sources)]


def _finish(b: _Builder, title: str, lang: str, doc_title: str, tr: _Tr) -> CourseContent:
    if not b.screens:
        b.add(title, [("text", tr("empty"), [])])
    description = tr("based_on", title=tr.quote(doc_title))
    return CourseContent(
        title=title,
        language=lang,
        description=_clip(description, 5000),
        screens=b.screens,
    )
