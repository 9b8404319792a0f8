"""Resolve the policy's field and status names to this Jira site's ids, once at start-up."""

from __future__ import annotations

import logging

from rules.policy import FieldRole, Policy, StatusRole
from rules.site_map import SiteMap

from .jira_client import JiraClient

logger = logging.getLogger(__name__)


class SiteMismatch(RuntimeError):
    """The Jira site lacks a field or status the policy names."""


def resolve_site(jira: JiraClient, policy: Policy) -> SiteMap:
    """Look up field ids, status ids and our own account id; raise SiteMismatch naming what's absent."""
    fields_by_name: dict[str, list[str]] = {}
    for field in jira.get_fields():
        fields_by_name.setdefault(field.get("name", ""), []).append(field["id"])
    statuses_by_name: dict[str, list[str]] = {}
    for status in jira.get_statuses():
        statuses_by_name.setdefault(status.get("name", ""), []).append(status["id"])

    problems: list[str] = []
    field_ids: dict[FieldRole, str] = {}
    for role in FieldRole:
        name = policy.field_name(role)
        ids = fields_by_name.get(name, [])
        if not ids:
            problems.append(f"field {name!r} (policy fields.{role.value}) does not exist on the site")
        elif len(ids) > 1:
            problems.append(
                f"field {name!r} (policy fields.{role.value}) is ambiguous: ids {', '.join(ids)}"
            )
        else:
            field_ids[role] = ids[0]
    status_ids: dict[StatusRole, str] = {}
    for role in StatusRole:
        name = policy.status_names[role]
        ids = statuses_by_name.get(name, [])
        if len(ids) != 1:
            problems.append(
                f"status {name!r} (policy statuses.{role.value}) "
                + ("does not exist on the site" if not ids else f"is ambiguous: ids {', '.join(ids)}")
            )
        else:
            status_ids[role] = ids[0]
    if problems:
        raise SiteMismatch("the Jira site does not match the policy:\n  - " + "\n  - ".join(problems))
    myself = jira.get_myself()
    site = SiteMap(field_ids=field_ids, status_ids=status_ids, bot_account_id=myself["accountId"])
    logger.info("site resolved", extra={"fields": len(field_ids), "statuses": len(status_ids),
                                        "account_id": site.bot_account_id})
    return site
