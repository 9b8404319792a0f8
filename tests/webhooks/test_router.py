import logging

import pytest

from webhooks.events import JiraEvent
from webhooks.router import Context, JobRequest, Router
from worker.policy_file import load_policy

CONTEXT = Context(event_id="delivery-1", policy=load_policy())


def event(webhook_event):
    return JiraEvent(
        webhook_event=webhook_event,
        timestamp=1,
        issue_key="CHG-1",
        issue_type_name="Change Request",
        actor_account_id=None,
        changelog_id="1",
        status_change=None,
        changed_field_ids=(),
    )


def job(name):
    return JobRequest(func=f"jobs.{name}", job_id=name, kwargs={})


def make_router():
    router = Router()
    router.ignore("comment_created", "worklog_created")

    @router.register("jira:issue_updated")
    def first(event, context):
        return (job("first"),)

    @router.register("jira:issue_updated")
    @router.register("jira:issue_created")
    def second(event, context):
        return (job(f"second-{context.event_id}"),)

    @router.register("jira:issue_deleted")
    def nothing(event, context):
        return ()

    return router


@pytest.mark.parametrize(
    ("webhook_event", "reason", "jobs"),
    [
        ("jira:issue_updated", None, (job("first"), job("second-delivery-1"))),
        ("jira:issue_created", None, (job("second-delivery-1"),)),
        ("jira:issue_deleted", None, ()),
        ("comment_created", "event comment_created is ignored", ()),
        ("project_created", "event project_created is not handled", ()),
    ],
    ids=["two-handlers", "stacked-decorator", "handler-chooses-nothing", "ignored", "unknown"],
)
def test_route(webhook_event, reason, jobs):
    router = make_router()
    assert router.skip_reason(webhook_event) == reason
    assert router.dispatch(event(webhook_event), CONTEXT) == jobs


def test_composed_router_keeps_handlers_and_ignores():
    extra = Router()
    extra.ignore("sprint_started")

    @extra.register("jira:issue_updated")
    def third(event, context):
        return (job("third"),)

    router = Router(make_router(), extra)
    assert router.skip_reason("sprint_started") == "event sprint_started is ignored"
    assert router.skip_reason("worklog_created") == "event worklog_created is ignored"
    assert router.dispatch(event("jira:issue_updated"), CONTEXT) == (
        job("first"),
        job("second-delivery-1"),
        job("third"),
    )


def test_unknown_event_is_logged_ignored_one_is_not(caplog):
    router = make_router()
    with caplog.at_level(logging.DEBUG, logger="webhooks.router"):
        router.skip_reason("comment_created")
        router.skip_reason("project_created")
    assert [(r.levelname, r.getMessage(), r.webhook_event) for r in caplog.records] == [
        ("WARNING", "webhook event unknown", "project_created")
    ]
