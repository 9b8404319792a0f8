"""When the CAB meets (the policy's RRULE, in its time zone) and which periodic work is due when."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Protocol

DAY = timedelta(days=1)
LOOKAHEAD = timedelta(days=366)  # meetings are at least yearly; a rule that has ended has none
RETRO_SCAN_KEEP = timedelta(hours=2)
AGENDA_KEEP_AFTER_MEETING = timedelta(days=1)
HEALTH_KEEP = timedelta(days=2)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class MeetingRule(Protocol):
    """The meeting RRULE expanded in wall-clock time (a dateutil ``rrule``, built by the shell)."""

    def between(self, after: datetime, before: datetime, inc: bool = False) -> Iterable[datetime]:
        """Return the naive wall-clock occurrences between two naive wall-clock times."""


@dataclasses.dataclass(frozen=True)
class CabCalendar:
    """The CAB's meeting rule and time zone, loaded by the shell from the policy."""

    rule: MeetingRule
    zone: tzinfo
    zone_name: str
    agenda_hours_before: int


@dataclasses.dataclass(frozen=True)
class Meeting:
    """One CAB meeting: when it starts (in the policy's zone) and when its agenda is due."""

    at: datetime
    agenda_at: datetime

    @property
    def key(self) -> str:
        """Return the meeting's UTC start as a compact id, e.g. 20260331T1400Z."""
        return self.at.astimezone(timezone.utc).strftime("%Y%m%dT%H%MZ")


class Work(str, enum.Enum):
    """The periodic pieces of work, each done once per period."""

    AGENDA = "agenda"
    RETRO_SCAN = "retro-scan"
    SWEEP = "sweep"
    HEALTH = "health"  # last week's change health for the gauges, once a day


@dataclasses.dataclass(frozen=True)
class Period:
    """A piece of work due now: what, for which period, and until when its claim is kept."""

    work: Work
    key: str
    keep_until: datetime
    meeting: Meeting | None = None


def meetings_between(calendar: CabCalendar, start: datetime, end: datetime) -> tuple[Meeting, ...]:
    """Return the meetings with start <= meeting < end (aware datetimes), oldest first."""
    # Expand in wall-clock time with a day's margin, then compare real instants.
    wall = calendar.rule.between(_wall(start, calendar) - DAY, _wall(end, calendar) + DAY, inc=True)
    meetings = (_meeting(moment.replace(tzinfo=calendar.zone), calendar) for moment in wall)
    return tuple(m for m in meetings if start <= m.at < end)


def next_meeting(calendar: CabCalendar, now: datetime) -> Meeting | None:
    """Return the first meeting after ``now``, or None when the rule has no more."""
    upcoming = [m for m in meetings_between(calendar, now, now + LOOKAHEAD) if m.at > now]
    return upcoming[0] if upcoming else None


def previous_meeting(calendar: CabCalendar, now: datetime) -> Meeting | None:
    """Return the last meeting at or before ``now``, or None when there was none in a year."""
    past = meetings_between(calendar, now - LOOKAHEAD, now + timedelta(microseconds=1))
    return past[-1] if past else None


def due_periods(calendar: CabCalendar, now: datetime, sweep_minutes: int | None = None, *,
                health: bool = False) -> tuple[Period, ...]:
    """Return the work due at ``now``: this period's reconciliation sweep (every
    ``sweep_minutes``, when given), the upcoming meeting's agenda once its time has come, this
    hour's retrospective scan, and today's (UTC) change health count when ``health``."""
    hour = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    scan = Period(Work.RETRO_SCAN, hour.strftime("%Y%m%dT%HZ"), hour + RETRO_SCAN_KEEP)
    # The sweep comes first: a missed move waits for it, nothing waits for the agenda.
    first = () if sweep_minutes is None else (sweep_period(now, sweep_minutes),)
    day = hour.replace(hour=0)
    last = (Period(Work.HEALTH, day.strftime("%Y%m%d"), day + HEALTH_KEEP),) if health else ()
    meeting = next_meeting(calendar, now)
    if meeting is None or meeting.agenda_at > now:
        return (*first, scan, *last)
    agenda = Period(Work.AGENDA, meeting.key, meeting.at + AGENDA_KEEP_AFTER_MEETING, meeting)
    return (*first, agenda, scan, *last)


def sweep_period(now: datetime, minutes: int) -> Period:
    """Return the sweep period ``now`` falls in: periods of ``minutes`` counted from the epoch, in UTC."""
    length = timedelta(minutes=minutes)
    start = EPOCH + length * ((now - EPOCH) // length)
    return Period(Work.SWEEP, start.strftime("%Y%m%dT%H%MZ"), start + 2 * length)


def when(moment: datetime, calendar: CabCalendar) -> str:
    """Return a moment as people read it in the CAB's zone, e.g. "Tue 31 Mar 2026 15:00"."""
    local = moment.astimezone(calendar.zone)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M}"


def _meeting(at: datetime, calendar: CabCalendar) -> Meeting:
    # "24 hours before" is real time: computed in UTC, so a DST change in between counts.
    agenda_utc = at.astimezone(timezone.utc) - timedelta(hours=calendar.agenda_hours_before)
    return Meeting(at=at, agenda_at=agenda_utc.astimezone(calendar.zone))


def _wall(moment: datetime, calendar: CabCalendar) -> datetime:
    return moment.astimezone(calendar.zone).replace(tzinfo=None)
