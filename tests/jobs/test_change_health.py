"""Change health read from the sandbox Jira: a seeded history of ~400 changes, hand-counted."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

import pytest

from bench.history import BOT, History
from jobs.change_health import gather_health, refresh_health_gauges
from jobs.periodic import cab_calendar
from rules.change_health import WeekHealth
from rules.deployment import PROPERTY_KEY as DEPLOYMENTS_KEY
from rules.deployment import DeploymentEntry, DeployState
from rules.issue_record import PROPERTY_KEY as RECORD_KEY
from rules.policy import Category as C
from worker import metrics

from ..builders import AGENDA_EMERGENCY, AGENDA_NORMAL

UTC = timezone.utc
NOW = datetime(2026, 10, 13, 12, tzinfo=UTC)  # Tuesday; last week is Mon 5 Oct (Europe/London)
FIRST_WEEK = date(2026, 7, 20)
WEEKS = 12
STANDARD = {**AGENDA_NORMAL, "Change Category": "Standard"}
H = timedelta(hours=1)


def at(week: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """Return a moment in the week-th week of the table (0: the first), in UTC."""
    monday = FIRST_WEEK + timedelta(weeks=week)
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC) + timedelta(
        days=day, hours=hour, minutes=minute, seconds=second)


def normal_count(week: int) -> int:
    return 20 + week


def seed(history: History) -> dict[str, str]:
    """Seed every week's regular changes and the special cases; return the special ones' keys.

    Every week w: 20 + w Normal changes, the i-th approved i + 1 hours after it was created and
    implemented on Wednesday 12:00 (the first w % 4 of them Failed); 5 Standard changes (2 h to
    approval, 2 h more to Implemented); 2 Emergency changes (1 h, 1 h; restored in 2 h), one
    closed 23 h after Implemented, one after 50 h.
    """
    normals: dict[tuple[int, int], str] = {}  # (week, i) -> key of the i-th Normal change
    for week in range(WEEKS):
        for i in range(normal_count(week)):
            outcome = "Failed" if i < week % 4 else "Successful"
            normals[(week, i)] = key = history.create({**AGENDA_NORMAL, "Outcome": outcome},
                                                      at(week, 0, 9))
            history.walk(key, ("Awaiting Approval", at(week, 0, 9, 30)),
                         ("Approved", at(week, 0, 9) + (i + 1) * H),
                         ("Implementing", at(week, 2, 11)), ("Implemented", at(week, 2, 12)),
                         ("Closed", at(week, 3, 9)))
        for _ in range(5):
            key = history.create({**STANDARD, "Outcome": "Successful"}, at(week, 0, 10))
            history.walk(key, ("Awaiting Approval", at(week, 0, 10, 30)),
                         ("Approved", at(week, 0, 12)), ("Implementing", at(week, 0, 13)),
                         ("Implemented", at(week, 0, 14)), ("Closed", at(week, 0, 15)))
        for closed in (at(week, 4, 9), at(week, 5, 12)):
            key = history.create({**AGENDA_EMERGENCY, "Outcome": "Successful"}, at(week, 3, 8))
            history.walk(key, ("Awaiting Approval", at(week, 3, 8, 10)),
                         ("Approved", at(week, 3, 9)), ("Implementing", at(week, 3, 9, 30)),
                         ("Implemented", at(week, 3, 10)), ("Closed", closed))
    return {**seed_special_cases(history), **seed_caused_by(history, normals)}


def seed_caused_by(history: History, normals: dict[tuple[int, int], str]) -> dict[str, str]:
    """Emergency changes of week 6 linked "is caused by" Normal changes deployed in week 5.

    Week 5's Normal changes went out on Wednesday 12:00; the first (5 % 4 = 1) is Failed. Each
    Emergency change here is created as named, then runs like the regular ones: approved 1 h
    after it was created, implemented 1 h later (restored in 2 h), closed 23 h after that.
    """
    keys = {}
    deployed = at(5, 2, 12)
    for name, cause, created in (
            # Monday, 4 days 21 h after: the cause failed already, so it is not counted again.
            ("caused-by-a-failed-change", normals[(5, 0)], at(6, 0, 9)),
            # Exactly 7 days after: inside the window, so the cause's deployment failed.
            ("caused-within-7-days", normals[(5, 1)], deployed + timedelta(days=7)),
            # 7 days and 1 minute after: too late to fail the cause's deployment.
            ("caused-after-7-days", normals[(5, 2)], deployed + timedelta(days=7, minutes=1))):
        keys[name] = key = history.create({**AGENDA_EMERGENCY, "Outcome": "Successful"},
                                          created)
        history.link(cause, key, by="erin")  # Jira's POST: the cause (inward) causes it
        history.walk(key, ("Awaiting Approval", created + timedelta(minutes=10)),
                     ("Approved", created + H), ("Implementing", created + 1.5 * H),
                     ("Implemented", created + 2 * H), ("Closed", created + 25 * H))
    return keys


def implemented_in_week_11(history: History, outcome: str = "Successful") -> str:
    """A Normal change of week 11: 24 h to approval, 24 h more to Implemented."""
    key = history.create({**AGENDA_NORMAL, "Outcome": outcome}, at(11, 0, 9))
    history.walk(key, ("Awaiting Approval", at(11, 0, 9, 30)), ("Approved", at(11, 1, 9)),
                 ("Implementing", at(11, 2, 8)), ("Implemented", at(11, 2, 9)))
    return key


def seed_special_cases(history: History) -> dict[str, str]:
    keys = {}
    # Reopened: implemented in week 10, moved back to Implementing (it stood), implemented
    # again in week 11 on the same approval.
    keys["reopened"] = key = history.create({**AGENDA_NORMAL, "Outcome": "Successful"},
                                            at(10, 0, 9))
    history.walk(key, ("Awaiting Approval", at(10, 0, 9, 30)), ("Approved", at(10, 1, 9)),
                 ("Implementing", at(10, 2, 8)), ("Implemented", at(10, 2, 9)),
                 ("Implementing", at(10, 2, 15)), ("Implemented", at(11, 1, 10)))
    # Closed too early: changeguard moved it straight back (neither move counts).
    keys["reverted"] = key = implemented_in_week_11(history)
    history.move(key, "Closed", at(11, 2, 10))
    history.move(key, "Implemented", at(11, 2, 10, 0, 5), by=BOT)
    # Outcomes edited after the fact: the Outcome as it is now counts.
    keys["failed-then-successful"] = key = implemented_in_week_11(history, "Failed")
    history.edit(key, {"Outcome": "Successful"}, at(11, 3, 9))
    keys["successful-then-rolled-back"] = key = implemented_in_week_11(history)
    history.edit(key, {"Outcome": "Rolled Back"}, at(11, 3, 9))
    # 120 edits between approval and deployment: the search brings the latest 40 histories,
    # GET changelog pages of 100; the approval is in the first page.
    keys["long-history"] = key = history.create({**AGENDA_NORMAL, "Outcome": "Successful"},
                                                at(11, 0, 9))
    history.walk(key, ("Awaiting Approval", at(11, 0, 9, 30)), ("Approved", at(11, 1, 9)))
    for n in range(120):
        history.edit(key, {"Labels": [f"note-{n}"]}, at(11, 1, 10, n % 60) + (n // 60) * H)
    history.walk(key, ("Implementing", at(11, 2, 8)), ("Implemented", at(11, 2, 9)))
    # A freeze exception recorded with its approvals, and a pipeline deployment the gate let
    # through (and one it denied).
    keys["freeze-exception"] = key = implemented_in_week_11(history)
    exception = {"accountId": history.site.users["dana"].account_id, "role": "freeze_exception",
                 "at": at(11, 1, 8).isoformat()}
    history.set_property(key, RECORD_KEY, {"approvals": {"revision": "r1", "values": {},
                                                         "approvals": [exception]}, "audit": []})
    keys["gate"] = key = implemented_in_week_11(history)
    history.set_property(key, DEPLOYMENTS_KEY, {"deployments": [
        DeploymentEntry("github:1", "run-1", "github", "production", state, "", moment).to_json()
        for state, moment in ((DeployState.ALLOWED, at(11, 2, 8, 30).isoformat()),
                              (DeployState.DENIED, at(11, 2, 7).isoformat()))]})
    # Emergency changes late on Sunday: implemented 22:00 UTC, still last week in London (its
    # retrospective not due yet); created 23:00 UTC, Monday 00:00 there, implemented in this week.
    for hour, name in ((20, "sunday-emergency"), (23, "monday-emergency")):
        keys[name] = key = history.create(AGENDA_EMERGENCY, at(11, 6, hour))
        history.walk(key, ("Awaiting Approval", at(11, 6, hour, 10)),
                     ("Approved", at(11, 6, hour, 20)), ("Implementing", at(11, 6, hour, 25)),
                     ("Implemented", at(11, 6, hour) + 2 * H - timedelta(minutes=30)
                      if hour == 23 else at(11, 6, hour + 2)))
    # Implemented long before the table: left alone, even when edited inside it.
    for name, edited in (("old", None), ("old-edited", at(5, 1, 9))):
        keys[name] = key = history.create({**AGENDA_NORMAL, "Outcome": "Successful"},
                                          datetime(2026, 5, 4, 9, tzinfo=UTC))
        history.walk(key, *((status, datetime(2026, 5, 5 + n, 9, tzinfo=UTC)) for n, status in
                            enumerate(("Awaiting Approval", "Approved", "Implementing",
                                       "Implemented"))))
        if edited is not None:
            history.edit(key, {"Outcome": "Failed"}, edited)
    return keys


def regular_week(week: int) -> dict:
    """Return a week without special cases, counted by hand from the pattern in seed()."""
    n = normal_count(week)
    failures = week % 4
    return {
        None: WeekHealth(deployments=n + 7, failures=failures,
                         # sorted: 1 h ×3, 2 h ×6, then 3..n h: the middle is (n - 6) / 2 h
                         lead_time_to_approval=(n - 6) / 2 * H,
                         # sorted: 1 h ×2, 2 h ×5, then 51 - n..50 h: the middle is 47 - n / 2 h
                         lead_time_to_implemented=(47 - n / 2) * H, time_to_restore=2 * H,
                         emergency_deployments=2, retrospectives_due=2,
                         retrospectives_on_time=1),
        C.NORMAL: WeekHealth(deployments=n, failures=failures,
                             lead_time_to_approval=(n + 1) / 2 * H,
                             lead_time_to_implemented=(51 - (n + 1) / 2) * H),
        C.STANDARD: WeekHealth(deployments=5, lead_time_to_approval=2 * H,
                               lead_time_to_implemented=2 * H),
        C.EMERGENCY: WeekHealth(deployments=2, lead_time_to_approval=H,
                                lead_time_to_implemented=H, time_to_restore=2 * H,
                                emergency_deployments=2, retrospectives_due=2,
                                retrospectives_on_time=1),
    }


# Weeks 5, 6, 10 and 11, with their special cases, counted by hand (the sorted values are in
# the comments; a median of an even count is the mean of the middle two).
SPECIAL_WEEKS = {
    5: {
        # The regular week 5 (25 Normal changes, the first Failed), plus one failure: the
        # second Normal change, an Emergency change created exactly 7 days after its deployment
        # "is caused by" it. The Failed one, also linked, stays one failure; the third, linked
        # 7 days and 1 minute after, is not one.
        None: dataclasses.replace(regular_week(5)[None], failures=2),
        C.NORMAL: dataclasses.replace(regular_week(5)[C.NORMAL], failures=2),
    },
    6: {
        # The regular week 6 (n = 26) and the three linked Emergency changes deployed in it:
        # 36 deployments, 5 of them Emergency (their failures count in week 5, not here).
        # To approval: 1 h ×6 (Normal #0, 5 Emergency), 2 h ×6, 3..26 h -> 8 and 9 -> 8.5 h.
        # To Implemented: 1 h ×5 (Emergency), 2 h ×5 (Standard), 25..50 h -> 32 and 33 -> 32.5 h.
        # Retrospectives: the regular two (one late) and three closed 23 h after -> 5 due,
        # 4 on time.
        None: WeekHealth(deployments=36, failures=2, lead_time_to_approval=8.5 * H,
                         lead_time_to_implemented=32.5 * H, time_to_restore=2 * H,
                         emergency_deployments=5, retrospectives_due=5,
                         retrospectives_on_time=4),
        C.EMERGENCY: WeekHealth(deployments=5, lead_time_to_approval=H,
                                lead_time_to_implemented=H, time_to_restore=2 * H,
                                emergency_deployments=5, retrospectives_due=5,
                                retrospectives_on_time=4),
    },
    10: {
        # Normal: the 30 regular ones and the reopened change's first deployment.
        # To approval: 1..30 h and 24 h -> 16 h. To Implemented: 21..50 h and 24 h -> 35 h.
        # Every change: 38 values; to approval 1,1,1,2×6,3..30 (24 twice) -> 12.5 h;
        # to Implemented 1,1,2×5,21,22,23,24,24,25..50 -> 31.5 h.
        None: WeekHealth(deployments=38, failures=2, lead_time_to_approval=12.5 * H,
                         lead_time_to_implemented=31.5 * H, time_to_restore=2 * H,
                         emergency_deployments=2, retrospectives_due=2,
                         retrospectives_on_time=1),
        C.NORMAL: WeekHealth(deployments=31, failures=2, lead_time_to_approval=16 * H,
                             lead_time_to_implemented=35 * H),
    },
    11: {
        # Normal: 31 regular + reopened (again) + reverted + two edited outcomes + long
        # history + freeze exception + gate = 38; failures 11 % 4 = 3 and the rolled back one.
        # To approval: 1..31 h and 24 h seven times -> 19.5 h. To Implemented: 20..50 h, 24 h
        # six times and 169 h (reopened: 7 days and 1 h after its approval) -> 32.5 h.
        # Every change (46): to approval 1×4, 2×6, 3..23, 24×8, 25..31 -> 15.5 h; to
        # Implemented 1×3, 2×5, 20..23, 24×7, 25..50, 169 -> 28.5 h.
        None: WeekHealth(deployments=46, failures=4, lead_time_to_approval=15.5 * H,
                         lead_time_to_implemented=28.5 * H, time_to_restore=2 * H,
                         emergency_deployments=3, retrospectives_due=2,
                         retrospectives_on_time=1, freeze_exceptions=1, gate_deployments=1),
        C.NORMAL: WeekHealth(deployments=38, failures=4, lead_time_to_approval=19.5 * H,
                             lead_time_to_implemented=32.5 * H, freeze_exceptions=1,
                             gate_deployments=1),
        # With the Sunday-night one (20 min to approval, 1 h 40 min to Implemented, restored in
        # 2 h; its retrospective not due before Tuesday 22:00): medians 1 h, 1 h and 2 h.
        C.EMERGENCY: WeekHealth(deployments=3, lead_time_to_approval=H, lead_time_to_implemented=H,
                                time_to_restore=2 * H, emergency_deployments=3,
                                retrospectives_due=2, retrospectives_on_time=1),
    },
}


def expected_cell(week: int, scope):
    return {**regular_week(week), **SPECIAL_WEEKS.get(week, {})}[scope]


@pytest.fixture
def seeded(jira):
    history = History(jira)
    with history.quiet():
        return seed(history)


def bot_requests(jira):
    return [r for r in jira.requests if r.account_id == jira.bot.account_id]


@pytest.mark.parametrize("scope", [None, C.STANDARD, C.NORMAL, C.EMERGENCY],
                         ids=["all", "standard", "normal", "emergency"])
def test_twelve_weeks_of_a_seeded_history_counted_by_hand(jira, runtime, seeded, scope):
    jira.reset_recordings()
    table = gather_health(NOW, weeks=WEEKS, calendar=cab_calendar(runtime.policy),
                          runtime=runtime)
    assert table.weeks == tuple(FIRST_WEEK + timedelta(weeks=w) for w in range(WEEKS))
    assert [table.cell(week, scope) for week in table.weeks] == [
        expected_cell(w, scope) for w in range(WEEKS)]


def test_the_search_pages_and_the_reads_it_takes(jira, runtime, seeded):
    jira.reset_recordings()
    gather_health(NOW, weeks=WEEKS, calendar=cab_calendar(runtime.policy), runtime=runtime)
    requests = bot_requests(jira)
    searches = [r for r in requests if r.path == "/rest/api/3/search/jql"]
    found = [issue["key"] for r in searches for issue in r.response["issues"]]
    assert searches[0].json["jql"] == ('(issuetype = "Change Request") AND '
                                       'updated >= "2026-07-18 23:00" ORDER BY key')
    assert seeded["old"] not in found and seeded["old-edited"] in found
    # Only the long history is read whole: two pages of 100.
    changelog = f"/rest/api/3/issue/{seeded['long-history']}/changelog"
    assert [(r.path, r.query.get("startAt")) for r in requests if r.path.endswith("changelog")
            ] == [(changelog, "0"), (changelog, "100")]
    # Properties (freeze exceptions, the gate's deployments) come with the search: no GETs.
    assert searches[0].json["properties"] == ["changeguard", "changeguard.deployments"]
    assert [r.path for r in requests if r.method == "GET" and not r.path.endswith("changelog")
            ] == []
    assert len(searches) == -(-len(found) // 100)


def test_a_week_is_monday_to_monday_in_the_cab_zone(jira, runtime, seeded):
    table = gather_health(NOW, weeks=1, calendar=cab_calendar(runtime.policy), runtime=runtime)
    assert table.weeks == (date(2026, 10, 5),)
    assert table.cell(date(2026, 10, 5), C.EMERGENCY).deployments == 3  # not the Monday one


def test_gauges_hold_last_weeks_numbers_until_the_next_count(jira, runtime, seeded):
    calendar = cab_calendar(runtime.policy)
    assert "changeguard_health_" not in metrics.render(runtime.redis, runtime.settings, [])
    stored = refresh_health_gauges(NOW, calendar=calendar, runtime=runtime)
    text = metrics.render(runtime.redis, runtime.settings, [])
    lines = [line for line in text.splitlines() if "changeguard_health_" in line]
    week_start = datetime(2026, 10, 4, 23, tzinfo=UTC).timestamp()
    assert lines[:3] == [
        "# HELP changeguard_health_week_start_timestamp_seconds Start (Monday 00:00, CAB time "
        "zone) of the week the change health gauges describe.",
        "# TYPE changeguard_health_week_start_timestamp_seconds gauge",
        f"changeguard_health_week_start_timestamp_seconds {week_start!r}"]
    samples = dict(line.rsplit(" ", 1) for line in lines if not line.startswith("#"))
    assert len(samples) == stored
    assert {name: samples[name] for name in (
        'changeguard_health_deployments{category="all"}',
        'changeguard_health_deployments{category="normal"}',
        'changeguard_health_failures{category="all"}',
        'changeguard_health_change_failure_rate{category="normal"}',
        'changeguard_health_lead_time_to_approval_seconds{category="normal"}',
        'changeguard_health_time_to_restore_seconds{category="emergency"}',
        'changeguard_health_retrospectives_on_time_ratio{category="emergency"}',
        'changeguard_health_freeze_exceptions{category="all"}',
        'changeguard_health_gate_deployments{category="all"}')} == {
        'changeguard_health_deployments{category="all"}': "46.0",
        'changeguard_health_deployments{category="normal"}': "38.0",
        'changeguard_health_failures{category="all"}': "4.0",
        'changeguard_health_change_failure_rate{category="normal"}': repr(4 / 38),
        'changeguard_health_lead_time_to_approval_seconds{category="normal"}': "70200.0",
        'changeguard_health_time_to_restore_seconds{category="emergency"}': "7200.0",
        'changeguard_health_retrospectives_on_time_ratio{category="emergency"}': "0.5",
        'changeguard_health_freeze_exceptions{category="all"}': "1.0",
        'changeguard_health_gate_deployments{category="all"}': "1.0"}
    # Without Standard retrospectives or restores, those gauges are absent, not zero.
    assert 'changeguard_health_time_to_restore_seconds{category="standard"}' not in samples
