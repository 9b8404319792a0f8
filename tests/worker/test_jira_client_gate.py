"""What the deployment gate asks of Jira, through the real client against the sandbox over HTTP."""

from __future__ import annotations

import pytest

from sandbox.adf import text_to_adf
from sandbox.jira_state import FIRST_REMOTE_LINK_ID
from worker.jira_client import JiraClient, JiraNotFound, JiraRejected

from ..builders import Waits

RUN = "https://github.com/acme/shop/actions/runs/{}"


def client_for(jira):
    return JiraClient(jira.base_url, jira.bot.email, jira.bot.api_token, sleep=Waits())


def _link(run: int, title: str, resolved: bool) -> dict:
    return {
        "globalId": f"changeguard:run:{run}",
        "application": {"type": "com.github.actions", "name": "GitHub Actions"},
        "relationship": "deployed by",
        "object": {"url": RUN.format(run), "title": title, "summary": "production",
                   "icon": {"url16x16": "https://github.com/favicon.ico", "title": "Run"},
                   "status": {"resolved": resolved,
                              "icon": {"url16x16": "https://github.com/favicon.ico",
                                       "title": "Finished" if resolved else "Running"}}},
    }


def _self(jira, offset: int) -> dict:
    link_id = FIRST_REMOTE_LINK_ID + offset
    return {"id": link_id, "self": f"{jira.base_url}/rest/api/3/issue/CHG-1/remotelink/{link_id}"}


# Remote links

UPSERTS = [
    ("same-global-id-updates-in-place",
     [_link(1, "Deploying", False), _link(1, "Deployed", True)], [0, 0],
     [(0, _link(1, "Deployed", True))]),
    ("two-global-ids-two-links",
     [_link(1, "Run 1", False), _link(2, "Run 2", True)], [0, 1],
     [(0, _link(1, "Run 1", False)), (1, _link(2, "Run 2", True))]),
]


@pytest.mark.parametrize(("links", "answered", "kept"), [u[1:] for u in UPSERTS],
                         ids=[u[0] for u in UPSERTS])
def test_upsert_remote_link(jira, links, answered, kept):
    client = client_for(jira)
    assert [client.upsert_remote_link("CHG-1", link) for link in links] == [
        _self(jira, offset) for offset in answered]
    expected = [{**_self(jira, offset), **link} for offset, link in kept]
    assert client.get_remote_links("CHG-1") == expected
    assert [r.status for r in jira.requests if r.method == "POST"] == (
        [201, 200] if answered == [0, 0] else [201, 201])


@pytest.mark.parametrize(
    ("global_id", "found"),
    [("changeguard:run:2", [1]), ("changeguard:run:3", []), (None, [0, 1])],
    ids=["one-by-global-id", "absent-global-id-is-empty", "all"],
)
def test_get_remote_links(jira, global_id, found):
    client = client_for(jira)
    for run in (1, 2):
        client.upsert_remote_link("CHG-1", _link(run, f"Run {run}", False))
    assert client.get_remote_links("CHG-1", global_id) == [
        {**_self(jira, i), **_link(i + 1, f"Run {i + 1}", False)} for i in found]


@pytest.mark.parametrize(
    "call",
    [lambda c: c.get_remote_links("CHG-999"),
     lambda c: c.get_remote_links("CHG-999", "changeguard:run:1"),
     lambda c: c.upsert_remote_link("CHG-999", _link(1, "Run 1", False))],
    ids=["get", "get-by-global-id", "upsert"],
)
def test_remote_links_of_a_missing_issue_are_not_found(jira, call):
    with pytest.raises(JiraNotFound):
        call(client_for(jira))


# Creating an issue

def test_create_issue_returns_its_key_and_can_be_read_and_found(jira):
    client = client_for(jira)
    template, category, alice = (jira.field_id("Standard Template"),
                                 jira.field_id("Change Category"), jira.users["alice"])
    created = client.create_issue({
        "project": {"key": "CHG"},
        "issuetype": {"name": "Change Request"},
        "summary": "Dependency patch bump for shop",
        "reporter": {"accountId": alice.account_id},
        "description": text_to_adf("Created by changeguard for run 42."),
        category: {"value": "Standard"},
        template: {"value": "Dependency patch bump"},
    })
    assert created == {"id": "20002", "key": "CHG-2",
                       "self": f"{jira.base_url}/rest/api/3/issue/20002"}
    issue = client.get_issue("CHG-2", fields=["summary", "reporter", "description", "status",
                                              category, template])
    fields = issue["fields"]
    assert (fields["summary"], fields["reporter"]["accountId"], fields["description"],
            fields["status"]["name"], fields[category]["value"], fields[template]["value"]) == (
        "Dependency patch bump for shop", alice.account_id,
        text_to_adf("Created by changeguard for run 42."), "Draft", "Standard",
        "Dependency patch bump")
    found = client.search_issues('project = CHG AND issuetype = "Change Request"',
                                 fields=["summary"])
    assert [(i["key"], i["fields"]["summary"]) for i in found] == [
        ("CHG-2", "Dependency patch bump for shop")]


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"project": {"key": "CHG"}, "issuetype": {"name": "Change Request"}},
      "summary: You must specify a summary of the issue."),
     ({"project": {"key": "CHG"}, "issuetype": {"name": "Change Request"}, "summary": "x",
       "reporter": {"accountId": "712020:nobody"}},
      "reporter: Specify a valid value for Reporter")],
    ids=["no-summary", "unknown-reporter"],
)
def test_create_issue_refused(jira, fields, message):
    with pytest.raises(JiraRejected) as refused:
        client_for(jira).create_issue(fields)
    assert str(refused.value) == f"POST rest/api/3/issue -> 400: {message}"
    assert list(jira.site.issues) == ["CHG-1"]


# Finding people by email

@pytest.mark.parametrize(
    ("email", "names", "searched"),
    [("alice@example.com", ["alice"], True),
     (" Alice@Example.COM ", ["alice"], True),
     ("alice@example", [], True),
     ("nobody@example.com", [], True),
     ("", [], False)],
    ids=["exact", "any-case-and-spaces", "prefix-is-not-a-match", "nobody", "blank-not-asked"],
)
def test_find_users_by_email(jira, email, names, searched):
    found = client_for(jira).find_users_by_email(email)
    assert [u["accountId"] for u in found] == [jira.users[n].account_id for n in names]
    assert any(r.path == "/rest/api/3/user/search" for r in jira.requests) is searched


# Transitions that set fields

def _implementing(jira) -> str:
    key = jira.create_change_request("alice", "Ship the checkout", {"Change Category": "Normal"})
    jira.transition(key, "Implementing", "alice")
    return key


def _to(client, key: str, status: str) -> str:
    return next(t["id"] for t in client.get_transitions(key) if t["to"]["name"] == status)


@pytest.mark.parametrize("outcome", ["Successful", "Failed", "Rolled Back"])
def test_transition_with_fields_sets_the_outcome_in_the_same_move(jira, outcome):
    client, key = client_for(jira), _implementing(jira)
    field, move = jira.field_id("Outcome"), _to(client, key, "Implemented")
    client.transition_issue(key, move, fields={field: {"value": outcome}},
                            properties={"changeguard.deploy": {"run": 42}})
    posted = [r.json for r in jira.requests if r.path.endswith("/transitions")
              and r.method == "POST" and r.account_id == jira.bot.account_id]
    assert posted == [{"transition": {"id": move}, "fields": {field: {"value": outcome}},
                       "properties": [{"key": "changeguard.deploy", "value": {"run": 42}}]}]
    last = client.get_changelog(key)[-1]["items"]
    assert [(i["fieldId"], i["toString"]) for i in last] == [
        (field, outcome), ("status", "Implemented")]
    assert (jira.status_of(key), jira.value_of(key, "Outcome")["value"],
            jira.property(key, "changeguard.deploy")) == ("Implemented", outcome, {"run": 42})


def test_transition_with_a_field_off_its_screen_is_refused_and_nothing_moves(jira):
    client, key = client_for(jira), _implementing(jira)
    risk = jira.field_id("Risk Level")
    with pytest.raises(JiraRejected) as refused:
        client.transition_issue(key, _to(client, key, "Implemented"),
                                fields={risk: {"value": "Low"}})
    assert str(refused.value).endswith(
        f"-> 400: {risk}: Field '{risk}' cannot be set. "
        "It is not on the appropriate screen, or unknown.")
    assert jira.status_of(key) == "Implementing"
