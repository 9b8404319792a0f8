"""The Jira client's retry policy, against the sandbox's injected 429s and 5xx over real HTTP."""

from __future__ import annotations

import pytest

from worker.jira_client import (JiraAuthError, JiraClient, JiraNotFound, JiraRateLimited,
                                JiraRejected, JiraUnavailable)

from ..builders import Clock, Waits


def client_for(jira, waits, **options):
    return JiraClient(jira.base_url, jira.bot.email, jira.bot.api_token, sleep=waits, **options)


def statuses(jira, path):
    return [r.status for r in jira.requests if r.path == path]


def test_retry_after_is_honoured_on_429(jira):
    waits = Waits()
    jira.inject_fault("GET", r"^/rest/api/3/myself$", 429, times=2, retry_after=3)
    assert client_for(jira, waits).get_myself()["accountId"] == jira.bot.account_id
    assert waits == [3.0, 3.0]
    assert statuses(jira, "/rest/api/3/myself") == [429, 429, 200]


def test_503_without_retry_after_backs_off_exponentially_with_jitter(jira):
    waits = Waits()
    jira.inject_fault("GET", r"^/rest/api/3/myself$", 503, times=3)
    client_for(jira, waits, backoff_base=1.0).get_myself()
    assert len(waits) == 3
    for attempt, wait in enumerate(waits, start=1):
        assert 0.5 * 2 ** (attempt - 1) <= wait <= 2 ** (attempt - 1)


def test_budget_exhausted_raises_rate_limited_for_rq_to_retry(jira):
    waits = Waits()
    jira.inject_fault("GET", r"^/rest/api/3/myself$", 429, times=3, retry_after=1)
    with pytest.raises(JiraRateLimited) as error:
        client_for(jira, waits, max_attempts=3).get_myself()
    assert (error.value.status, error.value.method, error.value.path) == (
        429, "GET", "rest/api/3/myself")
    assert waits == [1.0, 1.0]


def test_retry_after_longer_than_a_job_should_wait_fails_at_once(jira):
    waits = Waits()
    jira.inject_fault("GET", r"^/rest/api/3/myself$", 429, times=1, retry_after=600)
    with pytest.raises(JiraRateLimited):
        client_for(jira, waits, max_wait=30).get_myself()
    assert waits == []


# (id, Retry-After of each 429, waits taken, statuses Jira saw, raised): a 25 s budget, 10 s timeout
BUDGET_CASES = [
    ("waits that fit", [5, 5], [5.0, 5.0], [429, 429, 200], None),
    ("a wait that would pass the budget is not taken", [5, 12], [5.0], [429, 429], JiraRateLimited),
    ("a wait that ends the budget exactly is taken", [15], [15.0], [429, 200], None),
    ("one wait past it", [16], [], [429], JiraRateLimited),
]


@pytest.mark.parametrize("retry_afters, waited, seen, raised", [c[1:] for c in BUDGET_CASES],
                         ids=[c[0] for c in BUDGET_CASES])
def test_one_call_never_outlasts_its_budget(jira, retry_afters, waited, seen, raised):
    """A job renews its issue lock per step: a call must give up before the lock could lapse."""
    waits = Waits()
    for retry_after in retry_afters:
        jira.inject_fault("GET", r"^/rest/api/3/myself$", 429, times=1, retry_after=retry_after)
    client = client_for(jira, waits, budget=25.0, timeout=10.0, clock=Clock(waits))
    if raised is None:
        assert client.get_myself()["accountId"] == jira.bot.account_id
    else:
        with pytest.raises(raised):
            client.get_myself()
    assert (waits, statuses(jira, "/rest/api/3/myself")) == (waited, seen)


def test_a_post_is_not_repeated_after_a_500(jira):
    waits = Waits()
    key = jira.create_change_request("alice", "x", {"Change Category": "Normal"})
    jira.reset_recordings()
    jira.inject_fault("POST", r"/comment$", 500, times=1)
    body = {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]}
    with pytest.raises(JiraUnavailable):
        client_for(jira, waits).add_comment(key, body)
    assert statuses(jira, f"/rest/api/3/issue/{key}/comment") == [500]
    assert jira.comments(key) == []


def test_a_get_is_repeated_after_a_502(jira):
    waits = Waits()
    jira.inject_fault("GET", r"^/rest/api/3/field$", 502, times=1)
    assert client_for(jira, waits).get_fields()
    assert statuses(jira, "/rest/api/3/field") == [502, 200]


@pytest.mark.parametrize("call, error", [
    (lambda c: c.get_issue("CHG-999", fields=["status"]), JiraNotFound),
    (lambda c: c.transition_issue("CHG-1", "999999"), JiraRejected),
])
def test_errors_map_to_the_hierarchy(jira, call, error):
    with pytest.raises(error):
        call(client_for(jira, Waits()))


def test_bad_credentials(jira):
    client = JiraClient(jira.base_url, jira.bot.email, "wrong", sleep=Waits())
    with pytest.raises(JiraAuthError):
        client.get_myself()


def test_unreachable_jira(jira):
    waits = Waits()
    client = JiraClient("http://127.0.0.1:9", "a@b.c", "t", sleep=waits, max_attempts=2)
    with pytest.raises(JiraUnavailable):
        client.get_myself()
    assert len(waits) == 1


def test_search_pages_through_next_page_token(jira):
    keys = {jira.create_change_request("alice", f"change {i}", {}) for i in range(5)}
    found = [issue["key"] for issue in
             client_for(jira, Waits()).search_issues('project = CHG AND issuetype = "Change Request"',
                                                     fields=["summary"], page_size=2)]
    assert keys <= set(found) and len(found) == len(set(found))
    pages = [r for r in jira.requests if r.path == "/rest/api/3/search/jql"]
    assert len(pages) >= 3
