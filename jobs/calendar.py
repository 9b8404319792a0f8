"""Build the change calendar feed: the changes' paged Jira search, the freezes, the calendar rule,
iCalendar text, cached."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timezone, tzinfo
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import redis
from dateutil.parser import isoparse

from rules.change_calendar import (ChangeCalendar, build_change_calendar, calendar_jql,
                                   freeze_horizon)
from rules.change_request import SnapshotError, fields_to_fetch, parse_change_request
from rules.freeze import Freeze, FreezeRule, recurring_freezes
from rules.policy import Policy
from rules.site_map import SiteMap
from worker.freeze_rules import freeze_rules
from worker.jira_client import JiraClient
from worker.runtime import Runtime
from worker.settings import Settings

from .freezes import declared_freezes

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300  # a busy calendar client must not turn into a Jira search per poll
PAGE_SIZE = 50
PRODID = "-//changeguard//Change calendar//EN"
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def cache_key(settings: Settings) -> str:
    """Return the Redis key that holds the built feed."""
    return settings.key("calendar", "ics")


def calendar_feed(settings: Settings, policy: Policy, redis_client: redis.Redis, *,
                  jira: JiraClient, site: Callable[[], SiteMap],
                  now: datetime | None = None) -> bytes:
    """Return the feed's iCalendar bytes, from the cache or built afresh (JiraError propagates).

    ``site`` is called only on a cache miss, so a warm cache answers even while Jira is down.
    """
    key = cache_key(settings)
    try:
        cached = redis_client.get(key)
    except REDIS_DOWN:
        logger.warning("calendar cache unavailable", exc_info=True)
        cached = None
    if cached is not None:
        return cached
    now = now or datetime.now(timezone.utc)
    site_map = site()
    rules = freeze_rules(policy)
    rt = Runtime(settings=settings, policy=policy, site=site_map, jira=jira,
                 redis=redis_client, freeze_rules=rules)
    body = render_ics(fetch_calendar(jira, policy, site_map, settings.jira_base_url, now,
                                     freezes=feed_freezes(rt, now), freeze_rules=rules,
                                     cab_zone=ZoneInfo(policy.cab.timezone)))
    try:
        redis_client.set(key, body, ex=CACHE_SECONDS)
    except REDIS_DOWN:
        logger.warning("calendar cache unavailable", exc_info=True)
    return body


def feed_freezes(rt: Runtime, now: datetime) -> tuple[Freeze, ...]:
    """Return the freezes the feed built at ``now`` lists: the recurring ones over its horizon,
    and every one declared in Jira and in force.

    Without Redis (the declared freezes' cache, and their declarers' groups), the feed goes out
    with the recurring ones only, as it goes out without its own cache.
    """
    recurring = recurring_freezes(rt.freeze_rules, *freeze_horizon(now))
    try:
        return recurring + declared_freezes(rt)
    except REDIS_DOWN:
        logger.warning("calendar freezes declared in Jira left out", exc_info=True)
        return recurring


def fetch_calendar(jira: JiraClient, policy: Policy, site: SiteMap, base_url: str,
                   now: datetime, *, freezes: Iterable[Freeze] = (),
                   freeze_rules: Iterable[FreezeRule] = (),
                   cab_zone: tzinfo = timezone.utc) -> ChangeCalendar:
    """Search Jira for the published changes and turn them, with ``freezes``, into the calendar
    (``freeze_rules`` and ``cab_zone`` tell each freeze's time zone)."""
    changes, updated = [], {}
    fields = (*fields_to_fetch(site), "updated")
    for issue in jira.search_issues(calendar_jql(policy, site), fields=fields, page_size=PAGE_SIZE):
        try:
            cr = parse_change_request(issue, site)
        except SnapshotError as exc:
            logger.warning("calendar issue unreadable", extra={"error": str(exc)})
            continue
        changes.append(cr)
        stamp = _updated(issue)
        if stamp is not None:
            updated[cr.key] = stamp
    base_url = base_url.rstrip("/")
    calendar = build_change_calendar(
        changes, policy=policy, site=site, browse_url=f"{base_url}/browse/",
        site_host=urlsplit(base_url).hostname or "jira", now=now, updated=updated,
        freezes=freezes, freeze_rules=freeze_rules, cab_zone=cab_zone)
    if calendar.skipped:
        logger.info("calendar changes without a window", extra={"issue_keys": calendar.skipped})
    logger.info("calendar built", extra={"events": len(calendar.events)})
    return calendar


def render_ics(calendar: ChangeCalendar) -> bytes:
    """Return the calendar as RFC 5545 text (CRLF line ends, long lines folded)."""
    ical = icalendar.Calendar()
    ical.add("prodid", PRODID)
    ical.add("version", "2.0")
    ical.add("calscale", "GREGORIAN")
    ical.add("name", calendar.name)
    ical.add("x-wr-calname", icalendar.vText(calendar.name))
    ical.add("description", calendar.description)
    ical.add("x-wr-caldesc", icalendar.vText(calendar.description))
    ical.add("refresh-interval", calendar.refresh, parameters={"VALUE": "DURATION"})
    ical.add("x-published-ttl", icalendar.vDuration(calendar.refresh))  # unknown to the library
    for event in calendar.events:
        vevent = icalendar.Event()
        vevent.add("uid", event.uid)
        vevent.add("dtstamp", event.stamp)
        # A date (not a date-time) makes the event all-day: DTSTART;VALUE=DATE.
        vevent.add("dtstart", event.days[0] if event.days else event.start)
        vevent.add("dtend", event.days[1] if event.days else event.end)
        vevent.add("summary", event.summary)
        vevent.add("description", event.description)
        if event.url:
            vevent.add("url", event.url, parameters={"VALUE": "URI"})
        vevent.add("status", event.status.value)
        if event.categories:
            vevent.add("categories", list(event.categories))
        if event.last_modified is not None:
            vevent.add("last-modified", event.last_modified)
        vevent.add("transp", "TRANSPARENT" if event.transparent else "OPAQUE")
        ical.add_component(vevent)
    return ical.to_ical()


def _updated(issue: dict) -> datetime | None:
    value = (issue.get("fields") or {}).get("updated")
    try:
        moment = isoparse(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None
