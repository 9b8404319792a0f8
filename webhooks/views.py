"""Answer Jira's webhook deliveries: verify -> parse -> route -> enqueue -> 2xx, and /healthz."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import redis
from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from rq import Queue

from rules.policy import Policy
from worker.metrics import count
from worker.settings import Settings

from . import enqueue
from .delivery import (REDIS_DOWN, enqueue_delivery, error, ignored, read_body, refuse,
                       too_large)
from .events import JiraEvent, MalformedEvent, parse_body
from .router import Context, Router
from .signature import verify_signature

logger = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)



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
    body = read_body(svc, log)
    if body is None:
        return too_large(svc)
    secret = svc.settings.jira_webhook_secret
    if secret and not verify_signature(secret, body, request.headers.get("X-Hub-Signature")):
        return refuse(svc, log, 401, "signature", "missing or invalid X-Hub-Signature")
    try:
        event = parse_body(body)
    except MalformedEvent as exc:
        return refuse(svc, log, 400, "malformed", str(exc))
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
            return error(500, "handler failed")
        if not jobs:
            reason = "no job for this change"
    if reason is not None:
        return ignored(svc, log, reason)
    return enqueue_delivery(svc, log, delivery, jobs)


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
    # Change requests, and the freezes declared in Jira (when the policy reads them).
    wanted = [svc.policy.scope_issue_type]
    if svc.policy.freezes.issue_type is not None:
        wanted.append(svc.policy.freezes.issue_type)
    if reason is None and event.issue_type_name not in wanted:
        reason = f"issue type {event.issue_type_name!r} is not {' or '.join(map(repr, wanted))}"
    return reason
