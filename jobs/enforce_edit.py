"""After an edit, withdraw approvals the change no longer matches, and say what changed."""

from __future__ import annotations

import logging
from typing import Any

from rules.approvals import ApprovalState
from rules.issue_record import AuditEntry
from rules.material_edit import EditVerdict, judge_edit
from rules.move_comments import comment_for_withdrawal
from rules.plan import AddComment, Plan, Revert, WriteRecord
from worker import runtime as runtime_module
from worker.metrics import count
from worker.runtime import Runtime

from .issue_session import find_transition, iso_from_ms, issue_session, read_change

logger = logging.getLogger(__name__)


def enforce_edit(
    issue_key: str,
    event_id: str,
    timestamp: int,
    changelog_id: str,
    actor_account_id: str | None,
    *,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Compare the approved revision with the issue now; withdraw approvals that no longer match."""
    rt = runtime or runtime_module.current()
    context = {"issue_key": issue_key, "event_id": event_id, "changelog_id": changelog_id}
    if actor_account_id is not None and actor_account_id == rt.site.bot_account_id:
        return {"verdict": "ignore", "reason": "own_move"}
    plan_id = f"edit-{changelog_id}"
    with issue_session(rt, issue_key) as session:
        plan = session.stored_plan(plan_id)
        if plan is None:
            issue, change, record = read_change(rt, issue_key)
            decision = judge_edit(change, record.approvals, rt.site)
            logger.info("edit judged", extra={**context, "verdict": decision.verdict.value,
                                             "changed": [c.field.value for c in decision.changes]})
            count(rt.redis, rt.settings, "decisions", kind="edit", verdict=decision.verdict.value,
                  reason="material_edit")
            if decision.verdict is EditVerdict.NOTHING:
                return {"verdict": decision.verdict.value}
            entry = AuditEntry(
                at=iso_from_ms(timestamp), decision="approval withdrawn",
                reason="material_edit", actor=actor_account_id, from_status=None,
                to_status=None, changelog_id=int(changelog_id),
                detail=", ".join(rt.policy.field_name(c.field) for c in decision.changes))
            value = record.with_entry(entry, ApprovalState())
            comment = AddComment(comment_for_withdrawal(decision, actor_account_id, rt.policy))
            transition_id = (find_transition(rt, issue_key, decision.revert_to_status_id, issue)
                             if decision.verdict is EditVerdict.WITHDRAW_AND_REVERT else None)
            # Moving back writes the record with the move; otherwise it is a write of its own.
            steps = ((Revert(transition_id, str(decision.revert_to_status_id), value), comment)
                     if transition_id is not None
                     else (comment, WriteRecord(value)))
            plan = Plan({"verdict": decision.verdict.value}, steps)
        plan = session.carry_out(plan_id, plan, context)
        return dict(plan.summary)
