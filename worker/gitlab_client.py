"""Approve or reject GitLab deployments waiting at the gate (python-gitlab), bounded in time."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import gitlab
import requests
from gitlab.v4.objects import CurrentUserManager

from .call_budget import CALL_BUDGET_SECONDS, CallBudget, backoff_delay
from .settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
# GitLab's transient answers (python-gitlab's own list: 500, 502-504 and Cloudflare's 52x).
TRANSIENT = frozenset(gitlab.const.RETRYABLE_TRANSIENT_ERROR_CODES)
NOT_WAITING = "This deployment is not waiting for approvals."
# Our own retry loop is the only one: python-gitlab's would sleep up to 10 times, honouring any
# Retry-After however long, outside the call budget a job lives by.
NO_LIBRARY_RETRY = {"obey_rate_limit": False, "retry_transient_errors": False, "max_retries": 0}


class GitLabError(Exception):
    """GitLab refused a call, or kept failing past the retry budget; ``status`` None: no answer."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class GitLabClient:
    """Deployment approvals as the gate's GitLab account (a personal or project access token)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        max_wait: float = 30.0,
        backoff_base: float = 0.5,
        budget: float = CALL_BUDGET_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # python-gitlab's errors carry no headers: the session notes each answer's Retry-After.
        session = requests.Session()
        session.hooks["response"].append(self._note_retry_after)
        self._retry_after: float | None = None
        self._gl = gitlab.Gitlab(url, private_token=token, timeout=timeout,
                                 retry_transient_errors=False, session=session)
        self.url = url
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._backoff_base = backoff_base
        self._budget = budget
        self._sleep = sleep
        self._clock = clock

    def whoami(self) -> dict[str, Any]:
        """Return the account GITLAB_TOKEN signs in as (GET /user): ``id``, ``username``,
        ``name``; raises GitLabError (status 401: the token is wrong, expired or revoked)."""
        manager = CurrentUserManager(self._gl)
        user = self._call("signing in (GET /user)",
                          lambda: manager.get(**NO_LIBRARY_RETRY), [])
        return {"id": user.id, "username": user.username, "name": user.name}

    def decide_deployment(self, project_id: int | str, deployment_id: int,
                          status: Literal["approved", "rejected"], comment: str,
                          represented_as: str | None = None) -> dict[str, Any]:
        """Approve or reject a blocked deployment; return GitLab's approval record."""
        # Lazy objects: one POST, no GET of the project or the deployment first.
        deployment = self._gl.projects.get(project_id, lazy=True).deployments.get(
            deployment_id, lazy=True)
        noun = {"approved": "approval", "rejected": "rejection"}.get(status, status)
        what = f"the {noun} of deployment {deployment_id} in project {project_id}"
        attempts: list[int | None] = []

        def post() -> dict[str, Any]:
            return deployment.approval(status=status, comment=comment,
                                       represented_as=represented_as, **NO_LIBRARY_RETRY)

        try:
            return self._call(what, post, attempts)
        except GitLabError as exc:
            # A retry after a lost answer finds the deployment released by the first attempt.
            if not (exc.status == 400 and exc.message.endswith(NOT_WAITING) and len(attempts) > 1):
                raise
            approval = self._standing_approval(project_id, deployment_id, status, comment)
            if approval is None:
                raise
            return approval

    def get_deployment(self, project_id: int | str, deployment_id: int) -> dict[str, Any]:
        """Return the deployment as GitLab shows it (status, ref, sha, deployable, approvals)."""
        manager = self._gl.projects.get(project_id, lazy=True).deployments
        found = self._call(f"deployment {deployment_id} in project {project_id}",
                           lambda: manager.get(deployment_id, **NO_LIBRARY_RETRY), [])
        return found.asdict()

    def blocked_deployment_for_job(self, project_id: int | str, environment: str,
                                   job_id: int) -> int | None:
        """Return the id of the blocked deployment of job ``job_id`` to ``environment``.

        None: no deployment of that job waits for approval any more (approved or rejected
        elsewhere, canceled, or never blocked). One GET of the environment's blocked
        deployments, newest first, paging on only if the job is not on the first page.
        """
        manager = self._gl.projects.get(project_id, lazy=True).deployments

        def find() -> int | None:
            pages = manager.list(iterator=True, environment=environment, status="blocked",
                                 order_by="id", sort="desc", per_page=100, **NO_LIBRARY_RETRY)
            return next((d.id for d in pages
                         if (d.deployable or {}).get("id") == job_id), None)

        return self._call(f"the blocked deployments of {environment} in project {project_id}",
                          find, [])

    def blocked_deployments(self, project_id: int | str) -> list[dict[str, Any]]:
        """Return the deployments of jobs waiting for approval in the project, newest first.

        Each is what the gate's question needs: ``id`` (the deployment's), ``environment``
        (its name as GitLab spells it), ``job_id``, ``job_url``, ``ref``, ``sha``,
        ``username``, ``name`` and ``email`` of who triggered it (GitLab's list shows a user
        without email: None unless it does), ``commit_title``, ``commit_message`` and
        ``requested_at`` (when its job started, else was made; ISO 8601). GETs of every
        environment's blocked deployments at once (GitLab's ``environment`` filter is
        exact, a policy's names are not), 100 a page, every page. A deployment without a job
        (made through the API) is left out: only jobs wait for approval.
        """
        manager = self._gl.projects.get(project_id, lazy=True).deployments

        def find() -> list[dict[str, Any]]:
            pages = manager.list(iterator=True, status="blocked", order_by="id", sort="desc",
                                 per_page=100, **NO_LIBRARY_RETRY)
            return [_blocked(d.asdict()) for d in pages if (d.deployable or {}).get("id")]

        return self._call(f"the blocked deployments of project {project_id}", find, [])

    def _standing_approval(self, project_id: int | str, deployment_id: int, status: str,
                           comment: str) -> dict[str, Any] | None:
        approvals = self.get_deployment(project_id, deployment_id).get("approvals") or []
        return next((a for a in approvals
                     if a.get("status") == status and a.get("comment") == comment), None)

    def _call(self, what: str, send: Callable[[], T], attempts: list[int | None]) -> T:
        """Send once, retrying 429 (Retry-After), 5xx and lost connections inside the budget."""
        budget = CallBudget(self._budget, self._timeout, self._clock)
        for attempt in range(1, self._max_attempts + 1):
            try:
                return send()
            except gitlab.exceptions.GitlabError as exc:
                status = exc.response_code
                attempts.append(status)
                logger.warning("gitlab error", extra={"call": what, "status": status,
                                                      "attempt": attempt})
                wait = self._wait_before_retry(status, attempt)
                if wait is None or not budget.allows(wait):
                    raise GitLabError(f"GitLab answered {status} to {what}: "
                                      f"{exc.error_message}", status) from exc
            except requests.exceptions.RequestException as exc:
                attempts.append(None)
                logger.warning("gitlab unreachable", extra={"call": what, "attempt": attempt,
                                                            "error": str(exc)})
                wait = self._backoff(attempt)
                if attempt == self._max_attempts or not budget.allows(wait):
                    raise GitLabError(f"GitLab did not answer {what}: {exc}", None) from exc
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_before_retry(self, status: int | None, attempt: int) -> float | None:
        if attempt == self._max_attempts or not (status == 429 or status in TRANSIENT):
            return None
        wait = self._retry_after if status == 429 else None
        wait = self._backoff(attempt) if wait is None else wait
        return wait if wait <= self._max_wait else None

    def _note_retry_after(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        try:
            self._retry_after = float(response.headers["Retry-After"])  # GitLab: whole seconds
        except (KeyError, ValueError):
            self._retry_after = None

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self._backoff_base, self._max_wait)


def _blocked(deployment: dict[str, Any]) -> dict[str, Any]:
    """Return what the gate asks about a blocked deployment from GitLab's list entry."""
    job = deployment["deployable"]
    commit = job.get("commit") or {}
    # The deployment's user triggered it; its job's is the same person, kept as a fallback.
    user = deployment.get("user") or job.get("user") or {}
    return {"id": deployment["id"],
            "environment": (deployment.get("environment") or {}).get("name") or "",
            "job_id": job["id"], "job_url": job.get("web_url") or "",
            "ref": deployment.get("ref") or "", "sha": deployment.get("sha") or "",
            "username": user.get("username") or "", "name": user.get("name") or "",
            "email": user.get("email") or None,
            "commit_title": commit.get("title") or "",
            "commit_message": commit.get("message") or "",
            "requested_at": job.get("started_at") or job.get("created_at") or ""}


def gitlab_client_for(settings: Settings) -> GitLabClient | None:
    """Return the client the GitLab front end answers with; None unless it is configured."""
    if not settings.gitlab_enabled:
        return None
    assert settings.gitlab_token is not None  # gitlab_enabled says so
    return GitLabClient(settings.gitlab_url, settings.gitlab_token)
