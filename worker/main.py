"""Run the changeguard worker: build the runtime once, then keep an RQ Worker working until stopped."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import redis
from rq import Queue, Worker

import jobs.registry  # noqa: F401  (every job module, loaded once here: not in each work horse)
from jobs.periodic import start_ticker

from . import runtime as runtime_module
from .jira_client import JiraError
from .logging_setup import configure_logging
from .metrics import count, job_exception_handler, job_func_name
from .settings import Settings

logger = logging.getLogger(__name__)

# RQ's Worker quits on a Redis error it does not handle itself (one outlasting the client's own
# retries); a fresh Worker takes over once Redis answers again, this many times in a row at most
# (a Worker that ran for STEADY_SECONDS starts the count again).
MAX_RESTARTS = 20
STEADY_SECONDS = 300
RESTART_PAUSE_SECONDS = (1, 2, 5, 10, 30)


class ChangeguardWorker(Worker):
    """RQ's forking Worker that counts the jobs it completes and tells a stop from a crash."""

    def __init__(self, *args: Any, settings: Settings, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.settings = settings
        self.stop_signalled = False

    def request_stop(self, signum: Any, frame: Any) -> None:
        self.stop_signalled = True
        super().request_stop(signum, frame)

    def handle_job_success(self, job: Any, queue: Any, started_job_registry: Any,
                           execution: Any) -> None:
        super().handle_job_success(job, queue, started_job_registry, execution)
        count(job.connection, self.settings, "jobs_completed", func=job_func_name(job))


def run_worker(settings: Settings, *, burst: bool = False, startup_attempts: int = 10) -> bool:
    """Resolve the site (retrying while Jira is unreachable), then process jobs until stopped."""
    configure_logging(settings.log_level, settings.log_format)
    for attempt in range(1, startup_attempts + 1):
        try:
            runtime = runtime_module.build_runtime(settings)
            break
        except JiraError as exc:
            if attempt == startup_attempts or exc.status in {400, 401, 403, 404}:
                raise
            logger.warning("jira not ready, retrying", extra={"error": str(exc), "attempt": attempt})
            time.sleep(min(2**attempt, 30))
    runtime_module.install(runtime)
    runtime.jira.close()  # each forked work horse opens its own connections
    if runtime.github is not None:
        runtime.github.warm_up()  # githubkit's REST modules load once, not in each work horse
    queues = [Queue(settings.queue_name, connection=runtime.redis)]  # webhook jobs first
    stop = None
    if settings.periodic:
        # Every worker enqueues one tick a minute under a per-minute job id: one tick runs.
        periodic, stop = start_ticker(settings, runtime.redis)
        queues.append(periodic)
    worked, restarts = False, 0
    try:
        while True:
            worker = _new_worker(queues, runtime.redis, settings)
            logger.info("worker starting", extra={"queues": [q.name for q in queues],
                                                  "account_id": runtime.site.bot_account_id,
                                                  "restarts": restarts})
            started = time.monotonic()
            try:
                worked = worker.work(with_scheduler=True, burst=burst,
                                     logging_level=settings.log_level) or worked
            except redis.exceptions.RedisError as exc:  # RQ's own clean-up needs Redis too
                logger.error("worker lost Redis", extra={"error": str(exc)})
            if burst or worker.stop_signalled:
                return worked
            # RQ gave up (it logged why): Redis was gone longer than the client waits for it.
            restarts = 1 if time.monotonic() - started > STEADY_SECONDS else restarts + 1
            if restarts > MAX_RESTARTS:
                logger.error("worker stopped: RQ quit too often in a row",
                             extra={"restarts": restarts - 1})
                raise SystemExit(1)
            pause = RESTART_PAUSE_SECONDS[min(restarts, len(RESTART_PAUSE_SECONDS)) - 1]
            if not _wait_for_redis(runtime.redis, pause):
                return worked
    finally:
        if stop is not None:
            stop.set()


def _new_worker(queues: list[Queue], connection: redis.Redis,
                settings: Settings) -> ChangeguardWorker:
    # A job whose worker died (SIGKILL, OOM) is found abandoned once its heartbeat lapses and
    # is retried by RQ (our jobs resume their recorded plan). RQ looks only every 10 minutes by
    # default; look every 30 seconds, with short heartbeats, so a crash costs about a minute.
    return ChangeguardWorker(queues, connection=connection, settings=settings,
                             maintenance_interval=30, job_monitoring_interval=5, worker_ttl=35,
                             exception_handlers=[job_exception_handler(settings)])


def _wait_for_redis(connection: redis.Redis, pause: float) -> bool:
    """Wait until Redis answers a PING; False when SIGTERM or SIGINT asks to stop meanwhile."""
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        logger.warning("waiting for Redis to start a new RQ Worker",
                       extra={"pause_seconds": pause})
        while not stopping.wait(pause):
            try:
                connection.ping()
                return True
            except redis.exceptions.RedisError as exc:
                logger.warning("redis still unreachable", extra={"error": str(exc)})
        return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
