"""Start the parts a benchmark needs on 127.0.0.1: Redis, sandbox Jira, gunicorn, RQ workers."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path
from collections.abc import Iterator

import requests
from rq import Queue

from sandbox.jira_server import SandboxJira
from tests.builders import settings_for, stop_process, wait_until
from tests.e2e.harness import WorkerProcess, env_for
from sandbox.embedded_redis import EmbeddedRedis
from worker.runtime import connect_redis
from worker.settings import Settings

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SECRET = "bench webhook secret"
# The Procfile's web settings, bound to loopback.
GUNICORN_WORKERS = 2
GUNICORN_TIMEOUT = 30


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Gunicorn:
    """``gunicorn <app>`` with the Procfile's worker settings, on a free loopback port."""

    def __init__(self, app: str, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT), "--bind",
             f"{HOST}:{self.port}", "--workers", str(GUNICORN_WORKERS),
             "--timeout", str(GUNICORN_TIMEOUT), app],
            env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_until(self._ready, timeout=30, what=f"gunicorn {app} to answer")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early, see {self._log.name}")
        try:
            requests.get(self.url + "/healthz", timeout=2)
        except requests.RequestException:  # not listening yet, or its workers still loading
            return False
        return True

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


class Stack:
    """What a benchmark runs against; built by ``stack()``."""

    def __init__(self, exits: ExitStack, redis_url: str, workdir: Path):
        self._exits = exits
        self.redis_url = redis_url
        self.workdir = workdir
        self.namespace = "cgbench-" + uuid.uuid4().hex[:8]
        self.jira: SandboxJira | None = None
        self.settings: Settings | None = None
        self.workers: list[WorkerProcess] = []

    def start_jira(self) -> SandboxJira:
        """Start a sandbox Jira signing its webhooks (no OpenAPI checks: they are test cost)."""
        self.jira = SandboxJira(webhook_secret=SECRET, spec_check=False).start()
        self._exits.callback(self.jira.stop)
        self.settings = settings_for(self.jira, self.redis_url, self.namespace, secret=SECRET)
        return self.jira

    def start_web(self, app: str = "wsgi:app") -> Gunicorn:
        """Serve ``app`` under gunicorn with this stack's settings in its environment."""
        env = env_for(self.settings or _offline_settings(self.redis_url, self.namespace))
        env["LOG_LEVEL"] = "INFO"
        server = Gunicorn(app, env, self.workdir / f"gunicorn-{app.replace(':', '-')}.log")
        self._exits.callback(server.stop)
        return server

    def start_workers(self, count: int) -> list[WorkerProcess]:
        """Start ``count`` more `python -m worker worker` processes; stop them at the end."""
        for _ in range(count):
            process = WorkerProcess(self.settings, self.workdir / f"worker-{len(self.workers)}.log")
            self.workers.append(process)
            self._exits.callback(process.stop)
        return self.workers

    @property
    def queue(self) -> Queue:
        """Return the RQ queue the endpoint feeds and the workers drain."""
        return Queue(self.settings.queue_name, connection=connect_redis(self.redis_url))


def _offline_settings(redis_url: str, namespace: str) -> Settings:
    # The acknowledgement benchmark needs no Jira: the endpoint never calls it.
    return Settings(jira_base_url="http://127.0.0.1:9", jira_email="bench@example.com",
                    jira_api_token="unused", jira_webhook_secret=SECRET, redis_url=redis_url,
                    namespace=namespace, periodic=False)


@contextmanager
def stack() -> Iterator[Stack]:
    """Yield a Stack on a private embedded Redis; stop everything it started on exit."""
    with ExitStack() as exits:
        workdir = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="cgbench-")))
        redis_server = exits.enter_context(EmbeddedRedis(data_dir=workdir / "redis"))
        yield Stack(exits, redis_server.url, workdir)
