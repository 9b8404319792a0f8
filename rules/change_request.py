"""Build the frozen ChangeRequest snapshot from a Jira REST v3 issue."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .adf import adf_to_text
from .policy import FieldRole
from .site_map import SiteMap

TEXT_ROLES = frozenset(
    {FieldRole.DESCRIPTION, FieldRole.DEPLOYMENT_PLAN, FieldRole.ROLLBACK_PLAN,
     FieldRole.RISK_ASSESSMENT, FieldRole.RETROSPECTIVE}
)
OPTION_ROLES = frozenset(
    {FieldRole.CATEGORY, FieldRole.CHANGE_TYPE, FieldRole.RISK_LEVEL,
     FieldRole.STANDARD_TEMPLATE, FieldRole.OUTCOME}
)
DATETIME_ROLES = frozenset({FieldRole.PLANNED_START, FieldRole.PLANNED_END})
USER_ROLES = frozenset({FieldRole.INCIDENT_COMMANDER})


class SnapshotError(ValueError):
    """The issue JSON is not shaped like a Jira issue."""


@dataclasses.dataclass(frozen=True)
class ChangeRequest:
    """A change request as it stands in Jira, in the policy's terms."""

    key: str
    summary: str
    status_id: str
    reporter_account_id: str | None
    labels: tuple[str, ...]
    texts: Mapping[FieldRole, str | None]
    options: Mapping[FieldRole, str | None]
    times: Mapping[FieldRole, datetime | None]
    users: Mapping[FieldRole, str | None]

    def text(self, role: FieldRole) -> str | None:
        """Return the plain text of a paragraph field (or the description)."""
        return self.texts.get(role)

    def option(self, role: FieldRole) -> str | None:
        """Return the chosen value of a single-select field."""
        return self.options.get(role)

    def datetime_of(self, role: FieldRole) -> datetime | None:
        """Return the value of a date-time field."""
        return self.times.get(role)

    def user(self, role: FieldRole) -> str | None:
        """Return the account id in a user-picker field."""
        return self.users.get(role)


def fields_to_fetch(site: SiteMap) -> tuple[str, ...]:
    """Return the field ids a snapshot needs, for GET issue's ``fields`` parameter."""
    return ("summary", "status", "reporter", "labels", "issuetype",
            *sorted(set(site.field_ids.values())))


def issue_parts(issue: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], str]:
    """Return a REST v3 issue body's key, fields and status id; raise SnapshotError if one is
    missing or malformed."""
    key = issue.get("key")
    fields = issue.get("fields")
    if not isinstance(key, str) or not isinstance(fields, Mapping):
        raise SnapshotError("an issue needs a string 'key' and a 'fields' object")
    status = fields.get("status")
    status_id = status.get("id") if isinstance(status, Mapping) else None
    if not isinstance(status_id, str):
        raise SnapshotError(f"{key}: the issue has no status id")
    return key, fields, status_id


def parse_change_request(issue: Mapping[str, Any], site: SiteMap) -> ChangeRequest:
    """Return the snapshot of a REST v3 issue body; raise SnapshotError on a malformed one."""
    key, fields, status_id = issue_parts(issue)

    def raw(role: FieldRole) -> Any:
        return fields.get(site.field_id(role))

    labels = fields.get("labels")
    return ChangeRequest(
        key=key,
        summary=fields.get("summary") if isinstance(fields.get("summary"), str) else "",
        status_id=status_id,
        reporter_account_id=account_id_of(fields.get("reporter")),
        labels=tuple(l for l in labels if isinstance(l, str)) if isinstance(labels, list) else (),
        texts={role: adf_to_text(raw(role)) for role in TEXT_ROLES},
        options={role: option_value(raw(role)) for role in OPTION_ROLES},
        times={role: datetime_value(raw(role)) for role in DATETIME_ROLES},
        users={role: account_id_of(raw(role)) for role in USER_ROLES},
    )


def option_value(value: Any) -> str | None:
    """Return a select field's chosen option value (Jira sends {"value": ...}), or None."""
    if isinstance(value, Mapping) and isinstance(value.get("value"), str):
        return value["value"]
    return value if isinstance(value, str) else None


def account_id_of(value: Any) -> str | None:
    """Return a user field's account id (Jira sends {"accountId": ...}), or None."""
    if isinstance(value, Mapping) and isinstance(value.get("accountId"), str):
        return value["accountId"]
    return None


def datetime_value(value: Any) -> datetime | None:
    """Parse Jira's date-time form (2026-12-01T10:00:00.000+0000); None if absent or unreadable."""
    if not isinstance(value, str):
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
