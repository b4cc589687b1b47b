"""Benchmark: tokens sent to an LLM provider to draft a course from a 300-page document.

Not a test. Run from the repository root:

    .venv/bin/python bench/ai_tokens.py [--pages 300] [--screens 25]

A ~300-page handbook (Markdown: 12 chapters of sections with paragraphs and lists, about
535 words per page) is ingested through the real actions into a fresh embedded-default
installation, then drafted through the AI gateway (policy, privacy guard, ledger) and
the real OpenAI SDK against a local stub provider on 127.0.0.1 that replies instantly
(tests/support/fake_providers.py with the scripted model). Prints the document's own
tokens, the prompt tokens the provider reported (sum of ``usage.prompt_tokens`` over
every call, as the ledger recorded them), their ratio (target: at most 1.3), the number
of provider calls by step, and the wall time. Both token counts use the stub's counter
(word runs and single punctuation marks), so the ratio compares like with like.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

WORDS_PER_PAGE = 535
VOCABULARY = (  # noqa: SIM905 - a word list reads better as prose
    "technician safety inspection turbine inverter harness ladder client depot record "
    "schedule maintenance report cooperative training mentor weather isolation voltage "
    "battery cable panel roof tower blade gearbox bearing torque sensor meter reading "
    "defect repair replacement warranty invoice contract supplier delivery vehicle route "
    "site visit team colleague manager procedure checklist permit risk hazard control "
    "equipment tool calibration certificate audit quality standard regulation policy"
).split()
FILLER = "the a of to and in for with on at by from that this every each our your".split()  # noqa: SIM905


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(VOCABULARY if rng.random() < 0.6 else FILLER)
             for _ in range(rng.randint(9, 22))]
    if rng.random() < 0.2:
        words.insert(rng.randint(1, len(words) - 1), str(rng.randint(2, 400)))
    return " ".join(words).capitalize() + "."


def handbook_markdown(pages: int, seed: int = 11) -> str:
    rng = random.Random(seed)
    target = pages * WORDS_PER_PAGE
    out: list[str] = ["# Field Operations Handbook", ""]
    words, chapter = 0, 0
    while words < target:
        chapter += 1
        out += [f"## Chapter {chapter}: {rng.choice(VOCABULARY).title()} "
                f"{rng.choice(VOCABULARY)}", ""]
        for section in range(1, 9):
            out += [f"### {chapter}.{section} {rng.choice(VOCABULARY).title()} "
                    f"{rng.choice(VOCABULARY)}", ""]
            for _ in range(rng.randint(3, 6)):
                paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(3, 6)))
                out += [paragraph, ""]
                words += len(paragraph.split())
            if rng.random() < 0.5:
                items = [f"- {_sentence(rng)}" for _ in range(rng.randint(3, 6))]
                out += [*items, ""]
                words += sum(len(i.split()) for i in items)
            if words >= target:
                break
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--screens", type=int, default=25)
    args = parser.parse_args()

    from _state import fresh_installation

    org, owner = fresh_installation("ai-tokens")
    from django.conf import settings
    from django.test.utils import override_settings

    from coursewright.ai.actions import run_generation, start_generation
    from coursewright.ai.models import LedgerEntry
    from coursewright.ai.policy import update_policy
    from coursewright.audit.actor import Actor
    from coursewright.ingest.actions import ingest_document
    from tests.support.fake_providers import FakeProviders, count_tokens
    from tests.support.scripted_llm import respond

    actor = Actor.person(owner)
    text = handbook_markdown(args.pages)
    document = ingest_document(org, filename="handbook.md", data=text.encode(), actor=actor)
    chunks = list(document.chunks.all())
    doc_tokens = sum(count_tokens(c.text) for c in chunks)

    with FakeProviders(respond) as fake:
        providers = Path(settings.VAR_DIR) / "ai-providers.toml"
        providers.write_text(f"""
[providers.stub]
kind = "openai"
base_url = "{fake.openai_base_url}"
model = "stub"
regions = ["eu"]
""", encoding="utf-8")
        os.environ.setdefault("COURSEWRIGHT_AI_PROVIDERS_FILE", str(providers))
        with override_settings(AI_PROVIDERS_FILE=str(providers)):
            update_policy(org, actor=actor, providers=["stub"])
            started = time.perf_counter()
            job = start_generation(document, actor=actor, target_screens=args.screens,
                                   enqueue=False)
            job = run_generation(job.pk)
            elapsed = time.perf_counter() - started
        if job.status != "succeeded":
            raise SystemExit(f"generation failed: {job.error}")
        steps: Counter[str] = Counter()
        for request in fake.requests:
            props = tuple(sorted((request.call.json_schema or {}).get("properties", {}))) \
                if request.call else ()
            steps[{"points,summary": "map (section notes)",
                   "description,screens,title": "outline",
                   "screens": "screens"}.get(",".join(props), "other")] += 1
        sent_tokens = sum(LedgerEntry.objects.filter(org=org).values_list(
            "tokens_in", flat=True))
        # The stub counts message text; a real provider also bills the JSON schema.
        import json

        schema_tokens = sum(count_tokens(json.dumps(r.call.json_schema))
                            for r in fake.requests if r.call and r.call.json_schema)
        screens = len(job.course.versions.get().content["screens"])

    print(f"document: {args.pages} pages, {len(chunks):,} passages, "
          f"{doc_tokens:,} tokens")
    print(f"prompt tokens sent (provider usage, all calls): {sent_tokens:,}")
    print(f"ratio sent / document: {sent_tokens / doc_tokens:.3f} (target <= 1.3)")
    print(f"with the JSON schemas counted too (+{schema_tokens:,}): "
          f"{(sent_tokens + schema_tokens) / doc_tokens:.3f}")
    print(f"provider calls: {sum(steps.values())} ("
          + ", ".join(f"{k}: {v}" for k, v in steps.items()) + ")")
    print(f"course: {screens} screens; wall time with an instant stub: {elapsed:.1f} s "
          "(privacy guard, ledger, SDK, JSON parsing and validation)")


if __name__ == "__main__":
    main()
