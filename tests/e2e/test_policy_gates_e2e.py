"""Every gate and approval of the policy, end to end: one row per case, exact comment and audit."""

from __future__ import annotations

import dataclasses

import pytest

from ..builders import NORMAL
from .harness import (ROLLBACK_TBD, audit_trail, gate_failed, mentioned, mentions,
                      recorded_approvals, settle)

SUMMARY = "Rotate edge TLS certificates"
STANDARD = {**NORMAL, "Change Category": "Standard", "Change Type": "Configuration",
            "Standard Template": "Feature flag toggle"}
EMERGENCY = {**NORMAL, "Change Category": "Emergency", "Change Type": "Database",
             "Incident Commander": "erin"}
NEW_ROLLBACK = "Restore the previous bundle from the S3 backup."


def without(fields: dict, name: str) -> dict:
    return {k: v for k, v in fields.items() if k != name}


def move(actor: str, status: str) -> tuple:
    return ("move", actor, status)


def edit(actor: str, fields: dict) -> tuple:
    return ("edit", actor, fields)


SUBMIT = (move("alice", "Awaiting Approval"),)
CAB_APPROVED = SUBMIT + (move("carol", "Approved"),)
EMERGENCY_APPROVED = SUBMIT + (move("dana", "Approved"), move("erin", "Approved"))
IMPLEMENTING = (move("alice", "Implementing"),)
IMPLEMENTED = IMPLEMENTING + (move("alice", "Implemented"),)
WITHDRAWN = CAB_APPROVED + (edit("alice", {"Rollback Plan": NEW_ROLLBACK}),)

# Texts a person reads in Jira; {name} is an @-mention of that person.
CAB_OR_HOE = "a CAB member (group cab) or the Head of Engineering (group head-of-engineering)"
STEPS = ("a change goes Draft → Awaiting Approval → Approved → Implementing → Implemented → "
         "Closed, one step at a time.")


def review_missing(bullet: str) -> str:
    return ("Moved back to Implemented: 1 thing missing\n\n"
            "{alice}, the post-implementation review is not complete. Closing needs:\n\n"
            f"* {bullet}\n\nNext: record the review on this issue, then close it again.")


def not_allowed(frm: str, allowed: str) -> str:
    return (f"Not allowed: {frm} → Implementing\n\n"
            f"{{alice}}, {STEPS} From {frm} it can go to {allowed}. changeguard could not move "
            f"it back to {frm}: the workflow offers no way back from Implementing, so it is "
            "labelled changeguard-violation and the team is alerted.\n\n"
            "Next: move it one step at a time; each step has its own checks.")


@dataclasses.dataclass(frozen=True)
class Case:
    """A change request, the steps that bring it to the move under test, and what must follow."""

    fields: dict
    before: tuple
    act: tuple
    status: str
    comment: str | None
    decision: tuple[str, str]
    approvals: tuple[tuple[str, str], ...] = ()
    labels: tuple[str, ...] = ()
    reporter: str = "alice"
    mentions: tuple[str, ...] | None = None  # default: the actor of the move under test


CASES = [
    pytest.param(Case(
        NORMAL, (), move("alice", "Awaiting Approval"),
        "Awaiting Approval", None, ("allowed", "gate_passed"),
    ), id="normal-complete-into-awaiting-approval-stands"),
    pytest.param(Case(
        {**NORMAL, "Rollback Plan": "TBD"}, (), move("alice", "Awaiting Approval"),
        "Draft", gate_failed(ROLLBACK_TBD),
        ("reverted", "gate_failed"),
    ), id="rollback-plan-tbd-reverted"),
    pytest.param(Case(
        {**NORMAL, "Change Type": "Database"}, (), move("alice", "Awaiting Approval"),
        "Draft", gate_failed(
            "Change Type is “Database”, which only Emergency changes may use (manual database "
            "changes are for emergencies): make it an Emergency change with an Incident "
            "Commander, or ship it through the normal release as Application Code."),
        ("reverted", "gate_failed"),
    ), id="database-change-as-normal-reverted"),
    pytest.param(Case(
        without(STANDARD, "Standard Template"), (), move("alice", "Awaiting Approval"),
        "Draft", gate_failed(
            "Standard Template is empty: pick the pre-approved template this change follows "
            "(Copy update, Dependency patch bump or Feature flag toggle)."),
        ("reverted", "gate_failed"),
    ), id="standard-without-catalog-template-reverted"),
    pytest.param(Case(
        without(EMERGENCY, "Incident Commander"), (), move("alice", "Awaiting Approval"),
        "Draft", gate_failed(
            "Incident Commander is empty: name the on-call Incident Commander who approves "
            "with the Head of Engineering."),
        ("reverted", "gate_failed"),
    ), id="emergency-without-incident-commander-reverted"),
    pytest.param(Case(
        STANDARD, SUBMIT, move("bob", "Approved"),
        "Approved", None, ("approved", "approved"), approvals=(("bob", "team_lead"),),
    ), id="standard-approved-by-team-lead-stands"),
    pytest.param(Case(
        NORMAL, SUBMIT, move("bob", "Approved"),
        "Awaiting Approval",
        f"Moved back to Awaiting Approval: only {CAB_OR_HOE} can approve it\n\n"
        f"{{bob}}, a Normal change is approved by {CAB_OR_HOE}, and you are not in those "
        f"groups.\n\nNext: ask {CAB_OR_HOE} to move it to Approved.",
        ("reverted", "approval_refused"),
    ), id="normal-approved-by-team-lead-refused"),
    pytest.param(Case(
        NORMAL, SUBMIT, move("carol", "Approved"),
        "Approved", None, ("approved", "approved"), approvals=(("carol", "cab"),),
    ), id="normal-approved-by-cab-member-stands"),
    pytest.param(Case(
        NORMAL, (move("carol", "Awaiting Approval"),), move("carol", "Approved"),
        "Awaiting Approval",
        "Moved back to Awaiting Approval: you can't approve your own change\n\n"
        "{carol}, you reported this change, and nobody approves a change they reported.\n\n"
        f"Next: ask {CAB_OR_HOE} to move it to Approved.",
        ("reverted", "approval_refused"), reporter="carol",
    ), id="self-approval-by-cab-member-refused"),
    pytest.param(Case(
        EMERGENCY, SUBMIT, move("dana", "Approved"),
        "Awaiting Approval",
        "Approval recorded: the Head of Engineering approved; the Incident Commander named on "
        "the change still has to\n\n"
        "{dana}, your approval as the Head of Engineering is recorded. An Emergency change "
        "also needs the Incident Commander named on the change, so changeguard moved it back "
        "to Awaiting Approval until then.\n\n"
        "Next: the Incident Commander named on the change ({erin}) moves it to Approved to "
        "approve it.",
        ("approval recorded", "approval_recorded"),
        approvals=(("dana", "head_of_engineering"),), mentions=("dana", "erin"),
    ), id="emergency-hoe-only-recorded-and-moved-back"),
    pytest.param(Case(
        EMERGENCY, SUBMIT + (move("dana", "Approved"),), move("erin", "Approved"),
        "Approved", None, ("approved", "approved"),
        approvals=(("dana", "head_of_engineering"), ("erin", "incident_commander")),
    ), id="emergency-hoe-then-named-ic-stands"),
    pytest.param(Case(
        EMERGENCY, SUBMIT, move("frank", "Approved"),
        "Awaiting Approval",
        "Moved back to Awaiting Approval: you are not its Incident Commander\n\n"
        "{frank}, you are an Incident Commander, but not the one named on this change, and an "
        "Emergency change needs the approval of the Head of Engineering (group "
        "head-of-engineering) and the Incident Commander named on the change (group "
        "incident-commanders), two different people.\n\n"
        "Next: ask the Incident Commander named on the change ({erin}) to approve it, or "
        "change the Incident Commander field if the on-call changed.",
        ("reverted", "approval_refused"), mentions=("frank", "erin"),
    ), id="emergency-other-ic-than-the-named-one-refused"),
    # The sandbox cannot add dana to incident-commanders, so the same person giving both
    # approvals is tested with dana named as IC outside that group, approving twice.
    pytest.param(Case(
        {**EMERGENCY, "Incident Commander": "dana"}, SUBMIT + (move("dana", "Approved"),),
        move("dana", "Approved"),
        "Awaiting Approval",
        "Moved back to Awaiting Approval: it needs a second person\n\n"
        "{dana}, your approval is already recorded; this change also needs the Incident "
        "Commander named on the change, and one person can't give both approvals.\n\n"
        "Next: ask the Incident Commander named on the change ({dana}) to move it to Approved.",
        ("reverted", "approval_refused"), approvals=(("dana", "head_of_engineering"),),
        mentions=("dana", "dana"),
    ), id="emergency-same-person-approving-twice-refused"),
    pytest.param(Case(
        NORMAL, (), move("alice", "Implementing"),
        "Implementing", not_allowed("Draft", "Awaiting Approval, Cancelled"),
        ("flagged", "disallowed_move"), labels=("changeguard-violation",),
    ), id="draft-to-implementing-no-way-back-flagged"),
    pytest.param(Case(
        NORMAL, CAB_APPROVED, move("alice", "Implementing"),
        "Implementing", None, ("allowed", "gate_passed"), approvals=(("carol", "cab"),),
    ), id="approved-to-implementing-with-approval-stands"),
    pytest.param(Case(
        NORMAL, CAB_APPROVED, edit("alice", {"Rollback Plan": NEW_ROLLBACK}),
        "Awaiting Approval",
        "Approval withdrawn: the change was edited after approval\n\n"
        "{alice}, you changed what was approved, so the approval is withdrawn and changeguard "
        "moved the change back to Awaiting Approval. What changed:\n\n"
        f"* Rollback Plan: “{NORMAL['Rollback Plan']}” → “{NEW_ROLLBACK}”\n\n"
        "Next: the approvers review the change as it is now and move it to Approved again.",
        ("approval withdrawn", "material_edit"),
    ), id="material-edit-after-approval-withdraws-it"),
    # No way back from Implementing to Awaiting Approval exists, so it is flagged, not reverted.
    pytest.param(Case(
        NORMAL, WITHDRAWN, move("alice", "Implementing"),
        "Implementing",
        not_allowed("Awaiting Approval", "Approved, Cancelled, Draft, Rejected"),
        ("flagged", "disallowed_move"), labels=("changeguard-violation",),
    ), id="implementing-after-withdrawal-flagged"),
    pytest.param(Case(
        NORMAL, CAB_APPROVED + IMPLEMENTING, move("alice", "Implemented"),
        "Implemented", None, ("allowed", "gate_passed"), approvals=(("carol", "cab"),),
    ), id="implementing-to-implemented-stands"),
    pytest.param(Case(
        NORMAL, CAB_APPROVED + IMPLEMENTED, move("alice", "Closed"),
        "Implemented",
        review_missing("Outcome is empty: choose Successful, Failed or Rolled Back."),
        ("reverted", "review_missing"), approvals=(("carol", "cab"),),
    ), id="closed-without-outcome-reverted"),
    pytest.param(Case(
        EMERGENCY, EMERGENCY_APPROVED + IMPLEMENTED + (edit("alice", {"Outcome": "Successful"}),),
        move("alice", "Closed"),
        "Implemented", review_missing(
            "Retrospective is empty: add the notes of the full-CAB retrospective."),
        ("reverted", "review_missing"),
        approvals=(("dana", "head_of_engineering"), ("erin", "incident_commander")),
    ), id="emergency-closed-without-retrospective-reverted"),
    pytest.param(Case(
        NORMAL, CAB_APPROVED + IMPLEMENTED + (edit("alice", {"Outcome": "Successful"}),),
        move("alice", "Closed"),
        "Closed", None, ("allowed", "gate_passed"), approvals=(("carol", "cab"),),
    ), id="normal-closed-with-outcome-stands"),
]


def take(jira, key: str, step: tuple) -> None:
    kind, actor, arg = step
    if kind == "move":
        jira.transition(key, arg, as_user=actor)
    else:
        jira.edit(key, actor, arg)


@pytest.mark.parametrize("case", CASES)
def test_policy_gate(jira, web, worker, queue, case: Case):
    key = jira.create_change_request(case.reporter, SUMMARY, case.fields)
    for step in case.before:
        take(jira, key, step)
        settle(jira, queue)
    earlier = len(jira.comments(key))
    take(jira, key, case.act)
    settle(jira, queue)

    assert jira.status_of(key) == case.status
    last = audit_trail(jira, key)[-1]
    assert (last["decision"], last["reason"]) == case.decision
    assert last["actor"] == jira.users[case.act[1]].account_id
    assert recorded_approvals(jira, key) == list(case.approvals)
    assert jira.labels(key) == list(case.labels)
    new = jira.comments(key)[earlier:]
    expected = [] if case.comment is None else [case.comment.format(**mentions(jira))]
    assert [c["text"] for c in new] == expected
    if new:
        assert new[0]["author_account_id"] == jira.bot.account_id
        assert mentioned(jira, new[0]["body"]) == list(case.mentions or (case.act[1],))
