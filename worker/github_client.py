"""Talk to GitHub as the changeguard App's installations: answer protection rules, read runs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import jwt
import redis
from githubkit import AppAuthStrategy, GitHub
from githubkit.cache import BaseCacheStrategy, MemCacheStrategy, RedisCacheStrategy
from githubkit.exception import (GitHubException, RateLimitExceeded, RequestError, RequestFailed,
                                 RequestTimeout)

from .call_budget import CALL_BUDGET_SECONDS, CallBudget, backoff_delay
from .settings import DEFAULT_GITHUB_API_URL, Settings

logger = logging.getLogger(__name__)

MAX_REPORT_CHARS = 1024  # GitHub's limit on a status report's comment
TRUNCATED = "…"
USER_AGENT = "changeguard"
T = TypeVar("T")
_DOING = {None: "a status report on", "approved": "approving", "rejected": "rejecting"}


class GitHubError(Exception):
    """GitHub refused a call, or could not be reached within the call's budget."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class GitHubKeyError(GitHubError):
    """The App's private key cannot sign an App JWT (not a usable RSA key): nothing was sent."""


class GitHubClient:
    """A GitHub App's client: one githubkit instance per installation, so its token is cached.

    githubkit mints the App JWT and the installation token (cached until a minute before it
    expires) and validates request bodies and responses against GitHub's OpenAPI models. Its own
    auto_retry is off: it sleeps (n+1)^2 s on 5xx with no regard to the job's time, so this
    client retries 429 (honouring Retry-After), 5xx and lost connections itself, bounded by the
    call budget (worker/call_budget.py), as SlackClient does.
    """

    def __init__(self, app_id: str, private_key: str, *, base_url: str = DEFAULT_GITHUB_API_URL,
                 timeout: float = 10.0, max_attempts: int = 4, max_wait: float = 30.0,
                 backoff_base: float = 0.5, budget: float = CALL_BUDGET_SECONDS,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 token_cache: redis.Redis | None = None, token_prefix: str = "github"):
        # A cache of its own: githubkit's default one is process-wide and keys tokens by app id
        # and installation only, so two clients of one app on two hosts would share them.
        # ``token_cache``: installation tokens kept in Redis under ``token_prefix``, shared by
        # every work horse (each is a fresh fork: a token in memory would die with it, and
        # every job would mint one).
        self._app = GitHub(AppAuthStrategy(app_id, private_key), base_url=base_url,
                           timeout=timeout, user_agent=USER_AGENT, auto_retry=False,
                           http_cache=False, cache_strategy=MemCacheStrategy())
        self.base_url = base_url
        self._token_cache = token_cache
        self._token_prefix = token_prefix
        self._installations: dict[int, GitHub[Any]] = {}
        self._lock = threading.Lock()
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._backoff_base = backoff_base
        self._budget = budget
        self._sleep = sleep
        self._clock = clock

    def review_deployment(self, installation_id: int, owner: str, repo: str, run_id: int,
                          environment: str, state: Literal["approved", "rejected"] | None,
                          comment: str) -> None:
        """Approve or reject a run's deployment to ``environment``; state None posts a report."""
        if state not in (None, "approved", "rejected"):
            # githubkit would quietly send a report for an unknown state.
            raise ValueError(f"state must be 'approved', 'rejected' or None, not {state!r}")
        body: dict[str, Any] = {"environment_name": environment, "comment": comment}
        if state is None:
            body["comment"] = _fit_report(comment)
        else:
            body["state"] = state
        what = (f"{_DOING[state]} the {environment} deployment of run {run_id} "
                f"in {owner}/{repo}")
        self._call(what, installation_id, lambda github: github.rest.actions
                   .review_custom_gates_for_run(owner, repo, run_id, data=body))

    def get_run(self, installation_id: int, owner: str, repo: str, run_id: int) -> dict[str, Any]:
        """Return what the gate reads of a workflow run (links, branch, commit, who ran it)."""
        run = self._call(f"reading run {run_id} of {owner}/{repo}", installation_id,
                         lambda github: github.rest.actions.get_workflow_run(owner, repo, run_id)
                         .parsed_data)
        head = run.head_commit
        return {
            "html_url": run.html_url, "head_branch": run.head_branch or "",
            "head_sha": run.head_sha, "display_title": run.display_title,
            "head_commit_message": head.message if head else "",
            "actor": run.actor.login if run.actor else "",
            "triggering_actor": run.triggering_actor.login if run.triggering_actor else "",
            "event": run.event, "status": run.status or "", "conclusion": run.conclusion or "",
        }

    def pulls_for_commit(self, installation_id: int, owner: str, repo: str,
                         sha: str) -> list[dict[str, Any]]:
        """Return the pull requests containing commit ``sha`` (number, title, head_ref, body)."""
        pulls = self._call(
            f"listing the pull requests of commit {sha} in {owner}/{repo}", installation_id,
            lambda github: github.rest.repos.list_pull_requests_associated_with_commit(
                owner, repo, sha, per_page=100).parsed_data)
        return [{"number": p.number, "title": p.title, "head_ref": p.head.ref,
                 "body": p.body or ""} for p in pulls]

    def get_app(self) -> dict[str, Any]:
        """Sign in as the App (GET /app with the App JWT) and return what GitHub knows of it.

        Keys: ``id``, ``slug``, ``name``, ``permissions`` (name -> "read"/"write"/"admin"),
        ``events`` (the webhook events it subscribes to) and ``installations_count`` (None if
        GitHub leaves it out). One attempt, no retry: this answers a person (the doctor).
        Raises GitHubKeyError when the private key cannot sign, GitHubError (message: GitHub's
        status and message, or "no answer (...)") when GitHub refuses or does not answer.
        """
        try:
            app = self._app.rest.apps.get_authenticated().parsed_data
        except GitHubException as exc:
            failure = _unwrap(exc)
            if isinstance(failure, RequestError) and isinstance(failure.exc, jwt.PyJWTError):
                raise GitHubKeyError(str(failure.exc) or type(failure.exc).__name__) from exc
            raise GitHubError(_describe(failure), _status(failure)) from exc
        if app is None:
            raise GitHubError("GET /app answered no App", None)
        permissions = app.permissions.model_dump(by_alias=True)
        return {
            "id": app.id, "slug": app.slug if isinstance(app.slug, str) else "",
            "name": app.name,
            "permissions": {name: level for name, level in permissions.items()
                            if isinstance(level, str)},
            "events": list(app.events),
            "installations_count": (app.installations_count
                                    if isinstance(app.installations_count, int) else None),
        }

    def warm_up(self) -> None:
        """Load what the gate's calls use (githubkit loads its REST clients, models and HTTP
        stack on first use, ~70 ms): done before the worker forks, no forked job pays for it."""
        import encodings.idna  # noqa: F401  (httpx's host names)

        import httpcore  # noqa: F401
        import httpx  # noqa: F401
        from githubkit_schemas.latest import models

        self._app.rest.actions  # noqa: B018
        self._app.rest.repos  # noqa: B018
        for name in ("ReviewCustomGatesStateRequired", "ReviewCustomGatesCommentRequired",
                     "WorkflowRun", "PullRequestSimple", "InstallationToken",
                     "AppInstallationsInstallationIdAccessTokensPostBody", "BasicError",
                     "ValidationError"):
            getattr(models, name)

    def _installation(self, installation_id: int, *, renew: bool = False) -> GitHub[Any]:
        """Return the installation's client; ``renew`` drops it (and its token) first."""
        with self._lock:
            if renew or installation_id not in self._installations:
                auth = self._app.auth.as_installation(installation_id)  # type: ignore[union-attr]
                self._installations[installation_id] = GitHub(
                    auth, base_url=self.base_url, timeout=self._timeout, user_agent=USER_AGENT,
                    auto_retry=False, http_cache=False,
                    cache_strategy=self._token_store(installation_id, renew))
            return self._installations[installation_id]

    def _token_store(self, installation_id: int, renew: bool) -> BaseCacheStrategy:
        """Return where the installation's token is kept; renewing starts a new store, so the
        token GitHub refused is never read again (by this process or any other)."""
        if self._token_cache is None:
            return MemCacheStrategy()
        generation = f"{self._token_prefix}:generation:{installation_id}"
        number = (self._token_cache.incr(generation) if renew
                  else int(self._token_cache.get(generation) or 0))
        return RedisCacheStrategy(self._token_cache,
                                  prefix=f"{self._token_prefix}:{installation_id}:{number}")

    def _call(self, what: str, installation_id: int, send: Callable[[GitHub[Any]], T]) -> T:
        budget = CallBudget(self._budget, self._timeout, self._clock)
        renewed = False
        for attempt in range(1, self._max_attempts + 1):
            try:
                return send(self._installation(installation_id))
            except GitHubException as exc:
                failure = _unwrap(exc)
                status = _status(failure)
                if status == 401 and not renewed:
                    # The cached installation token was revoked or expired early (GitHub's
                    # clock, a re-installed App): mint a new one, once.
                    logger.info("github token refused, renewing", extra={"call": what})
                    self._installation(installation_id, renew=True)
                    renewed = True
                    continue
                logger.warning("github call failed", extra={
                    "call": what, "status": status, "attempt": attempt,
                    "error": _describe(failure)})
                wait = self._wait_before_retry(failure, status, attempt)
                if wait is None or not budget.allows(wait):
                    raise GitHubError(f"GitHub refused {what}: {_describe(failure)}"
                                      if status is not None and status < 500 else
                                      f"GitHub failed {what}: {_describe(failure)}",
                                      status) from exc
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_before_retry(self, failure: Exception, status: int | None,
                           attempt: int) -> float | None:
        if attempt == self._max_attempts:
            return None
        if isinstance(failure, RateLimitExceeded):
            wait = failure.retry_after.total_seconds()  # GitHub did not act on the call
        elif status is None or status == 429 or status >= 500:
            wait = self._backoff(attempt)
        else:
            return None
        return wait if wait <= self._max_wait else None

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self._backoff_base, self._max_wait)


def _fit_report(comment: str) -> str:
    """Return ``comment`` cut to GitHub's limit on a status report, ending in "…" if cut."""
    if len(comment) <= MAX_REPORT_CHARS:
        return comment
    return comment[:MAX_REPORT_CHARS - len(TRUNCATED)] + TRUNCATED


def _unwrap(exc: GitHubException) -> Exception:
    """Return the failure itself: githubkit wraps one raised while minting a token."""
    while (isinstance(exc, RequestError) and not isinstance(exc, (RequestFailed, RequestTimeout))
           and isinstance(exc.exc, GitHubException)):
        exc = exc.exc
    return exc


def _status(failure: Exception) -> int | None:
    return failure.response.status_code if isinstance(failure, RequestFailed) else None


def _describe(failure: Exception) -> str:
    if isinstance(failure, RequestFailed):
        response = failure.response
        try:
            message = str(response.json().get("message", ""))
        except (ValueError, AttributeError):  # not JSON, or not GitHub's error object
            message = response.text[:200]
        return f"{response.status_code} {message}".strip()
    if isinstance(failure, RequestError):
        return f"no answer ({failure.exc!r})"
    return str(failure) or type(failure).__name__


def github_client_for(settings: Settings, token_cache: redis.Redis | None = None
                      ) -> GitHubClient | None:
    """Return the GitHub App client the settings configure, or None when the App is not set up;
    with ``token_cache``, its installation tokens are shared through that Redis."""
    if not settings.github_enabled:
        return None
    return GitHubClient(str(settings.github_app_id), str(settings.github_private_key),
                        base_url=settings.github_api_url, token_cache=token_cache,
                        token_prefix=settings.key("github-token"))
