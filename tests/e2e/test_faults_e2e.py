"""Faults at volume: nothing lost, nothing done twice, every allowed move untouched.

The invariant each test checks: every disallowed move is reverted exactly once, with exactly one
comment; every allowed move stands with none.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from .harness import NORMAL, settle

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
    jira.inject_fault("GET", r"/transitions$", 503, times=3)
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
    # 40 change requests; every event (create, move, revert) delivered twice, shuffled.
    jira.hold_deliveries()
    bad, good = burst(jira, 40, seed=seed)
    sent = jira.release_deliveries(seed, duplicate=True)
    assert len(sent) >= 4 * 40  # create + move, each twice
    settle(jira, queue, timeout=180)
    assert_invariant(jira, bad, good)
