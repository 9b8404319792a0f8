"""The generic gate's endpoints: who may ask, what they must send, what is enqueued and answered."""

import json
import re
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq import Queue
from rq.job import Job

from rules.job_names import JobName, finish_job_id, gate_job_id
from tests.redis_cut import RedisCut
from webhooks import enqueue
from webhooks.gate_api import (BAD_TOKEN, GATE_ANSWER_SECONDS, NO_IDENTITY, NOT_CONFIGURED,
                               QUEUE_UNAVAILABLE, no_answer_message)

from .gate_player import OTHER_TOKEN, TOKEN, PlayWorker, answer, gate_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}
FULL_BODY = {
    "environment": "production",
    "change": "CHG-123",
    "sha": "4f2a9c1e",
    "ref": "main",
    "run_url": "https://ci.example.com/job/shop/42/",
    "deployment_id": "42",
    "texts": ["CHG-123: bump the TLS library", "release/chg-123"],
    "triggered_by": "alice",
    "triggered_by_email": "alice@example.com",
    "template": "Dependency patch bump",
    "unknown": "ignored, for clients newer than the server",
}
# What FULL_BODY becomes, but for the values only the endpoint knows (answer_key, requested_at).
FULL_REQUEST = {
    "vendor": "generic",
    "deployment_id": "generic:jenkins:42:production",
    "environment": "production",
    "run_id": "generic:jenkins:42",
    "explicit_key": "CHG-123",
    "texts": ["CHG-123: bump the TLS library", "release/chg-123"],
    "sha": "4f2a9c1e",
    "ref": "main",
    "run_url": "https://ci.example.com/job/shop/42/",
    "triggered_by": "alice",
    "triggered_by_email": "alice@example.com",
    "template": "Dependency patch bump",
}
MINIMAL_REQUEST = {
    "vendor": "generic", "environment": "production", "explicit_key": None, "texts": [],
    "sha": "", "ref": "", "run_url": "", "triggered_by": "", "triggered_by_email": None,
    "template": None,
}


@pytest.fixture
def app(redis_url, namespace):
    return gate_app(redis_url, namespace)


@pytest.fixture
def queue(conn, namespace):
    return Queue(namespace, connection=conn)


def ask(app, body, headers=AUTH, path="/api/gate"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return app.test_client().post(path, data=data,
                                  headers={"Content-Type": "application/json", **headers})


def split_request(job):
    """Return the job's request JSON without answer_key and requested_at, and those two."""
    request = dict(job.kwargs["request"])
    reply, requested_at = request.pop("reply"), request.pop("requested_at")
    return request, reply, requested_at


def assert_recent(stamp, before):
    moment = datetime.fromisoformat(stamp)
    assert before.replace(microsecond=0) <= moment <= datetime.now(timezone.utc)


@pytest.mark.parametrize(("pushed", "retry_after_header"), [
    (answer("allow", "CHG-123 is Approved and inside its window (10:00–11:00 UTC)."), None),
    (answer("wait", "CHG-123 waits for CAB approval; next CAB Tue 15:00 Europe/London.",
            retry_after=60), "60"),
    (answer("deny", "CHG-123 is Draft: submit it for approval first."), None),
    (answer("deny", "No change request named: add --change CHG-… or a key to the PR title.",
            change=None), None),
], ids=["allow", "wait", "deny", "deny-no-change"])
def test_the_workers_decision_is_the_answer(app, redis_url, namespace, queue, pushed,
                                            retry_after_header):
    before = datetime.now(timezone.utc)
    with PlayWorker(redis_url, namespace, [pushed]) as worker:
        response = ask(app, FULL_BODY)

    [job] = worker.jobs
    request, reply, requested_at = split_request(job)
    assert (response.status_code, response.json) == (200, pushed)
    assert response.headers.get("Retry-After") == retry_after_header
    assert request == FULL_REQUEST
    assert re.fullmatch(r"[0-9a-f]{32}", reply["answer_key"]), reply
    assert_recent(requested_at, before)
    assert (job.id, job.func_name, job.args) == (
        gate_job_id(namespace, "generic:jenkins:42:production", reply["answer_key"]),
        JobName.JUDGE_DEPLOYMENT, ())
    assert queue.job_ids == [job.id]


@pytest.mark.parametrize(("headers", "body", "run_id", "deployment_id", "request_fields"), [
    (AUTH, {"environment": "production", "sha": "4f2a9c1e"},
     "generic:jenkins:4f2a9c1e:production", "generic:jenkins:4f2a9c1e:production",
     {"sha": "4f2a9c1e"}),
    (AUTH, {"environment": " staging ", "run_url": "https://ci.example.com/7", "sha": "4f2a"},
     "generic:jenkins:https://ci.example.com/7", "generic:jenkins:https://ci.example.com/7:staging",
     {"environment": "staging", "run_url": "https://ci.example.com/7", "sha": "4f2a"}),
    ({"Authorization": f"bearer  {OTHER_TOKEN} "}, {"environment": "production", "sha": "4f2a"},
     "generic:deploy-bot:4f2a:production", "generic:deploy-bot:4f2a:production",
     {"sha": "4f2a"}),
    (AUTH, {"environment": "production", "deployment_id": "d-1", "change": "", "texts": [],
            "template": None, "triggered_by_email": None, "sha": None},
     "generic:jenkins:d-1", "generic:jenkins:d-1:production", {}),
], ids=["sha-and-environment", "run-url-before-sha", "other-pipeline-lowercase-scheme",
        "empty-and-null-fields"])
def test_the_deployment_is_named_by_pipeline_and_identity(app, redis_url, namespace, headers,
                                                         body, run_id, deployment_id,
                                                         request_fields):
    with PlayWorker(redis_url, namespace, [answer("allow", "Allowed.")]) as worker:
        response = ask(app, body, headers)

    [job] = worker.jobs
    request, _, _ = split_request(job)
    assert response.status_code == 200
    assert request == {**MINIMAL_REQUEST, "deployment_id": deployment_id,
                       "run_id": run_id, **request_fields}


def test_the_same_deployment_asked_twice_is_two_judgements_of_one_deployment(
        app, redis_url, namespace, queue):
    with PlayWorker(redis_url, namespace, [answer("wait", "Waiting.", retry_after=5),
                                           answer("allow", "Allowed.")]) as worker:
        first = ask(app, FULL_BODY)
        second = ask(app, FULL_BODY)

    requests = [split_request(job) for job in worker.jobs]
    keys = [reply["answer_key"] for _, reply, _ in requests]
    assert (first.json["decision"], second.json["decision"]) == ("wait", "allow")
    assert [request for request, _, _ in requests] == [FULL_REQUEST, FULL_REQUEST]
    assert keys[0] != keys[1]
    assert queue.job_ids == [gate_job_id(namespace, "generic:jenkins:42:production", key)
                              for key in keys]


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": "Bearer not-a-pipeline-token"},
    {"Authorization": "Bearer "},
    {"Authorization": TOKEN},
], ids=["no-header", "basic-scheme", "unknown-token", "empty-token", "token-without-scheme"])
@pytest.mark.parametrize("path", ["/api/gate", "/api/gate/finished"])
def test_a_wrong_token_is_401(app, queue, headers, path):
    response = ask(app, FULL_BODY, headers, path)

    assert (response.status_code, response.json) == (401, {"error": BAD_TOKEN})
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="changeguard"'
    assert queue.job_ids == []


@pytest.mark.parametrize("path", ["/api/gate", "/api/gate/finished"])
def test_without_gate_tokens_the_gate_is_404(redis_url, namespace, queue, path):
    app = gate_app(redis_url, namespace, gate_tokens=())

    response = ask(app, FULL_BODY, AUTH, path)

    assert (response.status_code, response.json) == (404, {"error": NOT_CONFIGURED})
    assert NOT_CONFIGURED == ("the generic deployment gate is not configured: set "
                              "CHANGEGUARD_GATE_TOKENS")
    assert queue.job_ids == []


NOT_JSON = ('the body is not JSON: send a JSON object such as {"environment": "production", '
            '"change": "CHG-123", "sha": "…"}')
ENVIRONMENT = ('environment: required, a non-empty string naming the environment deployed to, '
               'e.g. "production"')
TEXTS = ("texts: expected an array of strings (pull request titles, the branch name, the commit "
         "message: where a change key may stand)")
OUTCOME = "outcome: required, one of success, failure, rolled_back"


GATE, FINISHED = "/api/gate", "/api/gate/finished"
SHA = {"environment": "production", "sha": "4f2a"}


@pytest.mark.parametrize(("path", "body", "error"), [
    pytest.param(GATE, b"environment=production", NOT_JSON, id="form-body"),
    pytest.param(GATE, b"\xff\xfe", NOT_JSON, id="not-utf8"),
    pytest.param(GATE, b"[" * 5000 + b"]" * 5000, NOT_JSON, id="nested-too-deep"),
    pytest.param(GATE, b'["production"]', "the body is an array: send a JSON object", id="array"),
    pytest.param(GATE, b'"production"', "the body is a string: send a JSON object", id="string"),
    pytest.param(GATE, {"sha": "4f2a"}, ENVIRONMENT, id="no-environment"),
    pytest.param(GATE, {**SHA, "environment": " "}, ENVIRONMENT, id="blank-environment"),
    pytest.param(GATE, {**SHA, "environment": ["production"]}, ENVIRONMENT,
                 id="environment-array"),
    pytest.param(GATE, {**SHA, "change": 123}, "change: expected a string, got a number",
                 id="change-number"),
    pytest.param(GATE, {**SHA, "sha": True}, "sha: expected a string, got a boolean",
                 id="sha-boolean"),
    pytest.param(GATE, {**SHA, "template": {"name": "x"}},
                 "template: expected a string, got an object", id="template-object"),
    pytest.param(GATE, {**SHA, "texts": "CHG-1"}, TEXTS, id="texts-string"),
    pytest.param(GATE, {**SHA, "texts": ["CHG-1", 2]}, TEXTS, id="texts-with-number"),
    pytest.param(GATE, {"environment": "production"}, NO_IDENTITY, id="no-identity"),
    pytest.param(GATE, {**SHA, "sha": "", "run_url": " "}, NO_IDENTITY, id="blank-identity"),
    pytest.param(FINISHED, b"{", NOT_JSON, id="finished-truncated"),
    pytest.param(FINISHED, b"null", "the body is null: send a JSON object", id="finished-null"),
    pytest.param(FINISHED, {"deployment_id": "42"}, OUTCOME, id="finished-no-outcome"),
    pytest.param(FINISHED, {"deployment_id": "42", "outcome": "ok"}, OUTCOME,
                 id="finished-unknown-outcome"),
    pytest.param(FINISHED, {"deployment_id": "42", "outcome": ["success"]}, OUTCOME,
                 id="finished-outcome-array"),
    pytest.param(FINISHED, {"deployment_id": "42", "outcome": "success", "last": "yes"},
                 "last: expected true (the change's last deployment: it is then Implemented) "
                 "or false, got a string", id="finished-last-string"),
    pytest.param(FINISHED, {"deployment_id": 42, "outcome": "success"},
                 "deployment_id: expected a string, got a number", id="finished-id-number"),
    pytest.param(FINISHED, {"sha": "4f2a", "outcome": "success"}, NO_IDENTITY,
                 id="finished-sha-without-environment"),
    pytest.param(FINISHED, {"environment": "production", "outcome": "success"}, NO_IDENTITY,
                 id="finished-no-identity"),
])
def test_a_body_the_gate_cannot_act_on_is_400_naming_the_field(app, queue, path, body, error):
    response = ask(app, body, AUTH, path)

    assert (response.status_code, response.json) == (400, {"error": error})
    assert queue.job_ids == []


@pytest.mark.parametrize("path", ["/api/gate", "/api/gate/finished"])
@pytest.mark.parametrize("size", [301, 5000], ids=["one-byte-over", "refused-by-length"])
def test_a_body_over_the_limit_is_413(redis_url, namespace, queue, path, size):
    app = gate_app(redis_url, namespace, max_webhook_bytes=300)
    body = json.dumps({"environment": "production", "sha": "4f2a"}).encode()
    body += b" " * (size - len(body))  # JSON allows the trailing blanks

    response = ask(app, body, AUTH, path)

    assert (response.status_code, response.json) == (413, {"error": "the body exceeds 300 bytes"})
    assert queue.job_ids == []


def test_a_body_at_the_limit_is_accepted(redis_url, namespace):
    app = gate_app(redis_url, namespace, max_webhook_bytes=300)
    body = json.dumps({"environment": "production", "sha": "4f2a"}).encode()
    body += b" " * (300 - len(body))

    with PlayWorker(redis_url, namespace, [answer("allow", "Allowed.")]):
        response = ask(app, body)

    assert (len(body), response.status_code) == (300, 200)


def test_no_answer_in_time_is_503_and_the_judgement_stays_queued(redis_url, namespace, queue):
    app = gate_app(redis_url, namespace, wait=0.3)

    with PlayWorker(redis_url, namespace, [None]) as worker:
        response = ask(app, FULL_BODY)

    assert (response.status_code, response.json) == (
        503, {"error": "changeguard's worker did not answer in 0.3 s; ask again"})
    assert response.headers["Retry-After"] == "5"
    assert queue.job_ids == [job.id for job in worker.jobs]
    assert len(queue.job_ids) == 1


def test_the_default_wait_is_8_seconds_said_as_such():
    assert (GATE_ANSWER_SECONDS, no_answer_message(GATE_ANSWER_SECONDS)) == (
        8, "changeguard's worker did not answer in 8 s; ask again")


@pytest.mark.parametrize(("marker", "queued"), [
    (b"rq:job:", 0),
    (b"BLPOP", 1),
], ids=["down-while-enqueueing", "down-while-waiting"])
def test_redis_down_is_503_with_retry_after(redis_url, namespace, queue, marker, queued):
    with RedisCut(redis_url, marker) as cut:
        app = gate_app(redis_url, namespace, redis_client=enqueue.connect(cut.url))
        response = ask(app, FULL_BODY)

    assert (response.status_code, response.json) == (503, {"error": QUEUE_UNAVAILABLE})
    assert response.headers["Retry-After"] == "5"
    assert cut.cuts == 2  # the client's one retry on a fresh connection is cut too
    # Cut while waiting, the judgement was queued: the worker still decides it.
    assert len(queue.job_ids) == queued


def test_redis_down_on_finished_is_503(redis_url, namespace, queue):
    with RedisCut(redis_url, b"rq:job:") as cut:
        app = gate_app(redis_url, namespace, redis_client=enqueue.connect(cut.url))
        response = ask(app, {"deployment_id": "42", "outcome": "success"}, AUTH,
                       "/api/gate/finished")

    assert (response.status_code, response.json) == (503, {"error": QUEUE_UNAVAILABLE})
    assert response.headers["Retry-After"] == "5"
    assert queue.job_ids == []


@pytest.mark.parametrize(("body", "finish"), [
    ({"deployment_id": "42", "outcome": "success"},
     {"run_id": "generic:jenkins:42", "result": "success", "is_last": True, "run_url": "",
      "explicit_key": None, "environment": ""}),
    ({"run_url": "https://ci.example.com/job/shop/42/", "outcome": "failure", "last": False,
      "change": "CHG-123", "sha": "4f2a", "environment": "production"},
     {"run_id": "generic:jenkins:https://ci.example.com/job/shop/42/", "result": "failure",
      "is_last": False, "run_url": "https://ci.example.com/job/shop/42/",
      "explicit_key": "CHG-123", "environment": "production"}),
    ({"sha": "4f2a9c1e", "environment": "production", "outcome": "rolled_back", "last": True,
      "change": ""},
     {"run_id": "generic:jenkins:4f2a9c1e:production", "result": "rolled_back", "is_last": True,
      "run_url": "", "explicit_key": None, "environment": "production"}),
], ids=["success-by-deployment-id", "failure-not-last-by-run-url", "rolled-back-by-sha"])
def test_finished_enqueues_the_record_of_the_run(app, queue, namespace, body, finish):
    before = datetime.now(timezone.utc)

    response = ask(app, body, AUTH, "/api/gate/finished")

    [job_id] = queue.job_ids
    job = Job.fetch(job_id, connection=queue.connection)
    recorded = dict(job.kwargs["finish"])
    asked = job_id.rsplit("-", 1)[1]
    assert (response.status_code, response.json) == (202, {"status": "recorded"})
    assert_recent(recorded.pop("finished_at"), before)
    assert recorded == {"vendor": "generic", **finish}
    assert re.fullmatch(r"[0-9a-f]{32}", asked)
    assert (job_id, job.func_name) == (finish_job_id(namespace, finish["run_id"], asked),
                                       JobName.FINISH_DEPLOYMENT)


def test_finished_twice_is_two_records(app, queue):
    body = {"deployment_id": "42", "outcome": "success"}

    responses = [ask(app, body, AUTH, "/api/gate/finished") for _ in range(2)]

    assert [r.status_code for r in responses] == [202, 202]
    assert len(set(queue.job_ids)) == 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4), max_leaves=12)
FIELD_NAMES = ["environment", "change", "sha", "ref", "run_url", "deployment_id", "texts",
               "triggered_by", "triggered_by_email", "template", "outcome", "last"]
gate_bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values | st.text(max_size=12),
                    max_size=8).map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
)


@settings(max_examples=200, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(["/api/gate", "/api/gate/finished"]), body=gate_bodies)
def test_no_body_makes_the_gate_fail(redis_url, namespace, path, body):
    # No wait for the worker: a body the gate accepts is answered 503 at once.
    app = gate_app(redis_url, namespace, wait=0)

    response = ask(app, body, AUTH, path)

    assert response.status_code in {202, 400, 503}, (response.status_code, response.json)
    assert set(response.json) == ({"status"} if response.status_code == 202 else {"error"})
