"""The Jira client reads whole result sets: every search page, every history, every workflow."""

from __future__ import annotations

import pytest

from sandbox.jira_routes import ISSUE_CHANGELOG_LIMIT
from sandbox.jira_state import SandboxUser
from sandbox.jira_workflows import WORKFLOW_NAME
from worker.jira_client import JiraClient

SEARCH = "/rest/api/3/search/jql"


def client_for(jira):
    return JiraClient(jira.base_url, jira.bot.email, jira.bot.api_token, sleep=lambda _: None)


def bot_reads(jira):
    """Return (path, query) of every GET changeguard made, in order."""
    return [(r.path, r.query) for r in jira.requests
            if r.method == "GET" and r.account_id == jira.bot.account_id]


def with_histories(jira, count: int) -> str:
    """Create a change whose changelog holds ``count`` histories (its creation, then labels)."""
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", {})
    for n in range(count - 1):
        jira.edit(key, "alice", {"Labels": [f"l{n}"]})
    return key


@pytest.mark.parametrize("sends_is_last", [True, False], ids=["is-last-sent", "token-only"])
def test_search_follows_the_next_page_token_to_the_last_page(jira, sends_is_last):
    keys = [jira.create_change_request("alice", f"change {n}", {}) for n in range(5)]
    jira.send_is_last(sends_is_last)
    jira.reset_recordings()
    found = [issue["key"] for issue in client_for(jira).search_issues(
        'issuetype = "Change Request"', fields=["summary"], page_size=2)]
    assert found == keys
    pages = [r for r in jira.requests if r.path == SEARCH]
    assert [("nextPageToken" in r.json, "isLast" in r.response, "nextPageToken" in r.response)
            for r in pages] == [(False, sends_is_last, True), (True, sends_is_last, True),
                                (True, sends_is_last, False)]


@pytest.mark.parametrize(("histories", "changelog_pages"), [
    (1, []),
    (ISSUE_CHANGELOG_LIMIT, []),
    (ISSUE_CHANGELOG_LIMIT + 1, ["0", "100"]),
    (2 * ISSUE_CHANGELOG_LIMIT + 5, ["0", "100", "200"]),
], ids=["one", "exactly-the-limit", "one-over", "three-pages"])
def test_get_issue_completes_a_changelog_jira_cut_short(jira, histories, changelog_pages):
    key = with_histories(jira, histories)
    every = [str(h.id) for h in jira.site.issue(key).histories]
    jira.reset_recordings()
    issue = client_for(jira).get_issue(key, fields=["status"], expand=["changelog"])
    changelog = issue["changelog"]
    assert [h["id"] for h in changelog["histories"]] == every
    assert {k: v for k, v in changelog.items() if k != "histories"} == {
        "startAt": 0, "maxResults": histories, "total": histories}
    issue_read = (f"/rest/api/3/issue/{key}", {"fields": "status", "expand": "changelog"})
    assert bot_reads(jira) == [issue_read] + [
        (f"/rest/api/3/issue/{key}/changelog", {"startAt": start, "maxResults": "100"})
        for start in changelog_pages]


def test_get_issue_without_the_changelog_reads_no_history(jira):
    key = with_histories(jira, ISSUE_CHANGELOG_LIMIT + 1)
    jira.reset_recordings()
    issue = client_for(jira).get_issue(key, fields=["status"])
    assert "changelog" not in issue
    assert bot_reads(jira) == [(f"/rest/api/3/issue/{key}", {"fields": "status"})]


def test_get_workflows_reads_the_current_workflows_api(jira):
    jira.reset_recordings()
    [workflow] = client_for(jira).get_workflows()
    assert workflow["name"] == WORKFLOW_NAME
    assert {t["type"] for t in workflow["transitions"]} == {"INITIAL", "DIRECTED", "GLOBAL"}
    assert bot_reads(jira) == [("/rest/api/3/workflows/search",
                                {"startAt": "0", "maxResults": "50",
                                 "expand": "values.transitions"})]


@pytest.mark.parametrize("sends_is_last", [True, False], ids=["is-last-sent", "is-last-left-out"])
def test_group_members_are_paged_to_the_last_with_or_without_is_last(jira, sends_is_last):
    with jira.site.lock:  # 59 more team leads: two pages of 50
        for n in range(59):
            jira.site.users[f"lead{n}"] = SandboxUser(
                f"lead{n}", f"712020:lead{n}", f"lead{n}@example.com", f"token-{n}",
                f"Lead {n}", ("team-leads",))
    leads = sorted(u.account_id for u in jira.site.users.values() if "team-leads" in u.groups)
    jira.send_is_last(sends_is_last)
    jira.reset_recordings()
    members = client_for(jira).get_group_members("team-leads")
    assert (len(leads), sorted(m["accountId"] for m in members)) == (60, leads)
    assert [r.query.get("startAt") for r in jira.requests] == ["0", "50"]
