"""Slack's signature check (pure) and the /slack/interactions endpoint over real Redis."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlencode

import pytest
import redis
from rq import Queue
from rq.job import Job

from tests.redis_cut import RedisCut
from webhooks import enqueue
from webhooks.app import create_app
from webhooks.slack_signature import SignatureCheck as C, check_signature, sign

from tests.builders import free_port, make_settings

SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_764_583_200
URL = "/slack/interactions"
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"

SIGNATURE_CASES = [
    ("valid", SIGNING, BODY, str(NOW), sign(SIGNING, str(NOW), BODY), C.VALID),
    ("valid at the edge of the window", SIGNING, BODY, str(NOW - 300),
     sign(SIGNING, str(NOW - 300), BODY), C.VALID),
    ("wrong secret", SIGNING, BODY, str(NOW), sign("other", str(NOW), BODY), C.INVALID),
    ("tampered body", SIGNING, BODY + b"x", str(NOW), sign(SIGNING, str(NOW), BODY), C.INVALID),
    ("timestamp swapped after signing", SIGNING, BODY, str(NOW - 1),
     sign(SIGNING, str(NOW), BODY), C.INVALID),
    ("stale timestamp", SIGNING, BODY, str(NOW - 301), sign(SIGNING, str(NOW - 301), BODY),
     C.STALE),
    ("future timestamp", SIGNING, BODY, str(NOW + 301), sign(SIGNING, str(NOW + 301), BODY),
     C.STALE),
    ("missing signature", SIGNING, BODY, str(NOW), None, C.MISSING),
    ("missing timestamp", SIGNING, BODY, None, sign(SIGNING, str(NOW), BODY), C.MISSING),
    ("timestamp not a number", SIGNING, BODY, "soon", sign(SIGNING, "soon", BODY), C.MISSING),
]


@pytest.mark.parametrize("secret, body, timestamp, signature, expected",
                         [c[1:] for c in SIGNATURE_CASES], ids=[c[0] for c in SIGNATURE_CASES])
def test_check_signature(secret, body, timestamp, signature, expected):
    assert check_signature(secret, body, timestamp, signature, now=NOW) is expected


def test_sign_matches_slacks_documented_example():
    # api.slack.com/authentication/verifying-requests-from-slack, step by step.
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
            b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
            b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
            b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
            b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    assert sign(SIGNING, "1531420618", body) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")


def payload(action="approve", key="CHG-7", user="U0DANA", **changes):
    value = {"type": "block_actions", "user": {"id": user, "username": "dana"},
             "container": {"type": "message", "message_ts": "1700000000.000100",
                           "channel_id": "C00000001"},
             "actions": [{"action_id": action, "value": key, "type": "button",
                          "action_ts": "1764583200.000100"}], **changes}
    return urlencode({"payload": json.dumps(value)}).encode()


def post(client, body, *, secret=SIGNING, timestamp=None, signature=None):
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Slack-Request-Timestamp": timestamp,
               "X-Slack-Signature": signature or sign(secret, timestamp, body)}
    return client.post(URL, data=body, headers=headers)


def app_for(redis_url, namespace, **overrides):
    app = create_app(make_settings(redis_url, namespace, slack_signing_secret=SIGNING,
                                   **overrides))
    return app


@pytest.fixture
def client(redis_url, namespace):
    return app_for(redis_url, namespace).test_client()


@pytest.fixture
def queue(redis_url, namespace):
    connection = redis.Redis.from_url(redis_url)
    yield Queue(namespace, connection=connection)
    connection.close()


def test_a_click_enqueues_one_job_with_small_args_and_answers_200(client, queue, namespace):
    response = post(client, payload())
    assert (response.status_code, response.data) == (200, b"")
    job_id = f"{namespace}-slack-CHG-7-approve-U0DANA-1764583200_000100"
    assert queue.job_ids == [job_id]
    job = Job.fetch(job_id, connection=queue.connection)
    assert (job.func_name, job.args, job.kwargs) == (
        "jobs.slack_approvals.handle_slack_action", (),
        {"issue_key": "CHG-7", "action": "approve", "slack_user_id": "U0DANA",
         "response_ts": "1700000000.000100", "action_ts": "1764583200.000100"})


def test_reject_gets_its_own_job(client, queue, namespace):
    assert post(client, payload("reject")).status_code == 200
    assert queue.job_ids == [f"{namespace}-slack-CHG-7-reject-U0DANA-1764583200_000100"]


REFUSED = [
    ("wrong signature", dict(secret="not the signing secret"), 0),
    ("stale timestamp", {}, -301),
    ("future timestamp", {}, 301),
    ("missing signature", dict(signature=" "), 0),
]


@pytest.mark.parametrize("changes, skew", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_unverified_requests_get_401_and_enqueue_nothing(client, queue, changes, skew):
    timestamp = str(int(time.time()) + skew)
    assert post(client, payload(), timestamp=timestamp, **changes).status_code == 401
    assert queue.job_ids == []


def test_a_replayed_request_is_answered_200_and_does_nothing(client, queue):
    body, timestamp = payload(), str(int(time.time()))
    assert post(client, body, timestamp=timestamp).status_code == 200
    queue.empty()
    response = post(client, body, timestamp=timestamp)
    assert (response.status_code, response.data) == (200, b"")
    assert queue.job_ids == []


NO_JOB = [
    ("another interaction type: ignored", payload(type="view_submission"), 200),
    ("another button: ignored", payload(action="snooze"), 200),
    ("no payload field", b"text=hello", 400),
    ("payload not JSON", urlencode({"payload": "{"}).encode(), 400),
    ("payload not an object", urlencode({"payload": "[]"}).encode(), 400),
    ("no actions", urlencode({"payload": json.dumps({"type": "block_actions",
                                                    "user": {"id": "U1"}})}).encode(), 400),
    ("value not an issue key", payload(key="CHG-7; DROP"), 400),
    ("user id not Slack's", payload(user="dana"), 400),
]


@pytest.mark.parametrize("body, status", [r[1:] for r in NO_JOB], ids=[r[0] for r in NO_JOB])
def test_clicks_that_are_not_ours_or_malformed_get_no_job(client, queue, body, status):
    assert post(client, body).status_code == status
    assert queue.job_ids == []


def test_without_a_signing_secret_the_endpoint_does_not_exist(redis_url, namespace, queue):
    app = create_app(make_settings(redis_url, namespace))
    assert post(app.test_client(), payload()).status_code == 404
    assert queue.job_ids == []


def test_redis_down_answers_503(namespace):
    settings = make_settings(None, namespace, slack_signing_secret=SIGNING)
    app = create_app(settings, redis_client=enqueue.connect(f"redis://127.0.0.1:{free_port()}/0"))
    assert post(app.test_client(), payload()).status_code == 503


def test_a_body_over_the_limit_gets_413(redis_url, namespace, queue):
    client = app_for(redis_url, namespace, max_webhook_bytes=100).test_client()
    assert post(client, payload()).status_code == 413
    assert queue.job_ids == []


CUTS = [
    # (id, then_down, replay keys left, what is logged at ERROR)
    ("redis lost while enqueueing: the signature is released for Slack's retry", False, 0,
     ["slack interaction queue unavailable"]),
    ("redis dead while enqueueing: the unreleased signature is logged", True, 1,
     ["slack signature not released", "slack interaction queue unavailable"]),
]


@pytest.mark.parametrize("then_down, left, logged", [c[1:] for c in CUTS], ids=[c[0] for c in CUTS])
def test_redis_cut_while_enqueueing_answers_503(redis_url, namespace, queue, caplog,
                                                then_down, left, logged):
    body, timestamp = payload(), str(int(time.time()))
    # The replay key is set through the proxy; the enqueue's commands name rq:job:… and are cut.
    with RedisCut(redis_url, b"rq:job:", then_down=then_down) as cut:
        app = create_app(make_settings(redis_url, namespace, slack_signing_secret=SIGNING),
                         redis_client=enqueue.connect(cut.url))
        with caplog.at_level(logging.ERROR, logger="webhooks.slack_interactions"):
            response = post(app.test_client(), body, timestamp=timestamp)

    assert (response.status_code, response.json) == (503, {"error": "queue unavailable, retry"})
    assert len(list(queue.connection.scan_iter(match=f"{namespace}:slack-signature:*"))) == left
    assert [r.getMessage() for r in caplog.records
            if r.name == "webhooks.slack_interactions"] == logged
    assert queue.job_ids == []


def test_after_a_lost_enqueue_slacks_retry_is_enqueued(redis_url, namespace, queue, client):
    body, timestamp = payload(), str(int(time.time()))
    with RedisCut(redis_url, b"rq:job:") as cut:
        app = create_app(make_settings(redis_url, namespace, slack_signing_secret=SIGNING),
                         redis_client=enqueue.connect(cut.url))
        refused = post(app.test_client(), body, timestamp=timestamp)

    retried = post(client, body, timestamp=timestamp)

    assert (refused.status_code, retried.status_code) == (503, 200)
    assert queue.job_ids == [f"{namespace}-slack-CHG-7-approve-U0DANA-1764583200_000100"]
