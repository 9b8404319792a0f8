"""Every comment changeguard writes, compared in full: headline, why, what's missing, next step."""

from datetime import datetime, timezone

import pytest

from rules.adf import adf_to_text
from rules.approvals import Approval, ApprovalOutcome, ApprovalRole as R, ApprovalState, ApprovalVerdict as AV
from rules.awaiting_approval_gate import Finding, Problem
from rules.material_edit import EditDecision, EditVerdict, FieldChange
from rules.move_comments import MoveContext, comment_for_move, comment_for_withdrawal
from rules.freeze import Freeze, FreezeDecision, FreezeVerdict
from rules.policy import Category, FreezeKind
from rules.policy import FieldRole as F
from rules.status_move import MoveDecision, Reason, Verdict
from worker.policy_file import load_policy

POLICY = load_policy()
AT = "2026-11-24T10:00:00+00:00"
HOE = (frozenset({R.HEAD_OF_ENGINEERING}),)
IC = (frozenset({R.INCIDENT_COMMANDER}),)
CAB = (frozenset({R.CAB, R.HEAD_OF_ENGINEERING}),)


def ctx(frm="Awaiting Approval", to="Approved", category=Category.NORMAL, reverted=True):
    return MoveContext(actor="712020:alice", from_status=frm, to_status=to, category=category,
                       incident_commander="712020:erin", reverted=reverted)


def refused(verdict, missing, approvals=()):
    return MoveDecision(Verdict.REVERT, Reason.APPROVAL_REFUSED, revert_to_status_id="10002",
                        approval=ApprovalOutcome(verdict, ApprovalState("r", {}, approvals), missing))


CASES = [
    ("gate failed", MoveDecision(Verdict.REVERT, Reason.GATE_FAILED,
                                 (Finding(F.ROLLBACK_PLAN, Problem.PLACEHOLDER, "TBD"),)),
     ctx("Draft", "Awaiting Approval"),
     "Moved back to Draft: 1 thing missing\n"
     "@712020:alice, this change can't go to Awaiting Approval yet. It still needs:\n"
     "Rollback Plan only says “TBD”: describe how to undo the change if it goes wrong, in at least a sentence.\n\n"
     "Next: fill these in on this issue, then move it to Awaiting Approval again. changeguard checks it again as soon as you do."),
    ("review missing", MoveDecision(Verdict.REVERT, Reason.REVIEW_MISSING,
                                    (Finding(F.OUTCOME, Problem.MISSING),
                                     Finding(F.RETROSPECTIVE, Problem.MISSING))),
     ctx("Implemented", "Closed", Category.EMERGENCY),
     "Moved back to Implemented: 2 things missing\n"
     "@712020:alice, the post-implementation review is not complete. Closing needs:\n"
     "Outcome is empty: choose Successful, Failed or Rolled Back.\n\n"
     "Retrospective is empty: add the notes of the full-CAB retrospective.\n\n"
     "Next: record the review on this issue, then close it again."),
    ("a jump", MoveDecision(Verdict.REVERT, Reason.DISALLOWED_MOVE), ctx("Approved", "Closed"),
     "Moved back to Approved: Approved → Closed is not a step of the change process\n"
     "@712020:alice, a change goes Draft → Awaiting Approval → Approved → Implementing → Implemented → Closed, "
     "one step at a time. From Approved it can go to Awaiting Approval, Cancelled, Implementing.\n"
     "Next: move it one step at a time; each step has its own checks."),
    ("a jump with no way back", MoveDecision(Verdict.REVERT, Reason.DISALLOWED_MOVE),
     ctx("Draft", "Implementing", reverted=False),
     "Not allowed: Draft → Implementing\n"
     "@712020:alice, a change goes Draft → Awaiting Approval → Approved → Implementing → Implemented → Closed, "
     "one step at a time. From Draft it can go to Awaiting Approval, Cancelled. changeguard could "
     "not move it back to Draft: the workflow offers no way back from Implementing, so it is "
     "labelled changeguard-violation and the team is alerted.\n"
     "Next: move it one step at a time; each step has its own checks."),
    ("from a status with no moves", MoveDecision(Verdict.REVERT, Reason.DISALLOWED_MOVE),
     ctx("Closed", "Implementing"),
     "Moved back to Closed: Closed → Implementing is not a step of the change process\n"
     "@712020:alice, a change goes Draft → Awaiting Approval → Approved → Implementing → Implemented → Closed, "
     "one step at a time. From Closed it can go to no other status.\n"
     "Next: move it one step at a time; each step has its own checks."),
    ("approval no longer standing", MoveDecision(Verdict.REVERT, Reason.APPROVAL_NOT_STANDING),
     ctx("Approved", "Implementing"),
     "Moved back to Approved: no standing approval\n"
     "@712020:alice, this change has no approval for its current content (an edit to the category, type, "
     "plans, risk or window withdraws the approval).\n"
     "Next: move it to Awaiting Approval and get it approved again."),
    ("one of two emergency approvals",
     MoveDecision(Verdict.REVERT, Reason.APPROVAL_RECORDED, approval=ApprovalOutcome(
         AV.RECORDED, ApprovalState("r", {}, (Approval("712020:dana", R.HEAD_OF_ENGINEERING, AT),)),
         IC)), ctx(category=Category.EMERGENCY),
     "Approval recorded: the Head of Engineering approved; the Incident Commander named on the "
     "change still has to\n"
     "@712020:alice, your approval as the Head of Engineering is recorded. An Emergency change also needs the "
     "Incident Commander named on the change, so changeguard moved it back to Awaiting Approval "
     "until then.\n"
     "Next: the Incident Commander named on the change (@712020:erin) moves it to Approved to "
     "approve it."),
    ("self-approval", refused(AV.SELF_APPROVAL, CAB), ctx(),
     "Moved back to Awaiting Approval: you can't approve your own change\n"
     "@712020:alice, you reported this change, and nobody approves a change they reported.\n"
     "Next: ask a CAB member (group cab) or the Head of Engineering (group head-of-engineering) "
     "to move it to Approved."),
    ("not an approver", refused(AV.NOT_AN_APPROVER, CAB), ctx(),
     "Moved back to Awaiting Approval: only a CAB member (group cab) or the Head of Engineering "
     "(group head-of-engineering) can approve it\n"
     "@712020:alice, a Normal change is approved by a CAB member (group cab) or the Head of Engineering "
     "(group head-of-engineering), and you are not in those groups.\n"
     "Next: ask a CAB member (group cab) or the Head of Engineering (group head-of-engineering) "
     "to move it to Approved."),
    ("not an approver of a standard change", refused(AV.NOT_AN_APPROVER, CAB),
     ctx(category=Category.STANDARD),
     "Moved back to Awaiting Approval: only a team lead (group team-leads) or the Head of "
     "Engineering (group head-of-engineering) can approve it\n"
     "@712020:alice, a Standard change is approved by a team lead (group team-leads) or the Head of "
     "Engineering (group head-of-engineering), and you are not in those groups.\n"
     "Next: ask a team lead (group team-leads) or the Head of Engineering (group "
     "head-of-engineering) to move it to Approved."),
    ("not the named IC", refused(AV.NOT_THE_NAMED_IC, IC), ctx(category=Category.EMERGENCY),
     "Moved back to Awaiting Approval: you are not its Incident Commander\n"
     "@712020:alice, you are an Incident Commander, but not the one named on this change, and an Emergency "
     "change needs the approval of the Head of Engineering (group head-of-engineering) and the "
     "Incident Commander named on the change (group incident-commanders), two different people.\n"
     "Next: ask the Incident Commander named on the change (@712020:erin) to approve it, or "
     "change the Incident Commander field if the on-call changed."),
    ("same person twice", refused(AV.SAME_PERSON, IC), ctx(category=Category.EMERGENCY),
     "Moved back to Awaiting Approval: it needs a second person\n"
     "@712020:alice, your approval is already recorded; this change also needs the Incident Commander named "
     "on the change, and one person can't give both approvals.\n"
     "Next: ask the Incident Commander named on the change (@712020:erin) to move it to "
     "Approved."),
    ("role already filled", refused(AV.ROLE_ALREADY_FILLED, IC), ctx(category=Category.EMERGENCY),
     "Moved back to Awaiting Approval: the Incident Commander named on the change still has to "
     "approve\n"
     "@712020:alice, an approval in your role is already recorded; this change still needs the Incident "
     "Commander named on the change.\n"
     "Next: ask the Incident Commander named on the change (@712020:erin) to move it to "
     "Approved."),
]


HARD_TEXT = ("CHG-7's planned window overlaps the hard freeze CHG-90 \"Launch\", which lets only "
             "Emergency changes through until Tue 1 Dec 2026 12:00: move its Planned Start to "
             "Tue 1 Dec 2026 12:00 or later.")
SOFT_TEXT = ("CHG-7's planned window overlaps the soft freeze \"Weekend\" until Tue 1 Dec 2026 "
             "10:30: move its Planned Start to Tue 1 Dec 2026 10:30 or later, or ask someone in "
             "head-of-engineering for a freeze exception.")
LAUNCH = Freeze("Launch", FreezeKind.HARD, datetime(2026, 12, 1, 9, tzinfo=timezone.utc),
                datetime(2026, 12, 1, 12, tzinfo=timezone.utc), "Launch", "CHG-90")
WEEKEND = Freeze("Weekend", FreezeKind.SOFT, datetime(2026, 12, 1, 8, tzinfo=timezone.utc),
                 datetime(2026, 12, 1, 10, 30, tzinfo=timezone.utc), "Fewer people", "policy")


def frozen(freeze, text, approval=None, resume=False):
    return MoveDecision(Verdict.REVERT, Reason.FROZEN, revert_to_status_id="10002",
                        approval=approval, resume_after_freeze=resume,
                        freeze=FreezeVerdict(FreezeDecision.BLOCKED, (freeze,), freeze, text))


CAB_APPROVED = ApprovalOutcome(AV.COMPLETE, ApprovalState(
    "r", {}, (Approval("712020:carol", R.CAB, AT),)))
CASES += [
    ("approved in a hard freeze", frozen(LAUNCH, HARD_TEXT, CAB_APPROVED), ctx(),
     "Moved back to Awaiting Approval: hard freeze CHG-90 \"Launch\"\n"
     "@712020:alice, " + HARD_TEXT + "\n"
     "Next: move Planned Start to after the freeze and have the new window approved; during a "
     "hard freeze only an Emergency change goes ahead."),
    ("approved in a soft freeze", frozen(WEEKEND, SOFT_TEXT, CAB_APPROVED), ctx(),
     "Moved back to Awaiting Approval: soft freeze \"Weekend\"\n"
     "@712020:alice, " + SOFT_TEXT + " The approval is recorded: with a freeze exception the "
     "change needs no other.\n"
     "Next: move Planned Start to after the freeze and have the new window approved, or ask "
     "someone in head-of-engineering to move it to Approved: their approval is the freeze "
     "exception."),
    ("into Implementing in a soft freeze", frozen(WEEKEND, SOFT_TEXT),
     ctx("Approved", "Implementing"),
     "Moved back to Approved: soft freeze \"Weekend\"\n"
     "@712020:alice, " + SOFT_TEXT + "\n"
     "Next: move Planned Start to after the freeze and have the new window approved, or move "
     "it back to Awaiting Approval and ask someone in head-of-engineering to move it to "
     "Approved: their approval is the freeze exception."),
    ("into Implementing before a freeze ends, the window going on after it",
     frozen(LAUNCH, HARD_TEXT, resume=True), ctx("Approved", "Implementing"),
     "Moved back to Approved: hard freeze CHG-90 \"Launch\"\n"
     "@712020:alice, " + HARD_TEXT + "\n"
     "Next: its window goes on after the freeze, so move it to Implementing again once the "
     "freeze has ended, or move Planned Start to after the freeze and have the new window "
     "approved; during a hard freeze only an Emergency change goes ahead."),
]


@pytest.mark.parametrize("decision, context, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_comment_for_move(decision, context, expected):
    comment = comment_for_move(decision, context, POLICY)
    assert comment["content"][1]["content"][0] == {"type": "mention",
                                                   "attrs": {"id": "712020:alice"}}
    assert adf_to_text(comment) == expected


def test_comment_without_an_actor_has_no_mention():
    decision = MoveDecision(Verdict.REVERT, Reason.DISALLOWED_MOVE)
    context = MoveContext(None, "Draft", "Implementing", None, None, True)
    comment = comment_for_move(decision, context, POLICY)
    assert comment["content"][1]["content"][0]["type"] == "text"


WITHDRAWALS = [
    ("approved and moved back", EditDecision(EditVerdict.WITHDRAW_AND_REVERT, (
        FieldChange(F.ROLLBACK_PLAN, "Revert the PR.", "Restore from last night's backup."),
        FieldChange(F.RISK_LEVEL, "", "High"),
        FieldChange(F.PLANNED_END, "2026-12-01T11:00:00+00:00", "x" * 90)), "10002"),
     "Approval withdrawn: the change was edited after approval\n"
     "@712020:bob, you changed what was approved, so the approval is withdrawn and changeguard moved the "
     "change back to Awaiting Approval. What changed:\n"
     "Rollback Plan: “Revert the PR.” → “Restore from last night's backup.”\n\n"
     "Risk Level: (empty) → “High”\n\n"
     "Planned End: “2026-12-01T11:00:00+00:00” → “" + "x" * 77 + "…”\n\n"
     "Next: the approvers review the change as it is now and move it to Approved again."),
    ("partial approvals dropped", EditDecision(EditVerdict.WITHDRAW, ()),
     "Approval withdrawn: the change was edited after approval\n"
     "@712020:bob, you changed what was approved, so the approval is withdrawn. What changed:\n"
     "Next: the approvers review the change as it is now and move it to Approved again."),
]


@pytest.mark.parametrize("decision, expected", [w[1:] for w in WITHDRAWALS],
                         ids=[w[0] for w in WITHDRAWALS])
def test_comment_for_withdrawal(decision, expected):
    assert adf_to_text(comment_for_withdrawal(decision, "712020:bob", POLICY)) == expected
    assert comment_for_withdrawal(decision, None, POLICY)["content"][1]["content"][0]["type"] == "text"


def test_violation_alert():
    from rules.move_comments import violation_alert

    assert violation_alert("CHG-9", "Hotfix", ctx("Draft", "Implementing", reverted=False), POLICY,
                           "https://acme.atlassian.net/browse/CHG-9") == (
        ":warning: CHG-9 “Hotfix” was moved Draft → Implementing, which the change policy does not "
        "allow, and changeguard could not move it back (the workflow has no such transition). It "
        "is labelled changeguard-violation; please look at it: "
        "https://acme.atlassian.net/browse/CHG-9")
