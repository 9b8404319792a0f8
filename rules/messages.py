"""Write what changeguard says in Jira: every comment text lives here, and tests compare them."""

from __future__ import annotations

from typing import Any

from .adf import text
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
