"""The plan of a judged move: which steps, in which order, with which record and follow-ups."""

import dataclasses
import json
from datetime import datetime, timezone

import pytest

from jobs.periodic import cab_calendar
from rules.adf import adf_to_text
from rules.approvals import ApprovalState, judge_approval
from rules.issue_record import IssueRecord
from rules.job_names import JobName
from rules.material_edit import FieldChange
from rules.move_plan import MoveFacts, plan_for_move
from rules.plan import (AddLabel, FollowUp, Revert, SlackAlert, WriteRecord,
                        plan_from_json)
from rules.freeze import Freeze
from rules.policy import Category as C
from rules.policy import FreezeKind
from rules.policy import FieldRole as F
from rules.policy import GroupRole as G
from rules.policy import StatusRole as S
from rules.status_move import (FreezesInView, MoveDecision, Reason, StatusMove, Verdict,
                               judge_move, planned_window)
from worker.policy_file import load_policy

from .builders import SITE, STATUS_IDS, change

POLICY = load_policy()
AT = "2026-11-24T10:00:00+00:00"
ALICE, CAROL, HANK = "712020:alice", "712020:carol", "712020:hank"
URL = "https://acme.atlassian.net/browse/CHG-7"


def plan_of(frm, to, cr, *, actor=ALICE, groups=(), way_back="41", replayed=None,
            approvals=ApprovalState()):
    move = StatusMove(20, STATUS_IDS[frm], STATUS_IDS[to], actor)
    decision = judge_move(move, cr, POLICY, SITE, approvals=approvals,
                          actor_groups=frozenset(groups), at=AT)
    facts = MoveFacts("CHG-7", move, cr, IssueRecord(approvals), AT, URL, revert_transition_id=way_back,
                      replayed=replayed)
    return plan_for_move(decision, facts, POLICY, SITE)


def shape(steps):
    """Each step's kind, with what identifies it (the record: the decisions it logs)."""
    out = []
    for step in steps:
        if isinstance(step, (Revert, WriteRecord)):
            record = step.record if isinstance(step, Revert) else step.value
            out.append((step.kind, [e["decision"] for e in record["audit"]],
                        [a["role"] for a in record["approvals"]["approvals"]]))
        elif isinstance(step, FollowUp):
            out.append((step.kind, step.func, step.job_id, dict(step.kwargs)))
        elif isinstance(step, AddLabel):
            out.append((step.kind, step.label))
        elif isinstance(step, SlackAlert):
            out.append((step.kind, step.channel))
        else:
            out.append((step.kind,))
    return out


NOTICE = ("follow_up", "jobs.deployment_notices.announce_deployment", "notice-CHG-7-20",
          {"issue_key": "CHG-7", "changelog_id": "20", "to_status_id": STATUS_IDS[S.IMPLEMENTING]})
REQUEST = ("follow_up", "jobs.slack_approvals.request_emergency_approval",
           "slack-request-CHG-7-20", {"issue_key": "CHG-7"})
FLAGGED = [("label", "changeguard-violation"), ("alert", "#deployments"), ("comment",),
           ("record", ["flagged"], [])]

def cab_approved(cr):
    """The approvals of ``cr`` after the CAB approved it."""
    move = StatusMove(19, STATUS_IDS[S.AWAITING_APPROVAL], STATUS_IDS[S.APPROVED], CAROL)
    return judge_move(move, cr, POLICY, SITE, actor_groups=frozenset({G.CAB}),
                      at=AT).approval.state


CASES = [
    ("allowed into Implementing: record, then the deployment notice",
     dict(frm=S.APPROVED, to=S.IMPLEMENTING, cr=change(status=S.IMPLEMENTING),
          approvals=cab_approved(change(status=S.IMPLEMENTING))),
     {"verdict": "allow", "reason": "gate_passed"}, [("record", ["allowed"], ["cab"]), NOTICE],
     []),
    ("an Emergency change into Awaiting Approval: the Slack approval request",
     dict(frm=S.DRAFT, to=S.AWAITING_APPROVAL, cr=change("Emergency", commander=HANK)),
     {"verdict": "allow", "reason": "gate_passed"},
     [("record", ["allowed"], []), REQUEST], []),
    ("a Normal change into Awaiting Approval: nothing set off",
     dict(frm=S.DRAFT, to=S.AWAITING_APPROVAL, cr=change()),
     {"verdict": "allow", "reason": "gate_passed"}, [("record", ["allowed"], [])], []),
    ("the CAB approves: recorded as approved, no follow-up",
     dict(frm=S.AWAITING_APPROVAL, to=S.APPROVED, cr=change(status=S.APPROVED), actor=CAROL,
          groups={G.CAB}),
     {"verdict": "allow", "reason": "approved"}, [("record", ["approved"], ["cab"])], []),
    ("the gate fails: back, with the record on the move, then the comment; flag if refused",
     dict(frm=S.DRAFT, to=S.AWAITING_APPROVAL, cr=change(rollback_plan="TBD")),
     {"verdict": "revert", "reason": "gate_failed", "reverted": True},
     [("revert", ["reverted"], []), ("comment",)], FLAGGED),
    ("the gate fails and there is no way back: flag",
     dict(frm=S.DRAFT, to=S.AWAITING_APPROVAL, cr=change(rollback_plan="TBD"), way_back=None),
     {"verdict": "revert", "reason": "gate_failed", "reverted": False}, FLAGGED, []),
    ("the named IC approves an Emergency change first: recorded, moved back to wait",
     dict(frm=S.AWAITING_APPROVAL, to=S.APPROVED, cr=change("Emergency", commander=HANK,
                                                             status=S.APPROVED),
          actor=HANK, groups={G.INCIDENT_COMMANDERS}),
     {"verdict": "revert", "reason": "approval_recorded", "reverted": True},
     [("revert", ["approval recorded"], ["incident_commander"]), ("comment",)],
     [("label", "changeguard-violation"), ("alert", "#deployments"), ("comment",),
      ("record", ["flagged"], ["incident_commander"])]),
]


@pytest.mark.parametrize("given, summary, steps, fallback", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_plan_for_move(given, summary, steps, fallback):
    plan = plan_for_move_from(given)
    assert (dict(plan.summary), shape(plan.steps), shape(plan.fallback), plan.done) == (
        summary, steps, fallback, 0)


def plan_for_move_from(given):
    given = dict(given)
    return plan_of(given.pop("frm"), given.pop("to"), given.pop("cr"), **given)


def test_the_audit_entry_says_who_moved_what_when_and_why():
    plan = plan_of(S.DRAFT, S.AWAITING_APPROVAL, change(rollback_plan="TBD"))
    assert plan.steps[0].record["audit"] == [{
        "at": AT, "decision": "reverted", "reason": "gate_failed", "actor": ALICE,
        "from": "Draft", "to": "Awaiting Approval", "changelog": 20,
        "detail": "Rollback Plan: placeholder"}]


def test_approvals_replayed_before_a_move_nobody_judges_are_written_with_an_entry():
    cr = dataclasses.replace(change(), status_id="99999")
    move = StatusMove(21, STATUS_IDS[S.APPROVED], "99999", ALICE)  # a status the policy lacks
    decision = judge_move(move, cr, POLICY, SITE, at=AT)
    plan = plan_for_move(decision, MoveFacts("CHG-7", move, cr, IssueRecord(), AT, URL,
                                             replayed=cab_approved(cr)), POLICY, SITE)
    assert (dict(plan.summary), shape(plan.steps)) == (
        {"verdict": "ignore", "reason": "not_gated"},
        [("record", ["approvals replayed"], ["cab"])])
    assert plan.steps[0].value["audit"][0]["to"] == "this status"


def judged(decision, cr, *, way_back="41"):
    move = StatusMove(20, STATUS_IDS[S.AWAITING_APPROVAL], STATUS_IDS[S.APPROVED], CAROL)
    return plan_for_move(decision, MoveFacts("CHG-7", move, cr, IssueRecord(), AT, URL,
                                             revert_transition_id=way_back), POLICY, SITE)


CAB_APPROVES = judge_approval(change(status=S.APPROVED), C.NORMAL, CAROL, frozenset({G.CAB}),
                              ApprovalState(), at=AT)
WITHDRAWN = MoveDecision(Verdict.REVERT, Reason.APPROVAL_WITHDRAWN,
                         revert_to_status_id=STATUS_IDS[S.AWAITING_APPROVAL],
                         approval=CAB_APPROVES, edits=(FieldChange(F.ROLLBACK_PLAN, "a", "b"),),
                         edited_by="712020:bob")


@pytest.mark.parametrize("decision, way_back, steps, fallback", [
    (MoveDecision(Verdict.RECORD, Reason.APPROVAL_RECORDED, approval=CAB_APPROVES), "41",
     [("record", ["approved"], ["cab"])], []),
    # Approved, then edited before the approval was seen: log both, in order; approvals gone.
    (WITHDRAWN, "41", [("revert", ["approved", "approval withdrawn"], []), ("comment",)],
     FLAGGED[:3] + [("record", ["approved", "flagged"], [])]),
    (WITHDRAWN, None, FLAGGED[:3] + [("record", ["approved", "flagged"], [])], []),
], ids=["approval-of-a-late-event-recorded", "withdrawn-and-back", "withdrawn-no-way-back"])
def test_plans_of_recorded_and_withdrawn_approvals(decision, way_back, steps, fallback):
    plan = judged(decision, change(status=S.APPROVED), way_back=way_back)
    assert (shape(plan.steps), shape(plan.fallback)) == (steps, fallback)


def test_a_withdrawal_names_the_editor_and_says_what_changed():
    plan = judged(WITHDRAWN, change(status=S.APPROVED))
    [approved, withdrawn] = plan.steps[0].record["audit"]
    assert ((approved["actor"], approved["detail"]), (withdrawn["actor"], withdrawn["detail"])) == (
        (CAROL, "Rollback Plan"), ("712020:bob", "Rollback Plan"))
    assert "Rollback Plan" in adf_to_text(plan.steps[1].body)


# -- deployments waiting at the gate: decided again once the move is dealt with -------------

RELEASE = ("follow_up", "jobs.deploy_gate.release_waiting", "release-CHG-7-20",
           {"issue_key": "CHG-7"})


def plan_with_waiting(frm, to, cr, *, waiting, actor=ALICE, groups=(), way_back="41",
                      approvals=ApprovalState()):
    """The plan of the move, with deployments waiting for the change (or not)."""
    move = StatusMove(20, STATUS_IDS[frm], STATUS_IDS[to], actor)
    decision = judge_move(move, cr, POLICY, SITE, approvals=approvals,
                          actor_groups=frozenset(groups), at=AT)
    facts = MoveFacts("CHG-7", move, cr, IssueRecord(approvals), AT, URL,
                      revert_transition_id=way_back, deployments_waiting=waiting)
    return plan_for_move(decision, facts, POLICY, SITE)


# id, the move, whether deployments wait, summary, steps, fallback
WAITING_CASES = [
    ("the-cab-approves-releases-them",
     dict(frm=S.AWAITING_APPROVAL, to=S.APPROVED, cr=change(status=S.APPROVED), actor=CAROL,
          groups={G.CAB}), True,
     {"verdict": "allow", "reason": "approved"}, [("record", ["approved"], ["cab"]), RELEASE],
     []),
    ("the-cab-approves-nothing-waits",
     dict(frm=S.AWAITING_APPROVAL, to=S.APPROVED, cr=change(status=S.APPROVED), actor=CAROL,
          groups={G.CAB}), False,
     {"verdict": "allow", "reason": "approved"}, [("record", ["approved"], ["cab"])], []),
    ("rejected-releases-them-to-be-rejected",
     dict(frm=S.AWAITING_APPROVAL, to=S.REJECTED, cr=change(status=S.REJECTED), actor=CAROL,
          groups={G.CAB}), True,
     {"verdict": "allow", "reason": "gate_passed"}, [("record", ["allowed"], []), RELEASE], []),
    ("into-implementing-release-after-the-notice",
     dict(frm=S.APPROVED, to=S.IMPLEMENTING, cr=change(status=S.IMPLEMENTING),
          approvals=cab_approved(change(status=S.IMPLEMENTING))), True,
     {"verdict": "allow", "reason": "gate_passed"},
     [("record", ["allowed"], ["cab"]), NOTICE, RELEASE], []),
    ("reverted-release-last-and-in-the-fallback",
     dict(frm=S.DRAFT, to=S.AWAITING_APPROVAL, cr=change(rollback_plan="TBD")), True,
     {"verdict": "revert", "reason": "gate_failed", "reverted": True},
     [("revert", ["reverted"], []), ("comment",), RELEASE], [*FLAGGED, RELEASE]),
    ("reverted-nothing-waits",
     dict(frm=S.DRAFT, to=S.AWAITING_APPROVAL, cr=change(rollback_plan="TBD")), False,
     {"verdict": "revert", "reason": "gate_failed", "reverted": True},
     [("revert", ["reverted"], []), ("comment",)], FLAGGED),
    ("flagged-release-after-the-record",
     dict(frm=S.DRAFT, to=S.AWAITING_APPROVAL, cr=change(rollback_plan="TBD"), way_back=None),
     True, {"verdict": "revert", "reason": "gate_failed", "reverted": False},
     [*FLAGGED, RELEASE], []),
    ("flagged-nothing-waits",
     dict(frm=S.DRAFT, to=S.AWAITING_APPROVAL, cr=change(rollback_plan="TBD"), way_back=None),
     False, {"verdict": "revert", "reason": "gate_failed", "reverted": False}, FLAGGED, []),
]


@pytest.mark.parametrize("given, waiting, summary, steps, fallback",
                         [c[1:] for c in WAITING_CASES], ids=[c[0] for c in WAITING_CASES])
def test_deployments_waiting_are_released_last(given, waiting, summary, steps, fallback):
    given = dict(given)
    plan = plan_with_waiting(given.pop("frm"), given.pop("to"), given.pop("cr"),
                             waiting=waiting, **given)
    assert (dict(plan.summary), shape(plan.steps), shape(plan.fallback), plan.done) == (
        summary, steps, fallback, 0)


@pytest.mark.parametrize("decision, way_back, steps, fallback", [
    (MoveDecision(Verdict.RECORD, Reason.APPROVAL_RECORDED, approval=CAB_APPROVES), "41",
     [("record", ["approved"], ["cab"]), RELEASE], []),
    (WITHDRAWN, "41", [("revert", ["approved", "approval withdrawn"], []), ("comment",), RELEASE],
     FLAGGED[:3] + [("record", ["approved", "flagged"], []), RELEASE]),
    (WITHDRAWN, None, FLAGGED[:3] + [("record", ["approved", "flagged"], []), RELEASE], []),
], ids=["late-approval-recorded", "withdrawn-and-back", "withdrawn-no-way-back"])
def test_recorded_and_withdrawn_approvals_release_waiting_deployments(decision, way_back, steps,
                                                                      fallback):
    move = StatusMove(20, STATUS_IDS[S.AWAITING_APPROVAL], STATUS_IDS[S.APPROVED], CAROL)
    facts = MoveFacts("CHG-7", move, change(status=S.APPROVED), IssueRecord(), AT, URL,
                      revert_transition_id=way_back, deployments_waiting=True)
    plan = plan_for_move(decision, facts, POLICY, SITE)
    assert (shape(plan.steps), shape(plan.fallback)) == (steps, fallback)


def test_a_refused_revert_still_releases_last_and_survives_the_stored_plan():
    plan = plan_with_waiting(S.DRAFT, S.AWAITING_APPROVAL, change(rollback_plan="TBD"),
                             waiting=True).step_taken().falling_back()
    stored = plan_from_json(json.loads(json.dumps(plan.to_json())))
    release = stored.steps[-1]
    assert (shape(stored.steps), stored.done) == ([("revert", ["reverted"], []), *FLAGGED,
                                                   RELEASE], 1)
    assert (release.func, release.job_id, release.kwargs) == (
        JobName.RELEASE_WAITING, "release-CHG-7-20", {"issue_key": "CHG-7"})


def test_an_approval_held_by_a_freeze_keeps_the_approval_and_names_the_freeze():
    cr = change(status=S.APPROVED)
    launch = Freeze("Launch", FreezeKind.HARD, datetime(2026, 12, 1, 9, tzinfo=timezone.utc),
                    datetime(2026, 12, 1, 12, tzinfo=timezone.utc), "Launch", "CHG-90")
    move = StatusMove(20, STATUS_IDS[S.AWAITING_APPROVAL], STATUS_IDS[S.APPROVED], CAROL)
    decision = judge_move(move, cr, POLICY, SITE, actor_groups=frozenset({G.CAB}), at=AT,
                          freezes=FreezesInView(planned_window(cr), (launch,),
                                                cab_calendar(POLICY)))
    plan = plan_for_move(decision, MoveFacts("CHG-7", move, cr, IssueRecord(), AT, URL,
                                             revert_transition_id="41"), POLICY, SITE)
    assert (dict(plan.summary), shape(plan.steps)) == (
        {"verdict": "revert", "reason": "frozen", "reverted": True},
        [("revert", ["held by a freeze"], ["cab"]), ("comment",)])
    assert plan.steps[0].record["audit"][0]["detail"] == 'CHG-90 "Launch"'
