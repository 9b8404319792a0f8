"""Count what changeguard does in Redis, shared by every web and work-horse process, and render it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis
from rq import Queue

from .settings import Settings

logger = logging.getLogger(__name__)

PREFIX = "changeguard_"
# family -> (help text, label names). Counters only; label values are kept to small closed sets.
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "webhooks_received": ("Webhook deliveries received (Jira, GitHub, GitLab).", ()),
    "webhooks_refused": ("Deliveries refused, by reason (signature, malformed, too_large).",
                         ("reason",)),
    "webhooks_deduped": ("Deliveries answered as duplicates of one already accepted.", ()),
    "webhooks_ignored": ("Deliveries outside changeguard's scope: no job.", ()),
    "webhooks_enqueued": ("Deliveries that enqueued their jobs.", ()),
    "webhooks_failed": ("Deliveries answered 5xx, by reason (handler, enqueue, queue_unavailable).",
                        ("reason",)),
    "jobs_completed": ("Jobs that ran to completion, by function.", ("func",)),
    "jobs_failed": ("Jobs that raised with no retry left, by function.", ("func",)),
    "jobs_retried": ("Jobs that raised and were scheduled for a retry, by function.", ("func",)),
    "decisions": ("Enforcement decisions, by kind, verdict and reason.",
                  ("kind", "verdict", "reason")),
    "gate_decisions": ("Deployment gate answers, by front end and verdict.",
                       ("vendor", "verdict")),
    "jira_calls": ("HTTP requests sent to Jira, by method and status (unreachable: no answer).",
                   ("method", "status")),
    "jira_rate_limited": ("Jira answers 429 Too Many Requests.", ()),
}
QUEUE_STATES = ("queued", "started", "failed", "scheduled")


def count(connection: redis.Redis, settings: Settings, family: str, **labels: Any) -> None:
    """Add one to the counter ``family`` with ``labels``; a Redis failure only loses the count."""
    names = FAMILIES[family][1]
    if set(labels) != set(names):
        raise ValueError(f"{family} takes labels {names}, got {tuple(labels)}")
    try:
        connection.hincrby(settings.key("metrics", family), _label_text(names, labels), 1)
    except redis.exceptions.RedisError as exc:
        # Metrics must never break a delivery or a job.
        logger.debug("metric not counted", extra={"family": family, "error": str(exc)})


def jira_call_counter(connection: redis.Redis, settings: Settings) -> Callable[[str, int | None], None]:
    """Return a JiraClient ``on_call`` hook counting each request and each 429."""

    def on_call(method: str, status: int | None) -> None:
        count(connection, settings, "jira_calls", method=method,
              status="unreachable" if status is None else str(status))
        if status == 429:
            count(connection, settings, "jira_rate_limited")

    return on_call


def job_exception_handler(settings: Settings) -> Callable[..., bool]:
    """Return an RQ exception handler counting failed and retried jobs (pass it to Worker)."""

    def handler(job: Any, exc_type: Any, exc_value: Any, traceback: Any) -> bool:
        # RQ calls handlers before it decides; a job with retries left is about to be retried.
        family = "jobs_retried" if (job.retries_left or 0) > 0 else "jobs_failed"
        count(job.connection, settings, family, func=job_func_name(job))
        return True  # let RQ's own handling go on

    return handler


def render(connection: redis.Redis, settings: Settings, queue_names: Iterable[str]) -> str:
    """Return every counter and the live depth of ``queue_names`` in Prometheus text format."""
    lines: list[str] = []
    pipe = connection.pipeline(transaction=False)
    for family in FAMILIES:
        pipe.hgetall(settings.key("metrics", family))
    for family, values in zip(FAMILIES, pipe.execute()):
        name = f"{PREFIX}{family}_total"
        help_text, label_names = FAMILIES[family]
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        samples = {field.decode(): int(value) for field, value in values.items()}
        if not label_names:
            samples.setdefault("", 0)
        lines += [f"{name}{labels} {value}" for labels, value in sorted(samples.items())]
    name = f"{PREFIX}queue_jobs"
    lines += [f"# HELP {name} Jobs in each RQ queue, by state, read live.",
              f"# TYPE {name} gauge"]
    for queue_name in queue_names:
        for state, depth in queue_depth(Queue(queue_name, connection=connection)).items():
            labels = _label_text(("queue", "state"), {"queue": queue_name, "state": state})
            lines.append(f"{name}{labels} {depth}")
    return "\n".join(lines) + "\n"


def queue_depth(queue: Queue) -> dict[str, int]:
    """Return how many jobs the queue holds in each state."""
    return {"queued": queue.count,
            "started": queue.started_job_registry.count,
            "failed": queue.failed_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count}


def job_func_name(job: Any) -> str:
    """Return the dotted function name of an RQ job, or \"unknown\" when it cannot be read."""
    try:
        return str(job.func_name)
    except Exception:  # an undeserialisable job still counts
        return "unknown"


def _label_text(names: tuple[str, ...], labels: dict[str, Any]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(str(labels[n]))}"' for n in names) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
