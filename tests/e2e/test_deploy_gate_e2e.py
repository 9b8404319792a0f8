"""The deployment gate end to end: GitHub and a generic pipeline, the web app, Redis, a worker
process, the sandbox Jira and Slack."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from jobs.explain import explain_issue
from jobs.periodic import cab_calendar
from rules.cab_schedule import when
from sandbox.github_server import PullRequest
from worker.settings import hash_gate_token

from ..builders import NORMAL, settings_for
from ..github_fixtures import github_settings
from .harness import WebServer, WorkerProcess, job_results, settle

GATE_TOKEN = "pipeline-token-for-tests"
SUMMARY = "Rotate edge TLS certificates"


def window(start_hours: float, end_hours: float) -> dict[str, str]:
    now = datetime.now(timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%S.000+0000"
    return {"Planned Start": (now + timedelta(hours=start_hours)).strftime(fmt),
            "Planned End": (now + timedelta(hours=end_hours)).strftime(fmt)}


OPEN = {**NORMAL, **window(-1, 2)}


@pytest.fixture
def settings(jira, slack, github, redis_url, namespace):
    return dataclasses.replace(settings_for(jira, redis_url, namespace, slack=slack),
                               **github_settings(github),
                               gate_tokens=(("jenkins", hash_gate_token(GATE_TOKEN)),))


def awaiting_approval(jira, queue, fields=None) -> str:
    key = jira.create_change_request("alice", SUMMARY, {**OPEN, **(fields or {})})
    jira.transition(key, "Awaiting Approval", as_user="alice")
    settle(jira, queue)
    assert jira.status_of(key) == "Awaiting Approval"
    return key


def request_deploy(github, web, key_text: str, *, title: str | None = None, delivery_id=None):
    """Start a run deploying to production and deliver GitHub's protection-rule request."""
    run = github.add_run(head_branch="main", head_commit_message=f"Merge pull request #7\n\n{key_text}")
    pull = PullRequest(number=7, title=title or key_text, head_ref="feature/certs",
                       head_sha=run.head_sha, body="", base_ref="main")
    answer = github.deliver_protection_rule(f"{web.url}/webhooks/github", run, "production",
                                            pull_requests=[pull], delivery_id=delivery_id)
    assert answer.status_code == 202, answer.text
    return run


def test_a_deployment_waits_for_the_cab_and_is_released_by_the_approval_in_jira(
        jira, slack, github, web, worker, queue):
    key = awaiting_approval(jira, queue)
    run = request_deploy(github, web, f"{key}: rotate the edge certificates")
    report = github.wait_for_review(run.id, state=None, timeout=20)
    assert report.comment.startswith(
        f"{key} is not approved yet: waiting for a CAB member or the Head of Engineering to "
        "approve it, next CAB meeting ")
    assert github.decision(run.id, "production") is None

    jira.transition(key, "Approved", as_user="carol")  # the CAB approves in Jira
    decided = github.wait_for_review(run.id, state="approved", timeout=20)
    assert decided.comment.startswith(f"{key} is Approved with its approvals standing")
    # Released by the approval's own webhook, not by a poll: one report, then the decision.
    assert [r.state for r in github.reviews if r.run_id == run.id] == [None, "approved"]
    settle(jira, queue)
    assert jira.status_of(key) == "Implementing"
    [before] = slack.messages
    assert before.text.startswith(f":rocket: Deploying {key} — {SUMMARY}")
    assert f"Run: https://github.com/acme/shop/actions/runs/{run.id}" in before.text
    assert f"Commit: {run.head_sha[:12]}" in before.text

    github.deliver_workflow_run_completed(f"{web.url}/webhooks/github", run, "success")
    settle(jira, queue)
    assert jira.status_of(key) == "Implemented"
    before, after = slack.messages
    assert after.thread_ts == before.ts
    assert "Successful" in after.latest_text
    [link] = jira.remote_links(key)
    assert link["object"]["url"] == f"https://github.com/acme/shop/actions/runs/{run.id}"
    assert link["object"]["title"] == "Deployment to production: succeeded"
    assert jira.comments(key) == []


def approved(jira, queue, fields=None) -> str:
    key = awaiting_approval(jira, queue, fields)
    jira.transition(key, "Approved", as_user="carol")
    settle(jira, queue)
    return key


def draft(jira, queue) -> str:
    return jira.create_change_request("alice", SUMMARY, OPEN)


def database_after_approval(jira, queue) -> str:
    """An approved Normal change edited into a Database change (its approval is withdrawn)."""
    key = approved(jira, queue)
    jira.edit(key, "alice", {"Change Type": "Database"})
    settle(jira, queue)
    return key


DENIED = [
    ("draft", draft, "{key}", "{key} is still in Draft"),
    ("outside the window", lambda j, q: approved(j, q, window(-3, -1)), "{key}",
     "{key}'s change window closed"),
    ("unknown key", approved, "CHG-9999", "CHG-9999 was not found in Jira"),
    ("two keys", approved, "{key} and CHG-9999", "This deployment names several change requests"),
    ("database change as Normal", database_after_approval, "{key}", "{key} cannot deploy: "),
]


@pytest.mark.parametrize("make,text,reason", [c[1:] for c in DENIED], ids=[c[0] for c in DENIED])
def test_a_deployment_the_policy_does_not_allow_is_rejected_with_the_reason(
        jira, github, web, worker, queue, make, text, reason):
    key = make(jira, queue)
    run = request_deploy(github, web, text.format(key=key))
    decided = github.wait_for_review(run.id, state="rejected", timeout=20)
    assert decided.comment.startswith(reason.format(key=key)), decided.comment
    settle(jira, queue)
    assert jira.status_of(key) != "Implementing"


def test_a_change_rejected_while_a_deployment_waits_rejects_the_deployment(
        jira, github, web, worker, queue):
    key = awaiting_approval(jira, queue)
    run = request_deploy(github, web, key)
    github.wait_for_review(run.id, state=None, timeout=20)
    jira.transition(key, "Rejected", as_user="carol")
    decided = github.wait_for_review(run.id, state="rejected", timeout=20)
    assert decided.comment.startswith(f"{key} was Rejected, so it cannot be deployed")


def test_a_waiting_deployment_survives_a_worker_restart(
        jira, github, web, worker, queue, settings, tmp_path):
    key = awaiting_approval(jira, queue)
    run = request_deploy(github, web, key)
    github.wait_for_review(run.id, state=None, timeout=20)
    worker.kill()  # a crash: nothing in memory survives
    replacement = WorkerProcess(settings, tmp_path / "worker-2.log")
    try:
        jira.transition(key, "Approved", as_user="carol")
        github.wait_for_review(run.id, state="approved", timeout=20)
    finally:
        replacement.stop()


def test_a_duplicated_delivery_is_judged_once_and_a_forged_one_is_refused(
        jira, github, web, worker, queue):
    key = awaiting_approval(jira, queue)
    run = github.add_run(head_commit_message=key)
    url = f"{web.url}/webhooks/github"
    first = github.deliver_protection_rule(url, run, "production", delivery_id="d-1")
    again = github.deliver_protection_rule(url, run, "production", delivery_id="d-1")
    forged = github.deliver_protection_rule(url, run, "production", delivery_id="d-2",
                                            secret="not the app's secret")
    assert (first.status_code, again.status_code, forged.status_code) == (202, 200, 401)
    assert again.json() == {"status": "duplicate"}
    github.wait_for_review(run.id, state=None, timeout=20)
    settle(jira, queue)
    judged = [kwargs for kwargs, _ in job_results(queue) if "request" in kwargs]
    assert len(judged) == 1


def gate(web, body: dict, token: str = GATE_TOKEN, path: str = "/api/gate"):
    return requests.post(f"{web.url}{path}", json=body, timeout=15,
                         headers={"Authorization": f"Bearer {token}"})


def test_a_generic_pipeline_is_answered_and_reports_a_rollback(jira, web, worker, queue):
    key = awaiting_approval(jira, queue)
    wrong = gate(web, {"change": key, "environment": "production"}, token="guess")
    assert wrong.status_code == 401
    body = {"change": key, "environment": "production", "sha": "a" * 40,
            "run_url": "https://ci.example.com/job/deploy/9/"}
    waiting = gate(web, body)
    assert waiting.status_code == 200, waiting.text
    assert waiting.json()["decision"] == "wait"
    jira.transition(key, "Approved", as_user="carol")
    settle(jira, queue)
    allowed = gate(web, body)
    assert allowed.json() == {
        "decision": "allow", "change": key, "retry_after": None,
        "reason": json.loads(allowed.text)["reason"]}
    assert allowed.json()["reason"].startswith(f"{key} is Approved with its approvals standing")
    settle(jira, queue)
    assert jira.status_of(key) == "Implementing"
    finished = gate(web, {"run_url": body["run_url"], "environment": "production",
                          "outcome": "rolled_back"}, path="/api/gate/finished")
    assert finished.status_code == 202, finished.text
    settle(jira, queue)
    assert jira.status_of(key) == "Implemented"


OUTCOMES = [("success", "Successful"), ("failure", "Failed")]


@pytest.mark.parametrize("conclusion,outcome", OUTCOMES, ids=[c[0] for c in OUTCOMES])
def test_an_approved_change_in_its_window_deploys_at_once_and_records_the_outcome(
        jira, slack, github, web, worker, queue, runtime, conclusion, outcome):
    key = approved(jira, queue)
    run = request_deploy(github, web, f"{key} rotate certificates")
    decided = github.wait_for_review(run.id, state="approved", timeout=20)
    assert decided.comment.startswith(f"{key} is Approved with its approvals standing and its "
                                      "change window open until ")
    assert [r.state for r in github.reviews if r.run_id == run.id] == ["approved"]
    settle(jira, queue)
    github.deliver_workflow_run_completed(f"{web.url}/webhooks/github", run, conclusion)
    settle(jira, queue)
    assert jira.status_of(key) == "Implemented"
    assert jira.value_of(key, "Outcome")["value"] == outcome
    explained = explain_issue(key, runtime=runtime)
    assert "Deployments (newest first):" in explained
    assert (f"production: {'succeeded' if conclusion == 'success' else 'failed'} "
            f"(GitHub Actions commit {run.head_sha[:12]} by octocat) "
            f"https://github.com/acme/shop/actions/runs/{run.id}") in explained


GITLAB_SECRET = "gitlab-hook-secret-for-tests"


@pytest.fixture
def gitlab_web(jira, slack, gitlab_sandbox, redis_url, namespace, tmp_path):
    """The web app and a worker set up for the sandbox GitLab, its hooks pointing at the app."""
    settings = dataclasses.replace(settings_for(jira, redis_url, namespace, slack=slack),
                                   gitlab_url=gitlab_sandbox.url,
                                   gitlab_token=gitlab_sandbox.bot.token,
                                   gitlab_webhook_secret=GITLAB_SECRET)
    server = WebServer(settings)
    jira.webhook_url = f"{server.url}/webhooks/jira"
    gitlab_sandbox.add_hook(f"{server.url}/webhooks/gitlab", GITLAB_SECRET)
    process = WorkerProcess(settings, tmp_path / "worker.log")
    yield server
    process.stop()
    server.stop()


def test_a_gitlab_deployment_held_for_approval_is_approved_when_the_cab_approves(
        jira, slack, gitlab_sandbox, gitlab_project, gitlab_web, queue):
    key = awaiting_approval(jira, queue)
    deployment = gitlab_sandbox.add_deployment(gitlab_project, "production",
                                               commit_title=f"{key}: rotate certificates")
    settle(jira, queue)  # the Pipeline Hook (manual) was judged: it waits, still blocked
    assert gitlab_sandbox.deployment(deployment.id).status == "blocked"
    assert gitlab_sandbox.approvals == []

    jira.transition(key, "Approved", as_user="carol")
    approval = gitlab_sandbox.wait_for_approval(deployment.id, "approved", timeout=20)
    assert approval.comment.startswith(f"{key} is Approved with its approvals standing")
    settle(jira, queue)
    assert jira.status_of(key) == "Implementing"
    gitlab_sandbox.move_deployment(deployment.id, "success")
    settle(jira, queue)
    assert jira.status_of(key) == "Implemented"
    assert jira.value_of(key, "Outcome")["value"] == "Successful"
    # The deployment's own start ("running") was the one the gate allowed: nothing flagged.
    assert jira.comments(key) == []
    assert [m.text.split(" ")[0] for m in slack.messages] == [":rocket:", ":white_check_mark:"]


def test_a_gitlab_deployment_that_skipped_the_gate_is_flagged(
        jira, slack, gitlab_sandbox, gitlab_project, gitlab_web, queue):
    key = approved(jira, queue)
    deployment = gitlab_sandbox.add_deployment(gitlab_project, "production", status="created",
                                               commit_title=f"{key}: hotfix")
    gitlab_sandbox.move_deployment(deployment.id, "running")  # never held for approval
    settle(jira, queue)
    assert "changeguard-violation" in jira.labels(key)
    [comment] = jira.comments(key)
    assert comment["text"].startswith("Deployment without the gate")
    assert slack.messages[-1].text.startswith(
        ":warning: A deployment to production ran without passing changeguard's deployment gate")


def test_a_deployment_inside_a_hard_freeze_is_rejected_naming_the_freeze(
        jira, slack, github, web, worker, queue, runtime):
    """Declared while the change is being implemented (the freeze's re-check withdraws only
    Approved changes): its next deployment is rejected, and `check` names the freeze."""
    key = approved(jira, queue)
    jira.transition(key, "Implementing", as_user="bob")
    settle(jira, queue)
    assert jira.status_of(key) == "Implementing"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    freeze_end = now + timedelta(hours=3)
    freeze = jira.create_freeze("dana", "Payments migration", now - timedelta(hours=2),
                                freeze_end, kind="Hard", reason="The ledger is being moved.")
    settle(jira, queue)  # the freeze's own job: what it holds is read afresh from now on

    run = request_deploy(github, web, f"{key} rotate certificates")
    decided = github.wait_for_review(run.id, state="rejected", timeout=20)
    until = when(freeze_end, cab_calendar(runtime.policy))
    verdict = (f"{key}'s planned window overlaps the hard freeze {freeze} \"Payments "
               f"migration\", which lets only Emergency changes through until {until} "
               "(Europe/London): move its Planned Start to that time or later.")
    assert decided.comment == verdict
    assert [r.state for r in github.reviews if r.run_id == run.id] == ["rejected"]
    settle(jira, queue)
    assert jira.status_of(key) == "Implementing"
    explained = explain_issue(key, runtime=runtime).splitlines()
    assert "  freezes the planned window runs into: 1" in explained
    assert f"    blocked: {verdict}" in explained
    assert f"    {verdict}" in explained  # the denied deployment's reason, on its record
