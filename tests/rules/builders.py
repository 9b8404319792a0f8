"""Builders for rule tests: a compliant change request and a site map, varied per test."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from rules.approvals import Approval, ApprovalRole, ApprovalState, material_values, revision_of
from rules.change_request import ChangeRequest
from rules.policy import FieldRole, StatusRole
from rules.site_map import SiteMap

STATUS_IDS = {
    StatusRole.DRAFT: "10001", StatusRole.AWAITING_APPROVAL: "10002",
    StatusRole.APPROVED: "10003", StatusRole.IMPLEMENTING: "10004",
    StatusRole.IMPLEMENTED: "10005", StatusRole.CLOSED: "10006",
    StatusRole.REJECTED: "10007", StatusRole.CANCELLED: "10008",
}
FIELD_IDS = {
    role: f"customfield_{10050 + i}"
    for i, role in enumerate(r for r in FieldRole if r is not FieldRole.DESCRIPTION)
}
FIELD_IDS[FieldRole.DESCRIPTION] = "description"
BOT = "712020:bot"
SITE = SiteMap(field_ids=FIELD_IDS, status_ids=STATUS_IDS, bot_account_id=BOT)

COMPLETE_TEXTS = {
    FieldRole.DESCRIPTION: "Raise the checkout service's connection pool from 20 to 40.",
    FieldRole.DEPLOYMENT_PLAN: "Merge the config PR; the pipeline rolls it out pod by pod.",
    FieldRole.ROLLBACK_PLAN: "Revert the config PR; pods pick up the old pool size on restart.",
    FieldRole.RISK_ASSESSMENT: "Low: more connections to a database that has headroom for 200.",
    FieldRole.RETROSPECTIVE: None,
}


def change(
    category: str | None = "Normal",
    *,
    status: StatusRole = StatusRole.AWAITING_APPROVAL,
    change_type: str | None = "Configuration",
    template: str | None = None,
    start: datetime | None = datetime(2026, 12, 1, 10, tzinfo=timezone.utc),
    end: datetime | None = datetime(2026, 12, 1, 11, tzinfo=timezone.utc),
    commander: str | None = None,
    outcome: str | None = None,
    **texts: str | None,
) -> ChangeRequest:
    """Return a change request that passes the Awaiting Approval gate, with the given changes."""
    all_texts = dict(COMPLETE_TEXTS)
    for name, value in texts.items():
        all_texts[FieldRole(name)] = value
    return ChangeRequest(
        key="CHG-7",
        summary="Raise checkout DB pool",
        status_id=STATUS_IDS[status],
        reporter_account_id="712020:alice",
        labels=(),
        texts=all_texts,
        options={FieldRole.CATEGORY: category, FieldRole.CHANGE_TYPE: change_type,
                 FieldRole.RISK_LEVEL: None, FieldRole.STANDARD_TEMPLATE: template,
                 FieldRole.OUTCOME: outcome},
        times={FieldRole.PLANNED_START: start, FieldRole.PLANNED_END: end},
        users={FieldRole.INCIDENT_COMMANDER: commander},
    )


def with_status(cr: ChangeRequest, status: StatusRole) -> ChangeRequest:
    """Return the change request in another status."""
    return dataclasses.replace(cr, status_id=STATUS_IDS[status])


def approved(cr: ChangeRequest, *roles: ApprovalRole) -> ApprovalState:
    """Return approvals in ``roles`` (one person each) recorded for the change as it is now."""
    return ApprovalState(revision_of(cr), material_values(cr), tuple(
        Approval(f"712020:approver-{i}", role, "2026-11-30T09:00:00+00:00")
        for i, role in enumerate(roles)))
