"""The GitLab client against the sandbox GitLab over real HTTP: exact requests, retries, errors."""

from __future__ import annotations

import pytest

from worker.gitlab_client import GitLabClient, GitLabError, gitlab_client_for
from ..builders import Clock, Waits, free_port, make_settings


def client_for(sandbox, waits=None, **options):
    return GitLabClient(sandbox.url, sandbox.bot.token, backoff_base=0.01,
                        sleep=waits if waits is not None else Waits(), **options)


def calls(sandbox):
    return [(r.method, r.path, r.status, r.body, r.auth) for r in sandbox.requests]


DECISIONS = [
    ("approve", "approved", None, {"status": "approved", "comment": "CHG-7 is approved"},
     "running"),
    ("reject as a rule", "rejected", "security",
     {"status": "rejected", "comment": "CHG-7 is approved", "represented_as": "security"},
     "failed"),
]


@pytest.mark.parametrize("status, represented_as, sent, after", [d[1:] for d in DECISIONS],
                         ids=[d[0] for d in DECISIONS])
def test_decide_sends_one_post_and_returns_the_approval(gitlab_sandbox, gitlab_project, status,
                                                        represented_as, sent, after):
    made = gitlab_sandbox.add_deployment(gitlab_project, approval_rules=("security",))

    approval = client_for(gitlab_sandbox).decide_deployment(
        7, made.id, status, "CHG-7 is approved", represented_as=represented_as)

    assert calls(gitlab_sandbox) == [
        ("POST", f"/api/v4/projects/7/deployments/{made.id}/approval", 201, sent,
         "PRIVATE-TOKEN")]
    assert (approval["status"], approval["comment"], approval["user"]["username"]) == (
        status, "CHG-7 is approved", "changeguard-bot")
    assert gitlab_sandbox.deployment(made.id).status == after


def test_a_project_path_is_url_encoded(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project)

    client_for(gitlab_sandbox).decide_deployment("acme/shop", made.id, "approved", "ok")

    assert [r.path for r in gitlab_sandbox.requests] == [
        f"/api/v4/projects/acme%2Fshop/deployments/{made.id}/approval"]


RETRIED = [
    ("502 then success", 502, None, 1),
    ("503 then success", 503, None, 1),
    ("429 waits its Retry-After", 429, 3, 1),
]


@pytest.mark.parametrize("fault, retry_after, faults", [r[1:] for r in RETRIED],
                         ids=[r[0] for r in RETRIED])
def test_transient_answers_are_retried(gitlab_sandbox, gitlab_project, fault, retry_after,
                                       faults):
    made = gitlab_sandbox.add_deployment(gitlab_project)
    gitlab_sandbox.fail_next(fault, faults, retry_after=retry_after)
    waits = Waits()

    approval = client_for(gitlab_sandbox, waits).decide_deployment(7, made.id, "approved", "ok")

    assert approval["status"] == "approved"
    assert [r.status for r in gitlab_sandbox.requests] == [fault, 201]
    assert len(waits) == 1
    if retry_after is not None:
        assert waits == [3.0]
    else:
        assert 0.005 <= waits[0] <= 0.01


def test_a_lost_answer_whose_approval_stands_is_a_success(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project)
    gitlab_sandbox.fail_next(502, applied=True)

    approval = client_for(gitlab_sandbox).decide_deployment(7, made.id, "approved", "ok")

    assert (approval["status"], approval["comment"]) == ("approved", "ok")
    assert [(r.method, r.status) for r in gitlab_sandbox.requests] == [
        ("POST", 502), ("POST", 400), ("GET", 200)]
    # GitLab answers the retry 400: that refusal is expected, and handled.
    assert [r.answer for r in gitlab_sandbox.take_rejections()] == [
        {"message": "This deployment is not waiting for approvals."}]


def test_not_waiting_on_the_first_attempt_is_an_error(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project, status="running")

    with pytest.raises(GitLabError) as raised:
        client_for(gitlab_sandbox).decide_deployment(7, made.id, "approved", "ok")

    assert (raised.value.status, str(raised.value)) == (
        400, f"GitLab answered 400 to the approval of deployment {made.id} in project 7: "
             "This deployment is not waiting for approvals.")
    assert [r.method for r in gitlab_sandbox.requests] == ["POST"]
    assert len(gitlab_sandbox.take_rejections()) == 1


def test_not_waiting_after_a_retry_without_our_approval_stays_an_error(gitlab_sandbox,
                                                                        gitlab_project):
    # The 502 was not ours to blame: the deployment had moved on (someone ran it) meanwhile.
    made = gitlab_sandbox.add_deployment(gitlab_project, status="running")
    gitlab_sandbox.fail_next(502)

    with pytest.raises(GitLabError) as raised:
        client_for(gitlab_sandbox).decide_deployment(7, made.id, "approved", "ok")

    assert (raised.value.status, raised.value.message.endswith("not waiting for approvals.")) == (
        400, True)
    assert [(r.method, r.status) for r in gitlab_sandbox.requests] == [
        ("POST", 502), ("POST", 400), ("GET", 200)]
    assert len(gitlab_sandbox.take_rejections()) == 1


def test_an_unknown_deployment_raises_naming_it(gitlab_sandbox, gitlab_project):
    with pytest.raises(GitLabError) as raised:
        client_for(gitlab_sandbox).decide_deployment(7, 999, "rejected", "no")

    assert (raised.value.status, raised.value.message) == (
        404, "GitLab answered 404 to the rejection of deployment 999 in project 7: 404 Not found")
    assert len(gitlab_sandbox.requests) == 1
    assert len(gitlab_sandbox.take_rejections()) == 1


def test_a_wrong_token_raises_401_without_retrying(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project)
    client = GitLabClient(gitlab_sandbox.url, "glpat-revoked", sleep=Waits())

    with pytest.raises(GitLabError) as raised:
        client.decide_deployment(7, made.id, "approved", "ok")

    assert (raised.value.status, len(gitlab_sandbox.requests)) == (401, 1)
    assert "401 Unauthorized" in raised.value.message
    gitlab_sandbox.take_rejections()


GIVING_UP = [
    ("Retry-After beyond max_wait", dict(status=429, count=1, retry_after=60), {}, 1),
    ("5xx past max_attempts", dict(status=502, count=9), {"max_attempts": 3}, 3),
    ("5xx past the budget", dict(status=502, count=9), {"budget": 10.0, "timeout": 10.0}, 1),
]


@pytest.mark.parametrize("fault, options, sent", [g[1:] for g in GIVING_UP],
                         ids=[g[0] for g in GIVING_UP])
def test_it_gives_up_in_time(gitlab_sandbox, gitlab_project, fault, options, sent):
    made = gitlab_sandbox.add_deployment(gitlab_project)
    gitlab_sandbox.fail_next(**fault)
    waits = Waits()

    with pytest.raises(GitLabError) as raised:
        client_for(gitlab_sandbox, waits, clock=Clock(waits), **options).decide_deployment(
            7, made.id, "approved", "ok")

    assert (raised.value.status, len(gitlab_sandbox.requests)) == (fault["status"], sent)
    assert gitlab_sandbox.deployment(made.id).status == "blocked"


def test_no_answer_at_all_is_an_error_with_no_status():
    waits = Waits()
    client = GitLabClient(f"http://127.0.0.1:{free_port()}", "glpat-x", sleep=waits,
                          clock=Clock(waits), backoff_base=0.01, max_attempts=2)

    with pytest.raises(GitLabError) as raised:
        client.decide_deployment(7, 1001, "approved", "ok")

    assert raised.value.status is None
    assert raised.value.message.startswith("GitLab did not answer the approval of deployment "
                                           "1001 in project 7: ")
    assert len(waits) == 1


def test_get_deployment_returns_gitlabs_json(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project, ref="release/1.2")

    found = client_for(gitlab_sandbox).get_deployment(7, made.id)

    assert (found["id"], found["status"], found["ref"], found["sha"],
            found["environment"]["name"], found["pending_approval_count"]) == (
        made.id, "blocked", "release/1.2", made.sha, "production", 1)
    assert calls(gitlab_sandbox) == [
        ("GET", f"/api/v4/projects/7/deployments/{made.id}", 200, None, "PRIVATE-TOKEN")]


CONFIGURED = [
    ("not configured", {}, None),
    ("token only", {"gitlab_token": "glpat-x"}, None),
    ("token and secret", {"gitlab_token": "glpat-x", "gitlab_webhook_secret": "s",
                          "gitlab_url": "https://gitlab.example.com"},
     "https://gitlab.example.com"),
]


@pytest.mark.parametrize("values, url", [c[1:] for c in CONFIGURED], ids=[c[0] for c in CONFIGURED])
def test_gitlab_client_for(values, url):
    settings = make_settings("redis://127.0.0.1:6379/0", "cgtest", **values)

    client = gitlab_client_for(settings)

    assert (client.url if client else None) == url


# The blocked deployment of a job (what a Job Hook's judgement answers)

LIST_QUERY = {"environment": ["production"], "status": ["blocked"], "order_by": ["id"],
              "sort": ["desc"], "per_page": ["100"]}
FOUND = [
    ("the job's blocked deployment", "blocked", "production", 1001),
    ("approved meanwhile: it runs", "running", "production", None),
    ("another environment's", "blocked", "staging", None),
]


@pytest.mark.parametrize("status, environment, found", [f[1:] for f in FOUND],
                         ids=[f[0] for f in FOUND])
def test_blocked_deployment_for_job_is_one_filtered_get(gitlab_sandbox, gitlab_project, status,
                                                        environment, found):
    made = gitlab_sandbox.add_deployment(gitlab_project, environment, status=status)
    gitlab_sandbox.add_deployment(gitlab_project)  # another job's, blocked

    deployment_id = client_for(gitlab_sandbox).blocked_deployment_for_job(
        7, "production", made.job_id)

    assert deployment_id == found
    assert [(r.method, r.path, r.status, r.query) for r in gitlab_sandbox.requests] == [
        ("GET", "/api/v4/projects/7/deployments", 200, LIST_QUERY)]


def test_blocked_deployment_for_job_pages_on_until_it_finds_it(gitlab_sandbox, gitlab_project):
    oldest = gitlab_sandbox.add_deployment(gitlab_project)
    for _ in range(100):
        gitlab_sandbox.add_deployment(gitlab_project)

    deployment_id = client_for(gitlab_sandbox).blocked_deployment_for_job(
        "acme/shop", "production", oldest.job_id)

    assert deployment_id == oldest.id
    assert [(r.path, r.query) for r in gitlab_sandbox.requests] == [
        ("/api/v4/projects/acme%2Fshop/deployments", LIST_QUERY),
        ("/api/v4/projects/acme%2Fshop/deployments", {**LIST_QUERY, "page": ["2"]})]


def test_blocked_deployment_for_job_retries_and_then_names_its_call(gitlab_sandbox,
                                                                     gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project)
    gitlab_sandbox.fail_next(503)
    assert client_for(gitlab_sandbox).blocked_deployment_for_job(
        7, "production", made.job_id) == made.id
    gitlab_sandbox.fail_next(403)

    with pytest.raises(GitLabError) as raised:
        client_for(gitlab_sandbox).blocked_deployment_for_job(7, "production", made.job_id)

    assert (raised.value.status, raised.value.message) == (
        403, "GitLab answered 403 to the blocked deployments of production in project 7: "
             "403 sandbox fault")
    assert [r.status for r in gitlab_sandbox.requests] == [503, 200, 403]


# The blocked deployments of a project (what the reconciliation sweep judges)

# No environment filter: GitLab's is exact, a policy's environment names ignore case.
BLOCKED_QUERY = {"status": ["blocked"], "order_by": ["id"], "sort": ["desc"], "per_page": ["100"]}


def listed(sandbox, made):
    return {"id": made.id, "environment": made.environment, "job_id": made.job_id,
            "job_url": f"{sandbox.url}/acme/shop/-/jobs/{made.job_id}", "ref": made.ref,
            "sha": made.sha, "username": "dana", "name": "Dana Developer", "email": None,
            "commit_title": made.commit_title, "commit_message": made.commit_title,
            "requested_at": made.created_at}


def test_blocked_deployments_are_those_held_in_every_environment_newest_first(gitlab_sandbox,
                                                                             gitlab_project):
    older = gitlab_sandbox.add_deployment(gitlab_project, ref="release/1.2",
                                          commit_title="CHG-7 rotate certs")
    gitlab_sandbox.add_deployment(gitlab_project, status="running")  # approved: it runs
    staging = gitlab_sandbox.add_deployment(gitlab_project, "staging")
    newer = gitlab_sandbox.add_deployment(gitlab_project, "Production-EU")
    gitlab_sandbox.add_deployment(gitlab_sandbox.add_project("acme/other", project_id=8))

    found = client_for(gitlab_sandbox).blocked_deployments(7)

    assert found == [listed(gitlab_sandbox, newer), listed(gitlab_sandbox, staging),
                     listed(gitlab_sandbox, older)]
    assert [d["environment"] for d in found] == ["Production-EU", "staging", "production"]
    assert [(r.method, r.path, r.status, r.query) for r in gitlab_sandbox.requests] == [
        ("GET", "/api/v4/projects/7/deployments", 200, BLOCKED_QUERY)]


def test_blocked_deployments_reads_every_page(gitlab_sandbox, gitlab_project):
    made = [gitlab_sandbox.add_deployment(gitlab_project) for _ in range(101)]

    found = client_for(gitlab_sandbox).blocked_deployments("acme/shop")

    assert [d["id"] for d in found] == [d.id for d in reversed(made)]
    assert [(r.path, r.query) for r in gitlab_sandbox.requests] == [
        ("/api/v4/projects/acme%2Fshop/deployments", BLOCKED_QUERY),
        ("/api/v4/projects/acme%2Fshop/deployments", {**BLOCKED_QUERY, "page": ["2"]})]


def test_blocked_deployments_retries_and_then_names_its_call(gitlab_sandbox, gitlab_project):
    made = gitlab_sandbox.add_deployment(gitlab_project)
    gitlab_sandbox.fail_next(502)
    assert [d["id"] for d in client_for(gitlab_sandbox).blocked_deployments(7)] == [made.id]
    gitlab_sandbox.fail_next(404)

    with pytest.raises(GitLabError) as raised:
        client_for(gitlab_sandbox).blocked_deployments(7)

    assert (raised.value.status, raised.value.message) == (
        404, "GitLab answered 404 to the blocked deployments of project 7: 404 sandbox fault")
    assert [r.status for r in gitlab_sandbox.requests] == [502, 200, 404]
