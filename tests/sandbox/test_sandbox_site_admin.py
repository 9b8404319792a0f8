"""The sandbox's workflow search, webhook updates, and the helpers tests use to break the site."""

from __future__ import annotations

import pytest

from sandbox.jira_seed import GLOBAL_TRANSITION_ID, GLOBAL_TRANSITION_NAME

SEARCH = "/rest/api/3/workflow/search"
STATUS_NAMES = ["Draft", "Awaiting Approval", "Approved", "Implementing", "Implemented", "Closed",
                "Rejected", "Cancelled"]


def moves(workflow):
    """Return the workflow's transitions as (type, from names, to name)."""
    name = {s["id"]: s["name"] for s in workflow["statuses"]}
    return {(t["type"], tuple(name[i] for i in t["from"]), name[t["to"]])
            for t in workflow["transitions"]}


def test_workflow_search_with_transitions_and_statuses(jira, http):
    page = http("GET", SEARCH, params={"expand": "transitions,statuses"}).json()
    assert {k: page[k] for k in ("startAt", "maxResults", "total", "isLast")} == {
        "startAt": 0, "maxResults": 50, "total": 1, "isLast": True}
    [workflow] = page["values"]
    assert workflow["id"]["name"] == "Change Request workflow"
    assert [s["name"] for s in workflow["statuses"]] == STATUS_NAMES
    found = moves(workflow)
    assert ("initial", (), "Draft") in found
    assert ("directed", ("Awaiting Approval",), "Draft") in found
    assert ("global", (), "Implementing") in found
    assert len(found) == 1 + 14 + 1
    [global_move] = [t for t in workflow["transitions"] if t["type"] == "global"]
    assert (global_move["id"], global_move["name"]) == (GLOBAL_TRANSITION_ID,
                                                        GLOBAL_TRANSITION_NAME)


@pytest.mark.parametrize(("params", "keys", "count"), [
    ({}, {"id", "description"}, 1),
    ({"expand": "statuses"}, {"id", "description", "statuses"}, 1),
    ({"workflowName": "Other workflow"}, None, 0),
    ({"startAt": 1}, None, 0),
], ids=["no-expand", "statuses-only", "other-name", "past-the-end"])
def test_workflow_search_shapes(http, params, keys, count):
    page = http("GET", SEARCH, params=params).json()
    assert (len(page["values"]), page["isLast"]) == (count, True)
    if keys:
        assert set(page["values"][0]) == keys


def test_remove_transition_leaves_the_others(jira, http):
    jira.remove_transition("Awaiting Approval", "Draft")
    workflow = http("GET", SEARCH, params={"expand": "transitions,statuses"}).json()["values"][0]
    found = moves(workflow)
    assert ("directed", ("Awaiting Approval",), "Draft") not in found
    assert len(found) == 15
    with pytest.raises(KeyError):
        jira.remove_transition("Awaiting Approval", "Draft")


def test_remove_field(jira, http):
    jira.remove_field("Rollback Plan")
    assert "Rollback Plan" not in [f["name"] for f in http("GET", "/rest/api/3/field").json()]


def test_remove_group_and_its_memberships(jira, http):
    jira.remove_group("cab")
    answer = http("GET", "/rest/api/3/group/member", params={"groupname": "cab"})
    assert (answer.status_code, answer.json()["errorMessages"]) == (404, ["Group not found: cab"])
    dana = jira.users["dana"]
    groups = http("GET", "/rest/api/3/user/groups", params={"accountId": dana.account_id}).json()
    assert [g["name"] for g in groups] == ["head-of-engineering"]
    with pytest.raises(KeyError):
        jira.remove_group("cab")


def test_webhook_update_replaces_the_definition_and_secret(jira, http):
    definition = {"name": "changeguard", "url": "https://a.example.com/hook",
                  "events": ["jira:issue_updated"], "secret": "one"}
    number = http("POST", "/rest/webhooks/1.0/webhook", json=definition).json()["self"][-1]
    changed = {**definition, "url": "https://b.example.com/hook", "secret": "two"}
    answer = http("PUT", f"/rest/webhooks/1.0/webhook/{number}", json=changed)
    assert answer.status_code == 200
    assert (answer.json()["url"], "secret" in answer.json()) == ("https://b.example.com/hook", False)
    assert (jira.webhook_url, jira.webhook_secret) == ("https://b.example.com/hook", "two")
    assert [w["url"] for w in http("GET", "/rest/webhooks/1.0/webhook").json()] == [
        "https://b.example.com/hook"]
    assert http("PUT", "/rest/webhooks/1.0/webhook/99", json=changed).status_code == 404
