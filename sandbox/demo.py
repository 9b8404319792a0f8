"""Run changeguard on embedded defaults and walk through the Awaiting Approval gate."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import redis
import requests
from rq import Queue
from rq.job import Job
from rq.registry import FinishedJobRegistry

from sandbox.embedded_redis import EmbeddedRedis, EmbeddedRedisError
from sandbox.jira_server import SandboxJira
from sandbox.slack_server import SandboxSlack
from worker.runtime import connect_redis

STATE_DIR = Path.cwd() / ".changeguard"  # logs of the processes the demo starts

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


# A slow or busy machine boots gunicorn's workers, the RQ worker and the first jobs slowly:
# every wait is generous, and only a process that exits or a deadline that passes ends the demo.
READY_TIMEOUT_SECONDS = 180.0
JUDGEMENT_TIMEOUT_SECONDS = 120.0
SLACK_TIMEOUT_SECONDS = 60.0
AGENDA_TIMEOUT_SECONDS = 180.0


class DemoFailure(RuntimeError):
    """Something the demo needs did not work; the message is one line saying what and where."""


def run_demo(*, serve: bool = True) -> int:
    """Run the walkthrough; on a failure print one line saying what and where the log is."""
    STATE_DIR.mkdir(exist_ok=True)
    try:
        return _run(serve=serve)
    except KeyboardInterrupt:
        return 0
    except DemoFailure as exc:
        print(f"changeguard demo: {exc}", file=sys.stderr, flush=True)
    except Exception:  # anything else: the details go to a log, not over the walkthrough
        log = STATE_DIR / "demo.log"
        with log.open("a", encoding="utf-8") as handle:
            handle.write(traceback.format_exc())
        problem = traceback.format_exception_only(*sys.exc_info()[:2])[-1].strip()
        print(f"changeguard demo: failed: {problem.splitlines()[0]}; the traceback is in {log}",
              file=sys.stderr, flush=True)
    return 1


def _run(*, serve: bool) -> int:
    """Start everything, show a blocked and an accepted move, then keep serving until Ctrl-C."""
    processes: list[subprocess.Popen] = []
    embedded = None
    jira = slack = None
    try:
        redis_url = os.environ.get("REDIS_URL")
        if redis_url:
            _require_redis(redis_url)
        else:
            embedded = EmbeddedRedis()
            try:
                redis_url = embedded.start()
            except EmbeddedRedisError as exc:
                embedded = None
                raise DemoFailure(f"the embedded Redis did not start: {str(exc).splitlines()[0]}")
        secret = secrets.token_hex(16)
        # The OpenAPI check of the sandbox's traffic is a test instrument: the demo runs without it.
        jira = SandboxJira(webhook_secret=secret, spec_check=False)
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
        processes.append(_spawn("web", [sys.executable, "-m", "gunicorn", "--bind",
                                        f"127.0.0.1:{web_port}", "--workers", "2",
                                        "webhooks.app:create_app()"], env))
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
        _walk(jira, queue, processes, "1. An incomplete change request", INCOMPLETE)
        key = _walk(jira, queue, processes, "2. A complete change request", COMPLETE)
        _deploy(jira, slack, queue, processes, key)
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
        while True:
            _require_running(processes)
            time.sleep(0.5)
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


def _walk(jira, queue: Queue, processes: list[subprocess.Popen], title: str,
          fields: dict[str, str]) -> str:
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", fields)
    _say(f"{title}: alice creates {key}")
    for name in ("Deployment Plan", "Rollback Plan"):
        _say(f"     {name}: {fields.get(name, '(empty)')}")
    _say(f"   alice moves {key} to Awaiting Approval")
    started = time.monotonic()
    jira.transition(key, "Awaiting Approval", as_user="alice")
    _wait_for_judgement(queue, processes, key, jira.status_id("Awaiting Approval"))
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


def _deploy(jira, slack, queue: Queue, processes: list[subprocess.Popen], key: str) -> None:
    """Approve, implement and close the complete change, showing what Slack hears."""
    steps = [("carol (CAB)", "carol", "Approved"), ("alice", "alice", "Implementing"),
             ("alice", "alice", "Implemented")]
    _say(f"3. {key} goes through approval and deployment")
    for who, user, status in steps:
        seen = len(slack.messages)
        jira.transition(key, status, as_user=user)
        _wait_for_judgement(queue, processes, key, jira.status_id(status))
        if status != "Approved":  # the Slack notice is a follow-up job of the allowed move
            deadline = time.monotonic() + SLACK_TIMEOUT_SECONDS
            while len(slack.messages) == seen:
                _require_running(processes)
                if time.monotonic() > deadline:
                    raise DemoFailure(f"#deployments heard nothing of {key} moving to {status} "
                                      f"within {SLACK_TIMEOUT_SECONDS:.0f} s; see "
                                      f"{STATE_DIR / 'worker.log'}")
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
    try:
        result = subprocess.run([sys.executable, "-m", "worker", "agenda"], env=env,
                                capture_output=True, text=True, timeout=AGENDA_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise DemoFailure(f"changeguard agenda did not finish within "
                          f"{AGENDA_TIMEOUT_SECONDS:.0f} s") from None
    if result.returncode != 0:
        problem = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise DemoFailure(f"changeguard agenda failed (exit {result.returncode}): {problem[-1]}")
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


def _wait_for_judgement(queue: Queue, processes: list[subprocess.Popen], key: str,
                        to_status_id: str) -> None:
    """Wait until the worker has finished the job judging ``key``'s move into ``to_status_id``."""
    registry = FinishedJobRegistry(queue=queue)
    prefix = f"{queue.name}-transition-{key}-"
    deadline = time.monotonic() + JUDGEMENT_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        _require_running(processes)
        ids = [job_id for job_id in registry.get_job_ids() if job_id.startswith(prefix)]
        for job in Job.fetch_many(ids, connection=queue.connection):
            if job is not None and job.kwargs.get("to_status_id") == to_status_id:
                return
        time.sleep(0.05)
    raise DemoFailure(f"changeguard did not judge {key}'s move within "
                      f"{JUDGEMENT_TIMEOUT_SECONDS:.0f} s; see {STATE_DIR / 'worker.log'}")


def _wait_for_health(url: str, processes: list[subprocess.Popen], *,
                     attempt_seconds: float = 5.0) -> None:
    """Wait until /healthz answers 200; any connection or read error means "not ready yet"."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        _require_running(processes)
        try:
            if requests.get(f"{url}/healthz", timeout=attempt_seconds).status_code == 200:
                return
        except requests.RequestException:
            pass  # gunicorn's master accepts before its workers answer: not ready yet
        time.sleep(0.2)
    raise DemoFailure(f"the web endpoint did not answer {url}/healthz within "
                      f"{READY_TIMEOUT_SECONDS:.0f} s; see {STATE_DIR / 'web.log'}")


def _require_running(processes: list[subprocess.Popen]) -> None:
    """Fail with the process's name and log when one of changeguard's processes has exited."""
    for process in processes:
        if process.poll() is not None:
            name = process.args[-1] if process.args[-1] == "worker" else "web"
            raise DemoFailure(f"the {name} process exited (code {process.returncode}); "
                              f"see {STATE_DIR / (name + '.log')}")


def _require_redis(url: str) -> None:
    """Fail in one line when the Redis named by REDIS_URL does not answer."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5).ping()
    except redis.RedisError as exc:
        raise DemoFailure(f"Redis at REDIS_URL does not answer ({exc}); unset REDIS_URL to "
                          "use an embedded one") from None


def _spawn(name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
    log = open(STATE_DIR / f"{name}.log", "ab")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _say(line: str) -> None:
    print(line, flush=True)
