"""Enqueue chosen jobs exactly once per Jira delivery: unique job ids, then the delivery noted."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry
from rq import Queue

from jobs.enqueue import enqueue_once
from worker.settings import Settings

from .router import JobRequest

DELIVERY_TTL = datetime.timedelta(hours=48)


def connect(url: str) -> redis.Redis:
    """Return a Redis client that fails fast, so a down Redis becomes a quick 503."""
    # One immediate retry reconnects a pooled connection a Redis restart has closed.
    return redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=2, retry=RedisRetry(NoBackoff(), 1)
    )


def delivery_id(identifier: str | None, body: bytes) -> str:
    """Return Jira's per-delivery identifier, or a digest of the body when the header is absent."""
    return identifier or "sha256-" + hashlib.sha256(body).hexdigest()


def delivery_seen(connection: redis.Redis, settings: Settings, delivery: str) -> bool:
    """Tell whether ``delivery`` was enqueued already (Jira redelivered it)."""
    return bool(connection.exists(settings.key("delivery", delivery)))


def remember_delivery(connection: redis.Redis, settings: Settings, delivery: str) -> None:
    """Note ``delivery`` as enqueued, so that a redelivery is answered "duplicate" at once.

    Called only after its jobs are enqueued: a delivery is never remembered without its jobs.
    """
    connection.set(settings.key("delivery", delivery), b"1", ex=DELIVERY_TTL)


def enqueue_jobs(queue: Queue, jobs: Iterable[JobRequest]) -> list[str]:
    """Enqueue each job once by its id; an existing job with that id counts as enqueued."""
    job_ids = []
    for job in jobs:
        enqueue_once(queue, job.func, job.job_id, job.kwargs)
        job_ids.append(job.job_id)
    return job_ids
