"""Slack #deployments hears before and after a change, through the real worker process."""

from __future__ import annotations

import pytest


from ..builders import NORMAL, settings_for
from .harness import settle

SUMMARY = "Rotate edge TLS certificates"


@pytest.fixture
def settings(jira, slack, redis_url, namespace):
    return settings_for(jira, redis_url, namespace, slack=slack)


def test_before_and_after_messages_are_threaded_and_the_outcome_is_added(
        jira, slack, web, worker, queue):
    key = jira.create_change_request("alice", SUMMARY, NORMAL)
    jira.transition(key, "Awaiting Approval", as_user="alice")
    settle(jira, queue)
    jira.transition(key, "Approved", as_user="carol")
    settle(jira, queue)
    assert slack.messages == []  # approvals are not deployments
    jira.transition(key, "Implementing", as_user="alice")
    settle(jira, queue)
    jira.transition(key, "Implemented", as_user="alice")
    settle(jira, queue)
    jira.edit(key, "alice", {"Outcome": "Successful"})
    settle(jira, queue)

    before, after = slack.messages
    assert (before.channel, before.thread_ts) == ("#deployments", None)
    assert before.text.startswith(f":rocket: Deploying {key} — {SUMMARY}")
    assert after.thread_ts == before.ts
    assert after.text.startswith(f":white_check_mark: {key} implemented by Alice")
    assert "Outcome: not recorded yet" in after.text
    assert "Outcome: :white_check_mark: Successful" in after.latest_text
    assert len(after.updates) == 1
    assert jira.status_of(key) == "Implemented" and jira.comments(key) == []


def test_a_reverted_move_into_implementing_is_never_announced(jira, slack, web, worker, queue):
    key = jira.create_change_request("alice", SUMMARY, NORMAL)
    jira.transition(key, "Implementing", as_user="alice")  # a shortcut past approval
    settle(jira, queue)
    assert jira.status_of(key) == "Implementing"  # no way back exists: flagged instead
    assert [m.text.split(" ")[0] for m in slack.messages] == [":warning:"]
