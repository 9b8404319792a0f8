"""Periodic work, once per period: sweeps, hourly retro scan, CAB agenda, daily health count."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import redis
from dateutil.rrule import rrulestr
from rq import Queue

from rules.cab_schedule import CabCalendar, Period, Work, due_periods
from rules.policy import Policy
from worker import runtime as runtime_module
from worker.runtime import Runtime
from worker.settings import Settings

from .cab_agenda import post_cab_agenda
from .change_health import refresh_health_gauges
from .enqueue import enqueue_once
from .reconcile import sweep
from .retrospectives import scan_retrospectives

logger = logging.getLogger(__name__)

# The RRULE's phase (for INTERVAL=2 and the like) counts from this Monday, in the policy's zone.
RULE_ANCHOR = datetime(2024, 1, 1)
CLAIM_LEASE_SECONDS = 15 * 60  # a worker killed mid-work frees the period after this
TICK_TIMEOUT_SECONDS = 10 * 60
TICK_RESULT_TTL_SECONDS = 15 * 60  # longer than a minute: a late enqueue of a done tick is refused
TICK_FAILURE_TTL_SECONDS = 24 * 3600
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def cab_calendar(policy: Policy) -> CabCalendar:
    """Load the policy's meeting rule and time zone (the tz database is read here, not in rules)."""
    return CabCalendar(rule=rrulestr(policy.cab.meeting_rrule, dtstart=RULE_ANCHOR, cache=True),
                       zone=ZoneInfo(policy.cab.timezone), zone_name=policy.cab.timezone,
                       agenda_hours_before=policy.cab.agenda_hours_before)


def tick(now: str | None = None, *, runtime: Runtime | None = None) -> dict[str, str]:
    """Do whatever periodic work is due at ``now`` (default: the clock) that nobody did yet."""
    rt = runtime or runtime_module.current()
    moment = datetime.fromisoformat(now) if now else datetime.now(timezone.utc)
    calendar = cab_calendar(rt.policy)
    outcome: dict[str, str] = {}
    failure: Exception | None = None
    for period in due_periods(calendar, moment, sweep_minutes=rt.settings.sweep_minutes,
                              health=True):
        name = f"{period.work.value}:{period.key}"
        claim = rt.settings.key("period", period.work.value, period.key)
        token = uuid.uuid4().hex
        if not rt.redis.set(claim, token, nx=True, ex=CLAIM_LEASE_SECONDS):
            outcome[name] = "claimed"
            continue
        try:
            outcome[name] = _run(period, moment, calendar, rt)
        except Exception as exc:  # noqa: BLE001 - released so the next tick redoes it, then raised
            rt.redis.eval(_RELEASE, 1, claim, token)
            logger.warning("periodic work failed", extra={"period": name, "error": str(exc)})
            outcome[name] = "failed"
            failure = failure or exc
            continue
        keep = max(60, int((period.keep_until - moment).total_seconds()))
        rt.redis.set(claim, "done", ex=keep)
        logger.info("periodic work done", extra={"period": name, "result": outcome[name]})
    if failure is not None:
        raise failure
    return outcome


def _run(period: Period, moment: datetime, calendar: CabCalendar, rt: Runtime) -> str:
    if period.work is Work.SWEEP:
        return f"{len(sweep(moment, runtime=rt)['recovered'])} recovered"
    if period.work is Work.AGENDA:
        assert period.meeting is not None
        return post_cab_agenda(period.meeting, moment, calendar=calendar, runtime=rt)["action"]
    if period.work is Work.HEALTH:
        return f"{refresh_health_gauges(moment, calendar=calendar, runtime=rt)} gauges"
    flagged = scan_retrospectives(moment, calendar=calendar, runtime=rt)
    return f"{sum(state == 'overdue' for state in flagged.values())} flagged"


# -- enqueueing ticks: every worker process, once a minute -----------------------------------


def periodic_queue_name(settings: Settings) -> str:
    """Return the queue ticks go to: apart from webhook jobs, which a worker takes first."""
    return f"{settings.queue_name}-periodic"


def tick_job_id(settings: Settings, minute: datetime) -> str:
    """Return the tick's job id for one minute: the same in every worker process."""
    return f"{settings.namespace}-tick-{minute.astimezone(timezone.utc):%Y%m%dT%H%MZ}"


def enqueue_tick(queue: Queue, settings: Settings, minute: datetime) -> bool:
    """Enqueue the minute's tick unless another worker did; return whether this call did."""
    # No retry: the next minute's tick does whatever this one left undone.
    return enqueue_once(queue, tick, tick_job_id(settings, minute), retry=False,
                        job_timeout=TICK_TIMEOUT_SECONDS, result_ttl=TICK_RESULT_TTL_SECONDS,
                        failure_ttl=TICK_FAILURE_TTL_SECONDS)


def run_ticker(queue: Queue, settings: Settings, stop: threading.Event) -> None:
    """Enqueue one tick per minute until ``stop`` is set; Redis trouble only skips a minute."""
    while not stop.is_set():
        minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        try:
            enqueue_tick(queue, settings, minute)
        except redis.RedisError as exc:
            logger.warning("tick not enqueued", extra={"error": str(exc)})
        following = minute + timedelta(minutes=1)
        stop.wait(max(0.5, (following - datetime.now(timezone.utc)).total_seconds() + 0.5))


def start_ticker(settings: Settings, connection: redis.Redis) -> tuple[Queue, threading.Event]:
    """Start the ticker thread of this worker process; return its queue and the stop event."""
    queue = Queue(periodic_queue_name(settings), connection=connection)
    stop = threading.Event()
    threading.Thread(target=run_ticker, args=(queue, settings, stop), name="changeguard-ticker",
                     daemon=True).start()
    return queue, stop
