"""The change calendar: which changes become events, and exactly what each event says."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from rules.change_calendar import (CALENDAR_DESCRIPTION, CALENDAR_NAME, CalendarEvent,
                                   ChangeCalendar, EventStatus, build_change_calendar,
                                   calendar_jql)
from rules.policy import FieldRole, StatusRole
from worker.policy_file import load_policy

from .builders import SITE, change

POLICY = load_policy()
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
BROWSE = "https://acme.atlassian.net/browse/"
HOST = "acme.atlassian.net"
START = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
END = datetime(2026, 12, 1, 11, tzinfo=timezone.utc)
PARIS = timezone(timedelta(hours=1))


def cr(key="CHG-7", status=StatusRole.APPROVED, *, category="Normal", risk="Medium",
       summary="Rotate edge TLS certificates", start=START, end=END):
    """Return a change request with the given key, status, category, risk and window."""
    base = change(category, status=status, start=start, end=end)
    return dataclasses.replace(base, key=key, summary=summary,
                               options={**base.options, FieldRole.RISK_LEVEL: risk})


def event(key="CHG-7", status=EventStatus.TENTATIVE, *, category="Normal", risk="Medium",
          jira_status="Approved", summary="Rotate edge TLS certificates", start=START, end=END,
          stamp=NOW, last_modified=None):
    """Return the event expected for ``cr`` with the same arguments."""
    url = BROWSE + key
    return CalendarEvent(
        uid=f"{key}@changeguard.acme.atlassian.net",
        summary=f"[{category}] {key} {summary}" if category else f"{key} {summary}",
        description=(f"Category: {category or 'not set'}\nRisk level: {risk or 'not set'}\n"
                     f"Status: {jira_status}\n{url}"),
        url=url, start=start, end=end, status=status,
        categories=(category,) if category else (), stamp=stamp, last_modified=last_modified,
    )


CASES = [
    ("approved-is-tentative", [cr()], [event()], ()),
    ("implementing-is-confirmed", [cr(status=StatusRole.IMPLEMENTING)],
     [event(status=EventStatus.CONFIRMED, jira_status="Implementing")], ()),
    ("implemented-is-confirmed", [cr(status=StatusRole.IMPLEMENTED)],
     [event(status=EventStatus.CONFIRMED, jira_status="Implemented")], ()),
    ("other-statuses-are-left-out",
     [cr(f"CHG-{n}", status) for n, status in enumerate(
         (StatusRole.DRAFT, StatusRole.AWAITING_APPROVAL, StatusRole.CLOSED,
          StatusRole.REJECTED, StatusRole.CANCELLED), start=10)]
     + [dataclasses.replace(cr("CHG-20"), status_id="99999")], [], ()),
    ("emergency-without-window-is-skipped",
     [cr(category="Emergency", status=StatusRole.IMPLEMENTING, start=None, end=None),
      cr("CHG-8", start=None), cr("CHG-9", end=None)], [], ("CHG-7", "CHG-8", "CHG-9")),
    ("window-ending-before-it-starts-is-skipped",
     [cr(end=START), cr("CHG-8", end=START - timedelta(hours=1))], [], ("CHG-7", "CHG-8")),
    ("times-become-utc",
     [cr(start=datetime(2026, 12, 1, 11, tzinfo=PARIS), end=datetime(2026, 12, 1, 12, tzinfo=PARIS))],
     [event()], ()),
    ("no-category-no-risk",
     [cr(category=None, risk=None)], [event(category=None, risk=None)], ()),
    ("emergency-with-window",
     [cr(category="Emergency", status=StatusRole.IMPLEMENTING)],
     [event(category="Emergency", status=EventStatus.CONFIRMED, jira_status="Implementing")], ()),
    ("summary-whitespace-is-flattened",
     [cr(summary="  Rotate edge\nTLS   certificates ")], [event()], ()),
    ("events-in-time-order-then-uid",
     [cr("CHG-9", start=START + timedelta(days=1), end=END + timedelta(days=1)),
      cr("CHG-8"), cr("CHG-7")],
     [event(), event("CHG-8"),
      event("CHG-9", start=START + timedelta(days=1), end=END + timedelta(days=1))], ()),
]


@pytest.mark.parametrize("changes,events,skipped", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_events(changes, events, skipped):
    calendar = build_change_calendar(changes, policy=POLICY, site=SITE, browse_url=BROWSE,
                                     site_host=HOST, now=NOW)
    assert calendar == ChangeCalendar(CALENDAR_NAME, CALENDAR_DESCRIPTION,
                                      timedelta(minutes=15), tuple(events), skipped)


def test_last_update_is_last_modified_and_stamp():
    updated = datetime(2026, 11, 19, 17, 5, tzinfo=PARIS)
    calendar = build_change_calendar([cr(), cr("CHG-8")], policy=POLICY, site=SITE,
                                     browse_url=BROWSE, site_host=HOST, now=NOW,
                                     updated={"CHG-7": updated})
    in_utc = datetime(2026, 11, 19, 16, 5, tzinfo=timezone.utc)
    assert calendar.events == (event(stamp=in_utc, last_modified=in_utc), event("CHG-8"))


def test_the_summary_example_of_the_policy():
    [only] = build_change_calendar([cr()], policy=POLICY, site=SITE, browse_url=BROWSE,
                                   site_host=HOST, now=NOW).events
    assert only.summary == "[Normal] CHG-7 Rotate edge TLS certificates"
    assert only.uid == "CHG-7@changeguard.acme.atlassian.net"


JQL_CASES = [
    ("policy-names", {}),
    ("renamed", {StatusRole.APPROVED: "Ready to go"}),
    ("localised", {StatusRole.APPROVED: "Genehmigt", StatusRole.IMPLEMENTING: "In Umsetzung",
                   StatusRole.IMPLEMENTED: "Umgesetzt"}),
    ("quotes-in-a-name", {StatusRole.APPROVED: 'Say "yes" \\ go'}),
]


@pytest.mark.parametrize("names", [c[1] for c in JQL_CASES], ids=[c[0] for c in JQL_CASES])
def test_jql_searches_the_published_statuses_by_id_whatever_their_names(names):
    policy = dataclasses.replace(POLICY, status_names={**POLICY.status_names, **names})
    assert calendar_jql(policy, SITE) == (
        '(issuetype = "Change Request") AND status in (10003, 10004, 10005)')
