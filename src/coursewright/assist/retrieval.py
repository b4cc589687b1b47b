"""Retrieval for the tutor: BM25 over one approved version's passages, built in memory.

Design note
-----------
* **What is searched.** The version's learner-visible text — screen titles, headings,
  text and callout blocks, image descriptions — and the source passages (document
  chunks) its blocks cite. Question blocks are left out on purpose: a tutor that quotes
  the quiz would hand out its answers.
* **No plaintext at rest.** Passages are decrypted from the version's content and its
  chunks when an index is built and live only in this process's memory: a small LRU of
  ``CACHE_SIZE`` versions, each entry also expiring after ``CACHE_SECONDS`` so text
  purged by retention (or an organisation deleted with its key) does not linger. The
  cache key includes the content hash and whether the source text was purged.
* **Ranking.** Okapi BM25 (k1 = 1.5, b = 0.75) over word tokens, lower-cased, with a
  crude, language-neutral stemmer: words are cut to their first seven characters
  ("passwords" and "password" meet). Small stop-word lists keep "the"/"der"/"le"/"el"
  from deciding anything. It is exact, fast (a 500-screen course indexes in
  milliseconds) and explainable; it is not semantic search, so a question phrased in
  entirely different words than the course can miss.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from coursewright.courses.content import (
    CalloutBlock,
    CourseContent,
    HeadingBlock,
    ImageBlock,
    TextBlock,
)
from coursewright.courses.models import CourseVersion
from coursewright.ingest.models import Document, DocumentChunk

CACHE_SIZE = 16
CACHE_SECONDS = 300
MAX_PASSAGE_CHARS = 1200
K1 = 1.5
B = 0.75
STEM = 7

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP_WORDS = """
a an and are as at be by for from has have how i in is it of on or that the this to was
what when where which who why will with you your can do does not no
der die das und ist ein eine zu den dem des im in mit von für auf wie was wer nicht
le la les un une des et est du de en à au aux que qui pour dans sur pas ce
el la los las un una y es de del en que por para con no se lo como
"""
_STOP = frozenset(_STOP_WORDS.split())
_MD = re.compile(r"(!?\[([^\]]*)\]\([^)]*\))|[*_`#>|~]+")


def tokens(text: str) -> list[str]:
    return [w[:STEM] for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _STOP]


def plain(markdown: str) -> str:
    """Markdown to readable plain text (links keep their text)."""
    text = _MD.sub(lambda m: m.group(2) or " " if m.group(1) else " ", markdown)
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{3,}", "\n\n", text)).strip()


@dataclass(frozen=True)
class Passage:
    ref: str  # "P1", "P2", … — what the model cites
    kind: Literal["screen", "source"]
    text: str
    screen_id: str
    screen_title: str
    block_id: str = ""
    chunk_id: str = ""
    section: str = ""


@dataclass
class Hit:
    passage: Passage
    score: float


@dataclass
class Index:
    passages: list[Passage]
    built_at: float = field(default_factory=time.monotonic)
    _tf: list[Counter[str]] = field(default_factory=list)
    _len: list[int] = field(default_factory=list)
    _df: Counter[str] = field(default_factory=Counter)
    _avg: float = 0.0

    def __post_init__(self) -> None:
        for p in self.passages:
            terms = tokens(f"{p.screen_title} {p.section} {p.text}")
            tf = Counter(terms)
            self._tf.append(tf)
            self._len.append(len(terms))
            self._df.update(tf.keys())
        self._avg = (sum(self._len) / len(self._len)) if self._len else 0.0

    def search(self, query: str, k: int = 5) -> list[Hit]:
        terms = set(tokens(query))
        n = len(self.passages)
        if not terms or not n:
            return []
        hits = []
        for i, tf in enumerate(self._tf):
            score = 0.0
            for term in terms:
                f = tf.get(term, 0)
                if not f:
                    continue
                df = self._df[term]
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                norm = K1 * (1 - B + B * self._len[i] / (self._avg or 1))
                score += idf * f * (K1 + 1) / (f + norm)
            if score > 0:
                hits.append(Hit(self.passages[i], score))
        hits.sort(key=lambda h: (-h.score, int(h.passage.ref[1:])))
        return hits[:k]


def _windows(text: str) -> list[str]:
    """Paragraph-aligned pieces of at most MAX_PASSAGE_CHARS (longer paragraphs cut)."""
    pieces: list[str] = []
    current = ""
    for para in (p.strip() for p in text.split("\n\n")):
        if not para:
            continue
        while len(para) > MAX_PASSAGE_CHARS:
            cut = para.rfind(" ", 0, MAX_PASSAGE_CHARS)
            cut = cut if cut > MAX_PASSAGE_CHARS // 2 else MAX_PASSAGE_CHARS
            if current:
                pieces.append(current)
                current = ""
            pieces.append(para[:cut].strip())
            para = para[cut:].strip()
        if current and len(current) + len(para) + 2 > MAX_PASSAGE_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current:
        pieces.append(current)
    return pieces


def passages_of(content: CourseContent, chunks: list[DocumentChunk]) -> list[Passage]:
    """Every searchable passage of ``content`` and the cited ``chunks``, numbered."""
    found: list[tuple[str, str, str, str, str, str, str]] = []
    cited_by: dict[str, tuple[str, str]] = {}
    for screen in content.screens:
        heading = ""
        for block in screen.blocks:
            for source in block.provenance.sources:
                cited_by.setdefault(source, (screen.id, screen.title))
            if isinstance(block, HeadingBlock):
                heading = block.text
                continue
            if isinstance(block, TextBlock | CalloutBlock):
                body = plain(block.markdown)
            elif isinstance(block, ImageBlock):
                body = " ".join(t for t in (block.caption, block.alt) if t)
            else:
                continue  # questions: never searched (see the module note)
            for piece in _windows(body):
                found.append(("screen", piece, screen.id, screen.title, block.id, "",
                              heading))
    for chunk in chunks:
        screen_id, screen_title = cited_by.get(chunk.chunk_id, ("", ""))
        section = " › ".join(str(s) for s in (chunk.section_path or []))
        for piece in _windows(plain(chunk.text)):
            found.append(("source", piece, screen_id, screen_title, "", chunk.chunk_id,
                          section))
    return [Passage(ref=f"P{i}", kind=kind, text=text, screen_id=sid,  # type: ignore[arg-type]
                    screen_title=stitle, block_id=bid, chunk_id=cid, section=section)
            for i, (kind, text, sid, stitle, bid, cid, section) in enumerate(found, start=1)]


def _cited_chunks(version: CourseVersion, content: CourseContent) -> list[DocumentChunk]:
    cited = {s for screen in content.screens for b in screen.blocks
             for s in b.provenance.sources}
    document_id = version.course.source_document_id
    if not cited or document_id is None:
        return []
    return list(DocumentChunk.objects.filter(org_id=version.org_id, document_id=document_id,
                                             chunk_id__in=cited).order_by("ordinal"))


_lock = threading.Lock()
_cache: OrderedDict[tuple[int, str, bool], Index] = OrderedDict()


def index_for(version: CourseVersion, content: CourseContent) -> Index:
    """The version's index, from the in-process cache when fresh (see the module note)."""
    document_id = version.course.source_document_id
    purged = document_id is not None and Document.objects.filter(
        pk=document_id, org_id=version.org_id, text_purged=True).exists()
    key = (version.pk, version.content_sha256, purged)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
        if cached is not None and now - cached.built_at < CACHE_SECONDS:
            _cache.move_to_end(key)
            return cached
    chunks = [] if purged else _cited_chunks(version, content)
    index = Index(passages_of(content, chunks))
    with _lock:
        for stale in [k for k in _cache if k[0] == version.pk]:
            del _cache[stale]
        _cache[key] = index
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return index


def forget(version_id: int | None = None) -> None:
    """Drop cached indexes (one version's, or all)."""
    with _lock:
        for key in [k for k in _cache if version_id is None or k[0] == version_id]:
            del _cache[key]
