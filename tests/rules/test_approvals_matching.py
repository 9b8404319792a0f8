"""Approval roles are a matching over the standing approvals: no order of approvals deadlocks."""

from __future__ import annotations

import pytest

from rules.approvals import ApprovalRole as R, ApprovalState, ApprovalVerdict as AV, judge_approval
from rules.policy import Category as C
from rules.policy import GroupRole as G

from .builders import change

AT = "2026-11-24T10:00:00+00:00"
DANA, HANK = "712020:dana", "712020:hank"
GROUPS = {
    DANA: frozenset({G.HEAD_OF_ENGINEERING}),
    HANK: frozenset({G.HEAD_OF_ENGINEERING, G.INCIDENT_COMMANDERS}),
}


def roles(state):
    return [(a.account_id, a.role) for a in state.approvals]


def approve_in_turn(cr, category, approvers, state=ApprovalState(), groups=GROUPS):
    """Judge each approver's move to Approved in turn, recording what each outcome records."""
    outcomes = []
    for actor in approvers:
        outcomes.append(judge_approval(cr, category, actor, groups[actor], state, at=AT))
        state = outcomes[-1].state
    return outcomes


@pytest.mark.xfail(strict=True, reason="#10: roles are filled greedily, the named IC takes the "
                   "Head of Engineering role and the real one is refused")
def test_named_ic_in_head_of_engineering_approving_first_does_not_deadlock():
    cr = change("Emergency", commander=HANK)
    first, second = approve_in_turn(cr, C.EMERGENCY, [HANK, DANA])
    assert first.verdict is AV.RECORDED
    assert (second.verdict, second.missing) == (AV.COMPLETE, ())
    assert roles(second.state) == [(HANK, R.INCIDENT_COMMANDER), (DANA, R.HEAD_OF_ENGINEERING)]
