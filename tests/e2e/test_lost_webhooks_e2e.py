"""The web endpoint is down and Jira gives up on every webhook: the sweep still enforces the moves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jobs.periodic import tick
from rules.cab_schedule import sweep_period

from ..builders import (COMPLETE, INCOMPLETE, SECRET, expected_comment, free_port,
                        wait_until)
from .harness import audit_trail, settle


@pytest.fixture
def jira_options():
    """Send the webhooks to a closed port, where every delivery is refused; give up quickly."""
    return {"webhook_url": f"http://127.0.0.1:{free_port()}/webhooks/jira",
            "webhook_secret": SECRET, "retry_delays": (0.01, 0.02)}


def run_tick(queue, moment: datetime) -> dict:
    job = queue.enqueue(tick, now=moment.isoformat())
    wait_until(lambda: job.get_status(refresh=True) in {"finished", "failed"}, timeout=60,
               what="the tick to run")
    assert job.get_status() == "finished", job.exc_info
    return job.return_value()


def bot_writes(jira) -> list[tuple[str, str]]:
    """Return what changeguard changed in Jira (a search is a POST but changes nothing)."""
    return [(r.method, r.path) for r in jira.requests
            if r.account_id == jira.bot.account_id and r.method != "GET"
            and not r.path.endswith("/search/jql")]


def test_moves_made_while_the_endpoint_is_down_are_enforced_by_the_next_sweep(jira, worker,
                                                                              queue):
    bad = jira.create_change_request("alice", "Rotate edge TLS certificates", INCOMPLETE)
    jira.transition(bad, "Awaiting Approval", as_user="alice")
    flip = jira.create_change_request("alice", "Resize the cache", INCOMPLETE)
    for status in ("Awaiting Approval", "Draft", "Awaiting Approval"):
        jira.transition(flip, status, as_user="alice")
    good = jira.create_change_request("alice", "Raise the pool size", COMPLETE)
    jira.transition(good, "Awaiting Approval", as_user="alice")
    jira.wait_for_deliveries(timeout=20)
    assert jira.deliveries and all(d.status is None for d in jira.deliveries)
    assert sum(d.gave_up for d in jira.deliveries) == 8  # every event lost: 3 created, 5 moves
    assert queue.count == 0 and queue.finished_job_registry.count == 0

    later = datetime.now(timezone.utc) + timedelta(minutes=5)  # past the first sweep period
    result = run_tick(queue, later)
    # Per change: its latest move, and the approval check of its creation's fields.
    assert result[f"sweep:{sweep_period(later, 5).key}"] == "6 recovered"
    settle(jira, queue)
    assert (jira.status_of(bad), jira.status_of(flip), jira.status_of(good)) == (
        "Draft", "Draft", "Awaiting Approval")
    assert [c["body"] for c in jira.comments(bad)] == [expected_comment(jira)]
    assert [c["body"] for c in jira.comments(flip)] == [expected_comment(jira)]
    assert jira.comments(good) == []
    assert [e["decision"] for e in audit_trail(jira, bad)] == ["reverted"]
    assert [e["decision"] for e in audit_trail(jira, flip)] == ["reverted"]
    assert [e["decision"] for e in audit_trail(jira, good)] == ["allowed"]
    assert worker.log().count("lost webhook recovered") == 6

    jira.reset_recordings()
    again = run_tick(queue, later + timedelta(minutes=5))
    assert again[f"sweep:{sweep_period(later + timedelta(minutes=5), 5).key}"] == "0 recovered"
    settle(jira, queue)
    assert bot_writes(jira) == []
    assert [len(jira.comments(key)) for key in (bad, flip, good)] == [1, 1, 0]
    assert (jira.status_of(bad), jira.status_of(flip), jira.status_of(good)) == (
        "Draft", "Draft", "Awaiting Approval")
