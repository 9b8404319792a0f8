"""Webhooks from the sandbox look, sign and retry like Jira Cloud's."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sandbox.webhook_sender import is_retryable, sign

SECRET = "sandbox-secret"


@pytest.fixture
def wired(jira, receiver):
    """Point the sandbox's webhooks at the receiver, signed with SECRET."""
    jira.webhook_url = receiver.url
    jira.webhook_secret = SECRET
    return jira


def test_atlassian_signature_test_vector():
    assert sign("It's a Secret to Everybody", b"Hello World!") == (
        "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"
    )


@pytest.mark.parametrize(
    ("status", "retry"),
    [(None, True), (200, False), (204, False), (400, False), (401, False), (403, False),
     (404, False), (408, True), (409, True), (425, True), (429, True), (500, True),
     (503, True)],
)
def test_retryable_statuses(status, retry):
    assert is_retryable(status) is retry


def test_transition_webhook_shape_and_headers(wired, receiver):
    key = wired.create_change_request("alice", "Rotate certificates", {"Rollback Plan": "Undo."})
    wired.transition(key, "Awaiting Approval", "bob")
    wired.wait_for_deliveries()
    created, updated = receiver.received
    assert created.json["webhookEvent"] == "jira:issue_created"
    assert created.json["issue_event_type_name"] == "issue_created"
    body = updated.json
    assert sorted(body) == ["changelog", "issue", "issue_event_type_name", "timestamp", "user",
                            "webhookEvent"]
    assert body["webhookEvent"] == "jira:issue_updated"
    assert body["issue_event_type_name"] == "issue_generic"
    assert body["user"]["accountId"] == wired.users["bob"].account_id
    assert body["user"]["self"].endswith(f"/rest/api/2/user?accountId={body['user']['accountId']}")
    assert body["issue"]["key"] == key
    assert body["issue"]["fields"]["status"]["id"] == "10002"
    assert body["issue"]["fields"]["customfield_10053"] == "Undo."
    assert body["changelog"]["items"] == [
        {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "10001",
         "fromString": "Draft", "to": "10002", "toString": "Awaiting Approval"},
    ]
    assert int(body["changelog"]["id"]) > int(created.json["changelog"]["id"])
    assert isinstance(body["timestamp"], int)
    headers = updated.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Atlassian-Webhook-Flow"] == "Primary"
    assert "X-Atlassian-Webhook-Retry" not in headers
    assert headers["X-Atlassian-Webhook-Identifier"] != created.headers[
        "X-Atlassian-Webhook-Identifier"]
    expected = "sha256=" + hmac.new(SECRET.encode(), updated.raw, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature"] == expected


def test_created_webhook_changelog_like_jira(wired, receiver):
    wired.create_change_request("alice", "Bump a dependency",
                                {"Change Category": "Standard", "Description": "Patch bump."})
    wired.wait_for_deliveries()
    body = receiver.received[0].json
    alice = wired.users["alice"]
    assert body["issue"]["fields"]["description"] == "Patch bump."
    assert body["changelog"]["items"] == [
        {"field": "Change Category", "fieldtype": "custom", "fieldId": "customfield_10050",
         "from": None, "fromString": None, "to": "10200", "toString": "Standard"},
        {"field": "description", "fieldtype": "jira", "fieldId": "description",
         "from": None, "fromString": None, "to": None, "toString": "Patch bump."},
        {"field": "reporter", "fieldtype": "jira", "fieldId": "reporter",
         "from": None, "fromString": None, "to": alice.account_id, "toString": "Alice Adams"},
        {"field": "Status", "fieldtype": "jira", "fieldId": "status",
         "from": None, "fromString": None, "to": "10001", "toString": "Draft"},
        {"field": "summary", "fieldtype": "jira", "fieldId": "summary",
         "from": None, "fromString": None, "to": None, "toString": "Bump a dependency"},
    ]


def test_edit_webhook_is_issue_updated(wired, receiver):
    key = wired.create_change_request("alice", "Tune the cache", {})
    wired.edit(key, "alice", {"Deployment Plan": "Roll out behind the flag.\n\nThen remove it."})
    wired.wait_for_deliveries()
    body = receiver.received[1].json
    assert body["issue_event_type_name"] == "issue_updated"
    assert body["changelog"]["items"] == [
        {"field": "Deployment Plan", "fieldtype": "custom", "fieldId": "customfield_10052",
         "from": None, "fromString": None, "to": None,
         "toString": "Roll out behind the flag.\n\nThen remove it."},
    ]


def test_comment_webhook_has_no_user(wired, receiver):
    key = wired.create_change_request("alice", "Tune the cache", {})
    comment_id = wired.add_comment(key, "carol", "Approved at CAB.")
    wired.wait_for_deliveries()
    body = receiver.received[1].json
    assert sorted(body) == ["comment", "issue", "timestamp", "webhookEvent"]
    assert body["webhookEvent"] == "comment_created"
    assert body["comment"]["id"] == comment_id
    assert body["comment"]["body"] == "Approved at CAB."
    assert body["comment"]["author"]["accountId"] == wired.users["carol"].account_id
    assert body["issue"]["key"] == key
    assert sorted(body["issue"]["fields"]) == ["assignee", "issuetype", "project", "status",
                                               "summary"]


def test_comment_edit_webhook(wired, receiver, http):
    key = wired.create_change_request("alice", "Tune the cache", {})
    comment_id = wired.add_comment(key, "carol", "Draft agenda")
    doc = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "Agenda for "},
        {"type": "mention", "attrs": {"id": wired.users["dana"].account_id, "text": "@Dana"}},
    ]}]}
    http("PUT", f"/rest/api/3/issue/{key}/comment/{comment_id}", json={"body": doc})
    wired.wait_for_deliveries()
    body = receiver.received[2].json
    assert body["webhookEvent"] == "comment_updated"
    assert body["comment"]["body"] == f"Agenda for [~accountid:{wired.users['dana'].account_id}]"
    assert wired.comments(key)[0]["text"] == "Agenda for @Dana"


def test_retry_on_503_then_success(wired, receiver):
    receiver.statuses = [503, 503]
    wired.create_change_request("alice", "Retry me", {})
    wired.wait_for_deliveries()
    assert [d.status for d in wired.deliveries] == [503, 503, 200]
    assert [d.attempt for d in wired.deliveries] == [1, 2, 3]
    assert [r.headers.get("X-Atlassian-Webhook-Retry") for r in receiver.received] == [
        None, "1", "2"]
    assert len({r.headers["X-Atlassian-Webhook-Identifier"] for r in receiver.received}) == 1
    assert len({r.raw for r in receiver.received}) == 1


def test_no_retry_on_400(wired, receiver):
    receiver.statuses = [400]
    wired.create_change_request("alice", "Refused", {})
    wired.wait_for_deliveries()
    assert [(d.attempt, d.status, d.gave_up) for d in wired.deliveries] == [(1, 400, False)]
    assert len(receiver.received) == 1


def test_gives_up_after_the_retry_delays(wired, receiver):
    receiver.statuses = [500] * 10
    wired.create_change_request("alice", "Always failing", {})
    wired.wait_for_deliveries()
    assert [(d.attempt, d.status, d.gave_up) for d in wired.deliveries] == [
        (1, 500, False), (2, 500, False), (3, 500, False), (4, 500, True)]


def test_connection_failure_is_retried(jira):
    jira.webhook_url = "http://127.0.0.1:9/nobody-listens"
    jira.create_change_request("alice", "Nobody home", {})
    jira.wait_for_deliveries()
    assert [d.status for d in jira.deliveries] == [None] * 4
    assert all(d.error for d in jira.deliveries)
    assert jira.deliveries[-1].gave_up is True


def test_deliveries_are_in_commit_order(wired, receiver):
    key = wired.create_change_request("alice", "Order", {})
    for status in ("Awaiting Approval", "Approved", "Implementing", "Implemented", "Closed"):
        wired.transition(key, status, "dana")
    wired.wait_for_deliveries()
    targets = [r.json["changelog"]["items"][-1]["toString"] for r in receiver.received[1:]]
    assert targets == ["Awaiting Approval", "Approved", "Implementing", "Implemented", "Closed"]
    ids = [int(r.json["changelog"]["id"]) for r in receiver.received]
    assert ids == sorted(ids)


def test_unsigned_without_secret_and_silent_without_url(jira, receiver):
    jira.create_change_request("alice", "Before any webhook", {})
    jira.wait_for_deliveries()
    assert jira.deliveries == []
    jira.webhook_url = receiver.url
    jira.create_change_request("alice", "Unsigned", {})
    jira.wait_for_deliveries()
    assert "X-Hub-Signature" not in receiver.received[0].headers


def test_webhook_registration_sets_url_and_secret(jira, receiver, http):
    answer = http("POST", "/rest/webhooks/1.0/webhook", json={
        "name": "changeguard", "url": receiver.url, "events": ["jira:issue_updated"],
        "filters": {"issue-related-events-section": 'issuetype = "Change Request"'},
        "secret": SECRET,
    })
    assert answer.status_code == 201
    assert (jira.webhook_url, jira.webhook_secret) == (receiver.url, SECRET)
    assert [w["name"] for w in http("GET", "/rest/webhooks/1.0/webhook").json()] == ["changeguard"]


def test_redeliver_as_retry_and_as_new_delivery(wired, receiver):
    wired.create_change_request("alice", "Again", {})
    wired.wait_for_deliveries()
    first = wired.deliveries[0]
    assert wired.redeliver(first.identifier) == 200
    assert wired.redeliver(first.identifier, new_identifier=True) == 200
    original, retry, fresh = receiver.received
    assert original.raw == retry.raw == fresh.raw
    assert retry.headers["X-Atlassian-Webhook-Identifier"] == first.identifier
    assert retry.headers["X-Atlassian-Webhook-Retry"] == "1"
    assert retry.headers["X-Hub-Signature"] == original.headers["X-Hub-Signature"]
    assert fresh.headers["X-Atlassian-Webhook-Identifier"] != first.identifier
    assert "X-Atlassian-Webhook-Retry" not in fresh.headers
    assert [d.attempt for d in wired.deliveries] == [1, 2, 1]


def test_status_and_field_ids_by_name(jira):
    assert jira.status_id("Implementing") == "10004"
    assert jira.field_id("Incident Commander") == "customfield_10059"
