"""Start the real parts for end-to-end tests: sandbox Jira, the web app over HTTP, a worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rq import Queue, Worker
from rq.job import Job

from sandbox.serving import ServingThread
from webhooks.app import create_app
from worker.runtime import connect_redis
from worker.settings import Settings

from ..builders import ROOT, stop_process, wait_until


def env_for(settings: Settings) -> dict[str, str]:
    """Return the environment variables that make Settings.from_env() build ``settings``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JIRA_", "CHANGEGUARD_", "GITHUB_", "GITLAB_"))}
    env.update({
        "JIRA_BASE_URL": settings.jira_base_url, "JIRA_EMAIL": settings.jira_email,
        "JIRA_API_TOKEN": settings.jira_api_token, "REDIS_URL": settings.redis_url or "",
        "JIRA_WEBHOOK_SECRET": settings.jira_webhook_secret or "",
        "CHANGEGUARD_NAMESPACE": settings.namespace, "LOG_LEVEL": "INFO",
        "LOG_FORMAT": settings.log_format,
        "SLACK_BOT_TOKEN": settings.slack_bot_token or "", "SLACK_API_URL": settings.slack_api_url,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret or "",
        "CHANGEGUARD_CALENDAR_TOKEN": settings.calendar_token or "",
        "CHANGEGUARD_PERIODIC": "on" if settings.periodic else "off",
        "CHANGEGUARD_SWEEP_MINUTES": str(settings.sweep_minutes),
        "GITHUB_APP_ID": settings.github_app_id or "",
        "GITHUB_APP_PRIVATE_KEY": settings.github_private_key or "",
        "GITHUB_WEBHOOK_SECRET": settings.github_webhook_secret or "",
        "GITHUB_API_URL": settings.github_api_url, "GITLAB_URL": settings.gitlab_url,
        "GITLAB_TOKEN": settings.gitlab_token or "",
        "GITLAB_WEBHOOK_SECRET": settings.gitlab_webhook_secret or "",
        "CHANGEGUARD_GATE_TOKENS": ",".join(f"{n}:{d}" for n, d in settings.gate_tokens),
        "CHANGEGUARD_POLICY": str(settings.policy_path),
    })
    return env


class WebServer(ServingThread):
    """The Flask app from create_app(), served over real HTTP on a free port in a thread."""

    def __init__(self, settings: Settings):
        super().__init__(create_app(settings), name="changeguard-web")


class WorkerProcess:
    """`python -m worker worker` as a child process, logging to a file under the test's tmp dir."""

    def __init__(self, settings: Settings, log_path: Path):
        self.settings = settings
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "worker", "worker"],
                                        env=env_for(settings), cwd=ROOT, start_new_session=True,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        queue = Queue(settings.queue_name, connection=connect_redis(settings.redis_url))
        wait_until(lambda: self._ready(queue), timeout=20, what="the worker to start")

    def _ready(self, queue: Queue) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{self.log()}")
        return bool(Worker.all(queue=queue))

    def kill(self) -> None:
        """SIGKILL the worker and its work horse (RQ puts it in a group of its own), as a crash would."""
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(5)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


def _descendants(pid: int) -> list[int]:
    """Return the processes below ``pid``, children first (read from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return [grandchild for child in children for grandchild in _descendants(child)] + children


def settle(jira, queue: Queue, timeout: float = 60) -> None:
    """Wait until Jira has delivered everything and the worker has finished every job.

    A job can set off a webhook (its own revert) that sets off another job, so wait until two
    rounds in a row see the same deliveries and the same finished and failed jobs.
    """
    deadline = time.monotonic() + timeout
    seen = None
    while True:
        jira.wait_for_deliveries(timeout=20)
        wait_until(lambda: drained(queue), timeout=30, what="the queue to drain")
        now = (len(jira.deliveries), queue.finished_job_registry.count,
               queue.failed_job_registry.count)
        if now == seen:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still busy after {timeout} s: {now}")
        seen = now
        time.sleep(0.05)


def drained(queue: Queue) -> bool:
    """Tell whether no job is queued, being taken, running or waiting to retry."""
    # RQ moves a job from the queue to an intermediate list before it is in the started registry.
    taking = queue.connection.llen(queue.intermediate_queue_key)
    return (queue.count == 0 and taking == 0 and queue.started_job_registry.count == 0
            and queue.scheduled_job_registry.count == 0)


def job_results(queue: Queue) -> list[tuple[dict, object]]:
    """Return (kwargs, return value) of every finished job of the queue."""
    ids = queue.finished_job_registry.get_job_ids()
    return [(job.kwargs, job.return_value())
            for job in Job.fetch_many(ids, connection=queue.connection) if job is not None]


def comment_texts(jira, key: str) -> list[str]:
    """Return the plain text of each comment on the issue, oldest first."""
    return [comment["text"] for comment in jira.comments(key)]


def mentioned(jira, adf: dict) -> list[str]:
    """Return the short names of the people an ADF document mentions, in order."""
    names = {person.account_id: name for name, person in jira.users.items()}
    found: list[str] = []

    def walk(node: dict) -> None:
        if node.get("type") == "mention":
            found.append(names.get(node["attrs"]["id"], node["attrs"]["id"]))
        for child in node.get("content", []):
            walk(child)

    walk(adf)
    return found


def recorded_approvals(jira, key: str) -> list[tuple[str, str]]:
    """Return (short name, role) of each approval changeguard recorded on the issue."""
    names = {person.account_id: name for name, person in jira.users.items()}
    record = jira.property(key, "changeguard") or {}
    return [(names.get(a["accountId"], a["accountId"]), a["role"])
            for a in record.get("approvals", {}).get("approvals", [])]


def audit_trail(jira, key: str) -> list[dict]:
    """Return changeguard's decision log on the issue, oldest first."""
    return list((jira.property(key, "changeguard") or {}).get("audit", []))


# The comment on a move of a Normal change into Awaiting Approval lacking one thing.
ROLLBACK_TBD = ("Rollback Plan only says “TBD”: describe how to undo the change if it goes wrong, "
                "in at least a sentence.")


def gate_failed(bullet: str) -> str:
    """Return the text of the comment on alice's move into Awaiting Approval lacking one thing.

    ``{alice}`` stands for the mention; fill it in with ``str.format``.
    """
    return ("Moved back to Draft: 1 thing missing\n\n"
            "{alice}, this change can't go to Awaiting Approval yet. It still needs:\n\n"
            f"* {bullet}\n\n"
            "Next: fill these in on this issue, then move it to Awaiting Approval again. "
            "changeguard checks it again as soon as you do.")


def mentions(jira) -> dict[str, str]:
    """Return how each person's mention reads in a comment's plain text, by short name."""
    return {name: "@" + person.account_id for name, person in jira.users.items()}
