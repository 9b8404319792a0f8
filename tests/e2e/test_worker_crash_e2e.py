"""A worker killed with SIGKILL in the middle of a job: the job is retried and resumes its plan."""

from __future__ import annotations

import pytest

from ..builders import NORMAL, wait_until
from .harness import WorkerProcess, settle

INCOMPLETE = {**NORMAL, "Rollback Plan": "TBD"}


@pytest.mark.timeout(400)
def test_a_worker_killed_mid_job_loses_nothing_and_repeats_nothing(jira, web, settings, queue,
                                                                  tmp_path):
    first = WorkerProcess(settings, tmp_path / "first.log")
    # Jira holds the job's comment (the step after the revert) until the worker is dead: the
    # kill lands between the two steps by the job's own signal, not by a race with a clock.
    held = jira.hold_next("POST", r"/comment$", 503)
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", INCOMPLETE)
    jira.transition(key, "Awaiting Approval", as_user="alice")
    held.wait_reached(timeout=120)
    first.kill()
    held.release()  # answered (503) to a dead client: nothing was commented
    assert jira.status_of(key) == "Draft"  # the revert happened
    assert jira.comments(key) == []  # killed after the revert, before the comment

    second = WorkerProcess(settings, tmp_path / "second.log")
    try:
        # RQ finds the job abandoned once its heartbeat lapses (~65 s) and retries it.
        wait_until(lambda: len(jira.comments(key)) == 1, timeout=300,
                   what="the abandoned job to be retried")
        settle(jira, queue)
    finally:
        second.stop()
    bot = jira.bot.account_id
    reverts = [r for r in jira.requests if r.method == "POST" and r.status == 204
               and r.path == f"/rest/api/3/issue/{key}/transitions" and r.account_id == bot]
    assert len(reverts) == 1  # the retried job resumed its plan: no second revert
    assert jira.status_of(key) == "Draft"
    assert [c["author_account_id"] for c in jira.comments(key)] == [bot]
    assert jira.property(key, "changeguard")["audit"][-1]["decision"] == "reverted"
