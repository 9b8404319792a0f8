"""Answer any pipeline at the generic deployment gate: POST /api/gate and /api/gate/finished."""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import redis
from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from jobs.enqueue import enqueue_once
from rules.deployment import DeployFinish, DeployRequest, DeployResult, Vendor
from rules.job_names import JobName, finish_job_id, gate_job_id
from worker.settings import hash_gate_token

from .views import REDIS_DOWN, services

logger = logging.getLogger(__name__)

bp = Blueprint("gate_api", __name__)

# How long /api/gate waits for the worker's decision; app.config[WAIT_CONFIG] overrides it.
GATE_ANSWER_SECONDS = 8
WAIT_CONFIG = "GATE_ANSWER_SECONDS"
# The endpoint's Redis client times a read out after 2 s (webhooks/enqueue.py connect): wait in
# shorter blocking pops, or a long one would read as Redis being down.
BLPOP_SLICE_SECONDS = 1.0
RETRY_AFTER_SECONDS = 5

NOT_CONFIGURED = "the generic deployment gate is not configured: set CHANGEGUARD_GATE_TOKENS"
BAD_TOKEN = ("missing or unknown bearer token: send this pipeline's token as "
             "'Authorization: Bearer <token>'; CHANGEGUARD_GATE_TOKENS must hold its SHA-256 "
             "(`changeguard gate-token NAME` makes a token and its entry)")
QUEUE_UNAVAILABLE = "changeguard's queue (Redis) is unavailable; ask again"
NO_IDENTITY = ("name the deployment: give deployment_id, run_url, or sha and environment "
               "(the same ones on /api/gate and /api/gate/finished)")
OPTIONAL_STRINGS = ("change", "sha", "ref", "run_url", "deployment_id", "triggered_by",
                    "triggered_by_email", "template")
JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
              int: "a number", float: "a number", type(None): "null"}


def no_answer_message(seconds: float) -> str:
    """Return the 503 text for a decision the worker did not give in ``seconds``."""
    return f"changeguard's worker did not answer in {seconds:g} s; ask again"


class BadGateRequest(ValueError):
    """A body the gate cannot act on; the message names the field and what is expected."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@bp.post("/api/gate")
def ask_gate() -> ResponseReturnValue:
    """Enqueue the judgement of one deployment and answer with the worker's decision."""
    svc = services()
    pipeline, refusal = _authenticate()
    if refusal is not None:
        return refusal
    try:
        body = _read_body(svc.settings.max_webhook_bytes)
        environment = _environment(body)
        strings = {name: _optional_string(body, name) for name in OPTIONAL_STRINGS}
        texts = _texts(body)
        identity = _identity(strings, environment)
    except BadGateRequest as exc:
        return _refuse(exc)
    # One run may deploy to several environments (staging, then production; regions): each is
    # a deployment of its own, and the run's finish ends them all.
    run_id = f"generic:{pipeline}:{identity}"
    deployment_id = run_id if identity.endswith(f":{environment}") else f"{run_id}:{environment}"
    answer_key = uuid.uuid4().hex
    deploy = DeployRequest(
        vendor=Vendor.GENERIC, deployment_id=deployment_id, run_id=run_id,
        environment=environment, explicit_key=strings["change"] or None, texts=texts,
        sha=strings["sha"], ref=strings["ref"], run_url=strings["run_url"],
        triggered_by=strings["triggered_by"],
        triggered_by_email=strings["triggered_by_email"] or None,
        template=strings["template"] or None, reply=(("answer_key", answer_key),),
        requested_at=_now())
    job_id = gate_job_id(svc.settings.namespace, deployment_id, answer_key)
    log = {"pipeline": pipeline, "deployment_id": deployment_id, "job_id": job_id}
    waited = current_app.config.get(WAIT_CONFIG, GATE_ANSWER_SECONDS)
    try:
        enqueue_once(svc.queue, JobName.JUDGE_DEPLOYMENT, job_id, {"request": deploy.to_json()})
        raw = _await_answer(svc.redis, svc.settings.key("gate-answer", answer_key), waited)
    except REDIS_DOWN:
        logger.error("gate queue unavailable", extra=log, exc_info=True)
        return _unavailable(QUEUE_UNAVAILABLE)
    if raw is None:
        logger.warning("gate answer late", extra=log)
        return _unavailable(no_answer_message(waited))
    answer = json.loads(raw)
    logger.info("gate answered", extra={**log, "decision": answer.get("decision")})
    response = Response(raw, 200, mimetype="application/json")
    if answer.get("retry_after") is not None:
        response.headers["Retry-After"] = str(answer["retry_after"])
    return response


@bp.post("/api/gate/finished")
def gate_finished() -> ResponseReturnValue:
    """Enqueue the record of how one gated deployment ended."""
    svc = services()
    pipeline, refusal = _authenticate()
    if refusal is not None:
        return refusal
    try:
        body = _read_body(svc.settings.max_webhook_bytes)
        strings = {name: _optional_string(body, name)
                   for name in ("deployment_id", "run_url", "sha", "environment", "change")}
        outcome = body.get("outcome")
        # A list, not a set: an unhashable outcome (an array, an object) is refused, not a crash.
        if outcome not in [result.value for result in DeployResult]:
            raise BadGateRequest("outcome: required, one of "
                                 + ", ".join(result.value for result in DeployResult))
        last = body.get("last", True)
        if not isinstance(last, bool):
            raise BadGateRequest("last: expected true (the change's last deployment: it is "
                                 f"then Implemented) or false, got {_json_type(last)}")
        run_id = f"generic:{pipeline}:{_identity(strings, strings['environment'])}"
    except BadGateRequest as exc:
        return _refuse(exc)
    finish = DeployFinish(vendor=Vendor.GENERIC, run_id=run_id, result=DeployResult(outcome),
                          is_last=last, run_url=strings["run_url"],
                          explicit_key=strings["change"] or None, finished_at=_now(),
                          environment=strings["environment"])
    job_id = finish_job_id(svc.settings.namespace, run_id, uuid.uuid4().hex)
    log = {"pipeline": pipeline, "run_id": run_id, "job_id": job_id}
    try:
        enqueue_once(svc.queue, JobName.FINISH_DEPLOYMENT, job_id, {"finish": finish.to_json()})
    except REDIS_DOWN:
        logger.error("gate queue unavailable", extra=log, exc_info=True)
        return _unavailable(QUEUE_UNAVAILABLE)
    logger.info("gate finish enqueued", extra={**log, "outcome": outcome})
    return jsonify(status="recorded"), 202


def pipeline_for(authorization: str | None, tokens: tuple[tuple[str, str], ...]) -> str | None:
    """Return the name of the pipeline whose token ``authorization`` bears, or None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    digest = hash_gate_token(token).encode()
    found = None
    for name, expected in tokens:
        # Every entry is compared, matched or not: the time taken tells nothing about which.
        if hmac.compare_digest(digest, expected.encode()):
            found = name
    return found


def _authenticate() -> tuple[str, None] | tuple[None, ResponseReturnValue]:
    tokens = services().settings.gate_tokens
    if not tokens:
        return None, (jsonify(error=NOT_CONFIGURED), 404)
    pipeline = pipeline_for(request.headers.get("Authorization"), tokens)
    if pipeline is None:
        logger.warning("gate token refused", extra={"path": request.path})
        response = jsonify(error=BAD_TOKEN)
        response.headers["WWW-Authenticate"] = 'Bearer realm="changeguard"'
        return None, (response, 401)
    return pipeline, None


def _read_body(limit: int) -> dict[str, Any]:
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raw = None
    if raw is None or len(raw) > limit:
        raise BadGateRequest(f"the body exceeds {limit} bytes", 413)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise BadGateRequest("the body is not JSON: send a JSON object such as "
                             '{"environment": "production", "change": "CHG-123", "sha": "…"}'
                             ) from None
    if not isinstance(body, dict):
        raise BadGateRequest(f"the body is {_json_type(body)}: send a JSON object")
    return body


def _environment(body: Mapping[str, Any]) -> str:
    value = body.get("environment")
    if not isinstance(value, str) or not value.strip():
        raise BadGateRequest('environment: required, a non-empty string naming the environment '
                             'deployed to, e.g. "production"')
    return value.strip()


def _optional_string(body: Mapping[str, Any], name: str) -> str:
    """Return the string field ``name``; absent and null read as ""."""
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadGateRequest(f"{name}: expected a string, got {_json_type(value)}")
    return value.strip()


def _texts(body: Mapping[str, Any]) -> tuple[str, ...]:
    value = body.get("texts")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(text, str) for text in value):
        raise BadGateRequest("texts: expected an array of strings (pull request titles, the "
                             "branch name, the commit message: where a change key may stand)")
    return tuple(value)


def _identity(strings: Mapping[str, str], environment: str) -> str:
    """Name one deployment the same way on every poll and on its finish."""
    if strings["deployment_id"]:
        return strings["deployment_id"]
    if strings["run_url"]:
        return strings["run_url"]
    if strings["sha"] and environment:
        return f"{strings['sha']}:{environment}"
    raise BadGateRequest(NO_IDENTITY)


def _await_answer(connection: redis.Redis, key: str, seconds: float) -> bytes | None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        popped = connection.blpop([key], timeout=min(left, BLPOP_SLICE_SECONDS))
        if popped is not None:
            return popped[1]
    return None


def _refuse(exc: BadGateRequest) -> ResponseReturnValue:
    logger.warning("gate request refused", extra={"path": request.path, "reason": str(exc)})
    return jsonify(error=str(exc)), exc.status


def _unavailable(message: str) -> ResponseReturnValue:
    response = jsonify(error=message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, 503


def _json_type(value: Any) -> str:
    return JSON_TYPES[type(value)]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
