"""Changes, settings, job arguments and processes the job, worker and end-to-end tests share."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from rq import Queue

from rules.awaiting_approval_gate import Finding, Problem
from rules.move_comments import MoveContext, comment_for_move
from rules.policy import Category
from rules.policy import FieldRole as F
from rules.status_move import MoveDecision, Reason, Verdict
from tests.fixture_files import load_fixture
from webhooks.signature import sign
from worker.policy_file import load_policy
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
POLICY = load_policy()

# Settings

SECRET = "e2e webhook secret"


def settings_for(jira, redis_url: str, namespace: str, secret: str | None = SECRET,
                 slack=None) -> Settings:
    """Return the Settings a deployment pointed at this sandbox (and fake Slack) would build."""
    extra = {"slack_bot_token": slack.token, "slack_api_url": slack.api_url} if slack else {}
    # Tests drive periodic work with explicit ticks; the wall clock must not post agendas.
    return Settings(
        jira_base_url=jira.base_url, jira_email=jira.bot.email, jira_api_token=jira.bot.api_token,
        jira_webhook_secret=secret, redis_url=redis_url, namespace=namespace, periodic=False,
        **extra,
    )


# Every secret distinctive, so a test can look for each one in what it must not show up in.
WEBHOOK_SECRET = "sekret-webhook-secret-5678"
SLACK_BOT_TOKEN = "sekret-slack-bot-token-9012"
SLACK_SIGNING_SECRET = "sekret-slack-signing-secret-3456"
CALENDAR_TOKEN = "sekret-calendar-token-7890"
REDIS_PASSWORD = "sekret-redis-pw"


def with_password(url: str) -> str:
    """Return the Redis URL with REDIS_PASSWORD in it (a Redis without one accepts any)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f":{REDIS_PASSWORD}@{parts.hostname}:{parts.port}"))


# Changes

# A compliant Normal change; it passes the gate into Awaiting Approval (hence COMPLETE).
NORMAL = {
    "Description": "Rotate the TLS certificates on the edge proxies before they expire.",
    "Change Category": "Normal",
    "Change Type": "Infrastructure",
    "Deployment Plan": "Terraform apply of the new bundle, one proxy pool at a time.",
    "Rollback Plan": "Re-apply the previous bundle from the Terraform state.",
    "Risk Assessment": "Medium: a bad chain would break HTTPS for every client.",
    "Planned Start": "2026-12-01T10:00:00.000+0000",
    "Planned End": "2026-12-01T11:00:00.000+0000",
}
COMPLETE = NORMAL
INCOMPLETE = {**COMPLETE, "Rollback Plan": "TBD"}
del INCOMPLETE["Deployment Plan"]
INCOMPLETE_FINDINGS = (Finding(F.DEPLOYMENT_PLAN, Problem.MISSING),
                       Finding(F.ROLLBACK_PLAN, Problem.PLACEHOLDER, "TBD"))


def expected_comment(jira, actor="alice"):
    """Return the comment on ``actor``'s move of an INCOMPLETE change into Awaiting Approval."""
    decision = MoveDecision(Verdict.REVERT, Reason.GATE_FAILED, INCOMPLETE_FINDINGS,
                            jira.status_id("Draft"))
    context = MoveContext(actor=jira.users[actor].account_id, from_status="Draft",
                          to_status="Awaiting Approval", category=Category.NORMAL,
                          incident_commander=None, reverted=True)
    return comment_for_move(decision, context, POLICY)


# For the CAB agenda and the retrospectives: a Normal change with a risk level and no window
# (a test gives it one), an Emergency one, and the moves that take a Draft change to each status.
AGENDA_NORMAL = {**{name: value for name, value in NORMAL.items()
                    if not name.startswith("Planned")}, "Risk Level": "Medium"}
AGENDA_EMERGENCY = {**AGENDA_NORMAL, "Change Category": "Emergency", "Change Type": "Database",
                    "Incident Commander": "erin"}
PATH = {"Draft": [], "Awaiting Approval": ["Awaiting Approval"],
        "Approved": ["Awaiting Approval", "Approved"],
        "Implementing": ["Awaiting Approval", "Approved", "Implementing"],
        "Implemented": ["Awaiting Approval", "Approved", "Implementing", "Implemented"]}


def make_change(jira, summary, fields, status, implemented_at: datetime | None = None):
    """Create a change as alice and walk it to ``status``; backdate its move into Implemented."""
    key = jira.create_change_request("alice", summary, fields)
    for step in PATH[status]:
        jira.transition(key, step, as_user="alice")
    if implemented_at is not None:
        with jira.site.lock:  # the sandbox stamps history with the real clock: move it back
            jira.site.issue(key).histories[-1].created = implemented_at
    return key


# Jobs and what they did

def move_args(jira, key, actor):
    """Return the job arguments for the issue's latest status change, as the webhook gives them."""
    user = jira.users[actor]
    issue = requests.get(f"{jira.base_url}/rest/api/3/issue/{key}",
                         params={"fields": "status", "expand": "changelog"},
                         auth=(user.email, user.api_token), timeout=5).json()
    history = issue["changelog"]["histories"][-1]
    item = next(i for i in history["items"] if i["field"] == "status")
    return dict(issue_key=key, event_id=f"delivery-{history['id']}", timestamp=0,
                changelog_id=history["id"], from_status_id=item["from"], to_status_id=item["to"],
                actor_account_id=user.account_id)


def bot_calls(jira):
    """Return changeguard's requests to the sandbox as (method, last path segment)."""
    return [(r.method, r.path.rsplit("/", 1)[-1]) for r in jira.requests
            if r.account_id == jira.bot.account_id]


def way_back(jira, frm, to):
    """Return the id of the workflow's transition from status ``frm`` to ``to`` (by name)."""
    frm_id, to_id = jira.status_id(frm), jira.status_id(to)
    return next(t.id for t in jira.site.transitions
                if t.to_id == to_id and t.available_from(frm_id))


# Processes

def run_changeguard(*args, env_changes):
    """Run `changeguard ARGS…` in a subprocess with only ``env_changes`` configured."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JIRA_", "CHANGEGUARD_", "SLACK_", "REDIS_", "GITHUB_",
                                "GITLAB_"))}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-m", "worker", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def site_env(jira, redis_url, **extra):
    """Return the environment variables pointing changeguard at the sandbox and Redis."""
    return {"JIRA_BASE_URL": jira.base_url, "JIRA_EMAIL": jira.bot.email,
            "JIRA_API_TOKEN": jira.bot.api_token, "REDIS_URL": redis_url, **extra}


def free_port() -> int:
    """Return a port nothing listens on (until someone binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM ``process`` and wait for it; SIGKILL it if it is still there after 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wait_until(predicate: Callable[[], object], *, timeout: float = 15, what: str = "condition"):
    """Poll ``predicate`` until it is truthy; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


# Webhook deliveries to the endpoint (Flask's test client)

DELIVERY_SECRET = "s3cret-for-tests"
DELIVERY_URL = "/webhooks/jira"
DELIVERY = "9b2d3a5e-5d0c-4b1e-8f7a-2c6a1e0b7d44"
TRANSITION = "issue_updated_status_to_awaiting_approval"  # a fixture under tests/fixtures/jira


def make_settings(redis_url: str, namespace: str, **overrides: Any) -> Settings:
    """Return the endpoint's settings for a site that signs its webhooks with DELIVERY_SECRET."""
    values: dict[str, Any] = dict(
        jira_base_url="https://example.atlassian.net",
        jira_email="changeguard@example.com",
        jira_api_token="api-token",
        jira_webhook_secret=DELIVERY_SECRET,
        redis_url=redis_url,
        namespace=namespace,
    )
    return Settings(**{**values, **overrides})


def body_of(name: str, **changes: Any) -> bytes:
    """Return a fixture payload, with top-level keys changed, as the bytes Jira sends."""
    return json.dumps({**load_fixture(name), **changes}).encode()


def deliver(client: Any, body: bytes, *, delivery: str | None = DELIVERY,
            secret: str | None = DELIVERY_SECRET, signature: str | None = None,
            extra_headers: dict[str, str] | None = None) -> Any:
    """POST ``body`` as Jira would: with its delivery id and signed, unless told otherwise."""
    headers = {"Content-Type": "application/json", **(extra_headers or {})}
    if delivery is not None:
        headers["X-Atlassian-Webhook-Identifier"] = delivery
    if signature is not None:
        headers["X-Hub-Signature"] = signature
    elif secret is not None:
        headers["X-Hub-Signature"] = sign(secret, body)
    return client.post(DELIVERY_URL, data=body, headers=headers)


def queued(queue: Queue) -> list[tuple[str, dict]]:
    """Return (func, kwargs) of every job waiting in the queue, in order."""
    return [(job.func_name, job.kwargs) for job in queue.get_jobs()]


# Time, as the clients see it

class Waits(list):
    """Stands in for time.sleep: records how long a client chose to wait, and waits not."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Clock:
    """A monotonic clock that only the recorded waits move forward."""

    def __init__(self, waits: Waits):
        self.waits = waits

    def __call__(self) -> float:
        return 1000.0 + sum(self.waits)


def attachment_json(jira, number: int, filename: str, content: bytes, mime_type: str, *,
                    metadata: bool = False) -> dict:
    """Return the attachment JSON Jira gives (the id a number in GET attachment/{id}'s
    metadata, a string elsewhere), `created` read from the sandbox site's own record."""
    created = next(a["created"] for issue in jira.site.issues.values()
                   for a in jira.attachments(issue.key) if a["id"] == str(number))
    author = jira.bot.account_id
    return {
        "self": f"{jira.base_url}/rest/api/3/attachment/{number}",
        "id": number if metadata else str(number),
        "filename": filename,
        "author": {
            "self": f"{jira.base_url}/rest/api/3/user?accountId={author}",
            "accountId": author,
            "avatarUrls": {s: f"https://avatar-management.services.atlassian.com/default/{s}"
                           for s in ("48x48", "24x24", "16x16", "32x32")},
            "displayName": "changeguard",
            "active": True,
            "timeZone": "Etc/UTC",
            "accountType": "atlassian",
        },
        "created": created,
        "size": len(content),
        "mimeType": mime_type,
        "content": f"{jira.base_url}/rest/api/3/attachment/content/{number}",
    }


EXAMPLE_FREEZES_HEADER = "# [[freezes.recurring]]"


def with_example_freezes(policy_text: str) -> str:
    """Return the default policy's text with its commented-out example recurring freezes on
    (Weekend, soft, Friday 15:00 to Monday 08:00 London; Year end, hard, 24 Dec to 2 Jan)."""
    start = policy_text.index(EXAMPLE_FREEZES_HEADER)
    end = policy_text.index("\n[", start)
    block = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                      for line in policy_text[start:end].split("\n"))
    return policy_text[:start] + block + policy_text[end:]


def example_freezes_policy_path(tmp_path: Path) -> Path:
    """Write the default policy with its example recurring freezes on; return its path."""
    from worker.settings import DEFAULT_POLICY_PATH
    path = tmp_path / "policy-with-freezes.toml"
    path.write_text(with_example_freezes(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")),
                    encoding="utf-8")
    return path
