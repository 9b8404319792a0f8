"""Run the changeguard worker: build the runtime once, then hand off to RQ's Worker."""

from __future__ import annotations

import logging
import time

from rq import Queue, Worker

from jobs.periodic import start_ticker

from . import runtime as runtime_module
from .jira_client import JiraError
from .logging_setup import configure_logging
from .metrics import job_exception_handler
from .settings import Settings

logger = logging.getLogger(__name__)


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
    queues = [Queue(settings.queue_name, connection=runtime.redis)]  # webhook jobs first
    stop = None
    if settings.periodic:
        # Every worker enqueues one tick a minute under a per-minute job id: one tick runs.
        periodic, stop = start_ticker(settings, runtime.redis)
        queues.append(periodic)
    # A job whose worker died (SIGKILL, OOM) is found abandoned once its heartbeat lapses and
    # is retried by RQ (our jobs resume their recorded plan). RQ looks only every 10 minutes by
    # default; look every 30 seconds, with short heartbeats, so a crash costs about a minute.
    worker = Worker(queues, connection=runtime.redis, maintenance_interval=30,
                    job_monitoring_interval=5, worker_ttl=35,
                    exception_handlers=[job_exception_handler(settings)])
    logger.info("worker starting", extra={"queues": [q.name for q in queues],
                                          "account_id": runtime.site.bot_account_id})
    try:
        return worker.work(with_scheduler=True, burst=burst, logging_level=settings.log_level)
    finally:
        if stop is not None:
            stop.set()
