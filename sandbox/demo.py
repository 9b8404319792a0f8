"""Run changeguard on embedded defaults and walk through the Awaiting Approval gate."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from rq import Queue
from rq.job import Job
from rq.registry import FinishedJobRegistry

from .embedded_redis import EmbeddedRedis
from worker.runtime import connect_redis

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".changeguard"

INCOMPLETE = {
    "Description": "Rotate the TLS certificates on the edge proxies before they expire.",
    "Change Category": "Normal",
    "Change Type": "Infrastructure",
    "Rollback Plan": "TBD",
    "Risk Assessment": "Medium: a bad certificate chain would break HTTPS for every client.",
    "Planned Start": "2026-12-01T10:00:00.000+0000",
    "Planned End": "2026-12-01T11:00:00.000+0000",
}
COMPLETE = {
    **INCOMPLETE,
    "Deployment Plan": "Terraform apply of the new certificate bundle, one proxy pool at a time.",
    "Rollback Plan": "Re-apply the previous bundle from the Terraform state; takes 5 minutes.",
}


def run_demo(*, serve: bool = True) -> int:
    """Start everything, show a blocked and an accepted move, then keep serving until Ctrl-C."""
    from sandbox.jira_server import SandboxJira  # the sandboxes are dev/demo dependencies
    from sandbox.slack_server import SandboxSlack

    STATE_DIR.mkdir(exist_ok=True)
    processes: list[subprocess.Popen] = []
    embedded = None
    jira = slack = None
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            embedded = EmbeddedRedis()
            redis_url = embedded.start()
        secret = secrets.token_hex(16)
        jira = SandboxJira(webhook_secret=secret)
        jira.start()
        slack = SandboxSlack()
        slack.start()
        web_port = _free_port()
        env = {
            **os.environ,
            "JIRA_BASE_URL": jira.base_url,
            "JIRA_EMAIL": jira.bot.email,
            "JIRA_API_TOKEN": jira.bot.api_token,
            "JIRA_WEBHOOK_SECRET": secret,
            "REDIS_URL": redis_url,
            "CHANGEGUARD_NAMESPACE": "changeguard-demo-" + secrets.token_hex(3),
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_API_URL": slack.api_url,
        }
        web_url = f"http://127.0.0.1:{web_port}"
        processes.append(_spawn("web", [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT),
                                        "--bind", f"127.0.0.1:{web_port}", "--workers", "2",
                                        "wsgi:app"], env))
        processes.append(_spawn("worker", [sys.executable, "-m", "worker", "worker"], env))
        _wait_for_health(web_url, processes)
        jira.webhook_url = f"{web_url}/webhooks/jira"
        _say(f"changeguard demo\n"
             f"  sandbox Jira Cloud  {jira.base_url}  (users: {', '.join(jira.users)})\n"
             f"  webhook endpoint    {web_url}/webhooks/jira  (signed with a fresh secret)\n"
             f"  sandbox Slack       {slack.api_url}  (#deployments)\n"
             f"  Redis               {redis_url}{'  (embedded)' if embedded else ''}\n"
             f"  logs                {STATE_DIR}/web.log, {STATE_DIR}/worker.log\n")
        queue = Queue(env["CHANGEGUARD_NAMESPACE"], connection=connect_redis(redis_url))
        _walk(jira, queue, "1. An incomplete change request", INCOMPLETE)
        key = _walk(jira, queue, "2. A complete change request", COMPLETE)
        _deploy(jira, slack, queue, key)
        _agenda(env)
        if not serve:
            return 0
        _say("Everything keeps running. Call the sandbox Jira's REST API as any of these users "
             "(basic auth: email, API token); each change it makes is sent to changeguard:")
        for user in jira.users.values():
            _say(f"  {user.name:<12} {user.email:<28} {user.api_token}")
        _say(f"e.g. curl -u {jira.users['alice'].email}:{jira.users['alice'].api_token} "
             f"{jira.base_url}/rest/api/3/issue/CHG-2/comment\nCtrl-C stops.")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        _say("a changeguard process stopped; see the logs above")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if jira is not None:
            jira.stop()
        if slack is not None:
            slack.stop()
        if embedded is not None:
            embedded.stop()


def _walk(jira, queue: Queue, title: str, fields: dict[str, str]) -> str:
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", fields)
    _say(f"{title}: alice creates {key}")
    for name in ("Deployment Plan", "Rollback Plan"):
        _say(f"     {name}: {fields.get(name, '(empty)')}")
    _say(f"   alice moves {key} to Awaiting Approval")
    started = time.monotonic()
    jira.transition(key, "Awaiting Approval", as_user="alice")
    _wait_for_judgement(queue, key, jira.status_id("Awaiting Approval"))
    elapsed = time.monotonic() - started
    status = jira.status_of(key)
    comments = jira.comments(key)
    if comments:
        _say(f"   changeguard moved {key} back to {status} ({elapsed:.1f} s) and commented:")
        names = {user.account_id: user.display_name for user in jira.users.values()}
        for line in _render(comments[-1]["body"], names).splitlines():
            _say(f"     | {line}" if line.strip() else "     |")
    else:
        _say(f"   {key} stands in {status}: the gate passed, no comment ({elapsed:.1f} s)")
    _say("")
    return key


def _deploy(jira, slack, queue: Queue, key: str) -> None:
    """Approve, implement and close the complete change, showing what Slack hears."""
    steps = [("carol (CAB)", "carol", "Approved"), ("alice", "alice", "Implementing"),
             ("alice", "alice", "Implemented")]
    _say(f"3. {key} goes through approval and deployment")
    for who, user, status in steps:
        seen = len(slack.messages)
        jira.transition(key, status, as_user=user)
        _wait_for_judgement(queue, key, jira.status_id(status))
        if status != "Approved":  # the Slack notice is a follow-up job of the allowed move
            deadline = time.monotonic() + 15
            while len(slack.messages) == seen and time.monotonic() < deadline:
                time.sleep(0.05)
        _say(f"   {who} moves {key} to {status}: it stands in {jira.status_of(key)}")
        for message in slack.messages[seen:]:
            thread = " (in the thread)" if message.thread_ts else ""
            _say(f"     [slack {message.channel}]{thread} {message.text.splitlines()[0]}")
    record = jira.property(key, "changeguard") or {}
    approvals = (record.get("approvals") or {}).get("approvals", [])
    _say(f"   recorded on {key}: approvals {[(a['role']) for a in approvals]}, "
         f"{len(record.get('audit', []))} decisions in its audit trail")
    _say("")


def _agenda(env: dict[str, str]) -> None:
    """Build the next CAB meeting's agenda on demand and show the comment on the CAB epic."""
    _say("4. The CAB agenda for the next meeting (changeguard agenda; workers also post it by "
         "themselves 24 h before each meeting)")
    result = subprocess.run([sys.executable, "-m", "worker", "agenda"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    for line in (result.stdout or result.stderr).splitlines():
        _say(f"     | {line}" if line.strip() else "     |")
    _say("")


def _render(node, names: dict[str, str]) -> str:
    """Plain text of an ADF comment with mentions shown as @Display Name."""
    if node.get("type") == "text":
        return node.get("text", "")
    if node.get("type") == "mention":
        return "@" + names.get(node["attrs"]["id"], node["attrs"]["id"])
    inner = "".join(_render(child, names) for child in node.get("content", []))
    if node.get("type") == "listItem":
        return "  • " + inner
    return inner + ("\n" if node.get("type") in {"paragraph", "bulletList"} else "")


def _wait_for_judgement(queue: Queue, key: str, to_status_id: str, timeout: float = 30.0) -> None:
    """Wait until the worker has finished the job judging ``key``'s move into ``to_status_id``."""
    registry = FinishedJobRegistry(queue=queue)
    prefix = f"{queue.name}-transition-{key}-"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = [job_id for job_id in registry.get_job_ids() if job_id.startswith(prefix)]
        for job in Job.fetch_many(ids, connection=queue.connection):
            if job is not None and job.kwargs.get("to_status_id") == to_status_id:
                return
        time.sleep(0.05)
    raise TimeoutError(f"changeguard did not judge {key} within {timeout:.0f} s; see the logs")


def _wait_for_health(url: str, processes: list[subprocess.Popen], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[2]} exited early; see {STATE_DIR}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the web endpoint did not answer within {timeout:.0f} s")


def _spawn(name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
    log = open(STATE_DIR / f"{name}.log", "ab")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _say(line: str) -> None:
    print(line, flush=True)
