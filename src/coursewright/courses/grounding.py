"""The grounding check: is each sentence an AI wrote supported by the passages it cites?

Design note
-----------
An AI-made block carries ``provenance.sources``, the ids of the document chunks it was
drafted from. Before a reviewer approves a version, every sentence a learner would read
in an AI-made block (text and callout Markdown, question prompts, correct choices,
feedback) is scored against the text of the chunks *that block* cites, and the ones that
are not supported are flagged for the reviewer. The check is pure (no database): the
caller passes the chunk texts (``courses.actions`` loads them, see ``cited_passage``).

What a flag means, and what the absence of flags guarantees:

* **Lexical support, not truth.** A sentence is supported when at least
  ``SUPPORT_THRESHOLD`` of its content words occur in the cited passages *and* every
  number (digits or a number word: "ten" = "10") and every name or acronym in it does.
  That catches invented facts, names and figures, a wrong number or date, and text
  whose cited chunk is about something else. It cannot see meaning: a sentence that
  reorders the source's own words into a false statement, or flips one word of a long
  sentence ("must" for "must not"), passes; a faithful paraphrase in other words is
  flagged. Negations and "must/never/always" count as content words, so a dropped or
  added "not" costs as much as a noun. A passing sentence is *consistent with the
  wording of its source*, nothing more; the reviewer still reads it.
* **Same language only.** Words are compared as written: a course in another language
  than its source document (a translation) has every sentence flagged. Translations
  need a bilingual reviewer; the flags say so rather than pass them silently.
* **No source, no support.** A block citing no chunk is ``unsourced`` (every sentence is
  flagged): prompt-only generation produces those. A block whose cited chunks cannot be
  loaded (an id the AI made up, a deleted document, text purged by retention) is
  ``source_missing``.
* **Scaffolding is not a claim.** Engines add fixed phrases ("True or false?", "The
  source says: …"). ``SCAFFOLDING`` lists them per language as templates; a sentence
  that matches one is reduced to its slots (the quote, the term, the section title),
  and only those are checked. Sentences without a content word are not checked, nor
  is a sentence (or slot) that is just the title of the source document or of one of its
  sections: a list of topics names parts of the source, it claims nothing.
* **What is deliberately not checked.** Headings, screen titles and image text (titles
  and labels, not claims); a free-text question's rubric (instructions to the grader);
  wrong choices of a question and the statement of a true/false question whose answer
  is "false" (they are meant to be untrue; the feedback that states the truth is
  checked); blocks written by a person. A model answer is checked.

Scoring, so that a reviewer can follow it: text is lower-cased and accent-folded
("Überprüfung" = "uberprufung"), split into words; the stop words of the course's
language (en, de, fr, es) are dropped; each word is lightly stemmed (a short list of
inflection endings per language) and matches a source word with the same stem, or one
that starts with it or that it starts with (at least ``PREFIX_MIN`` letters:
"extinguisher" matches "extinguishers", "Feuerlöscher" matches "Feuerlöscherprüfung").
Numbers match by value ("2,500" = "2500", "1,5" = "1.5"; a date's parts count on their
own). A name is a capitalised word that does not start a sentence (not in German,
which capitalises every noun) or an acronym. The score is the share of distinct content
words and numbers found; the flag lists the ones that were not. It is linear in the
size of the text and needs no model or network.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coursewright.courses.content import (
    Block,
    CalloutBlock,
    CourseContent,
    QuestionBase,
    TextBlock,
    TrueFalseBlock,
)

SUPPORT_THRESHOLD = 0.75  # share of a sentence's content words that must be in its sources
PREFIX_MIN = 5  # a stem this long matches source words that start with it
METHOD = "lexical-v1"  # stored with the flags, so a later method can tell them apart

UNSUPPORTED = "unsupported"  # too few of its words are in the cited passages
NUMBERS = "numbers"  # a number or date in it is not in the cited passages
NAMES = "names"  # a name or acronym in it is not in the cited passages
UNSOURCED = "unsourced"  # the block cites no passage
SOURCE_MISSING = "source_missing"  # the cited passages are not available

REASONS = {
    UNSUPPORTED: "not supported by the cited source",
    NUMBERS: "a number or date in it is not in the cited source",
    NAMES: "a name in it is not in the cited source",
    UNSOURCED: "no source: the AI cited nothing for this block",
    SOURCE_MISSING: "the cited source is not available",
}


@dataclass(frozen=True, slots=True)
class Flag:
    """A sentence of an AI-made block that its cited passages do not support."""

    screen_id: str
    block_id: str
    sentence: str  # as the learner reads it (Markdown markers removed)
    score: float  # share of its content words and numbers found in the sources, 0..1
    sources: tuple[str, ...]  # the chunk ids the block cites
    reason: str = UNSUPPORTED  # one of REASONS
    missing: tuple[str, ...] = ()  # its words and numbers not found in the sources

    @property
    def reason_label(self) -> str:
        return REASONS.get(self.reason, self.reason)

    def to_json(self) -> dict[str, Any]:
        return {"screen_id": self.screen_id, "block_id": self.block_id,
                "sentence": self.sentence, "score": self.score, "sources": list(self.sources),
                "reason": self.reason, "missing": list(self.missing)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Flag:
        return cls(screen_id=str(data["screen_id"]), block_id=str(data["block_id"]),
                   sentence=str(data["sentence"]), score=float(data["score"]),
                   sources=tuple(map(str, data.get("sources", ()))),
                   reason=str(data.get("reason", UNSUPPORTED)),
                   missing=tuple(map(str, data.get("missing", ()))))


@dataclass(frozen=True, slots=True)
class Support:
    """How well some passages support a sentence."""

    score: float  # share of its distinct content words, names and numbers found
    missing: tuple[str, ...] = ()  # those not found, as written
    missing_numbers: tuple[str, ...] = ()
    missing_names: tuple[str, ...] = ()

    @property
    def supported(self) -> bool:
        return self.reason == ""

    @property
    def reason(self) -> str:
        """Why it is not supported ("" if it is): the score first, then exact terms."""
        if self.score < SUPPORT_THRESHOLD:
            return UNSUPPORTED
        if self.missing_numbers:
            return NUMBERS
        if self.missing_names:
            return NAMES
        return ""


# --------------------------------------------------------------------------- public API


def check_content(content: CourseContent, passages: Mapping[str, str], *,
                  titles: Iterable[str] = ()) -> list[Flag]:
    """Flags for the unsupported sentences of ``content``'s AI-made blocks, in reading
    order. ``passages`` maps a chunk id to its text (see ``cited_passage``); ids a block
    cites that are not in it count as unavailable. ``titles`` are the source document's
    title and section titles: a sentence that is just one of them (a topic list, "Test
    what you learned about <section>") names a part of the source, it claims nothing."""
    language = content.language
    known_titles = title_keys(titles)
    indexes: dict[tuple[str, ...], _Index] = {}
    flags: list[Flag] = []
    for screen in content.screens:
        for block in screen.blocks:
            if block.provenance.kind != "ai":
                continue
            cited = tuple(dict.fromkeys(block.provenance.sources))
            available = tuple(c for c in cited if c in passages)
            index = None
            if available:
                index = indexes.get(available)
                if index is None:
                    index = indexes[available] = _Index(
                        (passages[c] for c in available), language)
            seen: set[str] = set()
            for sentence, claim in block_claims(block, language, titles=known_titles):
                if sentence in seen:
                    continue
                seen.add(sentence)
                if not cited or index is None:
                    flags.append(Flag(screen.id, block.id, sentence, 0.0, cited,
                                      UNSOURCED if not cited else SOURCE_MISSING))
                    continue
                support = index.support(claim)
                if not support.supported:
                    flags.append(Flag(screen.id, block.id, sentence, support.score, cited,
                                      support.reason, support.missing))
    return flags


def score_sentence(sentence: str, passages: Iterable[str], *, language: str = "en") -> Support:
    """How well ``passages`` support one sentence (scaffolding is not removed here)."""
    return _Index(passages, language).support(sentence)


def cited_passage(text: str, *, headings: Sequence[str] = (), title: str = "") -> str:
    """The text a chunk is checked against: the document title and the headings above
    the chunk belong to it (an AI may name the section it is drawing from)."""
    context = [t for t in (title, *headings) if t]
    return "\n".join([*context, text]) if context else text


def block_claims(block: Block, language: str = "en", *,
                 titles: frozenset[tuple[str, ...]] = frozenset()) -> list[tuple[str, str]]:
    """The sentences of a block that the check scores, as ``(sentence, claim)``: the
    sentence as a learner reads it and the part of it that must be supported (the whole
    sentence, or the slots of a scaffolding template). Sentences with nothing to check
    (scaffolding, titles in ``titles``, see ``title_keys``) are left out."""
    out: list[tuple[str, str]] = []
    for text in _learner_texts(block):
        for sentence in sentences(text):
            claim = _claim(sentence, titles)
            if claim and _has_content(claim, language):
                out.append((sentence, claim))
    return out


def sentences(markdown: str) -> list[str]:
    """The sentences of a Markdown text, Markdown markers removed. Each list item, table
    row and heading is on its own; paragraphs are split at sentence ends."""
    out: list[str] = []
    for unit in _units(markdown):
        out.extend(_split(_inline(unit)))
    return out


# --------------------------------------------------------------------------- scaffolding

# Fixed phrases course engines add around extracted text, per language, one sentence per
# template; ``{name}`` is a slot whose content is checked, ``{n}`` a count that is not.
# The offline engine's phrases (coursewright.ai.offline, _STRINGS) are all here; other
# engines that add fixed phrases should add them too (tests/courses/test_grounding.py
# proves the offline engine's drafts of real documents raise no flag).
SCAFFOLDING: dict[str, tuple[str, ...]] = {
    "en": (
        "Course", "Overview", "This course covers the following topics:",
        "Drafted from {title}.", "Part {n}", "…and {n} more", "...and {n} more",
        "Check your understanding", "Test what you have learned about {topics}.",
        "Summary and quiz", "Key takeaways", "Which term completes the sentence?",
        "True or false?", "Which of these are covered in {section}?",
        "Select all that apply.", "Correct.", "Not quite.", "The statement is true.",
        "The statement is false.", "The answer is {term}.", "The source says: {quote}",
        "{section} covers: {items}.", "No text could be extracted from this document.",
    ),
    "de": (
        "Kurs", "Überblick", "Dieser Kurs behandelt die folgenden Themen:",
        "Erstellt aus {title}.", "Teil {n}", "…und {n} weitere", "...und {n} weitere",
        "Überprüfen Sie Ihr Wissen", "Testen Sie, was Sie über {topics} gelernt haben.",
        "Zusammenfassung und Quiz", "Das Wichtigste in Kürze",
        "Welcher Begriff vervollständigt den Satz?", "Richtig oder falsch?",
        "Was davon wird in {section} behandelt?",
        "Wählen Sie alle zutreffenden Antworten aus.", "Richtig.", "Leider nicht.",
        "Die Aussage ist richtig.", "Die Aussage ist falsch.", "Die Antwort lautet {term}.",
        "In der Quelle steht: {quote}", "{section} behandelt: {items}.",
        "Aus diesem Dokument konnte kein Text gewonnen werden.",
    ),
    "fr": (
        "Cours", "Vue d’ensemble", "Ce cours aborde les thèmes suivants :",
        "Rédigé à partir de {title}.", "Partie {n}", "…et {n} de plus", "...et {n} de plus",
        "Vérifiez vos connaissances", "Testez ce que vous avez appris sur {topics}.",
        "Résumé et quiz", "À retenir", "Quel terme complète la phrase ?", "Vrai ou faux ?",
        "Lesquels de ces éléments sont traités dans {section} ?",
        "Sélectionnez toutes les bonnes réponses.", "Correct.", "Pas tout à fait.",
        "L’affirmation est vraie.", "L’affirmation est fausse.", "La réponse est {term}.",
        "La source indique : {quote}", "{section} traite de : {items}.",
        "Aucun texte n’a pu être extrait de ce document.",
    ),
    "es": (
        "Curso", "Visión general", "Este curso trata los siguientes temas:",
        "Elaborado a partir de {title}.", "Parte {n}", "…y {n} más", "...y {n} más",
        "Comprueba lo que has aprendido", "Pon a prueba lo que has aprendido sobre {topics}.",
        "Resumen y cuestionario", "Ideas clave", "¿Qué término completa la frase?",
        "¿Verdadero o falso?", "¿Cuáles de estos elementos se tratan en {section}?",
        "Selecciona todas las respuestas correctas.", "Correcto.", "No exactamente.",
        "La afirmación es verdadera.", "La afirmación es falsa.", "La respuesta es {term}.",
        "La fuente dice: {quote}", "{section} trata: {items}.",
        "No se pudo extraer texto de este documento.",
    ),
}

_SLOT = re.compile(r"\{(\w+)\}")
_QUOTED = re.compile(r"[“„«\"]\s*(.+?)\s*[”“»\"]")


def _spaces(text: str) -> str:
    return " ".join(text.replace("’", "'").split())


def _template(template: str) -> re.Pattern[str]:
    def fixed(text: str) -> str:
        return r"\s*".join(re.escape(w) for w in text.replace("’", "'").split(" "))

    parts: list[str] = []
    last = 0
    for m in _SLOT.finditer(template):
        parts.append(fixed(template[last:m.start()]))
        parts.append(r"\d+" if m.group(1) == "n" else f"(?P<{m.group(1)}>.+?)")
        last = m.end()
    parts.append(fixed(template[last:]))
    return re.compile("".join(parts), re.IGNORECASE)


_TEMPLATES = tuple(dict.fromkeys(
    _template(t) for templates in SCAFFOLDING.values() for t in templates))


def _scaffold_slots(sentence: str) -> list[str] | None:
    """The checked slots of the template ``sentence`` is, or None if it is none."""
    text = _spaces(sentence)
    for pattern in _TEMPLATES:
        m = pattern.fullmatch(text)
        if m is not None:
            return [v for v in m.groupdict().values() if v]
    return None


def title_keys(titles: Iterable[str]) -> frozenset[tuple[str, ...]]:
    """Titles as they are compared: folded words and numbers, punctuation ignored."""
    return frozenset(key for key in map(_title_key, titles) if key)


def _title_key(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[^\W_]+", _fold(text)))


def _claim(sentence: str, titles: frozenset[tuple[str, ...]] = frozenset()) -> str:
    """What must be supported in ``sentence``: all of it, or the slots of its template
    (a slot that is itself scaffolding, like a "Part 2" section title, drops out).
    A sentence or slot that is one of the source's ``titles`` claims nothing."""
    if titles and _title_key(sentence) in titles:
        return ""
    slots = _scaffold_slots(sentence)
    if slots is None:
        return sentence
    pieces: list[str] = []
    for slot in slots:
        quoted = _QUOTED.findall(slot) or [slot]
        pieces.extend(q for q in quoted
                      if _scaffold_slots(q) is None and _title_key(q) not in titles)
    return " ".join(pieces)


# --------------------------------------------------------------------------- what is read


def _learner_texts(block: Block) -> Iterator[str]:
    if isinstance(block, TextBlock | CalloutBlock):
        yield block.markdown
    if not isinstance(block, QuestionBase):
        return  # headings and images: titles and labels, not claims
    if not isinstance(block, TrueFalseBlock) or block.answer:
        yield block.prompt
    elif "\n" in block.prompt:
        # "True or false?\n\n> statement": the statement is meant to be untrue, but
        # what comes before it (the question stem) is read as given.
        yield block.prompt.split("\n", 1)[0]
    for choice in getattr(block, "choices", ()):  # wrong choices are meant to be wrong
        if choice.correct:
            yield choice.text
        if choice.feedback:
            yield choice.feedback
    model_answer = getattr(block, "model_answer", "")  # a free-text question's
    if model_answer:
        yield str(model_answer)
    yield block.feedback.correct
    yield block.feedback.incorrect


# --------------------------------------------------------------------------- Markdown

def _set_of(words: str) -> frozenset[str]:
    return frozenset(words.split())


_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")
_ITEM = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s+(.*)$")
_TABLE_SEP = re.compile(r"^\|?[\s:|-]*-[\s:|-]*\|?$")
_QUOTE = re.compile(r"^(?:>\s?)+")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_EMPHASIS = re.compile(r"\*+|`+|~~")
_BOUNDARY = re.compile(
    r"([.!?…][\"'”’»)\]]*)\s+(?=[\"'“‘„«(\[¿¡]*[A-ZÀ-ÖØ-Þ0-9])")
_NUMBERED = re.compile(r"\d+(?:\.\d+)*\.")
_INITIALS = re.compile(r"(?:\w\.)+")
_ABBREVIATIONS = _set_of("""
    e.g. i.e. etc. vs. cf. dr. mr. mrs. ms. prof. st. no. nr. fig. approx. ca. inc. ltd.
    co. corp. jr. sr. vol. pp. p. sec. ch. art. abs. z.b. bzw. u.a. d.h. usw. evtl. ggf.
    vgl. inkl. mme. mlle. env. p.ex. sra. dra. núm. pág.
""")


def _units(markdown: str) -> Iterator[str]:
    """Paragraphs, list items, table rows and headings of a Markdown text."""
    paragraph: list[str] = []

    def flush() -> Iterator[str]:
        if paragraph:
            yield " ".join(paragraph)
            paragraph.clear()

    for raw in markdown.splitlines():
        line = _QUOTE.sub("", raw.strip()).strip()
        if not line or _FENCE.match(line):
            yield from flush()
            continue
        if line.startswith("|"):
            yield from flush()
            if not _TABLE_SEP.match(line):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                yield " | ".join(c for c in cells if c)
            continue
        heading = _HEADING.match(line)
        if heading:
            yield from flush()
            yield heading.group(1)
            continue
        item = _ITEM.match(line)
        if item:
            yield from flush()
            line = item.group(1)
        paragraph.append(line)
    yield from flush()


def _inline(text: str) -> str:
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _ESCAPE.sub(lambda m: "\x00" if m.group(1) == "*" else m.group(1), text)
    text = _EMPHASIS.sub("", text).replace("\x00", "*")
    return " ".join(text.split())


def _split(text: str) -> list[str]:
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end(1)
        last = text[start:end].rsplit(None, 1)[-1].lower().lstrip("(\"'“‘„«")
        if (last in _ABBREVIATIONS or _NUMBERED.fullmatch(last)
                or (_INITIALS.fullmatch(last) and len(last) <= 4)):
            continue  # "e.g.", "3." of a numbered title, initials
        out.append(text[start:end].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


# --------------------------------------------------------------------------- words

_WORD = re.compile(r"[^\W\d_]+")
_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*")
_GROUPED = re.compile(r"\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*")
_FOLD = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d",
                       "þ": "th", "ı": "i"})


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_FOLD)


def _wordset(words: str) -> frozenset[str]:
    return frozenset(_fold(w) for w in words.split())


# Function words, and the verbs that make a sentence a question or an exercise ("explain",
# "choose"): negations and "must/never/always" are content (see the note).
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": _wordset("""
        a about above after again against all almost also although am among an and
        another any anyone anything are around as at be because been before being below
        between both but by can cannot could did do does doing done down during each
        either else enough etc even ever every few for from further had has have having
        he her here hers herself him himself his how however i if in into is it its itself
        just least less let like many may me might more most much my myself near neither
        nor now of off often on once onto or other others otherwise our ours ourselves out
        over own per perhaps please rather same shall she should since so some something
        such than that the their theirs them themselves then there therefore these they
        this those though through thus to too toward towards under until up upon us very
        via was we were what whatever when where whether which while who whom whose why
        will with within would yes yet you your yours yourself yourselves isn aren wasn
        weren doesn didn hasn haven hadn won wouldn shouldn couldn ll re ve don
        explain describe identify choose select summarise summarize
    """),
    "de": _wordset("""
        aber alle allem allen aller alles als also am an andere anderem anderen anderer
        anderes auch auf aus bei beim bin bis bist da dadurch daher damit dann darauf
        daran darin darum das dass dein deine dem den denn der deren des dessen deshalb
        dich die dies diese diesem diesen dieser dieses dir doch dort du durch ein eine
        einem einen einer eines er es etwa euch euer für gegen gewesen habe haben hat
        hatte hatten hier hin ich ihm ihn ihnen ihr ihre ihrem ihren ihrer ihres im in
        indem ins ist ja jede jedem jeden jeder jedes jedoch jene jenem jenen jener jenes
        kann können konnte man manche mein meine mich mir mit nach nun nur ob oder ohne
        sehr sein seine seinem seinen seiner seines seit sich sie sind so solche soll
        sollen sollte sondern sonst über um und uns unser unsere unter viel vom von vor
        während war waren was weil welche welchem welchen welcher welches wenn wer werde
        werden wie wieder wir wird wo wurde wurden zu zum zur zwar zwischen
        erklären erläutern beschreiben nennen wählen
    """),
    "fr": _wordset("""
        à au aux avec ce ceci cela celle celles celui ces cet cette chaque comme dans de
        des du elle elles en entre est et être eux il ils je la le les leur leurs lui ma
        mais me même mes moi mon nos notre nous on ou où par pour qu que quel quelle
        quelles quels qui sa sans se ses si son sont sur ta te tes toi ton tous tout
        toute toutes très tu un une vos votre vous y été était étaient sera seront avoir
        avez avons ont ai peut peuvent donc ainsi aussi plus alors car lorsque quand dont
        ne oui expliquez décrivez citez choisissez sélectionnez
    """),
    "es": _wordset("""
        a al algo algún alguna algunas alguno algunos ante antes como con contra cual
        cuales cuando de del desde donde durante e el él ella ellas ellos en entre era
        eran es esa esas ese eso esos esta está están estas este esto estos fue fueron ha
        han hasta hay la las le les lo los más me mi mis muy nos nosotros o os otra otras
        otro otros para pero poco por porque que qué quien quienes se sea ser si sí sin
        sobre su sus también te tiene tienen todo todos tu tus u un una unas uno unos
        usted ustedes y ya puede pueden cada explica describe nombra elige selecciona
    """),
}

# Inflection endings stripped once (longest first), keeping a stem of 3+ letters; light
# on purpose: over-stemming only makes the check more lenient.
_SUFFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("ments", ""), ("ment", ""), ("ings", ""), ("ing", ""), ("ness", ""),
           ("ions", ""), ("ion", ""), ("edly", ""), ("ies", "y"), ("ied", "y"),
           ("ers", ""), ("er", ""), ("ed", ""), ("es", ""), ("ly", ""), ("s", ""), ("e", "")),
    "de": (("ungen", ""), ("ung", ""), ("heiten", ""), ("heit", ""), ("keiten", ""),
           ("keit", ""), ("lichen", ""), ("licher", ""), ("liches", ""), ("lich", ""),
           ("ern", ""), ("em", ""), ("en", ""), ("er", ""), ("es", ""), ("e", ""), ("n", ""),
           ("s", "")),
    "fr": (("issements", ""), ("issement", ""), ("ements", ""), ("ement", ""),
           ("ations", ""), ("ation", ""), ("euses", ""), ("euse", ""), ("eux", ""),
           ("ives", ""), ("ive", ""), ("ifs", ""), ("if", ""), ("es", ""), ("e", ""),
           ("s", ""), ("x", "")),
    "es": (("aciones", ""), ("acion", ""), ("amientos", ""), ("amiento", ""),
           ("imientos", ""), ("imiento", ""), ("mente", ""), ("idades", ""), ("idad", ""),
           ("es", ""), ("os", ""), ("as", ""), ("o", ""), ("a", ""), ("s", "")),
}


def _stem(word: str, language: str) -> str:
    for suffix, replacement in _SUFFIXES.get(language, _SUFFIXES["en"]):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + replacement
    return word


# Number words count as the number ("ten" = "10"). "one" and its kin are left out: they
# are also articles and pronouns.
_NUMBER_WORDS: dict[str, dict[str, str]] = {
    lang: {_fold(w): str(i) for i, w in enumerate(words.split()) if w != "-"}
    for lang, words in {
        "en": "zero - two three four five six seven eight nine ten eleven twelve",
        "de": "null - zwei drei vier fünf sechs sieben acht neun zehn elf zwölf",
        "fr": "zéro - deux trois quatre cinq six sept huit neuf dix onze douze",
        "es": "cero - dos tres cuatro cinco seis siete ocho nueve diez once doce",
    }.items()
}
_STARTS = frozenset(":;“„«\"'‘(–—-[¿¡")


@dataclass(slots=True)
class _Terms:
    words: dict[str, str]  # stem -> the word as written (first occurrence)
    numbers: dict[str, set[str]]  # the number as written -> what it may stand for
    names: set[str]  # stems of the words that are names or acronyms


def _terms(text: str, language: str) -> _Terms:
    """The content of ``text``: words (stop words dropped, stemmed), numbers and names.

    A name is a capitalised word that does not start a sentence (English, French and
    Spanish; German capitalises every noun) or an acronym (any language)."""
    stop = STOP_WORDS.get(language, STOP_WORDS["en"])
    number_words = _NUMBER_WORDS.get(language, _NUMBER_WORDS["en"])
    capitalised_names = language != "de"
    terms = _Terms({}, {}, set())
    for m in _NUMBER.finditer(text):
        terms.numbers.setdefault(m.group(0), _readings(m.group(0)))
    for m in _WORD.finditer(text):
        word = m.group(0)
        folded = _fold(word)
        if folded in number_words:
            terms.numbers.setdefault(word, {number_words[folded]})
            continue
        if len(folded) < 2 or folded in stop:
            continue
        stem = _stem(folded, language)
        terms.words.setdefault(stem, word)
        before = text[:m.start()].rstrip()
        if (word.isupper() and len(word) > 1) or (
                capitalised_names and word[0].isupper() and before
                and before[-1] not in _STARTS and not _ends_sentence(before)):
            terms.names.add(stem)
    return terms


def _ends_sentence(text: str) -> bool:
    return text.rstrip("\"'”’»)]").endswith((".", "!", "?", "…"))


def _readings(number: str) -> set[str]:
    """The values a written number may stand for ("2,500" is 2500; "1,5" is 1.5)."""
    out = {number.replace(",", ".")}
    if _GROUPED.fullmatch(number):
        out.add(re.sub(r"\D", "", number))
    normalised = set()
    for value in out:
        whole, _, fraction = value.partition(".")
        if "." in fraction:
            normalised.add(value)
            continue
        whole = whole.lstrip("0") or "0"
        fraction = fraction.rstrip("0")
        normalised.add(f"{whole}.{fraction}" if fraction else whole)
    return normalised


def _has_content(text: str, language: str) -> bool:
    terms = _terms(text, language)
    return bool(terms.words or terms.numbers)


class _Index:
    """The words and numbers of some passages, ready to be matched against sentences."""

    def __init__(self, passages: Iterable[str], language: str) -> None:
        self.language = language
        self.stems: set[str] = set()
        self.numbers: set[str] = set()
        for text in passages:
            terms = _terms(text, language)
            self.stems.update(terms.words)
            for written, readings in terms.numbers.items():
                self.numbers |= readings
                # a date or version "03.04.2024" also stands for its parts
                for part in re.split(r"[.,]", written):
                    if part.isdigit():
                        self.numbers |= _readings(part)
        self.ordered = sorted(self.stems)

    def _has(self, stem: str) -> bool:
        if stem in self.stems:
            return True
        if len(stem) < PREFIX_MIN:
            return False
        i = bisect_left(self.ordered, stem)
        if i < len(self.ordered) and self.ordered[i].startswith(stem):
            return True  # a longer source word starts with it
        return any(stem[:k] in self.stems for k in range(PREFIX_MIN, len(stem)))

    def support(self, sentence: str) -> Support:
        terms = _terms(sentence, self.language)
        missing = [stem for stem in terms.words if not self._has(stem)]
        missing_numbers = [n for n, readings in terms.numbers.items()
                           if not readings & self.numbers]
        total = len(terms.words) + len(terms.numbers)
        if total == 0:
            return Support(1.0)
        found = total - len(missing) - len(missing_numbers)
        return Support(
            score=round(found / total, 2),
            missing=(*(terms.words[m] for m in missing), *missing_numbers),
            missing_numbers=tuple(missing_numbers),
            missing_names=tuple(terms.words[m] for m in missing if m in terms.names))
