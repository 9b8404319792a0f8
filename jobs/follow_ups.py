"""Enqueue the work an allowed move sets off (Slack notices, approval requests), once each."""

from __future__ import annotations

from typing import Any

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from worker.runtime import Runtime

RETRY = Retry(max=3, interval=[5, 30, 120])


def enqueue_follow_up(rt: Runtime, func: str, job_id: str, kwargs: dict[str, Any]) -> None:
    """Enqueue ``func`` under a deterministic job id; an existing job with that id is enough."""
    try:
        Queue(rt.settings.queue_name, connection=rt.redis).enqueue_call(
            func, kwargs=kwargs, job_id=f"{rt.settings.namespace}-{job_id}", unique=True,
            retry=RETRY, failure_ttl=7 * 24 * 3600, result_ttl=24 * 3600)
    except DuplicateJobError:
        pass
