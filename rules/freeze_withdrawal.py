"""Withdraw an approval a new freeze catches: back to Awaiting Approval, one comment, audited."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from .adf import document, mention, paragraph, text
from .approvals import has_freeze_exception
from .cab_schedule import CabCalendar
from .change_request import ChangeRequest
from .freeze import Freeze, FreezeVerdict, freeze_verdict
from .issue_record import AuditEntry, IssueRecord
from .job_names import JobName
from .plan import AddComment, AddLabel, FollowUp, Plan, Revert, Step, WriteRecord
from .policy import FieldRole, FreezeKind, GroupRole, Policy, StatusRole
from .site_map import SiteMap
from .status_move import planned_window

WITHDRAWN = "approval withdrawn"
FREEZE_REASON = "freeze"

HEADLINE = "Approval withdrawn: a change freeze now covers this change's window"
MOVED_BACK = ("changeguard moved it back to {back}; the approvals it had are kept on the "
              "change.")
NOT_MOVED = ("changeguard could not move it back to {back}: the workflow offers no way back "
             "from {status}, so it is labelled {label}. Do not start it before the freeze ends.")
NEXT_HARD = ("Next: moving Planned Start to that time changes what was approved, so the change "
             "then needs its approval again.")
NEXT_SOFT = ("Next: someone in {group} gives the freeze exception by moving this change to "
             "{approved}; the approvals it had still count, so it needs no other. Moving Planned "
             "Start instead changes what was approved, so the change then needs its approval "
             "again.")


class Outcome(str, enum.Enum):
    """What the freeze check finds when it comes to one approved change."""

    WITHDRAW = "withdraw"
    ALREADY_WITHDRAWN = "already_withdrawn"  # this check's withdrawal is in the record
    NOT_APPROVED = "not_approved"  # it moved on since the freeze check found it
    ALLOWED = "allowed"  # Emergency, an exception, or its window left the freeze


@dataclasses.dataclass(frozen=True)
class Withdrawal:
    """The decision on one change, with the freeze's verdict when it is withdrawn."""

    outcome: Outcome
    verdict: FreezeVerdict | None = None


def detail_of(freeze: Freeze, check: int) -> str:
    """Return the audit detail naming the freeze and its check (how a redo recognises it)."""
    return f"{freeze.key} check {check}: {freeze.kind.value} freeze until {freeze.end.isoformat()}"


def withdrawn_in(record: IssueRecord, freeze: Freeze, check: int) -> bool:
    """Tell whether the change's record shows this check of the freeze dealt with already."""
    prefix = detail_of(freeze, check).split(":", 1)[0] + ":"
    return any(entry.get("reason") == FREEZE_REASON
               and str(entry.get("detail", "")).startswith(prefix) for entry in record.audit)


def judge_withdrawal(change: ChangeRequest, record: IssueRecord, freeze: Freeze, check: int, *,
                     policy: Policy, site: SiteMap, calendar: CabCalendar) -> Withdrawal:
    """Decide whether the freeze withdraws the change's approval, judged as the change is now."""
    if withdrawn_in(record, freeze, check):
        return Withdrawal(Outcome.ALREADY_WITHDRAWN)
    if site.status_role(change.status_id) is not StatusRole.APPROVED:
        return Withdrawal(Outcome.NOT_APPROVED)
    window = planned_window(change)
    if window is None:
        return Withdrawal(Outcome.ALLOWED)
    verdict = freeze_verdict(
        change.key, policy.category_of(change.option(FieldRole.CATEGORY)),
        has_freeze_exception(record.approvals, change), *window, (freeze,), calendar=calendar,
        exception_group=policy.group_names[GroupRole.HEAD_OF_ENGINEERING])
    return Withdrawal(Outcome.ALLOWED) if verdict.allowed else Withdrawal(Outcome.WITHDRAW, verdict)


@dataclasses.dataclass(frozen=True)
class WithdrawalFacts:
    """What the change's plan needs besides the decision, as read from Jira."""

    change: ChangeRequest
    record: IssueRecord
    freeze: Freeze
    check: int
    actor: str | None  # who declared or widened the freeze
    at: str  # when, ISO 8601
    transition_id: str | None  # the way back to Awaiting Approval (None: there is none)
    deployments_waiting: bool = False


def withdrawal_plan(withdrawal: Withdrawal, facts: WithdrawalFacts, *, policy: Policy,
                    site: SiteMap) -> Plan:
    """Return the steps: move back with the audit entry on the same call, then the comment.

    The approvals recorded on the change stay: the move back is what withdraws the approval
    from the workflow, and with a freeze exception the CAB need not approve twice.
    """
    assert withdrawal.outcome is Outcome.WITHDRAW and withdrawal.verdict is not None
    key, record = facts.change.key, facts.record
    approved = policy.status_names[StatusRole.APPROVED]
    back = policy.status_names[StatusRole.AWAITING_APPROVAL]
    detail = detail_of(facts.freeze, facts.check)
    release: tuple[Step, ...] = (
        (FollowUp(JobName.RELEASE_WAITING, f"release-{key}-freeze-{facts.freeze.key}-{facts.check}",
                  {"issue_key": key}),) if facts.deployments_waiting else ())
    flagged = (AddLabel(policy.violation_label),
               AddComment(withdrawal_comment(facts, withdrawal.verdict, policy, reverted=False)),
               WriteRecord(record.with_entry(AuditEntry(
                   at=facts.at, decision="flagged", reason=FREEZE_REASON, actor=facts.actor,
                   from_status=approved, to_status=approved, changelog_id=None, detail=detail))),
               *release)
    summary = {"outcome": withdrawal.outcome.value, "freeze": facts.freeze.key,
               "reverted": facts.transition_id is not None}
    if facts.transition_id is None:
        return Plan(summary, flagged)
    entry = AuditEntry(at=facts.at, decision=WITHDRAWN, reason=FREEZE_REASON, actor=facts.actor,
                       from_status=approved, to_status=back, changelog_id=None, detail=detail)
    steps = (Revert(facts.transition_id, site.status_ids[StatusRole.AWAITING_APPROVAL],
                    record.with_entry(entry)),
             AddComment(withdrawal_comment(facts, withdrawal.verdict, policy, reverted=True)),
             *release)
    return Plan(summary, steps, fallback=flagged)


def withdrawal_comment(facts: WithdrawalFacts, verdict: FreezeVerdict, policy: Policy, *,
                       reverted: bool) -> dict[str, Any]:
    """Return the one comment on a change whose approval a freeze withdrew: which freeze, until
    when (the verdict's sentence), and how to proceed."""
    approved = policy.status_names[StatusRole.APPROVED]
    back = policy.status_names[StatusRole.AWAITING_APPROVAL]
    reporter = facts.change.reporter_account_id
    lead = [mention(reporter), text(", ")] if reporter else []
    done = (MOVED_BACK.format(back=back) if reverted else
            NOT_MOVED.format(back=back, status=approved, label=policy.violation_label))
    assert verdict.blocking is not None
    step = (NEXT_HARD if verdict.blocking.kind is FreezeKind.HARD else NEXT_SOFT.format(
        group=policy.group_names[GroupRole.HEAD_OF_ENGINEERING], approved=approved))
    return document(paragraph(text(HEADLINE, "strong")),
                    paragraph(*lead, text(f"{verdict.text} {done}")),
                    paragraph(text(step)))
