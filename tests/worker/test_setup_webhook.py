"""`changeguard setup-webhook URL` registers Jira's admin webhook once, and only updates it."""

from __future__ import annotations

import dataclasses

import pytest

from webhooks.routes import router
from worker.jira_client import JiraClient
from worker.policy_file import load_policy
from worker.webhook_setup import (
    WEBHOOK_EVENTS,
    Action,
    WebhookPlan,
    plan_webhook,
    secret_fingerprint,
    wanted_webhook,
    webhook_jql,
)

from ..builders import run_changeguard, site_env

URL = "https://changeguard.example.com/webhooks/jira"
POLICY = load_policy()


def setup_webhook(jira, redis_url, namespace, *args, **env):
    return run_changeguard("setup-webhook", *args, env_changes=site_env(
        jira, redis_url, CHANGEGUARD_NAMESPACE=namespace, **env))


def writes(jira):
    return [(r.method, r.path) for r in jira.requests if r.method in {"POST", "PUT", "DELETE"}]


def test_register_then_leave_alone_then_update_the_secret(jira, redis_url, namespace):
    webhook = f"{jira.base_url}/rest/webhooks/1.0/webhook/1"
    first = setup_webhook(jira, redis_url, namespace, URL, JIRA_WEBHOOK_SECRET="first secret")
    assert (first.returncode, first.stdout, first.stderr) == (
        0, f"registered webhook 'changeguard' → {URL} ({webhook})\n", "")
    assert (jira.webhook_url, jira.webhook_secret) == (URL, "first secret")
    assert [r.json for r in jira.requests if r.method == "POST"] == [{
        "name": "changeguard", "url": URL,
        "events": ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"],
        "filters": {"issue-related-events-section": '(issuetype = "Change Request") OR '
                    '(project in (CHG) AND issuetype = "Change Freeze")'},
        "excludeBody": False, "secret": "first secret"}]

    jira.reset_recordings()
    again = setup_webhook(jira, redis_url, namespace, URL, JIRA_WEBHOOK_SECRET="first secret")
    assert (again.returncode, again.stdout) == (
        0, f"already registered: webhook 'changeguard' → {URL} ({webhook}); nothing changed\n")
    assert writes(jira) == []

    jira.reset_recordings()
    rotated = setup_webhook(jira, redis_url, namespace, URL, JIRA_WEBHOOK_SECRET="second secret")
    assert (rotated.returncode, rotated.stdout) == (
        0, f"updated webhook 'changeguard' → {URL} ({webhook}): secret\n")
    assert writes(jira) == [("PUT", "/rest/webhooks/1.0/webhook/1")]
    assert (jira.webhook_url, jira.webhook_secret) == (URL, "second secret")


def test_an_existing_webhook_sending_comments_is_updated_in_place(jira, redis_url, namespace):
    # As registered by an earlier changeguard, which also asked for comment_created.
    bot = JiraClient(jira.base_url, jira.bot.email, jira.bot.api_token)
    earlier = {**wanted_webhook(URL, POLICY, "the secret"),
               "events": ["jira:issue_created", "jira:issue_updated", "comment_created"]}
    webhook = bot.register_webhook(earlier)["self"]
    jira.reset_recordings()
    result = setup_webhook(jira, redis_url, namespace, URL, JIRA_WEBHOOK_SECRET="the secret")
    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"updated webhook 'changeguard' → {URL} ({webhook}): events, secret (Jira never "
           "shows it, and changeguard has no record of it)\n", "")
    assert writes(jira) == [("PUT", "/rest/webhooks/1.0/webhook/1")]
    assert [(w["self"], w["events"]) for w in bot.list_webhooks()] == [
        (webhook, ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"])]
    assert (jira.webhook_url, jira.webhook_secret) == (URL, "the secret")


@pytest.mark.parametrize(("event", "subscribed"), [
    ("jira:issue_created", True),
    ("jira:issue_updated", True),
    ("comment_created", False),
    ("comment_updated", False),
    ("jira:issue_deleted", True),  # a declared freeze deleted: the changes it held are named
], ids=lambda value: str(value))
def test_subscribed_to_exactly_the_events_the_router_acts_on(event, subscribed):
    assert (event in WEBHOOK_EVENTS, router.skip_reason(event) is None) == (subscribed, subscribed)


def test_unsigned_on_localhost_when_allowed(jira, redis_url, namespace):
    url = "http://localhost:8000/webhooks/jira"
    result = setup_webhook(jira, redis_url, namespace, url, "--allow-unsigned")
    assert (result.returncode, result.stdout.splitlines()) == (0, [
        f"registered webhook 'changeguard' → {url} ({jira.base_url}/rest/webhooks/1.0/webhook/1)",
        "warning: registered without a secret; anyone who knows the URL can send changeguard "
        "events"])
    assert (jira.webhook_url, jira.webhook_secret) == (url, None)


@pytest.mark.parametrize(("args", "env", "message"), [
    ((URL,), {},
     "JIRA_WEBHOOK_SECRET is not set: set it to a long random value (the web endpoint checks "
     "signatures with it), or pass --allow-unsigned to register without one"),
    (("http://example.com/webhooks/jira",), {"JIRA_WEBHOOK_SECRET": "s"},
     "http://example.com/webhooks/jira is not https: Jira Cloud delivers webhooks only to https "
     "URLs with a valid certificate (http is accepted for localhost and 127.0.0.1 only)"),
    (("changeguard.example.com/webhooks/jira", "--allow-unsigned"), {},
     "'changeguard.example.com/webhooks/jira' is not a URL: give the full address of "
     "changeguard's endpoint, e.g. https://changeguard.example.com/webhooks/jira"),
], ids=["unsigned", "plain-http", "not-a-url"])
def test_refused_before_asking_jira(jira, redis_url, namespace, args, env, message):
    result = setup_webhook(jira, redis_url, namespace, *args, **env)
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", f"changeguard: {message}\n")
    assert jira.requests == []


WANTED = wanted_webhook(URL, POLICY, "s")
REGISTERED = {**{k: v for k, v in WANTED.items() if k != "secret"},
              "self": "https://site/rest/webhooks/1.0/webhook/7", "enabled": True}
SAME = secret_fingerprint("s")


@pytest.mark.parametrize(("existing", "remembered", "expected"), [
    ([], None, WebhookPlan(Action.REGISTER)),
    ([REGISTERED], SAME, WebhookPlan(Action.NOTHING, REGISTERED)),
    ([{**REGISTERED, "events": ["jira:issue_updated"]}], SAME,
     WebhookPlan(Action.UPDATE, {**REGISTERED, "events": ["jira:issue_updated"]}, ("events",))),
    ([{**REGISTERED, "filters": {}, "excludeBody": True}], SAME,
     WebhookPlan(Action.UPDATE, {**REGISTERED, "filters": {}, "excludeBody": True},
                 ("JQL filter", "excludeBody"))),
    ([REGISTERED], secret_fingerprint("old"),
     WebhookPlan(Action.UPDATE, REGISTERED, ("secret",))),
    ([REGISTERED], None,
     WebhookPlan(Action.UPDATE, REGISTERED,
                 ("secret (Jira never shows it, and changeguard has no record of it)",))),
    # As registered before freezes were read from Jira: change requests only.
    ([{**REGISTERED, "events": ["jira:issue_created", "jira:issue_updated"],
       "filters": {"issue-related-events-section": 'issuetype = "Change Request"'}}], SAME,
     WebhookPlan(Action.UPDATE, {**REGISTERED, "events": ["jira:issue_created",
                                                         "jira:issue_updated"],
                                 "filters": {"issue-related-events-section":
                                             'issuetype = "Change Request"'}},
                 ("events", "JQL filter"))),
], ids=["none-yet", "same", "events", "filter-and-body", "secret-changed", "secret-unknown",
        "before-freezes"])
def test_plan_webhook(existing, remembered, expected):
    assert plan_webhook(existing, WANTED, remembered, SAME) == expected


NO_FREEZE_TYPE = dataclasses.replace(POLICY.freezes, issue_type=None)


@pytest.mark.parametrize(("policy", "jql"), [
    (POLICY, '(issuetype = "Change Request") OR (project in (CHG) AND issuetype = "Change Freeze")'),
    (dataclasses.replace(POLICY, scope_project_keys=()),
     '(issuetype = "Change Request") OR (issuetype = "Change Freeze")'),
    (dataclasses.replace(POLICY, scope_project_keys=("CHG", "OPS"),
                         freezes=dataclasses.replace(POLICY.freezes, issue_type='Freeze "Q4"')),
     '(issuetype = "Change Request") OR (project in (CHG, OPS) AND issuetype = "Freeze \\"Q4\\"")'),
    (dataclasses.replace(POLICY, freezes=NO_FREEZE_TYPE), 'issuetype = "Change Request"'),
], ids=["default", "no-project-keys", "quoted-type", "freezes-not-read-from-jira"])
def test_the_filter_sends_change_requests_and_declared_freezes(policy, jql):
    assert webhook_jql(policy) == jql
