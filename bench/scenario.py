"""Change requests and moves shared by the end-to-end benchmarks, and how to read the sandbox."""

from __future__ import annotations

from tests.builders import NORMAL
from tests.e2e.harness import settle

from .stack import Stack

COMPLETE = dict(NORMAL)
INCOMPLETE = {name: value for name, value in NORMAL.items() if name != "Deployment Plan"}


def seed_changes(stack: Stack, count: int, fields: dict, prefix: str = "Bench") -> list[str]:
    """Create ``count`` change requests in Draft as alice, without announcing them by webhook."""
    jira = stack.jira
    url, jira.webhook_url = jira.webhook_url, None
    try:
        return [jira.create_change_request("alice", f"{prefix} {n}", fields) for n in range(count)]
    finally:
        jira.webhook_url = url


def connect_web(stack: Stack) -> None:
    """Serve changeguard under gunicorn and make it the sandbox's webhook URL."""
    web = stack.start_web("wsgi:app")
    stack.jira.webhook_url = f"{web.url}/webhooks/jira"


def quiesce(stack: Stack) -> None:
    """Wait until every delivery is answered and every job has run."""
    settle(stack.jira, stack.queue, timeout=60)


def bot_requests(stack: Stack, since: int = 0) -> list:
    """Return the requests changeguard's account made, from index ``since`` of the recording."""
    bot = stack.jira.bot.account_id
    return [r for r in stack.jira.requests[since:] if r.account_id == bot]


def move_time(stack: Stack, key: str, account_id: str, since: int = 0) -> float | None:
    """Return when the sandbox answered ``account_id``'s POST transition on ``key`` (monotonic)."""
    path = f"/rest/api/3/issue/{key}/transitions"
    for request in stack.jira.requests[since:]:
        if (request.method == "POST" and request.path == path and request.status == 204
                and request.account_id == account_id):
            return request.time
    return None
