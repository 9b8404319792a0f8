"""Withdraw approvals when the category, type, plans, risk or window change after approval."""

from __future__ import annotations

import dataclasses
import enum

from .approvals import ApprovalState, material_values, revision_of
from .change_request import ChangeRequest
from .policy import FieldRole, StatusRole
from .site_map import SiteMap


class EditVerdict(str, enum.Enum):
    """What a material edit does to the approvals."""

    NOTHING = "nothing"
    WITHDRAW = "withdraw"                          # partial approvals dropped, status stays
    WITHDRAW_AND_REVERT = "withdraw_and_revert"    # Approved → back to Awaiting Approval


@dataclasses.dataclass(frozen=True)
class FieldChange:
    """One material field as it was approved and as it is now."""

    field: FieldRole
    before: str
    after: str


@dataclasses.dataclass(frozen=True)
class EditDecision:
    """The decision on the change's approvals after an edit."""

    verdict: EditVerdict
    changes: tuple[FieldChange, ...] = ()
    revert_to_status_id: str | None = None


def judge_edit(change: ChangeRequest, approvals: ApprovalState, site: SiteMap) -> EditDecision:
    """Compare the approved revision with the change now; withdraw approvals it no longer matches."""
    if not approvals.approvals or approvals.revision == revision_of(change):
        return EditDecision(EditVerdict.NOTHING)
    now = material_values(change)
    changes = tuple(FieldChange(FieldRole(role), approvals.values.get(role, ""), value)
                    for role, value in now.items() if approvals.values.get(role, "") != value)
    status = site.status_role(change.status_id)
    if status is StatusRole.APPROVED:
        return EditDecision(EditVerdict.WITHDRAW_AND_REVERT, changes,
                            site.status_ids[StatusRole.AWAITING_APPROVAL])
    if status is StatusRole.AWAITING_APPROVAL:
        return EditDecision(EditVerdict.WITHDRAW, changes)
    return EditDecision(EditVerdict.NOTHING)  # too early (Draft) or too late (implementing on)
