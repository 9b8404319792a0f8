"""Find the GitLab deployments held for approval that no hook told the gate of; judge them."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Protocol

import redis
from rq import Queue

from rules.deployment import DeployRequest, Vendor
from rules.job_names import JobName, gate_job_id
from worker.gitlab_client import GitLabError
from worker.runtime import Runtime
from worker.settings import Settings

from .enqueue import enqueue_once
from .waiting_deployments import changes_with_waiting, run_key

logger = logging.getLogger(__name__)

PROJECTS = "gitlab-projects"  # the set of GitLab project ids whose hooks reached changeguard
# GitLab shows this instead of the address of someone with no public email.
REDACTED = "[REDACTED]"


class _Store(Protocol):
    """Where a project is remembered: a job's Runtime, or the web app's Services."""

    @property
    def redis(self) -> redis.Redis: ...

    @property
    def settings(self) -> Settings: ...


def remember_project(rt: _Store, project_id: int) -> None:
    """Remember that ``project_id``'s hooks reach changeguard: the sweep lists its deployments."""
    rt.redis.sadd(rt.settings.key(PROJECTS), project_id)


def recheck_gitlab(rt: Runtime, queue: Queue, minute: str) -> list[str]:
    """Enqueue a judgement of each deployment GitLab holds for approval in a gated environment
    of a project changeguard has heard from, that no judgement keeps waiting or has allowed;
    return the ids of the jobs enqueued (one per deployment and sweep ``minute``). One list of
    blocked deployments per project.

    GitLab sends no hook when a deployment becomes blocked; the Pipeline Hook that stands for
    it goes out only when the pipeline turns ``manual``, not when it already is, and a hook
    can be lost (GitLab disables a hook that keeps failing).
    """
    projects = sorted(int(p) for p in rt.redis.smembers(rt.settings.key(PROJECTS)))
    known = _waiting_ids(rt)
    enqueued = []
    for project_id in projects:
        try:
            # Every environment's at once: GitLab's environment filter is exact, and the
            # policy's names ignore case ("Production" gates GitLab's "production").
            blocked = rt.gitlab.blocked_deployments(project_id)
        except GitLabError as exc:
            # One project's failure (a token that lost access) must not stop the others.
            logger.warning("gitlab sweep failed", extra={
                "project_id": project_id, "error": str(exc)})
            continue
        for deployment in blocked:
            if not rt.policy.deploy.gates(deployment["environment"]):
                continue
            request = listed_request(project_id, deployment)
            # One the gate allowed that GitLab still holds waits for other approvers.
            if request.deployment_id in known or rt.redis.exists(run_key(rt, request.run_id)):
                continue
            job_id = gate_job_id(rt.settings.namespace, request.deployment_id, f"sweep-{minute}")
            if enqueue_once(queue, JobName.JUDGE_DEPLOYMENT, job_id,
                            {"request": request.to_json()}):
                logger.info("lost gitlab deployment recovered", extra={
                    "deployment_id": request.deployment_id, "job_id": job_id})
                enqueued.append(job_id)
    return enqueued


def listed_request(project_id: int, deployment: dict[str, Any]) -> DeployRequest:
    """Return the gate's question for a blocked deployment as the deployments list shows it:
    the one the Pipeline Hook of its pipeline asks (same ids, its environment as GitLab spells
    it), with its deployment named."""
    run_id = f"gitlab:{project_id}:job:{deployment['job_id']}"
    message = deployment["commit_message"].strip() or deployment["commit_title"]
    return DeployRequest(
        vendor=Vendor.GITLAB, deployment_id=run_id, run_id=run_id,
        environment=deployment["environment"],
        texts=tuple(t for t in (message, deployment["ref"]) if t),
        sha=deployment["sha"], ref=deployment["ref"], run_url=deployment["job_url"],
        triggered_by=deployment["username"] or deployment["name"],
        triggered_by_email=deployment["email"] if deployment["email"] != REDACTED else None,
        reply=(("deployment_id", str(deployment["id"])), ("job_id", str(deployment["job_id"])),
               ("project_id", str(project_id))),
        requested_at=_iso(deployment["requested_at"]),
    )


def _waiting_ids(rt: Runtime) -> set[str]:
    """Return the ids of the deployments kept waiting for a change (jobs/waiting_deployments)."""
    pipe = rt.redis.pipeline()
    for key in changes_with_waiting(rt):
        pipe.hkeys(rt.settings.key("gate-waiting", key))
    return {field.decode() for fields in pipe.execute() for field in fields}


def _iso(value: str) -> str:
    """Return GitLab's API time ("2026-12-01T09:05:00.123Z") as its hooks' are read, to the
    second in UTC ("2026-12-01T09:05:00+00:00"); anything else as it came."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    parsed = parsed.replace(tzinfo=parsed.tzinfo or timezone.utc).astimezone(timezone.utc)
    return parsed.isoformat(timespec="seconds")
