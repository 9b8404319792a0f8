"""Build and send the sandbox GitLab's Deployment, Job and Pipeline Hooks as GitLab does."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import requests

from .gitlab_contract import HOOK_STATUSES, JOB_HOOK_STATUSES, PIPELINE_HOOK_STATUSES

GITLAB_VERSION = "17.11.0-ee"  # what X-Gitlab-Instance's user agent claims; any 17.4+ would do
DELIVERY_TIMEOUT = 10  # GitLab's own webhook timeout is 10 s by default


@dataclasses.dataclass(frozen=True)
class GitLabDelivery:
    """One hook POST the sandbox sent, and how the receiver answered."""

    url: str
    headers: dict[str, str]
    body: bytes
    status_code: int
    response: dict[str, Any] | None

    @property
    def json(self) -> dict[str, Any]:
        """Return the body sent, parsed."""
        return json.loads(self.body)

    @property
    def idempotency_key(self) -> str:
        """Return the key GitLab keeps for every retry of this event."""
        return self.headers["Idempotency-Key"]


def hook_body(site: str, project: Any, deployment: Any, status: str,
              changed_at: str) -> dict[str, Any]:
    """Return the Deployment Hook body for ``deployment`` in ``status``, as GitLab documents it."""
    web_url = f"{site}/{project.path_with_namespace}"
    user = deployment.user
    return {
        "object_kind": "deployment",
        "status": status,
        "status_changed_at": changed_at,
        "deployment_id": deployment.id,
        "deployable_id": deployment.job_id,
        "deployable_url": f"{web_url}/-/jobs/{deployment.job_id}",
        "environment": deployment.environment,
        "environment_tier": deployment.environment_tier,
        "environment_slug": slug(deployment.environment),
        "environment_external_url": deployment.external_url,
        "project": {
            "id": project.id, "name": project.name, "description": "", "web_url": web_url,
            "avatar_url": None, "git_ssh_url": f"git@sandbox:{project.path_with_namespace}.git",
            "git_http_url": f"{web_url}.git", "namespace": project.namespace,
            "visibility_level": 0, "path_with_namespace": project.path_with_namespace,
            "default_branch": project.default_branch, "ci_config_path": "",
            "homepage": web_url, "url": f"git@sandbox:{project.path_with_namespace}.git",
            "ssh_url": f"git@sandbox:{project.path_with_namespace}.git",
            "http_url": f"{web_url}.git",
        },
        "short_sha": deployment.sha[:8],
        "user": {"id": user.id, "name": user.name, "username": user.username,
                 "avatar_url": f"{site}/uploads/{user.username}.png",
                 # GitLab shows [REDACTED] for people with no public email.
                 "email": user.email or "[REDACTED]"},
        "user_url": f"{site}/{user.username}",
        "commit_url": f"{web_url}/-/commit/{deployment.sha}",
        "commit_title": deployment.commit_title,
    }


def job_hook_body(site: str, project: Any, deployment: Any, status: str,
                  created_at: str, pipeline_id: int) -> dict[str, Any]:
    """Return the Job Hook body of the deployment's job in ``status``, as GitLab documents it."""
    web_url = f"{site}/{project.path_with_namespace}"
    user = deployment.user
    started = None if status in ("created", "pending", "manual") else created_at
    return {
        "object_kind": "build", "ref": deployment.ref, "tag": False,
        "before_sha": "0" * 40, "sha": deployment.sha,
        "build_id": deployment.job_id, "build_name": "deploy", "build_stage": "deploy",
        "build_status": status,
        "build_created_at": created_at, "build_created_at_iso": created_at,
        "build_started_at": started, "build_started_at_iso": started,
        "build_finished_at": None, "build_finished_at_iso": None,
        "build_duration": None, "build_queued_duration": None,
        "build_allow_failure": False, "build_failure_reason": "unknown_failure",
        "retries_count": 0, "pipeline_id": pipeline_id,
        "project_id": project.id, "project_name": project.path_with_namespace,
        "user": {"id": user.id, "name": user.name, "username": user.username,
                 "avatar_url": f"{site}/uploads/{user.username}.png",
                 "email": user.email or "[REDACTED]"},
        "commit": {"id": pipeline_id, "name": None, "sha": deployment.sha,
                   # The commit's whole message; the deployment keeps its title only.
                   "message": f"{deployment.commit_title}\n", "author_name": user.name,
                   "author_email": user.email or "[REDACTED]", "status": "running",
                   "duration": None, "started_at": created_at, "started_at_iso": created_at,
                   "finished_at": None, "finished_at_iso": None},
        "repository": {"name": project.name, "description": "", "homepage": web_url,
                       "git_ssh_url": f"git@sandbox:{project.path_with_namespace}.git",
                       "git_http_url": f"{web_url}.git", "visibility_level": 0},
        "project": {
            "id": project.id, "name": project.name, "description": "", "web_url": web_url,
            "avatar_url": None, "git_ssh_url": f"git@sandbox:{project.path_with_namespace}.git",
            "git_http_url": f"{web_url}.git", "namespace": project.namespace,
            "visibility_level": 0, "path_with_namespace": project.path_with_namespace,
            "default_branch": project.default_branch,
        },
        "runner": None,
        "environment": {"name": deployment.environment, "action": "start",
                        "deployment_tier": deployment.environment_tier},
    }


def pipeline_hook_body(site: str, project: Any, pipeline_id: int, deployments: Sequence[Any],
                       status: str, created_at: str) -> dict[str, Any]:
    """Return the Pipeline Hook body of a pipeline: a build job that passed, then one deploy
    job per deployment (as GitLab's data builder lists the latest jobs), in ``status``."""
    web_url = f"{site}/{project.path_with_namespace}"
    first = deployments[0]
    user = _hook_user(site, first.user)
    builds = [_build(9000 + pipeline_id, "build", "build", "success", created_at, user,
                     None)]
    builds += [_build(d.job_id, "deploy", f"deploy {d.environment}",
                      job_status(d.status), created_at, _hook_user(site, d.user),
                      {"name": d.environment, "action": "start",
                       "deployment_tier": d.environment_tier}) for d in deployments]
    finished = created_at if status in ("success", "failed", "canceled", "skipped") else None
    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": pipeline_id, "iid": pipeline_id - 4000, "name": None, "ref": first.ref,
            "tag": False, "sha": first.sha, "before_sha": "0" * 40, "source": "push",
            "status": status, "detailed_status": DETAILED.get(status, status),
            "stages": ["build", "deploy"], "created_at": created_at, "finished_at": finished,
            "duration": None, "queued_duration": None, "protected_ref": True,
            "variables": [], "url": f"{web_url}/-/pipelines/{pipeline_id}",
        },
        "merge_request": None,
        "user": user,
        "project": {
            "id": project.id, "name": project.name, "description": "", "web_url": web_url,
            "avatar_url": None, "git_ssh_url": f"git@sandbox:{project.path_with_namespace}.git",
            "git_http_url": f"{web_url}.git", "namespace": project.namespace,
            "visibility_level": 0, "path_with_namespace": project.path_with_namespace,
            "default_branch": project.default_branch, "ci_config_path": "",
        },
        "commit": {"id": first.sha, "message": f"{first.commit_title}\n",
                   "title": first.commit_title, "timestamp": created_at,
                   "url": f"{web_url}/-/commit/{first.sha}",
                   "author": {"name": first.user.name,
                              "email": first.user.email or "[REDACTED]"}},
        "builds": builds,
    }


# Gitlab::Ci::Status::*#label of a pipeline in a status (what detailed_status shows).
DETAILED = {"manual": "blocked", "success": "passed", "running": "running",
            "failed": "failed", "canceled": "canceled"}


def pipeline_status(job_statuses: Iterable[str]) -> str:
    """Return the pipeline's status from its jobs' (Gitlab::Ci::Status::Composite, for jobs
    not allowed to fail; no job here is)."""
    found = set(job_statuses)
    for only, status in (({"skipped"}, "skipped"), ({"success", "skipped"}, "success"),
                         ({"created"}, "created"),
                         ({"canceled", "success", "skipped"}, "canceled"),
                         ({"pending", "created", "skipped"}, "pending")):
        if found <= only:
            return status
    for any_of, status in (({"running", "pending"}, "running"), ({"manual"}, "manual"),
                           ({"created"}, "running")):
        if found & any_of:
            return status
    return "failed"


def job_status(deployment_status: str) -> str:
    """Return the status of a deployment's job: a blocked deployment's job waits as manual."""
    return {"blocked": "manual"}.get(deployment_status, deployment_status)


def _build(job_id: int, stage: str, name: str, status: str, created_at: str,
           user: dict[str, Any], environment: dict[str, Any] | None) -> dict[str, Any]:
    ran = status in ("running", "success", "failed", "canceled")
    return {"id": job_id, "stage": stage, "name": name, "status": status,
            "created_at": created_at, "started_at": created_at if ran else None,
            "finished_at": created_at if ran and status != "running" else None,
            "duration": None, "queued_duration": None,
            "failure_reason": "unknown_failure" if status == "failed" else None,
            "when": "manual" if status == "manual" else "on_success",
            "manual": status == "manual", "allow_failure": False, "user": user,
            "runner": None, "artifacts_file": {"filename": None, "size": None},
            "environment": environment}


def _hook_user(site: str, user: Any) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "username": user.username,
            "avatar_url": f"{site}/uploads/{user.username}.png",
            "email": user.email or "[REDACTED]"}


# object_kind -> (X-Gitlab-Event, where its status stands, the statuses GitLab sends it with)
EVENTS = {"deployment": ("Deployment Hook", ("status",), HOOK_STATUSES),
          "build": ("Job Hook", ("build_status",), JOB_HOOK_STATUSES),
          "pipeline": ("Pipeline Hook", ("object_attributes", "status"),
                       PIPELINE_HOOK_STATUSES)}


def send(url: str, body: dict[str, Any], *, token: str | None, site: str,
         idempotency_key: str | None = None, status_check: bool = True) -> GitLabDelivery:
    """POST one hook (its event from object_kind) with GitLab's headers; a repeat keeps its
    Idempotency-Key."""
    event, path, statuses = EVENTS[body["object_kind"]]
    status: Any = body
    for part in path:
        status = status[part]
    field = ".".join(path)
    if status_check and status not in statuses:
        raise ValueError(f"GitLab never sends a {event} with {field} {status!r} "
                         f"(only {', '.join(statuses)}); pass status_check=False to "
                         "forge one")
    raw = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"GitLab/{GITLAB_VERSION}",
        "X-Gitlab-Event": event,
        "X-Gitlab-Instance": site,
        "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),  # new for every request
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),  # recursion detection: one per triggering job
        "Idempotency-Key": idempotency_key or str(uuid.uuid4()),  # the same on every retry
    }
    if token is not None:
        headers["X-Gitlab-Token"] = token
    answer = requests.post(url, data=raw, headers=headers, timeout=DELIVERY_TIMEOUT)
    try:
        parsed = answer.json()
    except ValueError:
        parsed = None
    return GitLabDelivery(url, headers, raw, answer.status_code, parsed)


def slug(name: str) -> str:
    """Return GitLab's environment slug: lower case, [a-z0-9-], at most 24 characters."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:24].rstrip("-") or "env"
