"""The deployment gate's jobs in change freezes, against the sandbox Jira, GitLab and Redis."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from rq import Queue

from jobs.deploy_gate import judge_deployment, release_waiting
from jobs.periodic import cab_calendar
from jobs.reconcile import sweep
from jobs.waiting_deployments import changes_with_waiting, waiting_for
from rules.cab_schedule import when
from worker.gitlab_client import GitLabClient

from ..builders import COMPLETE, example_freezes_policy_path
from .test_deploy_gate import answer, generic, held_gitlab_request

LONDON = ZoneInfo("Europe/London")
FMT = "%Y-%m-%dT%H:%M:%S.000+0000"


def whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def approved_change(jira, start: datetime, end: datetime) -> str:
    """Create a complete Normal change with this window and approve it (no worker runs here,
    so nothing enforces the freeze on the way: the gate is what is tested)."""
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", {
        **COMPLETE, "Planned Start": start.astimezone(timezone.utc).strftime(FMT),
        "Planned End": end.astimezone(timezone.utc).strftime(FMT)})
    jira.transition(key, "Awaiting Approval", as_user="alice")
    jira.transition(key, "Approved", as_user="carol")
    return key


def test_a_deployment_inside_a_declared_hard_freeze_is_denied_naming_it(jira, runtime):
    now = whole_seconds(datetime.now(timezone.utc))
    key = approved_change(jira, now - timedelta(hours=1), now + timedelta(hours=2))
    freeze_end = now + timedelta(hours=3)
    freeze = jira.create_freeze("dana", "Payments migration", now - timedelta(hours=2),
                                freeze_end, kind="Hard", reason="The ledger is being moved.")
    request = generic(key)
    summary = judge_deployment(request.to_json(), runtime=runtime)
    until = when(freeze_end, cab_calendar(runtime.policy))
    reason = (f"{key}'s planned window overlaps the hard freeze {freeze} \"Payments migration\", "
              f"which lets only Emergency changes through until {until} (Europe/London): move its "
              "Planned Start to that time or later.")
    assert summary == {"decision": "deny", "reason": reason, "change": key}
    assert answer(runtime, request) == {"decision": "deny", "reason": reason, "change": key,
                                        "retry_after": None}
    assert jira.status_of(key) == "Approved"


def test_a_freeze_declared_by_someone_outside_head_of_engineering_is_not_enforced(jira, runtime):
    now = whole_seconds(datetime.now(timezone.utc))
    key = approved_change(jira, now - timedelta(hours=1), now + timedelta(hours=2))
    jira.create_freeze("carol", "Not hers to declare", now - timedelta(hours=2),
                       now + timedelta(hours=3), kind="Hard")
    summary = judge_deployment(generic(key).to_json(), runtime=runtime)
    assert summary["decision"] == "allow", summary["reason"]


def next_weekday(after: datetime, weekday: int, hour: int) -> datetime:
    """Return the first ``weekday`` (Monday 0) at ``hour``:00 London time after ``after``."""
    local = after.astimezone(LONDON)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7 or 7)
    return datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)


def test_a_change_in_the_recurring_weekend_freeze_is_denied(jira, make_runtime, tmp_path):
    runtime = make_runtime(policy_path=example_freezes_policy_path(tmp_path))
    saturday = next_weekday(datetime.now(timezone.utc), 5, 10)
    while (saturday.month, saturday.day) >= (12, 20) or (saturday.month, saturday.day) <= (1, 4):
        saturday = next_weekday(saturday, 5, 10)  # clear of the year-end freeze, whatever today
    key = approved_change(jira, saturday, saturday + timedelta(hours=1))
    monday = (saturday + timedelta(days=2)).replace(hour=8)
    summary = judge_deployment(generic(key).to_json(), runtime=runtime)
    until = when(monday, cab_calendar(runtime.policy))
    assert summary == {"decision": "deny", "change": key, "reason": (
        f"{key}'s planned window overlaps the soft freeze \"Weekend\" until {until} "
        "(Europe/London): move its Planned Start to that time or later, or ask someone in "
        "head-of-engineering for a freeze exception.")}


def test_a_deployment_waiting_for_a_freeze_is_let_through_by_the_sweep_after_it_ends(
        jira, runtime, gitlab_sandbox, gitlab_project):
    """The sweep decides every waiting deployment again: after the freeze, it goes."""
    rt = dataclasses.replace(runtime, gitlab=GitLabClient(
        gitlab_sandbox.url, gitlab_sandbox.bot.token, backoff_base=0.01))
    now = whole_seconds(datetime.now(timezone.utc))
    key = approved_change(jira, now - timedelta(hours=1), now + timedelta(hours=2))
    freeze_end = now + timedelta(seconds=5)
    freeze = jira.create_freeze("dana", "Short hold", now - timedelta(hours=2), freeze_end,
                                kind="Hard")
    held = gitlab_sandbox.add_deployment(gitlab_project, "production")
    request = held_gitlab_request(held, key)
    first = judge_deployment(request.to_json(), runtime=rt)
    calendar = cab_calendar(rt.policy)
    assert first["decision"] == "wait"
    assert first["reason"] == (
        f"{key} is approved, but the hard freeze {freeze} \"Short hold\" holds it "
        f"until {when(freeze_end, calendar)} (Europe/London): the deployment waits until then, "
        f"inside its change window (open until "
        f"{when(now + timedelta(hours=2), calendar)} (Europe/London)).")
    assert gitlab_sandbox.approvals == []  # GitLab keeps it blocked meanwhile
    assert [r.deployment_id for r in waiting_for(rt, key)] == [request.deployment_id]

    time.sleep(max(0.0, (freeze_end - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    moment = datetime.now(timezone.utc)
    swept = sweep(moment, runtime=rt)
    job_id = f"{rt.settings.namespace}-release-{key}-sweep-{moment:%Y%m%d%H%M}"
    assert swept["rechecked"] == [key]
    job = Queue(rt.settings.queue_name, connection=rt.redis).fetch_job(job_id)
    assert job.func_name == "jobs.deploy_gate.release_waiting"
    assert release_waiting(**job.kwargs, runtime=rt) == {
        "issue_key": key, "decisions": {request.deployment_id: "allow"}}
    assert [a.status for a in gitlab_sandbox.approvals] == ["approved"]
    assert changes_with_waiting(rt) == []
    assert jira.status_of(key) == "Implementing"
