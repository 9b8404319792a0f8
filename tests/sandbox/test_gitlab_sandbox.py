"""The sandbox GitLab answers, refuses and sends hooks as GitLab's docs and source say it does."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from sandbox import gitlab_contract as contract
from sandbox.gitlab_hooks import pipeline_status
from sandbox.gitlab_server import DEFAULT_TOKEN, GitLabApproval, GitLabRequest

TOKEN = {"PRIVATE-TOKEN": DEFAULT_TOKEN}

# The example of "Webhook events: Deployment events" (GitLab Docs), as published.
DOCUMENTED_HOOK = {
    "object_kind": "deployment", "status": "success",
    "status_changed_at": "2021-04-28 21:50:00 +0200", "deployment_id": 15, "deployable_id": 796,
    "deployable_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
    "environment": "staging", "environment_tier": "staging", "environment_slug": "staging",
    "environment_external_url": "https://staging.example.com",
    "project": {"id": 30, "name": "test-deployment-webhooks", "description": "",
                "web_url": "http://10.126.0.2:3000/root/test-deployment-webhooks",
                "avatar_url": None,
                "git_ssh_url": "ssh://vlad@10.126.0.2:2222/root/test-deployment-webhooks.git",
                "git_http_url": "http://10.126.0.2:3000/root/test-deployment-webhooks.git",
                "namespace": "Administrator", "visibility_level": 0,
                "path_with_namespace": "root/test-deployment-webhooks",
                "default_branch": "master", "ci_config_path": "",
                "homepage": "http://10.126.0.2:3000/root/test-deployment-webhooks",
                "url": "ssh://vlad@10.126.0.2:2222/root/test-deployment-webhooks.git",
                "ssh_url": "ssh://vlad@10.126.0.2:2222/root/test-deployment-webhooks.git",
                "http_url": "http://10.126.0.2:3000/root/test-deployment-webhooks.git"},
    "short_sha": "279484c0",
    "user": {"id": 1, "name": "Administrator", "username": "root",
             "avatar_url": "https://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61",
             "email": "admin@example.com"},
    "user_url": "http://10.126.0.2:3000/root",
    "commit_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/commit/"
                  "279484c09fbe69ededfced8c1bb6e6d24616b468",
    "commit_title": "Add new file",
}


def approve(sandbox, deployment_id, body, *, project="7", headers=TOKEN, form=False):
    url = f"{sandbox.url}/api/v4/projects/{project}/deployments/{deployment_id}/approval"
    sent = {"data": body} if form else {"json": body}
    return requests.post(url, headers=headers, timeout=5, **sent)


def test_get_deployment_has_the_documented_fields(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project, commit_title="Bump CHG-7")
    url = f"{gitlab_sandbox.url}/api/v4/projects/7/deployments/{made.id}"

    answer = requests.get(url, headers=TOKEN, timeout=5)

    body = answer.json()
    assert answer.status_code == 200
    assert set(body) == {"id", "iid", "ref", "sha", "created_at", "updated_at", "status", "user",
                         "environment", "deployable", "pending_approval_count", "approvals"}
    assert (body["id"], body["status"], body["ref"], body["sha"], body["environment"]["name"],
            body["deployable"]["status"], body["deployable"]["commit"]["title"],
            body["pending_approval_count"], body["approvals"]) == (
        made.id, "blocked", "main", made.sha, "production", "manual", "Bump CHG-7", 1, [])
    assert body["deployable"]["web_url"] == (
        f"{gitlab_sandbox.url}/acme/shop/-/jobs/{made.job_id}")


AUTH = [
    ("no token", {}, 401),
    ("wrong private token", {"PRIVATE-TOKEN": "glpat-wrong"}, 401),
    ("wrong bearer", {"Authorization": "Bearer glpat-wrong"}, 401),
    ("private token", TOKEN, 200),
    ("bearer", {"Authorization": f"Bearer {DEFAULT_TOKEN}"}, 200),
]


@pytest.mark.parametrize("headers, status", [a[1:] for a in AUTH], ids=[a[0] for a in AUTH])
def test_the_api_needs_a_token(gitlab_sandbox, headers, status):
    answer = requests.get(f"{gitlab_sandbox.url}/api/v4/user", headers=headers, timeout=5)

    assert answer.status_code == status
    if status == 401:
        assert answer.json() == contract.UNAUTHORIZED
        assert [r.status for r in gitlab_sandbox.take_rejections()] == [401]
    else:
        assert answer.json()["username"] == "changeguard-bot"


REFUSED = [
    ("status missing", {"comment": "ok"}, 400, {"error": "status is missing"}),
    ("status not approved or rejected", {"status": "approve"}, 400,
     {"error": "status does not have a valid value"}),
    ("comment not a string", {"status": "approved", "comment": 7}, 400,
     {"error": "comment is invalid"}),
    ("represented_as not a rule", {"status": "approved", "represented_as": "cab"}, 400,
     {"message": contract.NO_SUCH_RULE}),
]


@pytest.mark.parametrize("body, status, answer", [r[1:] for r in REFUSED],
                         ids=[r[0] for r in REFUSED])
def test_a_bad_approval_is_refused_and_recorded(gitlab_sandbox, gitlab_project, body, status,
                                                answer):
    made = gitlab_sandbox.add_deployment(gitlab_project, approval_rules=("security",))

    response = approve(gitlab_sandbox, made.id, body)

    assert (response.status_code, response.json()) == (status, answer)
    assert gitlab_sandbox.take_rejections() == [GitLabRequest(
        "POST", f"/api/v4/projects/7/deployments/{made.id}/approval", status, body, answer,
        "PRIVATE-TOKEN")]
    assert (gitlab_sandbox.deployment(made.id).status, gitlab_sandbox.approvals) == ("blocked", [])


def test_approval_refusals_that_depend_on_the_deployment(gitlab_sandbox, gitlab_project):
    running = gitlab_sandbox.add_deployment(gitlab_project, status="running")
    blocked = gitlab_sandbox.add_deployment(gitlab_project)
    other = gitlab_sandbox.add_project("acme/other", project_id=8)
    own = gitlab_sandbox.add_deployment(other, user=gitlab_sandbox.bot)

    answers = [(r.status_code, r.json()) for r in (
        approve(gitlab_sandbox, running.id, {"status": "approved"}),
        approve(gitlab_sandbox, 999, {"status": "approved"}),
        approve(gitlab_sandbox, "abc", {"status": "approved"}),
        approve(gitlab_sandbox, blocked.id, {"status": "approved"}, project="9"),
        approve(gitlab_sandbox, blocked.id, {"status": "approved"}, project="8"),
        approve(gitlab_sandbox, own.id, {"status": "approved"}, project="8"),
    )]

    assert answers == [
        (400, {"message": "This deployment is not waiting for approvals."}),
        (404, {"message": "404 Not found"}),
        (400, {"error": "deployment_id is invalid"}),
        (404, {"message": "404 Project Not Found"}),
        (404, {"message": "404 Not found"}),  # a deployment of another project
        (400, {"message": contract.OWN_DEPLOYMENT}),
    ]
    assert len(gitlab_sandbox.take_rejections()) == 6


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_an_approval_releases_the_deployment(gitlab_sandbox, gitlab_project, form):
    made = gitlab_sandbox.add_deployment(gitlab_project)
    before = time.monotonic()

    answer = approve(gitlab_sandbox, made.id, {"status": "approved", "comment": "CHG-7 ok"},
                     form=form)

    body = answer.json()
    assert answer.status_code == 201
    assert (body["status"], body["comment"], body["user"]["username"]) == (
        "approved", "CHG-7 ok", "changeguard-bot")
    assert set(body) == {"user", "status", "created_at", "comment"}
    after = gitlab_sandbox.deployment(made.id)
    assert (after.status, after.pending_approval_count) == ("running", 0)
    arrived = gitlab_sandbox.wait_for_approval(made.id, "approved", timeout=0.1)
    assert arrived == GitLabApproval(made.id, "approved", "CHG-7 ok", None, "changeguard-bot",
                                     arrived.arrived)
    assert before <= arrived.arrived <= time.monotonic()


def test_a_rejection_fails_the_deployment(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project)

    answer = approve(gitlab_sandbox, made.id, {"status": "rejected", "comment": "no window"})

    assert (answer.status_code, answer.json()["status"]) == (201, "rejected")
    assert gitlab_sandbox.deployment(made.id).status == "failed"  # the job is dropped


def test_two_required_approvals_keep_it_blocked_after_one(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project, required_approvals=2)

    first = approve(gitlab_sandbox, made.id, {"status": "approved"})
    again = approve(gitlab_sandbox, made.id, {"status": "approved"})

    assert (first.status_code, again.status_code) == (201, 201)
    assert (gitlab_sandbox.deployment(made.id).status,
            gitlab_sandbox.deployment(made.id).pending_approval_count) == ("blocked", 1)


def test_a_project_path_works_as_its_id(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project)

    answer = approve(gitlab_sandbox, made.id, {"status": "approved"}, project="acme%2Fshop")

    assert answer.status_code == 201


def test_wait_for_approval_wakes_when_it_arrives_and_times_out_otherwise(gitlab_sandbox,
                                                                         gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project)
    threading.Timer(0.1, approve, (gitlab_sandbox, made.id, {"status": "rejected"})).start()

    arrived = gitlab_sandbox.wait_for_approval(made.id, "rejected", timeout=5)

    assert arrived.status == "rejected"
    with pytest.raises(TimeoutError, match=f"no approved approval of deployment {made.id}"):
        gitlab_sandbox.wait_for_approval(made.id, "approved", timeout=0.05)


def test_faults_answer_first_and_are_not_rejections(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project)
    gitlab_sandbox.fail_next(429, retry_after=3)
    gitlab_sandbox.fail_next(502, applied=True)

    limited = approve(gitlab_sandbox, made.id, {"status": "approved"})
    lost = approve(gitlab_sandbox, made.id, {"status": "approved"})

    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert lost.status_code == 502
    assert gitlab_sandbox.deployment(made.id).status == "running"  # the lost answer's approval
    assert [r.status for r in gitlab_sandbox.requests] == [429, 502]


def test_unknown_routes_are_404(gitlab_sandbox):
    answer = requests.get(f"{gitlab_sandbox.url}/api/v4/projects", headers=TOKEN, timeout=5)

    assert (answer.status_code, answer.json()) == (404, {"error": "404 Not Found"})
    assert len(gitlab_sandbox.take_rejections()) == 1


# Deployment Hooks

def test_the_hook_body_has_the_documented_shape(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project, status="success")

    body = gitlab_sandbox.hook_body(made.id)

    assert contract.hook_shape_errors(body) == []
    assert contract.hook_shape_errors(DOCUMENTED_HOOK) == []
    assert set(body) == set(DOCUMENTED_HOOK)
    assert (body["commit_url"].endswith(made.sha), body["short_sha"], body["user"]["email"]) == (
        True, made.sha[:8], "dana@example.com")


def test_deliveries_carry_the_token_and_keep_their_idempotency_key(gitlab_sandbox, gitlab_project,
                                                                   receiver):
    made = gitlab_sandbox.add_deployment(gitlab_project, status="running")

    first = gitlab_sandbox.deliver_deployment(receiver.url, made.id, token="s3cret")
    again = gitlab_sandbox.redeliver(first)
    forged = gitlab_sandbox.redeliver(first, token="guess")

    headers = [r.headers for r in receiver.received]
    assert [(h["X-Gitlab-Event"], h["X-Gitlab-Token"]) for h in headers] == [
        ("Deployment Hook", "s3cret"), ("Deployment Hook", "s3cret"), ("Deployment Hook", "guess")]
    assert {h["Idempotency-Key"] for h in headers} == {first.idempotency_key}
    assert len({h["X-Gitlab-Webhook-Uuid"] for h in headers}) == 3
    assert [r.raw for r in receiver.received] == [first.body] * 3
    assert (first.status_code, again.status_code, forged.status_code) == (200, 200, 200)


def test_gitlab_never_sends_a_blocked_hook_unless_forged(gitlab_sandbox, gitlab_project, receiver):
    made = gitlab_sandbox.add_deployment(gitlab_project)

    with pytest.raises(ValueError, match="never sends a Deployment Hook with status 'blocked'"):
        gitlab_sandbox.deliver_deployment(receiver.url, made.id, token="s3cret")
    forged = gitlab_sandbox.deliver_deployment(receiver.url, made.id, token="s3cret", forge=True)

    assert (forged.json["status"], len(receiver.received)) == ("blocked", 1)


def hooked(delivery):
    """Return (event, status, id) of a delivery the sandbox sent."""
    body = delivery.json
    if body["object_kind"] == "pipeline":
        return ("Pipeline Hook", body["object_attributes"]["status"],
                body["object_attributes"]["id"])
    return ("Deployment Hook", body["status"], body["deployment_id"])


@pytest.mark.parametrize("decision, status", [("approved", "running"), ("rejected", "failed")])
def test_a_decision_sends_the_hooks_gitlab_sends(gitlab_sandbox, gitlab_project, receiver,
                                                 decision, status):
    gitlab_sandbox.add_hook(receiver.url, "s3cret")
    made = gitlab_sandbox.add_deployment(gitlab_project)
    [blocked] = gitlab_sandbox.wait_for_deliveries(1)

    approve(gitlab_sandbox, made.id, {"status": decision})

    sent = gitlab_sandbox.wait_for_deliveries(3)
    assert hooked(blocked) == ("Pipeline Hook", "manual", made.pipeline_id)
    # The deployment's hook and its pipeline's go out from threads: in either order.
    assert sorted(hooked(d) for d in sent[1:]) == [
        ("Deployment Hook", status, made.id), ("Pipeline Hook", status, made.pipeline_id)]
    assert {d.headers["X-Gitlab-Token"] for d in sent} == {"s3cret"}


APPROVAL_BODIES = [
    ("approved with everything", {"status": "approved", "comment": "c", "represented_as": "r"},
     []),
    ("rejected alone", {"status": "rejected"}, []),
    ("empty", {}, ["status is missing"]),
    ("numbers", {"status": 1, "represented_as": 2},
     ["status is invalid", "represented_as is invalid"]),
]


@pytest.mark.parametrize("body, errors", [a[1:] for a in APPROVAL_BODIES],
                         ids=[a[0] for a in APPROVAL_BODIES])
def test_approval_errors(body, errors):
    assert contract.approval_errors(body) == errors


def test_hook_shape_errors_name_each_departure():
    body = {**DOCUMENTED_HOOK, "status": "blocked", "deployment_id": "15", "object_kind": "build",
            "project": {"id": 30}}
    del body["commit_title"]

    assert contract.hook_shape_errors(body) == [
        "deployment_id is not integer", "commit_title is missing",
        "object_kind is not 'deployment'",
        "status 'blocked' is never sent (GitLab sends running, success, failed, canceled)",
    ] + [f"project.{f}" + " is missing" for f in contract.HOOK_PROJECT_FIELDS if f != "id"]


# Job Hooks

# The example of "Webhook events: Job events" (GitLab Docs), as published (its comments out).
DOCUMENTED_JOB_HOOK = {
    "object_kind": "build", "ref": "gitlab-script-trigger", "tag": False,
    "before_sha": "2293ada6b400935a1378653304eaf6221e0fdb8f",
    "sha": "2293ada6b400935a1378653304eaf6221e0fdb8f", "build_id": 1977, "build_name": "test",
    "build_stage": "test", "build_status": "created",
    "build_created_at": "2021-02-23T02:41:37.886Z", "build_created_at_iso": "2021-02-23T02:41:37Z",
    "build_started_at": None, "build_started_at_iso": None, "build_finished_at": None,
    "build_finished_at_iso": None, "build_duration": None, "build_queued_duration": 1095.588715,
    "build_allow_failure": False, "build_failure_reason": "script_failure", "retries_count": 2,
    "pipeline_id": 2366, "project_id": 380, "project_name": "gitlab-org/gitlab-test",
    "user": {"id": 3, "name": "User", "email": "user@gitlab.com",
             "avatar_url": "http://www.gravatar.com/avatar/e32bd13e2add097461cb96824b7a829c"},
    "commit": {"id": 2366, "name": "Build pipeline",
               "sha": "2293ada6b400935a1378653304eaf6221e0fdb8f", "message": "test\n",
               "author_name": "User", "author_email": "user@gitlab.com", "status": "created",
               "duration": None, "started_at": None, "started_at_iso": None,
               "finished_at": None, "finished_at_iso": None},
    "repository": {"name": "gitlab_test", "description": "Atque in sunt eos.",
                   "homepage": "http://192.168.64.1:3005/gitlab-org/gitlab-test",
                   "git_ssh_url": "git@192.168.64.1:gitlab-org/gitlab-test.git",
                   "git_http_url": "http://192.168.64.1:3005/gitlab-org/gitlab-test.git",
                   "visibility_level": 20},
    "project": {"id": 380, "name": "Gitlab Test", "description": "Atque in sunt eos.",
                "web_url": "http://192.168.64.1:3005/gitlab-org/gitlab-test", "avatar_url": None,
                "git_ssh_url": "git@192.168.64.1:gitlab-org/gitlab-test.git",
                "git_http_url": "http://192.168.64.1:3005/gitlab-org/gitlab-test.git",
                "namespace": "Gitlab Org", "visibility_level": 20,
                "path_with_namespace": "gitlab-org/gitlab-test", "default_branch": "master"},
    "runner": {"active": True, "runner_type": "project_type", "is_shared": False, "id": 380987,
               "description": "shared-runners-manager-6.gitlab.com", "tags": ["linux"]},
    "environment": None,
    "source_pipeline": {"project": {"id": 41, "web_url": "https://gitlab.example.com/up",
                                    "path_with_namespace": "gitlab-org/upstream-project"},
                        "pipeline_id": 30, "job_id": 3401},
}


def test_the_job_hook_body_has_the_documented_shape(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project, status="running",
                                         commit_title="CHG-7 rotate")

    body = gitlab_sandbox.job_hook_body(made.id)

    assert contract.job_hook_shape_errors(body) == []
    assert contract.job_hook_shape_errors(DOCUMENTED_JOB_HOOK) == []
    assert set(body) == set(DOCUMENTED_JOB_HOOK) - {"source_pipeline"}  # upstream-triggered only
    assert (body["build_id"], body["build_status"], body["sha"], body["commit"]["message"],
            body["environment"], body["project"]["web_url"]) == (
        made.job_id, "running", made.sha, "CHG-7 rotate\n",
        {"name": "production", "action": "start", "deployment_tier": "production"},
        f"{gitlab_sandbox.url}/acme/shop")
    assert gitlab_sandbox.job_hook_body(gitlab_sandbox.add_deployment(gitlab_project).id)[
        "build_status"] == "manual"  # the job of a blocked deployment


def test_job_hook_shape_errors_name_each_departure():
    body = {**DOCUMENTED_JOB_HOOK, "object_kind": "deployment", "build_status": "manual",
            "build_id": "1977", "tag": "no", "build_duration": True,
            "environment": {"name": "production"}}
    del body["retries_count"]

    assert contract.job_hook_shape_errors(body) == [
        "tag is not boolean", "build_id is not integer", "build_duration is not number or null",
        "retries_count is missing", "object_kind is not 'build'",
        "build_status 'manual' is never sent (GitLab sends created, pending, running, success, "
        "failed, canceled)",
        "environment.action is missing", "environment.deployment_tier is missing"]


def test_gitlab_never_sends_a_manual_job_hook_unless_forged(gitlab_sandbox, gitlab_project,
                                                            receiver):
    made = gitlab_sandbox.add_deployment(gitlab_project)

    with pytest.raises(ValueError, match="never sends a Job Hook with build_status 'manual'"):
        gitlab_sandbox.deliver_job(receiver.url, made.id, token="s3cret")
    forged = gitlab_sandbox.deliver_job(receiver.url, made.id, token="s3cret", forge=True)
    pending = gitlab_sandbox.deliver_job(receiver.url, made.id, "pending", token="s3cret")

    assert [(r.headers["X-Gitlab-Event"], r.headers["X-Gitlab-Token"], json.loads(r.raw)[
        "build_status"]) for r in receiver.received] == [
        ("Job Hook", "s3cret", "manual"), ("Job Hook", "s3cret", "pending")]
    assert (forged.json["build_id"], pending.status_code) == (made.job_id, 200)


def test_a_blocked_deployment_sends_only_its_pipelines_hook(gitlab_sandbox, gitlab_project,
                                                            receiver):
    gitlab_sandbox.add_hook(receiver.url, "s3cret")
    gitlab_sandbox.add_hook(receiver.url, "deployments-only", pipeline_events=False)

    made = gitlab_sandbox.add_deployment(gitlab_project, commit_title="CHG-7 rotate")

    [delivery] = gitlab_sandbox.wait_for_deliveries(1)
    time.sleep(0.1)  # nothing else follows: no Job Hook, no Deployment Hook
    assert len(receiver.received) == 1
    body = delivery.json
    assert (delivery.headers["X-Gitlab-Event"], delivery.headers["X-Gitlab-Token"]) == (
        "Pipeline Hook", "s3cret")
    assert contract.pipeline_hook_shape_errors(body) == []
    assert (body["object_attributes"]["status"], body["object_attributes"]["sha"],
            body["commit"]["title"]) == ("manual", made.sha, "CHG-7 rotate")
    assert [(b["id"], b["status"], b["allow_failure"], b["environment"]) for b in
            body["builds"]] == [
        (9000 + made.pipeline_id, "success", False, None),
        (made.job_id, "manual", False,
         {"name": "production", "action": "start", "deployment_tier": "production"})]


def test_a_pipeline_deploying_to_several_environments_names_each_job(gitlab_sandbox,
                                                                      gitlab_project, receiver):
    gitlab_sandbox.add_hook(receiver.url, "s3cret")

    eu, us = gitlab_sandbox.add_pipeline(gitlab_project, ["production-eu", "production-us"])
    [delivery] = gitlab_sandbox.wait_for_deliveries(1)
    late = gitlab_sandbox.add_deployment(gitlab_project, "production-ap",
                                         pipeline_id=eu.pipeline_id)
    time.sleep(0.1)

    assert (eu.pipeline_id, eu.sha) == (us.pipeline_id, us.sha)
    assert [(b["id"], b["status"], b["environment"]["name"])
            for b in delivery.json["builds"][1:]] == [
        (eu.job_id, "manual", "production-eu"), (us.job_id, "manual", "production-us")]
    # Still manual: GitLab's state machine sends nothing for a move to the same status.
    assert (late.pipeline_id, len(gitlab_sandbox.deliveries)) == (eu.pipeline_id, 1)


RUNNER_MOVES = [
    # A pipeline with a created job already counts as running: its status does not change.
    ("a runner starts it", "running", [("Deployment Hook", "running")]),
    ("it ends", "success", [("Deployment Hook", "success"), ("Pipeline Hook", "success")]),
]


@pytest.mark.parametrize("status, hooks", [m[1:] for m in RUNNER_MOVES],
                         ids=[m[0] for m in RUNNER_MOVES])
def test_a_deployment_moved_by_its_runner_sends_its_hooks(gitlab_sandbox, gitlab_project,
                                                          receiver, status, hooks):
    made = gitlab_sandbox.add_deployment(gitlab_project, "staging", status="created")
    gitlab_sandbox.add_hook(receiver.url, "s3cret")

    moved = gitlab_sandbox.move_deployment(made.id, status)

    gitlab_sandbox.wait_for_deliveries(len(hooks))
    time.sleep(0.1)  # and no more
    assert moved.status == status
    assert sorted(hooked(d)[:2] for d in gitlab_sandbox.deliveries) == hooks


def test_a_runner_moves_deployments_only_as_gitlab_does(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project)

    with pytest.raises(ValueError, match="not 'blocked'"):
        gitlab_sandbox.move_deployment(made.id, "blocked")
    with pytest.raises(TimeoutError, match="0 of 1 hooks sent"):
        gitlab_sandbox.wait_for_deliveries(1, timeout=0.05)


# Pipeline Hooks

# The example of "Webhook events: Pipeline events" (GitLab Docs), as published (two of its
# five builds, merge_request and source_pipeline kept).
DOCUMENTED_USER = {"id": 1, "name": "Administrator", "username": "root",
                   "avatar_url": "http://www.gravatar.com/avatar/e32bd13e2add097461cb96824b7a829c"
                                 "?s=80&d=identicon", "email": "admin@example.com"}
DOCUMENTED_PIPELINE_HOOK = {
    "object_kind": "pipeline",
    "object_attributes": {
        "id": 31, "iid": 3, "name": "Pipeline for branch: master", "ref": "master",
        "tag": False, "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
        "before_sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
        "source": "merge_request_event", "status": "success",
        "stages": ["build", "test", "deploy"], "created_at": "2016-08-12 15:23:28 UTC",
        "finished_at": "2016-08-12 15:26:29 UTC", "duration": 63,
        "variables": [{"key": "NESTOR_PROD_ENVIRONMENT", "value": "us-west-1"}],
        "url": "http://example.com/gitlab-org/gitlab-test/-/pipelines/31"},
    "merge_request": {"id": 1, "iid": 1, "title": "Test", "source_branch": "test",
                      "source_project_id": 1, "target_branch": "master", "target_project_id": 1,
                      "state": "opened", "merge_status": "can_be_merged",
                      "detailed_merge_status": "mergeable",
                      "url": "http://192.168.64.1:3005/gitlab-org/gitlab-test/merge_requests/1"},
    "user": {**DOCUMENTED_USER, "email": "user_email@gitlab.com"},
    "project": {"id": 1, "name": "Gitlab Test",
                "description": "Atque in sunt eos similique dolores voluptatem.",
                "web_url": "http://192.168.64.1:3005/gitlab-org/gitlab-test", "avatar_url": None,
                "git_ssh_url": "git@192.168.64.1:gitlab-org/gitlab-test.git",
                "git_http_url": "http://192.168.64.1:3005/gitlab-org/gitlab-test.git",
                "namespace": "Gitlab Org", "visibility_level": 20,
                "path_with_namespace": "gitlab-org/gitlab-test", "default_branch": "master"},
    "commit": {"id": "bcbb5ec396a2c0f828686f14fac9b80b780504f2", "message": "test\n",
               "timestamp": "2016-08-12T17:23:21+02:00",
               "url": "http://example.com/gitlab-org/gitlab-test/commit/"
                      "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
               "author": {"name": "User", "email": "user@gitlab.com"}},
    "source_pipeline": {"project": {"id": 41,
                                    "web_url": "https://gitlab.example.com/gitlab-org/upstream",
                                    "path_with_namespace": "gitlab-org/upstream-project"},
                        "pipeline_id": 30, "job_id": 3401},
    "builds": [
        {"id": 380, "stage": "deploy", "name": "production", "status": "skipped",
         "created_at": "2016-08-12 15:23:28 UTC", "started_at": None, "finished_at": None,
         "duration": None, "queued_duration": None, "failure_reason": None, "when": "manual",
         "manual": True, "allow_failure": False, "user": DOCUMENTED_USER, "runner": None,
         "artifacts_file": {"filename": None, "size": None},
         "environment": {"name": "production", "action": "start",
                         "deployment_tier": "production"}},
        {"id": 377, "stage": "test", "name": "test-image", "status": "success",
         "created_at": "2016-08-12 15:23:28 UTC", "started_at": "2016-08-12 15:26:12 UTC",
         "finished_at": "2016-08-12 15:26:29 UTC", "duration": 17.0, "queued_duration": 196.0,
         "failure_reason": None, "when": "on_success", "manual": False, "allow_failure": False,
         "user": DOCUMENTED_USER,
         "runner": {"id": 380987, "description": "shared-runners-manager-6.gitlab.com",
                    "active": True, "runner_type": "instance_type", "is_shared": True,
                    "tags": ["linux", "docker", "shared-runner"]},
         "artifacts_file": {"filename": None, "size": None}, "environment": None},
    ],
}


def test_the_pipeline_hook_body_has_the_documented_shape(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project, ref="release/1.2")

    body = gitlab_sandbox.pipeline_hook_body(made.pipeline_id)

    assert contract.pipeline_hook_shape_errors(body) == []
    assert contract.pipeline_hook_shape_errors(DOCUMENTED_PIPELINE_HOOK) == []
    # merge_request is null outside merge request pipelines; source_pipeline: triggered only.
    assert set(body) == set(DOCUMENTED_PIPELINE_HOOK) - {"source_pipeline"}
    assert set(body["object_attributes"]) >= set(DOCUMENTED_PIPELINE_HOOK["object_attributes"])
    assert all(set(b) == set(DOCUMENTED_PIPELINE_HOOK["builds"][0]) for b in body["builds"])
    assert (body["object_attributes"]["ref"], body["object_attributes"]["created_at"][-4:],
            body["project"]["web_url"], body["merge_request"]) == (
        "release/1.2", " UTC", f"{gitlab_sandbox.url}/acme/shop", None)
    assert gitlab_sandbox.pipeline_hook_body(made.pipeline_id, "running")[
        "object_attributes"]["status"] == "running"
    with pytest.raises(KeyError, match="no pipeline 1"):
        gitlab_sandbox.pipeline_hook_body(1)


def test_pipeline_hook_shape_errors_name_each_departure():
    body = {**DOCUMENTED_PIPELINE_HOOK, "object_kind": "build", "builds": [
        "a job", {**DOCUMENTED_PIPELINE_HOOK["builds"][0], "id": "380", "manual": "yes",
                  "environment": {"name": "production"}}],
            "object_attributes": {**DOCUMENTED_PIPELINE_HOOK["object_attributes"],
                                  "status": "created", "stages": "build"},
            "commit": {"id": "bcbb5ec3"}, "user": None}
    del body["project"]

    assert contract.pipeline_hook_shape_errors(body) == [
        "project is missing", "object_kind is not 'pipeline'",
        "object_attributes.stages is not array",
        "object_attributes.status 'created' is never sent (GitLab sends "
        f"{', '.join(contract.PIPELINE_HOOK_STATUSES)})",
        "commit.message is missing", "commit.timestamp is missing", "commit.url is missing",
        "commit.author is missing", "builds[0] is not object", "builds[1].id is not integer",
        "builds[1].manual is not boolean", "builds[1].environment.action is missing",
        "builds[1].environment.deployment_tier is missing"]


def test_gitlab_never_sends_a_created_pipeline_hook_unless_forged(gitlab_sandbox,
                                                                  gitlab_project, receiver):
    made = gitlab_sandbox.add_deployment(gitlab_project)

    with pytest.raises(ValueError, match="never sends a Pipeline Hook with "
                                         "object_attributes.status 'created'"):
        gitlab_sandbox.deliver_pipeline(receiver.url, made.pipeline_id, "created",
                                        token="s3cret")
    forged = gitlab_sandbox.deliver_pipeline(receiver.url, made.pipeline_id, "created",
                                             token="s3cret", forge=True)
    manual = gitlab_sandbox.deliver_pipeline(receiver.url, made.pipeline_id, token="s3cret")

    assert [(r.headers["X-Gitlab-Event"], json.loads(r.raw)["object_attributes"]["status"])
            for r in receiver.received] == [("Pipeline Hook", "created"),
                                            ("Pipeline Hook", "manual")]
    assert (forged.status_code, manual.idempotency_key != forged.idempotency_key) == (200, True)


# Gitlab::Ci::Status::Composite, for jobs not allowed to fail
PIPELINE_STATUSES = [
    ("all passed", ["success", "success"], "success"),
    ("passed and skipped", ["success", "skipped"], "success"),
    ("all skipped", ["skipped"], "skipped"),
    ("all created", ["created"], "created"),
    ("canceled among passed", ["success", "canceled"], "canceled"),
    ("pending and created", ["pending", "created"], "pending"),
    ("a job runs while another waits for approval", ["running", "manual"], "running"),
    ("a deploy job waits for approval", ["success", "manual"], "manual"),
    ("a failed job and one waiting for approval", ["failed", "manual"], "manual"),
    ("passed, a later stage created", ["success", "created"], "running"),
    ("one failed", ["success", "failed"], "failed"),
]


@pytest.mark.parametrize("jobs, status", [p[1:] for p in PIPELINE_STATUSES],
                         ids=[p[0] for p in PIPELINE_STATUSES])
def test_pipeline_status_is_gitlabs_composite(jobs, status):
    assert pipeline_status(jobs) == status


# GET /projects/:id/deployments

def listed(sandbox, query, project="7"):
    answer = requests.get(f"{sandbox.url}/api/v4/projects/{project}/deployments",
                          params=query, headers=TOKEN, timeout=5)
    return answer.status_code, answer.json(), answer.headers


LISTS = [
    ("all, oldest first", {}, [1001, 1002, 1003, 1004]),
    ("blocked in production, newest first",
     {"environment": "production", "status": "blocked", "order_by": "id", "sort": "desc"},
     [1003, 1001]),
    ("staging", {"environment": "staging"}, [1002]),
    ("skipped is a status to filter by", {"status": "skipped"}, []),
    ("one per page, the second", {"per_page": "1", "page": "2"}, [1002]),
    ("by creation, newest first", {"order_by": "created_at", "sort": "desc"},
     [1004, 1003, 1002, 1001]),
]


@pytest.mark.parametrize("query, ids", [li[1:] for li in LISTS], ids=[li[0] for li in LISTS])
def test_the_list_filters_orders_and_pages(gitlab_sandbox, gitlab_project, query, ids):
    gitlab_sandbox.add_deployment(gitlab_project, ref="main")
    gitlab_sandbox.add_deployment(gitlab_project, "staging", ref="main")
    gitlab_sandbox.add_deployment(gitlab_project, ref="main")
    gitlab_sandbox.add_deployment(gitlab_project, status="success", ref="a-fix")
    gitlab_sandbox.add_deployment(gitlab_sandbox.add_project("acme/other", project_id=8))

    status, body, _ = listed(gitlab_sandbox, query)

    assert (status, [d["id"] for d in body]) == (200, ids)
    assert all(set(d) == {"id", "iid", "ref", "sha", "created_at", "updated_at", "status",
                          "user", "environment", "deployable"} for d in body)


def test_the_list_pages_with_gitlabs_headers(gitlab_sandbox, gitlab_project):
    for _ in range(3):
        gitlab_sandbox.add_deployment(gitlab_project)

    _, first, headers = listed(gitlab_sandbox, {"per_page": "2", "status": "blocked"})
    _, last, last_headers = listed(gitlab_sandbox, {"per_page": "2", "page": "2"})

    assert ([d["id"] for d in first], [d["id"] for d in last]) == ([1001, 1002], [1003])
    assert {k: headers[k] for k in ("X-Page", "X-Per-Page", "X-Total", "X-Next-Page")} == {
        "X-Page": "1", "X-Per-Page": "2", "X-Total": "3", "X-Next-Page": "2"}
    assert headers["Link"] == (f'<{gitlab_sandbox.url}/api/v4/projects/7/deployments'
                               '?per_page=2&status=blocked&page=2>; rel="next"')
    assert (last_headers["X-Next-Page"], "Link" in last_headers) == ("", False)


LIST_REFUSED = [
    ("unknown status", {"status": "manual"}, {"error": "status does not have a valid value"}),
    ("unknown order and sort", {"order_by": "ref", "sort": "down"},
     {"error": "order_by does not have a valid value, sort does not have a valid value"}),
    ("a page that is no number", {"page": "x"}, {"error": "page is invalid"}),
    ("updated and finished filters", {"updated_after": "2026-01-01T00:00:00Z",
                                      "finished_after": "2026-01-01T00:00:00Z"},
     {"message": "400 Bad request - Both `updated_at` filter and `finished_at` filter can not "
                 "be specified"}),
    ("updated filter, id sort", {"updated_after": "2026-01-01T00:00:00Z"},
     {"message": "400 Bad request - `updated_at` filter requires `updated_at` sort"}),
    ("finished filter, id sort", {"finished_before": "2026-01-01T00:00:00Z"},
     {"message": "400 Bad request - `finished_at` filter requires `finished_at` sort."}),
    ("finished sort, no finished filter", {"order_by": "finished_at", "status": "blocked"},
     {"message": "400 Bad request - `finished_at` sort requires `finished_at` filter or a "
                 "filter with at least one of the finished statuses."}),
    ("finished filter, failed status",
     {"order_by": "finished_at", "finished_after": "2026-01-01T00:00:00Z", "status": "failed"},
     {"message": "400 Bad request - `finished_at` filter must be combined with `success` "
                 "status filter."}),
]


@pytest.mark.parametrize("query, answer", [r[1:] for r in LIST_REFUSED],
                         ids=[r[0] for r in LIST_REFUSED])
def test_the_list_refuses_what_gitlab_refuses(gitlab_sandbox, gitlab_project, query, answer):
    status, body, _ = listed(gitlab_sandbox, query)

    assert (status, body) == (400, answer)
    assert [(r.status, r.answer) for r in gitlab_sandbox.take_rejections()] == [(400, answer)]
