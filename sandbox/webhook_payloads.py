"""Build webhook bodies exactly as Jira Cloud sends them (the v2 representation)."""

from __future__ import annotations

import logging
from typing import Any

from sandbox.jira_render import comment_json, field_value_json, issue_fields, user_json
from sandbox.jira_state import JiraSite, SiteEvent

logger = logging.getLogger(__name__)

COMMENT_ISSUE_FIELDS = ("summary", "issuetype", "project", "assignee", "status")


def build_payload(site: JiraSite, event: SiteEvent, base: str) -> dict[str, Any]:
    """Return the JSON body Jira would POST for this event (call with the site lock held)."""
    issue = site.issues[event.issue_key]
    body: dict[str, Any] = {
        "timestamp": int(event.timestamp.timestamp() * 1000),
        "webhookEvent": event.webhook_event,
    }
    issue_ref = {"id": issue.id, "self": f"{base}/rest/api/2/{issue.id}", "key": issue.key}
    if event.comment_id is not None:
        comment = next(c for c in issue.comments if c.id == event.comment_id)
        body["comment"] = comment_json(site, comment, issue, base, version=2)
        body["issue"] = {
            **issue_ref,
            "fields": {
                name: field_value_json(site, site.fields[name], issue, base, version=2)
                for name in COMMENT_ISSUE_FIELDS
            },
        }
        return body
    if event.issue_event_type_name is not None:
        body["issue_event_type_name"] = event.issue_event_type_name
    body["user"] = user_json(site.user_by_account(event.actor), base, version=2)
    body["issue"] = {**issue_ref, "fields": issue_fields(site, issue, base, version=2)}
    if event.history_id is None:  # jira:issue_deleted: the issue as it was, no changelog
        return body
    history = next(h for h in issue.histories if h.id == event.history_id)
    body["changelog"] = {"id": str(history.id), "items": [dict(i) for i in history.items]}
    return body
