"""Compose the comment for each decision: a headline, why, what is missing, and the next step."""

from __future__ import annotations

import dataclasses
from typing import Any

from .adf import bullet_list, document, mention, paragraph, text
from .approvals import ROLE_DESCRIPTIONS, ApprovalRole, ApprovalVerdict
from .material_edit import EditDecision, EditVerdict
from .messages import describe_finding
from .policy import Category, FreezeKind, GroupRole, Policy, StatusRole
from .status_move import MoveDecision, Reason

ADF = dict[str, Any]

ROLE_NAMES = ROLE_DESCRIPTIONS
NO_WAY_BACK = ("changeguard could not move it back to {back}: the workflow offers no way back "
               "from {status}, so it is labelled {label} and the team is alerted.")


@dataclasses.dataclass(frozen=True)
class MoveContext:
    """Names and people a comment mentions."""

    actor: str | None
    from_status: str
    to_status: str
    category: Category | None
    incident_commander: str | None
    reverted: bool


def who_can_approve(category: Category, policy: Policy) -> str:
    """Say who approves a change of ``category``, with the Jira groups to look in."""
    groups = policy.group_names
    if category is Category.STANDARD:
        return (f"a team lead (group {groups[GroupRole.TEAM_LEADS]}) or the Head of Engineering "
                f"(group {groups[GroupRole.HEAD_OF_ENGINEERING]})")
    if category is Category.NORMAL:
        return (f"a CAB member (group {groups[GroupRole.CAB]}) or the Head of Engineering "
                f"(group {groups[GroupRole.HEAD_OF_ENGINEERING]})")
    return (f"the Head of Engineering (group {groups[GroupRole.HEAD_OF_ENGINEERING]}) and the "
            f"Incident Commander named on the change (group "
            f"{groups[GroupRole.INCIDENT_COMMANDERS]}), two different people")


def missing_text(missing) -> str:
    """Say whose approval is still missing, e.g. "the Incident Commander named on the change"."""
    return " and ".join(" or ".join(sorted(ROLE_NAMES[r] for r in need)) for need in missing)


def comment_for_move(decision: MoveDecision, ctx: MoveContext, policy: Policy) -> ADF:
    """Return the ADF comment for a reverted (or unrevertable) move."""
    status_now = ctx.from_status if ctx.reverted else ctx.to_status
    lead = [mention(ctx.actor), text(", ")] if ctx.actor else []
    bullets = [describe_finding(f, policy) for f in decision.findings]
    headline, why, step = _explain(decision, ctx, policy)
    if not ctx.reverted:
        headline = f"Not allowed: {ctx.from_status} → {ctx.to_status}"
        why += " " + NO_WAY_BACK.format(back=ctx.from_status, status=ctx.to_status,
                                       label=policy.violation_label)
    elif decision.reason is not Reason.APPROVAL_RECORDED:
        headline = f"Moved back to {status_now}: {headline}"
    blocks = [paragraph(text(headline, "strong")), paragraph(*lead, text(why))]
    if bullets:
        blocks.append(bullet_list(bullets))
    blocks.append(paragraph(*_naming_the_ic(text("Next: " + step)["text"], ctx.incident_commander)))
    return document(*blocks)


def _naming_the_ic(sentence: str, incident_commander: str | None) -> list[ADF]:
    """Mention the named Incident Commander wherever the sentence refers to them."""
    phrase = ROLE_NAMES[ApprovalRole.INCIDENT_COMMANDER]
    if incident_commander is None or phrase not in sentence:
        return [text(sentence)]
    before, after = sentence.split(phrase, 1)
    return [text(before + phrase + " ("), mention(incident_commander), text(")" + after)]


def _explain(decision: MoveDecision, ctx: MoveContext, policy: Policy) -> tuple[str, str, str]:
    """Return (headline, why, next step) for a decision."""
    reason = decision.reason
    count = len(decision.findings)
    things = f"{count} thing{'s' if count != 1 else ''} missing"
    if reason is Reason.GATE_FAILED:
        return (things, f"this change can't go to {ctx.to_status} yet. It still needs:",
                f"fill these in on this issue, then move it to {ctx.to_status} again. "
                "changeguard checks it again as soon as you do.")
    if reason is Reason.REVIEW_MISSING:
        return (things, "the post-implementation review is not complete. Closing needs:",
                "record the review on this issue, then close it again.")
    if reason is Reason.DISALLOWED_MOVE:
        allowed = sorted(policy.status_names[to] for (frm, to) in policy.allowed_moves
                         if policy.status_names[frm] == ctx.from_status)
        return (f"{ctx.from_status} → {ctx.to_status} is not a step of the change process",
                f"a change goes Draft → Awaiting Approval → Approved → Implementing → "
                f"Implemented → Closed, one step at a time. From {ctx.from_status} it can go to "
                f"{', '.join(allowed) or 'no other status'}.",
                "move it one step at a time; each step has its own checks.")
    if reason is Reason.APPROVAL_NOT_STANDING:
        return ("no standing approval",
                "this change has no approval for its current content (an edit to the category, "
                "type, plans, risk or window withdraws the approval).",
                "move it to Awaiting Approval and get it approved again.")
    if reason is Reason.FROZEN:
        return _explain_freeze(decision, policy)
    assert decision.approval is not None and ctx.category is not None
    verdict = decision.approval.verdict
    missing = missing_text(decision.approval.missing)
    approvers = who_can_approve(ctx.category, policy)
    kind = _with_article(policy.category_values[ctx.category])
    if verdict is ApprovalVerdict.RECORDED:
        got = decision.approval.state.approvals[-1].role
        return (f"Approval recorded: {ROLE_NAMES[got]} approved; {missing} still has to",
                f"your approval as {ROLE_NAMES[got]} is recorded. {kind[0].upper() + kind[1:]} "
                f"change also needs {missing}, so changeguard moved it back to Awaiting "
                "Approval until then.",
                f"{missing} moves it to Approved to approve it.")
    if verdict is ApprovalVerdict.SELF_APPROVAL:
        return ("you can't approve your own change",
                "you reported this change, and nobody approves a change they reported.",
                f"ask {approvers} to move it to Approved.")
    if verdict is ApprovalVerdict.NOT_THE_NAMED_IC:
        return ("you are not its Incident Commander",
                "you are an Incident Commander, but not the one named on this change, and an "
                f"Emergency change needs the approval of {approvers}.",
                "ask the Incident Commander named on the change to approve it, or change the "
                "Incident Commander field if the on-call changed.")
    if verdict is ApprovalVerdict.SAME_PERSON:
        return ("it needs a second person",
                f"your approval is already recorded; this change also needs {missing}, "
                "and one person can't give both approvals.",
                f"ask {missing} to move it to Approved.")
    if verdict is ApprovalVerdict.ROLE_ALREADY_FILLED:
        return (f"{missing} still has to approve",
                f"an approval in your role is already recorded; this change still needs {missing}.",
                f"ask {missing} to move it to Approved.")
    return (f"only {approvers} can approve it",
            f"{kind} change is approved by {approvers}, and you are not "
            "in those groups.",
            f"ask {approvers} to move it to Approved.")


def _explain_freeze(decision: MoveDecision, policy: Policy) -> tuple[str, str, str]:
    """Return (headline, why, next step) for a move the freezes stop."""
    assert decision.freeze is not None and decision.freeze.blocking is not None
    blocking = decision.freeze.blocking
    hard = any(f.kind is FreezeKind.HARD for f in decision.freeze.freezes)
    group = policy.group_names[GroupRole.HEAD_OF_ENGINEERING]
    approved = policy.status_names[StatusRole.APPROVED]
    kept = (" The approval is recorded: with a freeze exception the change needs no other."
            if decision.approval is not None and not hard else "")
    reschedule = ("move Planned Start to after the freeze and have the new window approved")
    if decision.resume_after_freeze:
        reschedule = ("its window goes on after the freeze, so move it to Implementing again "
                      "once the freeze has ended, or " + reschedule)
    if hard:
        step = reschedule + "; during a hard freeze only an Emergency change goes ahead."
    else:
        # The exception is an approval: given by moving the change from Awaiting Approval.
        back = ("" if decision.approval is not None else
                f"move it back to {policy.status_names[StatusRole.AWAITING_APPROVAL]} and ")
        step = (reschedule + f", or {back}ask someone in {group} to move it to {approved}: "
                "their approval is the freeze exception.")
    return (f"{blocking.kind.value} freeze {blocking.title}", decision.freeze.text + kept, step)


def violation_alert(key: str, summary: str, ctx: MoveContext, policy: Policy, url: str) -> str:
    """Return the Slack alert for a move that breaks the policy and could not be undone."""
    return (f":warning: {key} “{summary}” was moved {ctx.from_status} → {ctx.to_status}, which "
            f"the change policy does not allow, and changeguard could not move it back (the "
            f"workflow has no such transition). It is labelled {policy.violation_label}; please "
            f"look at it: {url}")


def comment_for_withdrawal(decision: EditDecision, actor: str | None, policy: Policy) -> ADF:
    """Return the comment for approvals withdrawn by an edit, showing what changed."""
    moved = decision.verdict is EditVerdict.WITHDRAW_AND_REVERT
    awaiting = policy.status_names[StatusRole.AWAITING_APPROVAL]
    lead = [mention(actor), text(", ")] if actor else []
    bullets = [[text(policy.field_name(c.field), "strong"),
                text(f": {_shown(c.before)} → {_shown(c.after)}")] for c in decision.changes]
    why = ("you changed what was approved, so the approval is withdrawn"
           + (f" and changeguard moved the change back to {awaiting}." if moved else "."))
    blocks = [paragraph(text("Approval withdrawn: the change was edited after approval", "strong")),
              paragraph(*lead, text(why + " What changed:"))]
    if bullets:
        blocks.append(bullet_list(bullets))
    blocks.append(paragraph(text("Next: the approvers review the change as it is now and move it "
                                 "to Approved again.")))
    return document(*blocks)


def _with_article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _shown(value: str) -> str:
    if not value:
        return "(empty)"
    return f"“{value if len(value) <= 80 else value[:77] + '…'}”"
