"""The Slack client against the fake Slack Web API over real HTTP, and its stand-in without a token."""

from __future__ import annotations

import logging
import socket

import pytest

from sandbox.slack_server import SandboxSlack, SlackEdit, SlackMessage
from worker.settings import Settings
from worker.slack_client import (NOT_SENT, SlackClient, SlackRateLimited,
                                 SlackRejected, SlackUnavailable, UnsentSlack, slack_client_for)

from ..builders import Clock, Waits

FIRST_TS, SECOND_TS = "1700000000.000100", "1700000000.000200"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*CHG-7* reverted"}}]


@pytest.fixture(scope="module")
def slack():
    sandbox = SandboxSlack().start()
    sandbox.add_channel("#cab")
    sandbox.add_channel("#private-ops", member=False)
    yield sandbox
    sandbox.stop()


@pytest.fixture(autouse=True)
def fresh(slack):
    slack.reset_recordings()


def client_for(slack, waits=None, token="xoxb-sandbox", **options):
    return SlackClient(token, base_url=slack.api_url, sleep=waits if waits is not None else Waits(),
                       **options)


def calls(slack):
    return [(r.api_method, r.status, r.error) for r in slack.requests]


def test_post_reply_in_thread_and_update_round_trip(slack):
    client = client_for(slack)
    deployments = slack.channel_id("#deployments")

    posted = client.post_message("#deployments", "CHG-7 moved back to Review", blocks=BLOCKS)
    reply = client.post_message(posted["channel"], "Approvals are missing",
                                thread_ts=posted["ts"])
    updated = client.update_message(posted["channel"], posted["ts"], "CHG-7 approved")

    assert (posted, reply, updated) == (
        {"channel": deployments, "ts": FIRST_TS},
        {"channel": deployments, "ts": SECOND_TS},
        {"channel": deployments, "ts": FIRST_TS},
    )
    assert slack.messages == [
        SlackMessage("#deployments", deployments, FIRST_TS, "CHG-7 moved back to Review",
                     blocks=BLOCKS, updates=[SlackEdit("CHG-7 approved")]),
        SlackMessage("#deployments", deployments, SECOND_TS, "Approvals are missing",
                     thread_ts=FIRST_TS),
    ]


def test_auth_test_returns_the_bot_identity(slack):
    identity = client_for(slack).auth_test()
    assert (identity["ok"], identity["user_id"], identity["bot_id"], identity["team_id"]) == (
        True, "U0CHANGEGUARD", "B0CHANGEGUARD", "T0SANDBOX")


def test_retry_after_is_honoured_on_429_then_the_post_succeeds(slack):
    waits = Waits()
    slack.inject_fault("chat.postMessage", 429, times=2, retry_after=3)
    assert client_for(slack, waits).post_message("#cab", "CAB at 14:00")["ts"] == FIRST_TS
    assert waits == [3.0, 3.0]
    assert calls(slack) == [("chat.postMessage", 429, "ratelimited")] * 2 + [
        ("chat.postMessage", 200, None)]
    assert [m.text for m in slack.messages] == ["CAB at 14:00"]


def test_budget_exhausted_raises_rate_limited_for_rq_to_retry(slack):
    waits = Waits()
    slack.inject_fault("chat.postMessage", 429, times=3, retry_after=1)
    with pytest.raises(SlackRateLimited) as error:
        client_for(slack, waits, max_attempts=3).post_message("#cab", "CAB at 14:00")
    assert str(error.value) == "chat.postMessage -> 429: ratelimited"
    assert (error.value.method, error.value.status, error.value.error,
            error.value.retry_after) == ("chat.postMessage", 429, "ratelimited", 1.0)
    assert waits == [1.0, 1.0]
    assert slack.messages == []


def test_retry_after_longer_than_a_job_should_wait_fails_at_once(slack):
    waits = Waits()
    slack.inject_fault("chat.postMessage", 429, times=1, retry_after=600)
    with pytest.raises(SlackRateLimited):
        client_for(slack, waits, max_wait=30).post_message("#cab", "CAB at 14:00")
    assert waits == []
    assert len(slack.requests) == 1


# (id, Retry-After of each 429, waits taken, posts Slack saw): a 25 s budget, a 10 s timeout
BUDGET_CASES = [
    ("waits that fit", [5, 5], [5.0, 5.0], [429, 429, 200]),
    ("a wait that would pass the budget is not taken", [5, 12], [5.0], [429, 429]),
    ("a wait that ends the budget exactly is taken", [15], [15.0], [429, 200]),
    ("one wait past it", [16], [], [429]),
]


@pytest.mark.parametrize("retry_afters, waited, seen", [c[1:] for c in BUDGET_CASES],
                         ids=[c[0] for c in BUDGET_CASES])
def test_one_call_never_outlasts_its_budget(slack, retry_afters, waited, seen):
    """A job renews its issue lock per step: a call must give up before the lock could lapse."""
    waits = Waits()
    for retry_after in retry_afters:
        slack.inject_fault("chat.postMessage", 429, times=1, retry_after=retry_after)
    client = client_for(slack, waits, budget=25.0, timeout=10.0, clock=Clock(waits))
    if seen[-1] == 200:
        assert client.post_message("#cab", "CAB at 14:00")["ts"] == FIRST_TS
    else:
        with pytest.raises(SlackRateLimited):
            client.post_message("#cab", "CAB at 14:00")
    assert (waits, [r.status for r in slack.requests]) == (waited, seen)


def test_5xx_on_an_idempotent_call_backs_off_exponentially_with_jitter(slack):
    waits = Waits()
    slack.inject_fault("auth.test", 503, times=3)
    assert client_for(slack, waits, backoff_base=1.0).auth_test()["ok"] is True
    assert len(waits) == 3
    for attempt, wait in enumerate(waits, start=1):
        assert 0.5 * 2 ** (attempt - 1) <= wait <= 2 ** (attempt - 1)


def test_5xx_past_the_budget_raises_unavailable(slack):
    slack.inject_fault("chat.update", 500, times=2)
    with pytest.raises(SlackUnavailable) as error:
        client_for(slack, max_attempts=2).update_message("#cab", FIRST_TS, "x")
    assert str(error.value) == "chat.update -> 500: internal_error"


def test_a_post_is_not_repeated_after_a_500_as_it_may_have_been_posted(slack):
    waits = Waits()
    slack.inject_fault("chat.postMessage", 500, times=1)
    with pytest.raises(SlackUnavailable):
        client_for(slack, waits).post_message("#cab", "CAB at 14:00")
    assert waits == []
    assert calls(slack) == [("chat.postMessage", 500, "internal_error")]


def test_connection_refused_is_retried_with_backoff_then_raises_unavailable():
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits = Waits()
    client = SlackClient("xoxb-sandbox", base_url=f"http://127.0.0.1:{port}/api/", sleep=waits,
                         max_attempts=3, backoff_base=1.0)
    with pytest.raises(SlackUnavailable) as error:
        client.post_message("#cab", "CAB at 14:00")
    assert error.value.method == "chat.postMessage" and error.value.status is None
    assert len(waits) == 2


REJECTIONS = [
    ("invalid_token", "xoxb-wrong", lambda c: c.auth_test(), "auth.test -> 200: invalid_auth"),
    ("unknown_channel", "xoxb-sandbox", lambda c: c.post_message("#nowhere", "x"),
     "chat.postMessage -> 200: channel_not_found"),
    ("bot_not_in_channel", "xoxb-sandbox", lambda c: c.post_message("#private-ops", "x"),
     "chat.postMessage -> 200: not_in_channel"),
    ("unknown_message", "xoxb-sandbox", lambda c: c.update_message("#cab", "1.000001", "x"),
     "chat.update -> 200: message_not_found"),
]


@pytest.mark.parametrize(("token", "call", "message"), [r[1:] for r in REJECTIONS],
                         ids=[r[0] for r in REJECTIONS])
def test_api_errors_raise_rejected_with_slacks_error_code_and_are_not_retried(
        slack, token, call, message):
    waits = Waits()
    with pytest.raises(SlackRejected) as error:
        call(client_for(slack, waits, token=token))
    assert str(error.value) == message
    assert error.value.error == message.rsplit(": ", 1)[1]
    assert (waits, len(slack.requests), slack.messages) == ([], 1, [])


def test_failures_are_logged_with_method_and_status(slack, caplog):
    slack.inject_fault("chat.postMessage", 429, times=1, retry_after=0)
    with caplog.at_level(logging.WARNING, logger="worker.slack_client"):
        client_for(slack).post_message("#cab", "CAB at 14:00")
    assert [(r.getMessage(), r.method, r.status, r.error, r.attempt) for r in caplog.records] == [
        ("slack error", "chat.postMessage", 429, "ratelimited", 1)]


def settings(**slack):
    return Settings(jira_base_url="https://example.atlassian.net", jira_email="bot@example.com",
                    jira_api_token="t", jira_webhook_secret=None, redis_url=None, **slack)


def test_slack_client_for_uses_the_token_and_api_url_or_falls_back_to_unsent(slack):
    client = slack_client_for(settings(slack_bot_token="xoxb-sandbox", slack_api_url=slack.api_url))
    assert isinstance(client, SlackClient) and client.base_url == slack.api_url
    assert client.post_message("#deployments", "hello")["ts"] == FIRST_TS
    assert isinstance(slack_client_for(settings()), UnsentSlack)


def test_without_a_token_each_message_is_a_warning_that_it_was_not_sent(capsys, caplog):
    unsent = slack_client_for(settings())
    with caplog.at_level(logging.INFO, logger="worker.slack_client"):
        first = unsent.post_message("#deployments", ":rocket: Deploying CHG-7\nRisk Level: High")
        second = unsent.post_message("#deployments", ":rocket: Deploying CHG-7\nRisk Level: High")
        updated = unsent.update_message("#deployments", first["ts"], "CHG-7 implemented\nOK")
    assert (first, second, updated) == (
        {"channel": "#deployments", "ts": "unsent-1"},
        {"channel": "#deployments", "ts": "unsent-2"},
        {"channel": "#deployments", "ts": "unsent-1"},
    )
    assert NOT_SENT == "policy's Slack notice not sent: SLACK_BOT_TOKEN is unset"
    assert [(r.getMessage(), r.levelno, r.channel, r.first_line, r.updated)
            for r in caplog.records] == [
        (NOT_SENT, logging.WARNING, "#deployments", ":rocket: Deploying CHG-7", False),
        (NOT_SENT, logging.WARNING, "#deployments", ":rocket: Deploying CHG-7", False),
        (NOT_SENT, logging.WARNING, "#deployments", "CHG-7 implemented", True),
    ]
    assert capsys.readouterr().out == ""
