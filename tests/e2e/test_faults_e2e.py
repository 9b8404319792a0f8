"""Faults at volume: nothing lost, nothing done twice, every allowed move untouched.

The invariant each test checks: every disallowed move is reverted exactly once, with exactly one
comment; every allowed move stands with none.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter

import pytest
from rq import Queue

from sandbox.embedded_redis import EmbeddedRedis
from worker.runtime import connect_redis

from ..builders import NORMAL, settings_for, wait_until
from .harness import WebServer, WorkerProcess, settle

INCOMPLETE = {**NORMAL, "Rollback Plan": "TBD"}


def burst(jira, count: int, seed: int) -> tuple[list[str], list[str]]:
    """Create ``count`` change requests, half of them incomplete, and move all to Awaiting Approval."""
    chooser = random.Random(seed)
    bad, good = [], []
    keys = []
    for index in range(count):
        incomplete = chooser.random() < 0.5
        key = jira.create_change_request("alice", f"Change {index}",
                                         INCOMPLETE if incomplete else NORMAL)
        (bad if incomplete else good).append(key)
        keys.append(key)
    for key in keys:
        jira.transition(key, "Awaiting Approval", as_user="alice")
    return bad, good


def assert_invariant(jira, bad: list[str], good: list[str]) -> None:
    bot = jira.bot.account_id
    for key in bad:
        assert jira.status_of(key) == "Draft", key
        assert [c["author_account_id"] for c in jira.comments(key)] == [bot], key
        reverts = [r for r in jira.requests if r.method == "POST" and r.status == 204
                   and r.path == f"/rest/api/3/issue/{key}/transitions" and r.account_id == bot]
        assert len(reverts) == 1, key
    for key in good:
        assert jira.status_of(key) == "Awaiting Approval", key
        assert jira.comments(key) == [], key


def test_jira_answering_429_and_5xx_in_bursts(jira, web, worker, queue):
    # Bursts across every call the worker makes; Retry-After is honoured, 5xx on reads retried,
    # and a POST that failed is picked up by RQ's retry of the job, which resumes its plan.
    jira.hold_deliveries()  # people's moves first; the faults then hit changeguard alone
    bad, good = burst(jira, 16, seed=7)
    jira.inject_fault("GET", r"^/rest/api/3/issue/CHG-\d+$", 429, times=6, retry_after=1)
    jira.inject_fault("GET", r"^/rest/api/3/issue/CHG-\d+$", 503, times=3)
    jira.inject_fault("POST", r"/transitions$", 429, times=3, retry_after=1)
    jira.inject_fault("POST", r"/comment$", 503, times=2, retry_after=1)
    jira.inject_fault("PUT", r"/properties/changeguard$", 502, times=2)
    jira.release_deliveries(None, duplicate=False)
    settle(jira, queue, timeout=120)
    assert_invariant(jira, bad, good)
    assert queue.failed_job_registry.count == 0
    faults = Counter(r.status for r in jira.requests
                     if r.account_id == jira.bot.account_id and r.status >= 400)
    assert faults == {429: 9, 503: 5, 502: 2}  # every injected fault hit changeguard


@pytest.mark.parametrize("seed", [11])
def test_duplicate_and_shuffled_deliveries_at_volume(jira, web, worker, queue, seed):
    # 200 change requests; every event (create, move, revert, comment) delivered twice, shuffled:
    # about 1,200 deliveries.
    jira.hold_deliveries()
    bad, good = burst(jira, 200, seed=seed)
    sent = jira.release_deliveries(seed, duplicate=True)  # people's events, shuffled
    assert len(sent) == 2 * 2 * 200  # create + move, each twice
    jira.hold_deliveries()  # changeguard's reverts, held, then sent twice and shuffled as well
    wait_until(lambda: all(jira.status_of(key) == "Draft" and jira.comments(key) for key in bad),
               timeout=240, what="every disallowed move to be reverted and explained")
    reverts = jira.release_deliveries(seed, duplicate=True)
    assert len(reverts) == 2 * 2 * len(bad)  # the revert and its comment, each twice
    settle(jira, queue, timeout=240)
    assert_invariant(jira, bad, good)


@contextlib.contextmanager
def stack_on(redis_server: EmbeddedRedis, jira, namespace: str, tmp_path):
    """Run the endpoint and a worker process against ``redis_server``; yield (worker, queue)."""
    settings = settings_for(jira, redis_server.url, namespace)
    web = WebServer(settings)
    jira.webhook_url = f"{web.url}/webhooks/jira"
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    try:
        yield worker, Queue(settings.queue_name, connection=connect_redis(settings.redis_url))
    finally:
        worker.stop()
        web.stop()


@pytest.mark.parametrize("outage", ["restart", "crash"])
def test_redis_restarted_while_deliveries_are_arriving(jira, namespace, tmp_path, outage):
    # Redis as changeguard should run in production: every write on disk before its answer
    # (appendfsync always), so a restart, or a SIGKILL and a start, keeps what it acknowledged.
    with EmbeddedRedis(persistent=True) as redis_server, \
            stack_on(redis_server, jira, namespace, tmp_path) as (worker, queue):
        before: list = []
        people = threading.Thread(target=lambda: before.append(burst(jira, 16, seed=3)))
        people.start()  # deliveries arriving, and jobs running, when Redis goes away
        wait_until(lambda: sum(d.status == 202 for d in jira.deliveries) >= 8, timeout=30,
                   what="the first deliveries to be accepted")
        if outage == "crash":
            redis_server.crash()
        else:
            redis_server.stop(keep_data=True)
        # While Redis is down the endpoint answers 503 and Jira keeps the delivery to retry.
        wait_until(lambda: any(d.status == 503 for d in jira.deliveries), timeout=30,
                   what="a delivery refused with 503 while Redis is down")
        time.sleep(1)  # jobs in flight meet the outage too
        redis_server.start()
        people.join(60)
        after = burst(jira, 8, seed=4)
        settle(jira, queue, timeout=180)
        assert_invariant(jira, before[0][0] + after[0], before[0][1] + after[1])
        assert queue.failed_job_registry.count == 0
        assert worker.process.poll() is None, worker.log()  # the same worker went on
        last = {d.identifier: d for d in jira.deliveries}  # each delivery's last attempt
        refused = {d.identifier for d in jira.deliveries if d.status == 503}
        assert refused and all(last[i].status in (200, 202) for i in refused)


def test_worker_outlasts_a_redis_outage_longer_than_its_client_waits(jira, namespace, tmp_path):
    # A job is running when Redis goes away for longer than the client's retries (about 17 s):
    # RQ's Worker quits, and `changeguard worker` starts a new one once Redis answers again.
    with EmbeddedRedis() as redis_server, \
            stack_on(redis_server, jira, namespace, tmp_path) as (worker, queue):
        queue.enqueue("time.sleep", 25)
        wait_until(lambda: queue.started_job_registry.count == 1, what="the job to start")
        redis_server.stop()
        wait_until(lambda: "waiting for Redis to start a new RQ Worker" in worker.log(),
                   timeout=60, what="the worker to give up on Redis")
        redis_server.start()  # empty: no persistence here
        wait_until(lambda: "restarts=1" in worker.log(), timeout=30,
                   what="a new RQ Worker to start")
        bad, good = burst(jira, 2, seed=5)
        settle(jira, queue, timeout=60)
        assert_invariant(jira, bad, good)
        assert worker.process.poll() is None, worker.log()
