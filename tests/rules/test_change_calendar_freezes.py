"""Change freezes in the change calendar: all-day or timed, in their zone, with stable UIDs."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from rules.change_calendar import (CalendarEvent, EventStatus, build_change_calendar,
                                   freeze_horizon)
from rules.freeze import POLICY_SOURCE, Freeze, recurring_freezes
from rules.policy import FreezeKind, RecurringFreeze, StatusRole
from worker.freeze_rules import freeze_rules
from worker.policy_file import parse_policy
from worker.settings import DEFAULT_POLICY_PATH

from ..builders import with_example_freezes
from .builders import SITE, change

POLICY = parse_policy(with_example_freezes(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")))
RULES = freeze_rules(POLICY)
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 10, 1, 9, 30, tzinfo=timezone.utc)
BROWSE = "https://acme.atlassian.net/browse/"
HOST = "acme.atlassian.net"
HARD_ALLOWS = "A hard freeze: only Emergency changes may go ahead."
SOFT_ALLOWS = ("A soft freeze: Emergency changes may go ahead, and Normal or Standard changes "
               "with a freeze exception from head-of-engineering.")
WEEKEND_REASON = "Fewer people are at work to watch a change and roll it back over the weekend."
YEAR_END_REASON = ("Holidays: most of the company is away and year-end trading must not be "
                   "disturbed.")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def freeze_event(uid: str, summary: str, description: str, start: datetime, end: datetime,
                 days: tuple[date, date] | None = None, url: str = "") -> CalendarEvent:
    return CalendarEvent(uid=f"freeze-{uid}@changeguard.{HOST}", summary=summary,
                         description=description, url=url, start=start, end=end,
                         status=EventStatus.CONFIRMED, categories=("Freeze",), stamp=NOW,
                         last_modified=None, days=days, transparent=True)


def declared(start: datetime, end: datetime, kind: FreezeKind = FreezeKind.HARD,
             name: str = "Payments migration", reason: str = "The ledger is being moved.",
             key: str = "CHG-90") -> Freeze:
    return Freeze(name, kind, start.astimezone(timezone.utc), end.astimezone(timezone.utc),
                  reason, key)


NEW_YORK_CLOSE = RecurringFreeze(name="Quarter close", rrule="FREQ=YEARLY;BYMONTH=12;"
                                 "BYMONTHDAY=30;BYHOUR=0;BYMINUTE=0;BYSECOND=0",
                                 duration=timedelta(days=2), timezone="America/New_York",
                                 kind=FreezeKind.SOFT, reason="Books close.")

# id, freezes, extra rules, expected events
CASES = [
    ("recurring-year-end-is-all-day-in-its-zone",
     recurring_freezes(RULES, utc(2026, 12, 20), utc(2026, 12, 25))[-1:], (),
     [freeze_event("Year%20end%4020261224T0000Z", "Hard freeze: Year end",
                   f"{YEAR_END_REASON}\n{HARD_ALLOWS}", utc(2026, 12, 24), utc(2027, 1, 2),
                   (date(2026, 12, 24), date(2027, 1, 2)))]),
    ("recurring-weekend-is-timed",
     recurring_freezes(RULES, utc(2026, 7, 10), utc(2026, 7, 11))[:1], (),
     [freeze_event("Weekend%4020260710T1400Z", "Soft freeze: Weekend",
                   f"{WEEKEND_REASON}\n{SOFT_ALLOWS}", utc(2026, 7, 10, 14),
                   utc(2026, 7, 13, 7))]),
    ("declared-midnight-in-the-cab-zone-is-all-day",
     (declared(datetime(2026, 7, 20, tzinfo=LONDON), datetime(2026, 7, 22, tzinfo=LONDON)),),
     (), [freeze_event("CHG-90", "Hard freeze: Payments migration",
                       f"The ledger is being moved.\n{HARD_ALLOWS}\n{BROWSE}CHG-90",
                       utc(2026, 7, 19, 23), utc(2026, 7, 21, 23),
                       (date(2026, 7, 20), date(2026, 7, 22)), url=f"{BROWSE}CHG-90")]),
    ("declared-midnight-utc-is-timed-in-a-london-summer",
     (declared(utc(2026, 7, 20), utc(2026, 7, 22), FreezeKind.SOFT),), (),
     [freeze_event("CHG-90", "Soft freeze: Payments migration",
                   f"The ledger is being moved.\n{SOFT_ALLOWS}\n{BROWSE}CHG-90",
                   utc(2026, 7, 20), utc(2026, 7, 22), url=f"{BROWSE}CHG-90")]),
    ("declared-ending-at-noon-is-timed",
     (declared(datetime(2026, 7, 20, tzinfo=LONDON), datetime(2026, 7, 21, 12, tzinfo=LONDON)),),
     (), [freeze_event("CHG-90", "Hard freeze: Payments migration",
                       f"The ledger is being moved.\n{HARD_ALLOWS}\n{BROWSE}CHG-90",
                       utc(2026, 7, 19, 23), utc(2026, 7, 21, 11), url=f"{BROWSE}CHG-90")]),
    ("recurring-in-another-zone-is-all-day-there",
     recurring_freezes(freeze_rules(dataclasses.replace(POLICY, freezes=dataclasses.replace(
         POLICY.freezes, recurring=(NEW_YORK_CLOSE,)))), utc(2026, 12, 29), utc(2026, 12, 31)),
     (NEW_YORK_CLOSE,),
     [freeze_event("Quarter%20close%4020261230T0500Z", "Soft freeze: Quarter close",
                   f"Books close.\n{SOFT_ALLOWS}", utc(2026, 12, 30, 5), utc(2027, 1, 1, 5),
                   (date(2026, 12, 30), date(2027, 1, 1)))]),
    ("name-whitespace-flattened-and-uid-encoded",
     (Freeze("Ünïcode  \n week", FreezeKind.HARD, utc(2026, 7, 20, 9), utc(2026, 7, 20, 17),
             "Why", POLICY_SOURCE),), (),
     [freeze_event("%C3%9Cn%C3%AFcode%20%20%0A%20week%4020260720T0900Z",
                   "Hard freeze: Ünïcode week", f"Why\n{HARD_ALLOWS}", utc(2026, 7, 20, 9),
                   utc(2026, 7, 20, 17))]),
]


@pytest.mark.parametrize("freezes, specs, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_freeze_events(freezes, specs, expected):
    policy = dataclasses.replace(POLICY, freezes=dataclasses.replace(
        POLICY.freezes, recurring=POLICY.freezes.recurring + specs))
    calendar = build_change_calendar([], policy=policy, site=SITE, browse_url=BROWSE,
                                     site_host=HOST, now=NOW, freezes=freezes,
                                     freeze_rules=freeze_rules(policy), cab_zone=LONDON)
    assert list(calendar.events) == expected


def test_the_weekend_freeze_across_the_clocks_going_back_keeps_its_wall_clock_times():
    """Friday 15:00 summer time to Monday 08:00 winter time: 66 real hours, in UTC."""
    weekend = [f for f in recurring_freezes(RULES, *freeze_horizon(NOW))
               if f.name == "Weekend" and f.start.month == 10 and f.start.day == 23]
    calendar = build_change_calendar([], policy=POLICY, site=SITE, browse_url=BROWSE,
                                     site_host=HOST, now=NOW, freezes=weekend,
                                     freeze_rules=RULES, cab_zone=LONDON)
    [event] = calendar.events
    assert (event.start, event.end, event.days) == (utc(2026, 10, 23, 14), utc(2026, 10, 26, 8),
                                                    None)
    assert event.start.astimezone(LONDON).hour == 15 and event.end.astimezone(LONDON).hour == 8


def test_the_horizon_is_a_month_back_and_a_year_ahead():
    assert freeze_horizon(NOW) == (utc(2026, 8, 31, 9, 30), utc(2027, 10, 2, 9, 30))


def test_freezes_and_changes_are_in_one_time_order():
    freeze = declared(utc(2026, 12, 1, 9), utc(2026, 12, 1, 10, 30))
    calendar = build_change_calendar([change("Normal", status=StatusRole.APPROVED)],
                                     policy=POLICY, site=SITE, browse_url=BROWSE,
                                     site_host=HOST, now=NOW, freezes=(freeze,),
                                     freeze_rules=RULES, cab_zone=LONDON)
    assert [e.uid for e in calendar.events] == [
        f"freeze-CHG-90@changeguard.{HOST}", f"CHG-7@changeguard.{HOST}"]
    assert [e.transparent for e in calendar.events] == [True, False]
