"""Resolve the policy's field and status names to this Jira site's ids, once at start-up."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TypeVar

from rules.policy import FieldRole, FreezeFieldRole, Policy, StatusRole
from rules.site_map import SiteMap

from .jira_client import JiraClient

logger = logging.getLogger(__name__)
Role = TypeVar("Role", FieldRole, FreezeFieldRole)


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
    field_ids = _field_ids(policy.field_names, "fields", fields_by_name, problems)
    freeze_field_ids = _field_ids(policy.freezes.field_names, "freezes", fields_by_name, problems)
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
    site = SiteMap(field_ids=field_ids, status_ids=status_ids, bot_account_id=myself["accountId"],
                   freeze_field_ids=freeze_field_ids)
    logger.info("site resolved", extra={"fields": len(field_ids), "statuses": len(status_ids),
                                        "account_id": site.bot_account_id})
    return site


def _field_ids(names: Mapping[Role, str], table: str, fields_by_name: Mapping[str, list[str]],
               problems: list[str]) -> dict[Role, str]:
    """Return the id of each named field; note in ``problems`` those absent or ambiguous."""
    field_ids: dict[Role, str] = {}
    for role, name in names.items():
        # [freezes] names its fields kind_field and reason_field.
        key = f"{table}.{role.value}" + ("_field" if table == "freezes" else "")
        ids = fields_by_name.get(name, [])
        if not ids:
            problems.append(f"field {name!r} (policy {key}) does not exist on the site")
        elif len(ids) > 1:
            problems.append(f"field {name!r} (policy {key}) is ambiguous: ids {', '.join(ids)}")
        else:
            field_ids[role] = ids[0]
    return field_ids
