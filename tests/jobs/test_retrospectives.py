"""The retrospective scan against the sandbox: however often it runs, one label, comment, alert."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from jobs.periodic import cab_calendar
from jobs.retrospectives import scan_retrospectives
from rules.cab_agenda import agenda_text
from worker.jira_client import JiraUnavailable

from ..builders import AGENDA_EMERGENCY, AGENDA_NORMAL, make_change

IMPLEMENTED = datetime(2030, 1, 3, 9, tzinfo=timezone.utc)
PAST_DUE = datetime(2030, 1, 5, 10, tzinfo=timezone.utc)


def test_five_scans_past_the_deadline_flag_the_change_once(jira, slack, runtime):
    calendar = cab_calendar(runtime.policy)
    late = make_change(jira, "Hotfix the ledger", AGENDA_EMERGENCY, "Implemented", IMPLEMENTED)
    fresh = make_change(jira, "Hotfix the cache", AGENDA_EMERGENCY, "Implemented",
                        datetime(2030, 1, 4, 9, tzinfo=timezone.utc))
    normal = make_change(jira, "Routine", AGENDA_NORMAL, "Implemented", IMPLEMENTED)
    results = [scan_retrospectives(PAST_DUE, calendar=calendar, runtime=runtime, page_size=2)
               for _ in range(5)]
    assert results == [{late: "overdue", fresh: "pending", normal: "not_applicable"}] + [
        {late: "already_flagged", fresh: "pending", normal: "not_applicable"}] * 4
    assert jira.labels(late) == ["retro-overdue"]
    assert jira.labels(fresh) == jira.labels(normal) == []
    alice, erin = (f"@{jira.users[n].account_id}" for n in ("alice", "erin"))
    [comment] = jira.comments(late)
    assert agenda_text(comment["body"]) == (
        "Retrospective overdue since Sat 5 Jan 2030 09:00 (Europe/London)\n"
        f"{alice} and {erin}, this Emergency change reached Implemented on Thu 3 Jan 2030 09:00, "
        "and its full-CAB retrospective was due within 48 hours. It is now labelled "
        "retro-overdue and heads the agenda of the CAB meeting on Tue 8 Jan 2030 15:00 "
        "(Europe/London).\n"
        "Next: hold the retrospective with the CAB, write its notes in Retrospective, set "
        "Outcome, then move the change to Closed.")
    [alert] = slack.messages
    assert (alert.channel, alert.text) == (
        "#deployments",
        f":alarm_clock: <{jira.base_url}/browse/{late}|{late}> “Hotfix the ledger”: the Emergency "
        "retrospective is overdue since Sat 5 Jan 2030 09:00 (Europe/London). The reporter and "
        "the Incident Commander have been asked on the issue; it heads the next CAB agenda.")


def test_a_removed_label_does_not_bring_a_second_alert(jira, slack, runtime):
    calendar = cab_calendar(runtime.policy)
    late = make_change(jira, "Hotfix the ledger", AGENDA_EMERGENCY, "Implemented", IMPLEMENTED)
    scan_retrospectives(PAST_DUE, calendar=calendar, runtime=runtime)
    with jira.site.lock:  # someone took the label off by hand
        jira.site.issue(late).values["labels"] = []
    assert scan_retrospectives(PAST_DUE, calendar=calendar, runtime=runtime) == {
        late: "already_flagged"}
    assert len(jira.comments(late)) == 1 and len(slack.messages) == 1


def test_a_scan_that_failed_halfway_resumes_without_repeating(jira, slack, runtime):
    calendar = cab_calendar(runtime.policy)
    late = make_change(jira, "Hotfix the ledger", AGENDA_EMERGENCY, "Implemented", IMPLEMENTED)
    jira.inject_fault("POST", r"/comment$", 500, times=1)
    with pytest.raises(JiraUnavailable):  # the job fails; RQ or the next hourly scan retries
        scan_retrospectives(PAST_DUE, calendar=calendar, runtime=runtime)
    assert jira.labels(late) == ["retro-overdue"] and jira.comments(late) == []
    assert scan_retrospectives(PAST_DUE, calendar=calendar, runtime=runtime) == {late: "overdue"}
    assert len(jira.comments(late)) == 1 and len(slack.messages) == 1


def test_a_worker_on_an_emptied_redis_does_not_alert_again(jira, slack, runtime):
    """The alert is decided from the record on the issue, not from what Redis remembers."""
    calendar = cab_calendar(runtime.policy)
    late = make_change(jira, "Hotfix the ledger", AGENDA_EMERGENCY, "Implemented", IMPLEMENTED)
    assert scan_retrospectives(PAST_DUE, calendar=calendar, runtime=runtime) == {late: "overdue"}
    # Redis loses everything of this namespace, and someone takes the label off by hand.
    for key in runtime.redis.scan_iter(f"{runtime.settings.namespace}:*"):
        runtime.redis.delete(key)
    with jira.site.lock:
        jira.site.issue(late).values["labels"] = []
    assert scan_retrospectives(PAST_DUE, calendar=calendar, runtime=runtime) == {
        late: "already_flagged"}
    assert (len(jira.comments(late)), len(slack.messages)) == (1, 1)
    assert [e["decision"] for e in jira.property(late, "changeguard")["audit"]] == [
        "retrospective overdue"]
