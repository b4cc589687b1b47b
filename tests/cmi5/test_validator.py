"""The validator the statement tests rely on does find problems (so an empty answer
means something)."""

from __future__ import annotations

from tests.cmi5.xapi_validation import problems


def test_the_validator_finds_a_bad_statement_and_passes_a_good_one() -> None:
    good = {"actor": {"objectType": "Agent",
                      "account": {"homePage": "https://example.com", "name": "x1"}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/initialized"},
            "object": {"id": "https://example.com/activity"}}
    bad = {"actor": {"mbox": "not-a-mailto"}, "verb": {"id": "initialized"},
           "object": {"id": "https://example.com/activity"}, "result": {"duration": "9"}}
    assert problems([good]) == []
    found = problems([bad])
    paths = {p["path"] for p in found}
    assert "statement.actor.mbox" in paths
    assert "statement.verb.id" in paths
