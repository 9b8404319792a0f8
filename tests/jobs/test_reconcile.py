"""The sweep against the sandbox Jira with no webhooks at all: it alone finds the moves and edits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import requests
from rq import Queue
from rq.job import Job

from jobs.periodic import tick
from jobs.reconcile import sweep
from sandbox.jira_routes import ISSUE_CHANGELOG_LIMIT

from ..builders import COMPLETE, INCOMPLETE, NORMAL, bot_calls, expected_comment, move_args


def queued(runtime) -> list[Job]:
    return Queue(runtime.settings.queue_name, connection=runtime.redis).get_jobs()


def run_queued(runtime) -> list[tuple[str, dict]]:
    """Run every queued job in order, as a worker would, with the test's runtime; empty the queue."""
    queue = Queue(runtime.settings.queue_name, connection=runtime.redis)
    results = [(job.id, job.func(**job.kwargs, runtime=runtime)) for job in queue.get_jobs()]
    queue.empty()  # and forget the ids: a later sweep must find nothing on its own, not by id
    return results


def changelog_ids(jira, key: str) -> list[str]:
    """Return the ids of the issue's changelog entries, oldest first, read over REST as alice."""
    alice = jira.users["alice"]
    issue = requests.get(f"{jira.base_url}/rest/api/3/issue/{key}",
                         params={"fields": "status", "expand": "changelog"},
                         auth=(alice.email, alice.api_token), timeout=5).json()
    return sorted((h["id"] for h in issue["changelog"]["histories"]), key=int)


def lost_jobs(runtime, jira, key: str) -> list[str]:
    """Return the ids of the jobs lost webhooks leave for a change created and then moved.

    The sandbox records the fields a change is created with as its first changelog entry (an
    edit): its approval check is due too, and finds nothing to withdraw.
    """
    ids = changelog_ids(jira, key)
    ns = runtime.settings.namespace
    return [f"{ns}-edit-{key}-{ids[0]}", f"{ns}-transition-{key}-{ids[-1]}"]


NOTHING_TO_WITHDRAW = {"verdict": "nothing"}
UTC = timezone.utc


def now() -> datetime:
    return datetime.now(timezone.utc)


def test_a_lost_move_is_enforced_once_and_an_allowed_one_left_alone(jira, runtime):
    ns = runtime.settings.namespace
    bad = jira.create_change_request("alice", "Rotate edge TLS certificates", INCOMPLETE)
    jira.transition(bad, "Awaiting Approval", as_user="alice")
    good = jira.create_change_request("alice", "Raise the pool size", COMPLETE)
    jira.transition(good, "Awaiting Approval", as_user="alice")
    bad_move, good_move = move_args(jira, bad, "alice"), move_args(jira, good, "alice")
    jira.reset_recordings()

    result = sweep(now(), runtime=runtime)
    assert result["searched"] == 2
    assert result["recovered"] == lost_jobs(runtime, jira, bad) + lost_jobs(runtime, jira, good)
    assert result["recovered"][1] == f"{ns}-transition-{bad}-{bad_move['changelog_id']}"
    assert result["recovered"][3] == f"{ns}-transition-{good}-{good_move['changelog_id']}"
    # The account's zone, the changes updated, each one's changelog; then the freezes updated.
    assert bot_calls(jira) == [("GET", "myself"), ("POST", "jql"), ("GET", bad), ("GET", good),
                               ("POST", "jql")]
    first = queued(runtime)[1]
    assert (first.func_name, first.kwargs) == (
        "jobs.enforce_transition.enforce_transition",
        {**bad_move, "event_id": "sweep", "timestamp": first.kwargs["timestamp"]})
    assert abs(first.kwargs["timestamp"] / 1000 - now().timestamp()) < 60

    assert [summary for _, summary in run_queued(runtime)] == [
        NOTHING_TO_WITHDRAW, {"verdict": "revert", "reason": "gate_failed", "reverted": True},
        NOTHING_TO_WITHDRAW, {"verdict": "allow", "reason": "gate_passed"}]
    assert (jira.status_of(bad), jira.status_of(good)) == ("Draft", "Awaiting Approval")
    assert [c["body"] for c in jira.comments(bad)] == [expected_comment(jira)]
    assert jira.comments(good) == []

    # The revert and the record updated the issue: found again, but nothing is missing.
    jira.reset_recordings()
    again = sweep(now() + timedelta(minutes=5), runtime=runtime)
    assert (again["recovered"], queued(runtime)) == ([], [])
    assert len(jira.comments(bad)) == 1


def test_only_the_latest_of_several_lost_moves_is_enforced(jira, runtime):
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", INCOMPLETE)
    for status in ("Awaiting Approval", "Draft", "Awaiting Approval"):
        jira.transition(key, status, as_user="alice")
    latest = move_args(jira, key, "alice")["changelog_id"]
    assert sweep(now(), runtime=runtime)["recovered"] == lost_jobs(runtime, jira, key)
    assert lost_jobs(runtime, jira, key)[1].endswith(f"-transition-{key}-{latest}")
    run_queued(runtime)
    assert jira.status_of(key) == "Draft"
    assert len(jira.comments(key)) == 1


def test_an_edit_after_approval_that_no_webhook_reported_withdraws_the_approval(jira, runtime):
    ns = runtime.settings.namespace
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", NORMAL)
    jira.transition(key, "Awaiting Approval", as_user="alice")
    jira.transition(key, "Approved", as_user="carol")
    approval = move_args(jira, key, "carol")["changelog_id"]
    assert sweep(now(), runtime=runtime)["recovered"] == lost_jobs(runtime, jira, key)
    assert lost_jobs(runtime, jira, key)[1].endswith(f"-transition-{key}-{approval}")
    run_queued(runtime)
    assert jira.status_of(key) == "Approved"

    jira.edit(key, "alice", {"Rollback Plan": "Restore the previous bundle by hand."})
    edit = changelog_ids(jira, key)[-1]
    assert sweep(now() + timedelta(minutes=5), runtime=runtime)["recovered"] == [
        f"{ns}-edit-{key}-{edit}"]
    assert [summary for _, summary in run_queued(runtime)] == [
        {"verdict": "withdraw_and_revert"}]
    assert jira.status_of(key) == "Awaiting Approval"
    assert len(jira.comments(key)) == 1
    assert [e["decision"] for e in jira.property(key, "changeguard")["audit"]] == [
        "approved", "approval withdrawn"]
    assert sweep(now() + timedelta(minutes=10), runtime=runtime)["recovered"] == []


def test_a_job_the_webhook_already_queued_is_not_queued_twice(jira, runtime):
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", INCOMPLETE)
    jira.transition(key, "Awaiting Approval", as_user="alice")
    assert sweep(now(), runtime=runtime)["recovered"] == lost_jobs(runtime, jira, key)
    runtime.redis.delete(runtime.settings.key("swept", key))  # as if no sweep had seen it
    assert sweep(now(), runtime=runtime)["recovered"] == []
    assert [job.id for job in queued(runtime)] == lost_jobs(runtime, jira, key)


def test_the_high_water_mark_moves_with_each_issue_and_bounds_the_next_search(jira, runtime):
    keys = [jira.create_change_request("alice", f"Change {n}", INCOMPLETE) for n in range(3)]
    for key in keys:
        jira.transition(key, "Awaiting Approval", as_user="alice")
    jira.reset_recordings()
    result = sweep(now(), runtime=runtime, page_size=1)
    assert result["recovered"] == [job for key in keys for job in lost_jobs(runtime, jira, key)]
    assert result["searched"] == 3
    searches = [r for r in jira.requests if r.path.endswith("/search/jql")
                and "Change Freeze" not in r.json["jql"]]
    assert len(searches) == 3  # one page per issue
    mark = runtime.redis.get(runtime.settings.key("sweep", "high-water")).decode()
    assert mark == jira.site.issue(keys[-1]).updated.astimezone(timezone.utc).isoformat()
    # The next search starts one minute before the mark, whatever ``now`` says.
    jira.reset_recordings()
    later = sweep(now() + timedelta(hours=3), runtime=runtime)
    stamp = datetime.fromisoformat(mark) - timedelta(minutes=1)
    assert later["since"] == stamp.isoformat()


def test_the_sweep_runs_once_per_period_from_the_tick(jira, runtime):
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", INCOMPLETE)
    jira.transition(key, "Awaiting Approval", as_user="alice")
    moment = now().replace(second=0, microsecond=0)
    start = moment - timedelta(minutes=moment.minute % 5)
    period = f"sweep:{start:%Y%m%dT%H%MZ}"
    assert tick(start.isoformat(), runtime=runtime)[period] == "2 recovered"
    assert tick((start + timedelta(minutes=4)).isoformat(), runtime=runtime)[period] == "claimed"
    assert [job.id for job in queued(runtime)] == lost_jobs(runtime, jira, key)


def test_a_lost_move_older_than_the_histories_get_issue_embeds_is_still_enforced(jira, runtime):
    # GET issue embeds only the latest ISSUE_CHANGELOG_LIMIT histories: here, label edits only.
    ns = runtime.settings.namespace
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", INCOMPLETE)
    jira.transition(key, "Awaiting Approval", as_user="alice")
    move = move_args(jira, key, "alice")
    for n in range(ISSUE_CHANGELOG_LIMIT):
        jira.edit(key, "alice", {"Labels": [f"tls-{n}"]})
    created = jira.site.issue(key).histories[0].id
    assert sweep(now(), runtime=runtime)["recovered"] == [
        f"{ns}-edit-{key}-{created}", f"{ns}-transition-{key}-{move['changelog_id']}"]
    assert [summary for _, summary in run_queued(runtime)] == [
        NOTHING_TO_WITHDRAW, {"verdict": "revert", "reason": "gate_failed", "reverted": True}]
    assert jira.status_of(key) == "Draft"
    assert [c["body"] for c in jira.comments(key)] == [expected_comment(jira)]


def test_a_freeze_whose_webhook_was_lost_is_enforced_by_the_sweep(jira, runtime):
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", NORMAL)
    for actor, status in (("alice", "Awaiting Approval"), ("carol", "Approved")):
        jira.transition(key, status, as_user=actor)
    sweep(now(), runtime=runtime)
    run_queued(runtime)
    assert jira.status_of(key) == "Approved"
    freeze = jira.create_freeze("dana", "Payments launch", datetime(2026, 12, 1, 9, tzinfo=UTC),
                                datetime(2026, 12, 1, 12, tzinfo=UTC), "Hard")
    result = sweep(now(), runtime=runtime)
    assert result["freezes_rechecked"] == [freeze]
    queue = Queue(runtime.settings.queue_name, connection=runtime.redis)
    ran = []
    while (job := queue.dequeue_any([queue], None, connection=runtime.redis)) is not None:
        job = job[0]  # the re-check, then the withdrawal it sets off
        ran.append(job.func_name.rsplit(".", 1)[-1])
        job.func(**job.kwargs, runtime=runtime)
    assert ran == ["recheck_freeze", "withdraw_for_freeze"]
    assert jira.status_of(key) == "Awaiting Approval"
    # Nothing new since: the next sweep re-checks nothing (the same job id is still known).
    assert sweep(now(), runtime=runtime)["freezes_rechecked"] == []
