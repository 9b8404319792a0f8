"""Jira delivers webhooks late, out of order and more than once: the end state must not care."""

from __future__ import annotations

import pytest

from ..builders import NORMAL
from .harness import (ROLLBACK_TBD, audit_trail, comment_texts, gate_failed, job_results, mentions,
                      recorded_approvals, settle)

SUMMARY = "Rotate edge TLS certificates"
INCOMPLETE = {k: v for k, v in NORMAL.items() if k != "Deployment Plan"} | {"Rollback Plan": "TBD"}
NEW_ROLLBACK = "Restore the previous bundle from the S3 backup."
SEEDS = (1, 2, 3)


def burst(jira) -> str:
    """Alice works on one change faster than changeguard hears of it; return its key."""
    key = jira.create_change_request("alice", SUMMARY, INCOMPLETE)
    jira.transition(key, "Awaiting Approval", as_user="alice")
    jira.edit(key, "alice", {"Description": NORMAL["Description"] + " All four pools."})
    jira.transition(key, "Draft", as_user="alice")
    jira.edit(key, "alice", {"Deployment Plan": NORMAL["Deployment Plan"],
                             "Rollback Plan": NORMAL["Rollback Plan"]})
    jira.transition(key, "Awaiting Approval", as_user="alice")
    jira.edit(key, "alice", {"Rollback Plan": "TBD"})  # complete when moved, not any more
    return key


def burst_delivered(jira, queue, seed: int | None, **release) -> str:
    """Make the burst while Jira holds its webhooks, then let them go; return the issue key."""
    jira.hold_deliveries()
    key = burst(jira)
    sent = jira.release_deliveries(seed, **release)
    settle(jira, queue)
    copies = 2 if release.get("duplicate", True) else 1
    held = 7  # created, three moves, three edits
    if release.get("new_identifiers"):
        assert len({identifier for identifier, _ in sent}) == held * copies
    else:
        assert sorted(attempt for _, attempt in sent) == sorted(list(range(1, copies + 1)) * held)
    return key


def end_state(jira, key: str) -> tuple[str, list[str]]:
    return jira.status_of(key), comment_texts(jira, key)


def decisions(jira, key: str) -> set[str]:
    return {entry["decision"] for entry in audit_trail(jira, key)}


def bot_writes(jira, key: str) -> list[tuple[str, str]]:
    """What changeguard changed on the issue, besides its own record."""
    return [(r.method, r.path) for r in jira.requests
            if r.account_id == jira.bot.account_id and r.method != "GET" and key in r.path
            and not r.path.endswith("/properties/changeguard")]


@pytest.mark.parametrize("new_identifiers", [False, True],
                         ids=["same-identifier", "new-identifier"])
def test_shuffled_doubled_deliveries_end_as_in_order_ones(jira, web, worker, queue,
                                                           new_identifiers):
    in_order = burst_delivered(jira, queue, None, duplicate=False)
    assert end_state(jira, in_order) == (
        "Draft", [gate_failed(ROLLBACK_TBD).format(**mentions(jira))])
    keys = [in_order]
    for seed in SEEDS:
        key = burst_delivered(jira, queue, seed, new_identifiers=new_identifiers)
        assert end_state(jira, key) == end_state(jira, in_order), f"seed {seed}"
        keys.append(key)

    assert all(d.status is not None and d.status < 300 for d in jira.deliveries)
    accepted = [d.identifier for d in jira.deliveries if d.status == 202]
    assert len(accepted) == len(set(accepted))  # a repeated identifier is answered "duplicate"
    for key in keys:  # one revert, one comment: the worker's own revert is not enforced again
        assert bot_writes(jira, key) == [("POST", f"/rest/api/3/issue/{key}/transitions"),
                                         ("POST", f"/rest/api/3/issue/{key}/comment")]
    own = [result for kwargs, result in job_results(queue)
           if kwargs.get("actor_account_id") == jira.bot.account_id]
    assert own == [{"verdict": "ignore", "reason": "own_move"}] * len(keys)


def test_the_decision_log_does_not_depend_on_delivery_order(jira, web, worker, queue):
    in_order = burst_delivered(jira, queue, None, duplicate=False)
    shuffled = burst_delivered(jira, queue, 1)
    assert decisions(jira, shuffled) == decisions(jira, in_order)


LATE = [
    pytest.param(
        ("edit", {"Rollback Plan": NEW_ROLLBACK}),
        "Awaiting Approval",
        ["Approval withdrawn: the change was edited after approval\n\n"
         "{alice}, you changed what was approved, so the approval is withdrawn and changeguard "
         "moved the change back to Awaiting Approval. What changed:\n\n"
         f"* Rollback Plan: “{NORMAL['Rollback Plan']}” → “{NEW_ROLLBACK}”\n\n"
         "Next: the approvers review the change as it is now and move it to Approved again."],
        [], ["allowed", "approved", "approval withdrawn"],
        id="edit-right-after-approval"),
    pytest.param(
        ("move", "Implementing"),
        "Implementing", [], [("carol", "cab")], ["allowed", "approved", "allowed"],
        id="implementing-right-after-approval"),
]


@pytest.mark.parametrize("then, status, comments, approvals, log", LATE)
def test_an_approval_delivered_late_still_counts(jira, web, worker, queue,
                                                 then, status, comments, approvals, log):
    key = jira.create_change_request("alice", SUMMARY, NORMAL)
    jira.transition(key, "Awaiting Approval", as_user="alice")
    settle(jira, queue)
    jira.hold_deliveries()
    jira.transition(key, "Approved", as_user="carol")
    if then[0] == "edit":
        jira.edit(key, "alice", then[1])
    else:
        jira.transition(key, then[1], as_user="alice")
    jira.release_deliveries(None, duplicate=False)
    settle(jira, queue)
    assert jira.status_of(key) == status
    assert comment_texts(jira, key) == [c.format(**mentions(jira)) for c in comments]
    assert recorded_approvals(jira, key) == approvals
    assert [entry["decision"] for entry in audit_trail(jira, key)] == log
