"""Publish the calendar of approved changes: one event per Approved, Implementing or Implemented window."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone

from .change_request import ChangeRequest
from .policy import FieldRole, Policy, StatusRole
from .site_map import SiteMap

# Every text of the feed; tests compare against these.
CALENDAR_NAME = "Change calendar"
CALENDAR_DESCRIPTION = "Approved, implementing and implemented change requests, with their windows"
SUMMARY = "[{category}] {key} {summary}"
SUMMARY_WITHOUT_CATEGORY = "{key} {summary}"
DESCRIPTION = "Category: {category}\nRisk level: {risk}\nStatus: {status}\n{url}"
NOT_SET = "not set"
UID = "{key}@changeguard.{host}"
REFRESH = timedelta(minutes=15)


class EventStatus(str, enum.Enum):
    """RFC 5545 STATUS values an event of the change calendar can carry."""

    TENTATIVE = "TENTATIVE"
    CONFIRMED = "CONFIRMED"


# An approved change may still be withdrawn (an edit sends it back for approval) or moved, so
# it is tentative; once work has started its window is a fact.
EVENT_STATUS = {
    StatusRole.APPROVED: EventStatus.TENTATIVE,
    StatusRole.IMPLEMENTING: EventStatus.CONFIRMED,
    StatusRole.IMPLEMENTED: EventStatus.CONFIRMED,
}
PUBLISHED_STATUSES = tuple(EVENT_STATUS)


@dataclasses.dataclass(frozen=True)
class CalendarEvent:
    """One change window as a VEVENT: times in UTC, texts ready to print."""

    uid: str
    summary: str
    description: str
    url: str
    start: datetime
    end: datetime
    status: EventStatus
    categories: tuple[str, ...]
    stamp: datetime
    last_modified: datetime | None


@dataclasses.dataclass(frozen=True)
class ChangeCalendar:
    """The whole feed: its name, how often clients should refresh, and its events in time order."""

    name: str
    description: str
    refresh: timedelta
    events: tuple[CalendarEvent, ...]
    skipped: tuple[str, ...]  # keys of published-status changes without a usable window


def calendar_jql(policy: Policy, site: SiteMap) -> str:
    """Return the JQL of the changes in scope and in a published status.

    By status id, as every search: a status's name may be renamed or shown in another language.
    """
    ids = ", ".join(site.status_ids[role] for role in PUBLISHED_STATUSES)
    return policy.scoped_jql(f"status in ({ids})")


def build_change_calendar(
    changes: Iterable[ChangeRequest],
    *,
    policy: Policy,
    site: SiteMap,
    browse_url: str,
    site_host: str,
    now: datetime,
    updated: Mapping[str, datetime] | None = None,
) -> ChangeCalendar:
    """Return the calendar of ``changes`` in a published status that have a whole window.

    ``browse_url`` is the site's issue link base (``https://acme.atlassian.net/browse/``),
    ``updated`` the issues' last update times by key, used for LAST-MODIFIED and DTSTAMP
    (``now`` stands in where it is unknown).
    """
    updated = updated or {}
    events, skipped = [], []
    for cr in changes:
        role = site.status_role(cr.status_id)
        if role not in EVENT_STATUS:
            continue
        start = cr.datetime_of(FieldRole.PLANNED_START)
        end = cr.datetime_of(FieldRole.PLANNED_END)
        # Emergency changes may carry no window; an event needs one that ends after it starts.
        if start is None or end is None or end <= start:
            skipped.append(cr.key)
            continue
        events.append(_event(cr, role, start, end, policy, browse_url, site_host, now,
                             updated.get(cr.key)))
    events.sort(key=lambda event: (event.start, event.uid))
    return ChangeCalendar(CALENDAR_NAME, CALENDAR_DESCRIPTION, REFRESH, tuple(events),
                          tuple(skipped))


def _event(cr: ChangeRequest, role: StatusRole, start: datetime, end: datetime, policy: Policy,
           browse_url: str, site_host: str, now: datetime,
           modified: datetime | None) -> CalendarEvent:
    category = cr.option(FieldRole.CATEGORY)
    url = browse_url + cr.key
    summary = (SUMMARY if category else SUMMARY_WITHOUT_CATEGORY).format(
        category=category, key=cr.key, summary=" ".join(cr.summary.split()))
    modified = _utc(modified) if modified is not None else None
    return CalendarEvent(
        uid=UID.format(key=cr.key, host=site_host),
        summary=summary,
        description=DESCRIPTION.format(
            category=category or NOT_SET, risk=cr.option(FieldRole.RISK_LEVEL) or NOT_SET,
            status=policy.status_names[role], url=url),
        url=url,
        start=_utc(start),
        end=_utc(end),
        status=EVENT_STATUS[role],
        categories=(category,) if category else (),
        stamp=modified or _utc(now),
        last_modified=modified,
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)
