"""Freezes in status moves: the move to Approved and to Implementing, and the freeze exception."""

from datetime import datetime, timezone

import pytest

from jobs.periodic import cab_calendar
from rules.approvals import Approval, ApprovalOutcome, ApprovalRole as R, ApprovalState
from rules.approvals import ApprovalVerdict as AV
from rules.approvals import material_values, revision_of
from rules.freeze import Freeze, FreezeDecision, FreezeVerdict, HARD_FREEZE, SOFT_FREEZE
from rules.policy import FreezeKind
from rules.policy import GroupRole as G
from rules.policy import StatusRole as S
from rules.status_move import (FreezesInView, MoveDecision, Reason, StatusMove, Verdict,
                               judge_move, planned_window)
from worker.policy_file import load_policy

from .builders import SITE, STATUS_IDS, change

POLICY = load_policy()
CALENDAR = cab_calendar(POLICY)
ID = STATUS_IDS
ALICE, CAROL, DANA, ERIN, TED = (f"712020:{n}" for n in ("alice", "carol", "dana", "erin", "ted"))
AT = "2026-11-24T10:00:00+00:00"  # before the window: the whole window is judged
UTC = timezone.utc


def utc(day, hour, minute=0):
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


# The changes' window: 1 Dec 10:00-11:00 UTC (tests/rules/builders.change).
HARD = Freeze("Launch", FreezeKind.HARD, utc(1, 9), utc(1, 12), "Black Friday launch", "CHG-90")
SOFT = Freeze("Weekend", FreezeKind.SOFT, utc(1, 8), utc(1, 10, 30), "Fewer people", "policy")
EARLY_HARD = Freeze("Morning", FreezeKind.HARD, utc(1, 9), utc(1, 10, 30), "Backups", "CHG-91")
LATER = Freeze("Evening", FreezeKind.HARD, utc(1, 11), utc(1, 13), "Release", "CHG-92")
HOE_GROUP = POLICY.group_names[G.HEAD_OF_ENGINEERING]

NORMAL = change("Normal", status=S.APPROVED)
APPROVED_NORMAL = change("Normal", status=S.APPROVED)
IMPLEMENTING_NORMAL = change("Normal", status=S.IMPLEMENTING)
EMERGENCY = change("Emergency", commander=ERIN, status=S.APPROVED)
STANDARD = change("Standard", template="Copy update", status=S.APPROVED)
NO_WINDOW = change("Normal", status=S.APPROVED, start=None)


def move(frm, to, actor=CAROL, changelog_id=20):
    return StatusMove(changelog_id, ID[frm], ID[to], actor)


def state(cr, *approvals):
    return ApprovalState(revision_of(cr), material_values(cr), tuple(approvals))


def view(cr, *freezes):
    return FreezesInView(planned_window(cr), tuple(freezes), CALENDAR)


def blocked(freeze, template, freezes=None, **extra):
    until = {HARD: "Tue 1 Dec 2026 12:00", SOFT: "Tue 1 Dec 2026 10:30",
             EARLY_HARD: "Tue 1 Dec 2026 10:30"}[freeze] + " (Europe/London)"  # the CAB's zone
    return FreezeVerdict(FreezeDecision.BLOCKED, tuple(freezes or (freeze,)), freeze,
                         template.format(key="CHG-7", freeze=freeze.title, until=until,
                                         group=HOE_GROUP, **extra))


CAB = Approval(CAROL, R.CAB, AT)
HOE = Approval(DANA, R.HEAD_OF_ENGINEERING, AT)
HOE_EXCEPTION = Approval(DANA, R.FREEZE_EXCEPTION, AT)
LEAD = Approval(TED, R.TEAM_LEAD, AT)


def frozen(back, freeze_verdict, approval=None, resume=False):
    return MoveDecision(Verdict.REVERT, Reason.FROZEN, (), ID[back], approval,
                        freeze=freeze_verdict, resume_after_freeze=resume)


# (id, move, change now, recorded approvals, actor's groups, freezes in view, at, expected)
CASES = [
    ("CAB approves a Normal change in a hard freeze: approval kept, move undone",
     move(S.AWAITING_APPROVAL, S.APPROVED), NORMAL, (), {G.CAB}, (HARD,), AT,
     frozen(S.AWAITING_APPROVAL, blocked(HARD, HARD_FREEZE),
            ApprovalOutcome(AV.COMPLETE, state(NORMAL, CAB)))),
    ("CAB approves a Normal change in a soft freeze: no exception, move undone",
     move(S.AWAITING_APPROVAL, S.APPROVED), NORMAL, (), {G.CAB}, (SOFT,), AT,
     frozen(S.AWAITING_APPROVAL, blocked(SOFT, SOFT_FREEZE),
            ApprovalOutcome(AV.COMPLETE, state(NORMAL, CAB)))),
    ("Head of Engineering approves in a soft freeze: approval and exception",
     move(S.AWAITING_APPROVAL, S.APPROVED, DANA), NORMAL, (), {G.HEAD_OF_ENGINEERING}, (SOFT,), AT,
     MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=ApprovalOutcome(
         AV.COMPLETE, state(NORMAL, HOE, HOE_EXCEPTION)))),
    ("Head of Engineering after the CAB in a soft freeze: the exception is all it adds",
     move(S.AWAITING_APPROVAL, S.APPROVED, DANA), NORMAL, (CAB,), {G.HEAD_OF_ENGINEERING},
     (SOFT,), AT,
     MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=ApprovalOutcome(
         AV.COMPLETE, state(NORMAL, CAB, HOE_EXCEPTION)))),
    ("a second look by the Head of Engineering does not add a second exception",
     move(S.AWAITING_APPROVAL, S.APPROVED, DANA), NORMAL, (CAB, HOE_EXCEPTION),
     {G.HEAD_OF_ENGINEERING}, (SOFT,), AT,
     MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=ApprovalOutcome(
         AV.COMPLETE, state(NORMAL, CAB, HOE_EXCEPTION)))),
    ("Head of Engineering in a hard freeze: no exception to give",
     move(S.AWAITING_APPROVAL, S.APPROVED, DANA), NORMAL, (), {G.HEAD_OF_ENGINEERING}, (HARD,), AT,
     frozen(S.AWAITING_APPROVAL, blocked(HARD, HARD_FREEZE),
            ApprovalOutcome(AV.COMPLETE, state(NORMAL, HOE)))),
    ("Head of Engineering in a soft and a hard freeze: the hard one holds",
     move(S.AWAITING_APPROVAL, S.APPROVED, DANA), NORMAL, (), {G.HEAD_OF_ENGINEERING},
     (SOFT, HARD), AT,
     frozen(S.AWAITING_APPROVAL, blocked(HARD, HARD_FREEZE, (SOFT, HARD)),
            ApprovalOutcome(AV.COMPLETE, state(NORMAL, HOE, HOE_EXCEPTION)))),
    ("the reporter cannot approve, nor give the exception",
     move(S.AWAITING_APPROVAL, S.APPROVED, ALICE), NORMAL, (), {G.HEAD_OF_ENGINEERING}, (SOFT,),
     AT, MoveDecision(Verdict.REVERT, Reason.APPROVAL_REFUSED, (), ID[S.AWAITING_APPROVAL],
                      ApprovalOutcome(AV.SELF_APPROVAL, state(NORMAL),
                                      (frozenset({R.CAB, R.HEAD_OF_ENGINEERING}),)))),
    ("an Emergency change is approved in a hard freeze, and takes no exception",
     move(S.AWAITING_APPROVAL, S.APPROVED, DANA), EMERGENCY, (Approval(ERIN, R.INCIDENT_COMMANDER,
                                                                       AT),),
     {G.HEAD_OF_ENGINEERING}, (HARD, SOFT), AT,
     MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=ApprovalOutcome(
         AV.COMPLETE, state(EMERGENCY, Approval(ERIN, R.INCIDENT_COMMANDER, AT), HOE)))),
    ("a freeze outside the window changes nothing",
     move(S.AWAITING_APPROVAL, S.APPROVED), NORMAL, (), {G.CAB}, (LATER,), AT,
     MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=ApprovalOutcome(
         AV.COMPLETE, state(NORMAL, CAB)))),
    ("a team lead's approval of a Standard change in a soft freeze is held",
     move(S.AWAITING_APPROVAL, S.APPROVED, TED), change("Standard", template="Copy update",
                                                        status=S.APPROVED),
     (), {G.TEAM_LEADS}, (SOFT,), AT,
     frozen(S.AWAITING_APPROVAL, blocked(SOFT, SOFT_FREEZE),
            ApprovalOutcome(AV.COMPLETE, state(STANDARD, LEAD)))),
    ("into Implementing in a hard freeze: back to Approved",
     move(S.APPROVED, S.IMPLEMENTING), IMPLEMENTING_NORMAL, (CAB,), set(), (HARD,), AT,
     frozen(S.APPROVED, blocked(HARD, HARD_FREEZE))),
    ("into Implementing in a soft freeze with the exception",
     move(S.APPROVED, S.IMPLEMENTING), IMPLEMENTING_NORMAL, (CAB, HOE_EXCEPTION), set(), (SOFT,),
     AT, MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("into Implementing before a freeze that ends inside the window: resume after it",
     move(S.APPROVED, S.IMPLEMENTING), IMPLEMENTING_NORMAL, (CAB,), set(), (EARLY_HARD,), AT,
     frozen(S.APPROVED, blocked(EARLY_HARD, HARD_FREEZE), resume=True)),
    ("into Implementing once that freeze has ended: the rest of the window is clear",
     move(S.APPROVED, S.IMPLEMENTING), IMPLEMENTING_NORMAL, (CAB,), set(), (EARLY_HARD,),
     "2026-12-01T10:40:00+00:00", MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("into Implementing after the window is over: nothing left to freeze",
     move(S.APPROVED, S.IMPLEMENTING), IMPLEMENTING_NORMAL, (CAB,), set(), (HARD,),
     "2026-12-01T11:30:00+00:00", MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("into Implementing with no time of move: the whole window is judged",
     move(S.APPROVED, S.IMPLEMENTING), IMPLEMENTING_NORMAL, (CAB,), set(), (EARLY_HARD,), "",
     frozen(S.APPROVED, blocked(EARLY_HARD, HARD_FREEZE), resume=True)),
    ("an Emergency change goes into Implementing in a hard freeze",
     move(S.APPROVED, S.IMPLEMENTING), change("Emergency", commander=ERIN, status=S.IMPLEMENTING),
     (Approval(ERIN, R.INCIDENT_COMMANDER, AT), HOE), set(), (HARD,), AT,
     MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("back from Implementing to Approved is never frozen",
     move(S.IMPLEMENTING, S.APPROVED), APPROVED_NORMAL, (CAB,), set(), (HARD,), AT,
     MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("an edit withdrew the exception with the approvals: no standing approval comes first",
     move(S.APPROVED, S.IMPLEMENTING), IMPLEMENTING_NORMAL, "edited", set(), (SOFT,), AT,
     MoveDecision(Verdict.REVERT, Reason.APPROVAL_NOT_STANDING, (), ID[S.APPROVED])),
]


@pytest.mark.parametrize("mv, cr, recorded, groups, freezes, at, expected",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_freezes_in_moves(mv, cr, recorded, groups, freezes, at, expected):
    if recorded == "edited":  # approved with the exception, then the window was edited
        approvals = ApprovalState("0" * 16, material_values(cr), (CAB, HOE_EXCEPTION))
    else:
        approvals = state(cr, *recorded)
    assert judge_move(mv, cr, POLICY, SITE, approvals=approvals, actor_groups=frozenset(groups),
                      at=at, freezes=view(cr, *freezes)) == expected


def test_a_change_without_a_window_is_in_no_freeze():
    cr = change("Normal", status=S.IMPLEMENTING, start=None)
    assert planned_window(cr) is None
    assert judge_move(move(S.APPROVED, S.IMPLEMENTING), cr, POLICY, SITE,
                      approvals=state(cr, CAB), at=AT,
                      freezes=view(cr, HARD)) == MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)


@pytest.mark.parametrize("start, end, expected", [
    (utc(1, 10), utc(1, 11), (utc(1, 10), utc(1, 11))),
    (utc(1, 11), utc(1, 10), None),
    (utc(1, 10), utc(1, 10), None),
    (None, utc(1, 10), None),
    (utc(1, 10), None, None),
], ids=["window", "backwards", "empty", "no start", "no end"])
def test_planned_window(start, end, expected):
    assert planned_window(change(start=start, end=end)) == expected
