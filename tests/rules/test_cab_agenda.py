"""The CAB agenda: four sections, in order, and the exact text of the comment."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from jobs.periodic import cab_calendar
from rules.cab_agenda import AgendaChange, build_agenda
from rules.cab_schedule import next_meeting, previous_meeting
from rules.policy import FieldRole, StatusRole
from worker.policy_file import load_policy

from .builders import SITE, change

POLICY = load_policy()
CAL = cab_calendar(POLICY)
NOW = datetime(2026, 3, 30, 14, 0, tzinfo=timezone.utc)  # agenda time of Tue 31 Mar 15:00 BST
MEETING = next_meeting(CAL, NOW)
PREVIOUS = previous_meeting(CAL, NOW)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def cr(key, category, status, summary="Change", start=None, end=None, **kw):
    base = change(category, status=status, start=start, end=end, **kw)
    return dataclasses.replace(base, key=key, summary=summary)


def with_risk(c, risk):
    return dataclasses.replace(c, options={**c.options, FieldRole.RISK_LEVEL: risk})


ITEMS = [
    AgendaChange(with_risk(cr("CHG-12", "Normal", StatusRole.AWAITING_APPROVAL, "Later one",
                              utc(2026, 4, 2, 9), utc(2026, 4, 3, 10)), "High")),
    AgendaChange(cr("CHG-3", "Normal", StatusRole.AWAITING_APPROVAL, "Earlier one",
                    utc(2026, 4, 1, 9), utc(2026, 4, 1, 10), rollback_plan="TBD")),
    AgendaChange(cr("CHG-4", "Normal", StatusRole.AWAITING_APPROVAL, "No window")),
    AgendaChange(cr("CHG-5", "Standard", StatusRole.AWAITING_APPROVAL, "Standard: not listed")),
    AgendaChange(cr("CHG-6", "Emergency", StatusRole.IMPLEMENTED, "Not yet due",
                    commander="712020:ivan"), utc(2026, 3, 29, 20)),
    AgendaChange(cr("CHG-7", "Emergency", StatusRole.IMPLEMENTED, "Overdue"), utc(2026, 3, 25, 8)),
    AgendaChange(cr("CHG-8", "Emergency", StatusRole.IMPLEMENTED, "No changelog")),
    AgendaChange(cr("CHG-9", "Normal", StatusRole.CLOSED, "Done", outcome="Successful"),
                 utc(2026, 3, 26, 11)),
    AgendaChange(cr("CHG-10", "Normal", StatusRole.CLOSED, "Before the last meeting",
                    outcome="Failed"), utc(2026, 3, 24, 14)),
    AgendaChange(cr("CHG-13", "Normal", StatusRole.APPROVED, "Window A",
                    utc(2026, 4, 1, 9), utc(2026, 4, 1, 11))),
    AgendaChange(cr("CHG-14", "Normal", StatusRole.IMPLEMENTING, "Window B",
                    utc(2026, 4, 1, 10), utc(2026, 4, 1, 12))),
    AgendaChange(cr("CHG-15", "Normal", StatusRole.APPROVED, "Touches B only at its end",
                    utc(2026, 4, 1, 12), utc(2026, 4, 1, 13))),
    AgendaChange(cr("CHG-16", "Normal", StatusRole.APPROVED, "No window")),
]

EXPECTED = """\
CAB agenda for Tue 31 Mar 2026 15:00 (Europe/London)
Overdue emergency retrospectives (2)
CHG-8 “No changelog” · retrospective due: unknown (no move into Implemented in the changelog) · IC not set
CHG-7 “Overdue” · implemented Wed 25 Mar 2026 08:00 · retrospective overdue since Fri 27 Mar 2026 08:00 · IC not set
Normal changes awaiting approval (3)
CHG-3 “Earlier one” · window Wed 1 Apr 2026 10:00–11:00 · risk not set · reporter @712020:alice · rollback plan no
CHG-12 “Later one” · window Thu 2 Apr 2026 10:00 – Fri 3 Apr 2026 11:00 · risk High · reporter @712020:alice · rollback plan yes
CHG-4 “No window” · window not set · risk not set · reporter @712020:alice · rollback plan yes
Emergency changes awaiting their retrospective (1)
CHG-6 “Not yet due” · implemented Sun 29 Mar 2026 21:00 · retrospective due Tue 31 Mar 2026 21:00 · IC @712020:ivan
Implemented since the last meeting (since Tue 24 Mar 2026 15:00) (3)
CHG-7 “Overdue” · implemented Wed 25 Mar 2026 08:00 · outcome not recorded yet
CHG-9 “Done” · implemented Thu 26 Mar 2026 11:00 · outcome Successful
CHG-6 “Not yet due” · implemented Sun 29 Mar 2026 21:00 · outcome not recorded yet
Clashing change windows (1)
CHG-13 (Wed 1 Apr 2026 10:00–12:00) overlaps CHG-14 (Wed 1 Apr 2026 11:00–13:00)"""


def test_agenda_sections_and_text():
    agenda = build_agenda(MEETING, PREVIOUS, ITEMS, now=NOW, policy=POLICY, site=SITE,
                          calendar=CAL, browse_url="https://x.atlassian.net/browse")
    assert (agenda.awaiting_approval, agenda.awaiting_retrospective, agenda.implemented,
            agenda.clashes) == (("CHG-3", "CHG-12", "CHG-4"), ("CHG-8", "CHG-7", "CHG-6"),
                                ("CHG-7", "CHG-9", "CHG-6"), (("CHG-13", "CHG-14"),))
    assert agenda.text == EXPECTED
    link = agenda.body["content"][2]["content"][0]["content"][0]["content"][0]
    assert link == {"type": "text", "text": "CHG-8", "marks": [  # overdue first, as policy says
        {"type": "link", "attrs": {"href": "https://x.atlassian.net/browse/CHG-8"}}]}


def test_empty_agenda_without_a_previous_meeting():
    odd = dataclasses.replace(ITEMS[3].change, key="OTHER")
    agenda = build_agenda(MEETING, None, [AgendaChange(odd)], now=NOW, policy=POLICY, site=SITE,
                          calendar=CAL, browse_url="https://x.atlassian.net/browse")
    assert agenda.text == (
        "CAB agenda for Tue 31 Mar 2026 15:00 (Europe/London)\n"
        "Normal changes awaiting approval (0)\nNone.\n"
        "Emergency changes awaiting their retrospective (0)\nNone.\n"
        "Implemented since the last meeting (0)\nNone.\n"
        "Clashing change windows (0)\nNone.")
