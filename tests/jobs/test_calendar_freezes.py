"""The calendar feed lists the freezes: recurring ones over its horizon, declared ones from Jira."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone

import redis
import vobject

from jobs.calendar import calendar_feed
from worker.jira_client import JiraClient
from worker.policy_file import load_policy
from worker.site_resolver import resolve_site

from ..builders import example_freezes_policy_path
from ..rules.test_change_calendar_freezes import (HARD_ALLOWS, SOFT_ALLOWS, WEEKEND_REASON,
                                                  YEAR_END_REASON, utc)
from ..webhooks.test_calendar_feed import settings_for

NOW = datetime(2026, 10, 1, 9, 30, tzinfo=timezone.utc)
HOST = "127.0.0.1"


def feed(jira, settings, conn: redis.Redis) -> bytes:
    policy = load_policy(settings.policy_path)
    client = JiraClient(jira.base_url, jira.bot.email, jira.bot.api_token)
    return calendar_feed(settings, policy, conn, jira=client,
                         site=lambda: resolve_site(client, policy), now=NOW)


def freeze_events(body: bytes) -> dict[str, dict]:
    """Parse the feed with vobject into its Freeze events by UID."""
    events = {}
    for vevent in getattr(vobject.readOne(body.decode()), "vevent_list", []):
        if vevent.categories.value != ["Freeze"]:
            continue
        events[vevent.uid.value] = {
            "summary": vevent.summary.value, "start": vevent.dtstart.value,
            "end": vevent.dtend.value, "description": vevent.description.value,
            "transp": vevent.transp.value, "status": vevent.status.value,
            "url": vevent.url.value if hasattr(vevent, "url") else None}
    return events


def test_the_feed_lists_recurring_and_declared_freezes(jira, redis_url, namespace, tmp_path):
    settings = dataclasses.replace(settings_for(jira, redis_url, namespace, "t"),
                                   policy_path=example_freezes_policy_path(tmp_path))
    london_days = jira.create_freeze("dana", "Payments migration", utc(2026, 11, 9),
                                     utc(2026, 11, 11), kind="Hard",
                                     reason="The ledger is being moved.")
    timed = jira.create_freeze("dana", "Audit", utc(2026, 11, 16, 9), utc(2026, 11, 16, 17),
                               kind="Soft")
    jira.create_freeze("carol", "Not hers to declare", utc(2026, 11, 2), utc(2026, 11, 3),
                       kind="Hard")  # not in head-of-engineering: no freeze
    conn = redis.Redis.from_url(redis_url)
    body = feed(jira, settings, conn)
    conn.close()
    events = freeze_events(body)
    browse = f"{jira.base_url}/browse/"

    # In the winter midnight UTC is midnight in London (the CAB's zone): all-day.
    assert events[f"freeze-{london_days}@changeguard.{HOST}"] == {
        "summary": "Hard freeze: Payments migration", "start": date(2026, 11, 9),
        "end": date(2026, 11, 11), "transp": "TRANSPARENT", "status": "CONFIRMED",
        "description": f"The ledger is being moved.\n{HARD_ALLOWS}\n{browse}{london_days}",
        "url": browse + london_days}
    assert events[f"freeze-{timed}@changeguard.{HOST}"] == {
        "summary": "Soft freeze: Audit", "start": utc(2026, 11, 16, 9),
        "end": utc(2026, 11, 16, 17), "transp": "TRANSPARENT", "status": "CONFIRMED",
        "description": f"Audit\n{SOFT_ALLOWS}\n{browse}{timed}", "url": browse + timed}
    assert events["freeze-Year%20end%4020261224T0000Z@changeguard.127.0.0.1"] == {
        "summary": "Hard freeze: Year end", "start": date(2026, 12, 24),
        "end": date(2027, 1, 2), "transp": "TRANSPARENT", "status": "CONFIRMED",
        "description": f"{YEAR_END_REASON}\n{HARD_ALLOWS}", "url": None}
    assert b"DTSTART;VALUE=DATE:20261224\r\n" in body and b"DTEND;VALUE=DATE:20270102\r\n" in body

    # The weekend the clocks go back (Sun 25 Oct): Friday 15:00 BST to Monday 08:00 GMT.
    assert events["freeze-Weekend%4020261023T1400Z@changeguard.127.0.0.1"] == {
        "summary": "Soft freeze: Weekend", "start": utc(2026, 10, 23, 14),
        "end": utc(2026, 10, 26, 8), "transp": "TRANSPARENT", "status": "CONFIRMED",
        "description": f"{WEEKEND_REASON}\n{SOFT_ALLOWS}", "url": None}
    # And the one the clocks go forward (Sun 28 Mar 2027): Friday 15:00 GMT to Monday 08:00 BST.
    assert events["freeze-Weekend%4020270326T1500Z@changeguard.127.0.0.1"]["end"] == utc(
        2027, 3, 29, 7)

    weekends = sorted(e["start"] for e in events.values() if e["summary"] == "Soft freeze: Weekend")
    # A month back to a year ahead of NOW (1 Oct 2026): 4 Sep 2026 to 1 Oct 2027, every Friday.
    assert (weekends[0], weekends[-1], len(weekends)) == (utc(2026, 9, 4, 14),
                                                          utc(2027, 10, 1, 14), 57)
    assert len(events) == 2 + 57 + 1  # declared, weekends, the year end of 2026 (only)


def test_without_redis_the_feed_lists_the_recurring_freezes_only(jira, redis_url, namespace,
                                                                tmp_path):
    settings = dataclasses.replace(settings_for(jira, redis_url, namespace, "t"),
                                   policy_path=example_freezes_policy_path(tmp_path))
    jira.create_freeze("dana", "Payments migration", utc(2026, 11, 9), utc(2026, 11, 11),
                       kind="Hard")
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    events = freeze_events(feed(jira, settings, down))
    assert {e["summary"] for e in events.values()} == {"Soft freeze: Weekend",
                                                       "Hard freeze: Year end"}
