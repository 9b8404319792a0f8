"""Webhook → Flask → real Redis → real RQ worker process → sandbox Jira, as in production."""

from __future__ import annotations

import hashlib
import hmac
import json

import requests

from rq import Queue

from sandbox.embedded_redis import EmbeddedRedis
from worker.runtime import connect_redis

from ..builders import (COMPLETE, INCOMPLETE, SECRET, expected_comment, settings_for,
                        wait_until)
from .harness import WebServer, WorkerProcess, job_results, settle


def submit(jira, fields, actor="alice"):
    key = jira.create_change_request(actor, "Rotate edge TLS certificates", fields)
    jira.transition(key, "Awaiting Approval", as_user=actor)
    return key


def bot_writes(jira, key):
    """What changeguard changed on the issue, besides its own record (the issue property)."""
    return [(r.method, r.path) for r in jira.requests
            if r.account_id == jira.bot.account_id and r.method != "GET" and key in r.path
            and not r.path.endswith("/properties/changeguard")]


def test_incomplete_change_is_moved_back_with_one_comment(jira, web, worker, queue):
    key = submit(jira, INCOMPLETE)
    settle(jira, queue)
    assert jira.status_of(key) == "Draft"
    comments = jira.comments(key)
    assert [c["body"] for c in comments] == [expected_comment(jira)]
    assert comments[0]["author_account_id"] == jira.bot.account_id
    assert bot_writes(jira, key) == [("POST", f"/rest/api/3/issue/{key}/transitions"),
                                     ("POST", f"/rest/api/3/issue/{key}/comment")]
    assert jira.property(key, "changeguard")["audit"][-1]["decision"] == "reverted"


def test_complete_change_stands_untouched(jira, web, worker, queue):
    key = submit(jira, COMPLETE)
    settle(jira, queue)
    assert jira.status_of(key) == "Awaiting Approval"
    assert jira.comments(key) == []
    assert bot_writes(jira, key) == []
    assert jira.property(key, "changeguard")["audit"][-1]["decision"] == "allowed"
    assert {"verdict": "allow", "reason": "gate_passed"} in [r for _, r in job_results(queue)]


def test_the_workers_own_revert_is_not_enforced_again(jira, web, worker, queue):
    key = submit(jira, INCOMPLETE)
    settle(jira, queue)
    by_actor = {(kwargs["actor_account_id"], kwargs["to_status_id"]): result
                for kwargs, result in job_results(queue)}
    awaiting, draft = jira.status_id("Awaiting Approval"), jira.status_id("Draft")
    assert by_actor[jira.users["alice"].account_id, awaiting]["reason"] == "gate_failed"
    assert by_actor[jira.bot.account_id, draft] == {"verdict": "ignore", "reason": "own_move"}
    assert len(jira.comments(key)) == 1
    bot_reads = [r for r in jira.requests if r.account_id == jira.bot.account_id
                 and r.method == "GET" and r.path == f"/rest/api/3/issue/{key}"]
    judged = [r for _, r in job_results(queue) if r["reason"] != "own_move"]
    assert len(bot_reads) == len(judged)  # the own-move job decided without asking Jira


def test_duplicate_and_redelivered_webhooks_change_nothing(jira, web, worker, queue):
    key = submit(jira, INCOMPLETE)
    settle(jira, queue)
    first = next(d for d in jira.deliveries if d.webhook_event == "jira:issue_updated")
    for _ in range(3):  # the same delivery again, as Jira's retry would send it
        assert jira.redeliver(first.identifier) == 200
    jira.redeliver(first.identifier, new_identifier=True)  # same event, another delivery id
    settle(jira, queue)
    assert jira.status_of(key) == "Draft"
    assert len(jira.comments(key)) == 1


def test_bad_signature_is_refused_and_nothing_is_enqueued(jira, web, worker, queue):
    jira.webhook_secret = "not the endpoint's secret"
    key = submit(jira, INCOMPLETE)
    jira.wait_for_deliveries(timeout=20)
    assert {d.status for d in jira.deliveries} == {401}  # final: Jira does not retry a 401
    assert queue.count == 0 and job_results(queue) == []
    assert jira.status_of(key) == "Awaiting Approval" and jira.comments(key) == []


def test_malformed_bodies_are_refused_with_400(web):
    url = f"{web.url}/webhooks/jira"
    for body in (b"{not json", b"[]", json.dumps({"timestamp": 1}).encode()):
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        response = requests.post(url, data=body, timeout=5,
                                 headers={"Content-Type": "application/json",
                                          "X-Hub-Signature": signature})
        assert response.status_code == 400
        assert "error" in response.json()


def test_jira_rate_limit_makes_the_job_wait_and_succeed(jira, web, worker, queue):
    jira.inject_fault("GET", r"^/rest/api/3/issue/CHG-\d+$", 429, times=1, retry_after=1)
    key = submit(jira, INCOMPLETE)
    settle(jira, queue)
    assert jira.status_of(key) == "Draft"
    assert len(jira.comments(key)) == 1
    reads = [r for r in jira.requests if r.account_id == jira.bot.account_id
             and r.path == f"/rest/api/3/issue/{key}" and r.method == "GET"]
    assert [r.status for r in reads[:2]] == [429, 200]
    assert reads[1].time - reads[0].time >= 1.0  # Retry-After was honoured


def test_redis_down_answers_503_and_jira_redelivery_loses_nothing(jira, namespace, tmp_path):
    with EmbeddedRedis() as redis_server:
        settings = settings_for(jira, redis_server.url, namespace)
        web = WebServer(settings)
        jira.webhook_url = f"{web.url}/webhooks/jira"
        worker = None
        try:
            redis_server.stop()
            key = submit(jira, INCOMPLETE)
            wait_until(lambda: any(d.status == 503 for d in jira.deliveries), what="a 503")
            redis_server.restart()  # back on the same port: Jira's next retry gets through
            wait_until(lambda: any(d.status == 202 for d in jira.deliveries), timeout=20,
                       what="Jira's redelivery to be accepted")
            refused = next(d for d in jira.deliveries if d.status == 503)
            accepted = next(d for d in jira.deliveries if d.status == 202)
            assert accepted.identifier == refused.identifier and accepted.attempt > 1
            worker = WorkerProcess(settings, tmp_path / "worker.log")
            settle(jira, Queue(settings.queue_name, connection=connect_redis(settings.redis_url)))
            assert jira.status_of(key) == "Draft"
            assert len(jira.comments(key)) == 1
        finally:
            web.stop()
            if worker is not None:
                worker.stop()
