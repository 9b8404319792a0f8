"""Post the CAB agenda for a meeting as one comment on the CAB epic, edited in place on rebuild."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from rules.cab_agenda import AgendaChange, CabAgenda, build_agenda
from rules.cab_schedule import CabCalendar, Meeting, previous_meeting
from rules.change_request import fields_to_fetch, parse_change_request
from rules.policy import StatusRole
from worker import runtime as runtime_module
from worker.jira_client import JiraNotFound
from worker.runtime import Runtime

from .issue_session import issue_session
from .retrospectives import implemented_changes

logger = logging.getLogger(__name__)

AGENDA_PROPERTY = "changeguard-agenda"  # on the epic: {meeting key: comment id}
KEPT_MEETINGS = 12
COMMENT_ID_TTL_SECONDS = 60 * 24 * 3600


def gather_agenda(meeting: Meeting, now: datetime, *, calendar: CabCalendar,
                  runtime: Runtime | None = None, page_size: int = 100) -> CabAgenda:
    """Search Jira for everything the meeting reviews and build its agenda (changes nothing)."""
    rt = runtime or runtime_module.current()
    previous = previous_meeting(calendar, meeting.at - timedelta(microseconds=1))
    items: dict[str, AgendaChange] = {}
    for status in ((StatusRole.AWAITING_APPROVAL,), (StatusRole.APPROVED, StatusRole.IMPLEMENTING)):
        ids = ", ".join(rt.site.status_ids[role] for role in status)
        jql = rt.policy.scoped_jql(f"status in ({ids})", order_by="key")
        for issue in rt.jira.search_issues(jql, fields=fields_to_fetch(rt.site),
                                           page_size=page_size):
            change = parse_change_request(issue, rt.site)
            items[change.key] = AgendaChange(change)
    # Emergency changes awaiting their retrospective, and what was implemented since the last
    # meeting (anything updated since then, give or take a day for JQL's user time zone).
    since = "" if previous is None else (
        f' AND updated >= "{(previous.at - timedelta(days=1)).astimezone(timezone.utc):%Y-%m-%d %H:%M}"')
    for extra, statuses in (("", (StatusRole.IMPLEMENTED,)),
                            (since, (StatusRole.CLOSED,))):
        for change, implemented_at in implemented_changes(rt, statuses=statuses, extra_jql=extra,
                                                          page_size=page_size):
            items[change.key] = AgendaChange(change, implemented_at)
    return build_agenda(meeting, previous, items.values(), now=now, policy=rt.policy,
                        site=rt.site, calendar=calendar,
                        browse_url=f"{rt.settings.jira_base_url}/browse")


def post_cab_agenda(meeting: Meeting, now: datetime, *, calendar: CabCalendar,
                    runtime: Runtime | None = None, page_size: int = 100,
                    agenda: CabAgenda | None = None) -> dict[str, str]:
    """Post the meeting's agenda (built now unless given) on the CAB epic, or edit the earlier one."""
    rt = runtime or runtime_module.current()
    if agenda is None:
        agenda = gather_agenda(meeting, now, calendar=calendar, runtime=rt, page_size=page_size)
    epic = rt.policy.cab.epic_key
    context = {"issue_key": epic, "meeting": meeting.key}
    with issue_session(rt, epic):
        comment_id = stored_comment_id(rt, meeting)
        if comment_id is not None:
            try:
                rt.jira.update_comment(epic, comment_id, agenda.body)
                logger.info("cab agenda updated", extra={**context, "comment_id": comment_id})
                return {"meeting": meeting.key, "comment_id": comment_id, "action": "updated"}
            except JiraNotFound:
                logger.warning("cab agenda comment gone, posting anew", extra=context)
        comment_id = str(rt.jira.add_comment(epic, agenda.body)["id"])
        remember_comment_id(rt, meeting, comment_id)
    logger.info("cab agenda posted", extra={**context, "comment_id": comment_id})
    return {"meeting": meeting.key, "comment_id": comment_id, "action": "posted"}


def stored_comment_id(rt: Runtime, meeting: Meeting) -> str | None:
    """Return the id of the agenda comment already posted for the meeting (Redis, then the epic)."""
    cached = rt.redis.get(rt.settings.key("agenda", meeting.key))
    if cached:
        return cached.decode()
    stored = rt.jira.get_issue_property(rt.policy.cab.epic_key, AGENDA_PROPERTY)
    found = stored.get(meeting.key) if isinstance(stored, dict) else None
    return str(found) if found else None


def remember_comment_id(rt: Runtime, meeting: Meeting, comment_id: str) -> None:
    """Keep the agenda comment's id in Redis and on the epic, so a Redis flush loses nothing."""
    rt.redis.set(rt.settings.key("agenda", meeting.key), comment_id, ex=COMMENT_ID_TTL_SECONDS)
    epic = rt.policy.cab.epic_key
    stored = rt.jira.get_issue_property(epic, AGENDA_PROPERTY)
    known = dict(stored) if isinstance(stored, dict) else {}
    known[meeting.key] = comment_id
    rt.jira.set_issue_property(epic, AGENDA_PROPERTY,
                               dict(sorted(known.items())[-KEPT_MEETINGS:]))
