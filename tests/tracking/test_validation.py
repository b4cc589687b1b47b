"""Statement validation (no database): what xAPI requires an LRS to refuse, what it must
accept, and property tests for language tags, timestamps and the ids/canonical formats."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursewright.tracking.statements import (
    format_canonical,
    format_ids,
    pick_language,
    same_statement,
)
from coursewright.tracking.validation import (
    XapiError,
    is_language_tag,
    parse_timestamp,
    validate_statement,
)
from tests.tracking.conftest import statement


def invalid(changes: dict[str, Any]) -> dict[str, Any]:
    data = statement()
    for path, value in changes.items():
        target = data
        keys = path.split(".")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        if value is ...:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    return data


BAD: list[dict[str, Any]] = [
    {"actor": ...}, {"verb": ...}, {"object": ...},
    {"Actor": {"mbox": "mailto:a@b.c"}}, {"iD": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"},
    {"id": 12345}, {"id": "AA97B177-9383-4934-8543-0F91A7A028368"},
    {"id": "MA97B177-9383-4934-8543-0F91A7A02836"},
    {"actor.name": None}, {"verb.display": {"en-US": None}},
    {"actor.mbox": "user@example.com"}, {"actor.mbox_sha1sum": "xyz"},
    {"actor": {"mbox": "mailto:a@b.c", "openid": "http://o.example/1"}},
    {"actor": {"name": "no ifi"}},
    {"actor": {"account": {"homePage": "http://x.example", "name": {"key": "x"}}}},
    {"actor": {"account": {"name": "x"}}},
    {"actor": {"objectType": "Group"}},  # an anonymous group needs members
    {"actor": {"objectType": "Group", "member": [{"objectType": "Group",
                                                  "mbox": "mailto:g@b.c"}]}},
    {"actor": {"objectType": "agent", "mbox": "mailto:a@b.c"}},
    {"verb.id": "should fail"}, {"verb": {"display": {"en-US": "x"}}},
    {"verb.display": {"de-419-DE": "besucht"}}, {"verb.display": {"a-DE": "x"}},
    {"verb.display": {"ar-a-aaa-b-bbb-a-ccc": "x"}}, {"verb.display": {"something": "x"}},
    {"verb.display": "i-enochian"},
    {"object.id": "ab=c://should.fail.com"}, {"object.objectType": "activity"},
    {"object.definition": "should error"}, {"object.definition.name": 12345},
    {"object.definition.type": "should error"}, {"object.definition.moreInfo": "x"},
    {"object.definition.moreInfo": None},
    {"object.definition.extensions": {"valid": "not an iri key"}},
    {"object.definition.interactionType": "true-faLse"},
    {"object.definition.interactionType": "http://x.example/choice"},
    {"object.definition.correctResponsesPattern": ["a"]},  # without interactionType
    {"object.definition": {"interactionType": "likert", "choices": [{"id": "a"}]}},
    {"object.definition": {"interactionType": "choice",
                           "choices": [{"id": "a"}, {"id": "a"}]}},
    {"object": {"objectType": "StatementRef", "id": "not-a-uuid"}},
    {"object": {"objectType": "SubStatement", "actor": {"mbox": "mailto:a@b.c"},
                "verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"},
                "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"}},
    {"object": {"objectType": "SubStatement", "actor": {"mbox": "mailto:a@b.c"},
                "verb": {"id": "http://x.example/v"},
                "object": {"objectType": "SubStatement"}}},
    {"object": {"objectType": "Agent"}},
    {"result": {"score": {"max": "100"}}}, {"result": {"score": {"max": "one hundred"}}},
    {"result": {"success": "true"}}, {"result": {"completion": "false"}},
    {"result": {"score": {"scaled": 1.5}}}, {"result": {"score": {"min": 10, "max": 5}}},
    {"result": {"score": {"raw": 11, "min": 0, "max": 10}}},
    {"result": {"duration": "1 hour"}}, {"result": {"duration": "PT"}},
    {"result": {"RESULT": 1}},
    {"context": {"registration": None}}, {"context": {"registration": "x"}},
    {"context": {"language": "something"}}, {"context": {"team": {"mbox": "mailto:a@b.c"}}},
    {"context": {"contextActivities": {"parent": {"id": "not an iri"}}}},
    {"context": {"contextActivities": {"sibling": [{"id": "http://x.example/a"}]}}},
    {"context": {"statement": {"objectType": "Activity", "id": "http://x.example/a"}}},
    {"context": {"revision": "1"},
     "object": {"objectType": "Agent", "mbox": "mailto:a@b.c"}},
    {"context": {"platform": "x"},
     "object": {"objectType": "StatementRef", "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"}},
    {"context": {"contextAgents": [{"objectType": "contextAgent",
                                    "agent": {"mbox": "mailto:a@b.c"}}]}},  # 2.0 only
    {"timestamp": "should fail"}, {"timestamp": "01/011/2015"},
    {"timestamp": "2008-09-15T15:53:00.601-00"}, {"timestamp": "2008-09-15T15:53:00.601-0000"},
    {"timestamp": "2008-09-15T15:53:00.601-00:00"}, {"timestamp": "2008-02-30T00:00:00Z"},
    {"timestamp": "2008-09-15 15:53:00.601+00:00"},  # a space is RFC 3339, 2.0 only
    {"version": "should fail"}, {"version": "0.9.9"}, {"version": "1.1.0"},
    {"version": "2.0.0"},  # 1.0.3 requests
    {"authority": {"objectType": "Group", "mbox": "mailto:g@b.c",
                   "member": [{"mbox": "mailto:a@b.c"}, {"mbox": "mailto:b@b.c"}]}},
    {"authority": {"objectType": "Group", "member": [{"mbox": "mailto:a@b.c"}]}},
    {"attachments": [{"usageType": "http://x.example/u", "display": {"en-US": "x"},
                      "contentType": "text/plain", "length": "27", "sha2": "0" * 64}]},
    {"attachments": [{"display": {"en-US": "x"}, "contentType": "text/plain",
                      "length": 27, "sha2": "0" * 64}]},
    {"attachments": [{"usageType": "http://x.example/u", "display": {"de-419-DE": "x"},
                      "contentType": "text/plain", "length": 27, "sha2": "0" * 64}]},
    {"verb": {"id": "http://adlnet.gov/expapi/verbs/voided"}},  # voiding needs a ref
    {"stored": "yesterday"},
]

GOOD: list[dict[str, Any]] = [
    {},
    {"verb.display": {"de": "besucht", "zh-cmn-Hans-CN": "x", "sr-Latn-RS": "x",
                      "sl-rozaj-biske": "x", "de-CH-1901": "x", "hy-Latn-IT-arevela": "x",
                      "az-Arab-x-AZE-derbend": "x", "x-whatever": "x", "i-enochian": "x",
                      "ine": "x", "zh-Hant": "x"}},
    {"object": {"objectType": "Agent", "mbox": "mailto:a@b.c"}},
    {"object": {"objectType": "Group", "mbox": "mailto:g@b.c"}},
    {"object": {"objectType": "StatementRef", "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"}},
    {"object": {"id": "http://www.example.com/meetings/occurances/34534"}},
    {"object": {"objectType": "SubStatement", "actor": {"mbox": "mailto:a@b.c"},
                "verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"},
                "timestamp": "2013-05-18T05:32:34.804Z"}},
    {"object.definition.extensions": {"http://example.com/null": None}},
    {"object.definition": {"interactionType": "likert", "scale": [
        {"id": "a", "description": {"en-US": "A"}}], "correctResponsesPattern": ["a"]}},
    {"object.definition": {"interactionType": "matching", "source": [{"id": "1"}],
                           "target": [{"id": "a"}]}},
    {"object.definition": {"interactionType": "performance", "steps": [{"id": "1"}]}},
    {"object.definition": {"interactionType": "other"}},
    {"actor": {"objectType": "Group", "member": [{"mbox": "mailto:a@b.c"}]}},
    {"actor": {"objectType": "Group", "account": {"homePage": "http://x.example",
                                                  "name": "team"}}},
    {"actor": {"openid": "http://openid.example.org/12345"}},
    {"actor": {"mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"}},
    {"result": {"score": {"scaled": -1, "raw": 5, "min": 0, "max": 10},
                "duration": "P1DT12H", "response": "x", "extensions": {}}},
    {"result": {"duration": "PT1234.5S"}},
    {"context": {"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
                 "instructor": {"mbox": "mailto:t@b.c"},
                 "team": {"objectType": "Group", "mbox": "mailto:team@b.c"},
                 "contextActivities": {"parent": {"id": "http://x.example/p"},
                                       "other": [{"id": "http://x.example/o"}]},
                 "revision": "1", "platform": "web", "language": "de",
                 "statement": {"objectType": "StatementRef",
                               "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"},
                 "extensions": {"http://x.example/e": {"any": ["json"]}}}},
    {"timestamp": "2013-05-18T05:32:34.804Z"}, {"timestamp": "2013-05-18T05:32:34+02:00"},
    {"timestamp": "20130518T053234Z"}, {"timestamp": "2013-05-18T05:32Z"},
    {"version": "1.0"}, {"version": "1.0.9"},
    {"authority": {"objectType": "Group", "member": [
        {"account": {"homePage": "http://x.example/OAuth/Token", "name": "consumer"}},
        {"mbox": "mailto:bob@example.com"}]}},
    {"attachments": [{"usageType": "http://x.example/u", "display": {"en-US": "x"},
                      "description": {"es-MX": "x"}, "contentType": "text/plain",
                      "length": 27, "sha2": "0" * 64,
                      "fileUrl": "http://over.there.com/file.txt"}]},
    {"stored": "2013-05-18T05:32:34.804Z", "id": "FD41C918-B88B-4B20-A0A5-A4C32391AAA0"},
]


@pytest.mark.parametrize("changes", BAD, ids=[str(list(c))[:60] for c in BAD])
def test_invalid_statements_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(XapiError) as caught:
        validate_statement(invalid(changes), v2=False)
    assert caught.value.status == 400


@pytest.mark.parametrize("changes", GOOD, ids=[str(list(c))[:60] for c in GOOD])
def test_valid_statements_pass(changes: dict[str, Any]) -> None:
    validate_statement(invalid(changes), v2=False)
    validate_statement(invalid(changes), v2=True)


def test_2_0_accepts_its_additions() -> None:
    for changes in ({"context": {"contextAgents": [{"objectType": "contextAgent",
                                                    "agent": {"mbox": "mailto:a@b.c"},
                                                    "relevantTypes": ["http://x.example/t"]}],
                                 "contextGroups": [{"objectType": "contextGroup", "group": {
                                     "objectType": "Group", "mbox": "mailto:g@b.c"}}]}},
                    {"timestamp": "2008-09-15 15:53:00.601+00:00"}, {"version": "2.0.0"}):
        validate_statement(invalid(changes), v2=True)
    with pytest.raises(XapiError):
        validate_statement(invalid({"context": {"contextAgents": [
            {"objectType": "contextAgent", "agent": {"mbox": "mailto:a@b.c"},
             "relevantTypes": []}]}}), v2=True)


# --- property tests -----------------------------------------------------------------------

_alpha = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@given(language=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=3),
       region=st.one_of(st.none(), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                           min_size=2, max_size=2)))
def test_language_and_region_tags_are_valid(language: str, region: str | None) -> None:
    tag = language + (f"-{region}" if region else "")
    assert is_language_tag(tag)
    assert not is_language_tag(tag + "-" + tag.split("-")[0][:1])  # a lone singleton


# hypothesis takes naive bounds; the offset is applied below
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),  # noqa: DTZ001
       st.integers(min_value=-14 * 60, max_value=14 * 60))
@settings(max_examples=60)
def test_every_iso_timestamp_parses_to_the_same_instant(moment: datetime,
                                                        minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    assert parse_timestamp(aware.isoformat()) == aware
    assert parse_timestamp(aware.isoformat().replace("T", " ")) == aware  # RFC 3339
    assert parse_timestamp(aware.isoformat().replace("T", " "), v2=False) is None


agents = st.one_of(
    st.builds(lambda n: {"mbox": f"mailto:{n}@example.com"}, _alpha),
    st.builds(lambda n, h: {"account": {"homePage": f"https://{h}.example", "name": n}},
              _alpha, _alpha),
    st.builds(lambda n: {"objectType": "Group", "name": n,
                         "member": [{"mbox": f"mailto:{n}@example.com", "name": n}]}, _alpha))
maps = st.dictionaries(st.sampled_from(["en-US", "en-GB", "de", "fr-FR", "zh-Hant"]),
                       st.text(max_size=20), min_size=1, max_size=4)
statements = st.builds(
    lambda actor, display, name, parent: statement(
        actor=actor, verb={"id": "http://x.example/verb", "display": display},
        object={"id": "http://x.example/act", "definition": {"name": name}},
        context={"contextActivities": {"parent": [{"id": parent}]}}),
    agents, maps, maps, st.sampled_from(["http://x.example/p1", "http://x.example/p2"]))


@given(statements)
@settings(max_examples=80)
def test_the_ids_and_canonical_formats_yield_valid_statements(data: dict[str, Any]) -> None:
    validate_statement(copy.deepcopy(data), v2=False)
    ids = format_ids(data)
    validate_statement(copy.deepcopy(ids), v2=False)
    assert "display" not in ids["verb"]
    assert "definition" not in ids["object"]
    assert all("name" not in m for m in ids["actor"].get("member", []))
    canonical = format_canonical(data, {}, ["de"])
    validate_statement(copy.deepcopy(canonical), v2=False)
    assert len(canonical["verb"]["display"]) == 1
    assert len(canonical["object"]["definition"]["name"]) == 1


@given(statements)
@settings(max_examples=40)
def test_a_statement_is_the_same_as_itself_in_equivalent_forms(data: dict[str, Any]) -> None:
    stored = dict(copy.deepcopy(data), id="fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
                  stored="2020-01-01T00:00:00.000Z", timestamp="2020-01-01T00:00:00.000Z",
                  version="1.0.0", authority={"mbox": "mailto:lrs@example.com"})
    received = dict(copy.deepcopy(data), id="FD41C918-B88B-4B20-A0A5-A4C32391AAA0")
    received["context"]["contextActivities"]["parent"] = received["context"][
        "contextActivities"]["parent"][0]
    assert same_statement(stored, received, received_timestamp=False)
    received["verb"] = {"id": "http://x.example/other"}
    assert not same_statement(stored, received, received_timestamp=False)


def test_pick_language_prefers_the_accepted_language() -> None:
    mapping = {"en-US": "a", "en-GB": "b", "de": "c"}
    assert pick_language(mapping, ["en-gb"]) == {"en-GB": "b"}
    assert pick_language(mapping, ["de-ch", "en"]) == {"de": "c"}
    assert pick_language(mapping, ["fr"]) == {"en-US": "a"}
    assert pick_language(mapping, []) == {"en-US": "a"}
