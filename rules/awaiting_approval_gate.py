"""Gate into Awaiting Approval: the fields every change request needs before anyone approves it."""

from __future__ import annotations

import dataclasses
import enum

from .change_request import ChangeRequest
from .filled import Emptiness, check_filled
from .policy import Category, FieldRole, Policy

PLANS = (FieldRole.DEPLOYMENT_PLAN, FieldRole.ROLLBACK_PLAN, FieldRole.RISK_ASSESSMENT)


class Problem(str, enum.Enum):
    """What is wrong with one field of a change request."""

    MISSING = "missing"
    PLACEHOLDER = "placeholder"
    TOO_SHORT = "too_short"
    UNKNOWN_VALUE = "unknown_value"
    NOT_IN_CATALOG = "not_in_catalog"
    WINDOW_NOT_ORDERED = "window_not_ordered"
    EMERGENCY_ONLY = "emergency_only"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing that keeps the change out of Awaiting Approval."""

    field: FieldRole
    problem: Problem
    value: str | None = None


_FROM_EMPTINESS = {
    Emptiness.MISSING: Problem.MISSING,
    Emptiness.PLACEHOLDER: Problem.PLACEHOLDER,
    Emptiness.TOO_SHORT: Problem.TOO_SHORT,
}


def check_ready_for_approval(change: ChangeRequest, policy: Policy) -> tuple[Finding, ...]:
    """Return what the change lacks for Awaiting Approval, in field order; empty when ready."""
    findings = text_findings(change, policy, FieldRole.DESCRIPTION)

    category_value = change.option(FieldRole.CATEGORY)
    category = policy.category_of(category_value)
    if category_value is None:
        findings.append(Finding(FieldRole.CATEGORY, Problem.MISSING))
    elif category is None:
        findings.append(Finding(FieldRole.CATEGORY, Problem.UNKNOWN_VALUE, category_value))

    change_type = change.option(FieldRole.CHANGE_TYPE)
    if change_type is None:
        findings.append(Finding(FieldRole.CHANGE_TYPE, Problem.MISSING))
    elif change_type not in policy.change_types:
        findings.append(Finding(FieldRole.CHANGE_TYPE, Problem.UNKNOWN_VALUE, change_type))
    elif (
        change_type in policy.emergency_only_change_types
        and category is not None
        and category is not Category.EMERGENCY
    ):
        findings.append(Finding(FieldRole.CHANGE_TYPE, Problem.EMERGENCY_ONLY, change_type))

    for role in PLANS:
        findings.extend(text_findings(change, policy, role))

    if category is Category.STANDARD:
        template = change.option(FieldRole.STANDARD_TEMPLATE)
        if template is None:
            findings.append(Finding(FieldRole.STANDARD_TEMPLATE, Problem.MISSING))
        elif template not in policy.standard_templates:
            findings.append(Finding(FieldRole.STANDARD_TEMPLATE, Problem.NOT_IN_CATALOG, template))

    if category in (Category.STANDARD, Category.NORMAL):
        findings.extend(_window_findings(change))

    if category is Category.EMERGENCY and change.user(FieldRole.INCIDENT_COMMANDER) is None:
        findings.append(Finding(FieldRole.INCIDENT_COMMANDER, Problem.MISSING))
    return tuple(findings)


def text_findings(change: ChangeRequest, policy: Policy, role: FieldRole) -> list[Finding]:
    """Return what is wrong with a text field (empty, placeholder, too short), if anything."""
    value = change.text(role)
    emptiness = check_filled(value, policy, long_text=role in policy.long_text_fields)
    if emptiness is Emptiness.FILLED:
        return []
    shown = value.strip() if emptiness is not Emptiness.MISSING and value is not None else None
    return [Finding(role, _FROM_EMPTINESS[emptiness], shown)]


def _window_findings(change: ChangeRequest) -> list[Finding]:
    start = change.datetime_of(FieldRole.PLANNED_START)
    end = change.datetime_of(FieldRole.PLANNED_END)
    findings = []
    if start is None:
        findings.append(Finding(FieldRole.PLANNED_START, Problem.MISSING))
    if end is None:
        findings.append(Finding(FieldRole.PLANNED_END, Problem.MISSING))
    if start is not None and end is not None and not start < end:
        findings.append(Finding(FieldRole.PLANNED_END, Problem.WINDOW_NOT_ORDERED))
    return findings
