import json

import pytest

from tests.fixture_files import load_fixture
from webhooks.events import JiraEvent, MalformedEvent, StatusChange, parse_body, parse_event

PARSED = {
    "jira_issue_updated.status_transition.cloud2021": JiraEvent(
        webhook_event="jira:issue_updated",
        timestamp=1628833397385,
        issue_key="TALK-86",
        issue_type_name="Task",
        actor_account_id="5b10ac8d82e05b22cc7d5f7a",
        changelog_id="15469",
        status_change=StatusChange(from_id="4", to_id="10025"),
        changed_field_ids=("status",),
        changed_field_names=("status",),
    ),
    "jira_issue_created.cloud2024": JiraEvent(
        webhook_event="jira:issue_created",
        timestamp=1735441883659,
        issue_key="KAN-22",
        issue_type_name="Task",
        actor_account_id="5b10ac8d82e05b22cc7df0a6",
        changelog_id="10025",
        status_change=StatusChange(from_id=None, to_id="10000"),
        changed_field_ids=("assignee", "description", "priority", "reporter", "status", "summary"),
        changed_field_names=("assignee", "description", "priority", "reporter", "Status", "summary"),
    ),
    "jira_issue_updated.description_edit.cloud2024": JiraEvent(
        webhook_event="jira:issue_updated",
        timestamp=1735442025214,
        issue_key="KAN-22",
        issue_type_name="Task",
        actor_account_id="5b10ac8d82e05b22cc7df0a6",
        changelog_id="10026",
        status_change=None,
        changed_field_ids=("description",),
        changed_field_names=("description",),
    ),
    "jira_issue_updated.issue_assigned.cloud2021": JiraEvent(
        webhook_event="jira:issue_updated",
        timestamp=1628853167992,
        issue_key="CRM-13",
        issue_type_name="Task",
        actor_account_id="5b10ac8d82e05b22cc7d72ba",
        changelog_id="15485",
        status_change=None,
        changed_field_ids=("assignee",),
        changed_field_names=("assignee",),
    ),
    "comment_created.cloud2021": JiraEvent(
        webhook_event="comment_created",
        timestamp=1628677146887,
        issue_key="TALK-132",
        issue_type_name="Баг",
        actor_account_id="5b10ac8d82e05b22cc7d5f7a",
        changelog_id=None,
        status_change=None,
        changed_field_ids=(),
        changed_field_names=(),
    ),
    "issue_updated_status_to_awaiting_approval": JiraEvent(
        webhook_event="jira:issue_updated",
        timestamp=1735530000000,
        issue_key="CHG-7",
        issue_type_name="Change Request",
        actor_account_id="5b10ac8d82e05b22cc7d5f7a",
        changelog_id="20107",
        status_change=StatusChange(from_id="10001", to_id="10002"),
        changed_field_ids=("status",),
        changed_field_names=("status",),
    ),
    "issue_created_change_request": JiraEvent(
        webhook_event="jira:issue_created",
        timestamp=1735530100000,
        issue_key="CHG-8",
        issue_type_name="Change Request",
        actor_account_id="5b10ac8d82e05b22cc7df0a6",
        changelog_id="20108",
        status_change=StatusChange(from_id=None, to_id="10001"),
        changed_field_ids=("assignee", "description", "priority", "reporter", "status", "summary"),
        changed_field_names=("assignee", "description", "priority", "reporter", "Status", "summary"),
    ),
    "issue_updated_change_request_description_edit": JiraEvent(
        webhook_event="jira:issue_updated",
        timestamp=1735530200000,
        issue_key="CHG-7",
        issue_type_name="Change Request",
        actor_account_id="5b10ac8d82e05b22cc7df0a6",
        changelog_id="20109",
        status_change=None,
        changed_field_ids=("description",),
        changed_field_names=("description",),
    ),
    "comment_created_change_request": JiraEvent(
        webhook_event="comment_created",
        timestamp=1735530300000,
        issue_key="CHG-7",
        issue_type_name="Change Request",
        actor_account_id="5b10ac8d82e05b22cc7d5f7a",
        changelog_id=None,
        status_change=None,
        changed_field_ids=(),
        changed_field_names=(),
    ),
}


@pytest.mark.parametrize("name", PARSED, ids=list(PARSED))
def test_parse_fixture(name):
    body = json.dumps(load_fixture(name)).encode()
    assert parse_body(body) == PARSED[name]


def status_update(**changes):
    """Return the Change Request transition fixture with top-level keys replaced."""
    return {**load_fixture("issue_updated_status_to_awaiting_approval"), **changes}


def with_items(*items, changelog_id="20107"):
    return status_update(changelog={"id": changelog_id, "items": list(items)})


STATUS_ITEM = {"field": "status", "fieldId": "status", "from": "10001", "to": "10002"}

VARIANTS = [
    ("no-user", status_update(user=None), {"actor_account_id": None}),
    ("user-without-account", status_update(user={"displayName": "x"}), {"actor_account_id": None}),
    ("no-changelog", status_update(changelog=None),
     {"changelog_id": None, "status_change": None, "changed_field_ids": (),
      "changed_field_names": ()}),
    ("integer-ids", with_items({**STATUS_ITEM, "from": 10001, "to": 10002}, changelog_id=20107), {}),
    ("field-only-capitalised", with_items({"field": "Status", "from": "10001", "to": "10002"}),
     {"changed_field_ids": ("Status",), "changed_field_names": ("Status",)}),
    ("fieldid-wins-over-field", with_items({"field": "Status", "fieldId": "customfield_1", "to": "1"}),
     {"status_change": None, "changed_field_ids": ("customfield_1",),
      "changed_field_names": ("Status",)}),
    ("first-status-item-counts", with_items(STATUS_ITEM, {**STATUS_ITEM, "from": "10002", "to": "10003"}),
     {"changed_field_ids": ("status", "status"), "changed_field_names": ("status", "status")}),
    ("no-fields", status_update(issue={"key": "CHG-7"}), {"issue_type_name": None}),
    ("fieldid-only", with_items({"fieldId": "status", "from": "10001", "to": "10002"}),
     {"changed_field_names": ()}),
    ("edit-without-changelog-id", with_items({"fieldId": "description", "field": "description"},
                                             changelog_id=None),
     {"changelog_id": None, "status_change": None, "changed_field_ids": ("description",),
      "changed_field_names": ("description",)}),
    ("comment-author-is-the-actor", status_update(user=None, comment={"author": {"accountId": "a-1"}}),
     {"actor_account_id": "a-1"}),
    ("comment-without-author", status_update(user=None, comment={"id": "10050"}),
     {"actor_account_id": None}),
]


@pytest.mark.parametrize(("body", "changes"), [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_parse_variant(body, changes):
    expected = PARSED["issue_updated_status_to_awaiting_approval"]
    assert parse_event(body) == JiraEvent(**{**expected.__dict__, **changes})


def test_parse_event_without_issue():
    body = {"timestamp": 1735530000000, "webhookEvent": "project_created", "project": {"key": "CHG"}}
    assert parse_event(body) == JiraEvent(
        webhook_event="project_created",
        timestamp=1735530000000,
        issue_key=None,
        issue_type_name=None,
        actor_account_id=None,
        changelog_id=None,
        status_change=None,
        changed_field_ids=(),
        changed_field_names=(),
    )


MALFORMED = [
    ("not-json", b"{not json", "body is not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("not-utf8", b"\xff\xfe{}", "body is not UTF-8: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    ("empty", b"", "body is not JSON: Expecting value: line 1 column 1 (char 0)"),
    ("array", b"[]", "body must be a JSON object, got an array"),
    ("string", b'"jira:issue_updated"', "body must be a JSON object, got a string"),
    ("no-webhook-event", {"timestamp": 1}, "webhookEvent is missing"),
    ("webhook-event-number", {"webhookEvent": 3, "timestamp": 1}, "webhookEvent must be a string, got a number"),
    ("webhook-event-empty", {"webhookEvent": "", "timestamp": 1}, "webhookEvent must be a non-empty string"),
    ("no-timestamp", status_update(timestamp=None), "timestamp is missing"),
    ("timestamp-string", status_update(timestamp="1735530000000"), "timestamp must be an integer, got a string"),
    ("timestamp-bool", status_update(timestamp=True), "timestamp must be an integer, got a boolean"),
    ("no-issue", status_update(issue=None), "issue is missing"),
    ("issue-not-object", status_update(issue="CHG-7"), "issue must be an object, got a string"),
    ("comment-without-issue", {"webhookEvent": "comment_created", "timestamp": 1735530000000},
     "issue is missing"),
    ("timestamp-in-seconds", {"webhookEvent": "jira:issue_updated", "timestamp": 1735530000},
     "timestamp 1735530000 is not epoch milliseconds of this century"),
    ("no-issue-key", status_update(issue={"fields": {}}), "issue.key is missing"),
    ("issue-key-number", status_update(issue={"key": 7}), "issue.key must be a string, got a number"),
    ("issue-key-not-a-key", status_update(issue={"key": "CHG 7:x"}), "issue.key 'CHG 7:x' is not a Jira issue key"),
    ("fields-list", status_update(issue={"key": "CHG-7", "fields": []}), "issue.fields must be an object, got an array"),
    ("issuetype-string", status_update(issue={"key": "CHG-7", "fields": {"issuetype": "Change Request"}}),
     "issue.fields.issuetype must be an object, got a string"),
    ("issuetype-no-name", status_update(issue={"key": "CHG-7", "fields": {"issuetype": {"id": "1"}}}),
     "issue.fields.issuetype.name is missing"),
    ("user-list", status_update(user=[]), "user must be an object, got an array"),
    ("account-id-number", status_update(user={"accountId": 5}), "user.accountId must be a string, got a number"),
    ("comment-author-string", {**load_fixture("comment_created_change_request"), "comment": {"author": "x"}},
     "comment.author must be an object, got a string"),
    ("changelog-list", status_update(changelog=[]), "changelog must be an object, got an array"),
    ("items-object", status_update(changelog={"id": "1", "items": {}}), "changelog.items must be an array, got an object"),
    ("item-string", with_items("status"), "changelog.items[0] must be an object, got a string"),
    ("item-without-field", with_items({"from": "1"}), "changelog.items[0] has neither fieldId nor field"),
    ("status-without-to", with_items({**STATUS_ITEM, "to": None}), "changelog.items[0].to is missing"),
    ("status-to-empty", with_items({**STATUS_ITEM, "to": ""}), "changelog.items[0].to must not be empty"),
    ("status-from-object", with_items({**STATUS_ITEM, "from": {}}),
     "changelog.items[0].from must be an id (string or integer), got an object"),
    ("status-without-changelog-id", with_items(STATUS_ITEM, changelog_id=None), "changelog.id is missing on a status change"),
    ("changelog-id-float", with_items(STATUS_ITEM, changelog_id=1.5),
     "changelog.id must be an id (string or integer), got a number"),
    ("changelog-id-not-a-number", with_items(STATUS_ITEM, changelog_id="20107a"),
     "changelog.id '20107a' is not a number"),
    ("changelog-id-negative", with_items(STATUS_ITEM, changelog_id=-20107),
     "changelog.id '-20107' is not a number"),
    ("changelog-id-empty", with_items(STATUS_ITEM, changelog_id=""), "changelog.id must not be empty"),
    ("changelog-id-not-a-number-without-status", with_items({"fieldId": "description"}, changelog_id="x"),
     "changelog.id 'x' is not a number"),
]


@pytest.mark.parametrize(("body", "reason"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed(body, reason):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(MalformedEvent) as excinfo:
        parse_body(raw)
    assert str(excinfo.value) == reason


def test_deeply_nested_body_is_malformed():
    with pytest.raises(MalformedEvent) as excinfo:
        parse_body(b"[" * 100_000 + b"]" * 100_000)
    assert str(excinfo.value).startswith("body is not JSON: ")
