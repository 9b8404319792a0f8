"""Decide what to do about one status move of a change request."""

from __future__ import annotations

import dataclasses
import enum

from .awaiting_approval_gate import Finding, check_ready_for_approval
from .change_request import ChangeRequest
from .policy import Policy, StatusRole
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
    IGNORE = "ignore"


class Reason(str, enum.Enum):
    """Why a move is allowed, reverted or ignored."""

    GATE_PASSED = "gate_passed"
    GATE_FAILED = "gate_failed"
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


def screen_move(
    move: StatusMove, site: SiteMap, *, last_handled_changelog_id: int | None
) -> MoveDecision | None:
    """Return IGNORE for moves that need no look at the issue (our own, already handled), else None."""
    if move.actor_account_id is not None and move.actor_account_id == site.bot_account_id:
        return MoveDecision(Verdict.IGNORE, Reason.OWN_MOVE)
    if last_handled_changelog_id is not None and move.changelog_id <= last_handled_changelog_id:
        return MoveDecision(Verdict.IGNORE, Reason.ALREADY_HANDLED)
    return None


def judge_move(move: StatusMove, change: ChangeRequest, policy: Policy, site: SiteMap) -> MoveDecision:
    """Judge ``move`` against the change as it stands now, so a stale event does nothing."""
    if change.status_id != move.to_status_id:
        return MoveDecision(Verdict.IGNORE, Reason.SUPERSEDED)
    if site.status_role(move.to_status_id) is not StatusRole.AWAITING_APPROVAL:
        return MoveDecision(Verdict.IGNORE, Reason.NOT_GATED)
    findings = check_ready_for_approval(change, policy)
    if not findings:
        return MoveDecision(Verdict.ALLOW, Reason.GATE_PASSED)
    return MoveDecision(Verdict.REVERT, Reason.GATE_FAILED, findings, move.from_status_id)
