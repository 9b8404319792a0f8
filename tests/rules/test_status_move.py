"""Screening and judging status moves: one row per gate, approval and jump of the policy."""

import dataclasses

import pytest

from rules.approvals import Approval, ApprovalOutcome, ApprovalRole as R, ApprovalState, ApprovalVerdict as AV, material_values, revision_of
from rules.awaiting_approval_gate import Finding, Problem
from rules.policy import FieldRole as F
from rules.policy import GroupRole as G
from rules.policy import StatusRole as S
from rules.status_move import MoveDecision, Reason, StatusMove, Verdict, is_approval_gesture, judge_move, screen_move
from worker.policy_file import load_policy

from .builders import BOT, SITE, STATUS_IDS, change

POLICY = load_policy()
ID = STATUS_IDS
ALICE, BOB, CAROL, DANA, ERIN, FRANK = (f"712020:{n}" for n in
                                        ("alice", "bob", "carol", "dana", "erin", "frank"))
AT = "2026-11-24T10:00:00+00:00"


def move(frm, to, actor=ALICE, changelog_id=20):
    return StatusMove(changelog_id, ID[frm] if frm else None, ID[to], actor)


SCREEN_CASES = [
    ("our own revert", StatusMove(20, ID[S.DRAFT], ID[S.AWAITING_APPROVAL], BOT), None,
     MoveDecision(Verdict.IGNORE, Reason.OWN_MOVE)),
    ("already handled this one", move(S.DRAFT, S.AWAITING_APPROVAL), 20,
     MoveDecision(Verdict.IGNORE, Reason.ALREADY_HANDLED)),
    ("older than the last handled", move(S.DRAFT, S.AWAITING_APPROVAL, changelog_id=19), 20,
     MoveDecision(Verdict.IGNORE, Reason.ALREADY_HANDLED)),
    ("newer than the last handled", move(S.DRAFT, S.AWAITING_APPROVAL, changelog_id=21), 20, None),
    ("nothing handled yet", move(S.DRAFT, S.AWAITING_APPROVAL), None, None),
    ("no actor (created by an app)", move(S.DRAFT, S.AWAITING_APPROVAL, actor=None), None, None),
]


@pytest.mark.parametrize("mv, last, expected", [c[1:] for c in SCREEN_CASES],
                         ids=[c[0] for c in SCREEN_CASES])
def test_screen_move(mv, last, expected):
    assert screen_move(mv, SITE, last_handled_changelog_id=last) == expected


def approved(cr, *approvals):
    """An approval state given to ``cr`` as it is now."""
    return ApprovalState(revision_of(cr), material_values(cr), tuple(approvals))


NORMAL = change("Normal", status=S.APPROVED)
STANDARD = change("Standard", template="Copy update", status=S.APPROVED)
EMERGENCY = change("Emergency", commander=ERIN, status=S.APPROVED)
HOE_EMERGENCY = Approval(DANA, R.HEAD_OF_ENGINEERING, AT)
IC_EMERGENCY = Approval(ERIN, R.INCIDENT_COMMANDER, AT)


def revert(reason, frm, findings=(), approval=None):
    return MoveDecision(Verdict.REVERT, reason, findings, ID[frm], approval)


def outcome(verdict, cr, approvals, missing=()):
    return ApprovalOutcome(verdict, approved(cr, *approvals), missing)


HOE_OR_IC = (frozenset({R.INCIDENT_COMMANDER}),)
NEED_HOE = (frozenset({R.HEAD_OF_ENGINEERING}),)
NORMAL_APPROVERS = (frozenset({R.CAB, R.HEAD_OF_ENGINEERING}),)

# (id, move, change now, recorded approvals, actor's groups, expected decision)
JUDGE_CASES = [
    ("compliant into Awaiting Approval", move(S.DRAFT, S.AWAITING_APPROVAL), change(), None, set(),
     MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("incomplete into Awaiting Approval", move(S.DRAFT, S.AWAITING_APPROVAL),
     change(rollback_plan="TBD"), None, set(),
     revert(Reason.GATE_FAILED, S.DRAFT, (Finding(F.ROLLBACK_PLAN, Problem.PLACEHOLDER, "TBD"),))),
    ("created straight into Awaiting Approval goes back to Draft",
     move(None, S.AWAITING_APPROVAL), change(rollback_plan=None), None, set(),
     revert(Reason.GATE_FAILED, S.DRAFT, (Finding(F.ROLLBACK_PLAN, Problem.MISSING),))),
    ("created in Draft", move(None, S.DRAFT), change(status=S.DRAFT), None, set(),
     MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("created straight into Implementing", move(None, S.IMPLEMENTING),
     change(status=S.IMPLEMENTING), None, set(), revert(Reason.DISALLOWED_MOVE, S.DRAFT)),
    ("issue has moved on since", move(S.DRAFT, S.AWAITING_APPROVAL), change(status=S.DRAFT),
     None, set(), MoveDecision(Verdict.IGNORE, Reason.SUPERSEDED)),
    ("into a status the policy doesn't name",
     StatusMove(20, ID[S.DRAFT], "4", ALICE), dataclasses.replace(change(), status_id="4"), None,
     set(),
     MoveDecision(Verdict.IGNORE, Reason.NOT_GATED)),
    ("from a status the policy doesn't name", StatusMove(20, "4", ID[S.AWAITING_APPROVAL], ALICE),
     change(), None, set(), MoveDecision(Verdict.IGNORE, Reason.NOT_GATED)),
    ("Draft → Implementing jump", move(S.DRAFT, S.IMPLEMENTING), change(status=S.IMPLEMENTING),
     None, set(), revert(Reason.DISALLOWED_MOVE, S.DRAFT)),
    ("Implemented → Implementing is for changeguard only", move(S.IMPLEMENTED, S.IMPLEMENTING),
     change(status=S.IMPLEMENTING), None, set(), revert(Reason.DISALLOWED_MOVE, S.IMPLEMENTED)),
    ("back to Draft is always fine", move(S.AWAITING_APPROVAL, S.DRAFT), change(status=S.DRAFT),
     None, set(), MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("rejected", move(S.AWAITING_APPROVAL, S.REJECTED), change(status=S.REJECTED), None, set(),
     MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("approving an incomplete change", move(S.AWAITING_APPROVAL, S.APPROVED, CAROL),
     change(status=S.APPROVED, deployment_plan=None), None, {G.CAB},
     revert(Reason.GATE_FAILED, S.AWAITING_APPROVAL, (Finding(F.DEPLOYMENT_PLAN, Problem.MISSING),))),
    ("Database change as Normal cannot be approved", move(S.AWAITING_APPROVAL, S.APPROVED, CAROL),
     change("Normal", change_type="Database", status=S.APPROVED), None, {G.CAB},
     revert(Reason.GATE_FAILED, S.AWAITING_APPROVAL,
            (Finding(F.CHANGE_TYPE, Problem.EMERGENCY_ONLY, "Database"),))),
    ("Standard approved by a team lead", move(S.AWAITING_APPROVAL, S.APPROVED, BOB), STANDARD,
     None, {G.TEAM_LEADS},
     MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=outcome(
         AV.COMPLETE, STANDARD, [Approval(BOB, R.TEAM_LEAD, AT)]))),
    ("Standard approved by the Head of Engineering", move(S.AWAITING_APPROVAL, S.APPROVED, DANA),
     STANDARD, None, {G.HEAD_OF_ENGINEERING, G.CAB},
     MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=outcome(
         AV.COMPLETE, STANDARD, [Approval(DANA, R.HEAD_OF_ENGINEERING, AT)]))),
    ("Normal approved by a team lead", move(S.AWAITING_APPROVAL, S.APPROVED, BOB), NORMAL, None,
     {G.TEAM_LEADS}, revert(Reason.APPROVAL_REFUSED, S.AWAITING_APPROVAL,
                            approval=outcome(AV.NOT_AN_APPROVER, NORMAL, [], NORMAL_APPROVERS))),
    ("Normal approved by a CAB member", move(S.AWAITING_APPROVAL, S.APPROVED, CAROL), NORMAL,
     None, {G.CAB}, MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=outcome(
         AV.COMPLETE, NORMAL, [Approval(CAROL, R.CAB, AT)]))),
    ("self-approval", move(S.AWAITING_APPROVAL, S.APPROVED, ALICE), NORMAL, None, {G.CAB},
     revert(Reason.APPROVAL_REFUSED, S.AWAITING_APPROVAL,
            approval=outcome(AV.SELF_APPROVAL, NORMAL, [], NORMAL_APPROVERS))),
    ("Emergency: Head of Engineering first", move(S.AWAITING_APPROVAL, S.APPROVED, DANA),
     EMERGENCY, None, {G.HEAD_OF_ENGINEERING, G.CAB},
     revert(Reason.APPROVAL_RECORDED, S.AWAITING_APPROVAL,
            approval=outcome(AV.RECORDED, EMERGENCY, [HOE_EMERGENCY], HOE_OR_IC))),
    ("Emergency: the named IC completes it", move(S.AWAITING_APPROVAL, S.APPROVED, ERIN),
     EMERGENCY, [HOE_EMERGENCY], {G.INCIDENT_COMMANDERS},
     MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=outcome(
         AV.COMPLETE, EMERGENCY, [HOE_EMERGENCY, IC_EMERGENCY]))),
    ("Emergency: IC first, then still needs the Head", move(S.AWAITING_APPROVAL, S.APPROVED, ERIN),
     EMERGENCY, None, {G.INCIDENT_COMMANDERS},
     revert(Reason.APPROVAL_RECORDED, S.AWAITING_APPROVAL,
            approval=outcome(AV.RECORDED, EMERGENCY, [IC_EMERGENCY], NEED_HOE))),
    ("Emergency: an IC who is not the named one", move(S.AWAITING_APPROVAL, S.APPROVED, FRANK),
     EMERGENCY, [HOE_EMERGENCY], {G.INCIDENT_COMMANDERS},
     revert(Reason.APPROVAL_REFUSED, S.AWAITING_APPROVAL,
            approval=outcome(AV.NOT_THE_NAMED_IC, EMERGENCY, [HOE_EMERGENCY], HOE_OR_IC))),
    ("Emergency: one person cannot give both approvals",
     move(S.AWAITING_APPROVAL, S.APPROVED, DANA), change("Emergency", commander=DANA,
                                                         status=S.APPROVED),
     "dana-hoe", {G.HEAD_OF_ENGINEERING, G.INCIDENT_COMMANDERS}, "same-person"),
    ("Emergency: a second Head of Engineering adds nothing",
     move(S.AWAITING_APPROVAL, S.APPROVED, CAROL), EMERGENCY, [HOE_EMERGENCY],
     {G.HEAD_OF_ENGINEERING}, revert(Reason.APPROVAL_REFUSED, S.AWAITING_APPROVAL,
                                    approval=outcome(AV.ROLE_ALREADY_FILLED, EMERGENCY,
                                                     [HOE_EMERGENCY], HOE_OR_IC))),
    ("approved again while approvals are complete", move(S.AWAITING_APPROVAL, S.APPROVED, CAROL),
     NORMAL, [Approval(DANA, R.HEAD_OF_ENGINEERING, AT)], {G.CAB},
     MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=outcome(
         AV.COMPLETE, NORMAL, [Approval(DANA, R.HEAD_OF_ENGINEERING, AT)]))),
    ("the same approver again", move(S.AWAITING_APPROVAL, S.APPROVED, CAROL),
     NORMAL, [Approval(CAROL, R.CAB, AT)], {G.CAB},
     MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=outcome(
         AV.COMPLETE, NORMAL, [Approval(CAROL, R.CAB, AT)]))),
    ("no actor cannot approve", move(S.AWAITING_APPROVAL, S.APPROVED, None), NORMAL, None, set(),
     revert(Reason.APPROVAL_REFUSED, S.AWAITING_APPROVAL,
            approval=outcome(AV.NOT_AN_APPROVER, NORMAL, [], NORMAL_APPROVERS))),
    ("into Implementing with approvals standing", move(S.APPROVED, S.IMPLEMENTING),
     change(status=S.IMPLEMENTING), [Approval(CAROL, R.CAB, AT)], set(),
     MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("into Implementing after a material edit", move(S.APPROVED, S.IMPLEMENTING),
     change(status=S.IMPLEMENTING), "stale", set(),
     revert(Reason.APPROVAL_NOT_STANDING, S.APPROVED)),
    ("into Implementing with an unknown category", move(S.APPROVED, S.IMPLEMENTING),
     change("Minor", status=S.IMPLEMENTING), None, set(),
     revert(Reason.APPROVAL_NOT_STANDING, S.APPROVED)),
    ("back from Implementing to Approved with approvals", move(S.IMPLEMENTING, S.APPROVED),
     change(status=S.APPROVED), [Approval(CAROL, R.CAB, AT)], set(),
     MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("into Implemented", move(S.IMPLEMENTING, S.IMPLEMENTED), change(status=S.IMPLEMENTED), None,
     set(), MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("Closed without Outcome", move(S.IMPLEMENTED, S.CLOSED), change(status=S.CLOSED), None, set(),
     revert(Reason.REVIEW_MISSING, S.IMPLEMENTED, (Finding(F.OUTCOME, Problem.MISSING),))),
    ("Closed with Outcome", move(S.IMPLEMENTED, S.CLOSED),
     change(status=S.CLOSED, outcome="Successful"), None, set(),
     MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)),
    ("Emergency Closed without Retrospective", move(S.IMPLEMENTED, S.CLOSED),
     change("Emergency", commander=ERIN, status=S.CLOSED, outcome="Rolled Back"), None, set(),
     revert(Reason.REVIEW_MISSING, S.IMPLEMENTED, (Finding(F.RETROSPECTIVE, Problem.MISSING),))),
    ("Emergency Closed with a placeholder Retrospective", move(S.IMPLEMENTED, S.CLOSED),
     change("Emergency", commander=ERIN, status=S.CLOSED, outcome="Failed", retrospective="n/a"),
     None, set(), revert(Reason.REVIEW_MISSING, S.IMPLEMENTED,
                         (Finding(F.RETROSPECTIVE, Problem.PLACEHOLDER, "n/a"),))),
    ("Closed with an Outcome the policy doesn't know", move(S.IMPLEMENTED, S.CLOSED),
     change(status=S.CLOSED, outcome="Meh"), None, set(),
     revert(Reason.REVIEW_MISSING, S.IMPLEMENTED, (Finding(F.OUTCOME, Problem.UNKNOWN_VALUE, "Meh"),))),
]


def _recorded(cr, recorded):
    if recorded is None:
        return ApprovalState()
    if recorded == "stale":
        return ApprovalState("an-older-revision", {}, (Approval(CAROL, R.CAB, AT),))
    if recorded == "dana-hoe":
        return approved(cr, Approval(DANA, R.HEAD_OF_ENGINEERING, AT))
    return approved(cr, *recorded)


@pytest.mark.parametrize("mv, cr, recorded, groups, expected", [c[1:] for c in JUDGE_CASES],
                         ids=[c[0] for c in JUDGE_CASES])
def test_judge_move(mv, cr, recorded, groups, expected):
    state = _recorded(cr, recorded)
    if expected == "same-person":
        expected = revert(Reason.APPROVAL_REFUSED, S.AWAITING_APPROVAL, approval=ApprovalOutcome(
            AV.SAME_PERSON, state, HOE_OR_IC))
    assert judge_move(mv, cr, POLICY, SITE, approvals=state, actor_groups=frozenset(groups),
                      at=AT) == expected


@pytest.mark.parametrize("frm, to, expected", [
    (S.AWAITING_APPROVAL, S.APPROVED, True), (S.IMPLEMENTING, S.APPROVED, False),
    (S.DRAFT, S.AWAITING_APPROVAL, False)])
def test_is_approval_gesture(frm, to, expected):
    assert is_approval_gesture(move(frm, to), SITE) is expected
