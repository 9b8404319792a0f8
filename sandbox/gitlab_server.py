"""Run a sandbox GitLab (deployments, their approval, their pipelines' hooks), recording all."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote

from werkzeug.wrappers import Request, Response

from sandbox.serving import ServingThread

from . import gitlab_contract as contract
from .gitlab_hooks import (GitLabDelivery, hook_body, job_hook_body, job_status,
                           pipeline_hook_body, pipeline_status, send)

__all__ = ["SandboxGitLab", "GitLabUser", "GitLabProject", "GitLabDeployment", "GitLabRequest",
           "GitLabApproval", "GitLabDelivery"]

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "glpat-sandbox-changeguard"
JSON_TYPE = "application/json"


@dataclasses.dataclass(frozen=True)
class GitLabUser:
    """A GitLab account; one with a token can call the API."""

    id: int
    username: str
    name: str
    email: str | None = None
    token: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class GitLabProject:
    """A project: deployments belong to one."""

    id: int
    path_with_namespace: str
    default_branch: str = "main"

    @property
    def name(self) -> str:
        """Return the project's name (the last part of its path)."""
        return self.path_with_namespace.rsplit("/", 1)[-1]

    @property
    def namespace(self) -> str:
        """Return the group part of its path."""
        return self.path_with_namespace.rsplit("/", 1)[0]


@dataclasses.dataclass
class GitLabDeployment:
    """A deployment of a CI job to an environment; ``blocked`` waits for approvals."""

    id: int
    iid: int
    project_id: int
    environment: str
    status: str
    ref: str
    sha: str
    user: GitLabUser
    job_id: int
    commit_title: str
    environment_tier: str = "production"
    external_url: str | None = None
    pipeline_id: int = 0  # the pipeline its job belongs to
    required_approvals: int = 1
    approval_rules: tuple[str, ...] = ()  # names represented_as may give (multiple rules)
    approvals: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    created_at: str = ""

    @property
    def pending_approval_count(self) -> int:
        """Return how many approvals it still needs."""
        approved = sum(1 for a in self.approvals if a["status"] == "approved")
        return max(0, self.required_approvals - approved)


@dataclasses.dataclass(frozen=True)
class GitLabRequest:
    """One API request served: verb, raw path, status, parameters, answer and how it authed."""

    method: str
    path: str
    status: int
    body: Any = dataclasses.field(repr=False)
    answer: Any = dataclasses.field(repr=False)
    auth: str | None = None  # "PRIVATE-TOKEN", "Bearer" or None
    query: dict[str, list[str]] | None = None  # the query string's parameters, if any


@dataclasses.dataclass(frozen=True)
class GitLabApproval:
    """An approval GitLab accepted, with when it arrived (time.monotonic())."""

    deployment_id: int
    status: str
    comment: str | None
    represented_as: str | None
    username: str
    arrived: float


class _Answer(Exception):
    """An error answer; ``rejected`` marks one GitLab gives to a request it refuses."""

    def __init__(self, status: int, body: dict[str, Any], *, rejected: bool = True,
                 retry_after: int | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.rejected = status, body, rejected
        self.retry_after = retry_after


class SandboxGitLab:
    """A local GitLab REST API v4 subset: GET user, list, GET and approve deployments, hooks."""

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self._lock = threading.Condition()
        self._users: list[GitLabUser] = []
        self._projects: dict[int, GitLabProject] = {}
        self._deployments: dict[int, GitLabDeployment] = {}
        self._requests: list[GitLabRequest] = []
        self._approvals: list[GitLabApproval] = []
        self._rejections: list[GitLabRequest] = []
        self._faults: list[tuple[int, int | None, bool]] = []
        self._hooks: list[tuple[str, str | None, frozenset[str]]] = []
        self._pipelines: dict[int, str] = {}  # pipeline id -> its status, as last hooked
        self._deliveries: list[GitLabDelivery] = []
        self._serving: ServingThread | None = None
        self.url = "http://gitlab.sandbox"
        self.bot = self.add_user("changeguard-bot", "changeguard", None, token=token)
        self.deployer = self.add_user("dana", "Dana Developer", "dana@example.com")

    # Lifecycle

    def start(self, port: int = 0, host: str = "127.0.0.1") -> SandboxGitLab:
        """Serve on host:port (a free port by default) in a daemon thread."""
        self._serving = ServingThread(self, name="sandbox-gitlab", host=host, port=port)
        self.url = self._serving.url
        return self

    def stop(self) -> None:
        """Stop serving and join the server thread."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> SandboxGitLab:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Site

    def add_user(self, username: str, name: str, email: str | None, *,
                 token: str | None = None) -> GitLabUser:
        """Create an account (with an access token if given)."""
        with self._lock:
            user = GitLabUser(len(self._users) + 1, username, name, email, token)
            self._users.append(user)
            return user

    def add_project(self, path_with_namespace: str, project_id: int | None = None) -> GitLabProject:
        """Create a project ("group/name")."""
        with self._lock:
            project = GitLabProject(project_id or 100 + len(self._projects), path_with_namespace)
            self._projects[project.id] = project
            return project

    def add_deployment(self, project: GitLabProject, environment: str = "production", *,
                       status: str = "blocked", ref: str = "main", sha: str | None = None,
                       user: GitLabUser | None = None, commit_title: str = "Deploy",
                       **options: Any) -> GitLabDeployment:
        """Create a deployment (blocked by default: a job waiting for approval) in a pipeline
        of its own (or the ``pipeline_id`` given), whose hook goes out if its status changes."""
        [deployment] = self.add_pipeline(project, (environment,), status=status, ref=ref,
                                         sha=sha, user=user, commit_title=commit_title,
                                         **options)
        return deployment

    def add_pipeline(self, project: GitLabProject, environments: Iterable[str], *,
                     status: str = "blocked", ref: str = "main", sha: str | None = None,
                     user: GitLabUser | None = None, commit_title: str = "Deploy",
                     **options: Any) -> list[GitLabDeployment]:
        """Create one pipeline whose deploy jobs (one per environment, in one stage) reach
        their deployments together: one Pipeline Hook names them all (e.g. all blocked)."""
        if status not in contract.DEPLOYMENT_STATUSES:
            raise ValueError(f"{status!r} is not a deployment status")
        environments = list(environments)
        if not environments:
            raise ValueError("a pipeline's deploy jobs deploy to at least one environment")
        with self._lock:
            made = []
            for environment in environments:
                number = len(self._deployments) + 1
                deployment = GitLabDeployment(
                    id=1000 + number, iid=number, project_id=project.id,
                    environment=environment, status=status, ref=ref,
                    sha=sha or (made[0].sha if made else f"{number:08x}" * 5),
                    user=user or self.deployer, job_id=5000 + number,
                    commit_title=commit_title, created_at=_iso_now(),
                    **{"pipeline_id": made[0].pipeline_id if made else 4000 + number,
                       **options})
                self._deployments[deployment.id] = deployment
                made.append(deployment)
            self._pipeline_moved(made[0].pipeline_id)
            return [dataclasses.replace(d, approvals=[]) for d in made]

    def deployment(self, deployment_id: int) -> GitLabDeployment:
        """Return a copy of a deployment as it is now."""
        with self._lock:
            found = self._deployments[deployment_id]
            return dataclasses.replace(found, approvals=list(found.approvals))

    def add_hook(self, url: str, token: str | None, *, deployment_events: bool = True,
                 pipeline_events: bool = True) -> None:
        """Add a project webhook (its settings named as GitLab's hooks API names them): a
        Deployment Hook whenever a deployment starts or ends, a Pipeline Hook whenever a
        pipeline's status changes, e.g. to ``manual`` when its deploy job waits for approval.

        No Job Hook goes out when a deployment is created blocked: GitLab moves the job to
        ``manual`` without running job hooks (see sandbox/gitlab_contract.py).
        """
        kinds = {kind for kind, wanted in (("deployment", deployment_events),
                                           ("pipeline", pipeline_events)) if wanted}
        with self._lock:
            self._hooks.append((url, token, frozenset(kinds)))

    def move_deployment(self, deployment_id: int, status: str) -> GitLabDeployment:
        """Move a deployment as its job does when a runner runs it (running), or it ends
        (success, failed, canceled): the hooks GitLab sends for that go out."""
        if status not in contract.HOOK_STATUSES:
            raise ValueError(f"a runner moves a deployment to {', '.join(contract.HOOK_STATUSES)}"
                             f", not {status!r}")
        with self._lock:
            deployment = self._deployments[deployment_id]
            self._moved(deployment, status)
            return dataclasses.replace(deployment, approvals=list(deployment.approvals))

    # Recordings and faults

    @property
    def requests(self) -> list[GitLabRequest]:
        """Return every API request served, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def approvals(self) -> list[GitLabApproval]:
        """Return every approval or rejection GitLab accepted, oldest first."""
        with self._lock:
            return list(self._approvals)

    @property
    def deliveries(self) -> list[GitLabDelivery]:
        """Return every hook the sandbox sent by itself (add_hook), oldest first."""
        with self._lock:
            return list(self._deliveries)

    def wait_for_deliveries(self, count: int, timeout: float = 10.0) -> list[GitLabDelivery]:
        """Block until the sandbox has sent ``count`` hooks by itself; return them all."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._deliveries) >= count, timeout):
                raise TimeoutError(f"{len(self._deliveries)} of {count} hooks sent within "
                                   f"{timeout} s")
            return list(self._deliveries)

    def take_rejections(self) -> list[GitLabRequest]:
        """Return and forget the requests GitLab would have refused (a fault's answers excluded)."""
        with self._lock:
            taken, self._rejections = self._rejections, []
            return taken

    def fail_next(self, status: int, count: int = 1, retry_after: int | None = None, *,
                  applied: bool = False) -> None:
        """Make the next ``count`` API requests answer ``status`` (with Retry-After if given).

        ``applied=True``: each request still takes effect, only its answer is lost (a proxy's 502
        after GitLab acted).
        """
        with self._lock:
            self._faults += [(status, retry_after, applied)] * count

    def wait_for_approval(self, deployment_id: int, status: str,
                          timeout: float = 10.0) -> GitLabApproval:
        """Block until an approval with ``status`` for the deployment arrives; return it."""
        def found() -> GitLabApproval | None:
            return next((a for a in self._approvals
                         if (a.deployment_id, a.status) == (deployment_id, status)), None)

        with self._lock:
            if not self._lock.wait_for(lambda: found() is not None, timeout):
                raise TimeoutError(f"no {status} approval of deployment {deployment_id} "
                                   f"within {timeout} s")
            return found()  # type: ignore[return-value]

    # Hooks

    def hook_body(self, deployment_id: int, status: str | None = None) -> dict[str, Any]:
        """Return the Deployment Hook body GitLab sends for the deployment (now, or in status)."""
        with self._lock:
            deployment = self._deployments[deployment_id]
            project = self._projects[deployment.project_id]
            return hook_body(self.url, project, deployment, status or deployment.status,
                             _ruby_now())

    def deliver_deployment(self, url: str, deployment_id: int, status: str | None = None, *,
                           token: str | None, idempotency_key: str | None = None,
                           forge: bool = False) -> GitLabDelivery:
        """POST the deployment's hook to ``url`` with ``token`` in X-Gitlab-Token.

        GitLab only sends running, success, failed and canceled: ``forge=True`` sends any other
        status (e.g. blocked) for a test of what the receiver does with it.
        """
        return send(url, self.hook_body(deployment_id, status), token=token, site=self.url,
                    idempotency_key=idempotency_key, status_check=not forge)

    def job_hook_body(self, deployment_id: int, status: str | None = None) -> dict[str, Any]:
        """Return the Job Hook body of the deployment's job (its status now, or ``status``)."""
        with self._lock:
            deployment = self._deployments[deployment_id]
            project = self._projects[deployment.project_id]
            return job_hook_body(self.url, project, deployment,
                                 status or job_status(deployment.status),
                                 deployment.created_at, deployment.pipeline_id)

    def pipeline_hook_body(self, pipeline_id: int, status: str | None = None) -> dict[str, Any]:
        """Return the Pipeline Hook body of a pipeline (its status now, or ``status``)."""
        with self._lock:
            return self._pipeline_body(pipeline_id, status)

    def deliver_pipeline(self, url: str, pipeline_id: int, status: str | None = None, *,
                         token: str | None, idempotency_key: str | None = None,
                         forge: bool = False) -> GitLabDelivery:
        """POST the pipeline's hook to ``url`` (its status now by default; GitLab never sends
        ``created``: ``forge=True`` sends it anyway)."""
        return send(url, self.pipeline_hook_body(pipeline_id, status), token=token,
                    site=self.url, idempotency_key=idempotency_key, status_check=not forge)

    def deliver_job(self, url: str, deployment_id: int, status: str | None = None, *,
                    token: str | None, idempotency_key: str | None = None,
                    forge: bool = False) -> GitLabDelivery:
        """POST the Job Hook of the deployment's job to ``url`` (its status now by default).

        GitLab sends job hooks for created, pending, running, success, failed and canceled,
        never for ``manual`` (a job waiting for approval): ``forge=True`` sends one anyway.
        """
        return send(url, self.job_hook_body(deployment_id, status), token=token, site=self.url,
                    idempotency_key=idempotency_key, status_check=not forge)

    def redeliver(self, delivery: GitLabDelivery, *, token: str | None = None) -> GitLabDelivery:
        """Send a delivery again as GitLab's retry does: same body, same Idempotency-Key."""
        return send(delivery.url, json.loads(delivery.body), site=self.url,
                    token=token if token is not None else delivery.headers.get("X-Gitlab-Token"),
                    idempotency_key=delivery.idempotency_key, status_check=False)

    def _moved(self, deployment: GitLabDeployment, status: str) -> None:
        """Record a status change (lock held); hooks go out from a thread, as Sidekiq's do."""
        deployment.status = status
        if status in contract.HOOK_STATUSES:
            project = self._projects[deployment.project_id]
            self._send_hooks("deployment",
                             hook_body(self.url, project, deployment, status, _ruby_now()))
        self._pipeline_moved(deployment.pipeline_id)

    def _pipeline_moved(self, pipeline_id: int) -> None:
        """Send the pipeline's hook if its status changed (lock held): never twice in a row
        for one status, never for ``created`` (GitLab's state machine skips loopbacks)."""
        status = self._pipeline_status(pipeline_id)
        if self._pipelines.get(pipeline_id, "created") == status:
            return
        self._pipelines[pipeline_id] = status
        self._send_hooks("pipeline", self._pipeline_body(pipeline_id, status))

    def _pipeline_status(self, pipeline_id: int) -> str:
        jobs = [job_status(d.status) for d in self._deployments.values()
                if d.pipeline_id == pipeline_id]
        return pipeline_status(["success", *jobs])  # its build job passed

    def _pipeline_body(self, pipeline_id: int, status: str | None) -> dict[str, Any]:
        jobs = [d for d in self._deployments.values() if d.pipeline_id == pipeline_id]
        if not jobs:
            raise KeyError(f"no pipeline {pipeline_id}")
        return pipeline_hook_body(self.url, self._projects[jobs[0].project_id], pipeline_id,
                                  jobs, status or self._pipeline_status(pipeline_id),
                                  _ruby_utc(jobs[0].created_at))

    def _send_hooks(self, kind: str, body: dict[str, Any]) -> None:
        for url, token, kinds in self._hooks:
            if kind in kinds:
                threading.Thread(target=self._deliver_in_background, args=(url, body, token),
                                 daemon=True, name="sandbox-gitlab-hook").start()

    def _deliver_in_background(self, url: str, body: dict[str, Any], token: str | None) -> None:
        delivery = send(url, body, token=token, site=self.url)
        with self._lock:
            self._deliveries.append(delivery)
            self._lock.notify_all()

    # WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        # The raw path keeps %2F in a project path ("group%2Fproject") apart from real slashes.
        raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path)
        raw_path = raw_path.split("?", 1)[0]
        body: Any = None
        headers: dict[str, str] = {}
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        try:
            body = _body(request)
            if fault is not None and not fault[2]:
                raise _fault(fault)
            status, answer = self._serve(request, raw_path, body)
            if isinstance(answer, _Paged):
                headers.update(answer.headers)
                answer = answer.items
            if fault is not None:
                raise _fault(fault)
        except _Answer as refusal:
            status, answer = refusal.status, refusal.body
            if refusal.rejected:
                with self._lock:
                    self._rejections.append(GitLabRequest(request.method, raw_path, status,
                                                          body, answer, _auth_kind(request),
                                                          _query(request)))
            if refusal.retry_after is not None:
                headers["Retry-After"] = str(refusal.retry_after)
        with self._lock:
            self._requests.append(GitLabRequest(request.method, raw_path, status, body, answer,
                                                _auth_kind(request), _query(request)))
            self._lock.notify_all()
        response = Response(json.dumps(answer), status=status, headers=headers,
                            content_type=JSON_TYPE)
        return response(environ, start_response)

    def _serve(self, request: Request, raw_path: str, body: Any) -> tuple[int, Any]:
        with self._lock:
            user = self._caller(request)
            parts = raw_path.removeprefix("/api/v4/").split("/")
            if (request.method, parts) == ("GET", ["user"]):
                return 200, _user_json(self.url, user, full=True)
            if request.method == "GET" and len(parts) == 3 and parts[0] == "projects" \
                    and parts[2] == "deployments":
                return 200, self._list(self._project(unquote(parts[1])), request, raw_path)
            if len(parts) >= 4 and parts[0] == "projects" and parts[2] == "deployments":
                project = self._project(unquote(parts[1]))
                if request.method == "GET" and len(parts) == 4:
                    return 200, self._deployment_json(self._find(project, parts[3]))
                if request.method == "POST" and parts[4:] == ["approval"]:
                    return 201, self._approve(project, parts[3], body, user)
            raise _Answer(404, {"error": "404 Not Found"})

    def _caller(self, request: Request) -> GitLabUser:
        token = request.headers.get("PRIVATE-TOKEN")
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        if token is None and scheme.lower() == "bearer":
            token = bearer.strip()
        user = next((u for u in self._users if token and u.token == token), None)
        if user is None:
            raise _Answer(401, contract.UNAUTHORIZED)
        return user

    def _project(self, id_or_path: str) -> GitLabProject:
        for project in self._projects.values():
            if id_or_path in {str(project.id), project.path_with_namespace}:
                return project
        raise _Answer(404, contract.PROJECT_NOT_FOUND)

    def _find(self, project: GitLabProject, deployment_id: str) -> GitLabDeployment:
        if not deployment_id.isdigit():
            raise _Answer(400, {"error": "deployment_id is invalid"})
        found = self._deployments.get(int(deployment_id))
        if found is None or found.project_id != project.id:
            raise _Answer(404, contract.NOT_FOUND)
        return found

    def _approve(self, project: GitLabProject, deployment_id: str, body: Any,
                 user: GitLabUser) -> dict[str, Any]:
        # Grape validates the parameters before the endpoint looks anything up.
        errors = (["deployment_id is invalid"] if not deployment_id.isdigit() else [])
        errors += contract.approval_errors(body if isinstance(body, dict) else {})
        if errors:
            raise _Answer(400, {"error": ", ".join(errors)})
        deployment = self._find(project, deployment_id)
        status, comment = body["status"], body.get("comment")
        represented_as = body.get("represented_as")
        # Deployments::ApprovalService#validate, in its order.
        if deployment.user.id == user.id and status == "approved":
            raise _Answer(400, {"message": contract.OWN_DEPLOYMENT})
        if deployment.status != "blocked" or deployment.pending_approval_count == 0:
            raise _Answer(400, {"message": contract.NOT_WAITING})
        if represented_as and deployment.approval_rules \
                and represented_as not in deployment.approval_rules:
            raise _Answer(400, {"message": contract.NO_SUCH_RULE})
        approval = next((a for a in deployment.approvals if a["user"]["id"] == user.id), None)
        if approval is None or approval["status"] != status:
            if approval is not None:
                deployment.approvals.remove(approval)
            approval = {"user": _user_json(self.url, user), "status": status,
                        "created_at": _iso_now(), "comment": comment}
            deployment.approvals.append(approval)
        self._approvals.append(GitLabApproval(deployment.id, status, comment, represented_as,
                                              user.username, time.monotonic()))
        # A rejection drops the job (the deployment fails); the last approval lets it run.
        if status == "rejected":
            self._moved(deployment, "failed")
        elif deployment.pending_approval_count == 0:
            self._moved(deployment, "running")
        return dict(approval)

    def _list(self, project: GitLabProject, request: Request, raw_path: str) -> Any:
        """Answer GET /projects/:id/deployments: filters, order and one page (with Link)."""
        params = dict(request.args.items())
        errors = contract.list_errors(params)
        if errors is not None:
            raise _Answer(400, errors)
        found = [d for d in self._deployments.values() if d.project_id == project.id
                 and params.get("environment", d.environment) == d.environment
                 and params.get("status", d.status) == d.status]
        # Ids grow with time here: every allowed order is the id's (as GitLab's finder notes).
        found.sort(key=lambda d: d.id, reverse=params.get("sort") == "desc")
        page = max(1, int(params.get("page") or 1))
        per_page = min(contract.MAX_PER_PAGE, max(1, int(params.get("per_page") or 20)))
        shown = found[(page - 1) * per_page:page * per_page]
        more = page * per_page < len(found)
        # The list shows Entities::Deployment: no approvals (those are DeploymentExtended's).
        items = [{k: v for k, v in self._deployment_json(d).items()
                  if k not in ("approvals", "pending_approval_count")} for d in shown]
        headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(found)),
                   "X-Next-Page": str(page + 1) if more else ""}
        if more:
            headers["Link"] = f'<{_page_url(request, raw_path, page + 1)}>; rel="next"'
        return _Paged(items, headers)

    def _deployment_json(self, deployment: GitLabDeployment) -> dict[str, Any]:
        project = self._projects[deployment.project_id]
        web_url = f"{self.url}/{project.path_with_namespace}"
        commit = {"id": deployment.sha, "short_id": deployment.sha[:8],
                  "title": deployment.commit_title, "message": deployment.commit_title,
                  "author_name": deployment.user.name,
                  "author_email": deployment.user.email or "", "created_at": deployment.created_at}
        return {
            "id": deployment.id, "iid": deployment.iid, "ref": deployment.ref,
            "sha": deployment.sha, "created_at": deployment.created_at,
            "updated_at": deployment.created_at, "status": deployment.status,
            "user": _user_json(self.url, deployment.user),
            "environment": {"id": 10 + deployment.project_id, "name": deployment.environment,
                            "external_url": deployment.external_url},
            "deployable": {
                "id": deployment.job_id, "status": job_status(deployment.status),
                "stage": "deploy", "name": "deploy",
                "ref": deployment.ref, "tag": False, "coverage": None,
                "created_at": deployment.created_at, "started_at": None, "finished_at": None,
                "web_url": f"{web_url}/-/jobs/{deployment.job_id}",
                "user": _user_json(self.url, deployment.user), "commit": commit,
                "pipeline": {"id": deployment.pipeline_id, "ref": deployment.ref,
                             "sha": deployment.sha,
                             "status": self._pipeline_status(deployment.pipeline_id),
                             "web_url": f"{web_url}/-/pipelines/{deployment.pipeline_id}"},
            },
            "pending_approval_count": deployment.pending_approval_count,
            "approvals": [dict(a) for a in deployment.approvals],
        }


@dataclasses.dataclass(frozen=True)
class _Paged:
    """One page of a list answer and its pagination headers."""

    items: list[Any]
    headers: dict[str, str]


def _page_url(request: Request, raw_path: str, page: int) -> str:
    args = {**dict(request.args.items()), "page": str(page)}
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in args.items())
    return f"{request.host_url.rstrip('/')}{raw_path}?{query}"


def _fault(fault: tuple[int, int | None, bool]) -> _Answer:
    status, retry_after, _ = fault
    return _Answer(status, {"message": f"{status} sandbox fault"}, rejected=False,
                   retry_after=retry_after)


def _query(request: Request) -> dict[str, list[str]] | None:
    return {k: request.args.getlist(k) for k in request.args} or None


def _auth_kind(request: Request) -> str | None:
    if "PRIVATE-TOKEN" in request.headers:
        return "PRIVATE-TOKEN"
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return "Bearer"
    return None


def _body(request: Request) -> Any:
    """Return the request's parameters: JSON (python-gitlab) or a form (curl --data)."""
    if request.method == "GET":
        return None
    if request.mimetype == "application/json":
        raw = request.get_data()
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise _Answer(400, {"error": "The provided content-type 'application/json' is "
                                         "invalid"}) from None
    return dict(request.form.items())


def _user_json(site: str, user: GitLabUser, *, full: bool = False) -> dict[str, Any]:
    value: dict[str, Any] = {"id": user.id, "username": user.username, "name": user.name,
                             "state": "active", "avatar_url": f"{site}/uploads/{user.username}.png",
                             "web_url": f"{site}/{user.username}"}
    if full:
        value.update(email=user.email, bot=user.token is not None and user.email is None)
    return value


def _iso_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _ruby_utc(iso: str) -> str:
    # A pipeline's times in its hook: "2016-08-12 15:23:28 UTC".
    return datetime.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ruby_now() -> str:
    # status_changed_at is Ruby's Time#to_s: "2021-04-28 21:50:00 +0200".
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S %z")
