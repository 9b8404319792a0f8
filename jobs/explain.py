"""Explain an issue against the policy now, without changing anything (`changeguard check KEY`)."""

from __future__ import annotations

from rules.change_request import fields_to_fetch, parse_change_request
from rules.deployment import PROPERTY_KEY as DEPLOYMENTS_KEY, deployment_lines, parse_deployments
from rules.explanation import explain
from rules.issue_record import PROPERTY_KEY, parse_record
from worker.runtime import Runtime

from .freezes import freezes_for_change
from .periodic import cab_calendar


def explain_issue(issue_key: str, *, runtime: Runtime) -> str:
    """Read the issue (one GET; the freezes its window runs into are looked up too) and return
    the gate-by-gate explanation as text."""
    issue = runtime.jira.get_issue(issue_key, fields=fields_to_fetch(runtime.site),
                                   properties=[PROPERTY_KEY, DEPLOYMENTS_KEY])
    change = parse_change_request(issue, runtime.site)
    properties = issue.get("properties") or {}
    record = parse_record(properties.get(PROPERTY_KEY))
    deployments = parse_deployments(properties.get(DEPLOYMENTS_KEY))
    return "\n".join((*explain(change, record, runtime.policy, runtime.site,
                              freezes=freezes_for_change(runtime, change),
                              calendar=cab_calendar(runtime.policy)),
                      *deployment_lines(deployments)))
