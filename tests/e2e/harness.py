"""Start the real parts for end-to-end tests: sandbox Jira, the web app over HTTP, a worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rq import Queue, Worker
from rq.job import Job
from werkzeug.serving import make_server

from webhooks.app import create_app
from worker.runtime import connect_redis
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e webhook secret"


def settings_for(jira, redis_url: str, namespace: str, secret: str | None = SECRET) -> Settings:
    """Return the Settings a deployment pointed at this sandbox would build from its env."""
    return Settings(
        jira_base_url=jira.base_url, jira_email=jira.bot.email, jira_api_token=jira.bot.api_token,
        jira_webhook_secret=secret, redis_url=redis_url, namespace=namespace,
    )


def env_for(settings: Settings) -> dict[str, str]:
    """Return the environment variables that make Settings.from_env() build ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "CHANGEGUARD_"))}
    env.update({
        "JIRA_BASE_URL": settings.jira_base_url, "JIRA_EMAIL": settings.jira_email,
        "JIRA_API_TOKEN": settings.jira_api_token, "REDIS_URL": settings.redis_url or "",
        "JIRA_WEBHOOK_SECRET": settings.jira_webhook_secret or "",
        "CHANGEGUARD_NAMESPACE": settings.namespace, "LOG_LEVEL": "INFO",
    })
    return env


class WebServer:
    """The Flask app from create_app(), served over real HTTP on a free port in a thread."""

    def __init__(self, settings: Settings):
        self.server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class WorkerProcess:
    """`python -m worker worker` as a child process, logging to a file under the test's tmp dir."""

    def __init__(self, settings: Settings, log_path: Path):
        self.settings = settings
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "worker", "worker"],
                                        env=env_for(settings), cwd=ROOT,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        queue = Queue(settings.queue_name, connection=connect_redis(settings.redis_url))
        wait_until(lambda: self._ready(queue), timeout=20, what="the worker to start")

    def _ready(self, queue: Queue) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{self.log()}")
        return bool(Worker.all(queue=queue))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._log.close()


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


def settle(jira, queue: Queue, rounds: int = 3) -> None:
    """Wait until Jira has delivered everything and the worker has finished every job, twice over."""
    for _ in range(rounds):
        jira.wait_for_deliveries(timeout=20)
        wait_until(lambda: queue.count == 0 and queue.started_job_registry.count == 0
                   and queue.scheduled_job_registry.count == 0,
                   timeout=30, what="the queue to drain")


def job_results(queue: Queue) -> list[tuple[dict, object]]:
    """Return (kwargs, return value) of every finished job of the queue."""
    ids = queue.finished_job_registry.get_job_ids()
    return [(job.kwargs, job.return_value())
            for job in Job.fetch_many(ids, connection=queue.connection) if job is not None]
