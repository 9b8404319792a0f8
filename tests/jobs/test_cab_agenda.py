"""The agenda job against the sandbox Jira: paged searches, one comment, rebuilt in place."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
from rq import Queue

from jobs.cab_agenda import AGENDA_PROPERTY, gather_agenda, post_cab_agenda
from jobs.periodic import cab_calendar, enqueue_tick, periodic_queue_name, tick
from rules.cab_agenda import agenda_text
from rules.cab_schedule import next_meeting
from sandbox.jira_routes import SEARCH_CHANGELOG_LIMIT
from worker.jira_client import JiraRejected

from ..builders import AGENDA_EMERGENCY, AGENDA_NORMAL, make_change

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


def searches(jira):
    return [r.json for r in jira.requests
            if r.account_id == jira.bot.account_id and r.path == "/rest/api/3/search/jql"]


def test_agenda_is_built_from_paged_searches(jira, runtime, calendar):
    keys = seed(jira)
    meeting = next_meeting(calendar, NOW)
    jira.reset_recordings()
    agenda = gather_agenda(meeting, NOW, calendar=calendar, runtime=runtime, page_size=3)
    assert agenda.text == expected_agenda(jira, *keys)
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
    assert agenda.text == expected_agenda(jira, *keys)
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
# Closed since the last meeting with their changelogs.
SEARCH_PAGES = [("POST", None)] * 4 + [("POST", "changelog")] * 2


def test_changelogs_come_with_the_search_pages(jira, runtime, calendar):
    keys = seed(jira)
    jira.reset_recordings()
    agenda = gather_agenda(next_meeting(calendar, NOW), NOW, calendar=calendar, runtime=runtime,
                           page_size=3)
    assert agenda.text == expected_agenda(jira, *keys)
    assert bot_reads(jira) == SEARCH_PAGES  # no read per Implemented or Closed change


def test_a_changelog_the_search_cut_short_is_read_once(jira, runtime, calendar):
    awaiting, emergency, a, b = seed(jira)
    for n in range(SEARCH_CHANGELOG_LIMIT):  # pushes its move into Implemented out of the 40
        jira.edit(emergency, "alice", {"Labels": [f"note-{n}"]})
    jira.reset_recordings()
    agenda = gather_agenda(next_meeting(calendar, NOW), NOW, calendar=calendar, runtime=runtime,
                           page_size=3)
    assert agenda.text == expected_agenda(jira, awaiting, emergency, a, b)
    assert bot_reads(jira) == SEARCH_PAGES[:5] + [("GET", emergency)] + SEARCH_PAGES[5:]


def test_agenda_posts_one_comment_and_a_rebuild_edits_it(jira, runtime, calendar):
    awaiting, emergency, a, b = seed(jira)
    epic = runtime.policy.cab.epic_key
    meeting = next_meeting(calendar, NOW)
    first = post_cab_agenda(meeting, NOW, calendar=calendar, runtime=runtime, page_size=3)
    [comment] = jira.comments(epic)
    assert first == {"meeting": "20300108T1500Z", "comment_id": comment["id"], "action": "posted"}
    assert agenda_text(comment["body"]) == expected_agenda(jira, awaiting, emergency, a, b)
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
        "sweep:20300107T1455Z": "0 recovered", "retro-scan:20300107T14Z": "0 flagged"}
    assert jira.comments(epic) == []
    jira.inject_fault("POST", r"/comment$", 400)
    with pytest.raises(JiraRejected):
        tick("2030-01-07T15:00:00+00:00", runtime=runtime)
    assert jira.comments(epic) == []
    results = [tick(f"2030-01-07T15:0{m}:00+00:00", runtime=runtime) for m in (1, 2, 3)]
    assert results == [{"sweep:20300107T1500Z": "claimed", "agenda:20300108T1500Z": "posted",
                        "retro-scan:20300107T15Z": "claimed"},
                       {"sweep:20300107T1500Z": "claimed", "agenda:20300108T1500Z": "claimed",
                        "retro-scan:20300107T15Z": "claimed"},
                       {"sweep:20300107T1500Z": "claimed", "agenda:20300108T1500Z": "claimed",
                        "retro-scan:20300107T15Z": "claimed"}]
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
