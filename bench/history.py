"""Backdated change histories straight into the sandbox Jira's state (tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sandbox import jira_actions, jira_links
from sandbox.jira_server import SandboxJira
from sandbox.jira_state import Issue, SandboxUser

BOT = "bot"


class History:
    """Write change requests and their moves and edits at chosen moments, past ones included.

    The sandbox stamps everything with the real clock; each step here is moved back to its
    moment (history, ``created``, ``updated``), so searches and changelogs read as if the
    changes had been made then. It calls the sandbox's own actions (what its REST routes run),
    minus HTTP, and sends no webhooks.
    """

    def __init__(self, jira: SandboxJira):
        self.jira = jira
        self.site = jira.site

    @contextmanager
    def quiet(self) -> Iterator[History]:
        """Send no webhooks while seeding (the sandbox's webhook URL is set back after)."""
        url, self.jira.webhook_url = self.jira.webhook_url, None
        try:
            yield self
        finally:
            self.jira.webhook_url = url

    def user(self, name: str) -> SandboxUser:
        """Return a person by name, or changeguard's own account for ``BOT``."""
        return self.jira.bot if name == BOT else self.site.users[name]

    def create(self, fields: dict[str, object], at: datetime, *, summary: str = "Seeded change",
               by: str = "alice") -> str:
        """Create a Change Request with fields keyed by name, as made at ``at``; return its key."""
        body = {"fields": {"project": {"key": self.site.project.key},
                           "issuetype": {"name": "Change Request"}, "summary": summary,
                           **self.jira._field_values(fields)}}
        with self.site.lock:
            issue = jira_actions.create_issue(self.site, self.user(by), body)
            issue.created = issue.status_changed = at
            self._stamp(issue, at)
        return issue.key

    def move(self, key: str, status: str, at: datetime, *, by: str = "alice") -> None:
        """Move the issue to the status named ``status`` (any transition the workflow has)."""
        with self.site.lock:
            issue = self.site.issue(key)
            wanted = self.site.status_by_name(status).id
            transition = next(t for t in self.site.available_transitions(issue)
                              if t.to_id == wanted)
            jira_actions.transition_issue(self.site, self.user(by), key,
                                          {"transition": {"id": transition.id}})
            self._stamp(issue, at)

    def walk(self, key: str, *steps: tuple[str, datetime]) -> None:
        """Move the issue through ``(status, at)`` steps, as alice."""
        for status, at in steps:
            self.move(key, status, at)

    def edit(self, key: str, fields: dict[str, object], at: datetime, *,
             by: str = "alice") -> None:
        """Edit fields keyed by name."""
        with self.site.lock:
            jira_actions.edit_issue(self.site, self.user(by), key,
                                    {"fields": self.jira._field_values(fields)})
            self._stamp(self.site.issue(key), at)

    def link(self, inward_key: str, outward_key: str, type_name: str = "Causes", *,
             by: str = "alice") -> None:
        """Link two issues as POST issueLink does with these as ``inwardIssue`` and
        ``outwardIssue``: ``link(cause, emergency)`` makes the Emergency change show its
        cause as "is caused by". The link has no moment of its own (it changes no history)."""
        body = {"type": {"name": type_name}, "inwardIssue": {"key": inward_key},
                "outwardIssue": {"key": outward_key}}
        with self.site.lock:
            jira_links.link_issues(self.site, self.user(by), body)

    def set_property(self, key: str, property_key: str, value: Any) -> None:
        """Set an issue property (changes nothing else)."""
        with self.site.lock:
            self.site.issue(key).properties[property_key] = value

    @staticmethod
    def _stamp(issue: Issue, at: datetime) -> None:
        issue.histories[-1].created = at
        issue.updated = at
