import dataclasses
import json

import pytest

from tests.fixture_files import load_fixture
from webhooks.events import parse_body
from webhooks.router import Context, JobRequest
from jobs.deployment_notices import update_outcome
from jobs.enforce_edit import enforce_edit
from jobs.enforce_transition import enforce_transition
from jobs.freeze_declared import recheck_freeze
from webhooks.routes import router
from worker.policy_file import load_policy

CONTEXT = Context(event_id="3f1c3a94-1c7e-4f0d-9a7b-0d2b1f6a5e11", policy=load_policy())


def routed(name):
    event = parse_body(json.dumps(load_fixture(name)).encode())
    assert router.skip_reason(event.webhook_event) is None
    return router.dispatch(event, CONTEXT)


def transition(issue_key, changelog_id, timestamp, from_id, to_id, actor):
    return JobRequest(
        func=enforce_transition,
        job_id=f"changeguard-transition-{issue_key}-{changelog_id}",
        kwargs={
            "issue_key": issue_key,
            "event_id": CONTEXT.event_id,
            "timestamp": timestamp,
            "changelog_id": changelog_id,
            "from_status_id": from_id,
            "to_status_id": to_id,
            "actor_account_id": actor,
        },
    )


@pytest.mark.parametrize(
    ("name", "jobs"),
    [
        (
            "issue_updated_status_to_awaiting_approval",
            (transition("CHG-7", "20107", 1735530000000, "10001", "10002", "5b10ac8d82e05b22cc7d5f7a"),),
        ),
        (
            "issue_created_change_request",
            (transition("CHG-8", "20108", 1735530100000, None, "10001", "5b10ac8d82e05b22cc7df0a6"),),
        ),
        (
            "jira_issue_updated.status_transition.cloud2021",
            (transition("TALK-86", "15469", 1628833397385, "4", "10025", "5b10ac8d82e05b22cc7d5f7a"),),
        ),
        ("issue_updated_change_request_description_edit", ()),
        ("jira_issue_updated.issue_assigned.cloud2021", ()),
    ],
    ids=["status-change", "created-with-status", "status-change-any-type", "description-edit", "assignee-change"],
)
def test_enforce_transition_jobs(name, jobs):
    assert routed(name) == jobs


def edit(issue_key, changelog_id, timestamp, actor):
    return JobRequest(
        func=enforce_edit,
        job_id=f"changeguard-edit-{issue_key}-{changelog_id}",
        kwargs={"issue_key": issue_key, "event_id": CONTEXT.event_id, "timestamp": timestamp,
                "changelog_id": changelog_id, "actor_account_id": actor},
    )


ACTOR = "5b10ac8d82e05b22cc7df0a6"


@pytest.mark.parametrize(("name", "jobs"), [
    ("issue_updated_change_request_rollback_plan_edit",
     (edit("CHG-7", "20110", 1735530200000, ACTOR),)),
    ("issue_updated_change_request_transition_with_window_edit",
     (transition("CHG-7", "20111", 1735530200000, "10003", "10002", ACTOR),
      edit("CHG-7", "20111", 1735530200000, ACTOR))),
    ("issue_updated_change_request_description_edit", ()),
    ("issue_updated_change_request_outcome_set",
     (JobRequest(func=update_outcome, job_id="changeguard-outcome-CHG-7-20112",
                 kwargs={"issue_key": "CHG-7"}),)),
], ids=["material-edit", "transition-with-material-edit", "description-is-not-material",
        "outcome-updates-the-slack-thread"])
def test_material_edits_enqueue_the_approval_check(name, jobs):
    assert routed(name) == jobs


@pytest.mark.parametrize(
    "webhook_event",
    ["comment_created", "comment_updated", "comment_deleted", "worklog_created"],
)
def test_listed_events_are_ignored(webhook_event):
    assert router.skip_reason(webhook_event) == f"event {webhook_event} is ignored"


def without_changelog_id(name):
    payload = load_fixture(name)
    return {**payload, "changelog": {k: v for k, v in payload["changelog"].items() if k != "id"}}


@pytest.mark.parametrize("name", [
    "issue_updated_change_request_rollback_plan_edit",
    "issue_updated_change_request_outcome_set",
], ids=["material-edit", "outcome-set"])
def test_edit_without_changelog_id_enqueues_nothing(name):
    # Every job id is derived from the changelog id: without one, no job could be deduplicated.
    event = parse_body(json.dumps(without_changelog_id(name)).encode())

    assert (event.changelog_id, router.dispatch(event, CONTEXT)) == (None, ())


# Declared freezes: a change to what a freeze holds, or its cancellation, re-checks it.

DANA = "712020:e4445040-49d2-5cc2-bc93-06880503d010"  # head-of-engineering in the sandbox


def freeze_check(occurrence, timestamp, webhook_event):
    return JobRequest(
        func=recheck_freeze, job_id=f"changeguard-freeze-CHG-2-{occurrence}",
        kwargs={"issue_key": "CHG-2", "event_id": CONTEXT.event_id, "timestamp": timestamp,
                "webhook_event": webhook_event, "actor_account_id": DANA})


@pytest.mark.parametrize(("name", "jobs"), [
    ("issue_created_change_freeze",
     (freeze_check("30001", 1796205031047, "jira:issue_created"),)),
    ("issue_updated_change_freeze_planned_end",
     (freeze_check("30002", 1796205031059, "jira:issue_updated"),)),
    ("issue_updated_change_freeze_cancelled",
     (freeze_check("30004", 1796205031085, "jira:issue_updated"),)),
    ("issue_deleted_change_freeze",
     (freeze_check("deleted", 1796205031091, "jira:issue_deleted"),)),
    ("issue_updated_change_freeze_reason_edit", ()),
    ("issue_deleted_change_request", ()),
], ids=["declared", "window-edited", "cancelled", "deleted", "reason-edit-holds-nothing-more",
        "change-request-deleted"])
def test_freeze_events_enqueue_the_freeze_check_and_nothing_else(name, jobs):
    assert routed(name) == jobs


@pytest.mark.parametrize(("field", "routed_again"), [
    ("Planned Start", True), ("Freeze Kind", True), ("reporter", True), ("Reporter", True),
    ("summary", False), ("Freeze Reason", False),
], ids=lambda value: str(value))
def test_freeze_fields_that_decide_what_it_holds(field, routed_again):
    payload = load_fixture("issue_updated_change_freeze_reason_edit")
    payload["changelog"]["items"] = [{"field": field, "fieldtype": "custom", "from": None,
                                      "fromString": "a", "to": None, "toString": "b"}]
    event = parse_body(json.dumps(payload).encode())
    expected = (freeze_check("30003", 1796205031073, "jira:issue_updated"),)
    assert router.dispatch(event, CONTEXT) == (expected if routed_again else ())


def test_a_freeze_created_without_changelog_is_told_apart_by_its_time():
    payload = load_fixture("issue_created_change_freeze")
    del payload["changelog"]
    event = parse_body(json.dumps(payload).encode())
    assert router.dispatch(event, CONTEXT) == (
        freeze_check("at1796205031047", 1796205031047, "jira:issue_created"),)


def test_without_freezes_in_jira_a_freeze_issue_is_not_checked():
    policy = CONTEXT.policy
    context = dataclasses.replace(CONTEXT, policy=dataclasses.replace(
        policy, freezes=dataclasses.replace(policy.freezes, issue_type=None)))
    event = parse_body(json.dumps(load_fixture("issue_deleted_change_freeze")).encode())
    assert router.dispatch(event, context) == ()
