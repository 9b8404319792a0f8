"""Screening and judging status moves: own moves, repeats, stale events, the gate."""

import pytest

from rules.awaiting_approval_gate import Finding, Problem
from rules.policy import FieldRole as F
from rules.policy import StatusRole as S
from rules.status_move import MoveDecision, Reason, StatusMove, Verdict, judge_move, screen_move
from worker.policy_file import load_policy

from .builders import BOT, SITE, STATUS_IDS, change

POLICY = load_policy()
DRAFT, AWAITING, APPROVED = STATUS_IDS[S.DRAFT], STATUS_IDS[S.AWAITING_APPROVAL], STATUS_IDS[S.APPROVED]


def move(changelog_id=20, frm=DRAFT, to=AWAITING, actor="712020:alice"):
    return StatusMove(changelog_id, frm, to, actor)


SCREEN_CASES = [
    ("our own revert", move(actor=BOT), None, MoveDecision(Verdict.IGNORE, Reason.OWN_MOVE)),
    ("already handled this one", move(20), 20, MoveDecision(Verdict.IGNORE, Reason.ALREADY_HANDLED)),
    ("older than the last handled", move(19), 20,
     MoveDecision(Verdict.IGNORE, Reason.ALREADY_HANDLED)),
    ("newer than the last handled", move(21), 20, None),
    ("nothing handled yet", move(21), None, None),
    ("no actor (created by an app)", move(actor=None), None, None),
]


@pytest.mark.parametrize("mv, last, expected", [c[1:] for c in SCREEN_CASES],
                         ids=[c[0] for c in SCREEN_CASES])
def test_screen_move(mv, last, expected):
    assert screen_move(mv, SITE, last_handled_changelog_id=last) == expected


JUDGE_CASES = [
    ("compliant move stands", move(), change(), MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("incomplete move is reverted to where it came from", move(), change(rollback_plan="TBD"),
     MoveDecision(Verdict.REVERT, Reason.GATE_FAILED,
                  (Finding(F.ROLLBACK_PLAN, Problem.PLACEHOLDER, "TBD"),), DRAFT)),
    ("created straight into the gate: no way back known", move(frm=None),
     change(rollback_plan=None),
     MoveDecision(Verdict.REVERT, Reason.GATE_FAILED, (Finding(F.ROLLBACK_PLAN, Problem.MISSING),),
                  None)),
    ("issue has moved on since", move(), change(status=S.DRAFT),
     MoveDecision(Verdict.IGNORE, Reason.SUPERSEDED)),
    ("a move this version does not gate", move(frm=AWAITING, to=APPROVED),
     change(status=S.APPROVED), MoveDecision(Verdict.IGNORE, Reason.NOT_GATED)),
]


@pytest.mark.parametrize("mv, cr, expected", [c[1:] for c in JUDGE_CASES],
                         ids=[c[0] for c in JUDGE_CASES])
def test_judge_move(mv, cr, expected):
    assert judge_move(mv, cr, POLICY, SITE) == expected
