"""What rides along with one call: transitions and changelog in reads, properties with a move."""

from __future__ import annotations

import pytest

from sandbox.jira_routes import ISSUE_CHANGELOG_LIMIT, SEARCH_CHANGELOG_LIMIT

RECORD = {"approvals": [], "audit": [{"decision": "reverted"}]}
TOO_LONG = "The property value is too long. The maximum length is 32768."


def _create(jira) -> str:
    return jira.create_change_request("alice", "Ship the new checkout", {})


@pytest.mark.parametrize(("path", "names"), [
    ([], ["Submit for approval", "Cancel", "Start implementation now"]),
    (["Awaiting Approval"], ["Approve", "Return to draft", "Reject", "Cancel",
                             "Start implementation now"]),
    (["Implementing"], ["Mark implemented", "Stop implementation"]),
], ids=["draft", "awaiting-approval", "implementing"])
def test_issue_expanded_with_transitions_lists_what_get_transitions_does(jira, http, path,
                                                                          names):
    key = _create(jira)
    for status in path:
        jira.transition(key, status, "alice")
    issue = http("GET", f"/rest/api/3/issue/{key}",
                 params={"fields": "status", "expand": "changelog,transitions"}).json()
    assert [t["name"] for t in issue["transitions"]] == names
    assert issue["transitions"] == http(
        "GET", f"/rest/api/3/issue/{key}/transitions").json()["transitions"]
    plain = http("GET", f"/rest/api/3/issue/{key}", params={"fields": "status"}).json()
    assert "transitions" not in plain


@pytest.mark.parametrize(("transition", "properties", "errors", "status", "stored"), [
    ("Submit for approval", [{"key": "changeguard", "value": RECORD}, {"key": "x", "value": 1}],
     None, "Awaiting Approval", {"changeguard": RECORD, "x": 1}),
    ("Submit for approval", [], None, "Awaiting Approval", {}),
    ("Approve", [{"key": "changeguard", "value": RECORD}],
     ["Transition id '{id}' is not valid for this issue."], "Draft", {}),
    ("Submit for approval", [{"key": "changeguard", "value": {"big": "x" * 32768}}],
     [TOO_LONG], "Draft", {}),
    ("Submit for approval", [{"key": "", "value": RECORD}],
     ["The property key must be between 1 and 255 characters."], "Draft", {}),
    ("Submit for approval", [{"key": "changeguard"}],
     ["Each issue property needs a key and a value."], "Draft", {}),
], ids=["moved-and-stored", "no-properties", "transition-refused", "value-too-long",
        "empty-key", "no-value"])
def test_transition_sets_properties_with_the_move_or_neither(jira, http, transition,
                                                             properties, errors, status, stored):
    key = _create(jira)  # in Draft, where "Approve" is not available
    [transition_id] = [t.id for t in jira.site.transitions if t.name == transition]
    body = {"transition": {"id": transition_id}, "properties": properties}
    answer = http("POST", f"/rest/api/3/issue/{key}/transitions", json=body)
    if errors is None:
        assert (answer.status_code, answer.content) == (204, b"")
    else:
        assert answer.status_code == 400
        assert answer.json() == {"errorMessages": [e.format(id=transition_id) for e in errors],
                                 "errors": {}}
    assert jira.status_of(key) == status
    assert jira.site.issue(key).properties == stored


@pytest.mark.parametrize(("method", "edits", "returned"), [
    ("POST", 0, 1),
    ("POST", SEARCH_CHANGELOG_LIMIT - 1, SEARCH_CHANGELOG_LIMIT),
    ("POST", SEARCH_CHANGELOG_LIMIT + 4, SEARCH_CHANGELOG_LIMIT),
    ("GET", SEARCH_CHANGELOG_LIMIT + 4, SEARCH_CHANGELOG_LIMIT),
], ids=["created-only", "exactly-the-limit", "over-the-limit", "over-the-limit-get"])
def test_search_expands_only_the_most_recent_histories(jira, http, method, edits, returned):
    key = _create(jira)  # its creation is the first history
    for n in range(edits):
        http("PUT", f"/rest/api/3/issue/{key}", json={"update": {"labels": [{"add": f"l{n}"}]}})
    every = [str(h.id) for h in jira.site.issue(key).histories]
    assert len(every) == edits + 1
    query = {"jql": f"key in ({key})", "fields": "status", "expand": "changelog"}
    if method == "POST":
        answer = http("POST", "/rest/api/3/search/jql", json={**query, "fields": ["status"]})
    else:
        answer = http("GET", "/rest/api/3/search/jql", params=query)
    [issue] = answer.json()["issues"]
    changelog = issue["changelog"]
    assert [h["id"] for h in changelog["histories"]] == every[-returned:]
    assert {k: v for k, v in changelog.items() if k != "histories"} == {
        "startAt": 0, "maxResults": returned, "total": len(every)}
    # GET issue is not cut short.
    full = http("GET", f"/rest/api/3/issue/{key}",
                params={"fields": "status", "expand": "changelog"}).json()["changelog"]
    assert ([h["id"] for h in full["histories"]], full["total"]) == (every, len(every))


def _with_histories(jira, http, count: int) -> str:
    key = _create(jira)  # its creation is the first history
    for n in range(count - 1):
        http("PUT", f"/rest/api/3/issue/{key}", json={"update": {"labels": [{"add": f"l{n}"}]}})
    return key


@pytest.mark.parametrize("count", [ISSUE_CHANGELOG_LIMIT, ISSUE_CHANGELOG_LIMIT + 3],
                         ids=["exactly-the-limit", "over-the-limit"])
def test_get_issue_expands_only_the_most_recent_histories(jira, http, count):
    key = _with_histories(jira, http, count)
    every = [str(h.id) for h in jira.site.issue(key).histories]
    changelog = http("GET", f"/rest/api/3/issue/{key}",
                     params={"fields": "status", "expand": "changelog"}).json()["changelog"]
    kept = every[-ISSUE_CHANGELOG_LIMIT:]
    assert [h["id"] for h in changelog["histories"]] == kept
    assert {k: v for k, v in changelog.items() if k != "histories"} == {
        "startAt": 0, "maxResults": len(kept), "total": count}


@pytest.mark.parametrize(("params", "start", "size", "more"), [
    ({}, 0, 100, True),
    ({"startAt": 100}, 100, 100, False),
    ({"startAt": 50, "maxResults": 25}, 50, 25, True),
    ({"maxResults": 500}, 0, 100, True),
    ({"startAt": 200}, 200, 100, False),
], ids=["first-page", "last-page", "middle", "capped-at-100", "past-the-end"])
def test_changelog_pages_every_history_oldest_first(jira, http, params, start, size, more):
    key = _with_histories(jira, http, 103)
    every = [str(h.id) for h in jira.site.issue(key).histories]
    page = http("GET", f"/rest/api/3/issue/{key}/changelog", params=params).json()
    link = f"{jira.base_url}/rest/api/3/issue/{key}/changelog"
    expected = {"self": f"{link}?startAt={start}&maxResults={size}", "startAt": start,
                "maxResults": size, "total": 103, "isLast": not more}
    if more:
        expected["nextPage"] = f"{link}?startAt={start + size}&maxResults={size}"
    assert {k: v for k, v in page.items() if k != "values"} == expected
    assert [h["id"] for h in page["values"]] == every[start:start + size]
    assert all(set(h) == {"id", "author", "created", "items"} for h in page["values"])


def test_changelog_of_an_unknown_issue_is_404(http):
    answer = http("GET", "/rest/api/3/issue/CHG-999/changelog")
    assert answer.status_code == 404
