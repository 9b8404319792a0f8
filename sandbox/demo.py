"""Run changeguard on embedded defaults and walk through its gates, in Jira and at deployment."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import redis
import requests
from rq import Queue
from rq.job import Job
from rq.registry import FinishedJobRegistry

from sandbox.embedded_redis import EmbeddedRedis, EmbeddedRedisError
from sandbox.github_server import GitHubReview, SandboxGitHub
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
# Deployed by a GitHub Actions run; its Planned window is set around the demo's start.
GATED_SUMMARY = "Offer Apple Pay at checkout"
GATED = {
    "Description": "Offer Apple Pay as a payment method on the shop's checkout page.",
    "Change Category": "Normal",
    "Change Type": "Application Code",
    "Deployment Plan": "Merge the pull request; the Deploy workflow of acme/shop rolls it out.",
    "Rollback Plan": "Revert the pull request; the Deploy workflow rolls the old build back out.",
    "Risk Assessment": "Low: behind a feature flag, and card payments are untouched.",
    "Risk Level": "Low",
}
GATED_ENVIRONMENT = "production"
# Approved for next week, then caught by a freeze declared in Jira.
FROZEN_SUMMARY = "Upgrade the payments SDK"
FROZEN = {**GATED, "Description": "Upgrade the payments provider's SDK to its new major version.",
          "Deployment Plan": "Merge the pull request; the Deploy workflow rolls it out.",
          "Rollback Plan": "Revert the pull request; the Deploy workflow rolls the old SDK back.",
          "Risk Assessment": "Medium: every card payment goes through the SDK."}
JIRA_TIME = "%Y-%m-%dT%H:%M:%S.000+0000"

T = TypeVar("T")


# A slow or busy machine boots gunicorn's workers, the RQ worker and the first jobs slowly:
# every wait is generous, and only a process that exits or a deadline that passes ends the demo.
READY_TIMEOUT_SECONDS = 180.0
JUDGEMENT_TIMEOUT_SECONDS = 120.0
SLACK_TIMEOUT_SECONDS = 60.0
AGENDA_TIMEOUT_SECONDS = 180.0
GITHUB_TIMEOUT_SECONDS = 120.0


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
    """Start everything, show both gates at work, then keep serving until Ctrl-C."""
    processes: list[subprocess.Popen] = []
    embedded = None
    jira = slack = github = None
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
        github = SandboxGitHub(webhook_secret=secrets.token_hex(16)).start()
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
            "GITHUB_APP_ID": github.app_id,
            "GITHUB_APP_PRIVATE_KEY": github.private_key_pem,
            "GITHUB_WEBHOOK_SECRET": github.webhook_secret,
            "GITHUB_API_URL": github.api_url,
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
             f"  webhook endpoints   {web_url}/webhooks/jira and /webhooks/github  (signed "
             f"with fresh secrets)\n"
             f"  sandbox Slack       {slack.api_url}  (#deployments)\n"
             f"  sandbox GitHub      {github.api_url}  (changeguard's App, installed on "
             f"acme/shop)\n"
             f"  Redis               {redis_url}{'  (embedded)' if embedded else ''}\n"
             f"  logs                {STATE_DIR}/web.log, {STATE_DIR}/worker.log\n")
        queue = Queue(env["CHANGEGUARD_NAMESPACE"], connection=connect_redis(redis_url))
        _walk(jira, queue, processes, "1. An incomplete change request", INCOMPLETE)
        key = _walk(jira, queue, processes, "2. A complete change request", COMPLETE)
        _deploy(jira, slack, queue, processes, key)
        _agenda(env)
        _gated_deploy(jira, slack, github, queue, processes, f"{web_url}/webhooks/github")
        _freeze(jira, slack, queue, processes)
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
        if github is not None:
            github.stop()
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
        _say_comment(jira, comments[-1])
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
            _wait_for(lambda: len(slack.messages) > seen, processes, SLACK_TIMEOUT_SECONDS,
                      f"#deployments heard nothing of {key} moving to {status}")
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


def _gated_deploy(jira, slack, github: SandboxGitHub, queue: Queue,
                  processes: list[subprocess.Popen], hook_url: str) -> None:
    """A GitHub deployment waits for the CAB, is released by the approval in Jira, and ends."""
    _say("5. A GitHub deployment waits at the gate for the CAB")
    fields = {**GATED, **_window_around_now()}
    key = jira.create_change_request("alice", GATED_SUMMARY, fields)
    _say(f"   alice creates {key} “{GATED_SUMMARY}”, planned {fields['Planned Start'][11:16]}"
         f"–{fields['Planned End'][11:16]} UTC (open now)")
    jira.transition(key, "Awaiting Approval", as_user="alice")
    _wait_for_judgement(queue, processes, key, jira.status_id("Awaiting Approval"))
    _say(f"   alice moves {key} to Awaiting Approval: it stands in {jira.status_of(key)}")

    title = f"{key}: offer Apple Pay at checkout"
    run = github.add_run(actor="bob", head_commit_message=f"Merge pull request #42 from "
                                                          f"acme/apple-pay\n\n{title}")
    github.add_pull_request(number=42, title=title, head_ref="apple-pay", head_sha=run.head_sha)
    _say(f"   bob merges pull request #42 “{title}” on acme/shop")
    _say(f"   its Deploy run {run.id} reaches {GATED_ENVIRONMENT}, an environment changeguard "
         f"protects:")
    _say("   GitHub holds the job and asks changeguard (a signed deployment_protection_rule "
         "webhook)")
    _deliver(github.deliver_protection_rule(hook_url, run, GATED_ENVIRONMENT))
    report = _wait_for_review(github, processes, run.id, None)
    _say(f"   {key} is not approved yet, so changeguard answers with a status report, which "
         f"GitHub shows:")
    _say(f"     | {report.comment}")

    _say(f"   carol (CAB) moves {key} to Approved in Jira")
    approved_at = time.monotonic()
    jira.transition(key, "Approved", as_user="carol")
    decision = _wait_for_review(github, processes, run.id, "approved")
    elapsed_ms = (decision.received_monotonic - approved_at) * 1000
    _say(f"   GitHub deployment released {elapsed_ms:.0f} ms after the approval (by the "
         f"approval's Jira webhook, no polling):")
    _say(f"     | approved: {decision.comment}")

    before = _wait_for(lambda: _starting_message(slack.messages, key), processes,
                       SLACK_TIMEOUT_SECONDS, f"#deployments heard nothing of {key}'s deployment")
    _say(f"   the deployment is {key}'s implementation: changeguard moved it to "
         f"{jira.status_of(key)}")
    _say_message(before, "")

    _say("   the run succeeds: GitHub sends a signed workflow_run webhook (completed, success)")
    _deliver(github.deliver_workflow_run_completed(hook_url, run, "success"))
    after = _wait_for(lambda: jira.status_of(key) == "Implemented"
                      and _outcome(jira, key) == "Successful"
                      and _run_link(jira, key, run.html_url, "succeeded")
                      and _reply_to(slack.messages, before, "Successful"), processes,
                      SLACK_TIMEOUT_SECONDS, f"{key} did not reach Implemented with Outcome "
                                             f"Successful, a link to the run and a reply in "
                                             f"#deployments")
    _say(f"   changeguard moved {key} to {jira.status_of(key)} with Outcome "
         f"{_outcome(jira, key)}")
    _say_message(after, " (in the thread)")
    link = _run_link(jira, key, run.html_url, "succeeded")
    _say(f"   remote link on {key}: {link['title']} → {link['url']}")
    _say("")


def _freeze(jira, slack, queue: Queue, processes: list[subprocess.Popen]) -> None:
    """A freeze declared in Jira withdraws an approval in its window, and holds the next one."""
    _say("6. A change freeze declared in Jira")
    day = (datetime.now(timezone.utc) + timedelta(days=7)).replace(hour=0, minute=0, second=0,
                                                                    microsecond=0)
    window = {"Planned Start": (day + timedelta(hours=10)).strftime(JIRA_TIME),
              "Planned End": (day + timedelta(hours=11)).strftime(JIRA_TIME)}
    key = jira.create_change_request("alice", FROZEN_SUMMARY, {**FROZEN, **window})
    for user, status in (("alice", "Awaiting Approval"), ("carol", "Approved")):
        jira.transition(key, status, as_user=user)
        _wait_for_move(jira, queue, processes, key)
    _say(f"   alice's {key} “{FROZEN_SUMMARY}”, planned {day:%a %d %b} 10:00–11:00 UTC, is "
         f"{jira.status_of(key)} by carol (CAB)")
    seen, comments = len(slack.messages), len(jira.comments(key))
    freeze = jira.create_freeze("dana", "Payments provider migration",
                                day + timedelta(hours=8), day + timedelta(hours=18), "Hard",
                                reason="The payments provider moves data centres that day.")
    _say(f"   dana (Head of Engineering) declares {freeze}: a hard freeze on {day:%a %d %b} "
         f"08:00–18:00 UTC")
    _wait_for(lambda: jira.status_of(key) == "Awaiting Approval"
              and len(jira.comments(key)) > comments and len(slack.messages) > seen, processes,
              JUDGEMENT_TIMEOUT_SECONDS, f"changeguard did not withdraw {key}'s approval for "
                                         f"{freeze}")
    _say(f"   changeguard moved {key} back to {jira.status_of(key)} and commented:")
    _say_comment(jira, jira.comments(key)[-1])
    for message in slack.messages[seen:]:
        _say_message(message, "")
    comments = len(jira.comments(key))
    _say(f"   carol moves {key} to Approved again")
    jira.transition(key, "Approved", as_user="carol")
    _wait_for_move(jira, queue, processes, key)
    _say(f"   the freeze holds it: {key} stands in {jira.status_of(key)}, and changeguard "
         f"commented:")
    for comment in jira.comments(key)[comments:]:
        _say_comment(jira, comment)
    _say("")


def _say_comment(jira, comment: dict) -> None:
    """Print a Jira comment's text, indented, with mentions as @Display Name."""
    names = {user.account_id: user.display_name for user in jira.users.values()}
    for line in _render(comment["body"], names).splitlines():
        _say(f"     | {line}" if line.strip() else "     |")


def _wait_for_move(jira, queue: Queue, processes: list[subprocess.Popen], key: str) -> None:
    """Wait until the worker has finished judging the latest status move of ``key``."""
    with jira.site.lock:
        changelog_id = jira.site.issue(key).histories[-1].id
    job_id = f"{queue.name}-transition-{key}-{changelog_id}"
    registry = FinishedJobRegistry(queue=queue)
    _wait_for(lambda: job_id in registry.get_job_ids(), processes, JUDGEMENT_TIMEOUT_SECONDS,
              f"changeguard did not judge {key}'s move")


def _deliver(answer: requests.Response) -> None:
    """Fail in one line when changeguard's GitHub endpoint did not accept a delivery."""
    if answer.status_code != 202:
        raise DemoFailure(f"the GitHub webhook endpoint answered {answer.status_code}, not 202; "
                          f"see {STATE_DIR / 'web.log'}")


def _window_around_now() -> dict[str, str]:
    """Return a Planned Start–End that is open now: from half an hour ago for two hours."""
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=30)
    return {"Planned Start": start.strftime(JIRA_TIME),
            "Planned End": (start + timedelta(hours=2)).strftime(JIRA_TIME)}


def _outcome(jira, key: str) -> str | None:
    """Return the value of the change's Outcome field, None while it is empty."""
    return (jira.value_of(key, "Outcome") or {}).get("value")


def _run_link(jira, key: str, url: str, text: str) -> dict | None:
    """Return the remote link on ``key`` to the run at ``url`` once its title reads ``text``."""
    return next((link["object"] for link in jira.remote_links(key)
                 if link["object"]["url"] == url and text in link["object"]["title"]), None)


def _starting_message(messages: list, key: str):
    """Return the "Deploying" message about ``key`` among ``messages``, if there is one."""
    return next((m for m in messages if m.thread_ts is None
                 and m.text.startswith(f":rocket: Deploying {key} ")), None)


def _reply_to(messages: list, parent, text: str):
    """Return the reply in ``parent``'s thread that now reads ``text`` somewhere, if any."""
    return next((m for m in messages if m.thread_ts == parent.ts and text in m.latest_text),
                None)


def _say_message(message, where: str) -> None:
    """Print a Slack message: its first line after the channel, the others below it."""
    first, *others = message.latest_text.splitlines()
    _say(f"     [slack {message.channel}]{where} {first}")
    for line in others:
        if line.strip():
            _say(f"       {line}")


def _wait_for_review(github: SandboxGitHub, processes: list[subprocess.Popen], run_id: int,
                     state: str | None) -> GitHubReview:
    """Wait until changeguard answered GitHub about run ``run_id`` (state None: a report)."""
    what = "status report" if state is None else f"“{state}” decision"

    def found() -> GitHubReview | None:
        return next((r for r in github.reviews if r.run_id == run_id and r.state == state), None)

    return _wait_for(found, processes, GITHUB_TIMEOUT_SECONDS,
                     f"GitHub received no {what} for run {run_id}")


def _wait_for(condition: Callable[[], T], processes: list[subprocess.Popen], timeout: float,
              what: str) -> T:
    """Return the first true value of ``condition``, or fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        _require_running(processes)
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoFailure(f"{what} within {timeout:.0f} s; see {STATE_DIR / 'worker.log'}")
        time.sleep(0.05)


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
