"""With LOG_FORMAT=json the worker writes one JSON object per line: one line per decision."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

from .harness import WorkerProcess, settle
from .test_faults_e2e import INCOMPLETE


def test_each_decision_is_one_json_line_with_issue_key_and_event_id(jira, web, settings, queue,
                                                                    tmp_path):
    worker = WorkerProcess(dataclasses.replace(settings, log_format="json"),
                           tmp_path / "worker.log")
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


def status_change(payload: dict) -> tuple[str | None, str] | None:
    """Return (from, to) status names of a delivery's changelog, or None if it moved nothing."""
    for item in (payload.get("changelog") or {}).get("items", []):
        if item["field"].lower() == "status":
            return item["fromString"], item["toString"]
    return None
