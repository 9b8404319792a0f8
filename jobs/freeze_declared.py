"""Re-check when a freeze is declared, widened, cancelled or deleted: withdraw what it catches."""

from __future__ import annotations

import json
import logging
from typing import Any

from rules.approvals import has_freeze_exception
from rules.change_request import SnapshotError, fields_to_fetch, parse_change_request
from rules.freeze import (Freeze, freeze_fields_to_fetch, freeze_from_issue, freeze_from_json,
                          overlapping, parse_freeze_issue)
from rules.freeze_declaration import (Action, ApprovedChange, DeclarationFacts, FreezeRecord,
                                      caught_changes, declaration_plan, judge_declaration,
                                      parse_freeze_record)
from rules.freeze_withdrawal import (Outcome, WithdrawalFacts, judge_withdrawal,
                                     withdrawal_plan)
from rules.issue_record import PROPERTY_KEY, parse_record
from rules.plan import Plan, WriteRecord
from rules.policy import FieldRole, GroupRole, StatusRole
from rules.status_move import planned_window
from worker import runtime as runtime_module
from worker.jira_client import JiraNotFound
from worker.runtime import Runtime

from .approver_groups import groups_of
from .freezes import forget_declared_freezes
from .issue_session import (MARKER_TTL_SECONDS, find_transition, iso_from_ms, issue_session,
                            read_change)
from .periodic import cab_calendar
from .waiting_deployments import has_waiting

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
DELETED = "jira:issue_deleted"
PLAN_ID = "freeze"
# A deleted freeze's record is gone with it: this copy in Redis says what it had held.
MIRROR_TTL_SECONDS = max(MARKER_TTL_SECONDS, 400 * 24 * 3600)


def recheck_freeze(issue_key: str, event_id: str, timestamp: int, webhook_event: str,
                   actor_account_id: str | None, *, runtime: Runtime | None = None
                   ) -> dict[str, Any]:
    """Enforce the freeze ``issue_key`` declares as it is now, exactly once per change in it.

    Under the freeze issue's lock: re-read it, compare with what was last enforced (its record),
    and carry out the plan (follow-up jobs withdrawing the caught approvals, the record, one
    Slack message), stored between tries so a retry resumes instead of repeating.
    """
    rt = runtime or runtime_module.current()
    context = {"issue_key": issue_key, "event_id": event_id, "webhook_event": webhook_event}
    # Whatever happened to it, the freezes enforced on moves must be read again.
    forget_declared_freezes(rt)
    with issue_session(rt, issue_key) as session:
        # One plan at a time per freeze, whichever event started it: a try that stopped halfway
        # is finished first, then the freeze is judged as it is now (against the record that
        # plan wrote), so two events never both act on one change of the freeze.
        unfinished = session.stored_plan(PLAN_ID)
        if unfinished is not None:
            session.carry_out(PLAN_ID, unfinished, context)
        plan, record = _decide(rt, issue_key, timestamp, webhook_event, actor_account_id)
        if plan is None:
            logger.info("freeze unchanged", extra=context)
            return {"action": Action.NOTHING.value, "freeze": issue_key}
        # Kept before acting: a deleted issue takes its record with it.
        _mirror(rt, issue_key, record)
        plan = session.carry_out(PLAN_ID, plan, context)
    forget_declared_freezes(rt)
    logger.info("freeze checked", extra={**context, "action": plan.summary["action"]})
    return dict(plan.summary)


def _decide(rt: Runtime, issue_key: str, timestamp: int, webhook_event: str,
            actor_account_id: str | None) -> tuple[Plan | None, FreezeRecord]:
    """Return the freeze's plan (None: nothing to do) and the record it leaves."""
    calendar = cab_calendar(rt.policy)
    try:
        issue = rt.jira.get_issue(issue_key, fields=freeze_fields_to_fetch(rt.site),
                                  properties=[PROPERTY_KEY])
    except JiraNotFound:
        if webhook_event != DELETED:
            raise  # not deleted as far as this event knows: let RQ retry
        issue = None
    if issue is None:
        declared_issue = declared = None
        record = _mirrored(rt, issue_key)
        head = False
    else:
        record = parse_freeze_record((issue.get("properties") or {}).get(PROPERTY_KEY))
        declared_issue = parse_freeze_issue(issue, rt.site)
        names = rt.policy.field_names
        declared = freeze_from_issue(declared_issue, rt.policy.freezes,
                                     start_field=names[FieldRole.PLANNED_START],
                                     end_field=names[FieldRole.PLANNED_END])
        # Only the Head of Engineering may declare a freeze: the reporter declares it.
        head = GroupRole.HEAD_OF_ENGINEERING in groups_of(rt, declared_issue.reporter_account_id)
    declaration = judge_declaration(declared_issue, declared, head, record, site=rt.site,
                                    policy=rt.policy)
    if declaration.action is Action.NOTHING:
        return None, record
    caught = ()
    if declaration.action is Action.ENFORCE:
        caught = caught_changes(
            declaration, _approved_changes(rt, declaration.freeze), calendar=calendar,
            exception_group=rt.policy.group_names[GroupRole.HEAD_OF_ENGINEERING])
    facts = DeclarationFacts(key=issue_key, actor=actor_account_id, at=iso_from_ms(timestamp),
                             browse_url=f"{rt.settings.jira_base_url}/browse",
                             deleted=issue is None)
    plan = declaration_plan(declaration, caught, record, facts, policy=rt.policy,
                            calendar=calendar)
    return plan, _record_after(plan, record)


def _approved_changes(rt: Runtime, freeze: Freeze | None):
    """Yield the Approved changes whose planned window overlaps the freeze.

    Windows are compared here: JQL compares date-time fields in the searching user's time
    zone, and few changes are Approved at any time. Only those in the freeze have their record
    read (for a freeze exception).
    """
    assert freeze is not None
    approved = rt.site.status_ids[StatusRole.APPROVED]
    jql = rt.policy.scoped_jql(f"status = {approved}", order_by="key")
    for issue in rt.jira.search_issues(jql, fields=fields_to_fetch(rt.site),
                                       page_size=PAGE_SIZE):
        try:
            change = parse_change_request(issue, rt.site)
        except SnapshotError as exc:
            logger.warning("change unreadable", extra={"error": str(exc)})
            continue
        window = planned_window(change)
        if window is None or not overlapping(*window, (freeze,)):
            continue
        record = parse_record(rt.jira.get_issue_property(change.key, PROPERTY_KEY))
        yield ApprovedChange(
            key=change.key, summary=change.summary,
            category=rt.policy.category_of(change.option(FieldRole.CATEGORY)),
            has_freeze_exception=has_freeze_exception(record.approvals, change), window=window)


def _record_after(plan: Plan, record: FreezeRecord) -> FreezeRecord:
    """Return the record the plan writes (the one before it when it writes none)."""
    for step in plan.steps:
        if isinstance(step, WriteRecord):
            return parse_freeze_record(step.value)
    if plan.summary["action"] == Action.CANCEL.value:  # deleted: nothing left to write on
        return FreezeRecord(audit=record.audit)
    return record


def _mirror_key(rt: Runtime, issue_key: str) -> str:
    return rt.settings.key("freeze-record", issue_key)


def _mirror(rt: Runtime, issue_key: str, record: FreezeRecord) -> None:
    rt.redis.set(_mirror_key(rt, issue_key), json.dumps(record.to_json()), ex=MIRROR_TTL_SECONDS)


def _mirrored(rt: Runtime, issue_key: str) -> FreezeRecord:
    raw = rt.redis.get(_mirror_key(rt, issue_key))
    return parse_freeze_record(json.loads(raw)) if raw else FreezeRecord()


def withdraw_for_freeze(issue_key: str, freeze: dict[str, str], check: int,
                        actor_account_id: str | None, at: str, *,
                        runtime: Runtime | None = None) -> dict[str, Any]:
    """Withdraw the approval of the change ``issue_key`` the freeze check caught, once.

    In the change's own session: re-read it, judge it against the freeze as it is now (it may
    have moved on, or been given an exception), then move it back with one comment.
    """
    rt = runtime or runtime_module.current()
    held = freeze_from_json(freeze)
    context = {"issue_key": issue_key, "freeze": held.key, "check": check}
    plan_id = f"freeze-{held.key}-{check}"
    with issue_session(rt, issue_key) as session:
        plan = session.stored_plan(plan_id)
        if plan is None:
            issue, change, record = read_change(rt, issue_key)
            withdrawal = judge_withdrawal(change, record, held, check, policy=rt.policy,
                                          site=rt.site, calendar=cab_calendar(rt.policy))
            if withdrawal.outcome is not Outcome.WITHDRAW:
                logger.info("freeze withdrawal skipped",
                            extra={**context, "outcome": withdrawal.outcome.value})
                return {"outcome": withdrawal.outcome.value, "freeze": held.key}
            way_back = find_transition(rt, issue_key,
                                       rt.site.status_ids[StatusRole.AWAITING_APPROVAL], issue)
            facts = WithdrawalFacts(change=change, record=record, freeze=held, check=check,
                                    actor=actor_account_id, at=at, transition_id=way_back,
                                    deployments_waiting=has_waiting(rt, issue_key))
            plan = withdrawal_plan(withdrawal, facts, policy=rt.policy, site=rt.site)
        plan = session.carry_out(plan_id, plan, context)
    logger.info("approval withdrawn for freeze", extra=context)
    return dict(plan.summary)
