"""Write what changeguard says in Jira: every comment text lives here, and tests compare them."""

from __future__ import annotations

from typing import Any

from .adf import bullet_list, document, mention, paragraph, text
from .awaiting_approval_gate import Finding, Problem
from .policy import FieldRole, Policy

ADF = dict[str, Any]

# What to write in each field, phrased as the next step for the engineer.
FIELD_HINTS = {
    FieldRole.DESCRIPTION: "say what changes and why",
    FieldRole.CATEGORY: "choose {categories}",
    FieldRole.CHANGE_TYPE: "choose {change_types}",
    FieldRole.DEPLOYMENT_PLAN: "list the steps that deploy the change",
    FieldRole.ROLLBACK_PLAN: "describe how to undo the change if it goes wrong",
    FieldRole.RISK_ASSESSMENT: "say what could break, for whom, and how you would notice",
    FieldRole.RISK_LEVEL: "choose {risk_levels}",
    FieldRole.STANDARD_TEMPLATE: "pick the pre-approved template this change follows ({templates})",
    FieldRole.PLANNED_START: "set when the change window opens",
    FieldRole.PLANNED_END: "set when the change window closes",
    FieldRole.INCIDENT_COMMANDER: "name the on-call Incident Commander who approves with the Head of Engineering",
    FieldRole.OUTCOME: "choose {outcomes}",
    FieldRole.RETROSPECTIVE: "add the notes of the full-CAB retrospective",
}

NEXT_STEP_AFTER_GATE = (
    "Next: fill these in on this issue, then move it to {to_status} again. "
    "changeguard checks it again as soon as you do."
)
NO_WAY_BACK = (
    "changeguard could not move it back to {from_status}: the workflow offers no way back from "
    "{to_status}. It is labelled {label} until someone sorts this out."
)


def hint(role: FieldRole, policy: Policy) -> str:
    """Return the next step for one field, with the policy's own choices filled in."""
    return FIELD_HINTS[role].format(
        categories=_choices(policy.category_values.values()),
        change_types=_choices(policy.change_types),
        risk_levels=_choices(policy.risk_levels),
        templates=_choices(policy.standard_templates),
        outcomes=_choices(policy.outcomes),
    )


def describe_finding(finding: Finding, policy: Policy) -> list[ADF]:
    """Return the inline ADF of one bullet: the field as Jira names it, what's wrong, what to do."""
    field = text(policy.field_name(finding.field), "strong")
    step = hint(finding.field, policy)
    value = _quote(finding.value)
    if finding.problem is Problem.MISSING:
        return [field, text(f" is empty: {step}.")]
    if finding.problem is Problem.PLACEHOLDER:
        return [field, text(f" only says {value}: {step}, in at least a sentence.")]
    if finding.problem is Problem.TOO_SHORT:
        return [field, text(
            f" is too short ({value}): {step}, in at least {policy.min_text_length} characters."
        )]
    if finding.problem is Problem.UNKNOWN_VALUE:
        return [field, text(f" is {value}, which the change policy does not know: {step}.")]
    if finding.problem is Problem.NOT_IN_CATALOG:
        return [field, text(
            f" {value} is not in the catalog of pre-approved templates: {step}, "
            "or make this a Normal change."
        )]
    if finding.problem is Problem.WINDOW_NOT_ORDERED:
        return [field, text(" is not after "),
                text(policy.field_name(FieldRole.PLANNED_START), "strong"),
                text(": the change window must close after it opens.")]
    return [field, text(
        f" is {value}, which only Emergency changes may use (manual database changes are for "
        "emergencies): make it an Emergency change with an Incident Commander, or ship it "
        "through the normal release as Application Code."
    )]


def headline(to_status: str, count: int) -> str:
    """Return the first line of a blocked-move comment, e.g. "Moved back to Draft: 2 things missing"."""
    things = "thing" if count == 1 else "things"
    return f"Moved back to {to_status}: {count} {things} missing"


def blocked_move_comment(
    *,
    actor_account_id: str | None,
    findings: tuple[Finding, ...],
    policy: Policy,
    from_status: str,
    to_status: str,
    reverted: bool,
) -> ADF:
    """Return the comment for a move into ``to_status`` that the gate refused."""
    who = [mention(actor_account_id), text(", ")] if actor_account_id else []
    if reverted:
        first = paragraph(text(headline(from_status, len(findings)), "strong"))
        why = paragraph(*who, text(
            f"this change can't go to {to_status} yet, so changeguard moved it back to "
            f"{from_status}. It still needs:"
        ))
    else:
        first = paragraph(text(f"Not ready for {to_status}: {len(findings)} "
                               f"{'thing' if len(findings) == 1 else 'things'} missing", "strong"))
        why = paragraph(*who, text(
            f"this change can't be in {to_status} yet. "
            + NO_WAY_BACK.format(from_status=from_status, to_status=to_status,
                                 label=policy.violation_label)
            + " It still needs:"
        ))
    return document(
        first,
        why,
        bullet_list(describe_finding(finding, policy) for finding in findings),
        paragraph(text(NEXT_STEP_AFTER_GATE.format(to_status=to_status))),
    )


def _choices(values: Any) -> str:
    values = list(values)
    if len(values) == 1:
        return values[0]
    return ", ".join(values[:-1]) + " or " + values[-1]


def _quote(value: str | None) -> str:
    if value is None:
        return "nothing"
    flat = " ".join(value.split())
    return f"“{flat if len(flat) <= 60 else flat[:57] + '…'}”"
