"""Find the enforcement no webhook asked for: each issue's changelog against what was handled."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, tzinfo
from typing import Any

from .change_history import HistoryEntry
from .freeze import jql_escaped
from .policy import Policy
from .job_names import JobName, edit_job_id, transition_job_id

SWEEP_EVENT_ID = "sweep"
# Searched again on every sweep: covers Jira's search index lagging behind its writes, clock
# skew, and JQL dates having minutes only.
SWEEP_OVERLAP = timedelta(minutes=1)
JQL_DATE_FORMAT = "%Y-%m-%d %H:%M"


@dataclasses.dataclass(frozen=True)
class JobRequest:
    """One enforcement job to enqueue: which job, its unique id, its kwargs."""

    func: JobName
    job_id: str
    kwargs: dict[str, Any]


def missing_jobs(
    issue_key: str,
    history: tuple[HistoryEntry, ...],
    *,
    handled: int | None,
    bot_account_id: str,
    namespace: str,
    fallback_timestamp: int = 0,
) -> tuple[JobRequest, ...]:
    """Return the jobs the issue's changelog calls for beyond changelog id ``handled``, in order.

    Only the latest status move counts (the jobs judge the issue as it is now, so an older move
    is superseded anyway) and only the latest material edit (its job compares the whole change
    with the approved revision). Changeguard's own moves and edits are never enforced. With
    nothing newer than ``handled``, the answer is the empty tuple: do nothing.
    """
    newer = [entry for entry in history
             if entry.id > (handled or 0) and entry.actor != bot_account_id]
    moves = [entry for entry in newer if entry.to_status_id is not None]
    edits = [entry for entry in newer if entry.edits]
    jobs: list[tuple[int, int, JobRequest]] = []
    if moves:
        move = moves[-1]
        jobs.append((move.id, 0, _request(
            JobName.ENFORCE_TRANSITION, transition_job_id(namespace, issue_key, str(move.id)), issue_key,
            move, fallback_timestamp,
            from_status_id=move.from_status_id, to_status_id=move.to_status_id)))
    if edits:
        edit = edits[-1]
        jobs.append((edit.id, 1, _request(
            JobName.ENFORCE_EDIT, edit_job_id(namespace, issue_key, str(edit.id)), issue_key, edit,
            fallback_timestamp)))
    # In changelog order, as the webhooks would have come (a move before an edit it carried).
    return tuple(job for _, _, job in sorted(jobs, key=lambda item: item[:2]))


def _request(func: JobName, job_id: str, issue_key: str, entry: HistoryEntry, fallback_timestamp: int,
             **extra: Any) -> JobRequest:
    return JobRequest(func, job_id, {
        "issue_key": issue_key, "event_id": SWEEP_EVENT_ID,
        "timestamp": epoch_ms(entry.at, fallback_timestamp), "changelog_id": str(entry.id),
        **extra, "actor_account_id": entry.actor})


def parse_jira_time(text: object) -> datetime | None:
    """Return a Jira timestamp ("2026-03-31T14:00:00.000+0000") as an aware datetime, or None."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def epoch_ms(text: str, fallback: int) -> int:
    """Return a Jira timestamp as milliseconds since the epoch (``fallback`` if unreadable)."""
    moment = parse_jira_time(text)
    return round(moment.timestamp() * 1000) if moment is not None else fallback


def sweep_since(mark: datetime | None, now: datetime, period: timedelta) -> datetime:
    """Return from when to search: the high-water mark (first run: one period ago), less the overlap."""
    return (mark if mark is not None else now - period) - SWEEP_OVERLAP


def sweep_jql(policy: Policy, since: datetime, zone: tzinfo) -> str:
    """Return the JQL of change requests updated since ``since``, oldest update first.

    Jira reads a JQL date in the searching account's time zone, ``zone``, to the minute.
    """
    moment = since.astimezone(zone).strftime(JQL_DATE_FORMAT)
    return policy.scoped_jql(f'updated >= "{moment}"', order_by="updated ASC")


def freeze_sweep_jql(policy: Policy, since: datetime, zone: tzinfo) -> str | None:
    """Return the JQL of the freezes declared in Jira and updated since ``since`` (cancelled
    ones too: a lost cancellation is recovered as well), or None when the policy reads none."""
    if policy.freezes.issue_type is None:
        return None
    moment = since.astimezone(zone).strftime(JQL_DATE_FORMAT)
    issue_type = jql_escaped(policy.freezes.issue_type)
    projects = (f"project in ({', '.join(policy.scope_project_keys)}) AND "
                if policy.scope_project_keys else "")
    return f'{projects}issuetype = "{issue_type}" AND updated >= "{moment}" ORDER BY updated ASC'


def advanced_mark(mark: datetime | None, updated: datetime | None) -> datetime | None:
    """Return the high-water mark after an issue updated at ``updated`` was swept; never earlier."""
    if updated is None:
        return mark
    return updated if mark is None or updated > mark else mark
