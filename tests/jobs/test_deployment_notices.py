"""The deployment notice jobs called directly against the sandbox Jira, the fake Slack and Redis."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import pytest

from jobs.deployment_notices import announce_deployment, update_outcome
from rules.change_request import fields_to_fetch, parse_change_request
from rules.deployment_notice import UNTHREADED_NOTE, finished_message, starting_message
from sandbox.slack_server import SlackEdit
from worker import runtime as runtime_module
from worker.jira_client import JiraRejected
from worker.slack_client import NOT_SENT, SlackRateLimited

from ..builders import COMPLETE, Waits, bot_calls, move_args, settings_for

SUMMARY = "Rotate edge TLS certificates"
PROPERTY = "changeguard-slack"


@pytest.fixture
def sleeps():
    return Waits()


def approved_change(jira, fields=None):
    """Create a complete Normal change with a Medium risk and take it to Approved."""
    key = jira.create_change_request("alice", SUMMARY,
                                     {**COMPLETE, "Risk Level": "Medium", **(fields or {})})
    jira.transition(key, "Awaiting Approval", as_user="alice")
    jira.transition(key, "Approved", as_user="carol")
    return key


def move(jira, key, status, actor="bob"):
    """Move the issue as ``actor``; return announce_deployment's arguments for that move."""
    jira.transition(key, status, as_user=actor)
    args = move_args(jira, key, actor)
    return {"issue_key": key, "changelog_id": args["changelog_id"],
            "to_status_id": args["to_status_id"]}


def snapshot(runtime, key):
    issue = runtime.jira.get_issue(key, fields=fields_to_fetch(runtime.site))
    return parse_change_request(issue, runtime.site)


def posts(slack):
    return [r for r in slack.requests if r.api_method == "chat.postMessage"]


def test_start_then_finish_threads_the_reply_under_the_start(jira, slack, runtime):
    key = approved_change(jira)
    start = move(jira, key, "Implementing")
    jira.reset_recordings()
    started = announce_deployment(**start, runtime=runtime)
    channel = slack.channel_id("#deployments")
    url = f"{jira.base_url}/browse/{key}"
    [before] = slack.messages
    assert started == {"action": "post_starting", "channel": channel, "ts": before.ts,
                       "threaded": False}
    assert (before.channel, before.thread_ts) == ("#deployments", None)
    assert before.text == (f":rocket: Deploying {key} — Rotate edge TLS certificates\n"
                           "Change Category: Normal\nRisk Level: Medium\n"
                           "Implementer: Bob Baker\n"
                           "Window: Tue 1 Dec 10:00–11:00 Europe/London\n" + url)
    assert before.blocks == [
        {"type": "header", "text": {
            "type": "plain_text", "emoji": True,
            "text": f":rocket: Deploying {key} — Rotate edge TLS certificates"}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"<{url}|{key}> Rotate edge TLS certificates"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": "*Change Category*\nNormal"},
            {"type": "mrkdwn", "text": "*Risk Level*\nMedium"},
            {"type": "mrkdwn", "text": "*Implementer*\nBob Baker"},
            {"type": "mrkdwn", "text": "*Window*\nTue 1 Dec 10:00–11:00 Europe/London"}]},
    ]
    assert jira.property(key, PROPERTY) == {"channel": channel, "ts": before.ts,
                                            "changelog": int(start["changelog_id"])}
    assert bot_calls(jira) == [("GET", key), ("PUT", PROPERTY)]

    finish = move(jira, key, "Implemented")
    finished = announce_deployment(**finish, runtime=runtime)
    [_, after] = slack.messages
    assert finished == {"action": "post_finished", "channel": channel, "ts": after.ts,
                        "threaded": True}
    assert after.thread_ts == before.ts
    assert after.text == (f":white_check_mark: {key} implemented by Bob Baker\n"
                          f"Outcome: not recorded yet\n{url}")
    assert after.blocks == [
        {"type": "section", "text": {
            "type": "mrkdwn",
            "text": f":white_check_mark: <{url}|{key}> implemented by Bob Baker"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Outcome: not recorded yet"}]},
    ]
    assert jira.property(key, PROPERTY)["finished"] == {
        "channel": channel, "ts": after.ts, "changelog": int(finish["changelog_id"]),
        "by": "Bob Baker", "threaded": True, "outcome": None}


def test_the_reply_still_threads_after_a_worker_restart(jira, slack, runtime, make_runtime):
    key = approved_change(jira)
    announce_deployment(**move(jira, key, "Implementing"), runtime=runtime)
    restarted = make_runtime()  # new clients, nothing cached
    assert restarted.jira is not runtime.jira and restarted.slack is not runtime.slack
    announce_deployment(**move(jira, key, "Implemented"), runtime=restarted)
    before, after = slack.messages
    assert after.thread_ts == before.ts


def test_a_duplicate_or_retried_job_posts_once(jira, slack, runtime):
    key = approved_change(jira)
    start = move(jira, key, "Implementing")
    announce_deployment(**start, runtime=runtime)
    assert announce_deployment(**start, runtime=runtime) == {"action": "already_posted"}
    finish = move(jira, key, "Implemented")
    announce_deployment(**finish, runtime=runtime)
    assert announce_deployment(**finish, runtime=runtime) == {"action": "already_posted"}
    # An old start delivered late, after the reply, changes nothing either.
    assert announce_deployment(**start, runtime=runtime) == {"action": "superseded"}
    assert len(slack.messages) == 2


def test_a_job_that_posted_but_could_not_record_it_records_on_retry(jira, slack, runtime):
    key = approved_change(jira)
    start = move(jira, key, "Implementing")
    jira.inject_fault("PUT", rf"/issue/{key}/properties/{PROPERTY}$", 400)
    with pytest.raises(JiraRejected):
        announce_deployment(**start, runtime=runtime)
    [before] = slack.messages
    assert jira.property(key, PROPERTY) is None
    # RQ retries the job: the Redis marker says it was posted, so it only records it.
    assert announce_deployment(**start, runtime=runtime)["ts"] == before.ts
    assert len(slack.messages) == 1
    assert jira.property(key, PROPERTY)["ts"] == before.ts
    announce_deployment(**move(jira, key, "Implemented"), runtime=runtime)
    assert slack.messages[1].thread_ts == before.ts


def test_a_move_undone_before_the_job_ran_is_not_announced(jira, slack, runtime):
    key = approved_change(jira)
    start = move(jira, key, "Implementing")
    jira.transition(key, "Approved", as_user="bob")  # bob stopped the implementation
    assert announce_deployment(**start, runtime=runtime) == {"action": "superseded"}
    assert slack.requests == []
    assert jira.property(key, PROPERTY) is None


def test_a_finish_without_a_start_is_posted_unthreaded_and_says_so(jira, slack, runtime):
    key = approved_change(jira)
    jira.transition(key, "Implementing", as_user="bob")  # its job never ran
    announce_deployment(**move(jira, key, "Implemented"), runtime=runtime)
    [after] = slack.messages
    url = f"{jira.base_url}/browse/{key}"
    assert (after.channel, after.thread_ts) == ("#deployments", None)
    assert after.text == (f":white_check_mark: {key} implemented by Bob Baker — {SUMMARY}\n"
                          f"Outcome: not recorded yet\n{UNTHREADED_NOTE}\n{url}")
    assert jira.property(key, PROPERTY)["finished"]["threaded"] is False


def test_slack_rate_limit_is_honoured_and_the_message_posted_once(jira, slack, make_runtime,
                                                                  sleeps):
    runtime = make_runtime(slack_sleep=sleeps)
    key = approved_change(jira)
    slack.inject_fault("chat.postMessage", 429, retry_after=3)
    announce_deployment(**move(jira, key, "Implementing"), runtime=runtime)
    assert sleeps == [3.0]  # the client waited as long as Slack's Retry-After asked
    assert [r.status for r in posts(slack)] == [429, 200]
    assert len(slack.messages) == 1


def test_a_long_rate_limit_fails_the_job_for_rq_to_retry(jira, slack, make_runtime, sleeps):
    runtime = make_runtime(slack_sleep=sleeps)
    key = approved_change(jira)
    start = move(jira, key, "Implementing")
    slack.inject_fault("chat.postMessage", 429, retry_after=90)  # beyond the client's budget
    with pytest.raises(SlackRateLimited) as raised:
        announce_deployment(**start, runtime=runtime)
    assert raised.value.retry_after == 90.0
    assert (sleeps, slack.messages, jira.property(key, PROPERTY)) == ([], [], None)
    announce_deployment(**start, runtime=runtime)  # RQ's retry, later
    assert len(slack.messages) == 1


def test_outcome_edits_the_reply_once_per_value(jira, slack, runtime):
    key = approved_change(jira)
    announce_deployment(**move(jira, key, "Implementing"), runtime=runtime)
    assert update_outcome(key, runtime=runtime) == {"action": "not_finished"}
    announce_deployment(**move(jira, key, "Implemented"), runtime=runtime)
    assert update_outcome(key, runtime=runtime) == {"action": "no_outcome"}
    jira.edit(key, "bob", {"Outcome": "Successful"})
    assert update_outcome(key, runtime=runtime) == {"action": "update", "outcome": "Successful"}
    assert update_outcome(key, runtime=runtime) == {"action": "already_shown"}
    url = f"{jira.base_url}/browse/{key}"
    [before, after] = slack.messages
    assert before.updates == []
    assert after.updates == [SlackEdit(
        text=(f":white_check_mark: {key} implemented by Bob Baker\n"
              f"Outcome: :white_check_mark: Successful\n{url}"),
        blocks=[{"type": "section", "text": {
                    "type": "mrkdwn",
                    "text": f":white_check_mark: <{url}|{key}> implemented by Bob Baker"}},
                {"type": "context", "elements": [
                    {"type": "mrkdwn", "text": "Outcome: :white_check_mark: Successful"}]}])]
    assert jira.property(key, PROPERTY)["finished"]["outcome"] == "Successful"
    # Corrected after the review, and closed: shown once more.
    jira.edit(key, "bob", {"Outcome": "Rolled Back"})
    jira.transition(key, "Closed", as_user="bob")
    assert update_outcome(key, runtime=runtime) == {"action": "update", "outcome": "Rolled Back"}
    assert update_outcome(key, runtime=runtime) == {"action": "already_shown"}
    [_, after] = slack.messages
    assert [edit.text.splitlines()[1] for edit in after.updates] == [
        "Outcome: :white_check_mark: Successful",
        "Outcome: :leftwards_arrow_with_hook: Rolled Back"]


def test_an_outcome_known_before_the_finish_is_in_the_reply(jira, slack, runtime):
    key = approved_change(jira, {"Outcome": "Failed"})
    announce_deployment(**move(jira, key, "Implementing"), runtime=runtime)
    announce_deployment(**move(jira, key, "Implemented"), runtime=runtime)
    change = snapshot(runtime, key)
    [before, after] = slack.messages
    url = f"{jira.base_url}/browse/{key}"
    expected = finished_message(change, url, "Bob Baker", "Failed", threaded=True)
    assert (after.text, after.blocks) == (expected.text, list(expected.blocks))
    assert update_outcome(key, runtime=runtime) == {"action": "already_shown"}
    assert after.updates == []
    starting = starting_message(change, runtime.policy, url, "Bob Baker",
                                ZoneInfo("Europe/London"))
    assert before.text == starting.text


def test_without_a_slack_token_each_notice_is_a_warning_that_it_was_not_sent(
        jira, slack, redis_url, namespace, caplog):
    # The runtime a worker builds when SLACK_BOT_TOKEN is unset.
    unsent = runtime_module.build_runtime(settings_for(jira, redis_url, namespace))
    key = approved_change(jira)
    with caplog.at_level(logging.WARNING, logger="worker.slack_client"):
        started = announce_deployment(**move(jira, key, "Implementing"), runtime=unsent)
        finished = announce_deployment(**move(jira, key, "Implemented"), runtime=unsent)
        jira.edit(key, "bob", {"Outcome": "Successful"})
        shown = update_outcome(key, runtime=unsent)
    assert (started, finished, shown) == (
        {"action": "post_starting", "channel": "#deployments", "ts": "unsent-1",
         "threaded": False},
        {"action": "post_finished", "channel": "#deployments", "ts": "unsent-2",
         "threaded": True},
        {"action": "update", "outcome": "Successful"})
    implemented = f":white_check_mark: {key} implemented by Bob Baker"
    assert [(r.levelno, r.getMessage(), r.channel, r.first_line, r.updated)
            for r in caplog.records] == [
        (logging.WARNING, NOT_SENT, "#deployments", f":rocket: Deploying {key} — {SUMMARY}", False),
        (logging.WARNING, NOT_SENT, "#deployments", implemented, False),
        (logging.WARNING, NOT_SENT, "#deployments", implemented, True),
    ]
    assert slack.requests == []
