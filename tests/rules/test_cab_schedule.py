"""The CAB's meetings from the policy RRULE in Europe/London, across both DST changes."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from jobs.periodic import cab_calendar
from rules.cab_schedule import (Period, Work, due_periods, meetings_between, next_meeting,
                                previous_meeting, when)
from rules.policy import parse_policy
from worker.policy_file import load_policy

POLICY = load_policy()
CAL = cab_calendar(POLICY)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def calendar_for(rule: str, hours: int = 24):
    text = Path(POLICY.source).read_text()
    text = text.replace('meeting_rrule = "FREQ=WEEKLY;BYDAY=TU;BYHOUR=15;BYMINUTE=0;BYSECOND=0"',
                        f'meeting_rrule = "{rule}"').replace("agenda_hours_before = 24",
                                                              f"agenda_hours_before = {hours}")
    return cab_calendar(parse_policy(text))


# Summer time 2026 starts Sun 29 Mar (01:00 UTC) and ends Sun 25 Oct (01:00 UTC).
@pytest.mark.parametrize("start, end, expected", [
    (utc(2026, 3, 20), utc(2026, 4, 3), [utc(2026, 3, 24, 15), utc(2026, 3, 31, 14)]),
    (utc(2026, 10, 16), utc(2026, 10, 30), [utc(2026, 10, 20, 14), utc(2026, 10, 27, 15)]),
    (utc(2026, 3, 24, 15), utc(2026, 3, 31, 14), [utc(2026, 3, 24, 15)]),
    (utc(2026, 3, 25), utc(2026, 3, 26), []),
], ids=["march-spring-forward", "october-fall-back", "start-inclusive-end-exclusive", "none"])
def test_meetings_stay_at_1500_london(start, end, expected):
    meetings = meetings_between(CAL, start, end)
    assert [m.at for m in meetings] == expected
    assert all((m.at.hour, m.at.minute, m.at.tzname()) in {(15, 0, "GMT"), (15, 0, "BST")}
               for m in meetings)


@pytest.mark.parametrize("now, nxt, agenda, prev", [
    (utc(2026, 3, 28, 12), utc(2026, 3, 31, 14), utc(2026, 3, 30, 14), utc(2026, 3, 24, 15)),
    (utc(2026, 3, 31, 14), utc(2026, 4, 7, 14), utc(2026, 4, 6, 14), utc(2026, 3, 31, 14)),
    (utc(2026, 10, 26, 9), utc(2026, 10, 27, 15), utc(2026, 10, 26, 15), utc(2026, 10, 20, 14)),
], ids=["before-spring-forward", "at-a-meeting", "after-fall-back"])
def test_next_and_previous_meeting_and_agenda_time(now, nxt, agenda, prev):
    meeting = next_meeting(CAL, now)
    assert (meeting.at, meeting.agenda_at, previous_meeting(CAL, now).at) == (nxt, agenda, prev)


def test_agenda_hours_are_real_hours_across_the_change():
    # A Monday 09:00 meeting with the agenda 24 real hours before: Sunday 08:00 BST on 29 March.
    calendar = calendar_for("FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;BYSECOND=0")
    meeting = next_meeting(calendar, utc(2026, 3, 28))
    assert (meeting.at, meeting.agenda_at) == (utc(2026, 3, 30, 8), utc(2026, 3, 29, 8))
    assert when(meeting.agenda_at, calendar) == "Sun 29 Mar 2026 09:00"
    assert meeting.key == "20260330T0800Z"


def test_a_rule_that_has_ended_has_no_next_or_previous_meeting():
    calendar = calendar_for("FREQ=WEEKLY;BYDAY=TU;BYHOUR=15;UNTIL=20240201T000000")
    assert next_meeting(calendar, utc(2026, 1, 1)) is None
    assert previous_meeting(calendar, utc(2026, 1, 1)) is None
    assert due_periods(calendar, utc(2026, 1, 1, 10, 30)) == (
        Period(Work.RETRO_SCAN, "20260101T10Z", utc(2026, 1, 1, 12)),)


@pytest.mark.parametrize("now, expected", [
    (utc(2026, 3, 30, 13, 59), [(Work.RETRO_SCAN, "20260330T13Z", utc(2026, 3, 30, 15))]),
    (utc(2026, 3, 30, 14, 0), [(Work.AGENDA, "20260331T1400Z", utc(2026, 4, 1, 14)),
                               (Work.RETRO_SCAN, "20260330T14Z", utc(2026, 3, 30, 16))]),
    (utc(2026, 3, 31, 13, 59, 59), [(Work.AGENDA, "20260331T1400Z", utc(2026, 4, 1, 14)),
                                    (Work.RETRO_SCAN, "20260331T13Z", utc(2026, 3, 31, 15))]),
    (utc(2026, 3, 31, 14, 0), [(Work.RETRO_SCAN, "20260331T14Z", utc(2026, 3, 31, 16))]),
], ids=["before-agenda-time", "at-agenda-time", "missed-until-just-before-meeting",
        "meeting-started"])
def test_due_periods(now, expected):
    assert [(p.work, p.key, p.keep_until) for p in due_periods(CAL, now)] == expected


@pytest.mark.parametrize("now, minutes, expected", [
    (utc(2026, 3, 30, 13, 59), 5, [(Work.SWEEP, "20260330T1355Z", utc(2026, 3, 30, 14, 5)),
                                   (Work.RETRO_SCAN, "20260330T13Z", utc(2026, 3, 30, 15))]),
    (utc(2026, 3, 30, 14, 0), 5, [(Work.SWEEP, "20260330T1400Z", utc(2026, 3, 30, 14, 10)),
                                  (Work.AGENDA, "20260331T1400Z", utc(2026, 4, 1, 14)),
                                  (Work.RETRO_SCAN, "20260330T14Z", utc(2026, 3, 30, 16))]),
    (utc(2026, 3, 30, 14, 4, 59), 5, [(Work.SWEEP, "20260330T1400Z", utc(2026, 3, 30, 14, 10)),
                                      (Work.AGENDA, "20260331T1400Z", utc(2026, 4, 1, 14)),
                                      (Work.RETRO_SCAN, "20260330T14Z", utc(2026, 3, 30, 16))]),
    (utc(2026, 3, 30, 13, 59), 1, [(Work.SWEEP, "20260330T1359Z", utc(2026, 3, 30, 14, 1)),
                                   (Work.RETRO_SCAN, "20260330T13Z", utc(2026, 3, 30, 15))]),
    (utc(2026, 3, 30, 13, 59), 45, [(Work.SWEEP, "20260330T1330Z", utc(2026, 3, 30, 15, 0)),
                                    (Work.RETRO_SCAN, "20260330T13Z", utc(2026, 3, 30, 15))]),
], ids=["every-5-minutes", "with-the-agenda-first-minute", "last-second-same-period",
        "every-minute", "periods-count-from-the-epoch"])
def test_the_sweep_is_due_once_per_period_before_other_work(now, minutes, expected):
    assert [(p.work, p.key, p.keep_until)
            for p in due_periods(CAL, now, sweep_minutes=minutes)] == expected


@pytest.mark.parametrize("now, expected", [
    (utc(2026, 3, 30, 0, 0), [(Work.RETRO_SCAN, "20260330T00Z", utc(2026, 3, 30, 2)),
                              (Work.HEALTH, "20260330", utc(2026, 4, 1))]),
    (utc(2026, 3, 29, 23, 59), [(Work.RETRO_SCAN, "20260329T23Z", utc(2026, 3, 30, 1)),
                                (Work.HEALTH, "20260329", utc(2026, 3, 31))]),
    (utc(2026, 3, 30, 14, 0), [(Work.AGENDA, "20260331T1400Z", utc(2026, 4, 1, 14)),
                               (Work.RETRO_SCAN, "20260330T14Z", utc(2026, 3, 30, 16)),
                               (Work.HEALTH, "20260330", utc(2026, 4, 1))]),
], ids=["first-minute-of-the-day", "last-minute-of-the-day", "after-the-agenda"])
def test_the_health_count_is_due_once_a_utc_day_after_everything_else(now, expected):
    assert [(p.work, p.key, p.keep_until) for p in due_periods(CAL, now, health=True)] == expected
