"""Answer Slack's button clicks on approval requests: verify -> parse -> dedupe -> enqueue -> 200."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from jobs.slack_approvals import handle_slack_action
from rules.slack_approval import SlackAction

from . import enqueue
from .router import JobRequest
from .slack_signature import SignatureCheck, check_signature
from .views import REDIS_DOWN, services

logger = logging.getLogger(__name__)

bp = Blueprint("slack_interactions", __name__)

# Slack's own window is five minutes either way; a signature seen within ten is a replay.
REPLAY_TTL = datetime.timedelta(minutes=10)
ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]*-[1-9][0-9]*")
SLACK_ID = re.compile(r"[A-Z0-9]+")
SLACK_TS = re.compile(r"[0-9]+\.[0-9]+")


class MalformedInteraction(ValueError):
    """The request is not a block_actions payload shaped as Slack sends it."""


@dataclasses.dataclass(frozen=True)
class ButtonClick:
    """One click on an approval request's button."""

    issue_key: str
    action: SlackAction
    slack_user_id: str
    message_ts: str
    action_ts: str


def parse_interaction(body: bytes) -> ButtonClick | None:
    """Return the click in a form-encoded ``payload``; None for interactions that are not ours."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise MalformedInteraction("expected a form field 'payload' holding JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedInteraction("payload is not a JSON object")
    if payload.get("type") != "block_actions":
        return None
    try:
        action = payload["actions"][0]
        click = {"user": payload["user"]["id"], "action_id": action["action_id"],
                 "value": action["value"], "message_ts": payload["container"]["message_ts"],
                 "action_ts": action["action_ts"]}
    except (KeyError, IndexError, TypeError) as exc:
        raise MalformedInteraction(f"block_actions payload lacks {exc}") from exc
    if click["action_id"] not in {a.value for a in SlackAction}:
        return None
    for name, pattern in (("value", ISSUE_KEY), ("user", SLACK_ID), ("message_ts", SLACK_TS),
                          ("action_ts", SLACK_TS)):
        if not isinstance(click[name], str) or not pattern.fullmatch(click[name]):
            raise MalformedInteraction(f"{name} {click[name]!r} is not what Slack sends")
    return ButtonClick(click["value"], SlackAction(click["action_id"]), click["user"],
                       click["message_ts"], click["action_ts"])


def job_for(click: ButtonClick, namespace: str) -> JobRequest:
    """Return the job that handles ``click``, with an id that is the same for the same click."""
    stamp = click.action_ts.replace(".", "_")
    return JobRequest(
        func=handle_slack_action,
        job_id=f"{namespace}-slack-{click.issue_key}-{click.action.value}-"
               f"{click.slack_user_id}-{stamp}",
        kwargs={"issue_key": click.issue_key, "action": click.action.value,
                "slack_user_id": click.slack_user_id, "response_ts": click.message_ts,
                "action_ts": click.action_ts},
    )


@bp.post("/slack/interactions")
def slack_interactions() -> ResponseReturnValue:
    """Turn one click on an approval request into one enqueued job, well within Slack's 3 s."""
    svc = services()
    secret = svc.settings.slack_signing_secret
    if not secret:
        return _error(404, "Slack interactions are not configured")
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        body = None
    if body is None or len(body) > svc.settings.max_webhook_bytes:
        return _error(413, f"body exceeds {svc.settings.max_webhook_bytes} bytes")
    signature = request.headers.get("X-Slack-Signature")
    check = check_signature(secret, body, request.headers.get("X-Slack-Request-Timestamp"),
                            signature, now=time.time())
    if check is not SignatureCheck.VALID:
        logger.warning("slack interaction rejected", extra={"reason": check.value})
        return _error(401, f"signature {check.value}")
    try:
        click = parse_interaction(body)
    except MalformedInteraction as exc:
        logger.warning("slack interaction malformed", extra={"reason": str(exc)})
        return _error(400, str(exc))
    if click is None:
        logger.info("slack interaction ignored")
        return "", 200
    log: dict[str, Any] = {"issue_key": click.issue_key, "slack_user": click.slack_user_id,
                           "action": click.action.value}
    replay_key = svc.settings.key("slack-signature",
                                  hashlib.sha256(signature.encode()).hexdigest())
    job = job_for(click, svc.settings.namespace)
    try:
        # A replayed request gets 200 and no action: Slack shows no error, the replayer gets nothing.
        if not svc.redis.set(replay_key, b"1", nx=True, ex=REPLAY_TTL):
            logger.info("slack interaction replayed", extra=log)
            return "", 200
    except REDIS_DOWN:
        logger.error("slack interaction queue unavailable", extra=log, exc_info=True)
        return _error(503, "queue unavailable, retry")
    try:
        enqueue.enqueue_jobs(svc.queue, [job])
    except REDIS_DOWN:
        _forget(svc, replay_key, log)
        logger.error("slack interaction queue unavailable", extra=log, exc_info=True)
        return _error(503, "queue unavailable, retry")
    logger.info("slack interaction enqueued", extra={**log, "job_id": job.job_id})
    return "", 200


def _forget(svc: Any, replay_key: str, log: dict[str, Any]) -> None:
    try:
        svc.redis.delete(replay_key)
    except REDIS_DOWN:
        logger.error("slack signature not released", extra=log, exc_info=True)


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify(error=message), status
