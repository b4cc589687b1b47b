"""Statement forwarding to an external LRS: in order, only the organisation's own, at
least once, never blocking ingestion; back-off on failures, a stop on refusals; through
the outbound guard (no loopback unless allowed, no redirects); credentials sealed and
write-only; managed by owners and admins only, audited, and invisible to Globex.

The receiving LRS is a threaded HTTP server on 127.0.0.1 that records what it gets and
answers as each test tells it. Private targets are allowed here (as an operator of a
closed network would) except where a test says otherwise. Time is passed to the
forwarder (``now=``), so back-off is stepped through without sleeping."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from coursewright import netguard
from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.privacy.crypto import is_sealed
from coursewright.tracking import forwarding
from coursewright.tracking.models import ForwardState, ForwardTarget, Statement
from tests.conftest import People, client_for, key_client
from tests.tracking.conftest import Lrs, statement

pytestmark = pytest.mark.django_db

BASE = "/api/v1/xapi/forwarding"
KEY = "acme-forwarder"
SECRET = "pw-Zebra-quartz-0917-forwarding"
TOKEN = "tok-Mango-lattice-4471-bearer"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
CREATED = "http://adlnet.gov/expapi/verbs/created"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


# --- the receiving LRS -------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def statements(self) -> list[dict[str, Any]]:
        content_type = self.headers.get("content-type", "")
        if content_type.startswith("multipart/mixed"):
            boundary = content_type.split("boundary=")[1]
            first = self.body.split(f"--{boundary}".encode())[1]
            data: list[dict[str, Any]] = json.loads(first.split(b"\r\n\r\n", 1)[1])
            return data
        parsed: list[dict[str, Any]] = json.loads(self.body)
        return parsed

    @property
    def ids(self) -> list[str]:
        return [s["id"] for s in self.statements]


@dataclass
class Receiver:
    url: str = ""
    seen: list[Received] = field(default_factory=list)
    status: int = 200
    # decides the answer per request when set: (request) -> status
    decide: Callable[[Received], int] | None = None
    location: str = ""
    retry_after: str = ""

    @property
    def ids(self) -> list[str]:
        return [i for r in self.seen for i in r.ids]


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        receiver: Receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        request = Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                           self.rfile.read(length))
        receiver.seen.append(request)
        status = receiver.decide(request) if receiver.decide else receiver.status
        payload = b"[]" if status < 300 else (
            b"refused; you sent Authorization: "
            + request.headers.get("authorization", "").encode())
        self.send_response(status)
        if status in (301, 302, 307, 308) and receiver.location:
            self.send_header("Location", receiver.location)
        if receiver.retry_after:
            self.send_header("Retry-After", receiver.retry_after)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _serve() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/xapi/")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.receiver  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve()


@pytest.fixture
def elsewhere() -> Iterator[Receiver]:
    yield from _serve()


@pytest.fixture(autouse=True)
def _closed_network(settings: Any) -> None:
    """An operator who allows private targets; statements are sent as soon as stored."""
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.XAPI_FORWARD_SETTLE_SECONDS = 0


# --- helpers -----------------------------------------------------------------------------


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    return client.generic(method, url, data=json.dumps(body) if body is not None else "",
                          content_type="application/json")


def add_target(people: People, url: str, **body: Any) -> dict[str, Any]:
    given = {"name": "Data team", "url": url, "auth": "basic", "key": KEY,
             "secret": SECRET, **body}
    response = send(client_for(people.alice), "POST", BASE, given)
    assert response.status_code == 201, response.content
    data: dict[str, Any] = response.json()
    return data


def run(target_id: int, at: Any = None) -> forwarding.RunReport:
    return forwarding.forward_target(target_id, now=at)


def target(target_id: int) -> ForwardTarget:
    return ForwardTarget.objects.get(pk=target_id)


def store_each(lrs: Lrs, count: int, **overrides: Any) -> list[str]:
    return [lrs.store(statement(**overrides))[0] for _ in range(count)]


# --- delivery ----------------------------------------------------------------------------


def test_statements_go_in_order_and_only_the_organisations_own(
        people: People, lrs: Lrs, globex_lrs: Lrs, receiver: Receiver,
        elsewhere: Receiver) -> None:
    # given Acme forwards to one receiver and Globex to another
    acme = add_target(people, receiver.url)
    globex = forwarding.create_target(people.globex, name="Globex data", url=elsewhere.url,
                                      actor=Actor.person(people.mallory))
    # when both organisations store statements, interleaved
    acme_ids, globex_ids = [], []
    for _ in range(3):
        acme_ids.append(lrs.store(statement())[0])
        globex_ids.append(globex_lrs.store(statement())[0])
    report = run(acme["id"])
    run(globex.pk)
    # then Acme's receiver got Acme's statements, in order, as the LRS stores them
    assert report.result == "delivered"
    assert receiver.ids == acme_ids
    assert elsewhere.ids == globex_ids
    request = receiver.seen[0]
    assert request.path == "/xapi/statements"
    assert request.headers["x-experience-api-version"] == "1.0.3"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(
        f"{KEY}:{SECRET}".encode()).decode()
    stored = lrs.get("statements", {"statementId": acme_ids[0]}).json()
    assert request.statements[0] == stored
    # and the status says so; a second run has nothing to send
    status = client_for(people.alice).get(f"{BASE}/{acme['id']}").json()["status"]
    assert (status["delivered"], status["backlog"], status["failures"]) == (3, 0, 0)
    assert status["last_success_at"]
    assert run(acme["id"]).result == "idle"
    assert len(receiver.seen) == 1


def test_batches_hold_at_most_100_statements(people: People, lrs: Lrs,
                                             receiver: Receiver) -> None:
    created = add_target(people, receiver.url, xapi_version="2.0.0")
    # one request of 250 statements: all stored at the same instant
    ids = lrs.store(*[statement() for _ in range(250)])
    run(created["id"])
    assert [len(r.ids) for r in receiver.seen] == [100, 100, 50]
    assert receiver.ids == ids
    assert {r.headers["x-experience-api-version"] for r in receiver.seen} == {"2.0.0"}


def test_ingestion_goes_on_while_the_receiver_fails_and_catches_up_after_back_off(
        people: People, lrs: Lrs, receiver: Receiver) -> None:
    # given the receiver answers 500
    created = add_target(people, receiver.url)
    receiver.status = 500
    first = store_each(lrs, 2)
    start = timezone.now()
    report = run(created["id"], at=start)
    # then the run failed, the LRS still takes statements, and the target backs off
    assert report.result == "failed"
    later = store_each(lrs, 2)  # lrs.store asserts the LRS answered 200
    failed = target(created["id"])
    assert failed.failures == 1
    assert "HTTP 500" in failed.last_error
    assert failed.next_attempt_at is not None
    wait = (failed.next_attempt_at - start).total_seconds()
    assert 15 <= wait <= 31
    assert failed.backlog == 2
    # before the wait is over nothing is sent
    attempts = len(receiver.seen)
    assert run(created["id"], at=start + timedelta(seconds=5)).result == "busy"
    assert len(receiver.seen) == attempts
    # when the receiver is back and the wait is over, everything arrives, in order
    receiver.status = 200
    report = run(created["id"], at=failed.next_attempt_at)
    assert report.result == "delivered"
    assert receiver.seen[-1].ids == first + later
    done = target(created["id"])
    assert (done.failures, done.next_attempt_at, done.last_error, done.backlog) == (
        0, None, "", 0)


def test_no_answer_is_a_failure_too(people: People, lrs: Lrs) -> None:
    # a port nothing listens on
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    created = add_target(people, f"http://127.0.0.1:{port}/xapi/")
    store_each(lrs, 1)
    assert run(created["id"]).result == "failed"
    row = target(created["id"])
    assert row.last_error.startswith("no answer")
    assert SECRET not in row.last_error


def test_back_off_grows_to_the_cap(people: People, lrs: Lrs, receiver: Receiver) -> None:
    created = add_target(people, receiver.url)
    receiver.status = 503
    store_each(lrs, 1)
    moment = timezone.now()
    waits = []
    for failures in range(1, 11):
        assert run(created["id"], at=moment).result == "failed"
        row = target(created["id"])
        assert row.failures == failures
        assert row.next_attempt_at is not None
        wait = (row.next_attempt_at - moment).total_seconds()
        ceiling = min(3600, 30 * 2 ** (failures - 1))
        assert ceiling / 2 <= wait <= ceiling + 1, (failures, wait)
        waits.append(wait)
        moment = row.next_attempt_at
    # while the ceiling doubles, the wait never shrinks; capped, it stays within the cap
    assert waits[:7] == sorted(waits[:7])
    assert waits[0] < 31
    assert min(waits[7:]) >= 1800
    assert len(receiver.seen) == 10


def test_retry_after_is_honoured(people: People, lrs: Lrs, receiver: Receiver) -> None:
    created = add_target(people, receiver.url)
    receiver.status, receiver.retry_after = 429, "900"
    store_each(lrs, 1)
    moment = timezone.now()
    run(created["id"], at=moment)
    row = target(created["id"])
    assert row.next_attempt_at is not None
    assert (row.next_attempt_at - moment).total_seconds() >= 900
    assert "HTTP 429" in row.last_error


def test_a_409_counts_as_delivered(people: People, lrs: Lrs, receiver: Receiver) -> None:
    # given the receiver already holds the first statement: it refuses the batch (409),
    # then takes the others one by one
    created = add_target(people, receiver.url)
    ids = store_each(lrs, 3)

    def decide(request: Received) -> int:
        if len(request.ids) > 1:
            return 409
        return 409 if request.ids == [ids[0]] else 204 if request.ids == [ids[1]] else 200

    receiver.decide = decide
    report = run(created["id"])
    assert report.result == "delivered"
    assert [r.ids for r in receiver.seen] == [ids, [ids[0]], [ids[1]], [ids[2]]]
    row = target(created["id"])
    assert (row.delivered, row.already_present, row.state) == (3, 1, ForwardState.ACTIVE)
    assert run(created["id"]).result == "idle"
    assert len(receiver.seen) == 4


def test_a_refused_statement_stops_the_target_until_resumed(people: People, lrs: Lrs,
                                                            receiver: Receiver) -> None:
    created = add_target(people, receiver.url)
    ids = store_each(lrs, 3)
    bad = ids[1]
    receiver.decide = lambda request: 400 if bad in request.ids else 200
    # when the receiver refuses the second statement
    report = run(created["id"])
    # then the first got through and the target stopped at the second
    assert report.result == "rejected"
    assert [r.ids for r in receiver.seen] == [ids, [ids[0]], [bad]]
    row = target(created["id"])
    assert row.state == ForwardState.REJECTED
    assert str(row.rejected_statement_id) == bad
    assert row.delivered == 1
    assert "HTTP 400" in row.last_error
    # the receiver's answer is kept (sealed), with our credentials blanked out
    detail = row.rejection_detail
    assert detail is not None
    assert "refused" in detail
    assert "[redacted]" in detail
    assert base64.b64encode(f"{KEY}:{SECRET}".encode()).decode() not in detail
    event = AuditEvent.objects.get(action="xapi_forwarding.rejected")
    assert event.payload_data["after"]["statement"] == bad  # type: ignore[index]
    # a stopped target is not forwarded
    assert run(created["id"]).result == "busy"
    assert len(receiver.seen) == 3
    shown = client_for(people.alice).get(f"{BASE}/{created['id']}").json()
    assert (shown["state"], shown["enabled"]) == ("rejected", False)
    assert shown["status"]["rejected_statement_id"] == bad
    # resuming offers the same statement again
    alice = client_for(people.alice)
    assert send(alice, "POST", f"{BASE}/{created['id']}/resume", {}).status_code == 200
    assert target(created["id"]).rejection_detail is None  # not kept past the refusal
    assert run(created["id"]).result == "rejected"
    assert receiver.seen[-1].ids == [bad]
    # resuming with skip passes over that one statement, and the audit row names it
    response = send(alice, "POST", f"{BASE}/{created['id']}/resume", {"skip_rejected": True})
    assert response.status_code == 200
    assert run(created["id"]).result == "delivered"
    assert receiver.seen[-1].ids == [ids[2]]
    resumed = AuditEvent.objects.filter(action="xapi_forwarding.resumed").order_by("seq")
    assert resumed.last().payload_data["after"]["skipped_statement"] == bad  # type: ignore[union-attr,index]
    assert send(alice, "POST", f"{BASE}/{created['id']}/resume",
                {"skip_rejected": True}).status_code == 409


def test_redirects_are_not_followed(people: People, lrs: Lrs, receiver: Receiver,
                                    elsewhere: Receiver) -> None:
    created = add_target(people, receiver.url)
    receiver.status, receiver.location = 302, elsewhere.url + "statements"
    store_each(lrs, 2)
    assert run(created["id"]).result == "failed"
    assert elsewhere.seen == []
    row = target(created["id"])
    assert "redirect" in row.last_error
    assert (row.failures, row.delivered) == (1, 0)


def test_loopback_and_private_targets_are_refused_unless_allowed(
        people: People, lrs: Lrs, receiver: Receiver, settings: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    alice = client_for(people.alice)
    settings.OUTBOUND_ALLOW_PRIVATE = False
    # at save: a loopback address, a name for it, and a name that resolves privately
    for url in (receiver.url, receiver.url.replace("127.0.0.1", "localhost"),
                "http://[::1]:8080/xapi/", "http://169.254.169.254/latest/"):
        response = send(alice, "POST", BASE, {"name": "x", "url": url})
        assert response.status_code == 422, url
        assert response.json()["error"]["code"] == "url_refused"

    def lookup(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    response = send(alice, "POST", BASE, {"name": "x", "url": "https://lrs.corp.example/"})
    assert response.status_code == 422
    assert "10.1.2.3" in response.json()["error"]["message"]
    monkeypatch.undo()
    assert not ForwardTarget.objects.exists()
    # at send: a target saved while allowed is refused once the operator disallows it
    settings.OUTBOUND_ALLOW_PRIVATE = True
    created = add_target(people, receiver.url)
    store_each(lrs, 1)
    settings.OUTBOUND_ALLOW_PRIVATE = False
    assert run(created["id"]).result == "failed"
    assert receiver.seen == []
    assert "not public" in target(created["id"]).last_error


@pytest.mark.parametrize("url", ["ftp://lrs.example/", "https://user:pw@lrs.example/",
                                 "https://lrs.example/#x", "not a url", ""])
def test_bad_urls_are_refused_with_a_reason(people: People, url: str) -> None:
    response = send(client_for(people.alice), "POST", BASE, {"name": "x", "url": url})
    assert response.status_code == 422
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(("body", "code"), [
    ({"auth": "basic", "key": "k"}, "bad_credentials"),
    ({"auth": "basic", "key": "a:b", "secret": "s"}, "bad_credentials"),
    ({"auth": "bearer", "token": "has space"}, "bad_credentials"),
    ({"auth": "none", "token": "t"}, "bad_credentials"),
    ({"auth": "bearer", "token": "t\r\nX-Injected: 1"}, "bad_credentials"),
    ({"verbs": ["not an iri"]}, "bad_verbs"),
    ({"xapi_version": "0.95"}, "invalid"),
    ({"name": ""}, "bad_name"),
    ({"surprise": 1}, "invalid"),
])
def test_bad_settings_are_refused_with_a_reason(people: People, receiver: Receiver,
                                                body: dict[str, Any], code: str) -> None:
    response = send(client_for(people.alice), "POST", BASE,
                    {"name": "x", "url": receiver.url, **body})
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == code
    assert not ForwardTarget.objects.exists()


def test_a_few_targets_per_organisation_with_distinct_names(people: People,
                                                            receiver: Receiver) -> None:
    alice = client_for(people.alice)
    for n in range(forwarding.MAX_TARGETS):
        assert send(alice, "POST", BASE, {"name": f"t{n}", "url": receiver.url}
                    ).status_code == 201
    response = send(alice, "POST", BASE, {"name": "one more", "url": receiver.url})
    assert (response.status_code, response.json()["error"]["code"]) == (409,
                                                                        "too_many_targets")
    ForwardTarget.objects.filter(name="t4").delete()
    response = send(alice, "POST", BASE, {"name": "t0", "url": receiver.url})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "name_taken")


# --- what is forwarded -------------------------------------------------------------------


def test_a_verb_filter_keeps_voiding_statements(people: People, lrs: Lrs,
                                                receiver: Receiver) -> None:
    created = add_target(people, receiver.url, verbs=[COMPLETED])
    made = lrs.store(statement())[0]  # "created"
    done = lrs.store(statement(verb={"id": COMPLETED}))[0]
    void = lrs.store(statement(verb={"id": VOIDED},
                               object={"objectType": "StatementRef", "id": made}))[0]
    run(created["id"])
    assert receiver.ids == [done, void]


def test_only_statements_written_through_a_license(people: People, lrs: Lrs,
                                                   credential_for: Any,
                                                   receiver: Receiver) -> None:
    from coursewright.delivery.licenses import issue_license
    from tests.delivery.test_licenses_fixtures import deployed_course

    live = deployed_course(people.acme, people.alice)
    license, _ = issue_license(people.acme, name="Acme LMS", courses=[live.course],
                               actor=Actor.person(people.alice))
    licensed = credential_for(people.acme, license=license)
    created = add_target(people, receiver.url, only_licensed=True)
    lrs.store(statement())
    wanted = licensed.store(statement())[0]
    run(created["id"])
    assert receiver.ids == [wanted]


def test_start_now_or_from_the_beginning(people: People, lrs: Lrs, receiver: Receiver,
                                         elsewhere: Receiver) -> None:
    old = store_each(lrs, 2)
    now = add_target(people, receiver.url, name="new only")
    everything = add_target(people, elsewhere.url, name="history", start="beginning")
    new = store_each(lrs, 1)
    run(now["id"])
    run(everything["id"])
    assert receiver.ids == new
    assert elsewhere.ids == old + new


def test_statements_are_sent_once_they_have_settled(people: People, lrs: Lrs,
                                                    receiver: Receiver,
                                                    settings: Any) -> None:
    settings.XAPI_FORWARD_SETTLE_SECONDS = 10
    created = add_target(people, receiver.url)
    ids = store_each(lrs, 1)
    moment = timezone.now()
    assert run(created["id"], at=moment).result == "idle"
    assert receiver.seen == []
    assert target(created["id"]).backlog == 1
    assert run(created["id"], at=moment + timedelta(seconds=11)).result == "delivered"
    assert receiver.ids == ids


def test_a_statement_that_commits_late_behind_the_cursor_is_still_sent(
        people: People, lrs: Lrs, receiver: Receiver) -> None:
    created = add_target(people, receiver.url)
    first = store_each(lrs, 2)
    run(created["id"])
    # a write stamped before the last forwarded statement but committed after that run
    # (a slow request): a higher row id, an older stored time
    late = lrs.store(statement())[0]
    earliest = Statement.objects.get(statement_id=first[0]).stored
    Statement.objects.filter(statement_id=late).update(stored=earliest)
    report = run(created["id"])
    assert report.delivered == 1
    assert receiver.ids == [*first, late]
    assert run(created["id"]).result == "idle"


def test_attachments_travel_with_their_statements(people: People, lrs: Lrs,
                                                  receiver: Receiver) -> None:
    from tests.tracking.test_attachments import TEXT, described, multipart, part, sha

    created = add_target(people, receiver.url)
    sent = statement(attachments=[described(TEXT)])
    response = lrs.post("statements", raw=multipart(sent, [part(TEXT)]),
                        content_type="multipart/mixed; boundary=-------314159265358979323846")
    assert response.status_code == 200, response.content
    plain = store_each(lrs, 1)
    run(created["id"])
    request = receiver.seen[0]
    assert request.headers["content-type"].startswith("multipart/mixed; boundary=")
    assert receiver.ids == [response.json()[0], *plain]
    assert TEXT in request.body
    assert f"X-Experience-API-Hash: {sha(TEXT)}".encode() in request.body


# --- one worker per target ---------------------------------------------------------------


def test_a_second_worker_leaves_a_target_being_forwarded(
        people: People, lrs: Lrs, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    created = add_target(people, receiver.url)
    ids = store_each(lrs, 2)
    real_send = netguard.send
    nested: list[forwarding.RunReport] = []

    def send_while_another_worker_starts(*args: Any, **kwargs: Any) -> Any:
        if not nested:  # a second worker starts while the first is sending
            nested.append(forwarding.forward_target(created["id"]))
        return real_send(*args, **kwargs)

    monkeypatch.setattr(netguard, "send", send_while_another_worker_starts)
    report = run(created["id"])
    assert nested[0].result == "busy"
    assert not nested[0].claimed
    assert report.result == "delivered"
    assert [r.ids for r in receiver.seen] == [ids]


def test_a_worker_whose_lease_expired_cannot_move_the_cursor(
        people: People, lrs: Lrs, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    created = add_target(people, receiver.url)
    store_each(lrs, 2)
    moment = timezone.now()
    real_send = netguard.send
    taken: list[str | None] = []

    def stall_then_send(*args: Any, **kwargs: Any) -> Any:
        # the first worker stalls past its lease; another worker claims the target
        taken.append(forwarding.claim(created["id"], moment + timedelta(minutes=6)))
        return real_send(*args, **kwargs)

    monkeypatch.setattr(netguard, "send", stall_then_send)
    report = run(created["id"], at=moment)
    assert taken[0] is not None
    assert report.result == "stopped"
    row = target(created["id"])
    assert (row.delivered, row.cursor_id, row.lease_token) == (0, 0, taken[0])


def test_pausing_stops_a_run_under_way(people: People, lrs: Lrs, receiver: Receiver,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    created = add_target(people, receiver.url)
    ids = store_each(lrs, 2)
    real_send = netguard.send

    def paused_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not receiver.seen:
            forwarding.pause_target(target(created["id"]), actor=Actor.person(people.alice))
        return real_send(*args, **kwargs)

    monkeypatch.setattr(netguard, "send", paused_meanwhile)
    assert run(created["id"]).result == "stopped"
    assert (target(created["id"]).state, target(created["id"]).delivered) == (
        ForwardState.PAUSED, 0)
    # the batch whose delivery was not recorded is sent again after resuming
    forwarding.resume_target(target(created["id"]), actor=Actor.person(people.alice))
    assert run(created["id"]).result == "delivered"
    assert [r.ids for r in receiver.seen] == [ids, ids]


# --- jobs --------------------------------------------------------------------------------


def test_the_periodic_job_forwards_due_targets_only(people: People, lrs: Lrs,
                                                    receiver: Receiver,
                                                    elsewhere: Receiver) -> None:
    from coursewright.tracking.tasks import forward_statements_task

    due = add_target(people, receiver.url, name="due")
    paused = add_target(people, elsewhere.url, name="paused", enabled=False)
    ids = store_each(lrs, 2)
    assert forwarding.due_targets() == [due["id"]]
    forward_statements_task.call_local()
    assert receiver.ids == ids
    assert elsewhere.seen == []
    assert target(paused["id"]).state == ForwardState.PAUSED


def test_retry_now_skips_the_back_off(people: People, lrs: Lrs, receiver: Receiver,
                                      run_jobs: None) -> None:
    created = add_target(people, receiver.url)
    receiver.status = 502
    ids = store_each(lrs, 2)
    run(created["id"])
    assert target(created["id"]).next_attempt_at is not None
    assert forwarding.due_targets() == []
    receiver.status = 200
    # the retry runs the job at once (jobs run inline in the tests)
    response = send(client_for(people.alice), "POST", f"{BASE}/{created['id']}/retry")
    assert response.status_code == 200
    assert receiver.seen[-1].ids == ids
    assert target(created["id"]).delivered == 2
    assert AuditEvent.objects.filter(action="xapi_forwarding.retried").count() == 1


# --- managing targets --------------------------------------------------------------------


def test_each_change_is_audited(people: People, receiver: Receiver,
                                elsewhere: Receiver) -> None:
    alice = client_for(people.alice)
    created = add_target(people, receiver.url)
    url = f"{BASE}/{created['id']}"
    changed = send(alice, "PATCH", url, {"name": "Warehouse", "url": elsewhere.url,
                                         "verbs": [COMPLETED]})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["name"], changed.json()["url"]) == ("Warehouse", elsewhere.url)
    assert send(alice, "POST", f"{url}/pause").json()["state"] == "paused"
    assert send(alice, "POST", f"{url}/pause").status_code == 409
    assert send(alice, "POST", f"{url}/retry").status_code == 409
    assert send(alice, "POST", f"{url}/resume", {}).json()["enabled"] is True
    assert send(alice, "PATCH", url, {"enabled": False}).json()["state"] == "paused"
    assert send(alice, "DELETE", url).status_code == 204
    assert client_for(people.alice).get(url).status_code == 404
    actions = list(AuditEvent.objects.filter(object_type="xapi_forward_target")
                   .order_by("seq").values_list("action", flat=True))
    assert actions == ["xapi_forwarding.created", "xapi_forwarding.updated",
                       "xapi_forwarding.paused", "xapi_forwarding.resumed",
                       "xapi_forwarding.updated", "xapi_forwarding.deleted"]
    created_event = AuditEvent.objects.get(action="xapi_forwarding.created")
    assert created_event.payload_data["after"]["auth"] == "basic"  # type: ignore[index]
    assert created_event.payload_data["actor"] == "alice@acme.test"  # type: ignore[index]


def test_credentials_are_sealed_at_rest_and_never_shown(people: People,
                                                        receiver: Receiver) -> None:
    alice = client_for(people.alice)
    created = add_target(people, receiver.url + "?tenant=QueryToken77")
    # replace the basic credentials with a bearer token
    response = send(alice, "PATCH", f"{BASE}/{created['id']}",
                    {"auth": "bearer", "token": TOKEN})
    assert response.status_code == 200
    assert response.json()["has_credentials"] is True
    # the columns hold ciphertext only
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, credentials FROM tracking_forwardtarget WHERE id = %s",
                       [created["id"]])
        url_blob, credentials_blob = (bytes(v) for v in cursor.fetchone())
    assert is_sealed(url_blob)
    assert is_sealed(credentials_blob)
    assert b"127.0.0.1" not in url_blob
    for value in (TOKEN, SECRET, KEY):
        assert value.encode() not in credentials_blob
    assert target(created["id"]).credentials == {"token": TOKEN}
    # answers, audit rows and the organisation export never hold them
    listed = alice.get(BASE).content.decode() + alice.get(f"{BASE}/{created['id']}"
                                                          ).content.decode()
    audit = " ".join(str(e.payload_data) for e in AuditEvent.objects.all())
    from coursewright.privacy.export import export_organisation

    archive = zipfile.ZipFile(io.BytesIO(
        export_organisation(people.acme, actor=Actor.person(people.alice))))
    exported = b"".join(archive.read(name) for name in archive.namelist()).decode(
        errors="replace")
    for text in (listed, audit, exported):
        for value in (TOKEN, SECRET, KEY):
            assert value not in text
    assert "QueryToken77" not in audit  # audit rows show the URL without its query
    organisation = json.loads(archive.read("organisation.json"))
    rows = organisation["xapi"]["xapi_forwarding_targets"]
    assert [(r["name"], r["auth"]) for r in rows] == [("Data team", "bearer")]
    # a PATCH without auth cannot slip in credentials
    response = send(alice, "PATCH", f"{BASE}/{created['id']}", {"token": "x" * 10})
    assert response.status_code == 422


def test_deleting_the_organisation_removes_its_targets(people: People,
                                                       receiver: Receiver) -> None:
    from coursewright.privacy.deletion import delete_organisation

    add_target(people, receiver.url)
    forwarding.create_target(people.globex, name="Globex data", url=receiver.url,
                             actor=Actor.person(people.mallory))
    receipt = delete_organisation(people.acme, actor=Actor.person(people.alice),
                                  confirm="acme")
    assert receipt.counts["xapi_forwarding_targets"] == 1
    assert list(ForwardTarget.objects.values_list("name", flat=True)) == ["Globex data"]


# --- who may --------------------------------------------------------------------------------


def test_only_signed_in_owners_and_admins_manage_targets(people: People,
                                                         receiver: Receiver) -> None:
    created = add_target(people, receiver.url)
    url = f"{BASE}/{created['id']}"
    calls = [("GET", BASE, None), ("POST", BASE, {"name": "x", "url": receiver.url}),
             ("GET", url, None), ("PATCH", url, {"name": "y"}), ("DELETE", url, None),
             ("POST", f"{url}/pause", None), ("POST", f"{url}/resume", {}),
             ("POST", f"{url}/retry", None)]
    for client in (client_for(people.bob), client_for(people.rita)):
        for method, path, body in calls:
            response = send(client, method, path, body)
            assert response.status_code == 403, (method, path, response.status_code)
    for method, path, body in calls:
        response = send(key_client(people.acme_key), method, path, body)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "person_required"
    assert target(created["id"]).name == "Data team"
    assert ForwardTarget.objects.count() == 1


def test_mallory_sees_nothing_of_acme_targets(people: People, receiver: Receiver) -> None:
    created = add_target(people, receiver.url)
    url = f"{BASE}/{created['id']}"
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        for method, path, body in [("GET", url, None), ("PATCH", url, {"name": "y"}),
                                   ("DELETE", url, None), ("POST", f"{url}/pause", None),
                                   ("POST", f"{url}/resume", {}),
                                   ("POST", f"{url}/retry", None),
                                   ("GET", f"{BASE}?org=acme", None),
                                   ("POST", f"{BASE}?org=acme",
                                    {"name": "x", "url": receiver.url})]:
            response = send(client, method, path, body)
            assert response.status_code == 404, (method, path, response.status_code)
            assert response.json()["error"]["code"] == "not_found"
    assert client_for(people.mallory).get(BASE).json() == []
    row = target(created["id"])
    assert (row.name, row.state) == ("Data team", ForwardState.ACTIVE)


def test_a_target_needs_no_statement_to_exist(people: People, receiver: Receiver) -> None:
    created = add_target(people, receiver.url)
    assert run(created["id"]).result == "idle"
    assert receiver.seen == []
    assert target(created["id"]).backlog_at is not None
