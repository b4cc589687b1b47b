"""The privacy guard end to end: a document full of personal data is drafted by an LLM
provider; what reaches the provider (recorded by the fake endpoint) holds none of the
structured values, the ledger counts what was redacted, prompts are kept only on opt-in
and then encrypted, and the ledger's retention rule purges it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from coursewright.ai import actions as ai_actions
from coursewright.ai.models import JobStatus, LedgerEntry
from coursewright.ai.policy import update_policy
from coursewright.audit.actor import Actor
from coursewright.ingest.actions import ingest_document
from tests.ai.test_pii import recall, seeded_document, survives
from tests.support.fake_providers import FakeProviders

STRUCTURED = ("email", "phone", "iban", "card", "ip")


def _seeded_markdown() -> tuple[str, Any]:
    doc = seeded_document("en", seed=4242, rounds=4)
    paragraphs = [p for p in doc.text.split("\n\n") if p.strip()]
    body = ["# Staff handbook", ""]
    for i in range(0, len(paragraphs), 6):
        body += [f"## Part {i // 6 + 1}", "", *[p + "\n" for p in paragraphs[i:i + 6]]]
    return "\n".join(body), doc


def _variants(value: str) -> set[str]:
    compact = re.sub(r"[\s\-().]", "", value)
    return {value, compact} | ({compact[-9:]} if compact.isdigit() and len(compact) > 9 else set())


@pytest.mark.parametrize("provider", ["fake-openai", "fake-gemini"])
def test_no_structured_personal_data_reaches_the_provider(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None,
        provider: str) -> None:
    update_policy(people.acme, actor=Actor.person(people.alice), providers=[provider])
    markdown, seeded = _seeded_markdown()
    document = ingest_document(people.acme, filename="staff.md", data=markdown.encode(),
                               actor=Actor.person(people.bob))
    job = ai_actions.start_generation(document, actor=Actor.person(people.bob),
                                      target_screens=4)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error

    sent = "\n".join(r.body_text for r in fake.requests)
    sent_plain = re.sub(r"[\s\-().]", "", sent)
    assert fake.requests
    leaks = {kind: [v for v in seeded.structured.get(kind, [])
                    if v in sent or re.sub(r"[\s\-().]", "", v) in sent_plain]
             for kind in STRUCTURED}
    assert leaks == {key: [] for key in STRUCTURED}
    for kind in STRUCTURED:
        assert seeded.structured.get(kind), kind  # the document really had them

    names = [(kind, not survives(surname, sent)) for _, surname, kind in seeded.names]
    streets = [(kind, not survives(word, sent)) for word, kind in seeded.streets]
    name_recall, by_kind = recall(names)
    street_recall, _ = recall(streets)
    print(f"\n{provider}: name recall {name_recall:.2f} {by_kind}; "
          f"address recall {street_recall:.2f}")
    assert name_recall >= 0.8
    assert street_recall >= 0.8

    counts: dict[str, int] = {}
    for row in LedgerEntry.objects.filter(org=people.acme, outcome="ok"):
        for kind, n in row.redactions.items():
            counts[kind] = counts.get(kind, 0) + n
    for kind in ("EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "CREDIT_CARD", "IP_ADDRESS",
                 "PERSON"):
        assert counts.get(kind, 0) > 0, (kind, counts)


def test_prompts_are_stored_only_on_opt_in_and_then_encrypted(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None) -> None:
    alice = Actor.person(people.alice)
    update_policy(people.acme, actor=alice, providers=["fake-openai"])
    marker = "Quokka-handling procedure seventeen"
    document = ingest_document(people.acme, filename="q.md",
                               data=f"# Q\n\n## Care\n\n{marker} is followed daily.\n".encode(),
                               actor=Actor.person(people.bob))
    ai_actions.start_generation(document, actor=Actor.person(people.bob), target_screens=3)
    assert all(r.detail is None for r in LedgerEntry.objects.filter(org=people.acme))

    update_policy(people.acme, actor=alice, store_prompts=True)
    ai_actions.start_generation(document, actor=Actor.person(people.bob), target_screens=3)
    stored = [r for r in LedgerEntry.objects.filter(org=people.acme) if r.detail]
    assert stored
    assert any(marker in m["content"] for r in stored
                          for m in r.detail["messages"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT detail FROM ai_ledgerentry WHERE detail IS NOT NULL")
        raw = b"".join(bytes(row[0]) for row in cursor.fetchall())
    assert marker.encode() not in raw


def test_the_ai_ledger_retention_rule_purges_old_rows(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None) -> None:
    from coursewright.privacy.retention import purge_org, set_retention

    alice = Actor.person(people.alice)
    update_policy(people.acme, actor=alice, providers=["fake-openai"])
    document = ingest_document(people.acme, filename="q.md",
                               data=b"# Q\n\n## Care\n\nThe pen is cleaned daily.\n",
                               actor=Actor.person(people.bob))
    ai_actions.start_generation(document, actor=Actor.person(people.bob), target_screens=3)
    total = LedgerEntry.objects.filter(org=people.acme).count()
    assert total
    LedgerEntry.objects.filter(org=people.acme).update(
        created_at=timezone.now() - timedelta(days=40))
    LedgerEntry.objects.create(org=people.globex, feature="generate", outcome="ok")
    LedgerEntry.objects.filter(org=people.globex).update(
        created_at=timezone.now() - timedelta(days=40))
    set_retention(people.acme, {"ai_ledger": 30}, actor=alice)
    report = purge_org(people.acme)
    assert report["ai_ledger"] == total
    assert not LedgerEntry.objects.filter(org=people.acme).exists()
    assert LedgerEntry.objects.filter(org=people.globex).count() == 1


def test_placeholders_in_a_json_answer_are_restored_json_escaped(
        people: Any, fake: FakeProviders, providers_file: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from coursewright.ai import pii
    from coursewright.ai.gateway import Message, ask, parse_json

    # A detected value with a quote and a backslash in it (rare in real text, but a
    # restored answer must stay valid JSON whatever the value).
    value = 'Anna "Nan" Berg\\IT'

    def redact(self: pii.Redactor, text: str) -> str:
        if value in text:
            self.mapping["[PERSON_1]"] = value
            self.counts["PERSON"] = self.counts.get("PERSON", 0) + 1
        return text.replace(value, "[PERSON_1]")

    monkeypatch.setattr(pii.Redactor, "redact", redact)
    update_policy(people.acme, actor=Actor.person(people.alice), providers=["fake-openai"])
    fake.responder = lambda call: json.dumps({"text": "Ask [PERSON_1] first"})
    answer = ask(people.acme, actor=Actor.person(people.bob), feature="generate",
                 messages=[Message("user", f"Contact {value} today.")],
                 validate=parse_json, json_schema={"type": "object"})
    assert value not in fake.requests[0].body_text
    assert answer.value == {"text": f"Ask {value} first"}
