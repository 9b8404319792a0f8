"""Enforce one status move: re-read the issue, judge the move, then revert and explain, or record."""

from __future__ import annotations

import logging
from typing import Any

from rules.change_history import approval_moves_between, parse_history
from rules.change_request import fields_to_fetch, parse_change_request
from rules.issue_record import PROPERTY_KEY, parse_record
from rules.move_plan import MoveFacts, plan_for_move, summary_of
from rules.policy import StatusRole
from rules.status_move import (FreezesInView, MoveDecision, StatusMove, Verdict,
                               is_approval_gesture, judge_move, planned_window, replay_approvals,
                               screen_move)
from worker import runtime as runtime_module
from worker.metrics import count
from worker.runtime import Runtime

from .approver_groups import groups_of
from .freezes import freezes_between
from .issue_session import find_transition, iso_from_ms, issue_session
from .periodic import cab_calendar
from .waiting_deployments import has_waiting

logger = logging.getLogger(__name__)

# The statuses a change enters only when no freeze stops it.
FROZEN_STATUSES = (StatusRole.APPROVED, StatusRole.IMPLEMENTING)


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
    plan_id = str(move.changelog_id)
    if move.actor_account_id is not None and move.actor_account_id == rt.site.bot_account_id:
        # Our own move: decided without the issue's lock (a crashed job may still hold it).
        decision = screen_move(move, rt.site, last_handled_changelog_id=None)
        _log(decision, context)
        return summary_of(decision)
    with issue_session(rt, issue_key) as session:
        plan = session.stored_plan(plan_id)
        if plan is None:
            last = session.last_handled()
            decision = screen_move(move, rt.site, last_handled_changelog_id=last)
            if decision is not None:
                _log(decision, context)
                return summary_of(decision)
            # One read: fields, our record, the changelog (to judge late events in order) and
            # the transitions out of the current status (to find the way back).
            issue = rt.jira.get_issue(issue_key, fields=fields_to_fetch(rt.site),
                                      properties=[PROPERTY_KEY],
                                      expand=["changelog", "transitions"])
            change = parse_change_request(issue, rt.site)
            record = parse_record((issue.get("properties") or {}).get(PROPERTY_KEY))
            # Our record on the issue outlasts Redis: a move it logs a decision on is handled.
            decided = record.last_decided_move()
            if decided is not None and (last is None or decided > last):
                last = decided
                decision = screen_move(move, rt.site, last_handled_changelog_id=last)
                if decision is not None:
                    _log(decision, context)
                    session.mark_handled(last)
                    return summary_of(decision)
            history = parse_history(issue, rt.site)
            # Approvals made before this move whose own events have not been handled yet.
            pending = approval_moves_between(history, last or 0, move.changelog_id, rt.site)
            approvals = replay_approvals(
                tuple((entry, groups_of(rt, entry.actor)) for entry in pending),
                change, rt.policy, history, record.approvals)
            groups = (groups_of(rt, actor_account_id) if is_approval_gesture(move, rt.site)
                      else frozenset())
            decision = judge_move(move, change, rt.policy, rt.site, approvals=approvals,
                                  actor_groups=groups, at=iso_from_ms(timestamp), history=history,
                                  freezes=_freezes_in_view(rt, move, change))
            _log(decision, context)
            count(rt.redis, rt.settings, "decisions", kind="move", verdict=decision.verdict.value,
                  reason=decision.reason.value)
            replayed = approvals != record.approvals
            if decision.verdict is Verdict.IGNORE and not replayed:
                session.mark_handled(move.changelog_id)
                return summary_of(decision)
            way_back = (find_transition(rt, issue_key, decision.revert_to_status_id, issue)
                        if decision.verdict is Verdict.REVERT else None)
            facts = MoveFacts(
                issue_key=issue_key, move=move, change=change, record=record,
                at=iso_from_ms(timestamp),
                browse_url=f"{rt.settings.jira_base_url}/browse/{issue_key}",
                revert_transition_id=way_back, replayed=approvals if replayed else None,
                deployments_waiting=has_waiting(rt, issue_key))
            plan = plan_for_move(decision, facts, rt.policy, rt.site)
        # The follow-ups are steps of the plan: taken before the move is marked handled.
        plan = session.carry_out(plan_id, plan, context, handled=move.changelog_id)
    return dict(plan.summary)


def _freezes_in_view(rt: Runtime, move: StatusMove, change) -> FreezesInView | None:
    """Return the freezes the change's window runs into, for a move forward into a frozen
    status (Approved, Implementing); None otherwise, without a look at any freeze."""
    window = planned_window(change)
    if window is None or rt.site.status_role(move.to_status_id) not in FROZEN_STATUSES:
        return None
    return FreezesInView(window, freezes_between(rt, *window), cab_calendar(rt.policy))


def _log(decision: MoveDecision, context: dict) -> None:
    logger.info("move judged", extra={**context, "verdict": decision.verdict.value,
                                     "reason": decision.reason.value,
                                     "findings": [f.field.value for f in decision.findings]})
