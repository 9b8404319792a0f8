"""The CAB agenda build over thousands of change requests: time and Jira calls."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from jobs.cab_agenda import gather_agenda
from jobs.periodic import cab_calendar
from rules.cab_schedule import next_meeting
from rules.change_request import fields_to_fetch
from rules.policy import StatusRole
from sandbox import jira_actions
from sandbox.jira_state import format_time
from worker.jira_client import JiraClient
from worker.policy_file import load_policy
from worker.runtime import Runtime, connect_redis
from worker.site_resolver import resolve_site

from .report import Row
from .scenario import COMPLETE
from .stack import Stack

TARGET_SECONDS = 30
MISSED = ("each Implemented or Closed change comes with its changelog in the enhanced search "
          "(`expand: changelog`), and only a change whose changelog the search cut short (Jira "
          "expands the latest 40 histories there) is read again with a GET. More calls than "
          "that mean many long-lived changes: keep each change's Implemented time in its "
          "`changeguard` property when changeguard allows that move and fetch it in the search; "
          "and bound the Closed search by `status changed to Closed after` the previous meeting.")
WINDOWS_FROM = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
PATH = ("Awaiting Approval", "Approved", "Implementing", "Implemented", "Closed")
# Where 100 change requests stand: most are old history (Closed) or not yet submitted (Draft).
MIX = (("Draft", 30), ("Awaiting Approval", 15), ("Approved", 8), ("Implementing", 4),
       ("Implemented", 8), ("Closed", 35))


@dataclass(frozen=True)
class Sizes:
    changes: int = 5000


def seed(stack: Stack, count: int) -> None:
    """Put ``count`` change requests straight into the sandbox's state, walked to their status.

    This calls the sandbox's own create and transition actions (what its REST routes run), minus
    HTTP: 5,000 issues over REST would take minutes. No webhook URL is set, so nothing is sent.
    """
    site = stack.jira.site
    alice = site.users["alice"]
    body = {"fields": {"project": {"key": site.project.key},
                       "issuetype": {"name": "Change Request"}, "summary": "Seeded change",
                       **stack.jira._field_values({**COMPLETE, "Risk Level": "Medium",
                                                   "Outcome": "Successful"})}}
    plan = [status for status, share in MIX for _ in range(share)]
    start_id, end_id = stack.jira.field_id("Planned Start"), stack.jira.field_id("Planned End")
    for n in range(count):
        # A window of its own (an hour each, back to back): clashes are not what is measured.
        start = WINDOWS_FROM + timedelta(hours=n)
        body["fields"][start_id] = format_time(start)
        body["fields"][end_id] = format_time(start + timedelta(minutes=50))
        issue = jira_actions.create_issue(site, alice, body)
        target = plan[n % len(plan)]
        for step in PATH[:PATH.index(target) + 1] if target != "Draft" else ():
            wanted = site.status_by_name(step).id
            transition = next(t for t in site.available_transitions(issue) if t.to_id == wanted)
            jira_actions.transition_issue(site, alice, issue.key,
                                          {"transition": {"id": transition.id}})


def runtime_for(stack: Stack) -> Runtime:
    """Return a job Runtime pointed at the stack's sandbox and Redis."""
    settings = stack.settings
    client = JiraClient(settings.jira_base_url, settings.jira_email, settings.jira_api_token)
    policy = load_policy()
    return Runtime(settings=settings, policy=policy, site=resolve_site(client, policy),
                   jira=client, redis=connect_redis(settings.redis_url))


def run(stack: Stack, sizes: Sizes = Sizes()) -> list[Row]:
    """Time gather_agenda against one paged search of everything it reads."""
    jira = stack.start_jira()
    started = time.monotonic()
    seed(stack, sizes.changes)
    seeded = time.monotonic() - started
    rt = runtime_for(stack)
    bot = jira.bot.account_id

    def calls_since(index: int) -> int:
        return sum(1 for r in jira.requests[index:] if r.account_id == bot)

    # Baseline: one enhanced search, same fields and page size, over every status the agenda reads.
    roles = (StatusRole.AWAITING_APPROVAL, StatusRole.APPROVED, StatusRole.IMPLEMENTING,
             StatusRole.IMPLEMENTED, StatusRole.CLOSED)
    ids = ", ".join(rt.site.status_ids[role] for role in roles)
    jql = rt.policy.scoped_jql(f"status in ({ids})", order_by="key")
    index, started = len(jira.requests), time.monotonic()
    matched = sum(1 for _ in rt.jira.search_issues(jql, fields=fields_to_fetch(rt.site)))
    base_seconds, base_calls = time.monotonic() - started, calls_since(index)

    calendar = cab_calendar(rt.policy)
    now = datetime.now(timezone.utc)
    meeting = next_meeting(calendar, now)
    index, started = len(jira.requests), time.monotonic()
    agenda = gather_agenda(meeting, now, calendar=calendar, runtime=rt)
    seconds, calls = time.monotonic() - started, calls_since(index)
    searches = sum(1 for r in jira.requests[index:]
                   if r.account_id == bot and r.path == "/rest/api/3/search/jql")
    how = (f"{sizes.changes} change requests seeded straight into the sandbox's state in "
           f"{seeded:.1f} s ({', '.join(f'{s} {p}%' for s, p in MIX)}); {matched} are in a "
           "status the agenda reads. gather_agenda for the next meeting (builds it, posts "
           f"nothing; {len(agenda.text)} characters). Baseline: one paged enhanced search "
           "(100 a page, the same fields) of every change in those statuses. Ours made "
           f"{searches} search calls (four searches, the Implemented and Closed ones with "
           f"`expand: changelog`) and {calls - searches} single-issue reads (only for a "
           "changelog the search cut short at its latest 40 histories).")
    return [
        Row(f"CAB agenda build, {sizes.changes} changes (s)", f"{base_seconds:.2f} (one search)",
            f"{seconds:.2f}", seconds / base_seconds, f"< {TARGET_SECONDS} s (proposed)",
            seconds < TARGET_SECONDS, how, MISSED),
        Row(f"CAB agenda build, {sizes.changes} changes (Jira calls)",
            f"{base_calls} (one search)", str(calls), calls / base_calls,
            "≤ 2× the search's pages (proposed)", calls <= 2 * base_calls, if_missed=MISSED),
    ]
