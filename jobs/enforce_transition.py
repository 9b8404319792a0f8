"""Enforce one status move: re-read the issue, judge the move, then revert and explain, or record."""

from __future__ import annotations

import logging
from typing import Any

from rules.approvals import ApprovalState, ApprovalVerdict
from rules.change_history import approval_moves_between, parse_history
from rules.change_request import ChangeRequest, fields_to_fetch, parse_change_request
from rules.issue_record import PROPERTY_KEY, AuditEntry, IssueRecord, parse_record
from rules.material_edit import EditDecision, EditVerdict
from rules.move_comments import (MoveContext, comment_for_move, comment_for_withdrawal,
                                 violation_alert)
from rules.policy import Category, FieldRole, StatusRole
from rules.status_move import (MoveDecision, Reason, StatusMove, Verdict, is_approval_gesture,
                               judge_move, replay_approvals, screen_move)
from worker import runtime as runtime_module
from worker.metrics import count
from worker.runtime import Runtime

from .approver_groups import groups_of
from .follow_ups import enqueue_follow_up
from .issue_actions import (MARKER_TTL_SECONDS, carry_out, find_transition, iso_from_ms,
                            issue_lock, load_plan, revert_step)

logger = logging.getLogger(__name__)


def enforce_transition(
    issue_key: str,
    event_id: str,
    timestamp: int,
    changelog_id: str,
    from_status_id: str | None,
    to_status_id: str,
    actor_account_id: str | None,
    *,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Judge the move recorded as ``changelog_id`` and act on it exactly once."""
    rt = runtime or runtime_module.current()
    move = StatusMove(int(changelog_id), from_status_id, to_status_id, actor_account_id)
    context = {"issue_key": issue_key, "event_id": event_id, "changelog_id": move.changelog_id}
    handled_key = rt.settings.key("handled", issue_key)
    plan_key = rt.settings.key("plan", issue_key, str(move.changelog_id))
    if move.actor_account_id is not None and move.actor_account_id == rt.site.bot_account_id:
        # Our own move: decided without the issue's lock (a crashed job may still hold it).
        decision = screen_move(move, rt.site, last_handled_changelog_id=None)
        _log(decision, context)
        return _summary(decision)
    with issue_lock(rt, issue_key):
        plan = load_plan(rt, plan_key)
        if plan is None:
            last = rt.redis.get(handled_key)
            decision = screen_move(move, rt.site,
                                   last_handled_changelog_id=int(last) if last else None)
            if decision is not None:
                _log(decision, context)
                return _summary(decision)
            # One read: fields, our record, the changelog (to judge late events in order) and
            # the transitions out of the current status (to find the way back).
            issue = rt.jira.get_issue(issue_key, fields=fields_to_fetch(rt.site),
                                      properties=[PROPERTY_KEY],
                                      expand=["changelog", "transitions"])
            change = parse_change_request(issue, rt.site)
            record = parse_record((issue.get("properties") or {}).get(PROPERTY_KEY))
            history = parse_history(issue, rt.site)
            # Approvals made before this move whose own events have not been handled yet.
            pending = approval_moves_between(history, int(last) if last else 0,
                                             move.changelog_id, rt.site)
            approvals = replay_approvals(
                tuple((entry, groups_of(rt, entry.actor)) for entry in pending),
                change, rt.policy, history, record.approvals)
            groups = (groups_of(rt, actor_account_id) if is_approval_gesture(move, rt.site)
                      else frozenset())
            decision = judge_move(move, change, rt.policy, rt.site, approvals=approvals,
                                  actor_groups=groups, at=iso_from_ms(timestamp), history=history)
            _log(decision, context)
            count(rt.redis, rt.settings, "decisions", kind="move", verdict=decision.verdict.value,
                  reason=decision.reason.value)
            replayed = approvals != record.approvals
            if decision.verdict is Verdict.IGNORE and not replayed:
                _mark_handled(rt, handled_key, move.changelog_id)
                return _summary(decision)
            plan = _make_plan(rt, issue_key, issue, move, decision, change, record, timestamp,
                              approvals if replayed else None)
        carry_out(rt, issue_key, plan_key, plan, context)
        _mark_handled(rt, handled_key, move.changelog_id)
    # Only now, after enforcement: a move about to be reverted must not set anything off.
    for follow_up in plan.get("follow_ups", []):
        enqueue_follow_up(rt, **follow_up)
    return plan["summary"]


def _follow_ups(rt: Runtime, issue_key: str, move: StatusMove, change: ChangeRequest) -> list:
    """Name the work an allowed move sets off: Slack deployment notices, approval requests."""
    role = rt.site.status_role(move.to_status_id)
    if role in (StatusRole.IMPLEMENTING, StatusRole.IMPLEMENTED):
        return [{"func": "jobs.deployment_notices.announce_deployment",
                 "job_id": f"notice-{issue_key}-{move.changelog_id}",
                 "kwargs": {"issue_key": issue_key, "changelog_id": str(move.changelog_id),
                            "to_status_id": move.to_status_id}}]
    emergency = rt.policy.category_of(change.option(FieldRole.CATEGORY)) is Category.EMERGENCY
    if role is StatusRole.AWAITING_APPROVAL and emergency:
        return [{"func": "jobs.slack_approvals.request_emergency_approval",
                 "job_id": f"slack-request-{issue_key}-{move.changelog_id}",
                 "kwargs": {"issue_key": issue_key}}]
    return []


def _make_plan(rt: Runtime, issue_key: str, issue: dict, move: StatusMove,
               decision: MoveDecision, change: ChangeRequest, record: IssueRecord,
               timestamp: int, replayed: ApprovalState | None) -> dict:
    """Decide every concrete step (which transition, which comment) before taking any."""
    names = (_status_name(rt, move.from_status_id, "its previous status"),
             _status_name(rt, move.to_status_id, "this status"))
    approvals = decision.approval.state if decision.approval is not None else replayed
    if decision.reason is Reason.APPROVAL_WITHDRAWN:
        # The approval happened, then an edit withdrew it: record both, as in order.
        record = parse_record(record.with_entry(
            _entry(rt, decision, move, names, timestamp, "approved", move.actor_account_id),
            decision.approval.state))
        approvals = ApprovalState()
    summary = _summary(decision)
    if decision.verdict is not Verdict.REVERT:
        name = _outcome_name(decision)
        entry = _entry(rt, decision, move, names, timestamp, name, move.actor_account_id)
        follow_ups = (_follow_ups(rt, issue_key, move, change)
                      if decision.verdict is Verdict.ALLOW else [])
        return {"summary": summary, "done": [], "follow_ups": follow_ups,
                "steps": [{"kind": "record", "value": record.with_entry(entry, approvals)}]}
    transition_id = find_transition(rt, issue_key, decision.revert_to_status_id, issue)
    summary["reverted"] = transition_id is not None
    actor = decision.edited_by if decision.reason is Reason.APPROVAL_WITHDRAWN else move.actor_account_id
    flagged = _flag_steps(rt, issue_key, move, decision, change, names) + [
        {"kind": "record", "value": record.with_entry(
            _entry(rt, decision, move, names, timestamp, "flagged", actor), approvals)}]
    if transition_id is None:
        return {"summary": summary, "done": [], "steps": flagged}
    name = {Reason.APPROVAL_RECORDED: "approval recorded",
            Reason.APPROVAL_WITHDRAWN: "approval withdrawn"}.get(decision.reason, "reverted")
    # The record goes with the move back, then the comment: a retried job resumes at the comment.
    steps = [revert_step(transition_id, decision.revert_to_status_id, record.with_entry(
                 _entry(rt, decision, move, names, timestamp, name, actor), approvals)),
             {"kind": "comment", "body": _comment(rt, move, decision, change, names, True)}]
    # If Jira refuses the revert (a condition, a permission), flag the issue instead.
    return {"summary": summary, "done": [], "steps": steps, "fallback": flagged}


def _flag_steps(rt: Runtime, issue_key: str, move: StatusMove, decision: MoveDecision,
                change: ChangeRequest, names: tuple[str, str]) -> list[dict]:
    """Label, alert Slack and comment, for a disallowed move that cannot be undone."""
    url = f"{rt.settings.jira_base_url}/browse/{issue_key}"
    return [{"kind": "label", "label": rt.policy.violation_label},
            {"kind": "alert", "channel": rt.policy.slack_channel,
             "text": violation_alert(issue_key, change.summary,
                                     _context(rt, move, change, names, False), rt.policy, url)},
            {"kind": "comment", "body": _comment(rt, move, decision, change, names, False)}]


def _context(rt: Runtime, move: StatusMove, change: ChangeRequest, names: tuple[str, str],
             reverted: bool) -> MoveContext:
    return MoveContext(actor=move.actor_account_id, from_status=names[0], to_status=names[1],
                       category=rt.policy.category_of(change.option(FieldRole.CATEGORY)),
                       incident_commander=change.user(FieldRole.INCIDENT_COMMANDER),
                       reverted=reverted)


def _comment(rt: Runtime, move: StatusMove, decision: MoveDecision, change: ChangeRequest,
             names: tuple[str, str], reverted: bool) -> dict:
    if decision.reason is Reason.APPROVAL_WITHDRAWN:
        verdict = EditVerdict.WITHDRAW_AND_REVERT if reverted else EditVerdict.WITHDRAW
        return comment_for_withdrawal(
            EditDecision(verdict, decision.edits, decision.revert_to_status_id),
            decision.edited_by, rt.policy)
    return comment_for_move(decision, _context(rt, move, change, names, reverted), rt.policy)


def _outcome_name(decision: MoveDecision) -> str:
    if decision.reason is Reason.APPROVED:
        return "approved"
    if decision.verdict is Verdict.RECORD:
        return ("approved" if decision.approval.verdict is ApprovalVerdict.COMPLETE
                else "approval recorded")
    if decision.verdict is Verdict.IGNORE:
        return "approvals replayed"
    return "allowed"


def _entry(rt: Runtime, decision: MoveDecision, move: StatusMove, names: tuple[str, str],
           timestamp: int, name: str, actor: str | None) -> AuditEntry:
    return AuditEntry(
        at=iso_from_ms(timestamp), decision=name, reason=decision.reason.value, actor=actor,
        from_status=names[0], to_status=names[1], changelog_id=move.changelog_id,
        detail=", ".join(rt.policy.field_name(f.field) + ": " + f.problem.value
                         for f in decision.findings)
        or ", ".join(rt.policy.field_name(e.field) for e in decision.edits)
        or (decision.approval.verdict.value if decision.approval is not None else ""),
    )


def _summary(decision: MoveDecision) -> dict[str, Any]:
    return {"verdict": decision.verdict.value, "reason": decision.reason.value}


def _log(decision: MoveDecision, context: dict) -> None:
    logger.info("move judged", extra={**context, "verdict": decision.verdict.value,
                                     "reason": decision.reason.value,
                                     "findings": [f.field.value for f in decision.findings]})


def _mark_handled(rt: Runtime, handled_key: str, changelog_id: int) -> None:
    last = rt.redis.get(handled_key)
    if last is None or int(last) < changelog_id:
        rt.redis.set(handled_key, changelog_id, ex=MARKER_TTL_SECONDS)


def _status_name(rt: Runtime, status_id: str | None, fallback: str) -> str:
    role = rt.site.status_role(status_id)
    return rt.policy.status_names[role] if role is not None else fallback
