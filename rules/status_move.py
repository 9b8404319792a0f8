"""Decide what to do about one status move of a change request: every gate of the policy."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime

from .approvals import (ApprovalOutcome, ApprovalState, ApprovalVerdict, has_freeze_exception,
                        is_pre_approved, judge_approval, missing_roles, standing_approvals,
                        with_freeze_exception)
from .cab_schedule import CabCalendar
from .change_history import HistoryEntry, edits_after, last_editor, latest_status_move
from .material_edit import FieldChange
from .awaiting_approval_gate import Finding, check_ready_for_approval
from .change_request import ChangeRequest
from .freeze import Freeze, FreezeVerdict, freeze_verdict, overlapping
from .policy import Category, FieldRole, FreezeKind, GroupRole, Policy, StatusRole
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
    FROZEN = "frozen"  # the change's window is in a freeze that does not let it go ahead
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
    freeze: FreezeVerdict | None = None  # FROZEN: the freezes the window runs into, and why
    resume_after_freeze: bool = False  # FROZEN: the window goes on after the freeze ends


@dataclasses.dataclass(frozen=True)
class FreezesInView:
    """The freezes a change's planned window [start, end) overlaps, as the shell found them,
    with the CAB's calendar to say in its time zone until when they hold."""

    window: tuple[datetime, datetime] | None
    freezes: tuple[Freeze, ...]
    calendar: CabCalendar | None


NO_FREEZES_IN_VIEW = FreezesInView(None, (), None)


def _moment(at: str) -> datetime | None:
    """Return the aware moment an ISO 8601 ``at`` names, or None when it names none."""
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def planned_window(change: ChangeRequest) -> tuple[datetime, datetime] | None:
    """Return the change's planned window [start, end), or None when it has none."""
    start = change.datetime_of(FieldRole.PLANNED_START)
    end = change.datetime_of(FieldRole.PLANNED_END)
    return (start, end) if start is not None and end is not None and start < end else None


def _with_exception(outcome: ApprovalOutcome, change: ChangeRequest, category: Category,
                    move: StatusMove, groups: frozenset[GroupRole], freezes: FreezesInView,
                    at: str) -> ApprovalOutcome:
    """Record a freeze exception when the Head of Engineering approves a change whose window
    is in a soft freeze: their approval is also the exception the soft freeze asks for."""
    if (outcome.verdict not in (ApprovalVerdict.COMPLETE, ApprovalVerdict.RECORDED)
            or GroupRole.HEAD_OF_ENGINEERING not in groups or freezes.window is None
            or category is Category.EMERGENCY  # goes ahead in any freeze: nothing to except
            or not any(f.kind is FreezeKind.SOFT
                       for f in overlapping(*freezes.window, freezes.freezes))):
        return outcome
    state = with_freeze_exception(outcome.state, change, move.actor_account_id or "", at)
    return dataclasses.replace(outcome, state=state)


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
    freezes: FreezesInView | None = None,
) -> MoveDecision:
    """Judge ``move`` against the change as it stands now and its changelog since the move.

    ``freezes``: the freezes the change's planned window runs into (None: none are in view).
    """
    freezes = freezes or NO_FREEZES_IN_VIEW
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

    def frozen(approvals_now: ApprovalState, *, from_now: bool = False) -> FreezeVerdict | None:
        """Return the verdict when the freezes stop the change going ahead, else None.

        ``from_now``: judge only what is left of the window at the move (a change starting
        after a freeze has ended is clear of it, though its window began inside).
        """
        if freezes.window is None:
            return None
        start, end = freezes.window
        moment = _moment(at) if from_now else None
        if moment is not None and moment > start:
            start = moment
        if start >= end:
            return None  # the window is over: nothing is left to freeze
        verdict = freeze_verdict(
            change.key, policy.category_of(change.option(FieldRole.CATEGORY)),
            has_freeze_exception(approvals_now, change), start, end, freezes.freezes,
            calendar=freezes.calendar,
            exception_group=policy.group_names[GroupRole.HEAD_OF_ENGINEERING])
        return None if verdict.allowed else verdict

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
        outcome = _with_exception(outcome, change, category, move, actor_groups, freezes, at)
        if outcome.verdict is ApprovalVerdict.COMPLETE:
            verdict = frozen(outcome.state)
            if verdict is not None:  # approved, but not while the freeze lasts: keep the approvals
                return MoveDecision(Verdict.REVERT, Reason.FROZEN, (), back, outcome,
                                    freeze=verdict)
            return MoveDecision(Verdict.ALLOW, Reason.APPROVED, approval=outcome)
        if outcome.verdict is ApprovalVerdict.RECORDED:
            return revert(Reason.APPROVAL_RECORDED, approval=outcome)
        return revert(Reason.APPROVAL_REFUSED, approval=outcome)
    if to_role in (StatusRole.IMPLEMENTING, StatusRole.APPROVED):
        if category is None or missing_roles(category, standing_approvals(approvals, change),
                                             pre_approved=is_pre_approved(change, policy)):
            return revert(Reason.APPROVAL_NOT_STANDING)
        verdict = frozen(approvals, from_now=True) if to_role is StatusRole.IMPLEMENTING else None
        if verdict is not None:
            assert freezes.window is not None and verdict.until is not None
            return MoveDecision(Verdict.REVERT, Reason.FROZEN, (), back, freeze=verdict,
                                resume_after_freeze=freezes.window[1] > verdict.until)
    if to_role is StatusRole.CLOSED:
        findings = check_review(change, policy)
        if findings:
            return revert(Reason.REVIEW_MISSING, findings)
    return MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)
