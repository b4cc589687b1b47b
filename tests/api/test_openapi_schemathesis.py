"""schemathesis against ``/api/v1/openapi.json``: every operation, as Acme and as Mallory.

What this checks, for every operation of the OpenAPI document the running app serves,
with 50 generated requests each (schema-valid and schema-invalid ones, derandomized so
CI sees the same requests every run), once with Acme's API key and once with Globex's
(Mallory's organisation):

- no answer is a 5xx;
- every answer matches the document: its status is documented, its body matches the
  schema of that status (errors included, see ``coursewright.openapi``), its content
  type and headers are the documented ones; a schema-invalid request is refused with a
  4xx (``negative_data_rejection``); an operation that declares authentication refuses
  a request without it (``ignored_auth``, probed on the first success only: it replays
  each success three times);
- neither organisation gets anything of the other: no answer holds one of the other
  organisation's markers, uids, ids (in an ``…_id`` field) or its slug unless the
  request itself said it; a request that names one of the other organisation's objects
  (in the path, ``?org=``, a query filter or the body) answers exactly like the same
  request naming an object that does not exist (the "twin", sent first) — and, when
  that object is what the operation acts on, with a 404 (or the 400/422 the twin gets
  too: the input was refused before any lookup); and it changes none of the other
  organisation's rows (every model with an ``org`` field, read before and after; for a
  GET, the number of rows per table).

So that the generated ids are not only random numbers (against which the isolation
checks would pass vacuously, and the success answers would never be seen), path
parameters, ``org`` and id-like query and body fields of schema-valid requests are
drawn from what schemathesis generated, the caller's own objects and the other
organisation's objects, a third each (schemathesis hooks; schema-invalid requests keep
what it generated). ``test_a_tenancy_leak_fails_the_run`` shows the checks bite: with
the tenancy filter broken, the run fails.

Why each request runs in a savepoint that is rolled back: hypothesis runs the 50
examples of an operation inside one test, so one database transaction. A successful
``DELETE /courses/{id}`` or a license revocation would otherwise change the data every
later example sees (the other organisation's course gone: the isolation checks go
quiet). Rolling back after each request gives every example the same world, at the
cost of a savepoint rather than a rebuilt fixture. What a savepoint cannot undo is
outside the database: files written while building an export stay (content-addressed,
harmless); files a deletion removes are removed only on commit, which never happens
here; API keys cannot delete an organisation (so no keyring key is destroyed).

Checks left out, and why:

- ``positive_data_acceptance`` expects a 2xx for schema-valid data, but the actions
  rightly refuse schema-valid requests that break rules a JSON schema cannot state
  (an approved version is not editable: 409; ``since`` after ``until``: 422).
- ``use_after_free``, ``ensure_resource_availability`` and
  ``object_level_authorization`` need schemathesis' stateful phase and its
  multi-identity auth configuration; the isolation checks here do that job directly.
- ``missing_required_header``, ``unsupported_method`` and ``allow_header_conformance``
  run only in schemathesis' coverage phase, which is not run (its deterministic
  boundary cases would multiply the run time; a wrong method's 405 in the error shape
  is tested in ``tests/api/test_flow.py``).

schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) cannot run
under pytest 9 (it sets ``node._nodeid``, which pytest 9 no longer has), so each
operation is a test of its own here, drawing its requests from ``as_strategy`` under
``hypothesis.given``. A test's examples run with ``max_examples=50``, ``derandomize``
(the same requests on every run and machine), no example database, no deadline.

Two workarounds, both for the test transport rather than the API: Django's
``close_old_connections`` is disconnected while the app is called in-process (as
Django's own test client does), or the first request would close the test's
transaction; and empty multipart files are sent as one byte, because Werkzeug's test
client encodes an empty file part with no blank line before the next boundary, which
Django's parser then drops (``tests/api/test_bad_uploads.py`` covers empty files).

Runtime, measured with 96 operations x 2 keys x 50 examples and ``-n 2`` on a 2-core
machine busy with other jobs: SQLite 7.5 min wall for 264 s of CPU, PostgreSQL 6.8 min
for 300 s (so about 2.5 and 3 minutes on two idle cores). Both databases run all 50:
PostgreSQL finds what SQLite cannot (it found NUL in text). ``SCHEMATHESIS_EXAMPLES=10``
runs fewer, for a quick local check (the at-least-50 assertion follows it).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.apps import apps
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks as builtin
from schemathesis.generation import GenerationMode
from schemathesis.hooks import HookDispatcher, HookScope

from tests.api.test_flow import HANDBOOK
from tests.conftest import People

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "50"))
ACME_MARKER = "zq-acme-private-7c1f"
GLOBEX_MARKER = "zq-globex-private-93d0"
MISSING_ID = 987_654_321
MISSING_SLUG = "no-such-org"

# Which pool of object ids a parameter or body field is drawn from, by its name.
PATH_KINDS = {"course_id": "course", "version_id": "version", "document_id": "document",
              "job_id": "job", "license_id": "license", "credential_id": "credential",
              "grading_id": "grading", "org_slug": "org", "screen_id": "screen",
              "provider": "provider", "forwarding_id": "forwarding",
              "webhook_id": "webhook", "delivery_id": "delivery",
              "reg_id": "lti_registration"}
# Path parameters that name no object of an organisation's (so no pool).
NOT_OBJECTS = {"fmt": "an export format (an enum)",
               "flag_id": "a flagged sentence, looked up inside its version",
               "attempt_id": "an embedded attempt: embed tokens only, which API keys are not "
                             "(tests/embed has its cross-org cases)"}
QUERY_KINDS = {"org": "org", "course": "course", "course_id": "course",
               "version_id": "version", "license_id": "license", "endpoint_id": "webhook",
               "deployment_id": "deployment"}
BODY_KINDS = {"courses": "course", "course_id": "course", "version_id": "version",
              "license_id": "license", "deployment_id": "deployment",
              "staging_deployment_id": "deployment", "confirm": "org", "screen_id": "screen",
              "org": "org"}
# Kinds whose values belong to one organisation (an isolation check applies to them).
OWNED_KINDS = {"course", "version", "document", "job", "license", "credential", "grading",
               "deployment", "org", "forwarding", "webhook", "delivery",
               "lti_registration"}
# ``…_id`` fields of answers that hold an id of one of these kinds.
ANSWER_ID_KINDS = {"course_id": "course", "source_document_id": "document",
                   "document_id": "document", "version_id": "version",
                   "license_id": "license", "deployment_id": "deployment",
                   "from_deployment_id": "deployment", "source_deployment_id": "deployment"}


def _operations() -> list[tuple[str, str]]:
    from coursewright.api import api

    document = api.get_openapi_schema(path_prefix="/api/v1/")
    return [(method.upper(), path) for path, methods in document["paths"].items()
            for method in methods]


OPERATIONS = _operations()


# --- the two organisations' data ------------------------------------------------------


@dataclass
class OrgData:
    org: Any
    slug: str
    secrets: list[str]  # strings only this organisation's data holds
    ids: dict[str, list[Any]] = field(default_factory=dict)  # kind -> values

    def owns(self, kind: str, value: Any) -> bool:
        if isinstance(value, bool):  # True == 1 in Python, but a boolean names nothing
            return False
        if kind == "course" and isinstance(value, list):
            return any(self.owns(kind, v) for v in value)
        return kind in OWNED_KINDS and value in self.ids.get(kind, [])


def _populate(people: People, org: Any, author: Any, owner: Any, marker: str) -> OrgData:
    """A course live in production with a draft on top, a document and its generation
    job, a license with a launch and a player error, an LRS credential, a grade, an xAPI
    forwarding target and a webhook endpoint with a delivery."""
    from coursewright.ai.models import GenerationJob
    from coursewright.assist.models import GradingRecord
    from coursewright.audit.actor import Actor
    from coursewright.courses.actions import start_new_draft
    from coursewright.delivery.models import LaunchSession
    from coursewright.ingest.actions import ingest_document
    from coursewright.tracking.credentials import issue_credential
    from coursewright.tracking.forwarding import create_target
    from coursewright.webhooks.actions import create_endpoint
    from coursewright.webhooks.events import emit
    from tests.delivery.test_licenses_fixtures import deployed_course, issue
    from tests.delivery.test_logs_fixtures import launch, report

    origin = f"https://lms.{org.slug}.example"
    live = deployed_course(org, author, f"{org.name} course {marker}")
    draft = start_new_draft(live.course, actor=Actor.person(author))
    license, token = issue(people, [live.course], name=f"{org.name} LMS {marker}",
                           allowed_origins=[origin])
    assert launch(token, live, f"learner-{marker}", origin).allowed
    report(LaunchSession.objects.get(license=license), "script", f"boom {marker}")
    document = ingest_document(org, filename=f"handbook-{marker}.md", data=HANDBOOK,
                               actor=Actor.person(author))
    job = GenerationJob.objects.create(  # queued; the AI gateway's checks are not the point
        org=org, document=document, requested_by=author, title=f"Draft {marker}",
        language="en", target_screens=5, engine="offline")
    credential, _ = issue_credential(org, name=f"{org.name} LRS {marker}",
                                     actor=Actor.person(owner))
    grading = GradingRecord.objects.create(
        org=org, course=live.course, version=live.version, block_id="b1",
        learner_ref="0" * 64, answer=f"answer {marker}", result={"criteria": []},
        provider="offline", model="", ai_score=0, max_score=1)
    # a literal public address: saving it needs no DNS, and nothing is sent from here
    target = create_target(org, name=f"{org.name} warehouse {marker}",
                           url="https://93.184.215.14/xapi/", actor=Actor.person(owner))
    webhook, _ = create_endpoint(org, url="https://93.184.215.14/hooks",
                                 events=["course.created"], description=f"hook {marker}",
                                 actor=Actor.person(owner))
    (delivery,) = emit(org, "course.created", {"course": {"id": live.course.pk}})
    from coursewright.lti.actions import register_platform

    registration = register_platform(
        org, name=f"LMS {marker}", issuer=f"https://lms.{org.slug}.example",
        client_id=f"client-{marker}", deployment_ids=["1"],
        jwks_url="https://93.184.215.14/jwks", auth_url="https://93.184.215.14/auth",
        token_url="https://93.184.215.14/token", license=license,
        actor=Actor.person(owner))
    return OrgData(
        org=org, slug=org.slug,
        secrets=[marker, str(live.course.uid), str(license.uid), str(document.uid),
                 credential.key, str(webhook.uid), str(delivery.uid),
                 str(registration.uid),
                 *(str(v.uid) for v in (live.version, draft))],
        ids={"course": [live.course.pk], "version": [live.version.pk, draft.pk],
             "document": [document.pk], "job": [job.pk], "license": [license.pk],
             "credential": [credential.pk], "grading": [grading.pk],
             "deployment": [live.deployment.pk], "org": [org.slug],
             "forwarding": [target.pk], "webhook": [webhook.pk], "delivery": [delivery.pk],
             "lti_registration": [registration.pk],
             "screen": ["s1"], "provider": ["offline", "openai"]})


@dataclass
class World:
    me: OrgData
    other: OrgData
    key: str


@pytest.fixture(params=["acme", "mallory"])
def world(request: pytest.FixtureRequest, people: People) -> World:
    acme = _populate(people, people.acme, people.bob, people.alice, ACME_MARKER)
    globex = _populate(people, people.globex, people.mallory, people.mallory, GLOBEX_MARKER)
    if request.param == "acme":
        return World(me=acme, other=globex, key=people.acme_key)
    return World(me=globex, other=acme, key=people.globex_key)


@pytest.fixture(autouse=True)
def _quiet_refusals() -> Iterator[None]:
    """Thousands of 4xx are expected here: log only the 5xx (with their traceback)."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


# --- the schema, served by the app in-process ----------------------------------------

_LOADED: dict[str, Any] = {}


@pytest.fixture
def api_schema(db: None) -> Iterator[Any]:
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        config = schemathesis.Config.from_dict({
            "seed": 20260101, "generation": {"with-security-parameters": False}})
        if "schema" not in _LOADED:  # loading takes seconds: once per process
            _LOADED["schema"] = schemathesis.openapi.from_wsgi(
                "/api/v1/openapi.json", get_wsgi_application(), config=config)
        yield _LOADED["schema"]
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_the_served_document_lists_the_collected_operations(api_schema: Any) -> None:
    served = [(method.upper(), path) for path, methods in api_schema.raw_schema["paths"].items()
              for method in methods]
    assert served == OPERATIONS
    assert len(OPERATIONS) >= 60
    # and every path parameter can name real objects of both organisations (otherwise
    # the isolation checks on that operation only ever see ids that name nothing)
    names = {p["name"] for methods in api_schema.raw_schema["paths"].values()
             for operation in methods.values() for p in operation.get("parameters", [])
             if p["in"] == "path"}
    unknown = sorted(names - set(PATH_KINDS) - set(NOT_OBJECTS))
    assert not unknown, f"add objects for {unknown} to _populate and PATH_KINDS"


# --- generation: ids drawn from both organisations ------------------------------------


def _choices(kind: str, value: Any, world: World) -> st.SearchStrategy[Any]:
    """Mostly a real object, the caller's or the other organisation's; sometimes what
    schemathesis generated (which nearly always names nothing: a 404)."""
    mine, theirs = world.me.ids.get(kind, []), world.other.ids.get(kind, [])
    if not mine and not theirs:
        return st.just(value)
    if isinstance(value, list):  # a list of course ids: one of each, or both together
        return st.one_of(st.just(value), st.sampled_from([[*mine], [*theirs], mine + theirs]))
    return st.one_of(st.just(value), *(st.sampled_from(pool) for pool in (mine, theirs)
                                       if pool))


def _swap(values: Any, kinds: dict[str, str], world: World) -> st.SearchStrategy[Any]:
    if not isinstance(values, dict):
        return st.just(values)
    return st.fixed_dictionaries({
        name: _choices(kinds[name], value, world) if name in kinds else st.just(value)
        for name, value in values.items()})


def _non_empty_files(body: Any) -> Any:
    if isinstance(body, dict) and body.get("file") in (b"", ""):
        return {**body, "file": b"\0"}
    return body


def _hooks(world: World, *, swap: bool) -> HookDispatcher:
    hooks = HookDispatcher(scope=HookScope.TEST)

    def map_body(context: Any, body: Any) -> Any:
        return _non_empty_files(body)

    hooks.register_hook_with_name(map_body, "map_body")
    if swap:
        def flatmap_path_parameters(context: Any, values: Any) -> Any:
            return _swap(values, PATH_KINDS, world)

        def flatmap_query(context: Any, values: Any) -> Any:
            return _swap(values, QUERY_KINDS, world)

        def flatmap_body(context: Any, values: Any) -> Any:
            return _swap(values, BODY_KINDS, world)

        for hook in (flatmap_path_parameters, flatmap_query, flatmap_body):
            hooks.register_hook_with_name(hook, hook.__name__)
    return hooks


# --- isolation checks ----------------------------------------------------------------


def _foreign_refs(case: Any, other: OrgData) -> list[tuple[str, str, Any]]:
    """(where, name, value) of every value in the request that is the other org's."""
    found = []
    for where, values, kinds in (("path", case.path_parameters, PATH_KINDS),
                                 ("query", case.query, QUERY_KINDS),
                                 ("body", case.body, BODY_KINDS)):
        if not isinstance(values, dict):
            continue
        for name, value in values.items():
            kind = kinds.get(name)
            if kind is not None and other.owns(kind, _plain(value)):
                found.append((where, name, value))
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _twin(case: Any, refs: list[tuple[str, str, Any]], other: OrgData,
          ) -> tuple[Any, dict[str, str]]:
    """The same request with every reference to the other org's objects replaced by one
    to an object that does not exist, and which stand-in replaced which value."""
    twin = case.derive(keep_auth=True)
    body = dict(case.body) if isinstance(case.body, dict) else case.body
    stand_ins: dict[str, str] = {}

    def missing(value: Any) -> Any:
        plain = _plain(value)
        stand_in: Any = (f"{MISSING_SLUG}-{len(stand_ins)}" if isinstance(plain, str)
                         else MISSING_ID + len(stand_ins))
        stand_ins[str(stand_in)] = str(value)
        return stand_in

    for where, name, value in refs:
        if isinstance(value, list):  # only the other organisation's ids in the list
            kind = {"path": PATH_KINDS, "query": QUERY_KINDS, "body": BODY_KINDS}[where][name]
            replaced: Any = [missing(v) if other.owns(kind, _plain(v)) else v for v in value]
        else:
            replaced = missing(value)
        if where == "path":
            twin.path_parameters[name] = replaced
        elif where == "query":
            twin.query[name] = replaced
        else:
            body[name] = replaced
    twin.body = body
    return twin, stand_ins


def _request_text(case: Any) -> str:
    return json.dumps([case.path_parameters, case.query,
                       case.body if isinstance(case.body, (dict, list, str)) else None],
                      default=str).lower()


def _answer_ids(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for name, item in value.items():
            if name in ANSWER_ID_KINDS:
                yield ANSWER_ID_KINDS[name], item
            if name == "courses" and isinstance(item, list):
                yield from (("course", v) for v in item)
            yield from _answer_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _answer_ids(item)


def _assert_nothing_of(other: OrgData, case: Any, response: Any) -> None:
    text = _body_of(response)
    for secret in other.secrets:
        assert secret not in text, f"the answer holds {other.slug}'s {secret!r}"
    if other.slug in text.lower():
        assert other.slug in _request_text(case), f"the answer names {other.slug}"
    try:
        body = json.loads(text)
    except ValueError:
        return
    for kind, value in _answer_ids(body):
        assert not other.owns(kind, value), f"the answer holds {other.slug}'s {kind} {value}"


@functools.cache
def _org_tables() -> list[tuple[str, str]]:
    """(table, column) of every model with an ``org`` foreign key."""
    from coursewright.orgs.models import Organisation

    found = []
    for model in apps.get_models():
        for org_field in model._meta.concrete_fields:
            if org_field.name == "org" and org_field.related_model is Organisation:
                found.append((model._meta.db_table, org_field.column))
    return sorted(found)


def _snapshot(org: OrgData, *, rows: bool) -> list[Any]:
    """What the organisation owns (every model with an ``org`` field, and its own row),
    read with plain SQL, as it runs around every request: every row for a request that
    may change state, the number of rows per table (one query) for a GET or HEAD, which
    may still write (an audit entry of a read) but changes no row in place."""
    from coursewright.orgs.models import Organisation

    tables = [(Organisation._meta.db_table, "id"), *_org_tables()]
    with connection.cursor() as cursor:
        if not rows:
            counts = " UNION ALL ".join(
                f"SELECT {n}, COUNT(*) FROM {table} WHERE {column} = %s"  # noqa: S608
                for n, (table, column) in enumerate(tables))  # the names are the models'
            cursor.execute(counts, [org.org.pk] * len(tables))
            return sorted(cursor.fetchall())
        found = []
        for table, column in tables:
            cursor.execute(f"SELECT * FROM {table} WHERE {column} = %s ORDER BY 1",  # noqa: S608
                           [org.org.pk])
            found.append([tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                          for row in cursor.fetchall()])
        return found


def _body_of(response: Any) -> str:
    return str(response.content.decode("utf-8", "replace"))


def _assert_isolated(other: OrgData, case: Any, response: Any,
                     refs: list[tuple[str, str, Any]], twin: Any,
                     stand_ins: dict[str, str]) -> None:
    _assert_nothing_of(other, case, response)
    if twin is None:
        return
    expected = _body_of(twin)
    if stand_ins:  # an echo of a stand-in reads as the value it stood in for
        pattern = "|".join(rf"\b{re.escape(k)}\b" for k in stand_ins)
        expected = re.sub(pattern, lambda m: stand_ins[m.group(0)], expected)
    assert (response.status_code, _body_of(response)) == (twin.status_code, expected), (
        f"naming {other.slug}'s objects {refs} answers differently from naming objects "
        f"that do not exist ({twin.status_code}: {_body_of(twin)[:300]})")
    if any(where == "path" or name == "org" for where, name, _ in refs):
        # the object the operation acts on: refused as missing, or as malformed before
        # it was looked up (the twin got the same)
        assert response.status_code in (400, 404, 422), (
            f"{other.slug}'s object {refs} answered {response.status_code}")


def _describe(case: Any, response: Any) -> str:
    body = case.body if isinstance(case.body, (dict, list, str, int, float)) else None
    return (f"request: {case.method} {case.formatted_path} query={case.query} "
            f"body={json.dumps(body, default=str)[:300]}\n"
            f"answer: {response.status_code} {_body_of(response)[:500]}")


# --- the test --------------------------------------------------------------------------

CHECKS: list[Callable[..., Any]] = [
    builtin.not_a_server_error, builtin.status_code_conformance,
    builtin.content_type_conformance, builtin.response_headers_conformance,
    builtin.response_schema_conformance, builtin.negative_data_rejection]


def _exercise(api_schema: Any, world: World, method: str, path: str,
              examples: int) -> dict[str, int]:
    """Run ``examples`` generated requests against one operation with every check;
    answer how many requests got which status."""
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {world.key}"}
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, hooks=_hooks(world, swap=True)),
        operation.as_strategy(GenerationMode.NEGATIVE, hooks=_hooks(world, swap=False)))
    auth_probed: list[bool] = []
    seen: dict[str, int] = {}
    unsafe = method not in ("GET", "HEAD")

    def checks_for(response: Any) -> list[Callable[..., Any]]:
        if 200 <= response.status_code < 300 and not auth_probed:
            auth_probed.append(True)
            return [*CHECKS, builtin.ignored_auth]
        return CHECKS

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    def run(case: Any) -> None:
        refs = _foreign_refs(case, world.other)
        with transaction.atomic():  # rolled back below: every example sees the same world
            before = _snapshot(world.other, rows=unsafe)
            twin, stand_ins = None, {}
            if refs:  # first, so that both see the same state
                twin_case, stand_ins = _twin(case, refs, world.other)
                with transaction.atomic():
                    twin = twin_case.call(headers=headers)
                    transaction.set_rollback(True)
            response = case.call(headers=headers)
            seen[str(response.status_code)] = seen.get(str(response.status_code), 0) + 1
            case.validate_response(response, headers=headers, checks=checks_for(response))
            try:
                _assert_isolated(world.other, case, response, refs, twin, stand_ins)
                assert _snapshot(world.other, rows=unsafe) == before, (
                    f"the request changed {world.other.slug}'s data")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{_describe(case, response)}") from None
            transaction.set_rollback(True)

    run()
    return seen


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_against_the_schema(api_schema: Any, world: World, method: str,
                                      path: str) -> None:
    seen = _exercise(api_schema, world, method, path, EXAMPLES)
    print(f"{method} {path}: {sum(seen.values())} requests, statuses {seen}")
    operation = api_schema[path][method]
    if operation.body or any(True for _ in operation.iter_parameters()):
        # hypothesis stops early only when it has tried every possible input
        assert sum(seen.values()) >= EXAMPLES, f"only {sum(seen.values())} examples ran"


def test_a_tenancy_leak_fails_the_run(api_schema: Any, world: World,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The isolation checks are not vacuous: with the tenancy filter broken, the run of
    one operation fails on the other organisation's course."""
    from coursewright.orgs import access

    # given a scoped() that forgets the organisation
    monkeypatch.setattr(access, "scoped", lambda model, principal: model._default_manager.all())
    # when one operation runs, then the other organisation's course gives it away
    with pytest.raises(AssertionError, match=f"the answer holds {world.other.slug}'s"):
        _exercise(api_schema, world, "GET", "/api/v1/courses/{course_id}", 20)


# --- what the run found, pinned as explicit cases ------------------------------------


@pytest.mark.parametrize("world", ["acme"], indirect=True)
@pytest.mark.parametrize(("path", "query", "status"), [
    # offsets too large for the database's integers were a 500
    ("/api/v1/courses/{course_id}/deployments", {"offset": 35975328609363103744}, 422),
    ("/api/v1/audit", {"offset": 10**20}, 422),
    ("/api/v1/courses/{course_id}/launches", {"offset": 10**20}, 422),
    ("/api/v1/courses", {"limit": 10**20}, 422),
    # numbers were read as seconds since 1970
    ("/api/v1/audit", {"until": "0.0"}, 422),
    ("/api/v1/ai/ledger", {"since": "20240102"}, 422),
    ("/api/v1/licenses/{license_id}/launches", {"since": "1700000000"}, 422),
    ("/api/v1/licenses/{license_id}/launches", {"since": "2999-01-01"}, 200),  # a date is
    # NUL in a filter was a 500 on PostgreSQL (its text cannot hold one)
    ("/api/v1/ai/ledger", {"feature": "\x00"}, 422),
    ("/api/v1/audit", {"action": "course.\x00"}, 422),
    # the JSON exports did not match the documented answer
    ("/api/v1/courses/{course_id}/deployments", {"format": "json"}, 200),
    ("/api/v1/courses/{course_id}/launches", {"format": "json"}, 200),
    ("/api/v1/courses/{course_id}/errors", {"format": "json"}, 200),
    ("/api/v1/licenses/{license_id}/launches", {"format": "json"}, 200),
])
def test_what_the_run_found(api_schema: Any, world: World, path: str, query: dict[str, Any],
                            status: int) -> None:
    path_parameters = {name: world.me.ids[PATH_KINDS[name]][0]
                       for name in re.findall(r"{(\w+)}", path)}
    case = api_schema[path]["GET"].Case(path_parameters=path_parameters, query=query)
    response = case.call(headers={"Authorization": f"Bearer {world.key}"})
    assert response.status_code == status, _body_of(response)[:300]
    case.validate_response(response, checks=CHECKS)
    if status == 200 and query.get("format") == "json":
        assert _body_of(response).strip()[0] in "[{"


def test_license_ids_too_large_for_the_database_are_refused(people: People) -> None:
    from tests.conftest import client_for

    # given Alice, who may issue licenses (an API key may not)
    alice = client_for(people.alice)
    for body in ({"name": "LMS", "courses": [2**64]},  # was a 500 on SQLite
                 {"name": "LMS", "courses": [1], "expires_at": 4102444800}):  # was 2100-01-01
        # when she names an id no database holds, or a time as a number
        response = alice.post("/api/v1/licenses", body, content_type="application/json")
        # then it is a clear 422
        assert response.status_code == 422, response.content
        assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("world", ["acme"], indirect=True)
def test_nul_in_a_json_body_is_refused_where_it_is(world: World) -> None:
    from tests.conftest import key_client

    api = key_client(world.key)
    url = f"/api/v1/documents/{world.me.ids['document'][0]}/generate"
    # given a title with a NUL character (JSON's \u0000), then a 422 naming it
    refused = api.post(url, '{"title": "Safety\\u0000"}', content_type="application/json")
    assert refused.status_code == 422
    assert refused.json()["error"]["details"] == [
        {"loc": ["body", "title"], "msg": "NUL characters are not allowed"}]
    # but a backslash followed by u0000 is just text
    accepted = api.post(url, '{"title": "Safety\\\\u0000"}', content_type="application/json")
    assert accepted.status_code == 202, accepted.content
