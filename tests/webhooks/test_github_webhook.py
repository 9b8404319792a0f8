import hashlib
import hmac
import io
import json
import logging
import re

import pytest
from githubkit.webhooks import sign
from rq import Queue
from rq.job import Job

from rules.job_names import JobName
from sandbox.serving import ServingThread
from tests.builders import make_settings, queued
from tests.github_fixtures import github_settings
from tests.redis_cut import RedisCut
from webhooks import enqueue
from webhooks.app import create_app

SHA = "3f1c2a9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
CREATED = "2026-12-01T10:05:00Z"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
PATH = "/webhooks/github"


def make_app(redis_url, namespace, github, redis_client=None, **overrides):
    settings = make_settings(redis_url, namespace, **{**github_settings(github), **overrides})
    return create_app(settings, redis_client=redis_client)


@pytest.fixture
def queue(conn, namespace):
    return Queue(namespace, connection=conn)


@pytest.fixture
def app(redis_url, namespace, github):
    return make_app(redis_url, namespace, github)


@pytest.fixture
def web(app):
    """The endpoint served over real HTTP; yields its /webhooks/github URL."""
    serving = ServingThread(app, name="changeguard-web")
    yield serving.url + PATH
    serving.stop()


@pytest.fixture
def run(github):
    github.add_pull_request(number=42, title="CHG-7 Rotate the edge certificates",
                            head_ref="feature/certs", head_sha=SHA)
    return github.add_run(head_sha=SHA, head_branch="main", actor="alice",
                          triggering_actor="bob", created_at=CREATED)


def request_json(github, run, environment="production", **changes):
    return {
        "vendor": "github",
        "deployment_id": f"github:acme/shop:run:{run.id}:{environment}",
        "run_id": f"github:acme/shop:run:{run.id}",
        "environment": environment,
        "explicit_key": None,
        "texts": ["CHG-7 Rotate the edge certificates", "main"],
        "sha": SHA,
        "ref": "main",
        "run_url": f"https://github.com/acme/shop/actions/runs/{run.id}",
        "triggered_by": "bob",
        "triggered_by_email": None,
        "reply": {"installation_id": str(github.installation_id), "owner": "acme",
                  "repo": "shop", "run_id": str(run.id)},
        "template": None,
        "requested_at": CREATED,
        **changes,
    }


def gate_id(namespace, run, delivery=DELIVERY, environment="production"):
    return (f"{namespace}-gate-github_acme_shop_run_{run.id}_{environment.replace('-', '_')}_"
            + _digest(f"github:acme/shop:run:{run.id}:{environment}")
            + "-" + _safe(f"github-{delivery}"))


def _safe(part):
    """A part of a job id as rules/job_names.py makes it (hyphens are only separators)."""
    return part.replace("-", "_") + "_" + _digest(part)


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def post(client, body, *, event="deployment_protection_rule",
         secret="sandbox-github-webhook-secret", signature=None, delivery=DELIVERY):
    """POST ``body`` as GitHub would, through the Flask test client (for the refusals)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event}
    if delivery:
        headers["X-GitHub-Delivery"] = delivery
    headers["X-Hub-Signature-256"] = signature if signature is not None else sign(
        secret, data, "sha256")
    return client.post(PATH, data=data, headers=headers)


def test_a_protection_rule_delivery_enqueues_one_judgement(github, web, run, queue, namespace):
    response = github.deliver_protection_rule(web, run, "production", delivery_id=DELIVERY)

    job_id = gate_id(namespace, run)
    assert (response.status_code, response.json()) == (
        202, {"status": "enqueued", "job_ids": [job_id]})
    assert queue.job_ids == [job_id]
    job = Job.fetch(job_id, connection=queue.connection)
    assert (job.func_name, job.args, job.kwargs) == (
        JobName.JUDGE_DEPLOYMENT.value, (), {"request": request_json(github, run)})
    assert (job.retries_left, job.retry_intervals) == (3, [5, 30, 120])


def test_the_same_delivery_twice_is_one_job(github, web, run, queue, conn, namespace):
    first = github.deliver_protection_rule(web, run, "production", delivery_id=DELIVERY)
    again = github.deliver_protection_rule(web, run, "production", delivery_id=DELIVERY)

    assert (first.status_code, again.status_code, again.json()) == (
        202, 200, {"status": "duplicate"})
    assert queue.job_ids == [gate_id(namespace, run)]
    assert conn.ttl(f"{namespace}:delivery:github-{DELIVERY}") > 47 * 3600


def test_another_environment_of_the_run_is_another_judgement(github, web, queue, namespace):
    run = github.add_run(environments=("production", "production-eu"), head_sha=SHA,
                         created_at=CREATED)

    github.deliver_protection_rule(web, run, "production", delivery_id="d-1")
    github.deliver_protection_rule(web, run, "production-eu", delivery_id="d-2")

    assert queue.job_ids == [gate_id(namespace, run, "d-1"),
                             gate_id(namespace, run, "d-2", "production-eu")]


def test_without_a_delivery_id_the_body_digest_dedupes(github, app, run, queue):
    payload = github.protection_rule_payload(run, "production")
    client = app.test_client()

    first = post(client, payload, delivery=None)
    again = post(client, payload, delivery=None)

    assert (first.status_code, again.status_code, again.json) == (
        202, 200, {"status": "duplicate"})
    [job_id] = queue.job_ids
    assert "-sha256_" in job_id


def test_a_deployment_null_takes_sha_and_ref_from_the_event(github, app, run, queue):
    payload = {**github.protection_rule_payload(run, "production"), "deployment": None,
               "pull_requests": "not a list"}

    response = post(app.test_client(), payload)

    assert response.status_code == 202
    assert queued(queue) == [(JobName.JUDGE_DEPLOYMENT.value, {"request": request_json(
        github, run, texts=["main"], ref="refs/heads/main", requested_at="")})]


@pytest.mark.parametrize("options", [
    {"signature": "sha256=" + "0" * 64}, {"secret": "a guess"}, {"signature": ""},
], ids=["forged", "other-secret", "missing"])
def test_a_delivery_not_signed_with_the_secret_is_401(github, web, run, queue, options):
    response = github.deliver_protection_rule(web, run, "production", **options)

    assert (response.status_code, response.json()) == (
        401, {"error": "missing or invalid X-Hub-Signature-256"})
    assert queue.job_ids == []


@pytest.mark.parametrize("signature", [
    "sha1={sha1}", "sha256=\u00ff" + "0" * 63, "SHA256={sha256}", " sha256={sha256}"],
    ids=["sha1-of-the-secret", "not-ascii", "upper-case", "leading-space"])
def test_only_an_exact_sha256_signature_passes(github, app, run, queue, signature):
    payload = json.dumps(github.protection_rule_payload(run, "production")).encode()
    secret = github.webhook_secret.encode()
    header = signature.format(sha1=hmac.new(secret, payload, hashlib.sha1).hexdigest(),
                              sha256=hmac.new(secret, payload, hashlib.sha256).hexdigest())

    response = post(app.test_client(), payload, signature=header)

    assert response.status_code == 401
    assert queue.job_ids == []


@pytest.mark.parametrize(("body", "error"), [
    (b'{"action": ', "body is not JSON: Expecting value: line 1 column 12 (char 11)"),
    (b"\xff", "body is not JSON: 'utf-8' codec can't decode byte 0xff in position 0: "
              "invalid start byte"),
    (b"[]", "body must be a JSON object, got list"),
    (b'{"action": "requested"}', "deployment_protection_rule event lacks environment, "
     "deployment_callback_url, repository.html_url, installation.id"),
], ids=["not-json", "not-utf8", "array", "empty-event"])
def test_a_malformed_body_is_400(app, queue, body, error):
    response = post(app.test_client(), body)

    assert (response.status_code, response.json) == (400, {"error": error})
    assert queue.job_ids == []


@pytest.mark.parametrize(("changes", "error"), [
    ({"deployment_callback_url": "https://api.github.com/repos/acme/shop/deployments/1"},
     "deployment_callback_url 'https://api.github.com/repos/acme/shop/deployments/1' is not a "
     "workflow run's /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule URL"),
    ({"installation": {"id": True, "node_id": "x"}},
     "deployment_protection_rule event lacks installation.id"),
    ({"environment": ""}, "deployment_protection_rule event lacks environment"),
], ids=["callback-not-a-run", "installation-id-not-a-number", "environment-empty"])
def test_a_protection_rule_without_what_the_gate_needs_is_400(github, app, run, queue,
                                                             changes, error):
    payload = {**github.protection_rule_payload(run, "production"), **changes}

    response = post(app.test_client(), payload)

    assert (response.status_code, response.json) == (400, {"error": error})
    assert queue.job_ids == []


def test_a_ghes_callback_url_names_the_run_too(github, app, run, queue):
    payload = {**github.protection_rule_payload(run, "production"), "deployment_callback_url":
               f"https://ghe.example.com/api/v3/repos/acme/shop/actions/runs/{run.id}/"
               "deployment_protection_rule"}

    assert post(app.test_client(), payload).status_code == 202
    assert queued(queue) == [(JobName.JUDGE_DEPLOYMENT.value,
                              {"request": request_json(github, run)})]


@pytest.mark.parametrize(("conclusion", "result"), [
    ("success", "success"), ("failure", "failure"), ("cancelled", "failure"),
    ("timed_out", "failure")])
def test_a_completed_run_enqueues_its_finish(github, web, run, queue, namespace,
                                             conclusion, result):
    response = github.deliver_workflow_run_completed(web, run, conclusion, delivery_id=DELIVERY)

    job_id = (f"{namespace}-finish-github_acme_shop_run_{run.id}_"
              f"{_digest(f'github:acme/shop:run:{run.id}')}-" + _safe(f"github-{DELIVERY}"))
    assert (response.status_code, response.json()) == (
        202, {"status": "enqueued", "job_ids": [job_id]})
    [delivered] = github.deliveries
    job = Job.fetch(job_id, connection=queue.connection)
    assert (job.func_name, job.kwargs) == (JobName.FINISH_DEPLOYMENT.value, {"finish": {
        "vendor": "github", "run_id": f"github:acme/shop:run:{run.id}", "result": result,
        "is_last": True, "run_url": f"https://github.com/acme/shop/actions/runs/{run.id}",
        "explicit_key": None,
        "finished_at": delivered.payload["workflow_run"]["updated_at"], "environment": ""}})


def test_a_completed_run_without_its_id_is_400(github, app, run, queue):
    payload = github.workflow_run_payload(run, "success")
    payload["workflow_run"] = {**payload["workflow_run"], "id": "7"}
    payload["repository"] = {**payload["repository"], "full_name": "shop"}

    response = post(app.test_client(), payload, event="workflow_run")

    assert (response.status_code, response.json) == (
        400, {"error": "workflow_run event lacks workflow_run.id, repository.full_name"})
    assert queue.job_ids == []


@pytest.mark.parametrize(("event", "action", "reason"), [
    ("push", None, "event 'push' action None"),
    ("workflow_run", "requested", "event 'workflow_run' action 'requested'"),
    ("deployment_protection_rule", "completed",
     "event 'deployment_protection_rule' action 'completed'"),
    ("", "requested", "event '' action 'requested'"),
    ("deployment_status", "updated", "event 'deployment_status' action 'updated'"),
], ids=["push", "run-requested", "other-action", "no-event-header", "status-not-created"])
def test_other_events_are_ignored(github, app, run, queue, event, action, reason):
    payload = {"action": action} if action else {"ref": "refs/heads/main"}

    response = post(app.test_client(), payload, event=event)

    assert (response.status_code, response.json) == (200, {
        "status": "ignored", "reason": reason + ": the gate acts only on "
        "deployment_protection_rule requested, workflow_run completed and "
        "deployment_status created"})
    assert queue.job_ids == []


# A deployment GitHub reports started: the gate checks that it let it through.

TITLE = "CHG-7 Rotate the edge certificates (#42)"
API_DEPLOY = "https://ci.example.com/job/deploy/9/"


@pytest.fixture
def titled_run(github):
    """A run whose title names the change, deploying to an environment with no rule."""
    return github.add_run(head_sha=SHA, head_branch="main", display_title=TITLE, actor="alice",
                          triggering_actor="bob", environments=(), created_at=CREATED)


def ungated_id(namespace, deployment_id, delivery=DELIVERY):
    """The id of the FLAG_UNGATED job of one deployment's status delivery."""
    part = f"ungated:{deployment_id}"
    return (f"{namespace}-gate-{re.sub(r'[^A-Za-z0-9]', '_', part)}_{_digest(part)}-"
            + _safe(f"github-{delivery}"))


@pytest.mark.parametrize("state", ["in_progress", "success"])
def test_a_deployment_reported_started_is_checked_against_the_gate(
        github, web, titled_run, queue, namespace, state):
    response = github.deliver_deployment_status(web, titled_run, "production", state,
                                                delivery_id=DELIVERY)

    # Named as the protection rule names it: the run the gate allowed is recognised.
    job_id = ungated_id(namespace, f"github:acme/shop:run:{titled_run.id}:production")
    assert (response.status_code, response.json()) == (
        202, {"status": "enqueued", "job_ids": [job_id]})
    assert queue.job_ids == [job_id]
    [delivered] = github.deliveries
    job = Job.fetch(job_id, connection=queue.connection)
    assert (job.func_name, job.args, job.kwargs) == (
        JobName.FLAG_UNGATED.value, (), {"request": request_json(
            github, titled_run, texts=[TITLE, "main"],
            requested_at=delivered.payload["deployment_status"]["created_at"])})


@pytest.mark.parametrize("state", ["queued", "pending", "waiting", "failure", "error",
                                   "inactive"])
def test_a_deployment_status_other_than_started_is_ignored(github, web, titled_run, queue,
                                                           state):
    response = github.deliver_deployment_status(web, titled_run, "production", state)

    assert (response.status_code, response.json()) == (200, {
        "status": "ignored", "reason": f"deployment status {state!r}: the gate checks only a "
        "deployment that started (in_progress or success) against what it allowed"})
    assert queue.job_ids == []


@pytest.mark.parametrize(("log_url", "drop", "run_url", "triggered_by"), [
    (API_DEPLOY, None, API_DEPLOY, "bob"),
    (API_DEPLOY, ("deployment_status", "log_url"), API_DEPLOY, "bob"),
    ("", ("deployment", "creator"), "", "carol"),
], ids=["log-url", "target-url-only", "no-link-no-creator"])
def test_a_deployment_made_through_the_api_is_named_by_its_own_id(
        github, app, titled_run, queue, namespace, log_url, drop, run_url, triggered_by):
    payload = github.deployment_status_payload(titled_run, "production", "in_progress",
                                               with_run=False, log_url=log_url)
    payload["sender"] = {**payload["sender"], "login": "carol"}
    if drop is not None:
        del payload[drop[0]][drop[1]]
    number = payload["deployment"]["id"]
    deployment_id = f"github:acme/shop:deployment:{number}"

    response = post(app.test_client(), payload, event="deployment_status")

    assert (response.status_code, queue.job_ids) == (202, [ungated_id(namespace, deployment_id)])
    assert queued(queue) == [(JobName.FLAG_UNGATED.value, {"request": request_json(
        github, titled_run, deployment_id=deployment_id, run_id=deployment_id, texts=["main"],
        run_url=run_url, triggered_by=triggered_by,
        reply={"installation_id": str(github.installation_id), "owner": "acme", "repo": "shop",
               "deployment_id": str(number)},
        requested_at=payload["deployment_status"]["created_at"])})]


def test_the_deployments_environment_description_and_ref_stand_in(github, app, titled_run,
                                                                   queue):
    payload = github.deployment_status_payload(titled_run, "production", "success")
    payload["deployment_status"]["environment"] = ""
    payload["deployment"] = {**payload["deployment"], "description": "Deploy CHG-8 too",
                             "ref": "refs/heads/release"}
    payload["workflow_run"] = {**payload["workflow_run"], "head_branch": None,
                               "triggering_actor": None}
    payload["sender"] = {**payload["sender"], "login": "carol"}

    response = post(app.test_client(), payload, event="deployment_status")

    assert response.status_code == 202
    assert queued(queue) == [(JobName.FLAG_UNGATED.value, {"request": request_json(
        github, titled_run, texts=[TITLE, "Deploy CHG-8 too", "release"],
        ref="refs/heads/release", requested_at=payload["deployment_status"]["created_at"])})]


def test_the_same_deployment_status_delivery_twice_is_one_job(github, web, titled_run, queue,
                                                              namespace):
    first = github.deliver_deployment_status(web, titled_run, "production", "in_progress",
                                             delivery_id=DELIVERY)
    again = github.deliver_deployment_status(web, titled_run, "production", "in_progress",
                                             delivery_id=DELIVERY)
    success = github.deliver_deployment_status(web, titled_run, "production", "success",
                                               delivery_id="d-2")

    deployment_id = f"github:acme/shop:run:{titled_run.id}:production"
    assert (first.status_code, again.status_code, again.json(), success.status_code) == (
        202, 200, {"status": "duplicate"}, 202)
    # Each status is its own job; the job flags a deployment once, however many arrive.
    assert queue.job_ids == [ungated_id(namespace, deployment_id),
                             ungated_id(namespace, deployment_id, "d-2")]


@pytest.mark.parametrize(("payload", "error"), [
    ({"action": "created"}, "deployment_status event lacks deployment_status.state"),
    ({"action": "created", "deployment_status": {"state": ""}},
     "deployment_status event lacks deployment_status.state"),
    ({"action": "created", "deployment_status": {"state": "in_progress"}},
     "deployment_status event lacks deployment.id, deployment_status.environment, "
     "repository.full_name, installation.id"),
    ({"action": "created", "deployment_status": {"state": "success"},
      "deployment": {"id": 9, "environment": "production"},
      "repository": {"full_name": "acme/shop"}, "installation": {"id": 1},
      "workflow_run": {"id": "30000001"}},
     "deployment_status event lacks workflow_run.id"),
], ids=["no-status", "empty-state", "started-but-empty", "run-id-not-a-number"])
def test_a_malformed_deployment_status_is_400(app, queue, payload, error):
    response = post(app.test_client(), payload, event="deployment_status")

    assert (response.status_code, response.json) == (400, {"error": error})
    assert queue.job_ids == []


def test_ping_is_answered_pong(app, queue):
    response = post(app.test_client(), {"zen": "Design for failure.", "hook_id": 1}, event="ping")

    assert (response.status_code, response.json) == (200, {"status": "pong"})
    assert queue.job_ids == []


def test_without_a_secret_the_gate_is_not_configured(redis_url, namespace, github, run, queue):
    app = make_app(redis_url, namespace, github, github_webhook_secret=None)

    response = post(app.test_client(), github.protection_rule_payload(run, "production"))

    assert (response.status_code, response.json) == (404, {"error": "GitHub gate not configured"})
    assert queue.job_ids == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_413(redis_url, namespace, github, queue, chunked):
    app = make_app(redis_url, namespace, github, max_webhook_bytes=100)
    body = b'{"action": "requested", "padding": "' + b"x" * 200 + b'"}'
    headers = {"X-GitHub-Event": "deployment_protection_rule",
               "X-Hub-Signature-256": "sha256=" + "0" * 64}
    extra = ({"input_stream": io.BytesIO(body),
              # What gunicorn and other servers that de-chunk request bodies set.
              "environ_overrides": {"wsgi.input_terminated": True},
              "headers": {**headers, "Transfer-Encoding": "chunked"}}
             if chunked else {"data": body, "headers": headers})

    response = app.test_client().post(PATH, **extra)

    assert (response.status_code, response.json) == (413, {"error": "body exceeds 100 bytes"})
    assert queue.job_ids == []


def test_redis_down_while_enqueueing_is_503_and_the_redelivery_is_enqueued(
        redis_url, namespace, github, run, queue, conn, caplog):
    with RedisCut(redis_url, b"rq:job:", then_down=True) as cut:
        dying = make_app(redis_url, namespace, github, redis_client=enqueue.connect(cut.url))
        with caplog.at_level(logging.ERROR, logger="webhooks.github"):
            refused = post(dying.test_client(), github.protection_rule_payload(run, "production"))
    remembered = conn.exists(f"{namespace}:delivery:github-{DELIVERY}")
    redelivered = post(make_app(redis_url, namespace, github).test_client(),
                       github.protection_rule_payload(run, "production"))

    assert (refused.status_code, refused.headers["Retry-After"], refused.json) == (
        503, "30", {"error": "queue unavailable, retry"})
    assert [r.getMessage() for r in caplog.records] == ["webhook queue unavailable"]
    assert remembered == 0  # nothing noted the delivery as done: the redelivery is enqueued
    assert (redelivered.status_code, queue.job_ids) == (202, [gate_id(namespace, run)])


def test_redis_dying_after_the_enqueue_is_202_and_a_redelivery_adds_no_job(
        redis_url, namespace, github, run, queue, caplog):
    key = f"{namespace}:delivery:github-{DELIVERY}"
    noting = f"SET\r\n${len(key)}\r\n{key}".encode()
    with RedisCut(redis_url, noting, then_down=True) as cut:
        dying = make_app(redis_url, namespace, github, redis_client=enqueue.connect(cut.url))
        with caplog.at_level(logging.WARNING, logger="webhooks.github"):
            accepted = post(dying.test_client(), github.protection_rule_payload(run, "production"))
    redelivered = post(make_app(redis_url, namespace, github).test_client(),
                       github.protection_rule_payload(run, "production"))

    assert (accepted.status_code, accepted.json) == (
        202, {"status": "enqueued", "job_ids": [gate_id(namespace, run)]})
    assert (cut.cuts, [r.getMessage() for r in caplog.records]) == (
        1, ["webhook delivery not remembered"])
    assert (redelivered.status_code, queue.job_ids) == (202, [gate_id(namespace, run)])


def test_deliveries_are_counted(github, app, run, conn, namespace):
    client = app.test_client()
    post(client, github.protection_rule_payload(run, "production"))
    post(client, github.protection_rule_payload(run, "production"))
    post(client, {"action": "created"}, event="push", delivery="d-2")
    post(client, b"[]", delivery="d-3")
    post(client, b"{}", signature="sha256=0", delivery="d-4")

    def counter(family):
        return {k.decode(): int(v) for k, v in conn.hgetall(
            f"{namespace}:metrics:{family}").items()}

    assert [counter(f) for f in ("webhooks_received", "webhooks_enqueued", "webhooks_deduped",
                                 "webhooks_ignored", "webhooks_refused")] == [
        {"": 5}, {"": 1}, {"": 1}, {"": 1}, {'{reason="malformed"}': 1,
                                             '{reason="signature"}': 1}]
