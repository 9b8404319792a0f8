"""Gate into Closed: the post-implementation review records the outcome (and, for Emergency, the retrospective)."""

from __future__ import annotations

from .awaiting_approval_gate import Finding, Problem, text_findings
from .change_request import ChangeRequest
from .policy import Category, FieldRole, Policy


def check_review(change: ChangeRequest, policy: Policy) -> tuple[Finding, ...]:
    """Return what the change lacks to be Closed; empty when the review is complete."""
    findings: list[Finding] = []
    outcome = change.option(FieldRole.OUTCOME)
    if outcome is None:
        findings.append(Finding(FieldRole.OUTCOME, Problem.MISSING))
    elif outcome not in policy.outcomes:
        findings.append(Finding(FieldRole.OUTCOME, Problem.UNKNOWN_VALUE, outcome))
    if policy.category_of(change.option(FieldRole.CATEGORY)) is Category.EMERGENCY:
        findings.extend(text_findings(change, policy, FieldRole.RETROSPECTIVE))
    return tuple(findings)
