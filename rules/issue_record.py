"""What changeguard keeps on each issue (one issue property): its approvals and its decision log."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .approvals import ApprovalState, parse_approval_state

PROPERTY_KEY = "changeguard"
MAX_AUDIT_ENTRIES = 40  # keeps the property far below Jira's 32,768-character limit


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    """One decision, as a person reading the issue's record would want it."""

    at: str
    decision: str
    reason: str
    actor: str | None
    from_status: str | None
    to_status: str | None
    changelog_id: int | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the property form of the entry."""
        return {"at": self.at, "decision": self.decision, "reason": self.reason,
                "actor": self.actor, "from": self.from_status, "to": self.to_status,
                "changelog": self.changelog_id, "detail": self.detail[:200]}


@dataclasses.dataclass(frozen=True)
class IssueRecord:
    """The approvals and the audit log kept on an issue."""

    approvals: ApprovalState = ApprovalState()
    audit: tuple[Mapping[str, Any], ...] = ()

    def last_decided_move(self) -> int | None:
        """Return the changelog id of the latest status move the log records a decision on.

        Jira keeps this record, so it says which moves are handled when Redis has forgotten.
        Edits (no status) and retrospective flags (no changelog id) do not count.
        """
        ids = [entry["changelog"] for entry in self.audit
               if entry.get("to") is not None and type(entry.get("changelog")) is int]
        return max(ids, default=None)

    def with_entry(self, entry: AuditEntry, approvals: ApprovalState | None = None) -> dict:
        """Return the property value after recording ``entry`` (and new approvals, if given)."""
        audit = [*self.audit, entry.to_json()][-MAX_AUDIT_ENTRIES:]
        state = self.approvals if approvals is None else approvals
        return {"approvals": state.to_json(), "audit": audit}


def parse_record(value: Any) -> IssueRecord:
    """Read the issue property; a missing or unreadable one is an empty record."""
    if not isinstance(value, Mapping):
        return IssueRecord()
    audit = value.get("audit")
    return IssueRecord(
        approvals=parse_approval_state(value.get("approvals")),
        audit=tuple(e for e in audit if isinstance(e, Mapping)) if isinstance(audit, list) else (),
    )
