"""A GitHub deployment to a gated environment that never passed the gate, end to end: the web
app, Redis, a worker process, the sandbox GitHub, Jira and Slack."""

from __future__ import annotations

import dataclasses

import pytest

from ..builders import settings_for
from ..github_fixtures import github_settings
from .harness import comment_texts, settle
from .test_deploy_gate_e2e import approved, request_deploy

VIOLATION = "changeguard-violation"
ALERT = ":warning: A deployment to production ran without passing changeguard's deployment gate"


@pytest.fixture
def settings(jira, slack, github, redis_url, namespace):
    return dataclasses.replace(settings_for(jira, redis_url, namespace, slack=slack),
                               **github_settings(github))


@pytest.mark.parametrize("state", ["in_progress", "success"])
def test_a_run_deploying_to_production_without_the_gate_is_flagged(
        jira, slack, github, web, worker, queue, state):
    key = approved(jira, queue)
    # production had no protection rule: GitHub asked nobody, the job just deployed.
    run = github.add_run(display_title=f"{key}: hotfix the edge certificates",
                         head_branch="hotfix/certs", triggering_actor="mallory",
                         environments=())
    answer = github.deliver_deployment_status(f"{web.url}/webhooks/github", run, "production",
                                              state)
    assert answer.status_code == 202, answer.text
    settle(jira, queue)

    assert VIOLATION in jira.labels(key)
    [comment] = comment_texts(jira, key)
    assert comment.startswith("Deployment without the gate")
    assert (f"GitHub Actions run https://github.com/acme/shop/actions/runs/{run.id}, "
            f"commit {run.head_sha[:12]}, started by mallory") in comment
    [alert] = slack.messages
    assert alert.text.startswith(ALERT)
    assert f"change: {key} ({jira.base_url}/browse/{key})" in alert.text
    assert github.reviews == []  # nothing to answer: GitHub never asked


def test_each_status_of_an_ungated_deployment_flags_it_once(
        jira, slack, github, web, worker, queue):
    key = approved(jira, queue)
    run = github.add_run(display_title=f"{key}: hotfix", environments=())
    url = f"{web.url}/webhooks/github"
    for state in ("queued", "in_progress", "success"):
        assert github.deliver_deployment_status(url, run, "production", state).status_code in (
            200, 202)
    settle(jira, queue)

    assert len(comment_texts(jira, key)) == 1
    assert [m.text.startswith(ALERT) for m in slack.messages] == [True]


def test_a_run_the_gate_approved_is_not_flagged_when_it_starts(
        jira, slack, github, web, worker, queue):
    key = approved(jira, queue)
    run = request_deploy(github, web, f"{key} rotate certificates")
    github.wait_for_review(run.id, state="approved", timeout=20)
    settle(jira, queue)
    url = f"{web.url}/webhooks/github"
    for state in ("in_progress", "success"):
        answer = github.deliver_deployment_status(url, run, "production", state)
        assert answer.status_code == 202, answer.text
    settle(jira, queue)

    assert VIOLATION not in jira.labels(key)
    assert comment_texts(jira, key) == []
    assert jira.status_of(key) == "Implementing"
    assert [m.text.split(" ")[0] for m in slack.messages] == [":rocket:"]
