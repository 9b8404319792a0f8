"""What a judged status move does to the issue: record, revert and comment, or flag; follow-ups."""

from __future__ import annotations

import dataclasses

from .approvals import ApprovalState, ApprovalVerdict
from .change_request import ChangeRequest
from .issue_record import AuditEntry, IssueRecord, parse_record
from .job_names import JobName
from .material_edit import EditDecision, EditVerdict
from .move_comments import MoveContext, comment_for_move, comment_for_withdrawal, violation_alert
from .plan import AddComment, AddLabel, FollowUp, Plan, Revert, SlackAlert, Step, WriteRecord
from .policy import Category, FieldRole, Policy, StatusRole
from .site_map import SiteMap
from .status_move import MoveDecision, Reason, StatusMove, Verdict


@dataclasses.dataclass(frozen=True)
class MoveFacts:
    """What the plan of a move needs to know besides the decision, as read from Jira."""

    issue_key: str
    move: StatusMove
    change: ChangeRequest
    record: IssueRecord
    at: str  # when the move happened, ISO 8601
    browse_url: str  # the issue's page, for Slack
    # The way back Jira offers from the issue's status now (None: there is none).
    revert_transition_id: str | None = None
    # Approvals of earlier moves, replayed now because their own events were not handled.
    replayed: ApprovalState | None = None
    # Deployments wait at the gate for this change: the move may decide them.
    deployments_waiting: bool = False


def summary_of(decision: MoveDecision) -> dict[str, str]:
    """Return what the job reports (and RQ keeps) of a decision."""
    return {"verdict": decision.verdict.value, "reason": decision.reason.value}


def plan_for_move(decision: MoveDecision, facts: MoveFacts, policy: Policy, site: SiteMap) -> Plan:
    """Decide every step (record, revert, comment, label, alert, follow-ups) before taking any."""
    move, record = facts.move, facts.record
    names = (_status_name(policy, site, move.from_status_id, "its previous status"),
             _status_name(policy, site, move.to_status_id, "this status"))
    approvals = decision.approval.state if decision.approval is not None else facts.replayed
    if decision.reason is Reason.APPROVAL_WITHDRAWN:
        # The approval happened, then an edit withdrew it: record both, as in order.
        assert decision.approval is not None
        record = parse_record(record.with_entry(
            _entry(policy, decision, facts, names, "approved", move.actor_account_id),
            decision.approval.state))
        approvals = ApprovalState()
    summary = summary_of(decision)
    if decision.verdict is not Verdict.REVERT:
        entry = _entry(policy, decision, facts, names, _outcome_name(decision),
                       move.actor_account_id)
        follow_ups = (_follow_ups(facts, policy, site) if decision.verdict is Verdict.ALLOW
                      else ())
        # The follow-ups come last: a move about to be reverted must not set anything off.
        return Plan(summary, (WriteRecord(record.with_entry(entry, approvals)), *follow_ups,
                              *_release(facts)))
    summary["reverted"] = facts.revert_transition_id is not None
    actor = (decision.edited_by if decision.reason is Reason.APPROVAL_WITHDRAWN
             else move.actor_account_id)
    flagged = (*_flag_steps(decision, facts, names, policy),
               WriteRecord(record.with_entry(
                   _entry(policy, decision, facts, names, "flagged", actor), approvals)))
    if facts.revert_transition_id is None:
        return Plan(summary, (*flagged, *_release(facts)))
    name = {Reason.APPROVAL_RECORDED: "approval recorded",
            Reason.APPROVAL_WITHDRAWN: "approval withdrawn",
            Reason.FROZEN: "held by a freeze"}.get(decision.reason, "reverted")
    assert decision.revert_to_status_id is not None  # a REVERT names where to
    # The record goes with the move back, then the comment: a retried job resumes at the comment.
    steps = (Revert(facts.revert_transition_id, decision.revert_to_status_id, record.with_entry(
                 _entry(policy, decision, facts, names, name, actor), approvals)),
             AddComment(_comment(decision, facts, names, policy, reverted=True)),
             *_release(facts))
    # If Jira refuses the revert (a condition, a permission), flag the issue instead.
    return Plan(summary, steps, fallback=(*flagged, *_release(facts)))


def _follow_ups(facts: MoveFacts, policy: Policy, site: SiteMap) -> tuple[Step, ...]:
    """Name the work an allowed move sets off: Slack deployment notices, approval requests."""
    key, move = facts.issue_key, facts.move
    role = site.status_role(move.to_status_id)
    if role in (StatusRole.IMPLEMENTING, StatusRole.IMPLEMENTED):
        return (FollowUp(JobName.ANNOUNCE_DEPLOYMENT,
                         f"notice-{key}-{move.changelog_id}",
                         {"issue_key": key, "changelog_id": str(move.changelog_id),
                          "to_status_id": move.to_status_id}),)
    emergency = (policy.category_of(facts.change.option(FieldRole.CATEGORY))
                 is Category.EMERGENCY)
    if role is StatusRole.AWAITING_APPROVAL and emergency:
        return (FollowUp(JobName.REQUEST_EMERGENCY_APPROVAL,
                         f"slack-request-{key}-{move.changelog_id}", {"issue_key": key}),)
    return ()


def _release(facts: MoveFacts) -> tuple[Step, ...]:
    """Have the deployments waiting for the change decided again, once the move is dealt with
    (an approval releases them, a rejection rejects them; a reverted move changes nothing)."""
    if not facts.deployments_waiting:
        return ()
    return (FollowUp(JobName.RELEASE_WAITING,
                     f"release-{facts.issue_key}-{facts.move.changelog_id}",
                     {"issue_key": facts.issue_key}),)


def _flag_steps(decision: MoveDecision, facts: MoveFacts, names: tuple[str, str],
                policy: Policy) -> tuple[Step, ...]:
    """Label, alert Slack and comment, for a disallowed move that cannot be undone."""
    return (AddLabel(policy.violation_label),
            SlackAlert(policy.slack_channel, violation_alert(
                facts.issue_key, facts.change.summary, _context(facts, names, policy, False),
                policy, facts.browse_url)),
            AddComment(_comment(decision, facts, names, policy, reverted=False)))


def _context(facts: MoveFacts, names: tuple[str, str], policy: Policy,
             reverted: bool) -> MoveContext:
    change = facts.change
    return MoveContext(actor=facts.move.actor_account_id, from_status=names[0],
                       to_status=names[1],
                       category=policy.category_of(change.option(FieldRole.CATEGORY)),
                       incident_commander=change.user(FieldRole.INCIDENT_COMMANDER),
                       reverted=reverted)


def _comment(decision: MoveDecision, facts: MoveFacts, names: tuple[str, str], policy: Policy,
             *, reverted: bool) -> dict:
    if decision.reason is Reason.APPROVAL_WITHDRAWN:
        verdict = EditVerdict.WITHDRAW_AND_REVERT if reverted else EditVerdict.WITHDRAW
        return comment_for_withdrawal(
            EditDecision(verdict, decision.edits, decision.revert_to_status_id),
            decision.edited_by, policy)
    return comment_for_move(decision, _context(facts, names, policy, reverted), policy)


def _outcome_name(decision: MoveDecision) -> str:
    if decision.reason is Reason.APPROVED:
        return "approved"
    if decision.verdict is Verdict.RECORD:
        assert decision.approval is not None
        return ("approved" if decision.approval.verdict is ApprovalVerdict.COMPLETE
                else "approval recorded")
    if decision.verdict is Verdict.IGNORE:
        return "approvals replayed"
    return "allowed"


def _entry(policy: Policy, decision: MoveDecision, facts: MoveFacts, names: tuple[str, str],
           name: str, actor: str | None) -> AuditEntry:
    return AuditEntry(
        at=facts.at, decision=name, reason=decision.reason.value, actor=actor,
        from_status=names[0], to_status=names[1], changelog_id=facts.move.changelog_id,
        detail=", ".join(policy.field_name(f.field) + ": " + f.problem.value
                         for f in decision.findings)
        or ", ".join(policy.field_name(e.field) for e in decision.edits)
        or (decision.freeze.blocking.title if decision.freeze and decision.freeze.blocking
            else "")
        or (decision.approval.verdict.value if decision.approval is not None else ""),
    )


def _status_name(policy: Policy, site: SiteMap, status_id: str | None, fallback: str) -> str:
    role = site.status_role(status_id)
    return policy.status_names[role] if role is not None else fallback
