"""The hourly scan: flag each Emergency change whose retrospective is overdue, exactly once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from rules.cab_schedule import CabCalendar, next_meeting
from rules.change_history import changelog_is_complete, parse_history
from rules.change_request import ChangeRequest, fields_to_fetch, parse_change_request
from rules.emergency_retrospective import (RetroDeadline, RetroState, entered_implemented,
                                           flag_plan, flagged_in, retro_deadline)
from rules.issue_record import PROPERTY_KEY, parse_record
from rules.policy import StatusRole
from worker import runtime as runtime_module
from worker.runtime import Runtime

from .issue_session import MARKER_TTL_SECONDS, issue_session

logger = logging.getLogger(__name__)

FLAGGED_TTL_SECONDS = 90 * 24 * 3600


def scan_retrospectives(now: datetime, *, calendar: CabCalendar, runtime: Runtime | None = None,
                        page_size: int = 100) -> dict[str, str]:
    """Flag every Emergency change past its retrospective deadline; return each one's state."""
    rt = runtime or runtime_module.current()
    states: dict[str, str] = {}
    for change, implemented_at in implemented_changes(rt, page_size=page_size):
        deadline = retro_deadline(change, implemented_at, now=now, policy=rt.policy, site=rt.site)
        states[change.key] = deadline.state.value
        if deadline.state in {RetroState.OVERDUE, RetroState.ALREADY_FLAGGED}:
            states[change.key] = maybe_flag_overdue(rt, change, deadline, now, calendar)
    return states


def implemented_changes(rt: Runtime, *, statuses: tuple[StatusRole, ...] = (StatusRole.IMPLEMENTED,),
                        extra_jql: str = "",
                        page_size: int = 100) -> Iterator[tuple[ChangeRequest, datetime | None]]:
    """Yield the change requests in ``statuses`` with when each last reached Implemented.

    The search brings each change's changelog; only a change whose changelog it cut short (Jira
    expands the latest 40 histories there) is read again on its own.
    """
    ids = ", ".join(rt.site.status_ids[role] for role in statuses)
    jql = rt.policy.scoped_jql(f"status in ({ids}){extra_jql}", order_by="key")
    for issue in rt.jira.search_issues(jql, fields=fields_to_fetch(rt.site),
                                       expand=("changelog",), page_size=page_size):
        change = parse_change_request(issue, rt.site)
        if not changelog_is_complete(issue):
            issue = rt.jira.get_issue(change.key, fields=("status",), expand=("changelog",))
        yield change, entered_implemented(parse_history(issue, rt.site), rt.site)


def maybe_flag_overdue(rt: Runtime, change: ChangeRequest, deadline: RetroDeadline, now: datetime,
                       calendar: CabCalendar) -> str:
    """Label, comment and alert once for this change's move into Implemented; return the state.

    Decided from our record on the issue (durable), not from Redis: a change flagged once is
    left alone, whatever this Redis remembers, unless a scan stopped halfway through flagging.
    """
    assert deadline.implemented_at is not None
    entry = deadline.implemented_at.isoformat()
    marker = rt.settings.key("retro-flagged", change.key, entry)
    plan_id = f"retro-{entry}"
    context = {"issue_key": change.key, "due_at": deadline.due_at.isoformat()}
    with issue_session(rt, change.key) as session:
        if rt.redis.exists(marker):
            return RetroState.ALREADY_FLAGGED.value
        plan = session.stored_plan(plan_id)
        if plan is None:
            # Decided from Jira, not from what this Redis remembers: our record on the issue.
            issue = rt.jira.get_issue(change.key, fields=("labels",), properties=[PROPERTY_KEY])
            record = parse_record((issue.get("properties") or {}).get(PROPERTY_KEY))
            if (deadline.state is RetroState.ALREADY_FLAGGED
                    or flagged_in(record, deadline.implemented_at)):
                rt.redis.set(marker, now.isoformat(),
                             ex=max(FLAGGED_TTL_SECONDS, MARKER_TTL_SECONDS))
                return RetroState.ALREADY_FLAGGED.value
            plan = flag_plan(change, deadline, next_meeting(calendar, now), record=record,
                             at=now.isoformat(timespec="seconds"), policy=rt.policy,
                             calendar=calendar, browse_url=f"{rt.settings.jira_base_url}/browse")
        session.carry_out(plan_id, plan, context)
        rt.redis.set(marker, now.isoformat(), ex=max(FLAGGED_TTL_SECONDS, MARKER_TTL_SECONDS))
    logger.info("retrospective overdue flagged", extra=context)
    return RetroState.OVERDUE.value
