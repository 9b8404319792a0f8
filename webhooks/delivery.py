"""The steps every webhook endpoint shares: read within the size limit, enqueue once, answer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis
from flask import jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from worker.metrics import count

from . import enqueue
from .router import JobRequest

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def read_body(svc: Any, log: dict[str, Any]) -> bytes | None:
    """Return the request's body, or None (counted and logged) when it exceeds the limit."""
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        body = None
    if body is None or len(body) > svc.settings.max_webhook_bytes:
        logger.warning("webhook too large", extra=log)
        count(svc.redis, svc.settings, "webhooks_refused", reason="too_large")
        return None
    return body


def too_large(svc: Any) -> ResponseReturnValue:
    """Answer 413 naming the limit."""
    return error(413, f"body exceeds {svc.settings.max_webhook_bytes} bytes")


def refuse(svc: Any, log: dict[str, Any], status: int, reason: str, message: str
           ) -> ResponseReturnValue:
    """Refuse a delivery (bad signature, malformed): log, count by ``reason``, answer."""
    logger.warning(f"webhook {'signature rejected' if reason == 'signature' else reason}",
                   extra={**log, "reason": message})
    count(svc.redis, svc.settings, "webhooks_refused", reason=reason)
    return error(status, message)


def ignored(svc: Any, log: dict[str, Any], reason: str) -> ResponseReturnValue:
    """Answer 200 for a delivery changeguard has nothing to do for, saying why."""
    logger.info("webhook ignored", extra={**log, "reason": reason})
    count(svc.redis, svc.settings, "webhooks_ignored")
    return jsonify(status="ignored", reason=reason), 200


def enqueue_delivery(svc: Any, log: dict[str, Any], delivery: str,
                     jobs: Sequence[JobRequest]) -> ResponseReturnValue:
    """Enqueue a delivery's jobs once and answer 202; 200 for a redelivery; 503 without Redis.

    The jobs first, then the note that this delivery is done: whatever fails in between, the
    sender's redelivery finds the jobs (unique ids make a second enqueue a no-op), never a note
    alone.
    """
    try:
        if enqueue.delivery_seen(svc.redis, svc.settings, delivery):
            logger.info("webhook duplicate", extra=log)
            count(svc.redis, svc.settings, "webhooks_deduped")
            return jsonify(status="duplicate"), 200
        job_ids = enqueue.enqueue_jobs(svc.queue, jobs)
    except REDIS_DOWN:
        logger.error("webhook queue unavailable", extra=log, exc_info=True)
        count(svc.redis, svc.settings, "webhooks_failed", reason="queue_unavailable")
        return queue_unavailable()
    except Exception:
        logger.exception("webhook enqueue failed", extra=log)
        count(svc.redis, svc.settings, "webhooks_failed", reason="enqueue")
        return error(500, "enqueue failed")
    try:
        enqueue.remember_delivery(svc.redis, svc.settings, delivery)
    except REDIS_DOWN:
        # The jobs are queued: a redelivery will only find them there.
        logger.warning("webhook delivery not remembered", extra=log, exc_info=True)
    logger.info("webhook enqueued", extra={**log, "job_ids": job_ids})
    count(svc.redis, svc.settings, "webhooks_enqueued")
    return jsonify(status="enqueued", job_ids=job_ids), 202


def queue_unavailable() -> ResponseReturnValue:
    """Answer 503 with Retry-After: the sender delivers again later, nothing is lost."""
    response = jsonify(error="queue unavailable, retry")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, 503


def error(status: int, message: str) -> ResponseReturnValue:
    """Answer ``status`` with a JSON error message."""
    return jsonify(error=message), status
