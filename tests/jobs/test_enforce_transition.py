"""The enforcement job called directly against the sandbox Jira and a real Redis."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
import requests
from redis.exceptions import LockNotOwnedError
from rq.job import Job

from jobs.enforce_transition import enforce_transition
from rules.policy import StatusRole
from worker import runtime as runtime_module
from worker.jira_client import JiraUnavailable
from worker.slack_client import NOT_SENT

from ..builders import COMPLETE, INCOMPLETE, bot_calls, move_args, settings_for, way_back


def move_to_awaiting(jira, fields, actor="alice"):
    """Create a change, move it to Awaiting Approval, and return the job's arguments for it."""
    key = jira.create_change_request(actor, "Rotate edge TLS certificates", fields)
    jira.transition(key, "Awaiting Approval", as_user=actor)
    return move_args(jira, key, actor)


def test_compliant_move_reads_once_and_records_the_decision(jira, runtime):
    args = move_to_awaiting(jira, COMPLETE)
    jira.reset_recordings()
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "allow",
                                                            "reason": "gate_passed"}
    assert bot_calls(jira) == [("GET", args["issue_key"]), ("PUT", "changeguard")]
    [entry] = jira.property(args["issue_key"], "changeguard")["audit"]
    assert entry == {"at": "1970-01-01T00:00:00+00:00", "decision": "allowed",
                     "reason": "gate_passed", "actor": args["actor_account_id"],
                     "from": "Draft", "to": "Awaiting Approval",
                     "changelog": int(args["changelog_id"]), "detail": ""}


def test_violating_move_costs_three_calls_and_a_repeat_costs_none(jira, runtime):
    args = move_to_awaiting(jira, INCOMPLETE)
    key = args["issue_key"]
    jira.reset_recordings()
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "revert",
                                                            "reason": "gate_failed",
                                                            "reverted": True}
    assert bot_calls(jira) == [("GET", key), ("POST", "transitions"), ("POST", "comment")]
    read, revert, _ = jira.requests
    assert read.query["expand"] == "changelog,transitions"  # the way back comes with the read
    # The audit record is written by the revert itself.
    [entry] = jira.property(key, "changeguard")["audit"]
    assert entry == {"at": "1970-01-01T00:00:00+00:00", "decision": "reverted",
                     "reason": "gate_failed", "actor": args["actor_account_id"],
                     "from": "Draft", "to": "Awaiting Approval",
                     "changelog": int(args["changelog_id"]),
                     "detail": "Deployment Plan: missing, Rollback Plan: placeholder"}
    assert revert.json == {"transition": {"id": way_back(jira, "Awaiting Approval", "Draft")},
                           "properties": [{"key": "changeguard",
                                           "value": jira.property(key, "changeguard")}]}
    jira.reset_recordings()
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "ignore",
                                                            "reason": "already_handled"}
    assert bot_calls(jira) == []
    assert jira.status_of(args["issue_key"]) == "Draft"
    assert len(jira.comments(args["issue_key"])) == 1


def test_a_job_that_failed_halfway_resumes_without_repeating_itself(jira, runtime):
    args = move_to_awaiting(jira, INCOMPLETE)
    jira.inject_fault("POST", r"/comment$", 500, times=1)
    with pytest.raises(JiraUnavailable):
        enforce_transition(**args, runtime=runtime)
    assert jira.status_of(args["issue_key"]) == "Draft"  # the revert happened
    assert jira.comments(args["issue_key"]) == []
    # ... and wrote the record with it, so a job that is never retried still leaves it.
    assert jira.property(args["issue_key"], "changeguard")["audit"][-1]["decision"] == "reverted"
    jira.reset_recordings()
    # RQ retries the job: it must comment once and not try to revert a second time.
    assert enforce_transition(**args, runtime=runtime)["reverted"] is True
    assert bot_calls(jira) == [("POST", "comment")]
    assert len(jira.comments(args["issue_key"])) == 1
    assert len(jira.property(args["issue_key"], "changeguard")["audit"]) == 1


def test_a_revert_jira_made_just_before_a_crash_is_not_flagged(jira, slack, runtime):
    args = move_to_awaiting(jira, INCOMPLETE)
    key = args["issue_key"]
    jira.inject_fault("POST", r"/comment$", 500, times=1)
    with pytest.raises(JiraUnavailable):
        enforce_transition(**args, runtime=runtime)
    # As if the worker had died after Jira's answer to the revert, before noting it as done.
    plan_key = runtime.settings.key("plan", key, args["changelog_id"])
    plan = json.loads(runtime.redis.get(plan_key))
    runtime.redis.set(plan_key, json.dumps({**plan, "done": 0}))
    jira.reset_recordings()
    # The retry finds Jira refusing the way back because the issue is already there: no flag.
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "revert",
                                                            "reason": "gate_failed",
                                                            "reverted": True}
    assert bot_calls(jira) == [("POST", "transitions"), ("GET", key), ("POST", "comment")]
    assert jira.status_of(key) == "Draft"
    assert len(jira.comments(key)) == 1
    assert runtime.policy.violation_label not in jira.labels(key)
    assert slack.messages == []
    assert [e["decision"] for e in jira.property(key, "changeguard")["audit"]] == ["reverted"]


def test_a_move_that_is_no_longer_current_is_left_alone(jira, runtime):
    args = move_to_awaiting(jira, INCOMPLETE)
    jira.transition(args["issue_key"], "Draft", as_user="alice")  # alice changed her mind
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "ignore",
                                                            "reason": "superseded"}
    assert jira.comments(args["issue_key"]) == []


def test_created_straight_into_awaiting_approval_goes_back_to_draft(jira, runtime):
    args = move_to_awaiting(jira, INCOMPLETE)
    args["from_status_id"] = None  # e.g. created straight into Awaiting Approval by an import
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "revert",
                                                            "reason": "gate_failed",
                                                            "reverted": True}
    assert jira.status_of(args["issue_key"]) == "Draft"


def test_no_way_back_labels_comments_and_alerts(jira, slack, runtime):
    key = jira.create_change_request("alice", "Hotfix", INCOMPLETE)
    jira.transition(key, "Implementing", as_user="alice")  # a global shortcut on this site
    args = move_args(jira, key, "alice")
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "revert",
                                                            "reason": "disallowed_move",
                                                            "reverted": False}
    assert jira.status_of(key) == "Implementing"
    assert runtime.policy.violation_label in jira.labels(key)
    [comment] = jira.comments(key)
    assert comment["text"].splitlines()[0] == "Not allowed: Draft → Implementing"
    assert jira.property(key, "changeguard")["audit"][-1]["decision"] == "flagged"
    [alert] = slack.messages
    assert (alert.channel, alert.text) == (
        "#deployments",
        f":warning: {key} “Hotfix” was moved Draft → Implementing, which the change policy does "
        "not allow, and changeguard could not move it back (the workflow has no such "
        "transition). It is labelled changeguard-violation; please look at it: "
        f"{jira.base_url}/browse/{key}")


def test_without_a_slack_token_the_alert_is_a_warning_that_it_was_not_sent(
        jira, slack, redis_url, namespace, caplog):
    # The runtime a worker builds when SLACK_BOT_TOKEN is unset.
    unsent = runtime_module.build_runtime(settings_for(jira, redis_url, namespace))
    key = jira.create_change_request("alice", "Hotfix", INCOMPLETE)
    jira.transition(key, "Implementing", as_user="alice")
    with caplog.at_level(logging.WARNING, logger="worker.slack_client"):
        enforce_transition(**move_args(jira, key, "alice"), runtime=unsent)
    assert "changeguard-violation" in jira.labels(key)
    assert [(r.levelno, r.getMessage(), r.channel, r.first_line) for r in caplog.records] == [
        (logging.WARNING, NOT_SENT, "#deployments",
         f":warning: {key} “Hotfix” was moved Draft → Implementing, which the change policy "
         "does not allow, and changeguard could not move it back (the workflow has no such "
         "transition). It is labelled changeguard-violation; please look at it: "
         f"{jira.base_url}/browse/{key}")]
    assert slack.requests == []


def test_site_ids_come_from_jira_not_from_code(runtime, jira):
    awaiting = runtime.site.status_ids[StatusRole.AWAITING_APPROVAL]
    statuses = requests.get(f"{jira.base_url}/rest/api/3/status",
                            auth=(jira.bot.email, jira.bot.api_token), timeout=5).json()
    assert {s["name"]: s["id"] for s in statuses}["Awaiting Approval"] == awaiting


def test_check_explains_an_issue_with_one_read_a_freeze_search_and_no_writes(jira, runtime):
    from jobs.explain import explain_issue

    args = move_to_awaiting(jira, INCOMPLETE)
    jira.reset_recordings()
    text = explain_issue(args["issue_key"], runtime=runtime)
    assert text.splitlines()[:3] == [
        f"{args['issue_key']} “Rotate edge TLS certificates”: Normal change, in Awaiting Approval",
        "  into Awaiting Approval: 2 things missing",
        "    - Deployment Plan is empty: list the steps that deploy the change.",
    ]
    # The issue, then the freezes declared in Jira (its window may run into one).
    assert bot_calls(jira) == [("GET", args["issue_key"]), ("POST", "jql")]


def test_a_refused_revert_flags_the_issue_instead(jira, slack, runtime):
    args = move_to_awaiting(jira, INCOMPLETE)
    key = args["issue_key"]
    jira.inject_fault("POST", rf"^/rest/api/3/issue/{key}/transitions$", 400, times=1)
    jira.reset_recordings()
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "revert",
                                                            "reason": "gate_failed",
                                                            "reverted": False}
    # The refused revert wrote nothing, and the issue is not already back (the GET after it):
    # the record goes in a write of its own.
    assert bot_calls(jira) == [("GET", key), ("POST", "transitions"), ("GET", key), ("PUT", key),
                               ("POST", "comment"), ("PUT", "changeguard")]
    assert jira.status_of(key) == "Awaiting Approval"
    assert runtime.policy.violation_label in jira.labels(key)
    [comment] = jira.comments(key)
    assert comment["text"].splitlines()[0] == "Not allowed: Draft → Awaiting Approval"
    assert [m.channel for m in slack.messages] == ["#deployments"]
    assert jira.property(key, "changeguard")["audit"][-1]["decision"] == "flagged"


def test_a_lapsed_lock_loses_no_follow_up(jira, runtime):
    """The lock lapses during a slow Jira call: the follow-up still gets enqueued, once."""
    key = jira.create_change_request("alice", "Rotate edge TLS certificates",
                                     {**COMPLETE, "Risk Level": "Medium"})
    jira.transition(key, "Awaiting Approval", as_user="alice")
    jira.transition(key, "Approved", as_user="carol")
    jira.transition(key, "Implementing", as_user="bob")
    args = move_args(jira, key, "bob")
    notice = f"{runtime.settings.namespace}-notice-{key}-{args['changelog_id']}"
    plan_key = runtime.settings.key("plan", key, args["changelog_id"])
    # Jira answers the record's write with a 429 and Retry-After: 1; while the client waits,
    # the lock lapses (as if its TTL ran out) and another worker could take it.
    jira.inject_fault("PUT", r"/properties/changeguard$", 429, times=1, retry_after=1)

    def lapse():
        deadline = time.monotonic() + 10
        while not runtime.redis.exists(plan_key) and time.monotonic() < deadline:
            time.sleep(0.01)
        runtime.redis.delete(runtime.settings.key("lock", key))

    lapsing = threading.Thread(target=lapse)
    lapsing.start()
    with pytest.raises(LockNotOwnedError):
        enforce_transition(**args, runtime=runtime)
    lapsing.join()
    # RQ retries the failed job: it finishes the plan, follow-up included.
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "allow",
                                                            "reason": "gate_passed"}
    assert Job.exists(notice, connection=runtime.redis)
    assert [e["decision"] for e in jira.property(key, "changeguard")["audit"]] == ["allowed"]
    # And the move is handled now: a third try does nothing.
    jira.reset_recordings()
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "ignore",
                                                            "reason": "already_handled"}
    assert bot_calls(jira) == []


def test_a_worker_on_an_emptied_redis_does_not_flag_a_decided_move_again(jira, slack, runtime):
    """Whether a move is handled is read from the record on the issue, not only from Redis."""
    key = jira.create_change_request("alice", "Hotfix", INCOMPLETE)
    jira.transition(key, "Implementing", as_user="alice")  # no way back: flagged, Slack alerted
    args = move_args(jira, key, "alice")
    enforce_transition(**args, runtime=runtime)
    for stored in runtime.redis.scan_iter(f"{runtime.settings.namespace}:*"):
        runtime.redis.delete(stored)  # Redis lost everything (or another namespace sweeps)
    jira.reset_recordings()
    # The webhook redelivered, or the sweep re-enqueued the move: it is handled already.
    assert enforce_transition(**args, runtime=runtime) == {"verdict": "ignore",
                                                            "reason": "already_handled"}
    assert bot_calls(jira) == [("GET", key)]
    assert (len(jira.comments(key)), len(slack.messages)) == (1, 1)
    assert [e["decision"] for e in jira.property(key, "changeguard")["audit"]] == ["flagged"]
    # ... and Redis knows it again: the next redelivery costs no call.
    jira.reset_recordings()
    assert enforce_transition(**args, runtime=runtime)["reason"] == "already_handled"
    assert bot_calls(jira) == []


def test_a_stored_plan_this_version_cannot_read_is_dropped_and_the_move_judged_afresh(
        jira, runtime, caplog):
    args = move_to_awaiting(jira, INCOMPLETE)
    plan_key = runtime.settings.key("plan", args["issue_key"], args["changelog_id"])
    runtime.redis.set(plan_key, json.dumps({"steps": [{"kind": "page_someone"}], "done": 0}))
    with caplog.at_level(logging.WARNING, logger="jobs.issue_session"):
        assert enforce_transition(**args, runtime=runtime) == {
            "verdict": "revert", "reason": "gate_failed", "reverted": True}
    assert [r.getMessage() for r in caplog.records] == ["stored plan discarded"]
    assert (jira.status_of(args["issue_key"]), len(jira.comments(args["issue_key"]))) == (
        "Draft", 1)
    assert runtime.redis.exists(plan_key) == 0
