"""Answer Jira's webhook deliveries: verify -> parse -> route -> enqueue -> 2xx, and /healthz."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import redis
from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from rq import Queue
from werkzeug.exceptions import RequestEntityTooLarge

from rules.policy import Policy
from worker.metrics import count
from worker.settings import Settings

from . import enqueue
from .events import JiraEvent, MalformedEvent, parse_body
from .router import Context, Router
from .signature import verify_signature

logger = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)

RETRY_AFTER_SECONDS = 30
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


@dataclasses.dataclass(frozen=True)
class Services:
    """What the views need, built once by create_app and kept in app.extensions."""

    settings: Settings
    policy: Policy
    redis: redis.Redis
    queue: Queue
    router: Router


def services() -> Services:
    """Return the Services of the current app."""
    return current_app.extensions["changeguard"]


@bp.post("/webhooks/jira")
def jira_webhook() -> ResponseReturnValue:
    """Turn one Jira delivery into at most a few enqueued jobs, answering in milliseconds."""
    svc = services()
    delivery = request.headers.get("X-Atlassian-Webhook-Identifier")
    log: dict[str, Any] = {"webhook_event": None, "issue_key": None, "event_id": delivery}
    count(svc.redis, svc.settings, "webhooks_received")
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        body = None
    if body is None or len(body) > svc.settings.max_webhook_bytes:
        logger.warning("webhook too large", extra=log)
        count(svc.redis, svc.settings, "webhooks_refused", reason="too_large")
        return _error(413, f"body exceeds {svc.settings.max_webhook_bytes} bytes")

    secret = svc.settings.jira_webhook_secret
    if secret and not verify_signature(secret, body, request.headers.get("X-Hub-Signature")):
        logger.warning("webhook signature rejected", extra=log)
        count(svc.redis, svc.settings, "webhooks_refused", reason="signature")
        return _error(401, "missing or invalid X-Hub-Signature")

    try:
        event = parse_body(body)
    except MalformedEvent as exc:
        logger.warning("webhook malformed", extra={**log, "reason": str(exc)})
        count(svc.redis, svc.settings, "webhooks_refused", reason="malformed")
        return _error(400, str(exc))
    delivery = enqueue.delivery_id(delivery, body)
    log = {"webhook_event": event.webhook_event, "issue_key": event.issue_key, "event_id": delivery}

    reason = _skip_reason(event, svc)
    if reason is None:
        try:
            jobs = svc.router.dispatch(event, Context(
                event_id=delivery, policy=svc.policy, namespace=svc.settings.namespace
            ))
        except Exception:
            logger.exception("webhook handler failed", extra=log)
            count(svc.redis, svc.settings, "webhooks_failed", reason="handler")
            return _error(500, "handler failed")
        if not jobs:
            reason = "no job for this change"
    if reason is not None:
        logger.info("webhook ignored", extra={**log, "reason": reason})
        count(svc.redis, svc.settings, "webhooks_ignored")
        return jsonify(status="ignored", reason=reason), 200

    # The jobs first, then the note that this delivery is done: whatever fails in between, Jira's
    # redelivery finds the jobs (unique ids make a second enqueue a no-op), never a note alone.
    try:
        if enqueue.delivery_seen(svc.redis, svc.settings, delivery):
            logger.info("webhook duplicate", extra=log)
            count(svc.redis, svc.settings, "webhooks_deduped")
            return jsonify(status="duplicate"), 200
        job_ids = enqueue.enqueue_jobs(svc.queue, jobs)
    except REDIS_DOWN:
        logger.error("webhook queue unavailable", extra=log, exc_info=True)
        count(svc.redis, svc.settings, "webhooks_failed", reason="queue_unavailable")
        return _queue_unavailable()
    except Exception:
        logger.exception("webhook enqueue failed", extra=log)
        count(svc.redis, svc.settings, "webhooks_failed", reason="enqueue")
        return _error(500, "enqueue failed")
    try:
        enqueue.remember_delivery(svc.redis, svc.settings, delivery)
    except REDIS_DOWN:
        # The jobs are queued: a redelivery will only find them there.
        logger.warning("webhook delivery not remembered", extra=log, exc_info=True)
    logger.info("webhook enqueued", extra={**log, "job_ids": job_ids})
    count(svc.redis, svc.settings, "webhooks_enqueued")
    return jsonify(status="enqueued", job_ids=job_ids), 202


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report whether the queue's Redis answers."""
    try:
        services().redis.ping()
    except REDIS_DOWN:
        return jsonify(redis="unreachable"), 503
    return jsonify(redis="ok"), 200


def _skip_reason(event: JiraEvent, svc: Services) -> str | None:
    reason = svc.router.skip_reason(event.webhook_event)
    if reason is None and event.issue_type_name != svc.policy.scope_issue_type:
        reason = f"issue type {event.issue_type_name!r} is not {svc.policy.scope_issue_type!r}"
    return reason


def _queue_unavailable() -> ResponseReturnValue:
    response = jsonify(error="queue unavailable, retry")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, 503


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify(error=message), status
