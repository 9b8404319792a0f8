"""With LOG_FORMAT=json the worker writes one JSON object per line, one per decision; no secret."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

from ..builders import (CALENDAR_TOKEN, NORMAL, REDIS_PASSWORD, SLACK_BOT_TOKEN,
                        SLACK_SIGNING_SECRET, with_password)
from .harness import WorkerProcess, settle

INCOMPLETE = {**NORMAL, "Rollback Plan": "TBD"}


def test_each_decision_is_one_json_line_with_issue_key_and_event_id(jira, web, settings, queue,
                                                                    tmp_path):
    # Every secret distinctive (the Redis password is accepted by a Redis without one).
    worker_settings = dataclasses.replace(
        settings, log_format="json", redis_url=with_password(settings.redis_url),
        slack_bot_token=SLACK_BOT_TOKEN, slack_api_url="http://127.0.0.1:9/api/",
        slack_signing_secret=SLACK_SIGNING_SECRET, calendar_token=CALENDAR_TOKEN)
    worker = WorkerProcess(worker_settings, tmp_path / "worker.log")
    try:
        key = jira.create_change_request("alice", "Rotate edge TLS certificates", INCOMPLETE)
        jira.transition(key, "Awaiting Approval", as_user="alice")
        settle(jira, queue)
    finally:
        worker.stop()
    entries = [json.loads(line) for line in worker.log().splitlines()]  # no stray text lines
    assert all({"time", "level", "logger", "event"} <= set(entry) for entry in entries)
    judged = [entry for entry in entries if entry["event"] == "move judged"]
    # Every delivered status change (creation, alice's move, changeguard's revert) is judged once.
    moves = {d.identifier: (int(d.payload["changelog"]["id"]), status_change(d.payload))
             for d in jira.deliveries if d.status == 202 and status_change(d.payload)}
    assert Counter(entry["event_id"] for entry in judged) == {identifier: 1 for identifier in moves}
    decisions = {moves[entry["event_id"]][1]: (entry["issue_key"], entry["changelog_id"],
                                               entry["verdict"], entry["reason"], entry["findings"])
                 for entry in judged}
    changelog = {change: changelog_id for changelog_id, change in moves.values()}
    alice, revert = ("Draft", "Awaiting Approval"), ("Awaiting Approval", "Draft")
    assert {change: decisions[change] for change in (alice, revert)} == {
        alice: (key, changelog[alice], "revert", "gate_failed", ["rollback_plan"]),
        revert: (key, changelog[revert], "ignore", "own_move", []),
    }
    secrets = {"JIRA_API_TOKEN": settings.jira_api_token,
               "JIRA_WEBHOOK_SECRET": settings.jira_webhook_secret,
               "REDIS_URL": REDIS_PASSWORD, "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
               "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
               "CHANGEGUARD_CALENDAR_TOKEN": CALENDAR_TOKEN}
    assert {name: value in worker.log() for name, value in secrets.items()} == dict.fromkeys(
        secrets, False)


def status_change(payload: dict) -> tuple[str | None, str] | None:
    """Return (from, to) status names of a delivery's changelog, or None if it moved nothing."""
    for item in (payload.get("changelog") or {}).get("items", []):
        if item["field"].lower() == "status":
            return item["fromString"], item["toString"]
    return None
