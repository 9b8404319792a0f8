"""Emergency approvals from Slack: judge a button click as a Jira approval, and word the message."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .approvals import (ROLE_DESCRIPTIONS, Approval, ApprovalOutcome, ApprovalRole,
                        ApprovalState, ApprovalVerdict, judge_approval, missing_roles,
                        standing_approvals)
from .awaiting_approval_gate import Finding, check_ready_for_approval
from .change_request import ChangeRequest
from .policy import Category, FieldRole, GroupRole, Policy, StatusRole
from .site_map import SiteMap

EXCERPT_CHARACTERS = 150
PROPERTY_KEY = "changeguard-slack-approval"  # where the request message (channel, ts) is kept


class SlackAction(str, enum.Enum):
    """The two buttons of an approval request (their Block Kit action_id)."""

    APPROVE = "approve"
    REJECT = "reject"


class SlackVerdict(str, enum.Enum):
    """What one click amounts to."""

    APPROVED = "approved"                  # the set is complete: changeguard moves it to Approved
    RECORDED = "recorded"                  # recorded; another person's approval is still needed
    ALREADY_RECORDED = "already_recorded"  # this person's approval stands already
    REJECTED = "rejected"
    REFUSED = "refused"                    # this person may not approve (the outcome says why)
    UNKNOWN_USER = "unknown_user"          # no Jira account is known for this Slack user
    GATE_FAILED = "gate_failed"
    NOT_AWAITING = "not_awaiting"
    NOT_EMERGENCY = "not_emergency"
    SUPERSEDED = "superseded"              # the click was on an older request message


# After these the buttons go: there is nothing left to click for.
CLOSED_VERDICTS = frozenset({SlackVerdict.APPROVED, SlackVerdict.REJECTED,
                             SlackVerdict.NOT_AWAITING, SlackVerdict.NOT_EMERGENCY,
                             SlackVerdict.SUPERSEDED})


@dataclasses.dataclass(frozen=True)
class SlackDecision:
    """The decision on a click: the approvals standing after it, and what is still missing."""

    verdict: SlackVerdict
    approvals: tuple[Approval, ...] = ()
    missing: tuple[frozenset[ApprovalRole], ...] = ()
    outcome: ApprovalOutcome | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def records_approval(self) -> bool:
        """Tell whether the click adds an approval to the issue's record."""
        return self.verdict in (SlackVerdict.RECORDED, SlackVerdict.APPROVED)


def judge_slack_action(
    action: SlackAction, change: ChangeRequest, policy: Policy, site: SiteMap,
    actor: str | None, groups: frozenset[GroupRole], recorded: ApprovalState, *,
    at: str, current_request: bool,
) -> SlackDecision:
    """Judge a click by ``actor`` (a Jira account, None if unknown) as the Jira path judges a move."""
    category = policy.category_of(change.option(FieldRole.CATEGORY))
    standing = standing_approvals(recorded, change)
    missing = missing_roles(Category.EMERGENCY, standing)

    def decided(verdict: SlackVerdict, **extra: Any) -> SlackDecision:
        return SlackDecision(verdict, standing, missing, **extra)

    if not current_request:
        return decided(SlackVerdict.SUPERSEDED)
    if site.status_role(change.status_id) is not StatusRole.AWAITING_APPROVAL:
        return decided(SlackVerdict.NOT_AWAITING)
    if category is not Category.EMERGENCY:
        return decided(SlackVerdict.NOT_EMERGENCY)
    if actor is None:
        return decided(SlackVerdict.UNKNOWN_USER)
    findings = check_ready_for_approval(change, policy)
    if findings:
        return decided(SlackVerdict.GATE_FAILED, findings=findings)
    outcome = judge_approval(change, category, actor, groups, recorded, at=at)
    refused = outcome.verdict in (ApprovalVerdict.SELF_APPROVAL, ApprovalVerdict.NOT_AN_APPROVER,
                                  ApprovalVerdict.NOT_THE_NAMED_IC)
    if refused:
        return decided(SlackVerdict.REFUSED, outcome=outcome)
    if action is SlackAction.REJECT:
        return decided(SlackVerdict.REJECTED, outcome=outcome)
    verdict = {ApprovalVerdict.COMPLETE: SlackVerdict.APPROVED,
               ApprovalVerdict.RECORDED: SlackVerdict.RECORDED,
               ApprovalVerdict.SAME_PERSON: SlackVerdict.ALREADY_RECORDED,
               }.get(outcome.verdict, SlackVerdict.REFUSED)
    return SlackDecision(verdict, outcome.state.approvals, outcome.missing, outcome)


@dataclasses.dataclass(frozen=True)
class RequestDetails:
    """What an approval request shows about the change, as plain strings."""

    key: str
    url: str
    summary: str
    incident_commander: str
    risk: str
    window: str
    rollback: str


def request_details(change: ChangeRequest, url: str, names: Mapping[str, str]) -> RequestDetails:
    """Return the request's details; ``names`` maps account ids to display names."""
    commander = change.user(FieldRole.INCIDENT_COMMANDER)
    level = change.option(FieldRole.RISK_LEVEL) or "not rated"
    start, end = (change.datetime_of(FieldRole.PLANNED_START),
                  change.datetime_of(FieldRole.PLANNED_END))
    return RequestDetails(
        key=change.key, url=url, summary=change.summary,
        incident_commander=names.get(commander, commander) if commander else "not named",
        risk=f"{level}: {_excerpt(change.text(FieldRole.RISK_ASSESSMENT))}",
        window=f"{_when(start)} → {_when(end)}",
        rollback=_excerpt(change.text(FieldRole.ROLLBACK_PLAN)),
    )


def request_text(details: RequestDetails) -> str:
    """Return the notification text of a new approval request."""
    return (f":rotating_light: Emergency change {details.key} “{details.summary}” needs "
            f"approval from the Head of Engineering and its Incident Commander "
            f"({details.incident_commander}), two different people.")


def request_message(details: RequestDetails) -> tuple[str, list[dict]]:
    """Return (text, blocks) of a new approval request, with Approve and Reject buttons."""
    text = request_text(details)
    return text, [*_detail_blocks(details, text), _buttons(details.key)]


def outcome_text(decision: SlackDecision, details: RequestDetails, actor: str,
                 names: Mapping[str, str], policy: Policy, *, moved: bool = True,
                 status: str = "another status") -> str:
    """Say what a click did; ``actor`` is how to name the person who clicked."""
    verdict, key = decision.verdict, details.key
    still = "Still needed: " + _missing(decision.missing, details) + "."
    if verdict is SlackVerdict.APPROVED:
        who = " and ".join(f"{names.get(a.account_id, a.account_id)} "
                           f"({ROLE_DESCRIPTIONS[a.role]})" for a in decision.approvals)
        done = (f"changeguard moved {key} to Approved." if moved else
                f"changeguard could not move {key} to Approved (the workflow offers no such "
                "transition): move it to Approved in Jira.")
        return f":white_check_mark: Approved by {who}. {done}"
    if verdict is SlackVerdict.RECORDED:
        role = ROLE_DESCRIPTIONS[decision.approvals[-1].role]
        return f"{actor} approved as {role}. {still}"
    if verdict is SlackVerdict.ALREADY_RECORDED:
        return f"{actor}'s approval is already recorded. {still}"
    if verdict is SlackVerdict.REJECTED:
        done = (f"changeguard moved {key} to Rejected." if moved else
                f"{key} stays in Awaiting Approval (the workflow offers no move to Rejected).")
        return f":x: Rejected by {actor}. {done}"
    if verdict is SlackVerdict.REFUSED:
        assert decision.outcome is not None
        return (f":no_entry: {actor} can't approve {key}: "
                f"{REFUSALS[decision.outcome.verdict]}. Nothing was recorded. {still}")
    if verdict is SlackVerdict.UNKNOWN_USER:
        return (f":no_entry: {actor} can't approve from Slack: changeguard doesn't know their "
                "Jira account. Ask an admin to add their Slack user id to [slack.users] in the "
                "change policy, or use the same email address in Slack and Jira. Nothing was "
                f"recorded. {still}")
    if verdict is SlackVerdict.GATE_FAILED:
        fields = ", ".join(policy.field_name(f.field) for f in decision.findings)
        return (f":no_entry: {key} can't be approved yet: {fields} not filled in on the issue. "
                f"Nothing was recorded. {still}")
    if verdict is SlackVerdict.NOT_AWAITING:
        return f"{key} is no longer awaiting approval (it is in {status}). Nothing was recorded."
    if verdict is SlackVerdict.NOT_EMERGENCY:
        return (f"{key} is no longer an Emergency change: approve it in Jira by moving it to "
                "Approved. Nothing was recorded.")
    return (f"This request is out of date: {key} was changed and submitted again since. Use "
            "the newest request. Nothing was recorded.")


REFUSALS = {
    ApprovalVerdict.SELF_APPROVAL: "they reported this change, and nobody approves a change "
                                   "they reported",
    ApprovalVerdict.NOT_THE_NAMED_IC: "they are an Incident Commander, but not the one named on "
                                      "this change",
    ApprovalVerdict.NOT_AN_APPROVER: "an Emergency change is approved by the Head of Engineering "
                                     "and the Incident Commander named on it, and they are "
                                     "neither",
    ApprovalVerdict.ROLE_ALREADY_FILLED: "an approval in their role is already recorded",
}


def updated_message(decision: SlackDecision, details: RequestDetails,
                    text: str) -> tuple[str, list[dict]]:
    """Return (text, blocks) of the request after a click: what happened, buttons while open."""
    blocks = [*_detail_blocks(details, request_text(details)),
              {"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if decision.verdict not in CLOSED_VERDICTS:
        blocks.append(_buttons(details.key))
    return text, blocks


def _missing(missing: tuple[frozenset[ApprovalRole], ...], details: RequestDetails) -> str:
    parts = []
    for need in missing:
        names = sorted(ROLE_DESCRIPTIONS[r] for r in need)
        if ApprovalRole.INCIDENT_COMMANDER in need:
            names = [f"{n} ({details.incident_commander})"
                     if n == ROLE_DESCRIPTIONS[ApprovalRole.INCIDENT_COMMANDER] else n
                     for n in names]
        parts.append(" or ".join(names))
    return " and ".join(parts) or "nothing"


def _detail_blocks(details: RequestDetails, text: str) -> list[dict]:
    fields = [("Incident Commander", details.incident_commander), ("Risk", details.risk),
              ("Window", details.window), ("Rollback plan", details.rollback)]
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"<{details.url}|{details.key}> {details.summary}"},
         "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in fields]},
    ]


def _buttons(key: str) -> dict:
    return {"type": "actions", "block_id": f"changeguard-approval-{key}", "elements": [
        {"type": "button", "action_id": SlackAction.APPROVE.value, "value": key,
         "style": "primary", "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": SlackAction.REJECT.value, "value": key,
         "style": "danger", "text": {"type": "plain_text", "text": "Reject"}},
    ]}


def _excerpt(value: str | None) -> str:
    flat = " ".join((value or "").split())
    if not flat:
        return "not given"
    return flat if len(flat) <= EXCERPT_CHARACTERS else flat[:EXCERPT_CHARACTERS - 1] + "…"


def _when(value: datetime | None) -> str:
    if value is None:
        return "not set"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
