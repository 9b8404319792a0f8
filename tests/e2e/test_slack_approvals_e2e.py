"""Emergency approvals from Slack buttons, through the web app and a real worker process."""

from __future__ import annotations

import dataclasses
import json
import time
from urllib.parse import urlencode

import pytest
import requests

from webhooks.slack_signature import sign

from ..builders import NORMAL, settings_for, wait_until
from .harness import settle

SIGNING = "e2e slack signing secret"
EMERGENCY = {**NORMAL, "Change Category": "Emergency", "Incident Commander": "erin"}


@pytest.fixture
def settings(jira, slack, redis_url, namespace):
    return dataclasses.replace(settings_for(jira, redis_url, namespace, slack=slack),
                               slack_signing_secret=SIGNING)


def click(web, key, action, slack_user, message_ts):
    body = urlencode({"payload": json.dumps({
        "type": "block_actions", "user": {"id": slack_user},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": "C00000001"},
        "actions": [{"action_id": action, "value": key, "type": "button",
                     "action_ts": f"{time.time():.6f}"}]})}).encode()
    timestamp = str(int(time.time()))
    return requests.post(f"{web.url}/slack/interactions", data=body, timeout=5, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": sign(SIGNING, timestamp, body)})


def test_emergency_is_approved_from_slack_by_the_head_and_the_named_ic(jira, slack, web, worker,
                                                                       queue):
    for name in ("dana", "erin", "frank"):
        slack.add_user(f"U{name.upper()}", jira.users[name].email, name.title())
    key = jira.create_change_request("alice", "Hotfix checkout outage", EMERGENCY)
    jira.transition(key, "Awaiting Approval", as_user="alice")
    settle(jira, queue)
    [request] = slack.messages
    assert key in request.text

    assert click(web, key, "approve", "UFRANK", request.ts).status_code == 200  # not the named IC
    settle(jira, queue)
    assert jira.status_of(key) == "Awaiting Approval"
    assert jira.property(key, "changeguard")["approvals"]["approvals"] == []

    assert click(web, key, "approve", "UDANA", request.ts).status_code == 200
    settle(jira, queue)
    assert jira.status_of(key) == "Awaiting Approval"  # one of two

    assert click(web, key, "approve", "UERIN", request.ts).status_code == 200
    settle(jira, queue)
    wait_until(lambda: jira.status_of(key) == "Approved", what="changeguard to approve it")
    settle(jira, queue)
    roles = [(a["accountId"], a["role"])
             for a in jira.property(key, "changeguard")["approvals"]["approvals"]]
    assert roles == [(jira.users["dana"].account_id, "head_of_engineering"),
                     (jira.users["erin"].account_id, "incident_commander")]
    assert jira.status_of(key) == "Approved"  # changeguard's own move is not undone
    [request] = slack.messages  # the request message, as updated after each click
    assert len(request.updates) == 3
