import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import githubkit.webhooks
import jwt
import pydantic
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.github_server import (ANY_STATE, GitHubRejection, PullRequest, SandboxGitHub)

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
DECODE = "A JSON web token could not be decoded"
EXPIRED = ("'Expiration time' claim ('exp') must be a numeric value representing the future "
           "time at which the assertion expires")
TOO_LONG = "'Expiration time' claim ('exp') is too far in the future"
BAD_ISS = "'Issuer' claim ('iss') must be the App ID of this GitHub App"
BAD_IAT = ("'Issued at' claim ('iat') must be an Integer representing the time that the "
           "assertion was issued")
SHA = "3f1c2a9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"


def app_jwt(github, *, iss=None, iat=-60, exp=540, key=None, algorithm="RS256"):
    now = int(time.time())
    claims = {"iss": github.app_id if iss is None else iss, "iat": now + iat, "exp": now + exp}
    hmac_secret = "not-the-key-of-the-app-but-32-bytes-long"
    secret = hmac_secret if algorithm == "HS256" else (key or github.private_key_pem)
    # PyJWS, not jwt.encode: GitHub takes a numeric iss, which PyJWT refuses to encode.
    return jwt.api_jws.PyJWS().encode(json.dumps(claims).encode(), secret, algorithm=algorithm)


def mint(github, token, installation_id=None):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.post(f"{github.api_url}/app/installations/"
                         f"{installation_id or github.installation_id}/access_tokens",
                         headers=headers, timeout=5)


def token_of(github):
    return mint(github, app_jwt(github)).json()["token"]


def review(github, run, body, token, *, scheme="token", repo="acme/shop"):
    headers = {} if token is None else {"Authorization": f"{scheme} {token}"}
    data = body if isinstance(body, bytes) else json.dumps(body)
    return requests.post(f"{github.api_url}/repos/{repo}/actions/runs/{run.id}/"
                         "deployment_protection_rule", data=data, headers=headers, timeout=5)


@pytest.mark.parametrize(("claims", "status", "message"), [
    ({}, 201, None),
    ({"iss": 424242}, 201, None),
    ({"iat": 30, "exp": 600}, 201, None),  # the clock 30 s ahead of GitHub's: within the skew
    ({"key": OTHER_KEY}, 401, DECODE),
    ({"algorithm": "HS256"}, 401, DECODE),
    ({"iat": -1000, "exp": -200}, 401, EXPIRED),
    ({"iss": "777"}, 401, BAD_ISS),
    ({"iat": 0, "exp": 900}, 401, TOO_LONG),
    ({"iat": 300, "exp": 600}, 401, BAD_IAT),
], ids=["good", "numeric-iss", "clock-skew", "other-key", "hs256", "expired", "other-app",
        "lifetime-15-min", "issued-in-future"])
def test_app_jwt_is_checked_as_github_does(github, claims, status, message):
    response = mint(github, app_jwt(github, **claims))

    assert response.status_code == status
    if status == 201:
        answer = response.json()
        assert re.fullmatch(r"ghs_[A-Za-z0-9]{36}", answer["token"])
        expires = datetime.strptime(answer["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc)
        assert abs(expires - datetime.now(timezone.utc) - timedelta(hours=1)) < timedelta(
            seconds=5)
        assert (answer["permissions"], answer["repository_selection"]) == (
            {"actions": "read", "deployments": "write", "metadata": "read",
             "pull_requests": "read"}, "all")
        assert (github.tokens_minted, github.take_rejections()) == (1, [])
    else:
        assert response.json() == {"message": message,
                                   "documentation_url": "https://docs.github.com/rest"}
        assert github.tokens_minted == 0
        assert github.take_rejections() == [GitHubRejection(
            "POST", f"/app/installations/{github.installation_id}/access_tokens", 401, message)]


@pytest.mark.parametrize(("authorization", "status", "message"), [
    (None, 401, DECODE),
    ("token ghs_abc", 401, DECODE),
    ("Bearer not.a.jwt", 401, DECODE),
], ids=["none", "installation-token", "garbage"])
def test_minting_needs_an_app_jwt(github, authorization, status, message):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.post(f"{github.api_url}/app/installations/{github.installation_id}/"
                             "access_tokens", headers=headers, timeout=5)

    assert (response.status_code, response.json()["message"]) == (status, message)
    assert [r.status for r in github.take_rejections()] == [status]


def test_unknown_installation_is_404(github):
    response = mint(github, app_jwt(github), installation_id=99)

    assert (response.status_code, response.json()["message"]) == (404, "Not Found")
    assert [(r.path, r.status) for r in github.take_rejections()] == [
        ("/app/installations/99/access_tokens", 404)]


@pytest.mark.parametrize(("make_auth", "status", "message"), [
    (lambda g: (None, "token"), 401, "Bad credentials"),
    (lambda g: ("ghs_" + "x" * 36, "token"), 401, "Bad credentials"),
    (lambda g: (app_jwt(g), "Bearer"), 401, "Bad credentials"),
    (lambda g: (token_of(g), "Basic"), 401, "Bad credentials"),
], ids=["none", "unknown-token", "app-jwt", "basic-scheme"])
def test_the_callback_needs_an_installation_token(github, make_auth, status, message):
    run = github.add_run()
    token, scheme = make_auth(github)

    response = review(github, run, {"environment_name": "production", "state": "approved"},
                      token, scheme=scheme)

    assert (response.status_code, response.json()["message"]) == (status, message)
    assert github.reviews == []
    assert [r.status for r in github.take_rejections()] == [status]


@pytest.mark.parametrize("scheme", ["token", "Bearer"])
def test_an_installation_token_is_taken_with_either_scheme(github, scheme):
    run = github.add_run()

    response = review(github, run, {"environment_name": "production", "state": "approved"},
                      token_of(github), scheme=scheme)

    assert (response.status_code, response.content) == (204, b"")
    assert github.decision(run.id, "production") == "approved"


def test_an_expired_token_is_refused(github):
    run = github.add_run()
    token = token_of(github)
    github.expire_tokens()

    response = review(github, run, {"environment_name": "production", "comment": "hi"}, token)

    assert (response.status_code, response.json()["message"]) == (401, "Bad credentials")
    assert len(github.take_rejections()) == 1


def test_a_token_of_another_installation_does_not_reach_the_repo(github):
    github.add_installation("globex")
    github.add_repo("globex", "site")
    run = github.add_run()
    other = mint(github, app_jwt(github), installation_id=github.installation_id + 1).json()

    response = review(github, run, {"environment_name": "production", "comment": "hi"},
                      other["token"])

    assert (response.status_code, response.json()["message"]) == (404, "Not Found")
    assert len(github.take_rejections()) == 1


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"environment_name": "production", "state": "maybe"}, 422,
     "Invalid request.\n\nstate: Input should be 'approved' or 'rejected'"),
    ({"state": "approved"}, 422, "Invalid request.\n\nenvironment_name: Field required"),
    ({"environment_name": "production"}, 422, "Invalid request.\n\ncomment: Field required"),
    ({"environment_name": "production", "comment": 7}, 422,
     "Invalid request.\n\ncomment: Input should be a valid string"),
    ([], 422, "Invalid request.\n\nbody: Input should be a valid dictionary or instance of "
              "ReviewCustomGatesCommentRequired"),
    (b"{not json", 400, "Problems parsing JSON"),
    ({"environment_name": "production", "comment": "x" * 1025}, 422,
     "comment is too long (maximum is 1024 characters)"),
    ({"environment_name": "staging", "state": "approved"}, 422,
     "No pending deployment for environment 'staging' is waiting for this app's protection "
     "rule"),
], ids=["unknown-state", "no-environment", "report-without-comment", "comment-not-text",
        "array", "not-json", "report-1025-chars", "environment-not-pending"])
def test_callback_bodies_github_refuses(github, body, status, message):
    run = github.add_run()

    response = review(github, run, body, token_of(github))

    assert response.status_code == status
    assert response.json()["message"] == message
    assert (github.reviews, github.decision(run.id, "production")) == ([], None)
    assert github.take_rejections() == [GitHubRejection(
        "POST", f"/repos/acme/shop/actions/runs/{run.id}/deployment_protection_rule", status,
        message)]


def test_a_report_of_1024_chars_is_taken(github):
    run = github.add_run()

    response = review(github, run, {"environment_name": "production", "comment": "x" * 1024},
                      token_of(github))

    assert response.status_code == 204
    assert [(r.state, len(r.comment)) for r in github.reviews] == [(None, 1024)]


def test_ten_reports_then_the_eleventh_is_refused(github):
    run = github.add_run()
    token = token_of(github)

    statuses = [review(github, run, {"environment_name": "production", "comment": f"#{n}"},
                       token).status_code for n in range(1, 12)]

    assert statuses == [204] * 10 + [422]
    assert [r.message for r in github.take_rejections()] == [
        "At most 10 status reports can be posted for a deployment"]
    # A decision is still taken after the reports.
    assert review(github, run, {"environment_name": "production", "state": "approved"},
                  token).status_code == 204


@pytest.mark.parametrize("second", [
    {"environment_name": "production", "state": "rejected", "comment": "changed my mind"},
    {"environment_name": "production", "state": "approved"},
    {"environment_name": "production", "comment": "still waiting"},
], ids=["other-decision", "same-decision", "report"])
def test_an_environment_is_decided_once(github, second):
    run = github.add_run()
    token = token_of(github)

    first = review(github, run, {"environment_name": "production", "state": "approved",
                                 "comment": "CHG-1 approved"}, token)
    again = review(github, run, second, token)

    assert (first.status_code, again.status_code) == (204, 422)
    assert again.json()["message"] == (
        "The deployment protection rule for 'production' was already approved")
    assert [(r.state, r.comment) for r in github.reviews] == [("approved", "CHG-1 approved")]
    assert github.run(run.id).status == "in_progress"
    assert len(github.take_rejections()) == 1


def test_a_run_waits_until_every_environment_is_decided(github):
    run = github.add_run(environments=("production", "production-eu"))
    token = token_of(github)

    review(github, run, {"environment_name": "production", "state": "approved"}, token)
    waiting = github.run(run.id).status
    review(github, run, {"environment_name": "production-eu", "state": "rejected"}, token)

    assert (waiting, github.run(run.id).status, github.run(run.id).conclusion) == (
        "waiting", "completed", "failure")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/repos/acme/shop/actions/runs/1"),
    ("GET", "/repos/acme/other/actions/runs/{run}"),
    ("POST", "/repos/acme/shop/actions/runs/{run}"),
    ("GET", "/repos/acme/shop/actions/runs/{run}/deployment_protection_rule"),
    ("GET", "/no/such/route"),
    ("GET", "/repos/acme/nothing/commits/abc/pulls"),
], ids=["unknown-run", "run-of-another-repo", "wrong-method", "callback-by-get",
        "unknown-route", "unknown-repo"])
def test_what_github_does_not_have_is_404(github, method, path):
    run = github.add_run()
    github.add_repo("acme", "other")
    url = github.api_url + path.format(run=run.id)

    response = requests.request(method, url, headers={"Authorization": f"token {token_of(github)}"},
                                timeout=5)

    assert (response.status_code, response.json()) == (
        404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
    assert [(r.method, r.status) for r in github.take_rejections()] == [(method, 404)]


def test_an_unsupported_api_version_is_400(github):
    response = requests.get(f"{github.api_url}/repos/acme/shop/actions/runs/1",
                            headers={"X-GitHub-Api-Version": "2020-01-01"}, timeout=5)

    assert response.status_code == 400
    assert response.json()["message"] == ("Unsupported 'X-GitHub-Api-Version': '2020-01-01'; "
                                          "supported: 2022-11-28, 2026-03-10")
    assert len(github.take_rejections()) == 1


def test_a_run_and_the_pulls_of_its_commit_in_githubs_shape(github):
    github.add_pull_request(number=42, title="CHG-7 Rotate certificates",
                            head_ref="feature/CHG-7-certs", head_sha=SHA, body="Rotates them.")
    run = github.add_run(head_sha=SHA, head_branch="main", display_title="Merge pull request #42",
                         head_commit_message="Merge pull request #42 from acme/feature/CHG-7",
                         actor="alice", triggering_actor="bob")
    token = token_of(github)
    auth = {"Authorization": f"token {token}"}

    got = requests.get(f"{github.api_url}/repos/acme/shop/actions/runs/{run.id}", headers=auth,
                       timeout=5).json()
    pulls = requests.get(f"{github.api_url}/repos/acme/shop/commits/{SHA}/pulls", headers=auth,
                         timeout=5).json()

    assert {k: got[k] for k in ("id", "html_url", "head_branch", "head_sha", "display_title",
                                "status", "conclusion", "event")} == {
        "id": run.id, "html_url": f"https://github.com/acme/shop/actions/runs/{run.id}",
        "head_branch": "main", "head_sha": SHA, "display_title": "Merge pull request #42",
        "status": "waiting", "conclusion": None, "event": "push"}
    assert (got["head_commit"]["message"], got["head_commit"]["id"], got["actor"]["login"],
            got["triggering_actor"]["login"]) == (
        "Merge pull request #42 from acme/feature/CHG-7", SHA, "alice", "bob")
    assert [(p["number"], p["title"], p["head"]["ref"], p["body"]) for p in pulls] == [
        (42, "CHG-7 Rotate certificates", "feature/CHG-7-certs", "Rotates them.")]


@pytest.mark.parametrize(("status", "retry_after", "headers"), [
    (503, None, {}),
    (502, None, {}),
    (429, 7, {"Retry-After": "7"}),
], ids=["503", "502", "429"])
def test_faults_answer_the_next_calls_then_stop(github, status, retry_after, headers):
    github.fail_next(status, 2, retry_after=retry_after)

    answers = [mint(github, app_jwt(github)) for _ in range(3)]

    assert [a.status_code for a in answers] == [status, status, 201]
    assert answers[0].headers.get("Retry-After") == headers.get("Retry-After")
    assert github.take_rejections() == []  # a fault is the sandbox's doing, not the client's


def test_wait_for_review_returns_the_matching_call_with_its_arrival_time(github):
    run = github.add_run()
    token = token_of(github)
    before = time.monotonic()
    review(github, run, {"environment_name": "production", "comment": "waiting for CAB"}, token)
    review(github, run, {"environment_name": "production", "state": "approved"}, token)

    report = github.wait_for_review(run.id, state=None, timeout=1)
    decision = github.wait_for_review(run.id, state="approved", timeout=1)
    first = github.wait_for_review(run.id, state=ANY_STATE, environment="production", timeout=1)

    assert (report.comment, decision.state, decision.comment, first) == (
        "waiting for CAB", "approved", None, report)
    assert before <= report.received_monotonic <= decision.received_monotonic <= time.monotonic()
    assert abs(decision.received_at - datetime.now(timezone.utc)) < timedelta(seconds=5)
    assert decision.installation_id == github.installation_id
    with pytest.raises(AssertionError, match=f"no review of run {run.id} .*state rejected"):
        github.wait_for_review(run.id, state="rejected", timeout=0.05)


# Deliveries

def test_a_protection_rule_delivery_is_signed_and_complete(github, receiver):
    github.add_pull_request(number=42, title="CHG-7 Rotate certificates",
                            head_ref="feature/CHG-7-certs", head_sha=SHA)
    run = github.add_run(head_sha=SHA, actor="alice", triggering_actor="bob")

    response = github.deliver_protection_rule(receiver.url, run, "production")

    [received] = receiver.received
    payload = received.json
    assert response.status_code == 200
    assert received.headers["X-Hub-Signature-256"] == "sha256=" + hmac.new(
        github.webhook_secret.encode(), received.raw, hashlib.sha256).hexdigest()
    assert (received.headers["X-Github-Event"], received.headers["Content-Type"]) == (
        "deployment_protection_rule", "application/json")
    assert uuid.UUID(received.headers["X-Github-Delivery"])
    assert received.headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert {k: payload[k] for k in ("action", "environment", "event",
                                    "deployment_callback_url")} == {
        "action": "requested", "environment": "production", "event": "push",
        "deployment_callback_url": f"{github.api_url}/repos/acme/shop/actions/runs/{run.id}/"
                                   "deployment_protection_rule"}
    assert {k: payload["deployment"][k] for k in ("sha", "ref", "environment", "created_at")} == {
        "sha": SHA, "ref": "main", "environment": "production", "created_at": run.created_at}
    assert [(p["number"], p["title"], p["head"]["ref"]) for p in payload["pull_requests"]] == [
        (42, "CHG-7 Rotate certificates", "feature/CHG-7-certs")]
    assert (payload["installation"]["id"], payload["sender"]["login"],
            payload["repository"]["full_name"], payload["organization"]["login"]) == (
        github.installation_id, "bob", "acme/shop", "acme")
    model = githubkit.webhooks.parse_obj("deployment_protection_rule", payload)
    assert type(model).__name__ == "WebhookDeploymentProtectionRuleRequested"
    assert [(d.event, d.status) for d in github.deliveries] == [
        ("deployment_protection_rule", 200)]


@pytest.mark.parametrize("conclusion", ["success", "failure", "cancelled", "timed_out"])
def test_a_workflow_run_completed_delivery_is_githubs_model(github, receiver, conclusion):
    run = github.add_run()

    github.deliver_workflow_run_completed(receiver.url, run, conclusion)

    [received] = receiver.received
    model = githubkit.webhooks.parse_obj("workflow_run", received.json)
    assert (type(model).__name__, model.workflow_run.conclusion, model.workflow_run.id,
            model.workflow_run.html_url, received.headers["X-Github-Event"]) == (
        "WebhookWorkflowRunCompleted", conclusion, run.id,
        f"https://github.com/acme/shop/actions/runs/{run.id}", "workflow_run")
    assert (github.run(run.id).status, github.run(run.id).conclusion) == ("completed", conclusion)


STATES = ["queued", "in_progress", "success", "failure", "error", "inactive"]


@pytest.mark.parametrize("state", STATES)
def test_a_workflow_jobs_deployment_status_delivery_is_githubs_model(github, receiver, state):
    github.add_pull_request(number=42, title="CHG-7 Rotate certificates", head_ref="feature/x",
                            head_sha=SHA)
    run = github.add_run(head_sha=SHA, display_title="CHG-7 Rotate certificates",
                         triggering_actor="bob", environments=())

    response = github.deliver_deployment_status(receiver.url, run, "production", state)

    [received] = receiver.received
    model = githubkit.webhooks.parse_obj("deployment_status", received.json)
    status, deployment, flow = model.deployment_status, model.deployment, model.workflow_run
    job_log = received.json["deployment_status"]["log_url"]
    assert (response.status_code, received.headers["X-Github-Event"],
            type(model).__name__, model.action) == (
        200, "deployment_status", "WebhookDeploymentStatusCreated", "created")
    assert (status.state, status.environment, status.target_url, status.creator.login) == (
        state, "production", job_log, "github-actions[bot]")
    assert re.fullmatch(rf"https://github\.com/acme/shop/actions/runs/{run.id}/job/\d+", job_log)
    # The deployment the protection rule would have named, had the environment one.
    assert (deployment.id, deployment.sha, deployment.ref, deployment.environment,
            deployment.creator.login) == (
        github.protection_rule_payload(run, "production")["deployment"]["id"], SHA, "main",
        "production", "bob")
    assert (flow.id, flow.html_url, flow.display_title, flow.head_branch, flow.head_sha,
            flow.status, [p.number for p in flow.pull_requests]) == (
        run.id, run.html_url, "CHG-7 Rotate certificates", "main", SHA, "in_progress", [42])
    assert received.json["workflow_run"]["head_commit"] is None
    assert (model.workflow.id, model.installation.id, model.sender.login) == (
        received.json["workflow_run"]["workflow_id"], github.installation_id, "bob")
    assert github.run(run.id).status == "in_progress"


@pytest.mark.parametrize("state", STATES)
def test_a_deployment_status_made_through_the_api_has_no_run(github, receiver, state):
    run = github.add_run(environments=())

    github.deliver_deployment_status(receiver.url, run, "production", state, with_run=False,
                                     log_url="https://ci.example.com/job/deploy/9/")

    [received] = receiver.received
    model = githubkit.webhooks.parse_obj("deployment_status", received.json)
    assert ("workflow_run" in received.json, "workflow" in received.json) == (False, False)
    assert (model.deployment_status.state, model.deployment_status.log_url,
            model.deployment_status.target_url) == (
        state, "https://ci.example.com/job/deploy/9/", "https://ci.example.com/job/deploy/9/")
    assert github.run(run.id).status == "waiting"  # no workflow job of it deployed


def test_each_deployment_status_is_a_new_one_and_a_completed_run_stays_completed(github):
    run = github.add_run(environments=())
    github.workflow_run_payload(run, "success")

    first = github.deployment_status_payload(run, "production", "success")
    later = github.deployment_status_payload(run, "production", "inactive")

    assert later["deployment_status"]["id"] == first["deployment_status"]["id"] + 1
    assert later["deployment"]["id"] == first["deployment"]["id"]
    assert (later["workflow_run"]["status"], github.run(run.id).status) == (
        "completed", "completed")


@pytest.mark.parametrize(("options", "header"), [
    ({"signature": "sha256=" + "0" * 64}, "sha256=" + "0" * 64),
    ({"signature": ""}, None),
], ids=["forged", "unsigned"])
def test_a_delivery_can_be_forged_or_unsigned(github, receiver, options, header):
    github.deliver_protection_rule(receiver.url, github.add_run(), "production", **options)

    assert receiver.received[0].headers.get("X-Hub-Signature-256") == header


def test_a_delivery_signed_with_another_secret(github, receiver):
    github.deliver_protection_rule(receiver.url, github.add_run(), "production", secret="guess")

    [received] = receiver.received
    assert received.headers["X-Hub-Signature-256"] == githubkit.webhooks.sign(
        "guess", received.raw, "sha256")


def test_the_same_delivery_can_be_sent_again(github, receiver):
    run = github.add_run()

    github.deliver_protection_rule(receiver.url, run, "production", delivery_id="d-1")
    github.deliver_protection_rule(receiver.url, run, "production", delivery_id="d-1")

    first, again = receiver.received
    assert [r.headers["X-Github-Delivery"] for r in (first, again)] == ["d-1", "d-1"]
    assert first.raw == again.raw


def test_the_sandbox_refuses_to_send_a_payload_githubs_model_rejects(github, receiver):
    payload = github.protection_rule_payload(github.add_run(), "production")
    del payload["repository"]["full_name"]

    with pytest.raises(pydantic.ValidationError):
        github.deliver(receiver.url, "deployment_protection_rule", payload)

    assert receiver.received == []


def test_pull_requests_given_replace_those_of_the_commit(github):
    github.add_pull_request(number=1, title="stored", head_ref="a", head_sha=SHA)
    run = github.add_run(head_sha=SHA)

    payload = github.protection_rule_payload(
        run, "production", pull_requests=[PullRequest(2, "given", "b", SHA)])

    assert [p["title"] for p in payload["pull_requests"]] == ["given"]
