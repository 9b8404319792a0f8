"""Jira API calls per event: compliant move, violating move, duplicate deliveries."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .report import Row
from .scenario import COMPLETE, INCOMPLETE, bot_requests, connect_web, quiesce, seed_changes
from .stack import Stack

# What a request is, by method and path (issue keys and ids folded away).
SHAPES = (
    ("GET", r"/issue/[^/]+$", "GET issue"),
    ("GET", r"/issue/[^/]+/transitions$", "GET transitions"),
    ("POST", r"/issue/[^/]+/transitions$", "POST transition"),
    ("POST", r"/issue/[^/]+/comment$", "POST comment"),
    ("PUT", r"/issue/[^/]+/properties/", "PUT property"),
    ("GET", r"/user/groups", "GET user groups"),
)


MISSED = {
    "compliant": (
        "by design, not by accident: the one read (issue, fields, our property, the changelog "
        "and the transitions in one GET) is the target's 1; the second call is the PUT of the "
        "`changeguard` audit property, which issue #3 requires on every decision, allowed ones "
        "included. A violating move writes its record with the revert (the POST transition's "
        "`properties`); an allowed move makes no other write for the record to ride on. "
        "Reaching 1: record allowed decisions in Redis (or the structured log) only and write "
        "them to the issue with the next write that happens anyway, or batch them per issue "
        "every few minutes; issue #3 would have to accept that lag."),
    "violating": (
        "GET issue (with the changelog and the transitions expanded), POST transition (with "
        "the audit record in its `properties`), POST comment: each is needed, so more means a "
        "regression, e.g. the read lost `expand=transitions` (GET transitions comes back) or "
        "the revert lost its `properties` (PUT property comes back)."),
}


@dataclass(frozen=True)
class Sizes:
    repeats: int = 5


def shape(request) -> str:
    """Name a recorded request as in the table (``GET issue``)."""
    for method, pattern, name in SHAPES:
        if request.method == method and re.search(pattern, request.path):
            return name
    return f"{request.method} {request.path}"


def calls_for(stack: Stack, act) -> list[str]:
    """Run ``act()``, let everything settle, and return the calls changeguard made meanwhile."""
    since = len(stack.jira.requests)
    act()
    quiesce(stack)
    return [shape(r) for r in bot_requests(stack, since)]


def run(stack: Stack, sizes: Sizes = Sizes()) -> list[Row]:
    """Count, over ``repeats`` events of each kind, the calls changeguard's account made."""
    jira = stack.start_jira()
    connect_web(stack)
    stack.start_workers(1)
    compliant_keys = seed_changes(stack, sizes.repeats, COMPLETE, "Compliant")
    violating_keys = seed_changes(stack, sizes.repeats, INCOMPLETE, "Violating")
    quiesce(stack)
    counted: dict[str, list[list[str]]] = {"compliant": [], "violating": [], "retry": [],
                                           "again": []}
    for key in compliant_keys:
        counted["compliant"].append(calls_for(
            stack, lambda: jira.transition(key, "Awaiting Approval", as_user="alice")))
    for key in violating_keys:
        sent = len(jira.deliveries)
        counted["violating"].append(calls_for(
            stack, lambda: jira.transition(key, "Awaiting Approval", as_user="alice")))
        move = next(d for d in jira.deliveries[sent:] if d.payload["issue"]["key"] == key)
        # Jira's retry of the same delivery, and the same event delivered under a new identifier.
        counted["retry"].append(calls_for(stack, lambda: jira.redeliver(move.identifier)))
        counted["again"].append(calls_for(
            stack, lambda: jira.redeliver(move.identifier, new_identifier=True)))
    rows = []
    # floor: what the event cannot do without (one read; to revert, also the move and the comment).
    for kind, what, floor, target, limit, note in (
            ("compliant", "Jira calls per compliant move", 1, "1", 1,
             "a complete Normal change moved Draft → Awaiting Approval (allowed)"),
            ("violating", "Jira calls per violating move", 3, "≤ 4", 4,
             "an incomplete change moved Draft → Awaiting Approval (reverted with a comment); "
             "includes the job for changeguard's own revert (screened out without a call)"),
            ("retry", "Jira calls per duplicate (Jira retry, same identifier)", 0, "0", 0,
             "the violating move's delivery sent again with its X-Atlassian-Webhook-Identifier"),
            ("again", "Jira calls per duplicate (same event, new identifier)", 0, "0", 0,
             "the violating move's event delivered again under a new identifier")):
        lists = counted[kind]
        ours = max(len(calls) for calls in lists)
        calls = Counter(name for calls in lists for name in calls)
        breakdown = ", ".join(f"{name} ×{count / len(lists):g}" for name, count in calls.items())
        rows.append(Row(what, f"{floor} (the least the event needs)", str(ours),
                        None if floor == 0 else ours / floor, target, ours <= limit,
                        f"{note}; worst of {len(lists)}; per event: {breakdown or 'none'}.",
                        MISSED.get(kind, "")))
    return rows
