"""Enqueue chosen jobs exactly once per Jira delivery: dedupe by delivery id, unique job ids."""

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


def claim_delivery(connection: redis.Redis, settings: Settings, delivery: str) -> bool:
    """Record ``delivery`` as seen; return False if it was already (Jira redelivered it)."""
    key = settings.key("delivery", delivery)
    return bool(connection.set(key, b"1", nx=True, ex=DELIVERY_TTL))


def release_delivery(connection: redis.Redis, settings: Settings, delivery: str) -> None:
    """Forget ``delivery`` so that Jira's redelivery of it is processed again."""
    connection.delete(settings.key("delivery", delivery))


def enqueue_jobs(queue: Queue, jobs: Iterable[JobRequest]) -> list[str]:
    """Enqueue each job once by its id; an existing job with that id counts as enqueued."""
    job_ids = []
    for job in jobs:
        enqueue_once(queue, job.func, job.job_id, job.kwargs)
        job_ids.append(job.job_id)
    return job_ids
