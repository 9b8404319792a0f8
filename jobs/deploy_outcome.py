"""Record how gated deployments end on their changes, and flag those that never passed the gate."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from rules.change_request import fields_to_fetch, parse_change_request
from rules.deploy_gate import resolve_change
from rules.deployment import (LET_THROUGH, PROPERTY_KEY as DEPLOYMENTS_KEY, DeployFinish,
                              DeploymentsRecord, DeployRequest, Vendor, parse_deployments)
from rules.gate_plan import plan_for_finish
from rules.policy import StatusRole
from rules.ungated_deploy import plan_for_ungated
from worker import runtime as runtime_module
from worker.jira_client import JiraNotFound
from worker.runtime import Runtime

from .deploy_gate import carry_out, issue_type_of, with_run_texts
from .issue_session import MARKER_TTL_SECONDS, find_transition, issue_session
from .waiting_deployments import run_key

logger = logging.getLogger(__name__)


def finish_deployment(finish: dict[str, Any], *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Record how a pipeline run ended on its change: Outcome, Implemented, the remote link."""
    rt = runtime or runtime_module.current()
    fin = DeployFinish.from_json(finish)
    stored = rt.redis.get(run_key(rt, fin.run_id))
    key = stored.decode() if stored is not None else fin.explicit_key
    if key is not None:
        with issue_session(rt, key, lane="gate"):
            issue = rt.jira.get_issue(key, fields=fields_to_fetch(rt.site),
                                      properties=[DEPLOYMENTS_KEY], expand=["transitions"])
            deployments = parse_deployments(
                (issue.get("properties") or {}).get(DEPLOYMENTS_KEY))
            if any(e.state in LET_THROUGH for e in deployments.of_run(fin.run_id)):
                return _record_finish(rt, key, fin, issue, deployments)
    # Most runs deploy nothing gated (CI runs, other environments): nothing to record. A
    # generic pipeline reporting a gated deployment the gate never let through is flagged.
    if fin.vendor is Vendor.GENERIC and fin.environment:
        return flag_ungated(DeployRequest(
            vendor=fin.vendor, deployment_id=f"{fin.run_id}:{fin.environment}",
            run_id=fin.run_id, environment=fin.environment, explicit_key=key,
            run_url=fin.run_url).to_json(), runtime=rt)
    return {"action": "not gated", "issue_key": key}


def _record_finish(rt: Runtime, key: str, fin: DeployFinish, issue: dict[str, Any],
                   deployments: DeploymentsRecord) -> dict[str, Any]:
    """Write a gated run's end on its change (inside its gate session)."""
    plan = plan_for_finish(
        fin, key, parse_change_request(issue, rt.site), deployments, site=rt.site,
        outcomes=rt.policy.outcomes, now=datetime.now(timezone.utc),
        to_implemented=find_transition(rt, key, rt.site.status_ids.get(StatusRole.IMPLEMENTED),
                                       issue))
    summary = carry_out(rt, key, plan, issue)
    logger.info("deployment finished", extra={"issue_key": key, "run_id": fin.run_id,
                                              "result": fin.result.value,
                                              "action": summary["action"]})
    return summary


def flag_ungated(request: dict[str, Any], *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Flag a deployment to a gated environment that never passed the gate (reported started
    by its pipeline): label and comment on its change, and alert Slack."""
    rt = runtime or runtime_module.current()
    req = DeployRequest.from_json(request)
    if not rt.policy.deploy.gates(req.environment):
        return {"action": "not gated"}
    marker = rt.settings.key("gate-ungated", req.deployment_id)
    stored = rt.redis.get(run_key(rt, req.run_id))  # the change the gate let the run deploy
    if stored is None and req.vendor is Vendor.GITHUB and "run_id" in dict(req.reply):
        req = with_run_texts(rt, req)  # the head commit message may name the change
    key = stored.decode() if stored is not None else resolve_change(
        req.explicit_key, req.texts, rt.policy.scope_project_keys).key
    deployments, browse = DeploymentsRecord(), None
    if key is not None:
        try:
            issue = rt.jira.get_issue(key, fields=["issuetype"], properties=[DEPLOYMENTS_KEY])
        except JiraNotFound:
            issue = None
        if issue is None or issue_type_of(issue) != rt.policy.scope_issue_type:
            key = None  # nothing to label: Slack alone hears of it
        else:
            deployments = parse_deployments((issue.get("properties") or {}).get(DEPLOYMENTS_KEY))
            browse = f"{rt.settings.jira_base_url}/browse/{key}"
    plan = plan_for_ungated(req, key, deployments, rt.policy, browse)
    context = {"issue_key": key, "deployment_id": req.deployment_id}
    if plan is None:
        return {"action": "gated", "issue_key": key}
    if key is None:
        if rt.redis.set(marker, "1", nx=True, ex=MARKER_TTL_SECONDS):
            for step in plan.steps:
                rt.slack.post_message(step.channel, step.text)
        logger.warning("ungated deployment", extra=context)
        return {"action": "flagged", "issue_key": None}
    plan_id = f"ungated-{req.deployment_id}"
    with issue_session(rt, key) as session:
        resumed = session.stored_plan(plan_id)
        if resumed is None and rt.redis.exists(marker):
            return {"action": "already flagged", "issue_key": key}
        session.carry_out(plan_id, resumed or plan, context)
        rt.redis.set(marker, "1", ex=MARKER_TTL_SECONDS)
    logger.warning("ungated deployment", extra=context)
    return {"action": "flagged", "issue_key": key}
