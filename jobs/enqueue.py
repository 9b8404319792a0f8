"""Enqueue a job once by its id, with the retries and retention every changeguard job shares."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from rules.job_names import JobName

JOB_RETRY_INTERVALS = (5, 30, 120)  # seconds before the 1st, 2nd and 3rd retry of a failed job
FAILURE_TTL = int(datetime.timedelta(days=7).total_seconds())  # failed jobs stay to be looked at
RESULT_TTL = int(datetime.timedelta(days=1).total_seconds())


def enqueue_once(queue: Queue, func: JobName | Callable[..., Any], job_id: str,
                 kwargs: Mapping[str, Any] | None = None, *, retry: bool = True,
                 job_timeout: int | None = None, result_ttl: int = RESULT_TTL,
                 failure_ttl: int = FAILURE_TTL) -> bool:
    """Enqueue ``func(**kwargs)`` as ``job_id`` unless a job with that id exists (queued, running
    or kept after it ran); return whether this call enqueued it.

    Ids are deterministic (a delivery, a changelog id, a minute), so a redelivery, a retried job
    and a second worker all land on the same job. A JobName (how rules/ names a job) is looked up
    in jobs/registry.py.
    """
    if isinstance(func, JobName):
        from .registry import JOBS  # here: the registry imports the jobs, which import this

        func = JOBS[func]
    try:
        queue.enqueue_call(
            func, kwargs=dict(kwargs or {}), job_id=job_id, unique=True, timeout=job_timeout,
            retry=Retry(max=len(JOB_RETRY_INTERVALS), interval=list(JOB_RETRY_INTERVALS))
            if retry else None,
            result_ttl=result_ttl, failure_ttl=failure_ttl)
    except DuplicateJobError:
        return False
    return True
