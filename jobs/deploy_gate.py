"""Answer deployments at the gate, and again when Jira decides the changes they wait for."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

from rq import Queue

from rules.approvals import ApprovalState
from rules.cab_schedule import next_meeting
from rules.change_history import approval_moves_between, parse_history
from rules.change_request import fields_to_fetch, parse_change_request
from rules.deploy_gate import (GateDecision, decide_deploy, not_a_change, not_found,
                               outside_the_gate, resolve_change)
from rules.deployment import (PROPERTY_KEY as DEPLOYMENTS_KEY, DeployRequest, Vendor,
                              parse_deployments)
from rules.gate_plan import (DecideOnGitLab, FinishImplementing, ForgetWaiting, GatePlan, GateStep,
                             LinkRun, PushAnswer, RememberRun, RememberWaiting, ReviewOnGitHub,
                             SetOutcome, StartImplementing, WriteDeployments, plan_for_answer,
                             plan_for_decision, plan_for_refusal)
from rules.issue_record import PROPERTY_KEY as RECORD_KEY, parse_record
from rules.job_names import JobName
from rules.standard_template import declared_template, names_no_change
from rules.status_move import replay_approvals
from worker import runtime as runtime_module
from worker.github_client import GitHubError
from worker.gitlab_client import GitLabError
from worker.jira_client import JiraNotFound
from worker.metrics import count
from worker.runtime import Runtime

from .approver_groups import groups_of
from .enqueue import enqueue_once
from .freezes import freezes_for_change
from .issue_session import find_transition, issue_session
from .periodic import cab_calendar
from .standard_template import change_for_template
from .waiting_deployments import (RUN_TTL_SECONDS, forget_waiting, remember_waiting, run_key,
                                  waiting_for, waiting_reason)

logger = logging.getLogger(__name__)

GATE_ANSWER_TTL_SECONDS = 120  # a generic pipeline's answer waits this long to be read


def judge_deployment(request: dict[str, Any], *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Decide one deployment (allow, wait or deny), answer its pipeline and record it."""
    rt = runtime or runtime_module.current()
    req = DeployRequest.from_json(request)
    if not rt.policy.deploy.gates(req.environment):
        # Staging and the like: allowed unchecked; nothing read, recorded or moved.
        key = resolve_change(req.explicit_key, req.texts, rt.policy.scope_project_keys).key
        decision = outside_the_gate(req.environment, key, rt.policy)
        assert decision is not None
        _log(req, decision)
        return carry_out(rt, key, plan_for_answer(decision, req))
    if req.vendor is Vendor.GITLAB and "deployment_id" not in dict(req.reply):
        # GitLab names the job: only a job held for approval is the gate's (a plain manual
        # deploy button is not), and its deployment is what gets approved.
        deployment = rt.gitlab.blocked_deployment_for_job(
            req.reply_value("project_id"), req.environment, int(req.reply_value("job_id")))
        if deployment is None:
            return {"decision": None, "reason": "no deployment of this job waits for approval",
                    "change": None}
        req = dataclasses.replace(req, reply=tuple(sorted(
            (*req.reply, ("deployment_id", str(deployment))))))
    req = with_run_texts(rt, req)
    resolution = resolve_change(req.explicit_key, req.texts, rt.policy.scope_project_keys)
    if resolution.key is not None:
        return _judge_for_change(rt, resolution.key, req)
    decision = resolution.denial()
    if declared_template(req) and names_no_change(resolution, rt.policy.scope_project_keys):
        made = change_for_template(rt, req)  # the change made from it, or why none may be
        if isinstance(made, str):
            return _judge_for_change(rt, made, req)
        decision = made
    _log(req, decision)
    return carry_out(rt, None, plan_for_answer(decision, req))


def release_waiting(issue_key: str, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Decide again every deployment waiting for ``issue_key``, now that Jira has moved it."""
    rt = runtime or runtime_module.current()
    answers = {req.deployment_id: _judge_for_change(rt, issue_key, req)["decision"]
               for req in waiting_for(rt, issue_key)}
    return {"issue_key": issue_key, "decisions": answers}


def _judge_for_change(rt: Runtime, key: str, req: DeployRequest) -> dict[str, Any]:
    """Read the change, decide, answer the pipeline and keep the change's record."""
    with issue_session(rt, key, lane="gate") as session:
        try:
            issue = rt.jira.get_issue(key, fields=fields_to_fetch(rt.site),
                                      properties=[RECORD_KEY, DEPLOYMENTS_KEY],
                                      expand=["changelog", "transitions"])
        except JiraNotFound:
            decision = not_found(key)
            _log(req, decision)
            return carry_out(rt, key, plan_for_refusal(decision, req))
        issue_type = issue_type_of(issue)
        if issue_type != rt.policy.scope_issue_type:
            decision = not_a_change(key, issue_type, rt.policy.scope_issue_type)
            _log(req, decision)
            return carry_out(rt, key, plan_for_refusal(decision, req))
        change = parse_change_request(issue, rt.site)
        properties = issue.get("properties") or {}
        approvals = _approvals_now(rt, session.last_handled(), issue, change,
                                   parse_record(properties.get(RECORD_KEY)))
        now = _now()
        calendar = cab_calendar(rt.policy)
        decision = decide_deploy(change, approvals, environment=req.environment, now=now,
                                 policy=rt.policy, site=rt.site, calendar=calendar,
                                 next_cab=next_meeting(calendar, now),
                                 freezes=freezes_for_change(rt, change))
        _log(req, decision)
        count(rt.redis, rt.settings, "gate_decisions", vendor=req.vendor.value,
              verdict=decision.verdict.value)
        plan = plan_for_decision(
            decision, req, change, approvals, parse_deployments(properties.get(DEPLOYMENTS_KEY)),
            site=rt.site, now=now, waiting_reason=waiting_reason(rt, key, req.deployment_id))
        return carry_out(rt, key, plan, issue)


def carry_out(rt: Runtime, key: str | None, plan: GatePlan,
              issue: dict[str, Any] | None = None) -> dict[str, Any]:
    """Take the plan's steps in order on the change ``key`` (read as ``issue``); return its
    summary."""
    for step in plan.steps:
        _take(rt, key, step, issue)
    return dict(plan.summary)


def _take(rt: Runtime, key: str | None, step: GateStep, issue: dict[str, Any] | None) -> None:
    if isinstance(step, WriteDeployments):
        rt.jira.set_issue_property(key, DEPLOYMENTS_KEY, step.value)
    elif isinstance(step, RememberRun):
        rt.redis.set(run_key(rt, step.run_id), key, ex=RUN_TTL_SECONDS)
    elif isinstance(step, PushAnswer):
        name = rt.settings.key("gate-answer", step.answer_key)
        pipe = rt.redis.pipeline()
        pipe.rpush(name, json.dumps(dict(step.answer)))
        pipe.expire(name, GATE_ANSWER_TTL_SECONDS)
        pipe.execute()
    elif isinstance(step, ReviewOnGitHub):
        _review_on_github(rt, step)
    elif isinstance(step, DecideOnGitLab):
        _decide_on_gitlab(rt, step)
    elif isinstance(step, RememberWaiting):
        remember_waiting(rt, key, step.request, step.reason)
    elif isinstance(step, ForgetWaiting):
        forget_waiting(rt, key, step.deployment_id)
    elif isinstance(step, StartImplementing):
        transition = find_transition(rt, key, step.to_status_id, issue)
        if transition is None:
            logger.warning("no transition to Implementing", extra={"issue_key": key})
            return
        rt.jira.transition_issue(key, transition)
        _announce(rt, key, step.to_status_id)
    elif isinstance(step, LinkRun):
        rt.jira.upsert_remote_link(key, step.link)
    elif isinstance(step, FinishImplementing):
        rt.jira.transition_issue(key, step.transition_id, fields=step.fields)
        _announce(rt, key, step.to_status_id)
    else:
        assert isinstance(step, SetOutcome)
        rt.jira.update_issue_fields(key, step.fields)


def _review_on_github(rt: Runtime, step: ReviewOnGitHub) -> None:
    try:
        rt.github.review_deployment(step.installation_id, step.owner, step.repo, step.run_id,
                                    step.environment, step.state, step.comment)
    except GitHubError as exc:
        # 422: the environment is no longer waiting: decided by an earlier try of this job
        # (or cancelled on GitHub). Nothing is left to answer.
        if exc.status != 422:
            raise
        logger.info("deployment already decided on GitHub", extra={
            "deployment_id": step.deployment_id, "error": str(exc)})


def _decide_on_gitlab(rt: Runtime, step: DecideOnGitLab) -> None:
    try:
        rt.gitlab.decide_deployment(step.project_id, step.gitlab_deployment_id, step.state,
                                    step.comment)
    except GitLabError as exc:
        # 400: the deployment no longer waits for approval (decided by another judgement
        # of it, or canceled on GitLab). Nothing is left to answer.
        if exc.status != 400:
            raise
        logger.info("deployment already decided on GitLab", extra={
            "deployment_id": step.deployment_id, "error": str(exc)})


def _announce(rt: Runtime, key: str, to_status_id: str) -> None:
    """Have the Slack notice of changeguard's own move posted (its webhook is ignored as ours)."""
    moves = [h for h in rt.jira.get_changelog(key)
             if (h.get("author") or {}).get("accountId") == rt.site.bot_account_id
             and any(i.get("field") == "status" and i.get("to") == to_status_id
                     for i in h.get("items") or ())]
    if not moves:
        return
    changelog_id = str(moves[-1]["id"])
    enqueue_once(Queue(rt.settings.queue_name, connection=rt.redis), JobName.ANNOUNCE_DEPLOYMENT,
                 f"{rt.settings.namespace}-notice-{key}-{changelog_id}",
                 {"issue_key": key, "changelog_id": changelog_id, "to_status_id": to_status_id})


def _approvals_now(rt: Runtime, last_handled: int | None, issue: dict, change,
                   record) -> ApprovalState:
    """Return the approvals on record, with approval moves not handled yet replayed."""
    history = parse_history(issue, rt.site)
    pending = approval_moves_between(history, last_handled or 0, sys.maxsize, rt.site)
    return replay_approvals(tuple((entry, groups_of(rt, entry.actor)) for entry in pending),
                            change, rt.policy, history, record.approvals)


def with_run_texts(rt: Runtime, req: DeployRequest) -> DeployRequest:
    """Add the head commit message of a GitHub run: a change key may stand there too."""
    if req.vendor is not Vendor.GITHUB or req.explicit_key:
        return req
    run = rt.github.get_run(int(req.reply_value("installation_id")), req.reply_value("owner"),
                            req.reply_value("repo"), int(req.reply_value("run_id")))
    return req.with_texts(run.get("head_commit_message") or "")


def issue_type_of(issue: dict[str, Any]) -> str | None:
    """Return the name of the issue's type, as Jira returned it."""
    return ((issue.get("fields") or {}).get("issuetype") or {}).get("name")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _log(req: DeployRequest, decision: GateDecision) -> None:
    logger.info("deployment judged", extra={
        "issue_key": decision.change_key, "deployment_id": req.deployment_id,
        "environment": req.environment, "verdict": decision.verdict.value,
        "reason": decision.reason})
