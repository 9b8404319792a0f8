"""Build the change calendar feed: one paged Jira search, the calendar rule, iCalendar text, cached."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import urlsplit

import icalendar
import redis
from dateutil.parser import isoparse

from rules.change_calendar import ChangeCalendar, build_change_calendar, calendar_jql
from rules.change_request import SnapshotError, fields_to_fetch, parse_change_request
from rules.policy import Policy
from rules.site_map import SiteMap
from worker.jira_client import JiraClient
from worker.settings import Settings

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
    body = render_ics(fetch_calendar(jira, policy, site(), settings.jira_base_url, now))
    try:
        redis_client.set(key, body, ex=CACHE_SECONDS)
    except REDIS_DOWN:
        logger.warning("calendar cache unavailable", exc_info=True)
    return body


def fetch_calendar(jira: JiraClient, policy: Policy, site: SiteMap, base_url: str,
                   now: datetime) -> ChangeCalendar:
    """Search Jira for the published changes and turn them into the calendar."""
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
        site_host=urlsplit(base_url).hostname or "jira", now=now, updated=updated)
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
        vevent.add("dtstart", event.start)
        vevent.add("dtend", event.end)
        vevent.add("summary", event.summary)
        vevent.add("description", event.description)
        vevent.add("url", event.url, parameters={"VALUE": "URI"})
        vevent.add("status", event.status.value)
        if event.categories:
            vevent.add("categories", list(event.categories))
        if event.last_modified is not None:
            vevent.add("last-modified", event.last_modified)
        vevent.add("transp", "OPAQUE")
        ical.add_component(vevent)
    return ical.to_ical()


def _updated(issue: dict) -> datetime | None:
    value = (issue.get("fields") or {}).get("updated")
    try:
        moment = isoparse(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None
