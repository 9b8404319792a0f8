"""Freezes enforced on the moves to Approved and to Implementing: the job against the sandbox Jira."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from jobs.enforce_transition import enforce_transition
from jobs.freezes import forget_declared_freezes

from ..builders import NORMAL, bot_calls, example_freezes_policy_path, move_args

UTC = timezone.utc
WINDOW = (datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 12, 1, 11, tzinfo=UTC))  # NORMAL's
EMERGENCY = {**NORMAL, "Change Category": "Emergency", "Change Type": "Database",
             "Incident Commander": "erin"}


def declare(jira, kind, as_user="dana", start=WINDOW[0], end=WINDOW[1]):
    return jira.create_freeze(as_user, "Payments launch", start, end, kind,
                              reason="The payments launch must not share its window.")


def act(jira, runtime, key, actor, status):
    """Move the change as ``actor`` and run the enforcement of that move; return its summary."""
    jira.transition(key, status, as_user=actor)
    return enforce_transition(**move_args(jira, key, actor), runtime=runtime)


def submitted(jira, runtime, fields=NORMAL):
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", fields)
    act(jira, runtime, key, "alice", "Awaiting Approval")
    return key


def roles(jira, key):
    return [a["role"] for a in jira.property(key, "changeguard")["approvals"]["approvals"]]


def last_decision(jira, key):
    entry = jira.property(key, "changeguard")["audit"][-1]
    return entry["decision"], entry["reason"], entry["detail"]


HELD = {"verdict": "revert", "reason": "frozen", "reverted": True}
APPROVED = {"verdict": "allow", "reason": "approved"}
PASSED = {"verdict": "allow", "reason": "gate_passed"}


@pytest.mark.parametrize("kind, declarer, approvers, outcome, status, recorded", [
    ("Hard", "dana", ["carol"], [HELD], "Awaiting Approval", ["cab"]),
    ("Soft", "dana", ["carol"], [HELD], "Awaiting Approval", ["cab"]),
    # The Head of Engineering's move to Approved is the freeze exception: it goes ahead.
    ("Soft", "dana", ["carol", "dana"], [HELD, APPROVED], "Approved", ["cab", "freeze_exception"]),
    ("Hard", "dana", ["carol", "dana"], [HELD, HELD], "Awaiting Approval", ["cab"]),
    # Only the Head of Engineering declares freezes: anyone else's is not enforced.
    ("Hard", "alice", ["carol"], [APPROVED], "Approved", ["cab"]),
], ids=["hard-holds-the-cab", "soft-holds-the-cab", "soft-with-the-exception",
        "hard-has-no-exception", "declared-by-someone-else"])
def test_the_move_to_approved(jira, runtime, kind, declarer, approvers, outcome, status,
                              recorded):
    declare(jira, kind, as_user=declarer)
    key = submitted(jira, runtime)
    results = []
    for approver in approvers:
        if jira.status_of(key) == "Approved":
            act(jira, runtime, key, "alice", "Awaiting Approval")
        results.append(act(jira, runtime, key, approver, "Approved"))
    assert results == outcome
    assert jira.status_of(key) == status
    assert roles(jira, key) == recorded


def test_a_held_approval_is_explained_and_audited(jira, runtime):
    freeze = declare(jira, "Hard")
    key = submitted(jira, runtime)
    assert act(jira, runtime, key, "carol", "Approved") == HELD
    assert last_decision(jira, key) == ("held by a freeze", "frozen",
                                        f'{freeze} "Payments launch"')
    [comment] = [c["text"] for c in jira.comments(key)]
    assert comment == (
        f'Moved back to Awaiting Approval: hard freeze {freeze} "Payments launch"\n\n'
        f"@{jira.users['carol'].account_id}, {key}'s planned window overlaps the hard freeze {freeze} \"Payments "
        "launch\", which lets only Emergency changes through until Tue 1 Dec 2026 11:00 "
        "(Europe/London): move its Planned Start to that time or later.\n\n"
        "Next: move Planned Start to after the freeze and have the new window approved; during "
        "a hard freeze only an Emergency change goes ahead.")


def test_an_emergency_change_goes_through_a_hard_freeze(jira, runtime):
    declare(jira, "Hard")
    key = submitted(jira, runtime, EMERGENCY)
    assert act(jira, runtime, key, "dana", "Approved")["reason"] == "approval_recorded"
    assert act(jira, runtime, key, "erin", "Approved") == APPROVED
    assert act(jira, runtime, key, "alice", "Implementing") == PASSED
    assert jira.status_of(key) == "Implementing"


def test_a_freeze_declared_after_the_approval_stops_implementing(jira, runtime):
    key = submitted(jira, runtime)
    assert act(jira, runtime, key, "carol", "Approved") == APPROVED
    freeze = declare(jira, "Hard")
    forget_declared_freezes(runtime)  # as the freeze's own job does when it is declared
    assert act(jira, runtime, key, "alice", "Implementing") == HELD
    assert jira.status_of(key) == "Approved"
    assert last_decision(jira, key) == ("held by a freeze", "frozen",
                                        f'{freeze} "Payments launch"')


def test_with_the_exception_the_change_is_implemented_in_a_soft_freeze(jira, runtime):
    declare(jira, "Soft")
    key = submitted(jira, runtime)
    assert act(jira, runtime, key, "dana", "Approved") == APPROVED
    assert roles(jira, key) == ["cab", "freeze_exception"]  # dana is in the CAB too
    assert act(jira, runtime, key, "alice", "Implementing") == PASSED


def test_declared_freezes_are_searched_once_a_minute_and_only_for_moves_forward(jira, runtime):
    declare(jira, "Hard", start=datetime(2027, 1, 5, tzinfo=UTC),
            end=datetime(2027, 1, 6, tzinfo=UTC))  # not in the window: no freeze applies
    key = submitted(jira, runtime)
    assert ("POST", "jql") not in bot_calls(jira)  # into Awaiting Approval: no look
    jira.reset_recordings()
    assert act(jira, runtime, key, "carol", "Approved") == APPROVED
    assert bot_calls(jira).count(("POST", "jql")) == 1
    jira.reset_recordings()
    assert act(jira, runtime, key, "alice", "Implementing") == PASSED
    assert ("POST", "jql") not in bot_calls(jira)  # the list is kept for a minute


# Europe/London goes to summer time on 29 March 2026. The example Weekend freeze runs Friday
# 15:00 to Monday 08:00 on the clock: 07:00 UTC that Monday, not 08:00 UTC (65 real hours).
@pytest.mark.parametrize("start, end, outcome, status", [
    ("2026-03-30T06:30:00.000+0000", "2026-03-30T06:45:00.000+0000", HELD, "Awaiting Approval"),
    ("2026-03-30T07:30:00.000+0000", "2026-03-30T07:45:00.000+0000", APPROVED, "Approved"),
], ids=["07:30-BST-inside", "08:30-BST-after"])
def test_a_recurring_freeze_across_the_change_to_summer_time(jira, make_runtime, tmp_path, start,
                                                              end, outcome, status):
    runtime = make_runtime(policy_path=example_freezes_policy_path(tmp_path))
    key = submitted(jira, runtime, {**NORMAL, "Planned Start": start, "Planned End": end})
    assert act(jira, runtime, key, "carol", "Approved") == outcome
    assert jira.status_of(key) == status
