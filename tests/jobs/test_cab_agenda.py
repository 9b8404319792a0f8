"""The agenda job against the sandbox Jira: paged searches, one comment, rebuilt in place."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue

from bench.history import History
from jobs.cab_agenda import AGENDA_PROPERTY, CHART_FILENAME, gather_agenda, post_cab_agenda
from jobs.periodic import cab_calendar, enqueue_tick, periodic_queue_name, tick
from rules.cab_agenda import CHART_TEXT, agenda_text
from rules.cab_schedule import next_meeting
from sandbox.jira_routes import SEARCH_CHANGELOG_LIMIT
from worker.jira_client import JiraRejected

from ..builders import AGENDA_EMERGENCY, AGENDA_NORMAL, example_freezes_policy_path, make_change

NOW = datetime(2030, 1, 7, 15, 30, tzinfo=timezone.utc)  # after the agenda time of Tue 8 Jan
def window(day: int, start: int, end: int) -> dict[str, str]:
    return {"Planned Start": f"2030-01-{day:02d}T{start:02d}:00:00.000+0000",
            "Planned End": f"2030-01-{day:02d}T{end:02d}:00:00.000+0000"}


@pytest.fixture
def calendar(runtime):
    return cab_calendar(runtime.policy)


def seed(jira):
    """Seven Normal changes awaiting approval, one overdue Emergency change, two clashing."""
    awaiting = [make_change(jira, f"Awaiting {n}", {**AGENDA_NORMAL, **window(10, n, n + 1)},
                            "Awaiting Approval") for n in range(1, 8)]
    emergency = make_change(jira, "Hotfix the ledger", AGENDA_EMERGENCY, "Implemented",
                            datetime(2030, 1, 3, 9, tzinfo=timezone.utc))
    a = make_change(jira, "Window A", {**AGENDA_NORMAL, **window(9, 9, 11)}, "Approved")
    b = make_change(jira, "Window B", {**AGENDA_NORMAL, **window(9, 10, 12)}, "Implementing")
    return awaiting, emergency, a, b


def expected_agenda(jira, awaiting, emergency, a, b) -> str:
    alice, erin = (f"@{jira.users[n].account_id}" for n in ("alice", "erin"))
    lines = [f"{key} “Awaiting {n}” · window Thu 10 Jan 2030 {n:02d}:00–{n + 1:02d}:00 · risk "
             f"Medium · reporter {alice} · rollback plan yes" for n, key in enumerate(awaiting, 1)]
    return "\n".join([
        "CAB agenda for Tue 8 Jan 2030 15:00 (Europe/London)",
        "Overdue emergency retrospectives (1)",
        f"{emergency} “Hotfix the ledger” · implemented Thu 3 Jan 2030 09:00 · retrospective "
        f"overdue since Sat 5 Jan 2030 09:00 · IC {erin}",
        "Normal changes awaiting approval (7)", *lines,
        "Emergency changes awaiting their retrospective (0)",
        "None.",
        "Implemented since the last meeting (since Tue 1 Jan 2030 15:00) (1)",
        f"{emergency} “Hotfix the ledger” · implemented Thu 3 Jan 2030 09:00 · outcome not "
        "recorded yet",
        "Clashing change windows (1)",
        f"{a} (Wed 9 Jan 2030 09:00–11:00) overlaps {b} (Wed 9 Jan 2030 10:00–12:00)",
    ])


def without_health(text: str) -> str:
    """Return an agenda's text up to its health section (tested on its own)."""
    return text.split("\nHow changes are going")[0]


def searches(jira):
    return [r.json for r in jira.requests
            if r.account_id == jira.bot.account_id and r.path == "/rest/api/3/search/jql"]


def test_agenda_is_built_from_paged_searches(jira, runtime, calendar):
    keys = seed(jira)
    meeting = next_meeting(calendar, NOW)
    jira.reset_recordings()
    agenda = gather_agenda(meeting, NOW, calendar=calendar, runtime=runtime, page_size=3)
    assert without_health(agenda.text) == expected_agenda(jira, *keys)
    paged = [body for body in searches(jira) if body.get("nextPageToken")]
    assert len(paged) >= 2  # seven awaiting approval at three a page: three pages
    assert jira.comments(runtime.policy.cab.epic_key) == []  # gathering changes nothing


def test_a_scope_with_or_still_finds_only_the_statuses_the_agenda_reads(jira, runtime, calendar):
    # Unparenthesised, 'CR OR project = OPS AND status in (...)' would match every Draft change.
    keys = seed(jira)
    draft = make_change(jira, "Still a draft", AGENDA_NORMAL, "Draft")
    scoped = dataclasses.replace(runtime, policy=dataclasses.replace(
        runtime.policy, scope_jql='issuetype = "Change Request" OR project = OPS'))
    jira.reset_recordings()
    agenda = gather_agenda(next_meeting(calendar, NOW), NOW, calendar=calendar, runtime=scoped)
    assert without_health(agenda.text) == expected_agenda(jira, *keys)
    found = [issue["key"] for r in jira.requests if r.path == "/rest/api/3/search/jql"
             for issue in r.response["issues"]]
    # Only the statuses read: 7 awaiting, 2 approved or implementing, 1 implemented; no draft.
    assert draft not in found
    assert len(found) == len(set(found)) == 10


def bot_reads(jira):
    """Return changeguard's requests as (method, what): a search's expand, or the issue read."""
    return [(r.method, (r.json or {}).get("expand") if r.path.endswith("/search/jql")
             else r.path.rsplit("/", 1)[-1]) for r in jira.requests
            if r.account_id == jira.bot.account_id]


# Awaiting Approval (seven at three a page), Approved and Implementing, then Implemented and
# Closed since the start of the 13 weeks change health compares, with their changelogs; then the
# declared freezes (once: cached for a minute).
SEARCH_PAGES = [("POST", None)] * 4 + [("POST", "changelog")] * 2 + [("POST", None)]


def test_changelogs_come_with_the_search_pages(jira, runtime, calendar):
    keys = seed(jira)
    jira.reset_recordings()
    agenda = gather_agenda(next_meeting(calendar, NOW), NOW, calendar=calendar, runtime=runtime,
                           page_size=3)
    assert without_health(agenda.text) == expected_agenda(jira, *keys)
    assert bot_reads(jira) == SEARCH_PAGES  # no read per Implemented or Closed change


def test_a_changelog_the_search_cut_short_is_read_once(jira, runtime, calendar):
    awaiting, emergency, a, b = seed(jira)
    for n in range(SEARCH_CHANGELOG_LIMIT):  # pushes its move into Implemented out of the 40
        jira.edit(emergency, "alice", {"Labels": [f"note-{n}"]})
    jira.reset_recordings()
    agenda = gather_agenda(next_meeting(calendar, NOW), NOW, calendar=calendar, runtime=runtime,
                           page_size=3)
    assert without_health(agenda.text) == expected_agenda(jira, awaiting, emergency, a, b)
    assert bot_reads(jira) == SEARCH_PAGES[:5] + [("GET", "changelog")] + SEARCH_PAGES[5:]


def test_agenda_posts_one_comment_and_a_rebuild_edits_it(jira, runtime, calendar):
    awaiting, emergency, a, b = seed(jira)
    epic = runtime.policy.cab.epic_key
    meeting = next_meeting(calendar, NOW)
    first = post_cab_agenda(meeting, NOW, calendar=calendar, runtime=runtime, page_size=3)
    [comment] = jira.comments(epic)
    assert first == {"meeting": "20300108T1500Z", "comment_id": comment["id"], "action": "posted"}
    assert without_health(agenda_text(comment["body"])) == expected_agenda(
        jira, awaiting, emergency, a, b)
    assert jira.property(epic, AGENDA_PROPERTY) == {"20300108T1500Z": comment["id"]}

    jira.transition(awaiting[0], "Approved", as_user="carol")
    second = post_cab_agenda(meeting, NOW, calendar=calendar, runtime=runtime, page_size=3)
    assert second == {**first, "action": "updated"}
    [comment] = jira.comments(epic)
    assert f"{awaiting[0]} “Awaiting 1”" not in agenda_text(comment["body"])
    assert "Normal changes awaiting approval (6)" in agenda_text(comment["body"])


def test_the_epic_property_remembers_the_comment_when_redis_forgets(jira, runtime, calendar):
    meeting = next_meeting(calendar, NOW)
    first = post_cab_agenda(meeting, NOW, calendar=calendar, runtime=runtime)
    runtime.redis.delete(runtime.settings.key("agenda", meeting.key))  # e.g. a Redis flush
    assert post_cab_agenda(meeting, NOW, calendar=calendar, runtime=runtime) == {
        **first, "action": "updated"}
    assert len(jira.comments(runtime.policy.cab.epic_key)) == 1


def test_a_deleted_agenda_comment_is_posted_again(jira, runtime, calendar):
    meeting = next_meeting(calendar, NOW)
    first = post_cab_agenda(meeting, NOW, calendar=calendar, runtime=runtime)
    with jira.site.lock:  # someone deleted the agenda comment in Jira
        jira.site.issue(runtime.policy.cab.epic_key).comments.clear()
    second = post_cab_agenda(meeting, NOW, calendar=calendar, runtime=runtime)
    assert second["action"] == "posted" and second["comment_id"] != first["comment_id"]
    assert len(jira.comments(runtime.policy.cab.epic_key)) == 1



def test_ticks_post_the_agenda_once_per_meeting_and_a_failure_is_redone(jira, runtime):
    epic = runtime.policy.cab.epic_key
    assert tick("2030-01-07T14:59:00+00:00", runtime=runtime) == {
        "sweep:20300107T1455Z": "0 recovered", "retro-scan:20300107T14Z": "0 flagged",
        # Once a day: last week's health for the gauges (the week start and 4 zero counts for
        # each of the four scopes; no rates or medians without deployments).
        "health:20300107": "17 gauges"}
    assert jira.comments(epic) == []
    jira.inject_fault("POST", r"/comment$", 400)
    with pytest.raises(JiraRejected):
        tick("2030-01-07T15:00:00+00:00", runtime=runtime)
    assert jira.comments(epic) == []
    results = [tick(f"2030-01-07T15:0{m}:00+00:00", runtime=runtime) for m in (1, 2, 3)]
    assert results == [{"sweep:20300107T1500Z": "claimed", "agenda:20300108T1500Z": "posted",
                        "retro-scan:20300107T15Z": "claimed", "health:20300107": "claimed"},
                       {"sweep:20300107T1500Z": "claimed", "agenda:20300108T1500Z": "claimed",
                        "retro-scan:20300107T15Z": "claimed", "health:20300107": "claimed"},
                       {"sweep:20300107T1500Z": "claimed", "agenda:20300108T1500Z": "claimed",
                        "retro-scan:20300107T15Z": "claimed", "health:20300107": "claimed"}]
    assert len(jira.comments(epic)) == 1
    # Missed until just before the meeting: the next tick makes it up; after it, nothing.
    assert tick("2030-01-15T14:59:59+00:00", runtime=runtime)["agenda:20300115T1500Z"] == "posted"
    assert "agenda:20300115T1500Z" not in tick("2030-01-15T15:00:00+00:00", runtime=runtime)
    assert len(jira.comments(epic)) == 2


def test_every_worker_enqueues_the_minute_s_tick_but_only_one_is_queued(runtime):
    queue = Queue(periodic_queue_name(runtime.settings), connection=runtime.redis)
    minute = datetime(2030, 1, 7, 15, 1, tzinfo=timezone.utc)
    assert [enqueue_tick(queue, runtime.settings, minute) for _ in range(3)] == [True, False, False]
    assert queue.job_ids == [f"{runtime.settings.namespace}-tick-20300107T1501Z"]


# -- change health, the chart and the coming week's freezes ----------------------------------

BASELINE_FROM = datetime(2029, 10, 8, 9, tzinfo=timezone.utc)  # Monday of the first week
LAST_WEEK = datetime(2029, 12, 31, 9, tzinfo=timezone.utc)


def seed_health(history: History) -> list[str]:
    """Two Normal changes a week for 12 weeks, then last week four (one Failed) and one
    Emergency change whose retrospective came 22 h after it was implemented."""
    keys = []

    def normal(monday: datetime, outcome: str = "Successful") -> None:
        key = history.create({**AGENDA_NORMAL, "Outcome": outcome}, monday)
        history.walk(key, ("Awaiting Approval", monday + timedelta(minutes=30)),
                     ("Approved", monday + timedelta(days=1)),
                     ("Implementing", monday + timedelta(days=2, hours=-1)),
                     ("Implemented", monday + timedelta(days=2)),
                     ("Closed", monday + timedelta(days=3)))
        keys.append(key)

    for week in range(12):
        for _ in range(2):
            normal(BASELINE_FROM + timedelta(weeks=week))
    for outcome in ("Failed", "Successful", "Successful", "Successful"):
        normal(LAST_WEEK, outcome)
    created = LAST_WEEK + timedelta(days=3)
    key = history.create(AGENDA_EMERGENCY, created)
    history.walk(key, ("Awaiting Approval", created + timedelta(minutes=10)),
                 ("Approved", created + timedelta(hours=1)),
                 ("Implementing", created + timedelta(hours=1, minutes=30)),
                 ("Implemented", created + timedelta(hours=2)),
                 ("Closed", created + timedelta(hours=24)))
    return [*keys, key]


HEALTH_SECTION = """\
How changes are going: week of 31 Dec 2029 against the median of the 12 weeks from 08 Oct 2029
Category | Measure | Last week | Median | Trend
All changes | Deployments (reached Implemented) | 5 | 2 | better
All changes | Change failure rate | 20% | 0% | worse
All changes | Lead time, created to Approved (median) | 24.0 h | 24.0 h | steady
All changes | Lead time, Approved to Implemented (median) | 24.0 h | 24.0 h | steady
All changes | Emergency share of deployments | 20% | 0% | worse
All changes | Freeze exceptions | 0 | 0 | steady
Standard | Deployments (reached Implemented) | 0 | 0 | steady
Standard | Change failure rate | - | - | unknown
Standard | Lead time, created to Approved (median) | - | - | unknown
Standard | Lead time, Approved to Implemented (median) | - | - | unknown
Standard | Freeze exceptions | 0 | 0 | steady
Normal | Deployments (reached Implemented) | 4 | 2 | better
Normal | Change failure rate | 25% | 0% | worse
Normal | Lead time, created to Approved (median) | 24.0 h | 24.0 h | steady
Normal | Lead time, Approved to Implemented (median) | 24.0 h | 24.0 h | steady
Normal | Freeze exceptions | 0 | 0 | steady
Emergency | Deployments (reached Implemented) | 1 | 0 | steady
Emergency | Change failure rate | 0% | - | unknown
Emergency | Lead time, created to Approved (median) | 1.0 h | - | unknown
Emergency | Lead time, Approved to Implemented (median) | 1.0 h | - | unknown
Emergency | Time to restore (median) | 2.0 h | - | unknown
Emergency | Retrospectives done within 48 h | 100% | - | unknown"""


@pytest.fixture
def health_history(jira):
    history = History(jira)
    with history.quiet():
        return seed_health(history)


def test_the_health_section_compares_last_week_with_the_twelve_before(jira, runtime, calendar,
                                                                     health_history):
    jira.reset_recordings()
    agenda = gather_agenda(next_meeting(calendar, NOW), NOW, calendar=calendar, runtime=runtime)
    assert agenda.text.split("\n")[-len(HEALTH_SECTION.splitlines()):] == \
        HEALTH_SECTION.splitlines()
    # No read per change: the Closed search reaches back 13 weeks (one page here), the
    # declared freezes are one search; no freeze, so no change's record is read.
    assert bot_reads(jira) == [("POST", None)] * 2 + [("POST", "changelog")] * 2 + [
        ("POST", None)]


def test_the_weekly_agenda_attaches_the_chart_and_replaces_last_weeks(jira, runtime, calendar,
                                                                       health_history):
    epic = runtime.policy.cab.epic_key
    jira.attach(epic, "alice", "notes.txt", b"kept", "text/plain")
    meeting = next_meeting(calendar, NOW)
    post_cab_agenda(meeting, NOW, calendar=calendar, runtime=runtime)
    charts = [a for a in jira.attachments(epic) if a["filename"] == CHART_FILENAME]
    assert [a["mimeType"] for a in charts] == ["image/svg+xml"]
    first = charts[0]
    [comment] = jira.comments(epic)
    links = [mark["attrs"]["href"] for node in _walk(comment["body"]) if node.get("type") == "text"
             for mark in node.get("marks", []) if mark["type"] == "link"
             and node["text"] == CHART_TEXT]
    assert links == [first["content"]]
    text = agenda_text(comment["body"])
    assert text.index("How changes are going") < text.index(CHART_TEXT)

    post_cab_agenda(meeting, NOW, calendar=calendar, runtime=runtime)  # a rebuild, or next week
    charts = [a for a in jira.attachments(epic) if a["filename"] == CHART_FILENAME]
    assert len(charts) == 1 and charts[0]["id"] != first["id"]
    assert [a["filename"] for a in jira.attachments(epic)] == ["notes.txt", CHART_FILENAME]
    [comment] = jira.comments(epic)
    assert charts[0]["content"] in str(comment["body"])
    svg = jira.site.attachment(charts[0]["id"])[1].content
    assert svg.startswith(b"<?xml") and b"<svg" in svg


def _walk(node):
    yield node
    for child in node.get("content", []):
        yield from _walk(child)


def test_the_coming_weeks_freezes_head_the_agenda_and_exceptions_are_counted(
        jira, make_runtime, tmp_path):
    runtime = make_runtime(policy_path=example_freezes_policy_path(tmp_path))
    calendar = cab_calendar(runtime.policy)
    jira.create_freeze("dana", "Datacentre move", datetime(2030, 1, 9, 18, tzinfo=timezone.utc),
                       datetime(2030, 1, 10, 6, tzinfo=timezone.utc), kind="Hard",
                       reason="Racks move to the new hall.")
    jira.create_freeze("dana", "Later", datetime(2030, 2, 1, tzinfo=timezone.utc),
                       datetime(2030, 2, 2, tzinfo=timezone.utc), kind="Soft")
    history = History(jira)
    with history.quiet():
        # Deployed last week inside the Year end freeze, one with the Head of Engineering's
        # exception; one outside any freeze (its record is not read).
        keys = []
        for start in (datetime(2030, 1, 1, 10, tzinfo=timezone.utc),) * 2 + (
                datetime(2030, 1, 3, 10, tzinfo=timezone.utc),):
            key = history.create({**AGENDA_NORMAL, "Outcome": "Successful",
                                  "Planned Start": start,
                                  "Planned End": start + timedelta(hours=1)}, LAST_WEEK)
            history.walk(key, ("Awaiting Approval", LAST_WEEK + timedelta(minutes=5)),
                         ("Approved", LAST_WEEK + timedelta(hours=1)),
                         ("Implementing", start), ("Implemented", start + timedelta(minutes=30)))
            keys.append(key)
        history.set_property(keys[0], "changeguard", {"approvals": {
            "revision": "r1", "values": {}, "approvals": [{
                "accountId": jira.users["dana"].account_id, "role": "freeze_exception",
                "at": "2030-01-01T09:00:00+00:00"}]}})
    jira.reset_recordings()
    agenda = gather_agenda(next_meeting(calendar, NOW), NOW, calendar=calendar, runtime=runtime)
    lines = agenda.text.splitlines()
    assert lines[:4] == [
        "CAB agenda for Tue 8 Jan 2030 15:00 (Europe/London)",
        "Freezes in the coming week (2)",
        "Datacentre move (hard: Emergency changes only) · Wed 9 Jan 2030 18:00 – Thu 10 Jan "
        "2030 06:00 · Racks move to the new hall.",
        "Weekend (soft: other changes need a freeze exception) · Fri 11 Jan 2030 15:00 – Mon 14 "
        "Jan 2030 08:00 · Fewer people are at work to watch a change and roll it back over the "
        "weekend.",
    ]
    assert [f.name for f in agenda.freezes] == ["Datacentre move", "Weekend"]
    # One more than the median is within a count's steady margin.
    assert "All changes | Freeze exceptions | 1 | 0 | steady" in lines
    assert "Normal | Freeze exceptions | 1 | 0 | steady" in lines
    reads = [r.path for r in jira.requests if r.account_id == jira.bot.account_id
             and "/properties/" in r.path]
    assert reads == [f"/rest/api/3/issue/{key}/properties/changeguard" for key in keys[:2]]
