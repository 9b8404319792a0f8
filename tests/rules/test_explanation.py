"""`changeguard check`: the gate-by-gate explanation of one change request, line by line."""

from rules.approvals import Approval, ApprovalRole as R, ApprovalState, material_values, revision_of
from rules.explanation import explain
from rules.issue_record import IssueRecord
from rules.policy import StatusRole as S
from worker.policy_file import load_policy

from .builders import SITE, change

POLICY = load_policy()
AT = "2026-11-24T10:00:00+00:00"


def test_incomplete_normal_change_in_draft():
    cr = change(status=S.DRAFT, rollback_plan="TBD")
    assert explain(cr, IssueRecord(), POLICY, SITE) == [
        "CHG-7 “Raise checkout DB pool”: Normal change, in Draft",
        "  into Awaiting Approval: 1 thing missing",
        "    - Rollback Plan only says “TBD”: describe how to undo the change if it goes wrong, "
        "in at least a sentence.",
        "  into Approved: approvals standing: none",
        "    still needs: a CAB member or the Head of Engineering",
        "  into Implementing: not until the approvals are complete",
        "  into Closed: 1 thing missing",
        "    - Outcome is empty: choose Successful, Failed or Rolled Back.",
        "  from Draft people may move it to: Awaiting Approval, Cancelled",
    ]


def test_emergency_with_one_approval_and_a_withdrawn_one_and_history():
    cr = change("Emergency", commander="712020:erin", status=S.AWAITING_APPROVAL,
                outcome="Successful", retrospective="Held on Thursday with the full CAB.")
    state = ApprovalState(revision_of(cr), material_values(cr),
                          (Approval("712020:dana", R.HEAD_OF_ENGINEERING, AT),))
    record = IssueRecord(state, ({"at": AT, "decision": "approval recorded",
                                  "reason": "approval_recorded", "actor": "712020:dana",
                                  "from": "Awaiting Approval", "to": "Approved",
                                  "detail": "recorded"}, {"at": AT, "decision": "x"}))
    assert explain(cr, record, POLICY, SITE)[1:] == [
        "  into Awaiting Approval: passes",
        f"  into Approved: approvals standing: 712020:dana as the Head of Engineering ({AT})",
        "    still needs: the Incident Commander named on the change",
        "  into Implementing: not until the approvals are complete",
        "  into Closed: passes",
        "  from Awaiting Approval people may move it to: Approved, Cancelled, Draft, Rejected",
        "Decisions so far (newest last):",
        f"  {AT} approval recorded (approval_recorded): Awaiting Approval → Approved by "
        "712020:dana; recorded",
        f"  {AT} x (None): - → - by unknown",
    ]


def test_withdrawn_approvals_and_no_category_and_unknown_status():
    import dataclasses

    cr = dataclasses.replace(change(None), status_id="4", summary="S")
    stale = IssueRecord(ApprovalState("old", {}, (Approval("712020:carol", R.CAB, AT),)))
    assert explain(cr, stale, POLICY, SITE)[:1] == ["CHG-7 “S”: no category change, in status 4"]
    assert "  into Approved: needs a known category first" in explain(cr, stale, POLICY, SITE)
    normal = change()
    lines = explain(normal, IssueRecord(ApprovalState("old", {}, (
        Approval("712020:carol", R.CAB, AT), Approval("712020:dana", R.CAB, AT)))), POLICY, SITE)
    assert "    (2 earlier approvals withdrawn by an edit since)" in lines
    one = explain(normal, stale, POLICY, SITE)
    assert "    (1 earlier approval withdrawn by an edit since)" in one
    approved = IssueRecord(ApprovalState(revision_of(normal), {},
                                         (Approval("712020:carol", R.CAB, AT),)))
    assert "  into Implementing: allowed from Approved" in explain(normal, approved, POLICY, SITE)
    closed = dataclasses.replace(normal, status_id=SITE.status_ids[S.CLOSED])
    assert explain(closed, IssueRecord(), POLICY, SITE)[-1] == (
        "  from Closed people may move it to: nowhere")
