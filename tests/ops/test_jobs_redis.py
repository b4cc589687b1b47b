"""The scale-out job path: huey on the Redis server at 127.0.0.1:6379 carries a
generation job from the web process to a worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from huey import RedisHuey

from coursewright.ai.actions import run_generation, start_generation
from coursewright.ai.models import JobStatus
from coursewright.audit.actor import Actor
from coursewright.ingest.actions import ingest_document
from tests.api.test_flow import HANDBOOK
from tests.conftest import People


@pytest.fixture
def redis_huey() -> Iterator[RedisHuey]:
    huey = RedisHuey(name=f"cw-test-{uuid.uuid4().hex}", url="redis://127.0.0.1:6379/0")
    try:
        huey.storage.conn.ping()
    except Exception as exc:  # pragma: no cover - the Makefile starts Redis
        pytest.fail(f"Redis at 127.0.0.1:6379 is not reachable: {exc}")
    yield huey
    huey.storage.flush_all()


def test_generation_job_travels_through_redis(people: People, redis_huey: RedisHuey) -> None:
    generate = redis_huey.task()(run_generation)
    actor = Actor.person(people.bob)
    document = ingest_document(people.acme, filename="h.md", data=HANDBOOK, actor=actor)
    job = start_generation(document, actor=actor, enqueue=False)

    generate(job.pk)  # enqueued in Redis, not run
    assert redis_huey.pending_count() == 1
    task = redis_huey.dequeue()  # a worker picks it up
    redis_huey.execute(task)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.course is not None
