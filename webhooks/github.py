"""Answer the GitHub App's deliveries: verify the signature -> parse -> route -> enqueue -> 2xx."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from githubkit import webhooks as github_webhooks

from rules.deployment import DeployFinish, DeployRequest, DeployResult, Vendor
from rules.job_names import JobName, finish_job_id, gate_job_id
from rules.standard_template import template_in
from worker.metrics import count

from . import enqueue
from .delivery import enqueue_delivery, error, ignored, read_body, refuse, too_large
from .router import JobRequest
from .views import services

logger = logging.getLogger(__name__)

bp = Blueprint("github", __name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
PROTECTION_RULE = ("deployment_protection_rule", "requested")
RUN_COMPLETED = ("workflow_run", "completed")
DEPLOYMENT_STATUS = ("deployment_status", "created")
# A deployment that started (or, reported by a tool in one step, is done): the gate must have
# let it through. Queued, pending, waiting, failure, error and inactive say nothing of that.
STARTED_STATES = ("in_progress", "success")
# The callback GitHub gives is the only place the payload names the run; GHES prefixes /api/v3.
CALLBACK_PATH = re.compile(
    r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run_id>\d+)"
    r"/deployment_protection_rule$")


class MalformedDelivery(ValueError):
    """The body is not the payload GitHub documents for its event."""


def parse_payload(body: bytes) -> dict[str, Any]:
    """Return the delivery's JSON object; raise MalformedDelivery naming what is wrong."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedDelivery(f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MalformedDelivery(f"body must be a JSON object, got {type(payload).__name__}")
    return payload


def deploy_request(payload: dict[str, Any]) -> DeployRequest:
    """Return the gate's question for a `deployment_protection_rule` `requested` delivery."""
    installation = _object(payload, "installation")
    repository = _object(payload, "repository")
    deployment = _object(payload, "deployment")  # null when GitHub made no deployment object
    missing = [name for name, value in (
        ("environment", payload.get("environment")),
        ("deployment_callback_url", payload.get("deployment_callback_url")),
        ("repository.html_url", repository.get("html_url"))) if not _text(value)]
    if not _number(installation.get("id")):
        missing.append("installation.id")
    if missing:
        raise MalformedDelivery(f"deployment_protection_rule event lacks {', '.join(missing)}")
    callback = payload["deployment_callback_url"]
    found = CALLBACK_PATH.search(urlsplit(callback).path)
    if found is None:
        raise MalformedDelivery(f"deployment_callback_url {callback!r} is not a workflow run's "
                                "/repos/{owner}/{repo}/actions/runs/{run_id}/"
                                "deployment_protection_rule URL")
    owner, repo, run_id = found["owner"], found["repo"], found["run_id"]
    environment = payload["environment"]
    ref = _text(deployment.get("ref")) or _text(payload.get("ref"))
    listed = payload.get("pull_requests")
    pulls = [p for p in (listed if isinstance(listed, list) else ()) if isinstance(p, dict)]
    titles = [_text(p.get("title")) for p in pulls]
    # A pull request may declare the Standard template its deployment follows (changeguard
    # makes the change request from it when the deployment names none).
    template = next(filter(None, (template_in(_text(p.get("body"))) for p in pulls)), None)
    return DeployRequest(
        vendor=Vendor.GITHUB,
        deployment_id=f"github:{owner}/{repo}:run:{run_id}:{environment}",
        run_id=f"github:{owner}/{repo}:run:{run_id}",
        environment=environment,
        texts=tuple(t for t in (*titles, ref.removeprefix("refs/heads/")) if t),
        sha=_text(deployment.get("sha")) or _text(payload.get("sha")),
        ref=ref,
        run_url=f"{repository['html_url'].rstrip('/')}/actions/runs/{run_id}",
        triggered_by=_text(_object(payload, "sender").get("login")),
        reply=(("installation_id", str(installation["id"])), ("owner", owner), ("repo", repo),
               ("run_id", run_id)),
        template=template,
        requested_at=_text(deployment.get("created_at")),
    )


def deploy_finish(payload: dict[str, Any]) -> DeployFinish:
    """Return how the run of a `workflow_run` `completed` delivery ended."""
    run = _object(payload, "workflow_run")
    full_name = _text(_object(payload, "repository").get("full_name"))
    missing = [name for name, ok in (("workflow_run.id", _number(run.get("id"))),
                                     ("repository.full_name", full_name.count("/") == 1))
               if not ok]
    if missing:
        raise MalformedDelivery(f"workflow_run event lacks {', '.join(missing)}")
    success = run.get("conclusion") == "success"
    return DeployFinish(
        vendor=Vendor.GITHUB, run_id=f"github:{full_name}:run:{run['id']}",
        result=DeployResult.SUCCESS if success else DeployResult.FAILURE,
        run_url=_text(run.get("html_url")), finished_at=_text(run.get("updated_at")))


def deployment_state(payload: dict[str, Any]) -> str:
    """Return the new state of a `deployment_status` `created` delivery."""
    state = _text(_object(payload, "deployment_status").get("state"))
    if not state:
        raise MalformedDelivery("deployment_status event lacks deployment_status.state")
    return state


def deploy_started(payload: dict[str, Any]) -> DeployRequest:
    """Return a deployment a `deployment_status` delivery reports started, for the check that
    the gate let it through.

    A workflow job's deployment carries its run (``workflow_run``): it is named as the
    protection rule named it, so the run the gate allowed is recognised. A deployment another
    tool made through the API has no run: it is named by its own id.
    """
    status = _object(payload, "deployment_status")
    deployment = _object(payload, "deployment")
    run = _object(payload, "workflow_run")
    full_name = _text(_object(payload, "repository").get("full_name"))
    environment = _text(status.get("environment")) or _text(deployment.get("environment"))
    missing = [name for name, ok in (
        ("deployment.id", _number(deployment.get("id"))),
        ("deployment_status.environment", bool(environment)),
        ("repository.full_name", full_name.count("/") == 1),
        ("installation.id", _number(_object(payload, "installation").get("id"))),
        ("workflow_run.id", not run or _number(run.get("id")))) if not ok]
    if missing:
        raise MalformedDelivery(f"deployment_status event lacks {', '.join(missing)}")
    owner, repo = full_name.split("/")
    ref = _text(deployment.get("ref"))
    if run:
        run_id = f"github:{full_name}:run:{run['id']}"
        deployment_id = f"{run_id}:{environment}"
        texts = (_text(run.get("display_title")), _text(deployment.get("description")),
                 _text(run.get("head_branch")) or ref.removeprefix("refs/heads/"))
        run_url = _text(run.get("html_url"))
        answer = ("run_id", str(run["id"]))
    else:
        run_id = deployment_id = f"github:{full_name}:deployment:{deployment['id']}"
        texts = (_text(deployment.get("description")), ref.removeprefix("refs/heads/"))
        run_url = _text(status.get("log_url")) or _text(status.get("target_url"))
        answer = ("deployment_id", str(deployment["id"]))
    # Who started it: the run's triggering actor, else whoever made the deployment.
    actor = (_object(run, "triggering_actor") or _object(deployment, "creator")
             or _object(payload, "sender"))
    return DeployRequest(
        vendor=Vendor.GITHUB, deployment_id=deployment_id, run_id=run_id,
        environment=environment, texts=tuple(t for t in texts if t),
        sha=_text(deployment.get("sha")), ref=ref, run_url=run_url,
        triggered_by=_text(actor.get("login")),
        reply=(("installation_id", str(payload["installation"]["id"])), ("owner", owner),
               ("repo", repo), answer),
        requested_at=_text(status.get("created_at")),
    )


@bp.post("/webhooks/github")
def github_webhook() -> ResponseReturnValue:
    """Turn one GitHub App delivery into at most one enqueued job, answering in milliseconds."""
    svc = services()
    secret = svc.settings.github_webhook_secret
    if not secret:
        return error(404, "GitHub gate not configured")
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery")
    log: dict[str, Any] = {"webhook_event": event, "event_id": delivery}
    count(svc.redis, svc.settings, "webhooks_received")
    body = read_body(svc, log)
    if body is None:
        return too_large(svc)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    # Only SHA-256 (githubkit's verify would take a sha1= digest too); compared in constant time.
    if not (signature.startswith("sha256=") and signature.isascii()
            and github_webhooks.verify(secret, body, signature)):
        return refuse(svc, log, 401, "signature", f"missing or invalid {SIGNATURE_HEADER}")
    if event == "ping":
        logger.info("webhook ping", extra=log)
        return jsonify(status="pong"), 200
    delivery = _delivery(delivery, body)
    log = {**log, "event_id": delivery}
    try:
        payload = parse_payload(body)
        route = (event, payload.get("action"))
        if route == PROTECTION_RULE:
            gate = deploy_request(payload)
            job = JobRequest(JobName.JUDGE_DEPLOYMENT,
                             gate_job_id(svc.settings.namespace, gate.deployment_id, delivery),
                             {"request": gate.to_json()})
        elif route == RUN_COMPLETED:
            finish = deploy_finish(payload)
            job = JobRequest(JobName.FINISH_DEPLOYMENT,
                             finish_job_id(svc.settings.namespace, finish.run_id, delivery),
                             {"finish": finish.to_json()})
        elif route == DEPLOYMENT_STATUS:
            state = deployment_state(payload)
            if state not in STARTED_STATES:
                return ignored(svc, log, (
                    f"deployment status {state!r}: the gate checks only a deployment that "
                    f"started ({' or '.join(STARTED_STATES)}) against what it allowed"))
            # Allowed by the gate, or never asked: the job tells which, and flags the latter.
            started = deploy_started(payload)
            job = JobRequest(JobName.FLAG_UNGATED,
                             gate_job_id(svc.settings.namespace,
                                         f"ungated:{started.deployment_id}", delivery),
                             {"request": started.to_json()})
        else:
            return ignored(svc, log, (
                f"event {event!r} action {route[1]!r}: the gate acts only on "
                "deployment_protection_rule requested, workflow_run completed and "
                "deployment_status created"))
    except MalformedDelivery as exc:
        return refuse(svc, log, 400, "malformed", str(exc))
    return enqueue_delivery(svc, log, delivery, [job])


def _delivery(delivery: str | None, body: bytes) -> str:
    """Return the delivery's id, prefixed apart from Jira's (a body digest if GitHub sent none)."""
    return enqueue.delivery_id(delivery and f"github-{delivery}", body)


def _object(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
