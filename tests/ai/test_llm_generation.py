"""Generation, regenerate, refine, translate and questions through the real SDK clients,
against local fake OpenAI-compatible, Azure and Gemini endpoints that record every request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coursewright.ai import actions as ai_actions
from coursewright.ai.gateway import AiBlocked
from coursewright.ai.models import GenerationJob, JobStatus, LedgerEntry
from coursewright.ai.policy import get_policy, update_policy
from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.courses.content import CourseContent
from coursewright.ingest.actions import ingest_document
from tests.support.fake_providers import FakeProviders

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"


def _allow(org: Any, owner: Any, providers: list[str]) -> None:
    update_policy(org, actor=Actor.person(owner), providers=providers)


def _document(org: Any, user: Any) -> Any:
    return ingest_document(org, filename="handbook.html",
                           data=(FIXTURES / "handbook.html").read_bytes(),
                           actor=Actor.person(user))


def _draft(job: GenerationJob) -> CourseContent:
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    version = job.course.versions.get()
    return CourseContent.model_validate(version.content)


@pytest.mark.parametrize(("provider", "flavour"), [("fake-openai", "openai"),
                                              ("fake-azure", "azure"),
                                              ("fake-gemini", "gemini")])
def test_document_to_course_through_each_sdk(people: Any, fake: FakeProviders,
                                             providers_file: Path, run_jobs: None,
                                             provider: str, flavour: str) -> None:
    _allow(people.acme, people.alice, [provider])
    document = _document(people.acme, people.bob)
    job = ai_actions.start_generation(document, actor=Actor.person(people.bob),
                                      target_screens=5)
    content = _draft(job)

    assert fake.requests
    assert {r.flavour for r in fake.requests} == {flavour}
    assert all(r.outcome == "ok" for r in fake.requests)
    # Map (passages) -> outline (summaries only) -> screens (notes only).
    schemas = [set(r.call.json_schema["properties"]) for r in fake.requests if r.call]
    assert schemas[0] == {"summary", "points"}
    assert {"title", "description", "screens"} in schemas
    assert schemas[-1] == {"screens"}
    assert 2 <= len(content.screens) <= 5  # a short document: fewer screens than asked
    assert all(any(b.provenance.sources for b in s.blocks) for s in content.screens)
    chunk_ids = {c.chunk_id for c in document.chunks.all()}
    blocks = [b for s in content.screens for b in s.blocks]
    assert all(b.provenance.kind == "ai" and b.provenance.engine == provider for b in blocks)
    assert all(set(b.provenance.sources) <= chunk_ids for b in blocks)
    assert sum(bool(b.provenance.sources) for b in blocks) >= len(blocks) - 1
    assert content.questions()
    # The ledger has one row per request with the provider's own token counts.
    rows = LedgerEntry.objects.filter(org=people.acme, feature="generate", outcome="ok")
    assert rows.count() == len(fake.requests)
    assert all(r.tokens_in > 0 and r.tokens_out > 0 and r.provider == provider
               and r.region == "eu" and r.user == people.bob for r in rows)
    assert all(r.detail is None for r in rows)  # prompts not stored without the opt-in


def test_every_passage_is_sent_once_and_the_total_stays_within_budget(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None) -> None:
    from tests.support.fake_providers import count_tokens

    _allow(people.acme, people.alice, ["fake-openai"])
    document = _document(people.acme, people.bob)
    ai_actions.start_generation(document, actor=Actor.person(people.bob), target_screens=6)
    sent = "\n".join(r.call.prompt_text for r in fake.requests if r.call)
    for chunk in document.chunks.all():
        first = " ".join(chunk.text.split())[:60]
        assert " ".join(sent.split()).count(first) >= 1
    doc_tokens = sum(count_tokens(c.text) for c in document.chunks.all())
    prompt_tokens = sum(r.tokens_in for r in LedgerEntry.objects.filter(org=people.acme))
    # A small document pays proportionally more for instructions than a 300-page one
    # (bench/ai_tokens.py measures that case against the 1.3x target).
    assert prompt_tokens <= 2.5 * doc_tokens


def test_prompt_only_generation_is_unsourced_and_the_offline_engine_refuses_it(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None) -> None:
    bob = Actor.person(people.bob)
    with pytest.raises(AiBlocked) as refused:
        ai_actions.start_generation(None, org=people.acme, actor=bob,
                                    brief="Fire safety for new staff", target_screens=3)
    assert refused.value.code == "no_provider"
    assert "offline engine" in refused.value.message
    assert not fake.requests

    _allow(people.acme, people.alice, ["offline", "fake-gemini"])
    job = ai_actions.start_generation(None, org=people.acme, actor=bob,
                                      brief="Fire safety for new staff", target_screens=3)
    content = _draft(job)
    assert len(content.screens) == 3
    assert all(not b.provenance.sources for s in content.screens for b in s.blocks)
    assert "Fire safety for new staff" in fake.requests[0].call.prompt_text


def test_failover_500_429_garbage_then_second_provider_completes(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None) -> None:
    _allow(people.acme, people.alice, ["fake-openai", "fake-gemini"])
    document = _document(people.acme, people.bob)
    fake.fail_next(1, "500", flavour="openai")
    fake.fail_next(1, "429", flavour="openai")
    fake.fail_next(1, "garbage", flavour="openai")
    job = ai_actions.start_generation(document, actor=Actor.person(people.bob),
                                      target_screens=4)
    content = _draft(job)
    failed = list(LedgerEntry.objects.filter(org=people.acme, outcome="failed")
                  .order_by("id").values_list("provider", "reason"))
    assert failed[:3] == [("fake-openai", "server"), ("fake-openai", "rate_limited"),
                          ("fake-openai", "malformed")]
    assert {b.provenance.engine for s in content.screens for b in s.blocks} >= {"fake-gemini"}


def test_provider_down_opens_the_breaker_and_the_job_finishes_elsewhere(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from coursewright.ai import llm
    from coursewright.ai.gateway import breaker_open

    monkeypatch.setattr(llm, "BATCH_TOKENS", 300)  # enough requests to trip the breaker
    _allow(people.acme, people.alice, ["fake-azure", "fake-gemini"])
    fake.always_fail("500", flavour="azure")
    job = ai_actions.start_generation(_document(people.acme, people.bob),
                                      actor=Actor.person(people.bob), target_screens=4)
    _draft(job)
    assert breaker_open("fake-azure")
    azure_calls = len(fake.requests_for("azure"))
    assert azure_calls == 3  # the breaker's threshold; later requests skip it
    assert LedgerEntry.objects.filter(reason="circuit_open", provider="fake-azure").exists()


def test_every_provider_failing_fails_the_job_with_a_clear_reason(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None) -> None:
    _allow(people.acme, people.alice, ["fake-openai"])
    fake.always_fail("timeout", flavour="openai", delay=3.0)
    job = ai_actions.start_generation(_document(people.acme, people.bob),
                                      actor=Actor.person(people.bob), target_screens=4)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "No allowed AI provider could answer" in job.error
    assert "timeout" in job.error


def test_llm_failure_falls_back_to_the_offline_engine_when_the_policy_lists_it(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None) -> None:
    _allow(people.acme, people.alice, ["fake-openai", "offline"])
    fake.always_fail("500", flavour="openai")
    job = ai_actions.start_generation(_document(people.acme, people.bob),
                                      actor=Actor.person(people.bob), target_screens=4)
    content = _draft(job)
    assert {b.provenance.engine for s in content.screens for b in s.blocks} == {
        "coursewright-offline"}
    assert LedgerEntry.objects.filter(provider="offline", outcome="ok").exists()


def test_region_lock_blocks_and_logs_without_sending(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None) -> None:
    from coursewright.ai.models import AiPolicy
    from coursewright.errors import Invalid

    # The policy refuses an out-of-region provider outright...
    with pytest.raises(Invalid) as refused:
        _allow(people.acme, people.alice, ["fake-us"])
    assert "does not process data in your region (EU)" in refused.value.message
    # ...and if one is on the list anyway (the server's file changed), nothing is sent.
    get_policy(people.acme)
    AiPolicy.objects.filter(org=people.acme).update(providers=["fake-us", "fake-openai"])
    with pytest.raises(AiBlocked) as blocked:
        ai_actions.start_generation(_document(people.acme, people.bob),
                                    actor=Actor.person(people.bob))
    assert blocked.value.code == "region_lock"
    assert "(EU)" in blocked.value.message
    assert not fake.requests
    row = LedgerEntry.objects.get(org=people.acme, outcome="blocked")
    assert (row.reason, row.provider) == ("region_lock", "fake-us")
    assert AuditEvent.objects.filter(action="ai.blocked", org=people.acme).exists()


def test_feature_off_and_provider_not_allowed_never_send(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None,
        ) -> None:
    alice = Actor.person(people.alice)
    update_policy(people.acme, actor=alice, providers=["fake-openai"],
                  features={"generate": False})
    document = _document(people.acme, people.bob)
    with pytest.raises(AiBlocked) as off:
        ai_actions.start_generation(document, actor=Actor.person(people.bob))
    assert off.value.code == "feature_disabled"
    assert "switched off" in off.value.message
    update_policy(people.acme, actor=alice, features={"generate": True})
    with pytest.raises(AiBlocked) as not_allowed:
        ai_actions.start_generation(document, actor=Actor.person(people.bob),
                                    provider="fake-gemini")
    assert not_allowed.value.code == "provider_not_allowed"
    assert not fake.requests
    assert AuditEvent.objects.filter(action="ai.policy_changed").count() == 2


def test_api_answers_a_blocked_generation_with_a_clear_403(
        people: Any, fake: FakeProviders, providers_file: Path, acme_api: Any) -> None:
    document = _document(people.acme, people.bob)
    update_policy(people.acme, actor=Actor.person(people.alice),
                  features={"generate": False})
    response = acme_api.post(f"/api/v1/documents/{document.pk}/generate",
                             data=json.dumps({}), content_type="application/json")
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "feature_disabled"
    assert not fake.requests


def test_a_job_resumes_after_a_worker_restart_without_resending_done_parts(
        people: Any, fake: FakeProviders, providers_file: Path, settings: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from coursewright.ai import llm

    _allow(people.acme, people.alice, ["fake-openai"])
    document = _document(people.acme, people.bob)
    job = ai_actions.start_generation(document, actor=Actor.person(people.bob),
                                      target_screens=4, enqueue=False)
    real_ask = llm.gateway.ask

    def ask_then_die(*args: Any, **kwargs: Any) -> Any:
        real_ask(*args, **kwargs)
        raise SystemExit("the worker was killed after its first request")

    # First worker: killed (SystemExit is not caught by the job) after one map request.
    monkeypatch.setattr(llm.gateway, "ask", ask_then_die)
    with pytest.raises(SystemExit):
        ai_actions.run_generation(job.pk)
    monkeypatch.setattr(llm.gateway, "ask", real_ask)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    # The answer of the request that completed before the kill was checkpointed? Not
    # necessarily (the kill came right after it); what was checkpointed is never resent.
    assert len(fake.requests) == 1

    # Nothing happens while the job is fresh; once stale it is requeued and resumed.
    assert ai_actions.recover_stale_jobs(enqueue=False) == []
    GenerationJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.AI_JOB_STALE_SECONDS + 1))
    assert ai_actions.recover_stale_jobs(enqueue=False) == [job.pk]
    ai_actions.run_generation(job.pk)
    assert _draft(job).screens
    job.refresh_from_db()
    assert job.attempts == 2
    assert job.checkpoint is None


def test_checkpointed_parts_are_not_sent_again_on_resume(
        people: Any, fake: FakeProviders, providers_file: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from coursewright.ai import llm

    _allow(people.acme, people.alice, ["fake-openai"])
    document = _document(people.acme, people.bob)
    job = ai_actions.start_generation(document, actor=Actor.person(people.bob),
                                      target_screens=4, enqueue=False)
    monkeypatch.setattr(llm, "BATCH_TOKENS", 400)  # several map parts
    real_ask = llm.gateway.ask
    seen = {"n": 0}

    def die_on_third(*args: Any, **kwargs: Any) -> Any:
        seen["n"] += 1
        if seen["n"] == 3:
            raise SystemExit("killed")
        return real_ask(*args, **kwargs)

    monkeypatch.setattr(llm.gateway, "ask", die_on_third)
    with pytest.raises(SystemExit):
        ai_actions.run_generation(job.pk)
    monkeypatch.setattr(llm.gateway, "ask", real_ask)
    job.refresh_from_db()
    assert sorted(job.checkpoint["notes"]) == ["B1", "B2"]
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    fake.clear()
    ai_actions.run_generation(job.pk)
    assert _draft(job).screens
    parts_sent = [r.call.last_user.split(",")[0] for r in fake.requests
                  if r.call and set(r.call.json_schema["properties"]) == {"summary", "points"}]
    assert parts_sent
    assert not {"Part B1", "Part B2"} & set(parts_sent)
    assert "Part B3" in parts_sent
