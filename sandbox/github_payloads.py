"""Build GitHub's JSON objects (users, repositories, runs, deployments, pull requests)."""

from __future__ import annotations

import base64
import dataclasses
import zlib
from typing import Any

WEB_URL = "https://github.com"
HOOKSHOT = "GitHub-Hookshot/5c4a2b1"
DOCS = "https://docs.github.com/rest"
EPOCH = "2026-01-05T09:00:00Z"  # when the sandbox's repositories were created


@dataclasses.dataclass
class PullRequest:
    """A pull request that contains a commit (`GET /repos/{o}/{r}/commits/{sha}/pulls`)."""

    number: int
    title: str
    head_ref: str
    head_sha: str
    base_ref: str = "main"
    body: str = ""
    author: str = "octocat"
    state: str = "closed"
    merged: bool = True


@dataclasses.dataclass
class WorkflowRun:
    """A workflow run; ``environments`` are those waiting for the app's protection rule."""

    id: int
    owner: str
    repo: str
    head_branch: str
    head_sha: str
    display_title: str
    head_commit_message: str
    actor: str
    triggering_actor: str
    environments: tuple[str, ...]
    event: str = "push"
    status: str = "waiting"
    conclusion: str | None = None
    name: str = "deploy"
    created_at: str = EPOCH

    @property
    def full_name(self) -> str:
        """Return "owner/repo"."""
        return f"{self.owner}/{self.repo}"

    @property
    def html_url(self) -> str:
        """Return the run's page on github.com."""
        return f"{WEB_URL}/{self.full_name}/actions/runs/{self.id}"


def object_id(name: str) -> int:
    """Return a stable numeric id for a login, a repository or a workflow (same name, same id)."""
    return zlib.crc32(name.encode()) % 90_000_000 + 10_000_000


def node_id(kind: str, number: int) -> str:
    """Return a GraphQL node id in GitHub's legacy form ("MDQ6VXNlcjE=" for user 1)."""
    raw = f"0{len(kind)}:{kind}{number}".encode()
    return base64.b64encode(raw).decode()


def user(api: str, login: str, *, kind: str = "User") -> dict[str, Any]:
    """Return a simple-user object."""
    number = object_id(login)
    base = f"{api}/users/{login}"
    return {
        "login": login, "id": number, "node_id": node_id(kind, number),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{number}?v=4", "gravatar_id": "",
        "url": base, "html_url": f"{WEB_URL}/{login}", "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions", "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos", "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events", "type": kind, "site_admin": False,
        "user_view_type": "public",
    }


def organization(api: str, login: str) -> dict[str, Any]:
    """Return an organization-simple object."""
    number = object_id(login)
    base = f"{api}/orgs/{login}"
    return {
        "login": login, "id": number, "node_id": node_id("Organization", number), "url": base,
        "repos_url": f"{base}/repos", "events_url": f"{base}/events", "hooks_url": f"{base}/hooks",
        "issues_url": f"{base}/issues", "members_url": f"{base}/members{{/member}}",
        "public_members_url": f"{base}/public_members{{/member}}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{number}?v=4", "description": "",
    }


def repository(api: str, owner: str, name: str) -> dict[str, Any]:
    """Return a repository object as webhook payloads carry it."""
    full_name = f"{owner}/{name}"
    number = object_id(full_name)
    base = f"{api}/repos/{full_name}"
    html = f"{WEB_URL}/{full_name}"
    templated = {
        "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
        "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
        "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
        "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}",
        "contents_url": "/contents/{+path}", "contributors_url": "/contributors",
        "deployments_url": "/deployments", "downloads_url": "/downloads", "events_url": "/events",
        "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}",
        "git_refs_url": "/git/refs{/sha}", "git_tags_url": "/git/tags{/sha}",
        "issue_comment_url": "/issues/comments{/number}",
        "issue_events_url": "/issues/events{/number}", "issues_url": "/issues{/number}",
        "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}",
        "languages_url": "/languages", "merges_url": "/merges",
        "milestones_url": "/milestones{/number}",
        "notifications_url": "/notifications{?since,all,participating}",
        "pulls_url": "/pulls{/number}", "releases_url": "/releases{/id}",
        "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
        "subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags",
        "teams_url": "/teams", "trees_url": "/git/trees{/sha}", "hooks_url": "/hooks",
    }
    return {
        "id": number, "node_id": node_id("Repository", number), "name": name,
        "full_name": full_name, "private": False,
        "owner": user(api, owner, kind="Organization"), "html_url": html,
        "description": None, "fork": False, "url": base,
        **{key: base + suffix for key, suffix in templated.items()},
        "git_url": f"git://github.com/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git",
        "clone_url": f"{html}.git", "svn_url": html, "mirror_url": None, "homepage": None,
        "language": "Python", "forks_count": 0, "forks": 0, "stargazers_count": 0,
        "watchers_count": 0, "watchers": 0, "size": 100, "default_branch": "main",
        "open_issues_count": 0, "open_issues": 0, "is_template": False, "topics": [],
        "has_issues": True, "has_projects": True, "has_wiki": True, "has_pages": False,
        "has_downloads": True, "has_discussions": False, "archived": False, "disabled": False,
        "visibility": "public", "license": None, "allow_forking": True,
        "web_commit_signoff_required": False,
        "pushed_at": EPOCH, "created_at": EPOCH, "updated_at": EPOCH,
    }


def installation(installation_id: int) -> dict[str, Any]:
    """Return the installation object of a delivery to a GitHub App."""
    return {"id": installation_id, "node_id": node_id("Integration::Installation",
                                                      installation_id)}


def pull_request(api: str, owner: str, name: str, pull: PullRequest) -> dict[str, Any]:
    """Return a pull-request object (the full shape: webhook payloads and the pulls endpoints)."""
    full_name = f"{owner}/{name}"
    number = object_id(f"{full_name}#{pull.number}")
    base = f"{api}/repos/{full_name}"
    html = f"{WEB_URL}/{full_name}/pull/{pull.number}"
    repo = repository(api, owner, name)
    when = EPOCH
    closed = when if pull.state == "closed" else None

    def end(ref: str, sha: str) -> dict[str, Any]:
        return {"label": f"{owner}:{ref}", "ref": ref, "sha": sha,
                "user": user(api, owner, kind="Organization"), "repo": repo}

    return {
        "url": f"{base}/pulls/{pull.number}", "id": number,
        "node_id": node_id("PullRequest", number), "html_url": html, "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch", "issue_url": f"{base}/issues/{pull.number}",
        "commits_url": f"{base}/pulls/{pull.number}/commits",
        "review_comments_url": f"{base}/pulls/{pull.number}/comments",
        "review_comment_url": f"{base}/pulls/comments{{/number}}",
        "comments_url": f"{base}/issues/{pull.number}/comments",
        "statuses_url": f"{base}/statuses/{pull.head_sha}", "number": pull.number,
        "state": pull.state, "locked": False, "title": pull.title,
        "user": user(api, pull.author), "body": pull.body or None, "labels": [],
        "milestone": None, "active_lock_reason": None, "created_at": when, "updated_at": when,
        "closed_at": closed, "merged_at": closed if pull.merged else None,
        "merge_commit_sha": pull.head_sha if pull.merged else None, "assignee": None,
        "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "head": end(pull.head_ref, pull.head_sha), "base": end(pull.base_ref, "0" * 40),
        "_links": {
            "self": {"href": f"{base}/pulls/{pull.number}"}, "html": {"href": html},
            "issue": {"href": f"{base}/issues/{pull.number}"},
            "comments": {"href": f"{base}/issues/{pull.number}/comments"},
            "review_comments": {"href": f"{base}/pulls/{pull.number}/comments"},
            "review_comment": {"href": f"{base}/pulls/comments{{/number}}"},
            "commits": {"href": f"{base}/pulls/{pull.number}/commits"},
            "statuses": {"href": f"{base}/statuses/{pull.head_sha}"},
        },
        "author_association": "MEMBER", "auto_merge": None, "draft": False,
        "merged": pull.merged, "mergeable": None, "rebaseable": None,
        "mergeable_state": "unknown", "merged_by": user(api, pull.author) if pull.merged else None,
        "comments": 0, "review_comments": 0, "maintainer_can_modify": False, "commits": 1,
        "additions": 1, "deletions": 0, "changed_files": 1,
    }


def deployment(api: str, run: WorkflowRun, environment: str, deployment_id: int,
               created_at: str) -> dict[str, Any]:
    """Return the deployment GitHub made for a job of ``run`` targeting ``environment``."""
    base = f"{api}/repos/{run.full_name}"
    return {
        "url": f"{base}/deployments/{deployment_id}", "id": deployment_id,
        "node_id": node_id("Deployment", deployment_id), "sha": run.head_sha,
        "ref": run.head_branch, "task": "deploy", "payload": {},
        "original_environment": environment, "environment": environment, "description": None,
        "creator": user(api, run.triggering_actor), "created_at": created_at,
        "updated_at": created_at,
        "statuses_url": f"{base}/deployments/{deployment_id}/statuses",
        "repository_url": base, "transient_environment": False,
        "production_environment": environment == "production",
    }


def head_commit(run: WorkflowRun) -> dict[str, Any]:
    """Return the run's head commit (the workflow-run shape)."""
    person = {"name": run.actor, "email": f"{run.actor}@users.noreply.github.com"}
    return {"id": run.head_sha, "tree_id": "f" * 40, "message": run.head_commit_message,
            "timestamp": run.created_at, "author": person, "committer": person}


def workflow(api: str, run: WorkflowRun) -> dict[str, Any]:
    """Return the workflow a run belongs to."""
    number = object_id(f"{run.full_name}:{run.name}")
    return {
        "id": number, "node_id": node_id("Workflow", number), "name": run.name,
        "path": f".github/workflows/{run.name}.yml", "state": "active",
        "created_at": EPOCH, "updated_at": EPOCH,
        "url": f"{api}/repos/{run.full_name}/actions/workflows/{number}",
        "html_url": f"{WEB_URL}/{run.full_name}/blob/main/.github/workflows/{run.name}.yml",
        "badge_url": f"{WEB_URL}/{run.full_name}/workflows/{run.name}/badge.svg",
    }


def workflow_run(api: str, run: WorkflowRun, pulls: list[dict[str, Any]],
                 updated_at: str) -> dict[str, Any]:
    """Return a workflow run as `GET /repos/{o}/{r}/actions/runs/{id}` and webhooks show it."""
    base = f"{api}/repos/{run.full_name}/actions/runs/{run.id}"
    repo = repository(api, run.owner, run.repo)
    flow = workflow(api, run)
    suite = object_id(f"{run.full_name}:suite:{run.id}")
    return {
        "id": run.id, "name": run.name, "node_id": node_id("WorkflowRun", run.id),
        "head_branch": run.head_branch, "head_sha": run.head_sha,
        "path": flow["path"], "display_title": run.display_title, "run_number": run.id % 1000,
        "run_attempt": 1, "event": run.event, "status": run.status,
        "conclusion": run.conclusion, "workflow_id": flow["id"], "check_suite_id": suite,
        "check_suite_node_id": node_id("CheckSuite", suite), "url": base,
        "html_url": run.html_url, "pull_requests": [_run_pull(p) for p in pulls],
        "created_at": run.created_at, "updated_at": updated_at,
        "run_started_at": run.created_at, "actor": user(api, run.actor),
        "triggering_actor": user(api, run.triggering_actor), "referenced_workflows": [],
        "jobs_url": f"{base}/jobs", "logs_url": f"{base}/logs",
        "check_suite_url": f"{api}/repos/{run.full_name}/check-suites/{suite}",
        "artifacts_url": f"{base}/artifacts", "cancel_url": f"{base}/cancel",
        "rerun_url": f"{base}/rerun", "previous_attempt_url": None,
        "workflow_url": flow["url"], "head_commit": head_commit(run),
        "repository": repo, "head_repository": repo,
    }


def _run_pull(pull: dict[str, Any]) -> dict[str, Any]:
    """Return the short pull-request form a workflow run lists."""
    def end(side: dict[str, Any]) -> dict[str, Any]:
        repo = side["repo"]
        return {"ref": side["ref"], "sha": side["sha"],
                "repo": {"id": repo["id"], "url": repo["url"], "name": repo["name"]}}

    return {"id": pull["id"], "number": pull["number"], "url": pull["url"],
            "head": end(pull["head"]), "base": end(pull["base"])}


def error(message: str, documentation_url: str = DOCS, **extra: Any) -> dict[str, Any]:
    """Return GitHub's error body."""
    return {"message": message, "documentation_url": documentation_url, **extra}
