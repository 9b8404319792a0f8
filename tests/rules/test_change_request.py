"""Building the snapshot from a REST v3 issue (ADF fields, localised status names)."""

from datetime import datetime, timedelta, timezone

import pytest

from rules.adf import adf_to_text, table
from rules.change_request import SnapshotError, fields_to_fetch, parse_change_request
from rules.policy import FieldRole as F
from rules.policy import StatusRole
from tests.fixture_files import load_fixture

from .builders import SITE


def test_parse_rest_v3_issue():
    cr = parse_change_request(load_fixture("rest_v3_change_request_incomplete.json"), SITE)
    assert cr.key == "CHG-7"
    assert cr.summary == "Raise checkout DB pool"
    assert SITE.status_role(cr.status_id) is StatusRole.AWAITING_APPROVAL
    assert cr.reporter_account_id == "712020:alice"
    assert cr.labels == ("checkout",)
    assert cr.text(F.DESCRIPTION) == (
        "Raise the checkout service's connection pool from 20 to 40.\nasked by @Bob\n"
        ":rocket:@712020:bob"
    )
    assert cr.text(F.ROLLBACK_PLAN) == "TBD"
    assert cr.text(F.RISK_ASSESSMENT) is None
    assert cr.option(F.CATEGORY) == "Normal"
    assert cr.option(F.RISK_LEVEL) is None
    assert cr.datetime_of(F.PLANNED_START) == datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
    assert cr.datetime_of(F.PLANNED_END) == datetime(2026, 12, 1, 11, 30,
                                              tzinfo=timezone(timedelta(hours=1)))
    assert cr.user(F.INCIDENT_COMMANDER) is None


@pytest.mark.parametrize("raw, expected", [
    ("2026-12-01T10:00:00.000+0000", datetime(2026, 12, 1, 10, tzinfo=timezone.utc)),
    ("2026-12-01T10:00:00+0000", datetime(2026, 12, 1, 10, tzinfo=timezone.utc)),
    ("2026-12-01T10:00:00+00:00", datetime(2026, 12, 1, 10, tzinfo=timezone.utc)),
    ("2026-12-01T10:00:00", None),  # no zone: not a Jira date-time
    ("next Tuesday", None),
    (1733047200, None),
])
def test_planned_start_forms(raw, expected):
    issue = {"key": "CHG-1", "fields": {"status": {"id": "10001"}, SITE.field_id(F.PLANNED_START): raw}}
    assert parse_change_request(issue, SITE).datetime_of(F.PLANNED_START) == expected


def test_plain_values_and_missing_pieces():
    issue = {"key": "CHG-2", "fields": {
        "status": {"id": "10001"}, "summary": None, "labels": "oops",
        SITE.field_id(F.CATEGORY): "Normal", SITE.field_id(F.CHANGE_TYPE): 7,
        SITE.field_id(F.INCIDENT_COMMANDER): {"accountId": "712020:erin"},
        SITE.field_id(F.ROLLBACK_PLAN): ["not adf"],
    }}
    cr = parse_change_request(issue, SITE)
    assert (cr.summary, cr.labels, cr.reporter_account_id) == ("", (), None)
    assert cr.option(F.CATEGORY) == "Normal" and cr.option(F.CHANGE_TYPE) is None
    assert cr.user(F.INCIDENT_COMMANDER) == "712020:erin"
    assert cr.text(F.ROLLBACK_PLAN) is None


@pytest.mark.parametrize("issue, message", [
    ({"fields": {}}, "an issue needs a string 'key' and a 'fields' object"),
    ({"key": "CHG-1", "fields": []}, "an issue needs a string 'key' and a 'fields' object"),
    ({"key": "CHG-1", "fields": {"status": "Draft"}}, "CHG-1: the issue has no status id"),
    ({"key": "CHG-1", "fields": {}}, "CHG-1: the issue has no status id"),
])
def test_malformed_issue(issue, message):
    with pytest.raises(SnapshotError, match=message):
        parse_change_request(issue, SITE)


def test_fields_to_fetch_lists_every_policy_field_once():
    fields = fields_to_fetch(SITE)
    assert fields[:5] == ("summary", "status", "reporter", "labels", "issuetype")
    assert sorted(fields[5:]) == sorted(set(SITE.field_ids.values()))


@pytest.mark.parametrize("value, expected", [
    (None, None), ("plain", "plain"), (42, None), ({"type": "doc", "content": "x"}, ""),
    ({"type": "doc", "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "a "}, {"type": "inlineCard", "attrs": {"url": "https://x"}},
        {"type": "status", "attrs": {}}, {"type": "mention"}, "junk", {"type": "text", "text": 5}]}]}, "a https://x"),
    ({"type": "doc", "content": [{"type": "codeBlock", "content": [{"type": "text", "text": "x  "}]},
                                 {"type": "paragraph", "content": [{"type": "text", "text": "y"}]}]},
     "x\ny"),
    (table(("Category", "Trend"), [("All changes", "steady"), ("Normal", "-")]),
     "Category | Trend\nAll changes | steady\nNormal | -"),
    ({"type": "doc", "content": [
        {"type": "tableRow", "content": [{"type": "tableCell", "content": []}, "junk",
                                         {"type": "tableCell", "content": [
                                             {"type": "text", "text": "two\nlines"}]}]},
        {"type": "tableRow"}]}, "| two lines"),
])
def test_adf_to_text(value, expected):
    assert adf_to_text(value) == expected


def test_status_role_of_unknown_status():
    assert SITE.status_role("4") is None
