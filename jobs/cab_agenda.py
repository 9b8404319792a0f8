"""Post the CAB agenda for a meeting as one comment on the CAB epic, edited in place on rebuild."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from rules.cab_agenda import AgendaChange, CabAgenda, build_agenda, with_chart_link
from rules.cab_schedule import CabCalendar, Meeting, previous_meeting
from rules.change_health import (ChangeFacts, caused_by_keys, facts_from_issue,
                                 has_freeze_exception, health_fields_to_fetch, weekly_health,
                                 weeks_before)
from rules.change_history import changelog_is_complete, parse_history
from rules.change_request import ChangeRequest, SnapshotError, parse_change_request
from rules.emergency_retrospective import entered_implemented
from rules.freeze import Freeze, overlapping
from rules.issue_record import PROPERTY_KEY as RECORD_KEY
from rules.policy import Category, FieldRole, StatusRole
from worker import runtime as runtime_module
from worker.health_chart import render_health_svg
from worker.jira_client import JiraNotFound
from worker.runtime import Runtime

from .change_health import COMPARED_WEEKS, updated_since_jql, week_start
from .freezes import freezes_between
from .issue_session import issue_session

logger = logging.getLogger(__name__)

AGENDA_PROPERTY = "changeguard-agenda"  # on the epic: {meeting key: comment id}
KEPT_MEETINGS = 12
COMMENT_ID_TTL_SECONDS = 60 * 24 * 3600
CHART_FILENAME = "changeguard-change-health.svg"
CHART_MIME_TYPE = "image/svg+xml"
COMING_WEEK = timedelta(days=7)


def gather_agenda(meeting: Meeting, now: datetime, *, calendar: CabCalendar,
                  runtime: Runtime | None = None, page_size: int = 100,
                  health: bool = True) -> CabAgenda:
    """Search Jira for everything the meeting reviews and build its agenda (changes nothing).

    The same searches bring what change health needs: the Closed search reaches back to the
    start of the 13 weeks compared instead of the last meeting (the only extra pages), and a
    change's ``changeguard`` property is read only when its window overlaps a freeze.
    ``health=False`` leaves the health section out (and those reads: the benchmark's baseline).
    """
    rt = runtime or runtime_module.current()
    previous = previous_meeting(calendar, meeting.at - timedelta(microseconds=1))
    weeks = weeks_before(now, COMPARED_WEEKS, calendar.zone)
    health_from, health_until = (week_start(weeks[0], calendar.zone),
                                 week_start(weeks[-1], calendar.zone) + timedelta(days=7))
    items: dict[str, AgendaChange] = {}
    facts: dict[str, ChangeFacts] = {}
    fields = health_fields_to_fetch(rt.site)

    def search(statuses: tuple[StatusRole, ...], extra: str = "", changelog: bool = False):
        ids = ", ".join(rt.site.status_ids[role] for role in statuses)
        jql = rt.policy.scoped_jql(f"status in ({ids}){extra}", order_by="key")
        return rt.jira.search_issues(jql, fields=fields, page_size=page_size,
                                     expand=("changelog",) if changelog else ())

    for statuses in ((StatusRole.AWAITING_APPROVAL,),
                     (StatusRole.APPROVED, StatusRole.IMPLEMENTING)):
        for issue in search(statuses):
            change = parse_change_request(issue, rt.site)
            items[change.key] = AgendaChange(change)
            # Not deployed (no changelog read): only an Emergency change "caused by" another
            # can count, as that one's failure.
            if health and caused_by_keys(issue["fields"]) and (rt.policy.category_of(
                    change.option(FieldRole.CATEGORY)) is Category.EMERGENCY):
                _note_facts(rt, facts, issue, change)
    # Emergency changes awaiting their retrospective, what was implemented since the last
    # meeting, and what was closed in the weeks change health compares.
    since = None if previous is None else (
        min(previous.at, health_from) if health else previous.at)
    closed_since = "" if since is None else f" AND {updated_since_jql(since)}"
    for extra, statuses in (("", (StatusRole.IMPLEMENTED,)), (closed_since, (StatusRole.CLOSED,))):
        for issue in search(statuses, extra, changelog=True):
            change = parse_change_request(issue, rt.site)
            if not changelog_is_complete(issue):
                # The search expands the latest 40 histories; the rules need them all.
                issue = {**issue, "changelog": {"histories": rt.jira.get_changelog(change.key)}}
            implemented_at = entered_implemented(parse_history(issue, rt.site), rt.site)
            items[change.key] = AgendaChange(change, implemented_at)
            # Not implemented in the weeks compared: only a "caused by" link can count there.
            if health and (implemented_at is not None and implemented_at >= health_from
                           or caused_by_keys(issue["fields"])):
                _note_facts(rt, facts, issue, change)
    table = None
    if health:
        _read_freeze_exceptions(rt, facts, items,
                                freezes_between(rt, health_from, health_until),
                                health_from, health_until)
        table = weekly_health(facts.values(), weeks, calendar.zone, now=now,
                              retrospective_hours=rt.policy.cab.retrospective_due_hours)
    return build_agenda(meeting, previous, items.values(), now=now, policy=rt.policy,
                        site=rt.site, calendar=calendar,
                        browse_url=f"{rt.settings.jira_base_url}/browse",
                        freezes=freezes_between(rt, now, now + COMING_WEEK), health=table)


def _note_facts(rt: Runtime, facts: dict[str, ChangeFacts], issue: Mapping[str, Any],
                change: ChangeRequest) -> None:
    try:
        fact = facts_from_issue(issue, rt.site, rt.policy, change=change)
    except SnapshotError as exc:
        logger.warning("change unreadable for health", extra={"error": str(exc)})
        return
    facts[fact.key] = fact


def _read_freeze_exceptions(rt: Runtime, facts: dict[str, ChangeFacts],
                            items: Mapping[str, AgendaChange], freezes: tuple[Freeze, ...],
                            start: datetime, end: datetime) -> None:
    """Read the record of each change deployed in [start, end) whose window overlaps a freeze:
    only such a change can have needed a freeze exception."""
    if not freezes:
        return
    for key, fact in list(facts.items()):
        window = _window(items[key].change) if key in items else None
        if (window is None or not overlapping(*window, freezes)
                or not any(start <= done.at < end for done in fact.implementations)):
            continue
        record = rt.jira.get_issue_property(key, RECORD_KEY)
        facts[key] = dataclasses.replace(fact, freeze_exception=has_freeze_exception(record))


def _window(change: ChangeRequest) -> tuple[datetime, datetime] | None:
    start = change.datetime_of(FieldRole.PLANNED_START)
    end = change.datetime_of(FieldRole.PLANNED_END)
    return (start, end) if start is not None and end is not None else None


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
        if agenda.health is not None:  # under the epic's lock: two posts never swap charts
            agenda = with_chart_link(agenda, replace_chart(rt, render_health_svg(agenda.health)))
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


def replace_chart(rt: Runtime, svg: bytes) -> str:
    """Attach this week's health chart to the CAB epic, delete the earlier ones; return its URL.

    Attached first, deleted after: a failure in between leaves two charts, never none.
    """
    epic = rt.policy.cab.epic_key
    attached = rt.jira.add_attachment(epic, CHART_FILENAME, svg, CHART_MIME_TYPE)
    for earlier in rt.jira.get_attachments(epic):
        if earlier.get("filename") == CHART_FILENAME and str(earlier.get("id")) != str(
                attached.get("id")):
            try:
                rt.jira.delete_attachment(str(earlier["id"]))
            except JiraNotFound:
                pass  # another run deleted it already
    logger.info("health chart attached", extra={"issue_key": epic,
                                                "attachment_id": attached.get("id")})
    return str(attached.get("content") or
               f"{rt.settings.jira_base_url}/rest/api/3/attachment/content/{attached.get('id')}")


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
