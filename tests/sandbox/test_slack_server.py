"""The fake Slack Web API: Slack's shapes for what slack-sdk and plain HTTP clients send."""

from __future__ import annotations

import json

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack_server import SandboxSlack, SlackEdit, SlackMessage, SlackRequest

TOKEN = "xoxb-sandbox"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*CHG-7* reverted"}}]


@pytest.fixture(scope="module")
def slack():
    sandbox = SandboxSlack().start()
    sandbox.add_user("U0ALICE", "alice@example.com", "alice")
    yield sandbox
    sandbox.stop()


@pytest.fixture(autouse=True)
def fresh(slack):
    slack.reset_recordings()


@pytest.fixture
def web(slack):
    return WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])


def post(slack, method, token=TOKEN, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.post(slack.api_url + method, headers=headers, timeout=5, **kwargs)
    return response.status_code, response.json()


def test_api_url_and_the_default_channel(slack):
    assert slack.api_url.startswith("http://127.0.0.1:") and slack.api_url.endswith("/api/")
    assert slack.channel_id("#deployments") == slack.channel_id("deployments") == "C00000001"


def test_post_thread_reply_and_update_through_slack_sdk(slack, web):
    channel = slack.channel_id("#deployments")
    first = web.chat_postMessage(channel="#deployments", text="CHG-7 reverted", blocks=BLOCKS)
    reply = web.chat_postMessage(channel=channel, text="why", thread_ts=first["ts"])
    update = web.chat_update(channel=channel, ts=first["ts"], text="CHG-7 approved")

    assert first.data == {"ok": True, "channel": channel, "ts": "1700000000.000100", "message": {
        "type": "message", "text": "CHG-7 reverted", "user": "U0CHANGEGUARD",
        "bot_id": "B0CHANGEGUARD", "team": "T0SANDBOX", "ts": "1700000000.000100",
        "blocks": BLOCKS}}
    assert (reply["ts"], reply["message"]["thread_ts"]) == ("1700000000.000200", first["ts"])
    assert (update["channel"], update["ts"], update["text"]) == (
        channel, first["ts"], "CHG-7 approved")
    assert slack.messages == [
        SlackMessage("#deployments", channel, "1700000000.000100", "CHG-7 reverted",
                     blocks=BLOCKS, updates=[SlackEdit("CHG-7 approved")]),
        SlackMessage("#deployments", channel, "1700000000.000200", "why",
                     thread_ts="1700000000.000100"),
    ]
    assert slack.messages[0].latest_text == "CHG-7 approved"
    assert slack.requests == [
        SlackRequest("POST", "/api/chat.postMessage", 200, "chat.postMessage",
                     {"channel": "#deployments", "text": "CHG-7 reverted", "blocks": BLOCKS}),
        SlackRequest("POST", "/api/chat.postMessage", 200, "chat.postMessage",
                     {"channel": channel, "text": "why", "thread_ts": first["ts"]}),
        SlackRequest("POST", "/api/chat.update", 200, "chat.update",
                     {"channel": channel, "ts": first["ts"], "text": "CHG-7 approved"}),
    ]


def test_form_encoded_posts_with_blocks_as_a_json_string_and_the_token_as_a_field(slack):
    status, body = post(slack, "chat.postMessage", token=None, data={
        "token": TOKEN, "channel": "deployments", "blocks": json.dumps(BLOCKS)})
    assert (status, body["ok"], body["message"]["blocks"]) == (200, True, BLOCKS)
    assert slack.messages[0].text == "" and slack.messages[0].blocks == BLOCKS


def test_ts_values_increase_and_channel_may_be_named_with_or_without_hash_or_by_id(slack):
    slack.add_channel("#cab")
    cab = slack.channel_id("#cab")
    answers = [post(slack, "chat.postMessage", json={"channel": channel, "text": "x"})[1]
               for channel in ("#cab", "cab", cab)]
    assert [(a["channel"], a["ts"]) for a in answers] == [
        (cab, "1700000000.000100"), (cab, "1700000000.000200"), (cab, "1700000000.000300")]
    assert {m.channel for m in slack.messages} == {"#cab"}


AUTH = [
    ("no_token", None, {"ok": False, "error": "not_authed"}),
    ("wrong_token", "xoxb-wrong", {"ok": False, "error": "invalid_auth"}),
]


@pytest.mark.parametrize(("token", "answer"), [r[1:] for r in AUTH], ids=[r[0] for r in AUTH])
def test_a_missing_or_wrong_token_is_refused_with_http_200_like_slack(slack, token, answer):
    assert post(slack, "auth.test", token=token) == (200, answer)
    assert post(slack, "chat.postMessage", token=token,
                json={"channel": "#deployments", "text": "x"}) == (200, answer)
    assert slack.messages == []


def test_auth_test_answers_the_bot_identity(web):
    assert web.auth_test().data == {
        "ok": True, "url": "https://changeguard-sandbox.slack.com/", "team": "Changeguard Sandbox",
        "user": "changeguard", "team_id": "T0SANDBOX", "user_id": "U0CHANGEGUARD",
        "bot_id": "B0CHANGEGUARD", "is_enterprise_install": False}


MISSING = "[ERROR] missing required field: "
INVALID = [
    ("post_without_channel", "chat.postMessage", {"text": "x"},
     {"ok": False, "error": "invalid_arguments",
      "response_metadata": {"messages": [MISSING + "channel"]}}),
    ("post_without_text_or_blocks", "chat.postMessage", {"channel": "#deployments"},
     {"ok": False, "error": "invalid_arguments",
      "response_metadata": {"messages": [MISSING + "text or blocks"]}}),
    ("post_with_blocks_not_a_list", "chat.postMessage",
     {"channel": "#deployments", "blocks": {"type": "section"}},
     {"ok": False, "error": "invalid_blocks_format"}),
    ("post_to_unknown_channel", "chat.postMessage", {"channel": "#nowhere", "text": "x"},
     {"ok": False, "error": "channel_not_found"}),
    ("update_without_ts", "chat.update", {"channel": "#deployments", "text": "x"},
     {"ok": False, "error": "invalid_arguments",
      "response_metadata": {"messages": [MISSING + "ts"]}}),
    ("update_unknown_message", "chat.update",
     {"channel": "#deployments", "ts": "1.000001", "text": "x"},
     {"ok": False, "error": "message_not_found"}),
    ("lookup_without_email", "users.lookupByEmail", {},
     {"ok": False, "error": "invalid_arguments",
      "response_metadata": {"messages": [MISSING + "email"]}}),
    ("lookup_unknown_email", "users.lookupByEmail", {"email": "bob@example.com"},
     {"ok": False, "error": "users_not_found"}),
]


@pytest.mark.parametrize(("method", "body", "answer"), [r[1:] for r in INVALID],
                         ids=[r[0] for r in INVALID])
def test_bad_arguments_get_slacks_error_codes(slack, method, body, answer):
    assert post(slack, method, json=body) == (200, answer)
    assert slack.messages == []
    assert [(r.api_method, r.error) for r in slack.requests] == [(method, answer["error"])]


def test_unknown_method_is_404_and_a_malformed_json_body_is_invalid_json(slack):
    assert post(slack, "chat.scheduleMessage", json={}) == (
        404, {"ok": False, "error": "unknown_method"})
    response = requests.post(slack.api_url + "chat.postMessage", data=b"{", timeout=5,
                             headers={"Authorization": f"Bearer {TOKEN}",
                                      "Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (
        200, {"ok": False, "error": "invalid_json"})


def test_users_lookup_by_email_through_slack_sdk_is_case_insensitive(web):
    assert web.users_lookupByEmail(email="Alice@Example.com").data == {"ok": True, "user": {
        "id": "U0ALICE", "team_id": "T0SANDBOX", "name": "alice", "deleted": False,
        "real_name": "alice", "is_bot": False,
        "profile": {"email": "alice@example.com", "real_name": "alice", "display_name": "alice"}}}


def test_not_in_channel_when_the_bot_was_not_added(slack, web):
    slack.add_channel("#private-ops", member=False)
    with pytest.raises(SlackApiError) as error:
        web.chat_postMessage(channel="#private-ops", text="x")
    assert (error.value.response.status_code, error.value.response["error"]) == (
        200, "not_in_channel")


def test_injected_429_carries_retry_after_and_is_used_up(slack):
    slack.inject_fault("chat.postMessage", 429, times=2, retry_after=7)
    body = {"channel": "#deployments", "text": "x"}
    answers = []
    for _ in range(3):
        response = requests.post(slack.api_url + "chat.postMessage", json=body, timeout=5,
                                 headers={"Authorization": f"Bearer {TOKEN}"})
        answers.append((response.status_code, response.headers.get("Retry-After"),
                        response.json()))
    assert answers == [(429, "7", {"ok": False, "error": "ratelimited"})] * 2 + [
        (200, None, answers[2][2])]
    assert answers[2][2]["ok"] is True
    assert [m.text for m in slack.messages] == ["x"]


FAULTS = [
    ("service_unavailable", 503, None, {"ok": False, "error": "service_unavailable"}),
    ("internal_error", 500, None, {"ok": False, "error": "internal_error"}),
    ("chosen_error", 200, "is_archived", {"ok": False, "error": "is_archived"}),
]


@pytest.mark.parametrize(("status", "error", "answer"), [r[1:] for r in FAULTS],
                         ids=[r[0] for r in FAULTS])
def test_injected_faults_answer_before_auth_for_any_method(slack, status, error, answer):
    slack.inject_fault("*", status, error=error)
    assert post(slack, "auth.test", token="xoxb-wrong") == (status, answer)
    assert post(slack, "auth.test")[1]["ok"] is True


def test_reset_recordings_forgets_messages_requests_faults_and_restarts_ts(slack):
    post(slack, "chat.postMessage", json={"channel": "#deployments", "text": "x"})
    slack.inject_fault("auth.test", 500, times=5)
    slack.reset_recordings()
    assert (slack.messages, slack.requests) == ([], [])
    assert post(slack, "auth.test")[1]["ok"] is True
    assert post(slack, "chat.postMessage", json={"channel": "#deployments", "text": "y"})[1][
        "ts"] == "1700000000.000100"
