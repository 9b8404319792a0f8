"""Decide what to do about one status move of a change request: every gate of the policy."""

from __future__ import annotations

import dataclasses
import enum

from .approvals import (ApprovalOutcome, ApprovalState, ApprovalVerdict, is_pre_approved,
                        judge_approval, missing_roles, standing_approvals)
from .change_history import HistoryEntry, edits_after, last_editor, latest_status_move
from .material_edit import FieldChange
from .awaiting_approval_gate import Finding, check_ready_for_approval
from .change_request import ChangeRequest
from .policy import FieldRole, GroupRole, Policy, StatusRole
from .post_implementation_review import check_review
from .site_map import SiteMap


@dataclasses.dataclass(frozen=True)
class StatusMove:
    """A status change as Jira recorded it: changelog id, from and to status ids, and who."""

    changelog_id: int
    from_status_id: str | None
    to_status_id: str
    actor_account_id: str | None


class Verdict(str, enum.Enum):
    """What changeguard does about a move."""

    ALLOW = "allow"
    REVERT = "revert"
    RECORD = "record"  # nothing to move: only record (a late approval)
    IGNORE = "ignore"


class Reason(str, enum.Enum):
    """Why a move is allowed, reverted or ignored."""

    GATE_PASSED = "gate_passed"
    GATE_FAILED = "gate_failed"
    DISALLOWED_MOVE = "disallowed_move"
    APPROVED = "approved"
    APPROVAL_RECORDED = "approval_recorded"
    APPROVAL_REFUSED = "approval_refused"
    APPROVAL_NOT_STANDING = "approval_not_standing"
    APPROVAL_WITHDRAWN = "approval_withdrawn"
    REVIEW_MISSING = "review_missing"
    OWN_MOVE = "own_move"
    SUPERSEDED = "superseded"
    ALREADY_HANDLED = "already_handled"
    NOT_GATED = "not_gated"


@dataclasses.dataclass(frozen=True)
class MoveDecision:
    """The decision on a move; a REVERT names the status to go back to (None: no way back)."""

    verdict: Verdict
    reason: Reason
    findings: tuple[Finding, ...] = ()
    revert_to_status_id: str | None = None
    approval: ApprovalOutcome | None = None
    edits: tuple[FieldChange, ...] = ()   # APPROVAL_WITHDRAWN: what changed since the approval
    edited_by: str | None = None


def _judge_late_approval(move, change, policy, site, approvals, groups, at, history,
                         superseded) -> MoveDecision | None:
    """Judge an approval that later events overtook; None when it is simply the current move."""
    edits = edits_after(history, move.changelog_id)
    if superseded:
        category = policy.category_of(change.option(FieldRole.CATEGORY))
        if edits or category is None or check_ready_for_approval(change, policy):
            return MoveDecision(Verdict.IGNORE, Reason.SUPERSEDED)
        outcome = judge_approval(change, category, move.actor_account_id or "", groups,
                                 approvals, at=at, pre_approved=is_pre_approved(change, policy))
        if outcome.verdict in (ApprovalVerdict.COMPLETE, ApprovalVerdict.RECORDED):
            return MoveDecision(Verdict.RECORD, Reason.APPROVAL_RECORDED, approval=outcome)
        return MoveDecision(Verdict.IGNORE, Reason.SUPERSEDED)
    category = policy.category_of(change.option(FieldRole.CATEGORY))
    if edits and category is not None:
        # Approved, then edited before we saw the approval: it approved content since changed.
        outcome = judge_approval(change, category, move.actor_account_id or "", groups,
                                 approvals, at=at, pre_approved=is_pre_approved(change, policy))
        if outcome.verdict in (ApprovalVerdict.COMPLETE, ApprovalVerdict.RECORDED):
            return MoveDecision(Verdict.REVERT, Reason.APPROVAL_WITHDRAWN,
                                revert_to_status_id=site.status_ids[StatusRole.AWAITING_APPROVAL],
                                approval=outcome, edits=edits,
                                edited_by=last_editor(history, move.changelog_id))
    return None


def replay_approvals(
    pending: tuple[tuple[HistoryEntry, frozenset[GroupRole]], ...],
    change: ChangeRequest,
    policy: Policy,
    history: tuple[HistoryEntry, ...],
    approvals: ApprovalState,
) -> ApprovalState:
    """Add the approvals of earlier approval moves whose own events have not been handled yet."""
    category = policy.category_of(change.option(FieldRole.CATEGORY))
    for entry, groups in pending:
        if category is None or edits_after(history, entry.id):
            continue
        outcome = judge_approval(change, category, entry.actor or "", groups, approvals,
                                 at=entry.at, pre_approved=is_pre_approved(change, policy))
        if outcome.verdict in (ApprovalVerdict.COMPLETE, ApprovalVerdict.RECORDED):
            approvals = outcome.state
    return approvals


def screen_move(
    move: StatusMove, site: SiteMap, *, last_handled_changelog_id: int | None
) -> MoveDecision | None:
    """Return IGNORE for moves that need no look at the issue (our own, already handled), else None."""
    if move.actor_account_id is not None and move.actor_account_id == site.bot_account_id:
        return MoveDecision(Verdict.IGNORE, Reason.OWN_MOVE)
    if last_handled_changelog_id is not None and move.changelog_id <= last_handled_changelog_id:
        return MoveDecision(Verdict.IGNORE, Reason.ALREADY_HANDLED)
    return None


def is_approval_gesture(move: StatusMove, site: SiteMap) -> bool:
    """Tell whether the move is someone approving (Awaiting Approval → Approved): groups matter."""
    return (site.status_role(move.from_status_id) is StatusRole.AWAITING_APPROVAL
            and site.status_role(move.to_status_id) is StatusRole.APPROVED)


def judge_move(
    move: StatusMove,
    change: ChangeRequest,
    policy: Policy,
    site: SiteMap,
    *,
    approvals: ApprovalState = ApprovalState(),
    actor_groups: frozenset[GroupRole] = frozenset(),
    at: str = "",
    history: tuple[HistoryEntry, ...] = (),
) -> MoveDecision:
    """Judge ``move`` against the change as it stands now and its changelog since the move."""
    latest = latest_status_move(history)
    superseded = change.status_id != move.to_status_id or (
        latest is not None and latest > move.changelog_id)
    if is_approval_gesture(move, site):
        late = _judge_late_approval(move, change, policy, site, approvals, actor_groups, at,
                                    history, superseded)
        if late is not None:
            return late
    if superseded:
        return MoveDecision(Verdict.IGNORE, Reason.SUPERSEDED)
    to_role = site.status_role(move.to_status_id)
    from_role = site.status_role(move.from_status_id)
    if to_role is None or (from_role is None and move.from_status_id is not None):
        return MoveDecision(Verdict.IGNORE, Reason.NOT_GATED)  # a status the policy doesn't name
    # An issue created straight into a gated status goes back to Draft, where it would start.
    back = move.from_status_id or site.status_ids[StatusRole.DRAFT]

    def revert(reason: Reason, findings=(), approval=None) -> MoveDecision:
        return MoveDecision(Verdict.REVERT, reason, tuple(findings), back, approval)

    if from_role is None:  # created straight into a status: judged as if it came from Draft
        if to_role is StatusRole.DRAFT:
            return MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)
        from_role = StatusRole.DRAFT
    if (from_role, to_role) not in policy.allowed_moves:
        return revert(Reason.DISALLOWED_MOVE)
    if to_role is StatusRole.AWAITING_APPROVAL or to_role is StatusRole.APPROVED:
        findings = check_ready_for_approval(change, policy)
        if findings:
            return revert(Reason.GATE_FAILED, findings)
    category = policy.category_of(change.option(FieldRole.CATEGORY))
    if to_role is StatusRole.APPROVED and from_role is StatusRole.AWAITING_APPROVAL:
        assert category is not None  # the gate above requires a known category
        outcome = judge_approval(change, category, move.actor_account_id or "", actor_groups,
                                 approvals, at=at, pre_approved=is_pre_approved(change, policy))
        if outcome.verdict is ApprovalVerdict.COMPLETE:
            return MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=outcome)
        if outcome.verdict is ApprovalVerdict.RECORDED:
            return revert(Reason.APPROVAL_RECORDED, approval=outcome)
        return revert(Reason.APPROVAL_REFUSED, approval=outcome)
    if to_role in (StatusRole.IMPLEMENTING, StatusRole.APPROVED):
        if category is None or missing_roles(category, standing_approvals(approvals, change),
                                             pre_approved=is_pre_approved(change, policy)):
            return revert(Reason.APPROVAL_NOT_STANDING)
    if to_role is StatusRole.CLOSED:
        findings = check_review(change, policy)
        if findings:
            return revert(Reason.REVIEW_MISSING, findings)
    return MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)
