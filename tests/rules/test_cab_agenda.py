"""The CAB agenda: four sections, in order, and the exact text of the comment."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone

from jobs.periodic import cab_calendar
from rules.cab_agenda import CHART_TEXT, AgendaChange, build_agenda, with_chart_link
from rules.cab_schedule import next_meeting, previous_meeting
from rules.change_health import SCOPES, HealthTable, WeekHealth
from rules.change_health_report import AGENDA_ROWS
from rules.freeze import Freeze
from rules.policy import FieldRole, FreezeKind, StatusRole
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


SOFT = Freeze("Release week", FreezeKind.SOFT, utc(2026, 4, 1, 8), utc(2026, 4, 2, 17, 30), "",
              "CHG-90")
HARD = Freeze("Year end", FreezeKind.HARD, utc(2026, 3, 31, 23), utc(2026, 4, 9, 23),
              "Holidays.", "policy")
WEEK = date(2026, 3, 23)
ONE_WEEK = HealthTable((WEEK,), {(WEEK, scope): WeekHealth() for scope in SCOPES}, 48)


def test_freezes_head_the_agenda_and_health_ends_it_with_its_chart_link():
    agenda = build_agenda(MEETING, None, [], now=NOW, policy=POLICY, site=SITE, calendar=CAL,
                          browse_url="https://x.atlassian.net/browse", freezes=[SOFT, HARD],
                          health=ONE_WEEK)
    lines = agenda.text.splitlines()
    assert lines[:4] == [
        "CAB agenda for Tue 31 Mar 2026 15:00 (Europe/London)",
        "Freezes in the coming week (2)",
        "Release week (soft: other changes need a freeze exception) · Wed 1 Apr 2026 09:00 – "
        "Thu 2 Apr 2026 18:30",
        "Year end (hard: Emergency changes only) · Wed 1 Apr 2026 00:00 – Fri 10 Apr 2026 "
        "00:00 · Holidays.",
    ]
    assert lines[12:15] == [
        "How changes are going: week of 23 Mar 2026 against no earlier weeks",
        "Category | Measure | Last week | Median | Trend",
        "All changes | Deployments (reached Implemented) | 0 | - | unknown",
    ]
    assert len(lines) == 14 + len(AGENDA_ROWS)  # a table row per measure
    table = agenda.body["content"][-1]
    assert table["type"] == "table" and [len(row["content"]) for row in table["content"]] == [
        5] * (1 + len(AGENDA_ROWS))
    assert table["content"][0]["content"][0]["type"] == "tableHeader"
    assert (agenda.freezes, agenda.health) == ((SOFT, HARD), ONE_WEEK)
    linked = with_chart_link(agenda, "https://x.atlassian.net/att/1")
    assert linked.text.splitlines()[13] == CHART_TEXT
    assert linked.body["content"][-2]["content"][0]["marks"] == [
        {"type": "link", "attrs": {"href": "https://x.atlassian.net/att/1"}}]


def test_a_chart_link_needs_a_health_section():
    agenda = build_agenda(MEETING, None, [], now=NOW, policy=POLICY, site=SITE, calendar=CAL,
                          browse_url="https://x.atlassian.net/browse")
    assert agenda.health is None and agenda.freezes == ()
    assert with_chart_link(agenda, "https://x.atlassian.net/att/1") == agenda
