"""The reconciliation sweep: enforce every move and material edit that no webhook delivered."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rq import Queue

from rules.change_history import parse_history
from rules.job_names import JobName, freeze_job_id
from rules.reconcile import (JobRequest, advanced_mark, freeze_sweep_jql, missing_jobs,
                             parse_jira_time, sweep_jql, sweep_since)
from worker import runtime as runtime_module
from worker.runtime import Runtime

from .enqueue import enqueue_once
from .gitlab_sweep import recheck_gitlab
from .issue_session import MARKER_TTL_SECONDS
from .waiting_deployments import changes_with_waiting

logger = logging.getLogger(__name__)

EARLIEST_ZONE = timezone(timedelta(hours=-12))


def sweep(now: datetime, *, runtime: Runtime | None = None, page_size: int = 50) -> dict:
    """Search the change requests updated since the last sweep and enqueue the missing jobs."""
    rt = runtime or runtime_module.current()
    mark_key = rt.settings.key("sweep", "high-water")
    stored = rt.redis.get(mark_key)
    mark = parse_jira_time(stored.decode()) if stored else None
    since = sweep_since(mark, now, timedelta(minutes=rt.settings.sweep_minutes))
    zone = _search_zone(rt)
    jql = sweep_jql(rt.policy, since, zone)
    queue = Queue(rt.settings.queue_name, connection=rt.redis)
    searched, recovered = 0, []
    for found in rt.jira.search_issues(jql, fields=("updated",), page_size=page_size):
        searched += 1
        key = found["key"]
        updated = parse_jira_time((found.get("fields") or {}).get("updated"))
        recovered += _recover(rt, queue, key, updated)
        # ORDER BY updated ASC: every issue updated before this one has had its jobs enqueued.
        new_mark = advanced_mark(mark, updated)
        if new_mark != mark:
            rt.redis.set(mark_key, new_mark.astimezone(timezone.utc).isoformat())
            mark = new_mark
    freezes = _recheck_freezes(rt, queue, since, zone, page_size)
    # Deployments waiting at the gate are decided again: a window that opened, a webhook lost.
    minute = now.astimezone(timezone.utc).strftime("%Y%m%d%H%M")
    rechecked = [key for key in changes_with_waiting(rt) if enqueue_once(
        queue, JobName.RELEASE_WAITING, f"{rt.settings.namespace}-release-{key}-sweep-{minute}",
        {"issue_key": key})]
    # GitLab sends no hook when a deployment becomes blocked: ask it which ones it holds.
    held = recheck_gitlab(rt, queue, minute) if rt.gitlab is not None else []
    logger.info("sweep done", extra={"since": since.isoformat(), "searched": searched,
                                     "recovered": len(recovered), "rechecked": len(rechecked),
                                     "gitlab_rechecked": len(held),
                                     "freezes_rechecked": len(freezes)})
    return {"since": since.isoformat(), "searched": searched, "recovered": recovered,
            "rechecked": rechecked, "gitlab_rechecked": held, "freezes_rechecked": freezes}


def _recheck_freezes(rt: Runtime, queue: Queue, since: datetime, zone: tzinfo,
                     page_size: int) -> list[str]:
    """Enqueue the re-check of every freeze issue updated since ``since``; return their keys.

    A re-check compares the freeze with what was last enforced (its record), so one after a
    webhook that was delivered finds nothing to do; one after a lost webhook does its work.
    """
    jql = freeze_sweep_jql(rt.policy, since, zone)
    if jql is None:
        return []
    keys = []
    for found in rt.jira.search_issues(jql, fields=("updated",), page_size=page_size):
        updated = parse_jira_time((found.get("fields") or {}).get("updated"))
        stamp = round(updated.timestamp() * 1000) if updated is not None else 0
        if enqueue_once(queue, JobName.RECHECK_FREEZE,
                        freeze_job_id(rt.settings.namespace, found["key"], f"sweep{stamp}"),
                        {"issue_key": found["key"], "event_id": f"sweep-{stamp}",
                         "timestamp": stamp, "webhook_event": "jira:issue_updated",
                         "actor_account_id": None}):
            keys.append(found["key"])
    return keys


def _recover(rt: Runtime, queue: Queue, key: str, updated: datetime | None) -> list[str]:
    """Enqueue the jobs one issue's changelog calls for and no webhook did; return their ids."""
    issue = rt.jira.get_issue(key, fields=("status",), expand=("changelog",))
    history = parse_history(issue, rt.site)
    handled_key, swept_key = rt.settings.key("handled", key), rt.settings.key("swept", key)
    handled = max((int(v) for v in rt.redis.mget(handled_key, swept_key) if v), default=None)
    jobs = missing_jobs(key, history, handled=handled, bot_account_id=rt.site.bot_account_id,
                        namespace=rt.settings.namespace,
                        fallback_timestamp=round(updated.timestamp() * 1000) if updated else 0)
    enqueued = [job.job_id for job in jobs if _enqueue(queue, job)]
    if history:
        # Everything up to here now has its job: the next sweep looks only at what comes after.
        rt.redis.set(swept_key, max(handled or 0, history[-1].id), ex=MARKER_TTL_SECONDS)
    return enqueued


def _enqueue(queue: Queue, job: JobRequest) -> bool:
    """Enqueue ``job`` as the webhook endpoint would; False when a job with its id exists."""
    if not enqueue_once(queue, job.func, job.job_id, job.kwargs):
        return False  # the webhook's job, or an earlier sweep's: queued, running or done
    logger.info("lost webhook recovered", extra={"issue_key": job.kwargs["issue_key"],
                                                 "job_id": job.job_id,
                                                 "changelog_id": job.kwargs["changelog_id"]})
    return True


def _search_zone(rt: Runtime) -> tzinfo:
    """Return the time zone Jira reads JQL dates in: that of changeguard's own account."""
    name = rt.jira.get_myself().get("timeZone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        # Read in any real zone (UTC-12 to UTC+14), a date written for UTC-12 is early enough.
        logger.warning("unknown account time zone", extra={"time_zone": name})
        return EARLIEST_ZONE
