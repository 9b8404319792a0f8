"""Change health: facts from the changelog, weekly numbers, the comparison and its renderings."""

from __future__ import annotations

import bisect
import csv
import dataclasses
import io
import random
import statistics
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from rules.change_health import (CAUSED_BY_WINDOW, SCOPES, ChangeFacts,
                                 Implementation, WeekHealth, caused_by_keys, facts_from_issue,
                                 has_freeze_exception, health_fields_to_fetch, median,
                                 needs_whole_changelog, standing_moves, week_of, weekly_health,
                                 weeks_before)
from rules.change_health_report import (AGENDA_ROWS, ROWS, HealthComparison, Measure, Trend,
                                        compare_last_week, comparison_csv, health_csv,
                                        health_cells, health_rows_text, measure_value, shown,
                                        since_text, trend_of, weekly_text)
from rules.change_history import HistoryEntry
from rules.change_request import SnapshotError
from rules.deployment import LET_THROUGH, PROPERTY_KEY, DeploymentEntry, DeployResult, DeployState
from rules.policy import Category as C
from rules.policy import FieldRole as F
from rules.policy import StatusRole as S
from worker.policy_file import load_policy

from .builders import BOT, SITE, STATUS_IDS as ID

POLICY = load_policy()
ZONE = ZoneInfo("Europe/London")
UTC = timezone.utc
PERSON = "712020:alice"
SHORT = {"D": S.DRAFT, "AA": S.AWAITING_APPROVAL, "AP": S.APPROVED, "IG": S.IMPLEMENTING,
         "IM": S.IMPLEMENTED, "CL": S.CLOSED, "CA": S.CANCELLED}
CATEGORY_VALUES = {C.STANDARD: "Standard", C.NORMAL: "Normal", C.EMERGENCY: "Emergency"}


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def jira_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def utc(text: str) -> datetime:
    """'04-08 10:00' → 2026-04-08 10:00 UTC."""
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=UTC)


def status_history(id: int, actor: str, at: datetime, frm: S, to: S) -> dict:
    return {"id": str(id), "author": {"accountId": actor}, "created": jira_time(at),
            "items": [{"field": "status", "fieldId": "status", "from": ID[frm], "to": ID[to]}]}


def field_history(id: int, at: datetime, field: str, before: str, after: str) -> dict:
    return {"id": str(id), "author": {"accountId": PERSON}, "created": jira_time(at),
            "items": [{"field": field, "fieldId": field, "fromString": before,
                       "toString": after}]}


def link(key: str, label: str = "is caused by", side: str = "inward") -> dict:
    other = "outward" if side == "inward" else "inward"
    return {"type": {"name": "Causes", side: label, other: "something else"},
            f"{side}Issue": {"key": key}}


def issue_json(key: str, category: str | None, created: datetime | str | None,
               histories: list[dict] = (), *, outcome: str | None = None, links=(),
               gate: list[dict] | None = None) -> dict:
    fields = {"status": {"id": ID[S.DRAFT]},
              SITE.field_id(F.CATEGORY): {"value": category} if category else None,
              SITE.field_id(F.OUTCOME): {"value": outcome} if outcome else None,
              "created": jira_time(created) if isinstance(created, datetime) else created,
              "issuelinks": list(links)}
    issue = {"key": key, "fields": fields,
             "changelog": {"startAt": 0, "total": len(histories), "histories": list(histories)}}
    if gate is not None:
        issue["properties"] = {PROPERTY_KEY: {"deployments": gate}}
    return issue


def moves(*steps: str, first_id: int = 1) -> list[dict]:
    """'04-06 10:00 AA>AP' (a person) or '04-07 08:00 AP>AA bot' (changeguard)."""
    histories = []
    for index, step in enumerate(steps):
        day, clock, move, *who = step.split()
        frm, to = move.split(">")
        histories.append(status_history(first_id + index, BOT if who else PERSON,
                                        utc(f"{day} {clock}"), SHORT[frm], SHORT[to]))
    return histories


def gate_entry(state: DeployState, at: str) -> dict:
    return DeploymentEntry(f"generic:{at}:{state.value}", "run", "generic", "production", state,
                           "", at).to_json()


# ---------------------------------------------------------------- reading one change


def test_facts_read_implementations_approvals_closes_outcome_links_and_gate():
    issue = issue_json("CHG-7", "Emergency", utc("04-17 10:00"), [
        *moves("04-17 10:05 D>AA", "04-17 10:10 AA>AP", "04-17 10:11 AP>AA bot",
               "04-17 10:20 AA>AP bot", "04-17 10:30 AP>IG", "04-17 12:00 IG>IM",
               "04-18 09:00 IM>CL", "04-18 09:01 CL>IM bot", "04-18 12:00 IM>CL"),
        field_history(20, utc("04-18 11:00"), SITE.field_id(F.OUTCOME), "Successful",
                      "Failed"),
        {"id": "21", "author": {"accountId": PERSON}, "created": "garbled",
         "items": [{"field": "status", "from": ID[S.CLOSED], "to": ID[S.IMPLEMENTED]}]},
    ], outcome="Rolled Back", links=[
        link("CHG-3"), link("CHG-4", "relates to"),
        {"type": {"inward": "is caused by", "outward": "causes"}, "outwardIssue": {"key": "CHG-5"}},
        link("CHG-6", "IS CAUSED BY", side="outward"), link("CHG-3"), "junk", {"type": "x"},
        {"type": {"inward": "is caused by"}, "inwardIssue": {"id": "1"}},
    ], gate=[gate_entry(DeployState.SUCCEEDED, "2026-04-17T11:59:00+00:00"),
             gate_entry(DeployState.DENIED, "2026-04-17T09:00:00+00:00"),
             gate_entry(DeployState.ALLOWED, "2026-04-17T11:00:00Z"),
             gate_entry(DeployState.ROLLED_BACK, "2026-04-17T11:30:00.000+0000"),
             gate_entry(DeployState.FAILED, "garbled"),
             gate_entry(DeployState.ALLOWED, "2026-04-17T11:40:00")])
    assert facts_from_issue(issue, SITE, POLICY, freeze_exception=True) == ChangeFacts(
        key="CHG-7", category=C.EMERGENCY, created=utc("04-17 10:00"),
        implementations=(Implementation(utc("04-17 12:00"), utc("04-17 10:20")),),
        closed=(utc("04-18 12:00"),), outcome=DeployResult.ROLLED_BACK,
        caused_by=("CHG-3", "CHG-6"), freeze_exception=True,
        gate_deployments=(utc("04-17 11:00"), utc("04-17 11:30"), utc("04-17 11:59")))


@pytest.mark.parametrize(("outcome", "category", "expected"), [
    (None, None, (None, None)),
    ("Successful", "Standard", (DeployResult.SUCCESS, C.STANDARD)),
    ("Failed", "Normal", (DeployResult.FAILURE, C.NORMAL)),
    ("Rolled Back", "Emergency", (DeployResult.ROLLED_BACK, C.EMERGENCY)),
    ("Partly", "Unheard of", (None, None)),
], ids=["none", "successful", "failed", "rolled-back", "unknown-values"])
def test_facts_read_the_outcome_and_category_as_they_are_now(outcome, category, expected):
    facts = facts_from_issue(issue_json("CHG-8", category, utc("04-01 10:00"), outcome=outcome),
                             SITE, POLICY)
    assert (facts.outcome, facts.category) == expected
    assert (facts.implementations, facts.closed, facts.caused_by, facts.gate_deployments,
            facts.freeze_exception) == ((), (), (), (), False)


def test_facts_take_a_changelog_gathered_over_overlapping_pages():
    histories = moves("04-20 09:00 D>AA", "04-21 09:00 AA>AP", "04-23 09:00 AP>IG",
                      "04-23 10:00 IG>IM")
    pages = [histories[2:], histories[:3]]  # newest page first, one history on both
    issue = issue_json("CHG-9", "Normal", utc("04-20 08:00"), histories[:1])
    facts = facts_from_issue(issue, SITE, POLICY, histories=[*pages[0], *pages[1]])
    assert facts.implementations == (Implementation(utc("04-23 10:00"), utc("04-21 09:00")),)
    assert facts_from_issue(issue, SITE, POLICY).implementations == ()


@pytest.mark.parametrize("created", [None, "yesterday"], ids=["missing", "unreadable"])
def test_facts_need_the_created_time(created):
    with pytest.raises(SnapshotError, match="CHG-9: the issue has no readable 'created' time"):
        facts_from_issue(issue_json("CHG-9", "Normal", created), SITE, POLICY)


def test_facts_of_an_issue_without_links_or_properties():
    issue = issue_json("CHG-9", "Normal", "2026-04-20T08:00:00.000+0000")
    del issue["fields"]["issuelinks"]
    issue["properties"] = []
    assert facts_from_issue(issue, SITE, POLICY) == ChangeFacts("CHG-9", C.NORMAL,
                                                                utc("04-20 08:00"))
    assert caused_by_keys({"issuelinks": [link("CHG-1", "causes", side="outward")]},
                          "causes") == ("CHG-1",)


def entry(id, actor, frm, to):
    return HistoryEntry(id, actor, "", ID[frm] if frm else None, ID[to] if to else None)


A, B = PERSON, BOT
STANDING = [
    ([entry(1, A, S.AWAITING_APPROVAL, S.APPROVED), entry(2, B, S.APPROVED,
                                                          S.AWAITING_APPROVAL)], []),
    ([entry(1, A, S.APPROVED, S.IMPLEMENTED), entry(2, None, None, None),
      entry(3, B, S.IMPLEMENTED, S.APPROVED)], []),
    ([entry(1, B, S.AWAITING_APPROVAL, S.APPROVED), entry(2, B, S.APPROVED,
                                                          S.AWAITING_APPROVAL)], [1, 2]),
    ([entry(1, A, S.IMPLEMENTED, S.IMPLEMENTING), entry(2, A, S.IMPLEMENTING,
                                                        S.IMPLEMENTED)], [1, 2]),
    ([entry(1, A, S.APPROVED, S.IMPLEMENTED), entry(2, B, S.IMPLEMENTED,
                                                    S.IMPLEMENTING)], [1, 2]),
    ([entry(1, A, S.AWAITING_APPROVAL, S.APPROVED), entry(2, B, S.APPROVED, S.AWAITING_APPROVAL),
      entry(3, B, S.AWAITING_APPROVAL, S.APPROVED)], [3]),
]


@pytest.mark.parametrize(("history", "kept"), STANDING, ids=[
    "approval-withdrawn", "revert-after-a-field-edit", "changeguard-own-moves", "people-only",
    "no-way-back-so-flagged", "slack-approval-after-partial"])
def test_standing_moves_leave_out_what_changeguard_undid_at_once(history, kept):
    assert [e.id for e in standing_moves(tuple(history), BOT)] == kept


# ---------------------------------------------------------------- weeks


@pytest.mark.parametrize(("moment", "week"), [
    (datetime(2026, 4, 26, 22, 59, tzinfo=UTC), date(2026, 4, 20)),  # Sun 23:59 BST
    (datetime(2026, 4, 26, 23, 0, tzinfo=UTC), date(2026, 4, 27)),  # Mon 00:00 BST
    (datetime(2026, 3, 1, 23, 59, tzinfo=UTC), date(2026, 2, 23)),  # Sun 23:59 GMT
    (datetime(2026, 3, 2, 0, 0, tzinfo=UTC), date(2026, 3, 2)),
], ids=["summer-sunday", "summer-monday", "winter-sunday", "winter-monday"])
def test_week_of_is_the_iso_week_in_the_cab_zone(moment, week):
    assert week_of(moment, ZONE) == week


def test_weeks_before_are_the_whole_weeks_before_this_one():
    assert weeks_before(datetime(2026, 4, 27, 0, 30, tzinfo=ZONE), 3, ZONE) == (
        date(2026, 4, 6), date(2026, 4, 13), date(2026, 4, 20))


@pytest.mark.parametrize("weeks", [(), (date(2026, 4, 7),)], ids=["none", "a-tuesday"])
def test_weekly_health_needs_mondays(weeks):
    with pytest.raises(ValueError, match="weeks must be one or more Mondays"):
        weekly_health((), weeks, ZONE, now=utc("05-04 12:00"))


@pytest.mark.parametrize(("values", "middle"), [
    ([], None), ([3], 3), ([4, 1], 2.5), ([5, 1, 3], 3), ([h(1), h(4), h(2), h(9)], h(3)),
], ids=["empty", "one", "two", "odd", "durations"])
def test_median(values, middle):
    assert median(values) == middle


# ---------------------------------------------------------------- the hand-written set

WEEK_Z, WEEK_A, WEEK_B, WEEK_C, WEEK_D = (date(2026, 3, 30) + timedelta(weeks=n)
                                          for n in range(5))
NOW = utc("05-04 12:00")
PADDING = [field_history(100 + n, utc("04-22 08:00") + m(n), "labels", "", f"l{n}")
           for n in range(50)]
HAND = [
    # Week A: approved once, outcome edited back to Successful.
    (issue_json("CHG-101", "Normal", utc("04-06 09:00"), [
        *moves("04-06 10:00 D>AA", "04-07 09:00 AA>AP", "04-08 09:00 AP>IG",
               "04-08 10:00 IG>IM", "04-09 10:00 IM>CL"),
        field_history(50, utc("04-09 09:00"), SITE.field_id(F.OUTCOME), "Failed",
                      "Successful")], outcome="Successful"), None),
    # Week A: approval withdrawn by an edit, approved again; outcome edited to Failed.
    (issue_json("CHG-102", "Normal", utc("04-06 08:00"), [
        *moves("04-06 09:00 D>AA", "04-06 12:00 AA>AP", "04-07 08:00 AP>AA bot",
               "04-08 12:00 AA>AP", "04-09 08:00 AP>IG", "04-09 12:00 IG>IM"),
        field_history(50, utc("04-09 13:00"), SITE.field_id(F.OUTCOME), "Successful",
                      "Failed")], outcome="Failed"), None),
    # Weeks B and C: implemented, reopened and implemented again, then Rolled Back.
    (issue_json("CHG-103", "Standard", utc("04-13 08:00"), moves(
        "04-13 08:30 D>AA", "04-13 09:00 AA>AP", "04-13 10:00 AP>IG", "04-13 11:00 IG>IM",
        "04-20 09:00 IM>IG", "04-21 10:00 IG>IM"), outcome="Rolled Back"), None),
    # Week B: a jump to Implemented changeguard undid; failed by CHG-110 two days later.
    (issue_json("CHG-104", "Normal", utc("04-13 09:00"), moves(
        "04-13 09:30 D>AA", "04-13 15:00 AA>AP", "04-14 10:00 AP>IM", "04-14 10:01 IM>AP bot",
        "04-15 09:00 AP>IG", "04-15 10:00 IG>IM"), outcome="Successful"), None),
    # Week B: CHG-111 links to it 8 days and an hour later: not a failure.
    (issue_json("CHG-105", "Normal", utc("04-14 10:00"), moves(
        "04-14 11:00 D>AA", "04-15 10:00 AA>AP", "04-16 09:00 AP>IG", "04-16 10:00 IG>IM"),
        outcome="Successful"), None),
    # Week B: Emergency, one approval in Jira, the other from Slack; closed within 48 h.
    (issue_json("CHG-110", "Emergency", utc("04-17 10:00"), moves(
        "04-17 10:05 D>AA", "04-17 10:10 AA>AP", "04-17 10:11 AP>AA bot",
        "04-17 10:20 AA>AP bot", "04-17 10:30 AP>IG", "04-17 12:00 IG>IM",
        "04-18 12:00 IM>CL"), outcome="Successful", links=[link("CHG-104")]), None),
    # Week C: Emergency, a close changeguard undid, closed for good after 68 h.
    (issue_json("CHG-111", "Emergency", utc("04-24 11:00"), moves(
        "04-24 11:05 D>AA", "04-24 11:30 AA>AP", "04-24 11:45 AP>IG", "04-24 14:00 IG>IM",
        "04-25 09:00 IM>CL", "04-25 09:01 CL>IM bot", "04-27 10:00 IM>CL"),
        outcome="Successful", links=[link("CHG-105"), link("CHG-999"),
                                     link("CHG-116", "relates to")]), None),
    # Week D: created on Sunday night, implemented 00:30 on Monday, London time.
    (issue_json("CHG-112", "Emergency", utc("04-26 22:30"), moves(
        "04-26 22:35 D>AA", "04-26 22:40 AA>AP", "04-26 22:45 AP>IG", "04-26 23:30 IG>IM"),
        links=[link("CHG-112")]), None),
    # Week D: its retrospective is not due yet.
    (issue_json("CHG-113", "Emergency", utc("05-03 18:00"), moves(
        "05-03 18:05 D>AA", "05-03 18:30 AA>AP", "05-03 19:00 AP>IG", "05-03 20:00 IG>IM")),
     None),
    # Never implemented: its Outcome counts nowhere.
    (issue_json("CHG-114", "Normal", utc("04-07 09:00"), moves(
        "04-07 10:00 D>AA", "04-08 10:00 AA>AP", "04-09 10:00 AP>CA"), outcome="Failed"), None),
    # Week C: no approval in the changelog; through the gate twice; a freeze exception.
    (issue_json("CHG-115", "Standard", utc("04-21 09:00"), moves(
        "04-22 10:00 AP>IG", "04-22 11:00 IG>IM"),
        gate=[gate_entry(DeployState.ALLOWED, "2026-04-22T10:30:00+00:00"),
              gate_entry(DeployState.SUCCEEDED, "2026-04-22T11:00:00+00:00"),
              gate_entry(DeployState.DENIED, "2026-04-22T09:00:00+00:00")]), "freeze"),
    # Week C: a changelog longer than a page; a Normal change's "caused by" counts nothing.
    (issue_json("CHG-116", "Normal", utc("04-20 08:00"), [], links=[link("CHG-103")]),
     [*PADDING[:30], *moves("04-20 09:00 D>AA", "04-21 09:00 AA>AP", "04-23 09:00 AP>IG",
                            "04-23 10:00 IG>IM"), *PADDING[20:]]),
    # An Emergency created before the change it names was implemented, never implemented.
    (issue_json("CHG-117", "Emergency", utc("04-06 12:00"), moves("04-06 12:05 D>AA"),
                links=[link("CHG-101", side="outward")]), None),
]


def hand_facts() -> list[ChangeFacts]:
    facts = [facts_from_issue(issue, SITE, POLICY, histories=pages if isinstance(pages, list)
                              else None, freeze_exception=pages == "freeze")
             for issue, pages in HAND]
    return [*facts, facts[0]]  # the same change twice counts once


EMPTY = WeekHealth()
HAND_CELLS = {
    WEEK_A: {None: WeekHealth(2, 1, h(38), h(24.5)), C.NORMAL: WeekHealth(2, 1, h(38), h(24.5))},
    WEEK_B: {None: WeekHealth(4, 1, h(3.5), h(13), h(2), 1, 1, 1),
             C.STANDARD: WeekHealth(1, 0, h(1), h(2)),
             C.NORMAL: WeekHealth(2, 1, h(15), h(33.5)),
             C.EMERGENCY: WeekHealth(1, 0, m(20), m(100), h(2), 1, 1, 1)},
    WEEK_C: {None: WeekHealth(4, 1, h(1), h(49), h(3), 1, 1, 0, 1, 2),
             C.STANDARD: WeekHealth(2, 1, h(1), h(193), None, 0, 0, 0, 1, 2),
             C.NORMAL: WeekHealth(1, 0, h(25), h(49)),
             C.EMERGENCY: WeekHealth(1, 0, m(30), m(150), h(3), 1, 1, 0)},
    WEEK_D: {None: WeekHealth(2, 0, m(20), m(70), h(1.5), 2, 1, 0),
             C.EMERGENCY: WeekHealth(2, 0, m(20), m(70), h(1.5), 2, 1, 0)},
}


@pytest.mark.parametrize(("week", "scope"), [(w, s) for w in (WEEK_Z, WEEK_A, WEEK_B, WEEK_C,
                                                              WEEK_D) for s in SCOPES],
                         ids=[f"{w}-{s.value if s else 'all'}"
                              for w in (WEEK_Z, WEEK_A, WEEK_B, WEEK_C, WEEK_D) for s in SCOPES])
def test_hand_written_set_week_by_week(week, scope):
    table = weekly_health(hand_facts(), (WEEK_D, WEEK_A, WEEK_B, WEEK_C, WEEK_Z, WEEK_A), ZONE,
                          now=NOW)
    assert table.weeks == (WEEK_Z, WEEK_A, WEEK_B, WEEK_C, WEEK_D)
    assert table.cell(week, scope) == HAND_CELLS.get(week, {}).get(scope, EMPTY)


def test_hand_written_set_derived_numbers():
    table = weekly_health(hand_facts(), (WEEK_Z, WEEK_A, WEEK_B, WEEK_C, WEEK_D), ZONE, now=NOW)
    assert [(table.cell(w).change_failure_rate, table.cell(w).emergency_share,
             table.cell(w).retrospectives_on_time_share) for w in table.weeks] == [
        (None, None, None), (0.5, 0.0, None), (0.25, 0.25, 1.0), (0.25, 0.25, 0.0),
        (0.0, 1.0, 0.0)]


HAND_ROWS = [
    (None, Measure.DEPLOYMENTS, 2, 3, Trend.STEADY),
    (None, Measure.GATE_DEPLOYMENTS, 0, 0, Trend.STEADY),
    (None, Measure.CHANGE_FAILURE_RATE, 0, 0.25, Trend.BETTER),
    (None, Measure.LEAD_TIME_TO_APPROVAL, 1 / 3, 3.5, Trend.BETTER),
    (None, Measure.LEAD_TIME_TO_IMPLEMENTED, 7 / 6, 24.5, Trend.BETTER),
    (None, Measure.EMERGENCY_SHARE, 1, 0.25, Trend.WORSE),
    (None, Measure.FREEZE_EXCEPTIONS, 0, 0, Trend.STEADY),
    (C.STANDARD, Measure.DEPLOYMENTS, 0, 0.5, Trend.STEADY),
    (C.STANDARD, Measure.CHANGE_FAILURE_RATE, None, 0.25, Trend.UNKNOWN),
    (C.STANDARD, Measure.LEAD_TIME_TO_APPROVAL, None, 1, Trend.UNKNOWN),
    (C.STANDARD, Measure.LEAD_TIME_TO_IMPLEMENTED, None, 97.5, Trend.UNKNOWN),
    (C.NORMAL, Measure.DEPLOYMENTS, 0, 1.5, Trend.WORSE),
    (C.NORMAL, Measure.CHANGE_FAILURE_RATE, None, 0.5, Trend.UNKNOWN),
    (C.NORMAL, Measure.LEAD_TIME_TO_APPROVAL, None, 25, Trend.UNKNOWN),
    (C.NORMAL, Measure.LEAD_TIME_TO_IMPLEMENTED, None, 33.5, Trend.UNKNOWN),
    (C.EMERGENCY, Measure.DEPLOYMENTS, 2, 0.5, Trend.WORSE),
    (C.EMERGENCY, Measure.CHANGE_FAILURE_RATE, 0, 0, Trend.STEADY),
    (C.EMERGENCY, Measure.LEAD_TIME_TO_APPROVAL, 1 / 3, 5 / 12, Trend.STEADY),
    (C.EMERGENCY, Measure.LEAD_TIME_TO_IMPLEMENTED, 7 / 6, 25 / 12, Trend.STEADY),
    (C.EMERGENCY, Measure.TIME_TO_RESTORE, 1.5, 2.5, Trend.STEADY),
    (C.EMERGENCY, Measure.RETROSPECTIVES_ON_TIME, 0, 0.5, Trend.WORSE),
]


def hand_comparison() -> HealthComparison:
    return compare_last_week(weekly_health(hand_facts(), (WEEK_Z, WEEK_A, WEEK_B, WEEK_C,
                                                          WEEK_D), ZONE, now=NOW))


@pytest.mark.parametrize("expected", HAND_ROWS,
                         ids=[f"{s.value if s else 'all'}-{m.value}" for s, m, *_ in HAND_ROWS])
def test_hand_written_set_last_week_against_the_weeks_before(expected):
    comparison = hand_comparison()
    assert (comparison.week, comparison.baseline_weeks) == (WEEK_D, (WEEK_Z, WEEK_A, WEEK_B,
                                                                     WEEK_C))
    [row] = [r for r in comparison.rows if (r.scope, r.measure) == expected[:2]]
    assert (row.last_week, row.baseline, row.trend) == (
        pytest.approx(expected[2]) if expected[2] is not None else None,
        pytest.approx(expected[3]), expected[4])


HAND_TEXT = """\
Change health: week of 27 Apr 2026 against the median of the 4 weeks from 30 Mar 2026
Category     Measure                                      Last week  Median  Trend
All changes  Deployments (reached Implemented)            2          3       steady
All changes  Pipeline deployments through the gate        0          0       steady
All changes  Change failure rate                          0%         25%     better
All changes  Lead time, created to Approved (median)      0.3 h      3.5 h   better
All changes  Lead time, Approved to Implemented (median)  1.2 h      24.5 h  better
All changes  Emergency share of deployments               100%       25%     worse
All changes  Freeze exceptions                            0          0       steady
Standard     Deployments (reached Implemented)            0          0.5     steady
Standard     Change failure rate                          -          25%     unknown
Standard     Lead time, created to Approved (median)      -          1.0 h   unknown
Standard     Lead time, Approved to Implemented (median)  -          4.1 d   unknown
Normal       Deployments (reached Implemented)            0          1.5     worse
Normal       Change failure rate                          -          50%     unknown
Normal       Lead time, created to Approved (median)      -          25.0 h  unknown
Normal       Lead time, Approved to Implemented (median)  -          33.5 h  unknown
Emergency    Deployments (reached Implemented)            2          0.5     worse
Emergency    Change failure rate                          0%         0%      steady
Emergency    Lead time, created to Approved (median)      0.3 h      0.4 h   steady
Emergency    Lead time, Approved to Implemented (median)  1.2 h      2.1 h   steady
Emergency    Time to restore (median)                     1.5 h      2.5 h   steady
Emergency    Retrospectives done within 48 h              0%         50%     worse"""


def test_hand_written_set_as_text():
    assert health_rows_text(hand_comparison(), POLICY) == HAND_TEXT


def test_hand_written_set_as_csv():
    comparison = comparison_csv(hand_comparison(), POLICY).split("\r\n")
    assert comparison[:4] == ["category,measure,last_week,median,trend",
                              "All changes,deployments,2,3,steady",
                              "All changes,gate_deployments,0,0,steady",
                              "All changes,change_failure_rate,0,0.25,better"]
    assert comparison[10:13] == ["Standard,lead_time_to_approval,,1,unknown",
                                "Standard,lead_time_to_implemented,,97.5,unknown",
                                "Normal,deployments,0,1.5,worse"]
    assert comparison[17:] == ["Emergency,change_failure_rate,0,0,steady",
                               "Emergency,lead_time_to_approval,0.3333,0.4167,steady",
                               "Emergency,lead_time_to_implemented,1.1667,2.0833,steady",
                               "Emergency,time_to_restore,1.5,2.5,steady",
                               "Emergency,retrospectives_on_time,0,0.5,worse", ""]
    table = weekly_health(hand_facts(), (WEEK_Z, WEEK_A, WEEK_B, WEEK_C, WEEK_D), ZONE, now=NOW)
    weekly = health_csv(table, POLICY).split("\r\n")
    assert len(weekly) == 1 + 5 * 4 + 1 and weekly[-1] == ""
    assert weekly[0] == ("week,category,deployments,failures,change_failure_rate,"
                         "lead_time_to_approval_hours,lead_time_to_implemented_hours,"
                         "time_to_restore_hours,emergency_deployments,emergency_share,"
                         "retrospectives_due,retrospectives_on_time,freeze_exceptions,"
                         "gate_deployments")
    assert weekly[1] == "2026-03-30,All changes,0,0,,,,,0,,0,0,0,0"
    assert weekly[9] == "2026-04-13,All changes,4,1,0.25,3.5,13,2,1,0.25,1,1,0,0"
    assert weekly[14] == "2026-04-20,Standard,2,1,0.5,1,193,,0,0,0,0,1,2"


def test_renderings_quote_names_and_say_when_there_is_nothing_before():
    policy = dataclasses.replace(POLICY, category_values={
        **POLICY.category_values, C.NORMAL: 'Normal, "planned"'})
    only = weekly_health((), (WEEK_A,), ZONE, now=NOW)
    comparison = compare_last_week(only)
    assert comparison.baseline_weeks == ()
    assert health_rows_text(comparison, policy).splitlines()[0] == (
        "Change health: week of 06 Apr 2026 against no earlier weeks")
    assert 'Normal, "planned"  Deployments (reached Implemented)' in health_rows_text(
        comparison, policy)
    assert '"Normal, ""planned""",deployments,0,,unknown' in comparison_csv(comparison, policy)
    assert '2026-04-06,"Normal, ""planned""",0,0' in health_csv(only, policy)


@pytest.mark.parametrize(("scope", "measure", "last", "baseline", "trend"), [
    (None, Measure.DEPLOYMENTS, 11, 10, Trend.STEADY),
    (None, Measure.DEPLOYMENTS, 12, 10, Trend.BETTER),
    (None, Measure.DEPLOYMENTS, 30, 40, Trend.WORSE),
    (None, Measure.DEPLOYMENTS, 44, 40, Trend.STEADY),
    (C.EMERGENCY, Measure.DEPLOYMENTS, 3, 1, Trend.WORSE),
    (None, Measure.CHANGE_FAILURE_RATE, 0.14, 0.1, Trend.STEADY),
    (None, Measure.CHANGE_FAILURE_RATE, 0.2, 0.1, Trend.WORSE),
    (None, Measure.LEAD_TIME_TO_APPROVAL, 60, 50, Trend.WORSE),
    (None, Measure.LEAD_TIME_TO_APPROVAL, 5.5, 5, Trend.STEADY),
    (C.EMERGENCY, Measure.RETROSPECTIVES_ON_TIME, 1, 0.5, Trend.BETTER),
    (None, Measure.FREEZE_EXCEPTIONS, 0, 2, Trend.BETTER),
    (None, Measure.DEPLOYMENTS, None, 2, Trend.UNKNOWN),
    (None, Measure.DEPLOYMENTS, 2, None, Trend.UNKNOWN),
], ids=["within-the-floor", "more-deploys", "fewer-deploys", "within-10-percent",
        "more-emergencies", "rate-within-5-points", "rate-up", "slower", "an-hour-is-steady",
        "more-retros-on-time", "fewer-exceptions", "no-last-week", "no-baseline"])
def test_trend_directions_and_tolerance(scope, measure, last, baseline, trend):
    assert trend_of(scope, measure, last, baseline) is trend


@pytest.mark.parametrize(("measure", "value", "text"), [
    (Measure.DEPLOYMENTS, None, "-"), (Measure.DEPLOYMENTS, 2.5, "2.5"),
    (Measure.CHANGE_FAILURE_RATE, 1 / 3, "33%"), (Measure.TIME_TO_RESTORE, 47.96, "48.0 h"),
    (Measure.TIME_TO_RESTORE, 48, "2.0 d"),
], ids=["none", "half-count", "share", "just-under-two-days", "two-days"])
def test_shown_values(measure, value, text):
    assert shown(measure, value) == text


# ---------------------------------------------------------------- the seeded history


@dataclasses.dataclass
class Truth:
    """What the generator made happen to one change, in plain terms."""

    key: str
    category: C | None
    created: datetime
    deployed: list[tuple[datetime, datetime | None]] = dataclasses.field(default_factory=list)
    closed: list[datetime] = dataclasses.field(default_factory=list)
    final_outcome: str | None = None
    causes: list[str] = dataclasses.field(default_factory=list)
    gate: list[datetime] = dataclasses.field(default_factory=list)
    freeze: bool = False


SEED_START = datetime(2026, 2, 2, tzinfo=UTC)  # a Monday; the weeks cross the March DST change
SEED_WEEKS = tuple(date(2026, 2, 2) + timedelta(weeks=n) for n in range(14))
SEED_NOW = datetime(2026, 5, 11, 9, tzinfo=UTC)  # the Monday after the 14th week


def seeded_history(seed: int, count: int = 320):
    """Return (issue, histories or None, freeze flag) per change, and the truth of each."""
    rng = random.Random(seed)
    truths: list[Truth] = []
    made = []
    for number in range(1, count + 1):
        key = f"CHG-{number}"
        category = rng.choices([C.STANDARD, C.NORMAL, C.EMERGENCY, None], [30, 50, 20, 3])[0]
        created = SEED_START + timedelta(minutes=rng.randrange(99 * 24 * 60))
        causes: list[str] = []
        deployed_before = [t for t in truths if t.deployed]
        if category is C.EMERGENCY and deployed_before and rng.random() < 0.6:
            cause = rng.choice(deployed_before)
            created = rng.choice(cause.deployed)[0] + timedelta(minutes=rng.randrange(
                10 * 24 * 60))
            causes.append(cause.key)
        if rng.random() < 0.05:
            causes.append(rng.choice(["CHG-99999", key]))
        truth = Truth(key, category, created, causes=causes, freeze=rng.random() < 0.05)
        histories: list[dict] = []
        clock = [created]

        def move(frm, to, actor=PERSON, soon=False):
            clock[0] += timedelta(seconds=30) if soon else timedelta(
                minutes=rng.randint(5, 2000))
            histories.append(status_history(0, actor, clock[0], SHORT[frm], SHORT[to]))
            return clock[0]

        move("D", "AA")
        if rng.random() < 0.15:  # an approval changeguard undid (not an approver, say)
            move("AA", "AP"), move("AP", "AA", BOT, soon=True)
        if category is C.EMERGENCY and rng.random() < 0.5:  # one approval, then Slack
            move("AA", "AP"), move("AP", "AA", BOT, soon=True)
            approved = move("AA", "AP", BOT)
        else:
            approved = move("AA", "AP")
        if rng.random() < 0.2:  # an edit withdraws the approval; approved again
            move("AP", "AA", BOT)
            approved = move("AA", "AP")
        if rng.random() < 0.1:
            move("AP", "CA")
        else:
            move("AP", "IG")
            if rng.random() < 0.15:  # a step back, and the gate moving it on again
                move("IG", "AP"), move("AP", "IG", BOT)
            if rng.random() < 0.1:  # a jump changeguard undid
                move("IG", "CL"), move("CL", "IG", BOT, soon=True)
            truth.deployed.append((move("IG", "IM"), approved))
            if rng.random() < 0.15:  # reopened, and changeguard put it back
                move("IM", "IG"), move("IG", "IM", BOT, soon=True)
            if rng.random() < 0.15:  # reopened for real, implemented again
                move("IM", "IG")
                truth.deployed.append((move("IG", "IM"), approved))
            if rng.random() < 0.2:  # closed too early, undone
                move("IM", "CL"), move("CL", "IM", BOT, soon=True)
            if rng.random() < 0.7:
                truth.closed.append(move("IM", "CL"))
        outcomes = [None, *POLICY.outcomes]
        truth.final_outcome = rng.choices(outcomes, [2, 6, 2, 1])[0]
        for _ in range(rng.randint(0, 2)):  # the Outcome edited along the way
            clock[0] += m(rng.randint(1, 600))
            histories.insert(rng.randrange(len(histories) + 1), field_history(
                0, clock[0], SITE.field_id(F.OUTCOME), rng.choice(POLICY.outcomes),
                rng.choice(POLICY.outcomes)))
        if rng.random() < 0.1:  # a long changelog: more than one page
            for n in range(rng.randint(30, 60)):
                histories.insert(rng.randrange(len(histories) + 1),
                                 field_history(0, clock[0], "labels", "", f"l{n}"))
        for id, history in enumerate(histories, start=1):
            history["id"] = str(id)
        gate = []
        if truth.deployed and rng.random() < 0.25:
            for _ in range(rng.randint(1, 3)):
                state = rng.choice(list(DeployState))
                at = truth.deployed[-1][0] - m(rng.randint(0, 90))
                gate.append(gate_entry(state, at.isoformat()))
                if state in LET_THROUGH:
                    truth.gate.append(at)
        links = [link(c) for c in causes] + ([link(truths[0].key, "relates to")]
                                             if truths and rng.random() < 0.1 else [])
        if category is not C.EMERGENCY and truths and rng.random() < 0.05:
            links.append(link(rng.choice(truths).key))  # only Emergency changes fail others
        category_value = CATEGORY_VALUES.get(category) if category else None
        if len(histories) > 40:
            issue = issue_json(key, category_value, created, histories[-40:],
                               outcome=truth.final_outcome, links=links, gate=gate or None)
            issue["changelog"]["total"] = len(histories)
            pages = [histories[i:i + 40] for i in range(0, len(histories), 35)]
            rng.shuffle(pages)
            made.append((issue, [h for page in pages for h in page], truth.freeze))
        else:
            shuffled = list(histories)
            rng.shuffle(shuffled)
            made.append((issue_json(key, category_value, created, shuffled,
                                    outcome=truth.final_outcome, links=links,
                                    gate=gate or None), None, truth.freeze))
        truths.append(truth)
    return made, truths


def expected_table(truths: list[Truth], now: datetime) -> dict:
    """Recount the truth week by week: local-midnight bounds, plain loops, statistics.median."""
    bounds = [(week, datetime(week.year, week.month, week.day, tzinfo=ZONE),
               datetime(week.year, week.month, week.day, tzinfo=ZONE) + timedelta(days=7))
              for week in SEED_WEEKS]
    bounds = [(week, start, datetime.combine(start.date() + timedelta(days=7),
                                             datetime.min.time(), tzinfo=ZONE))
              for week, start, _ in bounds]
    by_key = {t.key: t for t in truths}
    failed = set()
    for t in truths:
        if t.final_outcome in ("Failed", "Rolled Back") and t.deployed:
            failed.add((t.key, t.deployed[-1][0]))
        if t.category is not C.EMERGENCY:
            continue
        for cause_key in t.causes:
            cause = by_key.get(cause_key)
            if cause is None or cause is t:
                continue
            times = [at for at, _ in cause.deployed]
            position = bisect.bisect_right(times, t.created)
            if position and t.created - times[position - 1] <= timedelta(days=7):
                failed.add((cause.key, times[position - 1]))
    cells = {}
    for week, start, end in bounds:
        for scope in SCOPES:
            chosen = [t for t in truths if scope is None or t.category is scope]
            deployed = [(t, at, approved) for t in chosen for at, approved in t.deployed
                        if start <= at < end]
            emergency = [(t, at) for t, at, _ in deployed if t.category is C.EMERGENCY]
            on_time = [1 for t, at in emergency
                       if any(at <= c <= at + h(48) for c in t.closed)]
            due = [1 for t, at in emergency
                   if now >= at + h(48) or any(at <= c <= at + h(48) for c in t.closed)]
            restores = [t.deployed[0][0] - t.created for t in chosen
                        if t.category is C.EMERGENCY and t.deployed
                        and start <= t.deployed[0][0] < end]
            approvals = [approved - t.created for t, _, approved in deployed]
            waits = [at - approved for _, at, approved in deployed]
            cells[(week, scope)] = WeekHealth(
                deployments=len(deployed),
                failures=sum((t.key, at) in failed for t, at, _ in deployed),
                lead_time_to_approval=statistics.median(approvals) if approvals else None,
                lead_time_to_implemented=statistics.median(waits) if waits else None,
                time_to_restore=statistics.median(restores) if restores else None,
                emergency_deployments=len(emergency),
                retrospectives_due=len(due), retrospectives_on_time=len(on_time),
                freeze_exceptions=sum(t.freeze for t, _, _ in deployed),
                gate_deployments=sum(start <= at < end for t in chosen for at in t.gate))
    return cells


@pytest.mark.parametrize("seed", [12, 2026, 7])
def test_seeded_history_matches_what_happened(seed):
    made, truths = seeded_history(seed)
    facts = [facts_from_issue(issue, SITE, POLICY, histories=pages, freeze_exception=freeze)
             for issue, pages, freeze in made]
    for fact, truth in zip(facts, truths):
        assert (fact.key, fact.category, fact.created) == (truth.key, truth.category,
                                                           truth.created)
        assert fact.implementations == tuple(Implementation(at, approved)
                                             for at, approved in truth.deployed)
        assert fact.closed == tuple(truth.closed)
        assert sorted(fact.gate_deployments) == sorted(truth.gate)
    table = weekly_health(facts, SEED_WEEKS, ZONE, now=SEED_NOW)
    expected = expected_table(truths, SEED_NOW)
    assert dict(table.cells) == expected
    # The history is big and varied enough to mean something.
    assert len(made) == 320 and sum(pages is not None for _, pages, _ in made) >= 10
    assert sum(cell.failures for (_, scope), cell in expected.items() if scope is None) >= 20
    assert sum(len(t.deployed) == 2 for t in truths) >= 10


@pytest.mark.parametrize("seed", [12, 2026])
def test_seeded_history_invariants_and_comparison(seed):
    made, truths = seeded_history(seed)
    facts = [facts_from_issue(issue, SITE, POLICY, histories=pages, freeze_exception=freeze)
             for issue, pages, freeze in made]
    table = weekly_health(facts, SEED_WEEKS, ZONE, now=SEED_NOW)
    uncategorised = [t for t in truths if t.category is None]
    for week in SEED_WEEKS:
        every = table.cell(week)
        parts = [table.cell(week, scope) for scope in SCOPES[1:]]
        assert every.deployments == sum(p.deployments for p in parts) + sum(
            week_of(at, ZONE) == week for t in uncategorised for at, _ in t.deployed)
        assert every.emergency_deployments == table.cell(week, C.EMERGENCY).deployments
        for cell in (every, *parts):
            assert 0 <= cell.failures <= cell.deployments
            assert 0 <= cell.retrospectives_on_time <= cell.retrospectives_due
            assert cell.retrospectives_due <= cell.emergency_deployments
    comparison = compare_last_week(table)
    assert comparison.week == SEED_WEEKS[-1]
    assert comparison.baseline_weeks == SEED_WEEKS[1:13]
    assert [(row.scope, row.measure) for row in comparison.rows] == list(ROWS)
    for row in comparison.rows:
        earlier = [measure_value(table.cell(w, row.scope), row.measure)
                   for w in SEED_WEEKS[1:13]]
        earlier = [v for v in earlier if v is not None]
        assert row.baseline == (pytest.approx(statistics.median(earlier)) if earlier else None)
    parsed = list(csv.DictReader(io.StringIO(health_csv(table, POLICY))))
    assert len(parsed) == 14 * 4
    assert [int(r["deployments"]) for r in parsed if r["category"] == "All changes"] == [
        table.cell(w).deployments for w in SEED_WEEKS]
    assert weeks_before(SEED_NOW, 14, ZONE) == SEED_WEEKS


def test_caused_by_window_is_seven_days_inclusive():
    deployed = utc("04-01 10:00")
    cause = ChangeFacts("CHG-1", C.NORMAL, utc("03-30 10:00"),
                        (Implementation(deployed, None),))

    def failures(created: datetime) -> int:
        emergency = ChangeFacts("CHG-2", C.EMERGENCY, created, caused_by=("CHG-1",))
        return weekly_health((cause, emergency), (date(2026, 3, 30),), ZONE,
                             now=NOW).cell(date(2026, 3, 30)).failures

    assert [failures(deployed + CAUSED_BY_WINDOW), failures(deployed + CAUSED_BY_WINDOW + m(1)),
            failures(deployed), failures(deployed - m(1))] == [1, 0, 1, 0]


# ---------------------------------------------------------------- reading from a search


def cut_short(histories: list[dict], total: int) -> dict:
    issue = issue_json("CHG-9", "Normal", utc("04-01 08:00"), histories)
    issue["changelog"]["total"] = total
    return issue


SINCE = utc("04-06 00:00")


@pytest.mark.parametrize(("issue", "whole"), [
    (issue_json("CHG-9", "Normal", utc("04-01 08:00"), moves("04-07 09:00 AP>IG")), False),
    ({"key": "CHG-9", "fields": {}}, False),
    (cut_short(moves("04-01 09:00 D>AA", "04-02 09:00 AA>AP"), 50), False),
    (cut_short(moves("04-01 09:00 D>AA", "04-07 09:00 AP>IG"), 50), True),
    (cut_short(moves("04-01 09:00 D>AA", "04-07 09:00 IG>IM"), 50), True),
    (cut_short([field_history(7, utc("04-01 09:00"), "labels", "", "a"),
                field_history(8, utc("04-07 09:00"), "labels", "a", "b")], 50), False),
    (cut_short([field_history(7, utc("04-06 00:00"), "labels", "", "a")], 50), True),
    (cut_short([{"id": "7", "created": "garbled", "items": []}], 50), True),
], ids=["whole", "no-changelog", "all-before", "implementing-since", "implemented-since",
        "only-edits-since", "starts-at-since", "no-readable-time"])
def test_a_cut_short_changelog_is_read_whole_only_when_it_may_lack_what_counts(issue, whole):
    assert needs_whole_changelog(issue, SITE, SINCE) is whole


def test_the_facts_read_a_freeze_exception_from_the_record():
    record = {"approvals": {"revision": "r", "values": {}, "approvals": [
        {"accountId": PERSON, "role": "cab", "at": "x"},
        {"accountId": PERSON, "role": "freeze_exception", "at": "x"}]}}
    issue = issue_json("CHG-9", "Normal", utc("04-01 08:00"))
    assert not facts_from_issue(issue, SITE, POLICY).freeze_exception
    issue["properties"] = {"changeguard": record}
    assert facts_from_issue(issue, SITE, POLICY).freeze_exception
    cab_only = {"approvals": {"approvals": record["approvals"]["approvals"][:1]}}
    assert (has_freeze_exception(record), has_freeze_exception(None),
            has_freeze_exception(cab_only)) == (True, False, False)
    assert health_fields_to_fetch(SITE)[-2:] == ("created", "issuelinks")


def test_the_agenda_rows_and_their_cells():
    comparison = compare_last_week(weekly_health(hand_facts(), (WEEK_Z, WEEK_A, WEEK_B, WEEK_C,
                                                                WEEK_D), ZONE, now=NOW),
                                   AGENDA_ROWS)
    assert [(row.scope, row.measure) for row in comparison.rows] == list(AGENDA_ROWS)
    assert [health_cells(row, POLICY, 48) for row in comparison.rows[:2]] == [
        ("All changes", "Deployments (reached Implemented)", "2", "3", "steady"),
        ("All changes", "Change failure rate", "0%", "25%", "better")]
    assert since_text(comparison) == "the median of the 4 weeks from 30 Mar 2026"


def test_the_weeks_as_text():
    table = weekly_health(hand_facts(), (WEEK_C, WEEK_D), ZONE, now=NOW)
    assert weekly_text(table) == (
        "Week of      Deployments  Failures  Failure rate  Emergency\n"
        "20 Apr 2026  4            1         25%           1\n"
        "27 Apr 2026  2            0         0%            2")
