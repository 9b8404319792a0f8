"""A deployment to a gated environment that never passed the gate: whether and how to flag it."""

from __future__ import annotations

from .adf import bullet_list, document, paragraph, text
from .deployment import LET_THROUGH, VENDOR_NAMES, DeployRequest, DeploymentsRecord
from .plan import AddComment, AddLabel, Plan, SlackAlert
from .policy import Policy


def passed_the_gate(request: DeployRequest, deployments: DeploymentsRecord) -> bool:
    """Tell whether the gate allowed the request's run (so its start is no surprise)."""
    return any(e.state in LET_THROUGH for e in deployments.of_run(request.run_id)
               if e.environment.casefold() == request.environment.casefold())


def plan_for_ungated(request: DeployRequest, change_key: str | None,
                     deployments: DeploymentsRecord, policy: Policy,
                     browse_url: str | None) -> Plan | None:
    """Return the flag (label, comment, Slack alert) for a gated environment's deployment that
    the gate never allowed; None when the gate allowed it or does not gate the environment.

    Without a change to flag (the deployment names none) only Slack hears of it.
    """
    if not policy.deploy.gates(request.environment) or passed_the_gate(request, deployments):
        return None
    summary = {"verdict": "flag", "reason": "ungated_deployment"}
    alert = SlackAlert(policy.slack_channel, _alert(request, change_key, browse_url))
    if change_key is None:
        return Plan(summary, (alert,))
    return Plan(summary, (AddLabel(policy.violation_label), alert,
                          AddComment(_comment(request, change_key, policy))))


def _run(request: DeployRequest) -> str:
    vendor = VENDOR_NAMES.get(request.vendor.value, request.vendor.value)
    commit = f", commit {request.sha[:12]}" if request.sha else ""
    by = f", started by {request.triggered_by}" if request.triggered_by else ""
    return f"{vendor} run {request.run_url or request.run_id}{commit}{by}"


def _alert(request: DeployRequest, change_key: str | None, browse_url: str | None) -> str:
    change = (f"{change_key} ({browse_url})" if change_key is not None and browse_url
              else change_key or "no change request")
    return (f":warning: A deployment to {request.environment} ran without passing changeguard's "
            f"deployment gate: {_run(request)}; change: {change}. Check that it was intended, "
            f"and turn the gate on for {request.environment} (README: Deployment gate).")


def _comment(request: DeployRequest, change_key: str, policy: Policy) -> dict:
    return document(
        paragraph(text("Deployment without the gate", "strong")),
        paragraph(text(
            f"A deployment of {change_key} to {request.environment} ran without passing "
            f"changeguard's deployment gate, so nobody checked that this change was approved "
            f"and inside its window when it went out. It is labelled {policy.violation_label}.")),
        bullet_list([[text("Run: ", "strong"), text(_run(request))]]),
        paragraph(text(
            f"Next: confirm here what was deployed and why it bypassed the gate, and have the "
            f"pipeline's {request.environment} environment wait for changeguard (GitHub: enable "
            f"the changeguard app as a deployment protection rule; GitLab: make the environment "
            f"protected with changeguard as approver; other pipelines: run `changeguard gate` "
            f"before deploying).")),
    )
