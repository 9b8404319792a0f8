"""Enforce one status move: re-read the issue, judge the move, then revert and explain, or record."""

from __future__ import annotations

import logging
from typing import Any

from rules.change_request import ChangeRequest, fields_to_fetch, parse_change_request
from rules.issue_record import PROPERTY_KEY, AuditEntry, IssueRecord, parse_record
from rules.move_comments import MoveContext, comment_for_move, violation_alert
from rules.policy import FieldRole
from rules.status_move import (MoveDecision, Reason, StatusMove, Verdict, is_approval_gesture,
                               judge_move, screen_move)
from worker import runtime as runtime_module
from worker.runtime import Runtime

from .approver_groups import groups_of
from .issue_actions import MARKER_TTL_SECONDS, carry_out, find_transition, iso_from_ms, issue_lock, load_plan

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
    with issue_lock(rt, issue_key):
        plan = load_plan(rt, plan_key)
        if plan is None:
            last = rt.redis.get(handled_key)
            decision = screen_move(move, rt.site,
                                   last_handled_changelog_id=int(last) if last else None)
            if decision is not None:
                _log(decision, context)
                return _summary(decision)
            issue = rt.jira.get_issue(issue_key, fields=fields_to_fetch(rt.site),
                                      properties=[PROPERTY_KEY])
            change = parse_change_request(issue, rt.site)
            record = parse_record((issue.get("properties") or {}).get(PROPERTY_KEY))
            groups = (groups_of(rt, actor_account_id) if is_approval_gesture(move, rt.site)
                      else frozenset())
            decision = judge_move(move, change, rt.policy, rt.site, approvals=record.approvals,
                                  actor_groups=groups, at=iso_from_ms(timestamp))
            _log(decision, context)
            if decision.verdict is Verdict.IGNORE:
                _mark_handled(rt, handled_key, move.changelog_id)
                return _summary(decision)
            plan = _make_plan(rt, issue_key, move, decision, change, record, timestamp)
        carry_out(rt, issue_key, plan_key, plan, context)
        _mark_handled(rt, handled_key, move.changelog_id)
        return plan["summary"]


def _make_plan(rt: Runtime, issue_key: str, move: StatusMove, decision: MoveDecision,
               change: ChangeRequest, record: IssueRecord, timestamp: int) -> dict:
    """Decide every concrete step (which transition, which comment) before taking any."""
    from_name = _status_name(rt, move.from_status_id, "its previous status")
    to_name = _status_name(rt, move.to_status_id, "this status")
    steps: list[dict] = []
    summary = _summary(decision)
    decision_name = "allowed"
    if decision.verdict is Verdict.REVERT:
        transition_id = find_transition(rt, issue_key, decision.revert_to_status_id)
        summary["reverted"] = transition_id is not None
        ctx = MoveContext(actor=move.actor_account_id, from_status=from_name, to_status=to_name,
                          category=rt.policy.category_of(change.option(FieldRole.CATEGORY)),
                          incident_commander=change.user(FieldRole.INCIDENT_COMMANDER),
                          reverted=transition_id is not None)
        comment = comment_for_move(decision, ctx, rt.policy)
        if transition_id is not None:
            steps.append({"kind": "revert", "transition_id": transition_id})
            decision_name = ("approval recorded" if decision.reason is Reason.APPROVAL_RECORDED
                             else "reverted")
        else:
            decision_name = "flagged"
            steps.append({"kind": "label", "label": rt.policy.violation_label})
            url = f"{rt.settings.jira_base_url}/browse/{issue_key}"
            steps.append({"kind": "alert", "channel": rt.policy.slack_channel,
                          "text": violation_alert(issue_key, change.summary, ctx, rt.policy, url)})
        steps.append({"kind": "comment", "body": comment})
    elif decision.reason is Reason.APPROVED:
        decision_name = "approved"
    approvals = decision.approval.state if decision.approval is not None else None
    entry = AuditEntry(
        at=iso_from_ms(timestamp), decision=decision_name, reason=decision.reason.value,
        actor=move.actor_account_id, from_status=from_name, to_status=to_name,
        changelog_id=move.changelog_id,
        detail=", ".join(rt.policy.field_name(f.field) + ": " + f.problem.value
                         for f in decision.findings)
        or (decision.approval.verdict.value if decision.approval is not None else ""),
    )
    steps.append({"kind": "record", "value": record.with_entry(entry, approvals)})
    return {"summary": summary, "steps": steps, "done": []}


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
