"""Read change health from Jira: each change's facts from enhanced searches, counted per week."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

from rules.cab_schedule import CabCalendar
from rules.change_health import (HEALTH_PROPERTIES, SCOPES, ChangeFacts, HealthTable,
                                 facts_from_issue, health_fields_to_fetch,
                                 needs_whole_changelog, went_to_production_since, weekly_health,
                                 weeks_before)
from rules.change_history import parse_history
from rules.change_request import SnapshotError
from worker import metrics
from worker import runtime as runtime_module
from worker.runtime import Runtime

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
# JQL reads dates in the account's time zone: a day's margin keeps every change that counts.
JQL_MARGIN = timedelta(days=1)
# The agenda and the gauges: last week, and the 12 before it it is compared with.
COMPARED_WEEKS = 13


def week_start(week: date, zone: tzinfo) -> datetime:
    """Return Monday 00:00 of ``week`` in the CAB's zone."""
    return datetime.combine(week, time(), tzinfo=zone)


def updated_since_jql(moment: datetime) -> str:
    """Return the JQL clause for issues updated at or after ``moment`` (with JQL's margin)."""
    return f'updated >= "{(moment - JQL_MARGIN).astimezone(timezone.utc):%Y-%m-%d %H:%M}"'


def gather_health(now: datetime, *, weeks: int, calendar: CabCalendar,
                  runtime: Runtime | None = None, page_size: int = PAGE_SIZE) -> HealthTable:
    """Count the ``weeks`` whole weeks before ``now`` from every change request updated since
    they began, whatever its status now (one paged search, changelogs with it)."""
    rt = runtime or runtime_module.current()
    table_weeks = weeks_before(now, weeks, calendar.zone)
    since = week_start(table_weeks[0], calendar.zone)
    jql = rt.policy.scoped_jql(updated_since_jql(since), order_by="key")
    issues = rt.jira.search_issues(jql, fields=health_fields_to_fetch(rt.site),
                                   expand=("changelog",), properties=HEALTH_PROPERTIES,
                                   page_size=page_size)
    return weekly_health(changes_facts(rt, issues, since), table_weeks, calendar.zone, now=now,
                         retrospective_hours=rt.policy.cab.retrospective_due_hours)


def changes_facts(rt: Runtime, issues: Iterable[Mapping[str, Any]],
                  since: datetime) -> Iterator[ChangeFacts]:
    """Yield each searched change's facts. A changelog the search cut short is read whole when
    what counts from ``since`` on may be missing from it. The issue properties (the gate's
    deployments, the record's freeze exception) come with the search when it asked for them,
    else are read with one GET for each change that went to production from ``since`` on. An
    unreadable change is skipped."""
    for issue in issues:
        if needs_whole_changelog(issue, rt.site, since):
            issue = {**issue, "changelog": {"histories": rt.jira.get_changelog(str(issue["key"]))}}
        if "properties" not in issue and went_to_production_since(
                parse_history(issue, rt.site), rt.site, since):
            issue = with_health_properties(rt, issue)  # searched without them (the agenda)
        try:
            yield facts_from_issue(issue, rt.site, rt.policy)
        except SnapshotError as exc:
            logger.warning("change unreadable for health", extra={"error": str(exc)})


def with_health_properties(rt: Runtime, issue: Mapping[str, Any]) -> dict[str, Any]:
    """Return the issue with its ``changeguard`` and ``changeguard.deployments`` properties."""
    found = rt.jira.get_issue(str(issue.get("key")), fields=("status",),
                              properties=HEALTH_PROPERTIES)
    return {**issue, "properties": found.get("properties") or {}}


def refresh_health_gauges(now: datetime, *, calendar: CabCalendar,
                          runtime: Runtime | None = None, page_size: int = PAGE_SIZE) -> int:
    """Count last week's change health and store it for the /metrics gauges; return how many
    samples were stored."""
    rt = runtime or runtime_module.current()
    table = gather_health(now, weeks=1, calendar=calendar, runtime=rt, page_size=page_size)
    week = table.weeks[-1]
    cells = {"all" if scope is None else scope.value: table.cell(week, scope) for scope in SCOPES}
    samples = metrics.health_samples(week_start(week, calendar.zone), cells)
    metrics.store_health(rt.redis, rt.settings, samples)
    logger.info("health gauges refreshed", extra={"week": week.isoformat(),
                                                  "samples": len(samples)})
    return len(samples)
