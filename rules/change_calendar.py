"""Publish the change calendar: one event per Approved, Implementing or Implemented window, and
one per change freeze."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone, tzinfo

from .change_request import ChangeRequest
from .freeze import POLICY_SOURCE, Freeze, FreezeRule
from .policy import FieldRole, FreezeKind, GroupRole, Policy, StatusRole
from .site_map import SiteMap

# Every text of the feed; tests compare against these.
CALENDAR_NAME = "Change calendar"
CALENDAR_DESCRIPTION = ("Approved, implementing and implemented change requests, with their "
                        "windows, and the change freezes")
SUMMARY = "[{category}] {key} {summary}"
SUMMARY_WITHOUT_CATEGORY = "{key} {summary}"
DESCRIPTION = "Category: {category}\nRisk level: {risk}\nStatus: {status}\n{url}"
NOT_SET = "not set"
UID = "{key}@changeguard.{host}"
REFRESH = timedelta(minutes=15)
FREEZE_CATEGORY = "Freeze"
FREEZE_SUMMARY = "{kind} freeze: {name}"
FREEZE_ALLOWS = {
    FreezeKind.HARD: "A hard freeze: only Emergency changes may go ahead.",
    FreezeKind.SOFT: ("A soft freeze: Emergency changes may go ahead, and Normal or Standard "
                      "changes with a freeze exception from {group}."),
}
FREEZE_UID = "freeze-{key}@changeguard.{host}"
# Recurring freezes are listed from a month back to a year ahead of the feed's build; changes
# and declared freezes are listed whenever they are.
FREEZES_BEHIND = timedelta(days=31)
FREEZES_AHEAD = timedelta(days=366)


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
    url: str  # empty: the event links nowhere (a recurring freeze)
    start: datetime
    end: datetime
    status: EventStatus
    categories: tuple[str, ...]
    stamp: datetime
    last_modified: datetime | None
    # An all-day event's first day and the day after its last (DTEND is exclusive), in the
    # zone it was declared in; None for a timed event.
    days: tuple[date, date] | None = None
    transparent: bool = False  # takes nobody's time (a freeze): TRANSP:TRANSPARENT


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


def freeze_horizon(now: datetime) -> tuple[datetime, datetime]:
    """Return the range the feed built at ``now`` lists recurring freezes over."""
    return now - FREEZES_BEHIND, now + FREEZES_AHEAD


def build_change_calendar(
    changes: Iterable[ChangeRequest],
    *,
    policy: Policy,
    site: SiteMap,
    browse_url: str,
    site_host: str,
    now: datetime,
    updated: Mapping[str, datetime] | None = None,
    freezes: Iterable[Freeze] = (),
    freeze_rules: Iterable[FreezeRule] = (),
    cab_zone: tzinfo = timezone.utc,
) -> ChangeCalendar:
    """Return the calendar of ``changes`` in a published status that have a whole window, and of
    ``freezes``.

    ``browse_url`` is the site's issue link base (``https://acme.atlassian.net/browse/``),
    ``updated`` the issues' last update times by key, used for LAST-MODIFIED and DTSTAMP
    (``now`` stands in where it is unknown). A freeze is all-day when it starts and ends at
    midnight in its zone: its recurring rule's (``freeze_rules``), else ``cab_zone``.
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
    zones = {rule.spec.name: rule.zone for rule in freeze_rules}
    for freeze in freezes:
        zone = zones.get(freeze.name, cab_zone) if freeze.source == POLICY_SOURCE else cab_zone
        events.append(_freeze_event(freeze, zone, policy, browse_url, site_host, now))
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


def _freeze_event(freeze: Freeze, zone: tzinfo, policy: Policy, browse_url: str,
                  site_host: str, now: datetime) -> CalendarEvent:
    url = "" if freeze.source == POLICY_SOURCE else browse_url + freeze.source
    allows = FREEZE_ALLOWS[freeze.kind].format(
        group=policy.group_names[GroupRole.HEAD_OF_ENGINEERING])
    return CalendarEvent(
        uid=FREEZE_UID.format(key=_uid_safe(freeze.key), host=site_host),
        summary=FREEZE_SUMMARY.format(kind=freeze.kind.value.capitalize(),
                                      name=" ".join(freeze.name.split())),
        description="\n".join(line for line in (freeze.reason, allows, url) if line),
        url=url,
        start=_utc(freeze.start),
        end=_utc(freeze.end),
        status=EventStatus.CONFIRMED,
        categories=(FREEZE_CATEGORY,),
        stamp=_utc(now),
        last_modified=None,
        days=_whole_days(freeze.start, freeze.end, zone),
        transparent=True,
    )


def _whole_days(start: datetime, end: datetime, zone: tzinfo) -> tuple[date, date] | None:
    """Return the days [first, after last) when both ends are midnight in ``zone``, else None."""
    first, after = start.astimezone(zone), end.astimezone(zone)
    if not (_midnight(first) and _midnight(after)):
        return None
    return first.date(), after.date()


def _midnight(local: datetime) -> bool:
    return (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)


def _uid_safe(key: str) -> str:
    """Return ``key`` with what is not a letter, digit or ``-._~`` percent-encoded (UTF-8): a
    recurring freeze's key holds its name ("Year end@20261224T0000Z")."""
    return re.sub(r"[^A-Za-z0-9._~-]",
                  lambda m: "".join(f"%{byte:02X}" for byte in m.group().encode()), key)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)
