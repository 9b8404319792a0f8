"""Answer GitLab's Pipeline, Deployment and Job Hooks: verify the token -> parse -> route ->
enqueue."""

from __future__ import annotations

import datetime
import hmac
import json
import logging
import re
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from jobs.gitlab_sweep import remember_project
from rules.deployment import DeployFinish, DeployRequest, DeployResult, Vendor
from rules.job_names import JobName, finish_job_id, gate_job_id
from worker.metrics import count

from . import enqueue
from .delivery import (REDIS_DOWN, enqueue_delivery, error, ignored, read_body, refuse,
                       too_large)
from .router import JobRequest
from .views import services

logger = logging.getLogger(__name__)

bp = Blueprint("gitlab", __name__)

DEPLOYMENT_HOOK = "Deployment Hook"
JOB_HOOK = "Job Hook"
PIPELINE_HOOK = "Pipeline Hook"
FINISHED = {"success": DeployResult.SUCCESS, "failed": DeployResult.FAILURE,
            "canceled": DeployResult.FAILURE}
FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# GitLab shows this instead of the address of someone with no public email.
REDACTED = "[REDACTED]"


class MalformedHook(ValueError):
    """The body is not a Pipeline, Deployment or Job Hook as GitLab documents it."""


# X-Gitlab-Event -> (object_kind, the event's name in messages, its text and integer fields)
SHAPES = {
    PIPELINE_HOOK: ("pipeline", "pipeline event", ("object_attributes.status",),
                    ("object_attributes.id", "project.id")),
    DEPLOYMENT_HOOK: ("deployment", "deployment event", ("status", "environment"),
                      ("deployment_id", "project.id")),
    JOB_HOOK: ("build", "job event", ("build_status",), ("build_id", "project_id")),
}


def parse_hook(event: str, body: bytes) -> dict[str, Any]:
    """Return the hook's fields the gate uses; raise MalformedHook naming what is wrong."""
    kind, name, texts, ids = SHAPES[event]
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedHook("body is not JSON") from exc
    if not isinstance(payload, dict) or payload.get("object_kind") != kind:
        raise MalformedHook(f"not a {name}: object_kind is not {kind!r}")
    missing = [field for field in texts
               if not (isinstance(value := _field(payload, field), str) and value)]
    missing += [field for field in ids if not _is_id(_field(payload, field))]
    if missing:
        raise MalformedHook(f"{name} lacks {', '.join(missing)}")
    return payload


def job_request(payload: dict[str, Any]) -> DeployRequest | None:
    """Return the gate's question for a job waiting as ``manual`` to deploy to an environment.

    None when the job is not one: another status, no environment, or one it stops or only
    prepares. Whether its deployment is blocked (waits for approval) is for the job to ask.
    """
    environment = _object(payload, "environment")
    name = _text(environment.get("name"))
    if payload["build_status"] != "manual" or not name \
            or environment.get("action", "start") not in ("start", None):
        return None
    user = _object(payload, "user")
    commit = _object(payload, "commit")
    run_id = _job_run_id(payload["project_id"], payload["build_id"])
    web_url = _text(_object(payload, "project").get("web_url"))
    message = _text(commit.get("message")).strip() or _text(commit.get("title"))
    return DeployRequest(
        vendor=Vendor.GITLAB, deployment_id=run_id, run_id=run_id, environment=name,
        texts=tuple(t for t in (message, _text(payload.get("ref"))) if t),
        sha=_text(payload.get("sha")) or _text(commit.get("sha")),
        ref=_text(payload.get("ref")),
        run_url=f"{web_url}/-/jobs/{payload['build_id']}" if web_url else "",
        triggered_by=_text(user.get("username")) or _text(user.get("name")),
        triggered_by_email=_email(user),
        reply=(("job_id", str(payload["build_id"])),
               ("project_id", str(payload["project_id"]))),
        requested_at=next(filter(None, (_iso(payload.get(f)) for f in (
            "build_started_at_iso", "build_started_at", "build_created_at_iso",
            "build_created_at"))), ""),
    )


def pipeline_requests(payload: dict[str, Any]) -> list[DeployRequest]:
    """Return the gate's questions for a pipeline waiting as ``manual``: one per job of it
    waiting as ``manual`` to deploy to an environment (several environments: several).

    GitLab sends no hook when a deployment becomes blocked, but its pipeline turns ``manual``
    once nothing else in it runs, and that sends this hook. The questions name the jobs as a
    Job Hook would (same ids): whether a job's deployment is blocked is for the job to ask.
    """
    attributes = payload["object_attributes"]
    project_id = payload["project"]["id"]
    web_url = _text(payload["project"].get("web_url"))
    commit = _object(payload, "commit")
    message = _text(commit.get("message")).strip() or _text(commit.get("title"))
    ref = _text(attributes.get("ref"))
    texts = tuple(t for t in (_text(_object(payload, "merge_request").get("title")), message,
                              ref) if t)
    asked = []
    for build in payload.get("builds") or []:
        build = build if isinstance(build, dict) else {}
        environment = _object(build, "environment")
        name = _text(environment.get("name"))
        job_id = build.get("id")
        if build.get("status") != "manual" or not name or not _is_id(job_id) \
                or environment.get("action", "start") not in ("start", None):
            continue
        user = _object(build, "user") or _object(payload, "user")
        run_id = _job_run_id(project_id, job_id)
        asked.append(DeployRequest(
            vendor=Vendor.GITLAB, deployment_id=run_id, run_id=run_id, environment=name,
            texts=texts, sha=_text(attributes.get("sha")) or _text(commit.get("id")), ref=ref,
            run_url=f"{web_url}/-/jobs/{job_id}" if web_url else "",
            triggered_by=_text(user.get("username")) or _text(user.get("name")),
            triggered_by_email=_email(user),
            reply=(("job_id", str(job_id)), ("project_id", str(project_id))),
            requested_at=next(filter(None, (_iso(build.get(f)) for f in (
                "started_at", "created_at"))), ""),
        ))
    return asked


def deploy_request(payload: dict[str, Any]) -> DeployRequest:
    """Return the gate's question for a deployment: a blocked one (a forged hook: GitLab sends
    none), or one that started (for the check that the gate let it through)."""
    user = _object(payload, "user")
    run_id = _run_id(payload)
    return DeployRequest(
        vendor=Vendor.GITLAB, deployment_id=run_id, run_id=run_id,
        environment=payload["environment"],
        texts=tuple(t for t in (_text(payload.get("commit_title")), _text(payload.get("ref")))
                    if t),
        sha=_sha(payload), ref=_text(payload.get("ref")),
        run_url=_text(payload.get("deployable_url")),
        triggered_by=_text(user.get("username")) or _text(user.get("name")),
        triggered_by_email=_email(user),
        reply=(("deployment_id", str(payload["deployment_id"])),
               *((("job_id", str(payload["deployable_id"])),) if _job_of(payload) else ()),
               ("project_id", str(payload["project"]["id"]))),
        requested_at=_iso(payload.get("status_changed_at")),
    )


def deploy_finish(payload: dict[str, Any]) -> DeployFinish:
    """Return how the deployment's run ended."""
    return DeployFinish(vendor=Vendor.GITLAB, run_id=_run_id(payload),
                        result=FINISHED[payload["status"]],
                        run_url=_text(payload.get("deployable_url")),
                        finished_at=_iso(payload.get("status_changed_at")))


@bp.post("/webhooks/gitlab")
def gitlab_webhook() -> ResponseReturnValue:
    """Turn one Pipeline, Deployment or Job Hook into the jobs it asks for, in milliseconds."""
    svc = services()
    secret = svc.settings.gitlab_webhook_secret
    if not secret:
        return error(404, "GitLab gate not configured")
    key = request.headers.get("Idempotency-Key")
    log: dict[str, Any] = {"webhook_event": request.headers.get("X-Gitlab-Event"),
                           "event_id": key}
    count(svc.redis, svc.settings, "webhooks_received")
    body = read_body(svc, log)
    if body is None:
        return too_large(svc)
    # GitLab sends the secret itself (no signature): compare it in constant time.
    token = request.headers.get("X-Gitlab-Token", "")
    if not hmac.compare_digest(token.encode(), secret.encode()):
        return refuse(svc, log, 401, "signature", "missing or invalid X-Gitlab-Token")
    event = log["webhook_event"]
    if event not in SHAPES:
        return ignored(svc, log, f"{event or 'no'} event: only {PIPELINE_HOOK}s, "
                                  f"{DEPLOYMENT_HOOK}s and {JOB_HOOK}s concern the gate")
    try:
        payload = parse_hook(event, body)
    except MalformedHook as exc:
        return refuse(svc, log, 400, "malformed", str(exc))
    try:
        # The reconciliation sweep lists the held deployments of the projects heard from.
        remember_project(svc, _field(payload, SHAPES[event][3][1]))
    except REDIS_DOWN:
        # Only the sweep's reach is lost, until the project's next hook (a hook to enqueue
        # gets its 503 below, and GitLab's retry comes back).
        logger.warning("gitlab project not remembered", extra=log, exc_info=True)
    # GitLab keeps the Idempotency-Key across retries (17.4+); older ones resend the same body.
    delivery = enqueue.delivery_id(key and f"gitlab-{key}", body)
    ns = svc.settings.namespace
    if event == PIPELINE_HOOK:
        return _pipeline_hook(svc, log, delivery, payload)
    if event == JOB_HOOK:
        log = {**log, "event_id": delivery, "job_id": payload["build_id"]}
        gate = job_request(payload)
        if gate is None:
            return ignored(svc, log, f"job status {payload['build_status']!r}: only a manual "
                                      "job deploying to an environment may wait for approval")
        job = JobRequest(JobName.JUDGE_DEPLOYMENT, gate_job_id(ns, gate.deployment_id, delivery),
                         {"request": gate.to_json()})
        return enqueue_delivery(svc, log, delivery, [job])

    log = {**log, "event_id": delivery, "deployment_id": payload["deployment_id"]}
    status = payload["status"]
    if status == "blocked":
        gate = deploy_request(payload)
        job = JobRequest(JobName.JUDGE_DEPLOYMENT, gate_job_id(ns, gate.deployment_id, delivery),
                         {"request": gate.to_json()})
    elif status == "running":
        # Allowed by the gate, or never asked: the job tells which, and flags the latter.
        started = deploy_request(payload)
        job = JobRequest(JobName.FLAG_UNGATED,
                         gate_job_id(ns, f"ungated:{started.deployment_id}", delivery),
                         {"request": started.to_json()})
    elif status in FINISHED:
        finish = deploy_finish(payload)
        job = JobRequest(JobName.FINISH_DEPLOYMENT, finish_job_id(ns, finish.run_id, delivery),
                         {"finish": finish.to_json()})
    else:
        return ignored(svc, log, f"deployment status {status!r} is not one the gate acts on")
    return enqueue_delivery(svc, log, delivery, [job])


def _pipeline_hook(svc: Any, log: dict[str, Any], delivery: str,
                   payload: dict[str, Any]) -> ResponseReturnValue:
    """Enqueue one judgement per deploy job of a pipeline waiting as ``manual``."""
    attributes = payload["object_attributes"]
    log = {**log, "event_id": delivery, "pipeline_id": attributes["id"]}
    status = attributes["status"]
    if status != "manual":
        return ignored(svc, log, f"pipeline status {status!r}: only a pipeline waiting as "
                                 "manual may hold a deployment waiting for approval")
    gates = pipeline_requests(payload)
    if not gates:
        return ignored(svc, log, "pipeline waits as manual, but none of its manual jobs "
                                 "deploys to an environment")
    ns = svc.settings.namespace
    return enqueue_delivery(svc, log, delivery, [
        JobRequest(JobName.JUDGE_DEPLOYMENT, gate_job_id(ns, gate.deployment_id, delivery),
                   {"request": gate.to_json()}) for gate in gates])


def _run_id(payload: dict[str, Any]) -> str:
    """Return the run of a deployment: its job's (as a Job Hook names it), else its own."""
    project_id = payload["project"]["id"]
    if _job_of(payload):
        return _job_run_id(project_id, payload["deployable_id"])
    # Deployments made through the API or by trigger jobs have no job.
    return f"gitlab:{project_id}:deployment:{payload['deployment_id']}"


def _job_run_id(project_id: int, job_id: int) -> str:
    return f"gitlab:{project_id}:job:{job_id}"


def _job_of(payload: dict[str, Any]) -> bool:
    return _is_id(payload.get("deployable_id"))


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(payload: dict[str, Any], dotted: str) -> Any:
    head, _, tail = dotted.partition(".")
    return _object(payload, head).get(tail) if tail else payload.get(head)


def _object(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


def _email(user: dict[str, Any]) -> str | None:
    email = _text(user.get("email"))
    return email if email and email != REDACTED else None


def _sha(payload: dict[str, Any]) -> str:
    """Return the full commit SHA (the end of commit_url), else the short one."""
    short = _text(payload.get("short_sha"))
    tail = _text(payload.get("commit_url")).rsplit("/", 1)[-1]
    if FULL_SHA.fullmatch(tail) and tail.startswith(short):
        return tail
    return _text(payload.get("sha")) or short


def _iso(value: Any) -> str:
    """Return GitLab's "2021-04-28 21:50:00 +0200" or "... UTC" as ISO 8601 (ISO 8601 and
    other text as it came)."""
    text = _text(value)
    for layout in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %Z"):
        try:
            parsed = datetime.datetime.strptime(text, layout)
        except ValueError:
            continue
        return parsed.replace(tzinfo=parsed.tzinfo or datetime.UTC).isoformat()
    return text


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
