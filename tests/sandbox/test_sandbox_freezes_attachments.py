"""The sandbox declares Change Freezes and keeps issue attachments as Jira Cloud does."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from sandbox.adf import text_to_adf
from sandbox.jira_routing import Upload
from sandbox.jira_seed import DEFAULT_POLICY_PATH, freeze_names
from sandbox.jira_server import SandboxJira, SandboxRequestError

from tests.builders import attachment_json

START = datetime(2026, 12, 24, 0, 0, tzinfo=timezone.utc)
END = datetime(2027, 1, 2, 8, 0, tzinfo=timezone.utc)
FREEZE_KIND = "customfield_10090"
FREEZE_REASON = "customfield_10091"
PLANNED_START, PLANNED_END = "customfield_10057", "customfield_10058"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="2"/></svg>'
UPLOAD_HEADERS = {"X-Atlassian-Token": "no-check"}
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
# A policy naming the freeze type and fields its own way, as a site may.
RENAMED_FREEZES = """
[freezes]
issue_type = "Blackout"
kind_field = "Blackout Kind"
reason_field = "Blackout Reason"
kind_values = { hard = "Total", soft = "Partial" }
"""


# -- Change Freeze ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({}, {"issue_type": "Change Freeze", "kind_field": "Freeze Kind",
              "reason_field": "Freeze Reason", "kinds": ["Hard", "Soft"]}),
        ({"freezes": {"issue_type": "Change Freeze", "kind_field": "Freeze Kind",
                      "kind_values": {"hard": "Hard", "soft": "Soft"}}},
         {"issue_type": "Change Freeze", "kind_field": "Freeze Kind",
          "reason_field": "Freeze Reason", "kinds": ["Hard", "Soft"]}),
        ({"freezes": {"issue_type": "Blackout", "kind_field": "Blackout Kind",
                      "reason_field": "Why", "kind_values": ["Total", "Partial"]}},
         {"issue_type": "Blackout", "kind_field": "Blackout Kind", "reason_field": "Why",
          "kinds": ["Total", "Partial"]}),
    ],
    ids=["no-freezes-table", "table-without-reason-field", "all-renamed-kinds-as-list"],
)
def test_freeze_names_come_from_the_policy_or_the_defaults(policy, expected):
    assert freeze_names(policy) == expected


@pytest.mark.parametrize(
    ("name", "field_id", "schema", "options"),
    [
        ("Freeze Kind", FREEZE_KIND,
         {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
          "customId": 10090}, ["Hard", "Soft"]),
        ("Freeze Reason", FREEZE_REASON,
         {"type": "string",
          "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
          "customId": 10091}, []),
        ("Attachment", "attachment",
         {"type": "array", "items": "attachment", "system": "attachment"}, []),
    ],
    ids=["freeze-kind-select", "freeze-reason-paragraph", "attachment-system-field"],
)
def test_seed_has_the_freeze_and_attachment_fields(jira, http, name, field_id, schema, options):
    listed = {f["name"]: f for f in http("GET", "/rest/api/3/field").json()}
    assert (listed[name]["id"], listed[name]["schema"]) == (field_id, schema)
    assert [o.value for o in jira.site.fields[field_id].options] == options


@pytest.mark.parametrize(
    ("kind", "reason", "kind_json", "reason_json"),
    [
        ("Hard", "Year-end holidays: on-call is thin.",
         {"value": "Hard", "id": "10300"}, text_to_adf("Year-end holidays: on-call is thin.")),
        ("Soft", None, {"value": "Soft", "id": "10301"}, None),
    ],
    ids=["hard-with-reason", "soft-without-reason"],
)
def test_freeze_is_created_and_read_back_with_its_fields(jira, http, kind, reason, kind_json,
                                                        reason_json):
    key = jira.create_freeze("dana", "Year-end freeze", START, END, kind, reason)
    fields = ",".join(["summary", "issuetype", PLANNED_START, PLANNED_END, FREEZE_KIND,
                       FREEZE_REASON])
    answer = http("GET", f"/rest/api/3/issue/{key}", params={"fields": fields})
    assert answer.status_code == 200
    got = answer.json()["fields"]
    kind_json = {"self": f"{jira.base_url}/rest/api/3/customFieldOption/{kind_json['id']}",
                 **kind_json}
    assert {name: got[name] for name in fields.split(",") if name != "issuetype"} == {
        "summary": "Year-end freeze",
        PLANNED_START: "2026-12-24T00:00:00.000+0000",
        PLANNED_END: "2027-01-02T08:00:00.000+0000",
        FREEZE_KIND: kind_json,
        FREEZE_REASON: reason_json,
    }
    assert (got["issuetype"]["id"], got["issuetype"]["name"]) == ("10101", "Change Freeze")
    assert jira.requests[0].account_id == jira.users["dana"].account_id


def test_freeze_kind_outside_its_options_is_refused(jira):
    with pytest.raises(SandboxRequestError) as refused:
        jira.create_freeze("dana", "Odd freeze", START, END, "Frosty")
    assert refused.value.status == 400
    assert "Option value 'Frosty' is not valid" in refused.value.body


def test_freeze_names_and_kinds_follow_a_renaming_policy(tmp_path: Path):
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    # Drop any [freezes] table (and its sub-tables) the default policy has, then add ours.
    text = re.sub(r"(?ms)^\[\[?freezes\b[^\]]*\]\]?.*?(?=^\[|\Z)", "", text)
    policy = tmp_path / "policy.toml"
    policy.write_text(text + RENAMED_FREEZES, encoding="utf-8")
    with SandboxJira(policy_path=policy) as jira:
        key = jira.create_freeze("dana", "Launch blackout", START, END, "Partial", "Launch.")
        assert jira.value_of(key, "Blackout Kind")["value"] == "Partial"
        assert jira.value_of(key, "Blackout Reason") == text_to_adf("Launch.")
        assert jira.value_of(key, "Issue Type")["name"] == "Blackout"
        assert jira.spec_violations == []


def test_freeze_webhooks_carry_its_issue_type(jira, receiver):
    jira.webhook_url = receiver.url
    key = jira.create_freeze("dana", "Year-end freeze", START, END, "Hard", "Holidays.")
    jira.edit(key, "dana", {"Planned End": datetime(2027, 1, 5, 8, 0, tzinfo=timezone.utc)})
    jira.wait_for_deliveries()
    created, updated = (r.json for r in receiver.received)
    seen = [(body["webhookEvent"], body["issue"]["key"],
             body["issue"]["fields"]["issuetype"]["name"],
             body["issue"]["fields"]["issuetype"]["id"]) for body in (created, updated)]
    assert seen == [("jira:issue_created", key, "Change Freeze", "10101"),
                    ("jira:issue_updated", key, "Change Freeze", "10101")]
    assert created["issue"]["fields"][FREEZE_KIND]["value"] == "Hard"
    assert created["issue"]["fields"][FREEZE_REASON] == "Holidays."
    assert updated["changelog"]["items"] == [
        {"field": "Planned End", "fieldtype": "custom", "fieldId": PLANNED_END,
         "from": "2027-01-02T08:00:00.000+0000", "fromString": "2027-01-02T08:00:00.000+0000",
         "to": "2027-01-05T08:00:00.000+0000", "toString": "2027-01-05T08:00:00.000+0000"},
    ]


# -- attachments -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("filename", "content", "mime_type"),
    [
        ("change-health.svg", SVG, "image/svg+xml"),
        ("weekly.csv", b"week,deployments\n2026-W49,12\n", "text/csv"),
        ("empty.bin", b"", "application/octet-stream"),
    ],
    ids=["svg-chart", "csv", "empty-file"],
)
def test_upload_answers_the_attachment_and_keeps_its_bytes(jira, http, filename, content,
                                                           mime_type):
    key = jira.create_change_request("alice", "Rotate certificates", {})
    answer = http("POST", f"/rest/api/3/issue/{key}/attachments", headers=UPLOAD_HEADERS,
                  files={"file": (filename, content, mime_type)})
    assert answer.status_code == 200
    expected = attachment_json(jira, 10000, filename, content, mime_type)
    assert answer.json() == [expected]
    assert jira.attachments(key) == [{**expected, "bytes": content}]
    assert jira.requests[-1].uploads == (Upload("file", filename, mime_type, content),)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", expected["created"])


def test_several_files_in_one_upload_each_become_an_attachment(jira, http):
    key = jira.create_change_request("alice", "Rotate certificates", {})
    files = [("file", ("a.txt", b"alpha", "text/plain")),
             ("file", ("b.txt", b"bravo", "text/plain")),
             ("comment", ("ignored.txt", b"not a file field", "text/plain"))]
    answer = http("POST", f"/rest/api/3/issue/{key}/attachments", headers=UPLOAD_HEADERS,
                  files=files)
    assert answer.status_code == 200
    assert [(a["id"], a["filename"], a["size"]) for a in answer.json()] == [
        ("10000", "a.txt", 5), ("10001", "b.txt", 5)]
    assert [a["bytes"] for a in jira.attachments(key)] == [b"alpha", b"bravo"]


def test_attachment_metadata_content_listing_and_delete(jira, http):
    key = jira.create_change_request("alice", "Rotate certificates", {})
    http("POST", f"/rest/api/3/issue/{key}/attachments", headers=UPLOAD_HEADERS,
         files={"file": ("chart.svg", SVG, "image/svg+xml")})
    listed = attachment_json(jira, 10000, "chart.svg", SVG, "image/svg+xml")

    metadata = http("GET", "/rest/api/3/attachment/10000")
    assert (metadata.status_code, metadata.json()) == (200, attachment_json(
        jira, 10000, "chart.svg", SVG, "image/svg+xml", metadata=True))

    direct = http("GET", "/rest/api/3/attachment/content/10000", params={"redirect": "false"})
    assert (direct.status_code, direct.headers["Content-Type"], direct.content) == (
        200, "image/svg+xml", SVG)

    redirected = http("GET", "/rest/api/3/attachment/content/10000", allow_redirects=False)
    assert redirected.status_code == 303
    assert re.fullmatch(rf"{jira.base_url}/media/file/[0-9a-f-]{{36}}/binary",
                        redirected.headers["Location"])
    followed = http("GET", "/rest/api/3/attachment/content/10000")
    assert ([r.status_code for r in followed.history], followed.status_code,
            followed.content) == ([303], 200, SVG)

    issue = http("GET", f"/rest/api/3/issue/{key}", params={"fields": "attachment"}).json()
    assert issue["fields"] == {"attachment": [listed]}

    deleted = http("DELETE", "/rest/api/3/attachment/10000")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert jira.attachments(key) == []
    issue = http("GET", f"/rest/api/3/issue/{key}", params={"fields": "attachment"}).json()
    assert issue["fields"] == {"attachment": []}
    gone = http("GET", "/rest/api/3/attachment/10000")
    assert (gone.status_code, gone.json()["errorMessages"]) == (
        404, ["The attachment with id '10000' does not exist."])


def test_attach_and_remove_are_logged_and_announced(jira, receiver, http):
    key = jira.create_change_request("alice", "Rotate certificates", {})
    jira.webhook_url = receiver.url
    attached = jira.attach(key, "dana", "chart.svg", SVG, "image/svg+xml")
    assert (attached["id"], attached["author"]["accountId"]) == (
        "10000", jira.users["dana"].account_id)
    http("DELETE", "/rest/api/3/attachment/10000")
    jira.wait_for_deliveries()
    bodies = [r.json for r in receiver.received]
    assert [(b["webhookEvent"], b["issue_event_type_name"], b["user"]["accountId"],
             b["changelog"]["items"]) for b in bodies] == [
        ("jira:issue_updated", "issue_updated", jira.users["dana"].account_id,
         [{"field": "Attachment", "fieldtype": "jira", "fieldId": "attachment", "from": None,
           "fromString": None, "to": "10000", "toString": "chart.svg"}]),
        ("jira:issue_updated", "issue_updated", jira.bot.account_id,
         [{"field": "Attachment", "fieldtype": "jira", "fieldId": "attachment", "from": "10000",
           "fromString": "chart.svg", "to": None, "toString": None}]),
    ]
    shown = bodies[0]["issue"]["fields"]["attachment"]
    assert [(a["id"], a["self"]) for a in shown] == [
        ("10000", f"{jira.base_url}/rest/api/2/attachment/10000")]
    assert bodies[1]["issue"]["fields"]["attachment"] == []


# (id, method, path, request options, status, body or errorMessages, spec violations)
REFUSALS = [
    ("upload-without-xsrf-header", "POST", "/rest/api/3/issue/{key}/attachments",
     {"files": {"file": ("a.txt", b"a", "text/plain")}}, 403, "XSRF check failed", 0),
    ("upload-with-wrong-xsrf-value", "POST", "/rest/api/3/issue/{key}/attachments",
     {"files": {"file": ("a.txt", b"a", "text/plain")},
      "headers": {"X-Atlassian-Token": "check"}}, 403, "XSRF check failed", 0),
    ("upload-to-unknown-issue", "POST", "/rest/api/3/issue/CHG-999/attachments",
     {"files": {"file": ("a.txt", b"a", "text/plain")}, "headers": UPLOAD_HEADERS}, 404,
     [ISSUE_NOT_FOUND], 0),
    ("upload-without-file-field", "POST", "/rest/api/3/issue/{key}/attachments",
     {"files": {"upload": ("a.txt", b"a", "text/plain")}, "headers": UPLOAD_HEADERS}, 400,
     ["The request does not match the Jira Cloud REST API: request POST "
      "/rest/api/3/issue/{key}/attachments: Request body validation error: Value {{}} not valid "
      "for schema of type object: (<ValidationError: \"'file' is a required property\">,): "
      "'file' is a required property"], 1),
    ("metadata-of-unknown-attachment", "GET", "/rest/api/3/attachment/424242", {}, 404,
     ["The attachment with id '424242' does not exist."], 0),
    ("content-of-unknown-attachment", "GET", "/rest/api/3/attachment/content/424242",
     {"params": {"redirect": "false"}}, 404,
     ["The attachment with id '424242' does not exist."], 0),
    ("delete-unknown-attachment", "DELETE", "/rest/api/3/attachment/424242", {}, 404,
     ["The attachment with id '424242' does not exist."], 0),
]


@pytest.mark.parametrize(("method", "path", "options", "status", "expected", "violations"),
                         [row[1:] for row in REFUSALS], ids=[row[0] for row in REFUSALS])
def test_attachment_requests_jira_refuses(jira, http, method, path, options, status, expected,
                                          violations):
    key = jira.create_change_request("alice", "Rotate certificates", {})
    if isinstance(expected, list):
        expected = [message.format(key=key) for message in expected]
    answer = http(method, path.format(key=key), **options)
    assert answer.status_code == status
    if isinstance(expected, str):
        assert (answer.headers["Content-Type"], answer.text) == (
            "text/plain;charset=UTF-8", expected)
    else:
        assert answer.json()["errorMessages"] == expected
    assert jira.attachments(key) == []
    assert len(jira.spec_violations) == violations
    jira.reset_recordings()


def test_without_spec_checks_an_upload_without_files_is_still_refused():
    with SandboxJira(spec_check=False) as jira:
        key = jira.create_change_request("alice", "Rotate certificates", {})
        person = jira.bot
        answer = requests.post(f"{jira.base_url}/rest/api/3/issue/{key}/attachments",
                               files={"upload": ("a.txt", b"a", "text/plain")},
                               headers=UPLOAD_HEADERS, auth=(person.email, person.api_token),
                               timeout=10)
        assert (answer.status_code, answer.json()["errorMessages"]) == (
            400, ["Send the files as multipart/form-data, each in a field named 'file'."])
