"""The sweep's GitLab recheck against the sandbox GitLab: held deployments no hook reported."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

import pytest
from rq import Queue

from jobs.gitlab_sweep import recheck_gitlab, remember_project
from jobs.waiting_deployments import remember_waiting
from rules.deployment import DeployRequest, Vendor
from rules.job_names import JobName, gate_job_id
from rules.policy import DeployPolicy
from sandbox.serving import ServingThread
from webhooks.app import create_app
from webhooks.gitlab import pipeline_requests
from worker.gitlab_client import GitLabClient

SECRET = "gitlab-hook-secret-4321"
MINUTE = "202612011005"
# Every environment's blocked deployments at once: GitLab's environment filter is exact.
LIST_QUERY = {"status": ["blocked"], "order_by": ["id"], "sort": ["desc"], "per_page": ["100"]}


@pytest.fixture
def rt(runtime, gitlab_sandbox):
    """The test's Runtime, with the GitLab gate configured on the sandbox GitLab."""
    return dataclasses.replace(
        runtime, gitlab=GitLabClient(gitlab_sandbox.url, gitlab_sandbox.bot.token,
                                     backoff_base=0.01, max_attempts=1),
        settings=dataclasses.replace(runtime.settings, gitlab_url=gitlab_sandbox.url,
                                     gitlab_token=gitlab_sandbox.bot.token,
                                     gitlab_webhook_secret=SECRET))


@pytest.fixture
def queue(rt):
    return Queue(rt.settings.queue_name, connection=rt.redis)


def jobs(queue):
    return [(job.id, job.func_name, job.kwargs) for job in queue.get_jobs()]


def lists(sandbox):
    """Return the deployment lists the sandbox GitLab served: (project path, query)."""
    return [(r.path.removeprefix("/api/v4/projects/"), r.query) for r in sandbox.requests
            if r.method == "GET"]


def asked(sandbox, made):
    """Return the question the Pipeline Hook of ``made``'s pipeline asks of its job, with its
    deployment named (what the sweep asks; GitLab's list shows no email, so none)."""
    run = f"gitlab:{made.project_id}:job:{made.job_id}"
    [hooked] = [r for r in pipeline_requests(sandbox.pipeline_hook_body(made.pipeline_id))
                if r.deployment_id == run]
    return dataclasses.replace(hooked, triggered_by_email=None, reply=(
        ("deployment_id", str(made.id)), *hooked.reply))


def to_the_second(iso):
    """Return a sandbox time ("...T09:05:00.123Z") as the hooks' are read ("...+00:00")."""
    return datetime.fromisoformat(iso).isoformat(timespec="seconds")


def test_a_held_deployment_no_hook_reported_is_judged_once_a_sweep_minute(
        rt, queue, gitlab_sandbox, gitlab_project):
    remember_project(rt, gitlab_project.id)
    made = gitlab_sandbox.add_deployment(gitlab_project, ref="release/1.2",
                                         commit_title="CHG-7 rotate certs")
    request = asked(gitlab_sandbox, made)
    first = gate_job_id(rt.settings.namespace, f"gitlab:7:job:{made.job_id}", f"sweep-{MINUTE}")
    later = gate_job_id(rt.settings.namespace, f"gitlab:7:job:{made.job_id}",
                        "sweep-202612011010")

    swept = recheck_gitlab(rt, queue, MINUTE)
    again = recheck_gitlab(rt, queue, MINUTE)  # a second sweep in the same minute
    next_sweep = recheck_gitlab(rt, queue, "202612011010")

    assert (swept, again, next_sweep) == ([first], [], [later])
    assert jobs(queue) == [(first, JobName.JUDGE_DEPLOYMENT.value, {"request": request.to_json()}),
                           (later, JobName.JUDGE_DEPLOYMENT.value, {"request": request.to_json()})]
    assert (request.texts, request.requested_at) == (("CHG-7 rotate certs", "release/1.2"),
                                                     to_the_second(made.created_at))
    assert lists(gitlab_sandbox) == [("7/deployments", LIST_QUERY)] * 3


def waiting(rt, sandbox, project):
    made = sandbox.add_deployment(project)
    remember_waiting(rt, "CHG-7", asked(sandbox, made), "waiting for CAB approval")


def allowed(rt, sandbox, project):
    # The gate approved it; GitLab holds it for a second approver.
    made = sandbox.add_deployment(project, required_approvals=2)
    rt.redis.set(rt.settings.key("gate-run", f"gitlab:7:job:{made.job_id}"), "CHG-7")


def unseen(rt, sandbox, project):
    sandbox.add_deployment(sandbox.add_project("acme/other", project_id=8))


def ungated(rt, sandbox, project):
    sandbox.add_deployment(project, "staging")


def released(rt, sandbox, project):
    sandbox.add_deployment(project, status="running")


NOT_ASKED = [
    ("kept waiting for its change", waiting, [("7/deployments", LIST_QUERY)]),
    ("allowed, held for other approvers", allowed, [("7/deployments", LIST_QUERY)]),
    ("a project changeguard never heard from", unseen, [("7/deployments", LIST_QUERY)]),
    ("an environment the policy does not gate", ungated, [("7/deployments", LIST_QUERY)]),
    ("no longer held", released, [("7/deployments", LIST_QUERY)]),
]


@pytest.mark.parametrize("make, listed", [n[1:] for n in NOT_ASKED], ids=[n[0] for n in NOT_ASKED])
def test_what_the_sweep_does_not_ask_about(rt, queue, gitlab_sandbox, gitlab_project, make,
                                           listed):
    remember_project(rt, gitlab_project.id)
    make(rt, gitlab_sandbox, gitlab_project)

    assert recheck_gitlab(rt, queue, MINUTE) == []
    assert jobs(queue) == []
    assert lists(gitlab_sandbox) == listed


def test_every_project_heard_from_is_listed_once_for_all_its_gated_environments(
        rt, queue, gitlab_sandbox, gitlab_project):
    rt = dataclasses.replace(rt, policy=dataclasses.replace(
        rt.policy, deploy=DeployPolicy(("production", "production-eu"))))
    other = gitlab_sandbox.add_project("acme/other", project_id=8)
    for project in (other, gitlab_project):
        remember_project(rt, project.id)
    gitlab_sandbox.add_deployment(gitlab_project)
    eu, shop = gitlab_sandbox.add_pipeline(other, ["production-eu", "production"])
    gitlab_sandbox.add_deployment(other, "staging")
    gitlab_sandbox.fail_next(403)  # project 7's list: the others go on

    ids = recheck_gitlab(rt, queue, MINUTE)

    ns = rt.settings.namespace
    assert ids == [gate_job_id(ns, f"gitlab:8:job:{shop.job_id}", f"sweep-{MINUTE}"),
                   gate_job_id(ns, f"gitlab:8:job:{eu.job_id}", f"sweep-{MINUTE}")]
    assert [DeployRequest.from_json(job[2]["request"]).environment for job in jobs(queue)] == [
        "production", "production-eu"]
    assert lists(gitlab_sandbox) == [("7/deployments", LIST_QUERY), ("8/deployments", LIST_QUERY)]
    assert gitlab_sandbox.requests[0].status == 403  # so project 7's deployment waits a sweep


def test_a_policy_naming_an_environment_in_another_case_finds_gitlabs_deployments(
        rt, queue, gitlab_sandbox, gitlab_project):
    # GitLab's environment= filter is exact: listing "Production" would find nothing.
    policy = rt.policy
    rt = dataclasses.replace(rt, policy=dataclasses.replace(
        policy, deploy=dataclasses.replace(policy.deploy, environments=("Production",))))
    remember_project(rt, gitlab_project.id)
    made = gitlab_sandbox.add_deployment(gitlab_project)
    gitlab_sandbox.add_deployment(gitlab_project, "staging")

    ids = recheck_gitlab(rt, queue, MINUTE)

    job_id = gate_job_id(rt.settings.namespace, f"gitlab:7:job:{made.job_id}", f"sweep-{MINUTE}")
    request = asked(gitlab_sandbox, made)
    assert ids == [job_id]
    # The question names the environment as GitLab spells it, as its hooks' do.
    assert request.environment == "production"
    assert jobs(queue) == [(job_id, JobName.JUDGE_DEPLOYMENT.value,
                            {"request": request.to_json()})]
    assert lists(gitlab_sandbox) == [("7/deployments", LIST_QUERY)]


def test_a_gitlab_failure_is_logged_and_the_sweep_goes_on(rt, queue, gitlab_sandbox,
                                                          gitlab_project, caplog):
    remember_project(rt, gitlab_project.id)
    gitlab_sandbox.add_deployment(gitlab_project)
    gitlab_sandbox.fail_next(403)

    with caplog.at_level(logging.WARNING, logger="jobs.gitlab_sweep"):
        assert recheck_gitlab(rt, queue, MINUTE) == []

    [record] = [r for r in caplog.records if r.name == "jobs.gitlab_sweep"]
    assert (record.message, record.project_id, record.error) == (
        "gitlab sweep failed", 7,
        "GitLab answered 403 to the blocked deployments of project 7: 403 sandbox fault")


def test_the_deploy_job_gitlab_sent_no_hook_for_is_found_by_the_sweep(
        rt, queue, gitlab_sandbox, gitlab_project):
    # GitLab's own hooks: the pipeline turns manual (one Pipeline Hook, one judgement). Its
    # second deploy job is held after that: the pipeline stays manual and GitLab sends nothing.
    app = create_app(rt.settings)
    serving = ServingThread(app, name="changeguard-web")
    try:
        gitlab_sandbox.add_hook(f"{serving.url}/webhooks/gitlab", SECRET)
        first = gitlab_sandbox.add_deployment(gitlab_project, commit_title="CHG-7 rotate")
        [hooked] = gitlab_sandbox.wait_for_deliveries(1)
        second = gitlab_sandbox.add_deployment(gitlab_project, "production",
                                               pipeline_id=first.pipeline_id, sha=first.sha,
                                               commit_title="CHG-7 rotate")
    finally:
        serving.stop()
    [(_, _, hooked_job)] = jobs(queue)
    # Its judgement ran and keeps it waiting for the change.
    remember_waiting(rt, "CHG-7", DeployRequest.from_json(hooked_job["request"]), "waiting")

    ids = recheck_gitlab(rt, queue, MINUTE)

    assert (hooked.headers["X-Gitlab-Event"], hooked.status_code) == ("Pipeline Hook", 202)
    assert (len(gitlab_sandbox.deliveries), rt.redis.smembers(rt.settings.key(
        "gitlab-projects"))) == (1, {b"7"})
    run = f"gitlab:7:job:{second.job_id}"
    assert ids == [gate_job_id(rt.settings.namespace, run, f"sweep-{MINUTE}")]
    # The Pipeline Hook's question, had GitLab sent one: the job's own creation is when it asked.
    assert DeployRequest.from_json(jobs(queue)[1][2]["request"]) == dataclasses.replace(
        asked(gitlab_sandbox, second), requested_at=to_the_second(second.created_at))
