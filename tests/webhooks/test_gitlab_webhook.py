"""POST /webhooks/gitlab over real Redis: token, parse, route, dedupe, enqueue, and refusals."""
# Pipeline Hooks (a pipeline waiting as manual: its deploy jobs wait for approval) at the end.

from __future__ import annotations

import dataclasses
import io
import json
import logging

import pytest
from rq import Queue
from rq.job import Job

from rules.deployment import DeployFinish, DeployRequest, DeployResult, Vendor
from rules.job_names import JobName, finish_job_id, gate_job_id
from sandbox.gitlab_server import SandboxGitLab
from sandbox.serving import ServingThread
from tests.builders import free_port, make_settings
from tests.redis_cut import RedisCut
from webhooks import enqueue
from webhooks.app import create_app
from worker.gitlab_client import GitLabClient

SECRET = "gitlab-hook-secret-4321"
URL = "/webhooks/gitlab"
KEY = "908a6d9e-45fd-46c8-97e6-c4f350f219dd"
RUN = "gitlab:7:job:5001"  # the job of DEPLOYMENT: Job and Deployment Hooks share its ids

SITE = SandboxGitLab()  # not served: it only builds hook bodies in GitLab's documented shape
PROJECT = SITE.add_project("acme/shop", project_id=7)
DEPLOYMENT = SITE.add_deployment(PROJECT, ref="release/1.2", commit_title="CHG-7 rotate certs")
# One pipeline deploying to two environments: both jobs wait for approval.
REGIONS = SITE.add_pipeline(PROJECT, ["production-eu", "production-us"], ref="release/1.2",
                            commit_title="CHG-7 rotate certs")


def hook(status="blocked", **changes):
    """Return a Deployment Hook body for DEPLOYMENT in ``status``, with top-level changes."""
    body = {**SITE.hook_body(DEPLOYMENT.id, status), **changes}
    body["status_changed_at"] = changes.get("status_changed_at", "2026-12-01 10:05:00 +0100")
    return body


def job_hook(status="manual", **changes):
    """Return a Job Hook body for DEPLOYMENT's job in ``status``, with top-level changes."""
    return {**SITE.job_hook_body(DEPLOYMENT.id, status),
            "build_created_at": "2026-12-01 09:05:00 UTC",
            "build_created_at_iso": "2026-12-01T09:05:00Z", **changes}


def pipeline_hook(status="manual", **changes):
    """Return a Pipeline Hook body for DEPLOYMENT's pipeline in ``status``, with changes."""
    body = SITE.pipeline_hook_body(DEPLOYMENT.pipeline_id, status)
    for build in body["builds"]:
        build["created_at"] = "2026-12-01 09:05:00 UTC"
    return {**body, **changes}


def post(client, body, *, token=SECRET, event="Deployment Hook", key=KEY, raw=None):
    headers = {"Content-Type": "application/json"}
    for name, value in (("X-Gitlab-Token", token), ("X-Gitlab-Event", event),
                        ("Idempotency-Key", key)):
        if value is not None:
            headers[name] = value
    return client.post(URL, data=raw if raw is not None else json.dumps(body), headers=headers)


def app_for(redis_url, namespace, redis_client=None, **overrides):
    return create_app(make_settings(redis_url, namespace,
                                    **{"gitlab_webhook_secret": SECRET, **overrides}),
                      redis_client=redis_client)


@pytest.fixture
def client(redis_url, namespace):
    return app_for(redis_url, namespace).test_client()


@pytest.fixture
def queue(conn, namespace):
    return Queue(namespace, connection=conn)


def jobs(queue):
    return [(job.id, job.func_name, job.kwargs) for job in queue.get_jobs()]


REQUEST = DeployRequest(
    vendor=Vendor.GITLAB, deployment_id=RUN, run_id=RUN, environment="production",
    texts=("CHG-7 rotate certs",), sha=DEPLOYMENT.sha, ref="",
    run_url=f"{SITE.url}/acme/shop/-/jobs/{DEPLOYMENT.job_id}", triggered_by="dana",
    triggered_by_email="dana@example.com",
    reply=(("deployment_id", "1001"), ("job_id", "5001"), ("project_id", "7")),
    requested_at="2026-12-01T10:05:00+01:00")
# What a manual job's Job Hook asks: the same ids; the job looks its blocked deployment up.
JOB_REQUEST = DeployRequest(
    vendor=Vendor.GITLAB, deployment_id=RUN, run_id=RUN, environment="production",
    texts=("CHG-7 rotate certs", "release/1.2"), sha=DEPLOYMENT.sha, ref="release/1.2",
    run_url=f"{SITE.url}/acme/shop/-/jobs/{DEPLOYMENT.job_id}", triggered_by="dana",
    triggered_by_email="dana@example.com", reply=(("job_id", "5001"), ("project_id", "7")),
    requested_at="2026-12-01T09:05:00Z")


def test_a_blocked_deployment_enqueues_its_judgement(client, queue, namespace):
    response = post(client, hook())

    job_id = gate_job_id(namespace, RUN, f"gitlab-{KEY}")
    assert (response.status_code, response.json) == (
        202, {"status": "enqueued", "job_ids": [job_id]})
    assert job_id.startswith(f"{namespace}-gate-gitlab_7_job_5001_")
    job = Job.fetch(job_id, connection=queue.connection)
    assert (job.retries_left, job.retry_intervals) == (3, [5, 30, 120])
    assert jobs(queue) == [(job_id, JobName.JUDGE_DEPLOYMENT.value,
                            {"request": REQUEST.to_json()})]
    assert DeployRequest.from_json(jobs(queue)[0][2]["request"]) == REQUEST


REQUEST_FIELDS = [
    ("a sha field wins when commit_url has none",
     dict(commit_url="http://x/-/commit/abc", sha="f" * 40), {"sha": "f" * 40}),
    ("short sha when nothing better",
     dict(commit_url="http://x/-/commit/abc"), {"sha": DEPLOYMENT.sha[:8]}),
    ("a ref when the payload has one", dict(ref="release/1.2"),
     {"ref": "release/1.2", "texts": ("CHG-7 rotate certs", "release/1.2")}),
    ("redacted email", dict(user={"id": 2, "name": "Dana", "username": "dana",
                                  "email": "[REDACTED]"}), {"triggered_by_email": None}),
    ("name when no username", dict(user={"id": 2, "name": "Dana D"}),
     {"triggered_by": "Dana D", "triggered_by_email": None}),
    ("no user, no job URL", dict(user=None, deployable_url=None),
     {"triggered_by": "", "triggered_by_email": None, "run_url": ""}),
    ("no job (made through the API)", dict(deployable_id=None),
     {"deployment_id": "gitlab:7:deployment:1001", "run_id": "gitlab:7:deployment:1001",
      "reply": (("deployment_id", "1001"), ("project_id", "7"))}),
    ("a time GitLab did not format kept as is", dict(status_changed_at="soon"),
     {"requested_at": "soon"}),
]


@pytest.mark.parametrize("changes, expected", [r[1:] for r in REQUEST_FIELDS],
                         ids=[r[0] for r in REQUEST_FIELDS])
def test_request_fields_from_what_the_hook_holds(client, queue, changes, expected):
    assert post(client, hook(**changes)).status_code == 202

    [(_, _, kwargs)] = jobs(queue)
    assert DeployRequest.from_json(kwargs["request"]) == DeployRequest(
        **{**REQUEST.__dict__, **expected})


FINISHES = [("success", DeployResult.SUCCESS), ("failed", DeployResult.FAILURE),
            ("canceled", DeployResult.FAILURE)]


@pytest.mark.parametrize("status, result", FINISHES, ids=[f[0] for f in FINISHES])
def test_an_ended_deployment_enqueues_its_finish(client, queue, namespace, status, result):
    response = post(client, hook(status))

    job_id = finish_job_id(namespace, RUN, f"gitlab-{KEY}")
    assert (response.status_code, response.json["job_ids"]) == (202, [job_id])
    [(queued_id, func, kwargs)] = jobs(queue)
    finish = DeployFinish(vendor=Vendor.GITLAB, run_id=RUN, result=result,
                          run_url=REQUEST.run_url, finished_at="2026-12-01T10:05:00+01:00")
    assert (queued_id, func, kwargs) == (job_id, JobName.FINISH_DEPLOYMENT.value,
                                         {"finish": finish.to_json()})


IGNORED = [
    ("created", hook("created"), "Deployment Hook",
     "deployment status 'created' is not one the gate acts on"),
    ("skipped", hook("skipped"), "Deployment Hook",
     "deployment status 'skipped' is not one the gate acts on"),
    ("a push hook", {"object_kind": "push"}, "Push Hook",
     "Push Hook event: only Pipeline Hooks, Deployment Hooks and Job Hooks concern the gate"),
    ("no event header", hook(), None,
     "no event: only Pipeline Hooks, Deployment Hooks and Job Hooks concern the gate"),
]


@pytest.mark.parametrize("body, event, reason", [i[1:] for i in IGNORED],
                         ids=[i[0] for i in IGNORED])
def test_what_the_gate_does_not_act_on_is_ignored(client, queue, body, event, reason):
    response = post(client, body, event=event)

    assert (response.status_code, response.json) == (200, {"status": "ignored",
                                                           "reason": reason})
    assert jobs(queue) == []


UNGATED = [
    ("a job's deployment", {}, RUN,
     (("deployment_id", "1001"), ("job_id", "5001"), ("project_id", "7"))),
    ("a deployment made through the API", {"deployable_id": None, "deployable_url": None},
     "gitlab:7:deployment:1001", (("deployment_id", "1001"), ("project_id", "7"))),
]


@pytest.mark.parametrize("changes, run, reply", [u[1:] for u in UNGATED],
                         ids=[u[0] for u in UNGATED])
def test_a_started_deployment_is_checked_for_the_gates_leave(client, queue, namespace, changes,
                                                             run, reply):
    response = post(client, hook("running", **changes))

    job_id = gate_job_id(namespace, f"ungated:{run}", f"gitlab-{KEY}")
    assert (response.status_code, response.json) == (
        202, {"status": "enqueued", "job_ids": [job_id]})
    assert job_id != gate_job_id(namespace, run, f"gitlab-{KEY}")  # not its judgement's id
    started = DeployRequest(**{**REQUEST.__dict__, "deployment_id": run, "run_id": run,
                               "reply": reply,
                               "run_url": REQUEST.run_url if not changes else ""})
    assert jobs(queue) == [(job_id, JobName.FLAG_UNGATED.value,
                            {"request": started.to_json()})]


def test_without_a_secret_the_endpoint_is_not_there(redis_url, namespace, queue):
    client = app_for(redis_url, namespace, gitlab_webhook_secret=None).test_client()

    response = post(client, hook())

    assert (response.status_code, response.json) == (404, {"error": "GitLab gate not configured"})
    assert jobs(queue) == []


@pytest.mark.parametrize("token", [None, "", "gitlab-hook-secret-432", SECRET + "1", "é"],
                         ids=["missing", "empty", "prefix", "longer", "not ascii"])
def test_a_wrong_token_is_401(client, queue, token):
    response = post(client, hook(), token=token)

    assert (response.status_code, response.json) == (
        401, {"error": "missing or invalid X-Gitlab-Token"})
    assert jobs(queue) == []


MALFORMED = [
    ("not JSON", b"{", "body is not JSON"),
    ("not UTF-8", b"\xff", "body is not JSON"),
    ("a list", b"[]", "not a deployment event: object_kind is not 'deployment'"),
    ("another kind", json.dumps({"object_kind": "build"}).encode(),
     "not a deployment event: object_kind is not 'deployment'"),
    ("a project that is not an object", json.dumps(hook(project=7)).encode(),
     "deployment event lacks project.id"),
    ("nothing of a deployment", json.dumps({"object_kind": "deployment"}).encode(),
     "deployment event lacks status, environment, deployment_id, project.id"),
    ("ids as text", json.dumps(hook(deployment_id="1001", project={"id": "7"})).encode(),
     "deployment event lacks deployment_id, project.id"),
    ("a boolean id and an empty status",
     json.dumps({**hook(), "deployment_id": True, "status": ""}).encode(),
     "deployment event lacks status, deployment_id"),
]


@pytest.mark.parametrize("raw, error", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_a_malformed_hook_is_400_naming_what_is_wrong(client, queue, raw, error):
    response = post(client, None, raw=raw)

    assert (response.status_code, response.json) == (400, {"error": error})
    assert jobs(queue) == []


@pytest.mark.parametrize("key", [KEY, None], ids=["idempotency key", "body digest"])
def test_a_redelivery_is_a_duplicate(client, queue, conn, namespace, key):
    first = post(client, hook(), key=key)
    again = post(client, hook(), key=key)

    assert (first.status_code, again.status_code, again.json) == (202, 200,
                                                                   {"status": "duplicate"})
    assert len(jobs(queue)) == 1
    noted = f"{namespace}:delivery:gitlab-{KEY}" if key else None
    if noted:
        assert conn.ttl(noted) > 47 * 3600


def test_another_event_for_the_same_deployment_is_another_job(client, queue):
    assert post(client, hook(), key=KEY).status_code == 202
    assert post(client, hook(), key="another-key").status_code == 202

    assert len(jobs(queue)) == 2


OVERSIZE = [("content-length one over", False, 1), ("content-length past werkzeug's cap", False, 2),
            ("chunked", True, 1)]


@pytest.mark.parametrize("chunked, over", [o[1:] for o in OVERSIZE], ids=[o[0] for o in OVERSIZE])
def test_an_oversize_body_is_413(redis_url, namespace, queue, chunked, over):
    body = json.dumps(hook()).encode()
    app = app_for(redis_url, namespace, max_webhook_bytes=len(body) - over)
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Deployment Hook"}
    extra = ({"headers": {**headers, "Transfer-Encoding": "chunked"},
              "input_stream": io.BytesIO(body),
              "environ_overrides": {"wsgi.input_terminated": True}}
             if chunked else {"data": body, "headers": headers})

    response = app.test_client().post(URL, **extra)

    assert (response.status_code, response.json) == (
        413, {"error": f"body exceeds {len(body) - over} bytes"})
    assert jobs(queue) == []


def test_redis_down_is_503_and_the_redelivery_is_enqueued(redis_url, namespace, queue):
    down = app_for(f"redis://127.0.0.1:{free_port()}/0", namespace).test_client()
    up = app_for(redis_url, namespace).test_client()

    refused = post(down, hook())
    redelivered = post(up, hook())

    assert (refused.status_code, refused.headers["Retry-After"], refused.json) == (
        503, "30", {"error": "queue unavailable, retry"})
    assert (redelivered.status_code, len(jobs(queue))) == (202, 1)


def test_a_delivery_not_remembered_still_answers_enqueued(redis_url, namespace, queue, caplog):
    key = f"{namespace}:delivery:gitlab-{KEY}"
    noting = f"SET\r\n${len(key)}\r\n{key}".encode()  # the command that notes the delivery
    with RedisCut(redis_url, noting, then_down=True) as cut:
        app = app_for(redis_url, namespace, redis_client=enqueue.connect(cut.url))
        with caplog.at_level(logging.WARNING, logger="webhooks"):
            accepted = post(app.test_client(), hook())

    assert (accepted.status_code, cut.cuts, len(jobs(queue))) == (202, 1, 1)
    assert [r.message for r in caplog.records if r.name == "webhooks.delivery"] == [
        "webhook delivery not remembered"]


def test_deliveries_are_counted(client, conn, namespace):
    post(client, hook())
    post(client, hook(), token="wrong")

    assert {k.decode(): int(v) for k, v in conn.hgetall(
        f"{namespace}:metrics:webhooks_refused").items()} == {'{reason="signature"}': 1}
    assert conn.hgetall(f"{namespace}:metrics:webhooks_enqueued") == {b"": b"1"}


def test_a_sandbox_delivery_over_http_is_accepted(gitlab_sandbox, gitlab_project, redis_url,
                                                   namespace, queue):
    # The sandbox's real HTTP delivery, headers and all, through a served app.
    serving = ServingThread(app_for(redis_url, namespace), name="changeguard-web")
    try:
        made = gitlab_sandbox.add_deployment(gitlab_project, status="success")
        delivery = gitlab_sandbox.deliver_deployment(f"{serving.url}{URL}", made.id,
                                                     token=SECRET)
        again = gitlab_sandbox.redeliver(delivery)
        forged = gitlab_sandbox.redeliver(delivery, token="guess")
    finally:
        serving.stop()

    assert (delivery.status_code, again.status_code, again.response, forged.status_code) == (
        202, 200, {"status": "duplicate"}, 401)
    [(_, func, kwargs)] = jobs(queue)
    assert (func, kwargs["finish"]["run_id"], kwargs["finish"]["result"]) == (
        JobName.FINISH_DEPLOYMENT.value, f"gitlab:7:job:{made.job_id}", "success")


# Job Hooks: a job waiting as manual to deploy (GitLab itself sends none: see the contract)

def test_a_manual_deploy_job_enqueues_its_judgement(client, queue, namespace):
    response = post(client, job_hook(), event="Job Hook")

    job_id = gate_job_id(namespace, RUN, f"gitlab-{KEY}")
    assert (response.status_code, response.json) == (
        202, {"status": "enqueued", "job_ids": [job_id]})
    assert jobs(queue) == [(job_id, JobName.JUDGE_DEPLOYMENT.value,
                            {"request": JOB_REQUEST.to_json()})]


JOB_FIELDS = [
    ("started: its start is when it asked",
     dict(build_started_at="2026-12-01 09:06:00 UTC",
          build_started_at_iso="2026-12-01T09:06:00Z"),
     {"requested_at": "2026-12-01T09:06:00Z"}),
    ("only GitLab's older created_at",
     dict(build_created_at_iso=None, build_created_at="2026-12-01 09:05:00 UTC"),
     {"requested_at": "2026-12-01T09:05:00+00:00"}),
    ("no time at all", dict(build_created_at_iso=None, build_created_at=None),
     {"requested_at": ""}),
    ("action absent counts as start",
     dict(environment={"name": "production", "deployment_tier": "production"}), {}),
    ("redacted email, name only", dict(user={"id": 2, "name": "Dana D", "email": "[REDACTED]"}),
     {"triggered_by": "Dana D", "triggered_by_email": None}),
    ("no commit message: its title; no sha: the commit's; no project URL",
     dict(commit={"title": "CHG-7 title", "sha": "e" * 40}, sha=None, project=None),
     {"texts": ("CHG-7 title", "release/1.2"), "sha": "e" * 40, "run_url": ""}),
    ("no commit, no user, no ref", dict(commit=None, user=None, ref=None),
     {"texts": (), "sha": DEPLOYMENT.sha, "ref": "", "triggered_by": "",
      "triggered_by_email": None}),
]


@pytest.mark.parametrize("changes, expected", [r[1:] for r in JOB_FIELDS],
                         ids=[r[0] for r in JOB_FIELDS])
def test_job_request_fields_from_what_the_hook_holds(client, queue, changes, expected):
    assert post(client, job_hook(**changes), event="Job Hook").status_code == 202

    [(_, _, kwargs)] = jobs(queue)
    assert DeployRequest.from_json(kwargs["request"]) == DeployRequest(
        **{**JOB_REQUEST.__dict__, **expected})


JOBS_IGNORED = [
    ("created", job_hook("created"), "'created'"),
    ("running", job_hook("running"), "'running'"),
    ("success", job_hook("success"), "'success'"),
    ("manual, no environment", job_hook(environment=None), "'manual'"),
    ("manual, environment without a name",
     job_hook(environment={"name": "", "action": "start"}), "'manual'"),
    ("manual, stopping an environment",
     job_hook(environment={"name": "production", "action": "stop"}), "'manual'"),
    ("manual, preparing an environment",
     job_hook(environment={"name": "production", "action": "prepare"}), "'manual'"),
]


@pytest.mark.parametrize("body, status", [j[1:] for j in JOBS_IGNORED],
                         ids=[j[0] for j in JOBS_IGNORED])
def test_a_job_that_waits_for_no_deployment_is_ignored(client, queue, body, status):
    response = post(client, body, event="Job Hook")

    assert (response.status_code, response.json) == (200, {
        "status": "ignored", "reason": f"job status {status}: only a manual job deploying to "
                                       "an environment may wait for approval"})
    assert jobs(queue) == []


JOBS_MALFORMED = [
    ("a deployment body", json.dumps(hook()).encode(),
     "not a job event: object_kind is not 'build'"),
    ("nothing of a job", json.dumps({"object_kind": "build"}).encode(),
     "job event lacks build_status, build_id, project_id"),
    ("ids as text", json.dumps(job_hook(build_id="5001", project_id=True)).encode(),
     "job event lacks build_id, project_id"),
]


@pytest.mark.parametrize("raw, error", [m[1:] for m in JOBS_MALFORMED],
                         ids=[m[0] for m in JOBS_MALFORMED])
def test_a_malformed_job_hook_is_400(client, queue, raw, error):
    response = post(client, None, raw=raw, event="Job Hook")

    assert (response.status_code, response.json) == (400, {"error": error})
    assert jobs(queue) == []


def test_a_job_hook_redelivery_is_a_duplicate(client, queue):
    first = post(client, job_hook(), event="Job Hook")
    again = post(client, job_hook(), event="Job Hook")

    assert (first.status_code, again.status_code, again.json) == (
        202, 200, {"status": "duplicate"})
    assert len(jobs(queue)) == 1


def test_a_sandbox_job_hook_over_http_then_its_deployment_ends(gitlab_sandbox, gitlab_project,
                                                               redis_url, namespace, queue):
    # The forged Job Hook of a job waiting for approval, and the Deployment Hook GitLab sends
    # when it ends: both name the same run.
    serving = ServingThread(app_for(redis_url, namespace), name="changeguard-web")
    try:
        made = gitlab_sandbox.add_deployment(gitlab_project)
        asked = gitlab_sandbox.deliver_job(f"{serving.url}{URL}", made.id, token=SECRET,
                                           forge=True)
        ended = gitlab_sandbox.deliver_deployment(f"{serving.url}{URL}", made.id, "success",
                                                  token=SECRET)
    finally:
        serving.stop()

    assert (asked.status_code, ended.status_code) == (202, 202)
    by_func = {func: kwargs for _, func, kwargs in jobs(queue)}
    run = f"gitlab:7:job:{made.job_id}"
    assert (by_func[JobName.JUDGE_DEPLOYMENT.value]["request"]["run_id"],
            by_func[JobName.JUDGE_DEPLOYMENT.value]["request"]["reply"],
            by_func[JobName.FINISH_DEPLOYMENT.value]["finish"]["run_id"]) == (
        run, {"job_id": str(made.job_id), "project_id": "7"}, run)


# Pipeline Hooks: GitLab's only hook when a deploy job waits for approval (its pipeline turns
# manual once nothing else in it runs; see sandbox/gitlab_contract.py)

PIPELINE_REQUEST = dataclasses.replace(JOB_REQUEST, requested_at="2026-12-01T09:05:00+00:00")


def deploy_job(body=None, **changes):
    """Return a Pipeline Hook body whose deploy job (DEPLOYMENT's) has ``changes``."""
    body = body or pipeline_hook()
    body["builds"][1] = {**body["builds"][1], **changes}
    return body


def attributes(**changes):
    """Return a manual Pipeline Hook body with object_attributes changed."""
    body = pipeline_hook()
    body["object_attributes"] = {**body["object_attributes"], **changes}
    return body


def test_a_pipeline_waiting_as_manual_enqueues_its_deploy_jobs_judgement(client, queue,
                                                                        namespace):
    response = post(client, pipeline_hook(), event="Pipeline Hook")

    # The same question, under the same id, as a Job Hook of that job would ask.
    job_id = gate_job_id(namespace, JOB_REQUEST.deployment_id, f"gitlab-{KEY}")
    assert (response.status_code, response.json) == (
        202, {"status": "enqueued", "job_ids": [job_id]})
    assert jobs(queue) == [(job_id, JobName.JUDGE_DEPLOYMENT.value,
                            {"request": PIPELINE_REQUEST.to_json()})]


def test_a_pipeline_deploying_to_several_environments_asks_once_for_each(client, queue,
                                                                         namespace):
    body = SITE.pipeline_hook_body(REGIONS[0].pipeline_id)

    response = post(client, body, event="Pipeline Hook")

    asked = [(f"gitlab:7:job:{d.job_id}", d.environment) for d in REGIONS]
    job_ids = [gate_job_id(namespace, run, f"gitlab-{KEY}") for run, _ in asked]
    assert (response.status_code, response.json) == (
        202, {"status": "enqueued", "job_ids": job_ids})
    queued = {job_id: DeployRequest.from_json(kwargs["request"])
              for job_id, _, kwargs in jobs(queue)}
    assert [(queued[j].deployment_id, queued[j].environment, queued[j].reply_value("job_id"))
            for j in job_ids] == [(run, env, run.rsplit(":", 1)[1]) for run, env in asked]


PIPELINE_FIELDS = [
    ("a merge request's title comes first",
     pipeline_hook(merge_request={"id": 1, "iid": 4, "title": "CHG-8 renew certs"}),
     {"texts": ("CHG-8 renew certs", "CHG-7 rotate certs", "release/1.2")}),
    ("no commit message: its title",
     pipeline_hook(commit={"title": "CHG-7 title", "id": DEPLOYMENT.sha}),
     {"texts": ("CHG-7 title", "release/1.2")}),
    ("no sha in the pipeline: the commit's",
     attributes(sha=None) | {"commit": {"id": "e" * 40, "message": "CHG-7 rotate certs\n"}},
     {"sha": "e" * 40}),
    ("no commit, no ref", attributes(ref=None) | {"commit": None},
     {"texts": (), "ref": ""}),
    ("the job's user missing: the pipeline's",
     deploy_job(pipeline_hook(user={"id": 9, "name": "Sam", "username": "sam",
                                    "email": "sam@example.com"}), user=None),
     {"triggered_by": "sam", "triggered_by_email": "sam@example.com"}),
    ("redacted email, name only", deploy_job(user={"id": 2, "name": "Dana D",
                                                   "email": "[REDACTED]"}),
     {"triggered_by": "Dana D", "triggered_by_email": None}),
    ("no project URL", pipeline_hook(project={"id": 7}), {"run_url": ""}),
    ("started: its start is when it asked",
     deploy_job(started_at="2026-12-01 09:06:00 UTC"),
     {"requested_at": "2026-12-01T09:06:00+00:00"}),
    ("no time at all", deploy_job(created_at=None), {"requested_at": ""}),
    ("action absent counts as start",
     deploy_job(environment={"name": "production", "deployment_tier": "production"}), {}),
]


@pytest.mark.parametrize("body, expected", [r[1:] for r in PIPELINE_FIELDS],
                         ids=[r[0] for r in PIPELINE_FIELDS])
def test_pipeline_request_fields_from_what_the_hook_holds(client, queue, body, expected):
    assert post(client, body, event="Pipeline Hook").status_code == 202

    [(_, _, kwargs)] = jobs(queue)
    assert DeployRequest.from_json(kwargs["request"]) == dataclasses.replace(
        PIPELINE_REQUEST, **expected)


NOT_WAITING = "pipeline waits as manual, but none of its manual jobs deploys to an environment"
PIPELINES_IGNORED = [
    *[(status, pipeline_hook(status),
       f"pipeline status {status!r}: only a pipeline waiting as manual may hold a deployment "
       "waiting for approval") for status in ("running", "success", "failed", "canceled")],
    ("manual, its job has no environment", deploy_job(environment=None), NOT_WAITING),
    ("manual, an environment without a name",
     deploy_job(environment={"name": "", "action": "start"}), NOT_WAITING),
    ("manual, stopping an environment",
     deploy_job(environment={"name": "production", "action": "stop"}), NOT_WAITING),
    ("manual, preparing an environment",
     deploy_job(environment={"name": "production", "action": "prepare"}), NOT_WAITING),
    ("manual, the deploy job already ran", deploy_job(status="success"), NOT_WAITING),
    ("manual, a job id as text", deploy_job(id="5001"), NOT_WAITING),
    ("manual, a job that is no object", pipeline_hook(builds=["deploy"]), NOT_WAITING),
    ("manual, no jobs", pipeline_hook(builds=None), NOT_WAITING),
]


@pytest.mark.parametrize("body, reason", [i[1:] for i in PIPELINES_IGNORED],
                         ids=[i[0] for i in PIPELINES_IGNORED])
def test_a_pipeline_not_waiting_to_deploy_is_ignored(client, queue, body, reason):
    response = post(client, body, event="Pipeline Hook")

    assert (response.status_code, response.json) == (200, {"status": "ignored",
                                                           "reason": reason})
    assert jobs(queue) == []


PIPELINES_MALFORMED = [
    ("a deployment body", json.dumps(hook()).encode(),
     "not a pipeline event: object_kind is not 'pipeline'"),
    ("nothing of a pipeline", json.dumps({"object_kind": "pipeline"}).encode(),
     "pipeline event lacks object_attributes.status, object_attributes.id, project.id"),
    ("ids as text", json.dumps(attributes(id="4001") | {"project": {"id": "7"}}).encode(),
     "pipeline event lacks object_attributes.id, project.id"),
]


@pytest.mark.parametrize("raw, error", [m[1:] for m in PIPELINES_MALFORMED],
                         ids=[m[0] for m in PIPELINES_MALFORMED])
def test_a_malformed_pipeline_hook_is_400(client, queue, raw, error):
    response = post(client, None, raw=raw, event="Pipeline Hook")

    assert (response.status_code, response.json) == (400, {"error": error})
    assert jobs(queue) == []


def test_gitlabs_own_hooks_over_http_judge_flag_and_finish_one_run(gitlab_sandbox,
                                                                   gitlab_project, redis_url,
                                                                   namespace, queue):
    # No forged hook: what the sandbox GitLab sends by itself, as GitLab does, when a deploy
    # job waits for approval, is approved (by the gate's account) and ends.
    serving = ServingThread(app_for(redis_url, namespace), name="changeguard-web")
    try:
        gitlab_sandbox.add_hook(f"{serving.url}{URL}", SECRET)
        made = gitlab_sandbox.add_deployment(gitlab_project, commit_title="CHG-7 rotate")
        gitlab_sandbox.wait_for_deliveries(1)
        GitLabClient(gitlab_sandbox.url, gitlab_sandbox.bot.token).decide_deployment(
            7, made.id, "approved", "CHG-7 is approved")
        gitlab_sandbox.wait_for_deliveries(3)
        gitlab_sandbox.move_deployment(made.id, "success")
        sent = gitlab_sandbox.wait_for_deliveries(5)
    finally:
        serving.stop()

    def answered(delivery):
        body = delivery.json
        status = body.get("status") or body["object_attributes"]["status"]
        return delivery.headers["X-Gitlab-Event"], status, delivery.status_code

    assert sorted(answered(d) for d in sent) == [
        ("Deployment Hook", "running", 202), ("Deployment Hook", "success", 202),
        ("Pipeline Hook", "manual", 202), ("Pipeline Hook", "running", 200),
        ("Pipeline Hook", "success", 200)]
    run = f"gitlab:7:job:{made.job_id}"
    queued = sorted((func, (kwargs.get("request") or kwargs.get("finish"))["run_id"])
                    for _, func, kwargs in jobs(queue))
    assert queued == sorted([(JobName.JUDGE_DEPLOYMENT.value, run),
                             (JobName.FLAG_UNGATED.value, run),
                             (JobName.FINISH_DEPLOYMENT.value, run)])


# The projects heard from: the reconciliation sweep lists their held deployments

REMEMBERED = [
    ("a pipeline waiting as manual", pipeline_hook(), "Pipeline Hook", 202),
    ("a pipeline running (ignored)", pipeline_hook("running"), "Pipeline Hook", 200),
    ("a deployment started", hook("running"), "Deployment Hook", 202),
    ("a deployment created (ignored)", hook("created"), "Deployment Hook", 200),
    ("a job waiting as manual", job_hook(), "Job Hook", 202),
    ("a job running (ignored)", job_hook("running"), "Job Hook", 200),
]


@pytest.mark.parametrize("body, event, status", [r[1:] for r in REMEMBERED],
                         ids=[r[0] for r in REMEMBERED])
def test_every_verified_hook_remembers_its_project(client, conn, namespace, body, event, status):
    assert post(client, body, event=event).status_code == status
    assert post(client, body, event=event).status_code == 200  # a redelivery: still one

    assert conn.smembers(f"{namespace}:gitlab-projects") == {b"7"}


NOT_REMEMBERED = [
    ("a wrong token", dict(body=hook(), token="guess"), 401),
    ("a malformed hook", dict(body=None, raw=json.dumps(hook(project=7)).encode()), 400),
    ("another event", dict(body={"object_kind": "push", "project": {"id": 7}},
                           event="Push Hook"), 200),
]


@pytest.mark.parametrize("delivery, status", [n[1:] for n in NOT_REMEMBERED],
                         ids=[n[0] for n in NOT_REMEMBERED])
def test_a_refused_or_foreign_hook_remembers_no_project(client, conn, namespace, delivery,
                                                        status):
    assert post(client, **delivery).status_code == status

    assert conn.exists(f"{namespace}:gitlab-projects") == 0


def test_a_project_not_remembered_still_enqueues(redis_url, namespace, queue, conn, caplog):
    key = f"{namespace}:gitlab-projects"
    remembering = f"SADD\r\n${len(key)}\r\n{key}".encode()
    with RedisCut(redis_url, remembering) as cut:
        app = app_for(redis_url, namespace, redis_client=enqueue.connect(cut.url))
        with caplog.at_level(logging.WARNING, logger="webhooks"):
            accepted = post(app.test_client(), hook())

    assert (accepted.status_code, len(jobs(queue)), conn.exists(key)) == (202, 1, 0)
    assert cut.cuts == 2  # the client's one retry, cut too
    assert [r.message for r in caplog.records if r.name == "webhooks.gitlab"] == [
        "gitlab project not remembered"]
