"""Hold what the Jira site calls the policy's fields and statuses: ids resolved at start-up."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from .policy import FieldRole, FreezeFieldRole, StatusRole


@dataclasses.dataclass(frozen=True)
class SiteMap:
    """Field ids and status ids by policy role, and the account changeguard acts as.

    ``freeze_field_ids``: the fields of one-off freezes declared in Jira (empty when the policy
    reads none).
    """

    field_ids: Mapping[FieldRole, str]
    status_ids: Mapping[StatusRole, str]
    bot_account_id: str
    freeze_field_ids: Mapping[FreezeFieldRole, str] = dataclasses.field(default_factory=dict)

    def status_role(self, status_id: str | None) -> StatusRole | None:
        """Return the policy role of a status id, or None for a status the policy doesn't name."""
        for role, known in self.status_ids.items():
            if known == status_id:
                return role
        return None

    def field_id(self, role: FieldRole) -> str:
        """Return the Jira field id of the field playing ``role``."""
        return self.field_ids[role]
