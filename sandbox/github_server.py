"""Run a sandbox GitHub over HTTP: App auth, the protection-rule callback, runs, signed hooks."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import jwt
import pydantic
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from githubkit import webhooks as github_webhooks
from githubkit_schemas.latest.models import (Integration, ReviewCustomGatesCommentRequired,
                                             ReviewCustomGatesStateRequired)
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox import github_payloads as shapes
from sandbox.github_payloads import PullRequest, WorkflowRun
from sandbox.serving import ServingThread

__all__ = ["SandboxGitHub", "GitHubReview", "GitHubRequest", "GitHubRejection", "GitHubDelivery",
           "PullRequest", "WorkflowRun", "ANY_STATE"]

logger = logging.getLogger(__name__)

DEFAULT_APP_ID = "424242"
DEFAULT_APP_SLUG = "changeguard-acme"
# What the App asks for (README "GitHub Actions"): GET /app shows them, tests change them.
APP_EVENTS = ("deployment_protection_rule", "deployment_status", "workflow_run")
DEFAULT_WEBHOOK_SECRET = "sandbox-github-webhook-secret"
DEFAULT_OWNER, DEFAULT_REPO = "acme", "shop"
JWT_MAX_LIFETIME = 600  # seconds: GitHub refuses an App JWT that lives longer than 10 minutes
CLOCK_SKEW = 60  # seconds of drift GitHub tolerates on iat/exp
TOKEN_LIFETIME = datetime.timedelta(hours=1)
MAX_STATUS_REPORTS = 10
MAX_REPORT_CHARS = 1024
TOKEN_PERMISSIONS = {"actions": "read", "deployments": "write", "metadata": "read",
                     "pull_requests": "read"}
JSON_TYPE = "application/json; charset=utf-8"
API_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})  # the REST API versions GitHub serves
REVIEW_DOCS = ("https://docs.github.com/rest/actions/workflow-runs"
               "#review-custom-deployment-protection-rules-for-a-workflow-run")
TOKEN_DOCS = ("https://docs.github.com/rest/apps/apps"
              "#create-an-installation-access-token-for-an-app")


class _AnyState:
    def __repr__(self) -> str:
        return "ANY_STATE"


ANY_STATE: Any = _AnyState()  # wait_for_review(state=ANY_STATE): a decision or a report


@dataclasses.dataclass(frozen=True)
class GitHubReview:
    """One accepted call of the protection-rule callback: a decision, or a report (state None)."""

    run_id: int
    full_name: str
    environment: str
    state: str | None
    comment: str | None
    installation_id: int
    received_monotonic: float  # time.monotonic() when it arrived
    received_at: datetime.datetime  # wall time (UTC) when it arrived


@dataclasses.dataclass(frozen=True)
class GitHubRequest:
    """One HTTP request the sandbox served."""

    method: str
    path: str
    status: int
    body: Any = dataclasses.field(repr=False, default=None)


@dataclasses.dataclass(frozen=True)
class GitHubRejection:
    """A request the real GitHub would refuse too (4xx): it fails the test unless taken."""

    method: str
    path: str
    status: int
    message: str


@dataclasses.dataclass(frozen=True)
class GitHubDelivery:
    """One webhook the sandbox sent, and the answer it got."""

    event: str
    delivery_id: str
    url: str
    payload: dict[str, Any] = dataclasses.field(repr=False)
    status: int


@dataclasses.dataclass
class _Fault:
    status: int
    times: int
    retry_after: int | None


class _Refused(Exception):
    """Answer with GitHub's error JSON."""

    def __init__(self, status: int, message: str, docs: str = shapes.DOCS, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = shapes.error(message, docs, **extra)


class SandboxGitHub:
    """A local GitHub REST API for one GitHub App, and the webhooks GitHub sends that App."""

    def __init__(self, *, app_id: str = DEFAULT_APP_ID,
                 webhook_secret: str = DEFAULT_WEBHOOK_SECRET) -> None:
        self.app_id = app_id
        self.webhook_secret = webhook_secret
        # The App's settings page, as GET /app shows it: a test may change them.
        self.app_slug = DEFAULT_APP_SLUG
        self.app_permissions: dict[str, str] = dict(TOKEN_PERMISSIONS)
        self.app_events: list[str] = list(APP_EVENTS)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption()).decode()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._installations: dict[int, str] = {}  # id -> account login
        self._repos: set[str] = set()
        self._runs: dict[int, WorkflowRun] = {}
        self._pulls: dict[tuple[str, str], list[PullRequest]] = {}
        self._tokens: dict[str, tuple[int, datetime.datetime]] = {}
        self._decided: dict[tuple[int, str], str] = {}
        self._reports: dict[tuple[int, str], int] = {}
        self._reviews: list[GitHubReview] = []
        self._requests: list[GitHubRequest] = []
        self._deliveries: list[GitHubDelivery] = []
        self._faults: list[_Fault] = []
        self.rejected: list[GitHubRejection] = []
        self.tokens_minted = 0
        self._next_run_id = 30_000_001
        self._next_status_id = 40_000_001
        self._serving: ServingThread | None = None
        self.api_url = ""
        self._routes = Map([
            Rule("/app", methods=["GET"], endpoint=self._get_app),
            Rule("/app/installations/<int:installation_id>/access_tokens", methods=["POST"],
                 endpoint=self._mint_token),
            Rule("/repos/<owner>/<repo>/actions/runs/<int:run_id>/deployment_protection_rule",
                 methods=["POST"], endpoint=self._review),
            Rule("/repos/<owner>/<repo>/actions/runs/<int:run_id>", methods=["GET"],
                 endpoint=self._get_run),
            Rule("/repos/<owner>/<repo>/commits/<sha>/pulls", methods=["GET"],
                 endpoint=self._commit_pulls),
        ])
        self.installation_id = self.add_installation(DEFAULT_OWNER)
        self.add_repo(DEFAULT_OWNER, DEFAULT_REPO)

    # Lifecycle

    def start(self, port: int = 0, host: str = "127.0.0.1") -> SandboxGitHub:
        """Serve on host:port (a free port by default) in a daemon thread."""
        self._serving = ServingThread(self, name="sandbox-github", host=host, port=port)
        self.api_url = self._serving.url
        logger.info("sandbox github started", extra={"api_url": self.api_url})
        return self

    def stop(self) -> None:
        """Stop serving and join the server thread."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> SandboxGitHub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # The world: installations, repositories, runs, pull requests

    def add_installation(self, account: str) -> int:
        """Install the App on an account (user or organization); return the installation id."""
        with self._lock:
            installation_id = 50_000_001 + len(self._installations)
            self._installations[installation_id] = account
            return installation_id

    def add_repo(self, owner: str, repo: str) -> None:
        """Create a public repository ``owner/repo``."""
        with self._lock:
            self._repos.add(f"{owner}/{repo}")

    def add_run(self, owner: str = DEFAULT_OWNER, repo: str = DEFAULT_REPO, *,
                head_branch: str = "main", head_sha: str | None = None,
                display_title: str = "Deploy", head_commit_message: str = "Deploy",
                actor: str = "octocat", triggering_actor: str | None = None,
                environments: Iterable[str] = ("production",), event: str = "push",
                created_at: str | None = None) -> WorkflowRun:
        """Start a workflow run whose jobs for ``environments`` wait for the App's rule."""
        with self._lock:
            if f"{owner}/{repo}" not in self._repos:
                raise KeyError(f"no repository {owner}/{repo}: add_repo() it first")
            run = WorkflowRun(
                id=self._next_run_id, owner=owner, repo=repo, head_branch=head_branch,
                head_sha=head_sha or secrets.token_hex(20), display_title=display_title,
                head_commit_message=head_commit_message, actor=actor,
                triggering_actor=triggering_actor or actor, environments=tuple(environments),
                event=event, created_at=created_at or _iso(_now()))
            self._next_run_id += 1
            self._runs[run.id] = run
            return run

    def add_pull_request(self, owner: str = DEFAULT_OWNER, repo: str = DEFAULT_REPO, *,
                         number: int, title: str, head_ref: str, head_sha: str,
                         body: str = "", base_ref: str = "main") -> PullRequest:
        """Record a pull request containing commit ``head_sha``."""
        pull = PullRequest(number=number, title=title, head_ref=head_ref, head_sha=head_sha,
                           body=body, base_ref=base_ref)
        with self._lock:
            self._pulls.setdefault((f"{owner}/{repo}", head_sha), []).append(pull)
        return pull

    def run(self, run_id: int) -> WorkflowRun:
        """Return a run as it is now (its status changes as environments are decided)."""
        with self._lock:
            return dataclasses.replace(self._runs[run_id])

    def decision(self, run_id: int, environment: str) -> str | None:
        """Return the state decided for one environment of a run, or None while it waits."""
        with self._lock:
            return self._decided.get((run_id, environment))

    # Recordings and faults

    @property
    def reviews(self) -> list[GitHubReview]:
        """Return every accepted callback (decisions and reports), oldest first."""
        with self._lock:
            return list(self._reviews)

    @property
    def requests(self) -> list[GitHubRequest]:
        """Return every HTTP request served, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def deliveries(self) -> list[GitHubDelivery]:
        """Return every webhook sent, oldest first."""
        with self._lock:
            return list(self._deliveries)

    def take_rejections(self) -> list[GitHubRejection]:
        """Return the requests refused so far and forget them (a test that expected them)."""
        with self._lock:
            taken, self.rejected = self.rejected, []
            return taken

    def fail_next(self, status: int, count: int = 1, *, retry_after: int | None = None) -> None:
        """Answer the next ``count`` API requests with ``status`` (e.g. 502, 503, 429)."""
        with self._lock:
            self._faults.append(_Fault(status, count, retry_after))

    def expire_tokens(self) -> None:
        """Make every installation token minted so far expired, as an hour passing would."""
        with self._lock:
            past = _now() - datetime.timedelta(seconds=1)
            self._tokens = {t: (i, past) for t, (i, _) in self._tokens.items()}

    def wait_for_review(self, run_id: int, *, environment: str | None = None,
                        state: Any = ANY_STATE, timeout: float = 5.0) -> GitHubReview:
        """Wait until a matching callback arrived and return it (state None: a status report)."""
        def match() -> GitHubReview | None:
            return next((r for r in self._reviews if r.run_id == run_id
                         and environment in (None, r.environment)
                         and (state is ANY_STATE or r.state == state)), None)

        with self._changed:
            found = self._changed.wait_for(match, timeout)
            if found is None:
                raise AssertionError(
                    f"no review of run {run_id} (environment {environment}, state {state}) "
                    f"within {timeout} s; received: {self._reviews}")
            return found

    # Webhooks GitHub sends to the App

    def protection_rule_payload(self, run: WorkflowRun, environment: str, *,
                                pull_requests: list[PullRequest] | None = None,
                                event: str | None = None, sender: str | None = None,
                                deployment_id: int | None = None) -> dict[str, Any]:
        """Return a `deployment_protection_rule` `requested` payload for one job of ``run``."""
        api = self.api_url
        if pull_requests is None:
            with self._lock:
                pull_requests = list(self._pulls.get((run.full_name, run.head_sha), []))
        number = deployment_id or shapes.object_id(f"{run.id}:{environment}")
        return {
            "action": "requested",
            "environment": environment,
            "event": event or run.event,
            "sha": run.head_sha,
            "ref": f"refs/heads/{run.head_branch}",
            "deployment_callback_url":
                f"{api}/repos/{run.full_name}/actions/runs/{run.id}/deployment_protection_rule",
            "deployment": shapes.deployment(api, run, environment, number, run.created_at),
            "pull_requests": [shapes.pull_request(api, run.owner, run.repo, p)
                              for p in pull_requests],
            "repository": shapes.repository(api, run.owner, run.repo),
            "organization": shapes.organization(api, run.owner),
            "installation": shapes.installation(self._installation_of(run.owner)),
            "sender": shapes.user(api, sender or run.triggering_actor),
        }

    def workflow_run_payload(self, run: WorkflowRun, conclusion: str) -> dict[str, Any]:
        """Return a `workflow_run` `completed` payload, the run ended with ``conclusion``."""
        api = self.api_url
        with self._lock:
            stored = self._runs[run.id]
            stored.status, stored.conclusion = "completed", conclusion
            run = dataclasses.replace(stored)
            pulls = [shapes.pull_request(api, run.owner, run.repo, p)
                     for p in self._pulls.get((run.full_name, run.head_sha), [])]
        return {
            "action": "completed",
            "workflow": shapes.workflow(api, run),
            "workflow_run": shapes.workflow_run(api, run, pulls, _iso(_now())),
            "repository": shapes.repository(api, run.owner, run.repo),
            "organization": shapes.organization(api, run.owner),
            "installation": shapes.installation(self._installation_of(run.owner)),
            "sender": shapes.user(api, run.triggering_actor),
        }

    def deployment_status_payload(self, run: WorkflowRun, environment: str, state: str, *,
                                  with_run: bool = True,
                                  log_url: str | None = None) -> dict[str, Any]:
        """Return a `deployment_status` `created` payload: the deployment of ``run``'s job to
        ``environment`` moved to ``state`` (queued, in_progress, success, failure, ...).

        ``with_run`` False: a deployment another tool made through the API, with no
        ``workflow_run`` (its ``log_url``, "" by default, is the tool's page). A workflow job's
        status links its job's log, and the run is in progress until it completes.
        """
        api = self.api_url
        number = shapes.object_id(f"{run.id}:{environment}")  # as the protection rule names it
        base = f"{api}/repos/{run.full_name}"
        with self._lock:
            status_id = self._next_status_id
            self._next_status_id += 1
            stored = self._runs[run.id]
            if with_run and stored.status != "completed":
                stored.status = "in_progress"
            run = dataclasses.replace(stored)
            pulls = [shapes.pull_request(api, run.owner, run.repo, p)
                     for p in self._pulls.get((run.full_name, run.head_sha), [])]
        job = shapes.object_id(f"{run.full_name}:job:{run.id}:{environment}")
        link = f"{run.html_url}/job/{job}" if with_run else ""
        now = _iso(_now())
        payload: dict[str, Any] = {
            "action": "created",
            "deployment_status": {
                "url": f"{base}/deployments/{number}/statuses/{status_id}", "id": status_id,
                "node_id": shapes.node_id("DeploymentStatus", status_id), "state": state,
                # Actions writes a job's deployment statuses as its own bot.
                "creator": shapes.user(api, "github-actions[bot]", kind="Bot")
                if with_run else shapes.user(api, run.triggering_actor),
                "description": "", "environment": environment,
                "target_url": link if log_url is None else log_url,
                "log_url": link if log_url is None else log_url, "environment_url": "",
                "created_at": now, "updated_at": now,
                "deployment_url": f"{base}/deployments/{number}", "repository_url": base,
            },
            "deployment": shapes.deployment(api, run, environment, number, run.created_at),
            "repository": shapes.repository(api, run.owner, run.repo),
            "organization": shapes.organization(api, run.owner),
            "installation": shapes.installation(self._installation_of(run.owner)),
            "sender": shapes.user(api, run.triggering_actor),
        }
        if with_run:
            # The run as a deployment status shows it: no head commit.
            payload["workflow"] = shapes.workflow(api, run)
            payload["workflow_run"] = {**shapes.workflow_run(api, run, pulls, now),
                                       "head_commit": None}
        return payload

    def deliver_protection_rule(self, url: str, run: WorkflowRun, environment: str, *,
                                delivery_id: str | None = None,
                                pull_requests: list[PullRequest] | None = None,
                                event: str | None = None, sender: str | None = None,
                                signature: str | None = None,
                                secret: str | None = None) -> requests.Response:
        """POST a signed `deployment_protection_rule` delivery to ``url``, as GitHub does."""
        payload = self.protection_rule_payload(run, environment, pull_requests=pull_requests,
                                               event=event, sender=sender)
        return self.deliver(url, "deployment_protection_rule", payload, delivery_id=delivery_id,
                            signature=signature, secret=secret)

    def deliver_workflow_run_completed(self, url: str, run: WorkflowRun, conclusion: str, *,
                                       delivery_id: str | None = None) -> requests.Response:
        """POST a signed `workflow_run` `completed` delivery to ``url``."""
        return self.deliver(url, "workflow_run", self.workflow_run_payload(run, conclusion),
                            delivery_id=delivery_id)

    def deliver_deployment_status(self, url: str, run: WorkflowRun, environment: str,
                                  state: str, *, delivery_id: str | None = None,
                                  with_run: bool = True,
                                  log_url: str | None = None) -> requests.Response:
        """POST a signed `deployment_status` `created` delivery to ``url``."""
        payload = self.deployment_status_payload(run, environment, state, with_run=with_run,
                                                 log_url=log_url)
        return self.deliver(url, "deployment_status", payload, delivery_id=delivery_id)

    def deliver(self, url: str, event: str, payload: dict[str, Any] | bytes, *,
                delivery_id: str | None = None, signature: str | None = None,
                secret: str | None = None, validate: bool = True) -> requests.Response:
        """POST one webhook: the payload checked against githubkit's model of ``event`` first.

        ``signature`` replaces the X-Hub-Signature-256 header ("" leaves it out); ``secret``
        signs with another secret (a forgery). Bytes are sent as they are, unchecked.
        """
        if isinstance(payload, bytes):
            body = payload
        else:
            if validate:
                # A payload githubkit's model refuses is a bug of this sandbox, not of the test.
                github_webhooks.parse_obj(event, payload)  # type: ignore[call-overload]
            body = json.dumps(payload).encode()
        delivery_id = delivery_id or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json", "User-Agent": shapes.HOOKSHOT,
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id,
            "X-GitHub-Hook-ID": "460000001",
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": self.app_id,
        }
        if signature is None:
            headers["X-Hub-Signature-256"] = github_webhooks.sign(
                secret or self.webhook_secret, body, "sha256")
        elif signature:
            headers["X-Hub-Signature-256"] = signature
        response = requests.post(url, data=body, headers=headers, timeout=10)
        with self._lock:
            self._deliveries.append(GitHubDelivery(
                event, delivery_id, url, payload if isinstance(payload, dict) else {},
                response.status_code))
        return response

    # WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        status, answer, headers, body = self._serve(request)
        with self._changed:
            self._requests.append(GitHubRequest(request.method, request.path, status, body))
            if 400 <= status < 500 and "fault" not in headers:
                self.rejected.append(GitHubRejection(request.method, request.path, status,
                                                     answer.get("message", "")))
            self._changed.notify_all()
        headers.pop("fault", None)
        response = Response(None if status == 204 else json.dumps(answer), status=status,
                            headers=headers, content_type=JSON_TYPE)
        return response(environ, start_response)

    def _serve(self, request: Request) -> tuple[int, dict[str, Any], dict[str, str], Any]:
        body: Any = None
        fault = self._take_fault()
        if fault is not None:
            headers = {"fault": "1"}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            message = "You have exceeded a secondary rate limit" if fault.status == 429 else (
                "Server Error")
            return fault.status, shapes.error(message), headers, body
        version = request.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in API_VERSIONS:
            return 400, shapes.error(f"Unsupported 'X-GitHub-Api-Version': {version!r}; "
                                     f"supported: {', '.join(sorted(API_VERSIONS))}"), {}, body
        try:
            endpoint, args = self._routes.bind_to_environ(request.environ).match()
        except HTTPException:
            return 404, shapes.error("Not Found"), {}, body
        try:
            if request.method == "POST":
                body = _json_body(request)
            status, answer = endpoint(request, body, **args)
            return status, answer, {}, body
        except _Refused as refusal:
            return refusal.status, refusal.body, {}, body

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            return fault

    # Endpoints

    def _mint_token(self, request: Request, body: Any,
                    installation_id: int) -> tuple[int, dict[str, Any]]:
        self._check_app_jwt(request)
        with self._lock:
            if installation_id not in self._installations:
                raise _Refused(404, "Not Found", TOKEN_DOCS)
            token = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
            expires = _now().replace(microsecond=0) + TOKEN_LIFETIME
            self._tokens[token] = (installation_id, expires)
            self.tokens_minted += 1
        return 201, {"token": token, "expires_at": _iso(expires),
                     "permissions": TOKEN_PERMISSIONS, "repository_selection": "all"}

    def _get_app(self, request: Request, body: Any) -> tuple[int, dict[str, Any]]:
        """GET /app: the App its JWT signs in as, with installations_count (GitHub shows it
        only to the App itself), checked against githubkit's model of GitHub's answer."""
        self._check_app_jwt(request)
        with self._lock:
            count = len(self._installations)
        number = int(self.app_id)
        app = {
            "id": number, "slug": self.app_slug, "client_id": f"Iv23li{number:014d}",
            "node_id": shapes.node_id("Integration", number),
            "owner": shapes.user(self.api_url, DEFAULT_OWNER, kind="Organization"),
            "name": self.app_slug, "description": "Deployment gate: production waits for an "
                                                  "approved change",
            "external_url": "https://changeguard.example.com",
            "html_url": f"{shapes.WEB_URL}/apps/{self.app_slug}",
            "created_at": shapes.EPOCH, "updated_at": shapes.EPOCH,
            "permissions": dict(self.app_permissions), "events": list(self.app_events),
            "installations_count": count,
        }
        Integration.model_validate(app)  # an answer githubkit refuses is a bug of the sandbox
        return 200, app

    def _check_app_jwt(self, request: Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _Refused(401, "A JSON web token could not be decoded")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise _Refused(401, "A JSON web token could not be decoded") from None
        if header.get("alg") != "RS256":
            raise _Refused(401, "A JSON web token could not be decoded")
        if str(claims.get("iss")) != self.app_id:
            raise _Refused(401, "'Issuer' claim ('iss') must be the App ID of this GitHub App")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or iat > time.time() + CLOCK_SKEW:
            raise _Refused(401, "'Issued at' claim ('iat') must be an Integer representing the "
                                "time that the assertion was issued")
        if not isinstance(exp, int) or exp < time.time() - CLOCK_SKEW:
            raise _Refused(401, "'Expiration time' claim ('exp') must be a numeric value "
                                "representing the future time at which the assertion expires")
        if exp - iat > JWT_MAX_LIFETIME:
            raise _Refused(401, "'Expiration time' claim ('exp') is too far in the future")
        try:
            jwt.decode(token, self._key.public_key(), algorithms=["RS256"],
                       options={"verify_exp": False, "verify_iat": False})
        except jwt.InvalidTokenError:
            raise _Refused(401, "A JSON web token could not be decoded") from None

    def _installation_for(self, request: Request, owner: str) -> int:
        """Return the installation a request's token acts as; 401/404 as GitHub answers."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            found = self._tokens.get(token) if scheme.lower() in {"bearer", "token"} else None
            if found is None or found[1] <= _now():
                raise _Refused(401, "Bad credentials")
            if self._installations[found[0]] != owner:
                raise _Refused(404, "Not Found")  # the App is not installed there
            return found[0]

    def _run_of(self, owner: str, repo: str, run_id: int) -> WorkflowRun:
        run = self._runs.get(run_id)
        if run is None or run.full_name != f"{owner}/{repo}":
            raise _Refused(404, "Not Found")
        return run

    def _review(self, request: Request, body: Any, owner: str, repo: str,
                run_id: int) -> tuple[int, dict[str, Any]]:
        installation_id = self._installation_for(request, owner)
        model = ReviewCustomGatesStateRequired if (
            isinstance(body, dict) and "state" in body) else ReviewCustomGatesCommentRequired
        try:
            review = model.model_validate(body)
        except pydantic.ValidationError as exc:
            raise _Refused(422, "Invalid request.\n\n" + _problems(exc), REVIEW_DOCS) from None
        environment, state = review.environment_name, getattr(review, "state", None)
        comment = body.get("comment")
        if state is None and len(comment) > MAX_REPORT_CHARS:
            raise _Refused(422, f"comment is too long (maximum is {MAX_REPORT_CHARS} "
                                "characters)", REVIEW_DOCS)
        with self._changed:
            run = self._run_of(owner, repo, run_id)
            key = (run_id, environment)
            if environment not in run.environments:
                raise _Refused(422, f"No pending deployment for environment '{environment}' is "
                                    "waiting for this app's protection rule", REVIEW_DOCS)
            if key in self._decided:
                raise _Refused(422, f"The deployment protection rule for '{environment}' was "
                                    f"already {self._decided[key]}", REVIEW_DOCS)
            if state is None and self._reports.get(key, 0) >= MAX_STATUS_REPORTS:
                raise _Refused(422, f"At most {MAX_STATUS_REPORTS} status reports can be posted "
                                    "for a deployment", REVIEW_DOCS)
            if state is None:
                self._reports[key] = self._reports.get(key, 0) + 1
            else:
                self._decided[key] = state
                self._settle(run)
            self._reviews.append(GitHubReview(
                run_id, run.full_name, environment, state, comment, installation_id,
                time.monotonic(), _now()))
        return 204, {}

    def _settle(self, run: WorkflowRun) -> None:
        states = [self._decided.get((run.id, e)) for e in run.environments]
        if "rejected" in states:
            run.status, run.conclusion = "completed", "failure"
        elif None not in states:
            run.status = "in_progress"

    def _get_run(self, request: Request, body: Any, owner: str, repo: str,
                 run_id: int) -> tuple[int, dict[str, Any]]:
        self._installation_for(request, owner)
        with self._lock:
            run = dataclasses.replace(self._run_of(owner, repo, run_id))
            pulls = [shapes.pull_request(self.api_url, owner, repo, p)
                     for p in self._pulls.get((run.full_name, run.head_sha), [])]
        return 200, shapes.workflow_run(self.api_url, run, pulls, _iso(_now()))

    def _commit_pulls(self, request: Request, body: Any, owner: str, repo: str,
                      sha: str) -> tuple[int, Any]:
        self._installation_for(request, owner)
        with self._lock:
            if f"{owner}/{repo}" not in self._repos:
                raise _Refused(404, "Not Found")
            pulls = list(self._pulls.get((f"{owner}/{repo}", sha), []))
        return 200, [shapes.pull_request(self.api_url, owner, repo, p) for p in pulls]

    def _installation_of(self, owner: str) -> int:
        with self._lock:
            return next(i for i, account in self._installations.items() if account == owner)


def _json_body(request: Request) -> Any:
    try:
        return json.loads(request.get_data() or b"null")
    except ValueError:
        raise _Refused(400, "Problems parsing JSON") from None


def _problems(exc: pydantic.ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                     for e in exc.errors())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> None:
    """Run the sandbox GitHub standalone and print what the worker's settings need."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    github = SandboxGitHub().start(port=args.port, host=args.host)
    print(f"Sandbox GitHub API at {github.api_url} (GITHUB_API_URL), GITHUB_APP_ID="
          f"{github.app_id}, GITHUB_WEBHOOK_SECRET={github.webhook_secret}, installation "
          f"{github.installation_id} on {DEFAULT_OWNER}/{DEFAULT_REPO}; private key:\n"
          f"{github.private_key_pem}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        github.stop()


if __name__ == "__main__":
    main()
