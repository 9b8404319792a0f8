"""Count what changeguard does in Redis, shared by every web and work-horse process, and render it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import redis
from rq import Queue

from rules.change_health import WeekHealth

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
# Gauges of last week's change health, by category ("all" for every change): set by the daily
# periodic count (jobs/change_health.py), kept in Redis, only read by the scrape.
HEALTH_GAUGES: dict[str, str] = {
    "health_week_start_timestamp_seconds": "Start (Monday 00:00, CAB time zone) of the week "
                                           "the change health gauges describe.",
    "health_deployments": "Changes that reached Implemented last week.",
    "health_failures": "Last week's deployments that failed (Outcome Failed or Rolled Back, or "
                       "an Emergency change caused by them within 7 days).",
    "health_change_failure_rate": "Failures / deployments last week (absent without "
                                  "deployments).",
    "health_lead_time_to_approval_seconds": "Median time from created to Approved of last "
                                            "week's deployments.",
    "health_lead_time_to_implemented_seconds": "Median time from Approved to Implemented of "
                                               "last week's deployments.",
    "health_time_to_restore_seconds": "Median time from created to Implemented of last week's "
                                      "Emergency changes.",
    "health_emergency_share": "Share of last week's deployments that were Emergency changes.",
    "health_retrospectives_on_time_ratio": "Share of due Emergency retrospectives done in time.",
    "health_freeze_exceptions": "Last week's deployments that went out on a freeze exception.",
    "health_gate_deployments": "Pipeline deployments the deployment gate let through last "
                               "week.",
}


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


def health_samples(week_start: datetime, cells: Mapping[str, WeekHealth]) -> dict[str, float]:
    """Return the health gauges' samples ("name{labels}" -> value) for one week's cells, keyed
    by category label ("all", "standard", ...); a value a week does not have is left out."""
    samples: dict[str, float] = {"health_week_start_timestamp_seconds": week_start.timestamp()}
    for category, cell in cells.items():
        labels = _label_text(("category",), {"category": category})
        values: dict[str, float | None] = {
            "health_deployments": cell.deployments,
            "health_failures": cell.failures,
            "health_change_failure_rate": cell.change_failure_rate,
            "health_lead_time_to_approval_seconds": _seconds(cell.lead_time_to_approval),
            "health_lead_time_to_implemented_seconds": _seconds(cell.lead_time_to_implemented),
            "health_time_to_restore_seconds": _seconds(cell.time_to_restore),
            "health_emergency_share": cell.emergency_share,
            "health_retrospectives_on_time_ratio": cell.retrospectives_on_time_share,
            "health_freeze_exceptions": cell.freeze_exceptions,
            "health_gate_deployments": cell.gate_deployments,
        }
        samples.update({f"{name}{labels}": float(value) for name, value in values.items()
                        if value is not None})
    return samples


def store_health(connection: redis.Redis, settings: Settings, samples: Mapping[str, float]) -> None:
    """Replace the stored health gauges with ``samples``, at once (the scrape sees old or new)."""
    key = settings.key("metrics", "health")
    pipe = connection.pipeline(transaction=True)
    pipe.delete(key)
    if samples:
        pipe.hset(key, mapping={name: repr(value) for name, value in samples.items()})
    pipe.execute()


def render(connection: redis.Redis, settings: Settings, queue_names: Iterable[str]) -> str:
    """Return every counter, the stored health gauges and the live depth of ``queue_names`` in
    Prometheus text format."""
    lines: list[str] = []
    pipe = connection.pipeline(transaction=False)
    for family in FAMILIES:
        pipe.hgetall(settings.key("metrics", family))
    pipe.hgetall(settings.key("metrics", "health"))
    *counters, health = pipe.execute()
    for family, values in zip(FAMILIES, counters):
        name = f"{PREFIX}{family}_total"
        help_text, label_names = FAMILIES[family]
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        samples = {field.decode(): int(value) for field, value in values.items()}
        if not label_names:
            samples.setdefault("", 0)
        lines += [f"{name}{labels} {value}" for labels, value in sorted(samples.items())]
    lines += _health_lines({field.decode(): value.decode() for field, value in health.items()})
    name = f"{PREFIX}queue_jobs"
    lines += [f"# HELP {name} Jobs in each RQ queue, by state, read live.",
              f"# TYPE {name} gauge"]
    for queue_name in queue_names:
        for state, depth in queue_depth(Queue(queue_name, connection=connection)).items():
            labels = _label_text(("queue", "state"), {"queue": queue_name, "state": state})
            lines.append(f"{name}{labels} {depth}")
    return "\n".join(lines) + "\n"


def _health_lines(stored: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    for family, help_text in HEALTH_GAUGES.items():
        samples = sorted((sample, value) for sample, value in stored.items()
                         if sample.split("{", 1)[0] == family)
        if not samples:
            continue
        name = f"{PREFIX}{family}"
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        lines += [f"{PREFIX}{sample} {value}" for sample, value in samples]
    return lines


def _seconds(value: Any) -> float | None:
    return None if value is None else value.total_seconds()


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
