"""The sandbox's workflow search, webhook updates, and the helpers tests use to break the site."""

from __future__ import annotations

import pytest

from sandbox.jira_seed import GLOBAL_TRANSITION_ID, GLOBAL_TRANSITION_NAME

SEARCH = "/rest/api/3/workflows/search"
STATUS_NAMES = ["Draft", "Awaiting Approval", "Approved", "Implementing", "Implemented", "Closed",
                "Rejected", "Cancelled"]
WITH_TRANSITIONS = {"expand": "values.transitions"}


def moves(page, workflow):
    """Return the workflow's transitions as (type, from names, to name)."""
    name = {s["statusReference"]: s["name"] for s in page["statuses"]}
    return {(t["type"], tuple(name[link["fromStatusReference"]] for link in t["links"]),
             name[t["toStatusReference"]])
            for t in workflow["transitions"]}


def test_workflow_search_with_transitions(jira, http):
    page = http("GET", SEARCH, params=WITH_TRANSITIONS).json()
    assert {k: page[k] for k in ("startAt", "maxResults", "total", "isLast")} == {
        "startAt": 0, "maxResults": 50, "total": 1, "isLast": True}
    [workflow] = page["values"]
    assert (workflow["name"], workflow["scope"]) == ("Change Request workflow", {"type": "GLOBAL"})
    assert [s["name"] for s in page["statuses"]] == STATUS_NAMES
    # In a read, a status's reference is its id.
    assert [s["statusReference"] for s in workflow["statuses"]] == [
        s["id"] for s in page["statuses"]] == [s["statusReference"] for s in page["statuses"]]
    found = moves(page, workflow)
    assert ("INITIAL", (), "Draft") in found
    assert ("DIRECTED", ("Awaiting Approval",), "Draft") in found
    assert ("GLOBAL", (), "Implementing") in found
    assert len(found) == 1 + 14 + 1
    [global_move] = [t for t in workflow["transitions"] if t["type"] == "GLOBAL"]
    assert (global_move["id"], global_move["name"]) == (GLOBAL_TRANSITION_ID,
                                                        GLOBAL_TRANSITION_NAME)


@pytest.mark.parametrize(("params", "count", "transitions"), [
    ({}, 1, False),
    (WITH_TRANSITIONS, 1, True),
    ({"queryString": "change request"}, 1, False),
    ({"queryString": "Other workflow"}, 0, False),
    ({"scope": "PROJECT"}, 0, False),
    ({"isActive": "false"}, 0, False),
    ({"startAt": 1}, 0, False),
], ids=["no-expand", "transitions", "name-matches", "other-name", "project-scope", "inactive",
        "past-the-end"])
def test_workflow_search_shapes(http, params, count, transitions):
    page = http("GET", SEARCH, params=params).json()
    assert (len(page["values"]), page["isLast"], len(page["statuses"])) == (
        count, True, 8 if count else 0)
    if count:
        assert ("transitions" in page["values"][0]) == transitions


def test_the_deprecated_workflow_search_is_not_served(http):
    answer = http("GET", "/rest/api/3/workflow/search")
    assert (answer.status_code, answer.json()["errorMessages"]) == (
        404, ["No such resource in the sandbox Jira."])


def test_remove_transition_leaves_the_others(jira, http):
    jira.remove_transition("Awaiting Approval", "Draft")
    page = http("GET", SEARCH, params=WITH_TRANSITIONS).json()
    found = moves(page, page["values"][0])
    assert ("DIRECTED", ("Awaiting Approval",), "Draft") not in found
    assert len(found) == 15
    with pytest.raises(KeyError):
        jira.remove_transition("Awaiting Approval", "Draft")


def test_rename_status_keeps_its_id(jira, http):
    approved = jira.status_id("Approved")
    jira.rename_status("Approved", "Genehmigt")
    assert {s["id"]: s["name"] for s in http("GET", "/rest/api/3/status").json()}[approved] == (
        "Genehmigt")
    assert jira.status_id("Genehmigt") == approved
    with pytest.raises(KeyError):
        jira.rename_status("Approved", "Ready")


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
